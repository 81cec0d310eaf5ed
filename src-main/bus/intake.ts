/**
 * Bus message intake (docs/design.md#envelope, docs/design.md#rejections-and-limits): raw
 * bytes on a subject become a WireEvent, or a rejection with a reason. Attackers'
 * activity feeds this bus, so nothing here trusts the body: bad input is counted and
 * shown, never delivered, never a crash.
 */
import { randomUUID } from 'node:crypto';
import { JsonDepthError, JsonNumber, MAX_DEPTH, jsonNesting, parseJson, type JsonObject, type JsonValue } from '../delivery/json';
import { canonicalTs, type WireEvent } from '../delivery/wire';

export const MAX_BODY_BYTES = 1024 * 1024;
/**
 * The event id and the subject travel as header values (X-DECNET-Event-Id and -Topic):
 * printable ASCII only, bounded. Anything else could not be sent (or would inject
 * headers), and would fail on every attempt and trip the subscription: anyone who can
 * publish on the bus could then disable a receiver at will.
 */
const HEADER_SAFE = /^[\x21-\x7e]{1,256}$/;
const HEADER_SAFE_SUBJECT = /^[\x21-\x7e]{1,1024}$/;

type IntakeResult = { ok: true; event: WireEvent } | { ok: false; reason: string };

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function parseBusMessage(subject: string, data: Uint8Array, receivedAtMs: number): IntakeResult {
  if (!HEADER_SAFE_SUBJECT.test(subject))
    return { ok: false, reason: 'subject has characters that cannot be sent in X-DECNET-Event-Topic (printable ASCII only)' };
  if (data.byteLength === 0) return { ok: false, reason: 'empty body' };
  if (data.byteLength > MAX_BODY_BYTES)
    return { ok: false, reason: `body is ${data.byteLength} bytes, over the 1 MiB limit` };
  let text: string;
  try {
    text = utf8.decode(data);
  } catch {
    return { ok: false, reason: 'body is not valid UTF-8' };
  }
  // Measured on every message, before parsing: the parser's own depth check only runs on
  // the part of the tree it walks, and the body of an event is built (recursively) later,
  // where a refusal would be an error instead of a rejection.
  const nesting = jsonNesting(data);
  if (nesting > MAX_DEPTH) return { ok: false, reason: `body is ${new JsonDepthError().message}` };
  let body: JsonValue;
  try {
    body = parseJson(text);
  } catch (err) {
    if (err instanceof JsonDepthError) return { ok: false, reason: `body is ${err.message}` };
    return { ok: false, reason: `body is not JSON (${(err as Error).message.slice(0, 120)})` };
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body) || !isPlainJsonObject(body)) {
    return { ok: false, reason: `body is ${describeJson(body)}, not a JSON object` };
  }
  return toEvent(subject, body, nesting, receivedAtMs);
}

function isPlainJsonObject(value: object): value is JsonObject {
  return Object.getPrototypeOf(value) === Object.prototype;
}

function describeJson(value: JsonValue): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a JSON array';
  if (typeof value === 'object') return 'a number';
  return `a JSON ${typeof value}`;
}

/**
 * A DECNET envelope is an object with an integer `v` and an object `payload`; it supplies
 * id, type, ts and payload. Any other object is itself the payload. The topic is always
 * the subject: a topic field in the body is never trusted.
 *
 * `nesting`: the body's levels. The event delivered is an object with the payload one
 * level down, so an envelope's payload keeps its level and any other object goes one
 * deeper: refused here when that passes MAX_DEPTH, so every event accepted can be built.
 */
function toEvent(subject: string, body: JsonObject, nesting: number, receivedAtMs: number): IntakeResult {
  const payload = body['payload'];
  const v = body['v'];
  // `1.0` (a Python float) arrives kept exact, as a JsonNumber.
  const version = v instanceof JsonNumber ? Number(v.literal) : v;
  const isEnvelope =
    Number.isInteger(version) && payload !== null && typeof payload === 'object' && !Array.isArray(payload) && !(payload instanceof JsonNumber);
  if (!isEnvelope) {
    if (nesting + 1 > MAX_DEPTH)
      return { ok: false, reason: `body is nested ${nesting} levels deep: as the payload of an event it would be deeper than ${MAX_DEPTH} levels` };
    return { ok: true, event: { id: randomUUID(), topic: subject, type: '', ts: canonicalTs(undefined, receivedAtMs), payload: body } };
  }
  const id = body['id'];
  const type = body['type'];
  if (typeof id === 'string' && id.length > 0 && !HEADER_SAFE.test(id))
    return { ok: false, reason: 'envelope id cannot be sent in X-DECNET-Event-Id (1–256 printable ASCII characters)' };
  return {
    ok: true,
    event: {
      id: typeof id === 'string' && id.length > 0 ? id : randomUUID(),
      topic: subject,
      type: typeof type === 'string' ? type : '',
      ts: canonicalTs(body['ts'], receivedAtMs),
      payload,
    },
  };
}
