/**
 * The built CLI (`out/main/cli.js`, built by `pretest`) as a child process against a
 * temp database, a real nats-server and a real HTTP receiver: one-shot commands, the
 * `run` JSON-lines log, the reload signal, the breaker, test fire and `--follow`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DeliveryView, SettingsView, SubscriptionView, TestFireResult } from '../../src-main/contract/views';
import { sign } from '../../src-main/delivery/wire';
import { envelope } from '../harness/engine';
import { startNatsServer, type NatsServer } from '../harness/nats-server';
import { startReceiver, status, type Receiver } from '../harness/receiver';

const CLI = fileURLToPath(new URL('../../out/main/cli.js', import.meta.url));
const SECRET = 'cli-test-secret-0123456789';
const LINE_TIMEOUT_MS = 10_000;

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A running CLI process whose stdout lines can be awaited. */
class CliProcess {
  readonly lines: string[] = [];
  stderr = '';
  readonly exited: Promise<number | null>;
  private buffered = '';
  private readonly waiters = new Set<() => void>();

  constructor(readonly child: ChildProcess) {
    child.stdout?.setEncoding('utf8');
    child.stderr?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      this.buffered += chunk;
      const parts = this.buffered.split('\n');
      this.buffered = parts.pop() ?? '';
      this.lines.push(...parts);
      for (const wake of [...this.waiters]) wake();
    });
    child.stderr?.on('data', (chunk: string) => {
      this.stderr += chunk;
    });
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    void this.exited.then(() => {
      for (const wake of [...this.waiters]) wake();
    });
  }

  get done(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  /** Stdout lines parsed as JSON (every `run` line must parse). */
  json(): Record<string, unknown>[] {
    return this.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  /** Resolves with the first line at index ≥ `from` that satisfies `predicate`. */
  waitForLine(predicate: (line: string) => boolean, from = 0, timeoutMs = LINE_TIMEOUT_MS): Promise<{ line: string; index: number }> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        for (let i = from; i < this.lines.length; i++) {
          const line = this.lines[i] as string;
          if (predicate(line)) {
            finish();
            resolve({ line, index: i });
            return true;
          }
        }
        if (this.done) {
          finish();
          reject(new Error(`process exited without a matching line; stdout:\n${this.lines.join('\n')}\nstderr:\n${this.stderr}`));
          return true;
        }
        return false;
      };
      const wake = (): void => void check();
      const finish = (): void => {
        clearTimeout(timer);
        this.waiters.delete(wake);
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`no matching line within ${timeoutMs} ms; stdout:\n${this.lines.join('\n')}\nstderr:\n${this.stderr}`));
      }, timeoutMs);
      this.waiters.add(wake);
      check();
    });
  }

  /** Waits for a JSON line whose fields include `fields` (and that passes `extra`). */
  async waitForRecord(
    fields: Record<string, unknown>,
    from = 0,
    extra: (r: Record<string, unknown>) => boolean = () => true,
  ): Promise<{ record: Record<string, unknown>; index: number }> {
    const matches = (line: string): boolean => {
      const r = JSON.parse(line) as Record<string, unknown>;
      return Object.entries(fields).every(([k, v]) => r[k] === v) && extra(r);
    };
    const { line, index } = await this.waitForLine(matches, from);
    return { record: JSON.parse(line) as Record<string, unknown>, index };
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
const children = new Set<CliProcess>();

function spawnCli(args: string[]): CliProcess {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, SLUICE_DB: db },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const proc = new CliProcess(child);
  children.add(proc);
  void proc.exited.then(() => children.delete(proc));
  return proc;
}

async function cli(...args: string[]): Promise<CliResult> {
  const proc = spawnCli(args);
  const code = await proc.exited;
  return { code, stdout: proc.lines.join('\n'), stderr: proc.stderr };
}

/** Runs a command that must succeed with `--json` and returns its document. */
async function cliJson<T>(...args: string[]): Promise<T> {
  const result = await cli(...args, '--json');
  if (result.code !== 0) throw new Error(`sluice ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

async function addSubscription(name: string, url: string, patterns: string[]): Promise<SubscriptionView> {
  const args = ['subs', 'add', '--name', name, '--url', url, '--secret', SECRET, '--nats', nats.wsUrl];
  for (const p of patterns) args.push('--pattern', p);
  return (await cliJson<{ subscription: SubscriptionView }>(...args)).subscription;
}

async function startRun(): Promise<CliProcess> {
  const run = spawnCli(['run', '--nats', nats.wsUrl]);
  await run.waitForRecord({ kind: 'bus', state: 'connected' });
  return run;
}

async function publish(subject: string, body: unknown): Promise<void> {
  const nc = await nats.client();
  nc.publish(subject, new TextEncoder().encode(JSON.stringify(body)));
  await nc.flush();
}

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);
});

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-cli-'));
  db = join(dir, 'sluice.db');
  nats = await startNatsServer();
  receiver = await startReceiver();
});

afterEach(async () => {
  await Promise.all([...children].map((c) => c.stop('SIGKILL')));
  await receiver.close();
  await nats.cleanup();
  await rm(dir, { recursive: true, force: true });
});

describe('one-shot commands', () => {
  it('prints usage for --help and for no command', async () => {
    for (const args of [['--help'], [], ['subs', 'add', '-h']]) {
      const result = await cli(...args);
      expect(result.code).toBe(0);
      expect(result.stdout).toContain('Usage: sluice <command>');
    }
  });

  it('subs add prints the secret once; subs list never shows it', async () => {
    expect((await cli('settings', 'set', 'allowPrivate', 'true')).code).toBe(0);
    const added = await cli('subs', 'add', '--name', 'siem', '--url', receiver.url, '--preset', 'AttackerDetail', '--pattern', 'system.log');
    expect(added.code).toBe(0);
    const secret = /^secret: (\S+)$/m.exec(added.stdout)?.[1];
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(added.stdout.split(secret as string)).toHaveLength(2);
    expect(added.stderr).toContain('insecure_url');

    const given = await cliJson<{ subscription: SubscriptionView; secret: string }>(
      'subs', 'add', '--name', 'soar', '--url', receiver.url, '--pattern', 'decky.*.state', '--secret', SECRET,
    );
    expect(given.secret).toBe(SECRET);
    expect(given.subscription.patterns).toEqual(['decky.*.state']);

    const listed = await cli('subs', 'list', '--json');
    expect(listed.code).toBe(0);
    expect(listed.stdout).not.toContain(secret);
    expect(listed.stdout).not.toContain(SECRET);
    const subs = JSON.parse(listed.stdout) as SubscriptionView[];
    expect(subs.map((s) => [s.name, s.state, s.patterns])).toEqual([
      ['siem', 'active', ['attacker.>', 'system.log']],
      ['soar', 'active', ['decky.*.state']],
    ]);
    const human = await cli('subs', 'list');
    expect(human.stdout).toMatch(/^NAME\s+STATE/);
    expect(human.stdout).not.toContain(SECRET);
  });

  it('refuses bad input with exit 2 and a message naming the problem', async () => {
    const add = (...extra: string[]) => cli('subs', 'add', '--name', 'x', ...extra);

    const pattern = await add('--url', 'https://siem.example.com/hook', '--pattern', 'a.>.b');
    expect(pattern.code).toBe(2);
    expect(pattern.stderr).toContain('a.>.b');
    expect(pattern.stderr).toContain('patterns[0]');

    const metadata = await add('--url', 'http://169.254.169.254/latest', '--pattern', 'attacker.>');
    expect(metadata.code).toBe(2);
    expect(metadata.stderr).toContain('169.254.169.254');
    expect(metadata.stderr).toContain('forbidden_destination');

    const loopback = await add('--url', receiver.url, '--pattern', 'attacker.>');
    expect(loopback.code).toBe(2);
    expect(loopback.stderr).toContain('url');

    const secret = await add('--url', 'https://siem.example.com/hook', '--pattern', 'attacker.>', '--secret', 'short');
    expect(secret.code).toBe(2);
    expect(secret.stderr).toContain('secret');

    const preset = await add('--url', 'https://siem.example.com/hook', '--preset', 'Everything');
    expect(preset.code).toBe(2);
    expect(preset.stderr).toContain('AttackerDetail');

    const missing = await cli('subs', 'add', '--url', 'https://siem.example.com/hook');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--name');

    const unknownKey = await cli('settings', 'set', 'colour', 'blue');
    expect(unknownKey.code).toBe(2);
    expect(unknownKey.stderr).toContain('colour');
    expect(unknownKey.stderr).toContain('circuitThreshold');

    const badNumber = await cli('settings', 'set', 'concurrency', 'many');
    expect(badNumber.code).toBe(2);
    expect(badNumber.stderr).toContain('concurrency');

    const outOfRange = await cli('settings', 'set', 'timeoutMs', '5');
    expect(outOfRange.code).toBe(2);
    expect(outOfRange.stderr).toContain('timeoutMs');

    const unknownSub = await cli('subs', 'enable', 'nobody');
    expect(unknownSub.code).toBe(2);
    expect(unknownSub.stderr).toContain('"nobody"');

    const unknownOption = await cli('subs', 'list', '--frobnicate');
    expect(unknownOption.code).toBe(2);
    expect(unknownOption.stderr).toContain('--frobnicate');

    const unknownCommand = await cli('frobnicate');
    expect(unknownCommand.code).toBe(2);

    expect(await cliJson<SubscriptionView[]>('subs', 'list')).toEqual([]);
  });

  it('settings set parses booleans, integers and retry schedules', async () => {
    expect((await cli('settings', 'set', 'allowPrivate', 'yes')).code).toBe(0);
    expect((await cli('settings', 'set', 'circuitThreshold', '3')).code).toBe(0);
    expect((await cli('settings', 'set', 'retrySchedule', '1, 2.5,4')).code).toBe(0);
    let settings = await cliJson<SettingsView>('settings', 'get');
    expect(settings).toMatchObject({ allowPrivate: true, circuitThreshold: 3, retrySchedule: [1, 2.5, 4] });
    expect((await cli('settings', 'set', 'retrySchedule', '')).code).toBe(0);
    expect((await cliJson<SettingsView>('settings', 'get')).retrySchedule).toEqual([]);
    settings = await cliJson<SettingsView>('settings', 'set', 'retrySchedule', '[0.5,1]');
    expect(settings.retrySchedule).toEqual([0.5, 1]);
    settings = await cliJson<SettingsView>('settings', 'set', 'natsToken', 's3cr3t-token');
    expect(settings.natsTokenSet).toBe(true);
    const human = await cli('settings', 'get');
    expect(human.stdout).not.toContain('s3cr3t-token');
    expect(human.stdout).toMatch(/^retrySchedule\s+0\.5,1/m);
  });

  it('subs test reports delivered with status 200, and failures with exit 1', async () => {
    await cli('settings', 'set', 'allowPrivate', 'true');
    await addSubscription('siem', receiver.url, ['attacker.>']);
    const human = await cli('subs', 'test', 'siem');
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^siem: delivered · HTTP 200/);
    const [req] = await receiver.waitForRequests(1);
    expect(req?.headers['x-decnet-event-topic']).toBe('test.ping');
    expect(req?.headers['x-decnet-signature']).toBe(sign(SECRET, req?.body ?? Buffer.alloc(0)));

    receiver.setBehavior(status(500));
    const failed = await cli('subs', 'test', 'siem', '--json');
    expect(failed.code).toBe(1);
    expect(JSON.parse(failed.stdout) as TestFireResult).toMatchObject({ delivered: false, statusCode: 500 });

    const deliveries = await cliJson<DeliveryView[]>('deliveries');
    expect(deliveries.map((d) => [d.outcome, d.statusCode, d.topic])).toEqual([
      ['test', 500, 'test.ping'],
      ['test', 200, 'test.ping'],
    ]);
    // A test fire leaves the breaker alone.
    const [sub] = await cliJson<SubscriptionView[]>('subs', 'list');
    expect(sub).toMatchObject({ state: 'active', consecutiveFailures: 0 });
  });
});

describe('sluice run', () => {
  it('delivers bus events, picks up CLI changes by the reload signal, and exits 0 on SIGTERM', async () => {
    await cli('settings', 'set', 'allowPrivate', 'true');
    const first = await addSubscription('siem', receiver.url, ['attacker.>']);
    const run = await startRun();
    expect(run.json()[0]).toMatchObject({ kind: 'start', natsUrl: nats.wsUrl, subscriptions: 1 });

    const event = envelope('first_sighting', { ip: '203.0.113.7' }, 'evt-cli-1');
    await publish('attacker.observed', event);
    const [req] = await receiver.waitForRequests(1);
    expect(req?.headers['x-decnet-signature']).toBe(sign(SECRET, req?.body ?? Buffer.alloc(0)));
    expect(req?.headers['x-decnet-event-id']).toBe('evt-cli-1');
    const { record: delivered } = await run.waitForRecord({ kind: 'delivery', outcome: 'delivered', eventId: 'evt-cli-1' });
    expect(delivered).toMatchObject({ statusCode: 200, subscriptionId: first.id, subscriptionName: 'siem', final: true });

    // Added while running: live once the run process logs the reload.
    const second = await startReceiver();
    try {
      const mark = run.lines.length;
      const added = await addSubscription('soar', second.url, ['decky.*.state']);
      const addedAt = Date.now();
      await run.waitForRecord({ kind: 'reload', subscriptions: 2 }, mark);
      expect(Date.now() - addedAt).toBeLessThan(1_500);
      await publish('decky.d1.state', envelope('state', { up: true }, 'evt-cli-2'));
      const [req2] = await second.waitForRequests(1, 2_000);
      expect(req2?.headers['x-decnet-event-topic']).toBe('decky.d1.state');
      expect(req2?.headers['x-decnet-signature']).toBe(sign(SECRET, req2?.body ?? Buffer.alloc(0)));
      await run.waitForRecord({ kind: 'delivery', outcome: 'delivered', subscriptionId: added.id });
    } finally {
      await second.close();
    }

    expect(await run.stop('SIGTERM')).toBe(0);
    const records = run.json();
    expect(records.every((r) => typeof r['time'] === 'string' && !Number.isNaN(Date.parse(r['time'] as string)))).toBe(true);
    expect(records.some((r) => r['kind'] === 'delivery' && r['outcome'] === 'pending')).toBe(false);
    expect(records.at(-1)).toMatchObject({ kind: 'stop', reason: 'SIGTERM' });
    expect(run.stderr).toContain('Ctrl-C');

    const deliveries = await cliJson<DeliveryView[]>('deliveries');
    expect(deliveries.map((d) => [d.subscriptionName, d.outcome, d.eventId])).toEqual([
      ['soar', 'delivered', 'evt-cli-2'],
      ['siem', 'delivered', 'evt-cli-1'],
    ]);
    const bySub = await cliJson<DeliveryView[]>('deliveries', '--subscription', 'soar', '--outcome', 'delivered');
    expect(bySub.map((d) => d.eventId)).toEqual(['evt-cli-2']);
  });

  it('logs a breaker trip; subs enable re-enables and deliveries resume', async () => {
    await cli('settings', 'set', 'allowPrivate', 'true');
    await cli('settings', 'set', 'circuitThreshold', '1');
    await cli('settings', 'set', 'retrySchedule', '[]');
    const sub = await addSubscription('siem', receiver.url, ['attacker.>']);
    receiver.setBehavior(status(500));
    const run = await startRun();

    await publish('attacker.observed', envelope('x', { n: 1 }, 'evt-fail'));
    const { record: dead } = await run.waitForRecord({ kind: 'delivery', eventId: 'evt-fail', final: true });
    expect(dead).toMatchObject({ outcome: 'dead', statusCode: 500, attempts: 1 });
    const { record: trip } = await run.waitForRecord({ kind: 'breaker', event: 'tripped' });
    expect(trip).toMatchObject({ subscriptionId: sub.id, name: 'siem', consecutiveFailures: 1 });

    const [tripped] = await cliJson<SubscriptionView[]>('subs', 'list');
    expect(tripped).toMatchObject({ state: 'tripped', enabled: false, consecutiveFailures: 1 });
    expect(tripped?.autoDisabledAt).not.toBeNull();
    expect((await cli('subs', 'list')).stdout).toContain('TRIPPED');

    receiver.setBehavior(status(200));
    const mark = run.lines.length;
    const enabled = await cliJson<SubscriptionView>('subs', 'enable', 'siem', '--nats', nats.wsUrl);
    expect(enabled).toMatchObject({ state: 'active', enabled: true, consecutiveFailures: 0, autoDisabledAt: null, lastError: null });
    await run.waitForRecord({ kind: 'reload' }, mark, (r) => (r['patterns'] as number) >= 1);

    await publish('attacker.observed', envelope('x', { n: 2 }, 'evt-ok'));
    await run.waitForRecord({ kind: 'delivery', eventId: 'evt-ok', outcome: 'delivered' });
    expect(await run.stop('SIGTERM')).toBe(0);

    const outcomes = await cliJson<DeliveryView[]>('deliveries', '--limit', '10');
    expect(outcomes.map((d) => [d.eventId, d.outcome, d.statusCode])).toEqual([
      ['evt-ok', 'delivered', 200],
      ['evt-fail', 'dead', 500],
    ]);
    expect(await cliJson<DeliveryView[]>('deliveries', '--outcome', 'dead')).toHaveLength(1);
  });
});

describe('sluice deliveries replay', () => {
  /** Dead letters of `siem` (no retries, a breaker that does not trip), the run process still up. */
  async function deadLetters(ids: string[]): Promise<CliProcess> {
    await cli('settings', 'set', 'allowPrivate', 'true');
    await cli('settings', 'set', 'circuitThreshold', '100');
    await cli('settings', 'set', 'retrySchedule', '');
    await addSubscription('siem', receiver.url, ['attacker.>', 'canary.>']);
    receiver.setBehavior(status(500));
    const run = await startRun();
    for (const id of ids) {
      await publish('attacker.observed', envelope('x', {}, id));
      await run.waitForRecord({ kind: 'delivery', eventId: id, outcome: 'dead' });
    }
    receiver.setBehavior(status(200));
    return run;
  }

  it('replays dead letters (--dead, --dry-run) and one delivery (--id); a running engine sends them', async () => {
    const run = await deadLetters(['dl-1', 'dl-2']);
    const before = receiver.requests.length;

    const dry = await cli('deliveries', 'replay', '--subscription', 'siem', '--dead', '--dry-run');
    expect(dry.code).toBe(0);
    expect(dry.stdout).toBe('would queue 2 deliveries (dry run; nothing was queued)');
    expect(await cliJson('deliveries', 'replay', '--subscription', 'siem', '--dead', '--dry-run')).toEqual({ count: 2, queued: false });
    expect((await cliJson<SubscriptionView[]>('subs', 'list'))[0]).toMatchObject({ deadCount: 2 });

    const queued = await cli('deliveries', 'replay', '--subscription', 'siem', '--dead', '--nats', nats.wsUrl);
    expect(queued.code).toBe(0);
    expect(queued.stdout).toBe('queued 2 deliveries');
    const got = await receiver.waitForRequests(before + 2, 10_000);
    expect(got.slice(before).map((r) => r.headers['x-decnet-event-id']).sort()).toEqual(['dl-1', 'dl-2']);
    for (const r of got.slice(before)) expect(r.headers['x-decnet-signature']).toBe(sign(SECRET, r.body));
    await run.waitForRecord({ kind: 'delivery', eventId: 'dl-2', outcome: 'delivered', replay: true });

    // Nothing left: the originals are marked replayed, so a second run sends nothing twice.
    expect(await cliJson('deliveries', 'replay', '--subscription', 'siem', '--dead')).toEqual({ count: 0, queued: true });
    const rows = await cliJson<DeliveryView[]>('deliveries');
    expect(rows.map((d) => [d.eventId, d.outcome, d.replay]).sort()).toEqual([
      ['dl-1', 'delivered', true],
      ['dl-1', 'replayed', false],
      ['dl-2', 'delivered', true],
      ['dl-2', 'replayed', false],
    ]);
    const replayOfDl1 = rows.find((d) => d.eventId === 'dl-1' && d.replay) as DeliveryView;
    expect(replayOfDl1.replayOf).toBe(rows.find((d) => d.eventId === 'dl-1' && !d.replay)?.id);
    expect((await cli('deliveries', '--limit', '1')).stdout).toContain('(replay)');

    // One delivery, even a delivered one: sent again with the same event id.
    expect(await cliJson('deliveries', 'replay', '--id', String(replayOfDl1.id), '--dry-run')).toEqual({ count: 1, queued: false });
    expect(await cliJson('deliveries', 'replay', '--id', String(replayOfDl1.id), '--nats', nats.wsUrl)).toEqual({ count: 1, queued: true });
    const [, , , , again] = await receiver.waitForRequests(before + 3, 10_000);
    expect(again?.headers['x-decnet-event-id']).toBe('dl-1');

    const missing = await cli('deliveries', 'replay', '--id', '99999');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('99999');
    expect(await run.stop('SIGTERM')).toBe(0);
  });

  it('replays stored events by pattern and window to another subscription (--pattern --from --to)', async () => {
    const run = await deadLetters(['before']);
    const archive = await startReceiver();
    try {
      await addSubscription('archive', archive.url, ['decky.*.state']);
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      const from = new Date().toISOString();
      for (const [subject, id] of [['attacker.observed', 'in-1'], ['attacker.scored', 'in-2'], ['canary.t.triggered', 'other']] as const) {
        await publish(subject, envelope('x', {}, id));
        await run.waitForRecord({ kind: 'delivery', eventId: id, final: true });
      }
      const to = new Date(Date.now() + 1_000).toISOString();
      const args = ['deliveries', 'replay', '--subscription', 'archive', '--pattern', 'attacker.>', '--from', from, '--to', to];

      expect(await cliJson(...args, '--dry-run')).toEqual({ count: 2, queued: false });
      // A window from an hour before also takes the earlier event.
      const wider = ['--from', new Date(Date.now() - 3_600_000).toISOString()];
      expect(await cliJson(...args.slice(0, -4), ...wider, '--to', to, '--dry-run')).toEqual({ count: 3, queued: false });
      const queued = await cli(...args, '--nats', nats.wsUrl);
      expect(queued.code).toBe(0);
      expect(queued.stdout).toBe('queued 2 deliveries');
      const got = await archive.waitForRequests(2, 10_000);
      expect(got.map((r) => r.headers['x-decnet-event-id']).sort()).toEqual(['in-1', 'in-2']);
      for (const r of got) expect(r.headers['x-decnet-signature']).toBe(sign(SECRET, r.body));
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(archive.requests).toHaveLength(2);
      const bySub = await cliJson<DeliveryView[]>('deliveries', '--subscription', 'archive');
      expect(bySub.every((d) => d.replay && d.replayOf === null)).toBe(true);
    } finally {
      await archive.close();
      await run.stop('SIGTERM');
    }
  });

  it('refuses a bad TIME and anything but exactly one selection form, with exit 2', async () => {
    await cli('settings', 'set', 'allowPrivate', 'true');
    await addSubscription('siem', receiver.url, ['attacker.>']);
    const replay = (...args: string[]) => cli('deliveries', 'replay', ...args);

    for (const time of ['yesterday', '2026-11-28 10h', '2026-02-30T10:00:00Z', '2026-11-28T25:00:00Z']) {
      const bad = await replay('--subscription', 'siem', '--dead', '--since', time);
      expect(bad.code, time).toBe(2);
      expect(bad.stderr).toContain(`--since: "${time}" is not an ISO-8601 time`);
    }
    const badTo = await replay('--subscription', 'siem', '--pattern', 'attacker.>', '--from', '2026-11-28T10:00:00Z', '--to', 'now');
    expect(badTo.code).toBe(2);
    expect(badTo.stderr).toContain('--to: "now" is not an ISO-8601 time');
    const backwards = await replay('--subscription', 'siem', '--pattern', 'attacker.>', '--from', '2026-11-28T10:00:00Z', '--to', '2026-11-28T09:00:00Z');
    expect(backwards.code).toBe(2);
    expect(backwards.stderr).toContain('is after --to');

    const forms = '--id DELIVERY_ID | --subscription ID|NAME --dead [--since TIME] | --subscription ID|NAME --pattern P --from TIME --to TIME';
    for (const args of [
      [],
      ['--subscription', 'siem'],
      ['--id', '1', '--dead'],
      ['--id', '1', '--subscription', 'siem'],
      ['--subscription', 'siem', '--dead', '--pattern', 'attacker.>'],
      ['--subscription', 'siem', '--pattern', 'attacker.>', '--from', '2026-11-28T10:00:00Z'],
      ['--subscription', 'siem', '--pattern', 'attacker.>', '--since', '2026-11-28T10:00:00Z', '--from', '2026-11-28T10:00:00Z', '--to', '2026-11-28T11:00:00Z'],
    ]) {
      const wrong = await replay(...args);
      expect(wrong.code, args.join(' ')).toBe(2);
      expect(wrong.stderr, args.join(' ')).toContain(forms);
    }
    const badPattern = await replay('--subscription', 'siem', '--pattern', 'a.>.b', '--from', '2026-11-28T10:00:00Z', '--to', '2026-11-28T11:00:00Z');
    expect(badPattern.code).toBe(2);
    expect(badPattern.stderr).toContain('a.>.b');
    const unknown = await replay('--subscription', 'nobody', '--dead');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('"nobody"');
    const badId = await replay('--id', 'seven');
    expect(badId.code).toBe(2);
    expect(badId.stderr).toContain('--id');
    // Offsets and local times are accepted.
    expect(await cliJson('deliveries', 'replay', '--subscription', 'siem', '--dead', '--since', '2026-11-28T11:00:00+01:00', '--dry-run')).toEqual({
      count: 0,
      queued: false,
    });
    expect((await replay('--subscription', 'siem', '--dead', '--since', '2026-11-28T10:00', '--dry-run')).code).toBe(0);
    expect((await cli('--help')).stdout).toContain('deliveries replay --subscription ID|NAME --pattern P --from TIME --to TIME');
  });
});

describe('sluice subs: held events and retry schedules', () => {
  it('subs enable --held discard lets the held events go; nothing is sent for them', async () => {
    await cli('settings', 'set', 'allowPrivate', 'true');
    await cli('settings', 'set', 'circuitThreshold', '1');
    await cli('settings', 'set', 'retrySchedule', '');
    await addSubscription('siem', receiver.url, ['attacker.>']);
    receiver.setBehavior(status(500));
    const run = await startRun();
    await publish('attacker.observed', envelope('x', {}, 'trips'));
    await run.waitForRecord({ kind: 'breaker', event: 'tripped' });
    for (const id of ['held-1', 'held-2']) {
      await publish('attacker.observed', envelope('x', {}, id));
      await run.waitForRecord({ kind: 'delivery', eventId: id, outcome: 'held' });
    }
    expect((await cliJson<SubscriptionView[]>('subs', 'list'))[0]).toMatchObject({ state: 'tripped', heldCount: 2, deadCount: 1 });
    expect((await cli('subs', 'list')).stdout).toMatch(/^NAME\s+STATE\s+FAILS\s+DEAD\s+HELD/);

    const badHeld = await cli('subs', 'enable', 'siem', '--held', 'keep');
    expect(badHeld.code).toBe(2);
    expect(badHeld.stderr).toContain('--held: "keep" is not one of: deliver, discard');
    const disableHeld = await cli('subs', 'disable', 'siem', '--held', 'discard');
    expect(disableHeld.code).toBe(2);

    receiver.setBehavior(status(200));
    const mark = run.lines.length;
    const enabled = await cli('subs', 'enable', 'siem', '--held', 'discard', '--nats', nats.wsUrl);
    expect(enabled.code).toBe(0);
    expect(enabled.stdout).toContain('siem: active');
    expect(enabled.stdout).toContain('held events: discarded (2 were held)');
    await run.waitForRecord({ kind: 'reload' }, mark, (r) => (r['patterns'] as number) >= 1);
    expect((await cliJson<SubscriptionView[]>('subs', 'list'))[0]).toMatchObject({ state: 'active', heldCount: 0, deadCount: 1 });
    const discarded = await cliJson<DeliveryView[]>('deliveries', '--outcome', 'discarded');
    expect(discarded.map((d) => d.eventId).sort()).toEqual(['held-1', 'held-2']);

    await publish('attacker.observed', envelope('x', {}, 'after'));
    await run.waitForRecord({ kind: 'delivery', eventId: 'after', outcome: 'delivered' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(receiver.requests.map((r) => r.headers['x-decnet-event-id'])).toEqual(['trips', 'after']);
    // Nothing was held this time: no line about it.
    expect((await cli('subs', 'disable', 'siem')).code).toBe(0);
    expect((await cli('subs', 'enable', 'siem')).stdout).not.toContain('held events');
    expect(await run.stop('SIGTERM')).toBe(0);
  });

  it('subs disable holds its waiting and new events; subs enable delivers them by default', async () => {
    await cli('settings', 'set', 'allowPrivate', 'true');
    await addSubscription('siem', receiver.url, ['attacker.>']);
    const run = await startRun();
    await publish('attacker.observed', envelope('x', {}, 'before'));
    await run.waitForRecord({ kind: 'delivery', eventId: 'before', outcome: 'delivered' });

    let mark = run.lines.length;
    const disabled = await cli('subs', 'disable', 'siem');
    expect(disabled.code).toBe(0);
    expect(disabled.stdout).toContain('siem: paused');
    expect(disabled.stdout).toContain(
      'held events: its waiting and new events are held (up to 10,000, 72 h) until `sluice subs enable siem` delivers them (`--held discard` lets them go)',
    );
    await run.waitForRecord({ kind: 'reload', reason: 'database changed' }, mark);
    for (const id of ['paused-1', 'paused-2']) {
      await publish('attacker.observed', envelope('x', {}, id));
      await run.waitForRecord({ kind: 'delivery', eventId: id, outcome: 'held' });
    }
    expect((await cliJson<SubscriptionView[]>('subs', 'list'))[0]).toMatchObject({ state: 'paused', heldCount: 2, deadCount: 0 });
    expect(receiver.requests).toHaveLength(1);

    mark = run.lines.length;
    const enabled = await cli('subs', 'enable', 'siem');
    expect(enabled.code).toBe(0);
    expect(enabled.stdout).toContain('siem: active');
    expect(enabled.stdout).toContain('held events: delivered (2 were held)');
    for (const id of ['paused-1', 'paused-2']) await run.waitForRecord({ kind: 'delivery', eventId: id, outcome: 'delivered' }, mark);
    // Released oldest first, then sent several at a time: not necessarily in order.
    expect(receiver.requests.map((r) => r.headers['x-decnet-event-id']).sort()).toEqual(['before', 'paused-1', 'paused-2']);
    expect((await cliJson<SubscriptionView[]>('subs', 'list'))[0]).toMatchObject({ state: 'active', heldCount: 0 });
    expect(await run.stop('SIGTERM')).toBe(0);
  });

  it('subs add/update --retry-schedule default|extended|seconds', async () => {
    await cli('settings', 'set', 'allowPrivate', 'true');
    const args = ['subs', 'add', '--name', 'siem', '--url', receiver.url, '--pattern', 'attacker.>', '--retry-schedule', 'extended'];
    const added = await cli(...args);
    expect(added.code).toBe(0);
    expect(added.stdout).toContain('retries: 5,300,1800,7200,18000,36000,36000 s');
    const sub = async () => (await cliJson<SubscriptionView[]>('subs', 'list'))[0];
    expect((await sub())?.retrySchedule).toEqual([5, 300, 1800, 7200, 18000, 36000, 36000]);
    expect((await cliJson<SubscriptionView>('subs', 'update', 'siem', '--retry-schedule', '1, 2.5')).retrySchedule).toEqual([1, 2.5]);
    expect((await cliJson<SubscriptionView>('subs', 'update', 'siem', '--retry-schedule', '')).retrySchedule).toEqual([]);
    expect((await cliJson<SubscriptionView>('subs', 'update', 'siem', '--retry-schedule', 'default')).retrySchedule).toBeNull();
    const bad = await cli('subs', 'update', 'siem', '--retry-schedule', 'soon');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--retry-schedule');
    const tooLong = await cli('subs', 'update', 'siem', '--retry-schedule', '90000');
    expect(tooLong.code).toBe(2);
    expect(tooLong.stderr).toContain('retrySchedule');
    expect((await sub())?.retrySchedule).toBeNull();
  });
});

describe('sluice deliveries --follow', () => {
  it('streams each delivery when it appears and when its outcome changes', async () => {
    await cli('settings', 'set', 'allowPrivate', 'true');
    await addSubscription('siem', receiver.url, ['attacker.>']);
    expect((await cli('subs', 'test', 'siem')).code).toBe(0);
    const follow = spawnCli(['deliveries', '--follow', '--json']);
    // The backlog first: the earlier test fire.
    const { line: backlog } = await follow.waitForLine(() => true);
    expect(JSON.parse(backlog)).toMatchObject({ outcome: 'test', statusCode: 200 });

    expect((await cli('subs', 'test', 'siem')).code).toBe(0);
    const firstId = (JSON.parse(backlog) as DeliveryView).id;
    const { line } = await follow.waitForLine((l) => {
      const d = JSON.parse(l) as DeliveryView;
      return d.id > firstId && d.outcome === 'test';
    });
    expect(JSON.parse(line)).toMatchObject({ topic: 'test.ping', statusCode: 200 });
    expect(await follow.stop('SIGINT')).toBe(0);
  });
});

describe('sluice publish', () => {
  it('puts one message on the bus, byte for byte, for a running engine to deliver', async () => {
    unwrapExit(await cli('settings', 'set', 'allowPrivate', 'true'));
    await addSubscription('wazuh', receiver.url, ['attacker.>']);
    const run = await startRun();
    const body = JSON.stringify(envelope('first_sighting', { ip: '203.0.113.7' }, 'published-1'));
    const result = await cli('publish', 'attacker.observed', body, '--nats', nats.wsUrl);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`published ${Buffer.byteLength(body)} bytes on attacker.observed`);
    const [req] = await receiver.waitForRequests(1);
    expect(req?.headers['x-decnet-event-id']).toBe('published-1');
    expect(req?.headers['x-decnet-signature']).toBe(sign(SECRET, req!.body));
    await run.stop('SIGTERM');
  });

  it('refuses a wildcard subject, a database that does not exist, and reports an unreachable bus', async () => {
    const wildcard = await cli('publish', 'attacker.*', '{}', '--nats', nats.wsUrl);
    expect(wildcard.code).toBe(2);
    expect(wildcard.stderr).toContain('is a pattern, not a subject');
    // The bus settings are the database's: none there is a mistake, not the defaults.
    expect(wildcard.stderr).toContain(`no database at ${db}`);
    unwrapExit(await cli('settings', 'set', 'allowPrivate', 'true', '--nats', nats.wsUrl));
    await nats.stop();
    const down = await cli('publish', 'attacker.observed', '{}', '--nats', nats.wsUrl);
    expect(down.code).toBe(1);
    expect(down.stderr).toContain('bus not reachable');
  });
});

function unwrapExit(result: CliResult): CliResult {
  if (result.code !== 0) throw new Error(`exit ${result.code}: ${result.stderr}`);
  return result;
}
