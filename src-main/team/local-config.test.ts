import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { teamSubscription } from '../../test/harness/team';
import { Store } from '../store/database';
import { getSubscription, insertSubscription, listSubscriptions } from '../store/subscriptions';
import { localBreakerFields, mirrorSubscription, teamSubscriptionOf, unmirrorSubscription } from './local-config';
import { CLEAR_BREAKER, type TeamSubscription } from './team-records';

let dir: string;
let store: Store;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-local-config-'));
  store = await Store.open(join(dir, 'sluice.db'));
});

afterEach(async () => {
  store.close();
  await rm(dir, { recursive: true, force: true });
});

const team = (over: Partial<TeamSubscription> = {}): TeamSubscription =>
  teamSubscription({
    id: 'sub-1',
    name: 'siem',
    url: 'https://siem.example/hook',
    secret: 'a-team-secret-0123456789',
    createdAt: '2026-12-01T00:00:00.000Z',
    updatedAt: '2026-12-01T00:00:00.000Z',
    ...over,
  });

const TRIPPED = { ...CLEAR_BREAKER, tripped: true, consecutiveFailures: 5, trippedAt: '2026-12-02T00:00:00.000Z', lastError: 'HTTP 500' };

describe('a team subscription in a member database', () => {
  it('is inserted, then updated, then found the same', () => {
    expect(mirrorSubscription(store, team(), CLEAR_BREAKER)).toBe('inserted');
    expect(getSubscription(store, 'sub-1')).toMatchObject({ name: 'siem', secret: 'a-team-secret-0123456789', enabled: true, autoDisabledAt: null });
    expect(mirrorSubscription(store, team({ url: 'https://siem.example/v2', updatedAt: '2026-12-03T00:00:00.000Z' }), CLEAR_BREAKER)).toBe('updated');
    expect(getSubscription(store, 'sub-1')?.url).toBe('https://siem.example/v2');
    expect(mirrorSubscription(store, team({ url: 'https://siem.example/v2', updatedAt: '2026-12-03T00:00:00.000Z' }), CLEAR_BREAKER)).toBe('same');
  });

  it('is tripped here while the shared breaker is, and switched on by the analyst all the same in what the team shares', () => {
    mirrorSubscription(store, team(), TRIPPED);
    const local = getSubscription(store, 'sub-1');
    expect(local).toMatchObject({ enabled: false, autoDisabledAt: TRIPPED.trippedAt, consecutiveFailures: 5, lastError: 'HTTP 500' });
    // Tripped is the breaker's: what the team shares says the analyst has it on.
    expect(teamSubscriptionOf(local as NonNullable<typeof local>).enabled).toBe(true);
    // Paused by the analyst: off, and not tripped.
    expect(localBreakerFields(false, CLEAR_BREAKER)).toMatchObject({ enabled: false, autoDisabledAt: null });
    mirrorSubscription(store, team({ enabled: false }), CLEAR_BREAKER);
    expect(teamSubscriptionOf(getSubscription(store, 'sub-1') as NonNullable<ReturnType<typeof getSubscription>>).enabled).toBe(false);
  });

  it('renames aside a local subscription of the same name, never overwriting it, and goes when the team deletes it', () => {
    insertSubscription(store, { ...team({ id: 'local-1' }), consecutiveFailures: 0, lastSuccessAt: null, lastFailureAt: null, lastError: null, autoDisabledAt: null });
    mirrorSubscription(store, team(), CLEAR_BREAKER);
    expect(listSubscriptions(store).map((s) => [s.id, s.name]).sort()).toEqual([
      ['local-1', 'siem (local)'],
      ['sub-1', 'siem'],
    ]);
    expect(unmirrorSubscription(store, 'sub-1')).toBe(true);
    expect(unmirrorSubscription(store, 'sub-1')).toBe(false);
    expect(listSubscriptions(store).map((s) => s.id)).toEqual(['local-1']);
  });
});
