/**
 * JSON as the reference worker sees it. Bus bodies are parsed with `JSON.parse` (fast)
 * unless they hold a number JavaScript cannot carry exactly (an integer beyond 2^53, or
 * a float such as `1.0`): then they are parsed again losslessly and such numbers are kept as
 * {@link JsonNumber} literals, so a 64-bit attacker-session id reaches the receiver
 * digit for digit, as it does from the Python origin.
 */

/** A number kept as its source literal. */
export class JsonNumber {
  constructor(readonly literal: string) {}
}

export type JsonValue = null | boolean | number | string | JsonNumber | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** Bodies nested deeper than this are refused (the reference serializer stops at 1024). */
export const MAX_DEPTH = 512;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;

/**
 * How deep JSON text (UTF-8 bytes) nests: the most objects and arrays open at once, `{}`
 * being 1. One pass over the bytes, no tree, so bus intake measures every message before
 * anything recursive reads it. Brackets inside strings do not count (a quote preceded by
 * an odd run of backslashes is escaped); no byte of a multi-byte UTF-8 character is ASCII,
 * so none is taken for a bracket or a quote. Counting stops once past `limit`. Text that is
 * not JSON gets some number; the parser then refuses it.
 */
export function jsonNesting(bytes: Uint8Array, limit = MAX_DEPTH): number {
  let depth = 0;
  let deepest = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b === QUOTE) {
      // To the closing quote; indexOf runs natively, so a long string costs little.
      for (;;) {
        const end = bytes.indexOf(QUOTE, i + 1);
        if (end === -1) return deepest;
        let slashes = 0;
        while (bytes[end - 1 - slashes] === BACKSLASH) slashes++;
        i = end;
        if (slashes % 2 === 0) break;
      }
    } else if (b === OPEN_BRACE || b === OPEN_BRACKET) {
      if (++depth > deepest && (deepest = depth) > limit) return deepest;
    } else if (b === CLOSE_BRACE || b === CLOSE_BRACKET) {
      depth--;
    }
  }
  return deepest;
}

export class JsonDepthError extends Error {
  constructor() {
    super(`nested deeper than ${MAX_DEPTH} levels`);
    this.name = 'JsonDepthError';
  }
}

/**
 * Parse JSON so that every number keeps the form the reference would write. The fast
 * path is `JSON.parse`; the tree is parsed again losslessly only when it holds numbers
 * and the text has a literal JSON.parse would alter (a fraction, an exponent, or 16+
 * digits). IP addresses in strings can trigger the slow path needlessly; it is still
 * correct, and a few microseconds.
 */
export function parseJson(text: string): JsonValue {
  const fast = JSON.parse(text) as JsonValue;
  if (!containsNumber(fast, 0)) return fast;
  return /\d[.eE]|\d{16}/.test(text) ? parseLossless(text) : fast;
}

function containsNumber(value: unknown, depth: number): boolean {
  if (depth > MAX_DEPTH) throw new JsonDepthError();
  if (typeof value === 'number') return true;
  if (value === null || typeof value !== 'object') return false;
  if (Array.isArray(value)) {
    for (const item of value) if (containsNumber(item, depth + 1)) return true;
    return false;
  }
  for (const key in value) if (containsNumber((value as Record<string, unknown>)[key], depth + 1)) return true;
  return false;
}

/**
 * A strict JSON parser (RFC 8259) that keeps every number that is not a safe integer
 * as a {@link JsonNumber}.
 */
function parseLossless(text: string): JsonValue {
  let i = 0;
  const fail = (what: string): never => {
    throw new SyntaxError(`${what} at position ${i}`);
  };
  const ws = (): void => {
    for (;;) {
      const c = text.charCodeAt(i);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
      else return;
    }
  };
  const value = (depth: number): JsonValue => {
    if (depth > MAX_DEPTH) throw new JsonDepthError();
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const obj: JsonObject = {};
      ws();
      if (text[i] === '}') {
        i++;
        return obj;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('expected a string key');
        const key = string();
        ws();
        if (text[i] !== ':') fail("expected ':'");
        i++;
        // defineProperty: a "__proto__" key stays an own data property, as with JSON.parse.
        Object.defineProperty(obj, key, { value: value(depth + 1), enumerable: true, writable: true, configurable: true });
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return obj;
        }
        fail("expected ',' or '}'");
      }
    }
    if (c === '[') {
      i++;
      const arr: JsonValue[] = [];
      ws();
      if (text[i] === ']') {
        i++;
        return arr;
      }
      for (;;) {
        arr.push(value(depth + 1));
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return arr;
        }
        fail("expected ',' or ']'");
      }
    }
    if (c === '"') return string();
    if (text.startsWith('true', i)) return (i += 4), true;
    if (text.startsWith('false', i)) return (i += 5), false;
    if (text.startsWith('null', i)) return (i += 4), null;
    return numberToken();
  };
  const string = (): string => {
    const start = i;
    i++;
    for (;;) {
      const c = text.charCodeAt(i);
      if (Number.isNaN(c)) fail('unterminated string');
      if (c === 0x22) break;
      if (c === 0x5c) i += 2;
      else if (c < 0x20) fail('control character in string');
      else i++;
    }
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const numberToken = (): JsonValue => {
    const m = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
    m.lastIndex = i;
    const found = m.exec(text);
    if (!found || found[0] === '' || found[0] === '-') fail('unexpected token');
    const literal = (found as RegExpExecArray)[0];
    i += literal.length;
    const n = Number(literal);
    // The reference's parser refuses a number a double cannot hold; so does this one.
    if (!Number.isFinite(n)) throw new SyntaxError(`number ${literal.slice(0, 40)} is out of range`);
    return /^-?\d+$/.test(literal) && Number.isSafeInteger(n) && literal !== '-0' ? n : new JsonNumber(literal);
  };
  const result = value(0);
  ws();
  if (i !== text.length) fail('unexpected trailing data');
  return result;
}

/**
 * Code-point order (what sorting UTF-8 bytes gives, as the reference does), for every
 * key whatever it looks like: a surrogate pair counts as the code point it encodes, a
 * lone surrogate as its own value.
 */
export function compareCodePoints(a: string, b: string): number {
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

/**
 * A number as the reference (orjson) writes it: integers as digits, floats with the
 * shortest round-trip digits, `.0` on integral values, plain decimals for exponents
 * −5 to 15 and `1e16` / `2.5e-7` form outside (no `+`, no zero padding).
 */
export function formatNumber(value: number | JsonNumber): string {
  if (value instanceof JsonNumber) {
    const { literal } = value;
    if (/^-?\d+$/.test(literal)) return literal === '-0' ? '0' : literal.replace(/^(-?)0+(?=\d)/, '$1');
    return formatFloat(Number(literal));
  }
  // JSON.parse keeps no trace of "-0" versus "-0.0"; a fraction or exponent takes the
  // lossless path, so a -0 here was written as the integer -0, which is 0.
  if (Object.is(value, -0)) return '0';
  return Number.isInteger(value) && Number.isSafeInteger(value) ? String(value) : formatFloat(value);
}

function formatFloat(n: number): string {
  if (!Number.isFinite(n)) return 'null';
  if (n === 0) return Object.is(n, -0) ? '-0.0' : '0.0';
  const [mantissa, expText] = n.toExponential().split('e') as [string, string];
  const exp = Number(expText);
  const negative = mantissa.startsWith('-');
  const digits = mantissa.replace('-', '').replace('.', '');
  const sign = negative ? '-' : '';
  if (exp >= -5 && exp < 16) {
    if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
    const intPart = digits.slice(0, exp + 1).padEnd(exp + 1, '0');
    const frac = digits.slice(exp + 1);
    return `${sign}${intPart}.${frac || '0'}`;
  }
  const rest = digits.slice(1);
  return `${sign}${digits[0]}${rest ? `.${rest}` : ''}e${exp}`;
}

/**
 * Canonical JSON: keys sorted by code point at every depth, no whitespace, UTF-8 when
 * encoded. String escaping is JSON.stringify's, which matches the reference's.
 */
export function canonicalJson(value: JsonValue | undefined, depth = 0): string {
  if (depth > MAX_DEPTH) throw new JsonDepthError();
  if (value === null || value === undefined) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      return formatNumber(value);
  }
  if (value instanceof JsonNumber) return formatNumber(value);
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      out += canonicalJson(value[i], depth + 1);
    }
    return out + ']';
  }
  const keys = Object.keys(value).sort(compareCodePoints);
  let out = '{';
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    if (i > 0) out += ',';
    out += JSON.stringify(key) + ':' + canonicalJson(value[key], depth + 1);
  }
  return out + '}';
}
