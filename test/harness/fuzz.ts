/**
 * Building blocks for the hostile-input suites: a seeded PRNG (a failure reproduces
 * with the printed seed: `FUZZ_SEED=<n> npx vitest run …`), pools of hostile values,
 * invalid UTF-8, a check that no prototype was polluted, and an independent reference
 * for the canonical body (keys by code point, numbers as the reference writes them).
 */

// ----- seeded randomness ------------------------------------------------------------------

export interface Rng {
  readonly seed: number;
  /** [0, 1) */
  next(): number;
  /** An integer in [lo, hi]. */
  int(lo: number, hi: number): number;
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
  shuffle<T>(items: readonly T[]): T[];
}

/** mulberry32: small, fast, and good enough to spread test cases. */
export function createRng(seed: number): Rng {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (lo: number, hi: number): number => lo + Math.floor(next() * (hi - lo + 1));
  return {
    seed,
    next,
    int,
    chance: (p) => next() < p,
    pick: <T>(items: readonly T[]): T => {
      if (items.length === 0) throw new Error('pick from an empty list');
      return items[int(0, items.length - 1)] as T;
    },
    shuffle: <T>(items: readonly T[]): T[] => {
      const out = [...items];
      for (let i = out.length - 1; i > 0; i--) {
        const j = int(0, i);
        [out[i], out[j]] = [out[j] as T, out[i] as T];
      }
      return out;
    },
  };
}

/** `FUZZ_SEED` from the environment when set (to replay a failure), else a fresh one. */
export function fuzzSeed(): number {
  const fromEnv = process.env['FUZZ_SEED'];
  if (fromEnv !== undefined && fromEnv !== '') {
    const n = Number(fromEnv);
    if (!Number.isSafeInteger(n)) throw new Error(`FUZZ_SEED must be an integer, got ${fromEnv}`);
    return n >>> 0;
  }
  return Math.floor(Math.random() * 2 ** 32) >>> 0;
}

// ----- hostile values ---------------------------------------------------------------------

/** Short strings that break naive code: control and format characters, markup, SQL, paths. */
export const HOSTILE_STRINGS: readonly string[] = [
  '\u0000',
  'a\u0000b',
  '\u0001\u001f\u007f',
  '\t\r\n',
  '\u2028\u2029',
  '\ud800',
  '\udfff',
  '\udc00\ud800',
  '\ud83d',
  '😀',
  '\u202eexe.gnp',
  '\u200b\u200c\u200d\u2060',
  '\ufeff',
  '\uffff\ufffe',
  'e\u0301',
  'ﷺ',
  '<script>alert(1)</script>',
  '"><img src=x onerror=alert(1)>',
  "' OR 1=1 --",
  '%00%0d%0a',
  '%s%s%n',
  '${7*7}{{7*7}}',
  '../../../../etc/passwd',
  '\\\\?\\C:\\',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  '_',
  '%',
  '*',
  '>',
  '.',
  ' ',
];

/** Numbers at the edges of what JSON and doubles can carry. */
export const HOSTILE_NUMBERS: readonly number[] = [
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  -0,
  0,
  -1,
  0.5,
  -0.5,
  1e-300,
  Number.MIN_VALUE,
  Number.EPSILON,
  2 ** 31,
  2 ** 32,
  2 ** 53,
  2 ** 53 + 2,
  2 ** 63,
  2 ** 64,
  -(2 ** 63),
  1e21,
  1e308,
  Number.MAX_VALUE,
  -Number.MAX_VALUE,
];

let huge: string | null = null;
/** 10 MiB of text; built once. */
export function hugeString(): string {
  huge ??= 'x'.repeat(10 * 1024 * 1024);
  return huge;
}

const deepCache = new Map<string, unknown>();

/**
 * `{a:{a:…{}}}` nested `depth` levels. Built once per depth and shared: these are
 * only ever read (every transport copies its arguments), and thousands of copies would
 * cost more memory than the suite is worth.
 */
export function deepObject(depth: number): unknown {
  const key = `o${depth}`;
  if (!deepCache.has(key)) {
    let v: unknown = {};
    for (let i = 0; i < depth; i++) v = { a: v };
    deepCache.set(key, v);
  }
  return deepCache.get(key);
}

/** `[[…[]]]` nested `depth` levels; shared like {@link deepObject}. */
export function deepArray(depth: number): unknown {
  const key = `a${depth}`;
  if (!deepCache.has(key)) {
    let v: unknown = [];
    for (let i = 0; i < depth; i++) v = [v];
    deepCache.set(key, v);
  }
  return deepCache.get(key);
}

/** JSON text nested `depth` levels, for depths JSON.stringify cannot produce. */
export function deepJsonText(depth: number, kind: 'object' | 'array' = 'object'): string {
  return kind === 'object' ? `${'{"a":'.repeat(depth)}{}${'}'.repeat(depth)}` : `${'['.repeat(depth)}${']'.repeat(depth)}`;
}

/**
 * Objects whose own keys try to reach a prototype, built with JSON.parse so that
 * `__proto__` is an own data property (as it is when it arrives over any transport).
 */
export function pollutionObjects(): Record<string, unknown>[] {
  return [
    '{"__proto__":{"polluted":"yes","isAdmin":true}}',
    '{"constructor":{"prototype":{"polluted":"yes"}}}',
    '{"prototype":{"polluted":"yes"}}',
    '{"__proto__":{"__proto__":{"polluted":"yes"}}}',
    '{"__proto__":[{"polluted":"yes"}]}',
    '{"constructor":"polluted"}',
  ].map((text) => JSON.parse(text) as Record<string, unknown>);
}

/** The same, nested below an ordinary key. */
export function nestedPollution(key: string): Record<string, unknown> {
  return JSON.parse(`{${JSON.stringify(key)}:{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}}}}`) as Record<
    string,
    unknown
  >;
}

/** What a successful prototype pollution would change; compare before and after. */
export function prototypeFingerprint(): string {
  const probe = {} as Record<string, unknown>;
  const protos: [string, object][] = [
    ['Object', Object.prototype],
    ['Array', Array.prototype],
    ['Function', Function.prototype],
    ['String', String.prototype],
    ['Number', Number.prototype],
    ['Promise', Promise.prototype],
  ];
  return JSON.stringify({
    names: protos.map(([name, proto]) => [name, Reflect.ownKeys(proto).map(String).sort()]),
    probe: [probe['polluted'], probe['isAdmin'], ([] as unknown as Record<string, unknown>)['polluted']],
    objectProto: Object.getPrototypeOf({}) === Object.prototype,
  });
}

// ----- what the contract refuses at save time, and what the refusal must say ------------------

/** Invalid patterns, each with what the refusal must say about it. */
export const INVALID_PATTERNS: [string, RegExp][] = [
  ['a..b', /empty token/],
  ['.a', /empty token/],
  ['a.', /empty token/],
  ['.', /empty token/],
  ['*a', /whole tokens/],
  ['a*', /whole tokens/],
  ['a.b*', /whole tokens/],
  ['>a', /whole tokens/],
  ['a.>b', /whole tokens/],
  ['**', /whole tokens/],
  ['>.a', /last token/],
  ['a.>.b', /last token/],
  ['a.>.>', /last token/],
  ['a b', /whitespace or a control character/],
  ['a\tb', /whitespace or a control character/],
  ['a.\u0000', /whitespace or a control character/],
  ['a\u007fb', /whitespace or a control character/],
  ['a\u00a0b', /whitespace or a control character/],
  ['a\u2028b', /whitespace or a control character/],
  ['a.\u3000.b', /whitespace or a control character/],
];

export const INVALID_URLS: [string, RegExp][] = [
  ['ftp://127.0.0.1/', /unsupported scheme "ftp"/],
  ['javascript:alert(1)', /unsupported scheme "javascript"/],
  ['file:///etc/passwd', /unsupported scheme "file"/],
  ['data:text/plain,hello', /unsupported scheme "data"/],
  ['ws://127.0.0.1/', /unsupported scheme "ws"/],
  ['gopher://127.0.0.1:70/_', /unsupported scheme "gopher"/],
  ['not a url', /not a valid URL: not a url/],
  ['//127.0.0.1/hook', /not a valid URL/],
  ['http://', /not a valid URL/],
  ['http://[::1', /not a valid URL/],
  ['http://exa mple.com/', /not a valid URL/],
  ['http://a\u0000b/', /not a valid URL/],
  ['http://127.0.0.1:99999/', /not a valid URL/],
  ['http://user:pw@127.0.0.1/', /credentials/],
  ['http://user@127.0.0.1/', /credentials/],
  ['http://127.0.0.1:0/', /port 0/],
];

/** Refused whatever the private-targets setting says (the test engine allows private ones). */
export const FORBIDDEN_URLS: [string, RegExp][] = [
  ['http://169.254.169.254/latest/meta-data/', /cloud metadata address 169\.254\.169\.254/],
  ['http://2852039166/', /cloud metadata address 169\.254\.169\.254/],
  ['http://0xa9fea9fe/', /cloud metadata address 169\.254\.169\.254/],
  ['http://0251.0376.0251.0376/', /cloud metadata address 169\.254\.169\.254/],
  ['http://[::ffff:169.254.169.254]/', /cloud metadata address 169\.254\.169\.254/],
  ['http://[fd00:ec2::254]/', /cloud metadata/],
  ['http://0.0.0.0/', /unspecified/],
  ['http://[::]/', /unspecified/],
  ['http://224.0.0.1/', /multicast/],
  ['http://255.255.255.255/', /broadcast/],
];

export const INVALID_NATS_URLS: [string, RegExp][] = [
  ['http://127.0.0.1:4222', /WebSocket \(ws:\/\/ or wss:\/\/\)/],
  ['nats://127.0.0.1:4222', /WebSocket/],
  ['tls://127.0.0.1:4222', /WebSocket/],
  ['not a url', /"not a url" is not a URL/],
  [',', /at least one bus URL/],
  [' , , ', /at least one bus URL/],
  ['ws://127.0.0.1:9222,file:///tmp/x', /"file:\/\/\/tmp\/x"/],
];

// ----- bytes that are not UTF-8 -------------------------------------------------------------

const b = (...bytes: number[]): number[] => bytes;
const text = (s: string): number[] => [...Buffer.from(s, 'utf8')];

/** Kinds of invalid UTF-8, each inside an otherwise valid JSON object. */
export const INVALID_UTF8: readonly [string, Uint8Array][] = (
  [
    ['overlong "/" (C0 AF)', b(0xc0, 0xaf)],
    ['overlong NUL (C0 80, "modified UTF-8")', b(0xc0, 0x80)],
    ['overlong 3-byte (E0 80 AF)', b(0xe0, 0x80, 0xaf)],
    ['overlong 4-byte (F0 80 80 AF)', b(0xf0, 0x80, 0x80, 0xaf)],
    ['encoded high surrogate (ED A0 80)', b(0xed, 0xa0, 0x80)],
    ['encoded low surrogate (ED BF BF)', b(0xed, 0xbf, 0xbf)],
    ['CESU-8 surrogate pair (ED A0 BD ED B8 80)', b(0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80)],
    ['truncated 2-byte (C3)', b(0xc3)],
    ['truncated 3-byte (E2 82)', b(0xe2, 0x82)],
    ['truncated 4-byte (F0 9F 98)', b(0xf0, 0x9f, 0x98)],
    ['lone continuation byte (80)', b(0x80)],
    ['bytes that never occur (FE FF)', b(0xfe, 0xff)],
    ['beyond U+10FFFF (F4 90 80 80)', b(0xf4, 0x90, 0x80, 0x80)],
    ['5-byte form (F8 88 80 80 80)', b(0xf8, 0x88, 0x80, 0x80, 0x80)],
  ] as [string, number[]][]
).flatMap(([label, bad]) => [
  [`${label} in a value`, Uint8Array.from([...text('{"v":1,"id":"u","type":"t","payload":{"s":"a'), ...bad, ...text('b"}}')])],
  [`${label} in a key`, Uint8Array.from([...text('{"k'), ...bad, ...text('":1}')])],
] as [string, Uint8Array][]).concat([
  // Truncated at the very end of the body: the decoder must not wait for more.
  ['truncated sequence at the end of the body', Uint8Array.from([...text('{"a":"b"}'), 0xe2, 0x82])],
]);

// ----- an independent reference for the canonical body --------------------------------------

/** A number as it is written on the bus (`input`) and as the reference writes it (`canonical`). */
export class Num {
  constructor(
    readonly input: string,
    readonly canonical: string,
  ) {}
}

/** An object whose keys are written in this order (duplicates allowed: the last one wins). */
export class Obj {
  constructor(readonly entries: readonly (readonly [string, Model])[]) {}
}

export type Model = null | boolean | string | Num | Obj | readonly Model[];

/** Orders strings by Unicode code point; a lone surrogate is the code point it encodes. */
export function byCodePoint(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a.codePointAt(i) as number;
    const y = b.codePointAt(j) as number;
    if (x !== y) return x - y;
    i += x > 0xffff ? 2 : 1;
    j += y > 0xffff ? 2 : 1;
  }
  return a.length - i - (b.length - j);
}

/** The body the reference would sign: keys sorted by code point at every depth, no whitespace. */
export function canonical(m: Model): string {
  if (m === null) return 'null';
  if (typeof m === 'boolean') return String(m);
  if (typeof m === 'string') return JSON.stringify(m);
  if (m instanceof Num) return m.canonical;
  if (m instanceof Obj) {
    const last = new Map<string, Model>();
    for (const [k, v] of m.entries) last.set(k, v);
    const keys = [...last.keys()].sort(byCodePoint);
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(last.get(k) as Model)}`).join(',')}}`;
  }
  return `[${(m as readonly Model[]).map(canonical).join(',')}]`;
}

/**
 * The same value as a publisher might write it: keys in the given order, whitespace,
 * and (when `escapeAll`) every non-ASCII character as a `\uXXXX` escape.
 */
export function raw(m: Model, escapeAll = false): string {
  const str = (s: string): string =>
    escapeAll ? JSON.stringify(s).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`) : JSON.stringify(s);
  if (m === null) return 'null';
  if (typeof m === 'boolean') return String(m);
  if (typeof m === 'string') return str(m);
  if (m instanceof Num) return m.input;
  if (m instanceof Obj) return `{ ${m.entries.map(([k, v]) => `${str(k)} : ${raw(v, escapeAll)}`).join(' ,\n ')} }`;
  return `[ ${(m as readonly Model[]).map((v) => raw(v, escapeAll)).join(', ')} ]`;
}

/** Shorthand for an object model. */
export const obj = (...entries: (readonly [string, Model])[]): Obj => new Obj(entries);

/** A short, printable description of any value, for failure messages. */
export function preview(value: unknown, max = 160): string {
  let s: string;
  try {
    s = JSON.stringify(value, (_k, v: unknown) => {
      if (typeof v === 'string' && v.length > 40) return `${v.slice(0, 20)}…(${v.length} chars)`;
      if (Array.isArray(v) && v.length > 8) return [...v.slice(0, 4), `…(${v.length} items)`];
      if (typeof v === 'bigint') return `${v}n`;
      if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
      return v;
    }) ?? String(value);
  } catch (err) {
    s = `<${(err as Error).message}>`;
  }
  return s.length > max ? `${s.slice(0, max)}…` : s;
}
