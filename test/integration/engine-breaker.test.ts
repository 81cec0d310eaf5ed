/**
 * The circuit breaker and reloads, end to end: trip at the threshold, stop consuming at
 * once, re-enable with one call, and pick up subscriptions changed elsewhere.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Store } from '../../src-main/store/database';
import { insertSubscription } from '../../src-main/store/subscriptions';
import { RELOAD_SUBJECT } from '../../src-main/engine/engine';
import { envelope, startTestEngine, unwrap, type TestEngine } from '../harness/engine';
import { startReceiver, status, type Receiver } from '../harness/receiver';

let t: TestEngine;
let receiver: Receiver;
let healthy: Receiver;

beforeEach(async () => {
  t = await startTestEngine({ settings: { circuitThreshold: 3, retrySchedule: [] } });
  receiver = await startReceiver();
  healthy = await startReceiver();
});

afterEach(async () => {
  await receiver.close();
  await healthy.close();
  await t.cleanup();
});

async function create(name: string, url: string, patterns: string[]) {
  const { subscription } = unwrap(await t.api['subscriptions.create']({ name, url, patterns }));
  await t.engine.busReady();
  return subscription;
}

describe('circuit breaker', () => {
  it('trips after the threshold, stops consuming, and re-enables with one call', async () => {
    receiver.setBehavior(status(500));
    const sub = await create('wazuh', receiver.url, ['attacker.>']);
    await create('sentinel', healthy.url, ['attacker.>']);

    for (let i = 0; i < 3; i++) await t.publish('attacker.observed', envelope('x', { i }));
    const trip = await t.waitForRecord((r) => r.kind === 'breaker' && r.tripped);
    expect(trip).toMatchObject({ subscriptionId: sub.id, consecutiveFailures: 3, error: 'http 500' });

    const tripped = unwrap(await t.api['subscriptions.list']()).find((s) => s.id === sub.id);
    expect(tripped).toMatchObject({ enabled: false, state: 'tripped', consecutiveFailures: 3, lastError: 'http 500' });
    expect(tripped?.autoDisabledAt).not.toBeNull();
    expect(unwrap(await t.api['status.get']()).counts).toMatchObject({ configured: 2, enabled: 1, tripped: 1 });

    // Tripped: the next events reach the healthy receiver only.
    await t.publish('attacker.observed', envelope('x', {}, 'after-trip'));
    await healthy.waitForRequests(4);
    await t.waitForFinal(1, (d) => d.eventId === 'after-trip');
    expect(receiver.requests).toHaveLength(3);

    // Meanwhile its match was held, not sent.
    await t.waitForDelivery((d) => d.eventId === 'after-trip' && d.subscriptionId === sub.id && d.outcome === 'held');
    expect(unwrap(await t.api['subscriptions.list']()).find((s) => s.id === sub.id)).toMatchObject({ heldCount: 1, deadCount: 3 });

    // Re-enable clears the trip and delivers what was held; the fixed receiver gets events again.
    receiver.setBehavior(status(200));
    const back = unwrap(await t.api['subscriptions.setEnabled'](sub.id, true, 'deliver'));
    expect(back).toMatchObject({ enabled: true, state: 'active', autoDisabledAt: null, consecutiveFailures: 0, lastError: null, heldCount: 0 });
    await t.engine.busReady();
    await t.publish('attacker.observed', envelope('x', {}, 'resumed'));
    const requests = await receiver.waitForRequests(5);
    expect(requests.slice(3).map((r) => r.headers['x-decnet-event-id']).sort()).toEqual(['after-trip', 'resumed']);
  });

  it('a success resets the streak; pausing is not tripping', async () => {
    let fail = true;
    receiver.setBehavior((req, res) => status(fail ? 503 : 200)(req, res));
    const sub = await create('thehive', receiver.url, ['canary.>']);
    await t.publish('canary.tok1.triggered', envelope('x', {}));
    await t.publish('canary.tok1.triggered', envelope('x', {}));
    await t.waitForFinal(2);
    expect(unwrap(await t.api['subscriptions.list']())[0]?.consecutiveFailures).toBe(2);
    fail = false;
    await t.publish('canary.tok1.triggered', envelope('x', {}));
    await t.waitForFinal(3);
    expect(unwrap(await t.api['subscriptions.list']())[0]).toMatchObject({ consecutiveFailures: 0, lastError: null, state: 'active' });

    const paused = unwrap(await t.api['subscriptions.setEnabled'](sub.id, false));
    expect(paused).toMatchObject({ state: 'paused', autoDisabledAt: null });
    await create('sentinel', healthy.url, ['canary.>']);
    await t.publish('canary.tok1.triggered', envelope('x', {}, 'while-paused'));
    await healthy.waitForRequests(1);
    expect(receiver.requests).toHaveLength(3);
  });

  it('ends the waiting retries of a subscription the moment it trips', async () => {
    unwrap(await t.api['settings.update']({ circuitThreshold: 1, retrySchedule: [0.05, 30] }));
    receiver.setBehavior(status(500));
    await create('splunk', receiver.url, ['ttp.>']);
    // "slow" fails twice, then would wait 30 s for its last attempt...
    await t.publish('ttp.rule.fired', envelope('x', {}, 'slow'));
    await t.waitForRecord((r) => r.kind === 'delivery' && r.delivery.eventId === 'slow' && r.delivery.attempts === 2);
    // ...until "fast" ends failed on a terminal answer and trips the subscription.
    receiver.setBehavior(status(404));
    const started = Date.now();
    await t.publish('ttp.rule.fired', envelope('x', {}, 'fast'));
    const [slow] = await t.waitForFinal(1, (d) => d.eventId === 'slow', 5000);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(slow).toMatchObject({ outcome: 'dead', attempts: 2 });
    expect(slow?.error).toContain('subscription tripped');
    expect(receiver.requests).toHaveLength(3);
  });
});

describe('reload', () => {
  it('picks up a subscription added by another component on the reload signal', async () => {
    // Another writer in this same process would block the engine's commit: let it land first.
    await t.engine.durable();
    const other = await Store.open(t.dbPath);
    const now = new Date().toISOString();
    insertSubscription(other, {
      id: randomUUID(),
      name: 'added-elsewhere',
      url: receiver.url,
      secret: 'x'.repeat(32),
      patterns: ['identity.>'],
      retrySchedule: null,
      enabled: true,
      consecutiveFailures: 0,
      lastSuccessAt: null,
      lastFailureAt: null,
      lastError: null,
      autoDisabledAt: null,
      createdAt: now,
      updatedAt: now,
    });
    other.close();
    await t.publish(RELOAD_SUBJECT, {});
    await t.waitForRecord((r) => r.kind === 'reload' && (r.reason === 'reload signal' || r.reason === 'database changed') && r.subscriptions === 1);
    await t.engine.busReady();
    await t.publish('identity.linked', envelope('x', {}, 'hot'));
    const [req] = await receiver.waitForRequests(1);
    expect(req?.headers['x-decnet-event-id']).toBe('hot');
  });

  it('changes matching when patterns are edited, without a gap for patterns kept', async () => {
    const sub = await create('n8n', receiver.url, ['attacker.>']);
    unwrap(await t.api['subscriptions.update'](sub.id, { patterns: ['attacker.>', 'decky.*.state'] }));
    await t.engine.busReady();
    await t.publish('decky.web-01.state', envelope('x', {}, 'decky'));
    await t.publish('attacker.observed', envelope('x', {}, 'attacker'));
    await receiver.waitForRequests(2);
    unwrap(await t.api['subscriptions.update'](sub.id, { patterns: ['decky.*.state'] }));
    await t.engine.busReady();
    await t.publish('attacker.observed', envelope('x', {}, 'dropped'));
    await t.publish('decky.web-01.state', envelope('x', {}, 'kept'));
    await receiver.waitForRequests(3);
    await t.waitForFinal(3);
    expect(receiver.requests.map((r) => r.headers['x-decnet-event-id'])).toEqual(['decky', 'attacker', 'kept']);
  });
});
