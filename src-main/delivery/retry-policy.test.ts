import { describe, expect, it } from 'vitest';
import { judgeAttempt, retryDelayMs, terminalError, MAX_RETRY_AFTER_MS } from './retry-policy';

describe('judgeAttempt', () => {
  it.each([
    [200, 'success'], [204, 'success'], [299, 'success'],
    [500, 'retryable'], [503, 'retryable'], [429, 'retryable'],
    [400, 'terminal'], [401, 'terminal'], [404, 'terminal'], [410, 'terminal'],
    [301, 'terminal'], [302, 'terminal'], [304, 'terminal'], [100, 'terminal'],
  ] as const)('HTTP %i is %s', (code, verdict) => {
    expect(judgeAttempt({ kind: 'response', statusCode: code })).toBe(verdict);
  });

  it('retries network errors and timeouts, never a blocked destination', () => {
    expect(judgeAttempt({ kind: 'network_error', statusCode: null })).toBe('retryable');
    expect(judgeAttempt({ kind: 'timeout', statusCode: null })).toBe('retryable');
    expect(judgeAttempt({ kind: 'blocked', statusCode: null })).toBe('terminal');
  });

  it('words terminal errors like the reference', () => {
    expect(terminalError(404)).toBe('non-retryable 404');
    expect(terminalError(302)).toBe('redirect 302 not followed');
  });
});

describe('retryDelayMs', () => {
  const schedule = [1, 2, 4];

  it('follows the schedule with jitter in [0.8, 1.2]', () => {
    expect(retryDelayMs(1, schedule, () => 0)).toBe(800);
    expect(retryDelayMs(1, schedule, () => 0.5)).toBe(1000);
    expect(retryDelayMs(2, schedule, () => 0.999999)).toBe(2400);
    expect(retryDelayMs(3, schedule, () => 0.5)).toBe(4000);
    for (let i = 0; i < 1000; i++) {
      const d = retryDelayMs(3, schedule) as number;
      expect(d).toBeGreaterThanOrEqual(3200);
      expect(d).toBeLessThanOrEqual(4800);
    }
  });

  it('stops after the schedule: 1 + len(schedule) attempts; an empty schedule is one attempt', () => {
    expect(retryDelayMs(4, schedule)).toBeNull();
    expect(retryDelayMs(1, [])).toBeNull();
    expect(retryDelayMs(0, schedule)).toBeNull();
  });

  it('lets Retry-After lengthen a wait, clamped', () => {
    expect(retryDelayMs(1, schedule, () => 0.5, 30_000)).toBe(30_000);
    expect(retryDelayMs(1, schedule, () => 0.5, 10)).toBe(1000);
    expect(retryDelayMs(1, schedule, () => 0.5, 10 * 3_600_000)).toBe(MAX_RETRY_AFTER_MS);
  });
});
