/**
 * `sluice`, the package's command (build/sluice.mjs, package.json "bin", and what
 * `npm run -s sluice -- …` runs): it runs the built CLI without building it again, and
 * builds once when the build is missing or older than the sources.
 * - On this project: after a build, a command answers and out/main/cli.js is untouched.
 * - On a copy of the launcher in a temp project whose `npm run build` is a stand-in
 *   that counts its runs (this project's shared out/ is never removed or rebuilt here).
 */
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Store } from '../../src-main/store/database';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const LAUNCHER = join(ROOT, 'build', 'sluice.mjs');
const BUILT = join(ROOT, 'out', 'main', 'cli.js');

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], cwd: string): Promise<Result> {
  const child = spawn(command, args, { cwd, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-launcher-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('sluice on this project', { timeout: 60_000 }, () => {
  beforeAll(async () => {
    // This test must not rebuild the out/ that other test files use at the same time.
    const { buildState } = (await import(pathToFileURL(LAUNCHER).href)) as { buildState(root: string): { state: string } };
    if (buildState(ROOT.replace(/[\\/]$/, '')).state !== 'current')
      throw new Error(`${BUILT} is missing or older than the sources: run npm run build first`);
  });

  it('npm run -s sluice answers from the build, without building again', async () => {
    const db = join(dir, 'sluice.db');
    (await Store.open(db)).close();
    const before = statSync(BUILT).mtimeMs;
    const result = await run(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['run', '-s', 'sluice', '--', 'subs', 'list', '--db', db], ROOT);
    expect(result).toEqual({ code: 0, stdout: '(no subscriptions)\n', stderr: '' });
    expect(statSync(BUILT).mtimeMs).toBe(before);
  });

  it('runs as the bin npm links to it (through a symbolic link)', async () => {
    const link = join(dir, 'sluice');
    symlinkSync(LAUNCHER, link);
    const before = statSync(BUILT).mtimeMs;
    const result = await run(process.execPath, [link, '--help'], dir);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: sluice <command>/);
    expect(result.stderr).toBe('');
    expect(statSync(BUILT).mtimeMs).toBe(before);
  });
});

describe('sluice on a temp project', { timeout: 60_000 }, () => {
  let project: string;
  let launcher: string;
  const builds = (): number => (existsSync(join(project, 'builds.log')) ? readFileSync(join(project, 'builds.log'), 'utf8').split('\n').length - 1 : 0);
  const sluice = (...args: string[]): Promise<Result> => run(process.execPath, [launcher, ...args], project);
  /** Modification time `seconds` from now (ahead of the build, or behind it). */
  const touch = (path: string, seconds: number): void => {
    const time = new Date(Date.now() + seconds * 1000);
    utimesSync(path, time, time);
  };

  beforeEach(() => {
    project = join(dir, 'project');
    for (const folder of ['build', 'src-main', 'src-preload']) mkdirSync(join(project, folder), { recursive: true });
    launcher = join(project, 'build', 'sluice.mjs');
    copyFileSync(LAUNCHER, launcher);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'launcher-fixture', version: '0.0.0', private: true, scripts: { build: 'node build.mjs' } }));
    // The stand-in build: counts itself, takes a moment (as a build does), writes a CLI
    // that prints its arguments; BUILD_FAILS makes it fail.
    writeFileSync(
      join(project, 'build.mjs'),
      [
        "import { appendFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';",
        "appendFileSync('builds.log', 'built\\n');",
        "if (existsSync('BUILD_FAILS')) { console.log('error TS2322: this does not compile'); process.exit(1); }",
        'Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);',
        "mkdirSync('out/main', { recursive: true });",
        "writeFileSync('out/main/cli.js', 'process.stdout.write(JSON.stringify(process.argv.slice(2)) + \"\\\\n\");\\n');",
      ].join('\n'),
    );
    writeFileSync(join(project, 'src-main', 'main.ts'), 'export {};\n');
    writeFileSync(join(project, 'src-preload', 'index.ts'), 'export {};\n');
    // Sources written before the build (file times can be coarse).
    for (const path of ['package.json', 'src-main/main.ts', 'src-preload/index.ts']) touch(join(project, path), -60);
  });

  it('builds once when the build is missing, then runs it as it is', async () => {
    const first = await sluice('subs', 'list', '--json');
    expect(first).toEqual({ code: 0, stdout: '["subs","list","--json"]\n', stderr: 'sluice: building first, once (out/main/cli.js is missing)…\n' });
    expect(builds()).toBe(1);
    for (let i = 0; i < 3; i++) expect(await sluice('settings', 'get')).toEqual({ code: 0, stdout: '["settings","get"]\n', stderr: '' });
    expect(builds()).toBe(1);
    expect(existsSync(join(project, 'out', '.build-lock'))).toBe(false);
  });

  it('builds again when a source is newer than the build, not for a test file', async () => {
    await sluice('run');
    expect(builds()).toBe(1);
    writeFileSync(join(project, 'src-main', 'main.test.ts'), 'export {};\n');
    touch(join(project, 'src-main', 'main.test.ts'), 60);
    expect((await sluice('run')).stderr).toBe('');
    expect(builds()).toBe(1);

    mkdirSync(join(project, 'src-main', 'engine'));
    writeFileSync(join(project, 'src-main', 'engine', 'engine.ts'), 'export {};\n');
    touch(join(project, 'src-main', 'engine', 'engine.ts'), 60);
    const stale = await sluice('run');
    expect(stale.stderr).toBe(`sluice: building first, once (${join('src-main', 'engine', 'engine.ts')} is newer than ${join('out', 'main', 'cli.js')})…\n`);
    expect(stale.stdout).toBe('["run"]\n');
    expect(builds()).toBe(2);
    // A source dated ahead of the clock is built once, not at every call.
    expect(await sluice('run')).toEqual({ code: 0, stdout: '["run"]\n', stderr: '' });
    expect(builds()).toBe(2);
    touch(join(project, 'package.json'), 120);
    expect((await sluice('run')).stderr).toContain('(package.json is newer than');
    expect(builds()).toBe(3);
  });

  it('launchers started together on a missing build build it once', async () => {
    const results = await Promise.all([1, 2, 3].map((n) => sluice('deliveries', String(n))));
    expect(results.map((r) => [r.code, r.stdout])).toEqual([1, 2, 3].map((n) => [0, `["deliveries","${n}"]\n`]));
    expect(results.filter((r) => r.stderr.includes('building first')).length).toBe(1);
    expect(builds()).toBe(1);
  });

  it('a build that fails shows its output and exits 1', async () => {
    writeFileSync(join(project, 'BUILD_FAILS'), '');
    const failed = await sluice('subs', 'list');
    expect(failed.code).toBe(1);
    expect(failed.stdout).toBe('');
    expect(failed.stderr).toContain('error TS2322: this does not compile');
    expect(failed.stderr).toContain('sluice: the build failed; fix it, or run `npm run build` to see why');
    expect(existsSync(join(project, 'out', '.build-lock'))).toBe(false);
    rmSync(join(project, 'BUILD_FAILS'));
    expect((await sluice('subs', 'list')).code).toBe(0);
  });
});
