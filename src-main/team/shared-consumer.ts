/**
 * The team's shared durable consumer: one pull consumer on the team's stream, named from
 * the team (named as its bucket), that every member binds. JetStream hands each message
 * of a durable to one of the pull requests waiting on it, so the members share the
 * events (each to one member) and take over each other's when one stops: a message not
 * acked within ack_wait is delivered again, to whichever member asks next.
 *
 * It is the same durable the engine's JetStreamConsumer binds (bus/jetstream-consumer.ts,
 * whose ensureDurable this uses): `team create` makes it ahead of time and `team status`
 * reads its backlog, while each member's engine simply binds it by name. Every member
 * must use the same ack wait and max ack pending, or each bind would set its own.
 */
import { JetStreamApiCodes, JetStreamApiError, type ConsumerInfo } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { ensureDurable } from '../bus/jetstream-consumer';
import { jetStreamOf } from './kv-bucket';
import { sharedConsumerName } from './team-records';

/** How long a member has to ack an event before another member gets it. */
export const SHARED_ACK_WAIT_MS = 30_000;
/** Events handed out and not yet acked, all members together. */
export const SHARED_MAX_ACK_PENDING = 1_000;

export interface SharedConsumerOptions {
  team: string;
  stream: string;
  ackWaitMs?: number;
  maxAckPending?: number;
  /** Told when the server refuses to bring ack_wait or max_ack_pending in step; default: ignored. */
  onUpdateError?: (error: unknown) => void;
}

/**
 * Makes the team's durable consumer on its stream, or brings an existing one in step
 * with the options; returns its info. The stream must exist.
 */
export async function ensureSharedConsumer(nc: NatsConnection, options: SharedConsumerOptions): Promise<ConsumerInfo> {
  const { jsm } = await jetStreamOf(nc);
  return ensureDurable(
    jsm,
    options.stream,
    sharedConsumerName(options.team),
    {
      ackWaitMs: Math.max(1_000, Math.floor(options.ackWaitMs ?? SHARED_ACK_WAIT_MS)),
      maxAckPending: Math.max(1, Math.floor(options.maxAckPending ?? SHARED_MAX_ACK_PENDING)),
    },
    options.onUpdateError ?? (() => undefined),
  );
}

export interface SharedBacklog {
  /** In the stream, not yet handed to any member. */
  pending: number;
  /** Handed to a member, not yet acked (being delivered, or lost with a member until ack_wait). */
  ackPending: number;
  /** Both: what the team still has to take care of. */
  total: number;
  /** Pull requests of members waiting for events now (roughly: members consuming). */
  waiting: number;
}

/** The shared consumer's backlog, for `team status`. */
export async function pendingCount(nc: NatsConnection, team: string, stream: string): Promise<SharedBacklog> {
  const { jsm } = await jetStreamOf(nc);
  const durable = sharedConsumerName(team);
  const info = await jsm.consumers.info(stream, durable).catch((error: unknown) => {
    if (error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound)
      throw new Error(`the team's stream "${stream}" does not exist on this bus`, { cause: error });
    if (error instanceof JetStreamApiError && error.code === JetStreamApiCodes.ConsumerNotFound)
      throw new Error(`the team's consumer "${durable}" does not exist on stream "${stream}" yet: the first member to start makes it`, { cause: error });
    throw error;
  });
  return {
    pending: info.num_pending,
    ackPending: info.num_ack_pending,
    total: info.num_pending + info.num_ack_pending,
    waiting: info.num_waiting,
  };
}
