import { describe, expect, it } from 'vitest';
import { JsonNumber, canonicalJson, compareCodePoints, formatNumber, parseJson } from './json';
import { SIGNING_VECTORS, type SigningVector } from '../../test/harness/signing-vectors';
import { buildBody, buildHeaders, canonicalTs, PREVIOUS_SIGNATURE_HEADER, sign, type WireEvent } from './wire';


/** From the reference implementation, copied unchanged: see test/fixtures/README.md. */
const vectors = SIGNING_VECTORS;

describe('signing vectors from the reference implementation', () => {
  it('has vectors to check', () => expect(vectors.length).toBeGreaterThanOrEqual(6));

  it.each(vectors.map((v) => [v.name, v] as const))('%s: body and signature byte for byte', (_name, v) => {
    const body = buildBody(v.event);
    expect(body.equals(Buffer.from(v.body_base64, 'base64'))).toBe(true);
    expect(body.toString('utf8')).toBe(v.body_utf8);
    expect(sign(v.secret, body)).toBe(v.signature);
  });

  it('the same events, arriving as JSON text on the bus, serialize identically', () => {
    for (const v of vectors) {
      const reparsed = parseJson(JSON.stringify(v.event)) as unknown as WireEvent;
      expect(buildBody(reparsed).toString('base64'), v.name).toBe(v.body_base64);
    }
  });
});

describe('canonical JSON', () => {
  it('sorts keys by code point at every depth, astral after BMP', () => {
    const keys = ['b', 'a', 'B', '\uffff', '😀', 'é', ''];
    expect(keys.sort(compareCodePoints)).toEqual(['', 'B', 'a', 'b', 'é', '\uffff', '😀']);
    expect(canonicalJson({ z: { y: 1, x: [{ b: 1, a: 2 }] }, a: null })).toBe('{"a":null,"z":{"x":[{"a":2,"b":1}],"y":1}}');
  });

  it('keeps integers beyond 2^53 digit for digit', () => {
    const v = parseJson('{"sid":123456789012345678901234567890,"n":-9007199254740993}');
    expect(canonicalJson(v)).toBe('{"n":-9007199254740993,"sid":123456789012345678901234567890}');
  });

  it('writes floats as the reference (orjson) does', () => {
    const cases: [string, string][] = [
      ['1.0', '1.0'],
      ['0.85', '0.85'],
      ['1714000000.5', '1714000000.5'],
      ['1e16', '1e16'],
      ['1.5e300', '1.5e300'],
      ['1.5e-7', '1.5e-7'],
      ['0.0001', '0.0001'],
      ['0.00001', '0.00001'],
      ['0.000001', '1e-6'],
      ['123456789012345.0', '123456789012345.0'],
      ['-2.50', '-2.5'],
    ];
    for (const [literal, want] of cases) expect(formatNumber(new JsonNumber(literal)), literal).toBe(want);
    expect(canonicalJson(parseJson('{"score":1.0,"ip":"1.2.3.4","n":7}'))).toBe('{"ip":"1.2.3.4","n":7,"score":1.0}');
  });

  it('keeps a "__proto__" key as data in both parsers', () => {
    expect(canonicalJson(parseJson('{"__proto__":{"x":1},"a":1}'))).toBe('{"__proto__":{"x":1},"a":1}');
    expect(canonicalJson(parseJson('{"__proto__":{"x":1.0},"a":1}'))).toBe('{"__proto__":{"x":1.0},"a":1}');
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });

  it('refuses absurd nesting with a clear error instead of overflowing the stack', () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    expect(() => canonicalJson(parseJson(deep))).toThrow(/nested deeper/);
  });
});

describe('headers and ts', () => {
  it('builds the reference headers', () => {
    const body = Buffer.from('{}');
    const h = buildHeaders({ secret: 'k'.repeat(16), body, event: { id: 'e1', topic: 'a.b' }, userAgent: 'Sluice/0.1.0', nowMs: 1_700_000_000_999 });
    expect(h).toEqual({
      'Content-Type': 'application/json',
      'User-Agent': 'Sluice/0.1.0',
      'X-DECNET-Signature': sign('k'.repeat(16), body),
      'X-DECNET-Event-Id': 'e1',
      'X-DECNET-Event-Topic': 'a.b',
      'X-DECNET-Timestamp': '1700000000',
    });
  });

  it('adds X-DECNET-Signature-Previous during a rotation, and only then', () => {
    const v = vectors[0] as SigningVector;
    const body = buildBody(v.event);
    const base = { body, event: v.event, userAgent: 'Sluice/0.1.0', nowMs: 1_700_000_000_000 };
    const newSecret = 'n'.repeat(32);
    const rotating = buildHeaders({ ...base, secret: newSecret, previousSecret: v.secret });
    // The unchanged header carries the new secret's signature; the previous one is the reference's.
    expect(rotating['X-DECNET-Signature']).toBe(sign(newSecret, body));
    expect(rotating[PREVIOUS_SIGNATURE_HEADER]).toBe(v.signature);
    expect(PREVIOUS_SIGNATURE_HEADER).toBe('X-DECNET-Signature-Previous');
    const { [PREVIOUS_SIGNATURE_HEADER]: _previous, ...rest } = rotating;
    expect(rest).toEqual(buildHeaders({ ...base, secret: newSecret }));
    for (const none of [undefined, null, '']) {
      const plain = buildHeaders({ ...base, secret: v.secret, previousSecret: none });
      expect(Object.keys(plain)).not.toContain(PREVIOUS_SIGNATURE_HEADER);
      expect(plain['X-DECNET-Signature']).toBe(v.signature);
    }
  });

  it('derives ts like Python isoformat', () => {
    expect(canonicalTs('2026-04-24T00:00:00+00:00', 0)).toBe('2026-04-24T00:00:00+00:00');
    expect(canonicalTs(1776988800, 0)).toBe('2026-04-24T00:00:00+00:00');
    expect(canonicalTs(1776988800.25, 0)).toBe('2026-04-24T00:00:00.250000+00:00');
    expect(canonicalTs(undefined, 1776988800000)).toBe('2026-04-24T00:00:00+00:00');
    expect(canonicalTs('', 1776988800000)).toBe('2026-04-24T00:00:00+00:00');
  });
});
