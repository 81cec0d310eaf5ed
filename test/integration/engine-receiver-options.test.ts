/**
 * A subscription's delivery options through the whole engine (docs/design.md#delivery-options):
 * its headers and secret headers on the wire and masked in the record, its own CA and
 * client certificate against real HTTPS receivers (openssl-made PKI), and the proxy
 * bypass. Real nats-server, real receivers on 127.0.0.1, a real SQLite file.
 */
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MASKED_VALUE } from '../../src-main/contract/subscription-options';
import { envelope, startTestEngine, unwrap, type TestEngine } from '../harness/engine';
import { startReceiver, type Receiver } from '../harness/receiver';
import { makeTestPki, type TestPki } from '../harness/tls';

let pki: TestPki;
let t: TestEngine;
const receivers: Receiver[] = [];

beforeAll(async () => {
  pki = await makeTestPki();
});
afterAll(async () => {
  await pki?.cleanup();
});
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.close()));
  await t?.cleanup();
});

/** An https receiver whose certificate (IP SAN 127.0.0.1) the private CA signed; optionally requiring a client certificate. */
async function httpsReceiver(requireClientCert = false): Promise<Receiver> {
  const [cert, key, ca] = await Promise.all([readFile(pki.certFile), readFile(pki.keyFile), readFile(pki.caFile)]);
  const receiver = await startReceiver(undefined, {
    tls: { cert, key, ...(requireClientCert ? { ca, requestCert: true, rejectUnauthorized: true } : {}) },
  });
  receivers.push(receiver);
  return receiver;
}

/** A loopback port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('headers', () => {
  it('sends plain and secret headers, records the secret one masked, and keeps it on an update that names it only', async () => {
    t = await startTestEngine();
    const receiver = await startReceiver();
    receivers.push(receiver);
    const created = unwrap(
      await t.api['subscriptions.create']({
        name: 'hec',
        url: receiver.url,
        patterns: ['attacker.>'],
        headers: [{ name: 'X-Splunk-Request-Channel', value: 'f1e2d3c4-0000-4000-8000-000000000001' }],
        secretHeaders: [{ name: 'Authorization', value: 'Splunk 0123-canary' }],
      }),
    );
    expect(created.subscription.secretHeaderNames).toEqual(['Authorization']);
    expect(JSON.stringify(created.subscription)).not.toContain('0123-canary');
    await t.engine.busReady();
    await t.publish('attacker.observed', envelope('first_sighting', { ip: '203.0.113.7' }, 'evt-h1'));
    const [req] = await receiver.waitForRequests(1);
    expect(req?.headers['authorization']).toBe('Splunk 0123-canary');
    expect(req?.headers['x-splunk-request-channel']).toBe('f1e2d3c4-0000-4000-8000-000000000001');
    const [final] = await t.waitForFinal(1);
    const detail = unwrap(await t.api['deliveries.get'](final!.id));
    expect(detail.requestHeaders?.['Authorization']).toBe(MASKED_VALUE);
    expect(detail.requestHeaders?.['X-Splunk-Request-Channel']).toBe('f1e2d3c4-0000-4000-8000-000000000001');

    // The console never has the value: it sends the name back, and the stored one is kept.
    unwrap(await t.api['subscriptions.update'](created.subscription.id, { headers: [], secretHeaders: [{ name: 'Authorization' }] }));
    await t.publish('attacker.observed', envelope('first_sighting', { ip: '203.0.113.8' }, 'evt-h2'));
    const [, second] = await receiver.waitForRequests(2);
    expect(second?.headers['authorization']).toBe('Splunk 0123-canary');
    expect(second?.headers['x-splunk-request-channel']).toBeUndefined();
  });

  it('refuses, at the field, a header Sluice sets, a value with a line break, and a name kept that has no value', async () => {
    t = await startTestEngine();
    const base = { name: 'x', url: 'http://127.0.0.1:9/hook', patterns: ['attacker.>'] };
    const owned = await t.api['subscriptions.create']({ ...base, headers: [{ name: 'X-DECNET-Signature', value: 'forged' }] });
    expect(owned).toMatchObject({ ok: false, error: { code: 'invalid_argument', field: 'headers[0]' } });
    const split = await t.api['subscriptions.create']({ ...base, secretHeaders: [{ name: 'X-Key', value: 'a\r\nHost: evil' }] });
    expect(split).toMatchObject({ ok: false, error: { code: 'invalid_argument', field: 'secretHeaders[0]' } });
    const created = unwrap(await t.api['subscriptions.create'](base));
    const kept = await t.api['subscriptions.update'](created.subscription.id, { secretHeaders: [{ name: 'Authorization' }] });
    expect(kept).toMatchObject({ ok: false, error: { field: 'secretHeaders[0]', message: expect.stringMatching(/no stored value/) } });
    const burst = await t.api['subscriptions.update'](created.subscription.id, { burst: 5 });
    expect(burst).toMatchObject({ ok: false, error: { field: 'burst', message: expect.stringMatching(/goes with a rate/) } });
  });
});

describe('TLS to the receiver', () => {
  it('fails against a private CA until its CA file is set, then a replay is delivered', async () => {
    t = await startTestEngine({ settings: { retrySchedule: [] } });
    const receiver = await httpsReceiver();
    const created = unwrap(await t.api['subscriptions.create']({ name: 'internal', url: receiver.url, patterns: ['attacker.>'] }));
    await t.engine.busReady();
    await t.publish('attacker.observed', envelope('first_sighting', { ip: '203.0.113.7' }, 'evt-t1'));
    const [dead] = await t.waitForFinal(1);
    expect(dead?.outcome).toBe('dead');
    expect(dead?.error).toMatch(/certificate/i);

    unwrap(await t.api['subscriptions.update'](created.subscription.id, { caFile: pki.caFile }));
    unwrap(await t.api['deliveries.replay']({ id: dead!.id }));
    const delivered = await t.waitForDelivery((d) => d.outcome === 'delivered');
    expect(delivered.eventId).toBe('evt-t1');
    expect(receiver.requests).toHaveLength(1);
  });

  it('presents the client certificate a receiver requires, and refuses at save a key that is not its own', async () => {
    t = await startTestEngine({ settings: { retrySchedule: [] } });
    const receiver = await httpsReceiver(true);
    const base = { url: receiver.url, patterns: ['attacker.>'], caFile: pki.caFile };
    const wrongKey = await t.api['subscriptions.create']({ ...base, name: 'mtls', clientCert: pki.clientCertFile, clientKey: pki.strangerKeyFile });
    expect(wrongKey).toMatchObject({ ok: false, error: { code: 'invalid_argument', field: 'clientKey' } });
    const missing = await t.api['subscriptions.create']({ ...base, name: 'mtls', clientCert: pki.clientCertFile });
    expect(missing).toMatchObject({ ok: false, error: { field: 'clientKey', message: expect.stringMatching(/needs its key/) } });

    unwrap(await t.api['subscriptions.create']({ ...base, name: 'mtls', clientCert: pki.clientCertFile, clientKey: pki.clientKeyFile }));
    await t.engine.busReady();
    await t.publish('attacker.observed', envelope('first_sighting', { ip: '203.0.113.7' }, 'evt-m1'));
    const [req] = await receiver.waitForRequests(1);
    expect(req?.tls?.clientCn).toBe('sluice client');
    const [final] = await t.waitForFinal(1);
    expect(final?.outcome).toBe('delivered');
  });
});

describe('the egress proxy', () => {
  it('sends a direct subscription past a proxy that is down, while the others fail naming the proxy', async () => {
    const proxyPort = await closedPort();
    t = await startTestEngine({ settings: { retrySchedule: [], egressProxy: `http://127.0.0.1:${proxyPort}` } });
    const receiver = await startReceiver();
    receivers.push(receiver);
    unwrap(await t.api['subscriptions.create']({ name: 'via-proxy', url: receiver.url, patterns: ['attacker.>'] }));
    unwrap(await t.api['subscriptions.create']({ name: 'direct', url: receiver.url, patterns: ['attacker.>'], direct: true }));
    await t.engine.busReady();
    await t.publish('attacker.observed', envelope('first_sighting', { ip: '203.0.113.7' }, 'evt-p1'));
    const finals = await t.waitForFinal(2);
    const by = Object.fromEntries(finals.map((d) => [d.subscriptionName, d]));
    expect(by['direct']?.outcome).toBe('delivered');
    expect(by['via-proxy']?.outcome).toBe('dead');
    expect(by['via-proxy']?.error).toMatch(/proxy 127\.0\.0\.1:\d+ unreachable/);
    expect(receiver.requests).toHaveLength(1);
  });
});
