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
   * with null if `signal` aborts first: the waiter leaves the queue at once.
   */
  async acquire(signal?: AbortSignal): Promise<(() => void) | null> {
    if (signal?.aborted) return null;
    if (this.used < this.limit && this.waiting.length === 0) {
      this.used++;
    } else {
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
