/**
 * The subscriptions as the engine holds them while it runs: read from the store at each
 * reload (docs/design.md#reload-signal), kept here and only replaced here. A reload
 * changes only what changed: the router re-subscribes just the patterns that came or
 * went, and a subscription that was deleted, paused or tripped meanwhile has its waiting
 * work ended. The breaker's counters on these objects are updated in place by the
 * outcomes (engine/outcomes.ts), so a reload is what picks up another process's edits.
 */
import type { SubscriptionCounts } from '../contract/views';
import { countSubscriptions } from '../contract/counts';
import { DELETED, PAUSED, TRIPPED, type SubscriptionStop } from '../delivery/cancellation';
import type { Destination } from '../delivery/dispatcher';
import { NO_PACING, type Pacing } from '../delivery/pacing';
import type { Store } from '../store/database';
import { SecretKeyError } from '../store/secret-cipher';
import { clearExpiredPreviousSecrets, listSubscriptions, toView, type Subscription } from '../store/subscriptions';
import type { EventHub } from './event-hub';
import type { EngineRecords } from './records';
import type { Router } from './router';
import type { OutboxScheduler } from './scheduler';

export interface LiveSubscriptionsDeps {
  store: Store;
  router: () => Router;
  scheduler: () => OutboxScheduler;
  /** End the waiting work of a subscription that stopped (see Outcomes.stopSubscription). */
  stopSubscription: (id: string, stop: SubscriptionStop) => void;
  /** A subscription's rate or burst changed: what it parked is paced again at the new one. */
  pacingChanged: (id: string) => void;
  hub: EventHub;
  records: EngineRecords;
  stopped: () => boolean;
}

/** A subscription's pacing, from its delivery options. */
function pacingOf(sub: Subscription): Pacing {
  const { rate, burst, concurrency } = sub.options;
  return rate === null && burst === null && concurrency === null ? NO_PACING : { rate, burst, concurrency };
}

export class LiveSubscriptions {
  private byId = new Map<string, Subscription>();
  /** Each subscription's rate and burst at the last reload, to see them change. */
  private rates = new Map<string, string>();

  constructor(private readonly deps: LiveSubscriptionsDeps) {}

  get(id: string): Subscription | undefined {
    return this.byId.get(id);
  }

  all(): Subscription[] {
    return [...this.byId.values()];
  }

  ids(): string[] {
    return [...this.byId.keys()];
  }

  /** Re-read subscriptions and apply only what changed. */
  reload(reason: string): void {
    const { store, records } = this.deps;
    if (this.deps.stopped()) return;
    const previous = this.byId;
    try {
      // Past its overlap a previous secret is unused (the dispatcher checks the time): forget it.
      clearExpiredPreviousSecrets(store, new Date().toISOString());
    } catch (error) {
      records.error(`could not forget expired previous secrets: ${(error as Error).message}`);
    }
    let all: Subscription[];
    try {
      all = listSubscriptions(store);
    } catch (error) {
      // Another process wrote a secret under another key: keep what was read before.
      if (!(error instanceof SecretKeyError)) throw error;
      records.error(`${error.message}; keeping the subscriptions as read before`);
      return;
    }
    this.byId = new Map(all.map((s) => [s.id, s]));
    const router = this.deps.router();
    const { added, removed } = router.apply(all);
    for (const [id, before] of previous) {
      const now = this.byId.get(id);
      if (!now) this.deps.stopSubscription(id, DELETED);
      else if (before.enabled && !now.enabled) this.deps.stopSubscription(id, now.autoDisabledAt ? TRIPPED : PAUSED);
    }
    const rates = new Map(all.map((sub) => [sub.id, rateKey(this.pacing(sub))]));
    for (const [id, rate] of rates) if (this.rates.has(id) && this.rates.get(id) !== rate) this.deps.pacingChanged(id);
    this.rates = rates;
    // Another process (the CLI) may have queued work: replays, released held events.
    this.deps.scheduler().notify();
    this.deps.hub.subscriptionsChanged();
    if (reason !== 'fallback timer' || added.length > 0 || removed.length > 0)
      records.emit({ kind: 'reload', reason, patterns: router.patterns.length, subscriptions: all.length });
  }

  /** Where and how the dispatcher sends to a subscription, as it is now. */
  destination(id: string, defaultRetrySchedule: readonly number[]): Destination | undefined {
    const sub = this.byId.get(id);
    return (
      sub && {
        url: sub.url,
        secret: sub.secret,
        previousSecret:
          sub.previousSecret !== null && sub.previousSecretUntil !== null
            ? { secret: sub.previousSecret, untilMs: Date.parse(sub.previousSecretUntil) }
            : null,
        enabled: sub.enabled,
        tripped: sub.autoDisabledAt !== null,
        retrySchedule: sub.retrySchedule ?? defaultRetrySchedule,
        options: sub.options,
        secretHeaders: sub.secretHeaders,
        pacing: this.pacing(sub),
      }
    );
  }

  private pacing(sub: Subscription): Pacing {
    return pacingOf(sub);
  }

  counts(): SubscriptionCounts {
    return countSubscriptions(this.all().map((sub) => toView(sub)));
  }
}

function rateKey(pacing: Pacing): string {
  return `${pacing.rate}/${pacing.burst}`;
}
