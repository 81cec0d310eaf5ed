/**
 * Held events in the real console: Re-enable is one click and delivers what was held,
 * discarding is a confirmed choice on the same control, the held count is live, and the
 * log summarises a subscription's held events in one live line instead of a row each —
 * Debian's Chromium, the web host, a real engine, nats-server and receivers. Set
 * SLUICE_SHOTS=/tmp to keep screenshots.
 */
import { join } from 'node:path';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { SubscriptionView } from '../../src-main/contract/views';
import { envelope, unwrap, type TestEngine } from '../harness/engine';
import { launchChromium } from '../harness/browser';
import { startConsole, type TestConsole } from '../harness/console';
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
  ui = await startConsole(browser, { settings: { circuitThreshold: 2, retrySchedule: [] }, receiver: status(500) });
  ({ t, receiver: flaky, page } = ui);
  healthy = await startReceiver();
});

afterEach(async () => {
  await ui.close();
  await healthy.close();
  expect(ui.problems).toEqual([]);
});

const row = (name: string) => page.locator(`[data-testid="subscription-row"][data-name="${name}"]`);
const logRows = (outcome?: string) => page.locator(`[data-testid="delivery-row"]${outcome ? `[data-outcome="${outcome}"]` : ''}`);
const summary = (name: string) => page.locator(`[data-testid="held-summary"][data-name="${name}"]`);
const eventIds = (r: Receiver) => r.requests.map((q) => q.headers['x-decnet-event-id'] ?? '');

async function shot(name: string, target: Locator | Page = page): Promise<void> {
  const dir = process.env['SLUICE_SHOTS'];
  if (dir) await target.screenshot({ path: join(dir, `sluice-${name}.png`) });
}

async function create(name: string, url: string): Promise<SubscriptionView> {
  const { subscription } = unwrap(await t.api['subscriptions.create']({ name, url, patterns: ['canary.>'] }));
  await t.engine.busReady();
  await row(name).waitFor();
  return subscription;
}

/** Events for both subscriptions, without waiting for each. */
async function publish(ids: string[]): Promise<void> {
  for (const id of ids) t.publisher.publish('canary.tok1.triggered', new TextEncoder().encode(JSON.stringify(envelope('canary', { token: 'tok1' }, id))));
  await t.publisher.flush();
}

/** Two failed deliveries trip it (threshold 2, no retries). */
async function trip(name: string): Promise<void> {
  await publish(['trip-1', 'trip-2']);
  await expect.poll(() => row(name).getByTestId('state-chip').textContent(), { timeout: 10_000 }).toMatch(/TRIPPED · \d/);
}

const range = (prefix: string, from: number, to: number) => Array.from({ length: to - from }, (_, i) => `${prefix}-${from + i}`);

describe('console: held events', () => {
  it('re-enables with one click and delivers what was held; the held count is live', async () => {
    await create('soar', flaky.url);
    await trip('soar');
    await publish(range('h', 0, 3));
    await expect.poll(() => row('soar').getByTestId('held-count').textContent()).toBe('3 HELD');
    // Live: more events arrive and the count follows, without a reload.
    await publish(range('h', 3, 7));
    await expect.poll(() => row('soar').getByTestId('held-count').textContent()).toBe('7 HELD');
    expect(await row('soar').getByTestId('reenable').getAttribute('title')).toContain('its 7 held events are delivered, oldest first');

    // The receiver is fixed: one click, no dialog.
    flaky.setBehavior(status(200));
    await row('soar').getByTestId('reenable').click();
    await expect.poll(() => row('soar').getByTestId('state-chip').textContent()).toContain('ACTIVE');
    expect(await page.locator('dialog[open]').count()).toBe(0);
    await flaky.waitForRequests(2 + 7);
    expect(eventIds(flaky).slice(2).sort()).toEqual(range('h', 0, 7).sort());
    await expect.poll(() => row('soar').getByTestId('held-count').count()).toBe(0);
    await expect.poll(() => logRows('delivered').count()).toBe(7);
    expect(await summary('soar').count()).toBe(0);
  });

  it('re-enable and discard is a confirmed choice on the same control', async () => {
    await create('shuffle', flaky.url);
    await trip('shuffle');
    await publish(range('d', 0, 2));
    await expect.poll(() => row('shuffle').getByTestId('held-count').textContent()).toBe('2 HELD');

    await row('shuffle').getByTestId('reenable-menu').click();
    await shot('reenable-menu');
    await row('shuffle').getByTestId('reenable-discard').click();
    const dialog = page.getByTestId('discard-dialog');
    await dialog.waitFor();
    expect(await dialog.textContent()).toContain('2 events are held for shuffle and will never be sent');
    // The count in the dialog is live too.
    await publish(['d-2']);
    await expect.poll(() => dialog.getByTestId('discard-confirm').textContent()).toContain('Discard 3 events and re-enable');
    await shot('discard-dialog');
    // Cancel changes nothing.
    await dialog.getByTestId('dialog-cancel').click();
    await dialog.waitFor({ state: 'detached' });
    expect(await row('shuffle').getByTestId('state-chip').textContent()).toMatch(/TRIPPED/);

    flaky.setBehavior(status(200));
    await row('shuffle').getByTestId('reenable-menu').click();
    await row('shuffle').getByTestId('reenable-discard').click();
    await dialog.getByTestId('discard-confirm').click();
    await dialog.waitFor({ state: 'detached' });
    await expect.poll(() => row('shuffle').getByTestId('state-chip').textContent()).toContain('ACTIVE');
    await expect.poll(() => row('shuffle').getByTestId('held-count').count()).toBe(0);
    await expect.poll(() => logRows('discarded').count()).toBe(3);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(eventIds(flaky)).toEqual(['trip-1', 'trip-2']);

    // Nothing held: no menu, Re-enable alone.
    await row('shuffle').getByTestId('pause').click();
    await expect.poll(() => row('shuffle').getByTestId('state-chip').textContent()).toContain('PAUSED');
    expect(await row('shuffle').getByTestId('reenable-menu').count()).toBe(0);
  });

  it('summarises a tripped subscription’s held events in one live line; the healthy one’s rows stay in view', async () => {
    await create('soar (flaky)', flaky.url);
    await create('siem', healthy.url);
    await trip('soar (flaky)');
    await healthy.waitForRequests(2);

    await publish(range('flood', 0, 40));
    await expect.poll(() => summary('soar (flaky)').getAttribute('data-count')).toBe('40');
    expect(await summary('soar (flaky)').getByTestId('held-summary-text').textContent()).toMatch(/40 events held since .+ · tripped/);
    await publish(range('flood', 40, 120));
    // The count rises in place: still one line.
    await expect.poll(() => summary('soar (flaky)').getAttribute('data-count')).toBe('120');
    expect(await page.getByTestId('held-summary').count()).toBe(1);
    await healthy.waitForRequests(2 + 120);
    await expect.poll(() => logRows('delivered').first().getAttribute('data-event-id')).toBe('flood-119');
    // No held row in the log; the healthy subscription's deliveries fill it.
    expect(await logRows('held').count()).toBe(0);
    const shown = await logRows().evaluateAll((rows) => rows.map((r) => r.querySelector('[data-col="subscription"]')?.textContent));
    expect(shown.length).toBeGreaterThan(10);
    expect(new Set(shown.slice(0, 10))).toEqual(new Set(['siem']));
    await shot('held-summary');

    // The rows are one filter away.
    await summary('soar (flaky)').getByTestId('held-summary-rows').click();
    expect(await page.getByTestId('filter-outcome').inputValue()).toBe('held');
    await expect.poll(() => logRows('held').count()).toBeGreaterThan(10);
    expect(await logRows().evaluateAll((rows) => rows.every((r) => r.getAttribute('data-outcome') === 'held'))).toBe(true);
    expect(await page.getByTestId('held-summary').count()).toBe(0);

    // Back to all outcomes: the line again; its Re-enable is one click and delivers them.
    await page.getByTestId('filter-outcome').selectOption('');
    await page.getByTestId('filter-subscription').selectOption('');
    await expect.poll(() => summary('soar (flaky)').getAttribute('data-count')).toBe('120');
    flaky.setBehavior(status(200));
    await summary('soar (flaky)').getByTestId('held-summary-reenable').click();
    await expect.poll(() => row('soar (flaky)').getByTestId('state-chip').textContent()).toContain('ACTIVE');
    await flaky.waitForRequests(2 + 120, 15_000);
    await expect.poll(() => page.getByTestId('held-summary').count()).toBe(0);
  });
});
