/**
 * The Electron shell: one hardened window over the engine. The only folder that
 * imports `electron`; everything it starts runs (and is tested) under plain Node.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { app, BrowserWindow, dialog, ipcMain, Menu, nativeImage, Notification, session, shell, Tray } from 'electron';
import { Engine } from '../engine/engine';
import { ClaimError, takeoverNote } from '../store/claim';
import { SOURCES } from '../engine/audit-trail';
import { createInProcessClient } from '../engine/in-process-client';
import { PRODUCT } from '../version';
import { AttentionShell } from './attention-shell';
import { forwardEvent, registerIpc, trustedSender } from './ipc';
import { chooseOsCipher } from './safe-storage-cipher';

const RENDERER_INDEX = join(__dirname, '../renderer/index.html');
const RENDERER_URL = pathToFileURL(RENDERER_INDEX).href;
const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

let engine: Engine | null = null;
let window: BrowserWindow | null = null;
let attention: AttentionShell | null = null;

const isAppUrl = (url: string): boolean => url === RENDERER_URL || url.startsWith(`${RENDERER_URL}#`);

function createWindow(): BrowserWindow {
  const win = new BrowserWindow({
    width: 1440,
    height: 900,
    minWidth: 960,
    minHeight: 600,
    title: PRODUCT,
    backgroundColor: '#0d1117',
    show: false,
    webPreferences: {
      preload: join(__dirname, '../preload/index.js'),
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
      spellcheck: false,
      // Middle-click (auxclick) on a link would ask for a new window; the open handler
      // denies it anyway, this removes the path (Electronegativity AUXCLICK_JS_CHECK).
      disableBlinkFeatures: 'Auxclick',
    },
  });
  win.once('ready-to-show', () => win.show());
  // The title is the main process's (the tripped count, same as the tray), not the page's.
  win.on('page-title-updated', (event) => event.preventDefault());
  // The console never navigates and never opens windows; links go to the OS browser
  // only when they are plain https URLs.
  win.webContents.on('will-navigate', (event) => event.preventDefault());
  win.webContents.setWindowOpenHandler(({ url }) => {
    if (/^https:\/\/[^\s]+$/.test(url)) void shell.openExternal(url);
    return { action: 'deny' };
  });
  void win.loadFile(RENDERER_INDEX);
  return win;
}

async function start(): Promise<void> {
  session.defaultSession.setPermissionRequestHandler((_contents, _permission, callback) => callback(false));
  session.defaultSession.setPermissionCheckHandler(() => false);
  session.defaultSession.webRequest.onHeadersReceived((details, callback) => {
    callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [CSP] } });
  });

  // Secrets at rest: the OS key store, or (Linux without a key ring) plain text, said
  // in the console's banner and confirmed by the analyst before each secret is stored.
  const { cipher, reason } = chooseOsCipher();
  if (reason) console.warn(`[sluice] subscription secrets are stored unprotected: ${reason}`);
  // A `sluice run` or `npm run serve` on the app's database holds it: the start fails
  // with a ClaimError naming it, shown below.
  // The app's own folder (Electron makes it too): the store never creates a missing one.
  mkdirSync(app.getPath('userData'), { recursive: true });
  engine = await Engine.start({ dbPath: join(app.getPath('userData'), 'sluice.db'), command: `${PRODUCT} app`, source: SOURCES.console, cipher });
  if (engine.tookOverFrom) console.log(`[sluice] ${takeoverNote(engine.tookOverFrom)}`);
  if (engine.secretsUpgraded > 0) console.log(`[sluice] encrypted ${engine.secretsUpgraded} plain-text secret(s) with the OS key store`);
  // Export: the main process asks where (the save dialog) and writes the file itself.
  const exportTo = (suggestedName: string): Promise<string | null> =>
    dialog
      .showSaveDialog({ title: 'Export deliveries', defaultPath: join(app.getPath('downloads'), suggestedName) })
      .then((r) => (r.canceled || !r.filePath ? null : r.filePath));
  const handlers = { ...engine.handlers, 'deliveries.export': engine.fileExport(exportTo) };
  registerIpc(ipcMain, handlers, trustedSender(isAppUrl, () => window?.webContents ?? null), (err, call) =>
    console.error(`[sluice] ${call} failed`, err),
  );
  engine.hub.subscribe((event, payload) => forwardEvent(window?.webContents ?? null, event, payload));
  window = createWindow();
  window.on('closed', () => (window = null));
  // Trips announced outside the console: notification, tray, badge, window title.
  const running = engine;
  attention = new AttentionShell({
    electron: { app, Tray, Menu, Notification, nativeImage },
    platform: process.platform,
    api: createInProcessClient(running, (err, call) => console.error(`[sluice] ${call} failed`, err)),
    // Pause all / Resume all: one record each in the audit trail, the tray's.
    bulk: (action, run) =>
      running.bulk(SOURCES.tray, action === 'pause-all' ? 'pause_all' : 'resume_all', run, (err, call) => console.error(`[sluice] ${call} failed`, err)),
    views: running.subscriptionViews(),
    held: () => running.effectiveSettings(),
    ledgerPath: join(app.getPath('userData'), 'pause-all.json'),
    window: () => window,
    quit: () => app.quit(),
    log: (message) => console.log(`[sluice] ${message}`),
  });
}

if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  app.on('second-instance', () => {
    if (!window) return;
    if (window.isMinimized()) window.restore();
    window.focus();
  });
  app.on('web-contents-created', (_event, contents) => {
    contents.on('will-attach-webview', (event) => event.preventDefault());
  });
  app.on('window-all-closed', () => app.quit());
  let stopping = false;
  app.on('before-quit', (event) => {
    if (!engine || stopping) return;
    // Finish in-flight deliveries and close the database before the process ends.
    event.preventDefault();
    stopping = true;
    attention?.close();
    attention = null;
    void engine.stop().finally(() => {
      engine = null;
      app.quit();
    });
  });
  void app
    .whenReady()
    .then(start)
    .catch((error: unknown) => {
      // E.g. secrets encrypted by a key store this session cannot open, or another engine
      // on this database: say so, change nothing.
      const message = error instanceof Error ? error.message : String(error);
      dialog.showErrorBox('Sluice cannot start', error instanceof ClaimError ? `${message}. Stop that engine first, then start Sluice again.` : message);
      app.exit(error instanceof ClaimError ? 2 : 1);
    });
}
