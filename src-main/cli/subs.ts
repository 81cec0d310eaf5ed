/**
 * `sluice subs …`: list, add, update, enable, disable, rm, test. Every rule and message
 * comes from the bridge contract, exactly as the console gets them.
 */
import { readFileSync } from 'node:fs';
import type { SubscriptionInput, SubscriptionPatch } from '../contract/bridge';
import {
  EXTENDED_RETRY_SCHEDULE_S,
  PREVIOUS_SECRET_MAX_HOURS,
  PRESET_NAMES,
  type HeldAction,
  type PresetName,
  type SubscriptionView,
} from '../contract/views';
import {
  CHANGE_OPTIONS,
  CliError,
  EXIT_FAILURE,
  EXIT_OK,
  GLOBAL_OPTIONS,
  expectOperands,
  oneOf,
  parseCommand,
  parseSchedule,
  Problems,
  unknownSubcommand,
} from './args';
import { err, out, printJson, printTable, retriesLabel, SUBSCRIPTION_COLUMNS, stateLabel, unwrap } from './output';
import { database, resolveSubscription, withApi } from './session';
import { OPTION_FLAGS, optionChanges, optionsSummary } from './subscription-options';
import { INSECURE_URL_MESSAGE } from '../engine/subscription-service';

const FORM_OPTIONS = {
  ...CHANGE_OPTIONS,
  name: { type: 'string' },
  url: { type: 'string' },
  pattern: { type: 'string', multiple: true },
  preset: { type: 'string', multiple: true },
  secret: { type: 'string' },
  disabled: { type: 'boolean' },
  'retry-schedule': { type: 'string' },
  ...OPTION_FLAGS,
} as const;

/** 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: for receivers with long maintenance windows. */
export const EXTENDED_RETRY_SCHEDULE = EXTENDED_RETRY_SCHEDULE_S;

/** `default` → null (the global setting), `extended`, or seconds (`1,2,4`, `[1,2,4]`, '' for none). */
export function parseRetrySchedule(raw: string): number[] | null {
  const word = raw.trim().toLowerCase();
  if (word === 'default') return null;
  if (word === 'extended') return [...EXTENDED_RETRY_SCHEDULE];
  return parseSchedule('--retry-schedule', raw);
}

const HELD_ACTIONS: readonly HeldAction[] = ['deliver', 'discard'];

export const SUBS_COMMANDS = ['list', 'add', 'update', 'enable', 'disable', 'rm', 'test', 'preview'] as const;

export async function subsCommand(sub: string | undefined, argv: string[]): Promise<number> {
  switch (sub) {
    case 'list':
      return list(argv);
    case 'add':
      return add(argv);
    case 'update':
      return update(argv);
    case 'enable':
      return setEnabled(argv, true);
    case 'disable':
      return setEnabled(argv, false);
    case 'rm':
      return remove(argv);
    case 'test':
      return testFire(argv);
    case 'preview':
      return preview(argv);
    case undefined:
      throw new CliError(`subs: a subcommand is required: ${SUBS_COMMANDS.join(', ')}`);
    default:
      throw unknownSubcommand('subs', sub, SUBS_COMMANDS);
  }
}

/** `--preset` names, checked here so that a typo is named with the others; the contract checks them too. */
function presets(problems: Problems, raw: string[] | undefined): PresetName[] {
  return (raw ?? []).flatMap((name) => {
    const preset = problems.check(() => oneOf('--preset', name, PRESET_NAMES));
    return preset === undefined ? [] : [preset];
  });
}

async function list(argv: string[]): Promise<number> {
  const { values, positionals, problems } = parseCommand('subs list', argv, GLOBAL_OPTIONS);
  expectOperands(problems, positionals, []);
  const db = database(values.db, 'existing', problems);
  problems.done();
  const subs = await withApi({ db }, async (api) => unwrap(await api['subscriptions.list']()));
  if (values.json) printJson(subs);
  else if (subs.length === 0) out('(no subscriptions)');
  else printTable(subs, SUBSCRIPTION_COLUMNS);
  return EXIT_OK;
}

async function add(argv: string[]): Promise<number> {
  const { values, positionals, problems } = parseCommand('subs add', argv, FORM_OPTIONS);
  expectOperands(problems, positionals, []);
  const { name = '', url = '' } = values;
  problems.require('--name', values.name);
  problems.require('--url', values.url);
  const chosen = presets(problems, values.preset);
  const retrySchedule = retryScheduleOf(problems, values['retry-schedule']);
  const options = optionChanges(problems, values);
  const db = database(values.db, 'create', problems);
  problems.done();
  const created = await withApi({ db, nats: values.nats, reload: true, command: 'subs add' }, async (api) =>
    unwrap(
      await api['subscriptions.create']({
        name,
        url,
        ...(values.secret !== undefined ? { secret: values.secret } : {}),
        presets: chosen,
        patterns: values.pattern ?? [],
        enabled: values.disabled !== true,
        ...(retrySchedule !== undefined ? { retrySchedule } : {}),
        // On add, every secret header carries its value (none is kept from before).
        ...(options as Pick<SubscriptionInput, 'secretHeaders'>),
      }),
    ),
  );
  for (const warning of created.warnings) err(`warning: ${warning.code}: ${warning.message}`);
  if (values.json) {
    printJson(created);
  } else {
    const s = created.subscription;
    out(`created ${s.name} (${stateLabel(s)}) ${s.id}`);
    out(`patterns: ${s.patterns.join(' ')}`);
    if (s.retrySchedule) out(`retries: ${retriesLabel(s)}`);
    for (const line of optionsSummary(s)) out(line);
    out(`secret: ${created.secret}`);
    err('note: the secret is shown only this once; store it with the receiver now');
  }
  return EXIT_OK;
}

async function update(argv: string[]): Promise<number> {
  const { values, positionals, problems } = parseCommand('subs update', argv, {
    ...FORM_OPTIONS,
    enabled: { type: 'boolean' },
    'keep-previous': { type: 'string' },
  });
  const [ref] = expectOperands(problems, positionals, ['ID|NAME']) as [string];
  if (values.enabled && values.disabled) problems.add('--enabled and --disabled contradict each other');
  const patch: SubscriptionPatch = {};
  if (values.name !== undefined) patch.name = values.name;
  if (values.url !== undefined) patch.url = values.url;
  if (values.secret !== undefined) patch.secret = values.secret;
  if (values['keep-previous'] !== undefined) {
    if (values.secret === undefined) problems.add('--keep-previous goes with --secret (the secret being replaced stays valid)');
    const hours = problems.check(() => parseHours('--keep-previous', values['keep-previous'] as string));
    if (hours !== undefined) patch.previousSecretValidHours = hours;
  }
  // Patterns are replaced as a whole, as the edit form saves them.
  if (values.preset !== undefined || values.pattern !== undefined) {
    patch.presets = presets(problems, values.preset);
    patch.patterns = values.pattern ?? [];
  }
  if (values.enabled) patch.enabled = true;
  if (values.disabled) patch.enabled = false;
  const retrySchedule = retryScheduleOf(problems, values['retry-schedule']);
  if (retrySchedule !== undefined) patch.retrySchedule = retrySchedule;
  Object.assign(patch, optionChanges(problems, values, 'update'));
  const headerFlags = ['header', 'secret-header', 'bearer', 'basic', 'remove-header'] as const;
  const changesHeaders = headerFlags.some((flag) => (values as Record<string, unknown>)[flag] !== undefined);
  if (Object.keys(patch).length === 0 && !changesHeaders && values['retry-schedule'] === undefined && problems.count === 0)
    problems.add(
      'nothing to change (give --name, --url, --pattern, --preset, --secret, --enabled, --disabled, --retry-schedule, or a delivery option: see sluice --help)',
    );
  const db = database(values.db, 'existing', problems);
  problems.done();
  const updated = await withApi({ db, nats: values.nats, reload: true, command: 'subs update' }, async (api) => {
    const sub = await resolveSubscription(api, ref);
    if (changesHeaders) {
      // Headers are merged by name with what the subscription sends now.
      const headerProblems = new Problems('subs update');
      Object.assign(patch, optionChanges(headerProblems, values, sub));
      headerProblems.done();
    }
    return unwrap(await api['subscriptions.update'](sub.id, patch));
  });
  // `subscriptions.update` answers with the view only; the warning create gives, said again.
  if (values.url !== undefined && updated.insecureUrl) err(`warning: insecure_url: ${INSECURE_URL_MESSAGE}`);
  if (values.json) printJson(updated);
  else {
    out(`updated ${describe(updated)}`);
    for (const line of optionsSummary(updated)) out(line);
    if (updated.previousSecretUntil)
      out(`rotating: the previous secret stays valid until ${updated.previousSecretUntil} (deliveries carry X-DECNET-Signature-Previous)`);
  }
  return EXIT_OK;
}

/** `--retry-schedule`, when given: null for the default, else seconds; undefined when absent or wrong (a problem). */
function retryScheduleOf(problems: Problems, raw: string | undefined): number[] | null | undefined {
  return raw === undefined ? undefined : problems.check(() => parseRetrySchedule(raw));
}

/** Hours, 0–720, fractions allowed (`--keep-previous 24`, `0.5`). */
function parseHours(label: string, raw: string): number {
  const text = raw.trim();
  const hours = /^\d+(\.\d+)?$/.test(text) ? Number(text) : NaN;
  if (!(hours >= 0 && hours <= PREVIOUS_SECRET_MAX_HOURS)) throw new CliError(`${label}: "${raw}" is not a number of hours (0–${PREVIOUS_SECRET_MAX_HOURS})`);
  return hours;
}

async function setEnabled(argv: string[], enabled: boolean): Promise<number> {
  const command = enabled ? 'subs enable' : 'subs disable';
  const { values, positionals, problems } = parseCommand(command, argv, { ...CHANGE_OPTIONS, held: { type: 'string' } });
  const [ref] = expectOperands(problems, positionals, ['ID|NAME']) as [string];
  if (!enabled && values.held !== undefined) problems.add('--held goes with subs enable');
  // Nothing lost by default: what was held is delivered unless `--held discard` says otherwise.
  const held = (enabled && values.held !== undefined ? problems.check(() => oneOf('--held', values.held as string, HELD_ACTIONS)) : undefined) ?? 'deliver';
  const db = database(values.db, 'existing', problems);
  problems.done();
  const { before, updated, bounds } = await withApi({ db, nats: values.nats, reload: true, command }, async (api) => {
    const sub = await resolveSubscription(api, ref);
    const view = unwrap(enabled ? await api['subscriptions.setEnabled'](sub.id, true, held) : await api['subscriptions.setEnabled'](sub.id, false));
    return { before: sub, updated: view, bounds: enabled ? null : unwrap(await api['settings.get']()) };
  });
  if (values.json) printJson(updated);
  else {
    out(describe(updated));
    // The contract does not say how many were released; what was held before is what there was.
    if (enabled && !before.enabled && before.heldCount > 0)
      out(`held events: ${held === 'deliver' ? 'delivered' : 'discarded'} (${before.heldCount} were held)`);
    if (!enabled && bounds) out(heldWhilePaused(updated, bounds));
  }
  return EXIT_OK;
}

/** What a pause does with its events (docs/design.md#held-events). */
function heldWhilePaused(sub: SubscriptionView, bounds: { heldMaxCount: number; heldMaxAgeHours: number }): string {
  if (bounds.heldMaxCount <= 0) return `held events: none are kept while it is paused (heldMaxCount is 0); its events are not sent`;
  return (
    `held events: its waiting and new events are held (up to ${bounds.heldMaxCount.toLocaleString('en-US')}, ${bounds.heldMaxAgeHours} h) ` +
    `until \`sluice subs enable ${shellWord(sub.name)}\` delivers them (\`--held discard\` lets them go)`
  );
}

/** A name as it would be typed in a shell. */
function shellWord(name: string): string {
  return /^[\w.@%+=:,/-]+$/.test(name) ? name : `'${name.replace(/'/g, `'\\''`)}'`;
}

async function remove(argv: string[]): Promise<number> {
  const { values, positionals, problems } = parseCommand('subs rm', argv, CHANGE_OPTIONS);
  const [ref] = expectOperands(problems, positionals, ['ID|NAME']) as [string];
  const db = database(values.db, 'existing', problems);
  problems.done();
  const removed = await withApi({ db, nats: values.nats, reload: true, command: 'subs rm' }, async (api) => {
    const sub = await resolveSubscription(api, ref);
    unwrap(await api['subscriptions.remove'](sub.id));
    return sub;
  });
  if (values.json) printJson({ removed: true, id: removed.id, name: removed.name });
  else out(`removed ${removed.name} ${removed.id}`);
  return EXIT_OK;
}

/** One attempt with a synthetic `test.ping` event; exit 1 when it was not delivered. */
async function testFire(argv: string[]): Promise<number> {
  const { values, positionals, problems } = parseCommand('subs test', argv, GLOBAL_OPTIONS);
  const [ref] = expectOperands(problems, positionals, ['ID|NAME']) as [string];
  const db = database(values.db, 'existing', problems);
  problems.done();
  const { sub, result } = await withApi({ db, command: 'subs test' }, async (api) => {
    const found = await resolveSubscription(api, ref);
    return { sub: found, result: unwrap(await api['subscriptions.testFire'](found.id)) };
  });
  if (values.json) {
    printJson({ subscriptionId: sub.id, name: sub.name, ...result });
  } else {
    const status = result.statusCode === null ? 'no response' : `HTTP ${result.statusCode}`;
    const latency = result.latencyMs === null ? '' : ` in ${result.latencyMs} ms`;
    const error = result.error ? ` · ${result.error}` : '';
    out(`${sub.name}: ${result.delivered ? 'delivered' : 'failed'} · ${status}${latency}${error}`);
  }
  return result.delivered ? EXIT_OK : EXIT_FAILURE;
}

/**
 * `subs preview NAME [--event FILE]`: the exact request the subscription would send for
 * that event (or the newest stored one its patterns match) — request line, headers, a
 * blank line, the body byte for byte — on stdout; what was previewed on stderr. Nothing is sent.
 */
async function preview(argv: string[]): Promise<number> {
  const { values, positionals, problems } = parseCommand('subs preview', argv, { ...GLOBAL_OPTIONS, event: { type: 'string' } });
  const [ref] = expectOperands(problems, positionals, ['ID|NAME']) as [string];
  let eventJson: string | undefined;
  if (values.event !== undefined) eventJson = problems.check(() => readEventFile(values.event as string));
  const db = database(values.db, 'existing', problems);
  problems.done();
  const { sub, result } = await withApi({ db }, async (api) => {
    const found = await resolveSubscription(api, ref);
    return { sub: found, result: unwrap(await api['subscriptions.preview']({ subscriptionId: found.id, ...(eventJson !== undefined ? { eventJson } : {}) })) };
  });
  if (values.json) {
    printJson(result);
    return result.request ? EXIT_OK : EXIT_FAILURE;
  }
  if (result.event) err(`event ${result.event.eventId} on ${result.event.topic} (${result.event.type}, ${result.event.ts})`);
  if (result.event && !result.matches) err(`note: ${sub.name}'s patterns do not match ${result.event.topic}: it would not receive this event`);
  if (result.filter) err(result.filter.error ? `filter: ${result.filter.error}` : `filter: ${result.filter.pass ? 'passes' : 'filtered out: this event would not be sent'}`);
  if (!result.request) {
    err(`${sub.name}: no request: ${result.problem?.message ?? 'nothing to send'}`);
    return EXIT_FAILURE;
  }
  const lines = [`${result.request.method} ${result.request.url}`, ...Object.entries(result.request.headers).map(([k, v]) => `${k}: ${v}`), ''];
  process.stdout.write(`${lines.join('\n')}\n${result.request.body}\n`);
  return EXIT_OK;
}

/** An event file as given (`-`: stdin), up to the bus's own limit. */
function readEventFile(path: string): string {
  try {
    const text = readFileSync(path === '-' ? 0 : path, 'utf8');
    if (text.trim() === '') throw new CliError(`--event: ${path} is empty`);
    return text;
  } catch (error) {
    if (error instanceof CliError) throw error;
    throw new CliError(`--event: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

function describe(sub: SubscriptionView): string {
  return `${sub.name}: ${stateLabel(sub)}, ${sub.consecutiveFailures} consecutive failure(s) · ${sub.id}`;
}
