/**
 * What the subscription table says of a subscription's filter and rate, live: how many
 * events its filter kept out, and how many its rate holds back — Debian's Chromium, the
 * web host, a real engine, nats-server and a receiver.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { envelope, unwrap } from '../harness/engine';
import { launchChromium } from '../harness/browser';
import { startConsole } from '../harness/console';

let browser: Browser;

beforeAll(async () => {
  browser = await launchChromium();
});

afterAll(async () => {
  await browser.close();
});

it('shows how many events a filter kept out, in the table and the detail', async () => {
  const ui = await startConsole(browser);
  try {
    const { t, page, receiver } = ui;
    unwrap(await t.api['subscriptions.create']({ name: 'finance', url: receiver.url, patterns: ['canary.>'], filter: 'payload.score > 70' }));
    await t.engine.busReady();
    const row = page.locator('[data-testid="subscription-row"][data-name="finance"]');
    await expect.poll(() => row.getByTestId('filtered-hint').textContent()).toBe('filtered · 0');
    for (const score of [90, 10, 20]) await t.publish('canary.fin-01.triggered', envelope('canary_hit', { score }));
    await receiver.waitForRequests(1);
    await expect.poll(() => row.getByTestId('filtered-hint').textContent()).toBe('filtered · 2');
    expect(await row.getByTestId('filtered-hint').getAttribute('title')).toContain('payload.score > 70');
    await row.getByTestId('open-subscription').click();
    await expect.poll(() => page.getByTestId('subscription-detail').getByTestId('detail-filtered').textContent()).toMatch(/^2 events \(kept out by its filter/);
    expect(receiver.requests).toHaveLength(1);
  } finally {
    await ui.close();
  }
  expect(ui.problems).toEqual([]);
});

it('shows a subscription held back by its rate, how many wait, and the end of it', async () => {
  const ui = await startConsole(browser);
  try {
    const { t, page, receiver } = ui;
    const { subscription } = unwrap(await t.api['subscriptions.create']({ name: 'slow-siem', url: receiver.url, patterns: ['attacker.>'], rate: 4, burst: 1 }));
    await t.engine.busReady();
    const row = page.locator('[data-testid="subscription-row"][data-name="slow-siem"]');
    for (let i = 0; i < 8; i++) await t.publish('attacker.observed', envelope('first_sighting', { i }));
    // Over its rate, deliveries wait in the store: the count shows and goes down.
    await expect.poll(() => row.getByTestId('paced-hint').textContent(), { timeout: 5_000 }).toMatch(/^paced · [1-7] waiting$/);
    await receiver.waitForRequests(8, 10_000);
    await expect.poll(() => row.getByTestId('paced-hint').count(), { timeout: 5_000 }).toBe(0);
    const [view] = unwrap(await t.api['subscriptions.list']()).filter((v) => v.id === subscription.id);
    expect(view?.consecutiveFailures).toBe(0);
  } finally {
    await ui.close();
  }
  expect(ui.problems).toEqual([]);
});
