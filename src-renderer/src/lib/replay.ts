/** What a replay dialog was opened for. */
import type { DeliveryView, Outcome, SubscriptionView } from '@contract/views';

export type ReplayTarget =
  /** Every dead letter of a subscription, optionally since a time. */
  | { kind: 'dead'; subscription: SubscriptionView }
  /** One delivery, to its own subscription. */
  | { kind: 'delivery'; delivery: DeliveryView }
  /** Stored events by topic pattern and time window, to a chosen subscription. */
  | { kind: 'pattern'; subscriptionId: string | null };

/** Ended failed and kept for replay. */
const DEAD_LETTERS: readonly Outcome[] = ['dead', 'blocked'];

/** Whether the detail view offers Replay ("send again" for a delivered one). */
export function replayable(d: Pick<DeliveryView, 'outcome' | 'subscriptionId'>): boolean {
  return d.subscriptionId !== null && (DEAD_LETTERS.includes(d.outcome) || d.outcome === 'delivered');
}

export function isDeadLetter(outcome: Outcome): boolean {
  return DEAD_LETTERS.includes(outcome);
}
