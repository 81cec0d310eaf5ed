/**
 * The bridge contract's handlers (docs/design.md#one-typed-map): what the console, the
 * web host and the CLI call, mapped onto the engine's parts. Each handler is thin: the
 * rules live in the part it calls (the subscription service, replays, the store).
 */
import { BridgeFailure, type Handlers, type ReplayRequest } from '../contract/bridge';
import type {
  EngineStatus,
  HealthReport,
  HeldAction,
  ReplayResult,
  Settings,
  SettingsView,
  SubscriptionView,
  TestFireResult,
} from '../contract/views';
import type { Store } from '../store/database';
import { getDeliveryDetail, listDeliveries } from '../store/deliveries';
import type { Subscription } from '../store/subscriptions';
import type { Preview } from './preview';
import { validateSettingsPatch } from './settings';
import type { SubscriptionService } from './subscription-service';
import type { TeamSync } from './team-sync';

interface HandlerDeps {
  store: Store;
  service: SubscriptionService;
  /** Every subscription as the console sees it. */
  subscriptionViews: () => SubscriptionView[];
  /** Make an edit take effect at once (re-read the subscriptions). */
  reload: (reason: string) => void;
  /**
   * A paused or tripped subscription (`before`, as it was) was re-enabled: deliver or
   * discard what it held, and announce the end of a trip.
   */
  reenabled: (before: Subscription, held: HeldAction) => Promise<void>;
  replay: (request: ReplayRequest) => ReplayResult;
  testFire: (id: string) => Promise<TestFireResult>;
  /** What a subscription would send (the form's live preview), and the events to try it on. */
  preview: Preview;
  health: () => HealthReport;
  status: () => EngineStatus;
  settings: () => SettingsView;
  /** The stored settings (an edit is checked against them). */
  currentSettings: () => Settings;
  updateSettings: (patch: Partial<Settings>) => Promise<SettingsView>;
  /** In a team: where its edits go too (team-sync.ts); null alone. */
  team: () => TeamEdits | null;
}

/** What an edit tells the team (each rejects, a BridgeFailure, when the team's bucket cannot take it), and what the team looks like. */
type TeamEdits = Pick<TeamSync, 'subscriptionEdited' | 'reenabledHere' | 'settingsEditing' | 'status'>;

export function createHandlers(deps: HandlerDeps): Handlers {
  const { service } = deps;

  /** Run a local edit and make it take effect at once. */
  const edited = <T>(value: T): T => {
    deps.reload('local edit');
    return value;
  };

  const viewOf = (id: string): SubscriptionView => {
    const view = deps.subscriptionViews().find((v) => v.id === id);
    if (!view) throw new BridgeFailure('not_found', `no subscription with id ${id}`);
    return view;
  };

  /**
   * Pause, or re-enable. Re-enabling a tripped or paused subscription also decides what
   * happens to the events held meanwhile: delivered (the default: nothing is lost) or
   * discarded (the analyst's deliberate choice).
   */
  const setEnabled = async (id: string, enabled: boolean, held: HeldAction = 'deliver'): Promise<SubscriptionView> => {
    const before = service.get(id);
    // The team's breaker first: every member then applies the analyst's decision to what it holds.
    if (enabled && !before.enabled) await deps.team()?.reenabledHere(id, held);
    service.setEnabled(id, enabled);
    await deps.team()?.subscriptionEdited(id);
    deps.reload('local edit');
    if (enabled && !before.enabled) await deps.reenabled(before, held);
    return viewOf(id);
  };

  /** A local edit of a subscription, made in the team too (undone here when the team cannot take it). */
  const shared = async (id: string): Promise<void> => {
    await deps.team()?.subscriptionEdited(id);
  };

  return {
    'subscriptions.list': () => deps.subscriptionViews(),
    'subscriptions.create': async (input) => {
      const created = await service.create(input);
      await shared(created.subscription.id);
      return edited(created);
    },
    'subscriptions.update': async (id, patch) => {
      const before = service.get(id);
      if (patch.enabled === true && !before.enabled) await deps.team()?.reenabledHere(id, 'deliver');
      const { subscription } = await service.update(id, patch);
      await shared(id);
      edited(null);
      // Enabled from the edit form: a re-enable, so what it held is delivered.
      if (subscription.enabled && !before.enabled) await deps.reenabled(before, 'deliver');
      return viewOf(id);
    },
    'subscriptions.remove': async (id) => {
      service.remove(id);
      await shared(id);
      return edited(null);
    },
    'subscriptions.setEnabled': (id, enabled, held) => setEnabled(id, enabled, held),
    'deliveries.replay': (request) => deps.replay(request),
    'subscriptions.testFire': (id) => deps.testFire(id),
    'subscriptions.health': () => deps.health(),
    'subscriptions.preview': (request) => deps.preview.preview(request),
    'events.recent': (query) => deps.preview.recent(query),
    'deliveries.list': (query) => listDeliveries(deps.store, query ?? {}),
    'deliveries.get': (id) => {
      const detail = getDeliveryDetail(deps.store, id);
      if (!detail) throw new BridgeFailure('not_found', `no delivery with id ${id}`);
      return detail;
    },
    'status.get': () => deps.status(),
    'settings.get': () => deps.settings(),
    'team.status': async () => (await deps.team()?.status()) ?? null,
    'settings.update': async (patch) => {
      // Checked first, then the team's part written to the team, then here.
      validateSettingsPatch(patch, deps.currentSettings());
      await deps.team()?.settingsEditing(patch);
      return deps.updateSettings(patch);
    },
  };
}
