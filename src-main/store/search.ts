/**
 * Finding deliveries in the log (by event id, text in the event's body, HTTP status and
 * time window) and reading the filtered set whole for an export.
 *
 * Text is found through `events_text`, an FTS5 index of the event bodies with the trigram
 * tokenizer (migration 2026-12-06T04-search). No trigger fills it: tokenizing every body
 * as it is written would add to the per-delivery cost the hot path was cut to. Instead
 * `indexEventText` adds the events above a watermark (`events_text_watermark`) in bounded
 * batches, from the engine's maintenance timer (or a one-shot command, first); and a
 * search reads the index for the events up to the watermark and scans the few above it,
 * so an answer is exact and includes events received a moment ago. Retention removes an
 * event's index entry with the event (`unindexEvents`, same transaction).
 *
 * What text matches: the event's body contains it, ignoring the case of ASCII letters
 * (SQL LIKE semantics, escaped: `%`, `_`, `"`, `*`, `OR` are plain characters). The index
 * narrows the candidates (its folding finds a superset) and LIKE decides, for indexed and
 * unindexed events alike. A text shorter than three characters has no trigram to look up:
 * it is answered by LIKE over the log alone (slower on a large store).
 */
import { SEARCH_LIMIT_MAX } from '../contract/bridge';
import type { DeliveryView } from '../contract/views';
import type { Store } from './database';
import { toDeliveryView } from './deliveries';
import { lastCreatedBefore } from './retention';

export const DEFAULT_SEARCH_LIMIT = 200;
export const MAX_SEARCH_LIMIT = SEARCH_LIMIT_MAX;
/** Events indexed per batch: ~17 µs each, so a batch holds the event loop ~20 ms (up to ~150 ms when FTS5 merges its segments). */
export const DEFAULT_INDEX_BATCH = 1_000;
/** The trigram tokenizer indexes runs of this many characters: a shorter text has none. */
const TRIGRAM = 3;
/** A text in at least this many events is common: its search walks the log rather than its matches. */
const COMMON_TEXT = 5_000;

export interface DeliverySearch {
  /** The event's id, exactly. */
  eventId?: string;
  /** Contained in the event's body (ASCII letters in either case). */
  text?: string;
  /** The HTTP status of the last attempt. */
  statusCode?: number;
  /** Created at or after (ISO-8601 UTC). */
  from?: string;
  /** Created at or before (ISO-8601 UTC). */
  to?: string;
}

// --- the index -----------------------------------------------------------------------

/** The highest event seq in the index. */
export function indexedSeq(store: Store): number {
  return store.first(store.kysely.selectFrom('events_text_watermark').select('indexed_seq').where('id', '=', 1))?.indexed_seq ?? 0;
}

/** Events not in the index yet (above the watermark). */
export function unindexedCount(store: Store): number {
  return store.allSql<{ n: number }>('select count(*) as n from events where seq > ?', [indexedSeq(store)])[0]?.n ?? 0;
}

/**
 * Add up to `batchSize` events above the watermark to the text index and move the
 * watermark past them, atomically (inside the store's group transaction, so two
 * processes never index the same event twice). `more`: events remain above it.
 */
export function indexEventText(store: Store, batchSize = DEFAULT_INDEX_BATCH): { indexed: number; more: boolean } {
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a positive integer, not ${batchSize}`);
  // Nothing new (an idle engine, every second): no write transaction, no commit.
  if (store.allSql('select seq from events where seq > ? limit 1', [indexedSeq(store)]).length === 0) return { indexed: 0, more: false };
  return store.transaction(() => {
    // Read inside the write transaction: the watermark another process moved is seen.
    const from = indexedSeq(store);
    const last = store.allSql<{ seq: number | null }>('select max(seq) as seq from (select seq from events where seq > ? order by seq limit ?)', [
      from,
      batchSize,
    ])[0]?.seq;
    if (last === null || last === undefined) return { indexed: 0, more: false };
    const indexed = Number(
      store.runSql('insert into events_text (rowid, body) select seq, body from events where seq > ? and seq <= ?', [from, last]).changes,
    );
    store.runSql('update events_text_watermark set indexed_seq = ? where id = 1', [last]);
    const more = store.allSql<{ seq: number }>('select seq from events where seq > ? limit 1', [last]).length > 0;
    return { indexed, more };
  });
}

/**
 * Remove from the index those of `seqs` that are indexed and that the caller is about to
 * delete (no delivery refers to them): FTS5 with external content needs the old body to
 * remove an entry, so this runs before the events' DELETE, with its same condition.
 */
export function unindexEvents(store: Store, seqsJson: string): void {
  store.runSql(
    `insert into events_text (events_text, rowid, body)
     select 'delete', seq, body from events
     where seq in (select value from json_each(?))
       and seq <= (select indexed_seq from events_text_watermark where id = 1)
       and not exists (select 1 from deliveries where deliveries.event_seq = events.seq)`,
    [seqsJson],
  );
}

/** Remove one event's index entry, if it has one (before deleting the event). */
export function unindexEvent(store: Store, seq: number): void {
  store.runSql(
    `insert into events_text (events_text, rowid, body)
     select 'delete', seq, body from events where seq = ? and seq <= (select indexed_seq from events_text_watermark where id = 1)`,
    [seq],
  );
}

// --- the query -----------------------------------------------------------------------

/** A MATCH expression taking `text` literally: one FTS5 string, its quotes doubled. */
export function ftsPhrase(text: string): string {
  return `"${text.replaceAll('"', '""')}"`;
}

/** A LIKE pattern for "contains `text`", with `\` as the escape character. */
export function likeContains(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

interface Where {
  /** Joins the event (for its body). */
  join: boolean;
  conditions: string[];
  params: (string | number)[];
}

/** The WHERE of a search, or null when it cannot match anything (an empty window). */
function whereOf(store: Store, filter: DeliverySearch): Where | null {
  const where: Where = { join: false, conditions: [], params: [] };
  const add = (condition: string, ...params: (string | number)[]): void => {
    where.conditions.push(condition);
    where.params.push(...params);
  };
  // events_by_event_id, then deliveries_by_event (deliveries.event_id has no index; a
  // delivery with an event id always has its event_seq).
  if (filter.eventId !== undefined) add('d.event_seq in (select seq from events where event_id = ?)', filter.eventId);
  if (filter.statusCode !== undefined) add('d.status_code = ?', filter.statusCode);
  if (filter.from !== undefined || filter.to !== undefined) {
    // created_at has no index (it would cost every insert on the hot path): ids and
    // created_at grow together, so the window becomes an id range found by binary search
    // over the primary key (as retention does), and each row is still checked against the
    // window itself. A row written while the clock had stepped back can be missed; none
    // outside the window is ever returned.
    if (filter.from !== undefined) {
      const before = lastCreatedBefore(store, filter.from);
      if (before !== null) add('d.id > ?', before);
      add('d.created_at >= ?', filter.from);
    }
    if (filter.to !== undefined) {
      // The last created at or before `to`: before the string right after it.
      const last = lastCreatedBefore(store, `${filter.to}\u0000`);
      if (last === null) return null;
      add('d.id <= ?', last);
      add('d.created_at <= ?', filter.to);
    }
  }
  if (filter.text !== undefined) {
    where.join = true;
    if ([...filter.text].length >= TRIGRAM) {
      // The indexed part by MATCH, the tail above the watermark by a scan of its rows.
      // Few matches: from each matching event to its deliveries (by deliveries_by_event),
      // then sorted. Many (a common word): that would sort them all, so the log is walked
      // newest first instead, each row checked against the matches, until the page is full.
      const phrase = ftsPhrase(filter.text);
      const common =
        (store.allSql<{ n: number }>('select count(*) as n from (select rowid from events_text where events_text match ? limit ?)', [phrase, COMMON_TEXT])[0]?.n ??
          0) >= COMMON_TEXT;
      add(
        `${common ? '+' : ''}d.event_seq in (select rowid from events_text where events_text match ? union all select seq from events where seq > ?)`,
        phrase,
        indexedSeq(store),
      );
    }
    add("e.body like ? escape '\\'", likeContains(filter.text));
  }
  return where;
}

function selectSql(columns: string, where: Where, order: 'asc' | 'desc', limit: boolean): string {
  return [
    `select ${columns} from deliveries d`,
    where.join ? 'join events e on e.seq = d.event_seq' : 'left join events e on e.seq = d.event_seq',
    where.conditions.length > 0 ? `where ${where.conditions.join(' and ')}` : '',
    `order by d.id ${order}`,
    limit ? 'limit ?' : '',
  ].join(' ');
}

const VIEW_COLUMNS =
  'd.id, d.created_at, d.updated_at, d.subscription_id, d.subscription_name, d.event_id, d.topic, d.outcome, d.status_code, d.attempts, d.latency_ms, d.error, d.is_replay, d.replay_of';

/** The deliveries matching every filter given, newest first, at most `limit`. */
export function searchDeliveries(store: Store, filter: DeliverySearch, limit = DEFAULT_SEARCH_LIMIT): DeliveryView[] {
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_SEARCH_LIMIT) throw new RangeError(`limit must be 1 to ${MAX_SEARCH_LIMIT}, not ${limit}`);
  const where = whereOf(store, filter);
  if (!where) return [];
  return store.allSql<Parameters<typeof toDeliveryView>[0]>(selectSql(VIEW_COLUMNS, where, 'desc', true), [...where.params, limit]).map(toDeliveryView);
}

/** The query plan of a search (for tests and the benchmark: no full scan where an index serves). */
export function searchPlan(store: Store, filter: DeliverySearch): string[] {
  const where = whereOf(store, filter);
  if (!where) return [];
  return store.sqlite
    .prepare(`explain query plan ${selectSql(VIEW_COLUMNS, where, 'desc', true)}`)
    .all(...where.params, 1)
    .map((r) => (r as { detail: string }).detail);
}

// --- the export ----------------------------------------------------------------------

/** One delivery as exported: with its event's body, the body sent and its attempts. */
export interface ExportRow {
  id: number;
  createdAt: string;
  updatedAt: string;
  subscriptionName: string | null;
  eventId: string | null;
  topic: string;
  outcome: string;
  statusCode: number | null;
  attempts: number;
  latencyMs: number | null;
  error: string | null;
  /** The event's stored (signed) body, as JSON text; null for a message that was never an event. */
  eventBody: string | null;
  /** The body sent when it was not the event's (a format, a transform, a batch); null: the event's. */
  requestBody: string | null;
  /** JSON text of contract `AttemptRecord[]`. */
  attemptLog: string;
}

/** The export's columns, in order (the CSV header; the NDJSON keys). */
export const EXPORT_COLUMNS = [
  'id',
  'createdAt',
  'updatedAt',
  'subscriptionName',
  'eventId',
  'topic',
  'outcome',
  'statusCode',
  'attempts',
  'latencyMs',
  'error',
  'eventBody',
  'requestBody',
  'attemptLog',
] as const satisfies readonly (keyof ExportRow)[];

// Never the URL (it may carry a token) nor the request headers: nothing secret leaves.
const EXPORT_SELECT = `d.id as id, d.created_at as createdAt, d.updated_at as updatedAt, d.subscription_name as subscriptionName,
  d.event_id as eventId, d.topic as topic, d.outcome as outcome, d.status_code as statusCode, d.attempts as attempts,
  d.latency_ms as latencyMs, d.error as error, e.body as eventBody,
  coalesce(d.request_body, (select b.request_body from deliveries b where b.id = d.batch_of)) as requestBody,
  coalesce(d.attempt_log, '[]') as attemptLog`;

/**
 * Every delivery matching the filter, oldest first, read one row at a time (a cursor:
 * memory stays flat whatever the count). The connection is busy until the iteration
 * ends: no write on it meanwhile.
 */
export function exportRows(store: Store, filter: DeliverySearch): IterableIterator<ExportRow> {
  const where = whereOf(store, filter);
  if (!where) return [][Symbol.iterator]();
  return store.sqlite.prepare(selectSql(EXPORT_SELECT, where, 'asc', false)).iterate(...where.params) as IterableIterator<ExportRow>;
}
