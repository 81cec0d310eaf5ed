/**
 * What the outbox promises, end to end with a real engine, nats-server and receiver:
 * a receiver down for longer than the retry window loses nothing (dead letters, a trip,
 * held events; re-enable and replay bring every event exactly once), Retry-After is
 * respected, and a subscription's own retry schedule applies.
 */
import type { ServerResponse } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { envelope, startTestEngine, unwrap, type TestEngine } from '../harness/engine';
import { startReceiver, status, type ReceivedRequest, type Receiver } from '../harness/receiver';

let t: TestEngine;
let receiver: Receiver;

beforeEach(async () => {
  t = await startTestEngine({ settings: { circuitThreshold: 3, retrySchedule: [0.05, 0.05] } });
  receiver = await startReceiver();
});

afterEach(async () => {
  await receiver.close();
  await t.cleanup();
});

/** Event ids the receiver answered with a 2xx, in order. */
function acceptedIds(behavior: { accepted: string[] }): string[] {
  return behavior.accepted;
}

function switchable(): { up: boolean; accepted: string[]; handle: (req: ReceivedRequest, res: ServerResponse) => void } {
  const state = {
    up: false,
    accepted: [] as string[],
    handle: (req: ReceivedRequest, res: ServerResponse) => {
      if (!state.up) return void res.writeHead(503).end('down');
      state.accepted.push(req.headers['x-decnet-event-id'] as string);
      res.writeHead(200).end('ok');
    },
  };
  return state;
}

describe('a receiver down for longer than the retry window', () => {
  it('ends in dead letters, a trip and held events; re-enable and replay deliver each event exactly once', async () => {
    const receiverState = switchable();
    receiver.setBehavior(receiverState.handle);
    const { subscription: sub } = unwrap(await t.api['subscriptions.create']({ name: 'siem', url: receiver.url, patterns: ['attacker.>'] }));
    await t.engine.busReady();

    const tripped = t.waitForRecord((r) => r.kind === 'breaker' && r.tripped);
    for (const id of ['d1', 'd2', 'd3']) await t.publish('attacker.observed', envelope('x', {}, id));
    await tripped;
    await t.waitForFinal(3, (d) => d.outcome === 'dead');
    expect(receiver.requests).toHaveLength(9); // 3 events × (1 + 2 retries)

    for (const id of ['h1', 'h2', 'h3', 'h4']) await t.publish('attacker.observed', envelope('x', {}, id));
    for (const id of ['h1', 'h2', 'h3', 'h4']) await t.waitForDelivery((d) => d.eventId === id && d.outcome === 'held');
    let view = unwrap(await t.api['subscriptions.list']())[0];
    expect(view).toMatchObject({ state: 'tripped', deadCount: 3, heldCount: 4 });
    expect(receiver.requests).toHaveLength(9);

    // The receiver is back: release what was held, then replay the dead letters.
    receiverState.up = true;
    unwrap(await t.api['subscriptions.setEnabled'](sub.id, true, 'deliver'));
    const dry = unwrap(await t.api['deliveries.replay']({ subscriptionId: sub.id, dead: true, dryRun: true }));
    expect(dry).toEqual({ count: 3, queued: false });
    const queued = unwrap(await t.api['deliveries.replay']({ subscriptionId: sub.id, dead: true }));
    expect(queued).toEqual({ count: 3, queued: true });

    await t.waitForFinal(7, (d) => d.outcome === 'delivered');
    expect(acceptedIds(receiverState).sort()).toEqual(['d1', 'd2', 'd3', 'h1', 'h2', 'h3', 'h4']);
    view = unwrap(await t.api['subscriptions.list']())[0];
    expect(view).toMatchObject({ state: 'active', deadCount: 0, heldCount: 0, consecutiveFailures: 0 });

    // The log tells the story: originals replayed, replays delivered with the same event ids.
    const replays = unwrap(await t.api['deliveries.list']({ subscriptionId: sub.id })).filter((d) => d.replay);
    expect(replays.map((d) => d.eventId).sort()).toEqual(['d1', 'd2', 'd3']);
    expect(replays.every((d) => d.outcome === 'delivered' && d.replayOf !== null)).toBe(true);
    const originals = unwrap(await t.api['deliveries.list']({ outcome: 'replayed' }));
    expect(originals.map((d) => d.eventId).sort()).toEqual(['d1', 'd2', 'd3']);

    // A second "replay all dead" finds nothing: nothing is sent twice.
    expect(unwrap(await t.api['deliveries.replay']({ subscriptionId: sub.id, dead: true }))).toEqual({ count: 0, queued: true });
  });

  it('discards held events when the analyst says so', async () => {
    receiver.setBehavior(status(500));
    const { subscription: sub } = unwrap(await t.api['subscriptions.create']({ name: 'siem', url: receiver.url, patterns: ['canary.>'] }));
    await t.engine.busReady();
    const tripped = t.waitForRecord((r) => r.kind === 'breaker' && r.tripped);
    for (let i = 0; i < 3; i++) await t.publish('canary.tok.triggered', envelope('x', {}, `f${i}`));
    await tripped;
    await t.publish('canary.tok.triggered', envelope('x', {}, 'held-1'));
    await t.waitForDelivery((d) => d.eventId === 'held-1' && d.outcome === 'held');
    const sent = receiver.requests.length;
    receiver.setBehavior(status(200));
    unwrap(await t.api['subscriptions.setEnabled'](sub.id, true, 'discard'));
    await t.waitForDelivery((d) => d.eventId === 'held-1' && d.outcome === 'discarded');
    await t.publish('canary.tok.triggered', envelope('x', {}, 'after'));
    await t.waitForDelivery((d) => d.eventId === 'after' && d.outcome === 'delivered');
    expect(receiver.requests.slice(sent).map((r) => r.headers['x-decnet-event-id'])).toEqual(['after']);
  });

  it('replays one delivery, and stored events by pattern and window to another subscription', async () => {
    const other = await startReceiver();
    try {
      const { subscription: a } = unwrap(await t.api['subscriptions.create']({ name: 'a', url: receiver.url, patterns: ['attacker.>', 'canary.>'] }));
      const { subscription: b } = unwrap(await t.api['subscriptions.create']({ name: 'b', url: other.url, patterns: ['system.>'] }));
      await t.engine.busReady();
      const from = new Date(Date.now() - 1000).toISOString();
      await t.publish('attacker.observed', envelope('x', {}, 'p1'));
      await t.publish('canary.t.triggered', envelope('x', {}, 'p2'));
      await t.publish('attacker.scored', envelope('x', {}, 'p3'));
      await t.waitForFinal(3);
      const to = new Date(Date.now() + 1000).toISOString();

      const one = unwrap(await t.api['deliveries.list']({ subscriptionId: a.id })).find((d) => d.eventId === 'p2')!;
      expect(unwrap(await t.api['deliveries.replay']({ id: one.id }))).toEqual({ count: 1, queued: true });
      const replayed = await t.waitForDelivery((d) => d.replayOf === one.id && d.outcome === 'delivered');
      expect(replayed.eventId).toBe('p2');

      const window = { subscriptionId: b.id, pattern: 'attacker.>', from, to };
      expect(unwrap(await t.api['deliveries.replay']({ ...window, dryRun: true }))).toEqual({ count: 2, queued: false });
      unwrap(await t.api['deliveries.replay'](window));
      await other.waitForRequests(2);
      expect(other.requests.map((r) => r.headers['x-decnet-event-id']).sort()).toEqual(['p1', 'p3']);

      const paused = unwrap(await t.api['subscriptions.setEnabled'](b.id, false));
      expect(paused.state).toBe('paused');
      const refused = await t.api['deliveries.replay'](window);
      expect(refused).toMatchObject({ ok: false, error: { code: 'conflict' } });
    } finally {
      await other.close();
    }
  });
});

describe('retry policy', () => {
  it('respects Retry-After', async () => {
    let calls = 0;
    receiver.setBehavior((_req, res) => {
      calls++;
      if (calls === 1) res.writeHead(429, { 'Retry-After': '1' }).end();
      else res.writeHead(200).end('ok');
    });
    unwrap(await t.api['subscriptions.create']({ name: 'siem', url: receiver.url, patterns: ['attacker.>'] }));
    await t.engine.busReady();
    await t.publish('attacker.observed', envelope('x', {}, 'ra'));
    const [first, second] = await receiver.waitForRequests(2, 5000);
    // The schedule alone would retry after ~50 ms; the receiver asked for a second.
    expect(second!.receivedAt - first!.receivedAt).toBeGreaterThanOrEqual(950);
    const done = await t.waitForDelivery((d) => d.eventId === 'ra' && d.outcome === 'delivered');
    expect(done.attempts).toBe(2);
  });

  it('uses a subscription’s own schedule over the global one', async () => {
    unwrap(await t.api['settings.update']({ retrySchedule: [] }));
    receiver.setBehavior(status(503));
    unwrap(await t.api['subscriptions.create']({ name: 'own', url: receiver.url, patterns: ['attacker.>'], retrySchedule: [0.05, 0.05, 0.05] }));
    const other = await startReceiver(status(503));
    try {
      unwrap(await t.api['subscriptions.create']({ name: 'global', url: other.url, patterns: ['attacker.>'] }));
      await t.engine.busReady();
      await t.publish('attacker.observed', envelope('x', {}, 's1'));
      const finals = await t.waitForFinal(2);
      expect(Object.fromEntries(finals.map((d) => [d.subscriptionName, d.attempts]))).toEqual({ own: 4, global: 1 });
      const view = unwrap(await t.api['subscriptions.list']()).find((s) => s.name === 'own');
      expect(view?.retrySchedule).toEqual([0.05, 0.05, 0.05]);
    } finally {
      await other.close();
    }
  });

  it('keeps a waiting retry in the store, not in memory', async () => {
    receiver.setBehavior(status(503));
    unwrap(await t.api['subscriptions.create']({ name: 'slow', url: receiver.url, patterns: ['attacker.>'], retrySchedule: [600] }));
    await t.engine.busReady();
    await t.publish('attacker.observed', envelope('x', {}, 'long-wait'));
    const waiting = await t.waitForDelivery((d) => d.eventId === 'long-wait' && d.outcome === 'retrying');
    expect(waiting.attempts).toBe(1);
    expect(unwrap(await t.api['status.get']()).inFlight).toBe(0);
  });
});

describe('retention', () => {
  it('prunes old finished deliveries and keeps dead letters and held events', async () => {
    let fail = false;
    receiver.setBehavior((req, res) => status(fail ? 500 : 200)(req, res));
    const { subscription: sub } = unwrap(
      await t.api['subscriptions.create']({ name: 'siem', url: receiver.url, patterns: ['attacker.>'], retrySchedule: [] }),
    );
    unwrap(await t.api['settings.update']({ circuitThreshold: 1, retentionDays: 7 }));
    await t.engine.busReady();
    for (const id of ['ok1', 'ok2']) await t.publish('attacker.observed', envelope('x', {}, id));
    await t.waitForFinal(2);
    fail = true;
    const tripped = t.waitForRecord((r) => r.kind === 'breaker' && r.tripped);
    await t.publish('attacker.observed', envelope('x', {}, 'dead1'));
    await tripped;
    await t.publish('attacker.observed', envelope('x', {}, 'held1'));
    await t.waitForDelivery((d) => d.eventId === 'held1' && d.outcome === 'held');
    await t.engine.durable();

    // Age everything by 40 days, as if the analyst had left it running for weeks.
    const { Store } = await import('../../src-main/store/database');
    const aged = new Date(Date.now() - 40 * 86_400_000).toISOString();
    const other = await Store.open(t.dbPath);
    other.sqlite.prepare('UPDATE deliveries SET created_at = ?, updated_at = ?').run(aged, aged);
    other.sqlite.prepare('UPDATE events SET received_at = ?').run(aged);
    other.close();

    const pruned = await t.engine.applyRetention();
    expect(pruned.deleted).toBe(2);
    const left = unwrap(await t.api['deliveries.list']({ subscriptionId: sub.id }));
    expect(left.map((d) => [d.eventId, d.outcome]).sort()).toEqual([
      ['dead1', 'dead'],
      ['held1', 'held'],
    ]);
    // Their events are kept, so both can still be sent.
    unwrap(await t.api['subscriptions.setEnabled'](sub.id, true, 'deliver'));
    fail = false;
    unwrap(await t.api['deliveries.replay']({ subscriptionId: sub.id, dead: true }));
    await t.waitForDelivery((d) => d.eventId === 'held1' && d.outcome === 'delivered');
    await t.waitForDelivery((d) => d.eventId === 'dead1' && d.outcome === 'delivered');
  });
});
