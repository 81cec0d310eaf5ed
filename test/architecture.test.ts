/**
 * Folder rules that keep the code runnable under plain Node: Electron cannot run on
 * these machines or in CI, so only the shell folder and the preload may import it, the
 * contract imports neither Node nor Electron, and the renderer has no Node access.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

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
const all = [...sourceFiles(join(root, 'src-main')), ...sourceFiles(join(root, 'src-preload')), ...sourceFiles(join(root, 'src-renderer/src')), ...sourceFiles(join(root, 'test'))];

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
      .filter((f) => rel(f).startsWith('src-main/contract/'))
      .flatMap((f) => importsOf(f).filter((i) => !i.startsWith('.')).map((i) => `${rel(f)} → ${i}`));
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
});
