/**
 * The engine: bus in, webhooks out, everything recorded. It owns the store, the bus
 * client, the router, the dispatcher and the breaker's bookkeeping, and serves the
 * bridge contract (`handlers`) that the console, the web host and the CLI use.
 * Runs under plain Node; nothing here imports Electron.
 */
import { randomUUID } from 'node:crypto';
import { userInfo } from 'node:os';
import { BridgeFailure, type Handlers } from '../contract/bridge';
import { countSubscriptions } from '../contract/counts';
import type { DeliveryView, EngineStatus, Settings, SubscriptionCounts } from '../contract/views';
import { NatsBus, type BusOptions } from '../bus/nats-bus';
import { parseBusMessage } from '../bus/intake';
import { Dispatcher, type DeliveryJob, type DeliveryUpdate, type Destination } from '../delivery/dispatcher';
import { EgressClient } from '../delivery/http-client';
import { createGuardedResolver } from '../delivery/ssrf';
import { buildBody, type WireEvent } from '../delivery/wire';
import { Store } from '../store/database';
import {
  getDeliveryDetail,
  getDeliveryView,
  insertDelivery,
  insertEvent,
  listDeliveries,
  updateDelivery,
} from '../store/deliveries';
import { readSettings, writeSettings } from '../store/settings';
import { listSubscriptions, toView, updateSubscription, type Subscription } from '../store/subscriptions';
import { USER_AGENT, VERSION } from '../version';
import { afterFailure, afterSuccess } from './breaker';
import { EventHub } from './event-hub';
import { Router } from './router';
import { busOptionsFrom, settingsView, validateSettingsPatch } from './settings';
import { SubscriptionService } from './subscription-service';

/** Other DECNET components announce subscription changes on this subject (SPEC §2). */
export const RELOAD_SUBJECT = 'system.webhook.subscriptions_changed';
/** A lost reload signal costs at most this much latency. */
export const RELOAD_FALLBACK_MS = 60_000;
/** How often the database is checked for changes made by another process (the CLI). */
export const EXTERNAL_CHANGE_POLL_MS = 500;

export type EngineRecord =
  | { kind: 'delivery'; delivery: DeliveryView; final: boolean }
  | { kind: 'bus'; status: EngineStatus['bus'] }
  | { kind: 'breaker'; subscriptionId: string; name: string; tripped: boolean; consecutiveFailures: number; error: string }
  | { kind: 'reload'; reason: string; patterns: number; subscriptions: number }
  | { kind: 'error'; message: string };

export interface EngineOptions {
  dbPath: string;
  /** Overrides the stored bus URL for this run (CLI `--nats`). */
  natsUrl?: string;
  /** Overrides the stored allow-private setting for this run (CLI `--allow-private`). */
  allowPrivate?: boolean;
  reloadFallbackMs?: number;
  /** Name lookup for the SSRF guard (tests point names at chosen addresses). */
  lookup?: (host: string) => Promise<string[]>;
  /** Who a test fire says triggered it. */
  actor?: string;
  /**
   * Never connect to the bus: the CLI's one-shot commands use the engine for its rules
   * and its store, while another process (the running engine) does the consuming.
   */
  offline?: boolean;
}

export class Engine {
  readonly hub: EventHub;
  readonly handlers: Handlers;
  private settings: Settings;
  private readonly service: SubscriptionService;
  private readonly egress: EgressClient;
  private readonly dispatcher: Dispatcher;
  private bus!: NatsBus;
  private router!: Router;
  private subscriptions = new Map<string, Subscription>();
  private readonly intake = { received: 0, rejected: 0 };
  private readonly recordListeners = new Set<(record: EngineRecord) => void>();
  private readonly timers: NodeJS.Timeout[] = [];
  private stopped = false;

  private constructor(
    private readonly store: Store,
    private readonly options: EngineOptions,
  ) {
    this.settings = readSettings(store);
    this.hub = new EventHub(() => this.status());
    const allowPrivate = (): boolean => this.effectiveSettings().allowPrivate;
    this.egress = new EgressClient({
      allowPrivate,
      resolver: createGuardedResolver({ allowPrivate, ...(options.lookup ? { lookup: options.lookup } : {}) }),
    });
    this.service = new SubscriptionService({
      store,
      checkDestination: (url) => this.egress.checkDestination(url),
    });
    this.dispatcher = new Dispatcher({
      send: (request) => this.egress.send(request),
      destination: (id) => this.destination(id),
      settings: () => this.effectiveSettings(),
      userAgent: USER_AGENT,
      onUpdate: (job, update) => this.recordUpdate(job, update),
    });
    store.onCommitError = (err) => this.emitRecord({ kind: 'error', message: err.message });
    this.handlers = this.createHandlers();
  }

  static async start(options: EngineOptions): Promise<Engine> {
    const store = await Store.open(options.dbPath);
    const engine = new Engine(store, options);
    engine.connectBus();
    engine.reload('start');
    if (!options.offline) {
      engine.timers.push(
        setInterval(() => engine.reload('fallback timer'), options.reloadFallbackMs ?? RELOAD_FALLBACK_MS),
        setInterval(() => engine.pollExternalChanges(), EXTERNAL_CHANGE_POLL_MS),
      );
    }
    return engine;
  }

  /** Stored settings with this run's command-line overrides applied. */
  effectiveSettings(): Settings {
    const s = { ...this.settings };
    if (this.options.natsUrl !== undefined) s.natsUrl = this.options.natsUrl;
    if (this.options.allowPrivate !== undefined) s.allowPrivate = this.options.allowPrivate;
    return s;
  }

  onRecord(listener: (record: EngineRecord) => void): () => void {
    this.recordListeners.add(listener);
    return () => this.recordListeners.delete(listener);
  }

  private emitRecord(record: EngineRecord): void {
    for (const listener of this.recordListeners) listener(record);
  }

  /** Resolves once everything recorded so far is committed to disk. */
  durable(): Promise<void> {
    return this.store.durable();
  }

  /** Resolves once the bus has confirmed every subscription made so far. */
  busReady(): Promise<void> {
    return this.bus.ready();
  }

  // ----- bus -------------------------------------------------------------------------

  private busOptions(): BusOptions {
    return busOptionsFrom(this.effectiveSettings(), `sluice-${VERSION}`);
  }

  private connectBus(): void {
    this.bus = new NatsBus(this.busOptions());
    const bus = this.bus;
    bus.onStatus((status) => {
      if (bus !== this.bus) return;
      if (status.state === 'connected') this.router.reconfirm();
      this.hub.statusChanged(true);
      this.emitRecord({ kind: 'bus', status });
    });
    this.router = new Router(bus, (subject, data, targets) => this.onBusMessage(subject, data, targets));
    bus.subscribe(RELOAD_SUBJECT, () => this.reload('reload signal'));
    if (!this.options.offline) bus.start();
  }

  private async reconnectBus(): Promise<void> {
    const old = this.bus;
    this.router.close();
    this.connectBus();
    this.reload('bus settings changed');
    await old.close();
  }

  private onBusMessage(subject: string, data: Uint8Array, targets: Subscription[]): void {
    const receivedAt = Date.now();
    this.intake.received++;
    const parsed = parseBusMessage(subject, data, receivedAt);
    const at = new Date(receivedAt).toISOString();
    if (!parsed.ok) {
      this.intake.rejected++;
      const id = insertDelivery(this.store, {
        eventSeq: null,
        eventId: null,
        topic: subject,
        subscriptionId: null,
        subscriptionName: null,
        url: null,
        outcome: 'rejected',
        error: parsed.reason,
        at,
      });
      this.publishDelivery(id, true);
      this.hub.statusChanged();
      return;
    }
    this.deliverEvent(parsed.event, targets, at, false);
  }

  /** Record the event and one delivery per target, then start them. */
  private deliverEvent(event: WireEvent, targets: Subscription[], at: string, test: boolean): Promise<DeliveryUpdate>[] {
    const body = buildBody(event);
    const seq = insertEvent(this.store, {
      eventId: event.id,
      topic: event.topic,
      type: event.type,
      ts: event.ts,
      body: body.toString('utf8'),
      receivedAt: at,
    });
    return targets.map((sub) => {
      const deliveryId = insertDelivery(this.store, {
        eventSeq: seq,
        eventId: event.id,
        topic: event.topic,
        subscriptionId: sub.id,
        subscriptionName: sub.name,
        url: sub.url,
        outcome: 'pending',
        at,
      });
      this.publishDelivery(deliveryId, false);
      const job: DeliveryJob = { deliveryId, subscriptionId: sub.id, eventId: event.id, topic: event.topic, body, test };
      return this.dispatcher.submit(job);
    });
  }

  private destination(id: string): Destination | undefined {
    const sub = this.subscriptions.get(id);
    return sub && { url: sub.url, secret: sub.secret, enabled: sub.enabled, tripped: sub.autoDisabledAt !== null };
  }

  private publishDelivery(id: number, final: boolean): void {
    const view = getDeliveryView(this.store, id);
    if (!view) return;
    this.hub.delivery(view);
    this.emitRecord({ kind: 'delivery', delivery: view, final });
  }

  // ----- outcomes and the breaker ----------------------------------------------------

  private recordUpdate(job: DeliveryJob, update: DeliveryUpdate): void {
    if (this.stopped && this.store.sqlite.open === false) return;
    const at = new Date().toISOString();
    updateDelivery(this.store, job.deliveryId, {
      outcome: update.outcome,
      attempts: update.attempts,
      statusCode: update.statusCode,
      latencyMs: update.latencyMs,
      error: update.error,
      at,
      requestHeaders: update.requestHeaders,
      responseExcerpt: update.responseExcerpt,
      attemptLog: update.attemptLog,
    });
    this.publishDelivery(job.deliveryId, update.final);
    if (update.final && update.countsForBreaker) this.applyBreaker(job.subscriptionId, update, at);
  }

  private applyBreaker(subscriptionId: string, update: DeliveryUpdate, at: string): void {
    const sub = this.subscriptions.get(subscriptionId);
    if (!sub) return;
    if (update.outcome === 'delivered') {
      const patch = afterSuccess(at);
      updateSubscription(this.store, sub.id, patch);
      Object.assign(sub, patch);
    } else {
      const error = update.error ?? 'failed';
      const { patch, tripped } = afterFailure(sub, error, this.settings.circuitThreshold, at);
      updateSubscription(this.store, sub.id, patch);
      Object.assign(sub, patch);
      this.emitRecord({
        kind: 'breaker',
        subscriptionId: sub.id,
        name: sub.name,
        tripped,
        consecutiveFailures: sub.consecutiveFailures,
        error,
      });
      if (tripped) {
        // Stop consuming for it at once, and end its waiting retries (kept as dead).
        this.router.apply([...this.subscriptions.values()]);
        this.dispatcher.cancelSubscription(sub.id, 'subscription tripped');
      }
    }
    this.hub.subscriptionsChanged([...this.subscriptions.values()].map(toView));
  }

  // ----- reload ----------------------------------------------------------------------

  /** Re-read subscriptions and apply only what changed. */
  reload(reason: string): void {
    if (this.stopped) return;
    const previous = this.subscriptions;
    const all = listSubscriptions(this.store);
    this.subscriptions = new Map(all.map((s) => [s.id, s]));
    const { added, removed } = this.router.apply(all);
    for (const [id, before] of previous) {
      const now = this.subscriptions.get(id);
      if (!now) this.dispatcher.cancelSubscription(id, 'subscription deleted', 'failed');
      else if (before.enabled && !now.enabled)
        this.dispatcher.cancelSubscription(id, now.autoDisabledAt ? 'subscription tripped' : 'subscription paused');
    }
    this.hub.subscriptionsChanged(all.map(toView));
    if (reason !== 'fallback timer' || added.length > 0 || removed.length > 0)
      this.emitRecord({ kind: 'reload', reason, patterns: this.router.patterns.length, subscriptions: all.length });
  }

  private pollExternalChanges(): void {
    if (this.stopped || !this.store.changedElsewhere()) return;
    const before = JSON.stringify(this.busOptions());
    this.settings = readSettings(this.store);
    this.dispatcher.resize();
    if (JSON.stringify(this.busOptions()) !== before) void this.reconnectBus();
    else this.reload('database changed');
  }

  // ----- status ----------------------------------------------------------------------

  counts(): SubscriptionCounts {
    return countSubscriptions([...this.subscriptions.values()].map(toView));
  }

  status(): EngineStatus {
    return {
      version: VERSION,
      bus: this.bus.status,
      counts: this.counts(),
      intake: { ...this.intake },
      inFlight: this.dispatcher.pending,
    };
  }

  // ----- the contract ----------------------------------------------------------------

  /** Run a local edit and make it take effect at once. */
  private edited<T>(value: T): T {
    this.reload('local edit');
    return value;
  }

  private createHandlers(): Handlers {
    return {
      'subscriptions.list': () => this.service.list(),
      'subscriptions.create': async (input) => this.edited(await this.service.create(input)),
      'subscriptions.update': async (id, patch) => this.edited((await this.service.update(id, patch)).subscription),
      'subscriptions.remove': (id) => {
        this.service.remove(id);
        return this.edited(null);
      },
      'subscriptions.setEnabled': (id, enabled) => this.edited(this.service.setEnabled(id, enabled)),
      'subscriptions.testFire': (id) => this.testFire(id),
      'deliveries.list': (query) => listDeliveries(this.store, query ?? {}),
      'deliveries.get': (id) => {
        const detail = getDeliveryDetail(this.store, id);
        if (!detail) throw new BridgeFailure('not_found', `no delivery with id ${id}`);
        return detail;
      },
      'status.get': () => this.status(),
      'settings.get': () => settingsView(this.settings),
      'settings.update': async (patch) => {
        validateSettingsPatch(patch);
        const before = JSON.stringify(this.busOptions());
        writeSettings(this.store, patch);
        this.settings = readSettings(this.store);
        this.dispatcher.resize();
        if (JSON.stringify(this.busOptions()) !== before) await this.reconnectBus();
        this.hub.statusChanged(true);
        return settingsView(this.settings);
      },
    };
  }

  /** A synthetic event, one attempt, breaker untouched (SPEC §3). */
  async testFire(id: string, actor = this.options.actor ?? `${safeUser()} via console`) {
    const sub = this.service.get(id);
    const event: WireEvent = {
      id: randomUUID(),
      topic: 'test.ping',
      type: 'test',
      ts: new Date().toISOString(),
      payload: { message: `Test delivery from Sluice to "${sub.name}"`, triggered_by: actor },
    };
    const [done] = this.deliverEvent(event, [sub], new Date().toISOString(), true);
    const update = await (done as Promise<DeliveryUpdate>);
    const statusCode = update.statusCode;
    return {
      delivered: statusCode !== null && statusCode >= 200 && statusCode < 300,
      statusCode,
      error: update.error,
      latencyMs: update.latencyMs,
    };
  }

  /** Stop cleanly: no new intake, in-flight deliveries finish or are recorded. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.router.close();
    await this.bus.close();
    await this.dispatcher.stop();
    await this.egress.close();
    this.hub.flush();
    this.hub.close();
    this.store.close();
  }
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'analyst';
  }
}
