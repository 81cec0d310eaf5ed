/**
 * The wire format (docs/design.md#wire-format), kept byte-compatible with the DECNET
 * webhook worker: receivers built for it verify Sluice's deliveries unchanged. The one
 * module that knows the body layout, the signature and the headers.
 */
import { createHmac } from 'node:crypto';
import { MASKED_VALUE, type ExtraHeader } from '../contract/subscription-options';
import { canonicalJson, JsonNumber, type JsonValue } from './json';

export const PAYLOAD_VERSION = 1;
export const SIGNATURE_HEADER = 'X-DECNET-Signature';
/**
 * During a secret rotation with an overlap: the signature made with the secret being
 * replaced, so receivers not yet switched keep verifying. `X-DECNET-Signature` always
 * carries the current secret's.
 */
export const PREVIOUS_SIGNATURE_HEADER = 'X-DECNET-Signature-Previous';

/** An event as delivered: the topic is the NATS subject it arrived on. */
export interface WireEvent {
  id: string;
  topic: string;
  type: string;
  /** ISO-8601 as received, or derived from epoch seconds (see `canonicalTs`). */
  ts: string;
  payload: JsonValue;
}

/** The exact bytes that are signed and sent. */
export function buildBody(event: WireEvent): Buffer {
  return Buffer.from(
    canonicalJson({
      v: PAYLOAD_VERSION,
      id: event.id,
      ts: event.ts,
      topic: event.topic,
      type: event.type,
      payload: event.payload,
    }),
    'utf8',
  );
}

/** `sha256=<hex HMAC-SHA256(secret as UTF-8, body)>`. */
export function sign(secret: string, body: Uint8Array): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export function buildHeaders(options: {
  secret: string;
  /** The secret being rotated out, while its overlap lasts: adds {@link PREVIOUS_SIGNATURE_HEADER}. */
  previousSecret?: string | null | undefined;
  body: Uint8Array;
  event: Pick<WireEvent, 'id' | 'topic'>;
  userAgent: string;
  nowMs: number;
  /**
   * The subscription's own headers (validated at save: none replaces a header set here,
   * except User-Agent), sent after Sluice's.
   */
  extra?: readonly ExtraHeader[];
}): Record<string, string> {
  const headers: Record<string, string> = {
    'Content-Type': 'application/json',
    'User-Agent': options.userAgent,
    [SIGNATURE_HEADER]: sign(options.secret, options.body),
    ...(options.previousSecret ? { [PREVIOUS_SIGNATURE_HEADER]: sign(options.previousSecret, options.body) } : {}),
    'X-DECNET-Event-Id': options.event.id,
    'X-DECNET-Event-Topic': options.event.topic,
    // Send time, not event time: receivers use it to refuse stale replays of a request.
    'X-DECNET-Timestamp': String(Math.floor(options.nowMs / 1000)),
  };
  for (const { name, value } of options.extra ?? []) {
    if (name.toLowerCase() === 'user-agent') delete headers['User-Agent'];
    headers[name] = value;
  }
  return headers;
}

/** The headers as recorded and shown: the values of the secret ones masked. */
export function maskHeaders(headers: Record<string, string>, secret: readonly ExtraHeader[]): Record<string, string> {
  if (secret.length === 0) return headers;
  const names = new Set(secret.map((h) => h.name.toLowerCase()));
  const masked: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) masked[name] = names.has(name.toLowerCase()) ? MASKED_VALUE : value;
  return masked;
}

/**
 * The `ts` the reference writes: a non-empty string passes through unchanged; epoch
 * seconds become Python's `datetime.isoformat()` in UTC (`+00:00`, microseconds only
 * when non-zero); anything else is the receive time.
 */
export function canonicalTs(value: unknown, receivedAtMs: number): string {
  if (typeof value === 'string' && value.length > 0) return value;
  // A float such as time.time()'s 1776988800.25 arrives kept exact, as a JsonNumber.
  const seconds = value instanceof JsonNumber ? Number(value.literal) : value;
  // Years 1–9999, as Python's datetime holds; anything else is the receive time.
  if (typeof seconds === 'number' && seconds >= MIN_EPOCH_S && seconds < MAX_EPOCH_S) return isoFromEpochSeconds(seconds);
  return isoFromEpochSeconds(receivedAtMs / 1000);
}

/** 0001-01-01T00:00:00Z and 10000-01-01T00:00:00Z. */
const MIN_EPOCH_S = -62_135_596_800;
const MAX_EPOCH_S = 253_402_300_800;

export function isoFromEpochSeconds(seconds: number): string {
  let whole = Math.floor(seconds);
  let micros = Math.round((seconds - whole) * 1e6);
  if (micros === 1_000_000) {
    whole += 1;
    micros = 0;
  }
  const base = new Date(whole * 1000).toISOString().slice(0, 19);
  return micros === 0 ? `${base}+00:00` : `${base}.${String(micros).padStart(6, '0')}+00:00`;
}
