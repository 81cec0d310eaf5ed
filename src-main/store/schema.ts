/**
 * The database's tables, one interface each, named by the `Database` map that Kysely
 * types its queries with. SQLite has no booleans: flags are 0/1 integers. Timestamps
 * are ISO-8601 UTC strings, which sort as time.
 */
import type { Generated, Insertable, Selectable, Updateable } from 'kysely';

export interface SubscriptionsTable {
  id: string;
  name: string;
  url: string;
  secret: string;
  /** JSON array of topic patterns (presets already expanded). */
  patterns: string;
  enabled: number;
  consecutive_failures: number;
  last_success_at: string | null;
  last_failure_at: string | null;
  last_error: string | null;
  auto_disabled_at: string | null;
  created_at: string;
  updated_at: string;
  /** JSON array of seconds; NULL: the global default schedule. */
  retry_schedule: string | null;
  /** The secret a rotation replaced, stored like `secret`; NULL: none (or its overlap ended). */
  previous_secret: string | null;
  /** ISO-8601 UTC end of the previous secret's validity; NULL with `previous_secret`. */
  previous_secret_until: string | null;
  /** JSON object of contract `SubscriptionOptions`; keys left out take their defaults. */
  options: Generated<string>;
  /** JSON array of `{name, value}` secret headers, sealed like `secret`; NULL: none. */
  secret_headers: string | null;
  /** Events its filter kept out of its outbox. */
  filtered_count: Generated<number>;
}

/** One row per bus message that matched at least one subscription (or a test fire). */
export interface EventsTable {
  seq: Generated<number>;
  event_id: string;
  topic: string;
  type: string;
  ts: string;
  /** The canonical signed body: replays and the detail view send/show these exact bytes. */
  body: string;
  received_at: string;
}

export interface DeliveriesTable {
  id: Generated<number>;
  event_seq: number | null;
  event_id: string | null;
  topic: string;
  subscription_id: string | null;
  subscription_name: string | null;
  url: string | null;
  /** One of contract `Outcome`. */
  outcome: string;
  attempts: number;
  status_code: number | null;
  latency_ms: number | null;
  error: string | null;
  created_at: string;
  updated_at: string;
  /** JSON object: headers of the last request sent. */
  request_headers: string | null;
  response_excerpt: string | null;
  /** JSON array of contract `AttemptRecord`. */
  attempt_log: string | null;
  /**
   * Epoch ms when a pending or retrying delivery is due. NULL while an attempt is under
   * way in this process (claimed) and once the delivery has ended.
   */
  next_attempt_at: number | null;
  /** The delivery this one resends, when it is a replay of one. */
  replay_of: number | null;
  /** 1 for a replay (of a delivery, or of stored events by pattern and window). */
  is_replay: Generated<number>;
  /** The body last sent when it is not the event's stored body (a format, a transform, a batch); NULL: the event's. */
  request_body: string | null;
  /** Sent in a batch whose body is recorded with that delivery (its first). */
  batch_of: number | null;
}

export interface SettingsTable {
  key: string;
  /** JSON value. */
  value: string;
}

/** One change an operator made (store/audit.ts), chained to the one before by `prev_hash`. */
export interface AuditTable {
  seq: number;
  at: string;
  /** The OS user. */
  actor: string;
  /** Where the change was made: `console`, `console (web)`, `tray`, `cli (subs add)`… */
  source: string;
  action: string;
  /** What it was made to, as a person reads it (a subscription's name, `settings`). */
  target: string;
  /** The subscription's id, when the target is one. */
  target_id: string | null;
  /** JSON, secrets redacted; NULL: nothing before (a creation) or after (a deletion). */
  before: string | null;
  after: string | null;
  prev_hash: string;
  hash: string;
}

/** The audit chain's ends, one row (id 1): where verification starts, and the newest record. */
export interface AuditChainTable {
  id: number;
  /** The last record retention removed (0 and the genesis: none was). */
  anchor_seq: number;
  anchor_hash: string;
  anchor_at: string | null;
  /** The newest record appended (0 and the genesis: none yet). */
  head_seq: number;
  head_hash: string;
}

/**
 * How far the full-text index of event bodies (`events_text`, FTS5, written in raw SQL by
 * store/search.ts) has got: one row (id 1); events above `indexed_seq` are not in it yet.
 */
export interface EventsTextWatermarkTable {
  id: number;
  indexed_seq: number;
}

export interface Database {
  subscriptions: SubscriptionsTable;
  events: EventsTable;
  deliveries: DeliveriesTable;
  settings: SettingsTable;
  audit: AuditTable;
  audit_chain: AuditChainTable;
  events_text_watermark: EventsTextWatermarkTable;
}

export type SubscriptionRow = Selectable<SubscriptionsTable>;
export type NewSubscriptionRow = Insertable<SubscriptionsTable>;
export type SubscriptionRowUpdate = Updateable<SubscriptionsTable>;
export type DeliveryRow = Selectable<DeliveriesTable>;
export type EventRow = Selectable<EventsTable>;
