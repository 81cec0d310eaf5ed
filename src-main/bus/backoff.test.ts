import { describe, expect, it } from 'vitest';
import { BUS_BACKOFF, backoffDelay } from './backoff';

describe('backoffDelay', () => {
  const midpoint = (): number => 0.5;

  it('starts at 250 ms and doubles up to the 5 s cap', () => {
    const delays = [1, 2, 3, 4, 5, 6, 7, 50].map((n) => backoffDelay(n, BUS_BACKOFF, midpoint));
    expect(delays).toEqual([250, 500, 1000, 2000, 4000, 5000, 5000, 5000]);
  });

  it('treats attempt 0 and below like the first retry', () => {
    expect(backoffDelay(0, BUS_BACKOFF, midpoint)).toBe(250);
    expect(backoffDelay(-3, BUS_BACKOFF, midpoint)).toBe(250);
  });

  it('jitters within ±20%', () => {
    expect(backoffDelay(1, BUS_BACKOFF, () => 0)).toBe(200);
    expect(backoffDelay(6, BUS_BACKOFF, () => 0.999999)).toBe(6000);
    for (let i = 0; i < 1000; i++) {
      const delay = backoffDelay(3);
      expect(delay).toBeGreaterThanOrEqual(800);
      expect(delay).toBeLessThanOrEqual(1200);
    }
  });

  it('stays finite for absurd attempt counts', () => {
    expect(backoffDelay(1e9, BUS_BACKOFF, midpoint)).toBe(5000);
    expect(backoffDelay(Number.MAX_SAFE_INTEGER, BUS_BACKOFF, midpoint)).toBe(5000);
  });

  it('honours a custom policy', () => {
    expect(backoffDelay(3, { initialMs: 100, maxMs: 300, jitter: 0 })).toBe(300);
  });
});
