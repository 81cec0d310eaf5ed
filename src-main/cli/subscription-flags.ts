/**
 * The flags of a subscription's delivery options, from the contract's table: the command
 * line's scan needs them before any command parses (args.ts), so they sit apart from their
 * parsing (subscription-options.ts) and import nothing of the CLI at run time.
 */
import { OPTION_KEYS, SUBSCRIPTION_OPTIONS, type OptionKey } from '../contract/subscription-options';
import type { OptionSpec } from './args';

/** The options' flags: `--header` repeatable, a boolean `--direct` with its `--no-direct`, the rest one value. */
function flagsOf(key: OptionKey): Record<string, OptionSpec> {
  const { kind, cli } = SUBSCRIPTION_OPTIONS[key];
  if (kind === 'headers') return { [cli]: { type: 'string', multiple: true } };
  if (kind === 'boolean') return { [cli]: { type: 'boolean' }, [`no-${cli}`]: { type: 'boolean' } };
  return { [cli]: { type: 'string' } };
}

export const OPTION_FLAGS: Record<string, OptionSpec> = {
  ...Object.assign({}, ...OPTION_KEYS.map(flagsOf)),
  'secret-header': { type: 'string', multiple: true },
  bearer: { type: 'string' },
  basic: { type: 'string' },
  'remove-header': { type: 'string', multiple: true },
};

/** Flags that take a value (for the command-line scan before the strict parse). */
export const OPTION_VALUE_FLAGS: string[] = Object.entries(OPTION_FLAGS)
  .filter(([, spec]) => spec.type === 'string')
  .map(([flag]) => flag);

