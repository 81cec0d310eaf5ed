/**
 * The team's shared durable consumer (src-main/team/shared-consumer.ts) against a real
 * nats-server: made from the team's name and kept in step, its backlog for `team status`,
 * and two engines' JetStreamConsumers binding it by name sharing the events, each event
 * to one of them.
 */
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { nanos } from '@nats-io/nats-core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { JetStreamConsumer } from '../../src-main/bus/jetstream-consumer';
import { NatsBus } from '../../src-main/bus/nats-bus';
import { ensureSharedConsumer, pendingCount } from '../../src-main/team/shared-consumer';
import { sharedConsumerName } from '../../src-main/team/team-records';
import { startNatsServer, type NatsServer } from '../harness/nats-server';
import { waitForStatus } from '../harness/status';

const STREAM = 'DECNET';
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const servers: NatsServer[] = [];
const buses: NatsBus[] = [];
const consumers: JetStreamConsumer[] = [];

afterEach(async () => {
  await Promise.all(consumers.splice(0).map((consumer) => consumer.stop()));
  await Promise.all(buses.splice(0).map((bus) => bus.close()));
  await Promise.all(servers.splice(0).map((server) => server.cleanup()));
});

async function serverWithStream(): Promise<NatsServer> {
  const nats = await startNatsServer();
  servers.push(nats);
  await (await jetstreamManager(await nats.client())).streams.add({ name: STREAM, subjects: ['attacker.>'] });
  return nats;
}

async function publish(nats: NatsServer, ids: string[]): Promise<void> {
  const js = jetstream(await nats.client());
  for (const id of ids) await js.publish('attacker.observed', encoder.encode(id), { msgID: id });
}

describe('the shared consumer', () => {
  it('is made from the team name, kept in step, and tells its backlog', async () => {
    const nats = await serverWithStream();
    const nc = await nats.client();
    const info = await ensureSharedConsumer(nc, { team: 'blue', stream: STREAM });
    expect(info.name).toBe('blue');
    expect(info.config).toMatchObject({ durable_name: 'blue', ack_policy: 'explicit', ack_wait: nanos(30_000), max_ack_pending: 1_000 });
    expect(info.config.deliver_subject).toBeUndefined();

    const updated = await ensureSharedConsumer(nc, { team: 'blue', stream: STREAM, ackWaitMs: 60_000, maxAckPending: 50 });
    expect(updated.config).toMatchObject({ ack_wait: nanos(60_000), max_ack_pending: 50 });

    await publish(nats, ['e1', 'e2', 'e3']);
    expect(await pendingCount(nc, 'blue', STREAM)).toEqual({ pending: 3, ackPending: 0, total: 3, waiting: 0 });
    const msg = await (await jetstream(nc).consumers.get(STREAM, 'blue')).next();
    expect(msg).not.toBeNull();
    expect(await pendingCount(nc, 'blue', STREAM)).toMatchObject({ pending: 2, ackPending: 1, total: 3 });
    msg?.ack();
  });

  it('says what is missing', async () => {
    const nats = await serverWithStream();
    const nc = await nats.client();
    await expect(ensureSharedConsumer(nc, { team: 'blue', stream: 'NOPE' })).rejects.toThrow('JetStream stream "NOPE" not found');
    await expect(pendingCount(nc, 'blue', STREAM)).rejects.toThrow(
      `the team's consumer "blue" does not exist on stream "${STREAM}" yet: the first member to start makes it`,
    );
    await expect(pendingCount(nc, 'blue', 'NOPE')).rejects.toThrow(`the team's stream "NOPE" does not exist on this bus`);
    await expect(ensureSharedConsumer(nc, { team: 'a.b', stream: STREAM })).rejects.toThrow('"a.b" is not a team name');
  });

  it('shares the events between two members that bind it, each event to one', async () => {
    const nats = await serverWithStream();
    await ensureSharedConsumer(await nats.client(), { team: 'blue', stream: STREAM });
    const first: string[] = [];
    const second: string[] = [];
    const members = [first, second].map((into) => {
      const bus = new NatsBus({ servers: [nats.wsUrl], onError: () => undefined });
      buses.push(bus);
      bus.start();
      const consumer = new JetStreamConsumer(bus, {
        stream: STREAM,
        durable: sharedConsumerName('blue'),
        onError: () => undefined,
        handle: async (_subject, data) => {
          into.push(decoder.decode(data));
          // Handling takes a moment, as a delivery does: the other member's pull is served meanwhile.
          await new Promise((resolve) => setImmediate(resolve));
        },
      });
      consumers.push(consumer);
      consumer.start();
      return consumer;
    });
    await Promise.all(members.map((consumer) => waitForStatus(consumer, (s) => s.state === 'consuming', 10_000)));

    const ids = Array.from({ length: 200 }, (_, i) => `e${i}`);
    await publish(nats, ids);
    await vi.waitFor(() => expect(first.length + second.length).toBe(ids.length), { timeout: 10_000 });
    const all = [...first, ...second];
    expect(new Set(all).size).toBe(ids.length);
    expect(all.sort()).toEqual([...ids].sort());
    expect(first.length).toBeGreaterThan(0);
    expect(second.length).toBeGreaterThan(0);
    await vi.waitFor(async () => expect((await pendingCount(await nats.client(), 'blue', STREAM)).total).toBe(0));
  });
});
