/**
 * The Electron shell's hardening, checked without Electron (issue 5 item 4): the real
 * sources and the built page must pass every rule in harness/electron-rules.ts, and
 * every rule must be able to fail — on bad snippets and on doctored copies of the real
 * files written to a temp dir. The Electronegativity step (.ci/electronegativity-check.mjs)
 * is shown failing the same way.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  checkCsp,
  headerCspRule,
  htmlCspRule,
  lifecycleRule,
  metaCsps,
  openExternalRule,
  preloadRule,
  sourceCsps,
  switchesRule,
  webPreferencesRule,
  type Rule,
} from '../harness/electron-rules';

/** The module name, for preload snippets (this test never loads it). */
const ELECTRON_MODULE = 'electron';

const root = join(__dirname, '../..');
const read = (rel: string): string => readFileSync(join(root, rel), 'utf8');

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...tsFiles(path));
    else if (entry.endsWith('.ts')) out.push(path);
  }
  return out;
}

const shellSources = [...tsFiles(join(root, 'src-main')), ...tsFiles(join(root, 'src-preload'))];

/** Runs a rule over files; returns every problem, prefixed by the file. */
function checkFiles(rule: Rule, files: string[]): string[] {
  return files.flatMap((file) => rule.checkSource(readFileSync(file, 'utf8'), relative(root, file)));
}

const temp = mkdtempSync(join(tmpdir(), 'sluice-hardening-'));
afterAll(() => rmSync(temp, { recursive: true, force: true }));

/**
 * A copy of a real file with one change, written to a temp dir and read back: the rule
 * must catch it. The change must apply, so the doctoring keeps meaning as the file evolves.
 */
function doctored(rel: string, from: string | RegExp, to: string): { text: string; path: string } {
  const original = read(rel);
  const changed = original.replace(from, to);
  expect(changed, `doctoring ${rel}: ${String(from)} not found`).not.toBe(original);
  const dir = mkdtempSync(join(temp, 'copy-'));
  const path = join(dir, basename(rel));
  writeFileSync(path, changed);
  return { text: readFileSync(path, 'utf8'), path };
}

function problemsOfDoctored(rule: Rule, rel: string, from: string | RegExp, to: string): string[] {
  const { text, path } = doctored(rel, from, to);
  return rule.checkSource(text, path);
}

const MAIN = 'src-main/app/main.ts';
const PRELOAD = 'src-preload/index.ts';
const WEBHOST = 'src-main/webhost/server.ts';
const BUILT_PAGE = 'out/renderer/index.html';

// ---------------------------------------------------------------------------------------

describe('the shell as it is passes every rule', () => {
  it('finds the window it checks', () => {
    const windows = shellSources.filter((f) => /new BrowserWindow\(/.test(readFileSync(f, 'utf8')));
    expect(windows.map((f) => relative(root, f))).toContain(MAIN);
  });

  it('every BrowserWindow / webPreferences in src-main and src-preload is locked down', () => {
    expect(checkFiles(webPreferencesRule, shellSources)).toEqual([]);
  });

  it('no Chromium switch turns a protection off', () => {
    expect(checkFiles(switchesRule, shellSources)).toEqual([]);
  });

  it('the built renderer page has a strict CSP meta tag', () => {
    expect(existsSync(join(root, BUILT_PAGE)), `${BUILT_PAGE} is missing: run npm run build first`).toBe(true);
    expect(metaCsps(read(BUILT_PAGE))).toHaveLength(1);
    expect(htmlCspRule.checkSource(read(BUILT_PAGE), BUILT_PAGE)).toEqual([]);
  });

  it('the source page keeps the same CSP (what the build copies)', () => {
    expect(htmlCspRule.checkSource(read('src-renderer/index.html'), 'src-renderer/index.html')).toEqual([]);
    expect(metaCsps(read('src-renderer/index.html'))).toEqual(metaCsps(read(BUILT_PAGE)));
  });

  it("the app's header CSP and the web host's are strict", () => {
    expect(sourceCsps(read(MAIN))).toHaveLength(1);
    expect(headerCspRule.checkSource(read(MAIN), MAIN)).toEqual([]);
    expect(sourceCsps(read(WEBHOST))).toHaveLength(1);
    expect(headerCspRule.checkSource(read(WEBHOST), WEBHOST)).toEqual([]);
  });

  it('shell.openExternal is only called on URLs checked as https in the same function', () => {
    expect(checkFiles(openExternalRule, shellSources)).toEqual([]);
  });

  it('the preload exposes named calls only, never ipcRenderer or a generic invoke', () => {
    expect(checkFiles(preloadRule, tsFiles(join(root, 'src-preload')))).toEqual([]);
  });

  it('the main process blocks navigation, new windows, webviews and permissions', () => {
    expect(lifecycleRule.checkSource(read(MAIN), MAIN)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------

describe('webPreferences rule can fail', () => {
  const good = `new BrowserWindow({ webPreferences: { preload: p, contextIsolation: true, sandbox: true, nodeIntegration: false, webSecurity: true } });`;

  it('passes a locked-down window', () => expect(webPreferencesRule.checkSource(good)).toEqual([]));

  it.each([
    ['nodeIntegration: true', good.replace('nodeIntegration: false', 'nodeIntegration: true'), /nodeIntegration: true \(must be false\)/],
    ['contextIsolation: false', good.replace('contextIsolation: true', 'contextIsolation: false'), /contextIsolation: false \(must be true\)/],
    ['sandbox: false', good.replace('sandbox: true', 'sandbox: false'), /sandbox: false \(must be true\)/],
    ['webSecurity: false', good.replace('webSecurity: true', 'webSecurity: false'), /webSecurity: false/],
    ['allowRunningInsecureContent', good.replace('webSecurity: true', 'webSecurity: true, allowRunningInsecureContent: true'), /allowRunningInsecureContent/],
    ['experimentalFeatures', good.replace('webSecurity: true', "webSecurity: true, 'experimentalFeatures': true"), /experimentalFeatures/],
    ['enableBlinkFeatures', good.replace('webSecurity: true', "webSecurity: true, enableBlinkFeatures: 'X'"), /enableBlinkFeatures is not allowed/],
    ['nodeIntegrationInSubFrames', good.replace('webSecurity: true', 'webSecurity: true, nodeIntegrationInSubFrames: true'), /nodeIntegrationInSubFrames/],
    ['webviewTag', good.replace('webSecurity: true', 'webSecurity: true, webviewTag: true'), /webviewTag/],
    ['a setting from a variable', good.replace('sandbox: true', 'sandbox: isProd'), /sandbox: isProd/],
    ['a spread', good.replace('preload: p,', '...defaults, preload: p,'), /no spread/],
    ['a missing sandbox', good.replace('sandbox: true, ', ''), /must set sandbox: true explicitly/],
    ['no webPreferences', 'new BrowserWindow({ width: 800 });', /without webPreferences/],
    ['options from a variable', 'new BrowserWindow(options);', /options object literal/],
    ['webPreferences from a variable', 'new BrowserWindow({ webPreferences: prefs });', /must be an object literal/],
    ['a BrowserView', 'new BrowserView({ webPreferences: { nodeIntegration: true } });', /nodeIntegration: true/],
    ['a window-open override', "win.webContents.setWindowOpenHandler(() => ({ action: 'allow', overrideBrowserWindowOptions: { webPreferences: { sandbox: false } } }));", /sandbox: false/],
  ])('catches %s', (_name, source, problem) => {
    const problems = webPreferencesRule.checkSource(source);
    expect(problems.join('\n')).toMatch(problem);
  });

  it('is not fooled by a comment', () => {
    expect(webPreferencesRule.checkSource(`${good} // nodeIntegration: true would be bad`)).toEqual([]);
  });

  it.each([
    ['nodeIntegration: false', 'nodeIntegration: true', /nodeIntegration: true/],
    ['contextIsolation: true', 'contextIsolation: false', /contextIsolation: false/],
    ['sandbox: true', 'sandbox: false', /sandbox: false/],
    ['webSecurity: true', 'webSecurity: false', /webSecurity: false/],
    ['webSecurity: true,', 'webSecurity: true, allowRunningInsecureContent: true,', /allowRunningInsecureContent/],
    ['webSecurity: true,', 'webSecurity: true, experimentalFeatures: true,', /experimentalFeatures/],
    [/\n\s*sandbox: true,/, '', /must set sandbox: true explicitly/],
  ])(`catches ${MAIN} doctored from %s to %s`, (from, to, problem) => {
    expect(problemsOfDoctored(webPreferencesRule, MAIN, from, to).join('\n')).toMatch(problem);
  });
});

describe('switches rule can fail', () => {
  it.each([
    ["app.commandLine.appendSwitch('no-sandbox');", /no-sandbox/],
    ["app.commandLine.appendSwitch('remote-debugging-port', '9222');", /remote-debugging-port/],
    ["app.commandLine.appendSwitch('--disable-web-security');", /disable-web-security/],
    ['app.commandLine.appendSwitch(flag);', /non-literal switch/],
    ['app.disableSandbox();', /disableSandbox/],
  ])('catches %s', (source, problem) => {
    expect(switchesRule.checkSource(source).join('\n')).toMatch(problem);
  });

  it('passes a harmless switch', () => {
    expect(switchesRule.checkSource("app.commandLine.appendSwitch('lang', 'en-US');")).toEqual([]);
  });
});

describe('CSP rules can fail', () => {
  const strict = "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'";

  it('passes a strict policy', () => expect(checkCsp(strict)).toEqual([]));

  it.each([
    ["script-src 'self' 'unsafe-eval'", /script-src allows 'unsafe-eval'/],
    ["script-src 'self' 'unsafe-inline'", /script-src allows 'unsafe-inline'/],
    ["style-src 'self' 'unsafe-inline'", /style-src allows 'unsafe-inline'/],
    ["script-src 'self' 'wasm-unsafe-eval'", /wasm-unsafe-eval/],
    ["script-src 'self' https:", /script-src must be exactly 'self'/],
    ["script-src *", /script-src must be exactly 'self'/],
  ])('catches %s', (directive, problem) => {
    const name = directive.split(' ')[0] as string;
    const policy = strict.includes(`${name} `) ? strict.replace(new RegExp(`${name} [^;]*`), directive) : `${strict}; ${directive}`;
    expect(checkCsp(policy).join('\n')).toMatch(problem);
  });

  it('catches a missing script-src or object-src', () => {
    expect(checkCsp("default-src 'self'; object-src 'none'")).toEqual(["CSP: no script-src 'self'"]);
    expect(checkCsp("default-src 'self'; script-src 'self'")).toEqual(["CSP: no object-src 'none'"]);
    expect(checkCsp("default-src 'self'; script-src 'self'; object-src 'self'").join()).toMatch(/object-src must be 'none'/);
  });

  it('reads meta tags in any attribute order and quoting, and finds none when absent', () => {
    expect(metaCsps(`<meta content="script-src 'self'" http-equiv="content-security-policy">`)).toEqual(["script-src 'self'"]);
    expect(metaCsps(`<META HTTP-EQUIV='Content-Security-Policy' CONTENT="object-src &#39;none&#39;">`)).toEqual(["object-src 'none'"]);
    expect(htmlCspRule.checkSource('<html><head></head></html>', 'page.html')).toEqual(['page.html: no <meta http-equiv="Content-Security-Policy">']);
  });

  it('reads a policy built by concatenation or a template in TypeScript', () => {
    const source = "const p = 9; const h = { 'Content-Security-Policy': \"default-src 'self'; script-src 'self'; \" + `connect-src ws://127.0.0.1:${p}; object-src 'none'` };";
    expect(sourceCsps(source)).toEqual(["default-src 'self'; script-src 'self'; connect-src ws://127.0.0.1:X; object-src 'none'"]);
    expect(headerCspRule.checkSource(source)).toEqual([]);
    expect(headerCspRule.checkSource("const CSP = \"default-src 'self'; script-src 'self'; object-src 'none'\";", 'x.ts')).toEqual([
      'x.ts: never sets a Content-Security-Policy header',
    ]);
  });

  it.each([
    [BUILT_PAGE, "script-src 'self'", "script-src 'self' 'unsafe-eval'", /unsafe-eval/],
    [BUILT_PAGE, "style-src 'self'", "style-src 'self' 'unsafe-inline'", /unsafe-inline/],
    [BUILT_PAGE, " object-src 'none';", '', /no object-src 'none'/],
    [BUILT_PAGE, /<meta http-equiv="Content-Security-Policy"[^>]*>/, '', /no <meta http-equiv/],
  ])('catches %s doctored from %s', (rel, from, to, problem) => {
    expect(problemsOfDoctored(htmlCspRule, rel, from, to).join('\n')).toMatch(problem);
  });

  it.each([
    [MAIN, "script-src 'self'", "script-src 'self' 'unsafe-eval'", /unsafe-eval/],
    [MAIN, "object-src 'none'; ", '', /no object-src 'none'/],
    [MAIN, "style-src 'self'", "style-src 'self' 'unsafe-inline'", /unsafe-inline/],
    [WEBHOST, "script-src 'self'; ", '', /no script-src 'self'/],
    [WEBHOST, "script-src 'self'", "script-src 'self' 'unsafe-inline'", /unsafe-inline/],
  ])('catches %s doctored from %s', (rel, from, to, problem) => {
    expect(problemsOfDoctored(headerCspRule, rel, from, to).join('\n')).toMatch(problem);
  });
});

describe('openExternal rule can fail', () => {
  const wrap = (body: string): string => `function open(url: string) { ${body} }`;

  it.each([
    ['an https regex guard', wrap('if (/^https:\\/\\/[^\\s]+$/.test(url)) void shell.openExternal(url);')],
    ['an early return', wrap('if (!/^https:\\/\\//.test(url)) return; shell.openExternal(url);')],
    ['&&', wrap("url.startsWith('https://') && shell.openExternal(url);")],
    ['a URL protocol check', wrap("if (new URL(url).protocol === 'https:') { shell.openExternal(url); }")],
    ['a constant https URL', "shell.openExternal('https://example.com/docs');"],
  ])('passes %s', (_name, source) => {
    expect(openExternalRule.checkSource(source)).toEqual([]);
  });

  it.each([
    ['no check', wrap('shell.openExternal(url);'), /not guarded/],
    ['a check allowing http', wrap('if (/^https?:\\/\\//.test(url)) shell.openExternal(url);'), /not guarded/],
    ['an alternation', wrap('if (/^https:\\/\\/|^file:/.test(url)) shell.openExternal(url);'), /not guarded/],
    ['a check of another variable', wrap('if (/^https:\\/\\//.test(other)) shell.openExternal(url);'), /not guarded/],
    ['the call outside the checked branch', wrap('if (/^https:\\/\\//.test(url)) log(url); shell.openExternal(url);'), /not guarded/],
    ['a check in another function', `const ok = (u: string) => /^https:\\/\\//.test(u); function f(url: string) { shell.openExternal(url); }`, /not guarded/],
    ['a computed argument', wrap('shell.openExternal(`https://${url}`);'), /pass a variable/],
    ['a constant non-https URL', "shell.openExternal('file:///etc/passwd');", /not an https URL/],
    ['openExternal handed over', 'links.forEach(shell.openExternal);', /passed as a value/],
  ])('catches %s', (_name, source, problem) => {
    expect(openExternalRule.checkSource(source).join('\n')).toMatch(problem);
  });

  it.each([
    ['if (/^https:\\/\\/[^\\s]+$/.test(url)) void shell.openExternal(url);', 'void shell.openExternal(url);'],
    ['/^https:\\/\\/[^\\s]+$/', '/^https?:\\/\\/[^\\s]+$/'],
  ])(`catches ${MAIN} doctored from %s`, (from, to) => {
    expect(problemsOfDoctored(openExternalRule, MAIN, from, to).join('\n')).toMatch(/not guarded by an https-only check/);
  });
});

describe('preload rule can fail', () => {
  const header = `import { contextBridge, ipcRenderer } from '${ELECTRON_MODULE}';\nimport { CALL_NAMES, EVENT_NAMES } from './contract';\n`;
  const good =
    header +
    'const api: Record<string, unknown> = {};\n' +
    'for (const name of CALL_NAMES) api[name] = (...args: unknown[]) => ipcRenderer.invoke(`app:call:${name}`, ...args);\n' +
    "api.ping = () => ipcRenderer.invoke('app:ping');\n" +
    'api.on = (event: string, fn: () => void) => { if (!EVENT_NAMES.includes(event)) throw new Error(); const channel = `app:event:${event}`; ipcRenderer.on(channel, fn); return () => ipcRenderer.removeListener(channel, fn); };\n' +
    "contextBridge.exposeInMainWorld('app', api);\n";

  it('passes named calls over contract channels', () => expect(preloadRule.checkSource(good)).toEqual([]));

  it.each([
    ['ipcRenderer itself', "contextBridge.exposeInMainWorld('ipc', ipcRenderer);", /ipcRenderer itself is exposed/],
    ['ipcRenderer in an object', "contextBridge.exposeInMainWorld('x', { ipcRenderer });", /ipcRenderer itself is exposed/],
    ['ipcRenderer.invoke as a value', "contextBridge.exposeInMainWorld('x', { invoke: ipcRenderer.invoke });", /ipcRenderer.invoke used as a value/],
    ['a bound invoke', "contextBridge.exposeInMainWorld('x', { invoke: ipcRenderer.invoke.bind(ipcRenderer) });", /used as a value/],
    ['a generic invoke', "contextBridge.exposeInMainWorld('x', { invoke: (channel: string, ...a: unknown[]) => ipcRenderer.invoke(channel, ...a) });", /channel channel is a variable/],
    ['a generic send', "contextBridge.exposeInMainWorld('x', { send: (c: string) => ipcRenderer.send(c) });", /channel c is a variable/],
    ['a channel from the caller', "contextBridge.exposeInMainWorld('x', { call: (n: string) => ipcRenderer.invoke(`app:call:${n}`) });", /interpolates n/],
    ['a computed channel', "contextBridge.exposeInMainWorld('x', { call: (n: string) => ipcRenderer.invoke('app:' + n) });", /computed/],
    ['a channel with no prefix', "for (const name of CALL_NAMES) api[name] = () => ipcRenderer.invoke(`${name}`); contextBridge.exposeInMainWorld('x', api);", /no fixed prefix/],
    ['no context bridge', "(window as any).api = { ping: () => ipcRenderer.invoke('ping') };", /no contextBridge.exposeInMainWorld/],
  ])('catches %s', (_name, body, problem) => {
    expect(preloadRule.checkSource(header + body).join('\n')).toMatch(problem);
  });

  it.each([
    ["contextBridge.exposeInMainWorld('sluice'", "api['ipc'] = ipcRenderer;\ncontextBridge.exposeInMainWorld('sluice'", /ipcRenderer itself is exposed/],
    [
      "contextBridge.exposeInMainWorld('sluice'",
      "api['invoke'] = (channel: string, ...args: unknown[]) => ipcRenderer.invoke(channel, ...args);\ncontextBridge.exposeInMainWorld('sluice'",
      /channel channel is a variable/,
    ],
    ['ipcRenderer.invoke(`sluice:call:${name}`', 'ipcRenderer.invoke(`sluice:call:${String(args[0])}`', /interpolates String\(args\[0\]\)/],
    ['if (!EVENT_NAMES.includes(event)) throw', 'if (!event) throw', /interpolates event/],
  ])(`catches ${PRELOAD} doctored from %s`, (from, to, problem) => {
    expect(problemsOfDoctored(preloadRule, PRELOAD, from, to).join('\n')).toMatch(problem);
  });
});

describe('lifecycle rule can fail', () => {
  it.each([
    ["win.webContents.on('will-navigate', (event) => event.preventDefault());", '', /no will-navigate handler/],
    ["win.webContents.on('will-navigate', (event) => event.preventDefault());", "win.webContents.on('will-navigate', (event) => log(event));", /never calls preventDefault/],
    ["return { action: 'deny' };", "return { action: 'allow' };", /allows a new window/],
    [/setWindowOpenHandler\(/, 'setWindowOpenHandlerX(', /no setWindowOpenHandler denying/],
    [/\n\s*session\.defaultSession\.setPermissionRequestHandler\([^\n]*\n/, '\n', /no setPermissionRequestHandler/],
    ['callback(false)', 'callback(true)', /permission request handler that does not refuse/],
    ['setPermissionCheckHandler(() => false)', 'setPermissionCheckHandler(() => true)', /permission check handler that does not answer false/],
    ["contents.on('will-attach-webview', (event) => event.preventDefault());", '', /no will-attach-webview/],
  ])(`catches ${MAIN} doctored from %s`, (from, to, problem) => {
    expect(problemsOfDoctored(lifecycleRule, MAIN, from, to).join('\n')).toMatch(problem);
  });
});

// ---------------------------------------------------------------------------------------

describe('the Electronegativity step', () => {
  const script = join(root, '.ci/electronegativity-check.mjs');
  const runScript = (...args: string[]) => spawnSync(process.execPath, [script, ...args], { cwd: root, encoding: 'utf8' });
  const csvHeader = 'issue, severity, confidence, filename, location, sample, description, url\n';
  const row = (id: string, severity: string, file: string, sample: string, description: string): string =>
    `${id},"${severity}","FIRM","${file}","1:0","${sample.replace(/"/g, '""')}","${description}",https://github.com/doyensec/electronegativity/wiki/${id}\n`;

  function report(text: string): string {
    const path = join(mkdtempSync(join(temp, 'report-')), 'electronegativity.csv');
    writeFileSync(path, text);
    return path;
  }

  it('passes a report with reviewed findings only', () => {
    const path = report(csvHeader + row('PRELOAD_JS_CHECK', 'MEDIUM', 'src-main/app/main.ts', "preload: join(__dirname, 'x, \"y\"'),", 'Review the use of preload scripts'));
    const result = runScript('--from', path);
    expect(result.stdout).toMatch(/1 accepted, 0 to review, 0 failing/);
    expect(result.status).toBe(0);
  });

  it('fails on a HIGH finding, even one on an accepted check', () => {
    const path = report(
      csvHeader +
        row('CONTEXT_ISOLATION_JS_CHECK', 'HIGH', 'src-main/app/main.ts', 'contextIsolation: false,', 'Review the use of the contextIsolation option') +
        row('PRELOAD_JS_CHECK', 'HIGH', 'src-main/app/main.ts', 'preload: x', 'Review the use of preload scripts'),
    );
    const result = runScript('--from', path);
    expect(result.stdout).toMatch(/FAIL\s+HIGH CONTEXT_ISOLATION_JS_CHECK src-main\/app\/main.ts:1:0/);
    expect(result.stdout).toMatch(/2 high, .* 2 failing/);
    expect(result.status).toBe(1);
  });

  it('lists an unreviewed medium finding for review without failing', () => {
    const result = runScript('--from', report(csvHeader + row('AUXCLICK_JS_CHECK', 'MEDIUM', 'src-main/app/other.ts', 'new BrowserWindow({', 'Middle-click')));
    expect(result.stdout).toMatch(/REVIEW\s+MEDIUM AUXCLICK_JS_CHECK/);
    expect(result.status).toBe(0);
  });

  it('scans a doctored copy of the shell and fails on it (HIGH finding, unparsable file)', () => {
    const dir = mkdtempSync(join(temp, 'scan-'));
    mkdirSync(join(dir, 'app'));
    writeFileSync(join(dir, 'app/main.ts'), read(MAIN).replace('contextIsolation: true', 'contextIsolation: false'));
    writeFileSync(join(dir, 'app/broken.ts'), 'const x = ;\n');
    const result = runScript('--input', dir);
    expect(result.stdout).toMatch(/FAIL\s+HIGH CONTEXT_ISOLATION_JS_CHECK app\/main.ts/);
    expect(result.stdout).toMatch(/FAIL\s+could not parse app\/broken.ts/);
    expect(result.status).toBe(1);
  });

  // The real sources are scanned by the step itself in .ci/run (node .ci/electronegativity-check.mjs).
});
