import { describe, expect, it } from 'vitest';
import { MAX_DEPTH, jsonNesting } from '../delivery/json';
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

  describe('nesting is checked on every message, before anything else reads the body', () => {
    /** `{"a":` × depth around `inner`. */
    const objects = (depth: number, inner = '1'): string => `${'{"a":'.repeat(depth)}${inner}${'}'.repeat(depth)}`;
    const arrays = (depth: number, inner = ''): string => `${'['.repeat(depth)}${inner}${']'.repeat(depth)}`;
    const envelopeAround = (payload: string): string => `{"v":1,"id":"deep","type":"t","ts":"t","payload":${payload}}`;

    it.each([
      // A number comes first (v): the walk that looked for numbers never went down the payload.
      ['an envelope whose payload is 5,000 deep', envelopeAround(objects(4_999))],
      ['an envelope whose payload holds arrays 5,000 deep', envelopeAround(`{"n":1,"x":${arrays(5_000)}}`)],
      ['an envelope with a float, 5,000 deep', envelopeAround(`{"f":1.5,"x":${arrays(5_000, '2.5')}}`)],
      ['a plain object 5,000 deep with a number first', `{"n":1,"x":${objects(5_000)}}`],
      ['arrays 5,000 deep', arrays(5_000, '1')],
      ['one level too many', envelopeAround(objects(MAX_DEPTH - 1, '{}'))],
      ['unbalanced, 5,000 open', arrays(5_000).slice(0, 5_000)],
    ])('rejects %s with the reason', (_name, text) => {
      const r = parseBusMessage('x.y', enc(text), at);
      expect(r).toEqual({ ok: false, reason: `body is nested deeper than ${MAX_DEPTH} levels` });
    });

    it('accepts the deepest envelope and plain object it can deliver, and their bodies are built', () => {
      // Levels are brackets open at once. An envelope's payload keeps its level in the body
      // delivered; a plain object goes one level down, inside the envelope Sluice makes.
      const deepest = [
        envelopeAround(objects(MAX_DEPTH - 2, '{}')),
        envelopeAround(objects(MAX_DEPTH - 1, '1')),
        objects(MAX_DEPTH - 2, '{}'),
        objects(MAX_DEPTH - 1, '1'),
      ];
      for (const text of deepest) {
        const r = parseBusMessage('x.y', enc(text), at);
        if (!r.ok) throw new Error(`${r.reason}: ${text.slice(0, 40)}`);
        expect(() => buildBody(r.event)).not.toThrow();
      }
    });

    it.each([
      ['a scalar inside', objects(MAX_DEPTH, '1')],
      ['an empty object inside', objects(MAX_DEPTH - 1, '{}')],
    ])('rejects a plain object that would be too deep once it is the payload of an event (%s)', (_name, text) => {
      const r = parseBusMessage('x.y', enc(text), at);
      expect(r).toEqual({ ok: false, reason: `body is nested ${MAX_DEPTH} levels deep: as the payload of an event it would be deeper than ${MAX_DEPTH} levels` });
    });

    it('does not count brackets inside strings, escaped quotes and backslashes included', () => {
      const s = `${'['.repeat(5_000)}"\\${'{'.repeat(5_000)}\\`;
      const key = `k${'['.repeat(600)}"`;
      const text = `{"v":1,"id":"s","payload":${JSON.stringify({ s, [key]: [2] })}}`;
      expect(text).toContain('\\"');
      const r = parseBusMessage('x.y', enc(text), at);
      if (!r.ok) throw new Error(r.reason);
      expect(r.event.payload).toEqual({ s, [key]: [2] });
    });

    it('measures nesting in one pass over the bytes', () => {
      expect(jsonNesting(enc('{}'))).toBe(1);
      expect(jsonNesting(enc('1'))).toBe(0);
      expect(jsonNesting(enc('{"a":[1,{"b":[]}],"c":{}}'))).toBe(4);
      expect(jsonNesting(enc(String.raw`{"a":"]]]]","b":"[[[[\\"}`))).toBe(1);
      expect(jsonNesting(enc(String.raw`{"a":"\\","b":[[]]}`))).toBe(3);
      expect(jsonNesting(enc(String.raw`{"a":"\"[[[","b":[[]]}`))).toBe(3);
      // Counting stops past the limit: a 100,000-deep body is not scanned to its end.
      expect(jsonNesting(enc(arrays(100_000)), 10)).toBe(11);
    });
  });
});
