/**
 * The engine's Prometheus metrics (docs/design.md#metrics), on a registry of their own:
 * counters fed from the engine's records as they happen (an increment per delivery that
 * ends, per attempt), gauges read from the engine only when scraped. Loaded only when a
 * run asks for metrics (`--metrics`): without them the engine pays nothing.
 *
 * Labels carry the subscription's name and fixed words only: never a URL, a secret, a
 * header or an error text. Names are bounded (one per subscription; a renamed or deleted
 * one keeps its counters until the engine restarts).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { DeliveryView, EngineStatus, Outcome, SubscriptionView } from '../contract/views';
import type { MetricsPage, MetricsServer } from './metrics-server';
import type { EngineRecord } from './records';

/** Webhook round trips, in seconds: 5 ms to 10 s (the attempt deadline's default). */
export const LATENCY_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The final outcomes a delivery to a subscription is counted under, once, when it ends.
 * Not counted: `held` (it waits, and ends later as one of these), `replayed` (the replay is
 * a delivery of its own), `rejected` (a bus message, no subscription: see
 * sluice_bus_messages_rejected_total) and `test` (the analyst's test fire).
 */
export const COUNTED_OUTCOMES = ['delivered', 'dead', 'blocked', 'failed', 'discarded'] as const satisfies readonly Outcome[];
type CountedOutcome = (typeof COUNTED_OUTCOMES)[number];

/** What an attempt came to: a 2xx (or the product's own yes), another answer, or none (network, timeout). */
export type AttemptResult = 'success' | 'error_response' | 'no_response';

/** The JetStream durable's backlog, as the server counts it. */
export interface JetStreamBacklog {
  stream: string;
  /** In the stream, not yet delivered to the durable. */
  pending: number;
  /** Delivered, not yet acknowledged. */
  ackPending: number;
}

/** What the metrics read from the engine. */
export interface MetricsSource {
  onRecord(listener: (record: EngineRecord) => void): () => void;
  status(): EngineStatus;
  subscriptionViews(): SubscriptionView[];
  /** The JetStream durable's backlog (null in core-NATS mode, or when the server cannot say now). */
  jetstreamBacklog(): Promise<JetStreamBacklog | null>;
}

/** The outcome a delivery record is counted under, or null when it is not (yet) counted. */
export function countedOutcome(record: Extract<EngineRecord, { kind: 'delivery' }>): CountedOutcome | null {
  if (!record.final || record.delivery.subscriptionName === null) return null;
  return (COUNTED_OUTCOMES as readonly Outcome[]).includes(record.delivery.outcome) ? (record.delivery.outcome as CountedOutcome) : null;
}

/** The result of the attempt a delivery record follows. */
export function attemptResult(delivery: DeliveryView): AttemptResult {
  if (delivery.outcome === 'delivered') return 'success';
  return delivery.statusCode === null ? 'no_response' : 'error_response';
}

/**
 * Serve the engine's metrics on `server` (listening already) until `close()`, which
 * stops the server and the metrics' listening to the engine.
 */
export function serveMetrics(server: MetricsServer, source: MetricsSource, onError: (error: unknown) => void): { close(): Promise<void> } {
  const metrics = new EngineMetrics(source);
  let closed = false;
  // A scrape cut short by the stop is no failure worth saying.
  server.serve(
    () => metrics.render(),
    (error) => {
      if (!closed) onError(error);
    },
  );
  return {
    async close() {
      closed = true;
      await server.close();
      metrics.close();
    },
  };
}

export class EngineMetrics {
  readonly registry = new Registry();
  private readonly deliveries: Counter<'subscription' | 'outcome'>;
  private readonly attempts: Counter<'subscription' | 'result'>;
  private readonly latency: Histogram<'subscription'>;
  private readonly offRecords: () => void;
  /** While a scrape is under way: what it read once for every gauge that needs it. */
  private scrape: { views?: SubscriptionView[]; backlog?: Promise<JetStreamBacklog | null> } | null = null;

  constructor(
    private readonly source: MetricsSource,
    options: { processMetrics?: boolean } = {},
  ) {
    const registers = [this.registry];
    this.deliveries = new Counter({
      name: 'sluice_deliveries_total',
      help: 'Deliveries that ended, by subscription and final outcome (delivered, dead, blocked, failed, discarded); each counted once.',
      labelNames: ['subscription', 'outcome'],
      registers,
    });
    this.attempts = new Counter({
      name: 'sluice_delivery_attempts_total',
      help: 'HTTP attempts, retries included, by subscription and result (success, error_response, no_response).',
      labelNames: ['subscription', 'result'],
      registers,
    });
    this.latency = new Histogram({
      name: 'sluice_delivery_latency_seconds',
      help: 'Time from sending an attempt to its answer (or its failure), by subscription.',
      labelNames: ['subscription'],
      buckets: LATENCY_BUCKETS_S,
      registers,
    });
    const metrics = this;
    new Gauge({
      name: 'sluice_subscription_tripped',
      help: 'Whether the circuit breaker has tripped the subscription (1) or not (0).',
      labelNames: ['subscription'],
      registers,
      collect() {
        this.reset();
        for (const view of metrics.subscriptions()) this.set({ subscription: view.name }, view.state === 'tripped' ? 1 : 0);
      },
    });
    new Gauge({
      name: 'sluice_subscription_held',
      help: 'Events held for the subscription while it is tripped or paused, delivered (or discarded) at its re-enable.',
      labelNames: ['subscription'],
      registers,
      collect() {
        this.reset();
        for (const view of metrics.subscriptions()) this.set({ subscription: view.name }, view.heldCount);
      },
    });
    new Gauge({
      name: 'sluice_subscription_dead_letters',
      help: 'Deliveries to the subscription that ended failed and can be replayed.',
      labelNames: ['subscription'],
      registers,
      collect() {
        this.reset();
        for (const view of metrics.subscriptions()) this.set({ subscription: view.name }, view.deadCount);
      },
    });
    new Gauge({
      name: 'sluice_bus_connected',
      help: 'Whether the engine is connected to the NATS bus (1) or not (0).',
      registers,
      collect() {
        this.set(source.status().bus.state === 'connected' ? 1 : 0);
      },
    });
    new Gauge({
      name: 'sluice_deliveries_in_flight',
      help: 'Deliveries in memory: waiting for a slot or on the wire.',
      registers,
      collect() {
        this.set(source.status().inFlight);
      },
    });
    new Counter({
      name: 'sluice_bus_messages_total',
      help: 'Messages taken from the bus since the engine started (rejected ones included).',
      registers,
      collect() {
        this.reset();
        this.inc(source.status().intake.received);
      },
    });
    new Counter({
      name: 'sluice_bus_messages_rejected_total',
      help: 'Bus messages rejected at intake (not a JSON object, too large, too deep…) since the engine started.',
      registers,
      collect() {
        this.reset();
        this.inc(source.status().intake.rejected);
      },
    });
    // Labelled by the stream so that, in core-NATS mode or while the server cannot say,
    // they have no sample at all (an unlabelled gauge would say 0).
    new Gauge({
      name: 'sluice_jetstream_pending',
      help: 'Messages in the JetStream stream not yet delivered to this installation\'s durable consumer (no sample in core-NATS mode, or while the server cannot say).',
      labelNames: ['stream'],
      registers,
      async collect() {
        this.reset();
        const backlog = await metrics.backlog();
        if (backlog) this.set({ stream: backlog.stream }, backlog.pending);
      },
    });
    new Gauge({
      name: 'sluice_jetstream_ack_pending',
      help: 'Messages delivered to the durable consumer and not yet acknowledged (recorded) by the engine.',
      labelNames: ['stream'],
      registers,
      async collect() {
        this.reset();
        const backlog = await metrics.backlog();
        if (backlog) this.set({ stream: backlog.stream }, backlog.ackPending);
      },
    });
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
    this.offRecords = source.onRecord((record) => this.record(record));
  }

  /** What a scrape gets. */
  async render(): Promise<MetricsPage> {
    const scrape = {};
    this.scrape = scrape;
    try {
      return { contentType: this.registry.contentType, body: await this.registry.metrics() };
    } finally {
      if (this.scrape === scrape) this.scrape = null;
    }
  }

  close(): void {
    this.offRecords();
    this.registry.clear();
  }

  /** An increment or two per delivery update: the engine's hot path pays no more. */
  private record(record: EngineRecord): void {
    if (record.kind !== 'delivery') return;
    const name = record.delivery.subscriptionName;
    if (name === null) return;
    if (record.attempt) {
      this.attempts.inc({ subscription: name, result: attemptResult(record.delivery) });
      if (record.delivery.latencyMs !== null) this.latency.observe({ subscription: name }, record.delivery.latencyMs / 1000);
    }
    const outcome = countedOutcome(record);
    if (outcome) this.deliveries.inc({ subscription: name, outcome });
  }

  private subscriptions(): SubscriptionView[] {
    if (!this.scrape) return this.source.subscriptionViews();
    return (this.scrape.views ??= this.source.subscriptionViews());
  }

  private backlog(): Promise<JetStreamBacklog | null> {
    const read = (): Promise<JetStreamBacklog | null> => this.source.jetstreamBacklog().catch(() => null);
    if (!this.scrape) return read();
    return (this.scrape.backlog ??= read());
  }
}
