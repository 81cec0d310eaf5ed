/**
 * The analyst's daily loop in the real console: Debian's Chromium, the built renderer
 * served by the web host, a real engine, a real nats-server and real receivers.
 */
import type { Browser, Page, WebSocket as PageSocket } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { envelope, unwrap, type TestEngine } from '../harness/engine';
import { launchChromium } from '../harness/browser';
import { startConsole, type TestConsole } from '../harness/console';
import { startReceiver, status, type Receiver } from '../harness/receiver';
import { sign } from '../../src-main/delivery/wire';

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
  ui = await startConsole(browser, { settings: { circuitThreshold: 3, retrySchedule: [] } });
  ({ t, receiver, page } = ui);
});

afterEach(async () => {
  await ui.close();
  expect(ui.problems).toEqual([]);
});

const row = (name: string) => page.locator(`[data-testid="subscription-row"][data-name="${name}"]`);
const logRows = () => page.getByTestId('delivery-row');

async function createViaForm(name: string, url: string, advanced = '', presets: string[] = []): Promise<string> {
  await page.getByTestId('new-subscription').click();
  const form = page.getByTestId('subscription-form');
  await form.locator('input[name="name"]').fill(name);
  await form.locator('input[name="url"]').fill(url);
  for (const preset of presets) await form.getByTestId(`preset-${preset}`).check();
  if (!presets.includes('AttackerDetail')) await form.getByTestId('preset-AttackerDetail').uncheck();
  await form.locator('textarea[name="patterns"]').fill(advanced);
  // The test engine stores secrets unprotected: the form asks first.
  await form.getByTestId('confirm-unprotected').check();
  await form.getByTestId('save').click();
  const dialog = page.getByTestId('secret-dialog');
  await dialog.waitFor();
  const secret = (await dialog.getByTestId('secret-value').textContent()) ?? '';
  await dialog.getByTestId('secret-done').click();
  await dialog.waitFor({ state: 'detached' });
  await row(name).waitFor();
  await t.engine.busReady();
  return secret;
}

describe('console', () => {
  it('creates a subscription, shows its secret once and never again', async () => {
    const frames: string[] = [];
    const record = (ws: PageSocket) => ws.on('framereceived', (f) => frames.push(String(f.payload)));
    page.on('websocket', record);
    await page.reload();
    await page.getByTestId('bus-state').filter({ hasText: 'BUS CONNECTED' }).waitFor();

    const secret = await createViaForm('wazuh', receiver.url, 'canary.*.triggered', ['AttackerDetail']);
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(await page.getByTestId('secret-dialog').count()).toBe(0);
    const carrying = frames.filter((f) => f.includes(secret));
    expect(carrying).toHaveLength(1);
    expect(carrying[0]).toContain('"subscription"');

    await t.publish('attacker.observed', envelope('first_sighting', { ip: '203.0.113.9' }, 'seen-1'));
    await page.locator('[data-testid="delivery-row"][data-event-id="seen-1"][data-outcome="delivered"]').waitFor();
    await row('wazuh').getByTestId('edit').click();
    await page.getByTestId('subscription-form').getByRole('button', { name: 'Cancel' }).click();
    await page.reload();
    await row('wazuh').waitFor();
    expect(frames.filter((f) => f.includes(secret))).toHaveLength(1);
    expect(await page.content()).not.toContain(secret);
    const signature = receiver.requests[0]?.headers['x-decnet-signature'];
    expect(signature).toMatch(/^sha256=[0-9a-f]{64}$/);
  });

  it('streams deliveries into the live log, newest first, with a detail view', async () => {
    await createViaForm('siem', receiver.url, 'attacker.>');
    for (let i = 0; i < 5; i++) await t.publish('attacker.observed', envelope('x', { i }, `e${i}`));
    await page.locator('[data-testid="delivery-row"][data-event-id="e4"][data-outcome="delivered"]').waitFor();
    await expect.poll(() => logRows().count()).toBe(5);
    expect(await logRows().first().getAttribute('data-event-id')).toBe('e4');
    await logRows().first().click();
    const detail = page.getByTestId('delivery-detail');
    await expect.poll(() => detail.getByTestId('detail-outcome').textContent()).toContain('delivered');
    expect(await detail.getByTestId('detail-body').textContent()).toContain('"id":"e4"');
    await page.keyboard.press('Escape');
    await detail.waitFor({ state: 'detached' });
  });

  it('shows a trip, re-enables with one click, and deliveries resume', async () => {
    receiver.setBehavior(status(500));
    await createViaForm('thehive', receiver.url, 'canary.>');
    for (let i = 0; i < 3; i++) await t.publish('canary.tok1.triggered', envelope('x', { i }));
    const chip = row('thehive').getByTestId('state-chip');
    await expect.poll(() => chip.textContent(), { timeout: 10_000 }).toMatch(/TRIPPED · \d/);
    expect(await chip.getAttribute('title')).toContain('Re-enable');
    await expect.poll(() => page.getByTestId('count-tripped').textContent()).toBe('1 TRIPPED');

    receiver.setBehavior(status(200));
    await row('thehive').getByTestId('reenable').click();
    await expect.poll(() => chip.textContent()).toContain('ACTIVE');
    await expect.poll(() => page.getByTestId('count-tripped').count()).toBe(0);
    expect(await row('thehive').getByTestId('failures').textContent()).toBe('0');
    await t.engine.busReady();
    await t.publish('canary.tok1.triggered', envelope('x', {}, 'back'));
    await page.locator('[data-testid="delivery-row"][data-event-id="back"][data-outcome="delivered"]').waitFor();
  });

  it('pauses from the table and changes matching when patterns are edited', async () => {
    await createViaForm('n8n', receiver.url, 'attacker.>');
    await row('n8n').getByTestId('edit').click();
    const form = page.getByTestId('subscription-form');
    // The stored "attacker.>" is exactly a preset, so the edit form shows it ticked.
    await expect.poll(() => form.getByTestId('preset-AttackerDetail').isChecked()).toBe(true);
    await form.getByTestId('preset-AttackerDetail').uncheck();
    await form.locator('textarea[name="patterns"]').fill('decky.*.state');
    await form.getByTestId('save').click();
    await form.waitFor({ state: 'detached' });
    await expect.poll(() => row('n8n').locator('.chip.pattern').allTextContents()).toEqual(['decky.*.state']);
    await t.engine.busReady();
    await t.publish('attacker.observed', envelope('x', {}, 'old-pattern'));
    await t.publish('decky.web-01.state', envelope('x', {}, 'new-pattern'));
    await page.locator('[data-testid="delivery-row"][data-event-id="new-pattern"]').waitFor();
    expect(await page.locator('[data-testid="delivery-row"][data-event-id="old-pattern"]').count()).toBe(0);

    await row('n8n').getByTestId('pause').click();
    await expect.poll(() => row('n8n').getByTestId('state-chip').textContent()).toContain('PAUSED');
  });

  it('test-fires and shows the result inline', async () => {
    await createViaForm('shuffle', receiver.url, 'system.>');
    await row('shuffle').getByTestId('test-fire').click();
    await expect.poll(() => page.getByTestId('test-result').textContent()).toContain('Test delivered · HTTP 200');
    const body = JSON.parse(receiver.requests[0]!.body.toString()) as { topic: string; type: string };
    expect(body).toMatchObject({ topic: 'test.ping', type: 'test' });
    await page.locator('[data-testid="delivery-row"][data-outcome="test"]').waitFor();
  });

  it('deletes only after confirmation', async () => {
    await createViaForm('splunk', receiver.url, 'ttp.>');
    await row('splunk').getByTestId('delete').click();
    await page.getByTestId('confirm-dialog').getByRole('button', { name: 'Cancel' }).click();
    expect(await row('splunk').count()).toBe(1);
    await row('splunk').getByTestId('delete').click();
    await page.getByTestId('confirm').click();
    await row('splunk').waitFor({ state: 'detached' });
    expect(unwrap(await t.api['subscriptions.list']())).toHaveLength(0);
    await page.getByTestId('subscriptions-empty').waitFor();
  });

  it('filters the log by subscription, outcome and topic', async () => {
    const bad = await startReceiver(status(404));
    try {
      await createViaForm('good', receiver.url, 'attacker.>');
      await createViaForm('bad', bad.url, 'attacker.>\ncanary.>');
      await t.publish('attacker.observed', envelope('x', {}, 'a1'));
      await t.publish('canary.t.triggered', envelope('x', {}, 'c1'));
      await t.waitForFinal(3);
      await expect.poll(() => logRows().count()).toBe(3);

      await page.getByTestId('filter-outcome').selectOption('dead');
      await expect.poll(() => logRows().evaluateAll((rows) => rows.map((r) => r.getAttribute('data-event-id')))).toEqual(['c1', 'a1']);
      await page.getByTestId('filter-outcome').selectOption('');
      await page.getByTestId('filter-topic').fill('canary.>');
      await expect.poll(() => logRows().evaluateAll((rows) => rows.map((r) => r.getAttribute('data-event-id')))).toEqual(['c1']);
      await page.getByTestId('filter-topic').fill('');
      const goodId = unwrap(await t.api['subscriptions.list']()).find((s) => s.name === 'good')!.id;
      await page.getByTestId('filter-subscription').selectOption(goodId);
      await expect.poll(() => logRows().evaluateAll((rows) => rows.map((r) => r.getAttribute('data-outcome')))).toEqual(['delivered']);
    } finally {
      await bad.close();
    }
  });

  it('shows validation errors inline: a bad pattern and a forbidden URL', async () => {
    await page.getByTestId('new-subscription').click();
    const form = page.getByTestId('subscription-form');
    await form.locator('input[name="name"]').fill('metadata');
    await form.getByTestId('confirm-unprotected').check();
    await form.locator('input[name="url"]').fill('http://169.254.169.254/latest/meta-data/');
    await form.getByTestId('save').click();
    await expect.poll(() => form.getByTestId('error-url').textContent()).toContain('169.254.169.254');
    await form.locator('input[name="url"]').fill(receiver.url);
    await form.locator('textarea[name="patterns"]').fill('attacker.>.bad');
    await form.getByTestId('save').click();
    await expect.poll(() => form.getByTestId('error-patterns').textContent()).toContain('attacker.>.bad');
    expect(unwrap(await t.api['subscriptions.list']())).toHaveLength(0);
  });

  it('warns that secrets are unprotected, asks before storing one, and rotates with an overlap', async () => {
    const banner = page.getByTestId('plaintext-secrets-banner');
    expect(await banner.textContent()).toContain('Subscription secrets are stored unprotected on this machine');
    expect(await banner.textContent()).toContain('install and unlock a system key ring');

    await page.getByTestId('new-subscription').click();
    const form = page.getByTestId('subscription-form');
    await form.locator('input[name="name"]').fill('rotating');
    await form.locator('input[name="url"]').fill(receiver.url);
    await form.getByTestId('save').click();
    await expect.poll(() => form.getByTestId('error-unprotected').textContent()).toContain('tick the box');
    expect(unwrap(await t.api['subscriptions.list']())).toHaveLength(0);
    await form.getByTestId('confirm-unprotected').check();
    await form.getByTestId('save').click();
    const dialog = page.getByTestId('secret-dialog');
    await dialog.waitFor();
    const oldSecret = (await dialog.getByTestId('secret-value').textContent()) ?? '';
    await dialog.getByTestId('secret-done').click();
    await row('rotating').waitFor();

    // An edit that keeps the secret stores none: nothing to confirm, nothing to rotate.
    await row('rotating').getByTestId('edit').click();
    await form.waitFor();
    expect(await form.getByTestId('unprotected-confirm').count()).toBe(0);
    expect(await form.getByTestId('keep-previous-hours').count()).toBe(0);
    const newSecret = 'rotated-secret-0123456789';
    await form.locator('input[name="secret"]').fill(newSecret);
    // Confirmed once in this console session: still shown, already ticked.
    expect(await form.getByTestId('confirm-unprotected').isChecked()).toBe(true);
    await form.getByTestId('keep-previous-hours').fill('24');
    await form.getByTestId('save').click();
    await form.waitFor({ state: 'detached' });
    await expect.poll(() => row('rotating').getByTestId('rotation-hint').textContent()).toContain('rotating until');
    const view = unwrap(await t.api['subscriptions.list']()).find((s) => s.name === 'rotating');
    expect(Date.parse(view?.previousSecretUntil ?? '') - Date.now()).toBeGreaterThan(23.9 * 3_600_000);

    await row('rotating').getByTestId('test-fire').click();
    await expect.poll(() => page.getByTestId('test-result').textContent()).toContain('Test delivered');
    const request = receiver.requests.at(-1);
    expect(request?.headers['x-decnet-signature']).toBe(sign(newSecret, request?.body ?? Buffer.alloc(0)));
    expect(request?.headers['x-decnet-signature-previous']).toBe(sign(oldSecret, request?.body ?? Buffer.alloc(0)));
    expect(await page.content()).not.toContain(newSecret);
  });

  it('follows the bus through a nats-server restart', async () => {
    const busState = page.getByTestId('bus-state');
    await t.nats.stop();
    await expect.poll(() => busState.textContent(), { timeout: 10_000 }).toMatch(/BUS (RECONNECTING|CONNECTING)/);
    await t.nats.restart();
    await expect.poll(() => busState.textContent(), { timeout: 15_000 }).toContain('BUS CONNECTED');
  });
});
