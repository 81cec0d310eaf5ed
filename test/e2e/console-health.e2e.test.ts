/**
 * Subscription health in the real console (issue 7): Debian's Chromium, the built
 * renderer served by the web host, a real engine, nats-server and receivers. After
 * deliveries, some failing, the table shows a sparkline and the success rate, and the
 * subscription's detail view shows the engine's hour and day figures.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HealthWindow } from '../../src-main/contract/views';
import { launchChromium, openConsole, type ConsolePage } from '../harness/browser';
import { envelope, startTestEngine, unwrap, type TestEngine } from '../harness/engine';
import { startReceiver, type Receiver } from '../harness/receiver';

const OK = 15;
const FAILING = 5;

let browser: Browser;
let t: TestEngine;
let receiver: Receiver;
let c: ConsolePage;
let page: Page;
let siemId: string;

beforeAll(async () => {
  browser = await launchChromium();
  // 503 for the events that ask for it (no retries here: dead at once), 200 after a short wait otherwise.
  receiver = await startReceiver(async (req, res) => {
    const { payload } = JSON.parse(req.body.toString('utf8')) as { payload: { fail?: boolean; ms?: number } };
    await new Promise((resolve) => setTimeout(resolve, payload.ms ?? 0));
    res.writeHead(payload.fail ? 503 : 200).end();
  });
  t = await startTestEngine({ settings: { circuitThreshold: 100, retrySchedule: [] } });
  siemId = unwrap(await t.api['subscriptions.create']({ name: 'siem', url: receiver.url, patterns: ['attacker.>'] })).subscription.id;
  unwrap(await t.api['subscriptions.create']({ name: 'quiet', url: receiver.url, patterns: ['canary.>'] }));
  await t.engine.busReady();
  c = await openConsole(browser, t);
  page = c.page;
});

afterAll(async () => {
  await c?.close();
  await browser?.close();
  await receiver?.close();
  await t?.cleanup();
});

/** How the console shows the figures, written out here as the analyst reads them. */
const successRate = (rate: number | null): string =>
  rate === null ? '—' : rate === 1 ? '100%' : rate === 0 ? '0%' : `${(Math.floor(rate * 1000) / 10).toFixed(1)}%`;
const ms = (v: number): string => (v < 1000 ? `${v} ms` : `${(v / 1000).toFixed(1)} s`);
const percentiles = (w: HealthWindow): string => (w.p50Ms === null || w.p95Ms === null ? '—' : `p50 ${ms(w.p50Ms)} · p95 ${ms(w.p95Ms)}`);

const row = (name: string) => page.locator(`[data-testid="subscription-row"][data-name="${name}"]`);

describe('subscription health in the console', () => {
  it('shows a sparkline and the success rate in the table, and the engine’s figures in the detail view', async () => {
    for (let i = 0; i < OK + FAILING; i++)
      await t.publish('attacker.observed', envelope('x', { fail: i % 4 === 3, ms: [0, 3, 12, 30][i % 4] }, `h-${i}`));
    await t.waitForFinal(OK + FAILING, (d) => d.subscriptionId === siemId);

    // The table: the day's sparkline holds every outcome, failures included; the rate is the day's.
    const spark = row('siem').getByTestId('sparkline');
    await expect.poll(() => spark.getAttribute('data-ok'), { timeout: 10_000 }).toBe(String(OK));
    expect(await spark.getAttribute('data-failed')).toBe(String(FAILING));
    expect(await spark.locator('rect.failed').count()).toBeGreaterThanOrEqual(1);
    expect(await row('siem').getByTestId('table-success-rate').textContent()).toBe('75.0%');
    expect(await row('quiet').getByTestId('table-success-rate').textContent()).toBe('—');
    expect(await row('siem').getByTestId('health-cell').getAttribute('title')).toMatch(/^Last hour: 75\.0% of 20 · p50 \d+ ms · p95 \d+ ms/);

    // The detail view: the hour and day figures are the engine's.
    await row('siem').getByTestId('open-subscription').click();
    const detail = page.getByTestId('subscription-detail');
    await detail.waitFor();
    const engine = unwrap(await t.api['subscriptions.health']()).subscriptions.find((h) => h.subscriptionId === siemId)!;
    expect(engine.hour).toMatchObject({ total: OK + FAILING, ok: OK, failed: FAILING });
    for (const [key, window] of [
      ['hour', engine.hour],
      ['day', engine.day],
    ] as const) {
      const figures = detail.getByTestId(`health-${key}`);
      await expect.poll(() => figures.getByTestId('success-rate').textContent()).toBe(successRate(window.successRate));
      expect(await figures.getByTestId('latency').textContent()).toBe(percentiles(window));
      expect(await figures.getByTestId('counts').textContent()).toBe(`${OK} of ${OK + FAILING}`);
      expect(await figures.getByTestId('failed').textContent()).toBe(String(FAILING));
    }
    expect(percentiles(engine.hour)).toMatch(/^p50 \d+ ms · p95 \d+ ms$/);

    // The chart: 60 minutes, then 24 hours; failures drawn in their own colour; a p95 line.
    const chart = detail.getByTestId('health-chart');
    expect(await chart.getAttribute('data-buckets')).toBe('60');
    expect(await chart.locator('rect.failed').count()).toBeGreaterThanOrEqual(1);
    expect(await chart.locator('polyline.p95').count()).toBeGreaterThanOrEqual(1);
    await detail.getByTestId('chart-day').click();
    await expect.poll(() => chart.getAttribute('data-buckets')).toBe('24');

    // A subscription with nothing ended yet shows dashes, not zeros.
    await row('quiet').getByTestId('open-subscription').click();
    await expect.poll(() => detail.locator('.name').textContent()).toBe('quiet');
    await expect.poll(() => detail.getByTestId('health-hour').getByTestId('success-rate').textContent()).toBe('—');
    expect(await detail.getByTestId('health-day').getByTestId('latency').textContent()).toBe('—');

    await page.keyboard.press('Escape');
    await detail.waitFor({ state: 'detached' });
    expect(c.problems).toEqual([]);
  });
});
