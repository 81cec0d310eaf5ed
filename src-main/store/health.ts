/**
 * The one query that seeds subscription health at start (engine/health): deliveries
 * that ended since a time, aggregated by subscription, ok / failed, latency bucket and
 * time: by minute where the minute buckets still show them, by hour before, so a day of
 * traffic comes back as at most (60 + 24) × 2 × 70 rows per subscription.
 *
 * There is no index on `updated_at` (every one would cost the delivery hot path), so the
 * query reads every finished row once and sorts them for the GROUP BY: about a second
 * per million finished rows, once, before the engine starts delivering. Retention
 * (`retentionMaxRows`, 1,000,000 by default) bounds it.
 */
import { sql } from 'kysely';
import { PAUSED, TRIPPED } from '../delivery/cancellation';
import type { Store } from './database';

/** What the engine's health tracker counts (engine/health), row by row. */
interface HealthAggregate {
  subscriptionId: string;
  /** Epoch ms of the start of the minute (or, before `minutesFrom`, the hour) they ended in. */
  atMs: number;
  ok: boolean;
  /** Null: no latency (no attempt reached the receiver). */
  latencyBucket: number | null;
  count: number;
}

/**
 * Counted as the live tracker counts: ended delivered (ok), or ended dead / blocked by
 * the receiver's answers or the SSRF guard (failed). Ended by a pause or a trip is not
 * counted: the engine marks those with its cancellation reason as the error. A dead
 * delivery replayed since is `replayed` now, stamped with the replay's time: it counts
 * as a failure then. Latency is bucketed in SQL with `bucketStarts` (the smallest whole
 * millisecond of each bucket after 0, ascending), the same buckets as in memory.
 */
export function finishedSince(
  store: Store,
  window: { since: string; minutesFrom: string },
  bucketStarts: readonly { from: number; bucket: number }[],
): HealthAggregate[] {
  const steps = [...bucketStarts].reverse().map((s) => `WHEN latency_ms >= ${Math.trunc(s.from)} THEN ${Math.trunc(s.bucket)}`);
  const bucket = sql.raw(`CASE WHEN latency_ms IS NULL OR attempts = 0 OR outcome = 'blocked' THEN -1 ${steps.join(' ')} ELSE 0 END`);
  const rows = store.all(
    store.kysely
      .selectFrom('deliveries')
      .select([
        'subscription_id',
        sql<string>`CASE WHEN updated_at >= ${window.minutesFrom} THEN substr(updated_at, 1, 16) ELSE substr(updated_at, 1, 13) END`.as('minute'),
        sql<number>`outcome = 'delivered'`.as('ok'),
        sql<number>`${bucket}`.as('bucket'),
        (eb) => eb.fn.countAll<number>().as('n'),
      ])
      .where('outcome', 'in', ['delivered', 'dead', 'blocked', 'replayed'])
      .where('updated_at', '>=', window.since)
      .where('subscription_id', 'is not', null)
      .where((eb) =>
        eb.or([
          eb('outcome', '=', 'delivered'),
          eb('error', 'is', null),
          eb.and([eb('error', 'not like', `${PAUSED.reason}%`), eb('error', 'not like', `${TRIPPED.reason}%`)]),
        ]),
      )
      .groupBy(['subscription_id', 'minute', 'ok', 'bucket']),
  );
  return rows.map((r) => ({
    subscriptionId: r.subscription_id as string,
    atMs: Date.parse(r.minute.length === 13 ? `${r.minute}:00:00.000Z` : `${r.minute}:00.000Z`),
    ok: r.ok === 1,
    latencyBucket: r.bucket < 0 ? null : r.bucket,
    count: r.n,
  }));
}
