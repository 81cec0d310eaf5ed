/**
 * A small runtime schema library for the bridge contract. Every argument that crosses
 * from the renderer (or the CLI, or a web client) is untrusted; each call declares a
 * schema and the static type of its arguments is inferred from it, so the check and the
 * type cannot drift apart. No Node or DOM import: the renderer bundles this file too.
 */

export interface Issue {
  /** Dotted path of the offending value, e.g. `patch.url`. Empty for the root. */
  path: string;
  message: string;
  /** A rule about the value as a whole (which form it takes), not one field: the message is a whole sentence. */
  whole?: true;
}

export type Check<T> = { ok: true; value: T } | { ok: false; issue: Issue };

export interface Schema<T> {
  readonly describe: string;
  check(input: unknown, path: string): Check<T>;
}

export type Infer<S> = S extends Schema<infer T> ? T : never;

const fail = (path: string, message: string): { ok: false; issue: Issue } => ({
  ok: false,
  issue: { path, message },
});

/** A UTF-16 surrogate without its pair: not text, and not encodable as UTF-8. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const join = (path: string, key: string | number): string =>
  typeof key === 'number' ? `${path}[${key}]` : path ? `${path}.${key}` : key;

/** Keys that must never be copied from untrusted input into an object. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

export interface StringOptions {
  min?: number;
  max: number;
  pattern?: RegExp;
  patternMessage?: string;
  trim?: boolean;
}

export function string(options: StringOptions): Schema<string> {
  const { min = 0, max, pattern, patternMessage, trim = false } = options;
  return {
    describe: 'string',
    check(input, path) {
      if (typeof input !== 'string') return fail(path, `must be a string`);
      if (LONE_SURROGATE.test(input)) return fail(path, 'is not valid text (a lone UTF-16 surrogate)');
      const value = trim ? input.trim() : input;
      if (value.length < min)
        return fail(path, min === 1 ? 'must not be empty' : `must be at least ${min} characters`);
      if (value.length > max) return fail(path, `must be at most ${max} characters`);
      if (pattern && !pattern.test(value)) return fail(path, patternMessage ?? 'has an invalid format');
      return { ok: true, value };
    },
  };
}

export interface NumberOptions {
  min: number;
  max: number;
  integer?: boolean;
}

export function number(options: NumberOptions): Schema<number> {
  return {
    describe: options.integer ? 'integer' : 'number',
    check(input, path) {
      if (typeof input !== 'number' || !Number.isFinite(input)) return fail(path, 'must be a finite number');
      if (options.integer && !Number.isInteger(input)) return fail(path, 'must be a whole number');
      if (input < options.min || input > options.max)
        return fail(path, `must be between ${options.min} and ${options.max}`);
      return { ok: true, value: input };
    },
  };
}

export const boolean: Schema<boolean> = {
  describe: 'boolean',
  check(input, path) {
    return typeof input === 'boolean' ? { ok: true, value: input } : fail(path, 'must be true or false');
  },
};

/** `true` and nothing else: the flag that picks a form (`dead: true`). */
export const isTrue: Schema<true> = {
  describe: 'true',
  check(input, path) {
    return input === true ? { ok: true, value: true } : fail(path, 'must be true');
  },
};

export function literal<const T extends readonly string[]>(...values: T): Schema<T[number]> {
  const allowed = new Set<string>(values);
  return {
    describe: values.join('|'),
    check(input, path) {
      return typeof input === 'string' && allowed.has(input)
        ? { ok: true, value: input as T[number] }
        : fail(path, `must be one of: ${values.join(', ')}`);
    },
  };
}

export function array<T>(item: Schema<T>, options: { max: number; min?: number }): Schema<T[]> {
  return {
    describe: `${item.describe}[]`,
    check(input, path) {
      if (!Array.isArray(input)) return fail(path, 'must be a list');
      if (input.length > options.max) return fail(path, `must have at most ${options.max} items`);
      if (input.length < (options.min ?? 0)) return fail(path, `must have at least ${options.min} items`);
      const out: T[] = [];
      for (let i = 0; i < input.length; i++) {
        const r = item.check(input[i], join(path, i));
        if (!r.ok) return r;
        out.push(r.value);
      }
      return { ok: true, value: out };
    },
  };
}

export function optional<T>(inner: Schema<T>): Schema<T | undefined> & { optional: true } {
  return {
    optional: true,
    describe: `${inner.describe}?`,
    check(input, path) {
      return input === undefined ? { ok: true, value: undefined } : inner.check(input, path);
    },
  };
}

export function nullable<T>(inner: Schema<T>): Schema<T | null> {
  return {
    describe: `${inner.describe}|null`,
    check(input, path) {
      return input === null ? { ok: true, value: null } : inner.check(input, path);
    },
  };
}

type Shape = Record<string, Schema<unknown>>;
type OptionalKeys<S extends Shape> = {
  [K in keyof S]: S[K] extends { optional: true } ? K : never;
}[keyof S];
type RequiredKeys<S extends Shape> = Exclude<keyof S, OptionalKeys<S>>;
/** One flat object type (not an intersection), so an inferred type reads like a written one. */
type Flat<T> = { [K in keyof T]: T[K] } & {};
export type ObjectOf<S extends Shape> = Flat<
  { [K in RequiredKeys<S>]: Infer<S[K]> } & { [K in OptionalKeys<S>]?: Infer<S[K]> }
>;

function isPlainObject(input: unknown): input is Record<string, unknown> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return false;
  const proto = Object.getPrototypeOf(input) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * A strict object: unknown keys are refused (a typo in a patch must not be silently
 * ignored), and the result is a fresh null-prototype-free copy holding only known keys.
 */
export function object<S extends Shape>(shape: S): Schema<ObjectOf<S>> & { readonly shape: S } {
  const keys = Object.keys(shape);
  return {
    shape,
    describe: `{${keys.join(',')}}`,
    check(input, path) {
      if (!isPlainObject(input)) return fail(path, 'must be an object');
      for (const key of Object.keys(input)) {
        if (FORBIDDEN_KEYS.has(key)) return fail(join(path, key), 'is not an allowed key');
        if (!Object.hasOwn(shape, key)) return fail(join(path, key), 'is not a known field');
      }
      const out: Record<string, unknown> = {};
      for (const key of keys) {
        const schema = shape[key] as Schema<unknown>;
        const value = Object.hasOwn(input, key) ? input[key] : undefined;
        const r = schema.check(value, join(path, key));
        if (!r.ok) {
          if (value === undefined) return fail(join(path, key), 'is required');
          return r;
        }
        if (r.value !== undefined) out[key] = r.value;
      }
      return { ok: true, value: out as ObjectOf<S> };
    },
  };
}

/**
 * One object in one of several forms, told apart by the keys it carries rather than by a
 * tag, so the wire shape stays a plain object. Every key any form may carry is checked
 * first (`fields`: a wrong value is refused the same way in every form); `pick` then names
 * the form, or refuses the combination with a sentence about the whole; last, the form's
 * own object checks what that form requires. Keys of the other forms are left out of the
 * value, so its type is the union of the forms.
 */
export function oneOf<S extends Shape, F extends Record<string, Schema<unknown> & { readonly shape: Shape }>>(
  fields: S,
  forms: F,
  pick: (value: ObjectOf<S>) => keyof F | { refuse: string },
): Schema<Infer<F[keyof F]>> {
  const all = object(fields);
  return {
    describe: all.describe,
    check(input, path) {
      const checked = all.check(input, path);
      if (!checked.ok) return checked;
      const chosen = pick(checked.value);
      if (typeof chosen === 'object') return { ok: false, issue: { path, message: chosen.refuse, whole: true } };
      const form = forms[chosen] as F[keyof F];
      const value = checked.value as Record<string, unknown>;
      const own: Record<string, unknown> = {};
      for (const key of Object.keys(form.shape)) if (Object.hasOwn(value, key)) own[key] = value[key];
      return form.check(own, path) as Check<Infer<F[keyof F]>>;
    },
  };
}

/** Positional arguments of a call. */
export function tuple<const T extends readonly Schema<unknown>[]>(
  ...items: T
): Schema<{ [K in keyof T]: Infer<T[K]> }> {
  return {
    describe: `(${items.map((s) => s.describe).join(', ')})`,
    check(input, path) {
      if (!Array.isArray(input)) return fail(path, 'arguments must be a list');
      if (input.length > items.length)
        return fail(path, `expects at most ${items.length} argument${items.length === 1 ? '' : 's'}`);
      const out: unknown[] = [];
      for (let i = 0; i < items.length; i++) {
        const r = (items[i] as Schema<unknown>).check(input[i], path ? join(path, i) : `arg${i}`);
        if (!r.ok) return input[i] === undefined ? fail(r.issue.path, 'is required') : r;
        out.push(r.value);
      }
      // Drop trailing undefined optionals so handlers see their natural arity.
      while (out.length > 0 && out[out.length - 1] === undefined) out.pop();
      return { ok: true, value: out as { [K in keyof T]: Infer<T[K]> } };
    },
  };
}

/** A date-time with its offset: `2026-11-28T10:00:00Z`, `2026-11-28T11:00+01:00`, fractions of a second allowed. */
const ISO_DATE_TIME = /^(\d{4})-(\d\d)-(\d\d)T\d\d:\d\d(?::\d\d(?:\.\d{1,9})?)?(?:Z|[+-]\d\d:\d\d)$/i;

/**
 * An ISO-8601 date-time, normalised to the store's form (UTC, `Z`, milliseconds) so that
 * it compares with stored times as text. The offset is required: a time without one would
 * be read in the engine's time zone, which is not necessarily the caller's. A day that is
 * not in the calendar (`02-30`) is refused rather than rolled over into the next month.
 */
export function isoTime(): Schema<string> {
  const text = string({ min: 1, max: 64, trim: true });
  return {
    describe: 'string',
    check(input, path) {
      const checked = text.check(input, path);
      if (!checked.ok) return checked;
      const parts = ISO_DATE_TIME.exec(checked.value);
      const ms = parts ? Date.parse(checked.value) : Number.NaN;
      if (!parts || Number.isNaN(ms) || !isCalendarDay(Number(parts[1]), Number(parts[2]), Number(parts[3])))
        return fail(path, 'must be an ISO-8601 time with its offset, such as 2026-11-28T10:00:00Z');
      return { ok: true, value: new Date(ms).toISOString() };
    },
  };
}

function isCalendarDay(year: number, month: number, day: number): boolean {
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}
