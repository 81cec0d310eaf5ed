/**
 * The built CLI (`out/main/cli.js`) and web host (`out/main/serve.js`) as child
 * processes, on bad input:
 * - `--db` mistakes are caught: a command that reads (or changes what is there) refuses
 *   a database that does not exist, naming its path; one that creates one says so; no
 *   command makes a missing folder.
 * - A command line's problems are reported all at once, one per line, exit 2, with the
 *   nearest option, command, subcommand, setting key or value for a typo.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Store } from '../../src-main/store/database';

const CLI = fileURLToPath(new URL('../../out/main/cli.js', import.meta.url));
const SERVE = fileURLToPath(new URL('../../out/main/serve.js', import.meta.url));
const CREATES = '`sluice run`, `sluice subs add` or `sluice settings set` creates one';

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

let dir: string;

/** Runs `script` to its end (or, with `until`, until stderr says it, then stops it). */
function node(script: string, args: string[], options: { env?: NodeJS.ProcessEnv; until?: string } = {}): Promise<Result> {
  const { SLUICE_DB: _default, ...env } = process.env;
  const child = spawn(process.execPath, [script, ...args], { cwd: dir, env: { ...env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  let stopping = false;
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
    if (options.until && !stopping && stderr.includes(options.until)) {
      stopping = true;
      child.kill('SIGTERM');
    }
  });
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

const cli = (...args: string[]): Promise<Result> => node(CLI, args);

/** A database the commands can open (made here, as `sluice subs add` would). */
async function makeDatabase(path: string): Promise<void> {
  (await Store.open(path)).close();
}

/** What is in the temp folder (a refused command leaves nothing behind). */
function files(): string[] {
  return readdirSync(dir).sort();
}

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);
});

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-cli-validation-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('--db mistakes', { timeout: 120_000 }, () => {
  it('a command that reads or changes what is there refuses a database that does not exist, naming it, creating nothing', async () => {
    const typo = join(dir, 'sluice2.db');
    const commands = [
      ['subs', 'list'],
      ['subs', 'update', 'siem', '--name', 'soc'],
      ['subs', 'enable', 'siem'],
      ['subs', 'disable', 'siem'],
      ['subs', 'rm', 'siem'],
      ['subs', 'test', 'siem'],
      ['deliveries'],
      ['deliveries', 'replay', '--id', '1', '--dry-run'],
      ['settings', 'get'],
      ['settings', 'unset', 'natsUrl'],
      ['publish', 'attacker.observed', '{}'],
    ];
    for (const args of commands) {
      const result = await cli(...args, '--db', 'sluice2.db');
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr, args.join(' ')).toBe(`sluice: ${args[0] === 'publish' || args[0] === 'deliveries' && args.length === 1 ? args[0] : args.slice(0, 2).join(' ')}: no database at ${typo} (check --db; ${CREATES})\n`);
      expect(result.stdout).toBe('');
    }
    expect(files()).toEqual([]);
  });

  it('names where the path came from: $SLUICE_DB, or the default ./sluice.db', async () => {
    const fromEnv = await node(CLI, ['subs', 'list'], { env: { SLUICE_DB: join(dir, 'typo.db') } });
    expect(fromEnv.code).toBe(2);
    expect(fromEnv.stderr).toContain(`no database at ${join(dir, 'typo.db')} (check $SLUICE_DB; ${CREATES})`);
    const byDefault = await cli('deliveries');
    expect(byDefault.code).toBe(2);
    expect(byDefault.stderr).toContain(`no database at ${join(dir, 'sluice.db')} (the default: give --db FILE or set $SLUICE_DB; ${CREATES})`);
    expect(files()).toEqual([]);
  });

  it('a command that creates a database says so, once', async () => {
    const created = await cli('settings', 'set', 'circuitThreshold', '3', '--nats', 'ws://127.0.0.1:1');
    expect(created.code, created.stderr).toBe(0);
    expect(created.stderr).toContain(`note: created a new database at ${join(dir, 'sluice.db')}\n`);
    const again = await cli('settings', 'set', 'circuitThreshold', '4', '--nats', 'ws://127.0.0.1:1');
    expect(again.code).toBe(0);
    expect(again.stderr).not.toContain('created');
    expect((await cli('settings', 'get', 'circuitThreshold')).stdout).toBe('circuitThreshold  4\n');

    const added = await cli('subs', 'add', '--name', 'siem', '--url', 'https://siem.example.com/hook', '--pattern', 'attacker.>', '--db', 'other.db', '--nats', 'ws://127.0.0.1:1');
    expect(added.code, added.stderr).toBe(0);
    expect(added.stderr).toContain(`note: created a new database at ${join(dir, 'other.db')}\n`);
    expect(JSON.parse((await cli('subs', 'list', '--db', 'other.db', '--json')).stdout)).toHaveLength(1);

    // `run` too: said on stderr, beside its JSON lines on stdout.
    const run = await node(CLI, ['run', '--db', 'run.db', '--nats', 'ws://127.0.0.1:1'], { until: 'Ctrl-C to stop' });
    expect(run.code).toBe(0);
    expect(run.stderr).toContain(`note: created a new database at ${join(dir, 'run.db')}\n`);
    expect(run.stdout.split('\n')[0]).toContain('"kind":"start"');

    const help = (await cli('--help')).stdout;
    expect(help).toContain('npx sluice');
    expect(help).toContain('the other commands refuse a database that does not exist (exit 2)');
  });

  it('no command makes a missing folder', async () => {
    const missing = join(dir, 'nonexistent', 'dir');
    for (const args of [
      ['subs', 'list'],
      ['subs', 'add', '--name', 'siem', '--url', 'https://siem.example.com/hook', '--pattern', 'attacker.>'],
      ['settings', 'set', 'allowPrivate', 'true'],
      ['run'],
    ]) {
      const result = await cli(...args, '--db', join(missing, 'x.db'));
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr, args.join(' ')).toContain(`the folder ${missing} does not exist; it is not created (check --db)`);
    }
    const serve = await node(SERVE, ['--db', join(missing, 'x.db'), '--port', '0']);
    expect(serve.code).toBe(2);
    expect(serve.stderr).toContain(`--db: the folder ${missing} does not exist; it is not created`);
    expect(files()).toEqual([]);

    // A folder where the file should be.
    mkdirSync(join(dir, 'folder.db'));
    const folder = await cli('subs', 'list', '--db', 'folder.db');
    expect(folder.code).toBe(2);
    expect(folder.stderr).toContain(`${join(dir, 'folder.db')} is a folder, not a database file`);
  });

  it('the web host creates its database and says so', async () => {
    const serve = await node(SERVE, ['--db', 'served.db', '--port', '0', '--nats', 'ws://127.0.0.1:1'], { until: 'Ctrl-C to stop' });
    expect(serve.code, serve.stderr).toBe(0);
    expect(serve.stderr).toContain(`sluice serve: created a new database at ${join(dir, 'served.db')}\n`);
    const again = await node(SERVE, ['--db', 'served.db', '--port', '0', '--nats', 'ws://127.0.0.1:1'], { until: 'Ctrl-C to stop' });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).not.toContain('created a new database');
  });
});

describe('every problem at once, with the nearest', { timeout: 120_000 }, () => {
  let db: string;
  beforeEach(async () => {
    db = join(dir, 'sluice.db');
    await makeDatabase(db);
  });

  /** Exit 2, exactly this on stderr, never a stack. */
  async function refused(args: string[], ...lines: string[]): Promise<void> {
    const result = await cli(...args);
    expect(result.code, args.join(' ')).toBe(2);
    expect(result.stderr, args.join(' ')).toBe(`${lines.join('\n')}\n`);
    expect(result.stdout).toBe('');
  }

  it('a misspelt option, a missing value and what is required, in one report', async () => {
    await refused(
      ['subs', 'add', '--nmae', 'siem', '--url'],
      'sluice: subs add: 2 problems (see sluice --help):',
      '  --nmae: unknown option; did you mean --name?',
      '  --url: missing value',
    );
    await refused(['subs', 'list', '--jsno'], 'sluice: subs list: --jsno: unknown option; did you mean --json? (see sluice --help)');
    await refused(
      ['subs', 'add', '--name', 'siem', '--preset', 'AttackerDetial', '--retry-schedule', 'soon', '--url', 'https://siem.example.com/hook'],
      'sluice: subs add: 2 problems:',
      '  --preset: "AttackerDetial" is not one of: AttackerDetail, DeckyStatus, SystemStatus; did you mean AttackerDetail?',
      '  --retry-schedule: "soon" is not a number of seconds',
    );
    await refused(
      ['subs', 'update', 'siem', '--secret', 's'.repeat(20), '--enabled', '--disabled', '--keep-previous', '9999', '--retry-schedule', '1,x'],
      'sluice: subs update: 3 problems:',
      '  --enabled and --disabled contradict each other',
      '  --keep-previous: "9999" is not a number of hours (0–720)',
      '  --retry-schedule: "x" is not a number of seconds',
    );
    await refused(['subs', 'enable', 'siem', '--held', 'discrad'], 'sluice: subs enable: --held: "discrad" is not one of: deliver, discard; did you mean discard?');
    expect(files()).toEqual(['sluice.db']);
  });

  it('bad values of every option of deliveries and replay, and the database, together', async () => {
    await refused(
      ['deliveries', '--limit', 'abc', '--outcome', 'delivred', '--sub', 'siem'],
      'sluice: deliveries: 3 problems (see sluice --help):',
      '  --sub: unknown option; did you mean --subscription?',
      '  --limit: "abc" is not an integer',
      '  --outcome: "delivred" is not one of: pending, retrying, delivered, failed, dead, blocked, held, discarded, replayed, rejected, test; did you mean delivered?',
    );
    await refused(
      ['deliveries', 'replay', '--subscription', 'siem', '--dead', '--since', 'yesterday', '--to', 'now', '--dry-rn', '--db', 'nope.db'],
      'sluice: deliveries replay: 5 problems (see sluice --help):',
      '  --dry-rn: unknown option; did you mean --dry-run?',
      '  --since: "yesterday" is not an ISO-8601 time (e.g. 2026-11-28T10:00:00Z or 2026-11-28T11:00:00+01:00)',
      '  --to: "now" is not an ISO-8601 time (e.g. 2026-11-28T10:00:00Z or 2026-11-28T11:00:00+01:00)',
      '  --dead and --pattern/--from/--to are different forms; give exactly one of: --id DELIVERY_ID | --subscription ID|NAME --dead [--since TIME] | --subscription ID|NAME --pattern P --from TIME --to TIME',
      `  no database at ${join(dir, 'nope.db')} (check --db; ${CREATES})`,
    );
  });

  it('a misspelt command, subcommand or setting key', async () => {
    await refused(['delivries'], 'sluice: unknown command "delivries"; did you mean deliveries? (see sluice --help)');
    await refused(['subs', 'lsit'], 'sluice: subs: unknown subcommand "lsit"; did you mean subs list?');
    await refused(['settings', 'gte'], 'sluice: settings: unknown subcommand "gte"; did you mean settings get?');
    await refused(['deliveries', 'replya', '--id', '1'], 'sluice: deliveries: unknown subcommand "replya"; did you mean deliveries replay?');
    await refused(['settings', 'set', 'circuitTreshold', '3'], 'sluice: settings set: unknown key "circuitTreshold"; did you mean circuitThreshold?');
    await refused(['settings', 'get', 'natsurl'], 'sluice: settings get: unknown key "natsurl"; did you mean natsUrl?');
    await refused(
      ['settings', 'unset', 'retrySchedul', '--jsn'],
      'sluice: settings unset: 2 problems (see sluice --help):',
      '  --jsn: unknown option; did you mean --json?',
      '  unknown key "retrySchedul"; did you mean retrySchedule?',
    );
    await refused(['subs', 'list', '--db'], 'sluice: subs list: --db: missing value (see sluice --help)');
    const far = await cli('settings', 'set', 'colour', 'blue');
    expect(far.code).toBe(2);
    expect(far.stderr).toMatch(/^sluice: settings set: unknown key "colour"; valid keys: natsUrl, .*, teamBucket\n$/);
    await refused(['settings', 'set', 'concurrency', 'lots', 'more'], 'sluice: settings set: 2 problems (see sluice --help):\n  unexpected argument "more"\n  concurrency: "lots" is not an integer');
  });

  it("names a delivery option's error by the flag that was typed", async () => {
    const base = ['subs', 'add', '--name', 'x', '--url', 'https://siem.example/hook', '--preset', 'AttackerDetail', '--db', 'opts.db'];
    const cases: [string[], string][] = [
      [['--rate', '0'], 'sluice: --rate: must be between 0.01 and 100000 (invalid_argument)'],
      [['--es-index', 'UPPER', '--format', 'elasticsearch'], 'sluice: --es-index: an index name is lowercase letters, digits and . _ + - (not first) (invalid_argument)'],
      [['--format', 'thehive', '--batch', '5'], 'sluice: --batch: batching is for the splunk-hec and elasticsearch formats, whose products take several events per request (invalid_argument)'],
      [['--filter', 'payload.score >'], 'sluice: --filter: invalid filter: Unexpected end of expression (at character 15) (invalid_argument)'],
    ];
    for (const [extra, line] of cases) {
      // The engine's own check (past the command line's): notes about a new database or key may come first.
      const result = await cli(...base, ...extra);
      expect(result.code, extra.join(' ')).toBe(2);
      expect(result.stderr.trimEnd().split('\n').at(-1), extra.join(' ')).toBe(line);
    }
  });
});
