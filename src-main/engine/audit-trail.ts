/**
 * The engine's side of the operator audit trail (docs/design.md#audit-trail; the chain
 * itself: store/audit.ts): who made a change and where (`Operator`), what it was (an
 * action, its target, the values before and after), and the recorders the bridge
 * handlers write through.
 *
 * Secrets never reach the trail: a subscription's secret, its previous secret and its
 * secret headers' values, and the secret settings (SECRET_KEYS: the bus password and
 * token), appear only as a word: `set` (there is one; created, or before a change),
 * `changed` (a new one, after a change), `unchanged` (a secret header kept as it was
 * while others changed), or '' / null when there is none.
 */
import { userInfo } from 'node:os';
import type { ReplayRequest } from '../contract/bridge';
import { SECRET_KEYS, type SettingKey, type Settings } from '../contract/settings-descriptor';
import type { ExtraHeader } from '../contract/subscription-options';
import type { HeldAction } from '../contract/views';
import { appendAudit } from '../store/audit';
import type { Store } from '../store/database';
import { subscriptionState, type Subscription } from '../store/subscriptions';

/** Every kind of change the trail records. */
export const AUDIT_ACTIONS = [
  'subscription.create',
  'subscription.update',
  'subscription.delete',
  'subscription.pause',
  'subscription.reenable',
  'subscription.rotate_secret',
  'subscription.test_fire',
  'deliveries.replay',
  'settings.update',
  'pause_all',
  'resume_all',
  'team.create',
  'team.join',
  'team.leave',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];
export type BulkAction = Extract<AuditAction, 'pause_all' | 'resume_all'>;
export type TeamAction = Extract<AuditAction, 'team.create' | 'team.join' | 'team.leave'>;

/**
 * Where a change was made: the Electron console, the console in a browser (the web
 * host: `sluice serve`, the demo's), the tray menu, the demo's own set-up, or a CLI
 * command (`cliSource`).
 */
export const SOURCES = { console: 'console', webConsole: 'console (web)', tray: 'tray', demo: 'demo' } as const;

/** `cli (subs add)`: the CLI, with the command that made the change. */
export function cliSource(command?: string): string {
  return command ? `cli (${command})` : 'cli';
}

/** Who made a change: the OS user running the process, and where. */
export interface Operator {
  actor: string;
  source: string;
}

export function osUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown user';
  }
}

/** One change, as the trail keeps it (before/after: JSON values, secrets already words). */
export interface AuditChange {
  action: AuditAction;
  target: string;
  targetId: string | null;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
}

/** What the handlers record through: called inside the change's own transaction. */
export interface AuditRecorder {
  record(change: AuditChange): void;
}

/** Each change appended to the trail at once, as made by `operator`. */
export class AuditTrail implements AuditRecorder {
  constructor(
    private readonly store: Store,
    readonly operator: Operator,
  ) {}

  record(change: AuditChange): void {
    appendAudit(this.store, { ...this.operator, ...change });
  }
}

/**
 * Pause all / Resume all: one operator action made of one change per subscription. The
 * changes are gathered and the trail gets one record for all of them (`summary`): each
 * subscription's state before and after, by name.
 */
export class BulkChange implements AuditRecorder {
  private readonly changes: AuditChange[] = [];

  record(change: AuditChange): void {
    this.changes.push(change);
  }

  /** The one record; null when nothing changed. */
  summary(action: BulkAction): AuditChange | null {
    if (this.changes.length === 0) return null;
    const before: Record<string, unknown> = {};
    const after: Record<string, unknown> = {};
    for (const change of this.changes) {
      before[change.target] = change.before;
      after[change.target] = change.after;
    }
    const n = this.changes.length;
    return { action, target: `${n} subscription${n === 1 ? '' : 's'}`, targetId: null, before, after };
  }
}

// ----- subscriptions ---------------------------------------------------------------------

/** Fields whose values are secrets: shown as words only. */
const SECRET_FIELDS = new Set(['secret', 'previousSecret']);
/** A change of only these is a rotation of the secret. */
const ROTATION_FIELDS = new Set(['secret', 'previousSecret', 'previousSecretUntil']);

/**
 * What an operator sets of a subscription, flat as the form and the CLI give it (its
 * delivery options among the rest). Its breaker counters and times are the engine's and
 * are left out; its state (active, paused, tripped) is in.
 */
function operatorFields(sub: Subscription): Record<string, unknown> {
  return {
    name: sub.name,
    url: sub.url,
    patterns: sub.patterns,
    retrySchedule: sub.retrySchedule,
    ...sub.options,
    state: subscriptionState(sub),
    secret: sub.secret,
    previousSecret: sub.previousSecret,
    previousSecretUntil: sub.previousSecretUntil,
    secretHeaders: sub.secretHeaders,
  };
}

const isSecret = (value: unknown): boolean => value !== null && value !== undefined && value !== '';

/** A subscription's fields as a whole (created, deleted), secrets as `set`. */
function wholeShown(fields: Record<string, unknown>): Record<string, unknown> {
  const shown: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) {
    if (SECRET_FIELDS.has(key)) shown[key] = isSecret(value) ? 'set' : null;
    else if (key === 'secretHeaders') shown[key] = (value as ExtraHeader[]).map((h) => ({ name: h.name, value: 'set' }));
    else shown[key] = value;
  }
  return shown;
}

/** The fields that differ, each side shown (secrets as words). */
function differences(before: Record<string, unknown>, after: Record<string, unknown>): { before: Record<string, unknown>; after: Record<string, unknown> } {
  const was: Record<string, unknown> = {};
  const now: Record<string, unknown> = {};
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const b = before[key] ?? null;
    const a = after[key] ?? null;
    if (JSON.stringify(b) === JSON.stringify(a)) continue;
    if (SECRET_FIELDS.has(key)) {
      was[key] = isSecret(b) ? 'set' : null;
      now[key] = isSecret(a) ? (isSecret(b) ? 'changed' : 'set') : null;
    } else if (key === 'secretHeaders') {
      const old = b as ExtraHeader[];
      was[key] = old.map((h) => ({ name: h.name, value: 'set' }));
      now[key] = (a as ExtraHeader[]).map((h) => {
        const kept = old.find((o) => o.name.toLowerCase() === h.name.toLowerCase());
        return { name: h.name, value: kept === undefined ? 'set' : kept.value === h.value ? 'unchanged' : 'changed' };
      });
    } else {
      was[key] = b;
      now[key] = a;
    }
  }
  return { before: was, after: now };
}

/**
 * A subscription created (`before` null), deleted (`after` null) or changed, as the trail
 * records it; null when nothing an operator sets changed. A change of the state alone is
 * a pause or a re-enable (`held`: what the re-enable did with the events held meanwhile);
 * of the secrets alone, a rotation; anything else, an update.
 */
export function subscriptionChange(before: Subscription | null, after: Subscription | null, held?: HeldAction): AuditChange | null {
  if (before === null && after === null) return null;
  if (before === null) {
    const sub = after as Subscription;
    return { action: 'subscription.create', target: sub.name, targetId: sub.id, before: null, after: wholeShown(operatorFields(sub)) };
  }
  if (after === null) return { action: 'subscription.delete', target: before.name, targetId: before.id, before: wholeShown(operatorFields(before)), after: null };
  const diff = differences(operatorFields(before), operatorFields(after));
  const keys = Object.keys(diff.after);
  if (keys.length === 0) return null;
  const reenabled = diff.after['state'] === 'active';
  if (reenabled && held !== undefined) diff.after['held'] = held;
  const action: AuditAction =
    keys.length === 1 && keys[0] === 'state'
      ? reenabled
        ? 'subscription.reenable'
        : 'subscription.pause'
      : keys.every((k) => ROTATION_FIELDS.has(k))
        ? 'subscription.rotate_secret'
        : 'subscription.update';
  return { action, target: after.name, targetId: after.id, ...diff };
}

// ----- the rest --------------------------------------------------------------------------

const SECRET_SETTINGS = new Set<SettingKey>(SECRET_KEYS);

/** The settings that differ, before and after (secrets as words); null when none did. */
export function settingsChange(before: Settings, after: Settings): AuditChange | null {
  const was: Record<string, unknown> = {};
  const now: Record<string, unknown> = {};
  for (const key of Object.keys(after) as SettingKey[]) {
    const b = before[key];
    const a = after[key];
    if (JSON.stringify(b) === JSON.stringify(a)) continue;
    if (SECRET_SETTINGS.has(key)) {
      was[key] = isSecret(b) ? 'set' : '';
      now[key] = isSecret(a) ? (isSecret(b) ? 'changed' : 'set') : '';
    } else {
      was[key] = b;
      now[key] = a;
    }
  }
  if (Object.keys(now).length === 0) return null;
  return { action: 'settings.update', target: 'settings', targetId: null, before: was, after: now };
}

/** A replay that queued something: what was asked, to which subscription, and how many. */
export function replayChange(request: ReplayRequest, target: { subscriptionId: string; subscriptionName: string }, queued: number): AuditChange {
  const { dryRun: _dryRun, ...asked } = request;
  return { action: 'deliveries.replay', target: target.subscriptionName, targetId: target.subscriptionId, before: null, after: { ...asked, queued } };
}

/** A test fire: the delivery it made (its outcome is in the delivery log). */
export function testFireChange(sub: Pick<Subscription, 'id' | 'name'>, fired: { deliveryId: number; eventId: string }): AuditChange {
  return { action: 'subscription.test_fire', target: sub.name, targetId: sub.id, before: null, after: { ...fired } };
}

/**
 * Forming, joining or leaving a team: the team, and what of this database went into it
 * (subscriptions and settings, by name). The membership settings themselves are recorded
 * apart, as the settings change they are.
 */
export function teamChange(action: TeamAction, team: string, details: Record<string, unknown>): AuditChange {
  return action === 'team.leave'
    ? { action, target: team, targetId: null, before: { team }, after: details }
    : { action, target: team, targetId: null, before: null, after: { team, ...details } };
}
