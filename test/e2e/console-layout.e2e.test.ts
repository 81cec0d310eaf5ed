/**
 * Nothing important is cut off, on a 1440×900 monitor and a 1280×800 laptop: the console
 * with demo-like data (a healthy SIEM and a tripped SOAR on the same host, a replay in the
 * log, the detail panel open, the bus reconnecting) in Debian's Chromium, over the web
 * host, a real engine, nats-server and receivers. Set SLUICE_SHOTS=/tmp to keep a
 * screenshot at each size.
 */
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { envelope, startTestEngine, unwrap, type TestEngine } from '../harness/engine';
import { launchChromium, openConsole, type ConsolePage } from '../harness/browser';
import { startReceiver, status, type Receiver } from '../harness/receiver';

let browser: Browser;
let t: TestEngine;
let siem: Receiver;
let soar: Receiver;
let c: ConsolePage | undefined;

beforeAll(async () => {
  browser = await launchChromium();
});

afterAll(async () => {
  await browser.close();
});

beforeEach(async () => {
  t = await startTestEngine({ settings: { circuitThreshold: 2, retrySchedule: [] } });
  siem = await startReceiver();
  soar = await startReceiver(status(503));
});

afterEach(async () => {
  await c?.close();
  await siem.close();
  await soar.close();
  await t.cleanup();
  expect(c?.problems ?? []).toEqual([]);
  c = undefined;
});

/** The elements whose content is wider than their box (cut off, or scrolled sideways): the start of their text. */
function clippedTexts(page: Page, selector: string): Promise<string[]> {
  return page.locator(selector).evaluateAll((els) =>
    els.filter((el) => el.scrollWidth > el.clientWidth).map((el) => (el.textContent ?? '').trim().slice(0, 80)),
  );
}

/** Demo-like data: two receivers on one host, one of them failing until its subscription trips. */
async function demoData(): Promise<{ siemUrl: string; soarUrl: string }> {
  const siemUrl = `http://127.0.0.1:${siem.port}/siem/events`;
  const soarUrl = `http://127.0.0.1:${soar.port}/soar/hook`;
  unwrap(await t.api['subscriptions.create']({ name: 'SIEM (healthy)', url: siemUrl, presets: ['AttackerDetail'], patterns: ['canary.*.triggered'], enabled: true }));
  unwrap(await t.api['subscriptions.create']({ name: 'SOAR (flaky)', url: soarUrl, presets: ['DeckyStatus'], patterns: ['canary.>'], enabled: true }));
  await t.engine.busReady();
  for (let i = 0; i < 3; i++) await t.publish('attacker.observed', envelope('first_sighting', { ip: `203.0.113.${i}` }, `sighting-${i}`));
  await t.publish('canary.tok-aws-key.triggered', envelope('canary', { token: 'tok-aws-key' }, 'canary-0'));
  await t.publish('decky.web-01.state', envelope('state', { state: 'up' }, 'state-0'));
  await t.waitForFinal(5);
  await t.publish('decky.web-01.traffic', envelope('traffic', { bytes: 1024 }, 'held-0'));
  await t.waitForDelivery((d) => d.eventId === 'held-0' && d.outcome === 'held');
  // A delivered event sent again: its row carries DELIVERED and REPLAY side by side.
  const first = (await t.waitForFinal(1, (d) => d.eventId === 'sighting-0'))[0]!;
  unwrap(await t.api['deliveries.replay']({ id: first.id }));
  await t.waitForFinal(1, (d) => d.replay && d.outcome === 'delivered');
  return { siemUrl, soarUrl };
}

describe('console layout', () => {
  for (const viewport of [
    { width: 1440, height: 900 },
    { width: 1280, height: 800 },
  ]) {
    it(`cuts nothing important off at ${viewport.width}×${viewport.height}`, async () => {
      const { siemUrl, soarUrl } = await demoData();
      c = await openConsole(browser, t, viewport);
      const page = c.page;
      const row = (name: string) => page.locator(`[data-testid="subscription-row"][data-name="${name}"]`);
      await expect.poll(() => row('SOAR (flaky)').getByTestId('state-chip').textContent()).toMatch(/TRIPPED/);
      await page.locator('[data-testid="delivery-row"][data-replay="true"][data-outcome="delivered"]').waitFor();

      // The two receivers: both fully told apart, the whole URL on hover.
      const urls = [row('SIEM (healthy)'), row('SOAR (flaky)')].map((r) => r.getByTestId('subscription-url'));
      const shown = await Promise.all(urls.map((u) => u.textContent()));
      expect(shown[0]).toContain(`:${siem.port}`);
      expect(shown[0]).toContain('events');
      expect(shown[1]).toContain(`:${soar.port}`);
      expect(shown[1]).toContain('hook');
      expect(await urls[0]!.getAttribute('title')).toBe(siemUrl);
      expect(await urls[1]!.getAttribute('title')).toBe(soarUrl);
      expect(await clippedTexts(page, '[data-testid="subscription-url"]')).toEqual([]);
      // Every column, and every action, in view.
      expect(await clippedTexts(page, '[data-testid="subscriptions"] >> xpath=..')).toEqual([]);

      // The detail panel open on the replay: the log's key cells keep their width.
      await page.locator('[data-testid="delivery-row"][data-replay="true"]').click();
      const detail = page.getByTestId('delivery-detail');
      await expect.poll(() => detail.getByTestId('detail-outcome').textContent()).toContain('delivered');
      expect(await detail.getByTestId('detail-url').textContent()).toBe(siemUrl);
      expect(await clippedTexts(page, '[data-testid="delivery-row"] [data-col]')).toEqual([]);
      const badges = await page
        .locator('[data-testid="delivery-row"][data-replay="true"] .outcome-cell')
        .evaluate((cell) => {
          const [outcome, mark] = [cell.querySelector('.outcome')!, cell.querySelector('.replay-mark')!].map((e) => e.getBoundingClientRect());
          const box = cell.getBoundingClientRect();
          return { gap: mark!.left - outcome!.right, inside: mark!.right <= box.right + 0.5 };
        });
      expect(badges.gap).toBeGreaterThanOrEqual(4);
      expect(badges.inside).toBe(true);
      expect(await clippedTexts(page, '[data-testid="delivery-row"] .outcome, [data-testid="replay-marker"]')).toEqual([]);

      // The topic filter shows its whole hint.
      const hint = await page.getByTestId('filter-topic').evaluate((input) => {
        const doc = input.ownerDocument;
        const style = doc.defaultView!.getComputedStyle(input);
        const ctx = doc.createElement('canvas').getContext('2d')!;
        ctx.font = `${style.fontSize} ${style.fontFamily}`;
        const room = input.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
        return { text: input.placeholder, fits: ctx.measureText(input.placeholder).width <= room };
      });
      expect(hint.fits, hint.text).toBe(true);
      expect(await clippedTexts(page, 'header > *, .panel-toolbar > *')).toEqual([]);

      // The bus reconnecting: the pill says so in full, and where to.
      await t.nats.stop();
      const bus = page.getByTestId('bus-state');
      await expect.poll(() => bus.textContent(), { timeout: 10_000 }).toMatch(/RECONNECTING · attempt \d/);
      expect(await clippedTexts(page, 'header > *')).toEqual([]);
      expect(await bus.textContent()).toContain(t.nats.wsUrl);
      expect(await bus.getAttribute('title')).toContain(t.nats.wsUrl);

      const dir = process.env['SLUICE_SHOTS'];
      if (dir) await page.screenshot({ path: join(dir, `sluice-layout-${viewport.width}x${viewport.height}.png`) });
    });
  }
});
