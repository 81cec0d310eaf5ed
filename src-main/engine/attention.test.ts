import { describe, expect, it } from 'vitest';
import type { SubscriptionView } from '../contract/views';
import { defaultOptions } from '../contract/subscription-options';
import {
  COALESCE_WINDOW_MS,
  ERROR_MAX_CHARS,
  TOOLTIP_MAX_CHARS,
  TripWatcher,
  coalescedNotification,
  sanitizeError,
  trayModel,
  tripNotification,
  windowTitle,
  type HeldPolicy,
  type TrayMenuItem,
} from './attention';

const HELD: HeldPolicy = { heldMaxCount: 10_000, heldMaxAgeHours: 72 };

let seq = 0;
function view(name: string, over: Partial<SubscriptionView> = {}): SubscriptionView {
  const state = over.state ?? 'active';
  return {
    id: over.id ?? `id-${name}-${++seq}`,
    name,
    url: 'https://siem.example/hook',
    patterns: ['attacker.>'],
    presets: [],
    enabled: state === 'active',
    state,
    consecutiveFailures: state === 'tripped' ? 5 : 0,
    lastSuccessAt: null,
    lastFailureAt: null,
    lastError: state === 'tripped' ? 'http 503' : null,
    autoDisabledAt: state === 'tripped' ? '2026-11-28T21:00:00.000Z' : null,
    createdAt: '2026-11-28T20:00:00.000Z',
    updatedAt: '2026-11-28T20:00:00.000Z',
    insecureUrl: false,
    retrySchedule: null,
    deadCount: 0,
    heldCount: 0,
    heldSince: null,
    previousSecretUntil: null,
    ...defaultOptions(),
    secretHeaderNames: [],
    filteredCount: 0,
    paced: null,
    ...over,
  };
}

const trip = (v: SubscriptionView, over: Partial<SubscriptionView> = {}): SubscriptionView =>
  view(v.name, { ...v, state: 'tripped', enabled: false, consecutiveFailures: 5, lastError: 'http 503', autoDisabledAt: '2026-11-28T21:00:00.000Z', ...over });
const reEnable = (v: SubscriptionView): SubscriptionView =>
  view(v.name, { ...v, state: 'active', enabled: true, consecutiveFailures: 0, lastError: null, autoDisabledAt: null });

/** Observe, then let the coalescing window close and take what is due. */
function settle(w: TripWatcher, at: number) {
  return w.takeDue(at + COALESCE_WINDOW_MS);
}

describe('trip detection', () => {
  it('announces a trip once, after the coalescing window, whatever the later snapshots say', () => {
    const w = new TripWatcher(() => HELD);
    const a = view('wazuh');
    const b = view('thehive');
    w.observe([a, b], 0);
    w.observe([trip(a), b], 1000);
    expect(w.takeDue(1000 + COALESCE_WINDOW_MS - 1)).toEqual([]);
    expect(w.nextDueAt()).toBe(1000 + COALESCE_WINDOW_MS);
    const due = w.takeDue(1000 + COALESCE_WINDOW_MS);
    expect(due).toHaveLength(1);
    expect(due[0]).toMatchObject({ title: '“wazuh” tripped: deliveries stopped', subscriptionIds: [a.id] });
    // Re-stamps, counters, held counts of the same trip: nothing new.
    w.observe([trip(a, { autoDisabledAt: '2026-11-28T21:05:00.000Z', consecutiveFailures: 6, heldCount: 40 }), b], 5000);
    w.observe([trip(a, { heldCount: 41 }), b], 6000);
    expect(w.nextDueAt()).toBeNull();
    expect(settle(w, 6000)).toEqual([]);
  });

  it('announces again after a re-enable and a new trip', () => {
    const w = new TripWatcher(() => HELD);
    const a = view('wazuh');
    w.observe([a], 0);
    w.observe([trip(a)], 10);
    expect(settle(w, 10)).toHaveLength(1);
    w.observe([reEnable(a)], 5000);
    expect(settle(w, 5000)).toEqual([]);
    w.observe([trip(a, { lastError: 'timeout after 10000 ms' })], 9000);
    const second = settle(w, 9000);
    expect(second).toHaveLength(1);
    expect(second[0]?.body).toContain('timeout after 10000 ms');
  });

  it('does not announce trips already in the first snapshot (an earlier run’s), but counts them', () => {
    const w = new TripWatcher(() => HELD);
    const old = view('old', { state: 'tripped' });
    const fine = view('fine');
    w.observe([old, fine], 0);
    w.observe([old, fine], 500);
    expect(w.nextDueAt()).toBeNull();
    expect(settle(w, 500)).toEqual([]);
    expect(trayModel(w.views, 0).badgeCount).toBe(1);
    // The old one re-enabled and tripped again: that is a new trip.
    w.observe([reEnable(old), fine], 1000);
    w.observe([trip(old), fine], 2000);
    expect(settle(w, 2000)).toHaveLength(1);
  });

  it('announces a subscription that appears already tripped after the baseline', () => {
    const w = new TripWatcher(() => HELD);
    w.observe([], 0);
    const late = view('late', { state: 'tripped' });
    w.observe([late], 100);
    expect(settle(w, 100)).toMatchObject([{ subscriptionIds: [late.id] }]);
  });

  it('says nothing for a trip re-enabled (or deleted) before its window closed', () => {
    const w = new TripWatcher(() => HELD);
    const a = view('a');
    const b = view('b');
    w.observe([a, b], 0);
    w.observe([trip(a), trip(b)], 100);
    w.observe([reEnable(a)], 600);
    expect(w.nextDueAt()).toBeNull();
    expect(settle(w, 600)).toEqual([]);
  });

  it('coalesces three or more trips within the window into one notification', () => {
    const w = new TripWatcher(() => HELD);
    const subs = ['a', 'b', 'c', 'd'].map((n) => view(n));
    w.observe(subs, 0);
    w.observe([trip(subs[0]!), ...subs.slice(1)], 100);
    w.observe([trip(subs[0]!), trip(subs[1]!), subs[2]!, subs[3]!], 900);
    w.observe([trip(subs[0]!), trip(subs[1]!), trip(subs[2]!), subs[3]!], 1800);
    // The window runs from the first trip: still one summary, not three pop-ups.
    expect(w.nextDueAt()).toBe(100 + COALESCE_WINDOW_MS);
    const due = w.takeDue(100 + COALESCE_WINDOW_MS);
    expect(due).toHaveLength(1);
    expect(due[0]?.title).toBe('3 subscriptions tripped');
    expect(due[0]?.body).toMatch(/^a, b, c: deliveries stopped\. All with: http 503\n/);
    expect(due[0]?.subscriptionIds).toEqual([subs[0]!.id, subs[1]!.id, subs[2]!.id]);
    // A fourth after the window: its own notification.
    w.observe([trip(subs[0]!), trip(subs[1]!), trip(subs[2]!), trip(subs[3]!)], 3000);
    expect(settle(w, 3000)).toMatchObject([{ title: '“d” tripped: deliveries stopped' }]);
  });

  it('announces two trips in one window one by one', () => {
    const w = new TripWatcher(() => HELD);
    const a = view('a');
    const b = view('b');
    w.observe([a, b], 0);
    w.observe([trip(a), trip(b)], 100);
    expect(settle(w, 100).map((n) => n.title)).toEqual(['“a” tripped: deliveries stopped', '“b” tripped: deliveries stopped']);
  });
});

describe('notification text', () => {
  it('names the subscription, the failures and the last error, and says what to do with held events', () => {
    const n = tripNotification(view('wazuh', { state: 'tripped', consecutiveFailures: 5, lastError: 'connect ECONNREFUSED 203.0.113.7:443' }), HELD);
    expect(n.title).toBe('“wazuh” tripped: deliveries stopped');
    expect(n.body).toBe(
      '5 failed deliveries in a row; last error: connect ECONNREFUSED 203.0.113.7:443\n' +
        'Open Sluice and re-enable it once the receiver is fixed; events meanwhile are held (up to 10,000, 72 h) and delivered when you re-enable.',
    );
  });

  it('tells the truth when holding is off', () => {
    const n = tripNotification(view('wazuh', { state: 'tripped' }), { heldMaxCount: 0, heldMaxAgeHours: 72 });
    expect(n.body).toContain('Holding is off in the settings: events meanwhile are not queued for it');
    expect(n.body).not.toContain('are held');
  });

  it('never shows the URL or anything secret from the view', () => {
    const sub = view('wazuh', { state: 'tripped', url: 'https://admin:hunter2@siem.example/hook?token=abc' });
    const n = tripNotification(sub, HELD);
    expect(`${n.title}${n.body}`).not.toMatch(/hunter2|admin|token|siem\.example/);
  });

  it('lists at most four names in a summary', () => {
    const subs = ['a', 'b', 'c', 'd', 'e', 'f'].map((n) => view(n, { state: 'tripped', lastError: `err ${n}` }));
    const n = coalescedNotification(subs, HELD);
    expect(n.title).toBe('6 subscriptions tripped');
    expect(n.body).toMatch(/^a, b, c, d and 2 more: deliveries stopped\.\nOpen Sluice and re-enable each once its receiver is fixed; events meanwhile are held/);
  });
});

describe('sanitizeError', () => {
  it.each([
    ['attempt failed: https://user:pa55@siem.example:8443/hook?token=s3cr3t#x', 'attempt failed: https://siem.example:8443/hook'],
    ['POST http://bob@10.0.0.5/in failed', 'POST http://10.0.0.5/in failed'],
    ['401 Authorization: Bearer eyJhbGciOi.J9x', '401 Authorization: Bearer …'],
    ['bad api_key=abcd1234, retry', 'bad api_key=…, retry'],
    ['password: hunter2 rejected', 'password: … rejected'],
    ['line one\nline two\t\u0007end', 'line one line two end'],
    ['http 503', 'http 503'],
  ])('%s → %s', (raw, clean) => {
    expect(sanitizeError(raw)).toBe(clean);
  });

  it('cuts a long error at a word, with an ellipsis', () => {
    const long = `upstream said: ${'lorem ipsum '.repeat(60)}`;
    const out = sanitizeError(long);
    expect(out.length).toBeLessThanOrEqual(ERROR_MAX_CHARS);
    expect(out.endsWith('…')).toBe(true);
    expect(out).toMatch(/(lorem|ipsum)…$/);
    expect(sanitizeError('x'.repeat(600))).toHaveLength(ERROR_MAX_CHARS);
  });
});

describe('tray and window title', () => {
  const actions = (menu: TrayMenuItem[]) =>
    Object.fromEntries(menu.filter((i) => i.kind === 'action').map((i) => [i.action, { label: i.label, enabled: i.enabled }]));

  it('nothing tripped', () => {
    const views = [view('a'), view('b'), view('c', { state: 'paused' })];
    const m = trayModel(views, 0);
    expect(m).toMatchObject({ badgeCount: 0, icon: 'normal', title: '', tooltip: 'Sluice: nothing tripped (2 active · 1 paused)' });
    expect(m.menu[0]).toEqual({ kind: 'label', label: '2 active · 1 paused' });
    expect(actions(m.menu)).toEqual({
      open: { label: 'Open console', enabled: true },
      'pause-all': { label: 'Pause all (2 active)', enabled: true },
      'resume-all': { label: 'Resume all', enabled: false },
      quit: { label: 'Quit Sluice', enabled: true },
    });
    expect(windowTitle(views)).toBe('Sluice');
  });

  it('one tripped', () => {
    const views = [view('wazuh', { state: 'tripped' }), view('b')];
    const m = trayModel(views, 0);
    expect(m).toMatchObject({ badgeCount: 1, icon: 'alert', title: '1', tooltip: 'Sluice: 1 subscription tripped (wazuh)' });
    expect(windowTitle(views)).toBe('(1 tripped) Sluice');
  });

  it('many tripped, everything paused by Pause all', () => {
    const names = Array.from({ length: 9 }, (_, i) => `receiver-with-a-long-name-${i}`);
    const views = [...names.map((n) => view(n, { state: 'tripped' })), view('p', { state: 'paused' }), view('q', { state: 'paused' })];
    const m = trayModel(views, 2);
    expect(m).toMatchObject({ badgeCount: 9, icon: 'alert', title: '9' });
    expect(m.tooltip.length).toBeLessThanOrEqual(TOOLTIP_MAX_CHARS);
    expect(m.tooltip).toMatch(/^Sluice: 9 subscriptions tripped \(receiver-with-a-long-name-0, .* \+\d more\)$/);
    expect(actions(m.menu)).toMatchObject({
      'pause-all': { label: 'Pause all', enabled: false },
      'resume-all': { label: 'Resume all (2 paused by Pause all)', enabled: true },
    });
    expect(windowTitle(views)).toBe('(9 tripped) Sluice');
  });

  it('no subscriptions at all', () => {
    expect(trayModel([], 0)).toMatchObject({ tooltip: 'Sluice: nothing tripped (no subscriptions)', badgeCount: 0 });
  });
});
