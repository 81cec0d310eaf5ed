/**
 * One engine per database, and no edit lost beside it: the built CLI (`out/main/cli.js`)
 * and web host (`out/main/serve.js`) as child processes on a temp database, a real
 * nats-server and a real receiver.
 * - A second engine (`run`, `serve`, or one in the same process) on a database an engine
 *   holds refuses at once with exit 2, naming the holder; one-shot commands keep working
 *   beside it; of engines started at the same moment exactly one runs.
 * - An engine killed with SIGKILL never blocks the next start.
 * - A change waits for the write lock as long as it takes (saying so); one that cannot
 *   be applied says why in one plain line; 30 parallel edits during a 500 events/s burst
 *   all exit 0 and are all applied.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import type { NatsConnection } from '@nats-io/nats-core';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { SubscriptionView } from '../../src-main/contract/views';
import { Engine } from '../../src-main/engine/engine';
import { createInProcessClient } from '../../src-main/engine/in-process-client';
import { createKeyFileCipher, SecretKeyError } from '../../src-main/store/secret-cipher';
import { envelope, unwrap } from '../harness/engine';
import { startNatsServer, type NatsServer } from '../harness/nats-server';
import { startReceiver, type Receiver } from '../harness/receiver';

const CLI = join(__dirname, '../../out/main/cli.js');
const SERVE = join(__dirname, '../../out/main/serve.js');

/** A child process whose output can be awaited. */
class Proc {
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;
  private readonly waiters = new Set<() => void>();

  constructor(readonly child: ChildProcess) {
    child.stdout?.setEncoding('utf8');
    child.stderr?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      this.stdout += chunk;
      this.wake();
    });
    child.stderr?.on('data', (chunk: string) => {
      this.stderr += chunk;
      this.wake();
    });
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    void this.exited.then(() => this.wake());
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  get done(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  /** Resolves once stdout (or stderr) matches `re`; rejects if the process exits first. */
  waitFor(re: RegExp, timeoutMs = 10_000, stream: 'stdout' | 'stderr' = 'stdout'): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (re.test(this[stream])) finish(() => resolve());
        else if (this.done) finish(() => reject(new Error(`exited (${this.child.exitCode}) before ${re}; stderr:\n${this.stderr}`)));
      };
      const timer = setTimeout(() => finish(() => reject(new Error(`no ${re} within ${timeoutMs} ms; stderr:\n${this.stderr}`))), timeoutMs);
      const finish = (then: () => void): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
        then();
      };
      this.waiters.add(check);
      check();
    });
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (!this.done) this.child.kill(signal);
    return this.exited;
  }
}

let dir: string;
let db: string;
let nats: NatsServer;
let receiver: Receiver;
let publisher: NatsConnection;
const children = new Set<Proc>();

function start(script: string, args: string[]): Proc {
  const proc = new Proc(spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }));
  children.add(proc);
  void proc.exited.then(() => children.delete(proc));
  return proc;
}

const cli = (...args: string[]): Proc => start(CLI, [...args, '--db', db]);

/** `sluice run`; resolves once its bus is connected. */
async function startRun(): Promise<Proc> {
  const run = cli('run', '--nats', nats.wsUrl);
  await run.waitFor(/"kind":"bus","state":"connected"/);
  return run;
}

/** Subscriptions made through the contract, as the console would, before any engine runs. */
async function seed(names: string[]): Promise<void> {
  const engine = await Engine.start({ dbPath: db, offline: true });
  try {
    const api = createInProcessClient(engine);
    unwrap(await api['settings.update']({ allowPrivate: true, retrySchedule: [0.2, 0.5], timeoutMs: 3000 }));
    unwrap(await api['subscriptions.create']({ name: 'siem', url: receiver.url, patterns: ['attacker.>'] }));
    for (const name of names) unwrap(await api['subscriptions.create']({ name, url: receiver.url, patterns: [`canary.${name}`] }));
  } finally {
    await engine.stop();
  }
}

/** The subscriptions' urls by name, read from the file as another process would. */
function storedUrls(): Map<string, string> {
  const sqlite = new BetterSqlite3(db, { readonly: true, fileMustExist: true });
  try {
    const rows = sqlite.prepare('SELECT name, url FROM subscriptions').all() as { name: string; url: string }[];
    return new Map(rows.map((r) => [r.name, r.url]));
  } finally {
    sqlite.close();
  }
}

beforeAll(() => {
  for (const file of [CLI, SERVE]) if (!existsSync(file)) throw new Error(`${file} is missing: run npm run build first`);
});

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-one-engine-'));
  db = join(dir, 'sluice.db');
  nats = await startNatsServer();
  receiver = await startReceiver();
  publisher = await nats.client();
});

afterEach(async () => {
  await Promise.all([...children].map((c) => c.stop('SIGKILL')));
  await receiver.close();
  await nats.cleanup();
  await rm(dir, { recursive: true, force: true });
});

describe('one engine per database', () => {
  it('a second run or serve refuses at once with exit 2, naming the holder; one-shot commands work beside it', async () => {
    await seed([]);
    const first = await startRun();
    const holder = new RegExp(
      `in use by another engine: pid ${first.child.pid} \\(sluice run\\), since \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d(\\.\\d+)?Z`,
    );

    const startedAt = Date.now();
    const second = cli('run', '--nats', nats.wsUrl);
    expect(await second.exited).toBe(2);
    expect(Date.now() - startedAt).toBeLessThan(5_000);
    expect(second.stderr).toMatch(holder);
    expect(second.stderr).not.toMatch(/\n\s+at /);
    expect(second.stdout).not.toContain('"kind":"start"');

    const serve = start(SERVE, ['--db', db, '--port', '0', '--nats', nats.wsUrl]);
    expect(await serve.exited).toBe(2);
    expect(serve.stderr).toMatch(holder);
    expect(serve.stdout).not.toContain('Sluice console:');

    const list = cli('subs', 'list', '--json');
    expect(await list.exited).toBe(0);
    expect((JSON.parse(list.stdout) as SubscriptionView[]).map((s) => s.name)).toEqual(['siem']);

    // Only the holder delivers: each event reaches the receiver once.
    publisher.publish('attacker.observed', new TextEncoder().encode(JSON.stringify(envelope('x', {}, 'once'))));
    await publisher.flush();
    await first.waitFor(/"kind":"delivery".*"eventId":"once"/);
    expect(receiver.requests.map((r) => r.headers['x-decnet-event-id'])).toEqual(['once']);

    // Stopped cleanly, the database is free again, with nothing to take over.
    expect(await first.stop('SIGTERM')).toBe(0);
    const next = await startRun();
    expect(next.stderr).not.toContain('took over');
    expect(await next.stop('SIGTERM')).toBe(0);
  });

  it('an engine killed with SIGKILL never blocks the next start', async () => {
    await seed([]);
    const killed = await startRun();
    expect(await killed.stop('SIGKILL')).toBeNull();

    const restarted = await startRun();
    expect(restarted.stderr).toContain(`took over the claim of pid ${killed.child.pid} (sluice run)`);
    publisher.publish('attacker.observed', new TextEncoder().encode(JSON.stringify(envelope('x', {}, 'after-kill'))));
    await publisher.flush();
    await restarted.waitFor(/"kind":"delivery".*"eventId":"after-kill"/);
    expect(receiver.requests.map((r) => r.headers['x-decnet-event-id'])).toEqual(['after-kill']);
    expect(await restarted.stop('SIGTERM')).toBe(0);
  });

  it('of engines started at the same moment, one runs and the others refuse', async () => {
    await seed([]);
    const runs = [0, 1, 2].map(() => cli('run', '--nats', nats.wsUrl));
    const winner = await Promise.any(runs.map(async (run) => (await run.waitFor(/"kind":"bus","state":"connected"/), run)));
    const losers = runs.filter((run) => run !== winner);
    expect(await Promise.all(losers.map((run) => run.exited))).toEqual([2, 2]);
    // A loser names the winner, or (when it looked before the winner had written who it
    // is) says that another engine was starting at the same moment.
    for (const run of losers)
      expect(run.stderr).toMatch(
        new RegExp(`in use by another engine: (pid ${winner.child.pid} \\(sluice run\\)|one starting at the same moment)`),
      );
    expect(await winner.stop('SIGTERM')).toBe(0);
  });

  it('in one process too: a second engine is refused, and a start that fails lets the database go', async () => {
    const key = createKeyFileCipher(randomBytes(32), 'a test key');
    const first = await Engine.start({ dbPath: db, natsUrl: nats.wsUrl, command: 'test engine', cipher: key, allowPrivate: true });
    try {
      await expect(Engine.start({ dbPath: db, natsUrl: nats.wsUrl, cipher: key })).rejects.toThrow(
        new RegExp(`in use by another engine: pid ${process.pid} \\(test engine\\)`),
      );
      unwrap(await createInProcessClient(first)['subscriptions.create']({ name: 'siem', url: receiver.url, patterns: ['attacker.>'] }));
    } finally {
      await first.stop();
    }
    // Refused for want of the key its secret is encrypted with: the claim goes with the failed start.
    await expect(Engine.start({ dbPath: db, natsUrl: nats.wsUrl })).rejects.toThrow(SecretKeyError);
    const again = await Engine.start({ dbPath: db, natsUrl: nats.wsUrl, cipher: key });
    expect(again.tookOverFrom).toBeNull();
    await again.stop();
  });
});

describe('no edit lost beside a busy engine', () => {
  it('a change waits for the write lock as long as it takes, saying so after a second, and is applied', async () => {
    await seed(['edit-0']);
    // Another process's write transaction, held until the command says it is waiting.
    const holder = new BetterSqlite3(db);
    holder.exec('BEGIN IMMEDIATE');
    holder.prepare("UPDATE settings SET value = value WHERE key = 'natsUrl'").run();
    const edit = cli('subs', 'update', 'edit-0', '--url', `${receiver.url}-edited`);
    try {
      await edit.waitFor(/note: waiting for the engine running on .* to let go of the write lock/, 10_000, 'stderr');
    } finally {
      holder.exec('COMMIT');
      holder.close();
    }
    expect(await edit.exited).toBe(0);
    expect(storedUrls().get('edit-0')).toBe(`${receiver.url}-edited`);
  });

  it('a change that cannot be applied says why in one plain line and exits 1', async () => {
    await seed(['edit-0']);
    const sqlite = new BetterSqlite3(db);
    sqlite.exec("CREATE TRIGGER frozen BEFORE UPDATE ON subscriptions BEGIN SELECT RAISE(ABORT, 'frozen by the test'); END");
    sqlite.close();
    const edit = cli('subs', 'update', 'edit-0', '--url', `${receiver.url}-edited`);
    expect(await edit.exited).toBe(1);
    expect(edit.stderr).toBe('sluice: subscriptions.update failed: frozen by the test\n');
    expect(storedUrls().get('edit-0')).toBe(receiver.url);
  });

  const EDITS = 30;
  const RATE_PER_S = 500;

  it(`${EDITS} parallel edits during a ${RATE_PER_S} events/s burst all exit 0 and are all applied`, { timeout: 60_000 }, async () => {
    const names = Array.from({ length: EDITS }, (_, i) => `edit-${i}`);
    await seed(names);
    const run = await startRun();

    // The burst: RATE_PER_S events a second on the bus, to a subscribed receiver, until the edits are done.
    let published = 0;
    let bursting = true;
    const encoder = new TextEncoder();
    const burst = (async () => {
      const startedAt = Date.now();
      while (bursting) {
        const due = Math.floor(((Date.now() - startedAt) / 1000) * RATE_PER_S);
        for (; published < due; published++)
          publisher.publish('attacker.observed', encoder.encode(JSON.stringify(envelope('x', { n: published }, `burst-${published}`))));
        await publisher.flush();
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    // Under way: the engine is recording and delivering.
    await receiver.waitForRequests(RATE_PER_S / 2, 10_000);

    const edits = names.map((name) => ({
      name,
      url: `${receiver.url}-${name}`,
      proc: cli('subs', 'update', name, '--url', `${receiver.url}-${name}`, '--nats', nats.wsUrl),
    }));
    const codes = await Promise.all(edits.map((e) => e.proc.exited));
    bursting = false;
    await burst;

    const failures = edits.filter((_, i) => codes[i] !== 0).map((e) => `${e.name}: exit ${e.proc.child.exitCode}: ${e.proc.stderr}`);
    expect(failures).toEqual([]);
    for (const e of edits) expect(e.proc.stderr).not.toMatch(/\n\s+at /);
    expect(await run.stop('SIGTERM')).toBe(0);
    expect(run.stdout).not.toContain('"kind":"error"');
    const urls = storedUrls();
    expect(edits.filter((e) => urls.get(e.name) !== e.url).map((e) => e.name)).toEqual([]);
    expect(published).toBeGreaterThan(RATE_PER_S);
  });
});
