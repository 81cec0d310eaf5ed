/** The subscriptions table: rows in, views out. Repositories take the store first. */
import type { SubscriptionView } from '../contract/views';
import { presetsIn } from '../match/pattern';
import { subscriptionState, type BreakerFields } from '../engine/breaker';
import type { Store } from './database';
import type { NewSubscriptionRow, SubscriptionRow, SubscriptionRowUpdate } from './schema';

/** A subscription as the engine uses it (with its secret: never leaves the main process). */
export interface Subscription extends BreakerFields {
  id: string;
  name: string;
  url: string;
  secret: string;
  patterns: string[];
  /** Its own retry schedule (seconds), or null for the global default. */
  retrySchedule: number[] | null;
  createdAt: string;
  updatedAt: string;
}

/** Dead letters and held events of one subscription (from the deliveries table). */
export interface BacklogCounts {
  dead: number;
  held: number;
}

export function fromRow(row: SubscriptionRow): Subscription {
  return {
    id: row.id,
    name: row.name,
    url: row.url,
    secret: row.secret,
    patterns: parsePatterns(row.patterns),
    retrySchedule: parseSchedule(row.retry_schedule),
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

function parsePatterns(text: string): string[] {
  try {
    const value: unknown = JSON.parse(text);
    return Array.isArray(value) ? value.filter((p): p is string => typeof p === 'string') : [];
  } catch {
    return [];
  }
}

/** The renderer's view: everything but the secret. */
export function toView(sub: Subscription, backlog: BacklogCounts = { dead: 0, held: 0 }): SubscriptionView {
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
  };
}

export function listSubscriptions(store: Store): Subscription[] {
  return store.all(store.kysely.selectFrom('subscriptions').selectAll().orderBy('name')).map(fromRow);
}

export function getSubscription(store: Store, id: string): Subscription | undefined {
  const row = store.first(store.kysely.selectFrom('subscriptions').selectAll().where('id', '=', id));
  return row && fromRow(row);
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
  return row && fromRow(row);
}

export function nameTaken(store: Store, name: string, exceptId?: string): boolean {
  let q = store.kysely.selectFrom('subscriptions').select('id').where('name', '=', name);
  if (exceptId) q = q.where('id', '!=', exceptId);
  return store.first(q) !== undefined;
}

export function insertSubscription(store: Store, sub: Subscription): void {
  const row: NewSubscriptionRow = {
    id: sub.id,
    name: sub.name,
    url: sub.url,
    secret: sub.secret,
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
  };
  store.run(store.kysely.insertInto('subscriptions').values(row));
}

export type SubscriptionChanges = Partial<Omit<Subscription, 'id' | 'createdAt'>>;

export function updateSubscription(store: Store, id: string, changes: SubscriptionChanges): boolean {
  const row: SubscriptionRowUpdate = {};
  if (changes.name !== undefined) row.name = changes.name;
  if (changes.url !== undefined) row.url = changes.url;
  if (changes.secret !== undefined) row.secret = changes.secret;
  if (changes.patterns !== undefined) row.patterns = JSON.stringify(changes.patterns);
  if (changes.enabled !== undefined) row.enabled = changes.enabled ? 1 : 0;
  if (changes.consecutiveFailures !== undefined) row.consecutive_failures = changes.consecutiveFailures;
  if (changes.lastSuccessAt !== undefined) row.last_success_at = changes.lastSuccessAt;
  if (changes.lastFailureAt !== undefined) row.last_failure_at = changes.lastFailureAt;
  if (changes.lastError !== undefined) row.last_error = changes.lastError;
  if (changes.autoDisabledAt !== undefined) row.auto_disabled_at = changes.autoDisabledAt;
  if (changes.updatedAt !== undefined) row.updated_at = changes.updatedAt;
  if (changes.retrySchedule !== undefined) row.retry_schedule = changes.retrySchedule && JSON.stringify(changes.retrySchedule);
  if (Object.keys(row).length === 0) return true;
  return store.run(store.kysely.updateTable('subscriptions').set(row).where('id', '=', id)).changes > 0;
}

export function deleteSubscription(store: Store, id: string): boolean {
  return store.run(store.kysely.deleteFrom('subscriptions').where('id', '=', id)).changes > 0;
}
