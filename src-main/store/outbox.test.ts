import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Outcome } from '../contract/views';
import { Store } from './database';
import { insertDelivery, insertEvent } from './deliveries';
import { backlogCounts, releaseHeld } from './outbox';

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
