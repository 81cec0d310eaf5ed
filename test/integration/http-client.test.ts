import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliCompressSync, deflateSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { EgressClient, type AttemptRequest } from '../../src-main/delivery/http-client';
import { parseRetryAfter } from '../../src-main/delivery/response-body';
import { createGuardedResolver } from '../../src-main/delivery/ssrf';
import {
  drip,
  gzipBomb,
  hang,
  hugeBody,
  redirect,
  resetConnection,
  retryAfter,
  startReceiver,
  status,
  type Behavior,
  type Receiver,
} from '../harness/receiver';

const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
});

async function receiver(behavior?: Behavior): Promise<Receiver> {
  const started = await startReceiver(behavior);
  cleanups.push(() => started.close());
  return started;
}

function client(options: ConstructorParameters<typeof EgressClient>[0]): EgressClient {
  const created = new EgressClient(options);
  cleanups.push(() => created.close());
  return created;
}

const privateAllowed = (): EgressClient => client({ allowPrivate: () => true });

function attempt(url: string, overrides: Partial<AttemptRequest> = {}): AttemptRequest {
  return {
    url,
    body: Buffer.from('{"v":1,"id":"e1"}'),
    headers: { 'content-type': 'application/json', 'x-decnet-event-id': 'e1' },
    timeoutMs: 2_000,
    ...overrides,
  };
}

/** A lookup that answers from a list, one answer per call (the last answer repeats), and counts calls. */
function scriptedLookup(...answers: string[][]): { lookup: (host: string) => Promise<string[]>; calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    lookup: async (host) => {
      calls.push(host);
      return answers[Math.min(calls.length, answers.length) - 1] ?? [];
    },
  };
}

describe('EgressClient.send: responses', () => {
  it('delivers a POST and reports a 2xx as success', async () => {
    const target = await receiver();
    const result = await privateAllowed().send(attempt(target.url));

    expect(result).toMatchObject({
      kind: 'response',
      statusCode: 200,
      error: null,
      address: '127.0.0.1',
      responseExcerpt: 'ok',
      retryAfterMs: null,
    });
    expect(result.latencyMs).toBeGreaterThanOrEqual(0);
    const [received] = target.requests;
    expect(target.requests).toHaveLength(1);
    expect(received?.method).toBe('POST');
    expect(received?.path).toBe('/hook');
    expect(received?.body.toString()).toBe('{"v":1,"id":"e1"}');
    expect(received?.headers['content-type']).toBe('application/json');
    expect(received?.headers['x-decnet-event-id']).toBe('e1');
    expect(received?.headers['content-length']).toBe('17');
    expect(received?.headers['accept-encoding']).toBeUndefined();
  });

  it('reports a 4xx with its status', async () => {
    const target = await receiver(status(404, 'no such hook'));
    const result = await privateAllowed().send(attempt(target.url));
    expect(result).toMatchObject({ kind: 'response', statusCode: 404, error: 'http 404', responseExcerpt: 'no such hook' });
  });

  it('reports a 5xx with its status', async () => {
    const target = await receiver(status(503, 'maintenance'));
    const result = await privateAllowed().send(attempt(target.url));
    expect(result).toMatchObject({ kind: 'response', statusCode: 503, error: 'http 503', responseExcerpt: 'maintenance' });
  });

  it('parses Retry-After on a 429', async () => {
    const target = await receiver(retryAfter(7));
    const result = await privateAllowed().send(attempt(target.url));
    expect(result).toMatchObject({ kind: 'response', statusCode: 429, error: 'http 429', retryAfterMs: 7_000 });
  });

  it('parses Retry-After given as an HTTP-date', async () => {
    const target = await receiver((_req, res) => {
      res.writeHead(503, { 'retry-after': new Date(Date.now() + 120_000).toUTCString() });
      res.end();
    });
    const result = await privateAllowed().send(attempt(target.url));
    expect(result.retryAfterMs).toBeGreaterThan(115_000);
    expect(result.retryAfterMs).toBeLessThanOrEqual(120_000);
  });

  it('does not follow a redirect', async () => {
    const elsewhere = await receiver();
    const target = await receiver(redirect(elsewhere.url));
    const result = await privateAllowed().send(attempt(target.url));

    expect(result).toMatchObject({ kind: 'response', statusCode: 302, error: 'redirect 302 not followed' });
    expect(target.requests).toHaveLength(1);
    expect(elsewhere.requests).toHaveLength(0);
  });

  it('decodes a deflate or brotli body the receiver sends unasked', async () => {
    const target = await receiver((_req, res) => {
      res.writeHead(400, { 'content-encoding': 'deflate' });
      res.end(deflateSync('{"error":"bad signature"}'));
    });
    const egress = privateAllowed();
    expect(await egress.send(attempt(target.url))).toMatchObject({ statusCode: 400, responseExcerpt: '{"error":"bad signature"}' });

    target.setBehavior((_req, res) => {
      res.writeHead(200, { 'content-encoding': 'br' });
      res.end(brotliCompressSync('accepted'));
    });
    expect(await egress.send(attempt(target.url))).toMatchObject({ statusCode: 200, error: null, responseExcerpt: 'accepted' });
  });

  it('keeps the status when the body cannot be decoded', async () => {
    const target = await receiver((_req, res) => {
      res.writeHead(200, { 'content-encoding': 'gzip' });
      res.end('this is not gzip');
    });
    const result = await privateAllowed().send(attempt(target.url));
    expect(result).toMatchObject({ kind: 'response', statusCode: 200, error: null, responseExcerpt: '' });
  });

  it('keeps connections alive between attempts', async () => {
    const remotePorts: Array<number | undefined> = [];
    const target = await receiver((_req, res) => {
      remotePorts.push(res.socket?.remotePort);
      res.end('ok');
    });
    const egress = privateAllowed();
    for (let i = 0; i < 6; i += 1) await egress.send(attempt(target.url));
    expect(remotePorts).toHaveLength(6);
    // undici may open a second socket while the first is still finishing its response.
    expect(new Set(remotePorts).size).toBeLessThanOrEqual(2);
  });
});

describe('EgressClient.send: hostile receivers', () => {
  it('times out a receiver that never answers, at the deadline', async () => {
    const target = await receiver(hang());
    const result = await privateAllowed().send(attempt(target.url, { timeoutMs: 800 }));

    expect(result).toMatchObject({ kind: 'timeout', statusCode: null, error: 'timeout after 800 ms', address: '127.0.0.1' });
    expect(result.latencyMs).toBeGreaterThanOrEqual(790);
    expect(result.latencyMs).toBeLessThan(1_400);
  });

  it('times out a receiver that drips its body, at the total deadline', async () => {
    const target = await receiver(drip(1_000));
    const result = await privateAllowed().send(attempt(target.url, { timeoutMs: 2_500 }));

    expect(result).toMatchObject({ kind: 'timeout', statusCode: 200, error: 'timeout after 2500 ms' });
    expect(result.latencyMs).toBeGreaterThanOrEqual(2_490);
    expect(result.latencyMs).toBeLessThan(3_200);
  });

  it('cuts a huge body at the cap and drops the connection', async () => {
    const target = await receiver(hugeBody(50 * 1024 * 1024));
    const result = await privateAllowed().send(attempt(target.url));

    expect(result).toMatchObject({ kind: 'response', statusCode: 200, error: null });
    expect(result.responseExcerpt).toBe('a'.repeat(1024));
    expect(result.latencyMs).toBeLessThan(1_000);
  });

  it('cuts a gzip bomb at the decoded cap with bounded memory', async () => {
    const target = await receiver(gzipBomb(1024 * 1024 * 1024));
    const rssBefore = process.memoryUsage().rss;
    const result = await client({ allowPrivate: () => true, maxResponseBytes: 64 * 1024 }).send(attempt(target.url));
    const rssGrowth = process.memoryUsage().rss - rssBefore;

    expect(result).toMatchObject({ kind: 'response', statusCode: 200, error: null });
    expect(result.responseExcerpt).toBe('\u0000'.repeat(1024));
    expect(result.latencyMs).toBeLessThan(1_000);
    expect(rssGrowth).toBeLessThan(64 * 1024 * 1024);
  });

  it('reports a reset connection as a network error', async () => {
    const target = await receiver(resetConnection());
    const result = await privateAllowed().send(attempt(target.url));

    expect(result).toMatchObject({ kind: 'network_error', statusCode: null });
    expect(result.error).toMatch(/^ECONNRESET /);
  });

  it('reports a refused connection as a network error', async () => {
    const closed = await startReceiver();
    await closed.close();
    const result = await privateAllowed().send(attempt(closed.url));

    expect(result).toMatchObject({
      kind: 'network_error',
      statusCode: null,
      error: `ECONNREFUSED connection refused (127.0.0.1:${closed.port})`,
      address: '127.0.0.1',
    });
  });
});

describe('EgressClient.send: destination guard', () => {
  it.each([
    ['the receiver URL', (r: Receiver) => r.url, 'loopback address 127.0.0.1'],
    ['a decimal IPv4', (r: Receiver) => `http://2130706433:${r.port}/hook`, 'loopback address 127.0.0.1'],
    ['a short hex IPv4', (r: Receiver) => `http://0x7f.1:${r.port}/hook`, 'loopback address 127.0.0.1'],
    ['IPv6 loopback', (r: Receiver) => `http://[::1]:${r.port}/hook`, 'loopback address ::1'],
    [
      'an IPv4-mapped IPv6',
      (r: Receiver) => `http://[::ffff:127.0.0.1]:${r.port}/hook`,
      'loopback address 127.0.0.1 (embedded in ::ffff:7f00:1)',
    ],
  ])('blocks %s without connecting when private targets are off', async (_name, urlOf, reason) => {
    const target = await receiver();
    const result = await client({ allowPrivate: () => false }).send(attempt(urlOf(target)));

    expect(result).toEqual({
      kind: 'blocked',
      statusCode: null,
      error: `forbidden destination: ${reason}`,
      latencyMs: expect.any(Number),
      address: null,
      responseExcerpt: null,
      retryAfterMs: null,
    });
    expect(target.requests).toHaveLength(0);
  });

  it('blocks a name that resolves to loopback', async () => {
    const target = await receiver();
    const { lookup } = scriptedLookup(['127.0.0.1']);
    const resolver = createGuardedResolver({ allowPrivate: () => false, lookup });
    const egress = client({ allowPrivate: () => false, resolver });
    const result = await egress.send(attempt(`http://hooks.example.com:${target.port}/hook`));

    expect(result).toMatchObject({
      kind: 'blocked',
      error: 'forbidden destination: hooks.example.com resolves to loopback address 127.0.0.1',
    });
    expect(target.requests).toHaveLength(0);
  });

  it('never connects to loopback when a name rebinds after the check', async () => {
    const target = await receiver();
    const { lookup, calls } = scriptedLookup(['93.184.215.14'], ['127.0.0.1']);
    // TTL 0 forces the connect to resolve again: the second answer is judged there.
    const resolver = createGuardedResolver({ allowPrivate: () => false, lookup, ttlMs: 0 });
    const egress = client({ allowPrivate: () => false, resolver });
    const result = await egress.send(attempt(`http://rebind.example.com:${target.port}/hook`));

    expect(calls).toEqual(['rebind.example.com', 'rebind.example.com']);
    expect(result).toMatchObject({
      kind: 'blocked',
      error: 'forbidden destination: rebind.example.com resolves to loopback address 127.0.0.1',
      address: null,
    });
    expect(target.requests).toHaveLength(0);
  });

  it('connects to the address that was checked, with no second lookup', async () => {
    const target = await receiver();
    // The second answer would be refused by the receiver (it listens on 127.0.0.1 only).
    const { lookup, calls } = scriptedLookup(['127.0.0.1'], ['127.0.0.2']);
    const resolver = createGuardedResolver({ allowPrivate: () => true, lookup });
    const egress = client({ allowPrivate: () => true, resolver });
    const result = await egress.send(attempt(`http://sluice-receiver.test:${target.port}/hook`));

    expect(result).toMatchObject({ kind: 'response', statusCode: 200, address: '127.0.0.1' });
    expect(calls).toEqual(['sluice-receiver.test']);
  });

  it('never reuses a kept-alive socket judged under a policy since changed', async () => {
    const target = await receiver();
    // 1: pre-flight and 2: connect answer loopback (allowed then); 3: after the change the
    // name points at a public address; 4: a new connect's lookup fails.
    let calls = 0;
    const lookup = async (): Promise<string[]> => {
      calls += 1;
      if (calls <= 2) return ['127.0.0.1'];
      if (calls === 3) return ['93.184.215.14'];
      throw Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' });
    };
    let allowPrivate = true;
    const resolver = createGuardedResolver({ allowPrivate: () => allowPrivate, lookup, ttlMs: 0 });
    const egress = client({ allowPrivate: () => allowPrivate, resolver });
    const url = `http://pooled.example.com:${target.port}/hook`;
    expect(await egress.send(attempt(url))).toMatchObject({ kind: 'response', statusCode: 200, address: '127.0.0.1' });

    // Let the socket go back to the pool (it is reused then: 'keeps connections alive between attempts').
    await new Promise((resolve) => setTimeout(resolve, 100));
    allowPrivate = false;
    // The pre-flight check passes (a public answer); the pooled loopback socket must not carry the request.
    const result = await egress.send(attempt(url));
    expect(result).toMatchObject({ kind: 'network_error', error: 'cannot resolve pooled.example.com: ENOTFOUND' });
    expect(calls).toBe(4);
    expect(target.requests).toHaveLength(1);
  });

  it('keeps the Host header on the host name while connecting to its address', async () => {
    const target = await receiver();
    const { lookup } = scriptedLookup(['127.0.0.1']);
    const egress = client({ allowPrivate: () => true, resolver: createGuardedResolver({ allowPrivate: () => true, lookup }) });
    await egress.send(attempt(`http://sluice-receiver.test:${target.port}/hook`));

    expect(target.requests[0]?.headers.host).toBe(`sluice-receiver.test:${target.port}`);
  });

  it('reports an unresolvable name as a network error', async () => {
    const lookup = async (): Promise<string[]> => {
      throw Object.assign(new Error('getaddrinfo ENOTFOUND gone.example.com'), { code: 'ENOTFOUND' });
    };
    const egress = client({ allowPrivate: () => false, resolver: createGuardedResolver({ allowPrivate: () => false, lookup }) });
    const result = await egress.send(attempt('https://gone.example.com/hook'));

    expect(result).toMatchObject({ kind: 'network_error', error: 'cannot resolve gone.example.com: ENOTFOUND', address: null });
  });

  it('refuses an invalid URL without throwing', async () => {
    const egress = client({ allowPrivate: () => true });
    await expect(egress.send(attempt('ftp://example.com/hook'))).resolves.toMatchObject({
      kind: 'blocked',
      error: 'invalid destination: unsupported scheme "ftp" (use http or https)',
    });
    await expect(egress.send(attempt('http://user:pw@127.0.0.1/'))).resolves.toMatchObject({
      kind: 'blocked',
      error: expect.stringMatching(/credentials/),
    });
  });

  it('never throws, even on a header undici refuses', async () => {
    const target = await receiver();
    const result = await privateAllowed().send(attempt(target.url, { headers: { 'x-bad': 'a\r\nInjected: 1' } }));
    expect(result.kind).toBe('network_error');
    expect(result.error).toMatch(/header/i);
    expect(target.requests).toHaveLength(0);
  });

  it('exposes the destination check for save-time validation', async () => {
    const egress = client({ allowPrivate: () => false });
    await expect(egress.checkDestination('http://10.0.0.8/hook')).resolves.toEqual({
      ok: false,
      code: 'forbidden_destination',
      reason: 'private address 10.0.0.8',
    });
  });
});

const TLS_HOST = 'sluice-receiver.test';

function selfSignedCertificate(hostname: string): { key: Buffer; cert: Buffer } {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-tls-'));
  try {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', `/CN=${hostname}`, '-addext', `subjectAltName=DNS:${hostname}`,
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ], { stdio: 'ignore' });
    return { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface TlsReceiver {
  port: number;
  serverNames: Array<string | false | null>;
  hosts: Array<string | undefined>;
}

async function tlsReceiver(credentials: { key: Buffer; cert: Buffer }): Promise<TlsReceiver> {
  const seen: TlsReceiver = { port: 0, serverNames: [], hosts: [] };
  const server = createHttpsServer(credentials, (req, res) => {
    seen.hosts.push(req.headers.host);
    req.resume();
    req.on('end', () => res.end('tls ok'));
  });
  server.on('secureConnection', (socket) => seen.serverNames.push(socket.servername));
  server.on('tlsClientError', (_error, socket) => seen.serverNames.push(socket.servername));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  seen.port = (server.address() as AddressInfo).port;
  return seen;
}

describe('EgressClient.send: TLS keeps the real host name', () => {
  const credentials = selfSignedCertificate(TLS_HOST);
  const resolverTo127 = () => createGuardedResolver({ allowPrivate: () => true, lookup: async () => ['127.0.0.1'] });

  it('sends SNI and checks the certificate against the host name while connecting to its address', async () => {
    const server = await tlsReceiver(credentials);
    const egress = client({ allowPrivate: () => true, resolver: resolverTo127(), ca: credentials.cert });
    const result = await egress.send(attempt(`https://${TLS_HOST}:${server.port}/hook`));

    expect(result).toMatchObject({ kind: 'response', statusCode: 200, error: null, address: '127.0.0.1', responseExcerpt: 'tls ok' });
    expect(server.serverNames).toEqual([TLS_HOST]);
    expect(server.hosts).toEqual([`${TLS_HOST}:${server.port}`]);
  });

  it('refuses a certificate issued for another name', async () => {
    const server = await tlsReceiver(credentials);
    const egress = client({ allowPrivate: () => true, resolver: resolverTo127(), ca: credentials.cert });
    const result = await egress.send(attempt(`https://other-name.test:${server.port}/hook`));

    expect(result).toMatchObject({ kind: 'network_error', statusCode: null });
    expect(result.error).toMatch(/^ERR_TLS_CERT_ALTNAME_INVALID /);
    expect(server.hosts).toEqual([]);
  });

  it('refuses an untrusted certificate', async () => {
    const server = await tlsReceiver(credentials);
    const egress = client({ allowPrivate: () => true, resolver: resolverTo127() });
    const result = await egress.send(attempt(`https://${TLS_HOST}:${server.port}/hook`));

    expect(result).toMatchObject({ kind: 'network_error', statusCode: null });
    expect(result.error).toMatch(/^DEPTH_ZERO_SELF_SIGNED_CERT /);
    expect(server.hosts).toEqual([]);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');

  it.each([
    ['0', 0],
    ['120', 120_000],
    [' 5 ', 5_000],
    ['Thu, 01 Jan 2026 00:00:30 GMT', 30_000],
    ['Wed, 31 Dec 2025 23:59:00 GMT', 0],
    ['soon', null],
    ['-5', null],
    ['1.5', null],
    ['', null],
  ])('%j → %j', (value, expected) => {
    expect(parseRetryAfter(value, now)).toBe(expected);
  });

  it('is null when the header is absent', () => {
    expect(parseRetryAfter(null, now)).toBeNull();
  });
});
