/**
 * The README's picture of the Team view, made from real parts: a real nats-server with
 * JetStream, the team made as `sluice team create` makes it (its stream, key file,
 * configuration bucket and shared durable), two member engines joined by settings and
 * named as two analysts' machines, real receivers behind host names that resolve to
 * loopback, DECNET-style events published on the team's stream, and the console of the
 * first member in Chromium through the web host.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { expect, it, vi } from 'vitest';
import type { Settings } from '../../src-main/contract/views';
import { createKeyFileCipher } from '../../src-main/store/secret-cipher';
import { ensureSharedConsumer } from '../../src-main/team/shared-consumer';
import { TeamConfig } from '../../src-main/team/team-config';
import { createTeamKeyFile } from '../../src-main/team/team-key';
import { launchChromium, openConsole } from '../harness/browser';
import { envelope, startTestEngine, unwrap, type TestEngine } from '../harness/engine';
import { startNatsServer } from '../harness/nats-server';
import { startReceiver, status } from '../harness/receiver';

const OUTPUT = resolve(__dirname, '../../docs/team.png');
const NAMES = ['wazuh.soc.internal', 'thehive.soc.internal'];

it('renders the Team view with two members and the live log of both', { timeout: 120_000 }, async () => {
  const nats = await startNatsServer();
  const nc = await nats.client();
  const dir = await mkdtemp(join(tmpdir(), 'sluice-team-docs-'));
  const wazuh = await startReceiver();
  const thehive = await startReceiver(status(503));
  const members: TestEngine[] = [];
  try {
    await (await jetstreamManager(nc)).streams.add({ name: 'DECNET', subjects: ['attacker.>', 'canary.>', 'credential.>'] });
    const keyFile = join(dir, 'team.key');
    const key = createTeamKeyFile(keyFile);
    await TeamConfig.create(nc, { name: 'soc', stream: 'DECNET', key });
    await ensureSharedConsumer(nc, { team: 'soc', stream: 'DECNET' });
    const settings: Partial<Settings> = { jetstreamStream: 'DECNET', teamKeyFile: keyFile, teamBucket: 'soc', retrySchedule: [], circuitThreshold: 1000 };
    const member = async (hostname: string): Promise<TestEngine> => {
      const t = await startTestEngine({
        server: nats,
        settings,
        engine: { hostname, lookup: async (host) => (NAMES.includes(host) ? ['127.0.0.1'] : []), cipher: createKeyFileCipher(randomBytes(32)) },
      });
      members.push(t);
      if (t.engine.status().jetstream?.state !== 'consuming') await t.waitForRecord((r) => r.kind === 'jetstream' && r.status.state === 'consuming');
      return t;
    };
    const [a, b] = [await member('soc-analyst-1'), await member('soc-analyst-2')];
    unwrap(await a.api['subscriptions.create']({ name: 'wazuh-manager', url: `http://${NAMES[0]}:${wazuh.port}/decnet/events`, patterns: ['attacker.>', 'credential.>'] }));
    unwrap(await a.api['subscriptions.create']({ name: 'thehive-alerts', url: `http://${NAMES[1]}:${thehive.port}/api/v1/alert/webhook`, patterns: ['canary.*.triggered'] }));
    await vi.waitFor(async () => expect(unwrap(await b.api['subscriptions.list']())).toHaveLength(2));

    const js = jetstream(nc);
    const ips = ['203.0.113.24', '198.51.100.7', '192.0.2.181', '203.0.113.90'];
    let n = 0;
    const publishOne = async (): Promise<void> => {
      const i = n++;
      const [subject, body] =
        i % 7 === 3
          ? ['canary.aws-key-3.triggered', envelope('triggered', { token: 'aws-key-3', source_ip: ips[i % 4] })]
          : i % 5 === 4
            ? ['credential.reused', envelope('reuse', { user: 'admin', decky: 'ssh-02' })]
            : i % 2 === 0
              ? ['attacker.observed', envelope('first_sighting', { ip: ips[i % 4], decky: 'web-01', port: 22 })]
              : ['attacker.scored', envelope('scored', { ip: ips[i % 4], score: 0.72 })];
      await js.publish(subject, JSON.stringify(body));
    };
    // One at a time until each member has delivered something, then a busy log.
    const delivered = async (t: TestEngine): Promise<number> => unwrap(await t.api['deliveries.list']({ outcome: 'delivered' })).length;
    await vi.waitFor(
      async () => {
        await publishOne();
        expect(Math.min(await delivered(a), await delivered(b))).toBeGreaterThan(0);
      },
      { timeout: 30_000, interval: 100 },
    );
    while (n < 40) await publishOne();

    const browser = await launchChromium();
    const c = await openConsole(browser, a, { width: 1440, height: 860 });
    try {
      const page = c.page;
      await page.getByTestId('view-team').click();
      // Both members listed, each with deliveries counted in its heartbeat (written every 10 s).
      await vi.waitFor(
        async () => {
          const counts = await page.locator('[data-testid="team-member"] td.num').allTextContents();
          expect(counts.filter((_, i) => i % 3 === 0).map(Number)).toEqual([expect.any(Number), expect.any(Number)]);
          expect(Math.min(...counts.filter((_, i) => i % 3 === 0).map(Number))).toBeGreaterThan(0);
        },
        { timeout: 30_000, interval: 250 },
      );
      await vi.waitFor(async () => expect(new Set(await page.locator('[data-testid="team-log-row"]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-instance-id')))).size).toBe(2), {
        timeout: 10_000,
        interval: 250,
      });
      await page.evaluate('(document.activeElement instanceof HTMLElement) && document.activeElement.blur()');
      await page.screenshot({ path: OUTPUT });
    } finally {
      await c.close();
      await browser.close();
    }
  } finally {
    for (const t of members) await t.cleanup();
    for (const r of [wazuh, thehive]) await r.close();
    await nats.cleanup();
    await rm(dir, { recursive: true, force: true });
  }
});
