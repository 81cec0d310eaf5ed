/**
 * The bridge contract's handlers (docs/design.md#one-typed-map): what the console, the
 * web host and the CLI call, mapped onto the engine's parts. Each handler is thin: the
 * rules live in the part it calls (the subscription service, replays, the store).
 *
 * Every change an operator makes here is recorded in the audit trail
 * (docs/design.md#audit-trail), once, by `audit` (which knows who and where): alone, in
 * the change's own transaction; in a team, once the team's bucket took the change (when
 * it cannot, the change is undone and nothing is recorded). A change refused by its rules
 * records nothing, and neither does one that changed nothing. Reading the trail
 * (`audit.list`, `audit.verify`) changes nothing and is not recorded.
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
import { AUDIT_PAGE, type AuditRecordView } from '../contract/views';
import { listAudit, verifyAudit } from '../store/audit';
import type { Store } from '../store/database';
import { getDeliveryDetail, listDeliveries } from '../store/deliveries';
import { searchDeliveries } from '../store/search';
import type { ReplayTarget } from '../store/outbox';
import type { Subscription } from '../store/subscriptions';
import { replayChange, settingsChange, subscriptionChange, testFireChange, type AuditChange, type AuditRecorder } from './audit-trail';
import { searchFilter } from './delivery-search';
import type { Preview } from './preview';
import { validateSettingsPatch } from './settings';
import type { SubscriptionService, Written } from './subscription-service';
import { bridgeMembership, type BridgeMembershipDeps } from './team-membership-bridge';
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
  /** `queued`: told, in the replay's transaction, what it queued (see Replays.replay). */
  replay: (request: ReplayRequest, queued: (target: ReplayTarget, count: number) => void) => ReplayResult;
  /** `fired`: told, in the test fire's transaction, the delivery it made. */
  testFire: (id: string, fired: (made: { deliveryId: number; eventId: string }) => void) => Promise<TestFireResult>;
  /** What a subscription would send (the form's live preview), and the events to try it on. */
  preview: Preview;
  health: () => HealthReport;
  status: () => EngineStatus;
  settings: () => SettingsView;
  /** The stored settings (an edit is checked against them). */
  currentSettings: () => Settings;
  /** `written`: told, in the transaction that stores them, the settings before and after. */
  updateSettings: (patch: Partial<Settings>, written: (before: Settings, after: Settings) => void) => Promise<SettingsView>;
  /** In a team: where its edits go too (team-sync.ts); null alone. */
  team: () => TeamEdits | null;
  /** The audit trail, as the operator these handlers serve. */
  audit: AuditRecorder;
  /** What joining or leaving a team needs (team-membership.ts); its settings are set as settings.update sets them. */
  membership: Omit<BridgeMembershipDeps, 'setSettings' | 'record'>;
}

/** What an edit tells the team (each rejects, a BridgeFailure, when the team's bucket cannot take it), and what the team looks like. */
type TeamEdits = Pick<TeamSync, 'subscriptionEdited' | 'reenabledHere' | 'settingsEditing' | 'status'>;

export function createHandlers(deps: HandlerDeps): Handlers {
  const { service, audit } = deps;

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
   * A local edit of a subscription (`write`, told `written` inside its transaction),
   * recorded, and made in the team too: alone, recorded with the write; in a team, once the
   * bucket took it (undone here, unrecorded, when it cannot). `held`: a re-enable's decision.
   */
  const audited = async <T>(write: (written: Written) => Promise<T> | T, idOf: (result: T) => string, held?: HeldAction): Promise<T> => {
    const team = deps.team();
    let change = null as AuditChange | null;
    const result = await write((before, after) => {
      change = subscriptionChange(before, after, held);
      if (change && !team) audit.record(change);
    });
    if (team) {
      await team.subscriptionEdited(idOf(result));
      if (change) audit.record(change);
    }
    return result;
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
    await audited((written) => service.setEnabled(id, enabled, written), () => id, held);
    deps.reload('local edit');
    if (enabled && !before.enabled) await deps.reenabled(before, held);
    return viewOf(id);
  };

  const updateSettings = async (patch: Partial<Settings>): Promise<SettingsView> => {
    // Checked first, then the team's part written to the team, then here (recorded with it).
    validateSettingsPatch(patch, deps.currentSettings());
    await deps.team()?.settingsEditing(patch);
    return deps.updateSettings(patch, (before, after) => {
      const change = settingsChange(before, after);
      if (change) audit.record(change);
    });
  };

  return {
    ...bridgeMembership({ ...deps.membership, setSettings: async (patch) => void (await updateSettings(patch)), record: (change) => audit.record(change) }),
    'subscriptions.list': () => deps.subscriptionViews(),
    'subscriptions.create': async (input) => {
      const created = await audited((written) => service.create(input, written), (c) => c.subscription.id);
      return edited(created);
    },
    'subscriptions.update': async (id, patch) => {
      const before = service.get(id);
      if (patch.enabled === true && !before.enabled) await deps.team()?.reenabledHere(id, 'deliver');
      // Enabled from the edit form: a re-enable, so what it held is delivered.
      const { subscription } = await audited((written) => service.update(id, patch, written), () => id, 'deliver');
      edited(null);
      if (subscription.enabled && !before.enabled) await deps.reenabled(before, 'deliver');
      return viewOf(id);
    },
    'subscriptions.remove': async (id) => {
      await audited((written) => service.remove(id, written), () => id);
      return edited(null);
    },
    'subscriptions.setEnabled': (id, enabled, held) => setEnabled(id, enabled, held),
    'deliveries.replay': (request) => deps.replay(request, (target, count) => audit.record(replayChange(request, target, count))),
    'subscriptions.testFire': (id) => deps.testFire(id, (made) => audit.record(testFireChange(service.get(id), made))),
    'subscriptions.health': () => deps.health(),
    'subscriptions.preview': (request) => deps.preview.preview(request),
    'events.recent': (query) => deps.preview.recent(query),
    'deliveries.list': (query) => listDeliveries(deps.store, query ?? {}),
    'deliveries.get': (id) => {
      const detail = getDeliveryDetail(deps.store, id);
      if (!detail) throw new BridgeFailure('not_found', `no delivery with id ${id}`);
      return detail;
    },
    'deliveries.search': ({ limit, ...fields }) => searchDeliveries(deps.store, searchFilter(fields, true), limit),
    // The desktop app replaces this with its own (delivery-search.ts `fileExport`: a save dialog);
    // a browser downloads the export from the web host (`GET /export`).
    'deliveries.export': (request) => {
      searchFilter(request, false);
      throw new BridgeFailure('unavailable', 'exporting to a file is for the desktop app; in a browser the console downloads the export');
    },
    'status.get': () => deps.status(),
    'settings.get': () => deps.settings(),
    'team.status': async () => (await deps.team()?.status()) ?? null,
    'settings.update': (patch) => updateSettings(patch),
    'audit.list': (query) =>
      listAudit(deps.store, { ...query, limit: query?.limit ?? AUDIT_PAGE })
        .reverse()
        .map(({ prevHash: _prevHash, hash: _hash, ...view }): AuditRecordView => view),
    'audit.verify': () => verifyAudit(deps.store),
  };
}
