/**
 * JetStream mode, end to end: a stream that captures the DECNET subjects, a durable
 * consumer acknowledged only once matches are committed. Events published while the
 * engine is stopped are delivered when it starts; a nats-server restart in the middle
 * of a stream loses nothing; two installations on one stream each get every event.
 */
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Settings } from '../../src-main/contract/views';
import { envelope, startTestEngine, unwrap, type TestEngine } from '../harness/engine';
import { startNatsServer, type NatsServer } from '../harness/nats-server';
import { startReceiver, type Receiver } from '../harness/receiver';

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

async function engineOn(dbPath?: string, settings: Partial<Settings> = {}): Promise<TestEngine> {
  const engine = await startTestEngine({ server: nats, settings: { jetstreamStream: STREAM, ...settings }, ...(dbPath ? { dbPath } : {}) });
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

function distinctIds(r: Receiver = receiver): Set<string> {
  return new Set(r.requests.map((q) => q.headers['x-decnet-event-id'] as string));
}

async function untilAll(ids: string[], timeoutMs = 30_000, r: Receiver = receiver): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (distinctIds(r).size < ids.length) {
    if (Date.now() > deadline) throw new Error(`only ${distinctIds(r).size} of ${ids.length} event ids arrived`);
    await r.waitForRequests(r.requests.length + 1, Math.max(1, deadline - Date.now())).catch(() => undefined);
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

describe('the durable consumer is per installation', () => {
  it('two installations (their own databases) on one stream each receive every event', { timeout: 60_000 }, async () => {
    const secondReceiver = await startReceiver();
    let second: TestEngine | null = null;
    try {
      t = await engineOn();
      second = await engineOn();
      unwrap(await t.api['subscriptions.create']({ name: 'siem', url: receiver.url, patterns: ['attacker.>'] }));
      unwrap(await second.api['subscriptions.create']({ name: 'siem', url: secondReceiver.url, patterns: ['attacker.>'] }));
      const durables = [t.engine.status().jetstream?.durable, second.engine.status().jetstream?.durable];
      for (const d of durables) expect(d).toMatch(/^sluice-[0-9a-f]{12}$/);
      expect(durables[0]).not.toBe(durables[1]);

      const ids = Array.from({ length: 200 }, (_, i) => `both-${i}`);
      await publishDurably(ids);
      // One durable shared by both would hand each about half of them.
      await untilAll(ids, 20_000, receiver);
      await untilAll(ids, 20_000, secondReceiver);
      expect([...distinctIds(receiver)].sort()).toEqual([...ids].sort());
      expect([...distinctIds(secondReceiver)].sort()).toEqual([...ids].sort());
    } finally {
      await second?.cleanup();
      await secondReceiver.close();
    }
  });

  it('keeps its name across restarts, shows it in status and settings; a name set rebinds at once', async () => {
    t = await engineOn();
    unwrap(await t.api['subscriptions.create']({ name: 'siem', url: receiver.url, patterns: ['attacker.>'] }));
    const own = unwrap(await t.api['settings.get']()).jetstreamDurableDefault;
    expect(own).toMatch(/^sluice-[0-9a-f]{12}$/);
    expect(unwrap(await t.api['status.get']()).jetstream).toMatchObject({ stream: STREAM, durable: own, state: 'consuming' });
    const jsm = await jetstreamManager(await nats.client());
    expect((await jsm.consumers.info(STREAM, own)).config.durable_name).toBe(own);

    const dbPath = t.dbPath;
    await t.engine.stop();
    t = await engineOn(dbPath);
    expect(t.engine.status().jetstream?.durable).toBe(own);

    unwrap(await t.api['settings.update']({ jetstreamDurable: 'soc-team' }));
    await t.waitForRecord((r) => r.kind === 'jetstream' && r.status.durable === 'soc-team' && r.status.state === 'consuming');
    expect(unwrap(await t.api['settings.get']())).toMatchObject({ jetstreamDurable: 'soc-team', jetstreamDurableDefault: own });
    expect((await jsm.consumers.info(STREAM, 'soc-team')).config.durable_name).toBe('soc-team');
    await publishDurably(['after-rename']);
    await untilAll(['after-rename']);

    const refused = await t.api['settings.update']({ jetstreamDurable: 'soc.team' });
    expect(refused).toMatchObject({ ok: false, error: { code: 'invalid_argument', field: 'jetstreamDurable' } });
    expect(t.engine.status().jetstream?.durable).toBe('soc-team');
  });

  it('a database that consumed a stream as "sluice" before install ids keeps that durable: nothing is delivered twice', { timeout: 60_000 }, async () => {
    // Before the upgrade: every installation's durable was "sluice".
    t = await engineOn(undefined, { jetstreamDurable: 'sluice' });
    unwrap(await t.api['subscriptions.create']({ name: 'siem', url: receiver.url, patterns: ['attacker.>'] }));
    const before = ['old-1', 'old-2', 'old-3'];
    await publishDurably(before);
    await untilAll(before);
    const dbPath = t.dbPath;
    await t.engine.stop();
    t = null;
    // The database as that version left it: no install id, no durable setting.
    const db = new BetterSqlite3(dbPath);
    db.prepare("DELETE FROM settings WHERE key IN ('installId', 'jetstreamDurable')").run();
    db.close();

    t = await engineOn(dbPath);
    expect(t.engine.status().jetstream?.durable).toBe('sluice');
    expect(unwrap(await t.api['settings.get']()).jetstreamDurable).toBe('sluice');
    await publishDurably(['new-1']);
    await untilAll([...before, 'new-1']);
    expect(receiver.requests.map((r) => r.headers['x-decnet-event-id']).sort()).toEqual([...before, 'new-1'].sort());
  });
});

describe('intake limits in JetStream mode', () => {
  it('a 5,000-deep envelope is recorded rejected with its reason and acknowledged, not redelivered', async () => {
    t = await engineOn();
    unwrap(await t.api['subscriptions.create']({ name: 'siem', url: receiver.url, patterns: ['attacker.>'] }));
    const deep = `{"v":1,"id":"too-deep","type":"t","ts":"2026-01-01T00:00:00Z","payload":${'{"a":'.repeat(5_000)}1${'}'.repeat(5_000)}}`;
    const js = jetstream(await nats.client(), { timeout: 2000 });
    await js.publish('attacker.deep', new TextEncoder().encode(deep));
    await publishDurably(['after-deep']);
    await untilAll(['after-deep']);
    const rejected = unwrap(await t.api['deliveries.list']({ outcome: 'rejected', topic: 'attacker.deep' }));
    expect(rejected.map((d) => d.error)).toEqual(['body is nested deeper than 512 levels']);
    const jsm = await jetstreamManager(await nats.client());
    const durable = t.engine.status().jetstream?.durable as string;
    await vi.waitFor(async () => expect((await jsm.consumers.info(STREAM, durable)).num_ack_pending).toBe(0));
    const info = await jsm.consumers.info(STREAM, durable);
    expect(info.num_redelivered).toBe(0);
    expect(t.records.filter((r) => r.kind === 'error')).toEqual([]);
  });
});
