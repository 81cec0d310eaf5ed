/**
 * The header's counts (docs/design.md#the-console), from subscription views: one rule for
 * the engine's status and the console, which recounts as soon as a subscription changes.
 */
import type { SubscriptionCounts, SubscriptionView } from './views';

export function countSubscriptions(
  subs: readonly Pick<SubscriptionView, 'enabled' | 'state' | 'consecutiveFailures' | 'insecureUrl'>[],
): SubscriptionCounts {
  const counts: SubscriptionCounts = { configured: 0, enabled: 0, tripped: 0, failing: 0, insecure: 0 };
  for (const sub of subs) {
    counts.configured++;
    if (sub.enabled) counts.enabled++;
    if (sub.state === 'tripped') counts.tripped++;
    if (sub.enabled && sub.consecutiveFailures > 0) counts.failing++;
    if (sub.insecureUrl) counts.insecure++;
  }
  return counts;
}
