/**
 * A subscription as a team shares it (team/team-records.ts TeamSubscription), for tests
 * and the bench that put one straight into a team's bucket: every field given, the ones
 * a test cares about overridden.
 */
import { randomUUID } from 'node:crypto';
import { defaultOptions } from '../../src-main/contract/subscription-options';
import type { TeamSubscription } from '../../src-main/team/team-records';

export function teamSubscription(over: Partial<TeamSubscription> & Pick<TeamSubscription, 'name' | 'url'>): TeamSubscription {
  const now = new Date().toISOString();
  return {
    id: randomUUID(),
    secret: 'a-secret-of-the-team-0123',
    previousSecret: null,
    previousSecretUntil: null,
    patterns: ['attacker.>'],
    retrySchedule: null,
    options: defaultOptions(),
    secretHeaders: [],
    enabled: true,
    createdAt: now,
    updatedAt: now,
    ...over,
  };
}
