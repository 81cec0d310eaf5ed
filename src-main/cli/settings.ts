/**
 * `sluice settings get` / `sluice settings set KEY VALUE` / `sluice settings unset KEY`.
 * Values are parsed by the setting's kind (contract/settings-descriptor.ts) here; their
 * rules (ranges, bus URL schemes) are the contract's.
 */
import { resolve } from 'node:path';
import type { SettingsPatch } from '../contract/bridge';
import { DEFAULT_SETTINGS, SETTINGS, SETTING_KEYS, isSettingKey, type SettingKey } from '../contract/settings-descriptor';
import type { SettingsView } from '../contract/views';
import {
  CHANGE_OPTIONS,
  CliError,
  EXIT_OK,
  GLOBAL_OPTIONS,
  expectOperands,
  orList,
  parseBoolean,
  parseCommand,
  parseInteger,
  parseSchedule,
  suggest,
  type Problems,
  unknownSubcommand,
} from './args';
import { out, printJson, unwrap } from './output';
import { database, withApi } from './session';

type Key = SettingKey;

const SETTINGS_COMMANDS = ['get', 'set', 'unset'] as const;

export async function settingsCommand(sub: string | undefined, argv: string[]): Promise<number> {
  switch (sub) {
    case 'get':
      return get(argv);
    case 'set':
      return set(argv);
    case 'unset':
      return unset(argv);
    case undefined:
      throw new CliError(`settings: a subcommand is required: ${SETTINGS_COMMANDS.join(', ')}`);
    default:
      throw unknownSubcommand('settings', sub, SETTINGS_COMMANDS);
  }
}

async function get(argv: string[]): Promise<number> {
  const { values, positionals, problems } = parseCommand('settings get', argv, GLOBAL_OPTIONS);
  // One key, or (without) every setting.
  const [key] = positionals.length > 1 ? expectOperands(problems, positionals, ['[KEY]']) : positionals;
  const known = key !== undefined && checkKey(problems, key) ? key : undefined;
  const db = database(values.db, 'existing', problems);
  problems.done();
  const view = await withApi({ db }, async (api) => unwrap(await api['settings.get']()));
  if (known === undefined) {
    if (values.json) printJson(view);
    else printSettings(view);
  } else if (values.json) {
    // Write-only secrets: the view has only whether they are set.
    const field = known in view ? known : `${known}Set`;
    printJson({ [field]: view[field as keyof SettingsView] });
  } else {
    printSettings(view, [known]);
  }
  return EXIT_OK;
}

async function set(argv: string[]): Promise<number> {
  const { values, positionals, problems } = parseCommand('settings set', argv, CHANGE_OPTIONS);
  const [key, raw] = expectOperands(problems, positionals, ['KEY', 'VALUE']) as [string, string];
  const known = positionals.length > 0 && checkKey(problems, key);
  // `-` reads the value from stdin, so a password or token stays out of `ps` and history:
  // read once the command line is known good.
  let patch = known && positionals.length > 1 && raw !== '-' ? problems.check(() => parseSetting(key, raw)) : undefined;
  const db = database(values.db, 'create', problems);
  problems.done();
  patch ??= parseSetting(key, raw === '-' ? await readStdin() : raw);
  const view = await withApi({ db, nats: values.nats, reload: true, command: 'settings set' }, async (api) =>
    unwrap(await api['settings.update'](patch)),
  );
  if (values.json) printJson(view);
  else out(`${key} = ${display(view, key as Key)}`);
  return EXIT_OK;
}

/** Back to the default: a secret is cleared, a list emptied, a number reset. */
async function unset(argv: string[]): Promise<number> {
  const { values, positionals, problems } = parseCommand('settings unset', argv, CHANGE_OPTIONS);
  const [key] = expectOperands(problems, positionals, ['KEY']) as [Key];
  if (positionals.length > 0) checkKey(problems, key);
  // Nothing to set back in a database that does not exist.
  const db = database(values.db, 'existing', problems);
  problems.done();
  const patch: SettingsPatch = { [key]: DEFAULT_SETTINGS[key] };
  const view = await withApi({ db, nats: values.nats, reload: true, command: 'settings unset' }, async (api) =>
    unwrap(await api['settings.update'](patch)),
  );
  if (values.json) printJson(view);
  else out(`${key} = ${display(view, key)} (default)`);
  return EXIT_OK;
}

const isKey = isSettingKey;

/** `unknown key "circuitTreshold"; did you mean circuitThreshold?`, else every key. */
function unknownKey(key: string): string {
  const near = suggest(key, SETTING_KEYS);
  return `unknown key "${key}"; ${near.length > 0 ? `did you mean ${orList(near)}?` : `valid keys: ${SETTING_KEYS.join(', ')}`}`;
}

/** Whether `key` is a setting; a problem when it is not. */
function checkKey(problems: Problems, key: string): key is Key {
  if (isKey(key)) return true;
  problems.add(unknownKey(key));
  return false;
}

/** `KEY VALUE` → a one-key patch, the value parsed by the setting's kind. */
function parseSetting(key: string, raw: string): SettingsPatch {
  if (!isKey(key)) throw new CliError(unknownKey(key));
  return { [key]: parseValue(key, raw) };
}

function parseValue(key: Key, raw: string): unknown {
  switch (SETTINGS[key].kind) {
    case 'boolean':
      return parseBoolean(key, raw);
    case 'integer':
      return parseInteger(key, raw);
    case 'schedule':
      return parseSchedule(key, raw);
    case 'list':
      // `10.0.0.0/8,192.168.10.0/24`, or '' for none.
      return raw
        .split(',')
        .map((c) => c.trim())
        .filter(Boolean);
    case 'path':
      // Stored absolute: the engine that reads it runs in another folder than this shell.
      return raw.trim() === '' ? '' : resolve(raw.trim());
    case 'text':
    case 'secret':
      return raw;
  }
}

/**
 * The key list of `sluice --help`, from the descriptors: each key, with its note in
 * parentheses, wrapped under `keys:`.
 */
export function settingsKeysHelp(indent = 6, width = 88): string {
  const first = `${' '.repeat(indent)}keys: `;
  const rest = ' '.repeat(first.length);
  const words = SETTING_KEYS.flatMap((k) => {
    const note = SETTINGS[k].cliNote;
    // `'' = none` stays on one line.
    return note === undefined ? [k] : [k, ...`(${note})`.split(/(?<!''|'' =) /)];
  });
  const lines: string[] = [];
  let line = first;
  for (const word of words) {
    const prefix = line === first || line === rest ? '' : ' ';
    if (line.length + prefix.length + word.length > width && line !== first && line !== rest) {
      lines.push(line);
      line = rest + word;
    } else line += prefix + word;
  }
  lines.push(line);
  return lines.join('\n');
}

function display(view: SettingsView, key: Key): string {
  const kind = SETTINGS[key].kind;
  // Write-only secrets: the contract reports only whether they are set.
  if (kind === 'secret') return view[`${key}Set` as keyof SettingsView] ? '(set)' : '(not set)';
  const value = view[key as keyof SettingsView];
  if (key === 'jetstreamDurable') return view.jetstreamDurable || `(this installation's own: ${view.jetstreamDurableDefault})`;
  if (kind === 'list' && Array.isArray(value)) return value.length === 0 ? '(none)' : value.join(',');
  if (kind === 'schedule' && Array.isArray(value)) return value.length === 0 ? '[] (single attempt)' : `${value.join(',')} (seconds)`;
  if (value === '') return '(empty)';
  return String(value);
}

function printSettings(view: SettingsView, keys: readonly Key[] = SETTING_KEYS): void {
  const width = Math.max(...keys.map((k) => k.length));
  for (const key of keys) out(`${key.padEnd(width)}  ${display(view, key)}`);
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}
