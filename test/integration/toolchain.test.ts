/**
 * The Node lines Sluice supports, checked against what `npm ci` installs: every locked
 * package accepts the Node 24 that CI runs (so `npm ci` prints no engine warning there),
 * and the packages that warn on Node 20 are exactly the ones the README names.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(__dirname, '../..');
const read = (path: string): string => readFileSync(join(root, path), 'utf8');
// semver is what npm itself judges `engines` with.
const semver = createRequire(join(root, 'package.json'))('semver') as {
  satisfies(version: string, range: string, options?: { includePrerelease?: boolean }): boolean;
};

interface LockedPackage {
  engines?: Record<string, string> | string[];
  optional?: boolean;
  os?: string[];
  cpu?: string[];
}

const lock = JSON.parse(read('package-lock.json')) as { packages: Record<string, LockedPackage> };
const pkg = JSON.parse(read('package.json')) as { engines: { node: string }; devDependencies: Record<string, string> };

/** The Node 24 CI runs, pinned in .ci/node24. */
const NODE24 = /^NODE24_VERSION=(\d+\.\d+\.\d+)$/m.exec(read('.ci/node24'))?.[1] ?? '';
/** The oldest Node 20 the project supports: the lower bound of package.json's engines. */
const NODE20 = /\^?(20\.\d+(?:\.\d+)?)/.exec(pkg.engines.node)?.[1] ?? '';

/** Packages npm installs on linux-x64 (platform-specific optional ones elsewhere are skipped as npm skips them). */
function installed(): [string, LockedPackage][] {
  return Object.entries(lock.packages).filter(([path, p]) => {
    if (path === '') return false;
    if (p.optional && ((p.os && !p.os.includes('linux')) || (p.cpu && !p.cpu.includes('x64')))) return false;
    return true;
  });
}

function nodeRange(p: LockedPackage): string | undefined {
  return p.engines && !Array.isArray(p.engines) ? p.engines['node'] : undefined;
}

const refusing = (version: string): string[] =>
  installed()
    .filter(([, p]) => {
      const range = nodeRange(p);
      return range !== undefined && !semver.satisfies(version, range);
    })
    .map(([path]) => path.replace(/^.*node_modules\//, ''));

describe('supported Node versions', () => {
  it('pins a Node 24 for CI and supports it and Node 20 in package.json engines', () => {
    expect(NODE24).toMatch(/^24\./);
    expect(NODE20).toMatch(/^20\./);
    expect(semver.satisfies(NODE24, pkg.engines.node)).toBe(true);
    expect(semver.satisfies(`${NODE20}${NODE20.split('.').length === 2 ? '.0' : ''}`, pkg.engines.node)).toBe(true);
  });

  it('every installed package accepts Node 24, so npm ci gives no engine warning there', () => {
    expect(refusing(NODE24)).toEqual([]);
  });

  it('the README names every package whose engines field warns on Node 20', () => {
    const readme = read('README.md');
    const section = /## Supported Node versions\n([\s\S]*?)\n## /.exec(readme)?.[1] ?? '';
    expect(section, 'README.md has a "Supported Node versions" section').not.toBe('');
    const unnamed = [...new Set(refusing(`${NODE20}.0`.split('.').slice(0, 3).join('.')))].filter(
      (name) => !section.includes(`\`${name}\``),
    );
    expect(unnamed, 'packages that warn on Node 20 but are not named in the README').toEqual([]);
  });

  it('uses an Electron major whose Node is the 24 line CI runs', () => {
    // Electron 40 and later embed Node 24; the README's supported-versions section says which.
    const major = Number(/^(\d+)\./.exec(pkg.devDependencies['electron'] ?? '')?.[1]);
    expect(major).toBeGreaterThanOrEqual(45);
    expect(read('README.md')).toContain(`Electron ${major}`);
  });
});
