/**
 * Per-subscription pacing (docs/design.md#pacing) with a real engine, nats-server and
 * HTTP receivers: a paced subscription's deliveries go out at its rate, what is over the
 * rate waits in the store (never lost, never a failure), and other subscriptions are not
 * slowed by it.
 * Pacing is set as the console and the CLI set it: `rate`, `burst` and `concurrency` on
 * the subscription.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { SubscriptionView } from '../../src-main/contract/views';
import { NO_PACING, type Pacing } from '../../src-main/delivery/pacing';
import { envelope, startTestEngine, unwrap, type TestEngine } from '../harness/engine';
import { startReceiver, type Receiver } from '../harness/receiver';

let t: TestEngine;
let pacedReceiver: Receiver;
let fastReceiver: Receiver;
beforeEach(async () => {
  t = await startTestEngine({ settings: { circuitThreshold: 1 } });
  pacedReceiver = await startReceiver();
  fastReceiver = await startReceiver();
});

afterEach(async () => {
  await pacedReceiver.close();
  await fastReceiver.close();
  await t.cleanup();
});

async function view(id: string): Promise<SubscriptionView> {
  return unwrap(await t.api['subscriptions.list']()).find((s) => s.id === id) as SubscriptionView;
}

async function subscribe(name: string, receiver: Receiver, pace: Partial<Pacing> | null): Promise<string> {
  const { subscription } = unwrap(await t.api['subscriptions.create']({ name, url: receiver.url, patterns: ['alert.>'], ...(pace ? { ...NO_PACING, ...pace } : {}) }));
  return subscription.id;
}

async function burst(count: number, prefix: string): Promise<void> {
  await t.engine.busReady();
  for (let i = 0; i < count; i++) t.publisher.publish('alert.raised', new TextEncoder().encode(JSON.stringify(envelope('x', { i }, `${prefix}-${i}`))));
  await t.publisher.flush();
}

/** Deliveries per second over the run, first arrival to last. */
const rateOf = (arrivals: number[]): number => (arrivals.length - 1) / (((arrivals.at(-1) as number) - (arrivals[0] as number)) / 1000);

describe('pacing', () => {
  it('delivers a 100-event burst to a 5/s subscription at 5/s, nothing lost, each at its first attempt, while an unpaced one is not slowed', async () => {
    const paced = await subscribe('paced', pacedReceiver, { rate: 5 });
    const fast = await subscribe('fast', fastReceiver, null);
    const publishedAt = Date.now();
    await burst(100, 'b');

    // The unpaced subscription gets all 100 at once, long before the paced one is done.
    await fastReceiver.waitForRequests(100, 10_000);
    const fastDone = Date.now();
    expect(fastDone - publishedAt).toBeLessThan(5_000);
    expect(pacedReceiver.requests.length).toBeLessThan(40);

    // Held back by its rate: the console says so and how many wait; they wait in the store, not in memory.
    await vi.waitFor(async () => expect((await view(paced)).paced?.waiting ?? 0).toBeGreaterThan(50), { timeout: 5_000 });
    expect(t.engine.status().inFlight).toBeLessThanOrEqual(10);
    const waiting = unwrap(await t.api['deliveries.list']({ subscriptionId: paced, outcome: 'pending' }));
    expect(waiting.length).toBeGreaterThan(50);
    expect(waiting.every((d) => d.attempts === 0)).toBe(true);

    const requests = await pacedReceiver.waitForRequests(100, 40_000);
    const rate = rateOf(requests.map((r) => r.receivedAt));
    expect(rate).toBeGreaterThan(4.5);
    expect(rate).toBeLessThan(5.5);
    // Nothing lost, nothing twice.
    expect(new Set(requests.map((r) => r.headers['x-decnet-event-id'])).size).toBe(100);
    expect(requests).toHaveLength(100);

    const finals = await t.waitForFinal(200, () => true, 10_000);
    for (const id of [paced, fast]) {
      const own = finals.filter((d) => d.subscriptionId === id);
      expect(own).toHaveLength(100);
      expect(own.every((d) => d.outcome === 'delivered' && d.attempts === 1)).toBe(true);
    }
    // A pacing wait is not a retry, not a failure.
    expect(t.records.some((r) => r.kind === 'delivery' && r.delivery.subscriptionId === paced && ['retrying', 'dead'].includes(r.delivery.outcome))).toBe(false);
    await vi.waitFor(async () => expect((await view(paced)).paced).toBeNull(), { timeout: 5_000 });
  }, 60_000);

  it('never touches the breaker: a wait is no failure, even at a threshold of one', async () => {
    const paced = await subscribe('paced', pacedReceiver, { rate: 20, burst: 1 });
    await burst(30, 'br');
    const requests = await pacedReceiver.waitForRequests(30, 10_000);
    // Paced indeed: 29 waits of 50 ms after the first.
    expect(rateOf(requests.map((r) => r.receivedAt))).toBeLessThan(22);
    await t.waitForFinal(30, (d) => d.subscriptionId === paced);
    expect(t.records.filter((r) => r.kind === 'breaker')).toEqual([]);
    const v = await view(paced);
    expect(v).toMatchObject({ state: 'active', consecutiveFailures: 0, lastError: null, deadCount: 0, heldCount: 0 });
    const health = unwrap(await t.api['subscriptions.health']()).subscriptions.find((s) => s.subscriptionId === paced);
    expect(health?.hour).toMatchObject({ ok: 30, failed: 0 });
    const detail = unwrap(await t.api['deliveries.list']({ subscriptionId: paced }));
    expect(detail.every((d) => d.outcome === 'delivered' && d.attempts === 1)).toBe(true);
  });

  it('holds what waits for its rate when paused, and paces it again on resume', async () => {
    const paced = await subscribe('paced', pacedReceiver, { rate: 4, burst: 1 });
    await burst(10, 'p');
    await pacedReceiver.waitForRequests(2, 5_000);
    unwrap(await t.api['subscriptions.setEnabled'](paced, false));
    const sent = pacedReceiver.requests.length;
    await vi.waitFor(async () => expect(await view(paced)).toMatchObject({ heldCount: 10 - sent, paced: null, deadCount: 0 }), { timeout: 5_000 });

    unwrap(await t.api['subscriptions.setEnabled'](paced, true));
    const resumedAt = Date.now();
    const requests = await pacedReceiver.waitForRequests(10, 10_000);
    expect(new Set(requests.map((r) => r.headers['x-decnet-event-id'])).size).toBe(10);
    // Paced again: 10 - sent events at 4/s, the first at once.
    expect((requests.at(-1) as { receivedAt: number }).receivedAt - resumedAt).toBeGreaterThan(((10 - sent - 1) / 4) * 1000 * 0.9);
    await vi.waitFor(async () => expect(await view(paced)).toMatchObject({ heldCount: 0, deadCount: 0, consecutiveFailures: 0 }), { timeout: 5_000 });
  });

  it('applies a raised rate to what already waits, at once', async () => {
    const paced = await subscribe('paced', pacedReceiver, { rate: 1, burst: 1 });
    await burst(20, 'r');
    await vi.waitFor(async () => expect((await view(paced)).paced?.waiting).toBe(19), { timeout: 5_000 });
    // At 1/s the rest would take 19 s more.
    unwrap(await t.api['subscriptions.update'](paced, { rate: 1000, burst: null }));
    t.engine.reload('test: pacing changed');
    const changedAt = Date.now();
    await pacedReceiver.waitForRequests(20, 5_000);
    expect(Date.now() - changedAt).toBeLessThan(3_000);
    await vi.waitFor(async () => expect((await view(paced)).paced).toBeNull(), { timeout: 5_000 });
  });
});
