/**
 * NATS subject-pattern rules (docs/design.md#topic-patterns-and-presets). Tokens are
 * separated by `.` and non-empty; `*` matches exactly one token, `>` one or more trailing
 * tokens. Wildcards are only whole tokens and `>` only last. No whitespace. Pure: the
 * renderer validates with it too.
 */
import { PRESETS, type PresetName } from '../contract/views';

const MAX_PATTERN_LENGTH = 256;

/** Why a pattern is invalid, or null when it is valid. */
export function patternError(pattern: string): string | null {
  if (pattern.length === 0) return 'a pattern must not be empty';
  if (pattern.length > MAX_PATTERN_LENGTH) return `pattern is longer than ${MAX_PATTERN_LENGTH} characters`;
  if (/[\s\u0000-\u001f\u007f]/u.test(pattern)) return `"${pattern}" contains whitespace or a control character`;
  const tokens = pattern.split('.');
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i] as string;
    if (token.length === 0) return `"${pattern}" has an empty token (check for a leading, trailing or double dot)`;
    if (token === '>') {
      if (i !== tokens.length - 1) return `"${pattern}": '>' is only allowed as the last token`;
      continue;
    }
    if (token === '*') continue;
    if (token.includes('*') || token.includes('>'))
      return `"${pattern}": wildcards '*' and '>' must be whole tokens`;
  }
  return null;
}

/** A subject as published: like a pattern but without wildcards. */
export function subjectError(subject: string): string | null {
  const err = patternError(subject);
  if (err) return err;
  return /(^|\.)[*>](\.|$)/.test(subject) ? `"${subject}" is a pattern, not a subject` : null;
}

export function matchesPattern(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const t = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    const token = p[i];
    if (token === '>') return i < t.length;
    if (i >= t.length) return false;
    if (token === '*') {
      if ((t[i] as string).length === 0) return false;
      continue;
    }
    if (token !== t[i]) return false;
  }
  return p.length === t.length;
}

/** Presets first, then advanced patterns, trimmed and de-duplicated, order kept. */
export function expandPatterns(presets: readonly PresetName[], patterns: readonly string[]): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  const add = (p: string): void => {
    if (!seen.has(p)) {
      seen.add(p);
      out.push(p);
    }
  };
  for (const preset of presets) for (const p of PRESETS[preset]) add(p);
  for (const p of patterns) {
    const trimmed = p.trim();
    if (trimmed) add(trimmed);
  }
  return out;
}

/** Presets whose patterns are all stored: the edit form ticks exactly these. */
export function presetsIn(patterns: readonly string[]): PresetName[] {
  const stored = new Set(patterns);
  return (Object.keys(PRESETS) as PresetName[]).filter((name) => PRESETS[name].every((p) => stored.has(p)));
}
