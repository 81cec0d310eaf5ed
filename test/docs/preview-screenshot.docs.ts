/**
 * The README's picture of the subscription form's live preview, made from real parts: a
 * real engine and nats-server, a receiver behind a host name that resolves to loopback,
 * DECNET-style canary events on the bus, and the console in Chromium through the web host.
 */
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { it } from 'vitest';
import { envelope, startTestEngine, unwrap } from '../harness/engine';
import { launchChromium, openConsole } from '../harness/browser';
import { startReceiver } from '../harness/receiver';
import { createKeyFileCipher } from '../../src-main/store/secret-cipher';

const OUTPUT = resolve(__dirname, '../../docs/preview.png');
const HOSTS = ['splunk.soc.internal', 'wazuh.soc.internal'];

it('renders the subscription form with the Splunk HEC format, a filter and the preview open', async () => {
  const t = await startTestEngine({
    settings: { retrySchedule: [] },
    engine: { lookup: async (host) => (HOSTS.includes(host) ? ['127.0.0.1'] : []), cipher: createKeyFileCipher(randomBytes(32)) },
  });
  const wazuh = await startReceiver();
  const splunk = await startReceiver();
  // Events are stored once a subscription listens for them: the SOC already has one.
  unwrap(await t.api['subscriptions.create']({ name: 'wazuh-manager', url: `http://${HOSTS[1]}:${wazuh.port}/decnet/events`, patterns: ['canary.>', 'attacker.>'] }));
  await t.engine.busReady();

  const browser = await launchChromium();
  const c = await openConsole(browser, t, { width: 1440, height: 1000 });
  try {
    await t.publish('canary.aws-key-3.triggered', envelope('triggered', { token: 'aws-key-3', decky: 'fin-01', source_ip: '198.51.100.7', score: 64 }));
    await t.publish('attacker.observed', envelope('first_sighting', { ip: '203.0.113.24', decky: 'web-01', port: 22 }));
    await t.publish('canary.db-creds.triggered', envelope('triggered', { token: 'db-creds', decky: 'fin-02', source_ip: '203.0.113.90', score: 91 }));
    await t.waitForFinal(3);

    const page = c.page;
    const form = page.getByTestId('subscription-form');
    await page.getByTestId('new-subscription').click();
    await form.locator('input[name="name"]').fill('splunk-canaries');
    await form.locator('input[name="url"]').fill(`http://${HOSTS[0]}:${splunk.port}/services/collector/event`);
    await form.getByTestId('option-format').selectOption('splunk-hec');
    await form.locator('input[name="hecIndex"]').fill('soc');
    await form.locator('input[name="hecSourcetype"]').fill('decnet:canary');
    await form.getByTestId('preset-AttackerDetail').uncheck();
    await form.locator('textarea[name="patterns"]').fill('canary.*.triggered');
    await form.locator('textarea[name="filter"]').fill('payload.score > 70 and payload.decky in ["fin-01","fin-02"]');
    await form.getByTestId('preview-toggle').click();
    const preview = form.getByTestId('preview');
    await preview.locator('[data-testid="preview-filter"][data-verdict="pass"]').waitFor();
    await preview.getByTestId('preview-body').filter({ hasText: '"index":"soc"' }).waitFor();
    // The format and the filter in view, the fields above them scrolled away.
    await form.getByTestId('options-format').evaluate((e) => e.scrollIntoView({ block: 'start' }));
    await page.evaluate('(document.activeElement instanceof HTMLElement) && document.activeElement.blur()');
    await page.screenshot({ path: OUTPUT });
  } finally {
    await c.close();
    await browser.close();
    for (const r of [wazuh, splunk]) await r.close();
    await t.cleanup();
  }
});
