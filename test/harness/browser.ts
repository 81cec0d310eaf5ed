/**
 * Debian's Chromium driven by playwright-core, against the console served by the real
 * web host over a real engine. Collects page errors and CSP violations so a test fails
 * on them.
 */
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startWebHost, type WebHost } from '../../src-main/webhost/server';
import type { TestEngine } from './engine';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: process.env['CHROMIUM_BIN'] ?? '/usr/bin/chromium', args: CHROMIUM_ARGS });
}

export interface ConsolePage {
  page: Page;
  host: WebHost;
  /** Uncaught errors, console errors and CSP violations seen in the page. */
  problems: string[];
  close(): Promise<void>;
}

export async function openConsole(
  browser: Browser,
  t: TestEngine,
  viewport = { width: 1440, height: 900 },
): Promise<ConsolePage> {
  const host = await startWebHost({ engine: t.engine, port: 0, rendererDir: join(__dirname, '../../out/renderer') });
  const context = await browser.newContext({ viewport });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: host.origin });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
  });
  await page.addInitScript({
    content:
      "document.addEventListener('securitypolicyviolation', (e) => console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI));",
  });
  await page.goto(host.url);
  await page.getByTestId('bus-state').filter({ hasText: 'BUS CONNECTED' }).waitFor();
  return {
    page,
    host,
    problems,
    async close() {
      await context.close();
      await host.close();
    },
  };
}
