/**
 * Filters and transforms: JSONata expressions (the language Node-RED users know) over an
 * event `{ id, topic, type, ts, payload }`. A filter decides whether the event enters a
 * subscription's outbox; a transform builds the body a receiver gets. Both are checked
 * when saved (the error with its position) and run under bounds — time, stack depth,
 * sequence length, output size — so that an expression written in a hurry cannot stall
 * the engine: past a bound it fails with the reason, and the event is not lost (a filter
 * that fails lets the event through; a transform that fails ends that delivery as dead,
 * replayable after a fix).
 */
import jsonata from 'jsonata';
import { JsonNumber, type JsonValue } from '../delivery/json';

export type ExpressionKind = 'filter' | 'transform';

/** Longest a filter may run on one event; intake waits for it. */
export const FILTER_TIMEOUT_MS = 50;
/** Longest a transform may run on one event. */
export const TRANSFORM_TIMEOUT_MS = 200;
/** Deepest evaluation stack (runaway recursion ends here). */
const MAX_STACK = 250;
/** Longest sequence an expression may build (`[1..100000000]` ends here). */
const MAX_SEQUENCE = 100_000;
/** Largest body a transform may produce. */
export const TRANSFORM_MAX_BYTES = 1024 * 1024;
/** Longest expression text accepted. */
export const EXPRESSION_MAX_CHARS = 4096;

export interface CompiledExpression {
  kind: ExpressionKind;
  text: string;
  evaluate(input: unknown): Promise<unknown>;
}

export type Compiled = { ok: true; expression: CompiledExpression } | { ok: false; message: string };

/** An event as expressions see it. */
export interface ExpressionEvent {
  id: string;
  topic: string;
  type: string;
  ts: string;
  payload: JsonValue;
}

interface JsonataError {
  code?: string;
  position?: number;
  message?: string;
  token?: string;
}

function describe(error: unknown, text?: string): string {
  const e = (error ?? {}) as JsonataError;
  const message = e.message ?? String(error);
  if (typeof e.position === 'number' && text !== undefined && e.position > 0)
    return `${message} (at character ${e.position})`;
  return message;
}

/** `$pad` with a bounded width: a width in the millions would build the string before any bound is checked. */
const PAD_MAX = 10_000;

/** Compile, or say what is wrong and where. */
export function compileExpression(text: string, kind: ExpressionKind): Compiled {
  if (text.trim() === '') return { ok: false, message: `the ${kind} is empty` };
  if (text.length > EXPRESSION_MAX_CHARS) return { ok: false, message: `a ${kind} is at most ${EXPRESSION_MAX_CHARS} characters` };
  let compiled: ReturnType<typeof jsonata>;
  try {
    compiled = jsonata(text, {
      timeout: kind === 'filter' ? FILTER_TIMEOUT_MS : TRANSFORM_TIMEOUT_MS,
      stack: MAX_STACK,
      sequence: MAX_SEQUENCE,
    });
  } catch (error) {
    return { ok: false, message: `invalid ${kind}: ${describe(error, text)}` };
  }
  const pad = (value: unknown, width: unknown, char?: unknown): unknown => {
    if (typeof width === 'number' && Math.abs(width) > PAD_MAX) throw { message: `$pad width is at most ${PAD_MAX}` };
    const s = typeof value === 'string' ? value : JSON.stringify(value);
    if (typeof width !== 'number') return s;
    const fill = typeof char === 'string' && char !== '' ? char : ' ';
    const n = Math.abs(width) - [...s].length;
    if (n <= 0) return s;
    const padding = fill.repeat(Math.ceil(n / fill.length)).slice(0, n);
    return width < 0 ? padding + s : s + padding;
  };
  compiled.registerFunction('pad', pad, '<x-n?s?:s>');
  return {
    ok: true,
    expression: {
      kind,
      text,
      evaluate: (input) => compiled.evaluate(input),
    },
  };
}

/** Compiled expressions by kind and text: an event runs them often, compiling costs more than running. */
const compiledCache = new Map<string, Compiled>();
const COMPILED_CACHE_MAX = 512;

/** {@link compileExpression}, remembered (a saved expression is compiled once, not per event). */
export function compileCached(text: string, kind: ExpressionKind): Compiled {
  const key = `${kind}\u0000${text}`;
  let compiled = compiledCache.get(key);
  if (compiled === undefined) {
    compiled = compileExpression(text, kind);
    if (compiledCache.size >= COMPILED_CACHE_MAX) compiledCache.clear();
    compiledCache.set(key, compiled);
  }
  return compiled;
}

/** JsonNumbers (kept lossless for the wire) become numbers expressions can compare. */
function plain(value: JsonValue): unknown {
  if (value instanceof JsonNumber) return Number(value.literal);
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = plain(v);
    return out;
  }
  return value;
}

export function expressionInput(event: ExpressionEvent): Record<string, unknown> {
  return { id: event.id, topic: event.topic, type: event.type, ts: event.ts, payload: plain(event.payload) };
}

export type FilterVerdict = { pass: boolean; error: null } | { pass: true; error: string };

/**
 * Whether the event passes. JSONata's truthiness: false, null, 0, '', empty results do
 * not pass. A filter that fails on an event (a bound, a type error) lets it through, with
 * the reason: a delivery too many is better than an attack not seen.
 */
export async function runFilter(filter: CompiledExpression, event: ExpressionEvent): Promise<FilterVerdict> {
  try {
    const result = await filter.evaluate(expressionInput(event));
    return { pass: truthy(result), error: null };
  } catch (error) {
    return { pass: true, error: `filter failed: ${describe(error)}` };
  }
}

function truthy(value: unknown): boolean {
  if (value === undefined || value === null || value === false || value === 0 || value === '') return false;
  if (Array.isArray(value)) return value.some(truthy);
  return true;
}

export type TransformResult = { ok: true; body: Buffer } | { ok: false; error: string };

/** The body the transform builds, as JSON bytes; or why there is none. */
export async function runTransform(transform: CompiledExpression, event: ExpressionEvent): Promise<TransformResult> {
  let result: unknown;
  try {
    result = await transform.evaluate(expressionInput(event));
  } catch (error) {
    return { ok: false, error: `transform failed: ${describe(error)}` };
  }
  if (result === undefined) return { ok: false, error: 'transform produced nothing for this event' };
  if (typeof result === 'function') return { ok: false, error: 'transform produced a function, not a value' };
  let text: string;
  try {
    text = JSON.stringify(result);
  } catch (error) {
    return { ok: false, error: `transform result is not JSON: ${describe(error)}` };
  }
  const body = Buffer.from(text, 'utf8');
  if (body.length > TRANSFORM_MAX_BYTES)
    return { ok: false, error: `transform produced ${body.length} bytes; at most ${TRANSFORM_MAX_BYTES} are sent` };
  return { ok: true, body };
}
