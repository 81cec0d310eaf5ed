/**
 * When the demo's flaky receiver is down: a deterministic schedule of stretches. It is
 * down from the start (long enough for its subscription's breaker to trip in the first
 * minute), then up for a while — time to re-enable the subscription from the console —
 * then down again for a shorter stretch, and so on.
 */
import { Rng } from './random';

interface Stretch {
  down: boolean;
  /** Milliseconds since the start of the run. */
  fromMs: number;
  toMs: number;
}

/** `--fast` shrinks the stretches (and the demo's retry delays) by this factor. */
export const FAST_SCALE = 0.4;
/** Stretch lengths at scale 1. */
export const FIRST_OUTAGE_MS = 45_000;
const UP_MS: readonly [number, number] = [60_000, 120_000];
const DOWN_MS: readonly [number, number] = [20_000, 40_000];

export class OutageSchedule {
  private readonly rng: Rng;
  private readonly stretches: Stretch[];

  constructor(seed: number, readonly scale = 1) {
    // Its own stream: the receiver's schedule does not shift when the event mix changes.
    this.rng = new Rng(seed ^ 0x5eed_0ff);
    this.stretches = [{ down: true, fromMs: 0, toMs: FIRST_OUTAGE_MS * scale }];
  }

  /** The stretch that holds `elapsedMs` (≥ 0). */
  at(elapsedMs: number): Stretch {
    let last = this.stretches[this.stretches.length - 1] as Stretch;
    while (last.toMs <= elapsedMs) {
      const [min, max] = last.down ? UP_MS : DOWN_MS;
      last = { down: !last.down, fromMs: last.toMs, toMs: last.toMs + this.rng.between(min, max) * this.scale };
      this.stretches.push(last);
    }
    // Stretches are few (one a minute or so): a linear search from the end is enough.
    for (let i = this.stretches.length - 1; i >= 0; i--) {
      const s = this.stretches[i] as Stretch;
      if (s.fromMs <= elapsedMs) return s;
    }
    return this.stretches[0] as Stretch;
  }
}
