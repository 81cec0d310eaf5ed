/**
 * A fuzz of every bridge call (issue 5, item 6). A seeded generator (the seed is
 * printed; `FUZZ_SEED=<n>` replays a run) builds at least 1,000 bad argument lists per
 * call from a model of the contract written here, independently of the schema code:
 * wrong types at every position, missing and extra arguments, prototype-pollution keys
 * at the top and nested, thousands of levels of nesting, 10 MiB strings, huge arrays,
 * NaN / ±Infinity / -0 / numbers past 2^53, unicode edge cases, and valid-looking objects
 * with exactly one field wrong (schema errors and the service's own rules).
 *
 * Each list goes through the in-process client; a sample of 200 per call goes as
 * JSON-RPC through the real web host. Every answer must be `ok: false` with exactly the
 * code the model expects (and, where exactly one thing is wrong, the field it names);
 * the store (every table, read straight from the SQLite file) and the prototypes must
 * be unchanged, and no single call may hold the event loop for long.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { CALL_NAMES, calls, type CallName, type ErrorCode, type SluiceApi } from '../../src-main/contract/bridge';
import { OUTCOMES, PRESET_NAMES, PREVIOUS_SECRET_MAX_HOURS, type DeliveryView } from '../../src-main/contract/views';
import { createInProcessClient } from '../../src-main/engine/in-process-client';
import { startWebHost, type WebHost } from '../../src-main/webhost/server';
import { startTestEngine, unwrap, type TestEngine } from '../harness/engine';
import {
  FORBIDDEN_URLS,
  HOSTILE_NUMBERS,
  HOSTILE_STRINGS,
  INVALID_NATS_URLS,
  INVALID_PATTERNS,
  INVALID_URLS,
  createRng,
  deepArray,
  deepJsonText,
  deepObject,
  fuzzSeed,
  hugeString,
  nestedPollution,
  pollutionObjects,
  preview,
  prototypeFingerprint,
  type Rng,
} from '../harness/fuzz';
import { startReceiver, type Receiver } from '../harness/receiver';

const SEED = fuzzSeed();
const PER_CALL = 1_000;
const RPC_PER_CALL = 200;
/**
 * No single bad call may hold the process longer than this (10 MiB arguments included): a
 * bound that catches a hang or a quadratic blow-up, not a speed target (a 10 MiB frame
 * takes ~0.1 s here idle, and over 1 s on a loaded 2-core machine; speed is the bench's).
 */
const MAX_HANDLING_MS = 5_000;
/** Longest the event loop may stall during the whole fuzz. */
const MAX_LOOP_STALL_MS = 1_000;
/** An error message never echoes a huge input back. */
const MAX_MESSAGE_CHARS = 2_500;
/** Per call: argument lists carrying a 10 MiB string or a 200,000-item array. */
const HUGE_PER_CALL = 10;
/** Nesting depths used (shared instances: see deepObject). */
const DEPTHS = [1_000, 2_500, 5_000];

// ----- a model of the contract (docs/design.md#bridge-contract) ---------------------------

type Spec =
  | { t: 'string'; min: number; max: number; trim?: boolean; pattern?: RegExp }
  | { t: 'number'; min: number; max: number; integer?: boolean }
  | { t: 'boolean' }
  | { t: 'literal'; values: readonly string[] }
  | { t: 'array'; item: Spec; max: number }
  | { t: 'object'; fields: Record<string, Field> };

interface Field {
  spec: Spec;
  optional?: boolean;
  nullable?: boolean;
}

interface ArgModel extends Field {
  /** A valid value to start mutating from. */
  valid: () => unknown;
}

interface CallModel {
  args: ArgModel[];
  /** Bad lists the schema accepts, refused by the engine's own rules (or naming nothing). */
  semantic: (() => BadCase)[];
}

interface Expectation {
  code: ErrorCode;
  /** The field the error must name, when exactly one thing is wrong. */
  field?: string;
  message?: RegExp;
}

interface BadCase {
  label: string;
  args: unknown[];
  expect: Expectation;
  /** JSON text of the params, for the web host (numbers and depths JSON.stringify cannot write). */
  rawParams?: string;
  transports?: 'in-process' | 'rpc' | 'both';
}

const str = (min: number, max: number, extra: Partial<Extract<Spec, { t: 'string' }>> = {}): Spec => ({ t: 'string', min, max, ...extra });
const int = (min: number, max: number): Spec => ({ t: 'number', min, max, integer: true });
const bool: Spec = { t: 'boolean' };
const opt = (spec: Spec, nullable = false): Field => ({ spec, optional: true, nullable });
const req = (spec: Spec): Field => ({ spec });

const ID = str(1, 64);
const NAME = str(1, 64, { trim: true });
const URL_SPEC = str(1, 2048, { trim: true });
const SECRET = str(0, 256);
const PRESETS: Spec = { t: 'array', item: { t: 'literal', values: PRESET_NAMES }, max: PRESET_NAMES.length };
const PATTERNS: Spec = { t: 'array', item: str(0, 256), max: 64 };
const SCHEDULE: Spec = { t: 'array', item: { t: 'number', min: 0, max: 86_400 }, max: 20 };
const ISO = str(1, 64);
const SAFE_ID = int(1, Number.MAX_SAFE_INTEGER);
/** contract/schema.ts isoTime: a date-time with its offset (a day not in the calendar: a semantic case). */
const ISO_WITH_OFFSET = str(1, 64, { trim: true, pattern: /^\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d{1,9})?)?(?:Z|[+-]\d\d:\d\d)$/i });
/** contract/bridge.ts: audit.list. */
const AUDIT_QUERY: Record<string, Field> = { since: opt(ISO_WITH_OFFSET), before: opt(SAFE_ID), limit: opt(int(1, 1000)) };
/** contract/bridge.ts: team.create, team.join. */
const TEAM_CREATE: Record<string, Field> = { stream: req(str(1, 255, { trim: true })), bucket: opt(str(0, 64, { trim: true })), keyOut: req(str(1, 4096, { trim: true })) };
const TEAM_JOIN: Record<string, Field> = { stream: TEAM_CREATE['stream']!, bucket: TEAM_CREATE['bucket']!, keyFile: req(str(1, 4096, { trim: true })), mergeLocal: opt(bool) };

const HEADER: Spec = { t: 'object', fields: { name: req(str(1, 128, { trim: true })), value: req(str(0, 8192)) } };
const HEADERS: Spec = { t: 'array', item: HEADER, max: 32 };
const SECRET_HEADER_CHANGES: Spec = {
  t: 'array',
  item: { t: 'object', fields: { name: req(str(1, 128, { trim: true })), value: opt(str(0, 8192)) } },
  max: 32,
};
/** contract/subscription-options.ts */
const DELIVERY_OPTIONS: Record<string, Field> = {
  format: opt({ t: 'literal', values: ['decnet', 'standard-webhooks', 'splunk-hec', 'elasticsearch', 'thehive', 'chat'] }),
  hecIndex: opt(str(0, 256, { trim: true })),
  hecSourcetype: opt(str(0, 256, { trim: true })),
  hecSource: opt(str(0, 256, { trim: true })),
  hecHost: opt(str(0, 256, { trim: true })),
  esIndex: opt(str(0, 255, { trim: true, pattern: /^(?:[a-z0-9][a-z0-9._+-]*)?$/ })),
  thehiveType: opt(str(0, 128, { trim: true })),
  thehiveSource: opt(str(0, 128, { trim: true })),
  thehiveSeverity: opt(int(1, 4), true),
  chatStyle: opt({ t: 'literal', values: ['slack', 'teams'] }),
  batch: opt(int(1, 1000), true),
  batchMs: opt(int(0, 60_000), true),
  filter: opt(str(0, 4096)),
  transform: opt(str(0, 4096)),
  headers: opt(HEADERS),
  caFile: opt(str(0, 4096, { trim: true })),
  clientCert: opt(str(0, 4096, { trim: true })),
  clientKey: opt(str(0, 4096, { trim: true })),
  direct: opt(bool),
  rate: opt({ t: 'number', min: 0.01, max: 100_000 }, true),
  burst: opt(int(1, 100_000), true),
  concurrency: opt(int(1, 64), true),
};

const SUBSCRIPTION_INPUT: Record<string, Field> = {
  name: req(NAME),
  url: req(URL_SPEC),
  secret: opt(SECRET),
  presets: opt(PRESETS),
  patterns: opt(PATTERNS),
  enabled: opt(bool),
  retrySchedule: opt(SCHEDULE, true),
  secretHeaders: opt(HEADERS),
  ...DELIVERY_OPTIONS,
};
const SUBSCRIPTION_PATCH: Record<string, Field> = {
  name: opt(NAME),
  url: opt(URL_SPEC),
  secret: opt(SECRET),
  previousSecretValidHours: opt({ t: 'number', min: 0, max: PREVIOUS_SECRET_MAX_HOURS }),
  presets: opt(PRESETS),
  patterns: opt(PATTERNS),
  enabled: opt(bool),
  retrySchedule: opt(SCHEDULE, true),
  secretHeaders: opt(SECRET_HEADER_CHANGES),
  ...DELIVERY_OPTIONS,
};
const PREVIEW_REQUEST: Record<string, Field> = {
  subscriptionId: opt(ID),
  url: opt(URL_SPEC),
  secret: opt(SECRET),
  presets: opt(PRESETS),
  patterns: opt(PATTERNS),
  secretHeaders: opt(SECRET_HEADER_CHANGES),
  ...DELIVERY_OPTIONS,
  eventId: opt(str(1, 256)),
  eventJson: opt(str(1, 256 * 1024)),
};
const RECENT_EVENTS: Record<string, Field> = {
  presets: opt(PRESETS),
  patterns: opt(PATTERNS),
  limit: opt(int(1, 100)),
};
const DELIVERY_QUERY: Record<string, Field> = {
  subscriptionId: opt(ID),
  outcome: opt({ t: 'literal', values: OUTCOMES }),
  topic: opt(str(1, 256)),
  before: opt(SAFE_ID),
  limit: opt(int(1, 1000)),
  excludeHeld: opt(bool),
};
/** contract/bridge.ts: deliveries.search, deliveries.export (a time with its zone). */
const SEARCH_TIME = str(1, 64, { trim: true, pattern: /^\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d{1,9})?)?(?:Z|[+-]\d\d:\d\d)$/i });
const SEARCH_FIELDS: Record<string, Field> = {
  eventId: opt(str(1, 256, { trim: true })),
  text: opt(str(1, 1024)),
  statusCode: opt(int(100, 599)),
  from: opt(SEARCH_TIME),
  to: opt(SEARCH_TIME),
};
const DELIVERY_SEARCH: Record<string, Field> = { ...SEARCH_FIELDS, limit: opt(int(1, 10_000)) };
const DELIVERY_EXPORT: Record<string, Field> = { ...SEARCH_FIELDS, format: req({ t: 'literal', values: ['csv', 'ndjson'] }) };
const REPLAY_REQUEST: Record<string, Field> = {
  id: opt(SAFE_ID),
  subscriptionId: opt(ID),
  dead: opt(bool),
  since: opt(ISO),
  pattern: opt(str(1, 256)),
  from: opt(ISO),
  to: opt(ISO),
  dryRun: opt(bool),
};
const SETTINGS_PATCH: Record<string, Field> = {
  natsUrl: opt(str(1, 2048, { trim: true })),
  natsUser: opt(str(0, 256)),
  natsPassword: opt(str(0, 1024)),
  natsToken: opt(str(0, 4096)),
  natsCredsFile: opt(str(0, 4096)),
  natsCaFile: opt(str(0, 4096, { trim: true })),
  natsClientCertFile: opt(str(0, 4096, { trim: true })),
  natsClientKeyFile: opt(str(0, 4096, { trim: true })),
  allowPrivate: opt(bool),
  allowedCidrs: opt({ t: 'array', item: str(1, 64), max: 256 }),
  egressProxy: opt(str(0, 2048, { trim: true })),
  noProxy: opt({ t: 'array', item: str(1, 255), max: 256 }),
  circuitThreshold: opt(int(1, 1000)),
  concurrency: opt(int(1, 256)),
  timeoutMs: opt(int(100, 120_000)),
  retrySchedule: opt(SCHEDULE),
  heldMaxCount: opt(int(0, 10_000_000)),
  heldMaxAgeHours: opt(int(1, 24 * 365)),
  retentionDays: opt(int(1, 3650)),
  retentionMaxRows: opt(int(1000, 100_000_000)),
  auditRetentionDays: opt(int(1, 36_500)),
  jetstreamStream: opt(str(0, 256, { pattern: /^[A-Za-z0-9_-]*$/ })),
  jetstreamDurable: opt(str(0, 32, { pattern: /^[A-Za-z0-9_-]*$/ })),
  teamKeyFile: opt(str(0, 4096, { trim: true })),
  teamBucket: opt(str(0, 24, { pattern: /^[A-Za-z0-9_-]*$/ })),
};

/** Mirrors the schema library's `describe`, so a change of the contract shows up here. */
function describeSpec(spec: Spec): string {
  switch (spec.t) {
    case 'string':
      return 'string';
    case 'number':
      return spec.integer ? 'integer' : 'number';
    case 'boolean':
      return 'boolean';
    case 'literal':
      return spec.values.join('|');
    case 'array':
      return `${describeSpec(spec.item)}[]`;
    case 'object':
      return `{${Object.keys(spec.fields).join(',')}}`;
  }
}
const describeField = (f: Field): string => `${describeSpec(f.spec)}${f.nullable ? '|null' : ''}${f.optional ? '?' : ''}`;

// ----- issues: what is wrong with a value, by the model ------------------------------------

type IssueKind = 'type' | 'range' | 'unknown' | 'required' | 'arity';
interface Issue {
  path: string;
  kind: IssueKind;
}

const joinPath = (path: string, key: string | number): string => (typeof key === 'number' ? `${path}[${key}]` : `${path}.${key}`);

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/** Every schema problem of `v` (already copied through JSON, as every transport does). */
function issues(field: Field, v: unknown, path: string): Issue[] {
  if (v === undefined) return field.optional ? [] : [{ path, kind: 'required' }];
  if (v === null) return field.nullable ? [] : [{ path, kind: 'type' }];
  const spec = field.spec;
  switch (spec.t) {
    case 'string': {
      if (typeof v !== 'string') return [{ path, kind: 'type' }];
      // The contract refuses text that is not well-formed (a lone UTF-16 surrogate).
      if (/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(v)) return [{ path, kind: 'range' }];
      const s = spec.trim ? v.trim() : v;
      const ok = s.length >= spec.min && s.length <= spec.max && (!spec.pattern || spec.pattern.test(s));
      return ok ? [] : [{ path, kind: 'range' }];
    }
    case 'number': {
      if (typeof v !== 'number' || !Number.isFinite(v)) return [{ path, kind: 'type' }];
      const ok = (!spec.integer || Number.isInteger(v)) && v >= spec.min && v <= spec.max;
      return ok ? [] : [{ path, kind: 'range' }];
    }
    case 'boolean':
      return typeof v === 'boolean' ? [] : [{ path, kind: 'type' }];
    case 'literal':
      return typeof v === 'string' && spec.values.includes(v) ? [] : [{ path, kind: 'type' }];
    case 'array': {
      if (!Array.isArray(v)) return [{ path, kind: 'type' }];
      if (v.length > spec.max) return [{ path, kind: 'range' }];
      return v.flatMap((item, i) => issues({ spec: spec.item }, item, joinPath(path, i)));
    }
    case 'object': {
      if (!isPlainObject(v)) return [{ path, kind: 'type' }];
      const out: Issue[] = [];
      for (const key of Object.keys(v)) if (!Object.hasOwn(spec.fields, key)) out.push({ path: joinPath(path, key), kind: 'unknown' });
      for (const [key, f] of Object.entries(spec.fields)) {
        out.push(...issues(f, Object.hasOwn(v, key) ? v[key] : undefined, joinPath(path, key)));
      }
      return out;
    }
  }
}

function argIssues(model: CallModel, args: unknown[]): Issue[] {
  if (args.length > model.args.length) return [{ path: '', kind: 'arity' }];
  return model.args.flatMap((arg, k) => issues(arg, args[k], `arg${k}`));
}

/** `arg1.url` → `url`; `arg0` stays `arg0` (as the contract names fields for the form). */
const fieldOf = (path: string): string => path.replace(/^arg\d+\.?/, '') || path;

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** What the engine must answer to a list with schema problems. */
function schemaExpectation(found: Issue[]): Expectation {
  if (found.length !== 1) return { code: 'invalid_argument' };
  const [issue] = found as [Issue];
  const key = issue.path.slice(issue.path.lastIndexOf('.') + 1);
  const message: Record<IssueKind, RegExp | undefined> = {
    arity: /expects at most \d+ argument/,
    required: /is required/,
    unknown: FORBIDDEN_KEYS.has(key) ? /is not an allowed key/ : /is not a known field/,
    type: undefined,
    range: undefined,
  };
  const m = message[issue.kind];
  return {
    code: 'invalid_argument',
    ...(issue.kind === 'arity' ? {} : { field: fieldOf(issue.path) }),
    ...(m ? { message: m } : {}),
  };
}

// ----- values ----------------------------------------------------------------------------

/** JSON as the transports carry it: what the engine sees. Throws where JSON cannot carry it. */
const overTheWire = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

function hostileKeys(): string[] {
  return ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '__defineGetter__', 'valueOf', 'Name', 'name ', 'nаme', 'URL', 'id\u0000', '\u202eurl', '0', 'length', 'then', '$where', 'a.b', 'x'.repeat(300)];
}

/** Sets an own, enumerable data property, even for `__proto__`. */
function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

class Values {
  constructor(readonly rng: Rng) {}

  /** Anything at all, mostly the wrong thing somewhere. */
  any(depthBudget = 2): unknown {
    const r = this.rng;
    switch (r.int(0, 13)) {
      case 0:
        return r.pick(HOSTILE_NUMBERS);
      case 1:
        return r.pick(HOSTILE_STRINGS);
      case 2:
        return r.pick([null, true, false, '', ' ', '\t\n', '0', 'true', 'null', '[]', '{}', 'undefined', 'NaN']);
      case 3:
        return this.longString(r.int(65, 5000));
      case 4:
        return this.longString(r.int(257, 20_000));
      case 5:
        return r.pick(pollutionObjects());
      case 6:
        return nestedPollution(r.pick(['name', 'url', 'patterns', 'a', 'payload']));
      case 7:
        return r.chance(0.5) ? deepObject(r.pick(DEPTHS)) : deepArray(r.pick(DEPTHS));
      case 8:
        return this.hugeArray();
      case 9:
        return depthBudget > 0 ? [this.any(depthBudget - 1), this.any(depthBudget - 1)] : [];
      case 10:
        return depthBudget > 0 ? { [r.pick(hostileKeys())]: this.any(depthBudget - 1) } : {};
      case 11:
        return r.pick([[], {}, [null], [''], [[]], [{}], { length: 1, 0: 'a.b' }]);
      case 12:
        return r.pick([1, -1, 0, 2, 1000, 1001, 86_401, 1.5, -0.0001]);
      default:
        return `${r.pick(HOSTILE_STRINGS)}${r.pick(HOSTILE_STRINGS)}`;
    }
  }

  longString(length: number): string {
    const unit = this.rng.pick(['x', 'é', '😀', '\u0000', '<', '\ud800', 'a.b.', '\u202e']);
    return unit.repeat(Math.ceil(length / unit.length)).slice(0, length);
  }

  hugeArray(): unknown[] {
    return new Array<unknown>(this.rng.int(65, 5000)).fill(this.rng.pick(['a.b', 0, 'AttackerDetail', null]));
  }

  /** A value the model says breaks `spec`, often by a little. */
  badFor(spec: Spec): unknown {
    const r = this.rng;
    if (r.chance(0.35)) return this.any();
    switch (spec.t) {
      case 'string':
        return r.pick([
          spec.min > 0 ? '' : 5,
          spec.trim && spec.min > 0 ? r.pick([' ', '\t\n', '\u00a0\u2028\ufeff']) : [],
          this.longString(spec.max + r.int(1, 3)),
          r.pick(HOSTILE_NUMBERS),
          r.pick([true, false, null]),
          [r.pick(HOSTILE_STRINGS)],
          spec.pattern ? r.pick(['a.b', 'a b', '>', '*', 'ü', 'a\u0000', '../x', '$JS']) : { s: 'x' },
        ]);
      case 'number':
        return r.pick([
          spec.min - r.pick([1, 0.5, 1e-9, 1e6]),
          spec.max + r.pick([1, 0.5, 1e6]),
          spec.integer ? spec.min + 0.5 : Number.NaN,
          spec.min > 0 ? -0 : Number.NEGATIVE_INFINITY,
          r.pick(HOSTILE_NUMBERS),
          String(spec.min),
          r.pick([true, false, null, [], {}, [spec.min]]),
        ]);
      case 'boolean':
        return r.pick([0, 1, 'true', 'false', '', null, [], {}, [true], Number.NaN]);
      case 'literal':
        return r.pick([
          ...spec.values.map((v) => v.toUpperCase()),
          ...spec.values.map((v) => `${v} `),
          ...spec.values.map((v) => v.toLowerCase()),
          '',
          '__proto__',
          'toString',
          0,
          null,
          [r.pick(spec.values)],
        ]);
      case 'array':
        return r.pick([this.badArrayItem(spec), this.badArrayItem(spec), new Array<unknown>(spec.max + r.int(1, 5)).fill(this.validItem(spec.item)), 'a.b', { 0: 'a.b' }, r.pick(HOSTILE_NUMBERS)]);
      case 'object':
        return r.pick(['x', 0, true, [], [{}], Number.NaN]);
    }
  }

  validItem(spec: Spec): unknown {
    switch (spec.t) {
      case 'literal':
        return this.rng.pick(spec.values);
      case 'number':
        return spec.min;
      case 'string':
        return 'a.b';
      default:
        return null;
    }
  }

  badArrayItem(spec: Extract<Spec, { t: 'array' }>): unknown[] {
    const n = this.rng.int(1, Math.min(spec.max, 6));
    const items = Array.from({ length: n }, () => this.validItem(spec.item));
    items[this.rng.int(0, n - 1)] = this.badFor(spec.item);
    return items;
  }
}

// ----- fixtures and the per-call model ------------------------------------------------------

interface Fixtures {
  receiverUrl: string;
  a: { id: string; name: string };
  paused: { id: string; name: string };
  testDelivery: number;
  rejectedDelivery: number;
}

const VALID_PATTERNS = ['fuzz.>', 'attacker.*', 'decky.*.state', 'a.b.c', '>', 'x-y_z.*.>'];

/** Well-formed ids (1–64 characters) that name nothing. */
function unknownId(rng: Rng, fx: Fixtures): string {
  const candidates = [
    '00000000-0000-0000-0000-000000000000',
    fx.a.id.toUpperCase(),
    `${fx.a.id} `,
    ` ${fx.a.id}`,
    `${fx.a.id}\u0000`,
    fx.a.id.slice(0, -1),
    fx.a.name,
    '%',
    '_',
    '*',
    "' OR '1'='1",
    '../../etc/passwd',
    ...HOSTILE_STRINGS,
    rng.pick(HOSTILE_STRINGS).repeat(3),
    'x'.repeat(64),
    '😀'.repeat(32),
  ];
  const id = rng.pick(candidates).slice(0, 64);
  const wellFormed = !/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(id);
  return id === fx.a.id || id === fx.paused.id || id.length === 0 || !wellFormed ? 'no-such-id' : id;
}

function buildModels(rng: Rng, fx: Fixtures): Record<CallName, CallModel> {
  let serial = 0;
  const uniqueName = (): string => `fuzz-${++serial}-${rng.pick(['é', '😀', 'x', '<b>', '_'])}`;
  const validPatterns = (): string[] => rng.shuffle(VALID_PATTERNS).slice(0, rng.int(1, 3));
  const validSecret = (): string => 's'.repeat(rng.int(16, 64));
  const iso = (ms: number): string => new Date(ms).toISOString();
  const validInput = (): Record<string, unknown> => {
    const input: Record<string, unknown> = { name: uniqueName(), url: fx.receiverUrl, patterns: validPatterns() };
    if (rng.chance(0.3)) input['secret'] = validSecret();
    if (rng.chance(0.3)) input['presets'] = rng.shuffle(PRESET_NAMES).slice(0, rng.int(0, PRESET_NAMES.length));
    if (rng.chance(0.3)) input['enabled'] = rng.chance(0.5);
    if (rng.chance(0.3)) input['retrySchedule'] = rng.chance(0.5) ? null : [0, 1.5, 60];
    return input;
  };
  const validPatch = (): Record<string, unknown> => {
    const patch: Record<string, unknown> = {};
    if (rng.chance(0.4)) patch['name'] = uniqueName();
    if (rng.chance(0.3)) patch['patterns'] = validPatterns();
    if (rng.chance(0.3)) patch['url'] = fx.receiverUrl;
    if (rng.chance(0.3)) patch['enabled'] = true;
    if (rng.chance(0.2)) patch['retrySchedule'] = [1, 2];
    return patch;
  };
  const bad = (label: string, args: unknown[], expect: Expectation): BadCase => ({ label, args, expect });

  /** One field of an otherwise valid subscription input (create) or patch (update) is refused by the service. */
  const subscriptionRules = (make: (field: string, value: unknown) => unknown[], duplicateOf: string): (() => BadCase)[] => [
    () => {
      const name = rng.pick(['a\u0000b', '\u0001x', 'x\u001fy', 'del\u007f', 'tab\there', 'new\nline', 'cr\rhere']);
      return bad('name with a control character', make('name', name), { code: 'invalid_argument', field: 'name', message: /control characters/ });
    },
    () => {
      const name = `${rng.pick(['', ' ', '\t', '\u00a0'])}${duplicateOf}${rng.pick(['', ' ', '\n'])}`;
      return bad('name already taken', make('name', name), { code: 'conflict', field: 'name', message: /already exists/ });
    },
    () => {
      const [pattern, why] = rng.pick(INVALID_PATTERNS);
      const before = validPatterns().slice(0, rng.int(0, 2));
      const patterns = [...before, pattern, ...validPatterns().slice(0, rng.int(0, 2))];
      return bad(`invalid pattern ${JSON.stringify(pattern)}`, make('patterns', patterns), {
        code: 'invalid_argument',
        field: `patterns[${before.length}]`,
        message: new RegExp(`${escapeRegExp(pattern.trim())}[\\s\\S]*${why.source}|${why.source}[\\s\\S]*${escapeRegExp(pattern.trim())}`),
      });
    },
    () => {
      const patterns = rng.pick([[], [''], ['  ', '\t'], ['\u00a0']]);
      return bad('no pattern and no preset', make('patterns', patterns), { code: 'invalid_argument', field: 'patterns', message: /at least one/ });
    },
    () => {
      const secret = rng.pick(['short', 'x'.repeat(15), '😀'.repeat(7), ' short ']);
      return bad('secret shorter than 16', make('secret', secret), { code: 'invalid_argument', field: 'secret', message: /16–256/ });
    },
    () => {
      const secret = `${'k'.repeat(rng.int(8, 40))}${rng.pick(['\u0000', '\n', '\u001b', '\u007f'])}${'k'.repeat(8)}`;
      return bad('secret with a control character', make('secret', secret), { code: 'invalid_argument', field: 'secret', message: /control characters/ });
    },
    () => {
      const [url, why] = rng.pick(INVALID_URLS);
      return bad(`invalid URL ${JSON.stringify(url)}`, make('url', url), { code: 'invalid_argument', field: 'url', message: why });
    },
    () => {
      const [url, why] = rng.pick(FORBIDDEN_URLS);
      return bad(`forbidden URL ${url}`, make('url', url), { code: 'forbidden_destination', field: 'url', message: why });
    },
  ];

  const createRules = subscriptionRules((field, value) => {
    const input = validInput();
    input[field] = value;
    if (field === 'patterns') delete input['presets'];
    if (field === 'secret' && typeof value === 'string') input['secret'] = value;
    return [input];
  }, fx.a.name);

  const updateRules = subscriptionRules((field, value) => {
    const patch: Record<string, unknown> = {};
    if (rng.chance(0.5)) patch['enabled'] = true;
    patch[field] = value;
    if (field === 'patterns') patch['presets'] = [];
    return [fx.a.id, patch];
  }, fx.paused.name);

  const replayWindow = (): { from: string; to: string } => ({ from: iso(Date.now() - 3_600_000), to: iso(Date.now() + 3_600_000) });

  return {
    'subscriptions.list': { args: [], semantic: [] },
    'status.get': { args: [], semantic: [] },
    'team.status': { args: [], semantic: [] },
    // Valid starting points that are refused before the bus: a key file in no folder (create), none (join).
    'team.create': {
      args: [{ spec: { t: 'object', fields: TEAM_CREATE }, valid: () => ({ stream: 'DECNET', bucket: 'sluice-team', keyOut: '/nonexistent-sluice-folder/team.key' }) }],
      semantic: [
        () => bad('a key file path that is not absolute', [{ stream: 'DECNET', keyOut: 'team.key' }], { code: 'invalid_argument', field: 'keyOut', message: /absolute/ }),
        () => bad('a key file in a folder that is not there', [{ stream: 'DECNET', keyOut: '/nonexistent-sluice-folder/team.key' }], { code: 'invalid_argument', field: 'keyOut', message: /no folder/ }),
        () => bad('a stream name with a dot', [{ stream: 'DEC.NET', keyOut: '/tmp/x.key' }], { code: 'invalid_argument', field: 'stream' }),
        () => bad('a bucket name with a space', [{ stream: 'DECNET', bucket: 'my team', keyOut: '/tmp/x.key' }], { code: 'invalid_argument', field: 'bucket' }),
      ],
    },
    'team.join': {
      args: [{ spec: { t: 'object', fields: TEAM_JOIN }, valid: () => ({ stream: 'DECNET', bucket: 'sluice-team', keyFile: '/nonexistent-sluice-folder/team.key', mergeLocal: false }) }],
      semantic: [
        () => bad('a key file that is not there', [{ stream: 'DECNET', keyFile: '/nonexistent-sluice-folder/team.key' }], { code: 'invalid_argument', field: 'keyFile' }),
        () => bad('a key file path that is not absolute', [{ stream: 'DECNET', keyFile: 'team.key' }], { code: 'invalid_argument', field: 'keyFile', message: /absolute/ }),
      ],
    },
    'team.leave': { args: [], semantic: [() => bad('leave, alone', [], { code: 'conflict', message: /not a member/ })] },
    'audit.list': {
      args: [{ spec: { t: 'object', fields: AUDIT_QUERY }, optional: true, valid: () => ({ since: iso(Date.now() - 3_600_000), limit: 10 }) }],
      semantic: [
        () =>
          bad('a since that is no time', [{ since: rng.pick(['2026-02-30T10:00:00Z', '2025-02-29T00:00:00+01:00', '2026-13-01T00:00:00Z', '2026-01-01T25:00:00Z', '2026-12-06T10:00:00', '2026-12-06', 'yesterday']) }], {
            code: 'invalid_argument',
            field: 'since',
            message: /must be an ISO-8601 time with its offset/,
          }),
      ],
    },
    'audit.verify': { args: [], semantic: [] },
    'subscriptions.health': { args: [], semantic: [] },
    'settings.get': { args: [], semantic: [] },
    'subscriptions.create': {
      args: [{ spec: { t: 'object', fields: SUBSCRIPTION_INPUT }, valid: validInput }],
      semantic: createRules,
    },
    'subscriptions.update': {
      args: [
        { spec: ID, valid: () => fx.a.id },
        { spec: { t: 'object', fields: SUBSCRIPTION_PATCH }, valid: validPatch },
      ],
      semantic: [
        ...updateRules,
        () =>
          bad('keeping the previous secret without a new one', [fx.a.id, { previousSecretValidHours: rng.pick([0.5, 1, 24, PREVIOUS_SECRET_MAX_HOURS]) }], {
            code: 'invalid_argument',
            field: 'previousSecretValidHours',
          }),
        () => {
          // Schema-valid, even when the service would refuse it: the unknown id answers first.
          const patch = rng.chance(0.5) ? validPatch() : { name: 'x\u0000', url: 'ftp://x', patterns: ['a..b'] };
          return bad('update of an id that names nothing', [unknownId(rng, fx), patch], { code: 'not_found' });
        },
      ],
    },
    'subscriptions.remove': {
      args: [{ spec: ID, valid: () => fx.a.id }],
      semantic: [() => bad('remove of an id that names nothing', [unknownId(rng, fx)], { code: 'not_found' })],
    },
    'subscriptions.setEnabled': {
      args: [
        { spec: ID, valid: () => fx.a.id },
        { spec: bool, valid: () => rng.chance(0.5) },
        { spec: { t: 'literal', values: ['deliver', 'discard'] }, optional: true, valid: () => rng.pick(['deliver', 'discard']) },
      ],
      semantic: [
        () => {
          const args: unknown[] = [unknownId(rng, fx), rng.chance(0.5)];
          if (rng.chance(0.5)) args.push(rng.pick(['deliver', 'discard']));
          return bad('setEnabled of an id that names nothing', args, { code: 'not_found' });
        },
      ],
    },
    'subscriptions.preview': {
      args: [{ spec: { t: 'object', fields: PREVIEW_REQUEST }, valid: () => ({ subscriptionId: fx.a.id, format: 'splunk-hec' }) }],
      semantic: [() => bad('preview of an id that names nothing', [{ subscriptionId: unknownId(rng, fx) }], { code: 'not_found' })],
    },
    'events.recent': {
      args: [{ spec: { t: 'object', fields: RECENT_EVENTS }, valid: () => ({ patterns: ['fixture.>'], limit: 5 }) }],
      semantic: [],
    },
    'subscriptions.testFire': {
      args: [{ spec: ID, valid: () => fx.a.id }],
      semantic: [() => bad('test fire of an id that names nothing', [unknownId(rng, fx)], { code: 'not_found' })],
    },
    'deliveries.list': {
      args: [
        {
          spec: { t: 'object', fields: DELIVERY_QUERY },
          optional: true,
          valid: () => ({ subscriptionId: fx.a.id, outcome: rng.pick(OUTCOMES), topic: 'fixture.>', limit: 10 }),
        },
      ],
      semantic: [],
    },
    'deliveries.search': {
      args: [{ spec: { t: 'object', fields: DELIVERY_SEARCH }, valid: () => ({ text: '203.0.113.7', statusCode: 200, from: iso(0), to: iso(Date.now()), limit: 50 }) }],
      semantic: [
        () => bad('nothing to find', [rng.pick([{}, { limit: 10 }])], { code: 'invalid_argument', message: /say what to find/ }),
        () => bad('a window backwards', [{ from: iso(Date.now()), to: iso(Date.now() - 60_000) }], { code: 'invalid_argument', field: 'from', message: /after/ }),
        () => {
          const field = rng.pick(['from', 'to']);
          const day = rng.pick(['2026-02-30T10:00:00Z', '2025-02-29T00:00Z', '2026-04-31T23:59:59+02:00']);
          return bad('a day that is not there', [{ [field]: day }], { code: 'invalid_argument', field, message: /ISO-8601 time with its offset/ });
        },
      ],
    },
    'deliveries.export': {
      args: [{ spec: { t: 'object', fields: DELIVERY_EXPORT }, valid: () => ({ format: rng.pick(['csv', 'ndjson']), eventId: 'evt-1', to: iso(Date.now()) }) }],
      semantic: [
        () => bad('a window backwards', [{ format: 'csv', from: iso(Date.now()), to: iso(Date.now() - 60_000) }], { code: 'invalid_argument', field: 'from', message: /after/ }),
        () => bad('a day that is not there', [{ format: 'ndjson', from: '2026-02-30T10:00:00Z' }], { code: 'invalid_argument', field: 'from', message: /ISO-8601 time with its offset/ }),
        // A file is the desktop app's (its save dialog); a browser downloads GET /export.
        () => bad('an export to a file, outside the desktop app', [{ format: rng.pick(['csv', 'ndjson']), text: 'x' }], { code: 'unavailable', message: /desktop app/ }),
      ],
    },
    'deliveries.get': {
      args: [{ spec: SAFE_ID, valid: () => fx.testDelivery }],
      semantic: [() => bad('a delivery id that names nothing', [rng.pick([1_000_000 + rng.int(0, 1e6), Number.MAX_SAFE_INTEGER, 2 ** 40])], { code: 'not_found' })],
    },
    'deliveries.replay': {
      args: [{ spec: { t: 'object', fields: REPLAY_REQUEST }, valid: () => ({ subscriptionId: fx.a.id, dead: true }) }],
      semantic: [
        () => bad('nothing to replay', [rng.pick([{}, { dryRun: true }, { dead: false }, { subscriptionId: fx.a.id }, { since: iso(0) }, { from: iso(0), to: iso(1) }])], { code: 'invalid_argument', message: /say what to replay/ }),
        () => bad('one delivery and a selection', [{ id: rng.pick([fx.testDelivery, 999_999]), ...rng.pick([{ dead: true }, { pattern: 'a.>' }]) }], { code: 'invalid_argument', message: /not both/ }),
        () => bad('a rejected message', [{ id: fx.rejectedDelivery, ...(rng.chance(0.5) ? { dryRun: true } : {}) }], { code: 'invalid_argument', message: /rejected message/ }),
        () => bad('a delivery id that names nothing', [{ id: 1_000_000 + rng.int(0, 1e6) }], { code: 'not_found' }),
        () => bad('dead letters of an unknown subscription', [{ subscriptionId: unknownId(rng, fx), dead: true }], { code: 'not_found', field: 'subscriptionId' }),
        () => bad('dead letters of a paused subscription', [{ subscriptionId: fx.paused.id, dead: true }], { code: 'conflict', field: 'subscriptionId', message: /paused/ }),
        () =>
          bad('a since that is no time', [{ subscriptionId: fx.a.id, dead: true, since: rng.pick(['yesterday', 'not a time', '2026-13-45T99:99:99Z', '<script>', '\u0000', 'NaN']) }], {
            code: 'invalid_argument',
            field: 'since',
            message: /not an ISO-8601 time/,
          }),
        () => {
          const [pattern] = rng.pick(INVALID_PATTERNS);
          return bad('replay by an invalid pattern', [{ subscriptionId: fx.a.id, pattern, ...replayWindow() }], { code: 'invalid_argument', field: 'pattern', message: /invalid topic pattern/ });
        },
        () => bad('replay by pattern without a subscription', [{ pattern: rng.pick(VALID_PATTERNS), ...replayWindow() }], { code: 'invalid_argument', field: 'subscriptionId', message: /required/ }),
        () => bad('replay by pattern to an unknown subscription', [{ subscriptionId: unknownId(rng, fx), pattern: 'a.>', ...replayWindow() }], { code: 'not_found', field: 'subscriptionId' }),
        () => bad('replay by pattern to a paused subscription', [{ subscriptionId: fx.paused.id, pattern: 'a.>', ...replayWindow() }], { code: 'conflict', field: 'subscriptionId' }),
        () => bad('replay by pattern without a window', [{ subscriptionId: fx.a.id, pattern: 'a.>', ...(rng.chance(0.5) ? { to: iso(0) } : {}) }], { code: 'invalid_argument', field: 'from' }),
        () => bad('replay by pattern, window backwards', [{ subscriptionId: fx.a.id, pattern: 'a.>', from: iso(Date.now()), to: iso(Date.now() - 60_000) }], { code: 'invalid_argument', field: 'from', message: /after/ }),
      ],
    },
    'settings.update': {
      args: [{ spec: { t: 'object', fields: SETTINGS_PATCH }, valid: () => ({ concurrency: 5, timeoutMs: 3000, natsUser: '', allowPrivate: true }) }],
      semantic: [
        () => {
          const [natsUrl, why] = rng.pick(INVALID_NATS_URLS);
          return bad(`bus URL ${JSON.stringify(natsUrl)}`, [{ natsUrl }], { code: 'invalid_argument', field: 'natsUrl', message: why });
        },
        () => {
          const cidr = rng.pick(['not-a-cidr', '10.0.0.0/33', '::1/129', ' 10.0.0.0/8', '10.0.0.0/8 ', '999.0.0.0/8', '10.0.0.0/-1', '10.0.0.0/']);
          return bad(`allowedCidrs ${JSON.stringify(cidr)}`, [{ allowedCidrs: ['192.168.0.0/16', cidr] }], { code: 'invalid_argument', field: 'allowedCidrs', message: /entry 2/ });
        },
        () => {
          const [natsCaFile, why] = rng.pick<[string, RegExp]>([
            [`/nonexistent-${rng.int(0, 1e6)}/bus-ca.pem`, /does not exist/],
            ['bus-ca.pem', /absolute path/],
            ['/', /not a regular file/],
            ['/dev/null', /not a regular file/],
          ]);
          return bad(`bus CA file ${JSON.stringify(natsCaFile)}`, [{ natsCaFile }], { code: 'invalid_argument', field: 'natsCaFile', message: why });
        },
        () => {
          const field = rng.pick(['natsClientCertFile', 'natsClientKeyFile'] as const);
          const [path, why] = rng.pick<[string, RegExp]>([
            [`/nonexistent-${rng.int(0, 1e6)}/client.pem`, /does not exist/],
            ['client.pem', /absolute path/],
            ['/dev/null', /not a regular file/],
          ]);
          return bad(`${field} ${JSON.stringify(path)}`, [{ [field]: path }], { code: 'invalid_argument', field, message: why });
        },
        () => {
          const [egressProxy, why] = rng.pick<[string, RegExp]>([
            ['proxy.example:3128', /is not a URL: use http:\/\/host:port/],
            ['https://proxy.example:3128', /https:\/\/ proxies are not supported/],
            ['socks5://127.0.0.1:1080', /socks5:\/\/ proxies are not supported/],
            ['http://user:pw@proxy.example:3128', /credentials/],
            ['http://proxy.example:3128/path', /without a path/],
            ['not a url', /is not a URL/],
          ]);
          return bad(`egressProxy ${JSON.stringify(egressProxy)}`, [{ egressProxy }], { code: 'invalid_argument', field: 'egressProxy', message: why });
        },
        () => {
          const entry = rng.pick(['example.com:443', '10.0.0.1/8', 'under_score!', '-bad.example', '999.1.1.1/8']);
          return bad(`noProxy ${JSON.stringify(entry)}`, [{ noProxy: ['example.com', entry] }], { code: 'invalid_argument', field: 'noProxy', message: /entry 2/ });
        },
      ],
    },
  };
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

// ----- the generator -------------------------------------------------------------------------

/** In-process only: argument lists JSON cannot carry (the client refuses them before dispatch). */
function unsendable(rng: Rng): unknown {
  const cyclic: Record<string, unknown> = { name: 'cyclic' };
  cyclic['self'] = cyclic;
  const throwingGetter = {};
  Object.defineProperty(throwingGetter, 'name', { enumerable: true, get: () => { throw new Error('getter'); } });
  return rng.pick<() => unknown>([
    () => 10n ** 30n,
    () => cyclic,
    () => ({ toJSON: () => { throw new Error('toJSON'); } }),
    () => throwingGetter,
    () => new Proxy({}, { ownKeys: () => { throw new Error('ownKeys'); } }),
    () => deepObject(200_000),
    () => [deepArray(200_000)],
  ])();
}

const HUGE_ARRAY: readonly string[] = new Array<string>(200_000).fill('a.b');

function generate(rng: Rng, name: CallName, model: CallModel, count: number): BadCase[] {
  const values = new Values(rng);
  const out: BadCase[] = [];
  const validArgs = (): unknown[] => model.args.map((a) => a.valid());
  const objectArgs = model.args.map((a, k) => (a.spec.t === 'object' ? k : -1)).filter((k) => k >= 0);

  const mutate = (args: unknown[]): string => {
    const kinds = ['replaceArg', 'extraArgs', 'dropArgs'];
    if (objectArgs.length > 0) kinds.push('fieldValue', 'fieldValue', 'fieldValue', 'fieldDelete', 'fieldExtra', 'pollution', 'pollution');
    const kind = model.args.length === 0 ? 'extraArgs' : rng.pick(kinds);
    const k = rng.int(0, Math.max(model.args.length - 1, 0));
    switch (kind) {
      case 'replaceArg':
        args[k] = rng.chance(0.5) ? values.badFor(model.args[k]!.spec) : values.any();
        return `arg${k} replaced`;
      case 'extraArgs': {
        while (args.length < model.args.length) args.push(model.args[args.length]!.valid());
        const n = rng.int(1, 3);
        for (let i = 0; i < n; i++) args.push(values.any());
        return `${n} extra argument(s)`;
      }
      case 'dropArgs':
        args.length = rng.int(0, Math.max(0, model.args.length - 1));
        return `only ${args.length} argument(s)`;
      default: {
        const o = rng.pick(objectArgs);
        const spec = model.args[o]!.spec as Extract<Spec, { t: 'object' }>;
        const target: Record<string, unknown> = isPlainObject(args[o]) ? { ...(args[o] as Record<string, unknown>) } : {};
        args[o] = target;
        const field = rng.pick(Object.keys(spec.fields));
        if (kind === 'fieldValue') {
          target[field] = values.badFor(spec.fields[field]!.spec);
          return `${field} wrong`;
        }
        if (kind === 'fieldDelete') {
          delete target[field];
          return `${field} left out`;
        }
        if (kind === 'fieldExtra') {
          const key = rng.pick(hostileKeys());
          setOwn(target, key, values.any(1));
          return `extra key ${JSON.stringify(key.slice(0, 20))}`;
        }
        // Pollution at the top of the object or nested below a known field.
        if (rng.chance(0.5)) {
          const key = rng.pick(['__proto__', 'constructor', 'prototype']);
          setOwn(target, key, rng.pick(pollutionObjects()));
          return `own ${key} key`;
        }
        target[field] = rng.pick([...pollutionObjects(), nestedPollution('x'), [nestedPollution('y')]]);
        return `pollution below ${field}`;
      }
    }
  };

  // A fixed number of 10 MiB strings and 200,000-item arrays, at every kind of place.
  for (let i = 0; i < HUGE_PER_CALL && out.length < count; i++) {
    const args = validArgs();
    const huge = i % 2 === 0 ? hugeString() : HUGE_ARRAY;
    let where: string;
    if (model.args.length === 0 || rng.chance(0.25)) {
      while (args.length < model.args.length) args.push(model.args[args.length]!.valid());
      args.push(huge);
      where = 'an extra argument';
    } else if (objectArgs.length > 0 && rng.chance(0.7)) {
      const o = rng.pick(objectArgs);
      const spec = model.args[o]!.spec as Extract<Spec, { t: 'object' }>;
      const field = rng.pick(Object.keys(spec.fields));
      args[o] = { ...(args[o] as Record<string, unknown>), [field]: huge };
      where = field;
    } else {
      const k = rng.int(0, model.args.length - 1);
      args[k] = huge;
      where = `arg${k}`;
    }
    // Plain strings and arrays of strings: JSON carries them unchanged, no need to copy 10 MiB to check.
    const found = argIssues(model, args);
    if (found.length > 0) out.push({ label: `${typeof huge === 'string' ? '10 MiB string' : '200,000-item array'} as ${where}`, args, expect: schemaExpectation(found) });
  }

  let attempts = 0;
  while (out.length < count) {
    if (++attempts > count * 50) throw new Error(`${name}: the generator cannot find bad cases (seed ${rng.seed})`);
    const roll = rng.next();
    if (model.semantic.length > 0 && roll < 0.25) {
      out.push(rng.pick(model.semantic)());
      continue;
    }
    if (roll > 0.97) {
      const args = validArgs();
      args[rng.int(0, Math.max(args.length - 1, 0))] = unsendable(rng);
      out.push({ label: 'arguments JSON cannot carry', args, expect: { code: 'invalid_argument', message: /cannot be sent/ }, transports: 'in-process' });
      continue;
    }
    const args = validArgs();
    const labels = [mutate(args)];
    if (rng.chance(0.2)) labels.push(mutate(args));
    let wire: unknown[];
    try {
      wire = overTheWire(args);
    } catch {
      continue;
    }
    const found = argIssues(model, wire);
    if (found.length === 0) continue; // The mutation happened to leave a valid list.
    out.push({ label: labels.join(' + '), args, expect: schemaExpectation(found) });
  }
  return out;
}

/** Web host only: params as raw JSON text (numbers JSON.stringify cannot write, absurd depth). */
function rawCases(rng: Rng, name: CallName, model: CallModel): BadCase[] {
  const out: BadCase[] = [];
  const numbers = ['1e400', '-1e400', '1e309', '123456789012345678901234567890', '-0', '0.1e-400', '9007199254740993', '1.0000000000000002'];
  model.args.forEach((arg, k) => {
    const params = model.args.map((a) => JSON.stringify(a.valid()));
    const deep = [...params];
    deep[k] = deepJsonText(100_000, rng.pick(['object', 'array']));
    out.push({ label: `arg${k} nested 100,000 levels (raw JSON)`, args: [], rawParams: `[${deep.join(',')}]`, expect: { code: 'invalid_argument' }, transports: 'rpc' });
    if (arg.spec.t === 'number') {
      for (const literal of numbers) {
        const withNumber = [...params];
        withNumber[k] = literal;
        const parsed = JSON.parse(`[${withNumber.join(',')}]`) as unknown[];
        const found = argIssues(model, parsed);
        if (found.length > 0) out.push({ label: `arg${k} = ${literal} (raw JSON)`, args: [], rawParams: `[${withNumber.join(',')}]`, expect: schemaExpectation(found), transports: 'rpc' });
      }
    }
    if (arg.spec.t === 'object') {
      const fields = (arg.spec as Extract<Spec, { t: 'object' }>).fields;
      for (const [field, f] of Object.entries(fields)) {
        if (f.spec.t !== 'number' && !(f.spec.t === 'array' && f.spec.item.t === 'number')) continue;
        for (const literal of numbers) {
          const value = f.spec.t === 'number' ? literal : `[${literal}]`;
          const text = `{${JSON.stringify(field)}:${value}}`;
          const withNumber = [...params];
          withNumber[k] = text;
          const parsed = JSON.parse(`[${withNumber.join(',')}]`) as unknown[];
          const found = argIssues(model, parsed);
          if (found.length > 0) out.push({ label: `${field} = ${literal} (raw JSON)`, args: [], rawParams: `[${withNumber.join(',')}]`, expect: schemaExpectation(found), transports: 'rpc' });
        }
      }
      // A duplicate key: JSON.parse keeps the last one, which is the wrong one.
      const dupField = rng.pick(Object.keys(fields));
      const dup = [...params];
      dup[k] = `{${JSON.stringify(dupField)}:${JSON.stringify((arg.valid() as Record<string, unknown>)[dupField] ?? 'x')},${JSON.stringify(dupField)}:{"__proto__":{"polluted":"yes"}}}`;
      const parsed = JSON.parse(`[${dup.join(',')}]`) as unknown[];
      const found = argIssues(model, parsed);
      if (found.length > 0) out.push({ label: `duplicate key ${dupField} (raw JSON)`, args: [], rawParams: `[${dup.join(',')}]`, expect: schemaExpectation(found), transports: 'rpc' });
      const proto = [...params];
      proto[k] = `{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}}}`;
      out.push({ label: '__proto__ written in the JSON text', args: [], rawParams: `[${proto.join(',')}]`, expect: { code: 'invalid_argument' }, transports: 'rpc' });
    }
  });
  if (model.args.length === 0) out.push({ label: 'an argument to a call that takes none (raw JSON)', args: [], rawParams: `[${deepJsonText(100_000)}]`, expect: { code: 'invalid_argument', message: /expects at most 0 arguments/ }, transports: 'rpc' });
  return out;
}

// ----- checking answers ----------------------------------------------------------------------

interface Answer {
  ok?: unknown;
  value?: unknown;
  error?: { code?: unknown; message?: unknown; field?: unknown };
}

function mismatch(answer: Answer, expect: Expectation): string | null {
  if (answer.ok !== false) return `answered ok: ${preview(answer.value ?? answer, 200)}`;
  const error = answer.error ?? {};
  const extra = Object.keys(answer).filter((k) => k !== 'ok' && k !== 'error');
  if (extra.length > 0) return `unexpected keys ${extra.join(',')}`;
  const errorKeys = Object.keys(error).filter((k) => !['code', 'message', 'field'].includes(k));
  if (errorKeys.length > 0) return `unexpected error keys ${errorKeys.join(',')}`;
  if (error.code !== expect.code) return `code ${String(error.code)} (${preview(error.message, 200)}), expected ${expect.code}`;
  if (typeof error.message !== 'string' || error.message.length === 0) return 'no message';
  if (error.message.length > MAX_MESSAGE_CHARS) return `message of ${error.message.length} characters`;
  if (expect.field !== undefined && error.field !== expect.field)
    return `field ${preview(error.field)} (${preview(error.message, 200)}), expected ${JSON.stringify(expect.field)}`;
  if (expect.message && !expect.message.test(error.message)) return `message ${preview(error.message, 300)} does not match ${expect.message}`;
  return null;
}

interface Stats {
  cases: number;
  codes: Record<string, number>;
  maxMs: number;
  slowest: string;
  times: number[];
}

const newStats = (): Stats => ({ cases: 0, codes: {}, maxMs: 0, slowest: '', times: [] });

/** How many cases of each kind ran, by their label with numbers and specifics left out. */
const families = new Map<string, number>();

function record(stats: Stats, c: BadCase, ms: number): void {
  for (const part of c.label.split(' + ')) {
    const family = part.replace(/"[^"]*"|\d+/g, '…').replace(/ \(raw JSON\)$/, '');
    families.set(family, (families.get(family) ?? 0) + 1);
  }
  stats.cases++;
  stats.codes[c.expect.code] = (stats.codes[c.expect.code] ?? 0) + 1;
  stats.times.push(ms);
  if (ms > stats.maxMs) {
    stats.maxMs = ms;
    stats.slowest = c.label;
  }
}

const p99 = (times: number[]): number => [...times].sort((x, y) => x - y)[Math.floor(times.length * 0.99)] ?? 0;

// ----- the store, read straight from the file ------------------------------------------------

function storeSnapshot(dbPath: string): Record<string, string> {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all() as string[];
    const out: Record<string, string> = {};
    for (const table of tables) {
      // The text index (derived from the events, filled by the engine's own timer) is not state a call can change.
      if (table.startsWith('events_text')) continue;
      const name = `"${table.replaceAll('"', '""')}"`;
      const rows = db.prepare(`SELECT * FROM ${name} ORDER BY rowid`).raw().all();
      out[table] = `${rows.length} rows, sha256 ${createHash('sha256').update(JSON.stringify(rows, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))).digest('hex')}`;
    }
    return out;
  } finally {
    db.close();
  }
}

// ----- the suite -----------------------------------------------------------------------------

let t: TestEngine;
let receiver: Receiver;
let api: SluiceApi;
let fx: Fixtures;
let rendererDir: string;
const internalErrors: string[] = [];

beforeAll(async () => {
  console.log(`fuzz-bridge: seed ${SEED} (replay with FUZZ_SEED=${SEED})`);
  t = await startTestEngine();
  receiver = await startReceiver();
  rendererDir = await mkdtemp(join(tmpdir(), 'sluice-fuzz-renderer-'));
  api = createInProcessClient(t.engine, (err, call) => internalErrors.push(`${call}: ${(err as Error)?.stack ?? String(err)}`));
  const a = unwrap(await api['subscriptions.create']({ name: 'fixture-a', url: receiver.url, patterns: ['fixture.>'] })).subscription;
  const paused = unwrap(await api['subscriptions.create']({ name: 'fixture-paused', url: receiver.url, patterns: ['fixture.paused'], enabled: false })).subscription;
  unwrap(await api['subscriptions.testFire'](a.id));
  const testDelivery = (unwrap(await api['deliveries.list']({ outcome: 'test' }))[0] as DeliveryView).id;
  await t.engine.busReady();
  const rejected = t.waitForDelivery((d) => d.outcome === 'rejected' && d.topic === 'fixture.rejected');
  await t.publish('fixture.rejected', new TextEncoder().encode('not json'));
  fx = {
    receiverUrl: receiver.url,
    a: { id: a.id, name: a.name },
    paused: { id: paused.id, name: paused.name },
    testDelivery,
    rejectedDelivery: (await rejected).id,
  };
  await t.engine.durable();
});

afterAll(async () => {
  await receiver?.close();
  await t?.cleanup();
  if (rendererDir) await rm(rendererDir, { recursive: true, force: true });
});

describe('the fuzz model', () => {
  it('matches the contract: every call, every argument, every field', () => {
    const models = buildModels(createRng(SEED), {
      receiverUrl: 'http://127.0.0.1:1/',
      a: { id: 'a', name: 'a' },
      paused: { id: 'p', name: 'p' },
      testDelivery: 1,
      rejectedDelivery: 2,
    });
    expect(Object.keys(models).sort()).toEqual([...CALL_NAMES].sort());
    for (const name of CALL_NAMES) {
      const model = models[name];
      expect(`(${model.args.map(describeField).join(', ')})`, `${name}: extend the fuzz model to the contract`).toBe(calls[name].args.describe);
    }
  });

  it('judges its own starting points valid, and known-bad lists bad', () => {
    const models = buildModels(createRng(SEED), { receiverUrl: 'http://127.0.0.1:1/', a: { id: 'a', name: 'a' }, paused: { id: 'p', name: 'p' }, testDelivery: 1, rejectedDelivery: 2 });
    for (const name of CALL_NAMES) {
      const model = models[name];
      expect(argIssues(model, overTheWire(model.args.map((a) => a.valid()))), name).toEqual([]);
    }
    expect(argIssues(models['subscriptions.create'], [{ name: ' ', url: 'x' }])).toEqual([{ path: 'arg0.name', kind: 'range' }]);
    expect(argIssues(models['deliveries.get'], overTheWire([Number.NaN]))).toEqual([{ path: 'arg0', kind: 'type' }]);
  });
});

describe('bad arguments to every call', () => {
  it(
    `in process: ≥ ${PER_CALL} per call, each refused exactly, nothing changed`,
    { timeout: 120_000 },
    async () => {
      const rng = createRng(SEED);
      const models = buildModels(rng, fx);
      let generatedMs = 0;
      const storeBefore = storeSnapshot(t.dbPath);
      const viewsBefore = JSON.stringify([unwrap(await api['subscriptions.list']()), unwrap(await api['settings.get']())]);
      const protoBefore = prototypeFingerprint();
      let maxStallMs = 0;
      const failures: string[] = [];
      const stats: Record<string, Stats> = {};
      const call = api as unknown as Record<CallName, (...a: unknown[]) => Promise<Answer>>;
      const started = performance.now();

      for (const name of CALL_NAMES) {
        // Generated call by call: holding every case at once costs the collector more than the calls.
        const genStarted = performance.now();
        const cases = generate(rng, name, models[name], PER_CALL).filter((c) => c.transports !== 'rpc');
        generatedMs += performance.now() - genStarted;
        // A monitor per call, started after generating (the test's own work, not the engine's).
        const loop = monitorEventLoopDelay({ resolution: 10 });
        loop.enable();
        const s = (stats[name] = newStats());
        for (const [i, c] of cases.entries()) {
          const t0 = performance.now();
          const answer = await call[name](...c.args);
          const ms = performance.now() - t0;
          record(s, c, ms);
          const problem = mismatch(answer, c.expect);
          if (problem) failures.push(`${name} #${i} [${c.label}] ${preview(c.args)}: ${problem}`);
          // A turn of the event loop per case: the delay monitor sees any call that holds it.
          await new Promise((resolve) => setImmediate(resolve));
        }
        loop.disable();
        maxStallMs = Math.max(maxStallMs, loop.max / 1e6);
        expect(s.cases, name).toBeGreaterThanOrEqual(PER_CALL);
      }
      const elapsed = performance.now() - started;

      console.log(
        [
          `fuzz-bridge in-process (seed ${SEED}): ${Object.values(stats).reduce((n, s) => n + s.cases, 0)} cases generated in ${(generatedMs / 1000).toFixed(1)} s, answered in ${((elapsed - generatedMs) / 1000).toFixed(1)} s; event loop max stall ${maxStallMs.toFixed(1)} ms`,
          ...Object.entries(stats).map(
            ([name, s]) =>
              `  ${name.padEnd(26)} ${String(s.cases).padStart(5)}  ${JSON.stringify(s.codes)}  total ${(s.times.reduce((x, y) => x + y, 0) / 1000).toFixed(1)} s, max ${s.maxMs.toFixed(1)} ms (${s.slowest}), p99 ${p99(s.times).toFixed(2)} ms`,
          ),
        ].join('\n'),
      );
      console.log(`fuzz-bridge in-process case kinds: ${[...families].sort((x, y) => y[1] - x[1]).map(([f, n]) => `${f} ${n}`).join('; ')}`);
      families.clear();
      expect(internalErrors, 'handlers threw unexpectedly').toEqual([]);
      expect(failures.slice(0, 25), `${failures.length} answers differ from the model (seed ${SEED})`).toEqual([]);
      expect(storeSnapshot(t.dbPath), 'the store changed').toEqual(storeBefore);
      expect(JSON.stringify([unwrap(await api['subscriptions.list']()), unwrap(await api['settings.get']())])).toBe(viewsBefore);
      expect(prototypeFingerprint(), 'a prototype was polluted').toBe(protoBefore);
      for (const [name, s] of Object.entries(stats)) expect(s.maxMs, `${name}: slowest (${s.slowest})`).toBeLessThan(MAX_HANDLING_MS);
      expect(maxStallMs, 'the event loop stalled').toBeLessThan(MAX_LOOP_STALL_MS);
    },
  );

  it(
    `over JSON-RPC through the web host: ${RPC_PER_CALL} per call, each refused exactly, nothing changed`,
    { timeout: 120_000 },
    async () => {
      const rng = createRng(SEED ^ 0x5f3759df);
      const models = buildModels(rng, fx);
      const hostErrors: string[] = [];
      const host: WebHost = await startWebHost({
        engine: t.engine,
        port: 0,
        rendererDir,
        onInternalError: (err, c) => hostErrors.push(`${c}: ${String(err)}`),
      });
      const rpc = await RpcConnection.open(host);
      try {
        const storeBefore = storeSnapshot(t.dbPath);
        const protoBefore = prototypeFingerprint();
        const failures: string[] = [];
        const stats: Record<string, Stats> = {};
        for (const name of CALL_NAMES) {
          const model = models[name];
          const raw = rawCases(rng, name, model);
          const generated = generate(rng, name, model, RPC_PER_CALL * 2).filter((c) => c.transports !== 'in-process');
          const cases = [...raw, ...rng.shuffle(generated).slice(0, RPC_PER_CALL - Math.min(raw.length, RPC_PER_CALL / 4))];
          const s = (stats[name] = newStats());
          for (const [i, c] of cases.entries()) {
            const params = c.rawParams ?? JSON.stringify(c.args);
            const t0 = performance.now();
            const response = await rpc.call(name, params);
            record(s, c, performance.now() - t0);
            if (response['error'] !== undefined || response['jsonrpc'] !== '2.0') {
              failures.push(`${name} #${i} [${c.label}]: protocol answer ${preview(response, 300)}`);
              continue;
            }
            const problem = mismatch(response['result'] as Answer, c.expect);
            if (problem) failures.push(`${name} #${i} [${c.label}] ${c.rawParams ? preview(c.rawParams.slice(0, 200)) : preview(c.args)}: ${problem}`);
          }
          expect(s.cases, name).toBeGreaterThanOrEqual(RPC_PER_CALL);
        }
        console.log(
          [
            `fuzz-bridge JSON-RPC (seed ${SEED}): ${Object.values(stats).reduce((n, s) => n + s.cases, 0)} cases`,
            ...Object.entries(stats).map(([name, s]) => `  ${name.padEnd(26)} ${String(s.cases).padStart(4)}  max ${s.maxMs.toFixed(1)} ms (${s.slowest}), p99 ${p99(s.times).toFixed(2)} ms`),
          ].join('\n'),
        );
        expect(hostErrors).toEqual([]);
        expect(failures.slice(0, 25), `${failures.length} answers differ from the model (seed ${SEED})`).toEqual([]);
        expect(storeSnapshot(t.dbPath), 'the store changed').toEqual(storeBefore);
        expect(prototypeFingerprint(), 'a prototype was polluted').toBe(protoBefore);
        for (const [name, s] of Object.entries(stats)) expect(s.maxMs, `${name}: slowest (${s.slowest})`).toBeLessThan(MAX_HANDLING_MS);

        // A text frame that is not UTF-8 closes that connection (1007), and only that one.
        const broken = await RpcConnection.open(host);
        broken.ws.send(Buffer.from([0x7b, 0xc0, 0xaf, 0x7d]), { binary: false });
        expect(await broken.closed).toBe(1007);
        expect((await rpc.call('status.get', '[]'))['result']).toMatchObject({ ok: true });
      } finally {
        rpc.ws.terminate();
        await host.close();
      }
    },
  );
});

describe('strings that are not well-formed Unicode', () => {
  // A lone surrogate cannot be stored as UTF-8: SQLite gets the bytes of an encoded
  // surrogate and reads back three U+FFFD. The name, URL or secret the analyst saved is
  // then not the one in the store (a secret that no longer verifies, a URL that is not
  // the one shown). Refused at the boundary, like control characters.
  it.each([
    ['name', { name: 'lone\ud800' }],
    ['url', { url: 'http://127.0.0.1:1/hook\udc00' }],
    ['secret', { secret: `${'k'.repeat(20)}\ud83d` }],
    ['patterns[0]', { patterns: ['attacker.\udfff'] }],
  ])('refuses a lone surrogate in %s', async (field, override) => {
    const before = storeSnapshot(t.dbPath);
    const r = await api['subscriptions.create']({ name: 'well-formed', url: fx.receiverUrl, patterns: ['a.b'], ...override });
    if (r.ok) await api['subscriptions.remove'](r.value.subscription.id);
    expect(r).toMatchObject({ ok: false, error: { code: 'invalid_argument', field } });
    expect(storeSnapshot(t.dbPath)).toEqual(before);
  });
});

// ----- a small JSON-RPC client -----------------------------------------------------------------

class RpcConnection {
  private nextId = 1;
  private readonly pending = new Map<number, (m: Record<string, unknown>) => void>();
  readonly closed: Promise<number>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      const m = JSON.parse(data.toString('utf8')) as Record<string, unknown>;
      const id = m['id'];
      if (typeof id === 'number') {
        this.pending.get(id)?.(m);
        this.pending.delete(id);
      }
    });
    this.closed = new Promise((resolve) => ws.once('close', (code) => resolve(code)));
  }

  static open(host: WebHost): Promise<RpcConnection> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${host.port}/rpc?token=${encodeURIComponent(host.token)}`, { origin: host.origin });
      ws.once('open', () => resolve(new RpcConnection(ws)));
      ws.once('error', reject);
    });
  }

  /** One request with `params` as JSON text; resolves with the whole response. */
  call(method: string, params: string, timeoutMs = 15_000): Promise<Record<string, unknown>> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`no answer to ${method} #${id} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, (m) => {
        clearTimeout(timer);
        resolve(m);
      });
      this.ws.send(`{"jsonrpc":"2.0","id":${id},"method":${JSON.stringify(method)},"params":${params}}`);
    });
  }
}
