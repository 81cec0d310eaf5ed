import { describe, expect, it } from 'vitest';
import { LazyAbort, Semaphore } from './semaphore';

describe('Semaphore', () => {
  it('never lets more than the limit through, first come first served', async () => {
    const sem = new Semaphore(2);
    const order: number[] = [];
    let active = 0;
    let peak = 0;
    const task = async (i: number): Promise<void> => {
      const release = (await sem.acquire()) as () => void;
      active++;
      peak = Math.max(peak, active);
      order.push(i);
      await new Promise((r) => setImmediate(r));
      active--;
      release();
      release(); // idempotent
    };
    await Promise.all([0, 1, 2, 3, 4, 5].map(task));
    expect(peak).toBe(2);
    expect(order).toEqual([0, 1, 2, 3, 4, 5]);
    expect(sem.inUse).toBe(0);
  });

  it('admits waiters at once when the limit grows', async () => {
    const sem = new Semaphore(1);
    const first = (await sem.acquire()) as () => void;
    let second = false;
    const pending = sem.acquire().then((r) => {
      second = true;
      return r as () => void;
    });
    await new Promise((r) => setImmediate(r));
    expect(second).toBe(false);
    sem.setLimit(2);
    (await pending)();
    expect(second).toBe(true);
    first();
    expect(sem.inUse).toBe(0);
  });

  it('lets an aborted waiter leave the queue at once, without taking a slot', async () => {
    const sem = new Semaphore(1);
    const first = (await sem.acquire()) as () => void;
    const controller = new AbortController();
    const waiting = sem.acquire(controller.signal);
    const behind = sem.acquire();
    expect(sem.queued).toBe(2);
    controller.abort();
    expect(await waiting).toBeNull();
    expect(sem.queued).toBe(1);
    first();
    const next = (await behind) as () => void;
    expect(sem.inUse).toBe(1);
    next();
    expect(sem.inUse).toBe(0);
  });

  it('takes a LazyAbort: no signal is made on the fast path, and an abort while waiting (or before) still frees the waiter', async () => {
    const sem = new Semaphore(1);
    const fast = new LazyAbort();
    const first = (await sem.acquire(fast)) as () => void;
    expect((fast as unknown as { controller: AbortController | null }).controller).toBeNull();

    const waiter = new LazyAbort();
    const waiting = sem.acquire(waiter);
    waiter.abort();
    expect(await waiting).toBeNull();

    const early = new LazyAbort();
    early.abort();
    expect(await sem.acquire(early)).toBeNull();
    expect(early.signal.aborted).toBe(true);

    first();
    expect(await sem.acquire()).not.toBeNull();
  });
});
