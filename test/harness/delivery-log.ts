/**
 * A generated delivery log for the search and export tests and the benchmark: row `i`
 * (1-based) is a function of `i` alone, so the exact answer to any search can be computed
 * here, independently of SQL. Written with direct inserts in one transaction (a million
 * rows in seconds), into a store the migrations made.
 */
import type BetterSqlite3 from 'better-sqlite3';
import type { AttemptRecord } from '../../src-main/contract/views';
import type { DeliverySearch } from '../../src-main/store/search';

/** The first row's creation time; each next one a second later. */
export const LOG_START_MS = Date.parse('2026-11-01T00:00:00.000Z');

export interface LogRow {
  eventId: string;
  topic: string;
  body: string;
  createdAt: string;
  updatedAt: string;
  statusCode: number | null;
  outcome: string;
  latencyMs: number | null;
  error: string | null;
  attemptLog: AttemptRecord[];
  /** Set on some rows: a body sent that is not the event's (a format). */
  requestBody: string | null;
}

export function logRow(i: number): LogRow {
  const createdAt = new Date(LOG_START_MS + i * 1000).toISOString();
  const updatedAt = new Date(LOG_START_MS + i * 1000 + 250).toISOString();
  const statusCode = i % 11 === 0 ? null : i % 50 === 0 ? 503 : i % 7 === 0 ? 500 : 200;
  const delivered = statusCode === 200;
  // 203.0.113.7 is common (and a prefix of 203.0.113.70…79); 198.51.100.23 is rare (1 in 1000).
  const ip = i % 1000 === 7 ? '198.51.100.23' : `203.0.${113 + (i % 3)}.${i % 97}`;
  const decoy = `web-${String(i % 100).padStart(2, '0')}`;
  const eventId = `evt-${String(i).padStart(8, '0')}`;
  const body = JSON.stringify({
    id: eventId,
    type: 'decoy.login',
    src_ip: ip,
    decoy,
    user: i % 3 === 0 ? 'Admin' : 'root',
    // Characters CSV must quote (a comma, quotes) and FTS syntax in a body.
    note: i % 17 === 0 ? 'said "hi", then OR left *' : 'plain',
  });
  const error = statusCode === null ? (i % 2 === 0 ? 'connect ECONNREFUSED' : 'line one\nline two, "quoted"') : statusCode === 200 ? null : `HTTP ${statusCode}`;
  return {
    eventId,
    topic: i % 2 === 0 ? 'decnet.decoy.login' : 'decnet.attacker.observed',
    body,
    createdAt,
    updatedAt,
    statusCode,
    outcome: delivered ? 'delivered' : 'failed',
    latencyMs: statusCode === null ? null : 5 + (i % 40),
    error,
    attemptLog: [{ attempt: 1, startedAt: createdAt, statusCode, latencyMs: 5 + (i % 40), error, address: '127.0.0.1' }],
    requestBody: i % 19 === 0 ? `{"formatted":${i}}` : null,
  };
}

/**
 * Rows `first`..`first + count - 1` into `sqlite` (the store's connection, or a second
 * one on its file), one event and one delivery each, in one transaction. Event seq and
 * delivery id equal `i` when the tables start empty.
 */
export function fillDeliveryLog(sqlite: BetterSqlite3.Database, count: number, first = 1): void {
  const event = sqlite.prepare('insert into events (event_id, topic, type, ts, body, received_at) values (?, ?, ?, ?, ?, ?)');
  const delivery = sqlite.prepare(
    `insert into deliveries (event_seq, event_id, topic, subscription_id, subscription_name, url, outcome, attempts, status_code,
       latency_ms, error, created_at, updated_at, request_headers, attempt_log, request_body)
     values (?, ?, ?, 's1', 'siem', 'https://siem.example/hook?token=not-exported', ?, 1, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  sqlite.transaction(() => {
    for (let i = first; i < first + count; i++) {
      const r = logRow(i);
      const seq = Number(event.run(r.eventId, r.topic, 'decoy.login', r.createdAt, r.body, r.createdAt).lastInsertRowid);
      delivery.run(
        seq,
        r.eventId,
        r.topic,
        r.outcome,
        r.statusCode,
        r.latencyMs,
        r.error,
        r.createdAt,
        r.updatedAt,
        '{"content-type":"application/json"}',
        JSON.stringify(r.attemptLog),
        r.requestBody,
      );
    }
  })();
}

/** Whether row `i` matches `filter`, by the documented semantics (not by SQL). */
export function rowMatches(i: number, filter: DeliverySearch): boolean {
  const r = logRow(i);
  if (filter.eventId !== undefined && r.eventId !== filter.eventId) return false;
  if (filter.statusCode !== undefined && r.statusCode !== filter.statusCode) return false;
  if (filter.from !== undefined && r.createdAt < filter.from) return false;
  if (filter.to !== undefined && r.createdAt > filter.to) return false;
  // The bodies are ASCII: toLowerCase is the ASCII folding LIKE does.
  if (filter.text !== undefined && !r.body.toLowerCase().includes(filter.text.toLowerCase())) return false;
  return true;
}

/** The ids (= i) of rows 1..count matching `filter`, newest first, at most `limit`. */
export function expectedIds(count: number, filter: DeliverySearch, limit = Number.POSITIVE_INFINITY): number[] {
  const ids: number[] = [];
  for (let i = count; i >= 1 && ids.length < limit; i--) if (rowMatches(i, filter)) ids.push(i);
  return ids;
}
