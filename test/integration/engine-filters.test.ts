/**
 * Filters (docs/design.md#filters) through the engine: a real nats-server, a real receiver,
 * a real SQLite file. An event a subscription's filter refuses never enters its outbox and
 * is counted; the others are delivered as before; a filter that fails on an event lets it through.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { envelope, startTestEngine, unwrap, type TestEngine } from '../harness/engine';
import { startReceiver, type Receiver } from '../harness/receiver';

let t: TestEngine;
const receivers: Receiver[] = [];

afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.close()));
  await t?.cleanup();
});

async function receiver(): Promise<Receiver> {
  const r = await startReceiver();
  receivers.push(r);
  return r;
}

describe('filters', () => {
  it('sends only the events the filter passes, counts the others, and leaves other subscriptions alone', async () => {
    t = await startTestEngine();
    const [finance, all] = [await receiver(), await receiver()];
    const filter = 'payload.score > 70 and payload.decky in ["fin-01","fin-02"]';
    const created = unwrap(await t.api['subscriptions.create']({ name: 'finance', url: finance.url, patterns: ['canary.>'], filter }));
    expect(created.subscription.filter).toBe(filter);
    unwrap(await t.api['subscriptions.create']({ name: 'all', url: all.url, patterns: ['canary.>'] }));
    await t.engine.busReady();
    const events = [
      envelope('canary_hit', { decky: 'fin-01', score: 88 }, 'e-pass-1'),
      envelope('canary_hit', { decky: 'fin-01', score: 12 }, 'e-low'),
      envelope('canary_hit', { decky: 'web-03', score: 95 }, 'e-other-decky'),
      envelope('canary_hit', { decky: 'fin-02', score: 71 }, 'e-pass-2'),
    ];
    for (const e of events) await t.publish('canary.fin.triggered', e);
    await all.waitForRequests(4);
    await finance.waitForRequests(2);
    await t.waitForFinal(6);
    expect(finance.requests.map((r) => r.headers['x-decnet-event-id']).sort()).toEqual(['e-pass-1', 'e-pass-2']);
    const views = unwrap(await t.api['subscriptions.list']());
    expect(views.find((v) => v.name === 'finance')?.filteredCount).toBe(2);
    expect(views.find((v) => v.name === 'all')?.filteredCount).toBe(0);
    // Nothing of the filtered events is in the finance subscription's log.
    const log = unwrap(await t.api['deliveries.list']({ subscriptionId: created.subscription.id }));
    expect(log.map((d) => d.eventId).sort()).toEqual(['e-pass-1', 'e-pass-2']);
  });

  it('refuses at save a filter that does not parse, at the field', async () => {
    t = await startTestEngine();
    const r = await t.api['subscriptions.create']({ name: 'x', url: 'http://127.0.0.1:9/', patterns: ['a.>'], filter: 'payload.score >' });
    expect(r).toMatchObject({ ok: false, error: { code: 'invalid_argument', field: 'filter', message: expect.stringMatching(/^invalid filter/) } });
  });

  it('lets an event through when the filter fails on it, and says why in the records', async () => {
    t = await startTestEngine();
    const r = await receiver();
    // Runs past its bound on every event (a runaway recursion).
    unwrap(await t.api['subscriptions.create']({ name: 'runaway', url: r.url, patterns: ['attacker.>'], filter: '($f := function($n) { $f($n + 1) }; $f(0))' }));
    await t.engine.busReady();
    await t.publish('attacker.observed', envelope('first_sighting', { ip: '203.0.113.7' }, 'e-run'));
    await r.waitForRequests(1);
    // Recorded before the delivery was sent, so already among the records.
    const record = t.records.find((rec) => rec.kind === 'error' && /runaway: filter failed/.test(JSON.stringify(rec)));
    expect(JSON.stringify(record)).toMatch(/(timeout|stack).*let through/i);
  });
});
