/**
 * The outbox: the deliveries table as the source of truth for work not yet done. A
 * delivery is committed before its first attempt; a waiting retry keeps its due time
 * here, not in memory; what a crash interrupted is found again at the next start.
 *
 *   pending ──attempt──▶ delivered
 *      │  ▲                 
 *      ▼  │ due              
 *   retrying ──exhausted──▶ dead ──replay──▶ replayed (+ a new pending delivery)
 *   held (subscription tripped or paused) ──re-enable──▶ pending | discarded
 */
import { sql } from 'kysely';
import type { AttemptRecord, DeliveryView, Outcome } from '../contract/views';
import { toDeliveryView } from './deliveries';
import { matchesPattern } from '../match/pattern';
import type { Store } from './database';
import type { BacklogCounts } from './subscriptions';

/** A delivery taken from the store to be attempted. */
export interface ClaimedDelivery {
  id: number;
  subscriptionId: string;
  eventId: string;
  topic: string;
  body: string;
  attempts: number;
  attemptLog: AttemptRecord[];
  /** Its log view as claimed (the console shows its progress without reading it back). */
  view: DeliveryView;
}

const WAITING: Outcome[] = ['pending', 'retrying'];
/** Ended failed, kept for replay. */
export const DEAD_LETTERS: Outcome[] = ['dead', 'blocked'];

/**
 * A claimed delivery (next_attempt_at NULL) that is still pending or retrying was being
 * worked on when the process stopped: due again now. A duplicate is possible only for an
 * attempt that was on the wire; receivers de-duplicate on the event id. In a running
 * engine (after writes were lost to a failed commit) `inMemory` lists the deliveries it
 * is still working on, which stay claimed.
 */
export function recoverInterrupted(store: Store, nowMs: number, inMemory: readonly number[] = []): number {
  return Number(
    store.run(
      store.kysely
        .updateTable('deliveries')
        .set({ next_attempt_at: nowMs })
        .where('outcome', 'in', WAITING)
        .where('next_attempt_at', 'is', null)
        .where('subscription_id', 'is not', null)
        .$if(inMemory.length > 0, (q) => q.where('id', 'not in', [...inMemory])),
    ).changes,
  );
}

/**
 * Take up to `limit` due deliveries, oldest due first, marking them claimed; with
 * `rooms`, at most that many of each subscription (and none of one not in it).
 */
export function claimDue(store: Store, nowMs: number, limit: number, rooms?: ReadonlyMap<string, number>): ClaimedDelivery[] {
  if (limit <= 0) return [];
  return store.transaction(() => {
    const select = () =>
      store.kysely
        .selectFrom('deliveries')
        .innerJoin('events', 'events.seq', 'deliveries.event_seq')
        .select([
          'deliveries.id',
          'deliveries.created_at',
          'deliveries.updated_at',
          'deliveries.subscription_id',
          'deliveries.subscription_name',
          'deliveries.event_id',
          'deliveries.topic',
          'deliveries.outcome',
          'deliveries.status_code',
          'deliveries.attempts',
          'deliveries.latency_ms',
          'deliveries.error',
          'deliveries.is_replay',
          'deliveries.replay_of',
          'deliveries.attempt_log',
          'deliveries.next_attempt_at',
          'events.body',
        ])
        .where('deliveries.next_attempt_at', 'is not', null)
        .where('deliveries.next_attempt_at', '<=', nowMs);
    const claim = (ids: readonly number[]): void => {
      if (ids.length > 0) store.run(store.kysely.updateTable('deliveries').set({ next_attempt_at: null }).where('id', 'in', [...ids]));
    };
    let rows;
    if (rooms === undefined) {
      rows = store.all(select().orderBy('deliveries.next_attempt_at').orderBy('deliveries.id').limit(limit));
      claim(rows.map((r) => r.id));
    } else {
      // Each subscription up to its own room (an index seek each): one subscription's
      // backlog cannot fill memory ahead of the others' new work. The limit is shared out
      // first (so 50 subscriptions with due work are not each read for the whole limit),
      // then what is left goes to those that had more than their share.
      rows = [];
      const taken = new Map<string, number>();
      let candidates = [...rooms].filter(([, room]) => room > 0).map(([id]) => id);
      for (let round = 0; round < 2 && rows.length < limit && candidates.length > 0; round++) {
        const share = Math.ceil((limit - rows.length) / candidates.length);
        const more: string[] = [];
        for (const id of candidates) {
          const want = Math.min((rooms.get(id) as number) - (taken.get(id) ?? 0), share, limit - rows.length);
          if (want <= 0) continue;
          const got = store.all(
            select().where('deliveries.subscription_id', '=', id).orderBy('deliveries.next_attempt_at').orderBy('deliveries.id').limit(want),
          );
          claim(got.map((r) => r.id));
          rows.push(...got);
          taken.set(id, (taken.get(id) ?? 0) + got.length);
          if (got.length === want && want === share) more.push(id);
        }
        candidates = more;
      }
      rows.sort((a, b) => (a.next_attempt_at as number) - (b.next_attempt_at as number) || a.id - b.id);
    }
    return rows.map((r) => ({
      id: r.id,
      subscriptionId: r.subscription_id as string,
      eventId: r.event_id as string,
      topic: r.topic,
      body: r.body,
      attempts: r.attempts,
      attemptLog: r.attempt_log ? (JSON.parse(r.attempt_log) as AttemptRecord[]) : [],
      view: toDeliveryView(r),
    }));
  });
}

/** When the next unclaimed delivery is due (epoch ms), or null when none waits; with `subscriptionIds`, of those only. */
export function nextDueAt(store: Store, subscriptionIds?: readonly string[]): number | null {
  if (subscriptionIds !== undefined && subscriptionIds.length === 0) return null;
  const row = store.first(
    store.kysely
      .selectFrom('deliveries')
      .select((eb) => eb.fn.min<number>('next_attempt_at').as('due'))
      .where('next_attempt_at', 'is not', null)
      .$if(subscriptionIds !== undefined, (q) => q.where('subscription_id', 'in', subscriptionIds as string[])),
  );
  return row?.due ?? null;
}

/**
 * End the waiting work of a subscription that stopped: deliveries never attempted become
 * `untried` (held when it tripped or was paused), retries become `retried` (dead when it
 * tripped, held when paused), and for a deleted subscription everything, held events
 * included, becomes failed. Claimed ones (in this process) are the dispatcher's to end.
 * Returns the ids that changed.
 */
export function endWaiting(
  store: Store,
  subscriptionId: string,
  untried: Extract<Outcome, 'held' | 'failed'>,
  retried: Extract<Outcome, 'dead' | 'held' | 'failed'>,
  reason: string,
  at: string,
): number[] {
  const ofSubscription = store.kysely.updateTable('deliveries').where('subscription_id', '=', subscriptionId);
  const base = ofSubscription.where('next_attempt_at', 'is not', null);
  // A held delivery keeps its last error (shown until it is sent again); an ended one says why it ended.
  const untriedIds = store.writeReturning(
    base
      .set({ outcome: untried, next_attempt_at: null, updated_at: at, error: untried === 'held' ? null : reason })
      .where('outcome', '=', 'pending')
      .returning('id'),
  );
  const retriedIds = store.writeReturning(
    base
      .set({
        outcome: retried,
        next_attempt_at: null,
        updated_at: at,
        ...(retried === 'held' ? {} : { error: sql<string>`${reason} || coalesce(' (last attempt: ' || error || ')', '')` }),
      })
      .where('outcome', '=', 'retrying')
      .returning('id'),
  );
  // Deleted: what it held has nowhere to go either.
  const heldIds =
    untried === 'held'
      ? []
      : store.writeReturning(ofSubscription.set({ outcome: untried, updated_at: at, error: reason }).where('outcome', '=', 'held').returning('id'));
  return [...untriedIds, ...retriedIds, ...heldIds].map((r) => r.id);
}

/**
 * Held events: delivered (queued now) or let go, when the analyst re-enables — at most
 * `limit` of them, oldest first (the engine releases a large backlog in slices). Returns
 * their ids.
 */
export function releaseHeld(
  store: Store,
  subscriptionId: string,
  action: 'deliver' | 'discard',
  nowMs: number,
  limit = Number.MAX_SAFE_INTEGER,
): number[] {
  const at = new Date(nowMs).toISOString();
  const set =
    action === 'deliver'
      ? { outcome: 'pending', next_attempt_at: nowMs, updated_at: at }
      : { outcome: 'discarded', updated_at: at, error: 'discarded by the analyst on re-enable' };
  return store
    .writeReturning(
      store.kysely
        .updateTable('deliveries')
        .set(set)
        .where('id', 'in', oldestHeld(store, subscriptionId, limit))
        .returning('id'),
    )
    .map((r) => r.id);
}

/** The ids of a subscription's `limit` oldest held events (a subquery). */
function oldestHeld(store: Store, subscriptionId: string, limit: number) {
  return store.kysely
    .selectFrom('deliveries')
    .select('id')
    .where('subscription_id', '=', subscriptionId)
    .where('outcome', '=', 'held')
    .orderBy('id')
    .limit(limit);
}

/**
 * Keep held events within their bounds: at most `maxCount` per subscription (the oldest
 * go first) and none older than `maxAgeMs`. What goes is recorded as discarded.
 */
export function enforceHeldBounds(store: Store, subscriptionId: string | null, maxCount: number, cutoffIso: string, at: string): number {
  let changed = Number(
    store.run(
      store.kysely
        .updateTable('deliveries')
        .set({ outcome: 'discarded', updated_at: at, error: 'held longer than the held-events age limit' })
        .where('outcome', '=', 'held')
        .where('created_at', '<', cutoffIso)
        .$if(subscriptionId !== null, (q) => q.where('subscription_id', '=', subscriptionId as string)),
    ).changes,
  );
  const counts = backlogCounts(store, subscriptionId === null ? undefined : [subscriptionId]);
  for (const [id, c] of counts) {
    const excess = c.held - maxCount;
    if (excess <= 0) continue;
    changed += Number(
      store.run(
        store.kysely
          .updateTable('deliveries')
          .set({ outcome: 'discarded', updated_at: at, error: 'held-events limit reached; the oldest were discarded' })
          .where('id', 'in', oldestHeld(store, id, excess)),
      ).changes,
    );
  }
  return changed;
}

const BACKLOG_OUTCOMES = [...DEAD_LETTERS, 'held'];
// One seek per subscription on its (subscription_id, outcome) index: a GROUP BY over all
// subscriptions walks every dead or held row through a temporary b-tree instead, ~40 ms
// at 100,000 held events (this is ~5 ms), and the console asks several times a second.
const BACKLOG_OF_SUBSCRIPTION = `select "outcome", count(*) as "n" from "deliveries" where "subscription_id" = ? and "outcome" in (${BACKLOG_OUTCOMES.map((o) => `'${o}'`).join(', ')}) group by "outcome"`;
// The first row of the same index range: ids grow with time, so the lowest is the oldest.
const OLDEST_HELD = `select "created_at" from "deliveries" where "subscription_id" = ? and "outcome" = 'held' order by "id" limit 1`;

/** Dead letters and held events (and since when) of each subscription asked for (all of them by default). */
export function backlogCounts(store: Store, subscriptionIds?: readonly string[]): Map<string, BacklogCounts> {
  const ids = subscriptionIds ?? store.all(store.kysely.selectFrom('subscriptions').select('id')).map((row) => row.id);
  const out = new Map<string, BacklogCounts>();
  for (const id of ids) {
    const rows = store.allSql<{ outcome: string; n: number }>(BACKLOG_OF_SUBSCRIPTION, [id]);
    if (rows.length === 0) continue;
    const c: BacklogCounts = { dead: 0, held: 0, heldSince: null };
    for (const row of rows) {
      if (row.outcome === 'held') c.held += row.n;
      else c.dead += row.n;
    }
    if (c.held > 0) c.heldSince = store.allSql<{ created_at: string }>(OLDEST_HELD, [id])[0]?.created_at ?? null;
    out.set(id, c);
  }
  return out;
}

/**
 * A paced subscription's rate changed: its deliveries parked for a later slot are due now,
 * to be paced again at the new rate. Only pacing parks a delivery never attempted in the
 * future (everything else queues one due at once); retries keep their own waits.
 */
export function unparkPaced(store: Store, subscriptionId: string, nowMs: number): number {
  return Number(
    store.run(
      store.kysely
        .updateTable('deliveries')
        .set({ next_attempt_at: nowMs })
        .where('subscription_id', '=', subscriptionId)
        .where('outcome', '=', 'pending')
        .where('next_attempt_at', '>', nowMs),
    ).changes,
  );
}

// Counted on the (subscription_id, outcome) index alone: a few ms at 100,000 waiting.
const WAITING_OF_SUBSCRIPTION = `select count(*) as "n" from "deliveries" where "subscription_id" = ? and "outcome" in ('pending', 'retrying')`;

/** A subscription's deliveries still to be sent (due in the store, or in memory). */
export function waitingCount(store: Store, subscriptionId: string): number {
  return store.allSql<{ n: number }>(WAITING_OF_SUBSCRIPTION, [subscriptionId])[0]?.n ?? 0;
}

/** A new pending delivery that sends a stored event again (same event id); returns its id. */
function insertReplay(
  store: Store,
  event: { seq: number; eventId: string | null; topic: string },
  target: ReplayTarget,
  nowMs: number,
  replayOf: number | null,
): number {
  const at = new Date(nowMs).toISOString();
  const created = store.run(
    store.kysely.insertInto('deliveries').values({
      event_seq: event.seq,
      event_id: event.eventId,
      topic: event.topic,
      subscription_id: target.subscriptionId,
      subscription_name: target.subscriptionName,
      url: target.url,
      outcome: 'pending',
      attempts: 0,
      created_at: at,
      updated_at: at,
      next_attempt_at: nowMs,
      replay_of: replayOf,
      is_replay: 1,
    }),
  );
  return Number(created.lastInsertRowid);
}

export interface ReplayTarget {
  subscriptionId: string;
  subscriptionName: string;
  url: string;
}

/**
 * Replay dead letters (or one delivery): each gets a new pending delivery carrying the
 * same event, and the original is marked replayed so it is not sent twice by a second
 * "replay all". With `dryRun`, only counts. Returns the count and every row it changed.
 */
export function replayDeliveries(
  store: Store,
  selection: { ids?: number[]; subscriptionId?: string; since?: string; deadOnly: boolean },
  target: ReplayTarget,
  nowMs: number,
  dryRun: boolean,
): { count: number; changed: number[] } {
  const at = new Date(nowMs).toISOString();
  let q = store.kysely.selectFrom('deliveries').where('event_seq', 'is not', null);
  if (selection.ids) q = q.where('id', 'in', selection.ids.length > 0 ? selection.ids : [-1]);
  if (selection.subscriptionId) q = q.where('subscription_id', '=', selection.subscriptionId);
  if (selection.deadOnly) q = q.where('outcome', 'in', DEAD_LETTERS);
  if (selection.since) q = q.where('created_at', '>=', selection.since);
  if (dryRun) return { count: store.first(q.select((eb) => eb.fn.countAll<number>().as('n')))?.n ?? 0, changed: [] };
  return store.transaction(() => {
    const originals = store.all(q.select(['id', 'event_seq', 'event_id', 'topic', 'outcome']).orderBy('id'));
    const changed: number[] = [];
    for (const o of originals) {
      changed.push(insertReplay(store, { seq: o.event_seq as number, eventId: o.event_id, topic: o.topic }, target, nowMs, o.id));
      if ((DEAD_LETTERS as string[]).includes(o.outcome)) {
        store.run(store.kysely.updateTable('deliveries').set({ outcome: 'replayed', updated_at: at }).where('id', '=', o.id));
        changed.push(o.id);
      }
    }
    return { count: originals.length, changed };
  });
}

/** Stored events whose topic matches `pattern`, received in [from, to]: queued to `target`. */
export function replayEvents(
  store: Store,
  pattern: string,
  fromIso: string,
  toIso: string,
  target: ReplayTarget,
  nowMs: number,
  dryRun: boolean,
): number {
  const rows = store
    .all(
      store.kysely
        .selectFrom('events')
        .select(['seq', 'event_id', 'topic'])
        .where('received_at', '>=', fromIso)
        .where('received_at', '<=', toIso)
        .orderBy('seq'),
    )
    .filter((e) => matchesPattern(pattern, e.topic));
  if (dryRun) return rows.length;
  store.transaction(() => {
    for (const e of rows) insertReplay(store, { seq: e.seq, eventId: e.event_id, topic: e.topic }, target, nowMs, null);
  });
  return rows.length;
}
