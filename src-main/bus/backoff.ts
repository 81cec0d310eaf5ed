/**
 * Reconnect pacing for the bus (docs/design.md#bus-connection: faster than the origin's
 * 60 s, with backoff).
 */
interface BackoffPolicy {
  /** Delay before the first retry. */
  initialMs: number;
  /** Upper bound of the un-jittered delay. */
  maxMs: number;
  /** Each delay is multiplied by a random factor in [1 - jitter, 1 + jitter]. */
  jitter: number;
}

// 250 ms doubling to 5 s: a restarted local server is picked up almost at once, while a
// server that stays down costs one dial per ~5 s. Jitter keeps many clients from
// reconnecting in lockstep after a server restart.
export const BUS_BACKOFF: BackoffPolicy = { initialMs: 250, maxMs: 5_000, jitter: 0.2 };

/**
 * Milliseconds to wait before retry number `attempt` (1-based: the wait after the first
 * failure is `attempt` 1). `random` returns a value in [0, 1).
 */
export function backoffDelay(
  attempt: number,
  policy: BackoffPolicy = BUS_BACKOFF,
  random: () => number = Math.random,
): number {
  const exponent = Math.max(0, Math.floor(attempt) - 1);
  // Clamping the exponent keeps 2 ** n finite for absurd attempt counts.
  const base = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(exponent, 30));
  const factor = 1 - policy.jitter + 2 * policy.jitter * random();
  return Math.round(base * factor);
}
