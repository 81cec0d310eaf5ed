import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { IntakeQueue } from './intake-queue';

describe('IntakeQueue', () => {
  it('handles items in order, later, in slices that yield to the event loop', async () => {
    let clock = 0;
    const handled: number[] = [];
    const queue = new IntakeQueue<number>(
      (n) => {
        handled.push(n);
        clock += 1; // each item "costs" 1 ms
      },
      { sliceMs: 4, now: () => clock },
    );
    for (let i = 0; i < 10; i++) queue.push(i);
    expect(handled).toEqual([]);
    await nextTurn();
    expect(handled).toEqual([0, 1, 2, 3]);
    await nextTurn();
    expect(handled).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    await nextTurn();
    expect(handled).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(queue.size).toBe(0);
    expect(queue.peak).toBe(10);
  });

  it('past maxQueued, handles the oldest in place for each one pushed, keeping the order', async () => {
    const handled: number[] = [];
    const queue = new IntakeQueue<number>((n) => handled.push(n), { maxQueued: 10 });
    for (let i = 0; i < 10; i++) queue.push(i);
    expect(handled).toEqual([]);
    queue.push(10);
    expect(handled).toEqual([0]);
    queue.push(11);
    queue.push(12);
    expect(handled).toEqual([0, 1, 2]);
    expect(queue.size).toBe(10);
    await nextTurn();
    expect(handled).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  });

  it('goes on past an item whose handler throws', async () => {
    const handled: number[] = [];
    const queue = new IntakeQueue<number>((n) => {
      if (n === 1) throw new Error('bad');
      handled.push(n);
    });
    [0, 1, 2].forEach((n) => queue.push(n));
    await nextTurn();
    expect(handled).toEqual([0, 2]);
  });

  it('tells the producer to stop at highWater (at every push while full) and to go on once drained to lowWater', async () => {
    const events: string[] = [];
    const queue = new IntakeQueue<number>(() => {}, {
      highWater: 4,
      lowWater: 1,
      sliceMs: 1000,
      onFull: () => events.push('full'),
      onDrained: () => events.push('drained'),
    });
    for (let i = 0; i < 3; i++) queue.push(i);
    expect(events).toEqual([]);
    queue.push(3);
    queue.push(4);
    expect(events).toEqual(['full', 'full']);
    await nextTurn();
    expect(queue.size).toBe(0);
    expect(events).toEqual(['full', 'full', 'drained']);
    queue.push(5);
    await nextTurn();
    expect(events).toEqual(['full', 'full', 'drained']);
  });
});
