/**
 * Team mode in an engine (docs/design.md#teams): the team's bucket mirrored into this
 * member's database, this member's edits pushed into the bucket, the shared breaker, and
 * the member's heartbeat. The engine itself reads only its own database, so everything it
 * does (routing, delivery, the console) works as it does alone; this part keeps the local
 * copy in step with the team.
 *
 * - **Mirror.** A running engine watches the bucket on each bus connection: every
 *   subscription, team setting and breaker record is written into the local database as
 *   it arrives (team/local-config.ts maps them), and the engine reloads.
 * - **Edits.** An edit (console, web host, CLI) is made locally first, with every rule of
 *   the subscription service, then written to the bucket; when the bucket cannot take it
 *   the local copy is put back as the team has it and the edit fails, so a member never
 *   drifts from its team unseen. The CLI's offline engine does the same over a
 *   connection of its own.
 * - **Breaker.** Failures are counted in the shared record (compare-and-set); the member
 *   whose count trips it announces the trip, and every member, seeing the tripped record,
 *   holds its own events. A re-enable clears the record with the analyst's decision for
 *   held events, which every member applies to what it holds.
 */
import { headers, type NatsConnection } from '@nats-io/nats-core';
import type { OneShotConnection } from '../bus/connect-once';
import { BridgeFailure } from '../contract/bridge';
import { defaultSettings, type Settings } from '../contract/settings-descriptor';
import { OUTCOMES, type HeldAction, type TeamDeliveryView, type TeamStatusView } from '../contract/views';
import type { Store } from '../store/database';
import { writeSettings } from '../store/settings';
import { getSubscription, updateSubscription, type Subscription } from '../store/subscriptions';
import { localBreakerFields, mirrorSubscription, teamSubscriptionOf, unmirrorSubscription } from '../team/local-config';
import { TeamConfig, type TeamChange } from '../team/team-config';
import { readTeamKeyFile, type TeamKey } from '../team/team-key';
import { TeamMembers, type HeartbeatLoop, type MemberHeartbeat } from '../team/team-members';
import { pendingCount } from '../team/shared-consumer';
import { CLEAR_BREAKER, SIGNATURE_HEADER, isTeamSettingKey, type BreakerRecord, type TeamSubscription } from '../team/team-records';
import type { EngineRecords } from './records';

export interface TeamSyncDeps {
  store: Store;
  /** The effective settings (the team's bucket and key file among them). */
  settings: () => Settings;
  installId: string;
  /** This machine's name as the team sees it (its heartbeat, its deliveries in the team's log). */
  hostname: string;
  version: string;
  records: EngineRecords;
  /** Local subscriptions or settings changed from the team: take them up. */
  reload: (reason: string) => void;
  settingsChanged: () => void;
  /** The team re-enabled a subscription that was tripped here: deliver or discard what this member holds. */
  reenabled: (before: Subscription, held: HeldAction) => Promise<void>;
  /** What this member says of itself in its heartbeat (its deliveries are counted here). */
  heartbeat: () => { bus: MemberHeartbeat['bus']; inFlight: number };
  /** A connection for a one-shot command (the CLI's offline engine). */
  connectOnce?: () => Promise<OneShotConnection>;
}

/** One bus connection's share of the work: its config handle, its watch and its heartbeat. */
interface Session {
  nc: NatsConnection;
  config: TeamConfig;
  /** The members' heartbeats (a running engine's session only). */
  members: TeamMembers | null;
  stop: () => Promise<void>;
}

/** How many of the team's last deliveries each member keeps for its console. */
const TEAM_LOG_SIZE = 200;
/** Ended deliveries are told to the team in batches this often (one message per batch). */
const TELL_INTERVAL_MS = 250;
/** A console asking often reads the members and the backlog from the bus at most this often. */
const STATUS_CACHE_MS = 1_000;
/** The team's live log: each member publishes its ended deliveries here. */
export const teamDeliveriesSubject = (bucket: string): string => `sluice.team.${bucket}.deliveries`;

export class TeamSync {
  private teamKey: TeamKey | null = null;
  private session: Session | null = null;
  private opening: Promise<Session> | null = null;
  /** The team's records as last seen (the watch keeps them current while attached). */
  private readonly subscriptions = new Map<string, TeamSubscription>();
  private readonly breakers = new Map<string, BreakerRecord>();
  private readonly startedAt = new Date().toISOString();
  private readonly delivered = { delivered: 0, failed: 0 };
  /** Ended here, not yet told to the team. */
  private untold: TeamDeliveryView[] = [];
  private tellTimer: NodeJS.Timeout | null = null;
  /** The team's last deliveries, newest last (every member's, this one's included). */
  private teamLog: TeamDeliveryView[] = [];
  private statusCache: { at: number; value: Promise<TeamStatusView> } | null = null;
  private lastProblem: string | null = null;
  private readonly unlisten: () => void;
  private closed = false;
  private markMirrored!: () => void;
  /**
   * Resolves once the team's configuration has been mirrored here (the first watch is
   * ready): a member consumes the team's stream only from then on, or it would acknowledge
   * events no subscription matched yet. Later reconnects go on with the copy it has.
   */
  readonly mirrored = new Promise<void>((resolve) => (this.markMirrored = resolve));

  constructor(private readonly deps: TeamSyncDeps) {
    this.unlisten = deps.records.on((record) => {
      if (record.kind !== 'delivery' || !record.final) return;
      const d = record.delivery;
      if (d.outcome === 'delivered') this.delivered.delivered++;
      else if (FAILED.has(d.outcome)) this.delivered.failed++;
      if (!this.session?.members || d.outcome === 'rejected') return;
      this.untold.push({
        member: deps.hostname,
        instanceId: deps.installId,
        deliveryId: d.id,
        subscriptionName: d.subscriptionName,
        eventId: d.eventId,
        topic: d.topic,
        outcome: d.outcome,
        statusCode: d.statusCode,
        latencyMs: d.latencyMs,
        at: d.updatedAt,
      });
      // A flood is told in slices; a member's memory holds at most one log's worth meanwhile.
      if (this.untold.length > TEAM_LOG_SIZE) this.untold.splice(0, this.untold.length - TEAM_LOG_SIZE);
      this.tellTimer ??= setTimeout(() => this.tell(), TELL_INTERVAL_MS);
    });
  }

  /** The team key, read from its file at first use (TeamKeyError names the file and what is wrong). */
  get key(): TeamKey {
    this.teamKey ??= readTeamKeyFile(this.deps.settings().teamKeyFile);
    return this.teamKey;
  }

  get bucket(): string {
    return this.deps.settings().teamBucket;
  }

  /** A running engine's new bus connection: open the team, mirror it, watch it and beat, until the connection ends. */
  attach(nc: NatsConnection): void {
    if (this.closed) return;
    void this.open(nc, true).catch((error: unknown) => {
      this.lastProblem = message(error);
      this.deps.records.error(`team ${this.bucket}: ${this.lastProblem}; retried at the next connection`);
    });
  }

  /** The team as the console shows it: members, the shared backlog, the live log (read from the bus at most once a second). */
  status(): Promise<TeamStatusView> {
    const now = Date.now();
    if (this.statusCache && now - this.statusCache.at < STATUS_CACHE_MS) return this.statusCache.value;
    const value = this.readStatus();
    this.statusCache = { at: now, value };
    return value;
  }

  private async readStatus(): Promise<TeamStatusView> {
    const settings = this.deps.settings();
    const session = this.session;
    const base: TeamStatusView = {
      bucket: this.bucket,
      stream: settings.jetstreamStream,
      connected: session !== null,
      members: [],
      pending: null,
      recent: [...this.teamLog].reverse(),
      problem: session ? null : (this.lastProblem ?? 'not connected to the bus'),
    };
    if (!session?.members) return base;
    try {
      const members = (await session.members.list()).map((m) => ({
        instanceId: m.instanceId,
        name: m.name,
        host: m.host,
        version: m.version,
        startedAt: m.startedAt,
        lastSeen: m.lastSeen,
        stale: m.stale,
        bus: m.bus,
        deliveries: m.deliveries,
        self: m.instanceId === this.deps.installId,
      }));
      const backlog = await pendingCount(session.nc, this.bucket, settings.jetstreamStream).catch(() => null);
      return { ...base, members, pending: backlog?.total ?? null };
    } catch (error) {
      return { ...base, problem: message(error) };
    }
  }

  /** Tell the team what ended here since the last time (signed: a member shows only what members said). */
  private tell(): void {
    this.tellTimer = null;
    const session = this.session;
    if (!session || this.untold.length === 0) return;
    const data = new TextEncoder().encode(JSON.stringify(this.untold));
    this.untold = [];
    const h = headers();
    h.set(SIGNATURE_HEADER, this.key.sign(data, teamDeliveriesSubject(this.bucket)));
    try {
      session.nc.publish(teamDeliveriesSubject(this.bucket), data, { headers: h });
    } catch {
      // The connection is going: these go untold (the log is a picture, not a record).
    }
  }

  /** A member's batch on the team's log; unsigned or malformed ones are dropped. */
  private heard(data: Uint8Array, signature: string | undefined): void {
    try {
      this.key.verify(signature, data, teamDeliveriesSubject(this.bucket));
      const batch = JSON.parse(new TextDecoder().decode(data)) as unknown;
      if (!Array.isArray(batch)) return;
      for (const item of batch) if (isTeamDelivery(item)) this.teamLog.push(item);
      if (this.teamLog.length > TEAM_LOG_SIZE) this.teamLog = this.teamLog.slice(-TEAM_LOG_SIZE);
    } catch {
      // Not from a member: not shown.
    }
  }

  /** The breaker record of a subscription as last seen. */
  breaker(id: string): BreakerRecord {
    return this.breakers.get(id) ?? CLEAR_BREAKER;
  }

  // ----- edits ------------------------------------------------------------------------

  /**
   * A subscription was created, changed or deleted here: write it into the team's bucket.
   * If the bucket cannot take it, the local copy is put back as the team has it and a
   * BridgeFailure says why (nothing changed for anyone).
   */
  async subscriptionEdited(id: string): Promise<void> {
    const local = getSubscription(this.deps.store, id);
    try {
      const { config } = await this.connected();
      if (local) {
        const shared = teamSubscriptionOf(local);
        await config.putSubscription(shared);
        this.subscriptions.set(id, shared);
      } else {
        await config.deleteSubscription(id);
        this.subscriptions.delete(id);
        this.breakers.delete(id);
      }
    } catch (error) {
      const team = this.subscriptions.get(id);
      if (team) mirrorSubscription(this.deps.store, team, this.breaker(id));
      else unmirrorSubscription(this.deps.store, id);
      this.deps.reload('team edit undone');
      throw unreachable(this.bucket, error);
    }
  }

  /** Re-enabled here: the shared breaker is cleared with the analyst's decision, which every member applies. */
  async reenabledHere(id: string, held: HeldAction): Promise<void> {
    const { config } = await this.connected().catch((error: unknown) => {
      throw unreachable(this.bucket, error);
    });
    await config.reenable(id, held);
  }

  /**
   * Settings about to change here (checked already): the team's among them are written to
   * the bucket first (a default given back removes it), so a change the team cannot take
   * is not made here either.
   */
  async settingsEditing(patch: Partial<Settings>): Promise<void> {
    const keys = Object.keys(patch).filter(isTeamSettingKey);
    if (keys.length === 0) return;
    const defaults = defaultSettings();
    try {
      const { config } = await this.connected();
      for (const key of keys) {
        const value = patch[key] as Settings[typeof key];
        if (JSON.stringify(value) === JSON.stringify(defaults[key])) await config.deleteSetting(key);
        else await config.putSetting(key, value);
      }
    } catch (error) {
      throw unreachable(this.bucket, error);
    }
  }

  // ----- the shared breaker -------------------------------------------------------------

  /** A delivery ended failed here: counted in the shared breaker; the call that trips it announces (`onTrippedNow`). */
  failed(sub: Subscription, error: string, threshold: number, onTrippedNow: () => void): void {
    const session = this.session;
    if (!session) return;
    session.config.recordFailure(sub.id, error, threshold).then(
      (result) => {
        if (result.trippedNow) onTrippedNow();
      },
      (err: unknown) => this.deps.records.error(`team ${this.bucket}: a failure of ${sub.name} could not be counted: ${message(err)}`),
    );
  }

  /** A delivery ended delivered: the shared streak ends (written only when there is one). */
  succeeded(sub: Subscription): void {
    const session = this.session;
    const current = this.breakers.get(sub.id);
    if (!session || !current || (current.consecutiveFailures === 0 && current.lastError === null)) return;
    // Seen as ended at once: the next successes do not write again while this one is on its way.
    this.breakers.set(sub.id, { ...current, consecutiveFailures: 0, lastError: null });
    session.config.recordSuccess(sub.id).catch((err: unknown) => this.deps.records.error(`team ${this.bucket}: ${message(err)}`));
  }

  async close(): Promise<void> {
    this.closed = true;
    this.unlisten();
    if (this.tellTimer) clearTimeout(this.tellTimer);
    this.tell();
    const session = this.session ?? (await this.opening?.catch(() => null));
    this.session = null;
    await session?.stop();
  }

  // ----- the mirror -----------------------------------------------------------------------

  /** The session of the running engine, or (offline) one of a connection of our own. */
  private async connected(): Promise<Session> {
    if (this.session) return this.session;
    if (this.opening) return this.opening;
    const connect = this.deps.connectOnce;
    if (!connect) throw new Error('not connected to the bus');
    const connection = await connect();
    if ('problem' in connection) throw new Error(connection.problem);
    return this.open(connection.nc, false, connection.close);
  }

  /** `watch`: a running engine's (mirror and heartbeat); else a one-shot's, `release` closing its connection. */
  private open(nc: NatsConnection, watch: boolean, release?: () => Promise<void>): Promise<Session> {
    const opening = (async (): Promise<Session> => {
      const config = await TeamConfig.open(nc, this.bucket, this.key);
      let stopWatch: () => Promise<void> = async () => undefined;
      let stopBeat: HeartbeatLoop | null = null;
      let members: TeamMembers | null = null;
      if (watch) {
        const w = config.watch(
          (change) => this.apply(change),
          (problem) => this.deps.records.error(`team ${this.bucket}: ${problem.key}: ${problem.message}`),
        );
        await w.ready;
        this.markMirrored();
        const log = nc.subscribe(teamDeliveriesSubject(this.bucket), { callback: (_err, msg) => this.heard(msg.data, msg.headers?.get(SIGNATURE_HEADER)) });
        stopWatch = async () => {
          log.unsubscribe();
          await w.stop();
        };
        members = await TeamMembers.open(nc, this.bucket, this.key);
        stopBeat = members.startHeartbeat(() => this.heartbeat(), { onError: (err) => this.deps.records.error(`team ${this.bucket}: heartbeat: ${message(err)}`) });
      } else {
        const snapshot = await config.read();
        for (const sub of snapshot.subscriptions) this.subscriptions.set(sub.id, sub);
        for (const [id, breaker] of Object.entries(snapshot.breakers)) this.breakers.set(id, breaker);
      }
      const session: Session = {
        nc,
        config,
        members,
        stop: async () => {
          await stopBeat?.stop(true).catch(() => undefined);
          await stopWatch().catch(() => undefined);
          await release?.();
        },
      };
      this.session = session;
      this.lastProblem = null;
      // The connection's end ends the session (its heartbeat with it); the next connection opens another.
      void nc.closed().then(() => {
        if (this.session === session) this.session = null;
        void stopBeat?.stop(false).catch(() => undefined);
      });
      return session;
    })();
    this.opening = opening;
    void opening.finally(() => {
      if (this.opening === opening) this.opening = null;
    }).catch(() => undefined);
    return opening;
  }

  private heartbeat(): MemberHeartbeat {
    const now = this.deps.heartbeat();
    return {
      instanceId: this.deps.installId,
      name: this.deps.hostname,
      host: this.deps.hostname,
      version: this.deps.version,
      startedAt: this.startedAt,
      bus: now.bus,
      deliveries: { ...this.delivered, inFlight: now.inFlight },
    };
  }

  /** One record from the watch, into the local database. */
  private apply({ record }: TeamChange): void {
    const { store } = this.deps;
    switch (record.kind) {
      case 'team':
        return;
      case 'subscription': {
        if (record.subscription === null) {
          this.subscriptions.delete(record.id);
          if (unmirrorSubscription(store, record.id)) this.deps.reload('team');
          return;
        }
        this.subscriptions.set(record.id, record.subscription);
        if (mirrorSubscription(store, record.subscription, this.breaker(record.id)) !== 'same') this.deps.reload('team');
        return;
      }
      case 'setting': {
        const value = record.value ?? defaultSettings()[record.key];
        if (JSON.stringify(this.deps.settings()[record.key]) === JSON.stringify(value)) return;
        writeSettings(store, { [record.key]: value } as Partial<Settings>);
        this.deps.settingsChanged();
        return;
      }
      case 'breaker':
        this.breakerChanged(record.id, record.breaker ?? { ...CLEAR_BREAKER });
        return;
    }
  }

  /**
   * The shared breaker of a subscription changed: tripped → hold here too; cleared after a
   * trip or pause here → re-enabled, with the analyst's decision for what this member held.
   * The local copy is the guard: each transition is applied once, whatever the revisions.
   */
  private breakerChanged(id: string, breaker: BreakerRecord): void {
    this.breakers.set(id, breaker);
    const { store } = this.deps;
    const local = getSubscription(store, id);
    const team = this.subscriptions.get(id);
    if (!local || !team) return;
    const fields = localBreakerFields(team.enabled, breaker);
    const trippedHere = local.autoDisabledAt !== null;
    updateSubscription(store, id, fields);
    // Reloaded, a subscription that stopped is stopped here (held from now on, as for a trip of its own).
    this.deps.reload('team breaker');
    if (!breaker.tripped && trippedHere && fields.enabled)
      void this.deps.reenabled(local, breaker.heldDecision ?? 'deliver').catch((err: unknown) => this.deps.records.error(`team ${this.bucket}: re-enable of ${local.name}: ${message(err)}`));
  }
}

/** A team log entry as a member sends it (anything else is dropped). */
function isTeamDelivery(x: unknown): x is TeamDeliveryView {
  if (typeof x !== 'object' || x === null) return false;
  const d = x as Record<string, unknown>;
  return (
    typeof d['member'] === 'string' &&
    typeof d['instanceId'] === 'string' &&
    typeof d['deliveryId'] === 'number' &&
    typeof d['topic'] === 'string' &&
    typeof d['outcome'] === 'string' &&
    typeof d['at'] === 'string' &&
    (OUTCOMES as readonly string[]).includes(d['outcome'] as string)
  );
}

/** Outcomes a member counts as failed in its heartbeat. */
const FAILED = new Set<string>(['dead', 'blocked', 'failed']);

/** The bucket could not take an edit: what the analyst is told. */
function unreachable(bucket: string, error: unknown): BridgeFailure {
  if (error instanceof BridgeFailure) return error;
  return new BridgeFailure('unavailable', `the team's configuration (bucket ${bucket}) could not take the change, so it was not made: ${message(error)}`);
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

