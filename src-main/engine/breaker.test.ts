import { describe, expect, it } from 'vitest';
import { subscriptionState } from '../store/subscriptions';
import { afterFailure, afterSuccess, setEnabled, truncateError } from './breaker';

describe('circuit breaker', () => {
  const now = '2026-11-28T12:00:00.000Z';

  it('counts failures and trips at the threshold', () => {
    let state = { consecutiveFailures: 0, enabled: true };
    for (let i = 1; i <= 4; i++) {
      const r = afterFailure(state, 'http 503', 5, now);
      expect(r.tripped).toBe(false);
      expect(r.patch).toEqual({ consecutiveFailures: i, lastFailureAt: now, lastError: 'http 503' });
      state = { ...state, consecutiveFailures: i };
    }
    const trip = afterFailure(state, 'http 503', 5, now);
    expect(trip.tripped).toBe(true);
    expect(trip.patch).toMatchObject({ enabled: false, autoDisabledAt: now, consecutiveFailures: 5 });
  });

  it('re-trips by re-stamping only', () => {
    const later = '2026-11-28T12:05:00.000Z';
    const r = afterFailure({ consecutiveFailures: 7, enabled: false }, 'x', 5, later);
    expect(r.patch).toMatchObject({ enabled: false, autoDisabledAt: later, consecutiveFailures: 8 });
  });

  it('treats a threshold below 1 as 1', () => {
    expect(afterFailure({ consecutiveFailures: 0, enabled: true }, 'x', 0, now).tripped).toBe(true);
  });

  it('resets the streak on success', () => {
    expect(afterSuccess(now)).toEqual({ consecutiveFailures: 0, lastSuccessAt: now, lastError: null });
  });

  it('re-enable clears the trip; pause keeps the counters', () => {
    expect(setEnabled({ enabled: false }, true)).toEqual({ enabled: true, autoDisabledAt: null, consecutiveFailures: 0, lastError: null });
    expect(setEnabled({ enabled: true }, true)).toEqual({ enabled: true });
    expect(setEnabled({ enabled: true }, false)).toEqual({ enabled: false });
  });

  it('tells the three states apart', () => {
    expect(subscriptionState({ enabled: true, autoDisabledAt: null })).toBe('active');
    expect(subscriptionState({ enabled: false, autoDisabledAt: null })).toBe('paused');
    expect(subscriptionState({ enabled: false, autoDisabledAt: now })).toBe('tripped');
  });

  it('caps the stored error at 512 characters', () => {
    expect(truncateError('e'.repeat(2000))).toHaveLength(512);
    expect(truncateError('short')).toBe('short');
  });
});
