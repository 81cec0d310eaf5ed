/**
 * Every screen of the console checked by axe-core (WCAG 2.x A/AA and best practices) in
 * Debian's Chromium, over the web host, with realistic data: subscriptions (one tripped,
 * with held and dead deliveries), a live log, each detail, form, dialog and menu, the help
 * overlay and the Team view. A serious or critical violation fails, named with its rule,
 * element and fix. Contrast included: the palette in app.css is what is checked.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ensureSharedConsumer } from '../../src-main/team/shared-consumer';
import { TeamConfig } from '../../src-main/team/team-config';
import { createTeamKeyFile } from '../../src-main/team/team-key';
import { seriousViolations } from '../harness/axe';
import { launchChromium } from '../harness/browser';
import { startConsole, type TestConsole } from '../harness/console';
import { envelope, unwrap } from '../harness/engine';
import { startNatsServer, type NatsServer } from '../harness/nats-server';
import { startReceiver, status, type Receiver } from '../harness/receiver';

let browser: Browser;
let ui: TestConsole | undefined;
let flaky: Receiver | undefined;
/** Taken down after the console (a team's nats-server, its key's folder). */
let cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  browser = await launchChromium();
});

afterAll(async () => {
  await browser.close();
});

afterEach(async () => {
  await ui?.close();
  await flaky?.close();
  for (const cleanup of cleanups.reverse()) await cleanup();
  expect(ui?.problems ?? []).toEqual([]);
  ui = flaky = undefined;
  cleanups = [];
});

/** Checks the page as it is now; soft, so one run names every screen that fails. */
async function check(page: Page, screen: string): Promise<void> {
  expect.soft(await seriousViolations(page), screen).toEqual([]);
}

/** Waits for a native dialog to be open and its content rendered. */
async function dialog(page: Page, testid: string) {
  const d = page.getByTestId(testid);
  await d.waitFor();
  await expect.poll(() => d.evaluate((el) => el.hasAttribute('open'))).toBe(true);
  return d;
}

describe('console accessibility (axe-core)', { timeout: 90_000 }, () => {
  it('has no serious violation on any screen of the deliveries view', async () => {
    ui = await startConsole(browser, { settings: { circuitThreshold: 2, retrySchedule: [] } });
    const { t, page, receiver } = ui;
    flaky = await startReceiver(status(503));
    const row = (name: string) => page.locator(`[data-testid="subscription-row"][data-name="${name}"]`);

    // Nothing yet: the empty table and log.
    await page.getByTestId('subscriptions-empty').waitFor();
    await check(page, 'empty console');

    // The form: creating, with a validation error shown, then the secret shown once.
    await page.getByTestId('new-subscription').click();
    const form = await dialog(page, 'subscription-form');
    await form.locator('input[name="name"]').fill('siem');
    await form.locator('input[name="url"]').fill('not a url');
    await form.getByTestId('confirm-unprotected').check();
    await form.getByTestId('save').click();
    await expect.poll(() => form.locator('[aria-invalid="true"]').count()).toBeGreaterThan(0);
    await check(page, 'subscription form (create, validation error)');
    await form.locator('input[name="url"]').fill(receiver.url);
    await form.locator('textarea[name="patterns"]').fill('canary.>');
    await form.getByTestId('save').click();
    const secret = await dialog(page, 'secret-dialog');
    await check(page, 'secret dialog');
    await secret.getByTestId('secret-done').click();
    await secret.waitFor({ state: 'detached' });

    // A second subscription to a receiver that fails: tripped, with held and dead deliveries.
    unwrap(await t.api['subscriptions.create']({ name: 'soar', url: flaky.url, patterns: ['canary.>'] }));
    await row('soar').waitFor();
    await t.engine.busReady();
    for (let i = 0; i < 5; i++) await t.publish('canary.tok1.triggered', envelope('canary', { token: 'tok1', i }, `ev-${i}`));
    await expect.poll(() => row('soar').getByTestId('state-chip').textContent(), { timeout: 10_000 }).toMatch(/TRIPPED/);
    await expect.poll(() => row('soar').getByTestId('held-count').count()).toBe(1);
    await page.locator('[data-testid="delivery-row"][data-outcome="delivered"]').first().waitFor();
    await page.getByTestId('held-summary').waitFor();
    await check(page, 'main view (subscriptions incl. a tripped one, live log, held line)');

    // A delivery's detail.
    await page.locator('[data-testid="delivery-row"][data-outcome="delivered"]').first().click();
    await expect.poll(() => page.getByTestId('detail-outcome').textContent()).toContain('delivered');
    await check(page, 'delivery detail');

    // A subscription's detail (health).
    await row('soar').getByTestId('open-subscription').click();
    await page.getByTestId('subscription-detail').waitFor();
    await page.getByTestId('health-chart').waitFor();
    await check(page, 'subscription detail');
    await page.keyboard.press('Escape');
    await page.getByTestId('subscription-detail').waitFor({ state: 'detached' });

    // Editing.
    await row('siem').getByTestId('edit').click();
    const edit = await dialog(page, 'subscription-form');
    await check(page, 'subscription form (edit)');
    await edit.locator('input[name="url"]').fill('ftp://nowhere');
    await edit.getByTestId('save').click();
    await expect.poll(() => edit.locator('[aria-invalid="true"]').count()).toBeGreaterThan(0);
    await check(page, 'subscription form (edit, validation error)');
    await page.keyboard.press('Escape');
    await edit.waitFor({ state: 'detached' });

    // Settings.
    await page.getByTestId('open-settings').click();
    const settings = await dialog(page, 'settings-panel');
    await check(page, 'settings panel');
    await settings.getByTestId('settings-close').click();
    await settings.waitFor({ state: 'detached' });

    // Replay (by pattern).
    await page.getByTestId('replay-pattern').click();
    const replay = await dialog(page, 'replay-dialog');
    await check(page, 'replay dialog');
    await replay.getByTestId('dialog-cancel').click();
    await replay.waitFor({ state: 'detached' });

    // Re-enable: the menu of the held events' choice, then the discard confirmation.
    await row('soar').getByTestId('reenable-menu').click();
    await row('soar').getByTestId('reenable-discard').waitFor();
    await check(page, 're-enable menu (held events: deliver or discard)');
    await row('soar').getByTestId('reenable-discard').click();
    const discard = await dialog(page, 'discard-dialog');
    await check(page, 're-enable and discard confirmation');
    await discard.getByTestId('dialog-cancel').click();
    await discard.waitFor({ state: 'detached' });

    // Delete.
    await row('soar').getByTestId('delete').click();
    const confirm = await dialog(page, 'confirm-dialog');
    await check(page, 'delete confirmation');
    await confirm.getByTestId('dialog-cancel').click();
    await confirm.waitFor({ state: 'detached' });

    // The help overlay.
    await page.keyboard.press('?');
    const help = await dialog(page, 'help-overlay');
    await check(page, 'help overlay');
    await help.getByTestId('help-close').click();
    await help.waitFor({ state: 'detached' });
  });

  it('has no serious violation in the Team view', async () => {
    const nats: NatsServer = await startNatsServer();
    cleanups.push(() => nats.cleanup());
    const dir = await mkdtemp(join(tmpdir(), 'sluice-a11y-team-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const nc = await nats.client();
    await (await jetstreamManager(nc)).streams.add({ name: 'DECNET', subjects: ['attacker.>'] });
    const keyFile = join(dir, 'team.key');
    const key = createTeamKeyFile(keyFile);
    await TeamConfig.create(nc, { name: 'soc', stream: 'DECNET', key });
    await ensureSharedConsumer(nc, { team: 'soc', stream: 'DECNET' });
    await nc.close();
    ui = await startConsole(browser, { server: nats, settings: { jetstreamStream: 'DECNET', teamKeyFile: keyFile, teamBucket: 'soc' } });
    const { page } = ui;
    await page.getByTestId('view-team').click();
    await page.getByTestId('team-member').first().waitFor({ timeout: 15_000 });
    await check(page, 'team view');
  });
});
