/** The events and deliveries tables: the delivery log and everything needed to replay. */
import type { DeliveryQuery } from '../contract/bridge';
import type { AttemptRecord, DeliveryDetail, DeliveryView, Outcome } from '../contract/views';
import { matchesPattern } from '../match/pattern';
import type { Durability, SqlParam, Store } from './database';
import type { DeliveryRow } from './schema';
import { unindexEvent } from './search';

const DEFAULT_PAGE = 200;
/** A pattern filter scans at most this many rows per page asked for. */
const MAX_PATTERN_SCAN = 20_000;

interface NewEvent {
  eventId: string;
  topic: string;
  type: string;
  ts: string;
  body: string;
  receivedAt: string;
}

// The statements run for every delivery are written out (see Store.runSql); their
// columns are those of schema.ts (a wrong one fails every store test at once).
const INSERT_EVENT = 'insert into "events" ("event_id", "topic", "type", "ts", "body", "received_at") values (?, ?, ?, ?, ?, ?)';

export function insertEvent(store: Store, event: NewEvent): number {
  const result = store.runSql(INSERT_EVENT, [event.eventId, event.topic, event.type, event.ts, event.body, event.receivedAt]);
  return Number(result.lastInsertRowid);
}

/** Remove an event and its deliveries (intake undoing an event it could not record whole). */
export function deleteEvent(store: Store, seq: number): void {
  store.runSql('delete from "deliveries" where "event_seq" = ?', [seq]);
  unindexEvent(store, seq);
  store.runSql('delete from "events" where "seq" = ?', [seq]);
}

export interface NewDelivery {
  eventSeq: number | null;
  eventId: string | null;
  topic: string;
  subscriptionId: string | null;
  subscriptionName: string | null;
  url: string | null;
  outcome: Outcome;
  error?: string | null;
  at: string;
  /** Epoch ms when it is due; null: claimed by this process (or not deliverable). */
  nextAttemptAt?: number | null;
}

const INSERT_DELIVERY =
  'insert into "deliveries" ("event_seq", "event_id", "topic", "subscription_id", "subscription_name", "url", "outcome", "attempts", "error", "created_at", "updated_at", "next_attempt_at") values (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?)';

export function insertDelivery(store: Store, d: NewDelivery): number {
  const result = store.runSql(INSERT_DELIVERY, [
    d.eventSeq,
    d.eventId,
    d.topic,
    d.subscriptionId,
    d.subscriptionName,
    d.url,
    d.outcome,
    d.error ?? null,
    d.at,
    d.at,
    d.nextAttemptAt ?? null,
  ]);
  return Number(result.lastInsertRowid);
}

interface DeliveryProgress {
  outcome: Outcome;
  attempts: number;
  statusCode: number | null;
  latencyMs: number | null;
  error: string | null;
  at: string;
  requestHeaders?: Record<string, string> | null;
  responseExcerpt?: string | null;
  attemptLog?: AttemptRecord[];
  /** The body sent, when it is not the event's stored body (a format, a transform); null: the event's. */
  requestBody?: string | null;
  /** Sent in a batch recorded with that delivery. */
  batchOf?: number | null;
  /** Epoch ms of the next attempt (a waiting retry); null once claimed or ended. */
  nextAttemptAt?: number | null;
}

/** The UPDATE for each combination of optional columns present, built once. */
const updateDeliverySql = new Map<number, string>();

/**
 * Record an attempt's progress. `durability`: the engine records outcomes lazily (a
 * crash before the commit means the attempt is made again; see Store `Durability`).
 */
export function updateDelivery(store: Store, id: number, p: DeliveryProgress, durability: Durability = 'prompt'): void {
  const columns = ['outcome', 'attempts', 'status_code', 'latency_ms', 'error', 'updated_at', 'next_attempt_at'];
  const values: SqlParam[] = [p.outcome, p.attempts, p.statusCode, p.latencyMs, p.error, p.at, p.nextAttemptAt ?? null];
  let key = 0;
  if (p.requestHeaders !== undefined) {
    key |= 1;
    columns.push('request_headers');
    values.push(p.requestHeaders && JSON.stringify(p.requestHeaders));
  }
  if (p.responseExcerpt !== undefined) {
    key |= 2;
    columns.push('response_excerpt');
    values.push(p.responseExcerpt);
  }
  if (p.attemptLog !== undefined) {
    key |= 4;
    columns.push('attempt_log');
    values.push(JSON.stringify(p.attemptLog));
  }
  if (p.requestBody !== undefined) {
    key |= 8;
    columns.push('request_body');
    values.push(p.requestBody);
  }
  if (p.batchOf !== undefined) {
    key |= 16;
    columns.push('batch_of');
    values.push(p.batchOf);
  }
  let sql = updateDeliverySql.get(key);
  if (!sql) {
    sql = `update "deliveries" set ${columns.map((c) => `"${c}" = ?`).join(', ')} where "id" = ?`;
    updateDeliverySql.set(key, sql);
  }
  values.push(id);
  store.runSql(sql, values, durability);
}

const viewColumns = [
  'id',
  'created_at',
  'updated_at',
  'subscription_id',
  'subscription_name',
  'event_id',
  'topic',
  'outcome',
  'status_code',
  'attempts',
  'latency_ms',
  'error',
  'is_replay',
  'replay_of',
] as const;

type DeliveryViewRow = Pick<DeliveryRow, (typeof viewColumns)[number]>;

export function toDeliveryView(row: DeliveryViewRow): DeliveryView {
  return {
    id: row.id,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    subscriptionId: row.subscription_id,
    subscriptionName: row.subscription_name,
    eventId: row.event_id,
    topic: row.topic,
    outcome: row.outcome as Outcome,
    statusCode: row.status_code,
    attempts: row.attempts,
    latencyMs: row.latency_ms,
    error: row.error,
    replay: row.is_replay === 1,
    replayOf: row.replay_of,
  };
}


export function getDeliveryView(store: Store, id: number): DeliveryView | undefined {
  const row = store.first(store.kysely.selectFrom('deliveries').selectAll().where('id', '=', id));
  return row && toDeliveryView(row);
}

/** Newest first; `topic` may be a pattern. */
export function listDeliveries(store: Store, query: DeliveryQuery = {}): DeliveryView[] {
  const limit = Math.min(query.limit ?? DEFAULT_PAGE, 1000);
  const topic = query.topic;
  const isPattern = topic !== undefined && /(^|\.)[*>](\.|$)/.test(topic);
  let q = store.kysely.selectFrom('deliveries').select(viewColumns).orderBy('id', 'desc');
  if (query.subscriptionId) q = q.where('subscription_id', '=', query.subscriptionId);
  if (query.outcome) q = q.where('outcome', '=', query.outcome);
  if (query.excludeHeld) q = q.where('outcome', '!=', 'held');
  if (query.before) q = q.where('id', '<', query.before);
  if (topic !== undefined && !isPattern) return store.all(q.where('topic', '=', topic).limit(limit)).map(toDeliveryView);
  if (topic === undefined) return store.all(q.limit(limit)).map(toDeliveryView);

  // A pattern: narrow by its literal prefix in SQL (LIKE is loose: case-insensitive, and
  // '_' or '%' in a topic act as wildcards), then match tokens exactly here.
  const prefix = literalPrefix(topic);
  if (prefix) q = q.where('topic', 'like', `${prefix}%`);
  const out: DeliveryView[] = [];
  let before = query.before ?? Number.MAX_SAFE_INTEGER;
  let scanned = 0;
  while (out.length < limit && scanned < MAX_PATTERN_SCAN) {
    const rows = store.all(q.where('id', '<', before).limit(500));
    if (rows.length === 0) break;
    scanned += rows.length;
    for (const row of rows) {
      if (matchesPattern(topic, row.topic)) out.push(toDeliveryView(row));
      if (out.length === limit) break;
    }
    before = (rows[rows.length - 1] as { id: number }).id;
  }
  return out;
}

function literalPrefix(pattern: string): string {
  const tokens = pattern.split('.');
  const literal: string[] = [];
  for (const t of tokens) {
    if (t === '*' || t === '>') return literal.length ? `${literal.join('.')}.` : '';
    literal.push(t);
  }
  return pattern;
}

export function getDeliveryDetail(store: Store, id: number): DeliveryDetail | undefined {
  const row = store.first(
    store.kysely
      .selectFrom('deliveries')
      .leftJoin('events', 'events.seq', 'deliveries.event_seq')
      .selectAll('deliveries')
      .select(['events.type as event_type', 'events.ts as event_ts', 'events.body as event_body'])
      .where('deliveries.id', '=', id),
  );
  if (!row) return undefined;
  // Sent in a batch: the bytes are recorded once, with the batch's first delivery.
  const batchBody =
    row.request_body === null && row.batch_of !== null
      ? (store.first(store.kysely.selectFrom('deliveries').select('request_body').where('id', '=', row.batch_of))?.request_body ?? null)
      : null;
  return {
    ...toDeliveryView(row),
    batchOf: row.batch_of,
    eventType: row.event_type,
    eventTs: row.event_ts,
    url: row.url,
    requestHeaders: parseJsonOr<Record<string, string> | null>(row.request_headers, null),
    // The bytes sent: the event's own body, unless a format or a transform made another.
    requestBody: row.request_body ?? batchBody ?? row.event_body,
    responseExcerpt: row.response_excerpt,
    attemptLog: parseJsonOr<AttemptRecord[]>(row.attempt_log, []),
  };
}

function parseJsonOr<T>(text: string | null, fallback: T): T {
  if (text === null) return fallback;
  try {
    return JSON.parse(text) as T;
  } catch {
    return fallback;
  }
}

/** A stored event as the preview's picker lists it. */
export interface StoredEventSummary {
  eventId: string;
  topic: string;
  type: string;
  ts: string;
  receivedAt: string;
}

/** A stored event with its canonical body. */
export interface StoredEvent extends StoredEventSummary {
  body: string;
}

/** How far back the picker looks for events a subscription's patterns match. */
const RECENT_SCAN = 5_000;

/** The newest stored events whose topic passes `matches` (newest first), from the last few thousand. */
export function recentEvents(store: Store, matches: (topic: string) => boolean, limit: number): StoredEventSummary[] {
  // Without the bodies: the picker asks as the analyst types.
  const rows = store.all(
    store.kysely
      .selectFrom('events')
      .select(['event_id as eventId', 'topic', 'type', 'ts', 'received_at as receivedAt'])
      .orderBy('seq', 'desc')
      .limit(RECENT_SCAN),
  );
  const out: StoredEventSummary[] = [];
  const seen = new Set<string>();
  for (const row of rows) {
    // A replayed or test event may be stored again under its id: list it once.
    if (seen.has(row.eventId) || !matches(row.topic)) continue;
    seen.add(row.eventId);
    out.push(row);
    if (out.length >= limit) break;
  }
  return out;
}

/** The newest stored copy of an event, by its id. */
export function findEvent(store: Store, eventId: string): StoredEvent | undefined {
  return store.first(
    store.kysely
      .selectFrom('events')
      .select(['event_id as eventId', 'topic', 'type', 'ts', 'received_at as receivedAt', 'body'])
      .where('event_id', '=', eventId)
      .orderBy('seq', 'desc'),
  );
}
