/**
 * Creating, changing and removing subscriptions: every rule a saved subscription must
 * meet (docs/design.md#subscription-fields), in one place for the bridge and the CLI
 * alike. Errors are BridgeFailures naming the field, so the form can show them inline.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { BridgeFailure, type SubscriptionInput, type SubscriptionPatch } from '../contract/bridge';
import {
  PREVIOUS_SECRET_MAX_HOURS,
  type CreatedSubscription,
  type PresetName,
  type SaveWarning,
  type SubscriptionView,
} from '../contract/views';
import {
  BATCH_FORMATS,
  OPTION_KEYS,
  type FormatName,
  defaultOptions,
  headerNameError,
  headerValueError,
  HEADERS_MAX,
  withOptions,
  type ExtraHeader,
  type OptionKey,
  type SubscriptionOptions,
} from '../contract/subscription-options';
import { generateWebhookSecret, webhookSecretError } from '../delivery/formats/standard-webhooks';
import type { DestinationCheck } from '../delivery/ssrf';
import { compileExpression } from '../match/expression';
import { expandPatterns, patternError } from '../match/pattern';
import type { Store } from '../store/database';
import {
  deleteSubscription,
  getSubscription,
  insertSubscription,
  listSubscriptions,
  nameTaken,
  toView,
  updateSubscription,
  type Subscription,
  type SubscriptionChanges,
} from '../store/subscriptions';
import { setEnabled } from './breaker';

export const SECRET_MIN = 16;
export const SECRET_MAX = 256;
export const NAME_MAX = 64;
export const INSECURE_URL_MESSAGE =
  'http:// sends events unencrypted; the signature proves their origin but anyone on the path can read them';

export interface SubscriptionServiceDeps {
  store: Store;
  /** The SSRF guard's save-time check (docs/design.md#save-time-check). */
  checkDestination: (url: string) => Promise<DestinationCheck>;
  /**
   * The receiver TLS files' save-time check (missing, unreadable, not PEM, a key that is
   * not the certificate's): the field at fault and why, or null when they are usable.
   */
  checkTlsFiles?: (files: Pick<SubscriptionOptions, 'caFile' | 'clientCert' | 'clientKey'>) => TlsFileProblem | null;
  now?: () => string;
}

/**
 * Told of a write, inside its transaction, with the subscription before (null: created)
 * and after (null: deleted): the audit trail records it there, so a change and its record
 * are committed together or not at all.
 */
export type Written = (before: Subscription | null, after: Subscription | null) => void;

export interface TlsFileProblem {
  field: 'caFile' | 'clientCert' | 'clientKey';
  message: string;
}

/** A 32-byte random secret, URL-safe base64 (43 characters). */
export function generateSecret(): string {
  return randomBytes(32).toString('base64url');
}

export class SubscriptionService {
  private readonly now: () => string;

  constructor(private readonly deps: SubscriptionServiceDeps) {
    this.now = deps.now ?? (() => new Date().toISOString());
  }

  list(): SubscriptionView[] {
    return listSubscriptions(this.deps.store, { secrets: false }).map((sub) => toView(sub));
  }

  get(id: string): Subscription {
    const sub = getSubscription(this.deps.store, id);
    if (!sub) throw new BridgeFailure('not_found', `no subscription with id ${id}`);
    return sub;
  }

  async create(input: SubscriptionInput, written?: Written): Promise<CreatedSubscription> {
    const name = this.checkName(input.name);
    const patterns = checkPatterns(input.presets ?? [], input.patterns ?? []);
    const { url, warnings } = await this.checkUrl(input.url);
    const options = this.checkOptions(defaultOptions(), input);
    const secret =
      input.secret === undefined || input.secret.trim() === ''
        ? options.format === 'standard-webhooks'
          ? generateWebhookSecret()
          : generateSecret()
        : checkSecret(input.secret, options.format);
    const secretHeaders = checkSecretHeaders(input.secretHeaders ?? [], [], options.headers);
    const now = this.now();
    const sub: Subscription = {
      id: randomUUID(),
      name,
      url,
      secret,
      previousSecret: null,
      previousSecretUntil: null,
      patterns,
      retrySchedule: checkSchedule(input.retrySchedule),
      options,
      secretHeaders,
      filteredCount: 0,
      enabled: input.enabled ?? true,
      consecutiveFailures: 0,
      lastSuccessAt: null,
      lastFailureAt: null,
      lastError: null,
      autoDisabledAt: null,
      createdAt: now,
      updatedAt: now,
    };
    // Re-check the name at write time: the CLI may have added one while the URL resolved.
    this.checkName(name);
    this.deps.store.transaction(() => {
      insertSubscription(this.deps.store, sub);
      written?.(null, sub);
    });
    return { subscription: toView(sub), secret, warnings };
  }

  async update(id: string, patch: SubscriptionPatch, written?: Written): Promise<{ subscription: SubscriptionView; warnings: SaveWarning[] }> {
    const current = this.get(id);
    const changes: SubscriptionChanges = {};
    let warnings: SaveWarning[] = [];
    if (patch.name !== undefined) changes.name = this.checkName(patch.name, id);
    if (patch.presets !== undefined || patch.patterns !== undefined)
      changes.patterns = checkPatterns(patch.presets ?? [], patch.patterns ?? []);
    Object.assign(changes, this.rotation(current, patch));
    if (patch.retrySchedule !== undefined) changes.retrySchedule = checkSchedule(patch.retrySchedule);
    if (OPTION_KEYS.some((key) => patch[key] !== undefined)) changes.options = this.checkOptions(current.options, patch);
    const format = (changes.options ?? current.options).format;
    // A Standard Webhooks receiver verifies with a whsec_ key: switching to it needs one.
    if (format === 'standard-webhooks' && current.options.format !== format && (patch.secret ?? '').trim() === '') {
      if (webhookSecretError(current.secret) !== null)
        throw new BridgeFailure(
          'invalid_argument',
          'the Standard Webhooks format signs with a whsec_ key, and the current secret is not one: give a new secret in the whsec_ form with this change (and to the receiver)',
          'secret',
        );
    }
    if (patch.secretHeaders !== undefined || changes.options !== undefined)
      changes.secretHeaders = checkSecretHeaders(
        patch.secretHeaders ?? current.secretHeaders.map((h) => ({ name: h.name })),
        current.secretHeaders,
        (changes.options ?? current.options).headers,
      );
    if (patch.url !== undefined) {
      const checked = await this.checkUrl(patch.url);
      changes.url = checked.url;
      warnings = checked.warnings;
    }
    const latest = this.get(id);
    if (patch.enabled !== undefined) Object.assign(changes, setEnabled(latest, patch.enabled));
    changes.updatedAt = this.now();
    if (changes.name !== undefined) this.checkName(changes.name, id);
    const after = this.deps.store.transaction(() => {
      updateSubscription(this.deps.store, current.id, changes);
      const saved = this.get(id);
      written?.(latest, saved);
      return saved;
    });
    return { subscription: toView(after), warnings };
  }

  /**
   * A new secret, optionally keeping the one it replaces valid for an overlap (the
   * dispatcher signs with both meanwhile). Rotating again during an overlap keeps only
   * the secret just replaced. Without a new secret, 0 hours ends an overlap now.
   */
  private rotation(current: Subscription, patch: SubscriptionPatch): SubscriptionChanges {
    const hours = patch.previousSecretValidHours;
    if (hours !== undefined && !(Number.isFinite(hours) && hours >= 0 && hours <= PREVIOUS_SECRET_MAX_HOURS))
      throw new BridgeFailure('invalid_argument', `keep the previous secret 0–${PREVIOUS_SECRET_MAX_HOURS} hours`, 'previousSecretValidHours');
    if (patch.secret === undefined || patch.secret.trim() === '') {
      if (hours === undefined) return {};
      if (hours > 0)
        throw new BridgeFailure('invalid_argument', 'keeping the previous secret valid goes with a new secret', 'previousSecretValidHours');
      return current.previousSecret === null ? {} : { previousSecret: null, previousSecretUntil: null };
    }
    const secret = checkSecret(patch.secret, patch.format ?? current.options.format);
    if (secret === current.secret) return {};
    if (hours === undefined || hours === 0) return { secret, previousSecret: null, previousSecretUntil: null };
    const until = new Date(Date.parse(this.now()) + Math.round(hours * 3_600_000)).toISOString();
    return { secret, previousSecret: current.secret, previousSecretUntil: until };
  }

  /** Pause, or re-enable (which clears a trip: docs/design.md#re-enable). */
  setEnabled(id: string, enabled: boolean, written?: Written): SubscriptionView {
    return this.deps.store.transaction(() => {
      const current = this.get(id);
      updateSubscription(this.deps.store, id, { ...setEnabled(current, enabled), updatedAt: this.now() });
      const after = this.get(id);
      written?.(current, after);
      return toView(after);
    });
  }

  remove(id: string, written?: Written): void {
    this.deps.store.transaction(() => {
      const before = this.get(id);
      if (!deleteSubscription(this.deps.store, id)) throw new BridgeFailure('not_found', `no subscription with id ${id}`);
      written?.(before, null);
    });
  }

  /**
   * The options given over `base`, checked as a whole: the contract has checked each
   * value's bounds; here, what depends on several (headers, TLS files, pacing).
   */
  checkOptions(base: SubscriptionOptions, given: Partial<Record<OptionKey, unknown>>): SubscriptionOptions {
    const options = withOptions(base, given);
    options.headers = checkHeaders(options.headers, 'headers');
    for (const kind of ['filter', 'transform'] as const) {
      if (options[kind] === '') continue;
      const compiled = compileExpression(options[kind], kind);
      if (!compiled.ok) throw new BridgeFailure('invalid_argument', compiled.message, kind);
    }
    if ((options.batch !== null || options.batchMs !== null) && !BATCH_FORMATS.includes(options.format))
      throw new BridgeFailure(
        'invalid_argument',
        `batching is for the ${BATCH_FORMATS.join(' and ')} formats, whose products take several events per request`,
        options.batch !== null ? 'batch' : 'batchMs',
      );
    if (options.burst !== null && options.rate === null)
      throw new BridgeFailure('invalid_argument', 'a burst goes with a rate limit: set the rate too', 'burst');
    const tls = this.deps.checkTlsFiles?.(options);
    if (tls) throw new BridgeFailure('invalid_argument', tls.message, tls.field);
    return options;
  }

  private checkName(raw: string, exceptId?: string): string {
    const name = raw.trim();
    if (name.length === 0) throw new BridgeFailure('invalid_argument', 'a name is required', 'name');
    if (name.length > NAME_MAX) throw new BridgeFailure('invalid_argument', `a name is at most ${NAME_MAX} characters`, 'name');
    if (/[\u0000-\u001f\u007f]/.test(name))
      throw new BridgeFailure('invalid_argument', 'a name cannot contain control characters', 'name');
    if (nameTaken(this.deps.store, name, exceptId))
      throw new BridgeFailure('conflict', `a subscription named "${name}" already exists`, 'name');
    return name;
  }

  private async checkUrl(raw: string): Promise<{ url: string; warnings: SaveWarning[] }> {
    const url = raw.trim();
    const check = await this.deps.checkDestination(url);
    const warnings: SaveWarning[] = [];
    if (!check.ok) {
      if (check.code === 'invalid_url') throw new BridgeFailure('invalid_argument', check.reason, 'url');
      if (check.code === 'forbidden_destination')
        throw new BridgeFailure(
          'forbidden_destination',
          `${check.reason}. Deliveries to private, loopback and link-local addresses are refused; ` +
            `allow private destinations in the settings if this is an internal SIEM.`,
          'url',
        );
      warnings.push({ code: 'unresolved_host', message: `${check.reason}; deliveries will fail until it resolves` });
    }
    if (url.toLowerCase().startsWith('http://')) warnings.push({ code: 'insecure_url', message: INSECURE_URL_MESSAGE });
    return { url, warnings };
  }
}

/** A subscription's own retry schedule (seconds between attempts); null: the global one. */
function checkSchedule(schedule: number[] | null | undefined): number[] | null {
  if (schedule === undefined || schedule === null) return null;
  if (schedule.some((s) => !Number.isFinite(s) || s < 0))
    throw new BridgeFailure('invalid_argument', 'retry delays are zero or more seconds', 'retrySchedule');
  return [...schedule];
}

/** Names and values a request can carry, no name twice (names compare without case). */
function checkHeaders(headers: readonly ExtraHeader[], field: string, taken: readonly ExtraHeader[] = []): ExtraHeader[] {
  const seen = new Set(taken.map((h) => h.name.toLowerCase()));
  if (headers.length + taken.length > HEADERS_MAX)
    throw new BridgeFailure('invalid_argument', `at most ${HEADERS_MAX} headers, secret ones included`, field);
  return headers.map((header, i) => {
    const name = header.name.trim();
    const value = header.value.trim();
    const error = headerNameError(name) ?? headerValueError(name, value);
    if (error) throw new BridgeFailure('invalid_argument', error, `${field}[${i}]`);
    if (seen.has(name.toLowerCase())) throw new BridgeFailure('invalid_argument', `${name} is given twice`, `${field}[${i}]`);
    seen.add(name.toLowerCase());
    return { name, value };
  });
}

/**
 * The secret headers after a save: an entry with a value sets it; one without keeps the
 * value stored under that name (the console never has it to send back).
 */
export function checkSecretHeaders(
  given: readonly { name: string; value?: string | undefined }[],
  stored: readonly ExtraHeader[],
  plain: readonly ExtraHeader[],
): ExtraHeader[] {
  const resolved = given.map((header, i) => {
    if (header.value !== undefined) return { name: header.name, value: header.value };
    const kept = stored.find((h) => h.name.toLowerCase() === header.name.trim().toLowerCase());
    if (!kept)
      throw new BridgeFailure('invalid_argument', `${header.name.trim()} has no stored value to keep: give its value`, `secretHeaders[${i}]`);
    return kept;
  });
  const checked = checkHeaders(resolved, 'secretHeaders', plain);
  const empty = checked.findIndex((h) => h.value === '');
  if (empty >= 0) throw new BridgeFailure('invalid_argument', `the secret header ${checked[empty]?.name} needs a value`, `secretHeaders[${empty}]`);
  return checked;
}

function checkSecret(secret: string, format: FormatName = 'decnet'): string {
  if (format === 'standard-webhooks') {
    const problem = webhookSecretError(secret);
    if (problem) throw new BridgeFailure('invalid_argument', problem, 'secret');
    return secret;
  }
  if (secret.length < SECRET_MIN || secret.length > SECRET_MAX)
    throw new BridgeFailure(
      'invalid_argument',
      `a secret is ${SECRET_MIN}–${SECRET_MAX} characters (leave it blank to generate one)`,
      'secret',
    );
  if (/[\u0000-\u001f\u007f]/.test(secret))
    throw new BridgeFailure('invalid_argument', 'a secret cannot contain control characters', 'secret');
  return secret;
}

function checkPatterns(presets: PresetName[], patterns: string[]): string[] {
  for (let i = 0; i < patterns.length; i++) {
    const raw = (patterns[i] as string).trim();
    if (raw === '') continue;
    const err = patternError(raw);
    if (err) throw new BridgeFailure('invalid_argument', `invalid topic pattern: ${err}`, `patterns[${i}]`);
  }
  const expanded = expandPatterns(presets, patterns);
  if (expanded.length === 0)
    throw new BridgeFailure('invalid_argument', 'choose at least one preset or topic pattern', 'patterns');
  return expanded;
}
