/**
 * TheHive: one alert per event through its alert API (`POST /api/v1/alert`). TheHive
 * requires `type`, `source`, `sourceRef`, `title` and `description`, and refuses a second
 * alert with the same type, source and sourceRef; `sourceRef` is the event id, so a
 * repeated delivery meets that refusal — a 400 saying the alert "already exists"
 * (a ConflictError / CreateError) — which counts as delivered: the alert is there.
 */
import { canonicalJson, type JsonObject, type JsonValue } from '../json';
import { payloadField, sourceIp } from './elasticsearch';
import type { AnswerVerdict, FormatEvent, RenderedRequest } from './types';

export interface TheHiveOptions {
  /** The alert's `type` (default `decnet`). */
  type: string;
  /** The alert's `source` (default `sluice`). */
  source: string;
  /** 1 low, 2 medium, 3 high, 4 critical; null: by topic (canary hits high, the rest medium). */
  severity: number | null;
}

/** Observables TheHive knows, from the payload fields that carry them. */
const OBSERVABLE_FIELDS: [field: string, dataType: string][] = [
  ['ip', 'ip'],
  ['source_ip', 'ip'],
  ['src_ip', 'ip'],
  ['domain', 'domain'],
  ['hostname', 'hostname'],
  ['url', 'url'],
  ['user_agent', 'user-agent'],
  ['file_hash', 'hash'],
  ['mail', 'mail'],
];

function severityOf(event: FormatEvent, options: TheHiveOptions): number {
  if (options.severity !== null) return options.severity;
  if (event.topic.startsWith('canary.')) return 3;
  return 2;
}

export function theHiveAlert(event: FormatEvent, options: TheHiveOptions): JsonObject {
  const decky = payloadField(event.payload, 'decky');
  const ip = sourceIp(event.payload);
  const about = [typeof ip === 'string' ? `from ${ip}` : null, typeof decky === 'string' ? `on ${decky}` : null].filter(Boolean).join(' ');
  const alert: JsonObject = {
    type: options.type || 'decnet',
    source: options.source || 'sluice',
    sourceRef: event.id,
    title: `DECNET ${event.topic}${about ? ` ${about}` : ''}`.slice(0, 512),
    description: `DECNET event \`${event.type}\` on \`${event.topic}\` at ${event.ts}.\n\n\`\`\`json\n${canonicalJson(event.payload)}\n\`\`\``,
    severity: severityOf(event, options),
    tags: ['decnet', event.topic, event.type],
  };
  const ms = Date.parse(event.ts);
  if (Number.isFinite(ms)) alert['date'] = ms;
  const observables: JsonValue[] = [];
  const seen = new Set<string>();
  for (const [field, dataType] of OBSERVABLE_FIELDS) {
    const value = payloadField(event.payload, field);
    if (typeof value !== 'string' || value === '' || seen.has(`${dataType}:${value}`)) continue;
    // TheHive refuses an alert holding the same observable twice.
    seen.add(`${dataType}:${value}`);
    observables.push({ dataType, data: value });
  }
  if (observables.length > 0) alert['observables'] = observables;
  return alert;
}

export function renderTheHive(event: FormatEvent, options: TheHiveOptions): RenderedRequest {
  return { body: Buffer.from(canonicalJson(theHiveAlert(event, options)), 'utf8'), contentType: 'application/json', path: '' };
}

/** TheHive's "already exists" refusal is a success for an at-least-once sender. */
export function judgeTheHiveAnswer(statusCode: number, excerpt: string | null): AnswerVerdict | null {
  if (statusCode === 400 && excerpt !== null && /already exists/i.test(excerpt)) return { verdict: 'success', error: null };
  return null;
}
