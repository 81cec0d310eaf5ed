/**
 * A `wss://` bus signed by a private CA: a real nats-server whose WebSocket listener
 * serves a certificate made by `openssl` for 127.0.0.1. Without `natsCaFile` the engine
 * cannot connect and its status says why; with it the engine connects and delivers; a
 * bad path is refused with the reason and changes nothing; the file is re-read at each
 * connection, so a replaced file applies on the next reconnect.
 */
import { chmod, copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { BusStatus } from '../src-main/contract/views';
import { Engine } from '../src-main/engine/engine';
import { createInProcessClient } from '../src-main/engine/in-process-client';
import type { SluiceApi } from '../src-main/contract/bridge';
import { envelope, unwrap } from './harness/engine';
import { startReceiver, type Receiver } from './harness/receiver';
import { makeTestPki, startTlsNatsServer, type TestPki, type TlsNatsServer } from './harness/tls';

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
      [notPem, /is not a PEM certificate bundle/],
      [keyOnly, /is not a PEM certificate bundle/],
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
