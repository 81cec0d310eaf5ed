/**
 * Subscription health as the engine last reported it. Asked for at most every
 * {@link HEALTH_REFRESH_MS} while deliveries end, and every {@link HEALTH_IDLE_MS}
 * otherwise so the windows keep sliding: never once per delivery.
 */
import type { SluiceApi } from '@contract/bridge';
import type { HealthReport, Outcome, SubscriptionHealth } from '@contract/views';

export const HEALTH_REFRESH_MS = 2000;
export const HEALTH_IDLE_MS = 30_000;

/** Outcomes that end a delivery in the health figures. */
const COUNTED: readonly Outcome[] = ['delivered', 'dead', 'blocked'];

export class HealthState {
  report = $state.raw<HealthReport | null>(null);
  readonly byId = $derived(new Map<string, SubscriptionHealth>((this.report?.subscriptions ?? []).map((h) => [h.subscriptionId, h])));

  private lastAskedAt = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private idle: ReturnType<typeof setInterval> | null = null;
  private readonly offs: (() => void)[] = [];

  constructor(private readonly api: SluiceApi) {}

  listen(): void {
    this.offs.push(
      this.api.on('deliveries.appended', (batch) => {
        if (batch.some((d) => COUNTED.includes(d.outcome))) this.soon();
      }),
      this.api.on('subscriptions.changed', () => this.soon()),
    );
    this.idle = setInterval(() => void this.refresh(), HEALTH_IDLE_MS);
  }

  close(): void {
    for (const off of this.offs.splice(0)) off();
    if (this.timer) clearTimeout(this.timer);
    if (this.idle) clearInterval(this.idle);
    this.timer = this.idle = null;
  }

  /** Ask again once the refresh interval since the last ask has passed. */
  soon(): void {
    if (this.timer) return;
    const wait = Math.max(0, this.lastAskedAt + HEALTH_REFRESH_MS - Date.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.refresh();
    }, wait);
  }

  async refresh(): Promise<void> {
    this.lastAskedAt = Date.now();
    const r = await this.api['subscriptions.health']();
    if (r.ok) this.report = r.value;
  }
}
