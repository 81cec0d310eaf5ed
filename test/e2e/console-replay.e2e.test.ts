/**
 * Recovery in the real console: dead-letter and held counts on the subscriptions table,
 * re-enable delivering (or, chosen, discarding) held events, replaying dead letters, one delivery, and stored
 * events by pattern and window — Debian's Chromium, the web host, a real engine,
 * nats-server and receivers. Set SLUICE_SHOTS=/tmp to keep screenshots of the dialogs.
 */
import { join } from 'node:path';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { SubscriptionView } from '../../src-main/contract/views';
import { envelope, unwrap, type TestEngine } from '../harness/engine';
import { launchChromium } from '../harness/browser';
import { startConsole, type TestConsole } from '../harness/console';
import { startReceiver, status, type ReceivedRequest, type Receiver } from '../harness/receiver';

let browser: Browser;
let ui: TestConsole;
let t: TestEngine;
let receiver: Receiver;
let page: Page;

beforeAll(async () => {
  browser = await launchChromium();
});

afterAll(async () => {
  await browser.close();
});
beforeEach(async () => {
  ui = await startConsole(browser, { settings: { circuitThreshold: 2, retrySchedule: [] } });
  ({ t, receiver, page } = ui);
});
afterEach(async () => {
  await ui.close();
  expect(ui.problems).toEqual([]);
});

const row = (name: string) => page.locator(`[data-testid="subscription-row"][data-name="${name}"]`);
const logRow = (eventId: string, outcome?: string) =>
  page.locator(`[data-testid="delivery-row"][data-event-id="${eventId}"]${outcome ? `[data-outcome="${outcome}"]` : ''}`);
const replayRows = () => page.locator('[data-testid="delivery-row"][data-replay="true"]');
const eventIds = (requests: ReceivedRequest[]) => requests.map((r) => r.headers['x-decnet-event-id'] ?? '');

async function shot(name: string, target: Locator | Page = page): Promise<void> {
  const dir = process.env['SLUICE_SHOTS'];
  if (dir) await target.screenshot({ path: join(dir, `sluice-${name}.png`) });
}

async function createViaForm(name: string, url: string, patterns: string): Promise<SubscriptionView> {
  await page.getByTestId('new-subscription').click();
  const form = page.getByTestId('subscription-form');
  await form.locator('input[name="name"]').fill(name);
  await form.locator('input[name="url"]').fill(url);
  await form.getByTestId('preset-AttackerDetail').uncheck();
  await form.locator('textarea[name="patterns"]').fill(patterns);
  // The test engine stores secrets unprotected: the form asks first.
  await form.getByTestId('confirm-unprotected').check();
  await form.getByTestId('save').click();
  const secret = page.getByTestId('secret-dialog');
  await secret.getByTestId('secret-done').click();
  await secret.waitFor({ state: 'detached' });
  await row(name).waitFor();
  await t.engine.busReady();
  return unwrap(await t.api['subscriptions.list']()).find((s) => s.name === name) as SubscriptionView;
}

/** Two failed deliveries trip the subscription (threshold 2, no retries). */
async function trip(name: string, ids: [string, string]): Promise<void> {
  receiver.setBehavior(status(500));
  for (const id of ids) await t.publish('canary.tok1.triggered', envelope('canary', { token: 'tok1' }, id));
  await expect.poll(() => row(name).getByTestId('state-chip').textContent(), { timeout: 10_000 }).toMatch(/TRIPPED · \d/);
  await expect.poll(() => row(name).getByTestId('dead-count').textContent()).toBe('2 DEAD');
}

/** Events matched while tripped are held, not sent. */
async function hold(name: string, ids: string[]): Promise<void> {
  for (const id of ids) await t.publish('canary.tok1.triggered', envelope('canary', { token: 'tok1' }, id));
  await expect.poll(() => row(name).getByTestId('held-count').textContent()).toBe(`${ids.length} HELD`);
}

/** A `datetime-local` value for an epoch-ms time, in the browser's own time zone. */
function localInput(ms: number): Promise<string> {
  return page.evaluate((at) => {
    const d = new Date(at);
    const pad = (n: number) => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }, ms);
}

describe('console: held events and replay', () => {
  it('delivers held events on a one-click re-enable, then replays the dead letters: each event reaches the receiver once', async () => {
    await createViaForm('thehive', receiver.url, 'canary.>');
    await trip('thehive', ['ev-1', 'ev-2']);
    expect(await row('thehive').getByTestId('held-count').count()).toBe(0);
    await hold('thehive', ['ev-3', 'ev-4', 'ev-5']);
    expect(receiver.requests).toHaveLength(2);

    // Replays go to enabled subscriptions only: the dialog says so instead of counting.
    await row('thehive').getByTestId('replay-dead').click();
    const refused = page.getByTestId('replay-dialog');
    await expect.poll(() => refused.getByTestId('replay-count').textContent()).toContain('is tripped: re-enable it before replaying to it');
    expect(await refused.getByTestId('replay-confirm').isDisabled()).toBe(true);
    await refused.getByRole('button', { name: 'Cancel' }).click();
    await refused.waitFor({ state: 'detached' });

    // Fixed receiver; one click re-enables it and delivers what it held.
    receiver.setBehavior(status(200));
    const recovered = receiver.requests.length;
    await row('thehive').getByTestId('reenable').click();
    await receiver.waitForRequests(recovered + 3);
    expect(eventIds(receiver.requests.slice(recovered)).sort()).toEqual(['ev-3', 'ev-4', 'ev-5']);
    await expect.poll(() => row('thehive').getByTestId('state-chip').textContent()).toContain('ACTIVE');
    await expect.poll(() => row('thehive').getByTestId('held-count').count()).toBe(0);
    for (const id of ['ev-3', 'ev-4', 'ev-5']) await logRow(id, 'delivered').waitFor();

    // The dead letters: the dialog counts them first.
    expect(await row('thehive').getByTestId('dead-count').textContent()).toBe('2 DEAD');
    await row('thehive').getByTestId('replay-dead').click();
    const dialog = page.getByTestId('replay-dialog');
    await expect.poll(() => dialog.getByTestId('replay-count').getAttribute('data-count')).toBe('2');
    expect(await dialog.getByTestId('replay-count').textContent()).toContain('2 deliveries will be sent again');
    await shot('replay-dead-dialog');
    await dialog.getByTestId('replay-confirm').click();
    await expect.poll(() => dialog.getByTestId('replay-queued').textContent()).toContain('Queued 2 deliveries');
    await dialog.getByRole('button', { name: 'Close' }).click();
    await dialog.waitFor({ state: 'detached' });

    await receiver.waitForRequests(recovered + 5);
    await expect.poll(() => replayRows().count()).toBe(2);
    expect(await replayRows().evaluateAll((rows) => rows.map((r) => r.getAttribute('data-event-id')).sort())).toEqual(['ev-1', 'ev-2']);
    await expect.poll(() => replayRows().evaluateAll((rows) => rows.map((r) => r.getAttribute('data-outcome')))).toEqual(['delivered', 'delivered']);
    expect(await replayRows().first().getByTestId('replay-marker').textContent()).toBe('REPLAY');
    await logRow('ev-1', 'replayed').waitFor();
    await expect.poll(() => row('thehive').getByTestId('dead-count').count()).toBe(0);
    await shot('log-after-replay');

    // Two failed originals, then each of the five events exactly once.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(eventIds(receiver.requests.slice(0, recovered)).sort()).toEqual(['ev-1', 'ev-2']);
    expect(eventIds(receiver.requests.slice(recovered)).sort()).toEqual(['ev-1', 'ev-2', 'ev-3', 'ev-4', 'ev-5']);
  });

  it('discards held events on request: nothing is sent and the held chip goes', async () => {
    await createViaForm('shuffle', receiver.url, 'canary.>');
    await trip('shuffle', ['d-1', 'd-2']);
    await hold('shuffle', ['d-3', 'd-4']);
    receiver.setBehavior(status(200));
    await row('shuffle').getByTestId('reenable-menu').click();
    await row('shuffle').getByTestId('reenable-discard').click();
    const held = page.getByTestId('discard-dialog');
    expect(await held.textContent()).toContain('2 events are held for shuffle');
    await shot('discard-dialog');
    await held.getByRole('button', { name: 'Discard 2 events and re-enable' }).click();
    await held.waitFor({ state: 'detached' });
    await expect.poll(() => row('shuffle').getByTestId('state-chip').textContent()).toContain('ACTIVE');
    await expect.poll(() => row('shuffle').getByTestId('held-count').count()).toBe(0);
    await logRow('d-3', 'discarded').waitFor();
    await logRow('d-4', 'discarded').waitFor();
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(receiver.requests).toHaveLength(2);
    // The dead letters are untouched by the choice.
    expect(await row('shuffle').getByTestId('dead-count').textContent()).toBe('2 DEAD');

    // Without held events, re-enable stays one click.
    await row('shuffle').getByTestId('pause').click();
    await expect.poll(() => row('shuffle').getByTestId('state-chip').textContent()).toContain('PAUSED');
    await row('shuffle').getByTestId('reenable').click();
    await expect.poll(() => row('shuffle').getByTestId('state-chip').textContent()).toContain('ACTIVE');
    expect(await page.getByTestId('discard-dialog').count()).toBe(0);
  });

  it('replays one delivery from the detail panel, and links the replay to its original', async () => {
    await createViaForm('wazuh', receiver.url, 'attacker.>');
    receiver.setBehavior(status(500));
    await t.publish('attacker.observed', envelope('first_sighting', { ip: '203.0.113.9' }, 'one'));
    await logRow('one', 'dead').click();
    const detail = page.getByTestId('delivery-detail');
    await expect.poll(() => detail.getByTestId('detail-outcome').textContent()).toContain('dead');
    const original = Number((await detail.locator('.panel-title').textContent())?.replace(/\D/g, ''));

    receiver.setBehavior(status(200));
    await detail.getByTestId('detail-replay').click();
    const dialog = page.getByTestId('replay-dialog');
    expect(await dialog.locator('h3').textContent()).toBe(`Replay delivery #${original}`);
    await expect.poll(() => dialog.getByTestId('replay-count').getAttribute('data-count')).toBe('1');
    await shot('replay-one-dialog');
    await dialog.getByTestId('replay-confirm').click();
    await expect.poll(() => dialog.getByTestId('replay-queued').textContent()).toContain('Queued 1 delivery');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    // Escape closed the dialog only; the detail stays, now showing the original as replayed.
    await expect.poll(() => detail.getByTestId('detail-outcome').textContent()).toContain('replayed');
    expect(await detail.getByTestId('detail-replay').count()).toBe(0);

    const [, again] = await receiver.waitForRequests(2);
    expect(again?.headers['x-decnet-event-id']).toBe('one');
    await expect.poll(() => row('wazuh').getByTestId('dead-count').count()).toBe(0);
    await expect.poll(() => row('wazuh').getByTestId('failures').textContent()).toBe('0');
    await page.locator('[data-testid="delivery-row"][data-event-id="one"][data-replay="true"][data-outcome="delivered"]').click();
    await expect.poll(() => detail.getByTestId('replay-of').textContent()).toBe(`replay of #${original}`);
    await shot('detail-replay-of');

    // A delivered one can be sent again.
    await detail.getByTestId('detail-replay').click();
    expect(await dialog.locator('h3').textContent()).toMatch(/^Send delivery #\d+ again$/);
    expect(await dialog.textContent()).toContain('delivered already');
    await expect.poll(() => dialog.getByTestId('replay-count').getAttribute('data-count')).toBe('1');
    await dialog.getByRole('button', { name: 'Send again' }).click();
    await dialog.getByTestId('replay-queued').waitFor();
    await dialog.getByRole('button', { name: 'Close' }).click();
    await dialog.waitFor({ state: 'detached' });
    const third = await receiver.waitForRequests(3);
    expect(eventIds(third)).toEqual(['one', 'one', 'one']);

    await detail.getByTestId('replay-of').click();
    await expect.poll(() => detail.locator('.panel-title').textContent()).toBe(`Delivery #${original}`);
  });

  it('replays stored events by pattern and window to a second subscription', async () => {
    const archive = await startReceiver();
    try {
      await createViaForm('siem', receiver.url, 'attacker.>\ncanary.>');
      const target = await createViaForm('archive', archive.url, 'decky.*.state');
      await t.publish('attacker.observed', envelope('x', {}, 'before-window'));
      await logRow('before-window', 'delivered').waitFor();
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      const windowStart = await localInput(Date.now());
      await t.publish('attacker.observed', envelope('x', {}, 'in-1'));
      await t.publish('attacker.scored', envelope('x', {}, 'in-2'));
      await t.publish('canary.tok.triggered', envelope('x', {}, 'other-topic'));
      await t.waitForFinal(4);

      await page.getByTestId('replay-pattern').click();
      const dialog = page.getByTestId('replay-dialog');
      await dialog.getByTestId('replay-pattern-input').fill('attacker.>.');
      await expect.poll(() => dialog.textContent()).toContain("'>' is only allowed as the last token");
      expect(await dialog.getByTestId('replay-confirm').isDisabled()).toBe(true);
      await dialog.getByTestId('replay-pattern-input').fill('attacker.>');
      await dialog.getByTestId('replay-from').fill(windowStart);
      await dialog.getByTestId('replay-to').fill(await localInput(Date.now() + 60_000));
      await dialog.getByTestId('replay-target').selectOption(target.id);
      await expect.poll(() => dialog.getByTestId('replay-count').getAttribute('data-count')).toBe('2');
      await shot('replay-pattern-dialog');
      // The window's start moved back: the earlier event is counted too.
      await dialog.getByTestId('replay-from').fill(await localInput(Date.now() - 3_600_000));
      await expect.poll(() => dialog.getByTestId('replay-count').getAttribute('data-count')).toBe('3');
      await dialog.getByTestId('replay-from').fill(windowStart);
      await expect.poll(() => dialog.getByTestId('replay-count').getAttribute('data-count')).toBe('2');
      await dialog.getByTestId('replay-confirm').click();
      await expect.poll(() => dialog.getByTestId('replay-queued').textContent()).toContain('Queued 2 deliveries');
      await dialog.getByRole('button', { name: 'Close' }).click();

      const got = await archive.waitForRequests(2);
      expect(eventIds(got).sort()).toEqual(['in-1', 'in-2']);
      await expect.poll(() => replayRows().count()).toBe(2);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(archive.requests).toHaveLength(2);
    } finally {
      await archive.close();
    }
  });

  it('sets a retry schedule in the form: default, extended, custom (validated inline)', async () => {
    await page.getByTestId('new-subscription').click();
    const form = page.getByTestId('subscription-form');
    await form.locator('input[name="name"]').fill('splunk');
    await form.locator('input[name="url"]').fill(receiver.url);
    await form.getByTestId('retry-schedule').selectOption('extended');
    expect(await form.getByTestId('retry-summary').textContent()).toContain('5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h');
    await shot('form-retry', form);
    await form.getByTestId('confirm-unprotected').check();
    await form.getByTestId('save').click();
    await page.getByTestId('secret-dialog').getByTestId('secret-done').click();
    await expect.poll(() => row('splunk').getByTestId('retry-hint').textContent()).toBe('extended retries');
    const byName = async () => unwrap(await t.api['subscriptions.list']()).find((s) => s.name === 'splunk');
    expect((await byName())?.retrySchedule).toEqual([5, 300, 1800, 7200, 18000, 36000, 36000]);

    await row('splunk').getByTestId('edit').click();
    expect(await form.getByTestId('retry-schedule').inputValue()).toBe('extended');
    await form.getByTestId('retry-schedule').selectOption('custom');
    await form.getByTestId('retry-custom').fill('1, soon');
    await expect.poll(() => form.getByTestId('error-retrySchedule').textContent()).toContain('"soon" is not a number of seconds');
    await form.getByTestId('save').click();
    expect(await form.isVisible()).toBe(true);
    await form.getByTestId('retry-custom').fill('1, 2.5');
    await form.getByTestId('save').click();
    await form.waitFor({ state: 'detached' });
    await expect.poll(async () => (await byName())?.retrySchedule).toEqual([1, 2.5]);
    expect(await row('splunk').getByTestId('retry-hint').textContent()).toBe('custom retries');

    await row('splunk').getByTestId('edit').click();
    expect(await form.getByTestId('retry-custom').inputValue()).toBe('1, 2.5');
    await form.getByTestId('retry-schedule').selectOption('default');
    await form.getByTestId('save').click();
    await form.waitFor({ state: 'detached' });
    await expect.poll(async () => (await byName())?.retrySchedule).toBeNull();
    expect(await row('splunk').getByTestId('retry-hint').count()).toBe(0);
  });
});
