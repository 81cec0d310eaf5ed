/** Display helpers for subscription health (`subscriptions.health`). */
import type { HealthSeries, HealthWindow } from '@contract/views';
import { latency } from './format';

/** What the figures count, for tooltips (the contract's HealthWindow says the same). */
export const HEALTH_DEFINITION =
  'Success rate: deliveries that ended delivered, out of all that ended (delivered, dead after their retries or a terminal answer, or blocked by the destination guard). ' +
  'Test fires and deliveries ended by a pause, a trip or a delete are not counted. ' +
  'Latency: the last attempt of each delivery that reached the receiver; p50/p95 are within about 9 % of the exact value.';

/** `99.2%`, rounded down so a single failure never shows as 100%; `—` with no data. */
export function successRate(rate: number | null): string {
  if (rate === null) return '—';
  if (rate === 1) return '100%';
  if (rate === 0) return '0%';
  return `${(Math.floor(rate * 1000) / 10).toFixed(1)}%`;
}

/** `p50 3 ms · p95 41 ms`; `—` with no data. */
export function percentiles(window: HealthWindow): string {
  if (window.p50Ms === null || window.p95Ms === null) return '—';
  return `p50 ${latency(window.p50Ms)} · p95 ${latency(window.p95Ms)}`;
}

/** `12 of 13` delivered; `—` with none. */
export function counts(window: HealthWindow): string {
  return window.total === 0 ? '—' : `${window.ok} of ${window.total}`;
}

/** The ISO start of bucket `i` of a series. */
export function bucketStart(series: HealthSeries, i: number): string {
  return new Date(Date.parse(series.start) + i * series.bucketMs).toISOString();
}
