/**
 * A test fire (docs/design.md#test-fire): one synthetic event to one subscription, one
 * attempt, recorded as a test from the start so it is never resumed after a restart and
 * never moves the breaker.
 */
import { randomUUID } from 'node:crypto';
import type { DeliveryJob, DeliveryUpdate } from '../delivery/dispatcher';
import { buildBody, type WireEvent } from '../delivery/wire';
import type { Store } from '../store/database';
import { insertDelivery, insertEvent } from '../store/deliveries';
import type { Subscription } from '../store/subscriptions';
import { osUser } from './audit-trail';
import type { DeliveryFeed } from './delivery-feed';

interface TestFireDeps {
  store: Store;
  feed: DeliveryFeed;
  /** Hand the delivery to the dispatcher; resolves with its one outcome. */
  submit: (job: DeliveryJob) => Promise<DeliveryUpdate>;
}

/**
 * `fired` is told the delivery made, inside the transaction that records it: the audit
 * trail records the test fire there.
 */
export async function testFire(deps: TestFireDeps, sub: Subscription, actor: string, fired?: (made: { deliveryId: number; eventId: string }) => void) {
  const event: WireEvent = {
    id: randomUUID(),
    topic: 'test.ping',
    type: 'test',
    ts: new Date().toISOString(),
    payload: { message: `Test delivery from Sluice to "${sub.name}"`, triggered_by: actor },
  };
  const at = new Date().toISOString();
  const body = buildBody(event);
  const deliveryId = deps.store.transaction(() => {
    const seq = insertEvent(deps.store, { eventId: event.id, topic: event.topic, type: event.type, ts: event.ts, body: body.toString('utf8'), receivedAt: at });
    // Recorded as a test from the start: a test fire is never resumed after a restart.
    const id = insertDelivery(deps.store, {
      eventSeq: seq,
      eventId: event.id,
      topic: event.topic,
      subscriptionId: sub.id,
      subscriptionName: sub.name,
      url: sub.url,
      outcome: 'test',
      at,
    });
    fired?.({ deliveryId: id, eventId: event.id });
    return id;
  });
  deps.feed.publish(deliveryId, false);
  const update = await deps.submit({ deliveryId, subscriptionId: sub.id, eventId: event.id, topic: event.topic, body, test: true });
  const statusCode = update.statusCode;
  return {
    delivered: statusCode !== null && statusCode >= 200 && statusCode < 300,
    statusCode,
    error: update.error,
    latencyMs: update.latencyMs,
  };
}

/** Who a test fire from the console says triggered it, when the engine was not told. */
export function defaultActor(): string {
  return `${osUser()} via console`;
}
