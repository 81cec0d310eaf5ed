/**
 * Retry policy (docs/design.md#retries), in one pure function so it can be read and
 * tested alone. A delivery is up to 1 + schedule.length attempts. Network errors,
 * timeouts, 5xx and 429 are retried; any other non-2xx answer is terminal, since the
 * receiver is saying the request itself is wrong. Redirects are never followed (a 3xx
 * fails).
 */
import { SETTINGS } from '../contract/settings-descriptor';

/** The global retrySchedule setting's default. */
export const DEFAULT_RETRY_SCHEDULE_S = [...SETTINGS.retrySchedule.default];
/** Jitter is mandatory: synchronized retries from many senders are a DoS. */
const JITTER_LOW = 0.8;
const JITTER_HIGH = 1.2;
/** A receiver's Retry-After may stretch a wait, up to this, never shorten it below the schedule. */
export const MAX_RETRY_AFTER_MS = 5 * 60_000;

type AttemptVerdict = 'success' | 'retryable' | 'terminal';

interface AttemptOutcome {
  kind: 'response' | 'network_error' | 'timeout' | 'blocked';
  statusCode: number | null;
}

export function judgeAttempt(outcome: AttemptOutcome): AttemptVerdict {
  if (outcome.kind === 'blocked') return 'terminal';
  if (outcome.kind !== 'response' || outcome.statusCode === null) return 'retryable';
  const code = outcome.statusCode;
  if (code >= 200 && code < 300) return 'success';
  if (code === 429 || code >= 500) return 'retryable';
  return 'terminal';
}

/** The error text of a terminal answer, as the reference words it. */
export function terminalError(statusCode: number): string {
  return statusCode >= 300 && statusCode < 400 ? `redirect ${statusCode} not followed` : `non-retryable ${statusCode}`;
}

/**
 * Milliseconds to wait before attempt `attemptsMade + 1`, or null when the schedule is
 * exhausted. `random` is a uniform [0, 1) source (injected for tests).
 */
export function retryDelayMs(
  attemptsMade: number,
  scheduleSeconds: readonly number[],
  random: () => number = Math.random,
  retryAfterMs: number | null = null,
): number | null {
  if (attemptsMade < 1 || attemptsMade > scheduleSeconds.length) return null;
  const base = (scheduleSeconds[attemptsMade - 1] as number) * 1000;
  const jittered = base * (JITTER_LOW + (JITTER_HIGH - JITTER_LOW) * random());
  if (retryAfterMs === null) return Math.round(jittered);
  return Math.round(Math.max(jittered, Math.min(retryAfterMs, MAX_RETRY_AFTER_MS)));
}
