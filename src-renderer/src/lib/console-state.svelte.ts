/**
 * The console's state: what the engine told us, kept current from its batched events.
 * Components read it and call its actions; every call goes through the bridge.
 */
import type {
  BridgeError,
  DeliveryQuery,
  PreviewRequest,
  RecentEventsQuery,
  ReplayRequest,
  Result,
  SettingsPatch,
  SluiceApi,
  SubscriptionInput,
  SubscriptionPatch,
  TeamCreateRequest,
  TeamJoinRequest,
} from '@contract/bridge';
import type {
  DeliveryView,
  EngineStatus,
  HeldAction,
  Outcome,
  PreviewResult,
  RecentEvent,
  ReplayResult,
  SettingsView,
  SubscriptionView,
  TeamMembershipView,
  TestFireResult,
} from '@contract/views';
import { countSubscriptions } from '@contract/counts';
import { matchesPattern } from '@match/pattern';
import { DeliverySearchState } from './delivery-search-state.svelte';
import { mergeNewestFirst } from './log-merge';

/** The log keeps this many rows in memory; older ones are a query away. */
export const LOG_CAPACITY = 5000;

export interface LogFilters {
  subscriptionId: string;
  outcome: Outcome | '';
  topic: string;
}

export type TestFireState = { running: true } | ({ running: false; at: number } & TestFireResult);

/** A change of this Sluice's team membership, as the Settings screen asks for it. */
export type TeamMembershipChange =
  | { action: 'create'; request: TeamCreateRequest }
  | { action: 'join'; request: TeamJoinRequest }
  | { action: 'leave' };

export class ConsoleState {
  subscriptions = $state.raw<SubscriptionView[]>([]);
  status = $state.raw<EngineStatus | null>(null);
  deliveries = $state.raw<DeliveryView[]>([]);
  loading = $state(true);
  loadError = $state<string | null>(null);
  filters = $state<LogFilters>({ subscriptionId: '', outcome: '', topic: '' });
  paused = $state(false);
  /** Deliveries that arrived while the log was paused. */
  missed = $state(0);
  /** Their ids: a delivery heard of twice (pending, then delivered) is still one. */
  private readonly missedIds = new Set<number>();
  testFires = $state<Record<string, TestFireState>>({});
  /** Shown once after a create; cleared when the analyst closes the dialog. */
  revealedSecret = $state<{ name: string; secret: string } | null>(null);
  /**
   * The analyst agreed to store secrets unprotected (no OS key store, no key file); asked
   * again in the next console session.
   */
  unprotectedConfirmed = $state(false);

  private readonly offs: (() => void)[] = [];

  /** The log's search and export: while a search is active, its results stand in for the live log. */
  readonly search: DeliverySearchState;

  constructor(private readonly api: SluiceApi) {
    this.search = new DeliverySearchState(api);
  }

  /** Recounted from the subscriptions, which change at once, not from the slower status. */
  readonly counts = $derived(countSubscriptions(this.subscriptions));

  /**
   * Held events are summarised, one live line per subscription, rather than listed a row
   * each: a tripped or paused subscription would otherwise push every other delivery off
   * the log. Filtering on the `held` outcome lists them one by one.
   */
  readonly summarisingHeld = $derived(this.filters.outcome === '');

  /** The subscriptions whose held events the log summarises (its subscription filter applies). */
  readonly heldSummaries = $derived(
    this.summarisingHeld
      ? this.subscriptions.filter((s) => s.heldCount > 0 && (!this.filters.subscriptionId || s.id === this.filters.subscriptionId))
      : [],
  );

  /** First load, and again whenever the connection to the engine comes back. */
  async load(): Promise<void> {
    this.loading = this.subscriptions.length === 0 && this.deliveries.length === 0;
    const [subs, status] = await Promise.all([this.api['subscriptions.list'](), this.api['status.get']()]);
    if (!subs.ok || !status.ok) {
      this.loadError = (!subs.ok ? subs.error : !status.ok ? status.error : null)?.message ?? 'engine unavailable';
      this.loading = false;
      return;
    }
    this.subscriptions = subs.value;
    this.status = status.value;
    await this.reloadLog();
    this.loadError = null;
    this.loading = false;
  }

  listen(): void {
    this.offs.push(
      this.api.on('subscriptions.changed', (views) => (this.subscriptions = views)),
      this.api.on('status.changed', (status) => (this.status = status)),
      this.api.on('deliveries.appended', (batch) => {
        this.append(batch);
        this.search.deliveriesChanged();
      }),
    );
  }

  close(): void {
    for (const off of this.offs.splice(0)) off();
    this.search.clear();
  }

  // ----- the live log ------------------------------------------------------------------

  private query(): DeliveryQuery {
    const q: DeliveryQuery = { limit: 500 };
    if (this.filters.subscriptionId) q.subscriptionId = this.filters.subscriptionId;
    if (this.filters.outcome) q.outcome = this.filters.outcome;
    if (this.summarisingHeld) q.excludeHeld = true;
    const topic = this.filters.topic.trim();
    if (topic) q.topic = topic;
    return q;
  }

  async reloadLog(): Promise<void> {
    const r = await this.api['deliveries.list'](this.query());
    if (r.ok) {
      this.deliveries = r.value;
      this.missedIds.clear();
      this.missed = 0;
    }
  }

  /** Older rows, for scrolling back past what the log holds. */
  async loadOlder(): Promise<void> {
    const oldest = this.deliveries[this.deliveries.length - 1];
    if (!oldest) return;
    const r = await this.api['deliveries.list']({ ...this.query(), before: oldest.id });
    if (r.ok && r.value.length > 0) this.deliveries = [...this.deliveries, ...r.value];
  }

  matchesFilters(d: DeliveryView): boolean {
    const { subscriptionId, outcome, topic } = this.filters;
    if (subscriptionId && d.subscriptionId !== subscriptionId) return false;
    if (outcome && d.outcome !== outcome) return false;
    if (!outcome && d.outcome === 'held') return false;
    const t = topic.trim();
    if (t && !(t === d.topic || (/(^|\.)[*>](\.|$)/.test(t) && matchesPattern(t, d.topic)))) return false;
    return true;
  }

  private append(batch: DeliveryView[]): void {
    const relevant = batch.filter((d) => this.matchesFilters(d));
    // Rows shown that became held (their subscription was paused or tripped) leave for the summary line.
    const nowHeld = this.summarisingHeld && !this.paused ? new Set(batch.filter((d) => d.outcome === 'held').map((d) => d.id)) : null;
    const current = nowHeld && nowHeld.size > 0 ? this.deliveries.filter((d) => !nowHeld.has(d.id)) : this.deliveries;
    if (relevant.length === 0 && current.length === this.deliveries.length) return;
    if (this.paused) {
      const known = new Set(this.deliveries.map((d) => d.id));
      for (const d of relevant) if (!known.has(d.id)) this.missedIds.add(d.id);
      this.missed = this.missedIds.size;
      return;
    }
    // Rows update in place (pending → retrying → delivered); the others go where their id puts them.
    this.deliveries = mergeNewestFirst(current, relevant, LOG_CAPACITY);
  }

  /** The held events of one subscription, a row each: one filter away from the summary line. */
  showHeldRows(subscriptionId: string): void {
    this.filters.subscriptionId = subscriptionId;
    this.filters.outcome = 'held';
    void this.reloadLog();
  }

  setPaused(paused: boolean): void {
    this.paused = paused;
    // Rows shown may have changed state meanwhile too (retrying → delivered): reload either way.
    if (!paused) void this.reloadLog();
  }

  // ----- actions -----------------------------------------------------------------------

  async create(input: SubscriptionInput): Promise<BridgeError | null> {
    const r = await this.api['subscriptions.create']($state.snapshot(input) as SubscriptionInput);
    if (!r.ok) return r.error;
    this.upsert(r.value.subscription);
    this.revealedSecret = { name: r.value.subscription.name, secret: r.value.secret };
    return null;
  }

  async update(id: string, patch: SubscriptionPatch): Promise<BridgeError | null> {
    const r = await this.api['subscriptions.update'](id, $state.snapshot(patch) as SubscriptionPatch);
    if (!r.ok) return r.error;
    this.upsert(r.value);
    return null;
  }

  /** Pause, or re-enable: what it held is delivered unless the analyst chose to discard it. */
  async setEnabled(id: string, enabled: boolean, held?: HeldAction): Promise<BridgeError | null> {
    const r = held ? await this.api['subscriptions.setEnabled'](id, enabled, held) : await this.api['subscriptions.setEnabled'](id, enabled);
    return this.applyView(r);
  }

  /** Queue deliveries again, or with `dryRun` only count what would be queued. */
  async replay(request: ReplayRequest): Promise<Result<ReplayResult>> {
    const r = await this.api['deliveries.replay']($state.snapshot(request) as ReplayRequest);
    // The originals are now `replayed`: show that at once (a paused log stays as it is).
    if (r.ok && r.value.queued && r.value.count > 0 && !this.paused) void this.reloadLog();
    return r;
  }

  /** The global settings (the default retry schedule the form names). */
  async settings(): Promise<Result<SettingsView>> {
    return this.api['settings.get']();
  }

  /** Change global settings; the bus state is refetched so a reconnect shows at once. */
  async updateSettings(patch: SettingsPatch): Promise<Result<SettingsView>> {
    const r = await this.api['settings.update']($state.snapshot(patch) as SettingsPatch);
    if (r.ok) {
      const status = await this.api['status.get']();
      if (status.ok) this.status = status.value;
    }
    return r;
  }

  /**
   * Create or join a team, or leave it (the Settings screen's Team fieldset): the engine
   * sets the membership settings and reconnects; the bus state is refetched, as after a save.
   */
  async teamMembership(change: TeamMembershipChange): Promise<Result<TeamMembershipView>> {
    const r =
      change.action === 'create'
        ? await this.api['team.create']($state.snapshot(change.request) as TeamCreateRequest)
        : change.action === 'join'
          ? await this.api['team.join']($state.snapshot(change.request) as TeamJoinRequest)
          : await this.api['team.leave']();
    if (r.ok) {
      const status = await this.api['status.get']();
      if (status.ok) this.status = status.value;
    }
    return r;
  }

  /** What a subscription as typed in the form would send for an event (nothing is sent or stored). */
  async preview(request: PreviewRequest): Promise<Result<PreviewResult>> {
    return this.api['subscriptions.preview']($state.snapshot(request) as PreviewRequest);
  }

  /** The newest stored events these patterns match, for the preview's picker. */
  async recentEvents(query: RecentEventsQuery): Promise<Result<RecentEvent[]>> {
    return this.api['events.recent']($state.snapshot(query) as RecentEventsQuery);
  }

  async remove(id: string): Promise<BridgeError | null> {
    const r = await this.api['subscriptions.remove'](id);
    if (!r.ok) return r.error;
    this.subscriptions = this.subscriptions.filter((s) => s.id !== id);
    return null;
  }

  async testFire(id: string): Promise<void> {
    this.testFires = { ...this.testFires, [id]: { running: true } };
    const r = await this.api['subscriptions.testFire'](id);
    const result: TestFireState = r.ok
      ? { running: false, at: Date.now(), ...r.value }
      : { running: false, at: Date.now(), delivered: false, statusCode: null, error: r.error.message, latencyMs: null };
    this.testFires = { ...this.testFires, [id]: result };
  }

  async detail(id: number) {
    return this.api['deliveries.get'](id);
  }

  private applyView(r: Result<SubscriptionView>): BridgeError | null {
    if (!r.ok) return r.error;
    this.upsert(r.value);
    return null;
  }

  private upsert(view: SubscriptionView): void {
    const i = this.subscriptions.findIndex((s) => s.id === view.id);
    const next = [...this.subscriptions];
    if (i >= 0) next[i] = view;
    else next.push(view);
    this.subscriptions = next.sort((a, b) => a.name.localeCompare(b.name));
  }
}
