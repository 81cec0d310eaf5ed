/**
 * Keeping the store in shape while the engine runs: taking up work a lost write left
 * claimed with nobody on it, keeping held events within their bounds, and pruning
 * finished records (retention). The engine's timers call in here; nothing here is on an
 * event's path.
 */
import type { Settings } from '../contract/views';
import type { Store } from '../store/database';
import { pruneAudit } from '../store/audit';
import { enforceHeldBounds, recoverInterrupted } from '../store/outbox';
import { pruneFinished, reclaimSpace } from '../store/retention';
import { indexEventText } from '../store/search';
import type { EventHub } from './event-hub';
import type { EngineRecords } from './records';
import type { OutboxScheduler } from './scheduler';

/** First retry after lost writes; doubles up to the maximum while the store keeps failing. */
const LOST_WORK_RETRY_MS = 1_000;
const LOST_WORK_RETRY_MAX_MS = 30_000;

interface MaintenanceDeps {
  store: Store;
  /** The deliveries the dispatcher holds in memory (in someone's hands: not lost). */
  inMemory: () => readonly number[];
  scheduler: () => OutboxScheduler;
  hub: EventHub;
  records: EngineRecords;
  settings: () => Settings;
  stopped: () => boolean;
  /** Deliveries in flight or messages waiting: the text index takes one batch per tick, not more. */
  busy: () => boolean;
}

export class Maintenance {
  private lostWorkTimer: NodeJS.Timeout | null = null;
  private lostWorkDelayMs = LOST_WORK_RETRY_MS;
  private retentionRunning = false;
  private indexing = false;

  constructor(private readonly deps: MaintenanceDeps) {}

  /**
   * A write was lost (a full disk): outcomes it recorded and claims it made are gone,
   * so deliveries may sit claimed with nobody working on them. Try to take them up
   * again soon (backing off); a commit that succeeds meanwhile does it at once.
   */
  retryLostWork(): void {
    if (this.lostWorkTimer || this.deps.stopped()) return;
    this.lostWorkTimer = setTimeout(() => {
      this.lostWorkTimer = null;
      this.lostWorkDelayMs = Math.min(LOST_WORK_RETRY_MAX_MS, this.lostWorkDelayMs * 2);
      this.requeueLostWork();
    }, this.lostWorkDelayMs);
  }

  /** Deliveries claimed but in no one's hands (their record was lost) are due again. */
  requeueLostWork(): void {
    if (this.deps.stopped()) return;
    const { store } = this.deps;
    if (!store.failing) this.lostWorkDelayMs = LOST_WORK_RETRY_MS;
    try {
      recoverInterrupted(store, Date.now(), this.deps.inMemory());
    } catch (err) {
      this.deps.records.error(`could not take up deliveries after a failed write: ${(err as Error).message}`);
      this.retryLostWork();
    }
    // Claims that were rolled back are due again too: look.
    this.deps.scheduler().notify();
  }

  /**
   * Prune finished records by age and count, a slice per turn of the event loop so
   * deliveries keep flowing, then give the space back. Never touches unfinished work
   * or dead letters (see store/retention).
   */
  async applyRetention(): Promise<{ deleted: number; eventsDeleted: number; auditDeleted: number }> {
    const { store, stopped } = this.deps;
    const total = { deleted: 0, eventsDeleted: 0, auditDeleted: 0 };
    if (this.retentionRunning || stopped()) return total;
    this.retentionRunning = true;
    try {
      const settings = this.deps.settings();
      const policy = { retentionDays: settings.retentionDays, retentionMaxRows: settings.retentionMaxRows };
      for (;;) {
        const slice = pruneFinished(store, policy, Date.now());
        total.deleted += slice.deleted;
        total.eventsDeleted += slice.eventsDeleted;
        if (!slice.more || stopped()) break;
        await new Promise((resolve) => setImmediate(resolve));
      }
      // The audit trail has its own age (a year by default): operator changes are few, one statement.
      if (!stopped()) total.auditDeleted = pruneAudit(store, settings.auditRetentionDays, Date.now());
      if (!stopped() && total.deleted + total.eventsDeleted + total.auditDeleted > 0) {
        while (!stopped() && reclaimSpace(store) > 0) await new Promise((resolve) => setImmediate(resolve));
        if (!stopped()) store.sqlite.pragma('wal_checkpoint(TRUNCATE)');
        this.deps.records.emit({ kind: 'retention', ...total });
      }
    } finally {
      this.retentionRunning = false;
    }
    return total;
  }

  /**
   * Add the events received since the last tick to the full-text index (store/search.ts).
   * Off the hot path: no trigger tokenizes a body as it is written. While the engine is
   * busy it takes one bounded batch per tick (1,000 events, ~20 ms a second, a couple of
   * per cent of its thread: a flood is indexed once it is over); idle, it catches up, a
   * batch per turn of the event loop. A search scans what is not indexed yet, so its
   * answers are exact whatever the lag.
   */
  async indexText(): Promise<number> {
    const { store, stopped } = this.deps;
    if (this.indexing || stopped()) return 0;
    this.indexing = true;
    let total = 0;
    try {
      for (;;) {
        const batch = indexEventText(store);
        total += batch.indexed;
        if (!batch.more || stopped() || this.deps.busy()) break;
        await new Promise((resolve) => setImmediate(resolve));
      }
    } catch (err) {
      // A failed write (a full disk): the watermark did not move; the next turn tries again.
      this.deps.records.error(`could not index event text: ${(err as Error).message}`);
    } finally {
      this.indexing = false;
    }
    return total;
  }

  /** Keep held events within their count and age bounds (settings). */
  boundHeld(): void {
    const settings = this.deps.settings();
    const now = Date.now();
    const cutoff = new Date(now - settings.heldMaxAgeHours * 3_600_000).toISOString();
    if (enforceHeldBounds(this.deps.store, null, settings.heldMaxCount, cutoff, new Date(now).toISOString()) > 0)
      this.deps.hub.subscriptionsChanged();
  }

  stop(): void {
    if (this.lostWorkTimer) clearTimeout(this.lostWorkTimer);
    this.lostWorkTimer = null;
  }
}
