/**
 * `npm run demo` (`node out/main/demo.js`): Sluice with everything around it, on this
 * machine only, so the console can be tried without a DECNET network.
 *
 * Starts a local nats-server (free loopback ports, WebSocket on), two receivers on
 * 127.0.0.1 (a healthy SIEM that verifies signatures, a SOAR that fails in stretches),
 * the engine on a throwaway database with two subscriptions, the console's web host,
 * and a generator publishing DECNET-like events. Everything lives in one temporary
 * folder; Ctrl-C stops it all and removes the folder. Exit 0 after a clean stop,
 * 1 on a failure, 2 on bad options (or its database claimed by another engine), 3 when
 * nats-server is missing.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { NatsBus } from '../bus/nats-bus';
import { CliError, EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from '../cli/args';
import { err, out } from '../cli/output';
import { exitOnStrayErrors, exitWhenFlushed, parseEntryOptions, parsePort, reportFailure } from '../cli/usage';
import { DEFAULT_RETRY_SCHEDULE_S } from '../delivery/retry-policy';
import type { Result, SluiceApi } from '../contract/bridge';
import type { SubscriptionView } from '../contract/views';
import { Engine, type EngineRecord } from '../engine/engine';
import { SOURCES } from '../engine/audit-trail';
import { createInProcessClient } from '../engine/in-process-client';
import { ClaimError } from '../store/claim';
import { createKeyFileCipher } from '../store/secret-cipher';
import { VERSION } from '../version';
import { startWebHost } from '../webhost/server';
import { DemoGenerator } from './generator';
import { findNatsServer, INSTALL_HINT, NatsServerMissing, startNats } from './nats-server';
import { FAST_SCALE, FIRST_OUTAGE_MS, OutageSchedule } from './outages';
import { seedFrom } from './random';
import { startFlakyReceiver, startHealthyReceiver } from './receivers';
import { SIEM, SOAR } from './subscriptions';

/** nats-server is missing (the message says how to install it). */
const EXIT_NO_NATS = 3;

const PROGRESS_EVERY_MS = 10_000;

const SIEM_NAME = SIEM.name;
const SOAR_NAME = SOAR.name;

const USAGE = `Usage: npm run demo -- [options]   (or: node out/main/demo.js [options])

Runs Sluice against a local, simulated DECNET network: its own nats-server, a
generator of attacker / decoy / canary / system events, a healthy SIEM receiver and a
flaky SOAR receiver (its subscription trips within the first minute), and the console
in your browser. Nothing touches your own database; Ctrl-C stops and removes it all.

Options:
  --seed S      replay a run: the same seed gives the same events (default: random)
  --port N      the console's port on 127.0.0.1 (default 0: any free port)
  --no-open     print the console's URL without opening a browser
  --fast        retries and receiver outages ${1 / FAST_SCALE}× shorter (the trip comes in seconds)
  -h, --help    this help

Needs nats-server (Debian/Ubuntu: sudo apt install nats-server; macOS: brew install
nats-server), found on PATH, in /usr/sbin, or at $NATS_SERVER_BIN.
`;

const OPTIONS = {
  seed: { type: 'string' },
  port: { type: 'string' },
  'no-open': { type: 'boolean' },
  fast: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Ctrl-C arrived while starting: stop what is up and leave. */
class Interrupted extends Error {
  constructor() {
    super('interrupted while starting');
    this.name = 'Interrupted';
  }
}

interface DemoOptions {
  seed: number;
  port: number;
  open: boolean;
  scale: number;
}

function parseCommandLine(argv: string[]): DemoOptions | 'help' {
  const values = parseEntryOptions(argv, OPTIONS);
  if (values.help) return 'help';
  const port = values.port === undefined ? 0 : parsePort(values.port);
  if (values.seed !== undefined && values.seed.trim() === '') throw new CliError('--seed: give a number or a word');
  return {
    seed: values.seed !== undefined ? seedFrom(values.seed) : randomBytes(4).readUInt32BE(0) % 1_000_000,
    port,
    open: values['no-open'] !== true,
    scale: values.fast ? FAST_SCALE : 1,
  };
}

function unwrap<T>(result: Result<T>): T {
  if (!result.ok) throw new Error(`${result.error.code}: ${result.error.message}`);
  return result.value;
}

/**
 * What to undo, newest first. Each step has an orderly async form and, for what must
 * not outlive the demo (the nats-server process, the temporary folder), a synchronous
 * last resort that also runs at process exit.
 */
class Teardown {
  private readonly steps: { run: () => Promise<void>; now?: () => void }[] = [];

  add(run: () => Promise<void> | void, now?: () => void): void {
    this.steps.push({ run: async () => run(), ...(now ? { now } : {}) });
  }

  async runAll(): Promise<void> {
    while (this.steps.length > 0) {
      const step = this.steps.pop()!;
      try {
        await step.run();
      } catch (error) {
        err(`sluice demo: while stopping: ${error instanceof Error ? error.message : String(error)}`);
        step.now?.();
      }
    }
  }

  /** At exit, or on a second Ctrl-C: the last resorts only, synchronously. */
  runNow(): void {
    while (this.steps.length > 0) this.steps.pop()!.now?.();
  }
}

const teardown = new Teardown();

function clock(startedAt: number): string {
  const s = Math.max(0, Math.floor((Date.now() - startedAt) / 1000));
  return `[${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}]`;
}

async function main(argv: string[]): Promise<number> {
  const options = parseCommandLine(argv);
  if (options === 'help') {
    out(USAGE.trimEnd());
    return EXIT_OK;
  }
  const rendererDir = join(__dirname, '../renderer');
  if (!existsSync(join(rendererDir, 'index.html'))) {
    err(`sluice demo: the console is not built (${join(rendererDir, 'index.html')} is missing); run \`npm run build\` first (npm run demo does)`);
    return EXIT_FAILURE;
  }
  let natsBin: string;
  try {
    natsBin = findNatsServer();
  } catch (error) {
    if (!(error instanceof NatsServerMissing)) throw error;
    err(`sluice demo: ${error.message}\n\n${INSTALL_HINT}`);
    return EXIT_NO_NATS;
  }

  let stopping: NodeJS.Signals | null = null;
  let wake: (() => void) | null = null;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      err(`sluice demo: ${signal} again: killing nats-server and removing the temporary folder without waiting`);
      teardown.runNow();
      process.exit(130);
    }
    stopping = signal;
    wake?.();
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, onSignal);
  const checkpoint = (): void => {
    if (stopping) throw new Interrupted();
  };

  try {
    return await run(options, natsBin, rendererDir, checkpoint, (resolve) => {
      wake = resolve;
      if (stopping) resolve();
    });
  } catch (error) {
    if (!(error instanceof Interrupted)) throw error;
    out('sluice demo: interrupted while starting; cleaning up…');
    await teardown.runAll();
    return EXIT_OK;
  }
}

async function run(
  options: DemoOptions,
  natsBin: string,
  rendererDir: string,
  checkpoint: () => void,
  untilStopped: (resolve: () => void) => void,
): Promise<number> {
  // ----- the temporary folder and the bus -------------------------------------------
  const dir = mkdtempSync(join(tmpdir(), 'sluice-demo-'));
  const removeDir = (): void => rmSync(dir, { recursive: true, force: true });
  teardown.add(removeDir, removeDir);
  const nats = await startNats(natsBin, dir);
  teardown.add(() => nats.stop(), () => nats.kill());
  checkpoint();

  // ----- receivers ------------------------------------------------------------------
  const siemSecret = randomBytes(24).toString('base64url');
  const soarSecret = randomBytes(24).toString('base64url');
  const outages = new OutageSchedule(options.seed, options.scale);
  let startedAt = Date.now();
  const siem = await startHealthyReceiver({ path: '/siem/decnet', secret: siemSecret });
  teardown.add(() => siem.close());
  const soar = await startFlakyReceiver({ path: '/soar/webhook', secret: soarSecret, schedule: outages, elapsedMs: () => Date.now() - startedAt, seed: options.seed });
  teardown.add(() => soar.close());

  // ----- the engine, on a database that is thrown away at exit ----------------------
  const dbPath = join(dir, 'sluice-demo.db');
  // Claimed like any engine's (a few milliseconds): nothing else can run on it meanwhile.
  const engine = await Engine.start({
    dbPath,
    command: 'sluice demo',
    // Its own subscriptions are the demo's in the audit trail; its console's changes are the web console's.
    source: SOURCES.demo,
    natsUrl: nats.wsUrl,
    // Both receivers are on 127.0.0.1. Loopback opens only with allow-private (never
    // with allowedCidrs); like `npm run serve -- --allow-private` it holds for this run
    // and is not stored.
    allowPrivate: true,
    overriddenBy: 'npm run demo',
    // A key for this run only: secrets are encrypted at rest, as with a key file.
    cipher: createKeyFileCipher(randomBytes(32), 'the demo key'),
    actor: `${safeUser()} via the demo console`,
  });
  teardown.add(() => engine.stop());
  const api = createInProcessClient(engine, (error, call) => err(`sluice demo: ${call} failed: ${String(error)}`));
  unwrap(await api['settings.update']({ retrySchedule: DEFAULT_RETRY_SCHEDULE_S.map((s) => s * options.scale) }));
  const siemSub = unwrap(await api['subscriptions.create']({ name: SIEM_NAME, url: siem.url, secret: siemSecret, presets: SIEM.presets, patterns: SIEM.patterns, enabled: true })).subscription;
  const soarSub = unwrap(await api['subscriptions.create']({ name: SOAR_NAME, url: soar.url, secret: soarSecret, presets: SOAR.presets, patterns: SOAR.patterns, enabled: true })).subscription;
  await within(busConnected(engine), `the engine did not connect to nats-server at ${nats.wsUrl}`);
  checkpoint();

  // ----- the console ----------------------------------------------------------------
  const host = await startWebHost({ engine, port: options.port, rendererDir }).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE')
      throw new CliError(`--port: ${options.port} on 127.0.0.1 is already in use; choose another, or leave it out for any free port`, EXIT_USAGE, { cause: error });
    throw error;
  });
  teardown.add(() => host.close());

  // ----- the event source: a separate client, as a DECNET component would be -------
  const publisher = new NatsBus({ servers: [nats.wsUrl], name: 'decnet-demo-generator', onError: () => undefined });
  teardown.add(() => publisher.close());
  const publisherUp = new Promise<void>((resolve) => {
    publisher.onStatus((s) => {
      if (s.state === 'connected') resolve();
    });
    publisher.start();
  });
  await within(publisherUp, `the event generator did not connect to nats-server at ${nats.wsUrl}`);
  checkpoint();

  // ----- what started where ---------------------------------------------------------
  const threshold = engine.effectiveSettings().circuitThreshold;
  const retries = engine.effectiveSettings().retrySchedule.join(' s, ');
  out(`Sluice ${VERSION} demo — seed ${options.seed}${options.scale !== 1 ? ', fast' : ''} (--seed ${options.seed} replays these events)`);
  out();
  out(`  Bus            nats-server (pid ${nats.pid}): ${nats.wsUrl} (WebSocket), ${nats.natsUrl}`);
  out(`  Events         DECNET-like generator: a quiet ~2.5 events/s, and attack waves of tens a second about once a minute (the first 10–20 s in)`);
  out(`  Receiver       ${SIEM_NAME}  ${siem.url}  checks every signature`);
  out(`                 secret (this run only): ${siemSecret}`);
  out(`  Receiver       ${SOAR_NAME}    ${soar.url}  answers 503 for stretches, first ${Math.round((FIRST_OUTAGE_MS * options.scale) / 1000)} s`);
  out(`                 secret (this run only): ${soarSecret}`);
  out(`  Subscription   ${SIEM_NAME}  ${siemSub.patterns.join(', ')}`);
  out(`  Subscription   ${SOAR_NAME}    ${soarSub.patterns.join(', ')}`);
  out(`                 its breaker trips after ${threshold} failed deliveries in a row: within the first minute`);
  out(`  Retries        ${retries} s; loopback receivers allowed for this run (allow-private)`);
  out(`  Database       ${dbPath}`);
  out(`  Temporary dir  ${dir} (removed at exit)`);
  out();
  out(`  Sluice console: ${host.url}`);
  out();

  // ----- go ---------------------------------------------------------------------------
  startedAt = Date.now();
  const progress = new Progress(engine, api, startedAt, siem.stats, soar.stats);
  teardown.add(() => progress.stop());
  const generator = new DemoGenerator({ seed: options.seed, startMs: startedAt });
  const encoder = new TextEncoder();
  let genTimer: NodeJS.Timeout | null = null;
  const publish = (): void => {
    genTimer = null;
    for (const event of generator.until(Date.now() - startedAt)) {
      if (publisher.publish(event.subject, encoder.encode(JSON.stringify(event.envelope)))) progress.published++;
      else progress.unsent++;
      if (event.note) out(`${clock(startedAt)} ${event.note}`);
    }
    genTimer = setTimeout(publish, Math.min(1000, Math.max(0, generator.peekMs() - (Date.now() - startedAt))));
  };
  publish();
  teardown.add(() => {
    if (genTimer) clearTimeout(genTimer);
  });
  watchOutages(outages, startedAt, (line) => out(`${clock(startedAt)} ${line}`));
  progress.start(PROGRESS_EVERY_MS * (options.scale < 1 ? 0.5 : 1));

  out(`${clock(startedAt)} publishing events. Ctrl-C stops everything and removes ${dir}.`);
  out(openConsole(host.url, options.open));

  await new Promise<void>((resolve) => untilStopped(resolve));
  out(`${clock(startedAt)} stopping: generator, console, engine, receivers, nats-server (pid ${nats.pid}), temporary folder…`);
  progress.summary();
  await teardown.runAll();
  out(`Stopped. nats-server (pid ${nats.pid}) is gone and ${dir} is removed.`);
  return EXIT_OK;
}

/** How long a local connection may take before the demo gives up and says so. */
const CONNECT_TIMEOUT_MS = 20_000;

function within<T>(promise: Promise<T>, failure: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${failure} within ${CONNECT_TIMEOUT_MS / 1000} s`)), CONNECT_TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Resolves once the engine's bus connection holds its subscriptions. */
async function busConnected(engine: Engine): Promise<void> {
  if (engine.status().bus.state !== 'connected') {
    await new Promise<void>((resolve) => {
      const off = engine.onRecord((r) => {
        if (r.kind === 'bus' && r.status.state === 'connected') {
          off();
          resolve();
        }
      });
    });
  }
  await engine.busReady();
}

/** One line when the flaky receiver goes down or comes back. */
function watchOutages(outages: OutageSchedule, startedAt: number, say: (line: string) => void): void {
  let timer: NodeJS.Timeout | null = null;
  teardown.add(() => {
    if (timer) clearTimeout(timer);
  });
  const next = (): void => {
    const stretch = outages.at(Date.now() - startedAt);
    const seconds = Math.round((stretch.toMs - stretch.fromMs) / 1000);
    if (stretch.fromMs > 0)
      say(stretch.down
        ? `SOAR receiver is failing again (HTTP 503) for ~${seconds} s`
        : `SOAR receiver is back up (HTTP 200) for ~${seconds} s: re-enable "${SOAR_NAME}" in the console if it tripped`);
    timer = setTimeout(next, Math.max(0, stretch.toMs - (Date.now() - startedAt)) + 1);
  };
  next();
}

/** Tries to open the console in a browser; returns the line to show either way. */
function openConsole(url: string, open: boolean): string {
  const yourself = 'Open the console URL above in a browser on this machine (it carries this run\'s access token).';
  if (!open) return yourself;
  const hasDisplay = process.platform === 'darwin' || Boolean(process.env['DISPLAY'] || process.env['WAYLAND_DISPLAY']);
  const opener = process.platform === 'darwin' ? 'open' : process.platform === 'linux' ? 'xdg-open' : null;
  if (!opener || !hasDisplay) return `No display found. ${yourself}`;
  try {
    // Detached and unwaited: a browser that stays in the foreground never holds the demo.
    const child = spawn(opener, [url], { stdio: 'ignore', detached: true });
    child.on('error', () => err(`sluice demo: could not run ${opener}. ${yourself}`));
    child.unref();
    return `Opening the console in your browser (${opener}); if nothing opens, use the URL above.`;
  } catch {
    return yourself;
  }
}

interface Tally {
  delivered: number;
  failed: number;
}

/** Counts from the engine's records; a line now and then, and one at once for a trip or a re-enable. */
class Progress {
  published = 0;
  unsent = 0;
  private readonly tally = new Map<string, Tally>();
  private readonly states = new Map<string, string>();
  private timer: NodeJS.Timeout | null = null;
  private readonly offRecord: () => void;
  private readonly offChanged: () => void;

  constructor(
    private readonly engine: Engine,
    api: SluiceApi,
    private readonly startedAt: number,
    private readonly siem: { verified: number; badSignature: number },
    private readonly soar: { unavailable: number },
  ) {
    this.offRecord = engine.onRecord((r) => this.onRecord(r));
    for (const sub of engine.subscriptionViews()) this.states.set(sub.id, sub.state);
    this.offChanged = api.on('subscriptions.changed', (subs) => this.onChanged(subs));
  }

  private say(line: string): void {
    out(`${clock(this.startedAt)} ${line}`);
  }

  private onRecord(r: EngineRecord): void {
    if (r.kind === 'delivery' && r.final && r.delivery.subscriptionName) {
      const t = this.tally.get(r.delivery.subscriptionName) ?? { delivered: 0, failed: 0 };
      if (r.delivery.outcome === 'delivered') t.delivered++;
      else if (r.delivery.outcome === 'dead' || r.delivery.outcome === 'failed') t.failed++;
      this.tally.set(r.delivery.subscriptionName, t);
    } else if (r.kind === 'breaker' && r.tripped) {
      const after = Math.round((Date.now() - this.startedAt) / 1000);
      this.say(`"${r.name}" TRIPPED after ${r.consecutiveFailures} consecutive failed deliveries (${r.error}), ${after} s in. Its events are held; Re-enable is one click in the console.`);
    } else if (r.kind === 'bus' && r.status.state !== 'connected') {
      this.say(`engine bus ${r.status.state}${r.status.lastError ? `: ${r.status.lastError}` : ''}`);
    } else if (r.kind === 'error') {
      this.say(`engine: ${r.message}`);
    }
  }

  private onChanged(subs: SubscriptionView[]): void {
    for (const sub of subs) {
      const before = this.states.get(sub.id);
      this.states.set(sub.id, sub.state);
      if (before === undefined || before === sub.state || sub.state === 'tripped') continue;
      this.say(`"${sub.name}" is now ${sub.state}${before === 'tripped' && sub.state === 'active' ? ' (re-enabled from the console)' : ''}`);
    }
  }

  start(everyMs: number): void {
    this.timer = setInterval(() => this.say(this.line()), everyMs);
  }

  private line(): string {
    const seconds = Math.max(1, (Date.now() - this.startedAt) / 1000);
    const parts = [`${this.published} events published (${(this.published / seconds).toFixed(1)}/s)`];
    for (const sub of this.engine.subscriptionViews()) {
      const t = this.tally.get(sub.name) ?? { delivered: 0, failed: 0 };
      const extra = [sub.deadCount > 0 ? `${sub.deadCount} dead` : null, sub.heldCount > 0 ? `${sub.heldCount} held` : null].filter(Boolean);
      parts.push(`${sub.name} ${sub.state.toUpperCase()}: ${t.delivered} delivered, ${t.failed} failed${extra.length > 0 ? ` (${extra.join(', ')})` : ''}`);
    }
    parts.push(`signatures verified by the SIEM: ${this.siem.verified}${this.siem.badSignature > 0 ? `, ${this.siem.badSignature} BAD` : ''}`);
    parts.push(`503s from the SOAR: ${this.soar.unavailable}`);
    return parts.join(' · ');
  }

  summary(): void {
    this.say(`summary: ${this.line()}${this.unsent > 0 ? ` · ${this.unsent} not sent (bus down)` : ''}`);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.offRecord();
    this.offChanged();
  }
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'analyst';
  }
}

// What must never outlive the demo goes at exit, however it exits.
process.on('exit', () => teardown.runNow());
exitOnStrayErrors('sluice demo', () => teardown.runNow());

main(process.argv.slice(2)).then(exitWhenFlushed, async (error: unknown) => {
  const code = reportFailure(
    {
      command: 'sluice demo',
      seeHelp: '(see --help)',
      stack: 'always',
      expected: (e) => (e instanceof ClaimError ? { message: e.message, exitCode: EXIT_USAGE } : null),
    },
    error,
  );
  await teardown.runAll();
  exitWhenFlushed(code);
});
