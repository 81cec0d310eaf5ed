import { jetstream, jetstreamManager, AckPolicy, DeliverPolicy, type JetStreamManager } from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/nats-core';
import { afterEach, describe, expect, it } from 'vitest';
import {
  JetStreamConsumer,
  type JetStreamConsumerOptions,
  type JetStreamConsumerStatus,
} from '../../src-main/bus/jetstream-consumer';
import { NatsBus } from '../../src-main/bus/nats-bus';
import type { BusStatus } from '../../src-main/contract/views';
import { startNatsServer, type NatsServer } from '../harness/nats-server';
import { waitForStatus as waitFor } from '../harness/status';

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const STREAM = 'DECNET';
const STREAM_SUBJECTS = ['attacker.>', 'canary.>'];

const servers: NatsServer[] = [];
const buses: NatsBus[] = [];
const consumers: JetStreamConsumer[] = [];

afterEach(async () => {
  await Promise.all(consumers.splice(0).map((consumer) => consumer.stop()));
  await Promise.all(buses.splice(0).map((bus) => bus.close()));
  await Promise.all(servers.splice(0).map((server) => server.cleanup()));
});

interface Setup {
  server: NatsServer;
  client: NatsConnection;
  jsm: JetStreamManager;
  bus: NatsBus;
}

async function setup(options: { stream?: boolean } = {}): Promise<Setup> {
  const server = await startNatsServer();
  servers.push(server);
  const client = await server.client();
  const jsm = await jetstreamManager(client);
  if (options.stream !== false) await createStream(jsm);
  const bus = new NatsBus({ servers: [server.wsUrl], onError: () => undefined });
  buses.push(bus);
  bus.start();
  return { server, client, jsm, bus };
}

async function createStream(jsm: JetStreamManager): Promise<void> {
  await jsm.streams.add({ name: STREAM, subjects: STREAM_SUBJECTS });
}

function consumer(bus: NatsBus, options: Omit<JetStreamConsumerOptions, 'stream' | 'durable'> & { stream?: string; durable?: string }): JetStreamConsumer {
  const created = new JetStreamConsumer(bus, { stream: STREAM, durable: 'sluice', onError: () => undefined, ...options });
  consumers.push(created);
  return created;
}

function envelope(id: string): Uint8Array {
  return encoder.encode(JSON.stringify({ v: 1, id, type: 'attacker.observed', ts: 1_700_000_000, payload: {} }));
}

function idOf(data: Uint8Array): string {
  return (JSON.parse(decoder.decode(data)) as { id: string }).id;
}

/**
 * Publishes with JetStream acks (each stored before the next), retrying each until it is
 * stored; resolves to the number of failed attempts.
 */
async function publishAll(client: NatsConnection, ids: string[], subject = 'attacker.observed'): Promise<number> {
  const js = jetstream(client, { timeout: 2_000 });
  let failures = 0;
  for (const id of ids) {
    for (;;) {
      try {
        // Nats-Msg-Id: a retry of a publish that was stored after all is dropped as a duplicate.
        await js.publish(subject, envelope(id), { msgID: id });
        break;
      } catch {
        failures++;
        // Server away or JetStream not ready yet: a short pause so a refused publish is not a busy loop.
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  }
  return failures;
}

/** `m-3..m-9, m-12`: ids of the form prefix-N as runs. */
function ranges(list: string[]): string {
  const runs: string[] = [];
  let start = -1;
  let last = -1;
  const flush = (): void => {
    if (start >= 0) runs.push(start === last ? `m-${start}` : `m-${start}..m-${last}`);
  };
  for (const n of list.map((id) => Number(id.slice(2))).sort((a, b) => a - b)) {
    if (n !== last + 1) {
      flush();
      start = n;
    }
    last = n;
  }
  flush();
  return runs.join(', ');
}

function ids(count: number, prefix = 'm'): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
}

/** Records handle() calls; until() awaits a condition re-checked on every call. */
class Recorder {
  readonly calls: string[] = [];
  private readonly waiters = new Set<() => void>();

  record(id: string): void {
    this.calls.push(id);
    for (const check of [...this.waiters]) check();
  }

  distinct(): Set<string> {
    return new Set(this.calls);
  }

  until(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!condition()) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`timed out waiting for ${what} (${this.calls.length} calls, ${this.distinct().size} distinct)`));
      }, timeoutMs);
      this.waiters.add(check);
    });
  }
}

function waitForStatus(
  target: JetStreamConsumer,
  predicate: (status: JetStreamConsumerStatus) => boolean,
  timeoutMs = 20_000,
): Promise<JetStreamConsumerStatus> {
  return waitFor(target, predicate, timeoutMs);
}

function waitForBus(target: NatsBus, predicate: (status: BusStatus) => boolean, timeoutMs = 20_000): Promise<BusStatus> {
  return waitFor(target, predicate, timeoutMs);
}

/**
 * Expects the server to hold nothing undelivered and nothing awaiting an ack for the
 * durable. Each look follows a flush of the bus's acks; the server may apply an ack a
 * moment after reading it, so it looks again (paced by those round trips) a few times.
 */
async function expectAllAcked(bus: NatsBus, jsm: JetStreamManager, durable = 'sluice'): Promise<void> {
  await bus.ready();
  let info = await jsm.consumers.info(STREAM, durable);
  for (let look = 1; look < 20 && (info.num_pending > 0 || info.num_ack_pending > 0); look++) {
    await bus.ready();
    info = await jsm.consumers.info(STREAM, durable);
  }
  expect(info.num_pending).toBe(0);
  expect(info.num_ack_pending).toBe(0);
}

describe('JetStreamConsumer', () => {
  it('delivers, in order, every message stored before it started, and acks each', async () => {
    const { client, jsm, bus } = await setup();
    const published = ids(300);
    await publishAll(client, published.slice(0, 150), 'attacker.observed');
    await publishAll(client, published.slice(150), 'canary.tok1.triggered');
    // A subject outside the stream is not captured and never delivered.
    client.publish('system.log', envelope('not-in-stream'));
    await client.flush();

    const recorder = new Recorder();
    const subjects = new Set<string>();
    const jsc = consumer(bus, {
      handle: async (subject, data) => {
        subjects.add(subject);
        recorder.record(idOf(data));
      },
    });
    expect(jsc.status).toMatchObject({ state: 'idle', stream: STREAM, durable: 'sluice', delivered: 0, acked: 0 });
    jsc.start();
    await waitForStatus(jsc, (status) => status.state === 'consuming');
    await recorder.until(() => recorder.calls.length >= published.length, 'all messages');

    expect(recorder.calls).toEqual(published);
    expect([...subjects].sort()).toEqual(['attacker.observed', 'canary.tok1.triggered']);
    await waitForStatus(jsc, (status) => status.acked === published.length);
    expect(jsc.status).toMatchObject({ state: 'consuming', lastError: null, delivered: 300, acked: 300 });
    await expectAllAcked(bus, jsm);

    const { config } = await jsm.consumers.info(STREAM, 'sluice');
    expect(config).toMatchObject({
      durable_name: 'sluice',
      deliver_policy: DeliverPolicy.All,
      ack_policy: AckPolicy.Explicit,
      ack_wait: nanos(30_000),
      max_ack_pending: 1000,
    });
    expect(config.deliver_subject).toBeUndefined();

    await jsc.stop();
    expect(jsc.status.state).toBe('idle');
  });

  it('redelivers a message whose handle() rejected, then acks it once handled', async () => {
    const { client, jsm, bus } = await setup();
    const recorder = new Recorder();
    const attempts = new Map<string, number>();
    const handled: string[] = [];
    const jsc = consumer(bus, {
      handle: async (_subject, data) => {
        const id = idOf(data);
        const attempt = (attempts.get(id) ?? 0) + 1;
        attempts.set(id, attempt);
        if (id === 'm-2' && attempt === 1) {
          recorder.record(id);
          throw new Error('outbox busy');
        }
        handled.push(id);
        recorder.record(id);
      },
    });
    jsc.start();
    await waitForStatus(jsc, (status) => status.state === 'consuming');
    await publishAll(client, ids(5));

    await recorder.until(() => handled.length === 5, 'the rejected message handled on redelivery');
    expect(attempts.get('m-2')).toBe(2);
    expect(handled.slice(0, 4)).toEqual(['m-0', 'm-1', 'm-3', 'm-4']);
    expect(handled[4]).toBe('m-2');
    await waitForStatus(jsc, (status) => status.acked === 5);
    expect(jsc.status.delivered).toBe(6);
    await expectAllAcked(bus, jsm);
  });

  it('never crashes on a handle() that throws synchronously or a body that is not JSON', async () => {
    const { client, jsm, bus } = await setup();
    const recorder = new Recorder();
    let thrown = 0;
    const jsc = consumer(bus, {
      handle: (_subject, data) => {
        const text = decoder.decode(data);
        recorder.record(text);
        if (text === 'boom' && thrown++ === 0) throw new Error('synchronous throw');
        return Promise.resolve();
      },
    });
    jsc.start();
    await waitForStatus(jsc, (status) => status.state === 'consuming');
    const js = jetstream(client);
    await js.publish('attacker.observed', new Uint8Array([0xff, 0xfe, 0x00]));
    await js.publish('attacker.observed', encoder.encode('boom'));
    await js.publish('attacker.observed', new Uint8Array(0));

    await recorder.until(() => recorder.calls.filter((text) => text === 'boom').length === 2, 'boom redelivered');
    await waitForStatus(jsc, (status) => status.acked === 3);
    expect(jsc.status.state).toBe('consuming');
    await expectAllAcked(bus, jsm);
  });

  it('acks only after handle() resolves: pending messages come back to the next consumer, acked ones do not', async () => {
    const { client, jsm, bus } = await setup();
    const published = ids(20);
    await publishAll(client, published);

    const first = new Recorder();
    const jsc1 = consumer(bus, {
      handle: (_subject, data) => {
        const id = idOf(data);
        first.record(id);
        // Odd messages are still "being committed" when the consumer stops: never resolved.
        return Number(id.slice(2)) % 2 === 1 ? new Promise<void>(() => undefined) : Promise.resolve();
      },
    });
    jsc1.start();
    await first.until(() => first.calls.length === published.length, 'every message handed to the first consumer');
    await waitForStatus(jsc1, (status) => status.acked === 10);
    await jsc1.stop();
    expect(jsc1.status).toMatchObject({ state: 'idle', delivered: 20, acked: 10 });

    const second = new Recorder();
    const jsc2 = consumer(bus, {
      // Changed settings are applied to the existing durable.
      maxAckPending: 500,
      handle: async (_subject, data) => {
        second.record(idOf(data));
      },
    });
    jsc2.start();
    const odd = published.filter((_, i) => i % 2 === 1);
    await second.until(() => second.calls.length >= odd.length, 'the unacknowledged messages redelivered');
    expect(second.calls).toEqual(odd);
    await waitForStatus(jsc2, (status) => status.acked === odd.length);
    // Nothing pending and nothing awaiting an ack on the server: no acked message can come back.
    await expectAllAcked(bus, jsm);
    expect(jsc2.status.delivered).toBe(odd.length);
    expect((await jsm.consumers.info(STREAM, 'sluice')).config.max_ack_pending).toBe(500);
  });

  it('loses nothing across a nats-server restart in the middle of a stream of 2,000 messages', async () => {
    const { server, client, jsm, bus } = await setup();
    const started = new Recorder();
    const handled = new Recorder();
    const states: string[] = [];
    // Messages from m-400 on are held inside handle() until the connection is gone, so
    // the restart cuts off deliveries whose handle() resolves only afterwards: their acks
    // cannot be sent and the server must redeliver them.
    let holding = true;
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const jsc = consumer(bus, {
      // Redelivery of the cut-off messages after 2 s instead of the production 30 s.
      ackWaitMs: 2_000,
      handle: async (_subject, data) => {
        const id = idOf(data);
        started.record(id);
        if (holding && Number(id.slice(2)) >= 400) await held;
        handled.record(id);
      },
    });
    jsc.onStatus((status) => {
      if (states.at(-1) !== status.state) states.push(status.state);
    });
    jsc.start();
    await waitForStatus(jsc, (status) => status.state === 'consuming');

    const published = ids(2_000);
    let restartBegun!: () => void;
    const restarting = new Promise<void>((resolve) => {
      restartBegun = resolve;
    });
    // One publisher: the first 1,000, then (once the restart has begun) the rest, retrying
    // each publish until the restarted server has stored it.
    const publisher = (async () => {
      const before = await publishAll(client, published.slice(0, 1_000));
      await restarting;
      return before + (await publishAll(client, published.slice(1_000)));
    })();

    await handled.until(() => handled.calls.length >= 400, '400 messages handled');
    await started.until(() => started.calls.length > 400, 'a handle() held in flight');
    const connectionLost = waitForBus(bus, (status) => status.state !== 'connected');
    const restarted = server.restart();
    restartBegun();
    await connectionLost;
    holding = false;
    release();
    await restarted;
    // The publisher ran into the restart and retried.
    expect(await publisher).toBeGreaterThan(0);

    await handled.until(() => published.every((id) => handled.distinct().has(id)), 'every message id handled', 40_000).catch(async (error: Error) => {
      // Say what is missing and what the server holds, so a failure can be explained.
      const seen = handled.distinct();
      const missing = published.filter((id) => !seen.has(id));
      const info = await jsm.consumers.info(STREAM, 'sluice').catch((e: unknown) => String(e));
      const stream = await jsm.streams.info(STREAM).catch((e: unknown) => String(e));
      throw new Error(
        `${error.message}; missing ${missing.length}: ${ranges(missing)}; consumer ${JSON.stringify(info)}; stream state ${JSON.stringify(typeof stream === 'string' ? stream : stream.state)}; status ${JSON.stringify(jsc.status)}`,
      );
    });
    expect(handled.distinct().size).toBe(2_000);
    const final = await waitForStatus(jsc, (status) => status.state === 'consuming');
    expect(final.lastError).toBeNull();
    // The consumer lost its connection and bound again on the next one.
    expect(states).toEqual(['binding', 'consuming', 'binding', 'consuming']);
    // The held messages were handled before their acks could be sent: redelivered.
    expect(final.delivered).toBeGreaterThan(2_000);
  }, 60_000);

  it('reports a missing stream by name and recovers once it is created', async () => {
    const { client, jsm, bus } = await setup({ stream: false });
    const recorder = new Recorder();
    const jsc = consumer(bus, {
      handle: async (_subject, data) => {
        recorder.record(idOf(data));
      },
    });
    jsc.start();
    const failed = await waitForStatus(jsc, (status) => status.state === 'error');
    expect(failed.lastError).toContain(`"${STREAM}"`);
    expect(failed.lastError).toMatch(/not found/);
    // Sluice never creates the stream.
    await expect(jsm.streams.info(STREAM)).rejects.toThrow(/stream not found/);

    await createStream(jsm);
    await waitForStatus(jsc, (status) => status.state === 'consuming', 20_000);
    expect(jsc.status.lastError).toBeNull();
    await publishAll(client, ['after-create']);
    await recorder.until(() => recorder.calls.includes('after-create'), 'a message after the stream appeared');
  });
  it('reports a stream deleted while consuming, and consumes again once it is back', async () => {
    const { client, jsm, bus } = await setup();
    const recorder = new Recorder();
    const jsc = consumer(bus, {
      handle: async (_subject, data) => {
        recorder.record(idOf(data));
      },
    });
    jsc.start();
    await waitForStatus(jsc, (status) => status.state === 'consuming');
    await publishAll(client, ['before']);
    await recorder.until(() => recorder.calls.includes('before'), 'a message before the deletion');

    await jsm.streams.delete(STREAM);
    const failed = await waitForStatus(jsc, (status) => status.state === 'error');
    expect(failed.lastError).toContain(`"${STREAM}"`);

    await createStream(jsm);
    await waitForStatus(jsc, (status) => status.state === 'consuming');
    await publishAll(client, ['after']);
    await recorder.until(() => recorder.calls.includes('after'), 'a message in the new stream');
  });

  it('refuses a durable of the same name that is a push consumer, naming it', async () => {
    const { jsm, bus } = await setup();
    await jsm.consumers.add(STREAM, {
      durable_name: 'sluice',
      deliver_subject: 'somewhere.else',
      ack_policy: AckPolicy.Explicit,
    });
    const jsc = consumer(bus, { handle: async () => undefined });
    jsc.start();
    const failed = await waitForStatus(jsc, (status) => status.state === 'error');
    expect(failed.lastError).toContain('consumer "sluice" on stream "DECNET" is a push consumer');
  });
});
