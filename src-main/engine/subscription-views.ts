/**
 * The subscriptions as the console sees them: each with its dead-letter and held counts
 * and whether its rate holds deliveries back (with how many wait); the console kept told
 * while a rate holds any back; and a changed rate applied to what already waits.
 */
import type { SubscriptionView } from '../contract/views';
import type { Dispatcher } from '../delivery/dispatcher';
import type { Store } from '../store/database';
import { backlogCounts, unparkPaced, waitingCount } from '../store/outbox';
import { listSubscriptions, toView } from '../store/subscriptions';
import type { EventHub } from './event-hub';
import type { OutboxScheduler } from './scheduler';

interface SubscriptionViewsDeps {
  store: Store;
  dispatcher: () => Dispatcher;
  scheduler: () => OutboxScheduler;
  hub: () => EventHub;
}

export class SubscriptionViews {
  /** Some subscription's rate held deliveries back at the last look (the console was told). */
  private pacedShown = false;

  constructor(private readonly deps: SubscriptionViewsDeps) {}

  all(): SubscriptionView[] {
    const { store } = this.deps;
    const dispatcher = this.deps.dispatcher();
    const subscriptions = listSubscriptions(store, { secrets: false });
    const backlog = backlogCounts(
      store,
      subscriptions.map((sub) => sub.id),
    );
    return subscriptions.map((sub) => ({
      ...toView(sub, backlog.get(sub.id)),
      paced: dispatcher.holdingBack(sub.id) ? { waiting: waitingCount(store, sub.id) } : null,
    }));
  }

  /** While a rate holds deliveries back, the console sees their count go down (and the end of it). */
  refreshPaced(): void {
    const paced = this.deps.dispatcher().pacedSubscriptions().length > 0;
    if (paced || this.pacedShown) this.deps.hub().subscriptionsChanged();
    this.pacedShown = paced;
  }

  /**
   * A subscription's rate or burst changed: what it parked for later slots is due now and
   * paced again from a new bucket, so a raised rate applies to the backlog at once.
   */
  pacingChanged(id: string): void {
    this.deps.dispatcher().resetPacing(id);
    if (unparkPaced(this.deps.store, id, Date.now()) > 0) this.deps.scheduler().notify();
  }
}
