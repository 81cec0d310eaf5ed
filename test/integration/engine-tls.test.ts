/**
 * A `wss://` bus signed by a private CA: a real nats-server whose WebSocket listener
 * serves a certificate made by `openssl` for 127.0.0.1. Without `natsCaFile` the engine
 * cannot connect and its status says why; with it the engine connects and delivers; a
 * bad path is refused with the reason and changes nothing; the file is re-read at each
 * connection, so a replaced file applies on the next reconnect.
 */
import { execFile } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { BusStatus } from '../../src-main/contract/views';
import { Engine } from '../../src-main/engine/engine';
import { createInProcessClient } from '../../src-main/engine/in-process-client';
import type { SluiceApi } from '../../src-main/contract/bridge';
import { envelope, unwrap } from '../harness/engine';
import { startReceiver, type Receiver } from '../harness/receiver';
import { makeTestPki, startTlsNatsServer, type TestPki, type TlsNatsServer } from '../harness/tls';

let pki: TestPki;
let server: TlsNatsServer;
let dir: string;
let engine: Engine;
let api: SluiceApi;
let receiver: Receiver;

beforeAll(async () => {
  pki = await makeTestPki();
  server = await startTlsNatsServer(pki);
});

afterAll(async () => {
  await server?.stop();
  await pki?.cleanup();
});

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-engine-tls-'));
  receiver = await startReceiver();
  engine = await Engine.start({ dbPath: join(dir, 'sluice.db'), natsUrl: server.wsUrl, allowPrivate: true });
  api = createInProcessClient(engine, (error) => {
    throw error;
  });
  unwrap(await api['settings.update']({ retrySchedule: [], timeoutMs: 3000 }));
});

afterEach(async () => {
  await engine.stop();
  await receiver.close();
  await rm(dir, { recursive: true, force: true });
});

/** Resolves with the bus status, now or at a later change, that satisfies `test`. */
function busStatus(test: (s: BusStatus) => boolean, timeoutMs = 10_000): Promise<BusStatus> {
  const now = engine.status().bus;
  if (test(now)) return Promise.resolve(now);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no such bus status within ${timeoutMs} ms; now: ${JSON.stringify(engine.status().bus)}`));
    }, timeoutMs);
    const off = engine.onRecord((r) => {
      if (r.kind !== 'bus' || !test(r.status)) return;
      clearTimeout(timer);
      off();
      resolve(r.status);
    });
  });
}

const refused = (s: BusStatus): boolean => s.state !== 'connected' && (s.lastError ?? '').startsWith('TLS: ');
const connected = (s: BusStatus): boolean => s.state === 'connected';

async function deliverOne(id: string): Promise<void> {
  await engine.busReady();
  const publisher = await server.client();
  publisher.publish('attacker.observed', new TextEncoder().encode(JSON.stringify(envelope('observed', { ip: '203.0.113.7' }, id))));
  await publisher.flush();
  const before = receiver.requests.length;
  const [request] = (await receiver.waitForRequests(before + 1, 10_000)).slice(before);
  expect(request!.headers['x-decnet-event-id']).toBe(id);
  await publisher.close();
}

describe('a wss:// bus signed by a private CA', () => {
  it('without natsCaFile the engine cannot connect and says why; with it, it connects and delivers', async () => {
    const failed = await busStatus(refused);
    expect(failed.state).toBe('connecting');
    expect(failed.lastError).toContain(`TLS: ${server.wsUrl}: server certificate not trusted`);
    expect(failed.lastError).toMatch(/unable to verify|self-signed/);
    expect(failed.lastError).toContain('set natsCaFile');
    expect(unwrap(await api['status.get']()).bus.lastError).toBe(failed.lastError);

    // A CA that did not sign the server's certificate: still refused, and the error names the file.
    expect(unwrap(await api['settings.update']({ natsCaFile: pki.otherCaFile })).natsCaFile).toBe(pki.otherCaFile);
    const wrongCa = await busStatus((s) => refused(s) && (s.lastError ?? '').includes(pki.otherCaFile));
    expect(wrongCa.lastError).toContain('does not hold the CA that signed it');

    unwrap(await api['subscriptions.create']({ name: 'siem', url: receiver.url, patterns: ['attacker.>'] }));
    const view = unwrap(await api['settings.update']({ natsCaFile: pki.caFile }));
    expect(view.natsCaFile).toBe(pki.caFile);
    const up = await busStatus(connected);
    expect(up).toMatchObject({ server: server.wsUrl, lastError: null });
    await deliverOne('evt-over-wss');
  });

  it('refuses a missing, unreadable or non-PEM CA file with the reason, and changes nothing', async () => {
    unwrap(await api['settings.update']({ natsCaFile: pki.caFile }));
    const up = await busStatus(connected);
    const before = unwrap(await api['settings.get']());

    const notPem = join(dir, 'notes.txt');
    await writeFile(notPem, 'just some text, not a certificate\n');
    const keyOnly = pki.keyFile;
    const broken = join(dir, 'broken.pem');
    await writeFile(broken, '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n');
    const folder = join(dir, 'a-folder');
    await mkdir(folder);
    const cases: [string, RegExp][] = [
      [join(dir, 'missing-ca.pem'), /^CA file .*missing-ca\.pem does not exist$/],
      ['relative/ca.pem', /must be an absolute path/],
      [notPem, /is not a PEM certificate file/],
      [keyOnly, /is not a PEM certificate file/],
      [broken, /certificate 1 of 1 is not a valid X\.509 certificate/],
      [folder, /is not a regular file/],
    ];
    if (process.getuid?.() !== 0) {
      // Root reads any file, so an unreadable one can only be shown to other users.
      const locked = join(dir, 'locked.pem');
      await copyFile(pki.caFile, locked);
      await chmod(locked, 0o000);
      cases.push([locked, /cannot be read \(permission denied\)/]);
    }
    for (const [path, why] of cases) {
      const r = await api['settings.update']({ natsCaFile: path, concurrency: 3 });
      expect(r.ok, path).toBe(false);
      if (r.ok) continue;
      expect(r.error, path).toMatchObject({ code: 'invalid_argument', field: 'natsCaFile' });
      expect(r.error.message, path).toMatch(why);
    }
    // Nothing saved (not even the other field of the patch), and the bus was never touched.
    expect(unwrap(await api['settings.get']())).toEqual(before);
    expect(engine.status().bus).toEqual(up);
  });

  it('re-reads the CA file at each connection: a replaced file applies on the next reconnect', async () => {
    const caPath = join(dir, 'bus-ca.pem');
    await copyFile(pki.caFile, caPath);
    unwrap(await api['subscriptions.create']({ name: 'siem', url: receiver.url, patterns: ['attacker.>'] }));
    unwrap(await api['settings.update']({ natsCaFile: caPath }));
    await busStatus(connected);

    // The file now holds a CA that did not sign the server's certificate. A change of
    // another bus setting (a token, which a server without authorization ignores) reconnects.
    await copyFile(pki.otherCaFile, caPath);
    unwrap(await api['settings.update']({ natsToken: 'tok-forces-reconnect' }));
    const refusedNow = await busStatus((s) => refused(s) && (s.lastError ?? '').includes(caPath));
    expect(refusedNow.lastError).toContain('does not hold the CA that signed it');

    await copyFile(pki.caFile, caPath);
    unwrap(await api['settings.update']({ natsToken: '' }));
    await busStatus(connected);
    await deliverOne('evt-after-replace');

    // Back to empty: the system CAs, which do not know the private CA.
    unwrap(await api['settings.update']({ natsCaFile: '' }));
    expect(unwrap(await api['settings.get']()).natsCaFile).toBe('');
    expect((await busStatus(refused)).lastError).toContain('set natsCaFile');
  });
});

describe('a wss:// bus that verifies client certificates', () => {
  let verifying: TlsNatsServer;

  beforeAll(async () => {
    verifying = await startTlsNatsServer(pki, { verifyClients: true });
  });

  afterAll(async () => {
    await verifying?.stop();
  });

  beforeEach(async () => {
    // The engine of this file's outer beforeEach is on the other server: move it here.
    await engine.stop();
    engine = await Engine.start({ dbPath: join(dir, 'client-cert.db'), natsUrl: verifying.wsUrl, allowPrivate: true });
    api = createInProcessClient(engine, (error) => {
      throw error;
    });
    unwrap(await api['settings.update']({ retrySchedule: [], timeoutMs: 3000, natsCaFile: pki.caFile }));
  });

  const clientRefused = (s: BusStatus): boolean => s.state !== 'connected' && (s.lastError ?? '').includes('client certificate refused by the server');

  it('connects with the certificate and key the CA issued, and says what is missing before', async () => {
    const noCert = await busStatus(clientRefused);
    expect(noCert.lastError).toContain(`TLS: ${verifying.wsUrl}: client certificate refused by the server`);
    expect(noCert.lastError).toContain('set natsClientCertFile and natsClientKeyFile');

    // One half at a time (as the CLI sets them): saved, and the status names the missing half.
    unwrap(await api['settings.update']({ natsClientCertFile: pki.clientCertFile }));
    const half = await busStatus((s) => (s.lastError ?? '').includes('natsClientKeyFile is not'));
    expect(half.lastError).toBe('natsClientCertFile is set but natsClientKeyFile is not: a client certificate needs its key');

    // A key that is not the certificate's: refused when saved, nothing changes.
    const wrongKey = await api['settings.update']({ natsClientKeyFile: pki.strangerKeyFile });
    expect(wrongKey.ok).toBe(false);
    if (!wrongKey.ok) {
      expect(wrongKey.error).toMatchObject({ code: 'invalid_argument', field: 'natsClientKeyFile' });
      expect(wrongKey.error.message).toBe(`client key file ${pki.strangerKeyFile} is not the key of the client certificate ${pki.clientCertFile}`);
    }
    expect(unwrap(await api['settings.get']()).natsClientKeyFile).toBe('');

    unwrap(await api['subscriptions.create']({ name: 'siem', url: receiver.url, patterns: ['attacker.>'] }));
    unwrap(await api['settings.update']({ natsClientKeyFile: pki.clientKeyFile }));
    await busStatus(connected);
    await engine.busReady();
    const publisher = await verifying.client();
    publisher.publish('attacker.observed', new TextEncoder().encode(JSON.stringify(envelope('observed', {}, 'evt-mtls'))));
    await publisher.flush();
    const [request] = await receiver.waitForRequests(1, 10_000);
    expect(request!.headers['x-decnet-event-id']).toBe('evt-mtls');
    await publisher.close();
  });

  it('names the certificate the server does not accept', async () => {
    unwrap(await api['settings.update']({ natsClientCertFile: pki.strangerCertFile, natsClientKeyFile: pki.strangerKeyFile }));
    const refusedCert = await busStatus((s) => clientRefused(s) && (s.lastError ?? '').includes(pki.strangerCertFile));
    expect(refusedCert.lastError).toContain(`the server does not accept the client certificate ${pki.strangerCertFile} (natsClientCertFile)`);
  });

  it('refuses an encrypted or non-PEM key and a non-certificate file when saved', async () => {
    const encrypted = join(dir, 'encrypted.key');
    await new Promise<void>((resolve, reject) =>
      execFile('openssl', ['pkey', '-in', pki.clientKeyFile, '-aes256', '-passout', 'pass:secret', '-out', encrypted], (error) => (error ? reject(error) : resolve())),
    );
    const before = unwrap(await api['settings.get']());
    const cases: [Record<string, string>, string, RegExp][] = [
      [{ natsClientKeyFile: encrypted }, 'natsClientKeyFile', /is encrypted; Sluice needs it without a passphrase/],
      [{ natsClientKeyFile: pki.caFile }, 'natsClientKeyFile', /is not a PEM private key/],
      [{ natsClientKeyFile: join(dir, 'none.key') }, 'natsClientKeyFile', /does not exist/],
      [{ natsClientCertFile: pki.clientKeyFile }, 'natsClientCertFile', /client certificate file .* is not a PEM certificate file/],
      [{ natsClientCertFile: 'client.pem' }, 'natsClientCertFile', /must be an absolute path/],
    ];
    for (const [patch, field, why] of cases) {
      const r = await api['settings.update'](patch);
      expect(r.ok, JSON.stringify(patch)).toBe(false);
      if (r.ok) continue;
      expect(r.error).toMatchObject({ code: 'invalid_argument', field });
      expect(r.error.message).toMatch(why);
    }
    expect(unwrap(await api['settings.get']())).toEqual(before);
  });
});
