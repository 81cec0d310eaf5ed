/**
 * Attention (issue 7 item 2) against a real engine, a real nats-server and a receiver
 * that fails: the shell (src-main/app/attention-shell.ts) fed by the engine's real event
 * hub, with stand-ins for Electron's own modules only (Tray, Menu, Notification,
 * nativeImage, app, the window). One notification per trip, a second after re-enable
 * and a new trip; tray, badge and window title follow; Pause all / Resume all act on
 * the real engine and resume only what Pause all paused, each one record in the audit
 * trail, the tray's.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { AttentionShell, type ElectronParts, type WindowPart } from '../../src-main/app/attention-shell';
import { TRAY_ICONS } from '../../src-main/app/tray-icons';
import type { SubscriptionView } from '../../src-main/contract/views';
import { COALESCE_WINDOW_MS } from '../../src-main/engine/attention';
import { SOURCES } from '../../src-main/engine/audit-trail';
import { readTrail } from '../harness/audit';
import { envelope, startTestEngine, unwrap, type TestEngine } from '../harness/engine';
import { startReceiver, status, type Receiver } from '../harness/receiver';

// ----- stand-ins for Electron's modules --------------------------------------------------

interface MenuItem {
  label?: string;
  type?: string;
  enabled?: boolean;
  click?: () => void;
}

class FakeImage {
  readonly reps: { scaleFactor: number; dataURL: string }[] = [];
  constructor(readonly dataURL: string) {}
  addRepresentation(rep: { scaleFactor: number; dataURL: string }): void {
    this.reps.push(rep);
  }
}

class FakeTray {
  static last: FakeTray | null = null;
  image: FakeImage;
  tooltip = '';
  title: string | null = null;
  menu: MenuItem[] = [];
  menuBuilds = 0;
  destroyed = false;
  readonly listeners = new Map<string, () => void>();
  constructor(image: FakeImage) {
    this.image = image;
    FakeTray.last = this;
  }
  setImage(image: FakeImage): void {
    this.image = image;
  }
  setToolTip(text: string): void {
    this.tooltip = text;
  }
  setTitle(title: string): void {
    this.title = title;
  }
  setContextMenu(menu: MenuItem[]): void {
    this.menu = menu;
    this.menuBuilds++;
  }
  on(event: string, listener: () => void): this {
    this.listeners.set(event, listener);
    return this;
  }
  destroy(): void {
    this.destroyed = true;
  }
}

class FakeNotification {
  static shown: FakeNotification[] = [];
  static supported = true;
  static isSupported(): boolean {
    return FakeNotification.supported;
  }
  readonly listeners = new Map<string, () => void>();
  constructor(readonly options: { title: string; body: string; icon?: FakeImage }) {}
  on(event: string, listener: () => void): this {
    this.listeners.set(event, listener);
    return this;
  }
  show(): void {
    FakeNotification.shown.push(this);
  }
  close(): void {
    this.listeners.get('close')?.();
  }
}

const badges: number[] = [];
const electron = {
  app: { setBadgeCount: (n: number) => (badges.push(n), true) },
  Tray: FakeTray,
  Menu: { buildFromTemplate: (template: MenuItem[]) => template },
  Notification: FakeNotification,
  nativeImage: { createFromDataURL: (url: string) => new FakeImage(url) },
} as unknown as ElectronParts;

class FakeWindow {
  title = 'Sluice';
  focused = 0;
  minimized = true;
  setTitle(title: string): void {
    this.title = title;
  }
  isDestroyed(): boolean {
    return false;
  }
  isMinimized(): boolean {
    return this.minimized;
  }
  restore(): void {
    this.minimized = false;
  }
  show(): void {}
  focus(): void {
    this.focused++;
  }
}

// ---------------------------------------------------------------------------------------

let t: TestEngine;
let failing: Receiver;
let healthy: Receiver;
let dir: string;
let shell: AttentionShell;
const win = new FakeWindow();
let quits = 0;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function create(name: string, url: string, patterns: string[], enabled = true): Promise<SubscriptionView> {
  const { subscription } = unwrap(await t.api['subscriptions.create']({ name, url, patterns, enabled }));
  await t.engine.busReady();
  return subscription;
}

const list = async () => unwrap(await t.api['subscriptions.list']());
const byName = async (name: string) => (await list()).find((s) => s.name === name) as SubscriptionView;
const menuItem = (label: RegExp) => FakeTray.last?.menu.find((i) => i.label !== undefined && label.test(i.label)) as MenuItem;

function startShell(): AttentionShell {
  return new AttentionShell({
    electron,
    platform: 'linux',
    api: t.api,
    // As the app wires it (src-main/app/main.ts).
    bulk: (action, run) => t.engine.bulk(SOURCES.tray, action === 'pause-all' ? 'pause_all' : 'resume_all', run),
    views: t.engine.subscriptionViews(),
    held: () => t.engine.effectiveSettings(),
    ledgerPath: join(dir, 'pause-all.json'),
    window: () => win as unknown as WindowPart,
    quit: () => quits++,
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-attention-'));
  t = await startTestEngine({ settings: { circuitThreshold: 2, retrySchedule: [] } });
  failing = await startReceiver(status(500));
  healthy = await startReceiver();
  // Tripped before the shell starts (as in an earlier run): counted, never announced.
  await create('old-trip', failing.url, ['old.>']);
  for (let i = 0; i < 2; i++) await t.publish('old.x', envelope('x', { i }));
  await t.waitForRecord((r) => r.kind === 'breaker' && r.tripped && r.name === 'old-trip');
  shell = startShell();
});

afterAll(async () => {
  shell?.close();
  await failing.close();
  await healthy.close();
  await t.cleanup();
  await rm(dir, { recursive: true, force: true });
});

describe('attention with a real engine', () => {
  it('starts with the earlier trip counted but not announced', () => {
    expect(FakeTray.last?.tooltip).toBe('Sluice: 1 subscription tripped (old-trip)');
    expect(FakeTray.last?.image.dataURL).toBe(TRAY_ICONS.alert.x1);
    expect(badges.at(-1)).toBe(1);
    expect(win.title).toBe('(1 tripped) Sluice');
    expect(FakeNotification.shown).toHaveLength(0);
  });

  it('notifies exactly once when a subscription trips, with its name, last error and what to do', async () => {
    const wazuh = await create('wazuh', failing.url, ['attacker.>']);
    for (let i = 0; i < 2; i++) await t.publish('attacker.observed', envelope('x', { i }));
    await t.waitForRecord((r) => r.kind === 'breaker' && r.tripped && r.name === 'wazuh');
    await vi.waitFor(() => expect(FakeNotification.shown.length === 1, 'the notification').toBe(true), { timeout: 15_000, interval: 25 });
    const [note] = FakeNotification.shown;
    expect(note?.options.title).toBe('“wazuh” tripped: deliveries stopped');
    expect(note?.options.body).toBe(
      '2 failed deliveries in a row; last error: http 500\n' +
        'Open Sluice and re-enable it once the receiver is fixed; events meanwhile are held (up to 10,000, 72 h) and delivered when you re-enable.',
    );
    expect(shell.notifications.map((n) => n.subscriptionIds)).toEqual([[wazuh.id]]);

    // Events for it are now held: more snapshots of the same trip, no second pop-up.
    await t.publish('attacker.observed', envelope('x', {}, 'held-1'));
    await t.waitForDelivery((d) => d.eventId === 'held-1' && d.outcome === 'held');
    await vi.waitFor(() => expect(FakeTray.last?.tooltip === 'Sluice: 2 subscriptions tripped (old-trip, wazuh)', 'the tray').toBe(true), { timeout: 15_000, interval: 25 });
    await sleep(COALESCE_WINDOW_MS + 400);
    expect(FakeNotification.shown).toHaveLength(1);
    expect(badges.at(-1)).toBe(2);
    expect(win.title).toBe('(2 tripped) Sluice');
    expect(FakeTray.last?.title).toBeNull(); // the text beside the icon is macOS only

    // Clicking it brings the console forward.
    note?.listeners.get('click')?.();
    expect(win).toMatchObject({ minimized: false, focused: 1 });
  });

  it('notifies again after a re-enable and a new trip', async () => {
    const wazuh = await byName('wazuh');
    failing.setBehavior(status(503));
    unwrap(await t.api['subscriptions.setEnabled'](wazuh.id, true, 'discard'));
    await vi.waitFor(() => expect(win.title === '(1 tripped) Sluice', 'the title after re-enable').toBe(true), { timeout: 15_000, interval: 25 });
    expect(FakeTray.last?.tooltip).toBe('Sluice: 1 subscription tripped (old-trip)');
    for (let i = 0; i < 2; i++) await t.publish('attacker.observed', envelope('x', { again: i }));
    await vi.waitFor(() => expect(FakeNotification.shown.length === 2, 'the second notification').toBe(true), { timeout: 15_000, interval: 25 });
    expect(FakeNotification.shown[1]?.options.body).toMatch(/^2 failed deliveries in a row; last error: http 503\n/);
    await sleep(COALESCE_WINDOW_MS + 400);
    expect(FakeNotification.shown).toHaveLength(2);
  });

  it('Pause all pauses every active subscription; Resume all resumes only what it paused and nobody touched', async () => {
    const a = await create('splunk', healthy.url, ['a.>']);
    const b = await create('n8n', healthy.url, ['b.>']);
    const manual = await create('manual', healthy.url, ['c.>'], false);
    await vi.waitFor(() => expect(/Pause all \(2 active\)/.test(menuItem(/^Pause all/)?.label ?? ''), 'the menu to count 2 active').toBe(true), { timeout: 15_000, interval: 25 });
    expect(menuItem(/^Resume all/)).toMatchObject({ label: 'Resume all', enabled: false });

    menuItem(/^Pause all/).click?.();
    await vi.waitFor(() => expect(menuItem(/^Resume all/)?.enabled === true, 'Pause all to finish').toBe(true), { timeout: 15_000, interval: 25 });
    expect(shell.resumable).toBe(2);
    const paused = await list();
    expect(paused.filter((s) => s.state === 'active')).toEqual([]);
    expect(paused.find((s) => s.id === manual.id)?.state).toBe('paused');
    expect(paused.filter((s) => s.state === 'tripped').map((s) => s.name).sort()).toEqual(['old-trip', 'wazuh']);
    expect(menuItem(/^Resume all/)).toMatchObject({ label: 'Resume all (2 paused by Pause all)', enabled: true });
    expect(menuItem(/^Pause all/)).toMatchObject({ enabled: false });
    // One record in the audit trail for all it paused, the tray's.
    await t.engine.durable();
    expect(readTrail(t.dbPath).filter((r) => r.source === SOURCES.tray)).toMatchObject([
      {
        action: 'pause_all',
        target: '2 subscriptions',
        before: { splunk: { state: 'active' }, n8n: { state: 'active' } },
        after: { splunk: { state: 'paused' }, n8n: { state: 'paused' } },
      },
    ]);
    // Kept on disk: a restart still knows what Pause all paused.
    const saved = JSON.parse(await readFile(join(dir, 'pause-all.json'), 'utf8')) as { entries: { id: string }[] };
    expect(saved.entries.map((e) => e.id).sort()).toEqual([a.id, b.id].sort());
    // Its events wait while it is paused.
    await t.publish('a.x', envelope('x', {}, 'while-paused'));
    await t.waitForDelivery((d) => d.eventId === 'while-paused' && d.outcome === 'held');

    // The analyst resumes n8n and pauses it again by hand: Resume all must leave it alone.
    unwrap(await t.api['subscriptions.setEnabled'](b.id, true));
    unwrap(await t.api['subscriptions.setEnabled'](b.id, false));
    await vi.waitFor(() => expect(shell.resumable === 1, 'the ledger to drop n8n').toBe(true), { timeout: 15_000, interval: 25 });

    // A restart of the shell (the app) reads the ledger back.
    shell.close();
    shell = startShell();
    expect(shell.resumable).toBe(1);
    expect(menuItem(/^Resume all/)).toMatchObject({ label: 'Resume all (1 paused by Pause all)', enabled: true });

    await shell.run('resume-all');
    const after = await list();
    expect(after.find((s) => s.id === a.id)?.state).toBe('active');
    expect(after.find((s) => s.id === b.id)?.state).toBe('paused');
    expect(after.find((s) => s.id === manual.id)?.state).toBe('paused');
    expect(after.filter((s) => s.state === 'tripped')).toHaveLength(2);
    expect(shell.resumable).toBe(0);
    expect(menuItem(/^Resume all/)).toMatchObject({ label: 'Resume all', enabled: false });
    await t.engine.durable();
    const trail = readTrail(t.dbPath);
    expect(trail.filter((r) => r.source === SOURCES.tray).map((r) => r.action)).toEqual(['pause_all', 'resume_all']);
    expect(trail.at(-1)).toMatchObject({ action: 'resume_all', target: '1 subscription', before: { splunk: { state: 'paused' } }, after: { splunk: { state: 'active', held: 'deliver' } } });
    // What the analyst did by hand in between is the console's, one record each, not the tray's.
    expect(trail.filter((r) => r.target === 'n8n' && r.source === SOURCES.console).map((r) => r.action)).toEqual(['subscription.create', 'subscription.reenable', 'subscription.pause']);

    // Resumed for real: what splunk held is delivered, as a one-click re-enable does, and it delivers again.
    await healthy.waitForRequests(1);
    await t.publish('a.x', envelope('x', {}, 'after-resume'));
    const got = await healthy.waitForRequests(2);
    expect(got.map((r) => r.headers['x-decnet-event-id'])).toEqual(['while-paused', 'after-resume']);
    // No trip among all this: still two notifications.
    expect(FakeNotification.shown).toHaveLength(2);
  });

  it('on macOS: the count beside the tray icon and on the dock; no notification support is no failure', async () => {
    const linuxTray = FakeTray.last;
    const seenByLinux = shell.notifications.length;
    FakeNotification.supported = false;
    const mac = new AttentionShell({
      electron,
      platform: 'darwin',
      api: t.api,
      views: t.engine.subscriptionViews(),
      held: () => t.engine.effectiveSettings(),
      ledgerPath: join(dir, 'pause-all.json'),
      window: () => null,
      quit: () => quits++,
    });
    try {
      expect(FakeTray.last?.title).toBe('2');
      expect(badges.at(-1)).toBe(2);
      // A new trip while notifications are unsupported: recorded, shown in the tray, no crash.
      failing.setBehavior(status(500));
      await create('hive', failing.url, ['h.>']);
      for (let i = 0; i < 2; i++) await t.publish('h.x', envelope('x', { i }));
      await vi.waitFor(() => expect(mac.notifications.length === 1 && shell.notifications.length === seenByLinux + 1, 'the (unshown) notifications').toBe(true), { timeout: 15_000, interval: 25 });
      expect(FakeTray.last?.title).toBe('3');
      expect(FakeNotification.shown).toHaveLength(2);
    } finally {
      mac.close();
      FakeNotification.supported = true;
      FakeTray.last = linuxTray;
    }
  });

  it('Open console and Quit from the tray menu', async () => {
    const before = win.focused;
    menuItem(/^Open console$/).click?.();
    expect(win.focused).toBe(before + 1);
    menuItem(/^Quit Sluice$/).click?.();
    expect(quits).toBe(1);
  });
});

describe('tray icons', () => {
  it.each([
    ['normal', 'x1', 16],
    ['normal', 'x2', 32],
    ['alert', 'x1', 16],
    ['alert', 'x2', 32],
  ] as const)('%s %s is a %d px PNG', (variant, scale, px) => {
    const url = TRAY_ICONS[variant][scale];
    expect(url.startsWith('data:image/png;base64,')).toBe(true);
    const png = Buffer.from(url.slice('data:image/png;base64,'.length), 'base64');
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([px, px]);
  });

  it('the alert variant differs from the plain one', () => {
    expect(TRAY_ICONS.alert.x1).not.toBe(TRAY_ICONS.normal.x1);
  });
});
