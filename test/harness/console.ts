/**
 * The console e2e setup in one place: a fresh engine, a receiver and the console in a
 * Chromium page through the web host, opened on its token URL with the bus shown
 * connected. `close()` takes them down in reverse order; a test then checks `problems`
 * (uncaught errors, console errors and CSP violations seen in the page).
 *
 * Chromium itself is launched once per file (`launchChromium`): a page per test is cheap,
 * a browser per test is not.
 */
import type { Browser, Page } from 'playwright-core';
import { openConsole } from './browser';
import { startTestEngine, type TestEngine, type TestEngineOptions } from './engine';
import { startReceiver, type Behavior, type Receiver } from './receiver';

export interface ConsoleOptions extends TestEngineOptions {
  /** How the receiver answers (default 200). */
  receiver?: Behavior;
  viewport?: { width: number; height: number };
}

export interface TestConsole {
  t: TestEngine;
  receiver: Receiver;
  page: Page;
  /** The console's URL, token included. */
  url: string;
  problems: string[];
  close(): Promise<void>;
}

export async function startConsole(browser: Browser, options: ConsoleOptions = {}): Promise<TestConsole> {
  const { receiver: behavior, viewport, ...engineOptions } = options;
  const t = await startTestEngine(engineOptions);
  let receiver: Receiver | undefined;
  try {
    receiver = await startReceiver(behavior);
    const c = await openConsole(browser, t, viewport);
    const started = receiver;
    return {
      t,
      receiver: started,
      page: c.page,
      url: c.host.url,
      problems: c.problems,
      async close() {
        await c.close();
        await started.close();
        await t.cleanup();
      },
    };
  } catch (err) {
    // A setup that fails halfway leaves nothing running.
    await receiver?.close();
    await t.cleanup();
    throw err;
  }
}
