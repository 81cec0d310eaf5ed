/**
 * JetStream mode, end to end: a stream that captures the DECNET subjects, a durable
 * consumer acknowledged only once matches are committed. Events published while the
 * engine is stopped are delivered when it starts; a nats-server restart in the middle
 * of a stream loses nothing.
 */
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { envelope, startTestEngine, unwrap, type TestEngine } from './harness/engine';
import { startNatsServer, type NatsServer } from './harness/nats-server';
import { startReceiver, type Receiver } from './harness/receiver';

const STREAM = 'DECNET';
let nats: NatsServer;
let receiver: Receiver;
let t: TestEngine | null = null;

beforeEach(async () => {
  nats = await startNatsServer();
  const jsm = await jetstreamManager(await nats.client());
  await jsm.streams.add({ name: STREAM, subjects: ['attacker.>', 'canary.>', 'system.>'] });
  receiver = await startReceiver();
});

afterEach(async () => {
  await t?.cleanup();
  t = null;
  await receiver.close();
  await nats.cleanup();
});

async function engineOn(dbPath?: string): Promise<TestEngine> {
  const engine = await startTestEngine({ server: nats, settings: { jetstreamStream: STREAM }, ...(dbPath ? { dbPath } : {}) });
  const consuming = (): boolean => engine.engine.status().jetstream?.state === 'consuming';
  if (!consuming()) await engine.waitForRecord((r) => r.kind === 'jetstream' && r.status.state === 'consuming');
  return engine;
}

/** Publishes with JetStream acks, retrying through an outage, so the stream has every event. */
async function publishDurably(ids: string[], subject = 'attacker.observed'): Promise<void> {
  const js = jetstream(await nats.client(), { timeout: 2000 });
  for (const id of ids) {
    for (;;) {
      try {
        await js.publish(subject, new TextEncoder().encode(JSON.stringify(envelope('x', {}, id))), { msgID: id });
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }
}

function distinctIds(): Set<string> {
  return new Set(receiver.requests.map((r) => r.headers['x-decnet-event-id'] as string));
}

async function untilAll(ids: string[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (distinctIds().size < ids.length) {
    if (Date.now() > deadline) throw new Error(`only ${distinctIds().size} of ${ids.length} event ids arrived`);
    await receiver.waitForRequests(receiver.requests.length + 1, Math.max(1, deadline - Date.now())).catch(() => undefined);
  }
}

describe('JetStream mode', () => {
  it('delivers events published while the engine was stopped', async () => {
    t = await engineOn();
    unwrap(await t.api['subscriptions.create']({ name: 'siem', url: receiver.url, patterns: ['attacker.>'] }));
    const dbPath = t.dbPath;
    const first = ['live-1', 'live-2'];
    await publishDurably(first);
    await untilAll(first);
    expect(unwrap(await t.api['status.get']()).jetstream).toMatchObject({ stream: STREAM, state: 'consuming' });

    // Keep the database: cleanup would delete it, so stop the engine only.
    await t.engine.stop();
    t = null;
    const whileClosed = Array.from({ length: 50 }, (_, i) => `closed-${i}`);
    await publishDurably(whileClosed);
    await publishDurably(['ignored'], 'canary.t.triggered'); // matches no subscription: acknowledged, not sent

    t = await engineOn(dbPath);
    await untilAll([...first, ...whileClosed]);
    expect([...distinctIds()].sort()).toEqual([...first, ...whileClosed].sort());
    expect(receiver.requests.some((r) => r.headers['x-decnet-event-id'] === 'ignored')).toBe(false);
  });

  it('loses nothing through a nats-server restart in the middle of a stream', { timeout: 90_000 }, async () => {
    t = await engineOn();
    unwrap(await t.api['subscriptions.create']({ name: 'siem', url: receiver.url, patterns: ['attacker.>'] }));
    const ids = Array.from({ length: 1000 }, (_, i) => `s-${i}`);
    const publishing = publishDurably(ids);
    await receiver.waitForRequests(200, 20_000);
    await nats.stop();
    await nats.restart();
    await publishing;
    await untilAll(ids, 60_000);
    expect(distinctIds().size).toBe(ids.length);
  });
});
