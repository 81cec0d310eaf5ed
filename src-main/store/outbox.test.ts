import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Outcome } from '../contract/views';
import { Store } from './database';
import { insertDelivery, insertEvent } from './deliveries';
import { backlogCounts, claimDue, releaseHeld } from './outbox';

let dir: string;
let store: Store;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-outbox-'));
  store = await Store.open(join(dir, 'sluice.db'));
});

afterEach(async () => {
  store.close();
  await rm(dir, { recursive: true, force: true });
});

const at = '2026-11-28T00:00:00.000Z';
function delivery(subscriptionId: string, outcome: Outcome): number {
  const seq = insertEvent(store, { eventId: `e-${Math.random()}`, topic: 't', type: '', ts: at, body: '{}', receivedAt: at });
  return insertDelivery(store, { eventSeq: seq, eventId: 'e', topic: 't', subscriptionId, subscriptionName: subscriptionId, url: 'http://x', outcome, at });
}
const outcomes = (ids: number[]) => ids.map((id) => store.first(store.kysely.selectFrom('deliveries').select('outcome').where('id', '=', id))?.outcome);

describe('releaseHeld', () => {
  it('releases a slice at a time, oldest first, only the subscription asked for', () => {
    const held = Array.from({ length: 12 }, () => delivery('a', 'held'));
    const other = delivery('b', 'held');
    expect(releaseHeld(store, 'a', 'deliver', 1000, 5)).toEqual(held.slice(0, 5));
    expect(releaseHeld(store, 'a', 'deliver', 1000, 5)).toEqual(held.slice(5, 10));
    expect(releaseHeld(store, 'a', 'deliver', 1000, 5)).toEqual(held.slice(10));
    expect(releaseHeld(store, 'a', 'deliver', 1000, 5)).toEqual([]);
    expect(new Set(outcomes(held))).toEqual(new Set(['pending']));
    expect(outcomes([other])).toEqual(['held']);
  });

  it('discards without a limit when none is given', () => {
    const held = Array.from({ length: 3 }, () => delivery('a', 'held'));
    expect(releaseHeld(store, 'a', 'discard', 1000)).toEqual(held);
    expect(new Set(outcomes(held))).toEqual(new Set(['discarded']));
  });
});

describe('backlogCounts', () => {
  it('counts dead letters (dead, blocked) and held events per subscription', () => {
    for (const [sub, outcome] of [
      ['a', 'dead'],
      ['a', 'blocked'],
      ['a', 'held'],
      ['a', 'delivered'],
      ['b', 'held'],
      ['b', 'held'],
      ['c', 'delivered'],
    ] as const)
      delivery(sub, outcome);
    expect(backlogCounts(store, ['a', 'b', 'c'])).toEqual(
      new Map([
        ['a', { dead: 2, held: 1, heldSince: at }],
        ['b', { dead: 0, held: 2, heldSince: at }],
      ]),
    );
    expect(backlogCounts(store, ['b'])).toEqual(new Map([['b', { dead: 0, held: 2, heldSince: at }]]));
  });
});

describe('claimDue with rooms', () => {
  const due = (subscriptionId: string, n: number, atMs = 1000): number[] =>
    Array.from({ length: n }, () => {
      const seq = insertEvent(store, { eventId: `e-${Math.random()}`, topic: 't', type: '', ts: at, body: '{}', receivedAt: at });
      return insertDelivery(store, { eventSeq: seq, eventId: 'e', topic: 't', subscriptionId, subscriptionName: subscriptionId, url: 'http://x', outcome: 'pending', at, nextAttemptAt: atMs });
    });
  const bySubscription = (rows: { subscriptionId: string }[]): Record<string, number> =>
    rows.reduce<Record<string, number>>((acc, r) => ({ ...acc, [r.subscriptionId]: (acc[r.subscriptionId] ?? 0) + 1 }), {});

  it('shares the limit out between the subscriptions with due work, not the limit to each', () => {
    for (const sub of ['a', 'b', 'c']) due(sub, 100);
    const rows = claimDue(store, 2000, 30, new Map([['a', 50], ['b', 50], ['c', 50]]));
    expect(bySubscription(rows)).toEqual({ a: 10, b: 10, c: 10 });
  });

  it('gives what the others leave to the one with more, never beyond its room, each row once', () => {
    due('a', 100);
    due('b', 3);
    const rooms = new Map([['a', 25], ['b', 50], ['c', 50]]);
    const first = claimDue(store, 2000, 30, rooms);
    expect(bySubscription(first)).toEqual({ a: 25, b: 3 });
    const second = claimDue(store, 2000, 30, rooms);
    expect(bySubscription(second)).toEqual({ a: 25 });
    expect(new Set([...first, ...second].map((r) => r.id)).size).toBe(first.length + second.length);
    // Oldest due first across subscriptions.
    expect(first.map((r) => r.id)).toEqual([...first.map((r) => r.id)].sort((x, y) => x - y));
  });
});

