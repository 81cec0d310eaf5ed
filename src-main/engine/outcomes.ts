/**
 * What becomes of a delivery once the dispatcher has tried it: its outcome recorded and
 * shown, its subscription's breaker moved (docs/design.md#trip), its health figures
 * counted; and the cancellations, the one place where a subscription that stopped (a
 * trip, a pause, a delete) has its waiting work ended, in memory and in the store.
 */
import type { Settings } from '../contract/views';
import { TRIPPED, type SubscriptionStop } from '../delivery/cancellation';
import type { DeliveryJob, DeliveryUpdate, Dispatcher } from '../delivery/dispatcher';
import type { Store } from '../store/database';
import { updateDelivery } from '../store/deliveries';
import { endWaiting } from '../store/outbox';
import { updateSubscription, type Subscription } from '../store/subscriptions';
import { afterFailure, afterSuccess } from './breaker';
import type { DeliveryFeed } from './delivery-feed';
import type { EventHub } from './event-hub';
import { SubscriptionHealthTracker } from './health';
import type { EngineRecords } from './records';
import type { OutboxScheduler } from './scheduler';

/** A subscription's last success is written at most this often while deliveries flow. */
export const SUCCESS_WRITE_INTERVAL_MS = 1000;

export interface OutcomesDeps {
  store: Store;
  dispatcher: () => Dispatcher;
  scheduler: () => OutboxScheduler;
  feed: DeliveryFeed;
  hub: EventHub;
  records: EngineRecords;
  settings: () => Settings;
  /** The subscription as the engine holds it now (its breaker fields are updated in place). */
  subscription: (id: string) => Subscription | undefined;
  /**
   * In a team, the breaker shared by its members (team-sync.ts): failures are counted
   * there and it trips there, for every member; null alone.
   */
  sharedBreaker: () => SharedBreaker | null;
  /** A subscription tripped: route again, so that its new matches are held from now on. */
  reroute: () => void;
  /** A subscription just tripped (it was not tripped before): announced on the bus. */
  tripped: (sub: Subscription, at: string) => void;
  stopped: () => boolean;
}

/** What the outcomes tell a team's shared breaker (team-sync.ts). */
export interface SharedBreaker {
  failed(sub: Subscription, error: string, threshold: number, onTrippedNow: () => void): void;
  succeeded(sub: Subscription): void;
}

export class Outcomes {
  /** Success rates and latencies per subscription (engine/health.ts), from the outcomes recorded here. */
  readonly health = new SubscriptionHealthTracker();
  private readonly successWrittenAt = new Map<string, number>();
  private readonly successUnwritten = new Set<string>();

  constructor(private readonly deps: OutcomesDeps) {}

  /** The dispatcher's report on a delivery: an attempt made, a wait begun, an end. */
  record(job: DeliveryJob, update: DeliveryUpdate): void {
    const { store } = this.deps;
    if (this.deps.stopped() && store.sqlite.open === false) return;
    const at = new Date().toISOString();
    // Parked by its rate: nothing was sent, so its last request and answer stay as they were.
    const untouched = update.kind === 'due' && update.cause === 'paced';
    // Lazily durable: an outcome lost to a crash means one more attempt, never a lost event.
    updateDelivery(
      store,
      job.deliveryId,
      {
        outcome: update.outcome,
        attempts: update.attempts,
        statusCode: update.statusCode,
        latencyMs: update.latencyMs,
        error: update.error,
        at,
        ...(untouched
          ? {}
          : {
              requestHeaders: update.requestHeaders,
              responseExcerpt: update.responseExcerpt,
              attemptLog: update.attemptLog,
              ...(update.requestBody !== undefined ? { requestBody: update.requestBody } : {}),
              ...(update.batchOf !== undefined ? { batchOf: update.batchOf } : {}),
            }),
        nextAttemptAt: update.kind === 'due' ? update.nextAttemptAt : null,
      },
      'lazy',
    );
    // The hot path builds the new view from what it knows; no read-back per delivery.
    this.deps.feed.updated(job.deliveryId, update, at);
    switch (update.kind) {
      case 'due':
        this.deps.scheduler().wakeAt(update.nextAttemptAt);
        // Held back by its rate: the console shows it (and how many wait).
        if (update.cause === 'paced') this.deps.hub.subscriptionsChanged();
        return;
      case 'held':
        // Its held count changed.
        this.deps.hub.subscriptionsChanged();
        return;
      case 'ended':
        if (update.countsForBreaker) this.applyBreaker(job.subscriptionId, update, at);
        // Its dead-letter count changed.
        else if (update.outcome === 'dead') this.deps.hub.subscriptionsChanged();
        return;
    }
  }

  private applyBreaker(subscriptionId: string, update: Extract<DeliveryUpdate, { kind: 'ended' }>, at: string): void {
    this.health.record(subscriptionId, Date.parse(at), update.outcome === 'delivered', update.outcome === 'blocked' ? null : update.latencyMs);
    const sub = this.deps.subscription(subscriptionId);
    if (!sub) return;
    const shared = this.deps.sharedBreaker();
    if (update.outcome === 'delivered') {
      shared?.succeeded(sub);
      const patch = afterSuccess(at);
      const unchanged = sub.consecutiveFailures === 0 && sub.lastError === null;
      Object.assign(sub, patch);
      // A steady stream of successes changes only last_success_at: write it at most
      // once a second per subscription (the rest is flushed by a timer and at stop).
      if (unchanged && (this.successWrittenAt.get(sub.id) ?? 0) > Date.now() - SUCCESS_WRITE_INTERVAL_MS) {
        this.successUnwritten.add(sub.id);
        return;
      }
      this.writeSuccess(sub);
    } else {
      const error = update.error ?? 'failed';
      // Requests on the wire when it tripped may fail after: they re-stamp it, never trip it again.
      const wasTripped = sub.autoDisabledAt !== null;
      const threshold = this.deps.settings().circuitThreshold;
      // In a team the shared record trips it, for every member (seen here as a reload).
      const { patch, tripped } = afterFailure(sub, error, shared ? Number.POSITIVE_INFINITY : threshold, at);
      shared?.failed(sub, error, threshold, () => this.deps.tripped(sub, at));
      updateSubscription(this.deps.store, sub.id, patch);
      Object.assign(sub, patch);
      this.deps.records.emit({
        kind: 'breaker',
        subscriptionId: sub.id,
        name: sub.name,
        tripped,
        consecutiveFailures: sub.consecutiveFailures,
        error,
      });
      if (tripped) {
        // Stop sending to it at once: what was never tried is held for the analyst,
        // what was retrying ends dead (replayable); new matches are held from now on.
        this.deps.reroute();
        this.stopSubscription(sub.id, TRIPPED);
        if (!wasTripped) this.deps.tripped(sub, at);
      }
    }
    this.deps.hub.subscriptionsChanged();
  }

  private writeSuccess(sub: Subscription): void {
    updateSubscription(this.deps.store, sub.id, { consecutiveFailures: sub.consecutiveFailures, lastSuccessAt: sub.lastSuccessAt, lastError: sub.lastError });
    this.successWrittenAt.set(sub.id, Date.now());
    this.successUnwritten.delete(sub.id);
    this.deps.hub.subscriptionsChanged();
  }

  /** Write the last successes held back by the throttle (a timer, and at stop). */
  flushSuccesses(): void {
    for (const id of [...this.successUnwritten]) {
      const sub = this.deps.subscription(id);
      if (sub) this.writeSuccess(sub);
      else this.successUnwritten.delete(id);
    }
  }

  /**
   * End the waiting work of a subscription that stopped, in memory and in the store: the
   * same outcomes for both (delivery/cancellation.ts says which).
   */
  stopSubscription(id: string, stop: SubscriptionStop): void {
    this.deps.dispatcher().cancelSubscription(id, stop);
    const changed = endWaiting(this.deps.store, id, stop.untried, stop.retried, stop.reason, new Date().toISOString());
    this.deps.feed.publishMany(changed, true);
  }
}
