/**
 * The console's Team view (docs/design.md#teams) in Debian's Chromium, over the web host:
 * a real nats-server with JetStream, the team made as `sluice team create` makes it (a
 * stream, a key file, the configuration bucket and the shared durable), the console's
 * engine and a second in-process engine joined by settings, a real receiver. A Sluice
 * alone offers no Team view. Set SLUICE_SHOTS=/tmp to keep screenshots at 1440×900 and
 * 1280×800.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Browser, Page, WebSocket as PageSocket } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Settings } from '../../src-main/contract/views';
import { ensureSharedConsumer } from '../../src-main/team/shared-consumer';
import { TeamConfig } from '../../src-main/team/team-config';
import { createTeamKeyFile, type TeamKey } from '../../src-main/team/team-key';
import { TeamMembers } from '../../src-main/team/team-members';
import { launchChromium } from '../harness/browser';
import { startConsole, type TestConsole } from '../harness/console';
import { envelope, startTestEngine, unwrap, type TestEngine } from '../harness/engine';
import { startNatsServer, type NatsServer } from '../harness/nats-server';

const STREAM = 'DECNET';
const TEAM = 'soc';

let browser: Browser;
let nats: NatsServer;
let nc: NatsConnection;
let dir: string;
let keyFile: string;
let key: TeamKey;
let ui: TestConsole | undefined;
let other: TestEngine | undefined;

beforeAll(async () => {
  browser = await launchChromium();
});

afterAll(async () => {
  await browser.close();
});

beforeEach(async () => {
  nats = await startNatsServer();
  nc = await nats.client();
  await (await jetstreamManager(nc)).streams.add({ name: STREAM, subjects: ['attacker.>'] });
  dir = await mkdtemp(join(tmpdir(), 'sluice-team-ui-'));
  keyFile = join(dir, 'team.key');
  key = createTeamKeyFile(keyFile);
  await TeamConfig.create(nc, { name: TEAM, stream: STREAM, key });
  await ensureSharedConsumer(nc, { team: TEAM, stream: STREAM });
});

afterEach(async () => {
  await other?.cleanup();
  await ui?.close();
  await nats.cleanup();
  await rm(dir, { recursive: true, force: true });
  expect(ui?.problems ?? []).toEqual([]);
  ui = other = undefined;
});

const teamSettings = (): Partial<Settings> => ({ jetstreamStream: STREAM, teamKeyFile: keyFile, teamBucket: TEAM });

/** Resolves once the engine consumes the team's stream through the shared durable. */
async function consuming(t: TestEngine): Promise<void> {
  if (t.engine.status().jetstream?.state !== 'consuming') await t.waitForRecord((r) => r.kind === 'jetstream' && r.status.state === 'consuming');
}

async function publish(id: string): Promise<void> {
  await jetstream(nc).publish('attacker.observed', JSON.stringify(envelope('first_sighting', { ip: '203.0.113.24' }, id)), { msgID: id });
}

/** The instance ids in the attribute `attr` of the elements `selector` shows now. */
const attrs = (page: Page, selector: string, attr: string): Promise<string[]> =>
  page.locator(selector).evaluateAll((els, a) => els.map((el) => el.getAttribute(a) ?? ''), attr);

/** The elements whose content is wider than their box (cut off, or scrolled sideways): the start of their text. */
const clippedTexts = (page: Page, selector: string): Promise<string[]> =>
  page.locator(selector).evaluateAll((els) => els.filter((el) => el.scrollWidth > el.clientWidth).map((el) => (el.textContent ?? '').trim().slice(0, 80)));

/** Every `team.status` answer (a Result) the page receives from now on: the web host's JSON-RPC frames. */
function teamAnswers(page: Page): unknown[] {
  const answers: unknown[] = [];
  const asked = new Set<number>();
  page.on('websocket', (ws: PageSocket) => {
    ws.on('framesent', (f) => {
      const m = JSON.parse(String(f.payload)) as { id?: number; method?: string };
      if (m.method === 'team.status' && typeof m.id === 'number') asked.add(m.id);
    });
    ws.on('framereceived', (f) => {
      const m = JSON.parse(String(f.payload)) as { id?: number; result?: unknown };
      if (typeof m.id === 'number' && asked.has(m.id)) answers.push(m.result);
    });
  });
  return answers;
}

describe('console team view', { timeout: 90_000 }, () => {
  it("lists the team's members, this Sluice marked, and a live log with every member's deliveries", async () => {
    ui = await startConsole(browser, { server: nats, settings: teamSettings() });
    const { t, page, receiver } = ui;
    other = await startTestEngine({ server: nats, settings: teamSettings() });
    await consuming(t);
    await consuming(other);
    const self = t.engine.installId;
    const both = [self, other.engine.installId].sort();
    unwrap(await t.api['subscriptions.create']({ name: 'siem', url: receiver.url, patterns: ['attacker.>'] }));
    await vi.waitFor(async () => expect(unwrap(await other!.api['subscriptions.list']()).map((s) => s.name)).toEqual(['siem']));

    // The team's view, next to this Sluice's own.
    await page.getByTestId('view-team').click();
    const view = page.getByTestId('team-view');
    await view.waitFor();
    expect(await page.getByTestId('view-team').getAttribute('aria-current')).toBe('page');
    expect(await page.getByTestId('view-deliveries').getAttribute('aria-current')).toBeNull();
    expect(await page.getByTestId('subscriptions').count()).toBe(0);
    expect(await view.getByTestId('team-bucket').textContent()).toBe(TEAM);
    expect(await view.getByTestId('team-stream').textContent()).toBe(STREAM);
    await expect.poll(() => view.getByTestId('team-state').getAttribute('data-tone')).toBe('ok');
    expect(await view.getByTestId('team-state').getAttribute('role')).toBe('status');

    // Both members, once each has written its heartbeat; this one first, marked.
    await expect.poll(() => attrs(page, '[data-testid="team-member"]', 'data-instance-id').then((ids) => [...ids].sort()), { timeout: 15_000 }).toEqual(both);
    expect(await attrs(page, '[data-testid="team-member"]', 'data-self')).toEqual(['true', 'false']);
    expect((await attrs(page, '[data-testid="team-member"]', 'data-instance-id'))[0]).toBe(self);
    const selfRow = page.locator('[data-testid="team-member"][data-self="true"]');
    expect(await selfRow.getByTestId('team-member-self').textContent()).toBe('THIS SLUICE');
    expect(await page.getByTestId('team-member-self').count()).toBe(1);
    expect(await selfRow.getByTestId('team-member-seen').textContent()).toMatch(/^\s*\d+s ago\s*$/);
    expect(await page.getByTestId('team-member-stale').count()).toBe(0);
    // Both engines run on this machine, under one host name: the view tells them apart.
    const names = await page.getByTestId('team-member-name').allTextContents();
    expect(new Set(names).size).toBe(2);
    expect(names[0]).toContain(self.slice(0, 8));
    // A table with its headers, rows headed by the member's name.
    expect(await page.locator('[data-testid="team-members"] thead th[scope="col"]').allTextContents()).toEqual([
      'Name', 'Host', 'Version', 'Bus', 'Last seen', 'Delivered', 'Failed', 'In flight',
    ]);
    expect(await page.locator('[data-testid="team-members"] tbody th[scope="row"]').count()).toBe(2);
    await expect.poll(() => view.getByTestId('team-backlog').getAttribute('data-pending')).toMatch(/^\d+$/);
    expect(await view.getByTestId('team-backlog').textContent()).toContain("waiting on the team's stream");
    expect(await page.getByTestId('team-log-empty').count()).toBe(1);

    // A member that stopped without leaving (killed 90 s ago): its last heartbeat stays, shown stale and last.
    const gone = randomUUID();
    const lastBeat = {
      instanceId: gone,
      name: 'night-shift',
      host: 'soc-ws-07',
      version: '0.1.0',
      startedAt: new Date(Date.now() - 3_600_000).toISOString(),
      bus: 'connected' as const,
      deliveries: { delivered: 12, failed: 0, inFlight: 0 },
    };
    await (await TeamMembers.open(nc, TEAM, key)).beat(lastBeat, new Date(Date.now() - 90_000));
    await expect.poll(() => attrs(page, '[data-testid="team-member"]', 'data-instance-id'), { timeout: 5_000 }).toEqual([self, other.engine.installId, gone]);
    const goneRow = page.locator(`[data-testid="team-member"][data-instance-id="${gone}"]`);
    expect(await goneRow.getAttribute('data-stale')).toBe('true');
    expect(await goneRow.getByTestId('team-member-stale').textContent()).toBe('STALE');
    expect(await goneRow.getByTestId('team-member-seen').textContent()).toMatch(/^\s*STALE\s+1m ago\s*$/);
    expect(await goneRow.getByTestId('team-member-seen').getAttribute('title')).toContain('silent for more than 30 s');
    expect(await view.getByTestId('team-members-count').textContent()).toBe('3 members · 1 stale');

    // Each event goes to one member: published one at a time until each has delivered one
    // and told the team, which the view (asking every 2 s) shows.
    let n = 0;
    await vi.waitFor(
      async () => {
        await publish(`team-${n++}`);
        await receiver.waitForRequests(n, 5_000);
        const members = await attrs(page, '[data-testid="team-log-row"]', 'data-instance-id');
        expect([...new Set(members)].sort()).toEqual(both);
      },
      { timeout: 40_000, interval: 200 },
    );
    const rows = page.getByTestId('team-log-row');
    // Newest first: the latest event on top once the view has it.
    await expect.poll(() => rows.first().getAttribute('data-event-id'), { timeout: 10_000 }).toBe(`team-${n - 1}`);
    const first = await rows.first().locator('td').allTextContents();
    expect(first[2]).toBe('siem');
    expect(first[3]).toBe(`team-${n - 1}`);
    expect(first[4]).toBe('attacker.observed');
    expect(first[5]).toBe('delivered');
    expect(first[6]).toBe('200');
    expect(first[7]).toMatch(/^\d+ ms$/);
    expect(await rows.first().locator('.outcome.delivered').count()).toBe(1);
    expect(await attrs(page, '[data-testid="team-log-row"]', 'data-self')).toContain('true');
    expect(await attrs(page, '[data-testid="team-log-row"]', 'data-self')).toContain('false');
    // The live members' counts say the same (in their next heartbeats).
    await expect.poll(async () => (await page.locator('[data-testid="team-member"][data-stale="false"] td.num').allTextContents()).filter((_, i) => i % 3 === 0).map(Number).reduce((a, b) => a + b, 0), {
      timeout: 25_000,
    }).toBe(n);

    const shots = process.env['SLUICE_SHOTS'];
    if (shots) await page.screenshot({ path: join(shots, 'sluice-team-members.png') });

    // Back to this Sluice's own view, and again.
    await page.getByTestId('view-deliveries').click();
    await page.getByTestId('subscriptions').waitFor();
    expect(await page.getByTestId('team-view').count()).toBe(0);
    await page.getByTestId('view-team').focus();
    await page.keyboard.press('Enter');
    await view.waitFor();
  });

  it('fits the team view at 1440×900 and 1280×800: the log scrolls within its panel, the page not at all', async () => {
    ui = await startConsole(browser, { server: nats, settings: teamSettings() });
    const { t, page, receiver } = ui;
    await consuming(t);
    unwrap(await t.api['subscriptions.create']({ name: 'wazuh-manager', url: receiver.url, patterns: ['attacker.>'] }));
    await t.engine.busReady();
    for (let i = 0; i < 60; i++) await publish(`many-${i}`);
    await receiver.waitForRequests(60, 20_000);
    await page.getByTestId('view-team').click();
    await expect.poll(() => page.getByTestId('team-log-row').count(), { timeout: 10_000 }).toBe(60);
    await page.getByTestId('team-member').waitFor();

    for (const size of [
      { width: 1440, height: 900 },
      { width: 1280, height: 800 },
    ]) {
      await page.setViewportSize(size);
      const layout = await page.getByTestId('team-log').evaluate((table) => {
        const doc = table.ownerDocument;
        const root = doc.documentElement;
        const scroller = table.parentElement!;
        return {
          pageScrolls: root.scrollHeight > root.clientHeight || root.scrollWidth > root.clientWidth,
          logScrolls: scroller.scrollHeight > scroller.clientHeight,
          viewBottom: doc.querySelector('[data-testid="team-view"]')!.getBoundingClientRect().bottom,
          logShown: scroller.clientHeight,
        };
      });
      expect(layout.pageScrolls, `${size.width}×${size.height}`).toBe(false);
      expect(layout.logScrolls).toBe(true);
      expect(layout.viewBottom).toBeLessThanOrEqual(size.height);
      // A good part of the screen for the log: at least ten rows.
      expect(layout.logShown).toBeGreaterThan(10 * 26);
      // The members' table and the log's key cells whole; the header's controls too.
      expect(await clippedTexts(page, '[data-testid="team-members"] td, [data-testid="team-members"] th')).toEqual([]);
      expect(await clippedTexts(page, '[data-testid="team-log-row"] td:nth-child(-n+3), [data-testid="team-log-row"] td:nth-child(n+6)')).toEqual([]);
      expect(await clippedTexts(page, 'header > *, [data-testid="team-view"] dd')).toEqual([]);
      const dir = process.env['SLUICE_SHOTS'];
      if (dir) await page.screenshot({ path: join(dir, `sluice-team-${size.width}x${size.height}.png`) });
    }
  });

  it('offers no Team view to a Sluice alone, and one as soon as it joins by its settings', async () => {
    ui = await startConsole(browser, { server: nats });
    const { t, page } = ui;
    // Loaded afresh, with the page's answers seen: alone, team.status says null.
    const answers = teamAnswers(page);
    await page.reload();
    await page.getByTestId('bus-state').filter({ hasText: 'BUS CONNECTED' }).waitFor();
    await vi.waitFor(() => expect(answers.length).toBeGreaterThan(0));
    for (const answer of answers) expect(answer).toEqual({ ok: true, value: null });
    await page.getByTestId('subscriptions-empty').waitFor();
    // The view switch offers this Sluice's own views (Deliveries, Audit), no Team.
    expect(await page.getByTestId('views').getByRole('button').allTextContents()).toEqual(['Deliveries', 'Audit']);
    expect(await page.getByTestId('view-team').count()).toBe(0);
    expect(await page.getByTestId('team-view').count()).toBe(0);

    // Joined (as `sluice team join` sets it): the bus rebinds, and the Team view is offered.
    unwrap(await t.api['settings.update'](teamSettings()));
    await page.getByTestId('view-team').click();
    await page.getByTestId('team-view').waitFor();
    // The Settings show the team and its key file, read-only, in their Team fieldset (not as bus fields to type in).
    await page.getByTestId('open-settings').click();
    const bus = page.locator('[data-testid="settings-panel"] fieldset.bus-settings');
    const teamFields = page.getByTestId('team-settings');
    await expect.poll(() => teamFields.getByTestId('team-settings-bucket').textContent()).toBe(TEAM);
    expect(await teamFields.getByTestId('team-settings-keyfile').inputValue()).toBe(keyFile);
    expect(await teamFields.getByTestId('team-settings-keyfile').getAttribute('readonly')).not.toBeNull();
    expect(await page.locator('[data-testid="settings-panel"] [name="teamBucket"], [data-testid="settings-panel"] [name="teamKeyFile"]').count()).toBe(0);
    // A member consumes through the team's durable, whatever its own durable setting says.
    expect(await bus.getByTestId('durable-hint').textContent()).toContain(`the team's shared durable ${TEAM}`);
    expect(await bus.locator('[name="jetstreamDurable"]').getAttribute('placeholder')).toBe(TEAM);
    const dir = process.env['SLUICE_SHOTS'];
    await teamFields.scrollIntoViewIfNeeded();
    if (dir) await page.getByTestId('settings-panel').screenshot({ path: join(dir, 'sluice-team-settings.png') });
    await page.getByTestId('settings-close').click();
    await page.getByTestId('settings-panel').waitFor({ state: 'detached' });
    // Left while the Team view is shown: back to this Sluice's own view, no Team entry.
    unwrap(await t.api['settings.update']({ teamBucket: '', teamKeyFile: '' }));
    await page.getByTestId('subscriptions-empty').waitFor({ timeout: 10_000 });
    await page.getByTestId('view-team').waitFor({ state: 'detached' });
    expect(await page.getByTestId('team-view').count()).toBe(0);
  });
});
