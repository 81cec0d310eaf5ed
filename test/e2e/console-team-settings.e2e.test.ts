/**
 * The Settings screen's Team fieldset (docs/design.md#teams) in Debian's Chromium, over
 * the web host, against a real nats-server with JetStream: a Sluice alone creates a team
 * (a refusal first, shown by its field), the Team view appears, and it leaves the team
 * behind a confirmation. Set SLUICE_SHOTS=/tmp to keep screenshots at 1440×900 and 1280×800.
 */
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TeamConfig } from '../../src-main/team/team-config';
import { readTeamKeyFile } from '../../src-main/team/team-key';
import { launchChromium } from '../harness/browser';
import { startConsole, type TestConsole } from '../harness/console';
import { unwrap } from '../harness/engine';
import { startNatsServer, type NatsServer } from '../harness/nats-server';

const STREAM = 'DECNET';
const TEAM = 'soc';

let browser: Browser;
let nats: NatsServer;
let dir: string;
let ui: TestConsole | undefined;

beforeAll(async () => {
  browser = await launchChromium();
});

afterAll(async () => {
  await browser.close();
});

beforeEach(async () => {
  nats = await startNatsServer();
  const nc = await nats.client();
  await (await jetstreamManager(nc)).streams.add({ name: STREAM, subjects: ['attacker.>'] });
  dir = await mkdtemp(join(tmpdir(), 'sluice-team-settings-'));
});

afterEach(async () => {
  await ui?.close();
  await nats.cleanup();
  await rm(dir, { recursive: true, force: true });
  expect(ui?.problems ?? []).toEqual([]);
  ui = undefined;
});

async function openSettings(page: Page): Promise<void> {
  await page.getByTestId('open-settings').click();
  await page.getByTestId('team-settings').waitFor();
}

async function closeSettings(page: Page): Promise<void> {
  await page.getByTestId('settings-close').click();
  await page.getByTestId('settings-panel').waitFor({ state: 'detached' });
}

/** The elements whose content is wider than their box (cut off, or scrolled sideways): the start of their text. */
const clippedTexts = (page: Page, selector: string): Promise<string[]> =>
  page.locator(selector).evaluateAll((els) => els.filter((el) => el.scrollWidth > el.clientWidth + 1).map((el) => (el.textContent ?? '').trim().slice(0, 80)));

describe('the Team fieldset of the Settings screen', { timeout: 90_000 }, () => {
  it('creates a team (a missing stream refused by its field first), shows the Team view, and leaves it', async () => {
    ui = await startConsole(browser, { server: nats });
    const { t, page } = ui;
    await page.getByTestId('bus-state').filter({ hasText: 'BUS CONNECTED' }).waitFor();
    expect(await page.getByTestId('view-team').count()).toBe(0);

    await openSettings(page);
    const team = page.getByTestId('team-settings');
    const create = team.getByTestId('team-create');
    expect(await create.getByTestId('team-create-bucket').inputValue()).toBe('sluice-team');
    await expect.poll(() => team.getByTestId('team-join').isVisible()).toBe(true);

    // Refused by the engine, shown by the field, nothing written.
    const keyOut = join(dir, 'team.key');
    await create.getByTestId('team-create-stream').fill('NOPE');
    await create.getByTestId('team-create-bucket').fill(TEAM);
    await create.getByTestId('team-create-keyout').fill(keyOut);
    await create.getByTestId('team-create-submit').click();
    const streamError = create.getByTestId('team-create-error-stream');
    await streamError.waitFor();
    expect(await streamError.textContent()).toContain('there is no stream "NOPE"');
    expect(await create.getByTestId('team-create-stream').getAttribute('aria-invalid')).toBe('true');
    expect(existsSync(keyOut)).toBe(false);
    expect(unwrap(await t.api['settings.get']()).teamBucket).toBe('');

    // Screenshots of the fieldset alone, at both sizes.
    const shots = process.env['SLUICE_SHOTS'];
    for (const size of [{ width: 1440, height: 900 }, { width: 1280, height: 800 }]) {
      await page.setViewportSize(size);
      await team.scrollIntoViewIfNeeded();
      expect(await clippedTexts(page, '[data-testid="team-settings"] h4, [data-testid="team-settings"] button, [data-testid="team-settings"] .label')).toEqual([]);
      if (shots) await page.screenshot({ path: join(shots, `sluice-team-settings-${size.width}x${size.height}.png`) });
    }

    // Typing takes the error away; then the team is created.
    await create.getByTestId('team-create-stream').fill(STREAM);
    expect(await streamError.count()).toBe(0);
    await create.getByTestId('team-create-submit').click();
    const result = team.getByTestId('team-result');
    await result.waitFor({ timeout: 15_000 });
    expect(await result.textContent()).toContain(`Team ${TEAM} created`);
    expect(statSync(keyOut).mode & 0o777).toBe(0o600);
    expect(unwrap(await t.api['settings.get']())).toMatchObject({ teamBucket: TEAM, teamKeyFile: keyOut, jetstreamStream: STREAM });
    expect((await TeamConfig.open(await nats.client(), TEAM, readTeamKeyFile(keyOut))).meta.stream).toBe(STREAM);
    // The fieldset now shows the membership, read-only, with Leave; the forms are gone.
    expect(await team.getByTestId('team-settings-bucket').textContent()).toBe(TEAM);
    expect(await team.getByTestId('team-settings-keyfile').inputValue()).toBe(keyOut);
    expect(await team.getByTestId('team-create').count()).toBe(0);
    // The form took the new stream without anything to save.
    expect(await page.locator('[data-testid="settings-panel"] [name="jetstreamStream"]').inputValue()).toBe(STREAM);
    expect(await page.getByTestId('settings-save').isDisabled()).toBe(true);
    if (shots) {
      await team.scrollIntoViewIfNeeded();
      await page.screenshot({ path: join(shots, 'sluice-team-settings-member.png') });
    }
    await closeSettings(page);

    // The Team view appears, this Sluice in it.
    await page.getByTestId('view-team').click({ timeout: 15_000 });
    const view = page.getByTestId('team-view');
    await view.waitFor();
    expect(await view.getByTestId('team-bucket').textContent()).toBe(TEAM);
    await page.locator(`[data-testid="team-member"][data-instance-id="${t.engine.installId}"]`).waitFor({ timeout: 15_000 });

    // Leave, behind the confirmation: Cancel first changes nothing.
    await openSettings(page);
    await team.getByTestId('team-leave').click();
    const dialog = page.getByTestId('team-leave-dialog');
    await dialog.getByTestId('dialog-cancel').click();
    await dialog.waitFor({ state: 'detached' });
    expect(unwrap(await t.api['settings.get']()).teamBucket).toBe(TEAM);
    await team.getByTestId('team-leave').click();
    await dialog.getByTestId('team-leave-confirm').click();
    await dialog.waitFor({ state: 'detached' });
    await result.waitFor();
    expect(await result.textContent()).toContain(`Left team ${TEAM}`);
    expect(unwrap(await t.api['settings.get']())).toMatchObject({ teamBucket: '', teamKeyFile: '', jetstreamStream: '' });
    await team.getByTestId('team-create').waitFor();
    await closeSettings(page);
    await page.getByTestId('view-team').waitFor({ state: 'detached', timeout: 15_000 });
    expect(await page.getByTestId('team-view').count()).toBe(0);
    // The key file stays where it was written.
    expect(existsSync(keyOut)).toBe(true);
  });
});
