/**
 * Per-subscription pacing (docs/design.md#pacing): a token bucket that says whether a
 * delivery may be sent now, and when it may if not. Pure: the caller passes the time
 * (epoch ms) at every call, so tests drive it with a clock of their own.
 *
 * A delivery over the rate never waits here. The dispatcher hands it back to the store
 * (the outbox) due at the time `admit` gives it, and each one parked gets the next free
 * slot, one token interval after the one before: a backlog of 100,000 paced events is
 * 100,000 rows due one after the other, not 100,000 jobs in memory, and each is written
 * back once and comes back when its token is there (not once per token, as it would if
 * they were all due at the next one). What is held here is a few numbers per subscription.
 */

/** How fast, how bursty and how parallel one subscription's deliveries may be. */
export interface Pacing {
  /** Deliveries per second (> 0), or null: as fast as the receiver answers. */
  rate: number | null;
  /** Tokens the bucket holds (an integer ≥ 1), or null: max(1, ceil(rate)), a second's worth. */
  burst: number | null;
  /**
   * Requests in flight at once for this subscription (1–64), or null: its share of the
   * global bound (`subscriptionShare`). Never more than that share: see `shareLimit` in
   * the dispatcher.
   */
  concurrency: number | null;
}

export const NO_PACING: Pacing = { rate: null, burst: null, concurrency: null };

/** The most requests in flight one subscription may ask for. */
export const MAX_SUBSCRIPTION_CONCURRENCY = 64;

/**
 * Whether a rate applies. The contract accepts only rates above 0; anything else that
 * reached the engine (a hand-edited database) is no rate rather than a subscription
 * that never sends or a division by zero.
 */
export function hasRate(pacing: Pacing): pacing is Pacing & { rate: number } {
  return pacing.rate !== null && Number.isFinite(pacing.rate) && pacing.rate > 0;
}

/** The bucket's size for a rate: its own burst, or a second's worth of tokens (at least one). */
export function burstOf(pacing: Pacing): number {
  if (pacing.burst !== null) return Math.max(1, Math.floor(pacing.burst));
  return Math.max(1, Math.ceil(pacing.rate ?? 1));
}

/** Float dust from refills (a token at 0.9999999999) must not send a delivery round again. */
const EPSILON = 1e-9;
/** How late a parked delivery's token may be and it still goes (seconds of refill). */
const OUTBOX_SLACK_S = 0.05;

/** Tokens refill continuously at `rate` per second up to `burst`; one per delivery sent. */
export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(
    readonly rate: number,
    readonly burst: number,
    now: number,
    /** Tokens at `now` (a new bucket is full). */
    tokens = burst,
  ) {
    this.tokens = Math.min(burst, tokens);
    this.at = now;
  }

  /** Tokens available at `now` (a fraction while one refills). */
  available(now: number): number {
    if (now > this.at) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) * this.rate) / 1000);
      this.at = now;
    }
    return this.tokens;
  }

  /**
   * Take one token if there is one, or if one is at most `slack` short (then the bucket
   * owes it: the shortfall comes off the next refill, so the rate over time is exact).
   */
  tryTake(now: number, slack = EPSILON): boolean {
    if (this.available(now) < 1 - slack) return false;
    this.tokens -= 1;
    return true;
  }

  /** When the next whole token is there (now, if one is). */
  nextTokenAt(now: number): number {
    const missing = 1 - this.available(now);
    return missing <= EPSILON ? now : now + (missing * 1000) / this.rate;
  }
}

/**
 * A subscription's bucket and the tail of the queue of deliveries it parked in the
 * store. `admit` answers null (send now, a token taken) or the time the delivery is due:
 * the slot after the last one handed out, or the next token when none waits.
 */
export class Pacer {
  private bucket: TokenBucket;
  /** The slot of the last delivery parked (epoch ms, fractional); -Infinity before any. */
  private tail = Number.NEGATIVE_INFINITY;

  constructor(pacing: Pacing, now: number) {
    this.bucket = new TokenBucket(pacing.rate as number, burstOf(pacing), now);
  }

  get rate(): number {
    return this.bucket.rate;
  }

  get burst(): number {
    return this.bucket.burst;
  }

  /**
   * May a delivery be sent at `now`? `fromOutbox`: it was taken from the store in due
   * order (a parked one whose slot came, a retry whose wait is over): it takes a token
   * if there is one. A delivery that just arrived goes behind those parked before it,
   * so the queue keeps its order. Returns null (go: a token was taken) or its due time.
   */
  admit(now: number, fromOutbox: boolean): number | null {
    const queueAhead = this.tail > now;
    // A parked delivery taken at its slot goes, even when the timers that brought it ran a
    // few ms off the token's refill: sending it to the back of the queue for that would
    // halve the rate. Within 50 ms of refill (at most half a token), the bucket owes it.
    const slack = fromOutbox ? Math.min(0.5, this.bucket.rate * OUTBOX_SLACK_S) : EPSILON;
    if ((fromOutbox || !queueAhead) && this.bucket.tryTake(now, slack)) return null;
    const slot = Math.max(this.tail + 1000 / this.bucket.rate, this.bucket.nextTokenAt(now));
    this.tail = slot;
    // Whole milliseconds in the store, never before the token is there.
    return Math.ceil(slot);
  }

  /** Deliveries parked that are not due yet: the subscription is held back by its rate. */
  holdingBack(now: number): boolean {
    return this.tail > now;
  }

  /** A changed rate or burst applies from now: the tokens there are kept (up to the new burst), and the queue's tail. */
  reconfigure(pacing: Pacing, now: number): void {
    this.bucket = new TokenBucket(pacing.rate as number, burstOf(pacing), now, this.bucket.available(now));
  }
}
