/**
 * `sluice settings` as a child process (the built `out/main/cli.js`) against a temp
 * database: every setting the console's Settings screen edits has a CLI equivalent,
 * secrets stay write-only, bad values are refused with the reason, `unset` restores a
 * default, and a running engine follows a bus URL change without a restart.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFile, mkdtemp, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Settings, SettingsView } from '../../src-main/contract/views';
import { DEFAULT_SETTINGS, SETTING_KEYS } from '../../src-main/store/settings';
import { Store } from '../../src-main/store/database';
import { startNatsServer, type NatsServer } from '../harness/nats-server';
import { makeTestPki, startTlsNatsServer, type TlsNatsServer } from '../harness/tls';

const CLI = fileURLToPath(new URL('../../out/main/cli.js', import.meta.url));
const LINE_TIMEOUT_MS = 15_000;

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

let dir: string;
let db: string;
const children = new Set<ChildProcess>();

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-cli-settings-'));
  db = join(dir, 'sluice.db');
  // A database to read (`settings get` refuses one that does not exist).
  (await Store.open(db)).close();
});

afterEach(async () => {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
  await rm(dir, { recursive: true, force: true });
});

function start(args: string[], stdin?: string): ChildProcess {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, SLUICE_DB: db },
    cwd: dir,
    stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  if (stdin !== undefined) child.stdin?.end(stdin);
  return child;
}

function cli(args: string[], stdin?: string): Promise<CliResult> {
  const child = start(args, stdin);
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

async function ok(...args: string[]): Promise<string> {
  const r = await cli(args);
  expect(r.stderr.replace(/^note: bus not reachable.*\n?/gm, ''), `sluice ${args.join(' ')}`).toBe('');
  expect(r.code, `sluice ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

async function current(): Promise<SettingsView> {
  return JSON.parse(await ok('settings', 'get', '--json')) as SettingsView;
}

/** A non-default value for every key, as typed on the command line and as read back. */
const CHANGES: Record<keyof Settings, [string, Partial<SettingsView>]> = {
  // Unreachable at once (nothing listens there), so each later `set` skips the reload signal quickly.
  natsUrl: ['ws://127.0.0.1:1, wss://127.0.0.1:2', { natsUrl: 'ws://127.0.0.1:1, wss://127.0.0.1:2' }],
  natsUser: ['sluice', { natsUser: 'sluice' }],
  natsPassword: ['pw-never-printed-7c1e', { natsPasswordSet: true }],
  natsToken: ['tok-never-printed-90af', { natsTokenSet: true }],
  natsCredsFile: ['/etc/sluice/sluice.creds', { natsCredsFile: '/etc/sluice/sluice.creds' }],
  // Relative to the shell's folder (the test's temp dir, where the test puts a CA), stored absolute.
  natsCaFile: ['bus-ca.pem', {}],
  natsClientCertFile: ['client.pem', {}],
  natsClientKeyFile: ['client.key', {}],
  allowPrivate: ['true', { allowPrivate: true }],
  allowedCidrs: ['10.20.0.0/16, 192.168.10.0/24', { allowedCidrs: ['10.20.0.0/16', '192.168.10.0/24'] }],
  egressProxy: ['http://127.0.0.1:3128', { egressProxy: 'http://127.0.0.1:3128' }],
  noProxy: ['siem.corp.example, .corp.example, 10.0.0.0/8', { noProxy: ['siem.corp.example', '.corp.example', '10.0.0.0/8'] }],
  circuitThreshold: ['3', { circuitThreshold: 3 }],
  concurrency: ['4', { concurrency: 4 }],
  timeoutMs: ['2500', { timeoutMs: 2500 }],
  retrySchedule: ['5,60,600', { retrySchedule: [5, 60, 600] }],
  heldMaxCount: ['500', { heldMaxCount: 500 }],
  heldMaxAgeHours: ['24', { heldMaxAgeHours: 24 }],
  retentionDays: ['7', { retentionDays: 7 }],
  retentionMaxRows: ['50000', { retentionMaxRows: 50000 }],
  auditRetentionDays: ['90', { auditRetentionDays: 90 }],
  jetstreamStream: ['DECNET', { jetstreamStream: 'DECNET' }],
  jetstreamDurable: ['soc-team_1', { jetstreamDurable: 'soc-team_1' }],
  teamKeyFile: ['team.key', {}],
  teamBucket: ['soc-team', { teamBucket: 'soc-team' }],
};

// One process per command (~0.3 s each, more on a loaded machine): room beyond the 30 s default.
describe('sluice settings', { timeout: 120_000 }, () => {
  it('sets every setting of the Settings screen and reads it back', async () => {
    // The keys the CLI accepts are exactly the settings model's; the view adds only the set
    // flags, the durable name used while none is set, and this run's overrides.
    const viewKeys = Object.keys(await current()).sort();
    const expected = [
      ...SETTING_KEYS.filter((k) => k !== 'natsPassword' && k !== 'natsToken'),
      'natsPasswordSet',
      'natsTokenSet',
      'jetstreamDurableDefault',
      'overrides',
    ];
    expect(viewKeys).toEqual(expected.sort());
    expect(Object.keys(CHANGES).sort()).toEqual([...SETTING_KEYS].sort());

    const pki = await makeTestPki();
    try {
      await copyFile(pki.caFile, join(dir, 'bus-ca.pem'));
      await copyFile(pki.clientCertFile, join(dir, 'client.pem'));
      await copyFile(pki.clientKeyFile, join(dir, 'client.key'));
    } finally {
      await pki.cleanup();
    }
    for (const key of SETTING_KEYS) await ok('settings', 'set', key, CHANGES[key][0]);
    const after = await current();
    for (const key of SETTING_KEYS) expect(after, key).toMatchObject(CHANGES[key][1]);
    const cwd = await realpath(dir);
    expect(after).toMatchObject({
      natsCaFile: join(cwd, 'bus-ca.pem'),
      natsClientCertFile: join(cwd, 'client.pem'),
      natsClientKeyFile: join(cwd, 'client.key'),
      teamKeyFile: join(cwd, 'team.key'),
    });

    const human = await ok('settings', 'get');
    for (const key of SETTING_KEYS) expect(human).toMatch(new RegExp(`^${key}\\s`, 'm'));
    expect(human).toMatch(/^natsPassword\s+\(set\)$/m);
    expect(human).toMatch(/^allowedCidrs\s+10\.20\.0\.0\/16,192\.168\.10\.0\/24$/m);
    expect(human).not.toContain('pw-never-printed-7c1e');
    expect(human).not.toContain('tok-never-printed-90af');
  });

  it('keeps secrets write-only: read from stdin, never printed, cleared by unset', async () => {
    const password = 'stdin-password-3b9d51';
    const set = await cli(['settings', 'set', 'natsPassword', '-'], `${password}\n`);
    expect(set.code).toBe(0);
    expect(set.stdout.trim()).toBe('natsPassword = (set)');
    const json = await cli(['settings', 'set', 'natsToken', 'tok-json-4e2a', '--json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ natsTokenSet: true, natsPasswordSet: true });
    for (const output of [json.stdout, await ok('settings', 'get'), await ok('settings', 'get', '--json')]) {
      expect(output).not.toContain(password);
      expect(output).not.toContain('tok-json-4e2a');
    }

    expect((await ok('settings', 'unset', 'natsPassword')).trim()).toBe('natsPassword = (not set) (default)');
    // Clearing with an empty value works too.
    await ok('settings', 'set', 'natsToken', '');
    expect(await current()).toMatchObject({ natsPasswordSet: false, natsTokenSet: false });
  });

  it('unset restores a default', async () => {
    await ok('settings', 'set', 'circuitThreshold', '2');
    await ok('settings', 'set', 'allowedCidrs', '10.0.0.0/8');
    await ok('settings', 'set', 'retrySchedule', '');
    await ok('settings', 'set', 'natsUrl', 'ws://127.0.0.1:1');
    for (const key of ['circuitThreshold', 'allowedCidrs', 'retrySchedule', 'natsUrl']) await ok('settings', 'unset', key);
    expect(await current()).toMatchObject({
      circuitThreshold: DEFAULT_SETTINGS.circuitThreshold,
      allowedCidrs: [],
      retrySchedule: DEFAULT_SETTINGS.retrySchedule,
      natsUrl: DEFAULT_SETTINGS.natsUrl,
    });
    const json = JSON.parse(await ok('settings', 'unset', 'concurrency', '--json')) as SettingsView;
    expect(json.concurrency).toBe(DEFAULT_SETTINGS.concurrency);
  });

  it("shows the JetStream durable: this installation's own until one is set, the same at every start", async () => {
    const first = await current();
    expect(first.jetstreamDurable).toBe('');
    expect(first.jetstreamDurableDefault).toMatch(/^sluice-[0-9a-f]{12}$/);
    const own = `(this installation's own: ${first.jetstreamDurableDefault})`;
    expect(await ok('settings', 'get')).toMatch(new RegExp(`^jetstreamDurable +${own.replace(/[()]/g, '\\$&')}$`, 'm'));
    // Each command is a new process opening the database: the name stays.
    expect((await current()).jetstreamDurableDefault).toBe(first.jetstreamDurableDefault);
    expect((await ok('settings', 'set', 'jetstreamDurable', 'soc-team')).trim()).toBe('jetstreamDurable = soc-team');
    expect(await current()).toMatchObject({ jetstreamDurable: 'soc-team', jetstreamDurableDefault: first.jetstreamDurableDefault });
    expect((await ok('settings', 'unset', 'jetstreamDurable')).trim()).toBe(`jetstreamDurable = ${own} (default)`);
    expect((await current()).jetstreamDurable).toBe('');
  });

  it('refuses bad values with exit 2, the reason, and no change', async () => {
    const before = await current();
    const cases: [string[], string][] = [
      [['set', 'natsUrl', 'http://127.0.0.1:4222'], 'ws:// or wss://'],
      [['set', 'natsUrl', ' , '], 'at least one bus URL'],
      [['set', 'allowedCidrs', '10.0.0.0/8,300.1.2.0/24'], 'allowedCidrs entry 2'],
      [['set', 'circuitThreshold', '0'], 'circuitThreshold must be between 1 and 1000'],
      [['set', 'concurrency', 'lots'], 'concurrency: "lots" is not an integer'],
      [['set', 'retrySchedule', '1,-2'], 'retrySchedule'],
      [['set', 'retentionMaxRows', '10'], 'retentionMaxRows'],
      [['set', 'heldMaxAgeHours', '0'], 'heldMaxAgeHours'],
      [['set', 'jetstreamStream', 'no spaces'], 'letters, digits, - and _ only'],
      [['set', 'jetstreamDurable', 'team.a'], 'jetstreamDurable letters, digits, - and _ only'],
      [['set', 'jetstreamDurable', 'x>'], 'letters, digits, - and _ only'],
      [['set', 'jetstreamDurable', 'a/b'], 'letters, digits, - and _ only'],
      [['set', 'jetstreamDurable', 'has space'], 'letters, digits, - and _ only'],
      [['set', 'jetstreamDurable', 'd'.repeat(33)], 'jetstreamDurable must be at most 32 characters'],
      [['set', 'allowPrivate', 'maybe'], 'not a boolean'],
      [['set', 'natsCaFile', '/nonexistent/bus-ca.pem'], 'CA file /nonexistent/bus-ca.pem does not exist'],
      [['set', 'natsCaFile', db], 'is not a PEM certificate file'],
      [['set', 'natsClientKeyFile', db], 'is not a PEM private key'],
      [['unset', 'colour'], 'unknown key "colour"'],
      [['unset'], 'missing KEY'],
      [['unset', 'natsToken', 'extra'], 'unexpected argument "extra"'],
    ];
    for (const [args, reason] of cases) {
      const r = await cli(['settings', ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toContain(reason);
    }
    expect(await current()).toEqual(before);
  });

  it('a running engine follows a bus URL change to a second server, without a restart', async () => {
    const first: NatsServer = await startNatsServer();
    const second: NatsServer = await startNatsServer();
    try {
      await ok('settings', 'set', 'natsUrl', first.wsUrl);
      const run = start(['run']);
      const records = jsonLines(run);
      await records.waitFor((r) => r['kind'] === 'bus' && r['state'] === 'connected' && r['server'] === first.wsUrl);

      await ok('settings', 'set', 'natsUrl', second.wsUrl);
      await records.waitFor((r) => r['kind'] === 'bus' && r['state'] === 'connected' && r['server'] === second.wsUrl);
      const exited = new Promise((resolve) => run.once('exit', resolve));
      run.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      await first.cleanup();
      await second.cleanup();
    }
  });

  it('a running engine reaches a wss:// bus of a private CA once natsCaFile names that CA', async () => {
    const pki = await makeTestPki();
    const tls: TlsNatsServer = await startTlsNatsServer(pki);
    try {
      await ok('settings', 'set', 'natsUrl', tls.wsUrl);
      const run = start(['run']);
      const records = jsonLines(run);
      const refused = await records.waitFor((r) => r['kind'] === 'bus' && String(r['lastError']).startsWith('TLS: '));
      expect(refused['lastError']).toContain('set natsCaFile');

      expect((await ok('settings', 'set', 'natsCaFile', pki.caFile)).trim()).toBe(`natsCaFile = ${pki.caFile}`);
      await records.waitFor((r) => r['kind'] === 'bus' && r['state'] === 'connected' && r['server'] === tls.wsUrl);
      const exited = new Promise((resolve) => run.once('exit', resolve));
      run.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      await tls.stop();
      await pki.cleanup();
    }
  });
});

/** The `run` command's JSON lines, awaitable. */
function jsonLines(child: ChildProcess): { waitFor(test: (r: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> } {
  const seen: Record<string, unknown>[] = [];
  const waiters = new Set<() => void>();
  let buffered = '';
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    for (const line of parts) if (line.trim()) seen.push(JSON.parse(line) as Record<string, unknown>);
    for (const wake of [...waiters]) wake();
  });
  return {
    waitFor(test) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const found = seen.find(test);
          if (!found) return;
          finish();
          resolve(found);
        };
        const finish = (): void => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        const timer = setTimeout(() => {
          finish();
          reject(new Error(`no matching line within ${LINE_TIMEOUT_MS} ms; stdout:\n${seen.map((r) => JSON.stringify(r)).join('\n')}\nstderr:\n${stderr}`));
        }, LINE_TIMEOUT_MS);
        waiters.add(check);
        check();
      });
    },
  };
}
