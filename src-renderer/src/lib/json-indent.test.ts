import { describe, expect, it } from 'vitest';
import { indentJson } from './json-indent';

/** The text without whitespace outside strings: what indenting may change, and nothing else. */
function tokens(text: string): string {
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (inString) {
      out += c;
      if (c === '\\') out += text[++i];
      else if (c === '"') inString = false;
    } else if (!' \t\n\r'.includes(c)) {
      out += c;
      if (c === '"') inString = true;
    }
  }
  return out;
}

describe('indentJson', () => {
  it('lays JSON out as JSON.stringify(value, null, 2) does', () => {
    for (const text of [
      '{"v":1,"id":"e4","payload":{"ip":"203.0.113.9","ports":[22,80],"tags":[],"meta":{},"ok":true,"none":null}}',
      '[]',
      '{}',
      '"just a string"',
      '-12.5',
      '[[[]],[{}],{"a":[{"b":[1,2]}]}]',
      ' { "spaced" : [ 1 , 2 ] } \n',
    ]) {
      expect(indentJson(text)).toBe(JSON.stringify(JSON.parse(text), null, 2));
    }
  });

  it('keeps number text, key order and escapes as sent', () => {
    const body = '{"payload":{"1":"one","10":"ten","2":"two","big":12345678901234567890,"float":1.0,"exp":1E+400,"fox":"🦊","escaped":"\\ud83e\\udd8a","lone":"\\ud800","slash":"\\/","quote":"a\\"b\\\\"}}';
    const shown = indentJson(body)!;
    expect(shown).toContain('"big": 12345678901234567890');
    expect(shown).toContain('"float": 1.0,');
    expect(shown).toContain('"exp": 1E+400,');
    expect(shown).toContain('"escaped": "\\ud83e\\udd8a"');
    expect(shown).toContain('"lone": "\\ud800"');
    expect(shown).toContain('"fox": "🦊"');
    expect(shown).toContain('"quote": "a\\"b\\\\"');
    expect(shown.indexOf('"1"')).toBeLessThan(shown.indexOf('"10"'));
    expect(shown.indexOf('"10"')).toBeLessThan(shown.indexOf('"2"'));
    expect(tokens(shown)).toBe(body);
    // What the console showed before: every one of these altered.
    const lossy = JSON.stringify(JSON.parse(body), null, 2);
    expect(lossy).not.toContain('12345678901234567890');
    expect(lossy).not.toContain('1.0');
    expect(lossy.indexOf('"2"')).toBeLessThan(lossy.indexOf('"10"'));
  });

  it('changes only whitespace: the tokens of the output are the tokens of the input', () => {
    const body = '{"a":[1,{"b":"x y\\n\\t","c":[true,false,null]}],"d":"{[,:]}","e":-0.0}';
    expect(tokens(indentJson(body)!)).toBe(body);
    // Re-indenting an indented text gives the same text.
    expect(indentJson(indentJson(body)!)).toBe(indentJson(body));
  });

  it('answers null for anything that is not one JSON value', () => {
    for (const text of [
      '',
      '   ',
      '{',
      '{"a":1,}',
      '[1,]',
      '{"a" 1}',
      '{a:1}',
      '{"a":1}{"b":2}',
      // Elasticsearch's bulk body (NDJSON) and a Splunk HEC batch (JSON objects one after another): shown as sent.
      '{"index":{"_id":"e1"}}\n{"a":1}\n{"index":{"_id":"e2"}}\n{"b":2}\n',
      '{"event":{"a":1}}\n{"event":{"b":2}}',
      '{"event":{"a":1}} {"event":{"b":2}}',
      '"unterminated',
      '"bad \\x escape"',
      '"bad \\u12 escape"',
      '"raw\ncontrol"',
      '01',
      '1.',
      '.5',
      '+1',
      'NaN',
      'True',
      '[1 2]',
      '{"a":1]',
      'not json at all',
    ]) {
      expect(indentJson(text), JSON.stringify(text)).toBeNull();
    }
  });

  it('copes with deep nesting', () => {
    const deep = `${'['.repeat(600)}1${']'.repeat(600)}`;
    expect(tokens(indentJson(deep)!)).toBe(deep);
  });
});
