import { describe, expect, it } from 'vitest';
import {
  OPTION_KEYS,
  SUBSCRIPTION_OPTIONS,
  authorizationHeader,
  defaultOptions,
  headerNameError,
  headerValueError,
  optionFields,
  parseHeaderLine,
  parseOptions,
  withOptions,
} from './subscription-options';

describe('the delivery options table', () => {
  it('gives every option a contract field, a default its own schema accepts, and a distinct CLI flag', () => {
    const flags = new Set<string>();
    for (const key of OPTION_KEYS) {
      const d = SUBSCRIPTION_OPTIONS[key];
      expect(optionFields[key].check(undefined, key)).toEqual({ ok: true, value: undefined });
      expect(d.schema.check(d.default as never, key).ok).toBe(true);
      expect(flags.has(d.cli)).toBe(false);
      flags.add(d.cli);
    }
  });

  it('reads stored options: missing keys take their defaults, values no longer valid fall back, junk is ignored', () => {
    expect(parseOptions(null)).toEqual(defaultOptions());
    expect(parseOptions('not json')).toEqual(defaultOptions());
    expect(parseOptions('{"rate": 5, "concurrency": 999, "unknown": 1}')).toEqual({ ...defaultOptions(), rate: 5 });
    expect(parseOptions('{"headers": [{"name": "X-A", "value": "1"}]}').headers).toEqual([{ name: 'X-A', value: '1' }]);
  });

  it('applies only the options given, and never shares the defaults between subscriptions', () => {
    const a = defaultOptions();
    a.headers.push({ name: 'X-A', value: '1' });
    expect(defaultOptions().headers).toEqual([]);
    expect(withOptions(a, { rate: 2, burst: undefined })).toEqual({ ...a, rate: 2 });
  });
});

describe('headers', () => {
  it.each([
    ['Content-Type', /set by Sluice/],
    ['content-length', /set by Sluice/],
    ['Host', /set by Sluice/],
    ['X-DECNET-Signature', /set by Sluice/],
    ['x-decnet-anything', /set by Sluice/],
    ['Transfer-Encoding', /set by Sluice/],
    ['Bad Name', /not a valid header name/],
    ['Na:me', /not a valid header name/],
    ['', /needs a name/],
  ])('refuses the name %j', (name, message) => {
    expect(headerNameError(name)).toMatch(message);
  });

  it.each(['Authorization', 'X-Splunk-Request-Channel', 'User-Agent', 'api-key'])('accepts the name %s', (name) => {
    expect(headerNameError(name)).toBeNull();
  });

  it('refuses values that would split the request', () => {
    expect(headerValueError('X-A', 'a\r\nX-Injected: 1')).toMatch(/line breaks/);
    expect(headerValueError('X-A', 'a\u0000b')).toMatch(/control characters/);
    expect(headerValueError('X-A', 'Bearer abc.def')).toBeNull();
  });

  it("reads curl's 'Name: value' form, trimming around the value", () => {
    expect(parseHeaderLine('X-Env:  prod ')).toEqual({ name: 'X-Env', value: 'prod' });
    expect(parseHeaderLine('Authorization: Splunk a:b')).toEqual({ name: 'Authorization', value: 'Splunk a:b' });
    expect(() => parseHeaderLine('no colon')).toThrow(/write it as 'Name: value'/);
    expect(() => parseHeaderLine('Host: evil')).toThrow(/set by Sluice/);
  });

  it('spells the Authorization shortcuts as each product documents them', () => {
    expect(authorizationHeader('bearer', 'tok')).toEqual({ name: 'Authorization', value: 'Bearer tok' });
    expect(authorizationHeader('splunk', ' 0000-1111 ')).toEqual({ name: 'Authorization', value: 'Splunk 0000-1111' });
    expect(authorizationHeader('apikey', 'abc==')).toEqual({ name: 'Authorization', value: 'ApiKey abc==' });
    // RFC 7617's own examples: base64 of user-id ":" password, the second in UTF-8 (§2.1).
    expect(authorizationHeader('basic', 'Aladdin:open sesame').value).toBe('Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==');
    expect(authorizationHeader('basic', 'test:123\u00a3').value).toBe('Basic dGVzdDoxMjPCow==');
    expect(() => authorizationHeader('basic', 'nocolon')).toThrow(/USER:PASSWORD/);
    expect(() => authorizationHeader('bearer', '  ')).toThrow(/empty/);
    expect(() => authorizationHeader('bearer', 'a b')).toThrow(/spaces/);
  });
});
