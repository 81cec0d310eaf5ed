/**
 * What a team keeps in its configuration bucket (team-config.ts), as pure functions: the
 * names derived from the team's, the records and their keys, sealing a subscription's
 * secrets with the team key, reading a record back (checked: another member may run
 * another version), and the circuit breaker's steps over a shared record.
 *
 * Keys of the configuration bucket:
 * - `team`: the meta record (name, stream, shared consumer, key id, created);
 * - `subs.<id>`: a subscription, its secrets sealed (the secret, the previous secret,
 *   every secret header's value), bound to `subs.<id>/<field>`;
 * - `settings.<key>`: a setting that is the team's (TEAM_SETTING_KEYS);
 * - `breaker.<id>`: the shared circuit breaker of a subscription.
 * Member heartbeats live in their own bucket (team-members.ts): it has an age limit,
 * which must never expire configuration.
 *
 * Every write, deletes included, carries the team key's signature of its record key,
 * operation and bytes (SIGNATURE_HEADER), and a record without a valid one is refused
 * when read: the bus may carry what others publish (DECNET's decoys feed it), and
 * publishing on `$KV.<bucket>.>` must not be a way to add a receiver or open the SSRF
 * guard. Such a write still replaces the record on the server (a bucket keeps one value
 * per key): it is a denial of service, which only the bus's permissions prevent.
 */
import { SETTINGS, type SettingKey, type Settings } from '../contract/settings-descriptor';
import { parseOptions, type ExtraHeader } from '../contract/subscription-options';
import type { HeldAction } from '../contract/views';
import type { Subscription } from '../store/subscriptions';
import type { KvEntry } from './kv-bucket';
import type { TeamKey } from './team-key';

/**
 * A team is named by its configuration bucket (`sluice team create --bucket NAME`); the
 * name is also its shared durable's, so it stays under NATS's advised 32 characters.
 */
const TEAM_NAME = /^[A-Za-z0-9_-]{1,24}$/;
/** The bucket, when `team create` is given none. */
export const DEFAULT_TEAM_BUCKET = 'sluice-team';
/** Subscription and instance ids are one key token (UUIDs). */
const RECORD_ID = /^[A-Za-z0-9_-]{1,128}$/;
const MAX_ERROR_LENGTH = 512;

/** A record that cannot be read, or a value that cannot be stored. */
export class TeamRecordError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TeamRecordError';
  }
}

export function checkTeamName(name: string): string {
  if (!TEAM_NAME.test(name)) throw new TeamRecordError(`"${name}" is not a team name: 1 to 24 letters, digits, - and _`);
  return name;
}

export function checkRecordId(id: string, what = 'a subscription id'): string {
  if (!RECORD_ID.test(id)) throw new TeamRecordError(`"${id}" is not ${what}: letters, digits, - and _`);
  return id;
}

export const configBucketName = (team: string): string => checkTeamName(team);
export const membersBucketName = (team: string): string => `${checkTeamName(team)}-members`;
/** The durable consumer every member binds on the team's stream: each event goes to one member. */
export const sharedConsumerName = (team: string): string => checkTeamName(team);

export const META_KEY = 'team';
/** The header holding a write's signature (team-key.ts `sign`). */
export const SIGNATURE_HEADER = 'Sluice-Team-Signature';
export const subscriptionKey = (id: string): string => `subs.${checkRecordId(id)}`;
export const settingKey = (key: TeamSettingKey): string => `settings.${key}`;
export const breakerKey = (id: string): string => `breaker.${checkRecordId(id)}`;

export interface TeamMeta {
  name: string;
  /** The JetStream stream the team consumes. */
  stream: string;
  /** Its shared durable consumer (`sharedConsumerName`). */
  consumer: string;
  /** The team key's id: a member whose key has another id is refused. */
  keyId: string;
  createdAt: string;
}

/**
 * A subscription as the team shares it: its configuration and the analyst's switch
 * (`enabled`: false is paused). What each member counts for itself stays out (its
 * filtered count), and so does the breaker, which has its own record.
 */
export type TeamSubscription = Pick<
  Subscription,
  'id' | 'name' | 'url' | 'secret' | 'previousSecret' | 'previousSecretUntil' | 'patterns' | 'retrySchedule' | 'options' | 'secretHeaders' | 'enabled' | 'createdAt' | 'updatedAt'
>;

/**
 * The settings that are the team's: how every member treats a receiver (breaker,
 * timeout, retries), what it holds and keeps, and which destinations the SSRF guard lets
 * through, so that an event is handled alike whichever member takes it. The rest is each
 * member's own: how it reaches the bus (URL, credentials, TLS files, stream and durable:
 * those come from the team's meta record), its egress proxy (its network), its
 * concurrency (its capacity), and everything of the console.
 */
export const TEAM_SETTING_KEYS = [
  'circuitThreshold',
  'timeoutMs',
  'retrySchedule',
  'heldMaxCount',
  'heldMaxAgeHours',
  'retentionDays',
  'retentionMaxRows',
  'allowPrivate',
  'allowedCidrs',
] as const satisfies readonly SettingKey[];
export type TeamSettingKey = (typeof TEAM_SETTING_KEYS)[number];
export type TeamSettings = Partial<Pick<Settings, TeamSettingKey>>;

export function isTeamSettingKey(key: string): key is TeamSettingKey {
  return (TEAM_SETTING_KEYS as readonly string[]).includes(key);
}

/** A team setting's value, checked by its descriptor's schema. */
export function checkTeamSetting<K extends TeamSettingKey>(key: K, value: unknown): Settings[K] {
  if (!isTeamSettingKey(key)) throw new TeamRecordError(`${String(key)} is not a team setting (team settings: ${TEAM_SETTING_KEYS.join(', ')})`);
  const checked = SETTINGS[key].schema.check(value, key);
  if (!checked.ok) throw new TeamRecordError(`${checked.issue.path || key}: ${checked.issue.message}`);
  return checked.value as Settings[K];
}

/** The shared circuit breaker of one subscription (docs/design.md#trip, across members). */
export interface BreakerRecord {
  consecutiveFailures: number;
  tripped: boolean;
  /** The last failure's error, sanitised (`sanitiseError`). */
  lastError: string | null;
  lastFailureAt: string | null;
  trippedAt: string | null;
  /**
   * The last re-enable and what the analyst decided for the events held meanwhile: each
   * member applies it to the events it holds itself, once per revision of this record.
   */
  reenabledAt: string | null;
  heldDecision: HeldAction | null;
}

export const CLEAR_BREAKER: Readonly<BreakerRecord> = Object.freeze({
  consecutiveFailures: 0,
  tripped: false,
  lastError: null,
  lastFailureAt: null,
  trippedAt: null,
  reenabledAt: null,
  heldDecision: null,
});

export interface FailureResult {
  consecutiveFailures: number;
  tripped: boolean;
  /** This call tripped it: across all members, exactly one call sees true per trip. */
  trippedNow: boolean;
}

/** A delivery ended failed: count it, and trip at the threshold (once: a tripped breaker stays so). */
export function breakerAfterFailure(current: BreakerRecord, error: string, threshold: number, now: string): { next: BreakerRecord; result: FailureResult } {
  const consecutiveFailures = current.consecutiveFailures + 1;
  const trippedNow = !current.tripped && consecutiveFailures >= Math.max(1, Math.floor(threshold));
  const next: BreakerRecord = {
    ...current,
    consecutiveFailures,
    tripped: current.tripped || trippedNow,
    lastError: sanitiseError(error),
    lastFailureAt: now,
    trippedAt: trippedNow ? now : current.trippedAt,
  };
  return { next, result: { consecutiveFailures, tripped: next.tripped, trippedNow } };
}

/**
 * An error as the team may share it: one line, no control characters, credentials and
 * query strings of URLs left out, at most 512 characters.
 */
export function sanitiseError(error: string): string {
  const line = error
    .replace(/[\u0000-\u001f\u007f]+/g, ' ')
    .replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@]*@/gi, '$1…@')
    .replace(/\b([a-z][a-z0-9+.-]*:\/\/[^\s?#]*)\?[^\s#]*/gi, '$1?…')
    .replace(/\b(bearer|basic|token|apikey|api-key|splunk)(\s*[:=]?\s+)[A-Za-z0-9._~+/=-]{8,}/gi, '$1$2…')
    .replace(/\s+/g, ' ')
    .trim();
  return line.length <= MAX_ERROR_LENGTH ? line : `${line.slice(0, MAX_ERROR_LENGTH - 1)}…`;
}

/** The field a secret is sealed for: a sealed value copied elsewhere does not open. */
const sealContext = (id: string, field: string): string => `${subscriptionKey(id)}/${field}`;

/** A subscription as stored: JSON, every secret sealed. */
export function sealSubscription(key: TeamKey, sub: TeamSubscription): Uint8Array {
  checkRecordId(sub.id);
  // Field by field: a whole Subscription passed in carries this member's counters, which are not the team's.
  const stored = {
    id: sub.id,
    name: sub.name,
    url: sub.url,
    previousSecretUntil: sub.previousSecretUntil,
    patterns: sub.patterns,
    retrySchedule: sub.retrySchedule,
    options: sub.options,
    enabled: sub.enabled,
    createdAt: sub.createdAt,
    updatedAt: sub.updatedAt,
    secret: key.seal(sub.secret, sealContext(sub.id, 'secret')),
    previousSecret: sub.previousSecret === null ? null : key.seal(sub.previousSecret, sealContext(sub.id, 'previousSecret')),
    secretHeaders: sub.secretHeaders.map((h) => ({ name: h.name, value: key.seal(h.value, sealContext(sub.id, `header/${h.name}`)) })),
  };
  return new TextEncoder().encode(JSON.stringify(stored));
}

/** A stored subscription back, its secrets opened (TeamKeyError when they do not open). */
export function openSubscription(key: TeamKey, id: string, value: Uint8Array): TeamSubscription {
  const at = subscriptionKey(id);
  const o = parseObject(value, at);
  const text = (field: string): string => {
    const v = o[field];
    if (typeof v !== 'string') throw new TeamRecordError(`${at}: ${field} is not text`);
    return v;
  };
  const textOrNull = (field: string): string | null => (o[field] === null || o[field] === undefined ? null : text(field));
  if (o['id'] !== id) throw new TeamRecordError(`${at}: holds subscription ${JSON.stringify(o['id'])}`);
  const patterns = o['patterns'];
  if (!Array.isArray(patterns) || !patterns.every((p) => typeof p === 'string')) throw new TeamRecordError(`${at}: patterns is not a list of text`);
  const schedule = o['retrySchedule'];
  if (schedule !== null && !(Array.isArray(schedule) && schedule.every((n) => typeof n === 'number' && Number.isFinite(n) && n >= 0)))
    throw new TeamRecordError(`${at}: retrySchedule is not a list of seconds`);
  const headers = o['secretHeaders'];
  if (!Array.isArray(headers) || !headers.every((h): h is ExtraHeader => typeof h?.name === 'string' && typeof h?.value === 'string'))
    throw new TeamRecordError(`${at}: secretHeaders is not a list of headers`);
  if (typeof o['enabled'] !== 'boolean') throw new TeamRecordError(`${at}: enabled is not true or false`);
  const previous = textOrNull('previousSecret');
  return {
    id,
    name: text('name'),
    url: text('url'),
    secret: key.open(text('secret'), sealContext(id, 'secret')),
    previousSecret: previous === null ? null : key.open(previous, sealContext(id, 'previousSecret')),
    previousSecretUntil: textOrNull('previousSecretUntil'),
    patterns: patterns as string[],
    retrySchedule: schedule as number[] | null,
    // A newer member's option this one does not know is left out; a bad value takes its default.
    options: parseOptions(JSON.stringify(o['options'] ?? null)),
    secretHeaders: headers.map((h) => ({ name: h.name, value: key.open(h.value, sealContext(id, `header/${h.name}`)) })),
    enabled: o['enabled'],
    createdAt: text('createdAt'),
    updatedAt: text('updatedAt'),
  };
}

export function parseMeta(value: Uint8Array): TeamMeta {
  const o = parseObject(value, META_KEY);
  const fields = ['name', 'stream', 'consumer', 'keyId', 'createdAt'] as const;
  for (const field of fields) if (typeof o[field] !== 'string') throw new TeamRecordError(`${META_KEY}: ${field} is not text`);
  return { name: o['name'], stream: o['stream'], consumer: o['consumer'], keyId: o['keyId'], createdAt: o['createdAt'] } as TeamMeta;
}

/** A breaker record back; a malformed one reads as clear (the next write replaces it). */
export function parseBreaker(value: Uint8Array): BreakerRecord {
  let o: Record<string, unknown>;
  try {
    o = parseObject(value, 'breaker');
  } catch {
    return { ...CLEAR_BREAKER };
  }
  const count = o['consecutiveFailures'];
  const textOrNull = (v: unknown): string | null => (typeof v === 'string' ? v : null);
  const held = o['heldDecision'];
  return {
    consecutiveFailures: typeof count === 'number' && Number.isInteger(count) && count >= 0 ? count : 0,
    tripped: o['tripped'] === true,
    lastError: textOrNull(o['lastError']),
    lastFailureAt: textOrNull(o['lastFailureAt']),
    trippedAt: textOrNull(o['trippedAt']),
    reenabledAt: textOrNull(o['reenabledAt']),
    heldDecision: held === 'deliver' || held === 'discard' ? held : null,
  };
}

/** One record of the bucket, read: null values are deleted records. */
export type TeamRecord =
  | { kind: 'team'; meta: TeamMeta | null }
  | { kind: 'subscription'; id: string; subscription: TeamSubscription | null }
  | { kind: 'setting'; key: TeamSettingKey; value: TeamSettings[TeamSettingKey] | null }
  | { kind: 'breaker'; id: string; breaker: BreakerRecord | null };

/** The headers that sign a write of `value` (empty for a delete) to `recordKey`. */
export function signatureHeaders(key: TeamKey, recordKey: string, operation: 'PUT' | 'DEL', value: Uint8Array = new Uint8Array(0)): Record<string, string> {
  return { [SIGNATURE_HEADER]: key.sign(value, `${recordKey}/${operation}`) };
}

/** Throws a TeamKeyError unless `entry` was written by a holder of the team key. */
export function verifyEntry(key: TeamKey, entry: KvEntry): void {
  const operation = entry.operation === 'PUT' ? 'PUT' : 'DEL';
  key.verify(entry.headers[SIGNATURE_HEADER], operation === 'PUT' ? entry.value : new Uint8Array(0), `${entry.key}/${operation}`);
}

/**
 * An entry of the bucket as a record; null for a key this version does not know (a
 * newer member's record, or a setting that is not the team's). Throws a TeamKeyError
 * for a write not signed with the team key, or secrets it does not open, and a
 * TeamRecordError for a known record that cannot be read.
 */
export function readRecord(key: TeamKey, entry: KvEntry): TeamRecord | null {
  verifyEntry(key, entry);
  const deleted = entry.operation !== 'PUT';
  if (entry.key === META_KEY) return { kind: 'team', meta: deleted ? null : parseMeta(entry.value) };
  const dot = entry.key.indexOf('.');
  const [prefix, rest] = dot < 0 ? [entry.key, ''] : [entry.key.slice(0, dot), entry.key.slice(dot + 1)];
  if (prefix === 'subs' && RECORD_ID.test(rest))
    return { kind: 'subscription', id: rest, subscription: deleted ? null : openSubscription(key, rest, entry.value) };
  if (prefix === 'breaker' && RECORD_ID.test(rest)) return { kind: 'breaker', id: rest, breaker: deleted ? null : parseBreaker(entry.value) };
  if (prefix === 'settings' && isTeamSettingKey(rest)) {
    if (deleted) return { kind: 'setting', key: rest, value: null };
    let value: unknown;
    try {
      value = JSON.parse(new TextDecoder().decode(entry.value));
    } catch {
      throw new TeamRecordError(`${entry.key}: not JSON`);
    }
    return { kind: 'setting', key: rest, value: checkTeamSetting(rest, value) };
  }
  return null;
}

export const encodeJson = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));

function parseObject(value: Uint8Array, at: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(value));
  } catch {
    throw new TeamRecordError(`${at}: not JSON`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new TeamRecordError(`${at}: not a JSON object`);
  return parsed as Record<string, unknown>;
}
