/**
 * Feeds the dispatcher from the outbox. Work due in the store (new deliveries that did
 * not fit in memory, retries whose wait is over, held events released, replays) is
 * claimed in batches while the dispatcher has room, so memory stays bounded whatever
 * the backlog; one timer wakes it for the next due time.
 */
import type { DeliveryView } from '../contract/views';
import type { DeliveryJob } from '../delivery/dispatcher';
import type { Store } from '../store/database';
import { claimDue, nextDueAt, recoverInterrupted, type ClaimedDelivery } from '../store/outbox';

/** Deliveries held in memory at most (waiting for a slot or on the wire). */
export const DEFAULT_CAPACITY = 2000;
/**
 * A backlog is claimed from the store in batches of at least this many (or a quarter of
 * the capacity when that is smaller): claiming one row per delivery that leaves memory
 * costs a query and a write per delivery, which at thousands a second is most of the work.
 */
export const CLAIM_BATCH = 256;

export interface SchedulerDeps {
  store: Store;
  /** Jobs currently in memory. */
  inMemory: () => number;
  submit: (job: DeliveryJob, view: DeliveryView) => void;
  /** Taking due work from the store failed (a full disk); it is tried again at the next wake. */
  onError?: (error: unknown) => void;
  capacity?: number;
  now?: () => number;
}

export class OutboxScheduler {
  private readonly capacity: number;
  private readonly claimBatch: number;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Number.POSITIVE_INFINITY;
  /** Due work may be waiting in the store beyond what memory holds. */
  private backlog = true;
  private pumpQueued = false;
  private awaitingCommit = false;
  private started = false;
  private stopped = false;

  constructor(private readonly deps: SchedulerDeps) {
    this.capacity = deps.capacity ?? DEFAULT_CAPACITY;
    this.claimBatch = Math.max(1, Math.min(CLAIM_BATCH, Math.floor(this.capacity / 4)));
    this.now = deps.now ?? Date.now;
  }

  /** Make what a crash interrupted due again, then start taking work. */
  start(): number {
    this.started = true;
    const recovered = recoverInterrupted(this.deps.store, this.now());
    this.pump();
    return recovered;
  }

  /** Room for `extra` more jobs in memory. */
  hasRoom(extra = 0): boolean {
    return this.deps.inMemory() + extra < this.capacity;
  }

  /** Something became due in the store (or may have): take it when there is room. */
  notify(): void {
    this.backlog = true;
    this.schedulePump();
  }

  /** A job left memory: room for the backlog, if any, once a batch fits. */
  jobLeft(): void {
    if (this.backlog && this.capacity - this.deps.inMemory() >= this.claimBatch) this.schedulePump();
  }

  /** A retry is due at `atMs`. */
  wakeAt(atMs: number): void {
    if (this.stopped || atMs >= this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = atMs;
    this.timer = setTimeout(
      () => {
        this.timer = null;
        this.timerAt = Number.POSITIVE_INFINITY;
        this.notify();
      },
      Math.max(0, atMs - this.now()),
    );
  }

  private schedulePump(): void {
    // An engine that never started (the CLI's offline one) takes no work.
    if (this.pumpQueued || this.stopped || !this.started) return;
    this.pumpQueued = true;
    setImmediate(() => {
      this.pumpQueued = false;
      this.pump();
    });
  }

  pump(): void {
    if (this.stopped || !this.started) return;
    const room = this.capacity - this.deps.inMemory();
    // Less than a batch of room: the jobs leaving memory call again (backlog stays set).
    if (room < this.claimBatch) return;
    const { store } = this.deps;
    if (store.sqlite.inTransaction) {
      // What is due may have been written in the group not yet committed: a delivery is
      // never attempted before its record is on disk, so claim once it is.
      if (!this.awaitingCommit) {
        this.awaitingCommit = true;
        const after = (): void => {
          this.awaitingCommit = false;
          this.pump();
        };
        store.durable().then(after, after);
      }
      return;
    }
    try {
      this.claim(room);
    } catch (error) {
      this.deps.onError?.(error);
    }
  }

  private claim(room: number): void {
    const claimed = claimDue(this.deps.store, this.now(), room);
    for (const row of claimed) this.deps.submit(toJob(row), row.view);
    // A full batch may have left more behind; a short one emptied what is due now.
    this.backlog = claimed.length === room;
    const next = nextDueAt(this.deps.store);
    if (next !== null) this.wakeAt(next);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}

function toJob(row: ClaimedDelivery): DeliveryJob {
  return {
    deliveryId: row.id,
    subscriptionId: row.subscriptionId,
    eventId: row.eventId,
    topic: row.topic,
    body: Buffer.from(row.body, 'utf8'),
    test: false,
    attemptsMade: row.attempts,
    attemptLog: row.attemptLog,
    fromOutbox: true,
  };
}
