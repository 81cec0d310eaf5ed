/**
 * The subscription form's live preview in the real console (Debian's Chromium, the built
 * renderer served by the web host, a real engine, nats-server and receiver): as the analyst
 * types — patterns, the Splunk HEC format, a filter — the preview shows the request the
 * engine would send for the newest matching stored event, the filter's verdict, a pasted
 * event's request, and an invalid filter's error at its field. Saved, the subscription
 * sends the receiver the body the preview showed, byte for byte.
 */
import { join } from 'node:path';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
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

const SIGNED_AT_SAVE = '(signed with the secret made when saved)';

describe('the live preview in the subscription form', () => {
  let ui: TestConsole;
  let t: TestEngine;
  let receiver: Receiver;
  let page: Page;

  beforeEach(async () => {
    ui = await startConsole(browser, { settings: { retrySchedule: [] }, viewport: { width: 1440, height: 900 } });
    ({ t, receiver, page } = ui);
  });

  afterEach(async () => {
    await ui.close();
    expect(ui.problems).toEqual([]);
  });

  const form = (): Locator => page.getByTestId('subscription-form');
  const preview = (): Locator => form().getByTestId('preview');
  const text = (locator: Locator): Promise<string> => locator.evaluate((e) => e.textContent ?? '');
  /** The events stored so far that these patterns match, newest first (what the picker lists). */
  const stored = async (patterns: string[]) => unwrap(await t.api['events.recent']({ patterns }));

  /** Events on the bus are stored once a subscription listens for them: one is there already. */
  async function publishEvents(): Promise<void> {
    unwrap(await t.api['subscriptions.create']({ name: 'archive', url: receiver.url, patterns: ['canary.>', 'attacker.>'] }));
    await t.engine.busReady();
    await t.publish('canary.aws-key-3.triggered', envelope('triggered', { token: 'aws-key-3', source_ip: '198.51.100.7', score: 90 }, 'evt-older'));
    await t.publish('canary.db-1.triggered', envelope('triggered', { token: 'db-1', source_ip: '203.0.113.24', score: 40 }, 'evt-newest'));
    // Newer still, but not on a canary topic: not what the preview picks.
    await t.publish('attacker.observed', envelope('first_sighting', { ip: '192.0.2.181' }, 'evt-attacker'));
    await expect.poll(async () => (await stored(['>'])).map((e) => e.eventId)).toEqual(['evt-attacker', 'evt-newest', 'evt-older']);
  }

  it('previews the Splunk HEC request as typed: the newest matching event, the filter verdict, a pasted event, an invalid filter at its field', async () => {
    await publishEvents();
    await page.getByTestId('new-subscription').click();
    await form().locator('input[name="name"]').fill('splunk');
    // No URL yet: Elasticsearch's request needs one; the preview asks for it, the field is not wrong.
    await form().getByTestId('option-format').selectOption('elasticsearch');
    await form().getByTestId('preview-toggle').click();
    await expect.poll(() => text(preview().getByTestId('preview-note'))).toBe('Type the receiver URL to see the request.');
    expect(await text(preview().getByTestId('preview-event-id'))).toContain('evt-attacker');
    expect(await form().getByTestId('error-url').count()).toBe(0);
    await preview().getByTestId('preview-collapse').click();
    await preview().waitFor({ state: 'detached' });
    await form().locator('input[name="url"]').fill(`${receiver.url}/services/collector/event`);
    await form().getByTestId('preset-AttackerDetail').uncheck();
    await form().locator('textarea[name="patterns"]').fill('canary.*.triggered');

    // The format is in view without opening the delivery options; its own fields show with it only.
    const format = form().getByTestId('options-format');
    expect(await form().getByTestId('delivery-options').getAttribute('open')).toBeNull();
    expect(await format.locator('input[name="hecSourcetype"]').count()).toBe(0);
    await format.getByTestId('option-format').selectOption('splunk-hec');
    await format.locator('input[name="hecSourcetype"]').fill('decnet:canary');
    expect(await format.locator('input[name="esIndex"]').count()).toBe(0);
    expect(await format.locator('input[name="batch"]').isVisible()).toBe(true);

    await form().getByTestId('preview-toggle').click();
    // The newest stored event the patterns match, and the exact request for it.
    await expect.poll(() => text(preview().getByTestId('preview-event-id'))).toContain('evt-newest');
    const body = preview().getByTestId('preview-body');
    await expect.poll(() => text(body)).toContain('"sourcetype":"decnet:canary"');
    const hec = JSON.parse(await text(body)) as { source: string; sourcetype: string; event: { id: string; topic: string; payload: unknown } };
    expect(hec).toMatchObject({
      source: 'decnet:canary.db-1.triggered',
      sourcetype: 'decnet:canary',
      event: { id: 'evt-newest', topic: 'canary.db-1.triggered', payload: { token: 'db-1', source_ip: '203.0.113.24', score: 40 } },
    });
    expect(await text(preview().getByTestId('preview-request-line'))).toBe(`POST ${receiver.url}/services/collector/event`);
    expect(await text(preview().getByTestId('preview-matches'))).toContain('match: sent');
    expect(await text(preview().getByTestId('preview-filter'))).toContain('no filter');
    // Every header on its own line; no secret yet: the signature is made at save.
    const headers = (await text(preview().getByTestId('preview-headers'))).split('\n');
    expect(headers).toContain('Content-Type: application/json');
    expect(headers).toContain(`X-DECNET-Signature: ${SIGNED_AT_SAVE}`);
    expect(headers.every((line) => /^[A-Za-z0-9-]+: /.test(line))).toBe(true);
    // Byte for byte: the body is the engine's, not re-indented.
    const answer = unwrap(
      await t.api['subscriptions.preview']({
        url: `${receiver.url}/services/collector/event`,
        patterns: ['canary.*.triggered'],
        presets: [],
        format: 'splunk-hec',
        hecSourcetype: 'decnet:canary',
      }),
    );
    expect(await text(body)).toBe(answer.request!.body);
    expect(await text(preview().getByTestId('preview-body-size'))).toContain(`${Buffer.byteLength(answer.request!.body)} bytes`);

    // Batched, several events share a request: said, the request shown is one event's.
    await format.locator('input[name="batch"]').fill('10');
    await expect.poll(() => text(preview().getByTestId('preview-batch-note'))).toContain('up to 10 events per request');
    await format.locator('input[name="batch"]').fill('');
    await preview().getByTestId('preview-batch-note').waitFor({ state: 'detached' });

    // A filter that leaves this event out, then one that lets it through.
    const filter = form().locator('textarea[name="filter"]');
    await filter.fill('payload.score > 70');
    await expect.poll(() => preview().getByTestId('preview-filter').getAttribute('data-verdict')).toBe('filtered');
    expect(await text(preview().getByTestId('preview-filter'))).toContain('filtered out');
    await filter.fill('payload.score > 30');
    await expect.poll(() => preview().getByTestId('preview-filter').getAttribute('data-verdict')).toBe('pass');

    // The picker lists the stored events the patterns match; an older one renders on choice.
    const picker = preview().getByTestId('preview-event');
    expect(await picker.locator('option').allTextContents()).toEqual([
      'Newest matching event (canary.db-1.triggered)',
      expect.stringContaining('evt-newest'),
      expect.stringContaining('evt-older'),
      'Paste an event…',
    ]);
    await picker.selectOption('evt-older');
    await expect.poll(() => text(body)).toContain('"id":"evt-older"');

    // A pasted event: its request shows.
    await picker.selectOption({ label: 'Paste an event…' });
    expect(await text(preview().getByTestId('preview-note'))).toContain('Paste a DECNET event');
    const pasted = { v: 1, id: 'evt-pasted', type: 'triggered', ts: 1767225600, topic: 'canary.web-2.triggered', payload: { token: 'web-2', score: 55 } };
    await preview().getByTestId('preview-paste').fill(JSON.stringify(pasted));
    await expect.poll(() => text(body)).toContain('"id":"evt-pasted"');
    expect(await preview().getByTestId('preview-filter').getAttribute('data-verdict')).toBe('pass');
    // Not JSON: said at the pasted event.
    await preview().getByTestId('preview-paste').fill('{"topic": ');
    await expect.poll(() => text(preview().getByTestId('error-eventJson'))).toContain('not JSON');
    await preview().getByTestId('preview-paste').fill(JSON.stringify(pasted));
    await expect.poll(() => text(body)).toContain('"id":"evt-pasted"');

    // An invalid filter: its error at the field, no request.
    await filter.fill('payload.score >');
    const filterError = form().getByTestId('error-filter');
    await filterError.waitFor();
    expect(await filter.getAttribute('aria-invalid')).toBe('true');
    expect(await text(preview().getByTestId('preview-problem'))).toContain('Filter (JSONata): ');
    expect(await body.count()).toBe(0);
    await filter.fill('payload.score > 30');
    await filterError.waitFor({ state: 'detached' });
    await expect.poll(() => text(body)).toContain('"id":"evt-pasted"');

    if (process.env['SLUICE_SHOTS']) {
      await format.evaluate((e) => e.scrollIntoView({ block: 'start' }));
      await form().screenshot({ path: join(process.env['SLUICE_SHOTS'], 'sluice-preview-1440.png') });
      await page.setViewportSize({ width: 1280, height: 800 });
      await form().screenshot({ path: join(process.env['SLUICE_SHOTS'], 'sluice-preview-1280.png') });
    }

    const previewed = await text(body);
    await form().getByTestId('confirm-unprotected').check();
    await form().getByTestId('save').click();
    await page.getByTestId('secret-dialog').getByTestId('secret-done').click();
    await form().waitFor({ state: 'detached' });
    const saved = unwrap(await t.api['subscriptions.list']()).find((s) => s.name === 'splunk');
    expect(saved).toMatchObject({ format: 'splunk-hec', hecSourcetype: 'decnet:canary', filter: 'payload.score > 30', patterns: ['canary.*.triggered'], batch: null });
    // The subscription's detail names them.
    await page.locator('[data-testid="subscription-row"][data-name="splunk"]').getByTestId('open-subscription').click();
    const detail = page.getByTestId('subscription-detail');
    expect(await text(detail.getByTestId('detail-option-format'))).toContain('Splunk HTTP Event Collector');
    expect(await text(detail.getByTestId('detail-option-filter'))).toContain('payload.score > 30');

    // The pasted event, now published: the receiver gets the body previewed, byte for byte, and the delivery's detail shows it so.
    const { topic, ...published } = pasted;
    await t.publish(topic, published);
    const hecPath = `${new URL(receiver.url).pathname}/services/collector/event`;
    await expect.poll(() => receiver.requests.filter((r) => r.path === hecPath).length).toBe(1);
    expect(receiver.requests.find((r) => r.path === hecPath)!.body.toString('utf8')).toBe(previewed);
    await page.locator('[data-testid="delivery-row"][data-event-id="evt-pasted"][data-outcome="delivered"]').filter({ hasText: 'splunk' }).click();
    const recorded = page.getByTestId('delivery-detail').getByTestId('detail-body');
    await expect.poll(() => text(recorded)).toBe(previewed);
  });

  it('an invalid filter is refused at its field on save too, and nothing is saved', async () => {
    await page.getByTestId('new-subscription').click();
    await form().locator('input[name="name"]').fill('hive');
    await form().locator('input[name="url"]').fill(receiver.url);
    await form().getByTestId('option-format').selectOption('thehive');
    await form().locator('input[name="thehiveSeverity"]').fill('9');
    await form().locator('textarea[name="filter"]').fill('payload.(');
    await form().getByTestId('confirm-unprotected').check();
    await form().getByTestId('save').click();
    // The form's own check first (the severity), then the engine's (the filter).
    await expect.poll(() => text(form().getByTestId('error-thehiveSeverity'))).toContain('between 1 and 4');
    await form().locator('input[name="thehiveSeverity"]').fill('3');
    await form().getByTestId('save').click();
    await expect.poll(() => text(form().getByTestId('error-filter'))).not.toBe('');
    expect(await form().locator('textarea[name="filter"]').getAttribute('aria-invalid')).toBe('true');
    expect(unwrap(await t.api['subscriptions.list']())).toEqual([]);
  });

  /** A Splunk HEC subscription made earlier, opened for editing, previewing a pasted event. */
  async function previewWhileEditing(event: object): Promise<{ body: string; signature: string }> {
    unwrap(
      await t.api['subscriptions.create']({
        name: 'splunk',
        url: `${receiver.url}/services/collector/event`,
        patterns: ['canary.*.triggered'],
        format: 'splunk-hec',
        hecSourcetype: 'decnet:canary',
        hecIndex: 'soc',
      }),
    );
    await page.locator(`[data-testid="subscription-row"][data-name="splunk"]`).getByTestId('edit').click();
    await form().getByTestId('preview-toggle').click();
    await preview().getByTestId('preview-event').selectOption({ label: 'Paste an event…' });
    await preview().getByTestId('preview-paste').fill(JSON.stringify({ ...event, topic: 'canary.web-2.triggered' }));
    const body = preview().getByTestId('preview-body');
    await expect.poll(() => text(body)).toContain('"index":"soc"');
    const signature = await text(preview().locator('[data-testid="preview-header"][data-name="X-DECNET-Signature"]'));
    return { body: await text(body), signature };
  }

  it('previews when editing: the stored options, signed with the stored secret', async () => {
    const event = envelope('triggered', { token: 'web-2', score: 55 }, 'evt-edit');
    const { body, signature } = await previewWhileEditing(event);
    expect(JSON.parse(body)).toMatchObject({ index: 'soc', sourcetype: 'decnet:canary', event: { id: 'evt-edit' } });
    expect(signature).toMatch(/^X-DECNET-Signature: sha256=[0-9a-f]{64}$/);
  });

  // Editing too: the stored secret and options, the preview's bytes are the ones sent.
  it('sends the receiver the body the preview showed, byte for byte', async () => {
    const event = envelope('triggered', { token: 'web-2', score: 55, note: 'ünïcode ✓' }, 'evt-resent');
    const { body: previewed } = await previewWhileEditing(event);
    await form().getByRole('button', { name: 'Cancel' }).click();

    await t.engine.busReady();
    await t.publish('canary.web-2.triggered', event);
    const [request] = await receiver.waitForRequests(1);
    expect(request!.path).toBe(`${new URL(receiver.url).pathname}/services/collector/event`);
    expect(request!.body.toString('utf8')).toBe(previewed);
  });
});
