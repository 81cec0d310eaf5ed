/**
 * The circuit breaker (docs/design.md#trip, docs/design.md#re-enable), as pure functions
 * over a subscription's counters. A receiver that keeps failing is switched off so it
 * cannot hold egress capacity that healthy receivers need; the analyst switches it back
 * on. The fields it reads and the state they show as are the store's
 * (store/subscriptions.ts); its threshold is a setting (store/settings.ts).
 */
import { SETTINGS } from '../contract/settings-descriptor';
import type { BreakerFields } from '../store/subscriptions';

export const DEFAULT_CIRCUIT_THRESHOLD = SETTINGS.circuitThreshold.default;
const MAX_ERROR_LENGTH = 512;

export function truncateError(error: string): string {
  return error.length <= MAX_ERROR_LENGTH ? error : `${error.slice(0, MAX_ERROR_LENGTH - 1)}…`;
}

/** A delivery ended delivered: the failure streak is over. */
export function afterSuccess(now: string): Partial<BreakerFields> {
  return { consecutiveFailures: 0, lastSuccessAt: now, lastError: null };
}

/**
 * A delivery ended failed (after its retries). At the threshold the subscription trips:
 * disabled and stamped. Tripping an already tripped subscription only re-stamps.
 */
export function afterFailure(
  current: Pick<BreakerFields, 'consecutiveFailures' | 'enabled'>,
  error: string,
  threshold: number,
  now: string,
): { patch: Partial<BreakerFields>; tripped: boolean } {
  const consecutiveFailures = current.consecutiveFailures + 1;
  const patch: Partial<BreakerFields> = { consecutiveFailures, lastFailureAt: now, lastError: truncateError(error) };
  if (consecutiveFailures < Math.max(1, threshold)) return { patch, tripped: false };
  return { patch: { ...patch, enabled: false, autoDisabledAt: now }, tripped: true };
}

/**
 * The analyst's switch. Turning a disabled subscription on clears the trip and the
 * streak, so it starts with a clean slate; pausing leaves the counters as they are.
 */
export function setEnabled(current: Pick<BreakerFields, 'enabled'>, enabled: boolean): Partial<BreakerFields> {
  if (!enabled) return { enabled: false };
  if (current.enabled) return { enabled: true };
  return { enabled: true, autoDisabledAt: null, consecutiveFailures: 0, lastError: null };
}
