/**
 * The Settings screen in the real console: Debian's Chromium, the built renderer served
 * by the web host, a real engine and real nats-servers. The engine runs on its stored
 * settings (no `--nats` override), so a URL saved here is the one it connects to.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import type { Browser, Locator, Page, WebSocket as PageSocket } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { SettingsView } from '../../src-main/contract/views';
import { launchChromium } from '../harness/browser';
import { startConsole, type TestConsole } from '../harness/console';
import { envelope, unwrap, type TestEngine } from '../harness/engine';
import { startNatsServer, type NatsServer } from '../harness/nats-server';
import { status, type Receiver } from '../harness/receiver';

let browser: Browser;
let bus: NatsServer;
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
  bus = await startNatsServer();
  // No `--nats` override: the stored URL is the bus.
  ui = await startConsole(browser, {
    server: bus,
    engine: { natsUrl: undefined },
    settings: { natsUrl: bus.wsUrl, circuitThreshold: 5, concurrency: 10, retrySchedule: [] },
  });
  ({ t, receiver, page } = ui);
});

afterEach(async () => {
  await ui.close();
  await bus.cleanup();
  expect(ui.problems).toEqual([]);
});

const settings = async (): Promise<SettingsView> => unwrap(await t.api['settings.get']());
const panel = (): Locator => page.getByTestId('settings-panel');
const field = (name: string): Locator => panel().locator(`[name="${name}"]`);

async function openSettings(): Promise<Locator> {
  await page.getByTestId('open-settings').click();
  await field('natsUrl').waitFor();
  return panel();
}

/** Every WebSocket frame the page sends or receives from now on. */
function recordFrames(): { sent: string[]; received: string[] } {
  const frames = { sent: [] as string[], received: [] as string[] };
  page.on('websocket', (ws: PageSocket) => {
    ws.on('framesent', (f) => frames.sent.push(String(f.payload)));
    ws.on('framereceived', (f) => frames.received.push(String(f.payload)));
  });
  return frames;
}

async function addSubscription(name: string, patterns: string[]): Promise<void> {
  unwrap(await t.api['subscriptions.create']({ name, url: receiver.url, patterns }));
  await page.locator(`[data-testid="subscription-row"][data-name="${name}"]`).waitFor();
  await t.engine.busReady();
}

describe('console settings', () => {
  it('opens from the header with the current values, secrets only as set / not set', async () => {
    unwrap(await t.api['settings.update']({ allowedCidrs: ['10.20.0.0/16'], jetstreamStream: '', natsToken: 'tok-shown-never' }));
    const p = await openSettings();
    const stored = await settings();
    expect(await field('natsUrl').inputValue()).toBe(stored.natsUrl);
    expect(await field('circuitThreshold').inputValue()).toBe('5');
    expect(await field('concurrency').inputValue()).toBe('10');
    expect(await field('timeoutMs').inputValue()).toBe(String(stored.timeoutMs));
    expect(await field('retrySchedule').inputValue()).toBe('');
    expect(await field('allowedCidrs').inputValue()).toBe('10.20.0.0/16');
    expect(await field('retentionDays').inputValue()).toBe(String(stored.retentionDays));
    expect(await field('retentionMaxRows').inputValue()).toBe(String(stored.retentionMaxRows));
    expect(await field('heldMaxCount').inputValue()).toBe(String(stored.heldMaxCount));
    expect(await field('heldMaxAgeHours').inputValue()).toBe(String(stored.heldMaxAgeHours));
    expect(await p.getByTestId('allow-private').isChecked()).toBe(stored.allowPrivate);
    expect(await p.getByTestId('secret-state-natsToken').textContent()).toBe('SET');
    expect(await p.getByTestId('secret-state-natsPassword').textContent()).toBe('NOT SET');
    expect(await p.getByTestId('settings-bus-state').textContent()).toContain(`Connected to ${t.nats.wsUrl}`);
    expect(await p.getByTestId('override-natsUrl').count()).toBe(0);
    expect(await p.getByTestId('settings-save').isDisabled()).toBe(true);
    // A change enables Save; putting the value back disables it again.
    await field('concurrency').fill('11');
    expect(await p.getByTestId('settings-save').isEnabled()).toBe(true);
    await field('concurrency').fill('10');
    expect(await p.getByTestId('settings-save').isDisabled()).toBe(true);
    expect(await page.content()).not.toContain('tok-shown-never');
    await p.getByTestId('settings-close').click();
    await p.waitFor({ state: 'detached' });
  });

  it('refuses invalid values inline, next to the field, and changes nothing', async () => {
    const before = await settings();
    const p = await openSettings();
    const save = p.getByTestId('settings-save');

    await field('natsUrl').fill('http://127.0.0.1:4222');
    await save.click();
    await expect.poll(() => p.getByTestId('error-natsUrl').textContent()).toContain('ws:// or wss://');
    expect(await field('natsUrl').getAttribute('aria-invalid')).toBe('true');
    await field('natsUrl').fill(before.natsUrl);
    expect(await p.getByTestId('error-natsUrl').count()).toBe(0);

    await field('allowedCidrs').fill('10.0.0.0/8\n300.1.2.0/24');
    await save.click();
    await expect.poll(() => p.getByTestId('error-allowedCidrs').textContent()).toMatch(/^entry 2: /);
    await field('allowedCidrs').fill('');

    await field('circuitThreshold').fill('0');
    await save.click();
    await expect.poll(() => p.getByTestId('error-circuitThreshold').textContent()).toBe('must be between 1 and 1000');
    await field('circuitThreshold').fill('three');
    await save.click();
    await expect.poll(() => p.getByTestId('error-circuitThreshold').textContent()).toBe('"three" is not a whole number');
    await field('circuitThreshold').fill('5');

    await field('retrySchedule').fill('1, soon');
    await save.click();
    await expect.poll(() => p.getByTestId('error-retrySchedule').textContent()).toContain('"soon"');

    expect(await p.getByTestId('settings-saved').count()).toBe(0);
    expect(await settings()).toEqual(before);
    expect(t.engine.status().bus).toMatchObject({ state: 'connected', url: before.natsUrl });
  });

  it('saves a valid change, confirms it, and the engine applies it at once', async () => {
    await addSubscription('flaky', ['attacker.>']);
    const p = await openSettings();
    await field('circuitThreshold').fill('1');
    await field('concurrency').fill('4');
    await field('retrySchedule').fill('');
    await p.getByTestId('settings-save').click();
    await expect.poll(() => p.getByTestId('settings-saved').textContent()).toContain('breaker threshold, concurrency');
    expect(await p.getByTestId('settings-save').isDisabled()).toBe(true);
    expect(await settings()).toMatchObject({ circuitThreshold: 1, concurrency: 4 });
    expect(await field('circuitThreshold').inputValue()).toBe('1');
    await p.getByTestId('settings-close').click();

    // Threshold 1: the first failed delivery trips the subscription.
    receiver.setBehavior(status(500));
    await t.publish('attacker.observed', envelope('x', {}, 'fails-once'));
    const chip = page.locator('[data-testid="subscription-row"][data-name="flaky"]').getByTestId('state-chip');
    await expect.poll(() => chip.textContent()).toMatch(/TRIPPED/);
    expect(unwrap(await t.api['subscriptions.list']())[0]).toMatchObject({ enabled: false, consecutiveFailures: 1 });
  });

  it('moves to a second nats-server when the bus URL changes, with a password that never comes back', async () => {
    const password = 'pw-d7f1c0a9e2b84c55';
    const second: NatsServer = await startNatsServer({ user: 'sluice', password });
    try {
      await addSubscription('siem', ['attacker.>']);
      const frames = recordFrames();
      await page.reload();
      await page.getByTestId('bus-state').filter({ hasText: `BUS CONNECTED · ${t.nats.wsUrl}` }).waitFor();

      const p = await openSettings();
      await field('natsUrl').fill(second.wsUrl);
      await field('natsUser').fill('sluice');
      await p.getByTestId('secret-replace-natsPassword').click();
      await p.getByTestId('secret-input-natsPassword').fill(password);
      await p.getByTestId('settings-save').click();
      await expect.poll(() => p.getByTestId('settings-saved').textContent()).toContain('reconnects to the bus');
      await page.getByTestId('bus-state').filter({ hasText: `BUS CONNECTED · ${second.wsUrl}` }).waitFor();
      await expect.poll(() => p.getByTestId('settings-bus-state').textContent()).toContain(`Connected to ${second.wsUrl}`);
      expect(await p.getByTestId('secret-state-natsPassword').textContent()).toBe('SET');
      expect(await p.getByTestId('secret-input-natsPassword').count()).toBe(0);
      expect(await settings()).toMatchObject({ natsUrl: second.wsUrl, natsUser: 'sluice', natsPasswordSet: true });

      // Events now come from the second server.
      await t.engine.busReady();
      const publisher = await second.client();
      publisher.publish('attacker.observed', new TextEncoder().encode(JSON.stringify(envelope('x', {}, 'via-second'))));
      await publisher.flush();
      await page.locator('[data-testid="delivery-row"][data-event-id="via-second"][data-outcome="delivered"]').waitFor();

      // The password went out once, in the save; nothing ever brought it back.
      await page.reload();
      await page.getByTestId('bus-state').filter({ hasText: `BUS CONNECTED · ${second.wsUrl}` }).waitFor();
      await openSettings();
      expect(await panel().getByTestId('secret-state-natsPassword').textContent()).toBe('SET');
      expect(frames.sent.filter((f) => f.includes(password))).toHaveLength(1);
      expect(frames.sent.find((f) => f.includes(password))).toContain('"settings.update"');
      expect(frames.received.filter((f) => f.includes(password))).toEqual([]);
      expect(frames.received.some((f) => f.includes('"natsPasswordSet":true'))).toBe(true);
      expect(await page.content()).not.toContain(password);
    } finally {
      await second.cleanup();
    }
  });

  it('sets, then clears, a token without ever sending it back', async () => {
    const token = 'tok-5b0e7e1f9a3c4d21';
    const frames = recordFrames();
    await page.reload();
    await page.getByTestId('bus-state').filter({ hasText: 'BUS CONNECTED' }).waitFor();

    const p = await openSettings();
    await p.getByTestId('secret-replace-natsToken').click();
    // An empty replacement is no change.
    expect(await p.getByTestId('settings-save').isDisabled()).toBe(true);
    await p.getByTestId('secret-input-natsToken').fill(token);
    await p.getByTestId('settings-save').click();
    await expect.poll(() => p.getByTestId('settings-saved').textContent()).toContain('token');
    expect(await p.getByTestId('secret-state-natsToken').textContent()).toBe('SET');
    expect((await settings()).natsTokenSet).toBe(true);
    // A server without authorization accepts the token: the engine is back on the bus.
    await page.getByTestId('bus-state').filter({ hasText: 'BUS CONNECTED' }).waitFor();

    await p.getByTestId('secret-clear-natsToken').click();
    expect(await p.getByTestId('secret-state-natsToken').textContent()).toBe('WILL BE CLEARED');
    await p.getByTestId('settings-save').click();
    await expect.poll(() => p.getByTestId('secret-state-natsToken').textContent()).toBe('NOT SET');
    expect((await settings()).natsTokenSet).toBe(false);

    expect(frames.sent.filter((f) => f.includes(token))).toHaveLength(1);
    expect(frames.received.filter((f) => f.includes(token))).toEqual([]);
    expect(await page.content()).not.toContain(token);
  });

  it('says when this run was started with --nats, which wins over the stored URL', async () => {
    await ui.close();
    ui = await startConsole(browser);
    ({ t, receiver, page } = ui);
    unwrap(await t.api['settings.update']({ natsUrl: 'ws://bus.example.org:9222' }));
    const p = await openSettings();
    await expect.poll(() => p.getByTestId('override-natsUrl').textContent()).toContain(`--nats: ${t.nats.wsUrl}`);
    expect(await field('natsUrl').inputValue()).toBe('ws://bus.example.org:9222');
  });

  it("shows the JetStream durable: this installation's own as the placeholder, a name set, the one in use", async () => {
    const own = (await settings()).jetstreamDurableDefault;
    expect(own).toMatch(/^sluice-[0-9a-f]{12}$/);
    const jsm = await jetstreamManager(await bus.client());
    await jsm.streams.add({ name: 'DECNET', subjects: ['attacker.>'] });
    const p = await openSettings();
    const save = p.getByTestId('settings-save');
    expect(await field('jetstreamDurable').inputValue()).toBe('');
    expect(await field('jetstreamDurable').getAttribute('placeholder')).toBe(own);
    expect(await p.getByTestId('durable-hint').textContent()).toContain(own);
    expect(await p.getByTestId('settings-jetstream-state').count()).toBe(0);

    // A name NATS cannot take is refused next to the field, and nothing is saved.
    await field('jetstreamStream').fill('DECNET');
    await field('jetstreamDurable').fill('soc.team');
    await save.click();
    await expect.poll(() => p.getByTestId('error-jetstreamDurable').textContent()).toBe('letters, digits, - and _ only');
    expect(await settings()).toMatchObject({ jetstreamStream: '', jetstreamDurable: '' });

    // Left empty: this installation's own.
    await field('jetstreamDurable').fill('');
    await save.click();
    await expect.poll(() => p.getByTestId('settings-jetstream-state').textContent()).toMatch(new RegExp(`consuming stream DECNET as durable consumer ${own}`));
    expect(await page.getByTestId('bus-state').getAttribute('title')).toContain(`JetStream stream DECNET, durable consumer ${own} (consuming)`);

    await field('jetstreamDurable').fill('soc-team');
    await save.click();
    await expect.poll(() => p.getByTestId('settings-saved').textContent()).toContain('JetStream durable');
    await expect.poll(() => p.getByTestId('settings-jetstream-state').textContent()).toMatch(/consuming stream DECNET as durable consumer soc-team/);
    expect(await settings()).toMatchObject({ jetstreamStream: 'DECNET', jetstreamDurable: 'soc-team', jetstreamDurableDefault: own });
    expect(await field('jetstreamDurable').inputValue()).toBe('soc-team');
  });
});
