/**
 * The electron-builder configuration, linted without packaging (packaging downloads
 * Electron, which these machines cannot): loaded and validated by electron-builder's own
 * code (app-builder-lib's getConfig + validateConfiguration, i.e. its scheme.json through
 * its ajv set-up), validated again strictly (ajv without type coercion), and its security
 * settings asserted: the fuses, asar, no native rebuild, the targets and the icon.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(__dirname, '../..');
const CONFIG = 'build/electron-builder.yml';
const requireFromRoot = createRequire(join(root, 'package.json'));

type Config = Record<string, unknown> & {
  electronFuses?: Record<string, unknown> | null;
  linux?: { target?: unknown; icon?: string } | null;
  mac?: { target?: unknown; icon?: string } | null;
  win?: { target?: unknown; icon?: string } | null;
};

// electron-builder's own loader and validator (CommonJS, not typed for deep imports).
const builderConfig = requireFromRoot('app-builder-lib/out/util/config/config.js') as {
  getConfig(projectDir: string, configPath: string): Promise<Config>;
  validateConfiguration(config: Config, debugLogger: { isEnabled: boolean; add(key: string, value: unknown): void }): Promise<void>;
};
const schema = requireFromRoot('app-builder-lib/scheme.json') as object;
const Ajv = requireFromRoot('ajv').default as new (options: object) => {
  compile(schema: object): ((data: unknown) => boolean) & { errors?: Array<{ instancePath: string; message?: string }> | null };
};

const quietLogger = { isEnabled: false, add: () => undefined };

async function load(path: string): Promise<Config> {
  return builderConfig.getConfig(root, path);
}

/** What electron-builder itself says of a configuration: null when valid, else its message. */
async function builderVerdict(config: Config): Promise<string | null> {
  try {
    await builderConfig.validateConfiguration(structuredClone(config), quietLogger);
    return null;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

/** The same schema without ajv's type coercion ("false" is not false here). */
function strictErrors(config: Config): string[] {
  const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);
  return validate(config) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`);
}

const REQUIRED_FUSES: Record<string, boolean> = {
  runAsNode: false,
  enableNodeOptionsEnvironmentVariable: false,
  enableNodeCliInspectArguments: false,
  onlyLoadAppFromAsar: true,
  enableEmbeddedAsarIntegrityValidation: true,
  enableCookieEncryption: true,
};

/** The `files` patterns, as strings or as FileSets' filters (electron-builder's loader makes the latter). */
function filePatterns(config: Config): string[] {
  const files = Array.isArray(config.files) ? (config.files as unknown[]) : [config.files];
  return files.flatMap((f) => {
    if (typeof f === 'string') return [f];
    const filter = (f as { filter?: unknown } | null)?.filter;
    return Array.isArray(filter) ? filter.filter((x): x is string => typeof x === 'string') : typeof filter === 'string' ? [filter] : [];
  });
}

/** The security settings, beyond what the schema can say. */
function securityProblems(config: Config): string[] {
  const problems: string[] = [];
  const fuses = config.electronFuses ?? {};
  for (const [fuse, value] of Object.entries(REQUIRED_FUSES)) {
    if (fuses[fuse] !== value) problems.push(`electronFuses.${fuse} must be ${String(value)} (is ${JSON.stringify(fuses[fuse])})`);
  }
  if (config.asar !== true) problems.push('asar must be true (onlyLoadAppFromAsar and asar integrity need it)');
  const unpack = Array.isArray(config.asarUnpack) ? (config.asarUnpack as string[]) : [];
  if (!unpack.some((p) => p.includes('better-sqlite3') && p.endsWith('.node'))) problems.push("asarUnpack must keep better-sqlite3's .node addon out of the archive");
  if (config.npmRebuild !== false) problems.push('npmRebuild must be false (no native rebuild on these machines)');
  if (!filePatterns(config).includes('out/**')) problems.push('files must take the bundles from out/**');
  return problems;
}

const targetsOf = (platform: { target?: unknown } | null | undefined): string[] => {
  const t = platform?.target;
  return (Array.isArray(t) ? t : [t]).map((x) => (typeof x === 'string' ? x : (x as { target?: string } | undefined)?.target ?? '')).filter(Boolean);
};

const temp = mkdtempSync(join(tmpdir(), 'sluice-packaging-'));
afterAll(() => rmSync(temp, { recursive: true, force: true }));

/** The config text with one change, written next to nothing else, then loaded by electron-builder. */
async function loadDoctored(from: string | RegExp, to: string): Promise<Config> {
  const original = readFileSync(join(root, CONFIG), 'utf8');
  const changed = original.replace(from, to);
  expect(changed, `doctoring ${CONFIG}: ${String(from)} not found`).not.toBe(original);
  const path = join(mkdtempSync(join(temp, 'cfg-')), 'electron-builder.yml');
  writeFileSync(path, changed);
  return load(path);
}

describe(`${CONFIG}`, () => {
  it('is valid for electron-builder itself', async () => {
    const config = await load(CONFIG);
    expect(await builderVerdict(config)).toBeNull();
  });

  it('is valid against scheme.json without type coercion', async () => {
    expect(strictErrors(await load(CONFIG))).toEqual([]);
  });

  it('names the app and takes the bundles from out/', async () => {
    const config = await load(CONFIG);
    expect(config).toMatchObject({ appId: 'org.decnet.sluice', productName: 'Sluice', asar: true, npmRebuild: false });
    expect(filePatterns(config)).toEqual(['out/**', 'package.json']);
  });

  it('sets the fuses and the asar / native-addon settings', async () => {
    const config = await load(CONFIG);
    expect(config.electronFuses).toEqual(REQUIRED_FUSES);
    expect(securityProblems(config)).toEqual([]);
  });

  it('builds AppImage + deb, dmg and NSIS, with an icon that exists', async () => {
    const config = await load(CONFIG);
    expect(targetsOf(config.linux)).toEqual(['AppImage', 'deb']);
    expect(targetsOf(config.mac)).toEqual(['dmg']);
    expect(targetsOf(config.win)).toEqual(['nsis']);
    for (const platform of [config.linux, config.mac, config.win]) {
      expect(platform?.icon).toBe('build/icon.svg');
      expect(existsSync(join(root, platform?.icon ?? 'missing'))).toBe(true);
    }
  });

  it('has a dist script that builds then packages with this file, documented as needing the network', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts['dist']).toBe(`electron-vite build && electron-builder --config ${CONFIG}`);
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const section = readme.split(/\n(?=## )/).find((s) => /^## Packaging/.test(s)) ?? '';
    expect(section).toMatch(/npm run dist/);
    expect(section).toMatch(/network/i);
  });
});

describe('the lint can fail', () => {
  it.each([
    ['a misspelt fuse', 'runAsNode: false', 'runAsNodee: false', /electronFuses/],
    ['an unknown top-level option', 'npmRebuild: false', 'npmRebuild: false\nnodeIntegration: true', /nodeIntegration/],
    ['a wrong type', 'asar: true', 'asar: [1]', /asar/],
  ])('electron-builder refuses %s', async (_name, from, to, message) => {
    const verdict = await builderVerdict(await loadDoctored(from, to));
    expect(verdict).toMatch(message);
  });

  it('the strict pass refuses a string where a boolean belongs (electron-builder coerces it)', async () => {
    const config = await loadDoctored('runAsNode: false', 'runAsNode: "false"');
    expect(strictErrors(config).join('\n')).toMatch(/\/electronFuses/);
  });

  it.each([
    ['runAsNode on', 'runAsNode: false', 'runAsNode: true', /electronFuses.runAsNode must be false/],
    ['NODE_OPTIONS on', 'enableNodeOptionsEnvironmentVariable: false', 'enableNodeOptionsEnvironmentVariable: true', /enableNodeOptionsEnvironmentVariable/],
    ['inspect on', 'enableNodeCliInspectArguments: false', 'enableNodeCliInspectArguments: true', /enableNodeCliInspectArguments/],
    ['asar-only off', 'onlyLoadAppFromAsar: true', 'onlyLoadAppFromAsar: false', /onlyLoadAppFromAsar/],
    ['asar integrity off', 'enableEmbeddedAsarIntegrityValidation: true', 'enableEmbeddedAsarIntegrityValidation: false', /enableEmbeddedAsarIntegrityValidation/],
    ['cookie encryption missing', /\n\s*enableCookieEncryption: true/, '', /enableCookieEncryption must be true \(is undefined\)/],
    ['asar off', 'asar: true', 'asar: false', /asar must be true/],
    ['no unpacked addon', 'node_modules/better-sqlite3/build/Release/*.node', 'node_modules/other/*.js', /asarUnpack/],
    ['native rebuild on', 'npmRebuild: false', 'npmRebuild: true', /npmRebuild must be false/],
    ['bundles from elsewhere', '  - out/**', '  - src-main/**', /files must take the bundles from out/],
  ])('the security assertions catch %s', async (_name, from, to, problem) => {
    const config = await loadDoctored(from, to);
    expect(securityProblems(config).join('\n')).toMatch(problem);
  });
});
