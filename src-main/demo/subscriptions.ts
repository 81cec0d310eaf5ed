/** The demo's two subscriptions, as the console would create them (presets, then patterns). */
import type { PresetName } from '../contract/views';
import { expandPatterns } from '../match/pattern';

interface DemoSubscription {
  name: string;
  presets: PresetName[];
  patterns: string[];
}

/** The SIEM records attackers and canary hits. */
export const SIEM: DemoSubscription = { name: 'SIEM (healthy)', presets: ['AttackerDetail'], patterns: ['canary.*.triggered'] };

/**
 * The SOAR runs playbooks on decoy and system state, canaries, techniques and
 * credentials: about half of the baseline traffic, so 5 events (and 5 failed
 * deliveries) come long before its receiver's first outage ends.
 */
export const SOAR: DemoSubscription = {
  name: 'SOAR (flaky)',
  presets: ['DeckyStatus', 'SystemStatus'],
  patterns: ['canary.>', 'ttp.>', 'credential.>'],
};

/** The patterns the engine stores for a subscription. */
export function storedPatterns(sub: DemoSubscription): string[] {
  return expandPatterns(sub.presets, sub.patterns);
}
