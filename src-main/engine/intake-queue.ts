/**
 * Bus messages wait here between the socket and the store. The NATS client hands over a
 * whole socket read at once — at a flood, thousands of messages in one synchronous call —
 * and recording each costs tens of microseconds: handled inline, that blocks the event
 * loop for hundreds of milliseconds, and with it every HTTP response and the console. So
 * messages are taken in order, in slices of at most `sliceMs`, yielding between slices.
 *
 * Flow control: at `highWater` messages waiting the producer is told to stop (the engine
 * pauses reading the bus's socket, and the server buffers for it), at `lowWater` to go
 * on. The NATS client has read ahead by then (a burst of 100,000 events at 40,000/s
 * still peaks at ~70,000 here, ~1.5 KB each), so this bounds a sustained flood, not a
 * burst. `maxQueued` is the last resort: beyond it each message pushed has the oldest
 * handled in place, one for one (the loop is held meanwhile, so it sits well above what
 * a burst brings).
 */
interface IntakeQueueOptions {
  /** Longest stretch of handling before yielding to the event loop. */
  sliceMs?: number;
  /** At this many waiting, `onFull` is called (at every push until it drains): stop the producer. */
  highWater?: number;
  /** Drained to this many after being full, `onDrained` is called once: the producer may go on. */
  lowWater?: number;
  onFull?: () => void;
  onDrained?: () => void;
  /** Messages queued at most: beyond, the oldest is handled in place for each one pushed. */
  maxQueued?: number;
  now?: () => number;
}

const DEFAULT_SLICE_MS = 4;
const DEFAULT_HIGH_WATER = 5_000;
const DEFAULT_LOW_WATER = 1_000;
const DEFAULT_MAX_QUEUED = 200_000;

export class IntakeQueue<T> {
  private items: (T | undefined)[] = [];
  private head = 0;
  private scheduled: NodeJS.Immediate | null = null;
  private readonly sliceMs: number;
  private readonly maxQueued: number;
  private readonly highWater: number;
  private readonly lowWater: number;
  private full = false;
  private readonly now: () => number;
  /** Most messages ever waiting at once (the benchmark and the status report it). */
  peak = 0;

  constructor(
    private readonly handle: (item: T) => void,
    private readonly options: IntakeQueueOptions = {},
  ) {
    this.sliceMs = options.sliceMs ?? DEFAULT_SLICE_MS;
    this.maxQueued = options.maxQueued ?? DEFAULT_MAX_QUEUED;
    this.highWater = options.highWater ?? DEFAULT_HIGH_WATER;
    this.lowWater = options.lowWater ?? DEFAULT_LOW_WATER;
    this.now = options.now ?? performance.now.bind(performance);
  }

  get size(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
    const size = this.size;
    if (size > this.peak) this.peak = size;
    if (size >= this.highWater && this.options.onFull) {
      this.full = true;
      this.options.onFull();
    }
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
    if (this.full && this.size <= this.lowWater) {
      this.full = false;
      this.options.onDrained?.();
    }
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
