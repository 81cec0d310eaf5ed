/**
 * The bridge contract through the in-process transport: the rules a subscription must
 * meet, the one-time secret, and hostile arguments answered with a validation error
 * that changes nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CALL_NAMES, type CallName, type Result } from '../../src-main/contract/bridge';
import type { DeliveryView } from '../../src-main/contract/views';
import { startTestEngine, unwrap, type TestEngine } from '../harness/engine';
import { startReceiver, type Receiver } from '../harness/receiver';

let t: TestEngine;
let receiver: Receiver;

beforeAll(async () => {
  t = await startTestEngine();
  receiver = await startReceiver();
});

afterAll(async () => {
  await receiver.close();
  await t.cleanup();
});

describe('subscriptions', () => {
  it('generates a 32-byte URL-safe secret when none is given, and never returns it again', async () => {
    const created = unwrap(await t.api['subscriptions.create']({ name: 'generated', url: receiver.url, presets: ['AttackerDetail'] }));
    expect(created.secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(created.secret, 'base64url')).toHaveLength(32);
    const id = created.subscription.id;
    const later: Result<unknown>[] = [
      await t.api['subscriptions.list'](),
      await t.api['subscriptions.update'](id, { name: 'generated-2' }),
      await t.api['subscriptions.setEnabled'](id, false),
      await t.api['subscriptions.setEnabled'](id, true),
      await t.api['subscriptions.testFire'](id),
      await t.api['deliveries.list'](),
      await t.api['status.get'](),
      await t.api['settings.get'](),
    ];
    const delivery = (unwrap(later[5]!) as DeliveryView[])[0];
    later.push(await t.api['deliveries.get'](delivery!.id));
    for (const r of later) {
      expect(r.ok).toBe(true);
      expect(JSON.stringify(r)).not.toContain(created.secret);
    }
    unwrap(await t.api['subscriptions.remove'](id));
  });

  it('expands presets first, then patterns, de-duplicated; ticks presets only when fully stored', async () => {
    const { subscription } = unwrap(
      await t.api['subscriptions.create']({
        name: 'presets',
        url: receiver.url,
        presets: ['DeckyStatus', 'SystemStatus'],
        patterns: ['system.>', 'canary.*.triggered'],
      }),
    );
    expect(subscription.patterns).toEqual(['decky.*.state', 'decky.*.traffic', 'system.>', 'canary.*.triggered']);
    expect(subscription.presets).toEqual(['DeckyStatus', 'SystemStatus']);
    const edited = unwrap(await t.api['subscriptions.update'](subscription.id, { patterns: ['decky.*.state', 'system.>'] }));
    expect(edited.presets).toEqual(['SystemStatus']);
    unwrap(await t.api['subscriptions.remove'](subscription.id));
  });

  it.each([
    [{ patterns: ['attacker.>.x'] }, 'patterns[0]', 'attacker.>.x'],
    [{ patterns: ['ok.*', 'bad pattern'] }, 'patterns[1]', 'bad pattern'],
    [{ patterns: ['a..b'] }, 'patterns[0]', 'a..b'],
    [{ patterns: [] }, 'patterns', 'at least one'],
    [{ patterns: ['a.b'], secret: 'short' }, 'secret', '16–256'],
    [{ patterns: ['a.b'], secret: 'x'.repeat(257) }, 'secret', 'at most 256 characters'],
    [{ patterns: ['a.b'], name: '' }, 'name', 'empty'],
    [{ patterns: ['a.b'], name: 'n'.repeat(65) }, 'name', '64'],
  ])('refuses %j on field %s', async (overrides, field, fragment) => {
    const r = await t.api['subscriptions.create']({ name: 'x', url: receiver.url, ...overrides });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.field).toBe(field);
    expect(r.error.message).toContain(fragment);
  });

  it('refuses a duplicate name', async () => {
    unwrap(await t.api['subscriptions.create']({ name: 'dup', url: receiver.url, patterns: ['a.b'] }));
    const r = await t.api['subscriptions.create']({ name: 'dup', url: receiver.url, patterns: ['a.b'] });
    expect(r).toMatchObject({ ok: false, error: { code: 'conflict', field: 'name' } });
  });

  it('answers not_found for an unknown id', async () => {
    expect(await t.api['subscriptions.setEnabled']('nope', true)).toMatchObject({ ok: false, error: { code: 'not_found' } });
    expect(await t.api['deliveries.get'](999_999)).toMatchObject({ ok: false, error: { code: 'not_found' } });
  });
});

describe('hostile arguments', () => {
  const huge = 'x'.repeat(10 * 1024 * 1024);
  const deep = (() => {
    let v: unknown = {};
    for (let i = 0; i < 5000; i++) v = { a: v };
    return v;
  })();
  const polluted = JSON.parse('{"__proto__": {"polluted": true}, "name": "p", "url": "http://127.0.0.1/", "patterns": ["a.b"]}') as unknown;

  const bad: Record<CallName, unknown[][]> = {
    'subscriptions.list': [[1], ['x']],
    'subscriptions.create': [[], [null], [42], ['str'], [[]], [{}], [{ name: 1, url: 'http://x' }], [{ name: 'a', url: huge }], [{ name: huge, url: 'http://x' }], [polluted], [{ name: 'a', url: 'http://x', patterns: 'a.b' }], [{ name: 'a', url: 'http://x', extra: true }], [{ name: 'a', url: 'http://x', presets: ['Nope'] }], [deep], [{ name: 'a', url: 'http://x', patterns: Array(65).fill('a.b') }]],
    'subscriptions.update': [[], ['id'], ['id', null], [1, {}], ['id', { url: 5 }], ['id', polluted], [huge, {}], ['id', { enabled: 'yes' }]],
    'subscriptions.remove': [[], [1], [null], [huge], [{}]],
    'subscriptions.setEnabled': [[], ['id'], ['id', 'true'], [1, true], ['id', 1]],
    'subscriptions.testFire': [[], [1], [{}], [huge]],
    'deliveries.list': [[1], ['x'], [{ limit: 0 }], [{ limit: 5000 }], [{ outcome: 'exploded' }], [{ before: -1 }], [{ topic: huge }], [polluted], [deep]],
    'deliveries.get': [[], ['1'], [1.5], [-1], [null], [{}]],
    'deliveries.search': [[], [null], [{}], [{ limit: 5 }], [{ text: '' }], [{ eventId: '  ' }], [{ statusCode: 99 }], [{ statusCode: 600 }], [{ statusCode: 200.5 }], [{ from: 'yesterday' }], [{ from: '2026-11-28T10:00:00' }], [{ to: '2026-02-30T10:00:00Z' }], [{ from: '2026-11-28T11:00:00Z', to: '2026-11-28T10:00:00Z' }], [{ text: 'a', limit: 0 }], [{ text: 'a', limit: 10_001 }], [{ text: huge }], [polluted], [deep]],
    'deliveries.export': [[], [null], [{}], [{ format: 'xml' }], [{ format: 'csv', text: '' }], [{ format: 'csv', statusCode: 42 }], [{ format: 'ndjson', from: 'now' }], [{ format: 'csv', from: '2026-11-28T11:00:00Z', to: '2026-11-28T10:00:00Z' }], [{ format: 'csv', limit: 5 }], [polluted], [deep]],
    'deliveries.replay': [[], [null], [{}], [{ id: 'x' }], [{ dead: true }], [{ subscriptionId: 'nope', dead: true }], [{ pattern: 'a.>' }], [{ subscriptionId: 'x', pattern: 'a..b', from: 'x', to: 'y' }], [{ id: 1, dead: true }], [polluted], [{ since: huge }]],
    'status.get': [[1]],
    'team.status': [[1], [null]],
    'team.create': [[], [null], [{}], [{ stream: 'S' }], [{ stream: 1, keyOut: '/x' }], [{ stream: 'S', keyOut: huge }], [{ stream: 'S', keyOut: '/x', extra: 1 }], [polluted], [deep]],
    'team.join': [[], [null], [{}], [{ stream: 'S' }], [{ stream: 'S', keyFile: '/x', mergeLocal: 'yes' }], [{ stream: huge, keyFile: '/x' }], [polluted], [deep]],
    'team.leave': [[1], [null]],
    'audit.list': [[1], ['x'], [null], [{ limit: 0 }], [{ limit: 1001 }], [{ before: 0 }], [{ before: 1.5 }], [{ since: 'yesterday' }], [{ since: '2026-02-30T10:00:00Z' }], [{ since: '2026-12-06T10:00:00' }], [{ since: huge }], [{ extra: 1 }], [polluted], [deep]],
    'audit.verify': [[1], [null], [{}]],
    'subscriptions.health': [[1], ['x'], [{}], [null]],
    'subscriptions.preview': [[], [null], [42], [{ url: 5 }], [{ rate: 'fast' }], [{ extra: 1 }], [polluted], [deep], [{ eventJson: huge }], [{ format: 'xml' }]],
    'events.recent': [[], [null], [{ limit: 0 }], [{ limit: 101 }], [{ patterns: 'a.b' }], [{ extra: 1 }], [deep]],
    'settings.get': [[{}]],
    'settings.update': [[], [null], [{ concurrency: 0 }], [{ concurrency: 1e9 }], [{ timeoutMs: 'fast' }], [{ retrySchedule: [-1] }], [{ retrySchedule: 'x' }], [{ unknownKey: 1 }], [polluted], [{ allowPrivate: 'yes' }], [{ natsUrl: 'http://not-ws' }], [{ natsUrl: '' }], [{ natsCaFile: 7 }], [{ natsCaFile: '/nonexistent/bus-ca.pem' }], [{ natsCaFile: 'relative-ca.pem' }], [{ natsClientCertFile: '/nonexistent/client.pem' }], [{ natsClientKeyFile: false }]],
  };

  it('covers every call of the contract', () => expect(Object.keys(bad).sort()).toEqual([...CALL_NAMES].sort()));

  it('answers each with a validation error and changes nothing', async () => {
    const snapshot = async () =>
      JSON.stringify([unwrap(await t.api['subscriptions.list']()), unwrap(await t.api['settings.get']()), unwrap(await t.api['deliveries.list']())]);
    const before = await snapshot();
    const call = t.api as unknown as Record<string, (...a: unknown[]) => Promise<{ ok: boolean; error?: { code: string } }>>;
    for (const [name, cases] of Object.entries(bad)) {
      for (const [i, args] of cases.entries()) {
        const r = await call[name]!(...args);
        expect(r.ok, `${name} case ${i}`).toBe(false);
        expect(['invalid_argument', 'not_found'], name).toContain(r.error?.code);
      }
    }
    expect(await snapshot()).toBe(before);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });
});
