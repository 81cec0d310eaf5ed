/**
 * Bus messages wait here between the socket and the store. The NATS client hands over a
 * whole socket read at once — at a flood, thousands of messages in one synchronous call —
 * and recording each costs tens of microseconds: handled inline, that blocks the event
 * loop for hundreds of milliseconds, and with it every HTTP response and the console. So
 * messages are taken in order, in slices of at most `sliceMs`, yielding between slices.
 *
 * Core NATS has no flow control: a client that stops reading is cut off by the server
 * as a slow consumer, and what it had not read is lost. Reading on and queueing is the
 * safer side, up to `maxQueued` (about 1.5 KB of memory each); beyond that each message
 * pushed has the oldest handled in place, one for one, so memory stays bounded. That is
 * a last resort, not flow control: while the loop is held the socket fills, and the next
 * read hands over even more at once. The bound is set so that a flood of 100,000 events
 * in a few seconds (the benchmark's) is absorbed without reaching it.
 */
export interface IntakeQueueOptions {
  /** Longest stretch of handling before yielding to the event loop. */
  sliceMs?: number;
  /** Messages queued at most before the producer is made to wait. */
  maxQueued?: number;
  now?: () => number;
}

export const DEFAULT_SLICE_MS = 4;
export const DEFAULT_MAX_QUEUED = 200_000;

export class IntakeQueue<T> {
  private items: (T | undefined)[] = [];
  private head = 0;
  private scheduled: NodeJS.Immediate | null = null;
  private readonly sliceMs: number;
  private readonly maxQueued: number;
  private readonly now: () => number;
  /** Most messages ever waiting at once (the benchmark and the status report it). */
  peak = 0;

  constructor(
    private readonly handle: (item: T) => void,
    options: IntakeQueueOptions = {},
  ) {
    this.sliceMs = options.sliceMs ?? DEFAULT_SLICE_MS;
    this.maxQueued = options.maxQueued ?? DEFAULT_MAX_QUEUED;
    this.now = options.now ?? performance.now.bind(performance);
  }

  get size(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
    const size = this.size;
    if (size > this.peak) this.peak = size;
    if (size > this.maxQueued) this.work(() => this.size > this.maxQueued);
    else this.scheduled ??= setImmediate(() => this.slice());
  }

  /** Handle everything queued now (at stop). */
  drain(): void {
    this.work(() => true);
  }

  private slice(): void {
    this.scheduled = null;
    const until = this.now() + this.sliceMs;
    this.work(() => this.now() < until);
    if (this.size > 0) this.scheduled = setImmediate(() => this.slice());
  }

  /** Handle items in order while `more()` holds. `handle` must not throw; if it does, the rest still run. */
  private work(more: () => boolean): void {
    while (this.head < this.items.length && more()) {
      const item = this.items[this.head] as T;
      this.items[this.head++] = undefined;
      try {
        this.handle(item);
      } catch {
        // The handler reports its own failures; one bad item never stalls the rest.
      }
    }
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 4096 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}
