/**
 * The operator audit trail (docs/design.md#audit-trail): one record per change an
 * operator made, append-only and chained. Each record carries `prev_hash`, the hash of
 * the record before it (the genesis, 64 zeros, for the first), and `hash`, SHA-256 over
 * its own fields and `prev_hash` (`auditHash`), so a record edited in place no longer
 * matches its hash, and a record deleted or moved leaves the next one linking to a hash
 * that is not the one before it.
 *
 * The chain's two ends are kept in `audit_chain` (one row):
 * - the head, the newest record appended: the next one links to it, and a record removed
 *   from the end shows as the head missing;
 * - the anchor, the last record retention removed: verification starts from its hash, so
 *   pruning the oldest records by age leaves the rest verifiable. Records removed from
 *   the start other than by retention leave the first remaining record not linking to
 *   the anchor.
 *
 * What the chain cannot show: someone who can write the database file can rewrite the
 * whole chain (recompute every hash, move the anchor and the head) and it verifies again.
 * It detects edits and deletions by hand or by a tool that does not know the chain; it
 * is no signature. The redaction of secrets is the caller's (engine/audit-trail.ts): what
 * comes here is stored as given.
 */
import { createHash } from 'node:crypto';
import type { AuditBreak, AuditRecordView, AuditVerification } from '../contract/views';
import type { Store } from './database';
import type { AuditTable } from './schema';

/** What the first record links to, and the anchor and head of an empty chain. */
export const GENESIS_HASH = '0'.repeat(64);
const DAY_MS = 86_400_000;

/**
 * One change, as the engine describes it: a record without its place and time (before/after:
 * JSON values, secrets already redacted; null: none; targetId: the subscription's id, when
 * the target is one).
 */
export type AuditEntry = Omit<AuditRecordView, 'seq' | 'at'>;

/** A stored record: what the console sees of it (contract/views.ts), and its place in the chain. */
export interface AuditRecord extends AuditRecordView {
  prevHash: string;
  hash: string;
}

export type { AuditBreak, AuditVerification };

type Row = Omit<AuditTable, 'hash'>;

/**
 * SHA-256 over the record's fields as stored (before/after as their JSON text) and the
 * hash it links to, serialised as one JSON array: a fixed order, no key order to agree on.
 */
export function auditHash(row: Row): string {
  const fields = [row.seq, row.at, row.actor, row.source, row.action, row.target, row.target_id, row.before, row.after, row.prev_hash];
  return createHash('sha256').update(JSON.stringify(fields)).digest('hex');
}

interface ChainEnds {
  anchorSeq: number;
  anchorHash: string;
  anchorAt: string | null;
  headSeq: number;
  headHash: string;
}

function chainEnds(store: Store): ChainEnds | null {
  const row = store.first(store.kysely.selectFrom('audit_chain').selectAll().where('id', '=', 1));
  return row
    ? { anchorSeq: row.anchor_seq, anchorHash: row.anchor_hash, anchorAt: row.anchor_at, headSeq: row.head_seq, headHash: row.head_hash }
    : null;
}

const json = (value: unknown): string | null => (value === null || value === undefined ? null : JSON.stringify(value));

/**
 * Append one record, at the end of the chain. Atomic, and inside the caller's
 * transaction when there is one (a change and its record commit together or not at
 * all); the write lock held meanwhile orders appends from every process.
 */
export function appendAudit(store: Store, entry: AuditEntry, at = new Date().toISOString()): AuditRecord {
  return store.transaction(() => {
    // Without its row (removed by hand) the chain goes on from its last record; verify says the row is gone.
    const ends = chainEnds(store);
    const last = ends ? null : store.first(store.kysely.selectFrom('audit').select(['seq', 'hash']).orderBy('seq', 'desc').limit(1));
    const row: Row = {
      seq: (ends?.headSeq ?? last?.seq ?? 0) + 1,
      at,
      actor: entry.actor,
      source: entry.source,
      action: entry.action,
      target: entry.target,
      target_id: entry.targetId,
      before: json(entry.before),
      after: json(entry.after),
      prev_hash: ends?.headHash ?? last?.hash ?? GENESIS_HASH,
    };
    const hash = auditHash(row);
    store.run(store.kysely.insertInto('audit').values({ ...row, hash }));
    store.run(
      store.kysely
        .insertInto('audit_chain')
        .values({ id: 1, anchor_seq: 0, anchor_hash: GENESIS_HASH, anchor_at: null, head_seq: row.seq, head_hash: hash })
        .onConflict((oc) => oc.column('id').doUpdateSet({ head_seq: row.seq, head_hash: hash })),
    );
    return recordOf({ ...row, hash });
  });
}

function recordOf(row: AuditTable): AuditRecord {
  return {
    seq: row.seq,
    at: row.at,
    actor: row.actor,
    source: row.source,
    action: row.action,
    target: row.target,
    targetId: row.target_id,
    before: parse(row.before),
    after: parse(row.after),
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

/** Stored JSON, or the text as it is when it is not JSON (edited by hand: verify says so). */
function parse(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

export interface AuditQuery {
  /** Records at or after this ISO-8601 UTC time. */
  since?: string;
  /** Records older than this one (by seq): paging back from the oldest one shown. */
  before?: number;
  /** At most this many, the newest. */
  limit?: number;
}

/** Records in the order they were made (oldest first). */
export function listAudit(store: Store, query: AuditQuery = {}): AuditRecord[] {
  let q = store.kysely.selectFrom('audit').selectAll();
  if (query.since !== undefined) q = q.where('at', '>=', query.since);
  if (query.before !== undefined) q = q.where('seq', '<', query.before);
  if (query.limit !== undefined) return store.all(q.orderBy('seq', 'desc').limit(query.limit)).reverse().map(recordOf);
  return store.all(q.orderBy('seq', 'asc')).map(recordOf);
}

/**
 * Walk the chain from the anchor in seq order: each record's hash recomputed, each link
 * checked against the record before it, and the last record against the head. Stops at
 * the first break. Read in one snapshot, so a record appended meanwhile is not half seen.
 */
export function verifyAudit(store: Store): AuditVerification {
  return store.sqlite
    .transaction((): AuditVerification => {
      const ends = chainEnds(store);
      const anchor = ends && ends.anchorSeq > 0 ? { seq: ends.anchorSeq, at: ends.anchorAt } : null;
      const result = (count: number, first: AuditVerification['first'], last: AuditVerification['last'], broken: AuditBreak | null): AuditVerification => ({
        intact: broken === null,
        count,
        first,
        last,
        anchor,
        broken,
      });
      const rows = store.sqlite.prepare('SELECT * FROM audit ORDER BY seq').iterate() as IterableIterator<AuditTable>;
      let count = 0;
      let first: AuditVerification['first'] = null;
      let last: AuditVerification['last'] = null;
      let prev = { seq: ends?.anchorSeq ?? 0, hash: ends?.anchorHash ?? GENESIS_HASH };
      for (const row of rows) {
        const at = { seq: row.seq, at: row.at, action: row.action };
        if (auditHash(row) !== row.hash) {
          return result(count, first, last, { ...at, reason: 'edited', message: 'its content does not match its hash: it was edited after it was written' });
        }
        if (row.prev_hash !== prev.hash) {
          const message =
            last === null
              ? anchor
                ? `it does not link to where the trail starts (after seq ${anchor.seq}, removed by retention): records before it were deleted, not by retention`
                : 'it does not link to the start of the trail: records before it were deleted'
              : `it does not link to the record before it (seq ${prev.seq}): a record between them was deleted, or records were reordered or rewritten`;
          return result(count, first, last, { ...at, reason: 'unlinked', message });
        }
        count++;
        first ??= { seq: row.seq, at: row.at };
        last = { seq: row.seq, at: row.at, hash: row.hash };
        prev = { seq: row.seq, hash: row.hash };
      }
      if (!ends)
        return result(count, first, last, {
          seq: (last?.seq ?? 0) + 1,
          at: null,
          action: null,
          reason: 'no_chain',
          message: "the chain's record of its ends (table audit_chain) is gone: the newest records cannot be checked",
        });
      if (prev.hash !== ends.headHash) {
        const missing = prev.seq + 1;
        const message =
          ends.headSeq > prev.seq
            ? `the newest records (seq ${missing}${ends.headSeq > missing ? `–${ends.headSeq}` : ''}) were deleted`
            : `the trail ends at seq ${prev.seq}, not where its head says (seq ${ends.headSeq}): records were deleted or rewritten`;
        return result(count, first, last, { seq: missing, at: null, action: null, reason: 'truncated', message });
      }
      return result(count, first, last, null);
    })
    .deferred();
}

/**
 * Retention: remove the records older than `retentionDays`, oldest first and only from the
 * start of the chain (a record older than the cutoff after a newer one, the clock having
 * stepped back, stays until the ones before it go). The last one removed becomes the
 * anchor, in the same transaction, so what remains verifies. Returns how many went.
 */
export function pruneAudit(store: Store, retentionDays: number, nowMs: number): number {
  if (!(retentionDays >= 0)) throw new RangeError(`retentionDays must be >= 0, not ${retentionDays}`);
  const cutoff = new Date(nowMs - retentionDays * DAY_MS).toISOString();
  return store.transaction(() => {
    const young = store.first(store.kysely.selectFrom('audit').select((eb) => eb.fn.min<number | null>('seq').as('seq')).where('at', '>=', cutoff));
    let last = store.kysely.selectFrom('audit').select(['seq', 'hash', 'at']).orderBy('seq', 'desc').limit(1);
    if (young?.seq !== null && young?.seq !== undefined) last = last.where('seq', '<', young.seq);
    const boundary = store.first(last);
    if (!boundary) return 0;
    const removed = Number(store.run(store.kysely.deleteFrom('audit').where('seq', '<=', boundary.seq)).changes);
    store.run(
      store.kysely
        .insertInto('audit_chain')
        .values({ id: 1, anchor_seq: boundary.seq, anchor_hash: boundary.hash, anchor_at: boundary.at, head_seq: boundary.seq, head_hash: boundary.hash })
        .onConflict((oc) => oc.column('id').doUpdateSet({ anchor_seq: boundary.seq, anchor_hash: boundary.hash, anchor_at: boundary.at })),
    );
    return removed;
  });
}
