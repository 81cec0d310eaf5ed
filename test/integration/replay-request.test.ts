/**
 * A replay request is one of three forms, told apart by the schema (docs/design.md#bridge-contract):
 * the handler gets exactly one form, and a request that is none or two of them is refused
 * before it, with the words the engine used when it checked the forms by hand.
 */
import { describe, expect, it } from 'vitest';
import { dispatchCall, type Handlers, type ReplayRequest } from '../../src-main/contract/bridge';

async function replay(request: unknown): Promise<{ got: ReplayRequest | null; answer: unknown }> {
  let got: ReplayRequest | null = null;
  const handlers = {
    'deliveries.replay': (r: ReplayRequest) => {
      got = r;
      return { count: 0, queued: false };
    },
  } as unknown as Handlers;
  const answer = await dispatchCall(handlers, 'deliveries.replay', [request]);
  return { got, answer };
}

describe('a replay request', () => {
  it.each([
    [{ id: 7 }, { id: 7 }],
    [{ id: 7, dryRun: true, dead: false, since: '2026-01-01T00:00:00Z' }, { id: 7, dryRun: true }],
    [{ subscriptionId: 's', dead: true }, { subscriptionId: 's', dead: true }],
    [{ subscriptionId: 's', dead: true, since: 'x', from: 'y' }, { subscriptionId: 's', dead: true, since: 'x' }],
    [{ subscriptionId: 's', pattern: 'a.>', from: 'f', to: 't', since: 'x' }, { subscriptionId: 's', pattern: 'a.>', from: 'f', to: 't' }],
    [{ subscriptionId: 's', dead: false, pattern: 'a.>', from: 'f', to: 't', dryRun: false }, { subscriptionId: 's', pattern: 'a.>', from: 'f', to: 't', dryRun: false }],
  ])('%j reaches the handler as its form alone: %j', async (request, form) => {
    const { got, answer } = await replay(request);
    expect(answer).toEqual({ ok: true, value: { count: 0, queued: false } });
    expect(got).toEqual(form);
  });

  it.each([{}, { dryRun: true }, { dead: false }, { subscriptionId: 's' }, { since: 'x' }, { from: 'f', to: 't' }])('%j says what to replay, naming no field', async (request) => {
    const { got, answer } = await replay(request);
    expect(got).toBeNull();
    expect(answer).toEqual({
      ok: false,
      error: { code: 'invalid_argument', message: 'say what to replay: an id; or a subscriptionId with dead: true; or a subscriptionId with pattern, from and to' },
    });
  });

  it.each([{ id: 1, dead: true }, { id: 1, pattern: 'a.>' }])('%j is one delivery and a selection: refused', async (request) => {
    expect((await replay(request)).answer).toEqual({
      ok: false,
      error: { code: 'invalid_argument', message: 'replay either one delivery (id) or a selection, not both' },
    });
  });

  it.each([
    [{ dead: true }, 'subscriptionId'],
    [{ pattern: 'a.>', from: 'f', to: 't' }, 'subscriptionId'],
    [{ subscriptionId: 's', pattern: 'a.>', to: 't' }, 'from'],
    [{ subscriptionId: 's', pattern: 'a.>', from: 'f' }, 'to'],
  ])('%j lacks %s for its form', async (request, field) => {
    expect((await replay(request)).answer).toEqual({ ok: false, error: { code: 'invalid_argument', message: `${field} is required`, field } });
  });

  it('names a wrong value the same in every form', async () => {
    expect((await replay({ subscriptionId: 's', dead: true, pattern: 5 })).answer).toMatchObject({ ok: false, error: { field: 'pattern', message: 'pattern must be a string' } });
    expect((await replay({ id: 1, extra: 1 })).answer).toMatchObject({ ok: false, error: { field: 'extra', message: 'extra is not a known field' } });
  });
});
