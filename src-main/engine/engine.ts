/**
 * The engine: bus in, webhooks out, everything recorded. This file is its lifecycle
 * (start, settings, reconnect, stop) and its wiring; each job is a part of its own:
 *
 * - bus-link: the bus connection, the router and the JetStream consumer;
 * - intake-stage: a message becomes an event and its deliveries, recorded;
 * - live-subscriptions: the subscriptions held while running, and their reload;
 * - scheduler: the outbox, feeding the dispatcher what is due;
 * - outcomes: what the dispatcher reports, recorded; the breaker; cancellations;
 * - delivery-feed and event-hub: what the console and the records are shown;
 * - maintenance: lost work taken up again, held bounds, retention, the text index;
 * - subscription-views: the subscriptions as the console sees them (counts, pacing);
 * - replay (and held release), test-fire, preview, subscription-service: what the analyst asks;
 * - bridge-handlers: the contract (`handlers`) the console, the web host and the CLI use,
 *   each change recorded in the audit trail as its operator's (audit-trail);
 * - announcements: trips and re-enables said on the bus; metrics (loaded with `--metrics`):
 *   what Prometheus scrapes;
 * - team-sync: in a team, the team's bucket mirrored here and this member's edits there.
 *
 * Runs under plain Node; nothing here imports Electron.
 *
 * Over 500 lines: the wiring of every part above and the lifecycle they share (start,
 * settings, reconnect, stop) read best in one place, each part's work being elsewhere.
 * It would split at its seams next: the settings lifecycle (updateSettings,
 * takeUpSettings, intakeKey) beside engine/settings.ts, and the team's wiring (makeTeam)
 * beside team-sync.ts. Its options are engine-options.ts.
 */
import { hostname } from 'node:os';
import { basename } from 'node:path';
import type { DeliveryExportRequest, Handlers, SluiceApi } from '../contract/bridge';
import type {
  EngineStatus,
  SettingOverrides,
  Settings,
  SettingsView,
  SubscriptionCounts,
  SubscriptionView,
  TestFireResult,
} from '../contract/views';
import type { BusOptions } from '../bus/nats-bus';
import { Dispatcher, type DeliveryJob, type DeliveryUpdate } from '../delivery/dispatcher';
import { EgressClient } from '../delivery/http-client';
import { checkReceiverTls, hasReceiverTls } from '../delivery/receiver-tls';
import { Preview } from './preview';
import { SubscriptionViews } from './subscription-views';
import { createGuardedResolver } from '../delivery/ssrf';
import { DatabaseClaim, type ClaimHolder } from '../store/claim';
import { connectOnce } from '../bus/connect-once';
import { TeamSync } from './team-sync';
import { PLAINTEXT_CIPHER, Store } from '../store/database';
import type { Pacing } from '../delivery/pacing';
import { finishedSince } from '../store/health';
import { backlogCounts } from '../store/outbox';
import { durableNameFrom, ensureInstallId, readSettings, writeSettings } from '../store/settings';
import { prepareSecrets, type SecretsUpgrade, type Subscription } from '../store/subscriptions';
import { USER_AGENT, VERSION } from '../version';
import { Announcer } from './announcements';
import { AuditTrail, BulkChange, osUser, SOURCES, type AuditRecorder, type BulkAction } from './audit-trail';
import { createHandlers } from './bridge-handlers';
import { BusLink } from './bus-link';
import { DeliveryFeed } from './delivery-feed';
import { fileExport, openExport, type ChooseExportFile, type OpenedExport } from './delivery-search';
import { EventHub } from './event-hub';
import { createInProcessClient } from './in-process-client';
import { IntakeStage } from './intake-stage';
import { LiveSubscriptions } from './live-subscriptions';
import { LATENCY_BUCKET_STARTS, healthSeedWindow } from './health';
import { Maintenance } from './maintenance';
import type { EngineOptions } from './engine-options';
import { Outcomes, SUCCESS_WRITE_INTERVAL_MS } from './outcomes';
import { EngineRecords, type EngineRecord } from './records';
import { OutboxScheduler } from './scheduler';
import { Replays } from './replay';
import { intakeKey, overridesApplier, busOptionsFrom, runOverrides, settingsView, validateSettingsPatch } from './settings';
import { SubscriptionService } from './subscription-service';
import { defaultActor, testFire } from './test-fire';

export { RELOAD_SUBJECT } from './bus-link';
/** A lost reload signal costs at most this much latency. */
const RELOAD_FALLBACK_MS = 60_000;
/** How often the database is checked for changes made by another process (the CLI). */
const EXTERNAL_CHANGE_POLL_MS = 500;
/** How often held events are checked against their count and age bounds. */
const HELD_BOUNDS_INTERVAL_MS = 30_000;
/** How often finished records are pruned (retention settings). */
const RETENTION_INTERVAL_MS = 10 * 60_000;
/** How often new events are added to the full-text index (the tail a search scans stays this short). */
const TEXT_INDEX_INTERVAL_MS = 1_000;
/**
 * Pooled connections per receiver origin: the concurrency setting's upper bound, so the
 * pool is never a tighter bound than the dispatcher's (a subscription allowed 32 requests
 * in flight to a slow receiver gets 32 connections, not the client's default 10). Opened
 * only as requests need them.
 */
export const EGRESS_CONNECTIONS_PER_ORIGIN = 256;
/** How often the console is told how many deliveries a subscription's rate holds back, while it does. */
export const PACED_REFRESH_MS = 1000;
/** How long a one-shot command waits for the bus to write a team edit. */
const TEAM_CONNECT_TIMEOUT_MS = 3_000;

export type { EngineRecord } from './records';

export type { EngineOptions } from './engine-options';

export class Engine {
  readonly hub: EventHub;
  readonly handlers: Handlers;
  /** The audit trail as this engine's operator (its source): for a change made beside the contract (`sluice team`). */
  readonly audit: AuditRecorder;
  private settings: Settings;
  /** This installation's id (its database's): a team member's id too. */
  readonly installId: string;
  private readonly records = new EngineRecords();
  private readonly feed: DeliveryFeed;
  // An event's path, in order: bus → intake → (router, subscriptions) → outbox →
  // dispatcher (through egress) → outcomes (breaker) → feed and hub (the console).
  private readonly bus: BusLink;
  private readonly intake: IntakeStage;
  private readonly subscriptions: LiveSubscriptions;
  private readonly scheduler: OutboxScheduler;
  private readonly egress: EgressClient;
  private readonly dispatcher: Dispatcher;
  private readonly outcomes: Outcomes;
  // Beside the path: the store's upkeep, and what the analyst asks for.
  private readonly maintenance: Maintenance;
  private readonly service: SubscriptionService;
  private readonly replays: Replays;
  /** Trips and re-enables said on the bus; an offline engine keeps them for its command (`take()`). */
  readonly announcer: Announcer;
  /** In a team (the teamBucket setting): its bucket mirrored here, edits pushed there (team-sync.ts). */
  private team: TeamSync | null = null;
  /** While metrics are served (`--metrics`): how to stop serving them. */
  private metrics: { close(): Promise<void> } | null = null;
  private readonly timers: NodeJS.Timeout[] = [];
  private stopped = false;
  /** Plain-text secrets re-encrypted at this start (a one-time upgrade). */
  secretsUpgraded = 0;
  /** Set when the old plain-text bytes could not be scrubbed from the file after the upgrade. */
  secretsScrubError: string | null = null;
  /** The engine whose claim on the database this one took over: it ended without letting go (see takeoverNote). */
  tookOverFrom: ClaimHolder | null = null;
  /** This engine's claim on its database (null offline): one engine per database. */
  private claim: DatabaseClaim | null = null;
  private readonly views: SubscriptionViews;
  private readonly preview: Preview;
  /** Handlers for changes made elsewhere than `handlers`' source, by source. */
  private readonly handlersBySource = new Map<string, Handlers>();

  /**
   * Wiring only: each part gets what it uses, as values or as functions read at each
   * use (settings, the router and the subscriptions are replaced while the engine runs).
   */
  private constructor(
    private readonly store: Store,
    private readonly options: EngineOptions,
  ) {
    // First: at the first start of a database from before install ids, it may store a setting.
    this.installId = ensureInstallId(store);
    this.settings = readSettings(store);
    const settings = (): Settings => this.settings;
    const stopped = (): boolean => this.stopped;
    const scheduler = (): OutboxScheduler => this.scheduler;
    const subscription = (id: string): Subscription | undefined => this.subscriptions.get(id);
    const records = this.records;
    this.views = new SubscriptionViews({ store, dispatcher: () => this.dispatcher, scheduler, hub: () => this.hub });
    this.hub = new EventHub(
      () => this.status(),
      () => this.subscriptionViews(),
    );
    const hub = this.hub;
    this.feed = new DeliveryFeed({ store, hub, records });
    const feed = this.feed;

    this.bus = new BusLink({
      options: () => this.busOptions(),
      stream: () => this.settings.jetstreamStream,
      // A team's members all bind the team's durable: each event goes to one of them.
      durable: () => this.settings.teamBucket || this.durableName(),
      onConnection: (nc) => this.team?.attach(nc),
      consumable: () => this.team?.mirrored ?? Promise.resolve(),
      ...(options.jetstreamAckWaitMs !== undefined ? { ackWaitMs: options.jetstreamAckWaitMs } : {}),
      offline: options.offline === true,
      onCore: (subject, data, targets) => this.intake.fromCore(subject, data, targets),
      onStream: (subject, data) => this.intake.fromStream(subject, data),
      onReloadSignal: () => this.reload('reload signal'),
      hub,
      records,
    });
    this.intake = new IntakeStage({
      store,
      feed,
      hub,
      records,
      scheduler,
      settings,
      subscription,
      targetsFor: (subject) => this.bus.router.targetsFor(subject),
      submit: (job) => void this.submit(job),
      pauseReading: () => this.bus.pauseReading(),
      resumeReading: () => this.bus.resumeReading(),
    });
    this.subscriptions = new LiveSubscriptions({
      store,
      router: () => this.bus.router,
      scheduler,
      stopSubscription: (id, cancellation) => this.outcomes.stopSubscription(id, cancellation),
      pacingChanged: (id) => this.views.pacingChanged(id),
      hub,
      records,
      stopped,
    });
    this.scheduler = new OutboxScheduler({
      store,
      inMemory: () => this.dispatcher.pending,
      inMemoryOf: (id) => this.dispatcher.inMemoryOf(id),
      subscriptionIds: () => this.subscriptions.ids(),
      submit: (job, view) => {
        feed.taken(view);
        void this.submit(job);
      },
      onError: (err) => {
        records.error(`could not take due deliveries from the store: ${(err as Error).message}`);
        this.maintenance.retryLostWork();
      },
    });
    // Both read the settings at every check, so a change applies to the next connect.
    const allowPrivate = (): boolean => this.effectiveSettings().allowPrivate;
    const allowedCidrs = (): readonly string[] => this.settings.allowedCidrs;
    this.egress = new EgressClient({
      allowPrivate,
      proxy: () => this.settings,
      connections: EGRESS_CONNECTIONS_PER_ORIGIN,
      resolver: createGuardedResolver({
        allowPrivate,
        allowedCidrs,
        ...(options.lookup ? { lookup: options.lookup } : {}),
        ...(options.dnsTtlMs !== undefined ? { ttlMs: options.dnsTtlMs } : {}),
      }),
    });
    this.dispatcher = new Dispatcher({
      send: (request) => this.egress.send(request),
      destination: (id) => this.subscriptions.destination(id, this.settings.retrySchedule),
      settings: () => this.effectiveSettings(),
      userAgent: USER_AGENT,
      onUpdate: (job, update) => this.outcomes.record(job, update),
      onError: (job, error) => {
        records.error(`could not record the outcome of delivery ${job.deliveryId}: ${(error as Error).message}`);
        this.maintenance.retryLostWork();
      },
    });
    this.outcomes = new Outcomes({
      store,
      dispatcher: () => this.dispatcher,
      scheduler,
      feed,
      hub,
      records,
      settings,
      subscription,
      reroute: () => this.bus.router.apply(this.subscriptions.all()),
      tripped: (sub, at) => this.announcer.tripped(sub, at),
      sharedBreaker: () => this.team,
      stopped,
    });
    this.announcer = new Announcer({
      publish: (subject, data) => this.bus.publish(subject, data),
      held: (id) => backlogCounts(store, [id]).get(id)?.held ?? 0,
      records,
      offline: options.offline === true,
    });

    this.maintenance = new Maintenance({
      store,
      busy: () => this.dispatcher.pending > 0 || this.intake.waiting() > 0,
      inMemory: () => this.dispatcher.deliveryIds(),
      scheduler,
      hub,
      records,
      settings,
      stopped,
    });
    store.onCommitError = (err) => {
      records.error(err.message);
      this.maintenance.retryLostWork();
    };
    store.onRecovered = () => this.maintenance.requeueLostWork();

    this.service = new SubscriptionService({
      store,
      checkDestination: (url) => this.egress.checkDestination(url),
      checkTlsFiles: (files) => (hasReceiverTls(files) ? checkReceiverTls(files) : null),
    });
    this.replays = new Replays({ store, feed, hub, scheduler, subscription, stopped });
    this.team = this.makeTeam();
    this.preview = new Preview({ store, service: this.service, userAgent: USER_AGENT });
    this.audit = new AuditTrail(store, { actor: osUser(), source: options.source ?? SOURCES.console });
    this.handlers = this.makeHandlers(this.audit);
  }

  /** The contract's handlers, each change an operator makes through them recorded by `audit`. */
  private makeHandlers(audit: AuditRecorder): Handlers {
    return createHandlers({
      store: this.store,
      service: this.service,
      subscriptionViews: () => this.subscriptionViews(),
      reload: (reason) => this.reload(reason),
      // What it held is delivered or let go; the end of a trip is announced, with how many.
      reenabled: async (before, held) => this.announcer.reenabled(before, held, await this.replays.releaseHeld(before.id, held)),
      replay: (request, queued) => this.replays.replay(request, queued),
      testFire: (id, fired) => this.testFire(id, fired),
      preview: this.preview,
      health: () => this.outcomes.health.report(this.subscriptions.ids(), Date.now()),
      status: () => this.status(),
      settings: () => settingsView(this.settings, this.installId, this.runOverrides()),
      currentSettings: () => this.settings,
      updateSettings: (patch, written) => this.updateSettings(patch, written),
      team: () => this.team,
      audit,
      membership: {
        store: this.store,
        settings: () => this.effectiveSettings(),
        installId: this.installId,
        connect: () => connectOnce(this.busOptions(), TEAM_CONNECT_TIMEOUT_MS),
      },
    });
  }

  /**
   * The contract's handlers for changes made from `source` (`console (web)`: the web host),
   * by the OS user running this process; `handlers` is for the engine's own source.
   */
  handlersFor(source: string): Handlers {
    let handlers = this.handlersBySource.get(source);
    if (!handlers) {
      handlers = this.makeHandlers(new AuditTrail(this.store, { actor: osUser(), source }));
      this.handlersBySource.set(source, handlers);
    }
    return handlers;
  }

  /**
   * Pause all / Resume all (pause-all.ts, from the tray): `run` makes its changes through
   * the contract, one subscription at a time, and the audit trail gets one record for all
   * of them, also when some could not be made (what was, was) or `run` failed midway.
   */
  async bulk<T>(source: string, action: BulkAction, run: (api: SluiceApi) => Promise<T>, onInternalError?: (err: unknown, call: string) => void): Promise<T> {
    const changes = new BulkChange();
    try {
      return await run(createInProcessClient({ handlers: this.makeHandlers(changes), hub: this.hub }, onInternalError));
    } finally {
      const summary = changes.summary(action);
      if (summary) new AuditTrail(this.store, { actor: osUser(), source }).record(summary);
    }
  }

  /** The team part for the settings in force (none alone). */
  private makeTeam(): TeamSync | null {
    if (!this.settings.teamBucket) return null;
    return new TeamSync({
      store: this.store,
      settings: () => this.effectiveSettings(),
      installId: this.installId,
      hostname: this.options.hostname ?? hostname(),
      version: VERSION,
      records: this.records,
      reload: (reason) => this.reload(reason),
      settingsChanged: () => this.takeUpSettings('team settings'),
      // The team's re-enable: what this member held is delivered or let go (announced where the analyst acted).
      reenabled: async (before, held) => void (await this.replays.releaseHeld(before.id, held)),
      heartbeat: () => ({ bus: this.bus.status().bus.state, inFlight: this.dispatcher.pending }),
      ...(this.options.offline ? { connectOnce: () => connectOnce(this.busOptions(), TEAM_CONNECT_TIMEOUT_MS) } : {}),
    });
  }

  static async start(options: EngineOptions): Promise<Engine> {
    // One engine per database: claimed before the file is touched, so a second engine
    // refuses (ClaimError) before it opens, migrates or moves aside anything.
    const claim =
      options.offline || options.dbPath === ':memory:' ? null : DatabaseClaim.take(options.dbPath, options.command ?? defaultCommand());
    let store: Store | null = null;
    let upgrade: SecretsUpgrade;
    let engine: Engine;
    try {
      // A damaged database is moved aside by an engine that runs (and said, below); a
      // one-shot offline command refuses instead of answering from an empty new file.
      store = await Store.open(options.dbPath, {
        ifCorrupt: options.offline ? 'refuse' : 'move-aside',
        lockWait: options.offline ? 'unbounded' : 'bounded',
        ...(options.onLockWait ? { onLockWait: options.onLockWait } : {}),
      });
      store.cipher = options.cipher ?? PLAINTEXT_CIPHER;
      // The one-time upgrade (and its VACUUM) is the running engine's; one-shot commands
      // only check, so they never rewrite the file under a running engine.
      upgrade = prepareSecrets(store, { upgrade: !options.offline });
      engine = new Engine(store, options);
    } catch (error) {
      try {
        store?.close();
      } finally {
        claim?.release();
      }
      throw error;
    }
    engine.claim = claim;
    engine.tookOverFrom = claim?.tookOverFrom ?? null;
    engine.secretsUpgraded = upgrade.upgraded;
    engine.secretsScrubError = upgrade.scrubError;
    // Said once the caller listens, which it does as soon as start resolves.
    const notice = store.notice;
    if (notice) setImmediate(() => engine.records.error(notice.message));
    if (!options.offline && engine.team) {
      try {
        // A missing or unsafe team key stops a run at once, with its reason.
        void engine.team.key;
      } catch (error) {
        await engine.stop();
        throw error;
      }
    }
    engine.bus.connect();
    engine.reload('start');
    if (!options.offline) {
      engine.outcomes.health.seed(finishedSince(store, healthSeedWindow(Date.now()), LATENCY_BUCKET_STARTS));
      const recovered = engine.scheduler.start();
      if (recovered > 0) engine.records.emit({ kind: 'recovered', deliveries: recovered });
      engine.timers.push(
        setInterval(() => engine.reload('fallback timer'), options.reloadFallbackMs ?? RELOAD_FALLBACK_MS),
        setInterval(() => engine.pollExternalChanges(), EXTERNAL_CHANGE_POLL_MS),
        setInterval(() => engine.maintenance.boundHeld(), HELD_BOUNDS_INTERVAL_MS),
        setInterval(() => engine.outcomes.flushSuccesses(), SUCCESS_WRITE_INTERVAL_MS),
        setInterval(() => void engine.maintenance.applyRetention(), options.retentionIntervalMs ?? RETENTION_INTERVAL_MS),
        setInterval(() => engine.views.refreshPaced(), PACED_REFRESH_MS),
        setInterval(() => void engine.maintenance.indexText(), TEXT_INDEX_INTERVAL_MS),
      );
      if (options.metrics) {
        // Loaded only now: a run without metrics never loads prom-client. A failure stops what started.
        const { serveMetrics } = await import('./metrics').catch(async (error: unknown) => {
          await engine.stop();
          throw error;
        });
        engine.metrics = serveMetrics(options.metrics, engine, (error) => engine.records.error(`metrics: a scrape failed: ${(error as Error).message}`));
      }
    }
    return engine;
  }

  private withOverrides: ((settings: Settings) => Settings) | undefined;

  /** Stored settings with this run's command-line overrides applied. */
  effectiveSettings(): Settings {
    this.withOverrides ??= overridesApplier(this.runOverrides());
    return this.withOverrides(this.settings);
  }


  /** The settings this run's command line overrides, each with the flag that did. */
  runOverrides(): SettingOverrides {
    return runOverrides(this.options);
  }

  onRecord(listener: (record: EngineRecord) => void): () => void {
    return this.records.on(listener);
  }

  /** Resolves once everything recorded so far is committed to disk. */
  durable(): Promise<void> {
    return this.store.durable();
  }

  /**
   * The store itself, for the CLI's team commands on an offline engine: moving this
   * installation's subscriptions into a team takes their secrets, which the contract
   * never hands out.
   */
  offlineStore(): Store {
    if (!this.options.offline) throw new Error('only an offline engine hands out its store');
    return this.store;
  }

  /**
   * An export of the deliveries `request` selects, checked and ready to stream through a
   * read-only connection of its own (delivery-search.ts): the web host's download.
   */
  openExport(request: DeliveryExportRequest): OpenedExport {
    return openExport(this.options.dbPath, request);
  }

  /** `deliveries.export` for the desktop app, `choose` being its save dialog. */
  fileExport(choose: ChooseExportFile): Handlers['deliveries.export'] {
    return fileExport(this.options.dbPath, choose);
  }

  /** Resolves once the bus has confirmed every subscription made so far. */
  busReady(): Promise<void> {
    return this.bus.ready();
  }

  /** The JetStream durable's backlog (null in core-NATS mode, or while it cannot be read). */
  jetstreamBacklog(): Promise<{ stream: string; pending: number; ackPending: number } | null> {
    return this.bus.jetstreamBacklog();
  }

  // ----- bus -------------------------------------------------------------------------

  private busOptions(): BusOptions {
    return busOptionsFrom(this.effectiveSettings(), `sluice-${VERSION}`);
  }

  /** The JetStream durable this installation binds (in JetStream mode). */
  private durableName(): string {
    return durableNameFrom(this.settings, this.installId);
  }

  private intakeKey(): string {
    return intakeKey(this.effectiveSettings(), this.installId, `sluice-${VERSION}`);
  }

  private async reconnectBus(): Promise<void> {
    // Joined, left or moved to another team: the new connection attaches the new one.
    await this.team?.close();
    this.team = this.makeTeam();
    await this.bus.reconnect(() => this.reload('bus settings changed'));
  }

  private submit(job: DeliveryJob): Promise<DeliveryUpdate> {
    return this.dispatcher.submit(job).finally(() => this.scheduler.jobLeft(job.subscriptionId));
  }

  /**
   * Prune finished records by age and count, and the audit trail by its own age, then give
   * the space back (see Maintenance.applyRetention).
   */
  applyRetention(): Promise<{ deleted: number; eventsDeleted: number; auditDeleted: number }> {
    return this.maintenance.applyRetention();
  }

  // ----- reload ----------------------------------------------------------------------

  /** Re-read subscriptions and apply only what changed. */
  reload(reason: string): void {
    this.subscriptions.reload(reason);
  }

  private pollExternalChanges(): void {
    if (this.stopped || !this.store.changedElsewhere()) return;
    this.takeUpSettings('database changed');
  }

  /** Settings written by another hand (another process, the team): take them up. */
  private takeUpSettings(reason: string): void {
    const before = this.intakeKey();
    this.settings = readSettings(this.store);
    this.dispatcher.resize();
    if (this.intakeKey() !== before) void this.reconnectBus();
    else this.reload(reason);
  }

  // ----- views and status ------------------------------------------------------------

  /** Every subscription as the console sees it (engine/subscription-views.ts). */
  subscriptionViews(): SubscriptionView[] {
    return this.views.all();
  }

  counts(): SubscriptionCounts {
    return this.subscriptions.counts();
  }

  status(): EngineStatus {
    return {
      version: VERSION,
      ...this.bus.status(),
      counts: this.counts(),
      intake: this.intake.status(),
      inFlight: this.dispatcher.pending,
      secretStorage: this.store.cipher.kind,
    };
  }

  /** Change the settings: a change of bus or intake mode reconnects, the rest applies at the next use. */
  private async updateSettings(patch: Partial<Settings>, written?: (before: Settings, after: Settings) => void): Promise<SettingsView> {
    validateSettingsPatch(patch, this.settings);
    const before = this.intakeKey();
    this.settings = this.store.transaction(() => {
      // As stored (under the write lock), not as last read: another process may have changed them since.
      const stored = written ? readSettings(this.store) : null;
      writeSettings(this.store, patch);
      const after = readSettings(this.store);
      if (written && stored) written(stored, after);
      return after;
    });
    this.dispatcher.resize();
    if (this.intakeKey() !== before) await this.reconnectBus();
    this.hub.statusChanged(true);
    return settingsView(this.settings, this.installId, this.runOverrides());
  }

  /** A synthetic event, one attempt, breaker untouched (docs/design.md#test-fire); `fired`: see testFire. */
  private async testFire(id: string, fired?: (made: { deliveryId: number; eventId: string }) => void): Promise<TestFireResult> {
    const actor = this.options.actor ?? defaultActor();
    return testFire({ store: this.store, feed: this.feed, submit: (job) => this.submit(job) }, this.service.get(id), actor, fired);
  }

  /** Stop cleanly: no new intake, in-flight deliveries finish or are recorded. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    // First, while the store is open: a scrape from now on is refused, not half-read.
    await this.metrics?.close();
    // Its heartbeat removed while the bus is still there: the team sees a clean leave.
    await this.team?.close();
    for (const t of this.timers) clearInterval(t);
    this.maintenance.stop();
    this.scheduler.stop();
    await this.bus.close();
    // Messages already read from the bus are recorded (their deliveries go to the
    // outbox for the next start), never dropped.
    this.intake.drain();
    await this.store.durable().catch(() => {});
    await this.dispatcher.stop();
    this.outcomes.flushSuccesses();
    await this.egress.close();
    this.hub.flush();
    this.hub.close();
    try {
      this.store.close();
    } finally {
      this.claim?.release();
    }
  }
}

/** The claim's command when the caller names none: the script that runs, e.g. `node cli.js`. */
function defaultCommand(): string {
  const script = process.argv[1];
  return script ? `node ${basename(script)}` : process.title;
}
