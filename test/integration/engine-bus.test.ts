/**
 * The engine through a bus outage: the nats-server stops for 30 seconds and comes back
 * on the same ports; the engine shows it reconnecting, reconnects by itself, and events
 * published afterwards are delivered on the subscriptions made before the outage.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { EngineRecord } from '../../src-main/engine/engine';
import { envelope, startTestEngine, unwrap, type TestEngine } from '../harness/engine';
import { startReceiver, type Receiver } from '../harness/receiver';

const OUTAGE_MS = 30_000;
let t: TestEngine;
let receiver: Receiver;

beforeEach(async () => {
  t = await startTestEngine();
  receiver = await startReceiver();
});

afterEach(async () => {
  await receiver.close();
  await t.cleanup();
});

type BusRecord = Extract<EngineRecord, { kind: 'bus' }>;
const isBus = (state: string) => (r: EngineRecord): r is BusRecord => r.kind === 'bus' && r.status.state === state;

it('recovers from a 30 s nats-server outage', { timeout: 90_000 }, async () => {
  unwrap(await t.api['subscriptions.create']({ name: 'siem', url: receiver.url, patterns: ['attacker.>'] }));
  await t.engine.busReady();
  await t.publish('attacker.observed', envelope('x', {}, 'before'));
  await receiver.waitForRequests(1);

  // The test's own publisher is not under test: closed for the outage (its pending
  // requests would reject when the server goes), a fresh one publishes afterwards.
  await t.publisher.close();
  const reconnecting = t.waitForRecord(isBus('reconnecting'));
  await t.nats.stop();
  await reconnecting;
  // The outage itself: a fixed length is the point of this test.
  await delay(OUTAGE_MS);
  const during = unwrap(await t.api['status.get']()).bus;
  expect(during.state).toBe('reconnecting');
  expect(during.attempt).toBeGreaterThan(3);
  expect(during.lastError).toBeTruthy();

  const connected = t.waitForRecord(isBus('connected'), 20_000);
  const restartedAt = Date.now();
  await t.nats.restart();
  await connected;
  expect(Date.now() - restartedAt).toBeLessThan(10_000);

  const publisher = await t.nats.client();
  publisher.publish('attacker.observed', new TextEncoder().encode(JSON.stringify(envelope('x', {}, 'after'))));
  await publisher.flush();
  const requests = await receiver.waitForRequests(2, 10_000);
  expect(requests.map((r) => r.headers['x-decnet-event-id'])).toEqual(['before', 'after']);
});
