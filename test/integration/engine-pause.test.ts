/**
 * Pausing keeps waiting work (docs/design.md#held-events): a subscription paused during
 * a burst holds what was waiting and what arrives, like a tripped one, and resuming
 * delivers it — a real engine, nats-server and a slow receiver.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { SubscriptionView } from '../../src-main/contract/views';
import { envelope, startTestEngine, unwrap, type TestEngine } from '../harness/engine';
import { startReceiver, status, type Receiver } from '../harness/receiver';

let t: TestEngine;
let receiver: Receiver;

beforeEach(async () => {
  t = await startTestEngine({ settings: { retrySchedule: [] } });
  receiver = await startReceiver();
});

afterEach(async () => {
  await receiver.close();
  await t.cleanup();
});

async function view(id: string): Promise<SubscriptionView> {
  return unwrap(await t.api['subscriptions.list']()).find((s) => s.id === id) as SubscriptionView;
}

const deliveredIds = (): Set<string> =>
  new Set(t.records.flatMap((r) => (r.kind === 'delivery' && r.final && r.delivery.outcome === 'delivered' ? [r.delivery.eventId ?? ''] : [])));
const uniqueReceived = (): Set<string> => new Set(receiver.requests.map((r) => r.headers['x-decnet-event-id'] ?? ''));

describe('pause', () => {
  it('holds a burst it interrupts, and the events that arrive while paused; resume delivers every one', async () => {
    const BURST = 2_000;
    // A slow receiver: the burst takes seconds, so the pause lands in its middle.
    receiver.setBehavior(async (req, res) => {
      await delay(25);
      status(200)(req, res);
    });
    const { subscription: sub } = unwrap(await t.api['subscriptions.create']({ name: 'soar', url: receiver.url, patterns: ['attacker.>'] }));
    await t.engine.busReady();
    for (let i = 0; i < BURST; i++) t.publisher.publish('attacker.observed', new TextEncoder().encode(JSON.stringify(envelope('x', { i }, `burst-${i}`))));
    await t.publisher.flush();

    await receiver.waitForRequests(100, 10_000);
    const paused = unwrap(await t.api['subscriptions.setEnabled'](sub.id, false));
    expect(paused.state).toBe('paused');

    // Requests on the wire finish; everything else waits, held. Nothing is recorded dead.
    await vi.waitFor(
      async () => {
        const v = await view(sub.id);
        expect(v.deadCount).toBe(0);
        expect(v.heldCount + deliveredIds().size).toBe(BURST);
      },
      { timeout: 20_000, interval: 100 },
    );
    const held = (await view(sub.id)).heldCount;
    expect(held).toBeGreaterThan(0);
    expect(held).toBe(BURST - deliveredIds().size);
    expect(unwrap(await t.api['deliveries.list']({ subscriptionId: sub.id, outcome: 'dead' }))).toEqual([]);

    // An event that arrives while paused is held too.
    await t.publish('attacker.observed', envelope('x', {}, 'while-paused'));
    await vi.waitFor(async () => expect((await view(sub.id)).heldCount).toBe(held + 1), { timeout: 5_000 });
    const sentWhilePaused = receiver.requests.length;

    // Resume delivers what was held: every event reaches the receiver at least once.
    receiver.setBehavior(status(200));
    const resumed = unwrap(await t.api['subscriptions.setEnabled'](sub.id, true));
    expect(resumed.state).toBe('active');
    await vi.waitFor(() => expect(uniqueReceived().size).toBe(BURST + 1), { timeout: 30_000, interval: 100 });
    expect(receiver.requests.length).toBeGreaterThan(sentWhilePaused);
    await vi.waitFor(async () => expect(await view(sub.id)).toMatchObject({ heldCount: 0, deadCount: 0 }), { timeout: 5_000 });
    expect([...uniqueReceived()].filter((id) => id.startsWith('burst-'))).toHaveLength(BURST);
  });

  it('holds retries waiting when it is paused, and sends them on resume', async () => {
    unwrap(await t.api['settings.update']({ retrySchedule: [30] }));
    let fail = true;
    receiver.setBehavior((req, res) => status(fail ? 503 : 200)(req, res));
    const { subscription: sub } = unwrap(await t.api['subscriptions.create']({ name: 'siem', url: receiver.url, patterns: ['canary.>'] }));
    await t.engine.busReady();
    await t.publish('canary.tok.triggered', envelope('x', {}, 'waits'));
    await t.waitForDelivery((d) => d.eventId === 'waits' && d.outcome === 'retrying');

    unwrap(await t.api['subscriptions.setEnabled'](sub.id, false));
    const parked = await t.waitForDelivery((d) => d.eventId === 'waits' && d.outcome === 'held');
    expect(parked.attempts).toBe(1);
    expect(await view(sub.id)).toMatchObject({ state: 'paused', heldCount: 1, deadCount: 0 });

    fail = false;
    unwrap(await t.api['subscriptions.setEnabled'](sub.id, true));
    const [done] = await t.waitForFinal(1, (d) => d.eventId === 'waits');
    expect(done).toMatchObject({ outcome: 'delivered', attempts: 2 });
  });

  it('enabling it from the edit form delivers what it held', async () => {
    const { subscription: sub } = unwrap(await t.api['subscriptions.create']({ name: 'edited', url: receiver.url, patterns: ['canary.>'], enabled: false }));
    await t.engine.busReady();
    await t.publish('canary.tok.triggered', envelope('x', {}, 'waited'));
    const held = await t.waitForDelivery((d) => d.eventId === 'waited' && d.outcome === 'held');
    await vi.waitFor(async () => expect(await view(sub.id)).toMatchObject({ state: 'paused', heldCount: 1, heldSince: held.createdAt }));
    // The console's log leaves held events out (it summarises them) unless it asks for them.
    expect(unwrap(await t.api['deliveries.list']({ excludeHeld: true }))).toEqual([]);
    expect(unwrap(await t.api['deliveries.list']({ outcome: 'held' })).map((d) => d.eventId)).toEqual(['waited']);
    const updated = unwrap(await t.api['subscriptions.update'](sub.id, { enabled: true }));
    expect(updated).toMatchObject({ state: 'active', heldCount: 0, heldSince: null });
    const [req] = await receiver.waitForRequests(1);
    expect(req?.headers['x-decnet-event-id']).toBe('waited');
  });

  it('deleting a paused subscription ends what it held', async () => {
    const { subscription: sub } = unwrap(await t.api['subscriptions.create']({ name: 'gone', url: receiver.url, patterns: ['canary.>'], enabled: false }));
    await t.engine.busReady();
    await t.publish('canary.tok.triggered', envelope('x', {}, 'kept'));
    await t.waitForDelivery((d) => d.eventId === 'kept' && d.outcome === 'held');
    unwrap(await t.api['subscriptions.remove'](sub.id));
    const [ended] = await t.waitForFinal(1, (d) => d.eventId === 'kept');
    expect(ended).toMatchObject({ outcome: 'failed', error: 'subscription deleted' });
    expect(unwrap(await t.api['deliveries.list']({ outcome: 'held' }))).toEqual([]);
    expect(receiver.requests).toHaveLength(0);
  });
});
