/**
 * Elasticsearch: one document per event, indexed under the event id (`/<index>/_doc/<id>`,
 * the index API), so a repeated delivery — a retry after a lost answer, a replay —
 * overwrites its document rather than adding a second. Fields follow the Elastic Common
 * Schema where they fit (`@timestamp`, `event.*`, `source.ip`/`source.port`); the rest of
 * the event is kept whole under `decnet`. Batched, the bulk API (`/_bulk`, NDJSON):
 * its answer says per item what failed, and only those items are retried.
 */
import { isIP } from 'node:net';
import { canonicalJson, JsonNumber, type JsonObject, type JsonValue } from '../json';
import type { FormatEvent, ItemVerdicts, RenderedRequest } from './types';

export interface ElasticOptions {
  index: string;
}

export const DEFAULT_INDEX = 'decnet-events';
/** The bulk answer's fields Sluice reads (Elasticsearch's `filter_path` response filtering). */
const BULK_FILTER = 'errors,items.*._id,items.*.status,items.*.error.type,items.*.error.reason';

/** A top-level field of an object payload (DECNET's payloads are objects), else undefined. */
export function payloadField(payload: JsonValue, key: string): JsonValue | undefined {
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload) || payload instanceof JsonNumber) return undefined;
  return Object.hasOwn(payload, key) ? payload[key] : undefined;
}

/** The attacker's address, under the names DECNET's components give it. */
export function sourceIp(payload: JsonValue): string | null {
  for (const key of ['ip', 'source_ip', 'src_ip']) {
    const value = payloadField(payload, key);
    if (typeof value === 'string' && isIP(value) !== 0) return value;
  }
  return null;
}

/** The ECS document for one event. */
export function ecsDocument(event: FormatEvent): JsonObject {
  const doc: JsonObject = {
    '@timestamp': Number.isFinite(Date.parse(event.ts)) ? new Date(Date.parse(event.ts)).toISOString() : event.ts,
    event: {
      id: event.id,
      action: event.type,
      dataset: `decnet.${event.topic.split('.')[0] ?? 'event'}`,
      module: 'decnet',
      kind: event.topic.startsWith('canary.') || event.topic.startsWith('attacker.') ? 'alert' : 'event',
    },
    decnet: { topic: event.topic, type: event.type, ts: event.ts, payload: event.payload },
  };
  const ip = sourceIp(event.payload);
  if (ip !== null) {
    const source: JsonObject = { ip };
    const port = payloadField(event.payload, 'port');
    if (typeof port === 'number' && Number.isInteger(port) && port > 0 && port < 65536) source['port'] = port;
    doc['source'] = source;
  }
  const decky = payloadField(event.payload, 'decky');
  if (typeof decky === 'string') doc['observer'] = { name: decky, type: 'honeypot' };
  return doc;
}

function indexName(options: ElasticOptions): string {
  return options.index || DEFAULT_INDEX;
}

export function renderElastic(event: FormatEvent, options: ElasticOptions): RenderedRequest {
  return {
    body: Buffer.from(canonicalJson(ecsDocument(event)), 'utf8'),
    contentType: 'application/json',
    path: `/${encodeURIComponent(indexName(options))}/_doc/${encodeURIComponent(event.id)}`,
  };
}

export function renderElasticBulk(events: readonly FormatEvent[], options: ElasticOptions): RenderedRequest {
  const lines: string[] = [];
  for (const event of events) {
    lines.push(canonicalJson({ index: { _index: indexName(options), _id: event.id } }));
    lines.push(canonicalJson(ecsDocument(event)));
  }
  // Only what the per-item verdicts need, so the answer for a large batch stays small.
  return { body: Buffer.from(`${lines.join('\n')}\n`, 'utf8'), contentType: 'application/x-ndjson', path: `/_bulk?filter_path=${BULK_FILTER}` };
}

/**
 * A bulk answer's items by event id. The answer may be cut (the client keeps 64 KiB):
 * items it does not list are left out of both sets, and the caller treats the request's
 * status as theirs.
 */
export function judgeBulkItems(excerpt: string | null): ItemVerdicts | null {
  let answer: { errors?: unknown; items?: unknown };
  try {
    answer = JSON.parse(excerpt ?? '') as typeof answer;
  } catch {
    return null;
  }
  if (typeof answer !== 'object' || answer === null || !Array.isArray(answer.items)) return null;
  const verdicts: ItemVerdicts = { retry: new Set(), dead: new Map() };
  for (const item of answer.items as unknown[]) {
    const action = item && typeof item === 'object' ? (Object.values(item)[0] as { _id?: unknown; status?: unknown; error?: unknown }) : undefined;
    if (!action || typeof action._id !== 'string' || typeof action.status !== 'number') continue;
    if (action.status >= 200 && action.status < 300) continue;
    const error = action.error && typeof action.error === 'object' ? (action.error as { type?: unknown; reason?: unknown }) : {};
    const reason = `elasticsearch ${action.status}${typeof error.type === 'string' ? ` ${error.type}` : ''}${typeof error.reason === 'string' ? `: ${error.reason}` : ''}`;
    if (action.status === 429 || action.status >= 500) verdicts.retry.add(action._id);
    else verdicts.dead.set(action._id, reason);
  }
  return verdicts;
}
