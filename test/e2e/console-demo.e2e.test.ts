/**
 * The demo as an analyst first sees it: `out/main/demo.js --fast` as a child process
 * (its own nats-server, generator, receivers and engine), its console URL opened in
 * Debian's Chromium. The demo data shows: both subscriptions, deliveries streaming, the
 * flaky one TRIPPED; once its receiver is back, Re-enable brings it back to ACTIVE.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../harness/browser';

const DEMO = join(__dirname, '../../out/main/demo.js');
const SIEM = 'SIEM (healthy)';
const SOAR = 'SOAR (flaky)';

let browser: Browser;
let context: BrowserContext | undefined;
let child: ChildProcess | undefined;
let natsPid: number | undefined;
let dir: string | undefined;
const stdout: string[] = [];
const stderr: string[] = [];
const waiters = new Set<() => void>();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Resolves with the first line the demo printed (before or after the call) that matches. */
function line(re: RegExp, timeoutMs = 30_000): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    const check = (): void => {
      for (const l of stdout) {
        const m = re.exec(l);
        if (m) return done(() => resolve(m));
      }
      if (child && (child.exitCode !== null || child.signalCode !== null)) done(() => reject(new Error(`demo exited without printing ${re}:\n${stdout.join('\n')}\n${stderr.join('\n')}`)));
    };
    const timer = setTimeout(() => done(() => reject(new Error(`no line ${re} within ${timeoutMs} ms:\n${stdout.join('\n')}\n${stderr.join('\n')}`))), timeoutMs);
    const done = (settle: () => void): void => {
      clearTimeout(timer);
      waiters.delete(check);
      settle();
    };
    waiters.add(check);
    check();
  });
}

function collect(into: string[]) {
  let buffered = '';
  return (chunk: Buffer): void => {
    buffered += chunk.toString('utf8');
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    into.push(...lines);
    for (const w of [...waiters]) w();
  };
}

beforeAll(async () => {
  browser = await launchChromium();
});

afterAll(async () => {
  await context?.close();
  await browser?.close();
  // Only when the test failed midway: nothing of the demo may outlive it.
  if (child && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child!.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
  if (natsPid !== undefined && alive(natsPid)) process.kill(natsPid, 'SIGKILL');
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe('the demo in the console', () => {
  it('shows the demo data streaming, the flaky subscription TRIPPED, and re-enables it with one click', async () => {
    child = spawn(process.execPath, [DEMO, '--no-open', '--fast', '--seed', '11'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', collect(stdout));
    child.stderr!.on('data', collect(stderr));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child!.once('exit', (code, signal) => {
        resolve({ code, signal });
        for (const w of [...waiters]) w();
      }),
    );
    const url = (await line(/Sluice console: (http:\/\/127\.0\.0\.1:\d+\/#token=\S+)/))[1]!;
    natsPid = Number((await line(/nats-server \(pid (\d+)\)/))[1]);
    dir = (await line(/Temporary dir\s+(\S+)/))[1]!;

    context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    const page: Page = await context.newPage();
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('console', (msg) => {
      if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
    });
    await page.addInitScript({
      content: "document.addEventListener('securitypolicyviolation', (e) => console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI));",
    });
    await page.goto(url);
    await page.getByTestId('bus-state').filter({ hasText: 'BUS CONNECTED' }).waitFor();

    // Both subscriptions, with their patterns.
    const row = (name: string) => page.locator(`[data-testid="subscription-row"][data-name="${name}"]`);
    await row(SIEM).waitFor();
    await row(SOAR).waitFor();
    await expect.poll(() => row(SIEM).locator('.chip.pattern').allTextContents()).toEqual(['attacker.>', 'canary.*.triggered']);
    expect(await row(SOAR).locator('.chip.pattern').allTextContents()).toEqual(['decky.*.state', 'decky.*.traffic', 'system.>', 'canary.>', 'ttp.>', 'credential.>']);

    // Deliveries stream in: a delivered SIEM row, then newer rows on top of it.
    const rows = page.getByTestId('delivery-row');
    await rows.filter({ hasText: SIEM }).and(page.locator('[data-outcome="delivered"]')).first().waitFor();
    const newest = await rows.first().getAttribute('data-event-id');
    await expect.poll(() => rows.first().getAttribute('data-event-id'), { timeout: 15_000 }).not.toBe(newest);

    // The flaky receiver answers 503 from the start: its subscription trips.
    const chip = row(SOAR).getByTestId('state-chip');
    await expect.poll(() => chip.textContent(), { timeout: 30_000 }).toMatch(/TRIPPED · \d/);
    await expect.poll(() => page.getByTestId('count-tripped').textContent()).toBe('1 TRIPPED');
    expect(await row(SIEM).getByTestId('state-chip').textContent()).toContain('ACTIVE');

    // Its events are held meanwhile: one live line in the log, not a row each.
    await expect.poll(() => page.locator(`[data-testid="held-summary"][data-name="${SOAR}"]`).count(), { timeout: 15_000 }).toBe(1);
    // Once the receiver is back, one click on Re-enable delivers what was held meanwhile.
    await line(/SOAR receiver is back up/, 60_000);
    await row(SOAR).getByTestId('reenable').click();
    await expect.poll(() => chip.textContent()).toContain('ACTIVE');
    expect(await page.locator('dialog[open]').count()).toBe(0);
    await expect.poll(() => page.getByTestId('count-tripped').count()).toBe(0);
    await rows.filter({ hasText: SOAR }).and(page.locator('[data-outcome="delivered"]')).first().waitFor({ timeout: 15_000 });
    await line(/"SOAR \(flaky\)" is now active \(re-enabled from the console\)/);
    expect(problems).toEqual([]);

    await context.close();
    context = undefined;
    child.kill('SIGINT');
    expect(await exited).toEqual({ code: 0, signal: null });
    expect(alive(natsPid)).toBe(false);
    expect(existsSync(dir)).toBe(false);
  }, 120_000);
});
