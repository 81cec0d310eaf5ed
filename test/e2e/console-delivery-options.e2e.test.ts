/**
 * A subscription's delivery options in the real console (Debian's Chromium, the built
 * renderer served by the web host, a real engine, a real nats-server and receiver): a
 * header, a Bearer token as a secret header and a rate set in the form reach the receiver;
 * the secret's value is never shown again, in the page or in any answer of the bridge, and
 * the delivery detail shows it masked. Editing keeps a secret header it does not touch;
 * header names the contract refuses are named at their field and nothing is saved.
 */
import { join } from 'node:path';
import type { Browser, Locator, Page, WebSocket as PageSocket } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MASKED_VALUE } from '../../src-main/contract/subscription-options';
import { launchChromium } from '../harness/browser';
import { startConsole, type TestConsole } from '../harness/console';
import { envelope, unwrap, type TestEngine } from '../harness/engine';
import type { Receiver } from '../harness/receiver';

let browser: Browser;

beforeAll(async () => {
  browser = await launchChromium();
});

afterAll(async () => {
  await browser.close();
});

const TOKEN = 'tok-9f2c41d7e8a0b5';

describe('delivery options in the console', () => {
  let ui: TestConsole;
  let t: TestEngine;
  let receiver: Receiver;
  let page: Page;

  beforeEach(async () => {
    ui = await startConsole(browser, { settings: { retrySchedule: [] } });
    ({ t, receiver, page } = ui);
  });

  afterEach(async () => {
    await ui.close();
    expect(ui.problems).toEqual([]);
  });

  const form = (): Locator => page.getByTestId('subscription-form');
  const options = (): Locator => form().getByTestId('delivery-options');
  const row = (name: string): Locator => page.locator(`[data-testid="subscription-row"][data-name="${name}"]`);
  /** Everything the page holds: its markup, and the values of its fields (a typed value is not in the markup). */
  const pageContents = (): Promise<string> =>
    page.evaluate<string>(
      "document.documentElement.outerHTML + [...document.querySelectorAll('input, textarea, select')].map((e) => '\\n' + e.value).join('')",
    );
  const view = async (name: string) => unwrap(await t.api['subscriptions.list']()).find((s) => s.name === name);

  it('creates a subscription with a header, a Bearer secret header and a rate; the token is never shown again', async () => {
    const frames: string[] = [];
    page.on('websocket', (ws: PageSocket) => ws.on('framereceived', (f) => frames.push(String(f.payload))));
    await page.reload();
    await page.getByTestId('bus-state').filter({ hasText: 'BUS CONNECTED' }).waitFor();

    await page.getByTestId('new-subscription').click();
    await form().locator('input[name="name"]').fill('hive');
    await form().locator('input[name="url"]').fill(receiver.url);
    // A new subscription starts at the defaults, the options folded away.
    expect(await options().getAttribute('open')).toBeNull();
    expect(await options().getByTestId('options-summary').textContent()).toBe('defaults');
    await options().locator('summary').click();

    await options().getByTestId('header-add').click();
    await options().locator('input[name="headers[0].name"]').fill('X-Tenant');
    await options().locator('input[name="headers[0].value"]').fill('blue');
    await options().getByTestId('auth-scheme').selectOption('bearer');
    await options().getByTestId('auth-credential').fill(TOKEN);
    await options().getByTestId('auth-apply').click();
    // The shortcut made a secret Authorization header; its value is in a password field only.
    expect(await options().getByTestId('auth-credential').inputValue()).toBe('');
    const secretName = options().locator('input[name="secretHeaders[0].name"]');
    expect(await secretName.inputValue()).toBe('Authorization');
    expect(await options().locator('input[name="secretHeaders[0].value"]').getAttribute('type')).toBe('password');
    await options().locator('input[name="rate"]').fill('5');
    expect(await options().getByTestId('options-summary').textContent()).toContain('1 header · 1 secret header · 5/s');
    if (process.env['SLUICE_SHOTS']) await form().screenshot({ path: join(process.env['SLUICE_SHOTS'], 'sluice-delivery-options.png') });

    // The probe sees a typed value (so its "not there" below means something).
    expect(await pageContents()).toContain(`Bearer ${TOKEN}`);

    await form().getByTestId('confirm-unprotected').check();
    await form().getByTestId('save').click();
    const secretDialog = page.getByTestId('secret-dialog');
    await secretDialog.getByTestId('secret-done').click();
    await row('hive').waitFor();

    const saved = await view('hive');
    expect(saved).toMatchObject({ headers: [{ name: 'X-Tenant', value: 'blue' }], secretHeaderNames: ['Authorization'], rate: 5, burst: null });
    expect(JSON.stringify(unwrap(await t.api['subscriptions.list']()))).not.toContain(TOKEN);

    await t.engine.busReady();
    await t.publish('attacker.observed', envelope('x', {}, 'with-headers'));
    const [request] = await receiver.waitForRequests(1);
    expect(request!.headers['x-tenant']).toBe('blue');
    expect(request!.headers['authorization']).toBe(`Bearer ${TOKEN}`);

    // The delivery detail shows the request's headers as recorded: the secret one masked.
    await page.locator('[data-testid="delivery-row"][data-event-id="with-headers"][data-outcome="delivered"]').click();
    const detail = page.getByTestId('delivery-detail');
    const auth = detail.locator('[data-testid="request-header"][data-name="Authorization"]');
    await auth.waitFor();
    expect(await auth.textContent()).toBe(`Authorization: ${MASKED_VALUE}`);
    const masked = auth.getByTestId('masked-value');
    expect(await masked.getAttribute('title')).toBe('secret header: value not kept');
    expect(await detail.locator('[data-testid="request-header"][data-name="X-Tenant"]').textContent()).toBe('X-Tenant: blue');
    expect(await detail.locator('[data-testid="request-header"][data-name="X-Tenant"]').getByTestId('masked-value').count()).toBe(0);

    // The subscription detail: the options that are not the default, the secret by name.
    await row('hive').getByTestId('open-subscription').click();
    const subDetail = page.getByTestId('subscription-detail');
    expect(await subDetail.getByTestId('detail-option-headers').textContent()).toBe('X-Tenant: blue');
    expect(await subDetail.getByTestId('detail-option-rate').textContent()).toContain('5 events per second');
    expect(await subDetail.getByTestId('detail-secret-headers').textContent()).toContain('Authorization');
    expect(await subDetail.getByTestId('detail-option-caFile').count()).toBe(0);

    // Nothing the console was sent or shows carries the token.
    expect(await pageContents()).not.toContain(TOKEN);
    expect(frames.length).toBeGreaterThan(0);
    expect(frames.filter((f) => f.includes(TOKEN))).toEqual([]);
  });

  it('edits: keeps the secret header, removes the plain one; refused header names are named at their field and nothing is saved', async () => {
    const created = unwrap(
      await t.api['subscriptions.create']({
        name: 'siem',
        url: receiver.url,
        patterns: ['attacker.>'],
        headers: [{ name: 'X-Tenant', value: 'blue' }],
        secretHeaders: [{ name: 'Authorization', value: `Bearer ${TOKEN}` }],
      }),
    ).subscription;
    await row('siem').getByTestId('edit').click();
    // Options set: open at once; the secret header by name, its value nowhere.
    await expect.poll(() => options().getAttribute('open')).toBe('');
    const secretRow = options().locator('[data-testid="secret-header-row"][data-name="Authorization"]');
    expect(await secretRow.getByTestId('secret-header-state').textContent()).toBe('SET');
    expect(await pageContents()).not.toContain(TOKEN);

    // A name with a space: refused at its field, nothing sent.
    await options().getByTestId('header-add').click();
    const name1 = options().locator('input[name="headers[1].name"]');
    await name1.fill('X Bad');
    await options().locator('input[name="headers[1].value"]').fill('v');
    await form().getByTestId('save').click();
    await expect.poll(() => options().getByTestId('error-headers-1').textContent()).toContain('"X Bad" is not a valid header name');
    expect(await name1.getAttribute('aria-invalid')).toBe('true');
    expect(await options().locator('input[name="headers[0].name"]').getAttribute('aria-invalid')).toBe('false');

    // A header Sluice sets itself: refused too.
    await name1.fill('Content-Type');
    expect(await options().getByTestId('error-headers-1').count()).toBe(0);
    await form().getByTestId('save').click();
    await expect.poll(() => options().getByTestId('error-headers-1').textContent()).toBe('Content-Type is set by Sluice and cannot be replaced');
    expect(await name1.getAttribute('aria-invalid')).toBe('true');
    expect(await form().isVisible()).toBe(true);
    expect(await view('siem')).toMatchObject({ headers: [{ name: 'X-Tenant', value: 'blue' }], secretHeaderNames: ['Authorization'], updatedAt: created.updatedAt });

    // Remove both plain headers; the secret one is left as it is.
    await options().getByTestId('header-remove').nth(1).click();
    await options().getByTestId('header-remove').first().click();
    expect(await options().getByTestId('header-row').count()).toBe(0);
    await form().getByTestId('save').click();
    await form().waitFor({ state: 'detached' });
    expect(await view('siem')).toMatchObject({ headers: [], secretHeaderNames: ['Authorization'] });

    await t.engine.busReady();
    await t.publish('attacker.observed', envelope('x', {}, 'after-edit'));
    const [request] = await receiver.waitForRequests(1);
    expect(request!.headers['authorization']).toBe(`Bearer ${TOKEN}`);
    expect(request!.headers['x-tenant']).toBeUndefined();
    expect(await pageContents()).not.toContain(TOKEN);
  });

  it('replaces and removes a secret header; a burst without a rate is refused at its field', async () => {
    unwrap(
      await t.api['subscriptions.create']({
        name: 'elk',
        url: receiver.url,
        patterns: ['attacker.>'],
        secretHeaders: [
          { name: 'Authorization', value: 'ApiKey old' },
          { name: 'X-Api-Key', value: 'drop-me' },
        ],
      }),
    );
    await row('elk').getByTestId('edit').click();
    await expect.poll(() => options().getAttribute('open')).toBe('');
    await options().locator('[data-testid="secret-header-row"][data-name="X-Api-Key"]').getByTestId('secret-header-remove').click();
    await options().getByTestId('auth-scheme').selectOption('apikey');
    await options().getByTestId('auth-credential').fill('new-key');
    await options().getByTestId('auth-apply').click();
    // The stored Authorization is now being replaced: a password field, no second row.
    expect(await options().getByTestId('secret-header-row').count()).toBe(1);
    expect(await options().locator('input[name="secretHeaders[0].value"]').getAttribute('type')).toBe('password');

    await options().locator('input[name="burst"]').fill('10');
    await form().getByTestId('save').click();
    await expect.poll(() => options().getByTestId('error-burst').textContent()).toBe('a burst goes with a rate limit: set the rate too');
    expect(await options().locator('input[name="burst"]').getAttribute('aria-invalid')).toBe('true');
    expect((await view('elk'))?.secretHeaderNames).toEqual(['Authorization', 'X-Api-Key']);

    await options().locator('input[name="rate"]').fill('20');
    await form().getByTestId('save').click();
    await form().waitFor({ state: 'detached' });
    expect(await view('elk')).toMatchObject({ secretHeaderNames: ['Authorization'], rate: 20, burst: 10 });
    await t.engine.busReady();
    await t.publish('attacker.observed', envelope('x', {}, 'replaced'));
    const [request] = await receiver.waitForRequests(1);
    expect(request!.headers['authorization']).toBe('ApiKey new-key');
    expect(request!.headers['x-api-key']).toBeUndefined();
  });
});

describe('the delivery options on a 1280×800 screen', () => {
  let ui: TestConsole;

  beforeEach(async () => {
    ui = await startConsole(browser, { viewport: { width: 1280, height: 800 } });
  });

  afterEach(async () => {
    await ui.close();
    expect(ui.problems).toEqual([]);
  });

  it('keeps Save in view and the pacing fields in line with the options open', async () => {
    const { page } = ui;
    await page.getByTestId('new-subscription').click();
    const form = page.getByTestId('subscription-form');
    await form.getByTestId('delivery-options').locator('summary').click();
    // The fields scroll under the title and the buttons: Save is in view at the top and at the bottom of the form.
    const saveInView = async (): Promise<boolean> => {
      const box = await form.getByTestId('save').boundingBox();
      return box !== null && box.y >= 0 && box.y + box.height <= 800;
    };
    await form.locator('input[name="name"]').scrollIntoViewIfNeeded();
    expect(await saveInView()).toBe(true);
    await form.getByTestId('options-pacing').scrollIntoViewIfNeeded();
    expect(await saveInView()).toBe(true);
    const tops = await Promise.all(['rate', 'burst', 'concurrency'].map(async (n) => (await form.locator(`input[name="${n}"]`).boundingBox())?.y));
    expect(new Set(tops).size).toBe(1);
    if (process.env['SLUICE_SHOTS']) await page.screenshot({ path: join(process.env['SLUICE_SHOTS'], 'sluice-delivery-options-1280.png') });
  });
});
