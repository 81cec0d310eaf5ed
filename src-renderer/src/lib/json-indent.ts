/**
 * JSON text re-indented for reading, without changing one token of it.
 *
 * The delivery detail shows the body a receiver got. `JSON.stringify(JSON.parse(body))`
 * would mislead exactly where it matters: integers beyond 2^53 rounded, `1.0` shown as `1`,
 * integer-like keys moved first, escapes such as `\ud83e\udd8a` decoded. This reads the
 * text as a token stream instead: strings, numbers and literals are copied as they stand,
 * keys keep their order, and only the whitespace between tokens changes, laid out as
 * `JSON.stringify(value, null, 2)` lays it out. Removing that whitespace gives the input back.
 */

/** The text indented, or null when it is not one JSON value (then show it as it is). */
export function indentJson(text: string, indent = '  '): string | null {
  let i = 0;
  let out = '';

  const fail = (): never => {
    throw new NotJson();
  };
  const skipSpace = (): void => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
  };
  const string = (): void => {
    const start = i++;
    for (;;) {
      if (i >= text.length) fail();
      const c = text.charCodeAt(i);
      if (c === 0x22) break;
      if (c < 0x20) fail();
      if (c === 0x5c) {
        const e = text[i + 1];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) fail();
          i += 6;
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) i += 2;
        else fail();
      } else i++;
    }
    i++;
    out += text.slice(start, i);
  };
  const value = (depth: number): void => {
    skipSpace();
    const c = text[i];
    if (c === '{' || c === '[') {
      const close = c === '{' ? '}' : ']';
      i++;
      skipSpace();
      if (text[i] === close) {
        i++;
        out += c + close;
        return;
      }
      const inner = `\n${indent.repeat(depth + 1)}`;
      out += c;
      for (;;) {
        out += inner;
        if (close === '}') {
          skipSpace();
          if (text[i] !== '"') fail();
          string();
          skipSpace();
          if (text[i] !== ':') fail();
          i++;
          out += ': ';
        }
        value(depth + 1);
        skipSpace();
        if (text[i] === ',') {
          i++;
          out += ',';
        } else if (text[i] === close) {
          i++;
          out += `\n${indent.repeat(depth)}${close}`;
          return;
        } else fail();
      }
    }
    if (c === '"') return string();
    // A number or a literal, copied character for character.
    const token = /^(?:-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i, i + 4096));
    if (!token) return fail();
    i += token[0].length;
    out += token[0];
  };

  try {
    value(0);
    skipSpace();
    return i === text.length ? out : null;
  } catch (error) {
    // Not JSON, or nested beyond the stack: the caller shows the text as it is.
    if (error instanceof NotJson || error instanceof RangeError) return null;
    throw error;
  }
}

class NotJson extends Error {
  constructor() {
    super('not JSON');
    this.name = 'NotJson';
  }
}
