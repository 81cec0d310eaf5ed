import { describe, expect, it } from 'vitest';
import type { DeliveryView } from '@contract/views';
import { mergeNewestFirst } from './log-merge';

const row = (id: number, outcome: DeliveryView['outcome'] = 'pending'): DeliveryView => ({
  id,
  createdAt: '2026-11-28T00:00:00.000Z',
  updatedAt: '2026-11-28T00:00:00.000Z',
  subscriptionId: 's',
  subscriptionName: 's',
  eventId: `e${id}`,
  topic: 't',
  outcome,
  statusCode: null,
  attempts: 0,
  latencyMs: null,
  error: null,
  replay: false,
  replayOf: null,
});
const ids = (rows: DeliveryView[]) => rows.map((r) => `${r.id}${r.outcome === 'delivered' ? '✓' : ''}`);

describe('mergeNewestFirst', () => {
  it('updates listed rows in place and puts new ones on top', () => {
    expect(ids(mergeNewestFirst([row(3), row(2), row(1)], [row(2, 'delivered'), row(5), row(4)], 10))).toEqual(['5', '4', '3', '2✓', '1']);
  });

  it('puts a late update of a row no longer listed among its contemporaries, not on top', () => {
    // Rows 4 and 2 scrolled out (or were never shown); their outcomes arrive late.
    expect(ids(mergeNewestFirst([row(9), row(7), row(3)], [row(4, 'delivered'), row(8, 'delivered')], 10))).toEqual(['9', '8✓', '7', '4✓', '3']);
  });

  it('keeps the newest `capacity` rows: an update older than all of them is dropped', () => {
    expect(ids(mergeNewestFirst([row(9), row(8), row(7)], [row(1, 'delivered'), row(10)], 3))).toEqual(['10', '9', '8']);
  });
});
