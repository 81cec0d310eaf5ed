/**
 * The Electron side of engine/attention.ts: an OS notification per trip, a tray icon
 * whose tooltip, icon, title and badge follow the tripped count, its menu (Open console,
 * Pause all / Resume all, Quit) and the window title. Every decision is made by the pure
 * module; this file only renders it. Electron's modules come in as a parameter, so
 * tests run it under Node with stand-ins for them (Electron cannot run here).
 */
import type { App, BrowserWindow, Menu, MenuItemConstructorOptions, NativeImage, Notification, NotificationConstructorOptions, Tray } from 'electron';
import type { SluiceApi } from '../contract/bridge';
import type { SubscriptionView } from '../contract/views';
import { TripWatcher, trayModel, windowTitle, type AttentionNotification, type HeldPolicy, type TrayAction, type TrayIconVariant, type TrayModel } from '../engine/attention';
import { loadLedger, pauseAll, reconcile, resumeAll, saveLedger, type BulkResult, type PauseApi, type PauseLedger } from '../engine/pause-all';
import { TRAY_ICONS } from './tray-icons';

type TrayPart = Pick<Tray, 'setImage' | 'setToolTip' | 'setTitle' | 'setContextMenu' | 'destroy'> & {
  on(event: 'click', listener: () => void): unknown;
};
type NotificationPart = Pick<Notification, 'show' | 'close'> & {
  on(event: 'click' | 'close', listener: () => void): unknown;
};

/** The parts of Electron this uses: in the app, the real modules. */
export interface ElectronParts {
  app: Pick<App, 'setBadgeCount'>;
  Tray: new (image: NativeImage) => TrayPart;
  Menu: { buildFromTemplate(template: MenuItemConstructorOptions[]): Menu };
  Notification: { isSupported(): boolean; new (options: NotificationConstructorOptions): NotificationPart };
  nativeImage: { createFromDataURL(dataURL: string): NativeImage };
}

export type WindowPart = Pick<BrowserWindow, 'setTitle' | 'isDestroyed' | 'isMinimized' | 'restore' | 'show' | 'focus'>;

interface AttentionShellOptions {
  electron: ElectronParts;
  platform: NodeJS.Platform;
  /** The bridge, in-process: Pause all and Resume all go through it like the console's clicks. */
  api: Pick<SluiceApi, 'subscriptions.list' | 'subscriptions.setEnabled' | 'on'>;
  /**
   * Runs Pause all or Resume all (`run`, given the bridge to make its changes through) as
   * one operator action: the engine's `bulk`, which records it once in the audit trail, as
   * the tray's. Default: `run` over `api`.
   */
  bulk?: (action: 'pause-all' | 'resume-all', run: (api: PauseApi) => Promise<BulkResult>) => Promise<BulkResult>;
  /** The subscriptions now: the baseline (trips already in it are not announced). */
  views: SubscriptionView[];
  /** What the engine does with events of a tripped subscription (its settings, read when a notification is written). */
  held: () => HeldPolicy;
  /** Where Pause all keeps what it paused (a JSON file beside the database). */
  ledgerPath: string;
  window: () => WindowPart | null;
  quit: () => void;
  log?: (message: string) => void;
  now?: () => number;
}

/** Notifications kept referenced until closed, so their click handler survives garbage collection. */
const MAX_LIVE_NOTIFICATIONS = 20;

export class AttentionShell {
  private readonly watcher: TripWatcher;
  private readonly images: Record<TrayIconVariant, NativeImage>;
  private readonly tray: TrayPart;
  private readonly live = new Set<NotificationPart>();
  private readonly off: () => void;
  private readonly now: () => number;
  private ledger: PauseLedger;
  private timer: NodeJS.Timeout | null = null;
  private busy = false;
  private shown: { model: string; icon: TrayIconVariant | null; badge: number } = { model: '', icon: null, badge: -1 };
  /** Everything shown so far, newest last (tests and the log read it). */
  readonly notifications: AttentionNotification[] = [];

  constructor(private readonly options: AttentionShellOptions) {
    this.now = options.now ?? Date.now;
    const { electron } = options;
    this.images = { normal: trayImage(electron, 'normal'), alert: trayImage(electron, 'alert') };
    this.watcher = new TripWatcher(options.held);
    this.watcher.observe(options.views, this.now());
    this.ledger = reconcile(loadLedger(options.ledgerPath), options.views);
    this.tray = new electron.Tray(this.images.normal);
    this.tray.on('click', () => this.focusWindow());
    this.off = options.api.on('subscriptions.changed', (views) => this.observe(views));
    this.render();
  }

  private observe(views: SubscriptionView[]): void {
    this.watcher.observe(views, this.now());
    const ledger = reconcile(this.ledger, views);
    if (ledger !== this.ledger) this.setLedger(ledger);
    this.schedule();
    this.render();
  }

  private schedule(): void {
    const due = this.watcher.nextDueAt();
    if (due === null || this.timer) return;
    this.timer = setTimeout(
      () => {
        this.timer = null;
        for (const n of this.watcher.takeDue(this.now())) this.notify(n);
        this.schedule();
      },
      Math.max(0, due - this.now()),
    );
  }

  private notify(n: AttentionNotification): void {
    this.notifications.push(n);
    this.options.log?.(`${n.title} — ${n.body.replace(/\n/g, ' ')}`);
    const { Notification } = this.options.electron;
    if (!Notification.isSupported()) return;
    const note = new Notification({ title: n.title, body: n.body, icon: this.images.alert, urgency: 'normal' });
    // Clicking brings the console forward. Selecting the subscription there would need
    // a main → renderer event the bridge contract does not have (yet).
    note.on('click', () => {
      this.focusWindow();
      this.live.delete(note);
    });
    note.on('close', () => this.live.delete(note));
    this.live.add(note);
    if (this.live.size > MAX_LIVE_NOTIFICATIONS) this.live.delete(this.live.values().next().value as NotificationPart);
    note.show();
  }

  /** Tray, badge and window title from the last snapshot; each touched only when it changes. */
  render(): void {
    const views = this.watcher.views;
    const model = trayModel(views, this.ledger.entries.length);
    if (this.busy) for (const item of model.menu) if (item.kind === 'action' && item.action !== 'open' && item.action !== 'quit') item.enabled = false;
    const key = JSON.stringify(model);
    if (key !== this.shown.model) {
      this.shown.model = key;
      this.tray.setToolTip(model.tooltip);
      this.tray.setContextMenu(this.options.electron.Menu.buildFromTemplate(this.menuTemplate(model)));
      // Text beside the icon: macOS only (Electron ignores it elsewhere; it is not called there).
      if (this.options.platform === 'darwin') this.tray.setTitle(model.title);
    }
    if (model.icon !== this.shown.icon) {
      this.shown.icon = model.icon;
      this.tray.setImage(this.images[model.icon]);
    }
    // A badge on the macOS dock and the Unity launcher; other Linux desktops ignore it.
    if (model.badgeCount !== this.shown.badge && (this.options.platform === 'darwin' || this.options.platform === 'linux')) {
      this.shown.badge = model.badgeCount;
      this.options.electron.app.setBadgeCount(model.badgeCount);
    }
    // The window shows the same count; main.ts keeps the page from setting its own title.
    const win = this.options.window();
    if (win && !win.isDestroyed()) win.setTitle(windowTitle(views));
  }

  private menuTemplate(model: TrayModel): MenuItemConstructorOptions[] {
    return model.menu.map((item): MenuItemConstructorOptions => {
      if (item.kind === 'separator') return { type: 'separator' };
      if (item.kind === 'label') return { label: item.label, enabled: false };
      return { label: item.label, enabled: item.enabled, click: () => void this.run(item.action) };
    });
  }

  /** A tray menu choice. Resolves once it is done (tests await it). */
  async run(action: TrayAction): Promise<void> {
    switch (action) {
      case 'open':
        return this.focusWindow();
      case 'quit':
        return this.options.quit();
      case 'pause-all':
      case 'resume-all':
        return this.bulk(action);
    }
  }

  private async bulk(action: 'pause-all' | 'resume-all'): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    this.render();
    let result: BulkResult | null = null;
    try {
      const ledger = this.ledger;
      const run = (api: PauseApi): Promise<BulkResult> => (action === 'pause-all' ? pauseAll(api, ledger) : resumeAll(api, ledger));
      result = await (this.options.bulk ? this.options.bulk(action, run) : run(this.options.api));
      this.setLedger(result.ledger);
    } catch (error) {
      this.options.log?.(`${action} failed: ${(error as Error).message}`);
    } finally {
      this.busy = false;
    }
    if (result) {
      const verb = action === 'pause-all' ? 'paused' : 'resumed';
      this.options.log?.(`${action}: ${verb} ${result.changed.length}${result.failed.length ? `; could not change ${result.failed.map((f) => `${f.name} (${f.message})`).join(', ')}` : ''}`);
    }
    // The engine's own snapshot follows within a flush interval; render now for the menu state.
    const listed = await this.options.api['subscriptions.list']();
    if (listed.ok) this.watcher.observe(listed.value, this.now());
    this.schedule();
    this.render();
  }

  private setLedger(ledger: PauseLedger): void {
    this.ledger = ledger;
    try {
      saveLedger(this.options.ledgerPath, ledger);
    } catch (error) {
      this.options.log?.(`could not save ${this.options.ledgerPath}: ${(error as Error).message}`);
    }
  }

  /** How many subscriptions Resume all would resume now. */
  get resumable(): number {
    return this.ledger.entries.length;
  }

  private focusWindow(): void {
    const win = this.options.window();
    if (!win || win.isDestroyed()) return;
    if (win.isMinimized()) win.restore();
    win.show();
    win.focus();
  }

  close(): void {
    this.off();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (const note of this.live) note.close();
    this.live.clear();
    this.tray.destroy();
  }
}

function trayImage(electron: ElectronParts, variant: TrayIconVariant): NativeImage {
  const { x1, x2 } = TRAY_ICONS[variant];
  const image = electron.nativeImage.createFromDataURL(x1);
  image.addRepresentation({ scaleFactor: 2, dataURL: x2 });
  return image;
}
