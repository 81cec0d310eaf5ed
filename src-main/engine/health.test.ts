import { describe, expect, it } from 'vitest';
import {
  HOUR_MS,
  LATENCY_BUCKETS,
  LATENCY_BUCKET_STARTS,
  MINUTE_MS,
  PERCENTILE_RELATIVE_ERROR,
  SubscriptionHealthTracker,
  healthSeedWindow,
  healthWindowStart,
  histogramPercentile,
  latencyBucket,
} from './health';

const T0 = Date.parse('2026-11-28T12:00:00.000Z');

/** The exact nearest-rank percentile: the ⌈p·n⌉-th smallest. */
function exactPercentile(sorted: number[], p: number): number {
  return sorted[Math.max(1, Math.ceil(p * sorted.length)) - 1] as number;
}

/** A small seeded generator (mulberry32): failures replay. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('latency buckets', () => {
  it('puts 0 ms in bucket 0, powers of two on bucket edges, and caps at the overflow bucket', () => {
    expect(latencyBucket(0)).toBe(0);
    expect(latencyBucket(-3)).toBe(0);
    expect(latencyBucket(Number.NaN)).toBe(0);
    expect(latencyBucket(1)).toBe(1);
    for (let n = 0; n <= 16; n++) {
      expect(latencyBucket(2 ** n)).toBe(1 + 4 * n);
      expect(latencyBucket(2 ** n - 0.001)).toBe(4 * n);
    }
    expect(latencyBucket(10 ** 9)).toBe(LATENCY_BUCKETS - 1);
  });

  it('gives SQL the same buckets as latencyBucket for every whole millisecond', () => {
    const sqlBucket = (ms: number): number => {
      let b = 0;
      for (const s of LATENCY_BUCKET_STARTS) if (ms >= s.from) b = s.bucket;
      return b;
    };
    for (let ms = 0; ms <= 140_000; ms += ms < 2000 ? 1 : 97) expect(sqlBucket(ms), `${ms} ms`).toBe(latencyBucket(ms));
  });
});

describe('percentiles from the histogram', () => {
  it('are null for an empty histogram', () => {
    expect(histogramPercentile(new Uint32Array(LATENCY_BUCKETS), 0.5)).toBeNull();
  });

  it('are exact below 8 ms, where every bucket holds one whole millisecond', () => {
    for (let ms = 0; ms < 8; ms++) {
      const t = new SubscriptionHealthTracker();
      t.record('s', T0, true, ms);
      const { hour } = t.report(['s'], T0).subscriptions[0]!;
      expect([hour.p50Ms, hour.p95Ms]).toEqual([ms, ms]);
    }
  });

  it.each([
    ['uniform 0–50 ms', (r: () => number) => Math.round(r() * 50)],
    ['log-uniform 1 ms–60 s', (r: () => number) => Math.round(Math.exp(r() * Math.log(60_000)))],
    ['bimodal: fast, and timeouts', (r: () => number) => (r() < 0.9 ? Math.round(5 + r() * 40) : Math.round(9_000 + r() * 2_000))],
    ['one receiver, steady 120 ms', (r: () => number) => Math.round(110 + r() * 20)],
  ])('are within the documented error of the exact percentile: %s', (_label, draw) => {
    for (let seed = 1; seed <= 20; seed++) {
      const r = rng(seed);
      const n = 1 + Math.floor(r() * 3000);
      const t = new SubscriptionHealthTracker();
      const latencies: number[] = [];
      for (let i = 0; i < n; i++) {
        const ms = draw(r);
        latencies.push(ms);
        t.record('s', T0 + Math.floor(r() * 40) * MINUTE_MS, r() < 0.9, ms);
      }
      latencies.sort((a, b) => a - b);
      const { hour, day } = t.report(['s'], T0 + 45 * MINUTE_MS).subscriptions[0]!;
      for (const [p, got] of [
        [0.5, hour.p50Ms],
        [0.95, hour.p95Ms],
        [0.5, day.p50Ms],
        [0.95, day.p95Ms],
      ] as const) {
        const exact = exactPercentile(latencies, p);
        expect(Math.abs((got as number) - exact), `p${p * 100} seed ${seed}: ${got} vs exact ${exact}`).toBeLessThanOrEqual(
          PERCENTILE_RELATIVE_ERROR * exact + 0.5,
        );
      }
    }
  });
});

describe('windows and buckets', () => {
  it('reports empty figures for a subscription with nothing recorded', () => {
    const t = new SubscriptionHealthTracker();
    const [h] = t.report(['quiet'], T0).subscriptions;
    const empty = { total: 0, ok: 0, failed: 0, successRate: null, p50Ms: null, p95Ms: null };
    expect(h).toMatchObject({ subscriptionId: 'quiet', hour: empty, day: empty });
    expect(h!.minutes.ok).toEqual(Array(60).fill(0));
    expect(h!.minutes.p95Ms).toEqual(Array(60).fill(null));
    expect(h!.hours.failed).toEqual(Array(24).fill(0));
    expect(h!.minutes.start).toBe(new Date(T0 - 59 * MINUTE_MS).toISOString());
    expect(h!.hours.start).toBe(new Date(T0 - 23 * HOUR_MS).toISOString());
  });

  it('counts ok and failed per window and per bucket; failures without a latency count but add none', () => {
    const t = new SubscriptionHealthTracker();
    for (let i = 0; i < 9; i++) t.record('a', T0 + 30_000, true, 10);
    t.record('a', T0 + 30_000, false, 3000);
    t.record('a', T0 + 90_000, false, null);
    t.record('b', T0, true, 5);
    const [a, b] = t.report(['a', 'b'], T0 + 2 * MINUTE_MS).subscriptions;
    expect(a!.hour).toMatchObject({ total: 11, ok: 9, failed: 2, successRate: 9 / 11, p50Ms: 10 });
    expect(a!.hour.p95Ms).toBeGreaterThan(2700);
    expect(a!.minutes.ok.slice(-3)).toEqual([9, 0, 0]);
    expect(a!.minutes.failed.slice(-3)).toEqual([1, 1, 0]);
    expect(a!.hours.ok.at(-1)).toBe(9);
    expect(a!.day).toEqual(a!.hour);
    expect(b!.hour).toMatchObject({ total: 1, ok: 1, successRate: 1, p50Ms: 5, p95Ms: 5 });
  });

  it('rolls minute buckets out of the hour window, and hour buckets out of the day window', () => {
    const t = new SubscriptionHealthTracker();
    t.record('s', T0, false, 100);
    t.record('s', T0 + 10 * MINUTE_MS, true, 10);
    const at = (ms: number) => t.report(['s'], ms).subscriptions[0]!;
    expect(at(T0 + 59 * MINUTE_MS).hour.total).toBe(2);
    // At 13:00 the 12:00 minute has left the hour; the day keeps both (same clock hour).
    expect(at(T0 + 60 * MINUTE_MS).hour).toMatchObject({ total: 1, ok: 1 });
    expect(at(T0 + 60 * MINUTE_MS).day).toMatchObject({ total: 2, failed: 1 });
    expect(at(T0 + 23 * HOUR_MS + 59 * MINUTE_MS).day.total).toBe(2);
    expect(at(T0 + 24 * HOUR_MS).day).toMatchObject({ total: 0, successRate: null, p50Ms: null });
  });

  it('clears a reused slot when the clock comes round to it, across gaps of any length', () => {
    const t = new SubscriptionHealthTracker();
    t.record('s', T0, true, 10);
    t.record('s', T0 + 5 * MINUTE_MS, false, 20);
    // 60 minutes later the first minute's slot is reused: only the new count is there.
    t.record('s', T0 + 60 * MINUTE_MS, true, 1000);
    let h = t.report(['s'], T0 + 60 * MINUTE_MS).subscriptions[0]!;
    expect(h.hour).toMatchObject({ total: 2, ok: 1, failed: 1 });
    expect(h.minutes.ok.at(-1)).toBe(1);
    // Three days pass in one step (a suspended laptop): nothing stale survives.
    const later = T0 + 3 * 24 * HOUR_MS + 7 * MINUTE_MS;
    h = t.report(['s'], later).subscriptions[0]!;
    expect(h.hour.total).toBe(0);
    expect(h.day.total).toBe(0);
    t.record('s', later, true, 3);
    h = t.report(['s'], later).subscriptions[0]!;
    expect(h.hour).toMatchObject({ total: 1, p50Ms: 3 });
    expect(h.day).toMatchObject({ total: 1, p50Ms: 3 });
    expect(h.hours.ok.reduce((x, y) => x + y, 0)).toBe(1);
  });

  it('ignores an outcome older than its window (a clock stepped back), without disturbing newer buckets', () => {
    const t = new SubscriptionHealthTracker();
    t.record('s', T0 + 2 * HOUR_MS, true, 10);
    t.record('s', T0 + 2 * HOUR_MS - 60 * MINUTE_MS, false, 10); // same minute slot, an hour older
    const h = t.report(['s'], T0 + 2 * HOUR_MS).subscriptions[0]!;
    expect(h.hour).toMatchObject({ total: 1, ok: 1 });
    expect(h.day).toMatchObject({ total: 2, failed: 1 });
  });

  it('seeds from aggregated rows (by minute, by hour before the hour window) exactly as the same outcomes recorded one by one', () => {
    const live = new SubscriptionHealthTracker();
    const seeded = new SubscriptionHealthTracker();
    const r = rng(7);
    const now = T0 + 5 * HOUR_MS + 17 * MINUTE_MS;
    const minutesFrom = Date.parse(healthSeedWindow(now).minutesFrom);
    expect(minutesFrom).toBe(now - 17 * MINUTE_MS - 42 * MINUTE_MS);
    const groups = new Map<string, { subscriptionId: string; atMs: number; ok: boolean; latencyBucket: number | null; count: number }>();
    for (let i = 0; i < 2000; i++) {
      const sub = r() < 0.5 ? 'x' : 'y';
      const at = healthWindowStart(now) + Math.floor(r() * (now - healthWindowStart(now)));
      const ok = r() < 0.8;
      const ms = r() < 0.05 ? null : Math.round(r() * 900);
      live.record(sub, at, ok, ms);
      const width = at >= minutesFrom ? MINUTE_MS : HOUR_MS;
      const minute = Math.floor(at / width) * width;
      const bucket = ms === null ? null : latencyBucket(ms);
      const key = `${sub}|${minute}|${ok}|${bucket}`;
      const g = groups.get(key) ?? { subscriptionId: sub, atMs: minute, ok, latencyBucket: bucket, count: 0 };
      g.count++;
      groups.set(key, g);
    }
    seeded.seed(groups.values());
    expect(seeded.report(['x', 'y'], now)).toEqual(live.report(['x', 'y'], now));
  });

  it('forgets subscriptions no longer named', () => {
    const t = new SubscriptionHealthTracker();
    t.record('gone', T0, true, 1);
    t.report(['kept'], T0);
    expect(t.report(['gone'], T0).subscriptions[0]!.hour.total).toBe(0);
  });
});
