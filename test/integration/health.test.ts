/**
 * Subscription health (issue 7) with a real engine, nats-server and receivers: the
 * figures the engine keeps in memory as deliveries end, and the same figures seeded from
 * the store by a restarted engine on the same database.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeliveryView, HealthSeries, HealthWindow, SubscriptionHealth } from '../../src-main/contract/views';
import { HOUR_MS, LATENCY_BUCKET_STARTS, PERCENTILE_RELATIVE_ERROR, SubscriptionHealthTracker, healthSeedWindow } from '../../src-main/engine/health';
import { Store } from '../../src-main/store/database';
import { finishedSince } from '../../src-main/store/health';
import { envelope, startTestEngine, unwrap, type TestEngine } from '../harness/engine';
import { startNatsServer, type NatsServer } from '../harness/nats-server';
import { startReceiver, type Receiver } from '../harness/receiver';

const OK = 40;
const FAILING = 10;

let nats: NatsServer;
let t: TestEngine;
let mixed: Receiver;
let steady: Receiver;
let stalled: Receiver;
const ids: Record<string, string> = {};

beforeAll(async () => {
  nats = await startNatsServer();
  // Answers after the delay the event asks for; 503 when it asks to fail (retried, then dead).
  mixed = await startReceiver(async (req, res) => {
    const { payload } = JSON.parse(req.body.toString('utf8')) as { payload: { ms: number; fail: boolean } };
    await new Promise((resolve) => setTimeout(resolve, payload.ms));
    res.writeHead(payload.fail ? 503 : 200).end();
  });
  steady = await startReceiver();
  stalled = await startReceiver((_req, res) => void res.writeHead(503).end());
  t = await startTestEngine({ server: nats, settings: { circuitThreshold: 1000 } });
  for (const [name, url, patterns, retrySchedule] of [
    ['mixed', mixed.url, ['attacker.>'], null],
    ['steady', steady.url, ['attacker.>'], null],
    ['idle', steady.url, ['canary.>'], null],
    // Its one delivery waits a minute to retry, and is held by a pause: not counted.
    ['paused-mid-retry', stalled.url, ['decky.*.state'], [60]],
  ] as const) {
    const created = unwrap(await t.api['subscriptions.create']({ name, url, patterns: [...patterns], retrySchedule: retrySchedule && [...retrySchedule] }));
    ids[name] = created.subscription.id;
  }
  await t.engine.busReady();
});

afterAll(async () => {
  await t?.cleanup();
  await Promise.all([mixed.close(), steady.close(), stalled.close()]);
  await nats.cleanup();
});

const nearestRank = (sorted: number[], p: number): number => sorted[Math.max(1, Math.ceil(p * sorted.length)) - 1] as number;

function expectPercentiles(window: HealthWindow, latencies: number[]): void {
  const sorted = [...latencies].sort((a, b) => a - b);
  for (const [p, got] of [
    [0.5, window.p50Ms],
    [0.95, window.p95Ms],
  ] as const) {
    const exact = nearestRank(sorted, p);
    expect(got, `p${p * 100}`).not.toBeNull();
    expect(Math.abs((got as number) - exact), `p${p * 100}: ${got} vs exact ${exact}`).toBeLessThanOrEqual(PERCENTILE_RELATIVE_ERROR * exact + 0.5);
  }
}

async function health(api = t.api): Promise<Record<string, SubscriptionHealth>> {
  const report = unwrap(await api['subscriptions.health']());
  return Object.fromEntries(report.subscriptions.map((h) => [Object.keys(ids).find((n) => ids[n] === h.subscriptionId) ?? h.subscriptionId, h]));
}

/** A series as {bucket start → counts}, so two reports taken a minute apart still compare. */
function byTime(series: HealthSeries): Record<string, [number, number, number | null]> {
  const out: Record<string, [number, number, number | null]> = {};
  series.ok.forEach((ok, i) => {
    const failed = series.failed[i] as number;
    if (ok + failed > 0) out[new Date(Date.parse(series.start) + i * series.bucketMs).toISOString()] = [ok, failed, series.p95Ms[i] ?? null];
  });
  return out;
}

describe('subscription health', () => {
  let before: Record<string, SubscriptionHealth>;

  it('counts deliveries that ended ok and failed, with p50/p95 of their latency', { timeout: 60_000 }, async () => {
    await t.publish('decky.web-01.state', envelope('state', {}, 'stalls'));
    await t.waitForDelivery((d) => d.eventId === 'stalls' && d.outcome === 'retrying');
    unwrap(await t.api['subscriptions.setEnabled'](ids['paused-mid-retry']!, false));
    await t.waitForDelivery((d) => d.eventId === 'stalls' && d.outcome === 'held');

    const delays = [0, 2, 5, 10, 20, 40];
    for (let i = 0; i < OK + FAILING; i++)
      await t.publish('attacker.observed', envelope('x', { ms: delays[i % delays.length], fail: i % 5 === 4 }, `ev-${i}`));
    const ended = await t.waitForFinal(2 * (OK + FAILING), (d) => d.topic === 'attacker.observed', 30_000);
    // A test fire is shown to the analyst, not counted.
    unwrap(await t.api['subscriptions.testFire'](ids['steady']!));

    const rows: DeliveryView[] = unwrap(await t.api['deliveries.list']({ subscriptionId: ids['mixed']!, limit: 1000 }));
    expect(rows.filter((d) => d.outcome === 'delivered')).toHaveLength(OK);
    expect(rows.filter((d) => d.outcome === 'dead')).toHaveLength(FAILING);
    expect(ended.filter((d) => d.subscriptionId === ids['steady'] && d.outcome === 'delivered')).toHaveLength(OK + FAILING);

    before = await health();
    const m = before['mixed']!;
    for (const window of [m.hour, m.day]) {
      expect(window).toMatchObject({ total: OK + FAILING, ok: OK, failed: FAILING, successRate: OK / (OK + FAILING) });
      expectPercentiles(window, rows.map((d) => d.latencyMs as number));
    }
    expect(m.minutes.ok.reduce((a, b) => a + b, 0)).toBe(OK);
    expect(m.minutes.failed.reduce((a, b) => a + b, 0)).toBe(FAILING);
    expect(m.hours.ok.at(-1)).toBe(OK);
    expect(m.minutes.ok).toHaveLength(60);
    expect(m.hours.ok).toHaveLength(24);

    const s = before['steady']!;
    expect(s.hour).toMatchObject({ total: OK + FAILING, ok: OK + FAILING, failed: 0, successRate: 1 });
    expect(before['idle']!.day).toEqual({ total: 0, ok: 0, failed: 0, successRate: null, p50Ms: null, p95Ms: null });
    // Ended by the pause, not by the receiver: not counted.
    expect(before['paused-mid-retry']!.day.total).toBe(0);
  });

  it('seeds the same figures from the store after a restart', { timeout: 60_000 }, async () => {
    const dbPath = t.dbPath;
    await t.engine.stop();
    t = await startTestEngine({ server: nats, dbPath });
    const after = await health();
    expect(Object.keys(after).sort()).toEqual(Object.keys(before).sort());
    for (const name of Object.keys(before)) {
      expect(after[name]!.hour, name).toEqual(before[name]!.hour);
      expect(after[name]!.day, name).toEqual(before[name]!.day);
      expect(byTime(after[name]!.minutes), name).toEqual(byTime(before[name]!.minutes));
      expect(byTime(after[name]!.hours), name).toEqual(byTime(before[name]!.hours));
    }
  });
});

describe('the seed query', () => {
  it('counts, buckets and dates a day of stored outcomes exactly as the live tracker does', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-health-'));
    const store = await Store.open(join(dir, 'sluice.db'));
    try {
      const now = Date.now();
      const live = new SubscriptionHealthTracker();
      const insert = store.sqlite.prepare(
        'INSERT INTO deliveries (topic, subscription_id, outcome, attempts, latency_ms, error, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      );
      let seed = 11;
      const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
      const kinds = [
        { outcome: 'delivered', error: null, counted: true, ok: true },
        { outcome: 'dead', error: 'http 503', counted: true, ok: false },
        { outcome: 'dead', error: 'non-retryable 404', counted: true, ok: false },
        { outcome: 'blocked', error: 'destination refused: loopback', counted: true, ok: false },
        { outcome: 'replayed', error: 'http 500', counted: true, ok: false },
        { outcome: 'dead', error: 'subscription paused (last attempt: http 503)', counted: false, ok: false },
        { outcome: 'dead', error: 'subscription tripped', counted: false, ok: false },
        { outcome: 'test', error: null, counted: false, ok: true },
        { outcome: 'held', error: null, counted: false, ok: false },
        { outcome: 'retrying', error: 'http 503', counted: false, ok: false },
        { outcome: 'failed', error: 'subscription deleted', counted: false, ok: false },
      ] as const;
      store.sqlite.transaction(() => {
        for (let i = 0; i < 5000; i++) {
          const kind = kinds[Math.floor(random() * kinds.length)]!;
          // Spread over 26 hours: the oldest are out of the day window.
          const at = now - Math.floor(random() * 26 * HOUR_MS);
          const attempts = kind.outcome === 'blocked' ? 0 : 1 + Math.floor(random() * 3);
          const latency = random() < 0.03 ? null : Math.round(random() < 0.5 ? random() * 40 : random() * 12_000);
          const sub = random() < 0.7 ? 'a' : 'b';
          const iso = new Date(at).toISOString();
          insert.run('t.x', sub, kind.outcome, attempts, latency, kind.error, iso, iso);
          if (kind.counted) live.record(sub, at, kind.ok, attempts === 0 ? null : latency);
        }
        insert.run('t.x', null, 'rejected', 0, null, 'not JSON', new Date(now).toISOString(), new Date(now).toISOString());
      })();
      const seeded = new SubscriptionHealthTracker();
      const rows = finishedSince(store, healthSeedWindow(now), LATENCY_BUCKET_STARTS);
      expect(rows.length).toBeLessThan(5000);
      seeded.seed(rows);
      const report = seeded.report(['a', 'b'], now);
      expect(report).toEqual(live.report(['a', 'b'], now));
      expect(report.subscriptions[0]!.day.total).toBeGreaterThan(1000);
      expect(report.subscriptions[0]!.hour.total).toBeGreaterThan(20);
    } finally {
      store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
