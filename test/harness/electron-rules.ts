/**
 * Static checks of the Electron shell, run under plain Node (Electron cannot run here).
 * Each rule is `checkSource(text)` → the problems found (empty: the text passes), so a
 * test can run it on the real files and on good and bad snippets. The TypeScript
 * compiler's parser reads the sources, so comments, strings and formatting do not fool
 * the checks the way a text search would.
 */
import * as ts from 'typescript';

export interface Rule {
  name: string;
  checkSource(text: string, fileName?: string): string[];
}

// ---------------------------------------------------------------------------------------
// AST helpers

function parse(text: string, fileName = 'source.ts'): ts.SourceFile {
  return ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
}

function walk(node: ts.Node, visit: (node: ts.Node) => void): void {
  visit(node);
  node.forEachChild((child) => walk(child, visit));
}

function where(node: ts.Node): string {
  const sf = node.getSourceFile();
  const { line, character } = sf.getLineAndCharacterOfPosition(node.getStart(sf));
  return `${sf.fileName}:${line + 1}:${character + 1}`;
}

function propertyName(name: ts.PropertyName): string | null {
  if (ts.isIdentifier(name) || ts.isStringLiteral(name) || ts.isNoSubstitutionTemplateLiteral(name)) return name.text;
  return null;
}

function literalValue(node: ts.Expression): boolean | string | null {
  if (node.kind === ts.SyntaxKind.TrueKeyword) return true;
  if (node.kind === ts.SyntaxKind.FalseKeyword) return false;
  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return node.text;
  return null;
}

function enclosingFunction(node: ts.Node): ts.Node {
  let current: ts.Node | undefined = node.parent;
  while (current && !ts.isFunctionLike(current) && !ts.isSourceFile(current)) current = current.parent;
  return current ?? node.getSourceFile();
}

/** The text a string expression evaluates to; `${…}` substitutions become `X`. Null if not a string expression. */
function stringValue(node: ts.Expression): string | null {
  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return node.text;
  if (ts.isTemplateExpression(node)) return node.head.text + node.templateSpans.map((s) => `X${s.literal.text}`).join('');
  if (ts.isParenthesizedExpression(node)) return stringValue(node.expression);
  if (ts.isBinaryExpression(node) && node.operatorToken.kind === ts.SyntaxKind.PlusToken) {
    const left = stringValue(node.left);
    const right = stringValue(node.right);
    return left === null || right === null ? null : left + right;
  }
  return null;
}

// ---------------------------------------------------------------------------------------
// 1. BrowserWindow / webPreferences

const WINDOW_CLASSES = new Set(['BrowserWindow', 'BrowserView', 'WebContentsView']);

/** Settings whose value must be exactly this literal wherever webPreferences appear. */
const FORBIDDEN_UNLESS: Record<string, boolean> = {
  nodeIntegration: false,
  nodeIntegrationInWorker: false,
  nodeIntegrationInSubFrames: false,
  contextIsolation: true,
  sandbox: true,
  webSecurity: true,
  allowRunningInsecureContent: false,
  experimentalFeatures: false,
  webviewTag: false,
};
/** Settings that must not appear at all. */
const FORBIDDEN_KEYS = new Set(['enableBlinkFeatures']);
/** Settings every window must state explicitly (not lean on defaults that changed across Electron versions). */
const REQUIRED_IN_WINDOW: Record<string, boolean> = { contextIsolation: true, sandbox: true, nodeIntegration: false };

function checkPreferences(prefs: ts.Expression, requireExplicit: boolean): string[] {
  if (!ts.isObjectLiteralExpression(prefs)) {
    return [`${where(prefs)}: webPreferences must be an object literal here, so its settings can be checked`];
  }
  const problems: string[] = [];
  const seen = new Map<string, boolean | string | null>();
  for (const prop of prefs.properties) {
    if (ts.isSpreadAssignment(prop)) {
      problems.push(`${where(prop)}: no spread (...) in webPreferences: every setting must be visible here`);
      continue;
    }
    if (ts.isShorthandPropertyAssignment(prop)) {
      const key = prop.name.text;
      if (key in FORBIDDEN_UNLESS || FORBIDDEN_KEYS.has(key)) problems.push(`${where(prop)}: ${key} must be a literal, not a variable`);
      continue;
    }
    if (!ts.isPropertyAssignment(prop)) continue;
    const key = propertyName(prop.name);
    if (key === null) {
      problems.push(`${where(prop)}: computed key in webPreferences`);
      continue;
    }
    const value = literalValue(prop.initializer);
    seen.set(key, value);
    if (FORBIDDEN_KEYS.has(key)) problems.push(`${where(prop)}: ${key} is not allowed`);
    const required = FORBIDDEN_UNLESS[key];
    if (required !== undefined && value !== required) {
      problems.push(`${where(prop)}: ${key}: ${prop.initializer.getText()} (must be ${String(required)})`);
    }
  }
  if (requireExplicit) {
    for (const [key, value] of Object.entries(REQUIRED_IN_WINDOW)) {
      if (!seen.has(key)) problems.push(`${where(prefs)}: webPreferences must set ${key}: ${String(value)} explicitly`);
    }
  }
  return problems;
}

export const webPreferencesRule: Rule = {
  name: 'BrowserWindow / webPreferences',
  checkSource(text, fileName) {
    const problems: string[] = [];
    const sf = parse(text, fileName);
    walk(sf, (node) => {
      if (ts.isNewExpression(node) && ts.isIdentifier(node.expression) && WINDOW_CLASSES.has(node.expression.text)) {
        const options = node.arguments?.[0];
        if (options === undefined || !ts.isObjectLiteralExpression(options)) {
          problems.push(`${where(node)}: new ${node.expression.text}(…) needs an options object literal with webPreferences`);
          return;
        }
        const prefs = options.properties.find((p) => p.name !== undefined && propertyName(p.name as ts.PropertyName) === 'webPreferences');
        if (prefs === undefined) {
          problems.push(`${where(node)}: new ${node.expression.text}(…) without webPreferences`);
        } else if (!ts.isPropertyAssignment(prefs)) {
          problems.push(`${where(prefs)}: webPreferences must be a plain property`);
        }
        if (options.properties.some(ts.isSpreadAssignment)) problems.push(`${where(node)}: no spread (...) in window options`);
      }
      // Every webPreferences object, in a window or anywhere else (e.g. a window-open override).
      if (ts.isPropertyAssignment(node) && propertyName(node.name) === 'webPreferences') {
        const inWindow =
          ts.isObjectLiteralExpression(node.parent) &&
          ts.isNewExpression(node.parent.parent) &&
          ts.isIdentifier(node.parent.parent.expression) &&
          WINDOW_CLASSES.has(node.parent.parent.expression.text);
        problems.push(...checkPreferences(node.initializer, inWindow));
      }
    });
    return problems;
  },
};

// ---------------------------------------------------------------------------------------
// 2. Chromium switches that turn protections off

const DANGEROUS_SWITCHES = [
  'no-sandbox',
  'disable-web-security',
  'ignore-certificate-errors',
  'allow-running-insecure-content',
  'remote-debugging-port',
  'remote-debugging-address',
  'js-flags',
  'disable-site-isolation-trials',
  'inspect',
  'inspect-brk',
];

export const switchesRule: Rule = {
  name: 'Chromium switches',
  checkSource(text, fileName) {
    const problems: string[] = [];
    walk(parse(text, fileName), (node) => {
      if (!ts.isCallExpression(node) || !ts.isPropertyAccessExpression(node.expression)) return;
      const method = node.expression.name.text;
      if (method === 'disableSandbox') problems.push(`${where(node)}: app.disableSandbox()`);
      if (method === 'appendSwitch' || method === 'appendArgument') {
        const arg = node.arguments[0];
        const value = arg === undefined ? null : stringValue(arg);
        if (value === null) problems.push(`${where(node)}: ${method} with a non-literal switch`);
        else if (DANGEROUS_SWITCHES.includes(value.replace(/^--/, '').split('=')[0] ?? '')) problems.push(`${where(node)}: ${method}('${value}')`);
      }
    });
    return problems;
  },
};

// ---------------------------------------------------------------------------------------
// 3. Content-Security-Policy

/** Judges one policy: no unsafe-*, script-src exactly 'self', object-src 'none'. */
export function checkCsp(policy: string, origin = 'CSP'): string[] {
  const problems: string[] = [];
  const directives = new Map<string, string[]>();
  for (const part of policy.split(';')) {
    const [name, ...sources] = part.trim().split(/\s+/).filter(Boolean);
    if (name !== undefined && !directives.has(name.toLowerCase())) directives.set(name.toLowerCase(), sources);
  }
  for (const [name, sources] of directives) {
    for (const source of sources) {
      if (/unsafe-/i.test(source)) problems.push(`${origin}: ${name} allows ${source}`);
    }
  }
  const script = directives.get('script-src');
  if (script === undefined) problems.push(`${origin}: no script-src 'self'`);
  else if (script.length !== 1 || script[0] !== "'self'") problems.push(`${origin}: script-src must be exactly 'self' (is: ${script.join(' ') || 'empty'})`);
  const object = directives.get('object-src');
  if (object === undefined) problems.push(`${origin}: no object-src 'none'`);
  else if (object.length !== 1 || object[0] !== "'none'") problems.push(`${origin}: object-src must be 'none' (is: ${object.join(' ') || 'empty'})`);
  return problems;
}

function decodeHtml(text: string): string {
  return text
    .replace(/&quot;/g, '"')
    .replace(/&#39;|&apos;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/** The CSPs of an HTML page's `<meta http-equiv="Content-Security-Policy">` tags. */
export function metaCsps(html: string): string[] {
  const policies: string[] = [];
  for (const [tag] of html.matchAll(/<meta\b[^>]*>/gi)) {
    const attrs = new Map<string, string>();
    for (const m of tag.matchAll(/([a-z-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))/gi)) {
      attrs.set((m[1] as string).toLowerCase(), decodeHtml(m[2] ?? m[3] ?? m[4] ?? ''));
    }
    if (attrs.get('http-equiv')?.toLowerCase() === 'content-security-policy') policies.push(attrs.get('content') ?? '');
  }
  return policies;
}

/** The CSP strings a TypeScript source builds (string expressions that contain script-src or default-src). */
export function sourceCsps(text: string, fileName?: string): string[] {
  const policies: string[] = [];
  walk(parse(text, fileName), (node) => {
    if (!ts.isExpression(node)) return;
    // Only the outermost string expression: a part of a concatenation is not a policy.
    const parent = node.parent;
    if (parent && (ts.isBinaryExpression(parent) || ts.isParenthesizedExpression(parent)) && stringValue(parent as ts.Expression) !== null) return;
    const value = stringValue(node);
    if (value !== null && /(?:^|;)\s*(?:default-src|script-src)\s/.test(value)) policies.push(value);
  });
  return policies;
}

export const htmlCspRule: Rule = {
  name: 'CSP of an HTML page',
  checkSource(text, fileName = 'index.html') {
    const policies = metaCsps(text);
    if (policies.length === 0) return [`${fileName}: no <meta http-equiv="Content-Security-Policy">`];
    return policies.flatMap((p) => checkCsp(p, fileName));
  },
};

export const headerCspRule: Rule = {
  name: 'CSP set as a response header',
  checkSource(text, fileName = 'source.ts') {
    const policies = sourceCsps(text, fileName);
    const problems: string[] = [];
    if (policies.length === 0) problems.push(`${fileName}: no Content-Security-Policy value found`);
    if (!/['"`]Content-Security-Policy['"`]/.test(text)) problems.push(`${fileName}: never sets a Content-Security-Policy header`);
    return [...problems, ...policies.flatMap((p) => checkCsp(p, fileName))];
  },
};

// ---------------------------------------------------------------------------------------
// 4. shell.openExternal only on https URLs checked in the same function

/** Is `condition` (when true) a proof that `name` is an https URL? */
function provesHttps(condition: ts.Expression, name: string): boolean {
  if (ts.isParenthesizedExpression(condition)) return provesHttps(condition.expression, name);
  if (ts.isBinaryExpression(condition) && condition.operatorToken.kind === ts.SyntaxKind.AmpersandAmpersandToken) {
    return provesHttps(condition.left, name) || provesHttps(condition.right, name);
  }
  if (ts.isCallExpression(condition) && ts.isPropertyAccessExpression(condition.expression)) {
    const receiver = condition.expression.expression;
    const method = condition.expression.name.text;
    const arg = condition.arguments[0];
    const argIsName = arg !== undefined && arg.getText() === name;
    // /^https:\/\/…/.test(name), with no alternation that could admit another scheme.
    if (method === 'test' && argIsName && ts.isRegularExpressionLiteral(receiver)) {
      const body = receiver.text.slice(1, receiver.text.lastIndexOf('/'));
      return body.startsWith('^https:\\/\\/') && !body.includes('|');
    }
    // name.startsWith('https://')
    if (method === 'startsWith' && receiver.getText() === name && arg !== undefined) return literalValue(arg) === 'https://';
  }
  // new URL(name).protocol === 'https:'
  if (ts.isBinaryExpression(condition) && condition.operatorToken.kind === ts.SyntaxKind.EqualsEqualsEqualsToken) {
    const [a, b] = [condition.left, condition.right];
    const side = literalValue(b) === 'https:' ? a : literalValue(a) === 'https:' ? b : null;
    return side !== null && ts.isPropertyAccessExpression(side) && side.name.text === 'protocol' && side.expression.getText() === `new URL(${name})`;
  }
  return false;
}

/** Is `call` reached only when an https-only test of `name` passed, inside `fn`? */
function guardedByHttpsCheck(call: ts.Node, name: string, fn: ts.Node): boolean {
  let child: ts.Node = call;
  let node: ts.Node | undefined = call.parent;
  while (node && node !== fn) {
    if (ts.isIfStatement(node) && node.thenStatement === child && provesHttps(node.expression, name)) return true;
    if (ts.isConditionalExpression(node) && node.whenTrue === child && provesHttps(node.condition, name)) return true;
    if (ts.isBinaryExpression(node) && node.operatorToken.kind === ts.SyntaxKind.AmpersandAmpersandToken && node.right === child && provesHttps(node.left, name)) {
      return true;
    }
    // An earlier `if (!<https test>) return …;` in the same block.
    if (ts.isBlock(node) || ts.isSourceFile(node)) {
      const statements = (node as ts.Block).statements;
      for (const statement of statements) {
        if (statement === child) break;
        if (
          ts.isIfStatement(statement) &&
          ts.isPrefixUnaryExpression(statement.expression) &&
          statement.expression.operator === ts.SyntaxKind.ExclamationToken &&
          provesHttps(statement.expression.operand, name) &&
          (ts.isReturnStatement(statement.thenStatement) ||
            (ts.isBlock(statement.thenStatement) && statement.thenStatement.statements.some(ts.isReturnStatement)))
        ) {
          return true;
        }
      }
    }
    child = node;
    node = node.parent;
  }
  return false;
}

export const openExternalRule: Rule = {
  name: 'shell.openExternal on checked https URLs only',
  checkSource(text, fileName) {
    const problems: string[] = [];
    walk(parse(text, fileName), (node) => {
      if (!ts.isCallExpression(node)) return;
      const callee = node.expression;
      const isOpenExternal =
        (ts.isPropertyAccessExpression(callee) && callee.name.text === 'openExternal') || (ts.isIdentifier(callee) && callee.text === 'openExternal');
      if (!isOpenExternal) {
        // Passing openExternal around (e.g. .then(shell.openExternal)) escapes the check.
        return;
      }
      const arg = node.arguments[0];
      if (arg === undefined) return;
      const constant = stringValue(arg);
      if (constant !== null && ts.isStringLiteral(arg)) {
        if (!constant.startsWith('https://')) problems.push(`${where(node)}: openExternal('${constant}') is not an https URL`);
        return;
      }
      if (!ts.isIdentifier(arg) && !ts.isPropertyAccessExpression(arg)) {
        problems.push(`${where(node)}: openExternal(${arg.getText()}): pass a variable checked against an https-only pattern`);
        return;
      }
      if (!guardedByHttpsCheck(node, arg.getText(), enclosingFunction(node))) {
        problems.push(`${where(node)}: openExternal(${arg.getText()}) is not guarded by an https-only check in the same function`);
      }
    });
    // An openExternal reference that is not called (handed to someone else) is unchecked input.
    walk(parse(text, fileName), (node) => {
      if (ts.isPropertyAccessExpression(node) && node.name.text === 'openExternal' && !(ts.isCallExpression(node.parent) && node.parent.expression === node)) {
        problems.push(`${where(node)}: openExternal passed as a value`);
      }
    });
    return problems;
  },
};

// ---------------------------------------------------------------------------------------
// 5. The preload exposes named calls only

const IPC_METHODS = new Set(['invoke', 'send', 'sendSync', 'sendToHost', 'postMessage', 'on', 'once', 'addListener', 'removeListener', 'removeAllListeners', 'off']);

/** Loop variables of `for (const x of SOME_NAMES)` and names checked with `SOME_NAMES.includes(x)` in `fn`. */
function contractNames(fn: ts.Node): Set<string> {
  const names = new Set<string>();
  walk(fn, (node) => {
    if (ts.isForOfStatement(node) && ts.isIdentifier(node.expression) && /_NAMES$/.test(node.expression.text)) {
      const init = node.initializer;
      if (ts.isVariableDeclarationList(init)) for (const d of init.declarations) if (ts.isIdentifier(d.name)) names.add(d.name.text);
    }
    if (
      ts.isCallExpression(node) &&
      ts.isPropertyAccessExpression(node.expression) &&
      node.expression.name.text === 'includes' &&
      ts.isIdentifier(node.expression.expression) &&
      /_NAMES$/.test(node.expression.expression.text) &&
      node.arguments[0] !== undefined &&
      ts.isIdentifier(node.arguments[0])
    ) {
      names.add(node.arguments[0].text);
    }
  });
  return names;
}

/** Walks up from `node` collecting contract names of every enclosing function (closures see outer loop variables). */
function contractNamesInScope(node: ts.Node): Set<string> {
  const names = new Set<string>();
  let fn: ts.Node = enclosingFunction(node);
  for (;;) {
    for (const n of contractNames(fn)) names.add(n);
    if (ts.isSourceFile(fn)) break;
    fn = enclosingFunction(fn);
  }
  return names;
}

function constInitializer(id: ts.Identifier): ts.Expression | null {
  let scope: ts.Node | undefined = id.parent;
  while (scope) {
    let found: ts.Expression | null = null;
    scope.forEachChild((child) => {
      if (found !== null || !ts.isVariableStatement(child)) return;
      if ((child.declarationList.flags & ts.NodeFlags.Const) === 0) return;
      for (const d of child.declarationList.declarations) {
        if (ts.isIdentifier(d.name) && d.name.text === id.text && d.initializer) found = d.initializer;
      }
    });
    if (found !== null) return found;
    scope = scope.parent;
  }
  return null;
}

/** Is this channel a literal, or a fixed prefix plus a name from the contract's list? */
function channelProblem(channel: ts.Expression): string | null {
  let expr: ts.Expression = channel;
  if (ts.isIdentifier(expr)) {
    const init = constInitializer(expr);
    if (init === null) return `channel ${channel.getText()} is a variable not built from the contract's names`;
    expr = init;
  }
  if (ts.isStringLiteral(expr) || ts.isNoSubstitutionTemplateLiteral(expr)) return null;
  if (ts.isTemplateExpression(expr)) {
    if (expr.head.text === '') return `channel ${channel.getText()} has no fixed prefix`;
    const allowed = contractNamesInScope(channel);
    for (const span of expr.templateSpans) {
      if (!ts.isIdentifier(span.expression) || !allowed.has(span.expression.text)) {
        return `channel ${channel.getText()} interpolates ${span.expression.getText()}, which is not a name from the contract's lists`;
      }
    }
    return null;
  }
  return `channel ${channel.getText()} is computed, not built from the contract's names`;
}

export const preloadRule: Rule = {
  name: 'preload exposes named calls, never ipcRenderer',
  checkSource(text, fileName) {
    const problems: string[] = [];
    let exposes = false;
    walk(parse(text, fileName), (node) => {
      if (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression) && node.expression.name.text === 'exposeInMainWorld') exposes = true;
      if (!ts.isIdentifier(node) || node.text !== 'ipcRenderer') return;
      const parent = node.parent;
      if (ts.isImportSpecifier(parent) || ts.isNamespaceImport(parent) || ts.isImportClause(parent)) return;
      // ipcRenderer.<method>(channel, …) is the only allowed use.
      if (ts.isPropertyAccessExpression(parent) && parent.expression === node) {
        const method = parent.name.text;
        const call = parent.parent;
        if (!IPC_METHODS.has(method) || !ts.isCallExpression(call) || call.expression !== parent) {
          problems.push(`${where(node)}: ipcRenderer.${method} used as a value (it would hand the renderer the raw IPC)`);
          return;
        }
        const channel = call.arguments[0];
        if (channel === undefined) return;
        if (ts.isSpreadElement(channel)) {
          problems.push(`${where(node)}: ipcRenderer.${method}(...) with a spread channel: a generic ${method}`);
          return;
        }
        const problem = channelProblem(channel);
        if (problem !== null) problems.push(`${where(node)}: ipcRenderer.${method}: ${problem}`);
        return;
      }
      problems.push(`${where(node)}: ipcRenderer itself is exposed or passed on`);
    });
    if (!exposes) problems.push(`${fileName ?? 'preload'}: no contextBridge.exposeInMainWorld (the API must go through the context bridge)`);
    return problems;
  },
};

// ---------------------------------------------------------------------------------------
// 6. Navigation, new windows, permissions

export const lifecycleRule: Rule = {
  name: 'navigation, window-open and permission handlers',
  checkSource(text, fileName) {
    const problems: string[] = [];
    const found = { willNavigate: false, windowOpen: false, permissionRequest: false, permissionCheck: false, webview: false };
    walk(parse(text, fileName), (node) => {
      if (!ts.isCallExpression(node) || !ts.isPropertyAccessExpression(node.expression)) return;
      const method = node.expression.name.text;
      const [first, second] = node.arguments;
      const eventName = first !== undefined ? literalValue(first) : null;
      const handlerText = (method === 'on' || method === 'once') && second !== undefined ? second.getText() : null;
      if (eventName === 'will-navigate' && handlerText !== null) {
        if (/preventDefault\(\)/.test(handlerText)) found.willNavigate = true;
        else problems.push(`${where(node)}: will-navigate handler that never calls preventDefault()`);
      }
      if (eventName === 'will-attach-webview' && handlerText !== null && /preventDefault\(\)/.test(handlerText)) found.webview = true;
      if (method === 'setWindowOpenHandler' && first !== undefined) {
        const body = first.getText();
        if (/action\s*:\s*['"]allow['"]/.test(body)) problems.push(`${where(node)}: window-open handler that allows a new window`);
        else if (/action\s*:\s*['"]deny['"]/.test(body)) found.windowOpen = true;
        else problems.push(`${where(node)}: window-open handler that never answers { action: 'deny' }`);
      }
      if (method === 'setPermissionRequestHandler' && first !== undefined) {
        if (/callback\(\s*false\s*\)|\(\s*false\s*\)/.test(first.getText())) found.permissionRequest = true;
        else problems.push(`${where(node)}: permission request handler that does not refuse`);
      }
      if (method === 'setPermissionCheckHandler' && first !== undefined) {
        if (/=>\s*false\b|return\s+false\b/.test(first.getText())) found.permissionCheck = true;
        else problems.push(`${where(node)}: permission check handler that does not answer false`);
      }
    });
    if (!found.willNavigate) problems.push(`${fileName ?? 'main'}: no will-navigate handler preventing navigation`);
    if (!found.windowOpen) problems.push(`${fileName ?? 'main'}: no setWindowOpenHandler denying new windows`);
    if (!found.permissionRequest) problems.push(`${fileName ?? 'main'}: no setPermissionRequestHandler refusing permissions`);
    if (!found.permissionCheck) problems.push(`${fileName ?? 'main'}: no setPermissionCheckHandler refusing permission checks`);
    if (!found.webview) problems.push(`${fileName ?? 'main'}: no will-attach-webview handler preventing <webview>`);
    return problems;
  },
};
