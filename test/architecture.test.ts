/**
 * Folder rules that keep the code runnable under plain Node: Electron cannot run on
 * these machines or in CI, so only the shell folder and the preload may import it, the
 * contract imports neither Node nor Electron, and the renderer has no Node access.
 * And the repository stands alone: nothing tracked reads or links outside it, and every
 * citation of docs/design.md names a heading that exists.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SHARED_ALIASES } from '../build/aliases';

const root = join(__dirname, '..');

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (/\.(ts|mts|svelte)$/.test(entry)) out.push(path);
  }
  return out;
}

const importsOf = (file: string): string[] =>
  [...readFileSync(file, 'utf8').matchAll(/(?:^|\n)\s*(?:import|export)\s(?:[^'";]*?\sfrom\s)?['"]([^'"]+)['"]|require\(['"]([^'"]+)['"]\)|import\(['"]([^'"]+)['"]\)/g)].map(
    (m) => (m[1] ?? m[2] ?? m[3]) as string,
  );

const rel = (file: string): string => relative(root, file);
/** What a main-process module over 500 lines says in its opening comment, before why it stays whole. */
const OVER_500 = 'Over 500 lines:';
const all = [...sourceFiles(join(root, 'src-main')), ...sourceFiles(join(root, 'src-preload')), ...sourceFiles(join(root, 'src-renderer/src')), ...sourceFiles(join(root, 'test'))];

/** Tracked files (git ls-files), or, without git, every file outside build output and dependencies. */
function trackedFiles(): string[] {
  const git = spawnSync('git', ['ls-files', '-z'], { cwd: root, encoding: 'utf8' });
  if (git.status === 0 && git.stdout.length > 0) return git.stdout.split('\0').filter(Boolean);
  const skip = new Set(['.git', 'node_modules', 'out', 'dist', '.bench']);
  const walk = (dir: string): string[] =>
    readdirSync(dir).flatMap((entry) => {
      if (skip.has(entry)) return [];
      const path = join(dir, entry);
      return statSync(path).isDirectory() ? walk(path) : [relative(root, path).split(sep).join('/')];
    });
  return walk(root);
}

/** The text of a tracked file, or null for a binary one (an image) or one not on disk. */
function textOf(file: string): string | null {
  let bytes: Buffer;
  try {
    bytes = readFileSync(join(root, file));
  } catch {
    return null;
  }
  return bytes.includes(0) ? null : bytes.toString('utf8');
}

/**
 * What points outside the repository: the folder beside the clone that the project grew
 * up next to (its spec, vectors, notes), this machine's absolute paths, and citations of
 * that spec. Built from parts so that this file does not match itself.
 */
const SHARED = ['sha', 'red'].join('');
const OUTSIDE: readonly { what: string; pattern: RegExp }[] = [
  { what: `../${SHARED}`, pattern: new RegExp(`(?:\\.\\./)+${SHARED}\\b`) },
  { what: `${SHARED}/<spec, vectors, notes>`, pattern: new RegExp(`\\b${SHARED}/(?:SPEC|STYLE|TOOLCHAIN)\\.md|\\b${SHARED}/(?:vectors|hooks)\\b`) },
  { what: 'an absolute path of the build machine', pattern: new RegExp(`(?<![\\w.-])/${'wo'}rk/`) },
  { what: 'a citation of the outside spec', pattern: new RegExp(`${'SP'}EC §`) },
];

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The anchors of a Markdown file's headings, with GitHub's -1, -2… for repeats. */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*```/.test(line)) fenced = !fenced;
    const heading = fenced ? null : /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!heading) continue;
    const base = slug(heading[1] as string);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

const DESIGN = 'docs/design.md';

describe('the repository stands alone', () => {
  const files = trackedFiles().filter((f) => f !== 'package-lock.json');

  it('lists the tracked files', () => expect(files.length).toBeGreaterThan(50));

  it('has no tracked file that refers to a path outside the repository', () => {
    const offenders: string[] = [];
    for (const file of files) {
      const text = textOf(file);
      if (text === null) continue;
      text.split('\n').forEach((line, i) => {
        for (const { what, pattern } of OUTSIDE) if (pattern.test(line)) offenders.push(`${file}:${i + 1} refers to ${what}`);
      });
    }
    expect(offenders).toEqual([]);
  });

  it(`cites only headings that exist in ${DESIGN}`, () => {
    const design = textOf(DESIGN);
    expect(design, `${DESIGN} is missing`).not.toBeNull();
    const anchors = anchorsOf(design as string);
    const dead: string[] = [];
    for (const file of files) {
      const text = textOf(file);
      if (text === null) continue;
      // Links and citations of the design document from anywhere, and `](#x)` inside it.
      const cited = [...text.matchAll(/\bdesign\.md#([\w-]+)/g)].map((m) => m[1] as string);
      if (file === DESIGN) cited.push(...[...text.matchAll(/\]\(#([\w-]+)\)/g)].map((m) => m[1] as string));
      for (const anchor of cited) if (!anchors.has(anchor)) dead.push(`${file} cites ${DESIGN}#${anchor}`);
    }
    expect(dead).toEqual([]);
  });
});

describe('architecture', () => {
  it('finds the source tree', () => expect(all.length).toBeGreaterThan(20));

  it("imports 'electron' (at run time) only in src-main/app/ and src-preload/", () => {
    const offenders = all.filter((file) => {
      const runtimeElectron = /(?:^|\n)\s*import\s(?!type\s)[^;]*?from\s+['"]electron['"]|require\(['"]electron['"]\)/.test(readFileSync(file, 'utf8'));
      const allowed = rel(file).startsWith('src-main/app/') || rel(file).startsWith('src-preload/');
      return runtimeElectron && !allowed;
    });
    expect(offenders.map(rel)).toEqual([]);
  });

  it('keeps the contract free of Node and Electron imports', () => {
    const offenders = all
      // Its tests are not bundled: they may use vitest.
      .filter((f) => rel(f).startsWith('src-main/contract/') && !f.endsWith('.test.ts'))
      .flatMap((f) => importsOf(f).filter((i) => !i.startsWith('.')).map((i) => `${rel(f)} → ${i}`));
    expect(offenders).toEqual([]);
  });

  /**
   * The main process in layers: the lower folders are building blocks that know nothing
   * of what assembles them, so a store or a bus can be used (and tested) without an
   * engine, and an import cycle through the engine cannot form.
   */
  it('keeps contract, match, tls, delivery, bus, store and team below engine, cli, webhost, demo and app', () => {
    const lower = /^src-main\/(contract|match|tls|delivery|bus|store|team)\//;
    const upper = /^src-main\/(engine|cli|webhost|demo|app)(\/|$)/;
    const offenders = all
      .filter((f) => lower.test(rel(f).split(sep).join('/')))
      .flatMap((f) =>
        importsOf(f)
          .filter((i) => i.startsWith('.') && upper.test(relative(root, join(f, '..', i)).split(sep).join('/')))
          .map((i) => `${rel(f)} → ${i}`),
      );
    expect(offenders).toEqual([]);
  });

  it('gives the renderer no Node access', () => {
    const offenders = all
      .filter((f) => rel(f).startsWith('src-renderer/'))
      .flatMap((f) =>
        importsOf(f)
          .filter((i) => i.startsWith('node:') || i === 'electron' || /^(fs|path|child_process|os|net|http)$/.test(i) || (i.startsWith('../') && /src-main\/(?!contract\/|match\/pattern)/.test(join(rel(f), '..', i))))
          .map((i) => `${rel(f)} → ${i}`),
      );
    expect(offenders).toEqual([]);
  });

  it('has the renderer import shared main-process code by alias, never by climbing out of src-renderer', () => {
    const offenders = all
      .filter((f) => rel(f).startsWith('src-renderer/'))
      .flatMap((f) =>
        importsOf(f)
          .filter((i) => (i.startsWith('.') && !rel(join(f, '..', i)).startsWith('src-renderer/')) || (i.startsWith('@match/') && i !== '@match/pattern'))
          .map((i) => `${rel(f)} → ${i}`),
      );
    expect(offenders).toEqual([]);
  });

  /**
   * A main-process module grows past 500 lines only on purpose: split at a seam, or say in
   * its opening comment, after OVER_500, why it stays whole (and where it would split).
   */
  it('keeps main-process modules under 500 lines, or says in their opening comment why not', () => {
    const offenders = all
      .filter((f) => rel(f).startsWith('src-main/') && f.endsWith('.ts') && !f.endsWith('.test.ts'))
      .flatMap((f) => {
        const text = readFileSync(f, 'utf8');
        const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
        if (lines <= 500) return [];
        const opening = /^\s*\/\*\*?([\s\S]*?)\*\//.exec(text)?.[1] ?? '';
        return opening.includes(OVER_500) ? [] : [`${rel(f)}: ${lines} lines, and its opening comment does not say "${OVER_500}" why`];
      });
    expect(offenders).toEqual([]);
  });

  /** An error names its class (in logs and stacks), so `Error: …` never hides which one it was. */
  it('has every error class in src-main and the renderer set its name', () => {
    const offenders = all
      .filter((f) => /^src-(main|renderer)\//.test(rel(f)) && !/\.test\.ts$/.test(f))
      .flatMap((f) => {
        const text = readFileSync(f, 'utf8');
        return [...text.matchAll(/\bclass (\w+) extends (\w*Error|\w+Failure)\b/g)]
          .map((m) => m[1] as string)
          .filter((name) => !new RegExp(`name = '${name}'`).test(text))
          .map((name) => `${rel(f)}: ${name}`);
      });
    expect(offenders).toEqual([]);
  });

  it("declares the renderer's aliases alike to the type checker, the bundler and vitest", () => {
    const web = JSON.parse(readFileSync(join(root, 'tsconfig.web.json'), 'utf8')) as { compilerOptions: { paths: Record<string, string[]> } };
    const paths = Object.entries(web.compilerOptions.paths).map(([alias, [target]]) => [alias.replace(/\/\*$/, ''), join(root, (target ?? '').replace(/\/\*$/, ''))]);
    expect(paths).toEqual(Object.entries(SHARED_ALIASES));
  });
});
