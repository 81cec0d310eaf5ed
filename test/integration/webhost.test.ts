/**
 * The local web host (docs/design.md#web-host) with real parts: a real engine and
 * nats-server, the real host on a free port, the built renderer, and a `ws` client
 * speaking JSON-RPC. Who may connect (token, Origin, Host), what it serves (and what it
 * never serves), the protocol's faults, hostile arguments, and events arriving as
 * notifications.
 */
import { existsSync, readFileSync } from 'node:fs';
import { request, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { CALL_NAMES, TOKEN_REFUSED_CLOSE_CODE, type CallName } from '../../src-main/contract/bridge';
import { startWebHost, type WebHost } from '../../src-main/webhost/server';
import { envelope, startTestEngine, type TestEngine } from '../harness/engine';
import { startReceiver, type Receiver } from '../harness/receiver';

const RENDERER_DIR = join(__dirname, '../../out/renderer');

let t: TestEngine;
let receiver: Receiver;
let host: WebHost;
let internalErrors: unknown[];
const openSockets = new Set<WebSocket>();

beforeAll(async () => {
  if (!existsSync(join(RENDERER_DIR, 'index.html')))
    throw new Error(`${RENDERER_DIR}/index.html is missing: run \`npm run build\` first (npm test does)`);
  t = await startTestEngine();
  receiver = await startReceiver();
});

afterAll(async () => {
  await receiver?.close();
  await t?.cleanup();
});

beforeEach(async () => {
  internalErrors = [];
  host = await startWebHost({ engine: t.engine, port: 0, rendererDir: RENDERER_DIR, onInternalError: (err) => internalErrors.push(err) });
});

afterEach(async () => {
  for (const ws of openSockets) ws.terminate();
  openSockets.clear();
  await host.close();
  expect(internalErrors).toEqual([]);
});

// ----- helpers -------------------------------------------------------------------------

interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** A raw HTTP request: the path is sent exactly as given (no client-side normalising). */
function http(path: string, options: { method?: string; headers?: OutgoingHttpHeaders } = {}): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: host.port, path, method: options.method ?? 'GET', headers: options.headers ?? {} },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

type Attempt = { open: true; ws: WebSocket } | { open: false; status: number | null };

/** Try a WebSocket upgrade; resolves with the socket, or with the HTTP status that refused it. */
function tryConnect(url: string, options: WebSocket.ClientOptions = {}): Promise<Attempt> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, options);
    ws.once('open', () => {
      openSockets.add(ws);
      resolve({ open: true, ws });
    });
    ws.once('unexpected-response', (req, res) => {
      resolve({ open: false, status: res.statusCode ?? null });
      req.destroy();
    });
    ws.once('error', () => resolve({ open: false, status: null }));
  });
}

const rpcUrl = (token = host.token): string => `ws://127.0.0.1:${host.port}/rpc?token=${encodeURIComponent(token)}`;

type Message = Record<string, unknown>;
type CallResult = { ok: boolean; value?: unknown; error?: { code: string; message: string; field?: string } };

/** A JSON-RPC client over `ws` that keeps every message, so a test can await any of them. */
class RpcClient {
  readonly messages: Message[] = [];
  private readonly taken = new Set<Message>();
  private readonly waiters = new Set<() => void>();
  private nextId = 1;
  readonly closed: Promise<{ code: number }>;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      this.messages.push(JSON.parse(data.toString('utf8')) as Message);
      for (const wake of [...this.waiters]) wake();
    });
    this.closed = new Promise((resolve) => ws.once('close', (code) => resolve({ code })));
  }

  /** The first message not yet taken that satisfies `predicate` (waits for it). */
  next(predicate: (m: Message) => boolean, timeoutMs = 10_000): Promise<Message> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const found = this.messages.find((m) => !this.taken.has(m) && predicate(m));
        if (!found) return false;
        this.taken.add(found);
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve(found);
        return true;
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`no matching message within ${timeoutMs} ms; got ${JSON.stringify(this.messages.slice(-5)).slice(0, 2000)}`));
      }, timeoutMs);
      if (!check()) this.waiters.add(check);
    });
  }

  /** One call; resolves with the whole response message. `splice` replaces marker strings with raw JSON. */
  async request(method: string, params?: unknown[], splice: Record<string, string> = {}): Promise<Message> {
    const id = this.nextId++;
    let text = JSON.stringify({ jsonrpc: '2.0', id, method, ...(params === undefined ? {} : { params }) });
    for (const [marker, json] of Object.entries(splice)) text = text.replaceAll(JSON.stringify(marker), json);
    this.ws.send(text);
    return this.next((m) => m['id'] === id);
  }

  /** One call; resolves with its contract result (`{ ok, value }` / `{ ok: false, error }`). */
  async call(method: CallName, ...params: unknown[]): Promise<CallResult> {
    return this.callSpliced(method, params, {});
  }

  async callSpliced(method: CallName, params: unknown[], splice: Record<string, string>): Promise<CallResult> {
    const response = await this.request(method, params, splice);
    expect(response['error'], JSON.stringify(response)).toBeUndefined();
    return response['result'] as { ok: boolean };
  }

  /** Send raw text; resolves with the next response whose id is `id`. */
  async raw(text: string | Buffer, id: unknown = null): Promise<Message> {
    this.ws.send(text);
    return this.next((m) => 'id' in m && m['id'] === id);
  }
}

async function client(): Promise<RpcClient> {
  const attempt = await tryConnect(rpcUrl(), { origin: host.origin });
  if (!attempt.open) throw new Error(`refused: ${attempt.status}`);
  return new RpcClient(attempt.ws);
}

function value<T>(result: { ok: boolean; value?: unknown; error?: unknown }): T {
  if (!result.ok) throw new Error(`call failed: ${JSON.stringify(result.error)}`);
  return result.value as T;
}

/** The host still serves the page and answers calls on a fresh connection. */
async function expectAlive(): Promise<void> {
  expect((await http('/')).status).toBe(200);
  const c = await client();
  expect((await c.call('status.get')).ok).toBe(true);
}

// ----- HTTP ----------------------------------------------------------------------------

describe('HTTP', () => {
  it('serves the built console with its security headers', async () => {
    const page = await http('/');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toBe(
      `default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' ws://127.0.0.1:${host.port}; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
    );
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    expect(page.headers['referrer-policy']).toBe('no-referrer');
    expect(page.headers['cache-control']).toBe('no-store');
    const html = page.body.toString('utf8');
    expect(html).toBe(readFileSync(join(RENDERER_DIR, 'index.html'), 'utf8'));

    const script = /<script[^>]*\ssrc="\.?(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    const js = await http(script!);
    expect(js.status).toBe(200);
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(js.headers['content-security-policy']).toContain("script-src 'self'");
    const css = /<link[^>]*\shref="\.?(\/assets\/[^"]+\.css)"/.exec(html)?.[1];
    if (css) expect((await http(css)).headers['content-type']).toBe('text/css; charset=utf-8');

    expect((await http('/index.html')).status).toBe(200);
    const head = await http('/', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.body).toHaveLength(0);
    expect(Number(head.headers['content-length'])).toBe(page.body.length);
    expect(host.url).toBe(`http://127.0.0.1:${host.port}/#token=${host.token}`);
    expect(Buffer.from(host.token, 'base64url')).toHaveLength(32);
  });

  it('answers GET and HEAD only', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS']) {
      const r = await http('/', { method });
      expect(r.status, method).toBe(405);
      expect(r.headers['allow']).toBe('GET, HEAD');
    }
  });

  it('refuses a foreign Host header (DNS rebinding)', async () => {
    for (const h of ['evil.example', `evil.example:${host.port}`, '127.0.0.1', `127.0.0.1:${host.port + 1}`, `[::1]:${host.port}`]) {
      const r = await http('/', { headers: { host: h } });
      expect(r.status, h).toBe(421);
      expect(r.body.toString()).not.toContain('<div id="app">');
    }
    expect((await http('/', { headers: { host: `localhost:${host.port}` } })).status).toBe(200);
  });

  it('never serves anything outside the renderer, and lists no directory', async () => {
    const paths = [
      '/../package.json',
      '/%2e%2e/package.json',
      '/../../package.json',
      '/%2e%2e/%2e%2e/package.json',
      '/%2E%2E/%2E%2E/package.json',
      '/..%2f..%2fpackage.json',
      '/%2e%2e%2f%2e%2e%2fpackage.json',
      '/assets/../../../package.json',
      '/assets/..%2f..%2f..%2fpackage.json',
      '/..\\..\\package.json',
      '/%5c..%5c..%5cpackage.json',
      '//etc/passwd',
      '/index.html%00.js',
      '/%E0%A4%A',
      '/assets',
      '/assets/',
      '/missing.js',
    ];
    for (const path of paths) {
      const r = await http(path);
      expect(r.status, path).toBe(404);
      expect(r.body.toString(), path).not.toMatch(/"name":\s*"sluice"|root:/);
    }
    // Not even a path: Node's parser refuses it before the host sees it.
    expect([400, 404]).toContain((await http('package.json')).status);
    await expectAlive();
  });
});

// ----- who may connect -------------------------------------------------------------------

describe('WebSocket admission', () => {
  it('accepts the token from the printed URL with the host’s own Origin', async () => {
    const attempt = await tryConnect(rpcUrl(), { origin: host.origin });
    expect(attempt.open).toBe(true);
    const viaLocalhost = await tryConnect(rpcUrl(), {
      origin: `http://localhost:${host.port}`,
      headers: { host: `localhost:${host.port}` },
    });
    expect(viaLocalhost.open).toBe(true);
  });

  it('refuses a foreign or missing Origin and a foreign Host at the upgrade, whatever the token', async () => {
    const base = `ws://127.0.0.1:${host.port}`;
    const refused: [string, string, WebSocket.ClientOptions][] = [
      ['no token, no origin', `${base}/rpc`, {}],
      ['wrong token, foreign origin', rpcUrl('x'.repeat(host.token.length)), { origin: 'http://evil.example' }],
      ['foreign origin', rpcUrl(), { origin: 'http://evil.example' }],
      ['no origin', rpcUrl(), {}],
      ['null origin', rpcUrl(), { origin: 'null' }],
      ['https origin', rpcUrl(), { origin: `https://127.0.0.1:${host.port}` }],
      ['other port origin', rpcUrl(), { origin: `http://127.0.0.1:${host.port + 1}` }],
      ['origin of the other name', rpcUrl(), { origin: `http://localhost:${host.port}` }],
      ['foreign host', rpcUrl(), { origin: `http://evil.example:${host.port}`, headers: { host: `evil.example:${host.port}` } }],
    ];
    for (const [label, url, options] of refused) {
      const attempt = await tryConnect(url, options);
      expect(attempt, label).toEqual({ open: false, status: 403 });
    }
    expect(await tryConnect(`${base}/elsewhere?token=${host.token}`, { origin: host.origin })).toEqual({ open: false, status: 404 });
    await expectAlive();
  });

  it("tells its own page that the token is missing or not this run's (a close code it can read), and serves it nothing", async () => {
    const base = `ws://127.0.0.1:${host.port}`;
    const refused: [string, string][] = [
      ['no token', `${base}/rpc`],
      ['empty token', `${base}/rpc?token=`],
      ['wrong token', rpcUrl('x'.repeat(host.token.length))],
      ['token prefix', rpcUrl(host.token.slice(0, -1))],
      ['token plus', rpcUrl(`${host.token}A`)],
    ];
    for (const [label, url] of refused) {
      const attempt = await tryConnect(url, { origin: host.origin });
      expect(attempt.open, label).toBe(true);
      if (!attempt.open) continue;
      const closed = new Promise<{ code: number; reason: string }>((resolve) =>
        attempt.ws.once('close', (code, reason) => resolve({ code, reason: reason.toString('utf8') })),
      );
      const answers: string[] = [];
      attempt.ws.on('message', (data: Buffer) => answers.push(data.toString('utf8')));
      // Missing and wrong read the same: nothing says how close a guess was.
      expect(await closed, label).toEqual({ code: TOKEN_REFUSED_CLOSE_CODE, reason: "not this run's token" });
      expect(answers, label).toEqual([]);
    }
    // A call sent at once, before the close arrives, is never answered.
    const early = await tryConnect(rpcUrl('y'.repeat(43)), { origin: host.origin });
    if (!early.open) throw new Error('not opened');
    const answers: string[] = [];
    early.ws.on('message', (data: Buffer) => answers.push(data.toString('utf8')));
    const closed = new Promise<number>((resolve) => early.ws.once('close', (code) => resolve(code)));
    early.ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'subscriptions.list', params: [] }));
    expect(await closed).toBe(TOKEN_REFUSED_CLOSE_CODE);
    expect(answers).toEqual([]);
    await expectAlive();
  });
});

// ----- the protocol ----------------------------------------------------------------------

describe('JSON-RPC', () => {
  it('round-trips calls; the secret appears only in the create response', async () => {
    const c = await client();
    const created = await c.call('subscriptions.create', { name: 'ws-secret', url: receiver.url, patterns: ['attacker.>'] });
    const { subscription, secret } = value<{ subscription: { id: string; name: string }; secret: string }>(created);
    expect(subscription.name).toBe('ws-secret');
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const list = await c.request('subscriptions.list');
    expect(list).toMatchObject({ jsonrpc: '2.0', id: expect.any(Number), result: { ok: true } });
    expect(value<{ id: string }[]>(list['result'] as { ok: boolean }).map((s) => s.id)).toContain(subscription.id);
    await c.next((m) => m['method'] === 'subscriptions.changed' && JSON.stringify(m).includes(subscription.id));
    const withSecret = c.messages.filter((m) => JSON.stringify(m).includes(secret));
    expect(withSecret).toHaveLength(1);
    expect(withSecret[0]?.['result']).toBe(created);

    expect(await c.call('subscriptions.setEnabled', 'no-such-id', true)).toMatchObject({ ok: false, error: { code: 'not_found' } });
    expect(value(await c.call('subscriptions.remove', subscription.id))).toBeNull();
  });

  it('answers protocol faults with JSON-RPC errors and keeps going', async () => {
    const c = await client();
    const expectFault = async (text: string | Buffer, code: number, id: unknown = null): Promise<void> => {
      const r = await c.raw(text, id);
      expect(r, String(text)).toMatchObject({ jsonrpc: '2.0', id, error: { code, message: expect.any(String) } });
      expect(r['result']).toBeUndefined();
    };
    await expectFault('not json', -32700);
    await expectFault('{"jsonrpc":"2.0","id":1,', -32700);
    await expectFault('', -32700);
    await expectFault(Buffer.from('{"jsonrpc":"2.0","id":1,"method":"status.get"}'), -32700);
    for (const text of ['42', '"status.get"', 'null', 'true', '[]', '[{"jsonrpc":"2.0","id":1,"method":"status.get"}]'])
      await expectFault(text, -32600);
    await expectFault('{"jsonrpc":"2.0","id":{},"method":"status.get"}', -32600);
    await expectFault('{"jsonrpc":"2.0","id":[1],"method":"status.get"}', -32600);
    await expectFault('{"jsonrpc":"1.0","id":1,"method":"status.get"}', -32600, 1);
    await expectFault('{"id":2,"method":"status.get"}', -32600, 2);
    await expectFault('{"jsonrpc":"2.0","id":3,"method":"status.get","params":{}}', -32600, 3);
    await expectFault('{"jsonrpc":"2.0","id":4,"method":"status.get","params":null}', -32600, 4);
    await expectFault('{"jsonrpc":"2.0","id":5,"method":"status.get","params":"x"}', -32600, 5);
    await expectFault('{"jsonrpc":"2.0","id":6,"method":5}', -32600, 6);
    await expectFault('{"jsonrpc":"2.0","id":7}', -32600, 7);
    for (const [i, method] of ['nope', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'subscriptions', ''].entries())
      await expectFault(JSON.stringify({ jsonrpc: '2.0', id: `m${i}`, method }), -32601, `m${i}`);

    // Notifications are never answered: neither a valid one nor an unknown method.
    c.ws.send('{"jsonrpc":"2.0","method":"status.get"}');
    c.ws.send('{"jsonrpc":"2.0","method":"nope"}');
    const answered = c.messages.filter((m) => 'id' in m).length;
    const last = await c.request('status.get');
    expect(last['result']).toMatchObject({ ok: true });
    expect(c.messages.filter((m) => 'id' in m)).toHaveLength(answered + 1);
    // String ids and absent params work.
    expect(await c.raw('{"jsonrpc":"2.0","id":"s-1","method":"settings.get"}', 's-1')).toMatchObject({ result: { ok: true } });
    await expectAlive();
  });

  it('answers every call with malformed arguments with invalid_argument and changes nothing', async () => {
    const c = await client();
    const huge = 'x'.repeat(10 * 1024 * 1024);
    // Too deep for JSON.stringify here: sent as text, spliced in where this marker is.
    const deep = '<deep>';
    const deepJson = `${'{"a":'.repeat(100_000)}{}${'}'.repeat(100_000)}`;
    const polluted = JSON.parse('{"__proto__": {"polluted": true}, "name": "p", "url": "http://127.0.0.1/", "patterns": ["a.b"]}') as unknown;
    const bad: Record<CallName, unknown[][]> = {
      'subscriptions.list': [[1], ['x'], [null]],
      'subscriptions.create': [[], [null], [42], ['str'], [[]], [{}], [{ name: 1, url: 'http://x' }], [{ name: 'a', url: huge }], [{ name: huge, url: 'http://x' }], [polluted], [{ name: 'a', url: 'http://x', patterns: 'a.b' }], [{ name: 'a', url: 'http://x', extra: true }], [{ name: 'a', url: 'http://x', presets: ['Nope'] }], [deep], [{ name: 'ok', url: receiver.url, patterns: ['a.b'] }, 'extra']],
      'subscriptions.update': [[], ['id'], ['id', null], [1, {}], ['id', { url: 5 }], ['id', polluted], [huge, {}], ['id', { enabled: 'yes' }]],
      'subscriptions.remove': [[], [1], [null], [huge], [{}]],
      'subscriptions.setEnabled': [[], ['id'], ['id', 'true'], [1, true], ['id', 1], ['id', null]],
      'subscriptions.testFire': [[], [1], [{}], [huge]],
      'deliveries.list': [[1], ['x'], [null], [{ limit: 0 }], [{ limit: 5000 }], [{ outcome: 'exploded' }], [{ before: -1 }], [{ topic: huge }], [polluted], [deep]],
      'deliveries.get': [[], ['1'], [1.5], [-1], [null], [{}]],
      'deliveries.search': [[], [null], [{}], [{ text: '' }], [{ eventId: ' ' }], [{ statusCode: 99 }], [{ statusCode: 600 }], [{ statusCode: '503' }], [{ from: 'yesterday' }], [{ to: '2026-02-30T10:00:00Z' }], [{ text: 'a', limit: 0 }], [{ text: 'a', limit: 10_001 }], [{ text: huge }], [polluted], [deep]],
      'deliveries.export': [[], [null], [{}], [{ format: 'xml' }], [{ format: 'csv', text: '' }], [{ format: 'csv', statusCode: 42 }], [{ format: 'csv', from: 'now' }], [{ format: 'ndjson', extra: 1 }], [polluted], [deep]],
      'deliveries.replay': [[], [null], [{}], [{ id: 'x' }], [{ dead: true }], [{ subscriptionId: 'x', pattern: 'a..b', from: 'a', to: 'b' }], [polluted], [deep]],
      'status.get': [[1]],
      'team.status': [[1], [{}]],
      'team.create': [[], [null], [{}], [{ stream: 'S' }], [{ stream: 'S', keyOut: '/x', extra: 1 }], [polluted], [deep]],
      'team.join': [[], [null], [{}], [{ stream: 'S', keyFile: '/x', mergeLocal: 'yes' }], [polluted], [deep]],
      'team.leave': [[1], [{}]],
      'audit.list': [[1], ['x'], [null], [{ limit: 0 }], [{ limit: 1001 }], [{ before: -1 }], [{ since: 'not a time' }], [{ since: '2026-02-30T10:00:00Z' }], [{ since: huge }], [polluted], [deep]],
      'audit.verify': [[1], [{}]],
      'subscriptions.health': [[1], [null], [deep]],
      'subscriptions.preview': [[], [null], [{ url: 5 }], [{ format: 'xml' }], [polluted], [deep]],
      'events.recent': [[], [null], [{ limit: 0 }], [deep]],
      'settings.get': [[{}]],
      'settings.update': [[], [null], [{ concurrency: 0 }], [{ concurrency: 1e9 }], [{ timeoutMs: 'fast' }], [{ retrySchedule: [-1] }], [{ retrySchedule: 'x' }], [{ unknownKey: 1 }], [polluted], [{ allowPrivate: 'yes' }], [{ natsUrl: 'http://not-ws' }], [{ natsUrl: '' }]],
    };
    expect(Object.keys(bad).sort()).toEqual([...CALL_NAMES].sort());

    const snapshot = async (): Promise<string> =>
      JSON.stringify([
        value(await c.call('subscriptions.list')),
        value(await c.call('settings.get')),
        value(await c.call('deliveries.list')),
      ]);
    const before = await snapshot();
    for (const [name, cases] of Object.entries(bad)) {
      for (const [i, params] of cases.entries()) {
        const r = await c.callSpliced(name as CallName, params, { [deep]: deepJson });
        expect(r.ok, `${name} case ${i}`).toBe(false);
        expect(r.error?.code, `${name} case ${i}: ${r.error?.message}`).toBe('invalid_argument');
      }
    }
    // Absent params means no arguments.
    expect((await c.request('subscriptions.create'))['result']).toMatchObject({ ok: false, error: { code: 'invalid_argument' } });
    expect(await snapshot()).toBe(before);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    await expectAlive();
  });

  it('closes a connection that sends more than 32 MiB in one message, and stays up', async () => {
    const c = await client();
    c.ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'status.get', params: ['x'.repeat(32 * 1024 * 1024)] }));
    expect((await c.closed).code).toBe(1009);
    await expectAlive();
  });
});

// ----- events ----------------------------------------------------------------------------

describe('events', () => {
  it('forwards engine events to every client as notifications', async () => {
    const a = await client();
    const b = await client();
    const { subscription } = value<{ subscription: { id: string } }>(
      await a.call('subscriptions.create', { name: 'ws-events', url: receiver.url, patterns: ['attacker.>'] }),
    );
    await t.engine.busReady();
    await t.publish('attacker.observed', envelope('attacker.observed', { ip: '203.0.113.7' }, 'evt-webhost-1'));

    const delivered = (m: Message): boolean =>
      m['method'] === 'deliveries.appended' &&
      (m['params'] as { eventId: string; outcome: string }[][])[0]!.some((d) => d.eventId === 'evt-webhost-1' && d.outcome === 'delivered');
    for (const c of [a, b]) {
      const note = await c.next(delivered);
      expect(note).toEqual({ jsonrpc: '2.0', method: 'deliveries.appended', params: [expect.any(Array)] });
      expect('id' in note).toBe(false);
      await c.next((m) => m['method'] === 'status.changed' && (m['params'] as unknown[]).length === 1);
    }
    expect((await receiver.waitForRequests(1)).some((r) => r.headers['x-decnet-event-id'] === 'evt-webhost-1')).toBe(true);
    value(await a.call('subscriptions.remove', subscription.id));
    await a.next((m) => m['method'] === 'subscriptions.changed' && !JSON.stringify(m).includes(subscription.id));
  });
});

// ----- closing ---------------------------------------------------------------------------

describe('close()', () => {
  it('closes connected clients and stops listening', async () => {
    const c = await client();
    await host.close();
    expect((await c.closed).code).toBe(1001);
    await expect(http('/')).rejects.toThrow(/ECONNREFUSED/);
  });
});
