/**
 * The SSRF guard as the analyst meets it: forbidden destinations refused at save time
 * with a clear message, refused again at delivery time (zero attempts) if the setting
 * changes, and allowed when the analyst allows private targets.
 */
import { lookup } from 'node:dns/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envelope, startTestEngine, unwrap, type TestEngine } from '../harness/engine';
import { startReceiver, type Receiver } from '../harness/receiver';

let t: TestEngine;
let receiver: Receiver;

beforeAll(async () => {
  t = await startTestEngine({
    engine: {
      allowPrivate: undefined,
      // "siem.internal.test" points at loopback, as a hostile or careless DNS answer would.
      lookup: async (host) =>
        host === 'siem.internal.test' ? ['127.0.0.1'] : (await lookup(host, { all: true })).map((a) => a.address),
    },
    settings: { allowPrivate: false },
  });
  receiver = await startReceiver();
});

afterAll(async () => {
  await receiver.close();
  await t.cleanup();
});

describe('save-time refusals with allow-private off', () => {
  const port = (): number => receiver.port;
  const forbidden: [string, () => string][] = [
    ['loopback', () => `http://127.0.0.1:${port()}/hook`],
    ['RFC1918 10/8', () => 'https://10.1.2.3/hook'],
    ['RFC1918 192.168/16', () => 'https://192.168.1.10/hook'],
    ['RFC1918 172.16/12', () => 'https://172.20.0.5/hook'],
    ['cloud metadata', () => 'http://169.254.169.254/latest/meta-data/'],
    ['IPv4-mapped IPv6', () => 'http://[::ffff:127.0.0.1]/hook'],
    ['IPv6 loopback', () => 'http://[::1]/hook'],
    ['decimal IPv4', () => 'http://2130706433/hook'],
    ['hex IPv4', () => 'http://0x7f000001/hook'],
    ['short IPv4', () => 'http://127.1/hook'],
    ['unspecified', () => 'http://0.0.0.0/hook'],
    ['a name resolving to loopback', () => `http://siem.internal.test:${port()}/hook`],
    ['localhost', () => `http://localhost:${port()}/hook`],
  ];

  it.each(forbidden)('refuses %s with a clear message on the url field', async (_name, url) => {
    const before = unwrap(await t.api['subscriptions.list']()).length;
    const r = await t.api['subscriptions.create']({ name: `s-${Math.random()}`, url: url(), patterns: ['attacker.>'] });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.code).toBe('forbidden_destination');
    expect(r.error.field).toBe('url');
    expect(r.error.message).toMatch(/address|resolves/);
    expect(unwrap(await t.api['subscriptions.list']())).toHaveLength(before);
  });

  it.each([
    ['ftp://example.com/x', 'scheme'],
    ['not a url', 'URL'],
    ['http://', 'host'],
    ['https://user:pass@example.com/hook', 'credentials'],
  ])('refuses %s as an invalid URL', async (url) => {
    const r = await t.api['subscriptions.create']({ name: 'bad-url', url, patterns: ['a.b'] });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatchObject({ code: 'invalid_argument', field: 'url' });
  });
});

describe('allow-private on, then off again', () => {
  it('delivers to loopback when allowed, and blocks with zero attempts once it is not', async () => {
    unwrap(await t.api['settings.update']({ allowPrivate: true }));
    const created = unwrap(
      await t.api['subscriptions.create']({ name: 'internal-siem', url: `http://siem.internal.test:${receiver.port}/hook`, patterns: ['canary.>'] }),
    );
    expect(created.warnings.map((w) => w.code)).toEqual(['insecure_url']);
    await t.engine.busReady();
    await t.publish('canary.tok1.triggered', envelope('triggered', {}, 'allowed'));
    const [req] = await receiver.waitForRequests(1);
    expect(req?.headers['host']).toBe(`siem.internal.test:${receiver.port}`);

    unwrap(await t.api['settings.update']({ allowPrivate: false }));
    await t.publish('canary.tok1.triggered', envelope('triggered', {}, 'blocked'));
    const [blocked] = await t.waitForFinal(1, (d) => d.eventId === 'blocked');
    expect(blocked).toMatchObject({ outcome: 'blocked', attempts: 0, statusCode: null });
    expect(blocked?.error).toContain('loopback');
    expect(receiver.requests).toHaveLength(1);
  });
});
