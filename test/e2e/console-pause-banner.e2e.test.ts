/**
 * Two things the README promises about the console: the live log's Pause holds the view
 * while deliveries go on, and a banner names every subscription that delivers over plain
 * http:// — Debian's Chromium, the web host, a real engine, nats-server and a receiver.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { envelope, unwrap, type TestEngine } from '../harness/engine';
import { launchChromium } from '../harness/browser';
import { startConsole, type TestConsole } from '../harness/console';
import type { Receiver } from '../harness/receiver';

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
  ui = await startConsole(browser, { settings: { retrySchedule: [] } });
  ({ t, receiver, page } = ui);
});
afterEach(async () => {
  await ui.close();
  expect(ui.problems).toEqual([]);
});

const row = (name: string) => page.locator(`[data-testid="subscription-row"][data-name="${name}"]`);
const logRows = () => page.getByTestId('delivery-row');
const logRow = (eventId: string, outcome?: string) =>
  page.locator(`[data-testid="delivery-row"][data-event-id="${eventId}"]${outcome ? `[data-outcome="${outcome}"]` : ''}`);

async function subscribe(name: string, url: string): Promise<string> {
  const { subscription } = unwrap(await t.api['subscriptions.create']({ name, url, presets: [], patterns: ['attacker.>'], enabled: true }));
  await row(name).waitFor();
  await t.engine.busReady();
  return subscription.id;
}

describe('the live log: Pause', () => {
  it('holds the view while deliveries go on, counts what came meanwhile, and Resume shows it', async () => {
    await subscribe('siem', receiver.url);
    await t.publish('attacker.observed', envelope('x', {}, 'before'));
    await logRow('before', 'delivered').waitFor();

    const pause = page.getByTestId('pause-log');
    await pause.click();
    expect(await pause.getAttribute('aria-pressed')).toBe('true');
    expect(await pause.textContent()).toContain('Resume');

    await t.publish('attacker.observed', envelope('x', {}, 'during-1'));
    await t.publish('attacker.observed', envelope('x', {}, 'during-2'));
    await receiver.waitForRequests(3);
    await t.waitForFinal(3);
    // The console has heard of both (each counted once, pending then delivered) and shows neither.
    await expect.poll(() => page.getByTestId('missed').textContent()).toBe('2 new');
    expect(await logRow('during-1').count()).toBe(0);
    expect(await logRow('during-2').count()).toBe(0);
    expect(await logRows().evaluateAll((rows) => rows.map((r) => r.getAttribute('data-event-id')))).toEqual(['before']);

    await pause.click();
    await logRow('during-2', 'delivered').waitFor();
    await logRow('during-1', 'delivered').waitFor();
    expect(await logRows().evaluateAll((rows) => rows.map((r) => r.getAttribute('data-event-id')))).toEqual(['during-2', 'during-1', 'before']);
    expect(await page.getByTestId('missed').count()).toBe(0);
    expect(await pause.getAttribute('aria-pressed')).toBe('false');
    expect(await pause.textContent()).toContain('Pause');

    // Live again: the next delivery streams in without a click.
    await t.publish('attacker.observed', envelope('x', {}, 'after'));
    await logRow('after', 'delivered').waitFor();
  });

  it('shows on Resume the new state of rows that changed while it was paused', async () => {
    // What the page hears from the engine: to know the update reached it while paused.
    const frames: string[] = [];
    page.on('websocket', (ws) => ws.on('framereceived', (f) => frames.push(String(f.payload))));
    await page.reload();
    await page.getByTestId('bus-state').filter({ hasText: 'BUS CONNECTED' }).waitFor();
    // The attempt hangs until the test lets it answer: the row shows pending meanwhile.
    let answer: () => void = () => {};
    const answered = new Promise<void>((resolve) => (answer = resolve));
    receiver.setBehavior(async (_req, res) => {
      await answered;
      res.writeHead(200).end('ok');
    });
    await subscribe('siem', receiver.url);
    await t.publish('attacker.observed', envelope('x', {}, 'slow'));
    await receiver.waitForRequests(1);
    await logRow('slow', 'pending').waitFor();

    await page.getByTestId('pause-log').click();
    answer();
    await t.waitForFinal(1);
    const heard = (f: string) => f.includes('"deliveries.appended"') && f.includes('"eventId":"slow"') && f.includes('"outcome":"delivered"');
    await expect.poll(() => frames.some(heard)).toBe(true);
    // Paused: the row stays as it was, and it is not news.
    expect(await logRow('slow', 'pending').count()).toBe(1);
    expect(await page.getByTestId('missed').count()).toBe(0);

    await page.getByTestId('pause-log').click();
    await logRow('slow', 'delivered').waitFor();
  });
});

describe('the plain-http:// banner', () => {
  it('names the subscriptions that deliver over plain http://, and is absent with https:// only', async () => {
    const banner = page.getByTestId('insecure-banner');
    const bannerText = async () => ((await banner.textContent()) ?? '').replace(/\s+/g, ' ');
    await subscribe('tls-siem', `https://127.0.0.1:${receiver.port}/siem`);
    expect(await banner.count()).toBe(0);
    expect(await page.getByTestId('count-insecure').count()).toBe(0);
    expect(await row('tls-siem').locator('.warn').count()).toBe(0);

    const plainId = await subscribe('plain-soar', `http://127.0.0.1:${receiver.port}/soar`);
    await banner.waitFor();
    expect(await bannerText()).toContain('1 subscription delivers over plain http:// (plain-soar)');
    expect(await bannerText()).not.toContain('tls-siem');
    expect(await page.getByTestId('count-insecure').textContent()).toBe('1 INSECURE');
    expect(await row('plain-soar').locator('.warn').getAttribute('title')).toContain('Plain http://');

    await subscribe('plain-n8n', `http://127.0.0.1:${receiver.port}/n8n`);
    await expect.poll(bannerText).toContain('2 subscriptions deliver over plain http:// (plain-n8n, plain-soar)');

    // Moved to https:// (and the other one deleted): the banner goes.
    unwrap(await t.api['subscriptions.update'](plainId, { url: `https://127.0.0.1:${receiver.port}/soar` }));
    await expect.poll(bannerText).toContain('1 subscription delivers over plain http:// (plain-n8n)');
    const n8n = unwrap(await t.api['subscriptions.list']()).find((s) => s.name === 'plain-n8n')!;
    unwrap(await t.api['subscriptions.remove'](n8n.id));
    await banner.waitFor({ state: 'detached' });
    expect(await page.getByTestId('count-insecure').count()).toBe(0);
  });
});
