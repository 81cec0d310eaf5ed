/**
 * Memory shared fairly between subscriptions (engine/scheduler.ts): a slow receiver's
 * backlog, larger than all the memory the engine gives deliveries, waits in the store
 * beyond its own share, so another subscription's new events still go out at once. A real
 * engine, nats-server, SQLite file and two receivers on 127.0.0.1.
 */
import type { ServerResponse } from 'node:http';
import { afterEach, expect, it } from 'vitest';
import { DEFAULT_CAPACITY } from '../../src-main/engine/scheduler';
import { envelope, startTestEngine, unwrap, type TestEngine } from '../harness/engine';
import { startReceiver, type ReceivedRequest, type Receiver } from '../harness/receiver';

let t: TestEngine;
const receivers: Receiver[] = [];

afterEach(async () => {
  await t?.cleanup();
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

it("delivers a fast subscription's events at once while a slow one's backlog exceeds the engine's memory", async () => {
  t = await startTestEngine();
  // About five answers a second, one at a time: its backlog only grows.
  const slow = await startReceiver((_req: ReceivedRequest, res: ServerResponse) => void setTimeout(() => res.writeHead(200).end('ok'), 200));
  const fast = await startReceiver();
  receivers.push(slow, fast);
  unwrap(await t.api['subscriptions.create']({ name: 'slow', url: slow.url, patterns: ['flood.>'], concurrency: 1 }));
  unwrap(await t.api['subscriptions.create']({ name: 'fast', url: fast.url, patterns: ['alert.>'] }));
  await t.engine.busReady();

  const backlog = DEFAULT_CAPACITY + 500;
  for (let i = 0; i < backlog; i++) t.publisher.publish('flood.event', new TextEncoder().encode(JSON.stringify(envelope('x', { i }, `s-${i}`))));
  await t.publisher.flush();
  // Every flood event recorded (pending in memory or due in the store) before the fast ones.
  await t.waitForRecord(() => t.records.filter((r) => r.kind === 'delivery' && r.delivery.subscriptionName === 'slow' && r.delivery.outcome === 'pending').length >= backlog, 20_000);

  const sentAt = Date.now();
  for (let i = 0; i < 20; i++) await t.publish('alert.raised', envelope('y', { i }, `f-${i}`));
  await fast.waitForRequests(20, 5_000);
  expect(Date.now() - sentAt).toBeLessThan(3_000);
  // The slow one was not starved either: it goes on at its own pace.
  expect(slow.requests.length).toBeGreaterThan(0);
});
