/**
 * A member's own database and its team's records, mapped both ways: what of a local
 * subscription the team shares, and what a team record makes of the local copy each
 * member keeps (its engine reads only its own database; docs/design.md#teams).
 *
 * The local copy has the breaker's fields in the subscription itself (tripped = not
 * enabled and stamped auto-disabled); the team keeps the analyst's switch in the
 * subscription record and the breaker in a record of its own. So:
 * - shared `enabled` is the analyst's: a locally tripped subscription is still switched on;
 * - locally, `enabled` is the analyst's switch and the team breaker together.
 */
import { defaultSettings, type Settings } from '../contract/settings-descriptor';
import type { Store } from '../store/database';
import { deleteSubscription, getSubscription, insertSubscription, listSubscriptions, updateSubscription, type Subscription } from '../store/subscriptions';
import type { TeamConfig } from './team-config';
import { TEAM_SETTING_KEYS, type BreakerRecord, type TeamSettingKey, type TeamSettings, type TeamSubscription } from './team-records';

/** What the team shares of a local subscription. */
export function teamSubscriptionOf(sub: Subscription): TeamSubscription {
  return {
    id: sub.id,
    name: sub.name,
    url: sub.url,
    secret: sub.secret,
    previousSecret: sub.previousSecret,
    previousSecretUntil: sub.previousSecretUntil,
    patterns: sub.patterns,
    retrySchedule: sub.retrySchedule,
    options: sub.options,
    secretHeaders: sub.secretHeaders,
    // Tripped is the breaker's, not the analyst's: still switched on.
    enabled: sub.enabled || sub.autoDisabledAt !== null,
    createdAt: sub.createdAt,
    updatedAt: sub.updatedAt,
  };
}

/** The team's settings as this member has them: the team keys that differ from their defaults. */
export function teamSettingsOf(settings: Settings): TeamSettings {
  const defaults = defaultSettings();
  const out: Record<string, unknown> = {};
  for (const key of TEAM_SETTING_KEYS) if (JSON.stringify(settings[key]) !== JSON.stringify(defaults[key])) out[key] = settings[key];
  return out as TeamSettings;
}

/** The local breaker fields a team breaker gives a subscription switched `enabled` by the analyst. */
export function localBreakerFields(enabled: boolean, breaker: BreakerRecord): Pick<Subscription, 'enabled' | 'autoDisabledAt' | 'consecutiveFailures' | 'lastError' | 'lastFailureAt'> {
  return {
    enabled: enabled && !breaker.tripped,
    autoDisabledAt: breaker.tripped ? (breaker.trippedAt ?? breaker.lastFailureAt ?? new Date(0).toISOString()) : null,
    consecutiveFailures: breaker.consecutiveFailures,
    lastError: breaker.lastError,
    lastFailureAt: breaker.lastFailureAt,
  };
}

/**
 * Write a team subscription into the local database (insert or update), with the local
 * breaker fields from `breaker`. A local subscription of another id holding the same name
 * is renamed aside (`name (local)`), never silently overwritten. Returns what changed:
 * 'inserted', 'updated' or 'same' (the copy was current already).
 */
export function mirrorSubscription(store: Store, team: TeamSubscription, breaker: BreakerRecord): 'inserted' | 'updated' | 'same' {
  const local = getSubscription(store, team.id);
  const breakerFields = localBreakerFields(team.enabled, breaker);
  if (!local) {
    const clash = listSubscriptions(store).find((s) => s.name === team.name);
    if (clash) updateSubscription(store, clash.id, { name: `${clash.name} (local)`.slice(0, 64) });
    insertSubscription(store, { ...team, ...breakerFields, lastSuccessAt: null });
    return 'inserted';
  }
  const config: Partial<Subscription> = {
    name: team.name,
    url: team.url,
    secret: team.secret,
    previousSecret: team.previousSecret,
    previousSecretUntil: team.previousSecretUntil,
    patterns: team.patterns,
    retrySchedule: team.retrySchedule,
    options: team.options,
    secretHeaders: team.secretHeaders,
    updatedAt: team.updatedAt,
    ...breakerFields,
  };
  const changed = (Object.keys(config) as (keyof Subscription)[]).filter((k) => JSON.stringify(local[k]) !== JSON.stringify(config[k]));
  if (changed.length === 0) return 'same';
  if (changed.includes('name')) {
    const clash = listSubscriptions(store).find((s) => s.name === team.name && s.id !== team.id);
    if (clash) updateSubscription(store, clash.id, { name: `${clash.name} (local)`.slice(0, 64) });
  }
  updateSubscription(store, team.id, Object.fromEntries(changed.map((k) => [k, config[k]])));
  return 'updated';
}

/** A subscription the team deleted: gone here too (its delivery history stays). Returns whether it was here. */
export function unmirrorSubscription(store: Store, id: string): boolean {
  return deleteSubscription(store, id);
}

/**
 * Move this installation's configuration into a team (`sluice team create`): every local
 * subscription, and the team settings set here. Returns what was moved.
 */
export async function moveIntoTeam(config: TeamConfig, store: Store, settings: Settings): Promise<{ subscriptions: string[]; settings: TeamSettingKey[] }> {
  const subscriptions = listSubscriptions(store);
  for (const sub of subscriptions) await config.putSubscription(teamSubscriptionOf(sub));
  const shared = teamSettingsOf(settings);
  const keys = Object.keys(shared) as TeamSettingKey[];
  for (const key of keys) await config.putSetting(key, shared[key] as Settings[typeof key]);
  return { subscriptions: subscriptions.map((s) => s.name), settings: keys };
}
