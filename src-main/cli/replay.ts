/**
 * `sluice deliveries replay`: send deliveries again, in exactly one of three forms — one
 * delivery (`--id`), a subscription's dead letters (`--dead [--since]`), or stored events
 * by topic pattern and time window to a subscription. `--dry-run` only counts.
 */
import type { ReplayRequest } from '../contract/bridge';
import { CHANGE_OPTIONS, CliError, EXIT_OK, expectOperands, parseCommand, parseInteger, type Problems } from './args';
import { err, out, printJson, unwrap } from './output';
import { database, resolveSubscription, withApi } from './session';

const OPTIONS = {
  ...CHANGE_OPTIONS,
  id: { type: 'string' },
  subscription: { type: 'string' },
  dead: { type: 'boolean' },
  since: { type: 'string' },
  pattern: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  'dry-run': { type: 'boolean' },
} as const;

const REPLAY_FORMS =
  '--id DELIVERY_ID | --subscription ID|NAME --dead [--since TIME] | --subscription ID|NAME --pattern P --from TIME --to TIME';

/** What was asked for, before the subscription name is resolved. */
type Selection =
  | { kind: 'id'; id: number }
  | { kind: 'dead'; subscription: string; since?: string }
  | { kind: 'pattern'; subscription: string; pattern: string; from: string; to: string };

export async function replayCommand(argv: string[]): Promise<number> {
  const { values, positionals, problems } = parseCommand('deliveries replay', argv, OPTIONS);
  expectOperands(problems, positionals, []);
  const selection = selectionOf(values, problems);
  const dryRun = values['dry-run'] === true;
  // Nothing to replay, or count, in a database that does not exist.
  const db = database(values.db, 'existing', problems);
  problems.done();
  const result = await withApi({ db, nats: values.nats, reload: !dryRun, command: 'deliveries replay' }, async (api) => {
    let request: ReplayRequest;
    if (selection.kind === 'id') request = { id: selection.id };
    else {
      const sub = await resolveSubscription(api, selection.subscription);
      request =
        selection.kind === 'dead'
          ? { subscriptionId: sub.id, dead: true, ...(selection.since ? { since: selection.since } : {}) }
          : { subscriptionId: sub.id, pattern: selection.pattern, from: selection.from, to: selection.to };
    }
    return unwrap(await api['deliveries.replay']({ ...request, dryRun }));
  });
  if (values.json) printJson(result);
  else if (dryRun) out(`would queue ${deliveries(result.count)} (dry run; nothing was queued)`);
  else {
    out(`queued ${deliveries(result.count)}`);
    if (result.count > 0) err('note: a running engine (sluice run, the console) sends them; otherwise the next one to start does');
  }
  return EXIT_OK;
}

/**
 * Exactly one selection form; anything else is a problem naming the valid forms. Every
 * TIME given is checked, whatever the form. With problems, the selection is a placeholder.
 */
function selectionOf(
  values: {
    id?: string | undefined;
    subscription?: string | undefined;
    dead?: boolean | undefined;
    since?: string | undefined;
    pattern?: string | undefined;
    from?: string | undefined;
    to?: string | undefined;
  },
  problems: Problems,
): Selection {
  const { id, subscription, dead, since, pattern, from, to } = values;
  const usage = (problem: string): void => problems.add(`${problem}; give exactly one of: ${REPLAY_FORMS}`, true);
  const time = (label: string, raw: string | undefined): string | undefined => (raw === undefined ? undefined : problems.check(() => isoTime(label, raw)));
  const times = { since: time('--since', since), from: time('--from', from), to: time('--to', to) };
  const none: Selection = { kind: 'id', id: 0 };
  if (id !== undefined) {
    if (subscription !== undefined || dead || since !== undefined || pattern !== undefined || from !== undefined || to !== undefined)
      usage('--id selects one delivery and takes no other selection option');
    const n = problems.check(() => parseInteger('--id', id));
    if (n !== undefined && n < 1) problems.add(`--id: "${id}" is not a delivery id`);
    return n === undefined ? none : { kind: 'id', id: n };
  }
  if (subscription === undefined) {
    usage('nothing selected');
    return none;
  }
  if (dead) {
    if (pattern !== undefined || from !== undefined || to !== undefined) usage('--dead and --pattern/--from/--to are different forms');
    return times.since === undefined ? { kind: 'dead', subscription } : { kind: 'dead', subscription, since: times.since };
  }
  if (pattern !== undefined) {
    if (since !== undefined) usage('--since goes with --dead; a pattern replay takes --from and --to');
    if (from === undefined || to === undefined) usage('--pattern needs both --from and --to');
    if (times.from !== undefined && times.to !== undefined && times.from > times.to) problems.add(`--from (${from}) is after --to (${to})`);
    return { kind: 'pattern', subscription, pattern, from: times.from ?? '', to: times.to ?? '' };
  }
  usage('--subscription needs --dead or --pattern');
  return none;
}

const ISO_8601 = /^\d{4}-\d\d-\d\d(?:[T ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:?\d\d)?)?$/i;

/**
 * An ISO-8601 time (`2026-11-28T10:00:00Z`, `2026-11-28T11:00+01:00`, `2026-11-28`) as
 * UTC. A date-time without an offset is local time, as everywhere on the command line.
 */
export function isoTime(label: string, raw: string): string {
  const text = raw.trim();
  const time = ISO_8601.test(text) && realDate(text) ? new Date(text.replace(' ', 'T')) : null;
  if (!time || Number.isNaN(time.getTime()))
    throw new CliError(`${label}: "${raw}" is not an ISO-8601 time (e.g. 2026-11-28T10:00:00Z or 2026-11-28T11:00:00+01:00)`);
  return time.toISOString();
}

/** `2026-02-30` is not a day (Date would roll it over to March). */
function realDate(text: string): boolean {
  const [y, m, d] = text.slice(0, 10).split('-').map(Number) as [number, number, number];
  const day = new Date(Date.UTC(y, m - 1, d));
  return day.getUTCMonth() === m - 1 && day.getUTCDate() === d;
}

function deliveries(n: number): string {
  return `${n} ${n === 1 ? 'delivery' : 'deliveries'}`;
}
