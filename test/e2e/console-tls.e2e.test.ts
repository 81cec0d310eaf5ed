/**
 * The Settings screen's bus CA file in the real console (Debian's Chromium, the built
 * renderer served by the web host, a real engine): moving to a `wss://` nats-server whose
 * certificate a private CA signed fails with the TLS reason shown; a wrong path is refused
 * next to the field; the CA's path connects, and events flow over `wss://`. A server that
 * verifies clients takes the client certificate and key fields.
 */
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { launchChromium } from '../harness/browser';
import { startConsole, type TestConsole } from '../harness/console';
import { envelope, unwrap, type TestEngine } from '../harness/engine';
import { startNatsServer, type NatsServer } from '../harness/nats-server';
import type { Receiver } from '../harness/receiver';
import { makeTestPki, startTlsNatsServer, type TestPki, type TlsNatsServer } from '../harness/tls';

let browser: Browser;
let pki: TestPki;
let tls: TlsNatsServer;
let bus: NatsServer;
let ui: TestConsole;
let t: TestEngine;
let receiver: Receiver;
let page: Page;

beforeAll(async () => {
  browser = await launchChromium();
  pki = await makeTestPki();
  tls = await startTlsNatsServer(pki);
});

afterAll(async () => {
  await browser?.close();
  await tls?.stop();
  await pki?.cleanup();
});

beforeEach(async () => {
  bus = await startNatsServer();
  // No `--nats` override: the URL saved in the Settings screen is the one the engine uses.
  ui = await startConsole(browser, { server: bus, engine: { natsUrl: undefined }, settings: { natsUrl: bus.wsUrl, retrySchedule: [] } });
  ({ t, receiver, page } = ui);
});

afterEach(async () => {
  await ui.close();
  await bus.cleanup();
  expect(ui.problems).toEqual([]);
});

const panel = (): Locator => page.getByTestId('settings-panel');
const field = (name: string): Locator => panel().locator(`[name="${name}"]`);

it('connects to a wss:// bus of a private CA once the CA file is set', async () => {
  unwrap(await t.api['subscriptions.create']({ name: 'siem', url: receiver.url, patterns: ['attacker.>'] }));
  await page.locator('[data-testid="subscription-row"][data-name="siem"]').waitFor();

  await page.getByTestId('open-settings').click();
  await field('natsCaFile').waitFor();
  expect(await field('natsCaFile').inputValue()).toBe('');
  expect(await panel().textContent()).not.toContain('NODE_EXTRA_CA_CERTS');

  // The system CAs do not know the private CA: the TLS reason is shown, with what to set.
  await field('natsUrl').fill(tls.wsUrl);
  await panel().getByTestId('settings-save').click();
  await expect.poll(() => panel().getByTestId('settings-saved').textContent()).toContain('reconnects to the bus');
  const busLine = panel().getByTestId('settings-bus-state');
  await busLine.filter({ hasText: 'server certificate not trusted' }).waitFor();
  expect(await busLine.textContent()).toContain('set natsCaFile');
  const header = page.getByTestId('bus-state');
  expect(await header.textContent()).toContain(`BUS CONNECTING · ${tls.wsUrl}`);
  expect(await header.getAttribute('title')).toContain(`Last error: TLS: ${tls.wsUrl}: server certificate not trusted`);

  // A path that is not there: refused next to the field, nothing saved.
  const missing = `${pki.dir}/no-such-ca.pem`;
  await field('natsCaFile').fill(missing);
  await panel().getByTestId('settings-save').click();
  await expect.poll(() => panel().getByTestId('error-natsCaFile').textContent()).toContain(`${missing} does not exist`);
  expect(await field('natsCaFile').getAttribute('aria-invalid')).toBe('true');
  expect(unwrap(await t.api['settings.get']()).natsCaFile).toBe('');

  await field('natsCaFile').fill(pki.caFile);
  expect(await panel().getByTestId('error-natsCaFile').count()).toBe(0);
  await panel().getByTestId('settings-save').click();
  await expect.poll(() => panel().getByTestId('settings-saved').textContent()).toContain('CA file');
  await header.filter({ hasText: `BUS CONNECTED · ${tls.wsUrl}` }).waitFor();
  await busLine.filter({ hasText: `Connected to ${tls.wsUrl}` }).waitFor();
  expect(unwrap(await t.api['settings.get']()).natsCaFile).toBe(pki.caFile);
  await panel().getByTestId('settings-close').click();

  // Events now arrive over wss://.
  await t.engine.busReady();
  const publisher = await tls.client();
  publisher.publish('attacker.observed', new TextEncoder().encode(JSON.stringify(envelope('x', {}, 'via-wss'))));
  await publisher.flush();
  await page.locator('[data-testid="delivery-row"][data-event-id="via-wss"][data-outcome="delivered"]').waitFor();
  await publisher.close();
});

it('presents a client certificate to a wss:// bus that verifies clients', async () => {
  const verifying = await startTlsNatsServer(pki, { verifyClients: true });
  try {
    await page.getByTestId('open-settings').click();
    await field('natsClientCertFile').waitFor();
    await field('natsUrl').fill(verifying.wsUrl);
    await field('natsCaFile').fill(pki.caFile);
    await panel().getByTestId('settings-save').click();
    const busLine = panel().getByTestId('settings-bus-state');
    await busLine.filter({ hasText: 'client certificate refused by the server' }).waitFor();
    expect(await busLine.textContent()).toContain('set natsClientCertFile and natsClientKeyFile');

    // A key that is not the certificate's: refused next to the key field, nothing saved.
    await field('natsClientCertFile').fill(pki.clientCertFile);
    await field('natsClientKeyFile').fill(pki.strangerKeyFile);
    await panel().getByTestId('settings-save').click();
    await expect.poll(() => panel().getByTestId('error-natsClientKeyFile').textContent()).toContain('is not the key of the client certificate');
    expect(unwrap(await t.api['settings.get']())).toMatchObject({ natsClientCertFile: '', natsClientKeyFile: '' });

    await field('natsClientKeyFile').fill(pki.clientKeyFile);
    await panel().getByTestId('settings-save').click();
    await expect.poll(() => panel().getByTestId('settings-saved').textContent()).toContain('client certificate, client key');
    await page.getByTestId('bus-state').filter({ hasText: `BUS CONNECTED · ${verifying.wsUrl}` }).waitFor();
    expect(unwrap(await t.api['settings.get']())).toMatchObject({ natsClientCertFile: pki.clientCertFile, natsClientKeyFile: pki.clientKeyFile });
  } finally {
    await verifying.stop();
  }
});
