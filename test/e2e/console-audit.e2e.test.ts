/**
 * The console's Audit view (issue 18) in Debian's Chromium, over the web host: changes
 * made in the console itself (a subscription created with a canary secret, its secret
 * rotated, a setting changed) appear in it, newest first, as the web console's, with the
 * OS user; the canary is nowhere in the page or in what the view was sent; Verify chain
 * says intact, then names the record edited by hand in the SQLite file; the since filter
 * and Load older page through a trail longer than a page; axe finds no serious
 * violation on the view.
 */
import { userInfo } from 'node:os';
import BetterSqlite3 from 'better-sqlite3';
import type { Browser, Locator, Page, WebSocket as PageSocket } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { SOURCES } from '../../src-main/engine/audit-trail';
import { readTrail } from '../harness/audit';
import { seriousViolations } from '../harness/axe';
import { launchChromium } from '../harness/browser';
import { startConsole, type TestConsole } from '../harness/console';
import { unwrap, type TestEngine } from '../harness/engine';

const CANARY = 'canary-console-audit-5e1f90b7c2a4d863';
const ME = userInfo().username;

let browser: Browser;
let ui: TestConsole;
let t: TestEngine;
let page: Page;

beforeAll(async () => {
  browser = await launchChromium();
});

afterAll(async () => {
  await browser.close();
});

beforeEach(async () => {
  ui = await startConsole(browser);
  ({ t, page } = ui);
});

afterEach(async () => {
  await ui.close();
  expect(ui.problems).toEqual([]);
});

const rows = (): Locator => page.getByTestId('audit-row');
const row = (seq: number): Locator => page.locator(`[data-testid="audit-row"][data-seq="${seq}"]`);

/** Every WebSocket frame the page receives on the sockets it opens from now on. */
function receivedFrames(): string[] {
  const frames: string[] = [];
  const record = (ws: PageSocket): void => void ws.on('framereceived', (f) => frames.push(String(f.payload)));
  page.on('websocket', record);
  return frames;
}

/** Edit the database by hand (another connection), as someone covering their tracks would. */
function byHand(db: string, sql: string, ...params: unknown[]): void {
  const conn = new BetterSqlite3(db);
  try {
    conn.pragma('busy_timeout = 5000');
    conn.prepare(sql).run(...params);
  } finally {
    conn.close();
  }
}

/** The elements whose content is wider than their box (cut off, or scrolled sideways): the start of their text. */
const clippedTexts = (selector: string): Promise<string[]> =>
  page.locator(selector).evaluateAll((els) => els.filter((el) => el.scrollWidth > el.clientWidth).map((el) => (el.textContent ?? '').trim().slice(0, 80)));

/** A time as the browser's datetime-local input takes it: local time, to the second. */
function localInput(iso: string): string {
  const d = new Date(iso);
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

async function openAudit(): Promise<Locator> {
  await page.getByTestId('view-audit').click();
  const view = page.getByTestId('audit-view');
  await view.waitFor();
  return view;
}

describe('the Audit view', () => {
  it("shows the console's own changes, newest first, with no secret; Verify names a record edited in the file", async () => {
    // Offered to a Sluice alone: Deliveries and Audit, no Team.
    expect(await page.getByTestId('views').getByRole('button').allTextContents()).toEqual(['Deliveries', 'Audit']);

    // Made here, in the console: a subscription with the canary as its secret, the secret rotated, a setting.
    await page.getByTestId('new-subscription').click();
    const form = page.getByTestId('subscription-form');
    await form.locator('input[name="name"]').fill('wazuh');
    await form.locator('input[name="url"]').fill(ui.receiver.url);
    await form.locator('input[name="secret"]').fill(`${CANARY}-first`);
    await form.getByTestId('confirm-unprotected').check();
    await form.getByTestId('save').click();
    const dialog = page.getByTestId('secret-dialog');
    await dialog.waitFor();
    await dialog.getByTestId('secret-done').click();
    const subRow = page.locator('[data-testid="subscription-row"][data-name="wazuh"]');
    await subRow.waitFor();
    await subRow.getByTestId('edit').click();
    await form.waitFor();
    await form.locator('input[name="secret"]').fill(`${CANARY}-rotated`);
    await form.getByTestId('save').click();
    await form.waitFor({ state: 'detached' });
    await page.getByTestId('open-settings').click();
    const settings = page.getByTestId('settings-panel');
    await settings.locator('[name="concurrency"]').fill('4');
    await settings.getByTestId('settings-save').click();
    await expect.poll(() => settings.getByTestId('settings-saved').count()).toBe(1);
    await settings.getByTestId('settings-close').click();
    await settings.waitFor({ state: 'detached' });

    // Loaded afresh, every frame seen: what the Audit view is sent.
    const frames = receivedFrames();
    await page.reload();
    await page.getByTestId('bus-state').filter({ hasText: 'BUS CONNECTED' }).waitFor();
    const view = await openAudit();
    expect(await page.getByTestId('view-audit').getAttribute('aria-current')).toBe('page');
    await expect.poll(() => rows().count()).toBe(4);
    // Newest first: the setting, the rotation, the creation, then the harness's own settings at the start.
    expect(await rows().evaluateAll((trs) => trs.map((tr) => [tr.getAttribute('data-seq'), tr.getAttribute('data-action'), tr.getAttribute('data-source')]))).toEqual([
      ['4', 'settings.update', SOURCES.webConsole],
      ['3', 'subscription.rotate_secret', SOURCES.webConsole],
      ['2', 'subscription.create', SOURCES.webConsole],
      ['1', 'settings.update', 'console'],
    ]);
    const cells = async (seq: number): Promise<string[]> => (await row(seq).locator('th, td').allInnerTexts()).map((s) => s.replace(/\s+/g, ' ').trim());
    const [seq, , who, source, action, target, changed] = await cells(4);
    expect([seq, who, source, action, target]).toEqual(['4', ME, SOURCES.webConsole, 'Settings changed', 'settings']);
    expect(changed).toBe('concurrency: 10 → changed to 4');
    expect(await cells(3)).toEqual(expect.arrayContaining(['Secret rotated', 'wazuh', 'secret: changed']));
    expect((await cells(2))[6]).toContain('secret: set');
    expect((await cells(2))[6]).toContain(`url: ${ui.receiver.url}`);
    // The time: shown short, in full (ISO) for its tooltip and its datetime.
    const stored = readTrail(t.dbPath);
    expect(await row(4).locator('time').getAttribute('datetime')).toBe(stored[3]?.at);

    // The canary: not in the page, nor in anything the view was sent.
    expect(await page.content()).not.toContain(CANARY);
    expect(frames.some((f) => f.includes('"seq"'))).toBe(true);
    for (const frame of frames) expect(frame).not.toContain(CANARY);

    // Verify: intact; then a record edited in the file is named, and its row marked.
    const status = view.getByTestId('audit-verify-status');
    expect(await status.getAttribute('role')).toBe('status');
    await view.getByTestId('audit-verify').click();
    await expect.poll(() => status.textContent()).toMatch(/Chain intact: 4 records checked, #1–#4/);
    await t.engine.durable();
    byHand(t.dbPath, 'UPDATE audit SET actor = ? WHERE seq = 3', 'someone-else');
    await view.getByTestId('audit-verify').click();
    await expect.poll(() => status.textContent()).toMatch(/Chain broken at record #3 \(.+, Secret rotated\): its content does not match its hash: it was edited after it was written\. 2 records before it verified\./);
    expect(await status.getAttribute('data-tone')).toBe('bad');
    await view.getByTestId('audit-refresh').click();
    await expect.poll(() => row(3).locator('td').nth(1).innerText()).toBe('someone-else');
    expect(await row(3).getAttribute('data-broken')).toBe('true');
    expect(await row(3).getByTestId('audit-broken-chip').count()).toBe(1);
    expect(await page.getByTestId('audit-broken-chip').count()).toBe(1);

    // No serious accessibility violation on the view, broken record and all.
    expect(await seriousViolations(page)).toEqual([]);
  });

  it('follows the trail while shown: a change made elsewhere appears on top without Refresh, older pages kept', async () => {
    const view = await openAudit();
    await expect.poll(() => rows().count()).toBe(1);
    // Made beside this page (the engine's own contract, as the desktop console or the tray would).
    unwrap(await t.api['settings.update']({ concurrency: 3 }));
    await expect.poll(() => rows().evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-seq'))), { timeout: 10_000 }).toEqual(['2', '1']);
    expect(await rows().first().getAttribute('data-source')).toBe('console');
  });

  it('pages back with Load older, filters by since, and says when there is nothing', async () => {
    const view = await openAudit();
    await expect.poll(() => rows().count()).toBe(1);
    expect(await view.getByTestId('audit-start').textContent()).toBe('The start of the trail');

    // More than a page (100): the newest 100, then the rest below them.
    for (let i = 0; i < 110; i++) unwrap(await t.api['settings.update']({ concurrency: 1 + (i % 2) }));
    await view.getByTestId('audit-refresh').click();
    await expect.poll(() => rows().first().getAttribute('data-seq')).toBe('111');
    expect(await rows().count()).toBe(100);
    expect(await rows().last().getAttribute('data-seq')).toBe('12');
    await view.getByTestId('audit-older').click();
    await expect.poll(() => rows().count()).toBe(111);
    expect(await rows().last().getAttribute('data-seq')).toBe('1');
    expect(await view.getByTestId('audit-older').count()).toBe(0);
    expect(await view.getByTestId('audit-start').textContent()).toBe('The start of the trail');

    // Since a time to the second: three changes made in a later second than all the rest.
    await t.engine.durable();
    const last = readTrail(t.dbPath).at(-1)?.at as string;
    // The input's resolution is a second: the three must start in a second of their own.
    await vi.waitFor(() => expect(new Date().toISOString().slice(0, 19)).not.toBe(last.slice(0, 19)), { timeout: 2_000, interval: 20 });
    for (const concurrency of [5, 6, 7]) unwrap(await t.api['settings.update']({ concurrency }));
    await t.engine.durable();
    const [first] = readTrail(t.dbPath).slice(-3);
    await view.getByTestId('audit-since').fill(localInput(first?.at as string));
    await expect.poll(() => rows().evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-seq')))).toEqual(['114', '113', '112']);
    expect(await view.getByTestId('audit-start').textContent()).toMatch(/^The first change since /);

    // A since in the future: nothing, said so; cleared: the newest page again.
    await view.getByTestId('audit-since').fill(localInput(new Date(Date.now() + 3_600_000).toISOString()));
    await expect.poll(() => view.getByTestId('audit-empty').textContent()).toMatch(/No changes recorded since /);
    expect(await seriousViolations(page)).toEqual([]);
    await view.getByTestId('audit-since-clear').click();
    await expect.poll(() => rows().first().getAttribute('data-seq')).toBe('114');
    expect(await rows().count()).toBe(100);
    expect(await view.getByTestId('audit-since').inputValue()).toBe('');

    // At 1440×900 and 1280×800: the trail scrolls within its panel, the page not at all, and nothing is cut off
    // but the introduction (whole in its tooltip); what changed wraps.
    for (const size of [
      { width: 1440, height: 900 },
      { width: 1280, height: 800 },
    ]) {
      await page.setViewportSize(size);
      const layout = await page.getByTestId('audit-table').evaluate((table) => {
        const root = table.ownerDocument.documentElement;
        const scroller = table.parentElement!;
        return {
          pageScrolls: root.scrollHeight > root.clientHeight || root.scrollWidth > root.clientWidth,
          trailScrolls: scroller.scrollHeight > scroller.clientHeight,
          viewBottom: table.ownerDocument.querySelector('[data-testid="audit-view"]')!.getBoundingClientRect().bottom,
        };
      });
      expect(layout, `${size.width}×${size.height}`).toEqual({ pageScrolls: false, trailScrolls: true, viewBottom: expect.any(Number) as number });
      expect(layout.viewBottom).toBeLessThanOrEqual(size.height);
      expect(await clippedTexts('header > *, [data-testid="audit-view"] .panel-toolbar > :not(.intro), [data-testid="audit-row"] > :not(.what)')).toEqual([]);
      const toolbar = await view.locator('.panel-toolbar').boundingBox();
      // One line of controls: the title, the filter and the buttons side by side.
      expect(toolbar?.height).toBeLessThan(50);
    }
  });
});
