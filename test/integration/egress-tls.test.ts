/**
 * A subscription's own TLS material, at the delivery client: an https receiver behind a
 * private CA (trusted instead of the system CAs once the CA file is named), a receiver
 * that requires a client certificate, a key that is not the certificate's, and a
 * certificate for another host name. Certificates are made by `openssl`; the receivers
 * are real HTTPS servers on 127.0.0.1.
 */
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EgressClient, type AttemptRequest } from '../../src-main/delivery/http-client';
import { checkReceiverTls, type ReceiverTls } from '../../src-main/delivery/receiver-tls';
import { createGuardedResolver } from '../../src-main/delivery/ssrf';
import { startReceiver, type Receiver } from '../harness/receiver';
import { RECEIVER_HOST, makeTestPki, type TestPki } from '../harness/tls';

let pki: TestPki;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  pki = await makeTestPki();
});

afterAll(async () => {
  await pki?.cleanup();
});

afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
});

const NO_TLS: ReceiverTls = { caFile: '', clientCert: '', clientKey: '' };

/** Every name resolves to 127.0.0.1, so a receiver can be reached by the name its certificate is for. */
function client(): EgressClient {
  const resolver = createGuardedResolver({ allowPrivate: () => true, lookup: async () => ['127.0.0.1'] });
  const created = new EgressClient({ allowPrivate: () => true, resolver });
  cleanups.push(() => created.close());
  return created;
}

/** An https receiver with the named certificate; with `clientCa`, it requires a client certificate signed by it. */
async function httpsReceiver(options: { clientCa?: string } = {}): Promise<Receiver> {
  const [cert, key] = await Promise.all([readFile(pki.namedCertFile), readFile(pki.namedKeyFile)]);
  const clientCa = options.clientCa === undefined ? {} : { ca: await readFile(options.clientCa), requestCert: true, rejectUnauthorized: true };
  const receiver = await startReceiver(undefined, { tls: { cert, key, ...clientCa } });
  cleanups.push(() => receiver.close());
  return receiver;
}

function attempt(receiver: Receiver, tls: Partial<ReceiverTls> = {}, host = RECEIVER_HOST): AttemptRequest {
  return {
    url: `https://${host}:${receiver.port}/hook`,
    body: Buffer.from('{"v":1}'),
    headers: { 'content-type': 'application/json' },
    timeoutMs: 3_000,
    tls: { ...NO_TLS, ...tls },
  };
}

describe('a receiver behind a private CA', () => {
  it('is refused with the certificate error until its CA is named, then delivered to', async () => {
    const receiver = await httpsReceiver();
    const egress = client();

    const refused = await egress.send(attempt(receiver));
    expect(refused).toMatchObject({ kind: 'network_error', statusCode: null });
    expect(refused.error).toMatch(/^UNABLE_TO_VERIFY_LEAF_SIGNATURE /);

    const delivered = await egress.send(attempt(receiver, { caFile: pki.caFile }));
    expect(delivered).toMatchObject({ kind: 'response', statusCode: 200, error: null, address: '127.0.0.1' });
    expect(receiver.requests).toHaveLength(1);
    expect(receiver.requests[0]?.tls).toEqual({ servername: RECEIVER_HOST, clientCn: null });
    expect(receiver.requests[0]?.headers.host).toBe(`${RECEIVER_HOST}:${receiver.port}`);
  });

  it('trusts only the named CA, not the system CAs beside it', async () => {
    const receiver = await httpsReceiver();
    const result = await client().send(attempt(receiver, { caFile: pki.otherCaFile }));
    expect(result).toMatchObject({ kind: 'network_error', statusCode: null });
    expect(result.error).toMatch(/^UNABLE_TO_VERIFY_LEAF_SIGNATURE /);
    expect(receiver.requests).toHaveLength(0);
  });

  it('reads a CA file again once it changed, on the next attempt', async () => {
    const receiver = await httpsReceiver();
    const egress = client();
    const caFile = join(pki.dir, `rotating-ca-${Date.now()}.pem`);
    await copyFile(pki.otherCaFile, caFile);
    expect(await egress.send(attempt(receiver, { caFile }))).toMatchObject({ kind: 'network_error' });

    await copyFile(pki.caFile, caFile);
    expect(await egress.send(attempt(receiver, { caFile }))).toMatchObject({ kind: 'response', statusCode: 200 });
    expect(receiver.requests).toHaveLength(1);
  });

  it('refuses a certificate made out to another host name', async () => {
    const receiver = await httpsReceiver();
    const result = await client().send(attempt(receiver, { caFile: pki.caFile }, 'elsewhere.sluice.test'));
    expect(result).toMatchObject({ kind: 'network_error', statusCode: null });
    expect(result.error).toMatch(/^ERR_TLS_CERT_ALTNAME_INVALID .*elsewhere\.sluice\.test/);
    expect(receiver.requests).toHaveLength(0);
  });

  it('reports a CA file that went missing as a receiver TLS error naming it', async () => {
    const receiver = await httpsReceiver();
    const missing = join(pki.dir, 'gone.pem');
    const result = await client().send(attempt(receiver, { caFile: missing }));
    expect(result).toMatchObject({ kind: 'network_error', statusCode: null, error: `receiver TLS: CA file ${missing} does not exist` });
  });
});

describe('a receiver that requires a client certificate', () => {
  it('is refused without one and delivered to with one', async () => {
    const receiver = await httpsReceiver({ clientCa: pki.caFile });
    const egress = client();

    const without = await egress.send(attempt(receiver, { caFile: pki.caFile }));
    expect(without).toMatchObject({ kind: 'network_error', statusCode: null });
    // TLS 1.3: the handshake completes, then the receiver sends its alert and hangs up.
    expect(without.error).toMatch(/certificate required|ECONNRESET|closed by the receiver/i);
    expect(receiver.requests).toHaveLength(0);

    const withCert = await egress.send(attempt(receiver, { caFile: pki.caFile, clientCert: pki.clientCertFile, clientKey: pki.clientKeyFile }));
    expect(withCert).toMatchObject({ kind: 'response', statusCode: 200, error: null });
    expect(receiver.requests.map((r) => r.tls?.clientCn)).toEqual(['sluice client']);
  });

  it('is refused with a certificate its CA did not sign', async () => {
    const receiver = await httpsReceiver({ clientCa: pki.caFile });
    const result = await client().send(attempt(receiver, { caFile: pki.caFile, clientCert: pki.strangerCertFile, clientKey: pki.strangerKeyFile }));
    expect(result).toMatchObject({ kind: 'network_error', statusCode: null });
    expect(receiver.requests).toHaveLength(0);
  });

  it('refuses a key that is not the certificate’s before connecting, as the save-time check does', async () => {
    const receiver = await httpsReceiver({ clientCa: pki.caFile });
    const tls = { caFile: pki.caFile, clientCert: pki.clientCertFile, clientKey: pki.strangerKeyFile };
    const message = `client key file ${pki.strangerKeyFile} is not the key of the client certificate ${pki.clientCertFile}`;

    expect(checkReceiverTls(tls)).toEqual({ field: 'clientKey', message });
    const result = await client().send(attempt(receiver, tls));
    expect(result).toMatchObject({ kind: 'network_error', statusCode: null, error: `receiver TLS: ${message}`, address: null });
    expect(receiver.requests).toHaveLength(0);
  });

  it('uses a replaced key file on the next attempt', async () => {
    const receiver = await httpsReceiver({ clientCa: pki.caFile });
    const egress = client();
    const keyFile = join(pki.dir, `rotating-${Date.now()}.key`);
    await writeFile(keyFile, await readFile(pki.strangerKeyFile));
    const tls = { caFile: pki.caFile, clientCert: pki.clientCertFile, clientKey: keyFile };
    expect(await egress.send(attempt(receiver, tls))).toMatchObject({ kind: 'network_error', error: expect.stringMatching(/^receiver TLS: /) });

    await writeFile(keyFile, await readFile(pki.clientKeyFile));
    expect(await egress.send(attempt(receiver, tls))).toMatchObject({ kind: 'response', statusCode: 200 });
  });
});
