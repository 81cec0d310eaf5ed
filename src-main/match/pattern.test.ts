import { describe, expect, it } from 'vitest';
import { expandPatterns, matchesPattern, patternError, presetsIn, subjectError } from './pattern';
import { PatternIndex } from './pattern-index';

describe('patternError', () => {
  it.each(['attacker.>', 'decky.*.state', 'system.log', '>', '*', 'a.*.>', 'canary.tok-1_x.triggered'])(
    'accepts %s',
    (p) => expect(patternError(p)).toBeNull(),
  );

  it.each([
    ['', 'empty'],
    ['attacker.', 'empty token'],
    ['.attacker', 'empty token'],
    ['a..b', 'empty token'],
    ['a.>.b', "'>' is only allowed as the last token"],
    ['att*cker.x', 'whole tokens'],
    ['a.b>', 'whole tokens'],
    ['a b', 'whitespace'],
    ['a.\tb', 'whitespace'],
    ['x'.repeat(300), 'longer than'],
  ])('refuses %j naming the problem', (p, fragment) => {
    const err = patternError(p);
    expect(err).toContain(fragment);
    if (p.length > 0 && p.length < 100) expect(err).toContain(p);
  });

  it('tells subjects from patterns', () => {
    expect(subjectError('attacker.observed')).toBeNull();
    expect(subjectError('attacker.*')).toContain('is a pattern');
  });
});

describe('matchesPattern (NATS semantics)', () => {
  it.each([
    ['attacker.>', 'attacker.observed', true],
    ['attacker.>', 'attacker.session.started', true],
    ['attacker.>', 'attacker', false],
    ['attacker.*', 'attacker.observed', true],
    ['attacker.*', 'attacker.session.started', false],
    ['decky.*.state', 'decky.web-01.state', true],
    ['decky.*.state', 'decky.web-01.traffic', false],
    ['*', 'system', true],
    ['*', 'system.log', false],
    ['>', 'anything.at.all', true],
    ['system.log', 'system.log', true],
    ['system.log', 'system.logs', false],
    ['system.log', 'system', false],
  ])('%s vs %s → %s', (p, s, want) => expect(matchesPattern(p, s)).toBe(want));
});

describe('presets', () => {
  it('expand presets first, then patterns, de-duplicated in order', () => {
    expect(expandPatterns(['DeckyStatus', 'AttackerDetail'], ['canary.>', 'attacker.>', ' ttp.* '])).toEqual([
      'decky.*.state',
      'decky.*.traffic',
      'attacker.>',
      'canary.>',
      'ttp.*',
    ]);
  });

  it('tick a preset only when all its patterns are stored', () => {
    expect(presetsIn(['decky.*.state', 'attacker.>'])).toEqual(['AttackerDetail']);
    expect(presetsIn(['decky.*.state', 'decky.*.traffic', 'system.>'])).toEqual(['DeckyStatus', 'SystemStatus']);
    expect(presetsIn(['attacker.*'])).toEqual([]);
  });
});

describe('PatternIndex', () => {
  const patterns = ['attacker.>', 'attacker.*', 'attacker.observed', 'decky.*.state', '*.*.state', '>', 'system.*', 'a.b.c.>'];
  const subjects = ['attacker.observed', 'attacker', 'attacker.session.started', 'decky.web.state', 'x.y.state', 'system.log', 'a.b.c', 'a.b.c.d.e', 'zzz'];

  it('agrees with linear matching on every subject', () => {
    const index = new PatternIndex();
    for (const p of patterns) index.add(p);
    for (const s of subjects) {
      expect(index.match(s).sort(), s).toEqual(PatternIndex.matchLinear(patterns, s).sort());
    }
  });

  it('forgets deleted patterns and keeps the others', () => {
    const index = new PatternIndex();
    for (const p of patterns) index.add(p);
    index.delete('attacker.>');
    index.delete('>');
    index.delete('decky.*.state');
    const left = patterns.filter((p) => !['attacker.>', '>', 'decky.*.state'].includes(p));
    expect(index.size).toBe(left.length);
    for (const s of subjects) expect(index.match(s).sort(), s).toEqual(PatternIndex.matchLinear(left, s).sort());
    for (const p of left) index.delete(p);
    expect(index.size).toBe(0);
    expect(index.match('attacker.observed')).toEqual([]);
  });
});
