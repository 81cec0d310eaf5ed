/**
 * Retention: keeps the database bounded without ever losing work that is not finished.
 *
 * What is guaranteed:
 * - Only finished deliveries are deleted (`FINISHED_OUTCOMES`: delivered, test, rejected,
 *   replayed, discarded, failed). Pending, retrying and held deliveries (work not done)
 *   and dead and blocked ones (dead letters, kept for replay) are never deleted, whatever
 *   their age, and neither is any event one of them refers to.
 * - An event is deleted only when no delivery refers to it any more; every DELETE states
 *   its whole condition (outcome, age, `NOT EXISTS`), so a row another connection changed
 *   after it was read is not deleted by mistake.
 * - One `pruneFinished` call deletes at most `batchSize` deliveries and at most
 *   `batchSize` events and reads a bounded part of the tables (~30 ms at the default
 *   batch), so a caller can run it in slices until `more` is false, yielding between
 *   calls so that each slice commits on its own.
 *
 * Deletes join the store's group transaction (`store.run`), without a transaction of
 * their own: none is needed for safety. Deliveries go before their events; should the two
 * land in different commits and the process stop in between, the worst case is an event
 * no delivery refers to, which a later call removes.
 */
import { sql, type SqlBool } from 'kysely';
import type { Outcome } from '../contract/views';
import type { Store } from './database';
import { unindexEvents } from './search';

/** Ended for good: these may be pruned. */
export const FINISHED_OUTCOMES = ['delivered', 'test', 'rejected', 'replayed', 'discarded', 'failed'] as const satisfies readonly Outcome[];
/** Work not done (pending, retrying, held) and dead letters (dead, blocked): never pruned. */
export const KEPT_OUTCOMES = ['pending', 'retrying', 'held', 'dead', 'blocked'] as const satisfies readonly Outcome[];

/** Fails to compile when an outcome is added to the contract without being classified here. */
type AssertNever<T extends never> = T;
export type UnclassifiedOutcome = AssertNever<Exclude<Outcome, (typeof FINISHED_OUTCOMES)[number] | (typeof KEPT_OUTCOMES)[number]>>;

interface RetentionPolicy {
  /** Finished deliveries last updated longer ago than this are pruned. */
  retentionDays: number;
  /** At most this many finished deliveries are kept; the oldest (by id) beyond it go. */
  retentionMaxRows: number;
}

export interface PruneResult {
  /** Deliveries deleted by this call. */
  deleted: number;
  /** Events deleted by this call (no delivery referred to them any more). */
  eventsDeleted: number;
  /**
   * Call again: finished deliveries or unreferenced events remain beyond this batch, or
   * the sweep for unreferenced events has not finished its pass over the events.
   */
  more: boolean;
}

const DEFAULT_PRUNE_BATCH = 5000;
const DEFAULT_RECLAIM_PAGES = 2000;
/** The sweep for unreferenced events looks at `batchSize` times this many events per call. */
const SWEEP_WINDOW_PER_BATCH = 5;
const DAY_MS = 86_400_000;

/** Where the sweep for unreferenced events stopped (in events_by_received_at order), per store. */
const sweepCursors = new WeakMap<Store, { receivedAt: string; seq: number }>();

/**
 * Delete one slice of finished deliveries (first those not updated for
 * `retentionDays`, then the oldest beyond `retentionMaxRows`), then the events no
 * delivery refers to any more. Call again while `more` is true.
 */
export function pruneFinished(
  store: Store,
  policy: RetentionPolicy,
  nowMs: number,
  batchSize = DEFAULT_PRUNE_BATCH,
): PruneResult {
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a positive integer, not ${batchSize}`);
  if (!(policy.retentionDays >= 0)) throw new RangeError(`retentionDays must be >= 0, not ${policy.retentionDays}`);
  if (!(policy.retentionMaxRows >= 0)) throw new RangeError(`retentionMaxRows must be >= 0, not ${policy.retentionMaxRows}`);

  const eventSeqs = new Set<number>();
  let budget = batchSize;
  let deleted = 0;
  let deliveriesMore = false;

  // 1. By age. There is no index on updated_at; the (outcome, id) index walks each
  // finished outcome in id order, bounded by the last delivery created before the cutoff
  // (updated_at >= created_at, so nothing after it can be old enough).
  if (Number.isFinite(policy.retentionDays)) {
    const cutoff = new Date(nowMs - policy.retentionDays * DAY_MS).toISOString();
    const bound = lastCreatedBefore(store, cutoff);
    if (bound !== null) {
      for (const outcome of FINISHED_OUTCOMES) {
        const aged = store.kysely
          .selectFrom('deliveries')
          .where('outcome', '=', outcome)
          .where('id', '<=', bound)
          .where('updated_at', '<', cutoff);
        // One row beyond the budget tells whether more remain (a probe once it is spent).
        const rows = store.all(aged.select(['id', 'event_seq']).orderBy('id').limit(budget + 1));
        const take = rows.slice(0, budget);
        if (rows.length > take.length) deliveriesMore = true;
        const last = take[take.length - 1];
        if (last) {
          for (const r of take) if (r.event_seq !== null) eventSeqs.add(r.event_seq);
          const n = Number(
            store.run(
              store.kysely
                .deleteFrom('deliveries')
                .where('outcome', '=', outcome)
                .where('id', '<=', last.id)
                .where('updated_at', '<', cutoff),
            ).changes,
          );
          deleted += n;
          budget -= n;
        }
        if (deliveriesMore) break;
      }
    }
  }

  // 2. By count: the oldest finished deliveries beyond retentionMaxRows.
  if (!deliveriesMore && Number.isFinite(policy.retentionMaxRows)) {
    const excess = countFinished(store) - policy.retentionMaxRows;
    if (excess > 0) {
      const k = Math.min(excess, budget);
      if (excess > k) deliveriesMore = true;
      if (k > 0) {
        const threshold = kthSmallestFinishedId(store, k);
        const oldest = store.kysely.deleteFrom('deliveries').where('outcome', 'in', FINISHED_OUTCOMES).where('id', '<=', threshold);
        const seqs = store.all(
          store.kysely
            .selectFrom('deliveries')
            .select('event_seq')
            .where('outcome', 'in', FINISHED_OUTCOMES)
            .where('id', '<=', threshold)
            .where('event_seq', 'is not', null),
        );
        for (const r of seqs) eventSeqs.add(r.event_seq as number);
        const n = Number(store.run(oldest).changes);
        deleted += n;
        budget -= n;
      }
    }
  }

  // 3. Events no delivery refers to any more: first those of the deliveries just deleted
  // (never more of them than deliveries, so within the batch); then, once no deliveries
  // remain to prune, any other (left by a crash between two commits, or recorded with no
  // delivery) found by a sweep that looks at a window of events per call.
  let eventBudget = batchSize;
  let eventsDeleted = 0;
  let eventsMore = false;
  if (eventSeqs.size > 0) {
    const n = deleteUnreferencedEvents(store, [...eventSeqs]);
    eventsDeleted += n;
    eventBudget -= n;
  }
  if (!deliveriesMore) {
    const swept = sweepUnreferencedEvents(store, eventBudget, batchSize * SWEEP_WINDOW_PER_BATCH);
    eventsDeleted += swept.deleted;
    eventsMore = swept.more;
  }

  return { deleted, eventsDeleted, more: deliveriesMore || eventsMore };
}

/**
 * Give free pages back to the file system: `PRAGMA incremental_vacuum(maxPages)` (the
 * store is created with auto_vacuum = INCREMENTAL). Returns the pages released. The
 * group transaction is committed first: the vacuum must run on its own. In WAL mode the
 * file itself shrinks at the next checkpoint.
 */
export function reclaimSpace(store: Store, maxPages = DEFAULT_RECLAIM_PAGES): number {
  // incremental_vacuum(0) or a negative count would release every free page at once.
  if (!Number.isSafeInteger(maxPages) || maxPages < 1) throw new RangeError(`maxPages must be a positive integer, not ${maxPages}`);
  store.commit();
  const before = freePages(store);
  if (before === 0) return 0;
  store.sqlite.pragma(`incremental_vacuum(${maxPages})`);
  return before - freePages(store);
}

/** Free pages in the file (what `reclaimSpace` could release). */
export function freePages(store: Store): number {
  return store.sqlite.pragma('freelist_count', { simple: true }) as number;
}

/**
 * Look at up to `window` events after where the previous call stopped, in the covering
 * index events_by_received_at (a full NOT EXISTS scan costs ~0.4 s per million events),
 * and delete up to `budget` that no delivery refers to. `more` until a pass is complete.
 */
function sweepUnreferencedEvents(store: Store, budget: number, window: number): { deleted: number; more: boolean } {
  const scan = store.kysely
    .selectFrom('events')
    .select('seq')
    .select(({ not, exists, selectFrom }) =>
      not(exists(selectFrom('deliveries').select('deliveries.id').whereRef('deliveries.event_seq', '=', 'events.seq'))).as('unreferenced'),
    )
    .orderBy('received_at')
    .orderBy('seq');
  const cursor = sweepCursors.get(store);
  let rows: { seq: number; unreferenced: SqlBool }[];
  if (!cursor) rows = store.all(scan.limit(window));
  else {
    // Two seeks, not one OR: SQLite seeks (received_at = ? AND seq > ?) in the index, but
    // would read every row of a tied received_at for (received_at, seq) > (?, ?).
    rows = store.all(scan.where('received_at', '=', cursor.receivedAt).where('seq', '>', cursor.seq).limit(window));
    if (rows.length < window) rows = rows.concat(store.all(scan.where('received_at', '>', cursor.receivedAt).limit(window - rows.length)));
  }
  const seqs: number[] = [];
  // Rows before `stop` are dealt with; the sweep resumes after the last of them.
  let stop = rows.length;
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i] as (typeof rows)[number];
    if (!row.unreferenced) continue;
    if (seqs.length === budget) {
      stop = i;
      break;
    }
    seqs.push(row.seq);
  }
  const more = stop < rows.length || rows.length === window;
  // Where to resume, read before the delete (that row may be one of those deleted).
  const resumeSeq = rows[stop - 1]?.seq;
  const resumeAt =
    more && resumeSeq !== undefined
      ? store.first(store.kysely.selectFrom('events').select('received_at').where('seq', '=', resumeSeq))?.received_at
      : undefined;
  const deleted = seqs.length > 0 ? deleteUnreferencedEvents(store, seqs) : 0;
  if (!more) sweepCursors.delete(store);
  else if (resumeSeq !== undefined && resumeAt !== undefined) sweepCursors.set(store, { receivedAt: resumeAt, seq: resumeSeq });
  return { deleted, more };
}

/**
 * Finished deliveries: all of them minus the kept ones. A count over the whole table is
 * answered from b-tree pages (~1 ms per million rows), where counting six outcomes in
 * the (outcome, id) index would visit every finished entry (~50 ms per million).
 */
function countFinished(store: Store): number {
  const all = store.first(store.kysely.selectFrom('deliveries').select((eb) => eb.fn.countAll<number>().as('n')))?.n ?? 0;
  const kept =
    store.first(
      store.kysely
        .selectFrom('deliveries')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('outcome', 'in', KEPT_OUTCOMES),
    )?.n ?? 0;
  return all - kept;
}

/** Delete those of `seqs` that no delivery refers to; one statement whatever their number. */
function deleteUnreferencedEvents(store: Store, seqs: number[]): number {
  // Their text index entries first (same condition, same transaction): FTS5 needs the old bodies.
  unindexEvents(store, JSON.stringify(seqs));
  return Number(
    store.run(
      store.kysely
        .deleteFrom('events')
        .where(sql<SqlBool>`seq in (select value from json_each(${JSON.stringify(seqs)}))`)
        .where(({ not, exists, selectFrom }) =>
          not(exists(selectFrom('deliveries').select('deliveries.id').whereRef('deliveries.event_seq', '=', 'events.seq'))),
        ),
    ).changes,
  );
}

/**
 * The id of the last delivery created before `cutoffIso`, or null when none was:
 * a binary search over ids (primary-key seeks only), since ids and created_at grow
 * together. Should the clock ever have stepped back, rows out of order may wait for a
 * later run (the row cap still applies to them); a row that is not old enough is never
 * pruned, since every delete checks updated_at itself.
 */
export function lastCreatedBefore(store: Store, cutoffIso: string): number | null {
  const base = store.kysely.selectFrom('deliveries').select(['id', 'created_at']);
  const first = store.first(base.orderBy('id', 'asc').limit(1));
  if (!first || first.created_at >= cutoffIso) return null;
  const last = store.first(base.orderBy('id', 'desc').limit(1));
  if (!last || last.created_at < cutoffIso) return last?.id ?? first.id;
  // lo: a row created before the cutoff. hi: the first row at or after it was not.
  let lo = first.id;
  let hi = last.id;
  while (hi - lo > 1) {
    const mid = lo + Math.floor((hi - lo) / 2);
    const row = store.first(base.where('id', '>=', mid).orderBy('id', 'asc').limit(1));
    if (row && row.id < hi && row.created_at < cutoffIso) lo = row.id;
    else hi = mid;
  }
  return lo;
}

/**
 * The k-th smallest id among finished deliveries (k >= 1, and at least k exist): the
 * first k of each outcome in the (outcome, id) index, merged. A single ORDER BY id over
 * `outcome IN (...)` would sort every finished row instead.
 */
function kthSmallestFinishedId(store: Store, k: number): number {
  const ids: number[] = [];
  for (const outcome of FINISHED_OUTCOMES) {
    const rows = store.all(store.kysely.selectFrom('deliveries').select('id').where('outcome', '=', outcome).orderBy('id').limit(k));
    for (const r of rows) ids.push(r.id);
  }
  ids.sort((a, b) => a - b);
  const id = ids[k - 1];
  if (id === undefined) throw new Error(`fewer than ${k} finished deliveries`);
  return id;
}
