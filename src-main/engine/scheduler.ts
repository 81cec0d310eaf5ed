/**
 * Feeds the dispatcher from the outbox. Work due in the store (new deliveries that did
 * not fit in memory, retries whose wait is over, held events released, replays) is
 * claimed in batches while the dispatcher has room, so memory stays bounded whatever
 * the backlog; one timer wakes it for the next due time.
 *
 * Memory is shared fairly: one subscription holds at most a quarter of it
 * (`perSubscription`), so a slow or hanging receiver's backlog waits in the store, and
 * another subscription's new events still go straight to memory and out.
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
  /** Jobs of one subscription currently in memory. */
  inMemoryOf: (subscriptionId: string) => number;
  /** Every subscription that may have work in the store. */
  subscriptionIds: () => readonly string[];
  submit: (job: DeliveryJob, view: DeliveryView) => void;
  /** Taking due work from the store failed (a full disk); it is tried again at the next wake. */
  onError?: (error: unknown) => void;
  capacity?: number;
  now?: () => number;
}

export class OutboxScheduler {
  private readonly capacity: number;
  private readonly claimBatch: number;
  /** The most jobs one subscription holds in memory. */
  readonly perSubscription: number;
  /** A subscription is claimed for once it has this much room (not one row at a time). */
  private readonly subscriptionBatch: number;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Number.POSITIVE_INFINITY;
  /** Due work may be waiting in the store beyond what memory holds. */
  private backlog = true;
  /** The last claim took all the room memory had: more may be due. */
  private cutByMemory = false;
  /** Subscriptions that may have more due than their room took (or had too little room to be asked). */
  private saturated = new Set<string>();
  private pumpQueued = false;
  private awaitingCommit = false;
  private started = false;
  private stopped = false;

  constructor(private readonly deps: SchedulerDeps) {
    this.capacity = deps.capacity ?? DEFAULT_CAPACITY;
    this.claimBatch = Math.max(1, Math.min(CLAIM_BATCH, Math.floor(this.capacity / 4)));
    this.perSubscription = Math.max(1, Math.floor(this.capacity / 4));
    this.subscriptionBatch = Math.max(1, Math.floor(this.perSubscription / 2));
    this.now = deps.now ?? Date.now;
  }

  /** Make what a crash interrupted due again, then start taking work. */
  start(): number {
    this.started = true;
    const recovered = recoverInterrupted(this.deps.store, this.now());
    this.pump();
    return recovered;
  }

  /** Room in memory for a new job of this subscription, besides `extra` others being added. */
  hasRoom(subscriptionId: string, extra = 0): boolean {
    return this.deps.inMemory() + extra < this.capacity && this.deps.inMemoryOf(subscriptionId) < this.perSubscription;
  }

  /** Something became due in the store (or may have): take it when there is room. */
  notify(): void {
    this.backlog = true;
    this.cutByMemory = true;
    this.schedulePump();
  }

  /**
   * A job left memory: claim again once a batch fits — in memory as a whole when the last
   * claim was cut by it, or for this job's subscription when it had more than its room.
   */
  jobLeft(subscriptionId: string): void {
    if (!this.backlog) return;
    const room = this.capacity - this.deps.inMemory();
    if (this.cutByMemory && room >= this.claimBatch) this.schedulePump();
    else if (this.saturated.has(subscriptionId) && room >= this.subscriptionBatch && this.roomOf(subscriptionId) >= this.subscriptionBatch)
      this.schedulePump();
  }

  private roomOf(subscriptionId: string): number {
    return this.perSubscription - this.deps.inMemoryOf(subscriptionId);
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
    if (room < this.subscriptionBatch) return;
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
    // Each subscription up to its room, once that room is worth a query; one with less is
    // asked again as its jobs leave.
    const ids = this.deps.subscriptionIds();
    const rooms = new Map<string, number>();
    const saturated = new Set<string>();
    for (const id of ids) {
      const own = this.roomOf(id);
      if (own >= this.subscriptionBatch) rooms.set(id, own);
      else saturated.add(id);
    }
    const claimed = claimDue(this.deps.store, this.now(), room, rooms);
    const taken = new Map<string, number>();
    for (const row of claimed) {
      taken.set(row.subscriptionId, (taken.get(row.subscriptionId) ?? 0) + 1);
      this.deps.submit(toJob(row), row.view);
    }
    for (const [id, own] of rooms) if ((taken.get(id) ?? 0) >= Math.min(own, room)) saturated.add(id);
    this.saturated = saturated;
    this.cutByMemory = claimed.length === room;
    this.backlog = this.cutByMemory || saturated.size > 0;
    // The next due work of the subscriptions that have room, even if it fell due while this
    // claim ran (then at once); a subscription short of room is claimed for as its jobs
    // leave (jobLeft), never by a timer that would find it still full.
    const next = nextDueAt(
      this.deps.store,
      [...rooms.keys()].filter((id) => !saturated.has(id)),
    );
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
