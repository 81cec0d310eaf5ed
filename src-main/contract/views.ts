/**
 * Data that crosses the bridge. Plain JSON values only (no Dates, Maps or class
 * instances), so the same shapes travel over Electron IPC, JSON-RPC and in-process.
 * Timestamps are ISO-8601 UTC strings. These are what the engine answers; what it is
 * asked (the call arguments) is typed by the schemas in bridge.ts.
 */
import type { SecretKey, Settings } from './settings-descriptor';
import type { SubscriptionOptions } from './subscription-options';

/**
 * Simple-mode presets; each expands to fixed topic patterns at save time
 * (docs/design.md#topic-patterns-and-presets).
 */
export const PRESETS = {
  AttackerDetail: ['attacker.>'],
  DeckyStatus: ['decky.*.state', 'decky.*.traffic'],
  SystemStatus: ['system.>'],
} as const satisfies Record<string, readonly string[]>;

export type PresetName = keyof typeof PRESETS;

/** For receivers that can be down for hours: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (about 28 h in all). */
export const EXTENDED_RETRY_SCHEDULE_S: readonly number[] = [5, 300, 1800, 7200, 18000, 36000, 36000];
export const PRESET_NAMES = Object.keys(PRESETS) as PresetName[];

/**
 * Active: enabled. Paused: disabled by the analyst. Tripped: disabled by the circuit
 * breaker (auto_disabled_at is stamped). See docs/design.md#states.
 */
export type SubscriptionState = 'active' | 'paused' | 'tripped';

/** A subscription as the console shows it: its delivery options included, its secrets left out. */
export interface SubscriptionView extends SubscriptionOptions {
  id: string;
  name: string;
  url: string;
  /** Stored topic patterns (presets already expanded). */
  patterns: string[];
  /** Presets whose every pattern is stored, so the edit form can tick them. */
  presets: PresetName[];
  enabled: boolean;
  state: SubscriptionState;
  consecutiveFailures: number;
  lastSuccessAt: string | null;
  lastFailureAt: string | null;
  lastError: string | null;
  autoDisabledAt: string | null;
  createdAt: string;
  updatedAt: string;
  /** The URL is plain `http://`: signatures protect integrity, not confidentiality. */
  insecureUrl: boolean;
  /** Seconds before each retry for this subscription; null: the global default. */
  retrySchedule: number[] | null;
  /** Deliveries that ended failed and can be replayed. */
  deadCount: number;
  /** Events kept while it was tripped or paused, delivered on re-enable (or discarded, if the analyst says so). */
  heldCount: number;
  /** When the oldest of them was recorded; null when none is held. */
  heldSince: string | null;
  /**
   * While a rotated-out secret is still valid (deliveries carry a second signature in
   * `X-DECNET-Signature-Previous`): until when. Null: one secret.
   */
  previousSecretUntil: string | null;
  /** Names of its secret headers (their values are write-only). */
  secretHeaderNames: string[];
  /** Events its filter kept out of its outbox (never sent, never held). */
  filteredCount: number;
  /**
   * Held back by its rate now: deliveries wait in the store for their slot, `waiting`
   * of them still to be sent. Null when its rate holds nothing back (or it has none).
   */
  paced: { waiting: number } | null;
}

/** The longest overlap of a rotated-out secret. */
export const PREVIOUS_SECRET_MAX_HOURS = 720;

/**
 * How subscription secrets are kept at rest: by the OS key store ('os-keychain': the
 * desktop app's safeStorage, or a headless run whose default key lives in the OS key
 * store), under a key held outside it ('key-file': --secret-key-file, SLUICE_SECRET_KEY
 * or the default key file), or unprotected (a warning; only the desktop app without a
 * key ring: headless runs always encrypt).
 */
export type SecretStorage = 'os-keychain' | 'key-file' | 'plaintext';

export interface CreatedSubscription {
  subscription: SubscriptionView;
  /** Shown once; never sent again. */
  secret: string;
  warnings: SaveWarning[];
}

export interface SaveWarning {
  /** insecure_url: plain http://. unresolved_host: the host name does not resolve now. */
  code: 'insecure_url' | 'unresolved_host';
  message: string;
}

/**
 * pending: recorded, not yet attempted. retrying: an attempt failed, another is
 * scheduled (the wait is kept in the store). delivered: a 2xx answer. dead: ended failed
 * (retries exhausted, a terminal answer, or its subscription stopped) and kept for
 * replay. blocked: the SSRF guard refused the destination (zero attempts; replayable).
 * held: matched (or was waiting) while its subscription was tripped or paused; waits for
 * the re-enable, which delivers it (or discards it, if the analyst says so).
 * discarded: a held event the analyst (or the held bound) let go. replayed: a dead
 * delivery that was sent again as a new delivery. rejected: a bus message that is not a
 * JSON object. test: a test fire (one attempt, breaker untouched). failed: a delivery
 * whose subscription was deleted (nothing to replay to).
 */
export const OUTCOMES = [
  'pending',
  'retrying',
  'delivered',
  'failed',
  'dead',
  'blocked',
  'held',
  'discarded',
  'replayed',
  'rejected',
  'test',
] as const;
export type Outcome = (typeof OUTCOMES)[number];

export interface DeliveryView {
  id: number;
  createdAt: string;
  updatedAt: string;
  subscriptionId: string | null;
  subscriptionName: string | null;
  eventId: string | null;
  topic: string;
  outcome: Outcome;
  statusCode: number | null;
  attempts: number;
  latencyMs: number | null;
  error: string | null;
  /** A replay: this sends an event again (keeping its id). */
  replay: boolean;
  /** The delivery it resends, when it replays one. */
  replayOf: number | null;
}

export interface AttemptRecord {
  /** 1-based. */
  attempt: number;
  startedAt: string;
  statusCode: number | null;
  latencyMs: number;
  error: string | null;
  /** The address actually connected to (after the SSRF check), when known. */
  address: string | null;
}

export interface DeliveryDetail extends DeliveryView {
  eventType: string | null;
  eventTs: string | null;
  url: string | null;
  /** Headers of the last request sent; values are what went on the wire. */
  requestHeaders: Record<string, string> | null;
  /** The exact signed body. */
  requestBody: string | null;
  /** Sent in one request with other events: the delivery whose record holds that batch (its body is `requestBody`). */
  batchOf: number | null;
  /** First bytes of the last response body (decoded, capped). */
  responseExcerpt: string | null;
  attemptLog: AttemptRecord[];
}

/** A stored event, as the preview's picker lists it. */
export interface RecentEvent {
  eventId: string;
  topic: string;
  type: string;
  ts: string;
  receivedAt: string;
}

/**
 * What a subscription would send for one event, computed by the code that sends:
 * whether its patterns match the topic, the filter's verdict, and the request itself —
 * every header as sent (secret values masked) and the body byte for byte.
 */
export interface PreviewResult {
  event: RecentEvent | null;
  /** Whether the subscription's patterns match the event's topic. */
  matches: boolean;
  /** null: no filter. */
  filter: { pass: boolean; error: string | null } | null;
  request: { method: 'POST'; url: string; headers: Record<string, string>; body: string } | null;
  /** Why there is no request (no event, a transform that fails on this event, an option refused), or null. */
  problem: { message: string; field?: string } | null;
}

export interface TestFireResult {
  delivered: boolean;
  statusCode: number | null;
  error: string | null;
  latencyMs: number | null;
}

export type BusState = 'connecting' | 'connected' | 'reconnecting' | 'auth_failed' | 'closed';

export interface BusStatus {
  state: BusState;
  /** Configured server URL(s). */
  url: string;
  /** The server currently connected to, when connected. */
  server: string | null;
  /** Reconnect attempt number while reconnecting. */
  attempt: number;
  lastError: string | null;
  since: string;
}

export interface SubscriptionCounts {
  configured: number;
  enabled: number;
  tripped: number;
  /** Enabled subscriptions with at least one consecutive failure. */
  failing: number;
  insecure: number;
}

/** The durable consumer, in JetStream mode. */
export interface JetStreamStatus {
  state: 'idle' | 'binding' | 'consuming' | 'error';
  stream: string;
  /** The durable consumer's name: this installation's own unless `jetstreamDurable` names one. */
  durable: string;
  lastError: string | null;
  delivered: number;
  acked: number;
}

export interface EngineStatus {
  version: string;
  bus: BusStatus;
  /** Null in core-NATS mode (the default). */
  jetstream: JetStreamStatus | null;
  counts: SubscriptionCounts;
  intake: { received: number; rejected: number };
  inFlight: number;
  /** How subscription secrets are kept at rest; 'plaintext' is shown as a warning. */
  secretStorage: SecretStorage;
}

/** The global settings: derived from their descriptors (`settings-descriptor.ts`), where each is documented. */
export type { Settings } from './settings-descriptor';

/**
 * A setting that this run's command line overrides (`--nats`, `--allow-private`): the
 * value in force until the engine stops, never stored, and what set it.
 */
export interface SettingOverride<K extends keyof Settings = keyof Settings> {
  value: Settings[K];
  /** The flag (`--allow-private`, `--nats`), or what started the run (`npm run demo`). */
  by: string;
}

export type SettingOverrides = { [K in keyof Settings]?: SettingOverride<K> };

/** What `settings.get` returns: secrets replaced by whether they are set. */
export type SettingsView = Omit<Settings, SecretKey> & { [K in SecretKey as `${K}Set`]: boolean } & {
  /** The durable name used while `jetstreamDurable` is empty: `sluice-` and this database's install id. */
  jetstreamDurableDefault: string;
  /** The stored values above are what a run without flags uses; these win for this run. */
  overrides: SettingOverrides;
};

/** The held events of a subscription being re-enabled: send them, or let them go. */
export type HeldAction = 'deliver' | 'discard';

export interface ReplayResult {
  /** How many deliveries are (or would be) queued. */
  count: number;
  queued: boolean;
}

/**
 * Health of one subscription over a window (`subscriptions.health`). Counts deliveries
 * that ended in the window, judged against the receiver: `ok` ended delivered; `failed`
 * ended dead (retries exhausted or a terminal answer) or blocked (SSRF guard). Test fires
 * and deliveries cut short by a pause, a trip or a delete are not counted. Latency is
 * that of the last attempt of each counted delivery that reached the receiver (blocked
 * ones made none); p50/p95 come from a log-scale histogram: within ±9.1 % (+0.5 ms
 * rounding) of the exact nearest-rank percentile.
 */
export interface HealthWindow {
  total: number;
  ok: number;
  failed: number;
  /** ok / total, 0–1; null when nothing ended in the window. */
  successRate: number | null;
  p50Ms: number | null;
  p95Ms: number | null;
}

/** Per-bucket counts, oldest first: `ok[i]`, `failed[i]`, `p95Ms[i]` describe the bucket starting `start + i × bucketMs`. */
export interface HealthSeries {
  /** ISO-8601 UTC start of the first (oldest) bucket. */
  start: string;
  bucketMs: number;
  ok: number[];
  failed: number[];
  p95Ms: (number | null)[];
}

export interface SubscriptionHealth {
  subscriptionId: string;
  /** The current minute and the 59 before it. */
  hour: HealthWindow;
  /** The current clock hour and the 23 before it (23–24 h). */
  day: HealthWindow;
  /** 60 one-minute buckets: the hour window. */
  minutes: HealthSeries;
  /** 24 one-hour buckets: the day window (the table's sparkline). */
  hours: HealthSeries;
}

export interface HealthReport {
  /** When the figures were taken. */
  at: string;
  subscriptions: SubscriptionHealth[];
}

/** A member of this Sluice's team, as its last heartbeat says (docs/design.md#teams). */
export interface TeamMemberView {
  instanceId: string;
  name: string;
  host: string;
  version: string;
  startedAt: string;
  /** When its last heartbeat was written (by its clock). */
  lastSeen: string;
  /** No heartbeat for longer than the stale limit (30 s): stopped, or cut off from the bus. */
  stale: boolean;
  bus: BusState;
  /** Since it started. */
  deliveries: { delivered: number; failed: number; inFlight: number };
  /** This Sluice. */
  self: boolean;
}

/** A delivery that ended on some member of the team, as that member told the team. */
export interface TeamDeliveryView {
  /** The member's name and id. */
  member: string;
  instanceId: string;
  /** Its id in that member's own log. */
  deliveryId: number;
  subscriptionName: string | null;
  eventId: string | null;
  topic: string;
  outcome: Outcome;
  statusCode: number | null;
  latencyMs: number | null;
  at: string;
}

/** What `team.create`, `team.join` or `team.leave` did (engine/team-membership.ts). */
export interface TeamMembershipView {
  action: 'created' | 'joined' | 'left';
  /** The team (its bucket). */
  team: string;
  /** Its stream; null once left. */
  stream: string | null;
  /** The team key file (written by create; left in place by leave). */
  keyFile: string;
  /** This database's subscriptions copied into the team (create, join with mergeLocal). */
  moved: string[];
  /** What was done, in one or two sentences, for the form to show. */
  message: string;
}

/** The team this Sluice is a member of: its members, its shared backlog, and its live log (newest first). */
export interface TeamStatusView {
  bucket: string;
  stream: string;
  /** Connected to the team's bucket now. */
  connected: boolean;
  members: TeamMemberView[];
  /** Events on the team's stream not yet acknowledged by any member; null while it cannot be read. */
  pending: number | null;
  recent: TeamDeliveryView[];
  /** Why the team cannot be read now (the bus down, the key refused), or null. */
  problem: string | null;
}


/**
 * One record of the operator audit trail (store/audit.ts), as the console's Audit view
 * shows it: who changed what, from where, and the values before and after as the trail
 * keeps them — a secret only as a word (`set`, `changed`, `unchanged`), never its value
 * (engine/audit-trail.ts redacts before anything is stored).
 */
export interface AuditRecordView {
  /** Its place in the chain (1, 2, …): what `audit.list`'s `before` pages back from. */
  seq: number;
  /** ISO-8601 UTC. */
  at: string;
  /** The OS user. */
  actor: string;
  /** Where the change was made: `console`, `console (web)`, `tray`, `cli (subs add)`… */
  source: string;
  /** `subscription.create`, `settings.update`, `pause_all`… (engine/audit-trail.ts AUDIT_ACTIONS). */
  action: string;
  /** A subscription's name, `settings`, `3 subscriptions`. */
  target: string;
  targetId: string | null;
  /** JSON values (an object of the fields that changed, as a rule); null: none (a creation has no before, a deletion no after). */
  before: unknown;
  after: unknown;
}

/** Records `audit.list` answers with when no limit is given: the Audit view's page. */
export const AUDIT_PAGE = 100;

/** Where a verification of the audit trail found its chain broken. */
export interface AuditBreak {
  /** The record at fault (for `truncated`: the first one missing after the newest left). */
  seq: number;
  /** Its time and action; null when the record is not there (`truncated`). */
  at: string | null;
  action: string | null;
  /**
   * `edited`: its fields do not match its hash. `unlinked`: it does not link to the record
   * before it (one between was deleted, or the records were reordered), or, as the first
   * record, to where the trail starts. `truncated`: the newest records are missing.
   * `no_chain`: the chain's ends (audit_chain) are gone.
   */
  reason: 'edited' | 'unlinked' | 'truncated' | 'no_chain';
  /** Why, in a sentence. */
  message: string;
}

/** What checking the audit trail's hash chain found (`sluice audit --verify`, the Audit view's Verify chain). */
export interface AuditVerification {
  intact: boolean;
  /** Records checked (all of them when intact; those before the break otherwise). */
  count: number;
  first: { seq: number; at: string } | null;
  last: { seq: number; at: string; hash: string } | null;
  /** The last record retention removed (verification started after it), or null when none was. */
  anchor: { seq: number; at: string | null } | null;
  broken: AuditBreak | null;
}
