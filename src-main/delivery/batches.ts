/**
 * Batches: a Splunk HEC or Elasticsearch subscription's deliveries sent several to a
 * request. The first delivery of a batch waits — until the batch is full, its wait is
 * over, or it is cancelled — and sends it; the ones that joined ride with it.
 */
import { BATCH_FORMATS } from '../contract/subscription-options';
import type { Destination } from './dispatcher';
import type { AnswerVerdict, ItemVerdicts } from './formats/types';

/** How long a batch waits for more events when its subscription does not say. */
export const DEFAULT_BATCH_WAIT_MS = 1000;

/** Events per request: a batching format's `batch`, else one (a transform builds one body per event). */
export function batchSizeOf(destination: Destination): number {
  const options = destination.options;
  if (!options || options.batch === null || options.batch < 2 || options.transform !== '') return 1;
  return BATCH_FORMATS.includes(options.format) ? options.batch : 1;
}

export function batchWaitOf(destination: Destination): number {
  return destination.options?.batchMs ?? DEFAULT_BATCH_WAIT_MS;
}

/** An item's own verdict in a bulk answer, or null (the request's stands). */
export function itemVerdict(items: ItemVerdicts | null, eventId: string): AnswerVerdict | null {
  if (!items) return null;
  const dead = items.dead.get(eventId);
  if (dead !== undefined) return { verdict: 'terminal', error: dead };
  if (items.retry.has(eventId)) return { verdict: 'retryable', error: 'the bulk answer refused this event for now' };
  return null;
}

/** A batch being filled. */
interface OpenBatch<T> {
  members: T[];
  size: number;
  close: () => void;
}

/** The batch being filled of each batching subscription. */
export class Batches<T> {
  private readonly open = new Map<string, OpenBatch<T>>();

  /**
   * Join `key`'s open batch. The member that opened it waits until it is full, its wait
   * is over, or `signal` aborts, and gets every member (itself first); one that joined
   * gets null: it rides with them.
   */
  async join(key: string, member: T, signal: AbortSignal, size: number, waitMs: number): Promise<T[] | null> {
    const current = this.open.get(key);
    if (current) {
      current.members.push(member);
      if (current.members.length >= current.size) current.close();
      return null;
    }
    let resolve!: () => void;
    const closed = new Promise<void>((r) => (resolve = r));
    const batch: OpenBatch<T> = {
      members: [member],
      size,
      close: () => {
        if (this.open.get(key) === batch) this.open.delete(key);
        resolve();
      },
    };
    this.open.set(key, batch);
    const timer = setTimeout(batch.close, waitMs);
    signal.addEventListener('abort', batch.close, { once: true });
    await closed;
    clearTimeout(timer);
    signal.removeEventListener('abort', batch.close);
    return batch.members;
  }
}
