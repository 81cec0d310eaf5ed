import { describe, expect, it } from 'vitest';
import { buildBody } from '../delivery/wire';
import { MAX_BODY_BYTES, parseBusMessage } from './intake';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const at = Date.parse('2026-11-28T10:00:00Z');

describe('parseBusMessage', () => {
  it('takes id, type, ts and payload from a DECNET envelope; the topic from the subject', () => {
    const r = parseBusMessage(
      'attacker.observed',
      enc(JSON.stringify({ v: 1, id: 'abc', type: 'first_sighting', ts: 1776988800, topic: 'spoofed.topic', payload: { ip: '1.2.3.4' } })),
      at,
    );
    expect(r).toEqual({
      ok: true,
      event: { id: 'abc', topic: 'attacker.observed', type: 'first_sighting', ts: '2026-04-24T00:00:00+00:00', payload: { ip: '1.2.3.4' } },
    });
  });

  it('keeps an ISO ts as given', () => {
    const r = parseBusMessage('a.b', enc('{"v":1,"id":"x","type":"t","ts":"2026-01-01T00:00:00Z","payload":{}}'), at);
    expect(r.ok && r.event.ts).toBe('2026-01-01T00:00:00Z');
  });

  it('makes a plain object the payload with a generated id, empty type and receive time', () => {
    const r = parseBusMessage('system.log', enc('{"msg":"hello","level":"info"}'), at);
    if (!r.ok) throw new Error(r.reason);
    expect(r.event.payload).toEqual({ msg: 'hello', level: 'info' });
    expect(r.event.type).toBe('');
    expect(r.event.ts).toBe('2026-11-28T10:00:00+00:00');
    expect(r.event.id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it.each([
    ['not JSON', enc('not json at all'), 'not JSON'],
    ['an array', enc('[1,2,3]'), 'a JSON array, not a JSON object'],
    ['a string', enc('"hi"'), 'a JSON string'],
    ['a number', enc('42'), 'a JSON number'],
    ['null', enc('null'), 'null, not a JSON object'],
    ['empty', new Uint8Array(0), 'empty body'],
    ['invalid UTF-8', new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), 'not valid UTF-8'],
    ['over 1 MiB', enc(`{"x":"${'a'.repeat(MAX_BODY_BYTES)}"}`), 'over the 1 MiB limit'],
    ['deeply nested', enc(`{"a":${'['.repeat(5000)}${']'.repeat(5000)}}`), 'nested deeper'],
  ])('rejects %s with a reason', (_name, data, reason) => {
    const r = parseBusMessage('x.y', data, at);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toContain(reason);
  });

  it('delivers hostile strings faithfully', () => {
    const payload = { '__proto__': { polluted: true }, s: '\u0000<script>\u2028', k: '😀' };
    const raw = `{"v":1,"id":"h","type":"t","ts":"t","payload":{"__proto__":{"polluted":true},"s":"\\u0000<script>\\u2028","k":"😀"}}`;
    const r = parseBusMessage('a.b', enc(raw), at);
    if (!r.ok) throw new Error(r.reason);
    expect(buildBody(r.event).toString()).toBe(
      `{"id":"h","payload":{"__proto__":{"polluted":true},"k":"😀","s":"\\u0000<script>\u2028"},"topic":"a.b","ts":"t","type":"t","v":1}`,
    );
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    expect(payload).toBeTruthy();
  });
});
