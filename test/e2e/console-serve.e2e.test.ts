/**
 * `npm run serve` as the analyst meets it: the real `node out/main/serve.js` process
 * (started, stopped and restarted), a real nats-server and Debian's Chromium.
 * - A page without a token, or with one that is not the running host's (serve was
 *   restarted), says so in the page and what to open, instead of loading forever.
 * - `--keep-token` keeps one URL across restarts (the token in `<db>.console-token`,
 *   mode 0600; a file every user can read is refused), and open tabs reconnect.
 * - A setting a flag overrides for the run (`--allow-private`, `--nats`) shows the
 *   override in Settings, with the stored value.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { launchChromium } from '../harness/browser';
import { startNatsServer, type NatsServer } from '../harness/nats-server';

const SERVE = join(__dirname, '../../out/main/serve.js');

let browser: Browser;
let nats: NatsServer;
let dir: string;
let db: string;
const contexts = new Set<BrowserContext>();
const processes = new Set<Serve>();

beforeAll(async () => {
  if (!existsSync(SERVE)) throw new Error(`${SERVE} is missing: run npm run build first`);
  browser = await launchChromium();
  nats = await startNatsServer();
});

afterAll(async () => {
  await browser?.close();
  await nats?.cleanup();
});

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-serve-'));
  db = join(dir, 'sluice.db');
});

afterEach(async () => {
  for (const context of contexts) await context.close();
  contexts.clear();
  for (const serve of processes) await serve.stop();
  await rm(dir, { recursive: true, force: true });
});

interface Serve {
  child: ChildProcess;
  url: string;
  origin: string;
  port: number;
  stderr(): string;
  /** Resolves once stderr holds `text` (its lines follow the URL on stdout). */
  said(text: string): Promise<void>;
  /** SIGTERM; resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** Starts serve; resolves once it printed its URL, or rejects with its exit and output. */
function startServe(args: string[]): Promise<Serve> {
  const { SLUICE_SECRET_KEY: _key, SLUICE_DB: _db, ...env } = process.env;
  const child = spawn(process.execPath, [SERVE, '--db', db, '--nats', nats.wsUrl, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let errText = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (errText += chunk));
  return new Promise((resolve, reject) => {
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      const url = /Sluice console: (http:\/\/127\.0\.0\.1:(\d+)\/#token=\S+)\n/.exec(out);
      if (!url) return;
      const serve: Serve = {
        child,
        url: url[1] as string,
        origin: `http://127.0.0.1:${url[2]}`,
        port: Number(url[2]),
        stderr: () => errText,
        said: (text) => vi.waitFor(() => expect(errText).toContain(text), { timeout: 10_000 }),
        async stop() {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
          const code = await exited;
          processes.delete(serve);
          return code;
        },
      };
      processes.add(serve);
      resolve(serve);
    });
    void exited.then((code) => reject(new ServeExit(code, out, errText)));
  });
}

class ServeExit extends Error {
  constructor(
    readonly code: number | null,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(`serve exited ${code}; stdout:\n${stdout}\nstderr:\n${stderr}`);
  }
}

/** A page of a fresh browser context on `url`; uncaught page errors fail the test. */
async function open(url: string): Promise<{ page: Page; errors: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  contexts.add(context);
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(url);
  return { page, errors };
}

const connected = (page: Page): Promise<void> => page.getByTestId('bus-state').filter({ hasText: 'BUS CONNECTED' }).waitFor();

describe('a console page the web host will not serve', () => {
  it('opened without the token: the page says which address to open, instead of loading forever', async () => {
    const serve = await startServe(['--port', '0']);
    const { page, errors } = await open(`${serve.origin}/`);
    const panel = page.getByTestId('token-problem');
    await panel.waitFor();
    expect(await panel.getAttribute('data-refusal')).toBe('no_token');
    const text = (await panel.textContent()) ?? '';
    expect(text).toContain('This page has no access token');
    expect(text).toContain('npm run serve');
    expect(text).toContain(`Sluice console: ${serve.origin}/#token=…`);
    expect(text).toContain('--keep-token');
    expect(await page.getByText('Loading subscriptions').count()).toBe(0);
    expect(await page.getByText('Could not load from the engine').count()).toBe(0);
    expect(errors).toEqual([]);
  });

  it("with a token that is not this run's: the page says Sluice was restarted, and how to keep one address", async () => {
    const serve = await startServe(['--port', '0']);
    const wrong = serve.url.replace(/#token=.*/, `#token=${'A'.repeat(43)}`);
    const { page, errors } = await open(wrong);
    const panel = page.getByTestId('token-problem');
    await panel.waitFor();
    expect(await panel.getAttribute('data-refusal')).toBe('token_refused');
    const text = (await panel.textContent()) ?? '';
    expect(text).toContain("This console's address is out of date");
    expect(text).toContain('Sluice was restarted');
    expect(text).toContain('Open the new address from its output');
    expect(text).toContain('--keep-token');
    expect(await page.getByText('Could not load from the engine').count()).toBe(0);
    expect(errors).toEqual([]);
    // The right URL still works, in another tab.
    await connected((await open(serve.url)).page);
  });

  it('a restart of serve without --keep-token: the open tab says its address is out of date; the new one works', async () => {
    const first = await startServe(['--port', '0']);
    await first.said('--keep-token keeps one URL across restarts');
    const { page } = await open(first.url);
    await connected(page);
    expect(await first.stop()).toBe(0);
    const second = await startServe(['--port', String(first.port)]);
    expect(second.url).not.toBe(first.url);
    const panel = page.getByTestId('token-problem');
    await panel.waitFor({ timeout: 15_000 });
    expect(await panel.getAttribute('data-refusal')).toBe('token_refused');
    expect(await page.getByText('Could not load from the engine').count()).toBe(0);
    await connected((await open(second.url)).page);
  });
});

describe('--keep-token', () => {
  it('is in serve --help', async () => {
    const child = spawn(process.execPath, [SERVE, '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    expect(await new Promise((resolve) => child.once('exit', resolve))).toBe(0);
    expect(out).toMatch(/--keep-token\s+keep the console's token in FILE\.console-token beside the\s+database/);
    expect(out).toContain('0600');
  });

  it('keeps one URL across restarts in <db>.console-token (mode 0600); open tabs reconnect', async () => {
    const tokenFile = `${db}.console-token`;
    const first = await startServe(['--port', '0', '--keep-token']);
    expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
    await first.said(`The token is kept in ${tokenFile} (made now, readable by you only)`);
    const { page } = await open(first.url);
    await connected(page);
    expect(await first.stop()).toBe(0);
    await page.getByTestId('link-state').waitFor();
    // While it is down the page says so in words, not only in a tooltip.
    expect(await page.getByTestId('link-banner').textContent()).toContain('Is `npm run serve` still running?');

    const second = await startServe(['--port', String(first.port), '--keep-token']);
    expect(second.url).toBe(first.url);
    await second.said(`The token is kept in ${tokenFile} (readable by you only)`);
    // The tab opened before the restart is back without the analyst doing anything.
    await page.getByTestId('link-state').waitFor({ state: 'detached', timeout: 15_000 });
    await connected(page);
    expect(await page.getByTestId('token-problem').count()).toBe(0);
    expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
  });

  it('a tab refused after a restart without it works again, with Try again, once serve runs with it again', async () => {
    const kept = await startServe(['--port', '0', '--keep-token']);
    const { page } = await open(kept.url);
    await connected(page);
    await kept.stop();
    const forgot = await startServe(['--port', String(kept.port)]);
    await page.getByTestId('token-problem').waitFor({ timeout: 15_000 });
    // Trying the same token against the same run is refused again: the explanation stays.
    // The refusal closes the socket at once: listen for its close as it opens, not after.
    const retriedClosed = new Promise<void>((resolve) =>
      page.once('websocket', (socket) => (socket.isClosed() ? resolve() : socket.once('close', () => resolve()))),
    );
    await page.getByTestId('token-retry').click();
    await retriedClosed;
    expect(await page.getByTestId('token-problem').getAttribute('data-refusal')).toBe('token_refused');
    await forgot.stop();
    const again = await startServe(['--port', String(kept.port), '--keep-token']);
    expect(again.url).toBe(kept.url);
    await page.getByTestId('token-retry').click();
    // The header may still show the last status it had: the panel going is the sign.
    await page.getByTestId('token-problem').waitFor({ state: 'detached' });
    await connected(page);
  });

  it('refuses a token file every user can read, and one that holds no token', async () => {
    const tokenFile = `${db}.console-token`;
    writeFileSync(tokenFile, `${'b'.repeat(43)}\n`, { mode: 0o600 });
    chmodSync(tokenFile, 0o644);
    const readable = await startServe(['--port', '0', '--keep-token']).catch((error: unknown) => error);
    expect(readable).toBeInstanceOf(ServeExit);
    expect((readable as ServeExit).code).toBe(1);
    expect((readable as ServeExit).stderr).toContain(`the console token file ${tokenFile} is readable by every user on this machine (mode 0644)`);
    expect((readable as ServeExit).stderr).toContain(`chmod 600 ${tokenFile}`);
    expect((readable as ServeExit).stdout).toBe('');

    writeFileSync(tokenFile, 'short\n');
    chmodSync(tokenFile, 0o600);
    const malformed = await startServe(['--port', '0', '--keep-token']).catch((error: unknown) => error);
    expect((malformed as ServeExit).code).toBe(1);
    expect((malformed as ServeExit).stderr).toContain(`${tokenFile} does not hold a console token`);
    expect((malformed as ServeExit).stderr).not.toMatch(/\n\s+at /);
  });
});

describe('run overrides in Settings', () => {
  it('--allow-private and --nats: each control shows the override for this run, and the stored value', async () => {
    const serve = await startServe(['--port', '0', '--allow-private']);
    await serve.said('allowPrivate overridden for this run by --allow-private: true');
    const { page, errors } = await open(serve.url);
    await connected(page);
    await page.getByTestId('open-settings').click();
    const panel = page.getByTestId('settings-panel');
    const allowPrivate = panel.getByTestId('override-allowPrivate');
    await allowPrivate.waitFor();
    expect(await allowPrivate.textContent()).toMatch(/Overridden for this run by\s+--allow-private:\s+on, whatever is\s+saved here\. The saved value \(off\) applies\s+when Sluice starts without --allow-private\./);
    // The checkbox is the stored setting: off.
    expect(await panel.getByTestId('allow-private').isChecked()).toBe(false);
    expect(await panel.getByTestId('override-natsUrl').textContent()).toContain(`--nats: ${nats.wsUrl}`);

    // Saving the overridden setting says when it applies.
    await panel.getByTestId('allow-private').check();
    await panel.getByTestId('settings-save').click();
    await expect
      .poll(() => panel.textContent())
      .toContain('private destinations: this run keeps --allow-private; the saved value applies at the next start without it.');
    expect(await panel.getByTestId('allow-private').isChecked()).toBe(true);
    expect(errors).toEqual([]);
  });

  it('a run without --allow-private shows no override on it', async () => {
    const serve = await startServe(['--port', '0']);
    const { page } = await open(serve.url);
    await connected(page);
    await page.getByTestId('open-settings').click();
    const panel = page.getByTestId('settings-panel');
    await panel.locator('[name="natsUrl"]').waitFor();
    // --nats is given by every serve here; --allow-private is not.
    expect(await panel.getByTestId('override-natsUrl').count()).toBe(1);
    expect(await panel.getByTestId('override-allowPrivate').count()).toBe(0);
  });
});
