/**
 * The delivery detail shows the signed body as the receiver got it, byte for byte:
 * numbers JavaScript would alter, integer-like keys, astral characters and escapes —
 * Debian's Chromium, the web host, a real engine, nats-server and a receiver. Set
 * SLUICE_SHOTS=/tmp to keep a screenshot of the indented view.
 */
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { unwrap, type TestEngine } from '../harness/engine';
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
  ui = await startConsole(browser, {});
  ({ t, receiver, page } = ui);
});

afterEach(async () => {
  await ui.close();
  expect(ui.problems).toEqual([]);
});

/** The text without whitespace outside strings. */
function tokens(text: string): string {
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (inString) {
      out += ch;
      if (ch === '\\') out += text[++i];
      else if (ch === '"') inString = false;
    } else if (!' \t\n\r'.includes(ch)) {
      out += ch;
      if (ch === '"') inString = true;
    }
  }
  return out;
}

describe('delivery detail: the signed body', () => {
  it('shows the bytes the receiver got, and an indented view that changes only whitespace', async () => {
    unwrap(await t.api['subscriptions.create']({ name: 'siem', url: receiver.url, presets: [], patterns: ['attacker.>'], enabled: true }));
    await t.engine.busReady();
    // Published as text, so the escapes and number literals reach the bus as written.
    const payload =
      '{"session":12345678901234567890,"score":1.0,"10":"ten","2":"two","1":"one","fox":"🦊","escaped":"\\ud83e\\udd8a","lone":"\\ud800","nested":{"ratio":0.5,"big":[18446744073709551615,-0.0]}}';
    await t.publish('attacker.observed', new TextEncoder().encode(`{"v":1,"id":"exact-1","type":"first_sighting","ts":"2026-04-24T00:00:00+00:00","payload":${payload}}`));
    const [request] = await receiver.waitForRequests(1);
    const sent = request!.body.toString('utf8');
    // The case that matters: JSON.parse would alter what the receiver got.
    expect(sent).toContain('"session":12345678901234567890');
    expect(sent).toContain('"score":1.0');
    expect(sent).toContain('"1":"one","10":"ten","2":"two"');
    expect(sent).toContain('🦊');
    expect(JSON.stringify(JSON.parse(sent))).not.toBe(sent);

    await page.locator('[data-testid="delivery-row"][data-event-id="exact-1"][data-outcome="delivered"]').click();
    const detail = page.getByTestId('delivery-detail');
    const body = detail.getByTestId('detail-body');
    await body.waitFor();
    expect(await body.textContent()).toBe(sent);
    expect(await body.getAttribute('data-view')).toBe('exact');
    expect(await detail.getByTestId('body-size').textContent()).toBe(`${request!.body.length} bytes`);

    // Indented: easier to read, the same tokens.
    await detail.getByTestId('body-indented').click();
    await expect.poll(() => body.getAttribute('data-view')).toBe('indented');
    const indented = (await body.textContent()) ?? '';
    expect(indented).toContain('\n    "session": 12345678901234567890\n');
    expect(indented).toContain('"score": 1.0,');
    expect(indented).toContain('"escaped": "🦊"');
    expect(tokens(indented)).toBe(sent);
    const dir = process.env['SLUICE_SHOTS'];
    if (dir) await detail.screenshot({ path: join(dir, 'sluice-body-indented.png') });

    // And back to the exact bytes.
    await detail.getByTestId('body-exact').click();
    await expect.poll(() => body.textContent()).toBe(sent);
  });

  it('shows an Elasticsearch bulk body (NDJSON, several documents) as sent: no indented view of one JSON value', async () => {
    unwrap(
      await t.api['subscriptions.create']({
        name: 'es',
        url: receiver.url,
        presets: [],
        patterns: ['attacker.>'],
        format: 'elasticsearch',
        esIndex: 'soc',
        batch: 2,
        batchMs: 5000,
      }),
    );
    await t.engine.busReady();
    await t.publish('attacker.observed', { v: 1, id: 'bulk-1', type: 'first_sighting', ts: 1767225600, payload: { ip: '203.0.113.7' } });
    await t.publish('attacker.observed', { v: 1, id: 'bulk-2', type: 'first_sighting', ts: 1767225601, payload: { ip: '198.51.100.7' } });
    const [request] = await receiver.waitForRequests(1);
    const sent = request!.body.toString('utf8');
    // Two action/document line pairs, each line ending in a newline.
    expect(sent.split('\n')).toHaveLength(5);
    expect(sent.endsWith('\n')).toBe(true);

    await page.locator('[data-testid="delivery-row"][data-event-id="bulk-2"][data-outcome="delivered"]').click();
    const detail = page.getByTestId('delivery-detail');
    const body = detail.getByTestId('detail-body');
    await expect.poll(() => body.textContent()).toBe(sent);
    expect(await body.getAttribute('data-view')).toBe('exact');
    expect(await detail.getByTestId('body-size').textContent()).toBe(`${request!.body.length} bytes`);
    const indented = detail.getByTestId('body-indented');
    expect(await indented.isDisabled()).toBe(true);
    expect(await indented.getAttribute('title')).toContain('Not one JSON document');
  });
});
