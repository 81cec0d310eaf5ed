/**
 * Events for the console, batched (docs/design.md#events-batched): however hard the bus
 * floods, the renderer gets at most one `deliveries.appended` and one
 * `subscriptions.changed` per flush interval, and `status.changed` at most once a second
 * unless the bus state changes. Each delivery appears once per batch, in its latest
 * state.
 */
import type { EventName, EventPayloads } from '../contract/bridge';
import type { DeliveryView, EngineStatus, SubscriptionView } from '../contract/views';

const FLUSH_INTERVAL_MS = 200;
const STATUS_INTERVAL_MS = 1000;

type HubListener = <E extends EventName>(event: E, payload: EventPayloads[E]) => void;

export class EventHub {
  private readonly deliveries = new Map<number, DeliveryView>();
  private subscriptionsDirty = false;
  private statusDirty = false;
  private statusUrgent = false;
  private lastStatusAt = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly listeners = new Set<HubListener>();

  /** Views are computed at flush time, at most once per interval, however often things change. */
  constructor(
    private readonly status: () => EngineStatus,
    private readonly subscriptions: () => SubscriptionView[],
  ) {}

  get listening(): boolean {
    return this.listeners.size > 0;
  }

  subscribe(listener: HubListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  delivery(view: DeliveryView): void {
    if (this.listeners.size === 0) return;
    this.deliveries.set(view.id, view);
    this.schedule();
  }

  subscriptionsChanged(): void {
    this.subscriptionsDirty = true;
    this.statusDirty = true;
    this.schedule();
  }

  /** `urgent`: the bus state changed; the analyst should see that at once. */
  statusChanged(urgent = false): void {
    this.statusDirty = true;
    this.statusUrgent ||= urgent;
    this.schedule();
  }

  private schedule(): void {
    if (this.listeners.size === 0 || this.timer) return;
    this.timer = setTimeout(() => this.flush(), FLUSH_INTERVAL_MS);
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.deliveries.size > 0) {
      const batch = [...this.deliveries.values()].sort((a, b) => b.id - a.id);
      this.deliveries.clear();
      this.emit('deliveries.appended', batch);
    }
    if (this.subscriptionsDirty) {
      this.subscriptionsDirty = false;
      this.emit('subscriptions.changed', this.subscriptions());
    }
    if (this.statusDirty) {
      const now = Date.now();
      if (this.statusUrgent || now - this.lastStatusAt >= STATUS_INTERVAL_MS) {
        this.statusDirty = false;
        this.statusUrgent = false;
        this.lastStatusAt = now;
        this.emit('status.changed', this.status());
      } else {
        this.schedule();
      }
    }
  }

  private emit<E extends EventName>(event: E, payload: EventPayloads[E]): void {
    for (const listener of this.listeners) listener(event, payload);
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.listeners.clear();
  }
}
