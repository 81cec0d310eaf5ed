/**
 * Subscription health (issue 7): success rate and p50/p95 latency per subscription over
 * the last hour and the last day, kept in memory so the console can ask every few
 * seconds without a percentile query over the deliveries table.
 *
 * Per subscription, two rings of buckets: 60 one-minute buckets (the hour window) and 24
 * one-hour buckets (the day window). Each bucket holds a count of deliveries that ended
 * ok, a count that ended failed, and a latency histogram. Recording an outcome touches
 * one bucket of each ring: O(1) whatever the rate. A bucket is cleared when the clock
 * reaches it again (each slot remembers which minute or hour it holds), so a clock that
 * jumps forward across a gap leaves no stale counts, and nothing runs on a timer.
 *
 * Day buckets are whole clock hours rather than 1,440 minutes: that keeps a busy
 * subscription at ~24 KB (84 histograms) instead of ~400 KB, at the price of a day
 * window of 23–24 h (the current hour and the 23 before it).
 *
 * Latency histogram: bucket 0 holds 0 ms; bucket k ≥ 1 holds [2^((k−1)/4), 2^(k/4)) ms,
 * four buckets per doubling, up to 2^17 ms (131 s, beyond every timeout), then one
 * overflow bucket. A percentile is read at its nearest rank (the ⌈p·n⌉-th smallest
 * latency) from the merged histogram and reported as the geometric middle of the whole
 * milliseconds its bucket can hold, rounded. Since a bucket spans less than a factor
 * 2^(1/4), the estimate is within 2^(1/8) − 1 ≈ 9.05 % of the exact percentile, plus
 * 0.5 ms of rounding (and exact where a bucket holds a single whole millisecond, as
 * every bucket below 8 ms does).
 *
 * Pure: no store, no clock; times are passed in (epoch ms).
 */
import type { HealthReport, HealthSeries, HealthWindow, SubscriptionHealth } from '../contract/views';

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;
const HOUR_BUCKETS = 60;
const DAY_BUCKETS = 24;

/** Histogram buckets per doubling of latency. */
const PER_DOUBLING = 4;
/** Latencies from 2^17 ms (≈ 131 s) on share the overflow bucket. */
const TOP_EXPONENT = 17;
const LATENCY_OVERFLOW = 1 + PER_DOUBLING * TOP_EXPONENT;
export const LATENCY_BUCKETS = LATENCY_OVERFLOW + 1;
/** The documented bound on a percentile's relative error (before rounding to whole ms). */
export const PERCENTILE_RELATIVE_ERROR = 2 ** (1 / (2 * PER_DOUBLING)) - 1;

/** Which histogram bucket a latency (ms) falls in. */
export function latencyBucket(ms: number): number {
  if (!(ms >= 1)) return 0;
  return Math.min(LATENCY_OVERFLOW, 1 + Math.floor(PER_DOUBLING * Math.log2(ms)));
}

/**
 * For whole-millisecond latencies (as stored): the smallest latency of each non-empty
 * bucket after bucket 0, in order, so SQL can bucket with plain comparisons
 * (`latency_ms < from` of the next entry) exactly as {@link latencyBucket} does.
 */
export const LATENCY_BUCKET_STARTS: readonly { from: number; bucket: number }[] = (() => {
  const starts: { from: number; bucket: number }[] = [];
  let last = 0;
  for (let ms = 1; ms <= 2 ** TOP_EXPONENT; ms++) {
    const b = latencyBucket(ms);
    if (b !== last) starts.push({ from: ms, bucket: b });
    last = b;
  }
  return starts;
})();

/** The value reported for a percentile that falls in each bucket. */
const ESTIMATE: readonly number[] = (() => {
  const out = [0];
  for (let k = 1; k < LATENCY_OVERFLOW; k++) {
    const lowest = Math.ceil(2 ** ((k - 1) / PER_DOUBLING));
    const highest = Math.ceil(2 ** (k / PER_DOUBLING)) - 1;
    out.push(highest < lowest ? lowest : Math.round(Math.sqrt(lowest * highest)));
  }
  out.push(2 ** TOP_EXPONENT);
  return out;
})();

/** Nearest-rank percentile (0 < p ≤ 1) of a histogram; null when it is empty. */
export function histogramPercentile(hist: ArrayLike<number>, p: number): number | null {
  let n = 0;
  for (let k = 0; k < hist.length; k++) n += hist[k] as number;
  if (n === 0) return null;
  const rank = Math.max(1, Math.ceil(p * n));
  let seen = 0;
  for (let k = 0; k < hist.length; k++) {
    seen += hist[k] as number;
    if (seen >= rank) return ESTIMATE[k] as number;
  }
  return ESTIMATE[hist.length - 1] as number;
}

/** A ring of `slots` buckets, each `width` ms wide, each with ok / failed counts and a histogram. */
class Ring {
  /** Which absolute bucket (time / width) each slot holds; -Infinity: none yet. */
  private readonly holds: Float64Array;
  private readonly ok: Uint32Array;
  private readonly failed: Uint32Array;
  private readonly hist: Uint32Array;

  constructor(
    readonly slots: number,
    readonly width: number,
  ) {
    this.holds = new Float64Array(slots).fill(-Infinity);
    this.ok = new Uint32Array(slots);
    this.failed = new Uint32Array(slots);
    this.hist = new Uint32Array(slots * LATENCY_BUCKETS);
  }

  add(atMs: number, ok: boolean, latencyBucketIndex: number | null, count: number): void {
    const bucket = Math.floor(atMs / this.width);
    const slot = ((bucket % this.slots) + this.slots) % this.slots;
    const held = this.holds[slot] as number;
    // The slot already holds a later bucket: this one is a full ring older, out of every window.
    if (held > bucket) return;
    if (held < bucket) {
      this.holds[slot] = bucket;
      this.ok[slot] = 0;
      this.failed[slot] = 0;
      this.hist.fill(0, slot * LATENCY_BUCKETS, (slot + 1) * LATENCY_BUCKETS);
    }
    if (ok) this.ok[slot] = (this.ok[slot] as number) + count;
    else this.failed[slot] = (this.failed[slot] as number) + count;
    if (latencyBucketIndex !== null) {
      const i = slot * LATENCY_BUCKETS + latencyBucketIndex;
      this.hist[i] = (this.hist[i] as number) + count;
    }
  }

  /** The window ending with the bucket that holds `nowMs`: totals, percentiles and the series. */
  read(nowMs: number): { window: HealthWindow; series: HealthSeries } {
    const newest = Math.floor(nowMs / this.width);
    const first = newest - this.slots + 1;
    const merged = new Uint32Array(LATENCY_BUCKETS);
    const series: HealthSeries = { start: new Date(first * this.width).toISOString(), bucketMs: this.width, ok: [], failed: [], p95Ms: [] };
    let ok = 0;
    let failed = 0;
    for (let bucket = first; bucket <= newest; bucket++) {
      const slot = ((bucket % this.slots) + this.slots) % this.slots;
      if (this.holds[slot] !== bucket) {
        series.ok.push(0);
        series.failed.push(0);
        series.p95Ms.push(null);
        continue;
      }
      const hist = this.hist.subarray(slot * LATENCY_BUCKETS, (slot + 1) * LATENCY_BUCKETS);
      for (let k = 0; k < LATENCY_BUCKETS; k++) merged[k] = (merged[k] as number) + (hist[k] as number);
      const o = this.ok[slot] as number;
      const f = this.failed[slot] as number;
      ok += o;
      failed += f;
      series.ok.push(o);
      series.failed.push(f);
      series.p95Ms.push(histogramPercentile(hist, 0.95));
    }
    const total = ok + failed;
    return {
      window: {
        total,
        ok,
        failed,
        successRate: total === 0 ? null : ok / total,
        p50Ms: histogramPercentile(merged, 0.5),
        p95Ms: histogramPercentile(merged, 0.95),
      },
      series,
    };
  }
}

class Tracker {
  readonly minutes = new Ring(HOUR_BUCKETS, MINUTE_MS);
  readonly hours = new Ring(DAY_BUCKETS, HOUR_MS);

  add(atMs: number, ok: boolean, latencyBucketIndex: number | null, count: number): void {
    this.minutes.add(atMs, ok, latencyBucketIndex, count);
    this.hours.add(atMs, ok, latencyBucketIndex, count);
  }
}

/** One aggregated row of the seed: `count` deliveries of a subscription that ended in the same minute alike. */
interface HealthSeedRow {
  subscriptionId: string;
  /** Epoch ms within the minute they ended. */
  atMs: number;
  ok: boolean;
  /** Histogram bucket of their latency; null: no latency (no attempt reached the receiver). */
  latencyBucket: number | null;
  count: number;
}

/** Earliest end time any window can still show at `nowMs`: the seed reads from here. */
export function healthWindowStart(nowMs: number): number {
  return (Math.floor(nowMs / HOUR_MS) - DAY_BUCKETS + 1) * HOUR_MS;
}

/** What the seed reads at `nowMs`: from the day window's start, by minute from the hour window's. */
export function healthSeedWindow(nowMs: number): { since: string; minutesFrom: string } {
  const minutesFrom = (Math.floor(nowMs / MINUTE_MS) - HOUR_BUCKETS + 1) * MINUTE_MS;
  return { since: new Date(healthWindowStart(nowMs)).toISOString(), minutesFrom: new Date(minutesFrom).toISOString() };
}

export class SubscriptionHealthTracker {
  private readonly trackers = new Map<string, Tracker>();

  /** Fold in what the store says ended in the last day (at start). */
  seed(rows: Iterable<HealthSeedRow>): void {
    for (const row of rows) this.tracker(row.subscriptionId).add(row.atMs, row.ok, row.latencyBucket, row.count);
  }

  /**
   * A delivery ended (the engine's one call, beside the breaker): `ok` delivered, else
   * dead or blocked; `latencyMs` of its last attempt, null when none reached the receiver.
   */
  record(subscriptionId: string, atMs: number, ok: boolean, latencyMs: number | null): void {
    this.tracker(subscriptionId).add(atMs, ok, latencyMs === null ? null : latencyBucket(latencyMs), 1);
  }

  /**
   * The figures of each subscription named, in that order (empty ones for a subscription
   * with nothing recorded). Subscriptions not named are forgotten: they were deleted.
   */
  report(subscriptionIds: readonly string[], nowMs: number): HealthReport {
    const named = new Set(subscriptionIds);
    for (const id of this.trackers.keys()) if (!named.has(id)) this.trackers.delete(id);
    const subscriptions: SubscriptionHealth[] = subscriptionIds.map((subscriptionId) => {
      const tracker = this.trackers.get(subscriptionId) ?? EMPTY;
      const hour = tracker.minutes.read(nowMs);
      const day = tracker.hours.read(nowMs);
      return { subscriptionId, hour: hour.window, day: day.window, minutes: hour.series, hours: day.series };
    });
    return { at: new Date(nowMs).toISOString(), subscriptions };
  }

  private tracker(id: string): Tracker {
    let t = this.trackers.get(id);
    if (!t) this.trackers.set(id, (t = new Tracker()));
    return t;
  }
}

const EMPTY = new Tracker();
