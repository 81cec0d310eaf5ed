/**
 * Deliveries through an egress proxy: a real tinyproxy on 127.0.0.1, real http and https
 * receivers behind it. The SSRF guard judges the receiver before the proxy is asked, the
 * CONNECT names the checked address (never the host name), TLS and the Host header keep
 * the real name inside the tunnel, `noProxy` and a per-request `direct` go around it, and
 * a proxy that refuses or is down is a clear, retryable error.
 */
import { readFile } from 'node:fs/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EgressClient, type AttemptRequest, type EgressProxySettings } from '../../src-main/delivery/http-client';
import { judgeAttempt } from '../../src-main/delivery/retry-policy';
import { createGuardedResolver } from '../../src-main/delivery/ssrf';
import { startTestEngine, unwrap } from '../harness/engine';
import { startReceiver, type Receiver } from '../harness/receiver';
import { freePort, startTinyproxy, type Tinyproxy } from '../harness/tinyproxy';
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

/** A public address (example.com's); nothing is ever sent there: the proxy refuses its port. */
const PUBLIC_ADDRESS = '93.184.215.14';

/**
 * A client whose names resolve as in a LAN: `public.sluice.test` to a public address,
 * every other name to 127.0.0.1. The proxy settings are read at each request.
 */
function client(options: { allowPrivate: boolean; proxy: EgressProxySettings }): EgressClient {
  const lookup = async (host: string): Promise<string[]> => [host === 'public.sluice.test' ? PUBLIC_ADDRESS : '127.0.0.1'];
  const resolver = createGuardedResolver({ allowPrivate: () => options.allowPrivate, lookup });
  const created = new EgressClient({ allowPrivate: () => options.allowPrivate, resolver, proxy: () => options.proxy });
  cleanups.push(() => created.close());
  return created;
}

async function receiver(tls = false): Promise<Receiver> {
  const started = tls
    ? await startReceiver(undefined, { tls: { cert: await readFile(pki.namedCertFile), key: await readFile(pki.namedKeyFile) } })
    : await startReceiver();
  cleanups.push(() => started.close());
  return started;
}

async function proxy(...connectPorts: number[]): Promise<Tinyproxy> {
  const started = await startTinyproxy({ connectPorts });
  cleanups.push(() => started.stop());
  return started;
}

function attempt(url: string, overrides: Partial<AttemptRequest> = {}): AttemptRequest {
  return { url, body: Buffer.from('{"v":1}'), headers: { 'content-type': 'application/json' }, timeoutMs: 5_000, ...overrides };
}

describe('through the egress proxy', () => {
  it('tunnels to an http receiver by its checked address, keeping the Host header', async () => {
    const target = await receiver();
    const tinyproxy = await proxy(target.port);
    const egress = client({ allowPrivate: true, proxy: { egressProxy: tinyproxy.url, noProxy: [] } });

    const result = await egress.send(attempt(`http://${RECEIVER_HOST}:${target.port}/hook`));

    expect(result).toMatchObject({ kind: 'response', statusCode: 200, error: null, address: '127.0.0.1' });
    expect(await tinyproxy.connects()).toEqual([`127.0.0.1:${target.port}`]);
    expect(target.requests[0]?.headers.host).toBe(`${RECEIVER_HOST}:${target.port}`);
    expect(target.requests[0]?.body.toString()).toBe('{"v":1}');
  });

  it('tunnels to an https receiver with TLS end to end: SNI and certificate check on the host name', async () => {
    const target = await receiver(true);
    const tinyproxy = await proxy(target.port);
    const egress = client({ allowPrivate: true, proxy: { egressProxy: tinyproxy.url, noProxy: [] } });
    const tls = { caFile: pki.caFile, clientCert: '', clientKey: '' };

    const result = await egress.send(attempt(`https://${RECEIVER_HOST}:${target.port}/hook`, { tls }));
    expect(result).toMatchObject({ kind: 'response', statusCode: 200, error: null, address: '127.0.0.1' });
    expect(target.requests[0]?.tls).toEqual({ servername: RECEIVER_HOST, clientCn: null });
    expect(target.requests[0]?.headers.host).toBe(`${RECEIVER_HOST}:${target.port}`);

    // The certificate is still checked against the URL's name, not the address the tunnel went to.
    const wrongName = await egress.send(attempt(`https://elsewhere.sluice.test:${target.port}/hook`, { tls }));
    expect(wrongName).toMatchObject({ kind: 'network_error', error: expect.stringMatching(/^ERR_TLS_CERT_ALTNAME_INVALID /) });
    expect(await tinyproxy.connects()).toEqual([`127.0.0.1:${target.port}`, `127.0.0.1:${target.port}`]);
    expect(target.requests).toHaveLength(1);
  });

  it('keeps a refused receiver refused (no CONNECT), while the proxy itself may be on loopback', async () => {
    const target = await receiver();
    const tinyproxy = await proxy(target.port);
    const egress = client({ allowPrivate: false, proxy: { egressProxy: tinyproxy.url, noProxy: [] } });

    const blocked = await egress.send(attempt(`http://${RECEIVER_HOST}:${target.port}/hook`));
    expect(blocked).toMatchObject({
      kind: 'blocked',
      error: `forbidden destination: ${RECEIVER_HOST} resolves to loopback address 127.0.0.1`,
    });

    // A public receiver goes to the loopback proxy although private destinations are off;
    // the proxy refuses its port (not a ConnectPort), so nothing leaves this machine.
    const refused = await egress.send(attempt('http://public.sluice.test:9/hook'));
    expect(refused).toMatchObject({
      kind: 'network_error',
      statusCode: null,
      error: `proxy 127.0.0.1:${tinyproxy.port} refused the tunnel to ${PUBLIC_ADDRESS}:9: 403 Access violation`,
      address: null,
    });
    expect(judgeAttempt(refused)).toBe('retryable');
    expect(await tinyproxy.connects()).toEqual([`${PUBLIC_ADDRESS}:9`]);
    expect(target.requests).toHaveLength(0);
  });

  it('goes direct for a noProxy entry (a name or a range of its addresses) and for a direct request', async () => {
    const direct = await receiver();
    const proxied = await receiver();
    const tinyproxy = await proxy(direct.port, proxied.port);
    const settings: EgressProxySettings = { egressProxy: tinyproxy.url, noProxy: [RECEIVER_HOST] };
    const egress = client({ allowPrivate: true, proxy: settings });
    const ok = { kind: 'response', statusCode: 200, error: null, address: '127.0.0.1' };

    expect(await egress.send(attempt(`http://${RECEIVER_HOST}:${direct.port}/hook`))).toMatchObject(ok);
    expect(await egress.send(attempt(`http://other.sluice.test:${direct.port}/hook`, { direct: true }))).toMatchObject(ok);
    settings.noProxy = ['10.0.0.0/8', '127.0.0.0/8'];
    expect(await egress.send(attempt(`http://other.sluice.test:${direct.port}/hook`))).toMatchObject(ok);
    expect(direct.requests).toHaveLength(3);

    // Then one through the proxy: its CONNECT is the only one logged.
    settings.noProxy = ['.sluice.test'];
    expect(await egress.send(attempt(`http://127.0.0.1:${proxied.port}/hook`))).toMatchObject(ok);
    await tinyproxy.waitForConnect(`127.0.0.1:${proxied.port}`);
    expect(await tinyproxy.connects()).toEqual([`127.0.0.1:${proxied.port}`]);
  });

  it('reports a receiver the proxy cannot reach as the proxy’s answer, retryable', async () => {
    const gone = await freePort();
    const tinyproxy = await proxy(gone);
    const egress = client({ allowPrivate: true, proxy: { egressProxy: tinyproxy.url, noProxy: [] } });

    const result = await egress.send(attempt(`http://${RECEIVER_HOST}:${gone}/hook`));
    expect(result).toMatchObject({
      kind: 'network_error',
      error: `proxy 127.0.0.1:${tinyproxy.port} refused the tunnel to 127.0.0.1:${gone}: 500 Unable to connect`,
    });
    expect(judgeAttempt(result)).toBe('retryable');
  });

  it('reports a proxy that is down as a clear, retryable error', async () => {
    const target = await receiver();
    const down = await freePort();
    const egress = client({ allowPrivate: true, proxy: { egressProxy: `http://127.0.0.1:${down}`, noProxy: [] } });

    const result = await egress.send(attempt(target.url));
    expect(result).toMatchObject({
      kind: 'network_error',
      statusCode: null,
      error: `proxy 127.0.0.1:${down} unreachable: ECONNREFUSED connection refused (127.0.0.1:${down})`,
      address: null,
    });
    expect(judgeAttempt(result)).toBe('retryable');
    expect(target.requests).toHaveLength(0);
  });

  it('fails rather than going direct when the stored proxy URL cannot be used', async () => {
    const target = await receiver();
    const egress = client({ allowPrivate: true, proxy: { egressProxy: 'http://user:pw@127.0.0.1:3128', noProxy: [] } });

    const result = await egress.send(attempt(target.url));
    expect(result).toMatchObject({ kind: 'network_error', error: expect.stringMatching(/^the egressProxy setting cannot be used: .*credentials/) });
    expect(target.requests).toHaveLength(0);
  });
});

describe('the engine', () => {
  it('takes egressProxy and noProxy from its settings, refusing unusable ones when saved', async () => {
    const target = await receiver();
    const tinyproxy = await proxy(target.port);
    const t = await startTestEngine();
    cleanups.push(() => t.cleanup());
    const sub = unwrap(await t.api['subscriptions.create']({ name: 'via-proxy', url: target.url, patterns: ['canary.>'] }));

    const refused = await t.api['settings.update']({ egressProxy: 'http://user:pw@127.0.0.1:3128' });
    expect(refused).toMatchObject({ ok: false, error: { code: 'invalid_argument', field: 'egressProxy', message: expect.stringMatching(/credentials/) } });
    const badEntry = await t.api['settings.update']({ noProxy: ['127.0.0.1', 'example.com:443'] });
    expect(badEntry).toMatchObject({ ok: false, error: { code: 'invalid_argument', field: 'noProxy', message: expect.stringMatching(/^noProxy entry 2: .*without a port/) } });

    unwrap(await t.api['settings.update']({ egressProxy: tinyproxy.url }));
    expect(unwrap(await t.api['subscriptions.testFire'](sub.subscription.id))).toMatchObject({ delivered: true, statusCode: 200 });
    expect(await tinyproxy.connects()).toEqual([`127.0.0.1:${target.port}`]);

    unwrap(await t.api['settings.update']({ noProxy: ['127.0.0.0/8'] }));
    expect(unwrap(await t.api['subscriptions.testFire'](sub.subscription.id))).toMatchObject({ delivered: true, statusCode: 200 });
    expect(target.requests).toHaveLength(2);
    expect(await tinyproxy.connects()).toEqual([`127.0.0.1:${target.port}`]);
  });
});
