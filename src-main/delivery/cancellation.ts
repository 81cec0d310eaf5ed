/**
 * What becomes of a delivery whose work must stop before it ends on its own: the one
 * place that says it, for a job in memory (the dispatcher) and for a row waiting in the
 * store (engine/outcomes, through the outbox's `endWaiting`).
 *
 * A trip holds what was never tried and ends waiting retries dead (the receiver is known
 * to fail); a pause holds both (the analyst expects its events to wait); a delete ends
 * everything failed (nowhere to send it). The engine stopping ends nothing: what was not
 * yet on the wire goes back to the store as it was, to be taken up at the next start.
 */
import type { Outcome } from '../contract/views';

/**
 * What a job's work becomes when it must stop: for one never attempted (`untried`) and
 * one attempted before (`retried`). Its reason is worded here only: the store's health
 * figures recognise a delivery a pause or a trip ended by it.
 */
export interface Cancellation {
  untried: Extract<Outcome, 'held' | 'failed' | 'pending'>;
  retried: Extract<Outcome, 'dead' | 'held' | 'failed' | 'retrying'>;
  reason: string;
}

/** A subscription that stopped (tripped, paused, deleted): nothing goes back to the store as it was. */
export interface SubscriptionStop extends Cancellation {
  untried: Extract<Outcome, 'held' | 'failed'>;
  retried: Extract<Outcome, 'dead' | 'held' | 'failed'>;
}

export const TRIPPED: SubscriptionStop = { untried: 'held', retried: 'dead', reason: 'subscription tripped' };
export const PAUSED: SubscriptionStop = { untried: 'held', retried: 'held', reason: 'subscription paused' };
export const DELETED: SubscriptionStop = { untried: 'failed', retried: 'failed', reason: 'subscription deleted' };
/** The engine stopping: jobs not yet on the wire go back to the store unchanged. */
export const REQUEUE_ON_STOP: Cancellation = { untried: 'pending', retried: 'retrying', reason: 'engine stopping' };

/**
 * What a stopped delivery becomes, by whether it was attempted before: ended (failed,
 * dead: `error` says why), held for the analyst, or due again in the store as it was.
 */
export type StoppedAs =
  | { kind: 'ended'; outcome: Extract<Outcome, 'dead' | 'failed'> }
  | { kind: 'held'; outcome: 'held' }
  | { kind: 'due'; outcome: Extract<Outcome, 'pending' | 'retrying'> };

export function stoppedAs(cancellation: Cancellation, attempted: boolean): StoppedAs {
  const outcome = attempted ? cancellation.retried : cancellation.untried;
  switch (outcome) {
    case 'held':
      return { kind: 'held', outcome };
    case 'pending':
    case 'retrying':
      return { kind: 'due', outcome };
    default:
      return { kind: 'ended', outcome };
  }
}
