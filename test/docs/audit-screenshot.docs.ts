/**
 * The README's picture of the Audit view, made from real parts: an engine, receivers
 * behind host names that resolve to loopback, the changes an analyst's day makes (from
 * the browser console over the web host's socket, the tray's Pause all / Resume all, a
 * rotation, a test fire, a re-enable that discarded what it held, a delete), the chain
 * verified in the page. The OS user is given a name: these machines run as root.
 */
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { SOURCES } from '../../src-main/engine/audit-trail';
import { EMPTY_LEDGER, pauseAll, resumeAll } from '../../src-main/engine/pause-all';
import { createKeyFileCipher } from '../../src-main/store/secret-cipher';
import { launchChromium, openConsole } from '../harness/browser';
import { startTestEngine, unwrap } from '../harness/engine';
import { startReceiver } from '../harness/receiver';

vi.mock('node:os', async (original) => {
  const os = await original<typeof import('node:os')>();
  return { ...os, userInfo: () => ({ ...os.userInfo(), username: 'j.moreau' }) };
});

const OUTPUT = resolve(__dirname, '../../docs/audit.png');
const NAMES = ['wazuh.soc.internal', 'thehive.soc.internal', 'splunk.soc.internal'];

it('renders the Audit view', { timeout: 120_000 }, async () => {
  const receiver = await startReceiver();
  const t = await startTestEngine({
    settings: { retrySchedule: [5, 30, 300], timeoutMs: 5000 },
    engine: { lookup: async (host) => (NAMES.includes(host) ? ['127.0.0.1'] : []), cipher: createKeyFileCipher(randomBytes(32)) },
  });
  const browser = await launchChromium();
  const c = await openConsole(browser, t, { width: 1440, height: 900 });
  try {
    const ws = new WebSocket(`ws://127.0.0.1:${c.host.port}/rpc?token=${encodeURIComponent(c.host.token)}`, { origin: c.host.origin });
    await new Promise((res, rej) => ws.once('open', res).once('error', rej));
    let id = 0;
    const web = (method: string, ...params: unknown[]): Promise<unknown> =>
      new Promise((res, rej) => {
        const my = ++id;
        const on = (data: Buffer): void => {
          const m = JSON.parse(data.toString('utf8')) as { id?: number; result?: { ok: boolean; value?: unknown; error?: unknown } };
          if (m.id !== my) return;
          ws.off('message', on);
          if (m.result?.ok) res(m.result.value);
          else rej(new Error(JSON.stringify(m.result?.error)));
        };
        ws.on('message', on);
        ws.send(JSON.stringify({ jsonrpc: '2.0', id: my, method, params }));
      });
    const url = (i: number, path: string): string => `http://${NAMES[i]}:${receiver.port}${path}`;
    const wazuh = ((await web('subscriptions.create', { name: 'wazuh-manager', url: url(0, '/decnet/events'), patterns: ['attacker.>', 'credential.>'], secretHeaders: [{ name: 'Authorization', value: 'Bearer 9f1c…' }] })) as { subscription: { id: string } }).subscription.id;
    const hive = ((await web('subscriptions.create', { name: 'thehive-alerts', url: url(1, '/api/v1/alert'), patterns: ['canary.*.triggered'], format: 'thehive', thehiveSeverity: 3 })) as { subscription: { id: string } }).subscription.id;
    const splunk = ((await web('subscriptions.create', { name: 'splunk-hec-test', url: url(2, '/services/collector'), patterns: ['decky.*.state'], format: 'splunk-hec' })) as { subscription: { id: string } }).subscription.id;
    unwrap(await t.api['subscriptions.update'](wazuh, { patterns: ['attacker.>', 'credential.>', 'canary.*.triggered'], rate: 50 }));
    await web('settings.update', { concurrency: 16, circuitThreshold: 8 });
    await web('subscriptions.update', hive, { secret: randomBytes(24).toString('base64url'), previousSecretValidHours: 24 });
    await web('subscriptions.testFire', hive);
    const paused = await t.engine.bulk(SOURCES.tray, 'pause_all', (bridge) => pauseAll(bridge, EMPTY_LEDGER));
    await t.engine.bulk(SOURCES.tray, 'resume_all', (bridge) => resumeAll(bridge, paused.ledger));
    await web('subscriptions.setEnabled', wazuh, false);
    await web('subscriptions.setEnabled', wazuh, true, 'discard');
    await web('subscriptions.remove', splunk);
    ws.close();

    const page = c.page;
    await page.getByTestId('view-audit').click();
    await page.getByTestId('audit-row').first().waitFor();
    await page.getByTestId('audit-verify').click();
    await vi.waitFor(async () => expect(await page.getByTestId('audit-verify-status').textContent()).toContain('Chain intact'));
    await page.evaluate('(document.activeElement instanceof HTMLElement) && document.activeElement.blur()');
    await page.screenshot({ path: OUTPUT });
  } finally {
    await c.close();
    await browser.close();
    await receiver.close();
    await t.cleanup();
  }
});
