/**
 * The engine's end of the bus (docs/design.md#bus-connection): the NATS connection, the
 * router that subscribes its patterns, and in JetStream mode the durable consumer
 * (docs/design.md#jetstream-mode). Messages go to intake; the reload signal goes to the
 * engine; state changes are shown and recorded. A change of bus settings replaces the
 * connection whole, the new one subscribed before the old one closes.
 */
import type { NatsConnection } from '@nats-io/nats-core';
import type { EngineStatus } from '../contract/views';
import { JetStreamConsumer } from '../bus/jetstream-consumer';
import { NatsBus, type BusOptions } from '../bus/nats-bus';
import type { Subscription } from '../store/subscriptions';
import type { EventHub } from './event-hub';
import type { EngineRecords } from './records';
import { Router } from './router';

/**
 * Other DECNET components announce subscription changes on this subject
 * (docs/design.md#reload-signal).
 */
export const RELOAD_SUBJECT = 'system.webhook.subscriptions_changed';

interface BusLinkDeps {
  /** How to reach the bus, from the settings as they are now. */
  options: () => BusOptions;
  /** The JetStream stream to consume ('' for core NATS) and the durable to bind. */
  stream: () => string;
  durable: () => string;
  /** Never connect (the CLI's one-shot commands): patterns are matched, nothing is read. */
  offline: boolean;
  /** A core NATS message and the subscriptions it matches. */
  onCore: (subject: string, data: Uint8Array, targets: Subscription[]) => void;
  /** A JetStream message: resolves once recorded, and it is acknowledged then. */
  onStream: (subject: string, data: Uint8Array) => Promise<void>;
  onReloadSignal: () => void;
  /** The durable's ack wait (JetStreamConsumer's default when not given). */
  ackWaitMs?: number;
  /** Each new live connection (a team watches its bucket on it). */
  onConnection?: (nc: NatsConnection) => void;
  /**
   * Resolves when the stream may be consumed: a team member waits until its copy of the
   * team's configuration is in place, or it would acknowledge events that nothing matched
   * yet (dropped). Absent: at once.
   */
  consumable?: () => Promise<void>;
  hub: EventHub;
  records: EngineRecords;
}

export class BusLink {
  private bus!: NatsBus;
  private currentRouter!: Router;
  private jetstream: JetStreamConsumer | null = null;

  constructor(private readonly deps: BusLinkDeps) {}

  get router(): Router {
    return this.currentRouter;
  }

  connect(): void {
    const { deps } = this;
    this.bus = new NatsBus(deps.options());
    const bus = this.bus;
    bus.onStatus((status) => {
      if (bus !== this.bus) return;
      if (status.state === 'connected') this.currentRouter.reconfirm();
      deps.hub.statusChanged(true);
      deps.records.emit({ kind: 'bus', status });
    });
    const stream = deps.stream();
    // In JetStream mode events come from the durable consumer, acknowledged once
    // recorded; the router then only matches. The reload signal stays on core NATS.
    this.currentRouter = new Router(bus, (subject, data, targets) => deps.onCore(subject, data, targets), stream ? 'none' : 'core');
    bus.subscribe(RELOAD_SUBJECT, () => deps.onReloadSignal());
    if (deps.offline) return;
    const { onConnection } = deps;
    if (onConnection) bus.onConnection((nc) => bus === this.bus && onConnection(nc));
    bus.start();
    if (stream) {
      this.jetstream = new JetStreamConsumer(bus, {
        stream,
        durable: deps.durable(),
        ...(deps.ackWaitMs !== undefined ? { ackWaitMs: deps.ackWaitMs } : {}),
        handle: (subject, data) => deps.onStream(subject, data),
        onError: (error, subject) => deps.records.error(`JetStream ${subject}: ${(error as Error).message}`),
      });
      let lastState = '';
      this.jetstream.onStatus((status) => {
        if (status.state === lastState) return;
        lastState = status.state;
        deps.hub.statusChanged(true);
        deps.records.emit({ kind: 'jetstream', status });
      });
      const consumer = this.jetstream;
      if (!deps.consumable) consumer.start();
      else void deps.consumable().then(() => this.jetstream === consumer && consumer.start());
    }
  }

  /** A new connection for new settings; `connected` runs once it is made, before the old one closes. */
  async reconnect(connected: () => void): Promise<void> {
    const old = this.bus;
    const oldStream = this.jetstream;
    this.jetstream = null;
    this.currentRouter.close();
    await oldStream?.stop();
    this.connect();
    connected();
    await old.close();
  }

  /** Resolves once the bus has confirmed every subscription made so far. */
  ready(): Promise<void> {
    return this.bus.ready();
  }

  /** Too many messages wait in intake: stop reading the socket (the server buffers). */
  pauseReading(): void {
    this.bus.pauseReading();
  }

  resumeReading(): void {
    this.bus.resumeReading();
  }

  /** Publish on the engine's connection now: false when it is not connected (nothing is queued). */
  publish(subject: string, data: Uint8Array): boolean {
    return this.bus.publish(subject, data);
  }

  /** The JetStream durable's backlog (null in core-NATS mode, or while it cannot be read). */
  jetstreamBacklog(): Promise<{ stream: string; pending: number; ackPending: number } | null> {
    return this.jetstream?.backlog() ?? Promise.resolve(null);
  }

  status(): Pick<EngineStatus, 'bus' | 'jetstream'> {
    return { bus: this.bus.status, jetstream: this.jetstream ? { ...this.jetstream.status } : null };
  }

  async close(): Promise<void> {
    this.currentRouter.close();
    await this.jetstream?.stop();
    await this.bus.close();
  }
}
