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

  /** Resolves with a release function once a slot is free. Release is idempotent. */
  async acquire(): Promise<() => void> {
    if (this.used < this.limit && this.waiting.length === 0) this.used++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
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
