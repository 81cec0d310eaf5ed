/**
 * Attention: what the desktop shell shows outside the console when subscriptions trip —
 * an OS notification per trip, the tray (tooltip, badge, icon, menu) and the window
 * title. Pure: fed subscription snapshots and a clock, it returns plain data; the
 * Electron glue (src-main/app/attention-shell.ts) only renders it.
 *
 * Policy:
 * - A trip is a subscription seen tripped whose previous snapshot showed it untripped
 *   (or did not show it). One notification per trip: later snapshots of the same trip
 *   (re-stamps, counters, held counts) say nothing new; a re-enable followed by a new
 *   trip notifies again.
 * - The first snapshot is the baseline: subscriptions already tripped then (a trip from
 *   an earlier run, or by a headless engine on the same file) are not announced again.
 *   The tray, the badge and the window title count them all the same.
 * - Trips are held for a short window (COALESCE_WINDOW_MS) from the first one: a shared
 *   cause (the network, a SIEM cluster) trips several at once, and three or more in one
 *   window become a single "N subscriptions tripped". One that is re-enabled before
 *   the window closes is not announced: the analyst is already on it.
 */
import { countSubscriptions } from '../contract/counts';
import type { SubscriptionView } from '../contract/views';

/** Trips this close to the first of a series are announced together. */
export const COALESCE_WINDOW_MS = 2_000;
/** From this many trips in one window, one summary instead of one notification each. */
const COALESCE_MIN = 3;
/** Notification bodies keep the last error short: a pop-up, not the delivery log. */
export const ERROR_MAX_CHARS = 160;
/** Windows cuts tray tooltips at 127 characters. */
export const TOOLTIP_MAX_CHARS = 127;

const PRODUCT_TITLE = 'Sluice';

/** What the engine does with events that match a tripped subscription (its settings). */
export interface HeldPolicy {
  /** Held events kept per tripped subscription; 0: none are held. */
  heldMaxCount: number;
  heldMaxAgeHours: number;
}

export interface AttentionNotification {
  title: string;
  body: string;
  /** The subscriptions it is about (one, or the coalesced series). */
  subscriptionIds: string[];
}

export type TrayIconVariant = 'normal' | 'alert';

export type TrayAction = 'open' | 'pause-all' | 'resume-all' | 'quit';

export type TrayMenuItem =
  | { kind: 'action'; action: TrayAction; label: string; enabled: boolean }
  | { kind: 'label'; label: string }
  | { kind: 'separator' };

export interface TrayModel {
  tooltip: string;
  /** For app.setBadgeCount (macOS dock, Unity launcher); 0 hides the badge. */
  badgeCount: number;
  icon: TrayIconVariant;
  /** Text beside the tray icon where the platform draws one (macOS): the tripped count or nothing. */
  title: string;
  menu: TrayMenuItem[];
}

// ---------------------------------------------------------------------------------------
// Trip detection

interface Pending {
  id: string;
  detectedAt: number;
}

/**
 * Watches snapshots for trips and hands out notifications once their coalescing window
 * has closed. `observe` takes every snapshot (the hub's `subscriptions.changed`);
 * `takeDue` returns what is ready; `nextDueAt` says when to call it next.
 */
export class TripWatcher {
  private tripped: Map<string, boolean> | null = null;
  private latest = new Map<string, SubscriptionView>();
  private pending: Pending[] = [];
  private windowEndsAt: number | null = null;

  constructor(
    private readonly held: () => HeldPolicy,
    private readonly windowMs = COALESCE_WINDOW_MS,
  ) {}

  /** The last snapshot observed (what the tray and the title show). */
  get views(): SubscriptionView[] {
    return [...this.latest.values()];
  }

  observe(views: readonly SubscriptionView[], nowMs: number): void {
    const baseline = this.tripped === null;
    const before = this.tripped ?? new Map<string, boolean>();
    const now = new Map<string, boolean>();
    this.latest = new Map(views.map((v) => [v.id, v]));
    for (const view of views) {
      const isTripped = view.state === 'tripped';
      now.set(view.id, isTripped);
      if (baseline || !isTripped || before.get(view.id) === true) continue;
      if (this.pending.some((p) => p.id === view.id)) continue;
      this.pending.push({ id: view.id, detectedAt: nowMs });
      this.windowEndsAt ??= nowMs + this.windowMs;
    }
    this.tripped = now;
    // Re-enabled (or deleted) before its announcement: nothing left to say.
    this.pending = this.pending.filter((p) => now.get(p.id) === true);
    if (this.pending.length === 0) this.windowEndsAt = null;
  }

  nextDueAt(): number | null {
    return this.windowEndsAt;
  }

  takeDue(nowMs: number): AttentionNotification[] {
    if (this.windowEndsAt === null || nowMs < this.windowEndsAt) return [];
    const subs = this.pending.map((p) => this.latest.get(p.id)).filter((v): v is SubscriptionView => v !== undefined);
    this.pending = [];
    this.windowEndsAt = null;
    if (subs.length === 0) return [];
    const held = this.held();
    if (subs.length >= COALESCE_MIN) return [coalescedNotification(subs, held)];
    return subs.map((sub) => tripNotification(sub, held));
  }
}

// ---------------------------------------------------------------------------------------
// Text

const quote = (name: string): string => `“${name}”`;

/** What happens to events while it stays tripped, and what the analyst does about it. */
function whatToDo(held: HeldPolicy, count: number): string {
  const it = count === 1 ? 'it' : 'each';
  const receiver = count === 1 ? 'the receiver is' : 'its receiver is';
  const fix = `Open Sluice and re-enable ${it} once ${receiver} fixed`;
  if (held.heldMaxCount <= 0)
    // The engine records the event but no delivery for a tripped subscription then.
    return `${fix}. Holding is off in the settings: events meanwhile are not queued for ${count === 1 ? 'it' : 'them'} (replay them by topic and time afterwards).`;
  return (
    `${fix}; events meanwhile are held (up to ${held.heldMaxCount.toLocaleString('en-US')}, ` +
    `${held.heldMaxAgeHours} h) and delivered when you re-enable.`
  );
}

export function tripNotification(sub: SubscriptionView, held: HeldPolicy): AttentionNotification {
  const failures = sub.consecutiveFailures;
  const error = sub.lastError ? sanitizeError(sub.lastError) : null;
  const cause =
    error === null
      ? `${failures} failed deliveries in a row.`
      : `${failures} failed deliveries in a row; last error: ${error}`;
  return {
    title: `${quote(sub.name)} tripped: deliveries stopped`,
    body: `${cause}\n${whatToDo(held, 1)}`,
    subscriptionIds: [sub.id],
  };
}

export function coalescedNotification(subs: readonly SubscriptionView[], held: HeldPolicy): AttentionNotification {
  const names = listNames(
    subs.map((s) => s.name),
    4,
  );
  const errors = new Set(subs.map((s) => (s.lastError ? sanitizeError(s.lastError) : '')));
  const [only] = [...errors];
  const shared = errors.size === 1 && only ? ` All with: ${only}` : '';
  return {
    title: `${subs.length} subscriptions tripped`,
    body: `${names}: deliveries stopped.${shared}\n${whatToDo(held, subs.length)}`,
    subscriptionIds: subs.map((s) => s.id),
  };
}

/** `a, b, c and 2 more` */
function listNames(names: readonly string[], max: number): string {
  if (names.length <= max) return names.join(', ');
  return `${names.slice(0, max).join(', ')} and ${names.length - max} more`;
}

/**
 * A last error fit for a pop-up (it can show on a locked screen) or a bus announcement
 * (engine/announcements.ts): one line, no URL credentials, query strings or tokens, at
 * most `max` characters (ERROR_MAX_CHARS for a pop-up), cut at a word.
 */
export function sanitizeError(raw: string, max = ERROR_MAX_CHARS): string {
  let text = raw.replace(/[\u0000-\u001f\u007f\s]+/g, ' ').trim();
  // scheme://user:password@host → scheme://host; the query and fragment often carry tokens.
  text = text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#@]*@)?([^\s?#]*)(?:[?#][^\s]*)?/gi, (_m, scheme: string, _user, rest: string) => `${scheme}${rest}`);
  // `Authorization: Bearer x`, `token=x`, `password: x`, `api_key=x` …
  text = text.replace(/\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+/gi, '$1 …');
  text = text.replace(/\b(token|secret|password|passwd|api[_-]?key|access[_-]?key|signature)(\s*[=:]\s*)[^\s,;&]+/gi, '$1$2…');
  if (text.length <= max) return text;
  const cut = text.slice(0, max - 1);
  const space = cut.lastIndexOf(' ');
  return `${space > max * 0.6 ? cut.slice(0, space) : cut}…`;
}

// ---------------------------------------------------------------------------------------
// Tray and window

/** The window title, the same words as the console's own (`(N tripped) Sluice`). */
export function windowTitle(views: readonly SubscriptionView[]): string {
  const tripped = countSubscriptions(views).tripped;
  return tripped > 0 ? `(${tripped} tripped) ${PRODUCT_TITLE}` : PRODUCT_TITLE;
}

/**
 * The tray for these subscriptions. `resumable`: how many Pause all paused that nobody
 * has touched since (what Resume all would resume).
 */
export function trayModel(views: readonly SubscriptionView[], resumable: number): TrayModel {
  const tripped = views.filter((v) => v.state === 'tripped');
  const active = views.filter((v) => v.state === 'active').length;
  const paused = views.filter((v) => v.state === 'paused').length;
  const parts = [`${active} active`, ...(paused > 0 ? [`${paused} paused`] : []), ...(tripped.length > 0 ? [`${tripped.length} tripped`] : [])];
  const summary = views.length === 0 ? 'no subscriptions' : parts.join(' · ');
  return {
    tooltip: tooltip(tripped.map((v) => v.name), summary),
    badgeCount: tripped.length,
    icon: tripped.length > 0 ? 'alert' : 'normal',
    title: tripped.length > 0 ? String(tripped.length) : '',
    menu: [
      { kind: 'label', label: summary },
      { kind: 'separator' },
      { kind: 'action', action: 'open', label: 'Open console', enabled: true },
      {
        kind: 'action',
        action: 'pause-all',
        label: active > 0 ? `Pause all (${active} active)` : 'Pause all',
        enabled: active > 0,
      },
      {
        kind: 'action',
        action: 'resume-all',
        label: resumable > 0 ? `Resume all (${resumable} paused by Pause all)` : 'Resume all',
        enabled: resumable > 0,
      },
      { kind: 'separator' },
      { kind: 'action', action: 'quit', label: 'Quit Sluice', enabled: true },
    ],
  };
}

function tooltip(trippedNames: readonly string[], summary: string): string {
  if (trippedNames.length === 0) return `${PRODUCT_TITLE}: nothing tripped (${summary})`;
  const head = `${PRODUCT_TITLE}: ${trippedNames.length === 1 ? '1 subscription' : `${trippedNames.length} subscriptions`} tripped`;
  // As many names as fit, then "+N more"; a single long name is cut.
  for (let shown = trippedNames.length; shown >= 1; shown--) {
    const rest = trippedNames.length - shown;
    const text = `${head} (${trippedNames.slice(0, shown).join(', ')}${rest > 0 ? ` +${rest} more` : ''})`;
    if (text.length <= TOOLTIP_MAX_CHARS) return text;
  }
  return head.length <= TOOLTIP_MAX_CHARS ? head : `${head.slice(0, TOOLTIP_MAX_CHARS - 1)}…`;
}
