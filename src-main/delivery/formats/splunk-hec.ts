/**
 * Splunk HTTP Event Collector, `/services/collector/event`: one JSON object per event —
 * `time` (epoch seconds), `host`, `source`, `sourcetype`, `index` and the `event` itself —
 * and, batched, several such objects one after another in one request body (Splunk's
 * "Format events for HTTP Event Collector"). The collector answers with a `code`
 * ("HTTP Event Collector REST API endpoints"): a bad token or a bad format is the same on
 * every retry and ends the delivery saying so; a busy or unhealthy server is retried.
 */
import { canonicalJson, type JsonValue } from '../json';
import type { AnswerVerdict, FormatEvent, RenderedRequest } from './types';

export interface HecOptions {
  index: string;
  source: string;
  sourcetype: string;
  host: string;
}

/** Epoch seconds with milliseconds, as HEC's `time` takes them; null when `ts` is not a time. */
export function hecTime(ts: string): number | null {
  const ms = Date.parse(ts);
  return Number.isFinite(ms) ? ms / 1000 : null;
}

export function hecEvent(event: FormatEvent, options: HecOptions): string {
  const out: Record<string, JsonValue> = {};
  const time = hecTime(event.ts);
  if (time !== null) out['time'] = time;
  if (options.host) out['host'] = options.host;
  out['source'] = options.source || `decnet:${event.topic}`;
  out['sourcetype'] = options.sourcetype || '_json';
  if (options.index) out['index'] = options.index;
  out['event'] = { id: event.id, topic: event.topic, type: event.type, ts: event.ts, payload: event.payload };
  return canonicalJson(out);
}

/** One event, or a batch: HEC takes events back to back in one body (no array, no commas). */
export function renderHec(events: readonly FormatEvent[], options: HecOptions): RenderedRequest {
  return { body: Buffer.from(events.map((e) => hecEvent(e, options)).join('\n'), 'utf8'), contentType: 'application/json', path: '' };
}

/** The collector's codes that a retry can fix (busy, unhealthy, internal error). */
const RETRYABLE_CODES = new Set([8, 9, 18, 19, 20]);
/** What each terminal code means, in the analyst's terms. */
const TERMINAL_REASONS: Record<number, string> = {
  1: 'the HEC token is disabled',
  2: 'the HEC token is missing (set a secret header Authorization: Splunk <token>)',
  3: 'the HEC authorization is invalid',
  4: 'the HEC token is invalid',
  5: 'HEC says there is no data',
  6: 'HEC says the data format is invalid',
  7: 'HEC says the index is incorrect (check the index option and the token’s allowed indexes)',
  10: 'HEC needs a data channel (X-Splunk-Request-Channel header)',
  11: 'HEC says the data channel is invalid',
  12: 'HEC says the event field is required',
  13: 'HEC says the event field cannot be blank',
  14: 'HEC acknowledgment is disabled',
  15: 'HEC could not handle the indexed fields',
  16: 'HEC query-string authorization is not enabled',
};

/** Reads `{"text": …, "code": N}`; null when the answer has no code (the status decides). */
export function judgeHecAnswer(statusCode: number, excerpt: string | null): AnswerVerdict | null {
  let answer: { code?: unknown; text?: unknown };
  try {
    answer = JSON.parse(excerpt ?? '') as typeof answer;
  } catch {
    return null;
  }
  if (typeof answer !== 'object' || answer === null || typeof answer.code !== 'number') return null;
  const code = answer.code;
  const text = typeof answer.text === 'string' ? answer.text : '';
  if (code === 0 && statusCode >= 200 && statusCode < 300) return { verdict: 'success', error: null };
  if (RETRYABLE_CODES.has(code)) return { verdict: 'retryable', error: `HEC code ${code}: ${text || 'server busy'}` };
  const reason = TERMINAL_REASONS[code];
  return { verdict: 'terminal', error: `HEC code ${code}: ${reason ?? (text || `HTTP ${statusCode}`)}` };
}
