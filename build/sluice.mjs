#!/usr/bin/env node
// `sluice`, the package's command (package.json "bin": `npx sluice …`, `npm link`; and
// `npm run -s sluice -- …`). It runs the built CLI, out/main/cli.js, in this process. The
// build is made once, on first use, and again only when the sources are newer than it
// (a git pull, an edit): a one-shot command costs what its work costs, not a build.
//
// "Newer" is judged by modification times, which costs a few milliseconds: the newest
// file under src-main/ and src-preload/ (tests excluded: they are not in the bundle),
// package.json (its version is built in) and electron.vite.config.ts, against
// out/main/cli.js. Without the sources (an installed copy of out/ only) it just runs.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, realpathSync, rmSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const SOURCE_DIRS = ['src-main', 'src-preload'];
const SOURCE_FILES = ['package.json', 'electron.vite.config.ts'];
const BUILT = join('out', 'main', 'cli.js');
/** Another launcher's build is waited for this long before its lock counts as abandoned. */
const LOCK_STALE_MS = 5 * 60_000;

/**
 * Whether the build at `root` can run as it is: `current`, `missing`, or `stale` (with
 * the newest source that is newer than it).
 * @param {string} root
 * @returns {{ state: 'current' | 'missing' } | { state: 'stale', newest: string, mtimeMs: number }}
 */
export function buildState(root) {
  let built;
  try {
    built = statSync(join(root, BUILT)).mtimeMs;
  } catch {
    return { state: 'missing' };
  }
  const newest = { path: '', mtimeMs: -Infinity };
  const consider = (path) => {
    let stat;
    try {
      stat = statSync(path);
    } catch {
      return;
    }
    if (stat.isDirectory()) {
      for (const entry of readdirSync(path)) if (!/\.test\.ts$/.test(entry)) consider(join(path, entry));
    } else if (stat.mtimeMs > newest.mtimeMs) {
      newest.path = path;
      newest.mtimeMs = stat.mtimeMs;
    }
  };
  for (const name of [...SOURCE_DIRS, ...SOURCE_FILES]) consider(join(root, name));
  return newest.mtimeMs > built ? { state: 'stale', newest: newest.path.slice(root.length + 1), mtimeMs: newest.mtimeMs } : { state: 'current' };
}

/** Build with the project's own `npm run build`, its output shown only when it fails; false when it failed. */
function build(root, why) {
  process.stderr.write(`sluice: building first, once (${why})…\n`);
  const npmCli = process.env.npm_execpath;
  const [command, args] =
    npmCli && /\.[cm]?js$/.test(npmCli)
      ? [process.execPath, [npmCli, 'run', '-s', 'build']]
      : [process.platform === 'win32' ? 'npm.cmd' : 'npm', ['run', '-s', 'build']];
  const result = spawnSync(command, args, { cwd: root, encoding: 'utf8', shell: process.platform === 'win32' && command === 'npm.cmd' });
  if (result.status !== 0) {
    process.stderr.write(`${result.stdout ?? ''}${result.stderr ?? ''}`);
    process.stderr.write(`sluice: the build failed${result.error ? ` (${result.error.message})` : ''}; fix it, or run \`npm run build\` to see why\n`);
    return false;
  }
  return true;
}

/**
 * Two launchers started together on a missing or stale build must not build at once
 * (they would write the same files): the first takes a lock, the others wait for it
 * and then find the build current.
 */
function withBuildLock(root, fn) {
  const lock = join(root, 'out', '.build-lock');
  mkdirSync(join(root, 'out'), { recursive: true });
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (error) {
      if (error.code !== 'EEXIST') throw error;
      let age = 0;
      try {
        age = Date.now() - statSync(lock).mtimeMs;
      } catch {
        continue;
      }
      if (age > LOCK_STALE_MS) rmSync(lock, { recursive: true, force: true });
      else Atomics.wait(sleeper, 0, 0, 100);
    }
  }
  try {
    fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

function main() {
  const root = fileURLToPath(new URL('..', import.meta.url)).replace(/[\\/]$/, '');
  const ready = () => {
    const state = buildState(root);
    if (state.state === 'current') return null;
    return state.state === 'missing' ? `${BUILT} is missing` : `${state.newest} is newer than ${BUILT}`;
  };
  let built = true;
  if (ready() !== null) {
    withBuildLock(root, () => {
      const why = ready();
      if (why !== null) built = build(root, why);
      // A source dated in the future (clock skew, an unpacked archive) would make every
      // call build again: the build counts as made after it.
      const after = buildState(root);
      if (built && after.state === 'stale') utimesSync(join(root, BUILT), new Date(), new Date(Math.ceil(after.mtimeMs) + 1));
    });
  }
  if (!built) {
    process.exitCode = 1;
    return;
  }
  // process.argv is [node, this file, …args]: the CLI reads it as it would its own.
  return import(pathToFileURL(join(root, BUILT)).href);
}

/** Run as the command (directly, or through npm's link to it), not imported by a test. */
function isEntry() {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (isEntry()) await main();
