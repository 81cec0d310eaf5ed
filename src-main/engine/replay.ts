/**
 * Sending stored events again: a replay (docs/design.md#dead-letters-and-replay) of one
 * delivery, of a subscription's dead letters, or of stored events by pattern and window;
 * and the release of what a subscription held while tripped or paused
 * (docs/design.md#re-enable), delivered or discarded. Both only change rows in the
 * outbox; the scheduler takes up what became due.
 */
import { BridgeFailure } from '../contract/bridge';
import type { ReplayRequest } from '../contract/bridge';
import type { HeldAction, ReplayResult } from '../contract/views';
import { patternError } from '../match/pattern';
import type { Store } from '../store/database';
import { getDeliveryView } from '../store/deliveries';
import { releaseHeld, replayDeliveries, replayEvents, type ReplayTarget } from '../store/outbox';
import type { Subscription } from '../store/subscriptions';
import { BULK_PUBLISH_LIMIT, type DeliveryFeed } from './delivery-feed';
import type { EventHub } from './event-hub';
import type { OutboxScheduler } from './scheduler';

/** Held events released per turn of the event loop at a re-enable (100,000 in one statement held it ~0.75 s). */
const RELEASE_SLICE = 5_000;

interface ReplayDeps {
  store: Store;
  feed: DeliveryFeed;
  hub: EventHub;
  scheduler: () => OutboxScheduler;
  /** The subscription as the engine holds it now. */
  subscription: (id: string) => Subscription | undefined;
  stopped: () => boolean;
}

export class Replays {
  constructor(private readonly deps: ReplayDeps) {}

  /**
   * What a subscription held while tripped or paused, delivered or discarded a slice per
   * turn, oldest first. Resolves with how many.
   */
  async releaseHeld(id: string, held: HeldAction): Promise<number> {
    let newest: number[] = [];
    let total = 0;
    for (;;) {
      const released = releaseHeld(this.deps.store, id, held, Date.now(), RELEASE_SLICE);
      total += released.length;
      newest = [...newest, ...released].slice(-BULK_PUBLISH_LIMIT);
      if (released.length > 0 && held === 'deliver') this.deps.scheduler().notify();
      if (released.length < RELEASE_SLICE) break;
      await new Promise((resolve) => setImmediate(resolve));
      // Tripped or paused again meanwhile: what it holds from now on stays held.
      if (this.deps.stopped() || !this.deps.subscription(id)?.enabled) break;
    }
    this.deps.feed.publishMany(newest, held === 'discard');
    // The held count the console shows was read while slices were still going.
    this.deps.hub.subscriptionsChanged();
    return total;
  }

  /**
   * Send again: one delivery, a subscription's dead letters, or stored events by pattern
   * and window. `queued` is told, inside the transaction that queued them, what was queued
   * for whom (not for a dry run, nor when nothing was): the audit trail records it there.
   */
  replay(request: ReplayRequest, queued?: (target: ReplayTarget, count: number) => void): ReplayResult {
    const { store } = this.deps;
    const dryRun = request.dryRun === true;
    const now = Date.now();
    const { count, changed } = store.transaction(() => {
      const done = this.select(request, now, dryRun);
      if (!dryRun && done.count > 0) queued?.(done.target, done.count);
      return done;
    });
    if (!dryRun && count > 0) {
      this.deps.feed.publishMany(changed, false);
      this.deps.scheduler().notify();
      this.deps.hub.subscriptionsChanged();
    }
    return { count, queued: !dryRun };
  }

  /** The replay's writes (or, for a dry run, its count). */
  private select(request: ReplayRequest, now: number, dryRun: boolean): { target: ReplayTarget; count: number; changed: number[] } {
    const { store } = this.deps;
    // The schema has told the three forms apart and required what each needs.
    if ('id' in request) {
      const original = getDeliveryView(store, request.id);
      if (!original) throw new BridgeFailure('not_found', `no delivery with id ${request.id}`);
      if (!original.subscriptionId || !original.eventId)
        throw new BridgeFailure('invalid_argument', 'a rejected message has no event to send again');
      const target = this.target(original.subscriptionId);
      return { target, ...replayDeliveries(store, { ids: [original.id], deadOnly: false }, target, now, dryRun) };
    }
    if ('dead' in request) {
      const target = this.target(request.subscriptionId);
      const since = request.since === undefined ? undefined : isoTime(request.since, 'since');
      const selection = { subscriptionId: target.subscriptionId, deadOnly: true, ...(since ? { since } : {}) };
      return { target, ...replayDeliveries(store, selection, target, now, dryRun) };
    }
    const problem = patternError(request.pattern);
    if (problem) throw new BridgeFailure('invalid_argument', `invalid topic pattern: ${problem}`, 'pattern');
    const target = this.target(request.subscriptionId);
    const from = isoTime(request.from, 'from');
    const to = isoTime(request.to, 'to');
    if (from > to) throw new BridgeFailure('invalid_argument', '"from" is after "to"', 'from');
    return { target, count: replayEvents(store, request.pattern, from, to, target, now, dryRun), changed: [] };
  }

  /** Replays go to enabled subscriptions only: a tripped one would only fail again. */
  private target(subscriptionId: string): ReplayTarget {
    const sub = this.deps.subscription(subscriptionId);
    if (!sub) throw new BridgeFailure('not_found', `no subscription with id ${subscriptionId}`, 'subscriptionId');
    if (!sub.enabled)
      throw new BridgeFailure('conflict', `"${sub.name}" is ${sub.autoDisabledAt ? 'tripped' : 'paused'}: re-enable it before replaying to it`, 'subscriptionId');
    return { subscriptionId: sub.id, subscriptionName: sub.name, url: sub.url };
  }
}

/** An ISO-8601 time from the caller, normalized to the store's form (UTC, `Z`). */
function isoTime(value: string, field: string): string {
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new BridgeFailure('invalid_argument', `${field}: "${value}" is not an ISO-8601 time`, field);
  return new Date(ms).toISOString();
}
