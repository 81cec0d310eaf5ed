/** The subscriptions table: rows in, views out. Repositories take the store first. */
import { defaultOptions, parseOptions, type ExtraHeader, type SubscriptionOptions } from '../contract/subscription-options';
import type { SubscriptionState, SubscriptionView } from '../contract/views';
import { presetsIn } from '../match/pattern';
import { PLAINTEXT_CIPHER, type SecretCipher, type Store } from './database';
import type { NewSubscriptionRow, SubscriptionRow, SubscriptionRowUpdate } from './schema';
import { needsUpgrade, openSecret, sealSecret } from './secret-cipher';

/** The circuit breaker's fields of a subscription (its rules: engine/breaker.ts). */
export interface BreakerFields {
  enabled: boolean;
  consecutiveFailures: number;
  lastSuccessAt: string | null;
  lastFailureAt: string | null;
  lastError: string | null;
  autoDisabledAt: string | null;
}

/** The state the console shows (docs/design.md#states): who stopped it, if anyone. */
export function subscriptionState(fields: Pick<BreakerFields, 'enabled' | 'autoDisabledAt'>): SubscriptionState {
  if (fields.enabled) return 'active';
  return fields.autoDisabledAt ? 'tripped' : 'paused';
}

/** A subscription as the engine uses it (with its secret: never leaves the main process). */
export interface Subscription extends BreakerFields {
  id: string;
  name: string;
  url: string;
  secret: string;
  /**
   * The secret it replaced, still valid until `previousSecretUntil` (a rotation with an
   * overlap): deliveries carry a second signature made with it meanwhile.
   */
  previousSecret: string | null;
  previousSecretUntil: string | null;
  patterns: string[];
  /** Its own retry schedule (seconds), or null for the global default. */
  retrySchedule: number[] | null;
  /** How its requests reach the receiver, and how fast (contract/subscription-options.ts). */
  options: SubscriptionOptions;
  /** Headers whose values are write-only (credentials); opened like `secret`. */
  secretHeaders: ExtraHeader[];
  /** Events its filter kept out of its outbox. */
  filteredCount: number;
  createdAt: string;
  updatedAt: string;
}

/** Dead letters and held events of one subscription (from the deliveries table). */
export interface BacklogCounts {
  dead: number;
  held: number;
  /** When the oldest held event was recorded, or null. */
  heldSince: string | null;
}

/** How a read treats the secrets: open them (the default), or leave them out (views). */
export interface ReadOptions {
  /** False: `secret` and `previousSecret` are left empty and nothing is decrypted (for views only). */
  secrets?: boolean;
}

/**
 * A row as the engine uses it, its secrets opened with `cipher`. Throws a
 * `SecretKeyError` for a secret that `cipher` cannot open.
 */
export function fromRow(row: SubscriptionRow, cipher: SecretCipher = PLAINTEXT_CIPHER, options: ReadOptions = {}): Subscription {
  const secrets = options.secrets !== false;
  return {
    id: row.id,
    name: row.name,
    url: row.url,
    secret: secrets ? openCached(cipher, row.secret) : '',
    previousSecret: row.previous_secret === null ? null : secrets ? openCached(cipher, row.previous_secret) : '',
    previousSecretUntil: row.previous_secret_until,
    patterns: parsePatterns(row.patterns),
    retrySchedule: parseSchedule(row.retry_schedule),
    options: parseOptions(row.options),
    secretHeaders: parseSecretHeaders(row.secret_headers, (stored) => (secrets ? openCached(cipher, stored) : '')),
    filteredCount: row.filtered_count,
    enabled: row.enabled === 1,
    consecutiveFailures: row.consecutive_failures,
    lastSuccessAt: row.last_success_at,
    lastFailureAt: row.last_failure_at,
    lastError: row.last_error,
    autoDisabledAt: row.auto_disabled_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function parseSchedule(text: string | null): number[] | null {
  if (text === null) return null;
  try {
    const value: unknown = JSON.parse(text);
    return Array.isArray(value) && value.every((n) => typeof n === 'number' && Number.isFinite(n) && n >= 0) ? value : null;
  } catch {
    return null;
  }
}

/**
 * Secret headers are stored as `[{name, value}]` with each value sealed on its own, so the
 * names (not secret) read without opening anything.
 */
function parseSecretHeaders(text: string | null, open: (stored: string) => string): ExtraHeader[] {
  if (text === null) return [];
  let stored: unknown;
  try {
    stored = JSON.parse(text);
  } catch {
    return [];
  }
  if (!Array.isArray(stored)) return [];
  return stored
    .filter((h): h is ExtraHeader => typeof h === 'object' && h !== null && typeof h.name === 'string' && typeof h.value === 'string')
    .map((h) => ({ name: h.name, value: open(h.value) }));
}

function sealSecretHeaders(cipher: SecretCipher, headers: readonly ExtraHeader[]): string | null {
  if (headers.length === 0) return null;
  return JSON.stringify(headers.map((h) => ({ name: h.name, value: sealSecret(cipher, h.value) })));
}

/** The sealed values of a stored secret-headers column (for the key checks and upgrades). */
function sealedValues(text: string | null): string[] {
  return parseSecretHeaders(text, (stored) => stored).map((h) => h.value);
}

function parsePatterns(text: string): string[] {
  try {
    const value: unknown = JSON.parse(text);
    return Array.isArray(value) ? value.filter((p): p is string => typeof p === 'string') : [];
  } catch {
    return [];
  }
}

/** Opened secrets by stored form, per cipher: views and reloads read often; AES once per value. */
const opened = new WeakMap<SecretCipher, Map<string, string>>();
const OPENED_MAX = 10_000;

function openCached(cipher: SecretCipher, stored: string): string {
  let cache = opened.get(cipher);
  if (!cache) opened.set(cipher, (cache = new Map()));
  let secret = cache.get(stored);
  if (secret === undefined) {
    secret = openSecret(cipher, stored);
    if (cache.size >= OPENED_MAX) cache.clear();
    cache.set(stored, secret);
  }
  return secret;
}

/** The previous secret's end of validity, while it is still valid at `nowMs`. */
export function rotatingUntil(sub: Pick<Subscription, 'previousSecretUntil'>, nowMs = Date.now()): string | null {
  const until = sub.previousSecretUntil;
  return until !== null && Date.parse(until) > nowMs ? until : null;
}

/** The renderer's view: everything but the secret. */
export function toView(sub: Subscription, backlog: BacklogCounts = { dead: 0, held: 0, heldSince: null }): SubscriptionView {
  return {
    id: sub.id,
    name: sub.name,
    url: sub.url,
    patterns: [...sub.patterns],
    presets: presetsIn(sub.patterns),
    enabled: sub.enabled,
    state: subscriptionState(sub),
    consecutiveFailures: sub.consecutiveFailures,
    lastSuccessAt: sub.lastSuccessAt,
    lastFailureAt: sub.lastFailureAt,
    lastError: sub.lastError,
    autoDisabledAt: sub.autoDisabledAt,
    createdAt: sub.createdAt,
    updatedAt: sub.updatedAt,
    insecureUrl: sub.url.toLowerCase().startsWith('http://'),
    retrySchedule: sub.retrySchedule && [...sub.retrySchedule],
    deadCount: backlog.dead,
    heldCount: backlog.held,
    heldSince: backlog.heldSince,
    previousSecretUntil: rotatingUntil(sub),
    ...structuredClone(sub.options),
    secretHeaderNames: sub.secretHeaders.map((h) => h.name),
    filteredCount: sub.filteredCount,
    // The engine says when its rate holds it back (Engine.subscriptionViews).
    paced: null,
  };
}

export function listSubscriptions(store: Store, options: ReadOptions = {}): Subscription[] {
  return store.all(store.kysely.selectFrom('subscriptions').selectAll().orderBy('name')).map((row) => fromRow(row, store.cipher, options));
}

export function getSubscription(store: Store, id: string): Subscription | undefined {
  const row = store.first(store.kysely.selectFrom('subscriptions').selectAll().where('id', '=', id));
  return row && fromRow(row, store.cipher);
}

/** By id, or else by exact name (the CLI accepts either). */
export function findSubscription(store: Store, idOrName: string): Subscription | undefined {
  const row = store.first(
    store.kysely
      .selectFrom('subscriptions')
      .selectAll()
      .where((eb) => eb.or([eb('id', '=', idOrName), eb('name', '=', idOrName)]))
      .orderBy((eb) => eb.case().when('id', '=', idOrName).then(0).else(1).end()),
  );
  return row && fromRow(row, store.cipher);
}

export function nameTaken(store: Store, name: string, exceptId?: string): boolean {
  let q = store.kysely.selectFrom('subscriptions').select('id').where('name', '=', name);
  if (exceptId) q = q.where('id', '!=', exceptId);
  return store.first(q) !== undefined;
}

/** A subscription to insert; one without a rotation under way may leave out the previous secret. */
export type NewSubscription = Omit<Subscription, 'previousSecret' | 'previousSecretUntil' | 'options' | 'secretHeaders' | 'filteredCount'> &
  Partial<Pick<Subscription, 'previousSecret' | 'previousSecretUntil' | 'options' | 'secretHeaders'>>;

export function insertSubscription(store: Store, sub: NewSubscription): void {
  const row: NewSubscriptionRow = {
    id: sub.id,
    name: sub.name,
    url: sub.url,
    secret: sealSecret(store.cipher, sub.secret),
    previous_secret: sub.previousSecret == null ? null : sealSecret(store.cipher, sub.previousSecret),
    previous_secret_until: sub.previousSecretUntil ?? null,
    patterns: JSON.stringify(sub.patterns),
    enabled: sub.enabled ? 1 : 0,
    consecutive_failures: sub.consecutiveFailures,
    last_success_at: sub.lastSuccessAt,
    last_failure_at: sub.lastFailureAt,
    last_error: sub.lastError,
    auto_disabled_at: sub.autoDisabledAt,
    created_at: sub.createdAt,
    updated_at: sub.updatedAt,
    retry_schedule: sub.retrySchedule && JSON.stringify(sub.retrySchedule),
    options: JSON.stringify(sub.options ?? defaultOptions()),
    secret_headers: sealSecretHeaders(store.cipher, sub.secretHeaders ?? []),
  };
  store.run(store.kysely.insertInto('subscriptions').values(row));
}

export type SubscriptionChanges = Partial<Omit<Subscription, 'id' | 'createdAt' | 'filteredCount'>>;

/** Count events a subscription's filter kept out (in the intake's transaction). */
export function countFiltered(store: Store, id: string, n: number): void {
  store.runSql('update "subscriptions" set "filtered_count" = "filtered_count" + ? where "id" = ?', [n, id]);
}

export function updateSubscription(store: Store, id: string, changes: SubscriptionChanges): boolean {
  const row: SubscriptionRowUpdate = {};
  if (changes.name !== undefined) row.name = changes.name;
  if (changes.url !== undefined) row.url = changes.url;
  if (changes.secret !== undefined) row.secret = sealSecret(store.cipher, changes.secret);
  if (changes.previousSecret !== undefined)
    row.previous_secret = changes.previousSecret === null ? null : sealSecret(store.cipher, changes.previousSecret);
  if (changes.previousSecretUntil !== undefined) row.previous_secret_until = changes.previousSecretUntil;
  if (changes.patterns !== undefined) row.patterns = JSON.stringify(changes.patterns);
  if (changes.enabled !== undefined) row.enabled = changes.enabled ? 1 : 0;
  if (changes.consecutiveFailures !== undefined) row.consecutive_failures = changes.consecutiveFailures;
  if (changes.lastSuccessAt !== undefined) row.last_success_at = changes.lastSuccessAt;
  if (changes.lastFailureAt !== undefined) row.last_failure_at = changes.lastFailureAt;
  if (changes.lastError !== undefined) row.last_error = changes.lastError;
  if (changes.autoDisabledAt !== undefined) row.auto_disabled_at = changes.autoDisabledAt;
  if (changes.updatedAt !== undefined) row.updated_at = changes.updatedAt;
  if (changes.retrySchedule !== undefined) row.retry_schedule = changes.retrySchedule && JSON.stringify(changes.retrySchedule);
  if (changes.options !== undefined) row.options = JSON.stringify(changes.options);
  if (changes.secretHeaders !== undefined) row.secret_headers = sealSecretHeaders(store.cipher, changes.secretHeaders);
  if (Object.keys(row).length === 0) return true;
  return store.run(store.kysely.updateTable('subscriptions').set(row).where('id', '=', id)).changes > 0;
}

export function deleteSubscription(store: Store, id: string): boolean {
  return store.run(store.kysely.deleteFrom('subscriptions').where('id', '=', id)).changes > 0;
}

/** What `prepareSecrets` did. */
export interface SecretsUpgrade {
  /** Plain-text values re-encrypted. */
  upgraded: number;
  /** Why the old plain-text bytes may still be in the file's free space (the scrub failed), or null. */
  scrubError: string | null;
}

/**
 * At engine start, before anything reads a subscription: check that every stored secret
 * opens with `store.cipher` (else throw `SecretKeyError`, writing nothing), then, under a
 * real cipher, re-encrypt the plain-text ones (a one-time upgrade) and scrub their old
 * bytes from the file and its WAL (VACUUM: free space of older writes may hold them too).
 */
export function prepareSecrets(store: Store, options: { upgrade?: boolean } = {}): SecretsUpgrade {
  const cipher = store.cipher;
  const rows = store.all(store.kysely.selectFrom('subscriptions').select(['id', 'secret', 'previous_secret', 'secret_headers']));
  for (const row of rows) {
    openSecret(cipher, row.secret);
    if (row.previous_secret !== null) openSecret(cipher, row.previous_secret);
    for (const value of sealedValues(row.secret_headers)) openSecret(cipher, value);
  }
  const stale = rows.filter(
    (r) =>
      needsUpgrade(cipher, r.secret) ||
      (r.previous_secret !== null && needsUpgrade(cipher, r.previous_secret)) ||
      sealedValues(r.secret_headers).some((value) => needsUpgrade(cipher, value)),
  );
  if (stale.length === 0 || options.upgrade === false) return { upgraded: 0, scrubError: null };
  let upgraded = 0;
  const secureDelete = store.sqlite.pragma('secure_delete', { simple: true }) as number;
  // Overwrite the freed bytes of the old values instead of leaving them in free space.
  store.commit();
  store.sqlite.pragma('secure_delete = ON');
  try {
    store.transaction(() => {
      for (const row of stale) {
        const update: SubscriptionRowUpdate = {};
        if (needsUpgrade(cipher, row.secret)) update.secret = cipher.encrypt(openSecret(cipher, row.secret));
        if (row.previous_secret !== null && needsUpgrade(cipher, row.previous_secret))
          update.previous_secret = cipher.encrypt(openSecret(cipher, row.previous_secret));
        const headers = parseSecretHeaders(row.secret_headers, (stored) => stored);
        if (headers.some((h) => needsUpgrade(cipher, h.value)))
          update.secret_headers = JSON.stringify(
            headers.map((h) => ({ name: h.name, value: needsUpgrade(cipher, h.value) ? cipher.encrypt(openSecret(cipher, h.value)) : h.value })),
          );
        upgraded += Object.keys(update).length;
        store.run(store.kysely.updateTable('subscriptions').set(update).where('id', '=', row.id));
      }
    });
    store.commit();
  } finally {
    store.sqlite.pragma(`secure_delete = ${secureDelete ? 'ON' : 'OFF'}`);
  }
  let scrubError: string | null = null;
  try {
    // Rebuild the file (no stale free space), then copy it in and empty the WAL.
    store.sqlite.exec('VACUUM');
    const [result] = store.sqlite.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[];
    if (result && result.busy !== 0) scrubError = 'another process holds the database open; the WAL could not be emptied';
  } catch (error) {
    scrubError = (error as Error).message;
  }
  return { upgraded, scrubError };
}

/** Forget previous secrets whose overlap has ended (they are no longer valid anywhere). */
export function clearExpiredPreviousSecrets(store: Store, nowIso: string): number {
  const expired = store.first(
    store.kysely
      .selectFrom('subscriptions')
      .select('id')
      .where('previous_secret_until', 'is not', null)
      .where('previous_secret_until', '<=', nowIso),
  );
  if (!expired) return 0;
  return Number(
    store.run(
      store.kysely
        .updateTable('subscriptions')
        .set({ previous_secret: null, previous_secret_until: null })
        .where('previous_secret_until', 'is not', null)
        .where('previous_secret_until', '<=', nowIso),
    ).changes,
  );
}
