/**
 * The README's screenshot, made from real parts: a real engine and nats-server, real
 * receivers behind host names that resolve to loopback, DECNET-style events published
 * on the bus, and the console in Chromium through the web host.
 */
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { it } from 'vitest';
import { envelope, startTestEngine, unwrap } from '../harness/engine';
import { launchChromium, openConsole } from '../harness/browser';
import { startReceiver, status } from '../harness/receiver';
import { createKeyFileCipher } from '../../src-main/store/secret-cipher';

const OUTPUT = resolve(__dirname, '../../docs/console.png');
const NAMES = ['wazuh.soc.internal', 'thehive.soc.internal', 'shuffle.soc.internal', 'n8n.lab.internal'];

it('renders the console with subscriptions in all three states and a busy log', async () => {
  const t = await startTestEngine({
    settings: { circuitThreshold: 3, retrySchedule: [] },
    // Secrets encrypted with a key, as a real deployment runs (no plain-text warning banner).
    engine: { lookup: async (host) => (NAMES.includes(host) ? ['127.0.0.1'] : []), cipher: createKeyFileCipher(randomBytes(32)) },
  });
  const wazuh = await startReceiver();
  const thehive = await startReceiver(status(503));
  const shuffle = await startReceiver();
  const n8n = await startReceiver();
  const url = (host: string, port: number, path: string) => `http://${host}:${port}${path}`;
  unwrap(await t.api['subscriptions.create']({ name: 'wazuh-manager', url: url(NAMES[0]!, wazuh.port, '/decnet/events'), presets: ['AttackerDetail', 'DeckyStatus'] }));
  unwrap(await t.api['subscriptions.create']({ name: 'thehive-alerts', url: url(NAMES[1]!, thehive.port, '/api/v1/alert/webhook'), patterns: ['canary.*.triggered', 'attacker.scored'] }));
  unwrap(await t.api['subscriptions.create']({ name: 'shuffle-playbooks', url: url(NAMES[2]!, shuffle.port, '/api/v1/hooks/webhook_7f3a'), patterns: ['canary.>', 'credential.>'] }));
  const lab = unwrap(await t.api['subscriptions.create']({ name: 'n8n-lab', url: url(NAMES[3]!, n8n.port, '/webhook/decnet'), presets: ['SystemStatus'] }));
  unwrap(await t.api['subscriptions.setEnabled'](lab.subscription.id, false));
  await t.engine.busReady();

  const browser = await launchChromium();
  const c = await openConsole(browser, t, { width: 1440, height: 860 });
  try {
    const tripped = t.waitForRecord((r) => r.kind === 'breaker' && r.tripped);
    const ips = ['203.0.113.24', '198.51.100.7', '192.0.2.181', '203.0.113.90'];
    for (let i = 0; i < 4; i++) {
      await t.publish('attacker.observed', envelope('first_sighting', { ip: ips[i], decky: 'web-01', port: 22 }));
      await t.publish('attacker.scored', envelope('scored', { ip: ips[i], score: 0.72 + i / 20 }));
    }
    await t.publish('decky.web-01.state', envelope('state', { decky: 'web-01', state: 'up' }));
    await t.publish('canary.aws-key-3.triggered', envelope('triggered', { token: 'aws-key-3', source_ip: '198.51.100.7' }));
    await t.publish('credential.reused', envelope('reuse', { user: 'admin', decky: 'ssh-02' }));
    await t.publish('attacker.session.started', 'not json' as unknown as object);
    await tripped;
    await t.api['subscriptions.testFire'](lab.subscription.id);
    await c.page.getByTestId('count-tripped').waitFor();
    await c.page.locator('[data-testid="delivery-row"][data-outcome="test"]').waitFor();
    await c.page.getByTestId('delivery-row').nth(12).waitFor();
    // The health column refreshes every few seconds: wait for the figures of the rows that delivered.
    for (const name of ['wazuh-manager', 'thehive-alerts'])
      await c.page
        .locator(`[data-testid="subscription-row"][data-name="${name}"] [data-testid="table-success-rate"]`)
        .filter({ hasText: '%' })
        .waitFor();
    await c.page.screenshot({ path: OUTPUT });
  } finally {
    await c.close();
    await browser.close();
    for (const r of [wazuh, thehive, shuffle, n8n]) await r.close();
    await t.cleanup();
  }
});
