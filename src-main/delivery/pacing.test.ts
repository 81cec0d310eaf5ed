/**
 * The pacing rules on a clock of the test's own: the bucket's refill and burst, and the
 * parking of what is over the rate (each delivery parked once, in order, at exactly the
 * rate), so a paced backlog waits in the store without coming round again per token.
 */
import { describe, expect, it } from 'vitest';
import { NO_PACING, Pacer, TokenBucket, burstOf, hasRate, type Pacing } from './pacing';

const paced = (rate: number, burst: number | null = null): Pacing => ({ ...NO_PACING, rate, burst });

describe('burstOf', () => {
  it('is a second of tokens by default, at least one, or the burst asked for', () => {
    expect([0.1, 1, 2.5, 5, 10_000].map((rate) => burstOf(paced(rate)))).toEqual([1, 1, 3, 5, 10_000]);
    expect(burstOf(paced(5, 1))).toBe(1);
    expect(burstOf(paced(0.1, 20))).toBe(20);
  });
});

describe('hasRate', () => {
  it('takes only a finite rate above 0 as a rate', () => {
    expect([5, 0.1, null, 0, -1, Number.NaN, Number.POSITIVE_INFINITY].map((rate) => hasRate({ ...NO_PACING, rate }))).toEqual([
      true,
      true,
      false,
      false,
      false,
      false,
      false,
    ]);
  });
});

describe('TokenBucket', () => {
  it('starts full, gives its burst at once, then one token per interval', () => {
    const bucket = new TokenBucket(5, 3, 0);
    expect([bucket.tryTake(0), bucket.tryTake(0), bucket.tryTake(0), bucket.tryTake(0)]).toEqual([true, true, true, false]);
    expect(bucket.nextTokenAt(0)).toBe(200);
    expect(bucket.tryTake(199)).toBe(false);
    expect(bucket.tryTake(200)).toBe(true);
    expect(bucket.nextTokenAt(250)).toBeCloseTo(400, 6);
  });

  it('never holds more than its burst, however long it was idle', () => {
    const bucket = new TokenBucket(10, 2, 0);
    expect(bucket.available(3_600_000)).toBe(2);
    expect([bucket.tryTake(3_600_000), bucket.tryTake(3_600_000), bucket.tryTake(3_600_000)]).toEqual([true, true, false]);
  });

  it('keeps slow rates exact: 0.1/s is one token every 10 s', () => {
    const bucket = new TokenBucket(0.1, 1, 0);
    expect(bucket.tryTake(0)).toBe(true);
    expect(bucket.nextTokenAt(1)).toBeCloseTo(10_000, 6);
    expect(bucket.tryTake(9_999)).toBe(false);
    expect(bucket.tryTake(10_000)).toBe(true);
  });
});

/**
 * Drive a pacer as the engine does: `arrivals` deliveries arrive at time 0; those it
 * parks come back (from the outbox) at their due time, in due order. Returns the send
 * times and how often each delivery was parked.
 */
function simulate(pacing: Pacing, arrivals: number): { sent: number[]; parkedTimes: number[] } {
  const pacer = new Pacer(pacing, 0);
  const sent: number[] = [];
  const parked: { id: number; due: number }[] = [];
  const parkedTimes = new Array<number>(arrivals).fill(0);
  for (let id = 0; id < arrivals; id++) {
    const due = pacer.admit(0, false);
    if (due === null) sent.push(0);
    else {
      parked.push({ id, due });
      parkedTimes[id]!++;
    }
  }
  // The scheduler claims in due order, at the due time.
  for (let i = 0; i < parked.length; i++) {
    const { id, due } = parked[i]!;
    const again = pacer.admit(due, true);
    if (again === null) sent.push(due);
    else {
      parked.push({ id, due: again });
      parkedTimes[id]!++;
    }
  }
  return { sent, parkedTimes };
}

describe('Pacer', () => {
  it('sends the burst at once, parks the rest one interval apart, and each parked one goes when it comes back', () => {
    const { sent, parkedTimes } = simulate(paced(5), 100);
    expect(sent).toHaveLength(100);
    expect(sent.slice(0, 5)).toEqual([0, 0, 0, 0, 0]);
    expect(sent.slice(5, 8)).toEqual([200, 400, 600]);
    expect(sent[99]).toBe(19_000);
    // Parked at most once: a backlog costs one write per delivery, not one per token.
    expect(Math.max(...parkedTimes)).toBe(1);
    expect(parkedTimes.filter((n) => n === 1)).toHaveLength(95);
  });

  it('keeps a 100,000-event backlog at its rate with a few numbers of state', () => {
    const { sent, parkedTimes } = simulate(paced(5, 1), 100_000);
    expect(sent).toHaveLength(100_000);
    const rate = (sent.length - 1) / (((sent[sent.length - 1] as number) - (sent[0] as number)) / 1000);
    expect(rate).toBeCloseTo(5, 6);
    expect(Math.max(...parkedTimes)).toBe(1);
  });

  it('puts a delivery that arrives while others are parked behind them, even when a token is there', () => {
    const pacer = new Pacer(paced(5, 1), 0);
    expect(pacer.admit(0, false)).toBeNull();
    expect(pacer.admit(0, false)).toBe(200);
    expect(pacer.admit(0, false)).toBe(400);
    expect(pacer.holdingBack(0)).toBe(true);
    // At 200 a token is there: the newcomer does not take it, the first parked one does.
    expect(pacer.admit(200, false)).toBe(600);
    expect(pacer.admit(200, true)).toBeNull();
    expect(pacer.admit(400, true)).toBeNull();
    expect(pacer.admit(600, true)).toBeNull();
    expect(pacer.holdingBack(600)).toBe(false);
    // Queue gone, a token refilled: a newcomer goes at once again.
    expect(pacer.admit(800, false)).toBeNull();
  });

  it('never gives a due time before the token is there (whole milliseconds, rounded up)', () => {
    const pacer = new Pacer(paced(3, 1), 0);
    expect(pacer.admit(0, false)).toBeNull();
    const due = pacer.admit(0, false) as number;
    expect(due).toBe(334);
    expect(pacer.admit(due, true)).toBeNull();
  });

  it('applies a changed rate from now, behind what was parked before', () => {
    const pacer = new Pacer(paced(1, 1), 0);
    expect(pacer.admit(0, false)).toBeNull();
    expect(pacer.admit(0, false)).toBe(1000);
    pacer.reconfigure(paced(10, 1), 0);
    expect(pacer.rate).toBe(10);
    expect(pacer.admit(0, false)).toBe(1100);
  });

  it('sends a parked delivery that comes back on time after one that came back late (a burst of one caps the refill), the bucket owing the difference', () => {
    const pacer = new Pacer(paced(5, 1), 0);
    expect(pacer.admit(0, false)).toBeNull();
    expect(pacer.admit(0, false)).toBe(200);
    expect(pacer.admit(0, false)).toBe(400);
    expect(pacer.admit(0, false)).toBe(600);
    // The first came back 30 ms late: the bucket was full (one token) and is empty from 230.
    expect(pacer.admit(230, true)).toBeNull();
    // The second, on time, finds 0.85 of a token: it goes, owing 0.15.
    expect(pacer.admit(400, true)).toBeNull();
    expect(pacer.admit(600, true)).toBeNull();
    // A delivery that just arrived gets no such slack: it waits for a whole token, the
    // 0.15 owed included (at 5/s, 30 ms after the slot behind the last one).
    expect(pacer.admit(601, false)).toBe(830);
  });
});

