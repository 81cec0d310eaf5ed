/** A counting semaphore with a FIFO queue and a limit that can change while in use. */
export class Semaphore {
  private used = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private limit: number) {}

  get inUse(): number {
    return this.used;
  }

  get queued(): number {
    return this.waiting.length;
  }

  setLimit(limit: number): void {
    this.limit = Math.max(1, limit);
    this.drain();
  }

  /**
   * Resolves with a release function once a slot is free (release is idempotent), or
   * with null if `cancel` aborts first: the waiter leaves the queue at once.
   */
  async acquire(cancel?: AbortSignal | LazyAbort): Promise<(() => void) | null> {
    if (cancel?.aborted) return null;
    if (this.used < this.limit && this.waiting.length === 0) {
      this.used++;
    } else {
      // Only a waiter needs the signal (a lazy one is made here, not for every job).
      const signal = cancel instanceof LazyAbort ? cancel.signal : cancel;
      const admitted = await new Promise<boolean>((resolve) => {
        const admit = (): void => {
          signal?.removeEventListener('abort', abort);
          resolve(true);
        };
        const abort = (): void => {
          const i = this.waiting.indexOf(admit);
          if (i >= 0) this.waiting.splice(i, 1);
          resolve(false);
        };
        this.waiting.push(admit);
        signal?.addEventListener('abort', abort, { once: true });
      });
      if (!admitted) return null;
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.used--;
      this.drain();
    };
  }

  private drain(): void {
    while (this.used < this.limit && this.waiting.length > 0) {
      this.used++;
      (this.waiting.shift() as () => void)();
    }
  }
}

/**
 * An abort that makes its AbortController only when a wait asks for its signal: most jobs
 * never wait, and a controller per job was a measurable share of the dispatch stage.
 */
export class LazyAbort {
  private controller: AbortController | null = null;
  private done = false;

  get aborted(): boolean {
    return this.done;
  }

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.done) this.controller.abort();
    }
    return this.controller.signal;
  }

  abort(): void {
    this.done = true;
    this.controller?.abort();
  }
}

