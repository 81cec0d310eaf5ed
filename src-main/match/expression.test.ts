import { describe, expect, it } from 'vitest';
import { parseJson } from '../delivery/json';
import { compileExpression, runFilter, runTransform, TRANSFORM_MAX_BYTES, type CompiledExpression, type ExpressionEvent } from './expression';

const EVENT: ExpressionEvent = {
  id: 'evt-1',
  topic: 'canary.fin-01.triggered',
  type: 'canary_hit',
  ts: '2026-11-28T10:15:30+00:00',
  payload: { ip: '203.0.113.7', decky: 'fin-01', score: parseJson('72.50') },
};

function compiled(text: string, kind: 'filter' | 'transform'): CompiledExpression {
  const result = compileExpression(text, kind);
  if (!result.ok) throw new Error(result.message);
  return result.expression;
}

describe('filters', () => {
  it.each([
    ['payload.score > 70 and payload.decky in ["fin-01","fin-02"]', true],
    ['payload.score > 80', false],
    ['$contains(topic, "canary")', true],
    ['type = "first_sighting"', false],
    ['payload.missing', false],
    ['payload.decky', true],
  ])('%s → %s', async (text, pass) => {
    expect(await runFilter(compiled(text, 'filter'), EVENT)).toEqual({ pass, error: null });
  });

  it('refuses at save an expression that does not parse, saying where', () => {
    const result = compileExpression('payload.score > ', 'filter');
    expect(result.ok).toBe(false);
    expect(!result.ok && result.message).toMatch(/^invalid filter: .*(at character \d+)?/);
    expect(compileExpression('   ', 'filter')).toEqual({ ok: false, message: 'the filter is empty' });
  });

  it('stops a runaway expression within its bound, and lets the event through with the reason', async () => {
    const loop = compiled('($f := function($n) { $f($n + 1) }; $f(0))', 'filter');
    const started = performance.now();
    const verdict = await runFilter(loop, EVENT);
    expect(verdict.pass).toBe(true);
    expect(verdict.error).toMatch(/filter failed: .*(stack|timeout|deep)/i);
    const huge = await runFilter(compiled('$count([1..100000000]) > 0', 'filter'), EVENT);
    expect(huge.error).toMatch(/filter failed/);
    expect(await runFilter(compiled('$length($pad("x", 100000000)) > 0', 'filter'), EVENT)).toMatchObject({ error: expect.stringMatching(/\$pad width/) });
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});

describe('transforms', () => {
  it('builds the body from the event, numbers as numbers', async () => {
    const result = await runTransform(compiled('{"text": "hit on " & payload.decky, "score": payload.score, "id": id}', 'transform'), EVENT);
    expect(result.ok && JSON.parse(result.body.toString())).toEqual({ text: 'hit on fin-01', score: 72.5, id: 'evt-1' });
  });

  it('says why there is no body: nothing produced, an error, too large', async () => {
    expect(await runTransform(compiled('payload.nothing', 'transform'), EVENT)).toEqual({ ok: false, error: 'transform produced nothing for this event' });
    expect(await runTransform(compiled('$error("no decky")', 'transform'), EVENT)).toEqual({ ok: false, error: 'transform failed: no decky' });
    const big = await runTransform(compiled('$join([1..2000].($pad("", 1000, "x")))', 'transform'), EVENT);
    expect(big.ok).toBe(false);
    expect(!big.ok && big.error).toMatch(new RegExp(`at most ${TRANSFORM_MAX_BYTES}`));
  });
});
