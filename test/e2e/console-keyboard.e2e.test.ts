/**
 * The console at the keyboard, in Debian's Chromium over the web host (a real engine,
 * nats-server and receivers): a tripped subscription re-enabled without the mouse, its
 * held events delivered; the log's filter, rows and detail; the help overlay; focus that
 * is always visible and always comes back. Keys only (page.keyboard), no clicks. Set
 * SLUICE_SHOTS=/tmp to keep screenshots.
 */
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { launchChromium } from '../harness/browser';
import { startConsole, type TestConsole } from '../harness/console';
import { envelope, unwrap, type TestEngine } from '../harness/engine';
import { startReceiver, status, type Receiver } from '../harness/receiver';

let browser: Browser;
let ui: TestConsole;
let t: TestEngine;
let flaky: Receiver;
let healthy: Receiver;
let page: Page;

beforeAll(async () => {
  browser = await launchChromium();
});

afterAll(async () => {
  await browser.close();
});

beforeEach(async () => {
  ui = await startConsole(browser, { settings: { circuitThreshold: 2, retrySchedule: [] }, receiver: status(503) });
  ({ t, receiver: flaky, page } = ui);
  healthy = await startReceiver();
});

afterEach(async () => {
  await ui.close();
  await healthy.close();
  expect(ui.problems).toEqual([]);
});

const row = (name: string) => page.locator(`[data-testid="subscription-row"][data-name="${name}"]`);
const logRows = () => page.getByTestId('delivery-row');
const eventIds = (r: Receiver) => r.requests.map((q) => q.headers['x-decnet-event-id'] ?? '');

/** What has focus: its data-testid, and its data-name for a subscription's row. */
const focused = () =>
  page.locator('body').evaluate((body) => {
    const el = body.ownerDocument.activeElement;
    return { testid: el?.getAttribute('data-testid') ?? el?.tagName ?? '', name: el?.getAttribute('data-name') ?? null };
  });

/** The keyboard's row of the log: the listbox's active option. */
const activeDelivery = () =>
  page.getByTestId('delivery-log').evaluate((list) => {
    const id = list.getAttribute('aria-activedescendant');
    const option = id ? list.ownerDocument.getElementById(id) : null;
    return option ? { eventId: option.getAttribute('data-event-id'), selected: option.getAttribute('aria-selected') } : null;
  });

async function create(name: string, url: string): Promise<void> {
  unwrap(await t.api['subscriptions.create']({ name, url, patterns: ['canary.>'] }));
  await row(name).waitFor();
  await t.engine.busReady();
}

async function publish(ids: string[]): Promise<void> {
  for (const id of ids) await t.publish('canary.tok1.triggered', envelope('canary', { token: 'tok1' }, id));
}

/** Set SLUICE_SHOTS=/tmp to keep screenshots. */
async function shot(name: string): Promise<void> {
  const dir = process.env['SLUICE_SHOTS'];
  if (dir) await page.screenshot({ path: join(dir, `sluice-${name}.png`) });
}

async function press(...keys: string[]): Promise<void> {
  for (const key of keys) await page.keyboard.press(key);
}

describe('console at the keyboard', () => {
  it('re-enables a tripped subscription without the mouse, choosing to deliver what it held', async () => {
    await create('siem', healthy.url);
    await create('soar', flaky.url);
    await publish(['trip-1', 'trip-2']);
    await expect.poll(() => row('soar').getByTestId('state-chip').textContent(), { timeout: 10_000 }).toMatch(/TRIPPED/);
    await publish(['held-1', 'held-2', 'held-3']);
    await expect.poll(() => row('soar').getByTestId('held-count').textContent()).toBe('3 HELD');
    flaky.setBehavior(status(200));

    // g s: the subscriptions, their first row selected and focused; j to the tripped one.
    const names = await page.getByTestId('subscription-row').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-name')));
    await press('g', 's');
    expect(await focused()).toEqual({ testid: 'subscription-row', name: names[0] });
    expect(await row(names[0]!).getAttribute('aria-selected')).toBe('true');
    for (let i = 0; i < names.indexOf('soar'); i++) await press('j');
    expect(await focused()).toEqual({ testid: 'subscription-row', name: 'soar' });
    expect(await row('soar').getAttribute('aria-selected')).toBe('true');
    expect(await row('siem').getAttribute('aria-selected')).toBe('false');
    // The arrows too, while the table has focus.
    await press('ArrowUp');
    expect((await focused()).name).toBe(names[Math.max(0, names.indexOf('soar') - 1)]);
    await press('ArrowDown');
    expect(await focused()).toEqual({ testid: 'subscription-row', name: 'soar' });

    // e: the held events' choice, never one of its answers by itself. Discard first, then
    // changing one's mind: Escape cancels the confirmation, and nothing happened.
    await press('e');
    await expect.poll(focused).toEqual({ testid: 'reenable-deliver', name: null });
    expect(await page.getByTestId('reenable-deliver').textContent()).toBe('Re-enable and deliver 3 held events');
    await shot('keyboard-reenable-menu');
    await press('ArrowDown');
    expect((await focused()).testid).toBe('reenable-discard');
    await press('Enter');
    const discard = page.getByTestId('discard-dialog');
    await discard.waitFor();
    await press('Escape');
    await discard.waitFor({ state: 'detached' });
    await expect.poll(focused).toEqual({ testid: 'subscription-row', name: 'soar' });
    expect(await row('soar').getByTestId('state-chip').textContent()).toMatch(/TRIPPED/);
    expect(eventIds(flaky)).toEqual(['trip-1', 'trip-2']);

    // Escape closes the menu too, focus back on the row.
    await press('e');
    await expect.poll(() => focused().then((f) => f.testid)).toBe('reenable-deliver');
    await press('Escape');
    await expect.poll(focused).toEqual({ testid: 'subscription-row', name: 'soar' });
    expect(await page.getByTestId('reenable-deliver').count()).toBe(0);

    // e, Enter: re-enabled, and the held events reach the receiver.
    await press('e');
    await expect.poll(() => focused().then((f) => f.testid)).toBe('reenable-deliver');
    await press('Enter');
    await expect.poll(() => row('soar').getByTestId('state-chip').textContent()).toContain('ACTIVE');
    await flaky.waitForRequests(2 + 3);
    expect(eventIds(flaky).slice(2).sort()).toEqual(['held-1', 'held-2', 'held-3']);
    await expect.poll(focused).toEqual({ testid: 'subscription-row', name: 'soar' });
    expect(await page.locator('dialog[open]').count()).toBe(0);

    // Enter on the row: its detail; Escape: closed, focus back on the row.
    await press('Enter');
    await page.getByTestId('subscription-detail').waitFor();
    await press('Escape');
    await page.getByTestId('subscription-detail').waitFor({ state: 'detached' });
    await expect.poll(focused).toEqual({ testid: 'subscription-row', name: 'soar' });
  });

  it('filters, moves through the log, opens a detail and shows the shortcuts, focus always visible and given back', async () => {
    await create('siem', healthy.url);
    await publish(['ev-1', 'ev-2', 'ev-3']);
    await healthy.waitForRequests(3);
    await expect.poll(() => page.locator('[data-testid="delivery-row"][data-outcome="delivered"]').count()).toBe(3);

    // /: the filter, where keys are text (j is typed, not a move); Escape goes back to the log.
    await press('/');
    expect((await focused()).testid).toBe('filter-topic');
    await press('j');
    expect(await page.getByTestId('filter-topic').inputValue()).toBe('j');
    expect(await activeDelivery()).toBeNull();
    await press('Backspace');
    await press('Escape');
    expect((await focused()).testid).toBe('delivery-log');
    await expect.poll(() => logRows().count()).toBe(3);

    // j/k and the arrows move the log's selected row (newest first); Enter opens it.
    await press('j');
    expect(await activeDelivery()).toEqual({ eventId: 'ev-3', selected: 'true' });
    await press('j', 'j');
    expect(await activeDelivery()).toEqual({ eventId: 'ev-1', selected: 'true' });
    await press('j');
    expect(await activeDelivery()).toEqual({ eventId: 'ev-1', selected: 'true' });
    await press('k');
    expect(await activeDelivery()).toEqual({ eventId: 'ev-2', selected: 'true' });
    await press('ArrowUp', 'ArrowDown');
    expect(await activeDelivery()).toEqual({ eventId: 'ev-2', selected: 'true' });
    expect(await page.locator('[data-testid="delivery-row"][aria-selected="true"]').count()).toBe(1);
    await press('Enter');
    const detail = page.getByTestId('delivery-detail');
    await expect.poll(() => detail.getByTestId('detail-body').textContent()).toContain('"id":"ev-2"');
    await press('Escape');
    await detail.waitFor({ state: 'detached' });
    expect((await focused()).testid).toBe('delivery-log');
    expect(await activeDelivery()).toEqual({ eventId: 'ev-2', selected: 'true' });
    // Closed by its own ✕ (gone with the detail), focus goes back to the log too.
    await press('Enter');
    await detail.getByRole('button', { name: 'Close detail' }).focus();
    await press('Enter');
    await detail.waitFor({ state: 'detached' });
    await expect.poll(() => focused().then((f) => f.testid)).toBe('delivery-log');

    // ?: the shortcuts, Escape closes them and focus comes back to the log.
    await press('?');
    const help = page.getByTestId('help-overlay');
    await help.waitFor();
    await expect.poll(() => focused().then((f) => f.testid)).toBe('help-close');
    expect(await help.getByTestId('help-shortcut').count()).toBe(11);
    expect(await help.textContent()).toContain('Re-enable the selected subscription');
    // Keys are the overlay's while it is open: j moves nothing behind it.
    await press('j');
    expect(await activeDelivery()).toEqual({ eventId: 'ev-2', selected: 'true' });
    // Tab stays inside (a modal dialog).
    await press('Tab', 'Tab');
    expect(await help.evaluate((dialog) => dialog.contains(dialog.ownerDocument.activeElement))).toBe(true);
    await press('Escape');
    await help.waitFor({ state: 'detached' });
    expect((await focused()).testid).toBe('delivery-log');

    // g s / g d move between the table and the log.
    await press('g', 's');
    expect(await focused()).toEqual({ testid: 'subscription-row', name: 'siem' });
    await press('g', 'd');
    expect((await focused()).testid).toBe('delivery-log');

    // Every stop of the page's tab order (the whole cycle) shows a focus ring (2 px, solid), and a dialog
    // opened from a button gives focus back to it.
    const rings: { testid: string; ring: string }[] = [];
    for (let i = 0; i < 25; i++) {
      await press('Tab');
      rings.push(
        await page.locator('body').evaluate((body) => {
          const doc = body.ownerDocument;
          const el = doc.activeElement ?? body;
          const style = doc.defaultView!.getComputedStyle(el);
          return { testid: el.getAttribute('data-testid') ?? el.tagName, ring: `${style.outlineStyle} ${style.outlineWidth}` };
        }),
      );
    }
    // (BODY: the tab order leaving the page for the browser's own controls, and back.)
    expect(rings.filter((r) => r.testid !== 'BODY' && r.ring !== 'solid 2px')).toEqual([]);
    expect(rings.filter((r) => r.testid !== 'BODY').length).toBeGreaterThan(10);
    expect(rings.map((r) => r.testid)).toContain('open-settings');
    while ((await focused()).testid !== 'open-settings') await press('Shift+Tab');
    await press('Enter');
    const settings = page.getByTestId('settings-panel');
    await settings.waitFor();
    await press('Escape');
    await settings.waitFor({ state: 'detached' });
    expect((await focused()).testid).toBe('open-settings');
    // The header's Keys button is the overlay for the mouse; Escape gives focus back to it.
    await press('Tab');
    expect((await focused()).testid).toBe('open-help');
    await press('Enter');
    await help.waitFor();
    await shot('keyboard-help');
    await press('Escape');
    await help.waitFor({ state: 'detached' });
    expect((await focused()).testid).toBe('open-help');
  });
});
