/**
 * Finding and exporting deliveries in the real console (issue 18, parts 2 and 3): the
 * search box (text in the body, an event id), the status code and time fields; the
 * results standing in for the live log, with their count and a way back; and the export
 * of the filtered set downloaded through the page, as CSV and NDJSON — Debian's
 * Chromium, the web host, a real engine, nats-server and a receiver.
 */
import { readFile } from 'node:fs/promises';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeliveryView } from '../../src-main/contract/views';
import { EXPORT_COLUMNS } from '../../src-main/store/search';
import { seriousViolations } from '../harness/axe';
import { launchChromium } from '../harness/browser';
import { startConsole, type TestConsole } from '../harness/console';
import { envelope, unwrap, type TestEngine } from '../harness/engine';
import { status } from '../harness/receiver';

let browser: Browser;
let ui: TestConsole;
let t: TestEngine;
let page: Page;

/** Each event's attacker IP, and how the receiver answered it. */
const EVENTS = [
  { id: 'evt-search-1', ip: '203.0.113.7', code: 200 },
  { id: 'evt-search-2', ip: '198.51.100.23', code: 200 },
  { id: 'evt-search-3', ip: '192.0.2.44', code: 200 },
  { id: 'evt-search-4', ip: '203.0.113.70', code: 503 },
  { id: 'evt-search-5', ip: '192.0.2.45', code: 503 },
];

beforeAll(async () => {
  browser = await launchChromium();
  ui = await startConsole(browser, { settings: { retrySchedule: [] } });
  ({ t, page } = ui);
  unwrap(await t.api['subscriptions.create']({ name: 'siem', url: ui.receiver.url, patterns: ['attacker.>'] }));
  await t.engine.busReady();
  for (const e of EVENTS) {
    ui.receiver.setBehavior(status(e.code));
    await t.publish('attacker.observed', envelope('attacker.observed', { attacker_ip: e.ip, decoy: `decoy-${e.id}` }, e.id));
    await t.waitForFinal(1, (d) => d.eventId === e.id);
  }
  await page.locator('[data-testid="delivery-row"]').nth(EVENTS.length - 1).waitFor();
}, 60_000);

afterAll(async () => {
  await ui?.close();
  expect(ui?.problems ?? []).toEqual([]);
  await browser?.close();
});

const shownIds = async (): Promise<string[]> =>
  page.locator('[data-testid="delivery-row"]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-event-id') ?? ''));

async function search(form: { box?: string; status?: string }): Promise<void> {
  await page.getByTestId('search-box').fill(form.box ?? '');
  await page.getByTestId('search-status').fill(form.status ?? '');
  await page.getByTestId('search-run').click();
}

/** Wait for a search to show exactly `ids` (newest first) and say how many. */
async function expectResults(ids: string[]): Promise<void> {
  await expect.poll(shownIds).toEqual(ids);
  await expect.poll(() => page.getByTestId('search-count').getAttribute('data-count')).toBe(String(ids.length));
}

async function download(testId: string): Promise<{ name: string; text: string }> {
  const [file] = await Promise.all([page.waitForEvent('download'), page.getByTestId(testId).click()]);
  const path = await file.path();
  return { name: file.suggestedFilename(), text: await readFile(path, 'utf8') };
}

describe('delivery search', () => {
  it('finds exactly the deliveries by text, by event id and by status, and goes back to the live log', async () => {
    await expect.poll(shownIds).toEqual(EVENTS.map((e) => e.id).reverse());

    // An IP: only the event whose body holds it (not 198.51.100.230 nor a longer one).
    await search({ box: '198.51.100.23' });
    await expectResults(['evt-search-2']);
    await expect.poll(() => page.getByTestId('search-count').textContent()).toMatch(/1 delivery matches · text "198\.51\.100\.23"/);

    // A prefix of another IP finds both: text is contained in the body.
    await search({ box: '203.0.113.7' });
    await expectResults(['evt-search-4', 'evt-search-1']);

    await search({ box: 'id:evt-search-3' });
    await expectResults(['evt-search-3']);

    await search({ status: '503' });
    await expectResults(['evt-search-5', 'evt-search-4']);

    await search({ box: '192.0.2.4', status: '503' });
    await expectResults(['evt-search-5']);

    await search({ box: 'no such text anywhere' });
    await expectResults([]);
    await expect(page.getByTestId('log-empty').textContent()).resolves.toMatch(/No delivery matches this search/);

    // A search follows what arrives: a new delivery that matches appears in its results
    // without searching again; one that does not match stays out; back to the live log, it is there.
    await search({ box: '233.252.0.1' });
    await expectResults([]);
    ui.receiver.setBehavior(status(200));
    await t.publish('attacker.observed', envelope('attacker.observed', { attacker_ip: '233.252.0.1' }, 'evt-search-6'));
    await t.waitForFinal(1, (d: DeliveryView) => d.eventId === 'evt-search-6');
    await expect.poll(shownIds, { timeout: 10_000 }).toEqual(['evt-search-6']);
    await expect.poll(() => page.getByTestId('search-count').getAttribute('data-count')).toBe('1');
    await search({ status: '503' });
    await expectResults(['evt-search-5', 'evt-search-4']);
    await t.publish('attacker.observed', envelope('attacker.observed', { attacker_ip: '233.252.0.2' }, 'evt-search-7'));
    await t.waitForFinal(1, (d: DeliveryView) => d.eventId === 'evt-search-7');
    await expectResults(['evt-search-5', 'evt-search-4']);
    await page.getByTestId('search-clear').click();
    await expect.poll(shownIds).toEqual(['evt-search-7', 'evt-search-6', ...EVENTS.map((e) => e.id).reverse()]);
    expect(await page.getByTestId('search-results').count()).toBe(0);
  });

  it('says what is wrong with the form, and searches nothing', async () => {
    await search({ status: '42' });
    await expect.poll(() => page.getByTestId('search-error').textContent()).toMatch(/"42" is not an HTTP status/);
    expect(await page.getByTestId('search-status').getAttribute('aria-invalid')).toBe('true');
    await search({});
    await expect.poll(() => page.getByTestId('search-error').textContent()).toMatch(/Say what to find/);
    expect(await page.getByTestId('search-results').count()).toBe(0);
  });

  it('downloads the filtered set as CSV and as NDJSON, and has no serious accessibility violation', async () => {
    await search({ box: '192.0.2.4' });
    await expectResults(['evt-search-5', 'evt-search-3']);
    expect(await seriousViolations(page)).toEqual([]);

    const csv = await download('export-csv');
    expect(csv.name).toMatch(/^sluice-deliveries-\d{8}T\d{6}Z\.csv$/);
    const lines = csv.text.split('\r\n');
    expect(lines[0]).toBe(EXPORT_COLUMNS.join(','));
    expect(lines.at(-1)).toBe('');
    const rows = lines.slice(1, -1);
    // Oldest first; no body holds a comma-free line break, so a line is a row here.
    expect(rows).toHaveLength(2);
    expect(rows[0]).toContain('evt-search-3');
    expect(rows[0]).toContain('192.0.2.44');
    expect(rows[1]).toContain('evt-search-5');
    expect(rows[1]).toMatch(/,503,/);

    const ndjson = await download('export-ndjson');
    expect(ndjson.name).toMatch(/\.ndjson$/);
    const objects = ndjson.text.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(objects.map((o) => o['eventId'])).toEqual(['evt-search-3', 'evt-search-5']);
    expect(objects.map((o) => o['statusCode'])).toEqual([200, 503]);
    expect(JSON.parse(objects[0]?.['eventBody'] as string)).toMatchObject({ id: 'evt-search-3', payload: { attacker_ip: '192.0.2.44' } });
    expect(objects[1]?.['attemptLog']).toEqual([expect.objectContaining({ statusCode: 503 })]);
  });
});
