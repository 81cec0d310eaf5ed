/**
 * How deliveries are shown as they change: to the console (the event hub, batched) and to
 * the engine's records. The views of deliveries in memory are kept here, and only here,
 * so an outcome is shown from what is known without reading the row back; the rest
 * (bulk transitions, rare paths) is read back from the store.
 */
import type { DeliveryView } from '../contract/views';
import { followsAttempt, type DeliveryUpdate } from '../delivery/dispatcher';
import type { Store } from '../store/database';
import { getDeliveryView } from '../store/deliveries';
import type { EventHub } from './event-hub';
import type { EngineRecords } from './records';

/**
 * A bulk transition (a trip, a release, a replay) shows the console this many of the
 * rows it changed, the newest: the console's log keeps the newest 5,000 rows, and every
 * row still to be attempted shows up again when it is.
 */
export const BULK_PUBLISH_LIMIT = 5_000;

/** What a delivery just recorded is known by. */
export interface NewDelivery {
  eventId: string;
  topic: string;
  subscriptionId: string;
  subscriptionName: string;
  at: string;
}

export class DeliveryFeed {
  /** Views of the deliveries in memory (from their record to leaving memory). */
  private readonly liveViews = new Map<number, DeliveryView>();

  constructor(
    private readonly deps: {
      store: Store;
      hub: EventHub;
      records: EngineRecords;
    },
  ) {}

  /** A delivery just recorded: shown, and kept in view while in memory when `inMemory`. */
  recorded(id: number, base: NewDelivery, outcome: DeliveryView['outcome'], inMemory: boolean): void {
    const view = newDeliveryView(id, base, outcome);
    this.emit(view, false);
    if (inMemory) this.liveViews.set(id, view);
  }

  /** A delivery taken into memory from the store, with its view as read there. */
  taken(view: DeliveryView): void {
    this.liveViews.set(view.id, view);
  }

  /** A delivery that will not be attempted after all (its record was never committed). */
  dropped(id: number): void {
    this.liveViews.delete(id);
  }

  /** An outcome recorded for a delivery: shown from its known view, else read back. */
  updated(id: number, update: DeliveryUpdate, at: string): void {
    const known = this.liveViews.get(id);
    // Every update is a job leaving memory (ended, due again in the store, or held): its view goes with it.
    this.liveViews.delete(id);
    const final = update.kind === 'ended';
    if (known)
      this.emit(
        { ...known, outcome: update.outcome, attempts: update.attempts, statusCode: update.statusCode, latencyMs: update.latencyMs, error: update.error, updatedAt: at },
        final,
        followsAttempt(update),
      );
    else this.publish(id, final, followsAttempt(update));
  }

  /** The views of rows a bulk transition changed: the newest BULK_PUBLISH_LIMIT of them. */
  publishMany(ids: readonly number[], final: boolean): void {
    if (!this.listening()) return;
    const newest = ids.length > BULK_PUBLISH_LIMIT ? [...ids].sort((a, b) => b - a).slice(0, BULK_PUBLISH_LIMIT) : ids;
    for (const id of newest) this.publish(id, final);
  }

  /** A delivery's view read back from the store (bulk transitions, rare paths). */
  publish(id: number, final: boolean, attempt = false): void {
    if (!this.listening()) return;
    const view = getDeliveryView(this.deps.store, id);
    // A bulk end (a trip, a pause) may have held it: held waits for the analyst, never final.
    if (view) this.emit(view, final && view.outcome !== 'held', attempt);
  }

  private emit(view: DeliveryView, final: boolean, attempt = false): void {
    this.deps.hub.delivery(view);
    if (this.deps.records.listening) this.deps.records.emit({ kind: 'delivery', delivery: view, final, attempt });
  }

  private listening(): boolean {
    return this.deps.hub.listening || this.deps.records.listening;
  }
}

/** The view of a delivery just recorded. */
function newDeliveryView(id: number, base: NewDelivery, outcome: DeliveryView['outcome']): DeliveryView {
  return {
    id,
    createdAt: base.at,
    updatedAt: base.at,
    subscriptionId: base.subscriptionId,
    subscriptionName: base.subscriptionName,
    eventId: base.eventId,
    topic: base.topic,
    outcome,
    statusCode: null,
    attempts: 0,
    latencyMs: null,
    error: null,
    replay: false,
    replayOf: null,
  };
}
