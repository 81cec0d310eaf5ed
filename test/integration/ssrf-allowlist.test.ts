/**
 * The operator's CIDR allowlist (`Settings.allowedCidrs`) and the connect-time guard, at
 * engine level (docs/design.md#address-rules; issue 5 item 3). The engine's `lookup`
 * option points names at chosen addresses; `dnsTtlMs: 0` makes every pre-flight check and
 * every connect ask it again, so a name can answer one address to the check and another
 * to the connect.
 *
 * What is proved here:
 *  - the allowlist is validated at `settings.update`, naming the bad entry;
 *  - under an allowlist holding 127.0.0.0/8, 0.0.0.0/0 and ::/0, loopback, 0.0.0.0 and
 *    169.254.169.254 stay refused at save time and blocked (zero attempts) at delivery;
 *    metadata stays refused even with allowPrivate on;
 *  - a name that answers a public address to the check and loopback later never gets a
 *    request to loopback, on any attempt of a retried delivery;
 *  - where this machine has a non-loopback private/special IPv4 interface, a receiver
 *    on it is delivered to once its address is allowlisted, and blocked again at once
 *    when the entry is removed.
 * Redirects are never followed: test/integration/http-client.test.ts "does not follow a redirect".
 * The decision itself (every range, IPv4-mapped IPv6) is unit-tested in
 * src-main/delivery/ssrf.test.ts.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyAddress } from '../../src-main/delivery/ssrf';
import { envelope, startTestEngine, unwrap, type TestEngine } from '../harness/engine';

const PUBLIC = '93.184.215.14';

/** Per host: what each successive lookup answers (the last entry repeats). An Error entry fails the lookup. */
const scripts = new Map<string, { answers: Array<string[] | Error>; calls: number }>();

function script(host: string, ...answers: Array<string[] | Error>): { calls: () => number } {
  const entry = { answers, calls: 0 };
  scripts.set(host, entry);
  return { calls: () => entry.calls };
}

const notFound = (): Error => Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' });

async function lookup(host: string): Promise<string[]> {
  const entry = scripts.get(host);
  if (entry === undefined) throw notFound();
  entry.calls += 1;
  const answer = entry.answers[Math.min(entry.calls, entry.answers.length) - 1];
  if (answer === undefined || answer instanceof Error) throw answer ?? notFound();
  return answer;
}

interface Sink {
  host: string;
  port: number;
  requests: Array<{ host: string | undefined; body: string }>;
  close(): Promise<void>;
}

/** A receiver on a chosen local address, answering `status` and closing each connection. */
async function sink(host: string, status = 200, port = 0): Promise<Sink> {
  const requests: Sink['requests'] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({ host: req.headers.host, body: Buffer.concat(chunks).toString() });
      // No keep-alive: every attempt has to connect (and so be judged) again.
      res.writeHead(status, { connection: 'close' }).end('ok');
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    host,
    port: (server.address() as AddressInfo).port,
    requests,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A local IPv4 address the guard refuses but the allowlist may open (private,
 * documentation, CGNAT…): a real receiver can listen there. Null when there is none.
 */
function listableInterfaceAddress(): string | null {
  for (const entries of Object.values(networkInterfaces())) {
    for (const entry of entries ?? []) {
      if (entry.family !== 'IPv4' || entry.internal) continue;
      const verdict = classifyAddress(entry.address);
      if (!verdict.allowed && verdict.privateNetwork && verdict.label !== 'loopback') return entry.address;
    }
  }
  return null;
}

let t: TestEngine;
let loopback: Sink;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  t = await startTestEngine({
    engine: { allowPrivate: undefined, lookup, dnsTtlMs: 0 },
    settings: { allowPrivate: false, allowedCidrs: [] },
  });
  loopback = await sink('127.0.0.1');
  await t.engine.busReady();
});

afterAll(async () => {
  await Promise.all(cleanups.map((c) => c()));
  await loopback?.close();
  await t?.cleanup();
});

let serial = 0;
/** A fresh subject per test, so each subscription sees only its own events. */
function subject(): { pattern: string; topic: string } {
  serial += 1;
  return { pattern: `allow${serial}.>`, topic: `allow${serial}.tok.triggered` };
}

describe('settings.update validates allowedCidrs', () => {
  it.each([
    [['10.0.0.0/8', '10.1.2.0/8'], /entry 2: "10\.1\.2\.0\/8" is not a CIDR: host bits are set \(the network is 10\.0\.0\.0\/8\)/],
    [['192.168.1.0/33'], /entry 1: "192\.168\.1\.0\/33" is not a CIDR: an IPv4 prefix length is 0 to 32/],
    [['siem.corp.example/32'], /entry 1: "siem\.corp\.example\/32" is not a CIDR/],
    [['fd00::/8', 'fd00::/129'], /entry 2: "fd00::\/129"/],
    [['10.0.0.0/8 '], /contains spaces/],
  ])('refuses %j with a message naming the entry', async (allowedCidrs, message) => {
    const r = await t.api['settings.update']({ allowedCidrs });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error).toMatchObject({ code: 'invalid_argument', field: 'allowedCidrs' });
    expect(r.error.message).toMatch(message);
    expect(unwrap(await t.api['settings.get']()).allowedCidrs).toEqual([]);
  });

  it('stores a valid list and reads it back', async () => {
    const view = unwrap(await t.api['settings.update']({ allowedCidrs: ['10.20.0.0/16', 'fd12:3456::/48', '192.168.50.7'] }));
    expect(view.allowedCidrs).toEqual(['10.20.0.0/16', 'fd12:3456::/48', '192.168.50.7']);
    unwrap(await t.api['settings.update']({ allowedCidrs: [] }));
  });
});

describe('an allowlist never opens loopback, 0.0.0.0 or cloud metadata', () => {
  const EVERYTHING = ['0.0.0.0/0', '127.0.0.0/8', '::/0', '169.254.0.0/16'];

  beforeAll(async () => {
    script('loop.corp.test', ['127.0.0.1']);
    script('meta.corp.test', ['169.254.169.254']);
    script('siem.corp.test', ['10.20.0.5']);
    unwrap(await t.api['settings.update']({ allowPrivate: false, allowedCidrs: EVERYTHING }));
  });

  afterAll(async () => {
    unwrap(await t.api['settings.update']({ allowPrivate: false, allowedCidrs: [] }));
  });

  it.each([
    ['loopback', () => `http://127.0.0.1:${loopback.port}/hook`, /loopback address 127\.0\.0\.1 \(listed in allowedCidrs 0\.0\.0\.0\/0, but only allowPrivate opens loopback\)/],
    ['other loopback', () => 'http://127.9.9.9/hook', /loopback address 127\.9\.9\.9/],
    ['a name resolving to loopback', () => `http://loop.corp.test:${loopback.port}/hook`, /loop\.corp\.test resolves to loopback address 127\.0\.0\.1/],
    ['IPv6 loopback', () => 'http://[::1]/hook', /loopback address ::1/],
    ['IPv4-mapped loopback', () => 'http://[::ffff:127.0.0.1]/hook', /loopback address 127\.0\.0\.1 \(embedded in ::ffff:7f00:1\)/],
    ['0.0.0.0', () => 'http://0.0.0.0/hook', /unspecified address 0\.0\.0\.0 \(listed in allowedCidrs 0\.0\.0\.0\/0, but never allowed\)/],
    ['::', () => 'http://[::]/hook', /unspecified address ::/],
    ['cloud metadata', () => 'http://169.254.169.254/latest/meta-data/', /cloud metadata address 169\.254\.169\.254 \(listed in allowedCidrs 0\.0\.0\.0\/0, but never allowed\)/],
    ['a name resolving to metadata', () => 'http://meta.corp.test/x', /meta\.corp\.test resolves to cloud metadata address 169\.254\.169\.254/],
    ['IPv6 cloud metadata', () => 'http://[fd00:ec2::254]/x', /cloud metadata address fd00:ec2::254/],
  ])('refuses %s at save time', async (_name, url, message) => {
    const r = await t.api['subscriptions.create']({ name: `never-${Math.random()}`, url: url(), patterns: ['never.>'] });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error).toMatchObject({ code: 'forbidden_destination', field: 'url' });
    expect(r.error.message).toMatch(message);
  });

  it('accepts an allowlisted private address at save time, by the same rule', async () => {
    const created = unwrap(await t.api['subscriptions.create']({ name: 'siem-10-20', url: 'https://siem.corp.test/hook', patterns: ['never.>'] }));
    unwrap(await t.api['subscriptions.remove'](created.subscription.id));
  });

  it('blocks loopback at delivery time, with zero attempts, once only the allowlist is left', async () => {
    const { pattern, topic } = subject();
    unwrap(await t.api['settings.update']({ allowPrivate: true }));
    unwrap(await t.api['subscriptions.create']({ name: 'was-allowed', url: `http://loop.corp.test:${loopback.port}/hook`, patterns: [pattern] }));
    await t.engine.busReady();
    unwrap(await t.api['settings.update']({ allowPrivate: false }));
    expect(unwrap(await t.api['settings.get']()).allowedCidrs).toEqual(EVERYTHING);

    await t.publish(topic, envelope('triggered', {}, 'loop-blocked'));
    const [blocked] = await t.waitForFinal(1, (d) => d.eventId === 'loop-blocked');
    expect(blocked).toMatchObject({ outcome: 'blocked', attempts: 0, statusCode: null });
    expect(blocked?.error).toMatch(/loopback address 127\.0\.0\.1 .*only allowPrivate opens loopback/);
    expect(loopback.requests).toHaveLength(0);
  });

  it('refuses metadata even with allowPrivate on and the allowlist holding it', async () => {
    unwrap(await t.api['settings.update']({ allowPrivate: true, allowedCidrs: [...EVERYTHING, '169.254.169.254/32'] }));
    try {
      for (const url of ['http://169.254.169.254/latest/meta-data/', 'http://meta.corp.test/x', 'http://[::ffff:a9fe:a9fe]/', 'http://0.0.0.0/']) {
        const r = await t.api['subscriptions.create']({ name: `meta-${Math.random()}`, url, patterns: ['never.>'] });
        expect(r.ok, url).toBe(false);
        if (!r.ok) expect(r.error.code).toBe('forbidden_destination');
      }
    } finally {
      unwrap(await t.api['settings.update']({ allowPrivate: false, allowedCidrs: EVERYTHING }));
    }
  });
});

describe('the checked address is the connected address, on every attempt', () => {
  beforeAll(async () => {
    unwrap(await t.api['settings.update']({ allowPrivate: false, allowedCidrs: ['0.0.0.0/0', '127.0.0.0/8'], retrySchedule: [0.05, 0.05] }));
  });

  afterAll(async () => {
    unwrap(await t.api['settings.update']({ allowedCidrs: [] }));
  });

  it.each([
    [
      'public to the retry\'s check, loopback to its connect',
      // save; attempt 1: check, connect (fails: retried); attempt 2: check, connect
      [[PUBLIC], [PUBLIC], notFound(), [PUBLIC], ['127.0.0.1']],
      5,
    ],
    [
      'public to the first attempt, loopback to the retry\'s check',
      // save; attempt 1: check, connect (fails: retried); attempt 2: check
      [[PUBLIC], [PUBLIC], notFound(), ['127.0.0.1']],
      4,
    ],
  ])('a name answering %s never reaches loopback', async (_name, answers, lookups) => {
    const host = `flip${serial}.example.com`;
    const calls = script(host, ...answers).calls;
    const { pattern, topic } = subject();
    const created = unwrap(await t.api['subscriptions.create']({ name: host, url: `http://${host}:${loopback.port}/hook`, patterns: [pattern] }));
    await t.engine.busReady();
    const eventId = `flip-${serial}`;

    await t.publish(topic, envelope('triggered', {}, eventId));
    const [final] = await t.waitForFinal(1, (d) => d.eventId === eventId);

    expect(final).toMatchObject({ outcome: 'blocked', attempts: 1 });
    expect(final?.error).toContain(`${host} resolves to loopback address 127.0.0.1`);
    expect(calls()).toBe(lookups);
    const detail = unwrap(await t.api['deliveries.get'](final!.id));
    expect(detail.attemptLog).toHaveLength(1);
    expect(detail.attemptLog[0]).toMatchObject({ attempt: 1, statusCode: null, address: null, error: `cannot resolve ${host}: ENOTFOUND` });
    expect(loopback.requests).toHaveLength(0);
    unwrap(await t.api['subscriptions.remove'](created.subscription.id));
  });
});

// Only a non-loopback interface address can be an allowlisted receiver that really
// answers; CI machines usually have one (here: eth0). Without one these are skipped.
const iface = listableInterfaceAddress();

describe.skipIf(iface === null)(`an allowlisted receiver on this machine's ${iface ?? '(none)'}`, () => {
  const address = iface as string;
  let siem: Sink;

  beforeAll(async () => {
    unwrap(await t.api['settings.update']({ allowPrivate: false, allowedCidrs: [], retrySchedule: [0.05, 0.05] }));
    siem = await sink(address, 200);
    cleanups.push(() => siem.close());
  });

  it('is refused until allowlisted, delivered to once it is, and blocked again at once when removed', async () => {
    script('siem.lan.test', [address]);
    const url = `http://siem.lan.test:${siem.port}/hook`;
    const refused = await t.api['subscriptions.create']({ name: 'lan-siem', url, patterns: ['never.>'] });
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(refused.error.message).toContain(`siem.lan.test resolves to`);

    unwrap(await t.api['settings.update']({ allowedCidrs: [`${address}/32`] }));
    const { pattern, topic } = subject();
    unwrap(await t.api['subscriptions.create']({ name: 'lan-siem', url, patterns: [pattern] }));
    await t.engine.busReady();
    await t.publish(topic, envelope('triggered', {}, 'lan-1'));
    const [delivered] = await t.waitForFinal(1, (d) => d.eventId === 'lan-1');
    expect(delivered).toMatchObject({ outcome: 'delivered', attempts: 1, statusCode: 200 });
    expect(unwrap(await t.api['deliveries.get'](delivered!.id)).attemptLog[0]?.address).toBe(address);
    expect(siem.requests).toHaveLength(1);
    expect(siem.requests[0]?.host).toBe(`siem.lan.test:${siem.port}`);

    unwrap(await t.api['settings.update']({ allowedCidrs: [] }));
    await t.publish(topic, envelope('triggered', {}, 'lan-2'));
    const [blocked] = await t.waitForFinal(1, (d) => d.eventId === 'lan-2');
    expect(blocked).toMatchObject({ outcome: 'blocked', attempts: 0 });
    expect(siem.requests).toHaveLength(1);
  });

  it('a retry whose connect is answered loopback is blocked after a real first attempt', async () => {
    const failing = await sink(address, 503);
    cleanups.push(() => failing.close());
    // The same port on loopback: were the rebound answer ever connected to, it would get the request.
    let decoy: Sink;
    try {
      decoy = await sink('127.0.0.1', 200, failing.port);
    } catch {
      return; // port taken on loopback: nothing to prove here
    }
    cleanups.push(() => decoy.close());
    unwrap(await t.api['settings.update']({ allowedCidrs: [`${address}/32`, '127.0.0.0/8'] }));
    // save; attempt 1: check, connect (a 503: retried); attempt 2: check, connect → loopback
    const calls = script('rebind.lan.test', [address], [address], [address], [address], ['127.0.0.1']).calls;
    const { pattern, topic } = subject();
    unwrap(await t.api['subscriptions.create']({ name: 'lan-rebind', url: `http://rebind.lan.test:${failing.port}/hook`, patterns: [pattern] }));
    await t.engine.busReady();

    await t.publish(topic, envelope('triggered', {}, 'lan-rebind'));
    const [final] = await t.waitForFinal(1, (d) => d.eventId === 'lan-rebind');

    expect(final).toMatchObject({ outcome: 'blocked', attempts: 1 });
    expect(final?.error).toContain('rebind.lan.test resolves to loopback address 127.0.0.1');
    expect(calls()).toBe(5);
    const detail = unwrap(await t.api['deliveries.get'](final!.id));
    expect(detail.attemptLog).toEqual([expect.objectContaining({ attempt: 1, statusCode: 503, address })]);
    expect(failing.requests).toHaveLength(1);
    expect(decoy.requests).toHaveLength(0);
    expect(loopback.requests).toHaveLength(0);
  });
});
