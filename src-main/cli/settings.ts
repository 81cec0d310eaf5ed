/**
 * `sluice settings get` / `sluice settings set KEY VALUE` / `sluice settings unset KEY`.
 * Values are parsed by the setting's type here; their rules (ranges, bus URL schemes)
 * are the contract's.
 */
import { resolve } from 'node:path';
import type { CallArgs } from '../contract/bridge';
import type { Settings, SettingsView } from '../contract/views';
import { DEFAULT_SETTINGS, SETTING_KEYS } from '../store/settings';
import {
  CHANGE_OPTIONS,
  CliError,
  EXIT_OK,
  GLOBAL_OPTIONS,
  dbPath,
  expectOperands,
  parseBoolean,
  parseInteger,
  parseSchedule,
  parseStrict,
} from './args';
import { out, printJson, unwrap } from './output';
import { withApi } from './session';

type SettingsPatch = CallArgs<'settings.update'>[0];
type Key = keyof Settings;

export const SETTINGS_COMMANDS = ['get', 'set', 'unset'] as const;

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
      throw new CliError(`settings: unknown subcommand "${sub}"; expected one of: ${SETTINGS_COMMANDS.join(', ')}`);
  }
}

async function get(argv: string[]): Promise<number> {
  const { values, positionals } = parseStrict('settings get', argv, GLOBAL_OPTIONS);
  expectOperands('settings get', positionals, []);
  const view = await withApi({ db: dbPath(values.db) }, async (api) => unwrap(await api['settings.get']()));
  if (values.json) printJson(view);
  else printSettings(view);
  return EXIT_OK;
}

async function set(argv: string[]): Promise<number> {
  const { values, positionals } = parseStrict('settings set', argv, CHANGE_OPTIONS);
  const [key, raw] = expectOperands('settings set', positionals, ['KEY', 'VALUE']) as [string, string];
  // `-` reads the value from stdin, so a password or token stays out of `ps` and history.
  const patch = parseSetting(key, raw === '-' ? await readStdin() : raw);
  const view = await withApi({ db: dbPath(values.db), nats: values.nats, reload: true }, async (api) =>
    unwrap(await api['settings.update'](patch)),
  );
  if (values.json) printJson(view);
  else out(`${key} = ${display(view, key as Key)}`);
  return EXIT_OK;
}

/** Back to the default: a secret is cleared, a list emptied, a number reset. */
async function unset(argv: string[]): Promise<number> {
  const { values, positionals } = parseStrict('settings unset', argv, CHANGE_OPTIONS);
  const [key] = expectOperands('settings unset', positionals, ['KEY']) as [string];
  if (!isKey(key)) throw new CliError(`settings unset: unknown key "${key}"; valid keys: ${SETTING_KEYS.join(', ')}`);
  const patch: SettingsPatch = { [key]: DEFAULT_SETTINGS[key] };
  const view = await withApi({ db: dbPath(values.db), nats: values.nats, reload: true }, async (api) =>
    unwrap(await api['settings.update'](patch)),
  );
  if (values.json) printJson(view);
  else out(`${key} = ${display(view, key)} (default)`);
  return EXIT_OK;
}

function isKey(key: string): key is Key {
  return (SETTING_KEYS as string[]).includes(key);
}

/** `KEY VALUE` → a one-key patch, typed by the key. */
export function parseSetting(key: string, raw: string): SettingsPatch {
  if (!isKey(key)) throw new CliError(`settings set: unknown key "${key}"; valid keys: ${SETTING_KEYS.join(', ')}`);
  const patch: SettingsPatch = {};
  switch (key) {
    case 'allowPrivate':
      patch[key] = parseBoolean(key, raw);
      break;
    case 'circuitThreshold':
    case 'concurrency':
    case 'timeoutMs':
    case 'heldMaxCount':
    case 'heldMaxAgeHours':
    case 'retentionDays':
    case 'retentionMaxRows':
      patch[key] = parseInteger(key, raw);
      break;
    case 'retrySchedule':
      patch[key] = parseSchedule(key, raw);
      break;
    case 'allowedCidrs':
      // `10.0.0.0/8,192.168.10.0/24`, or '' for none.
      patch[key] = raw
        .split(',')
        .map((c) => c.trim())
        .filter(Boolean);
      break;
    case 'natsCaFile':
    case 'natsClientCertFile':
    case 'natsClientKeyFile':
      // Stored absolute: the engine that reads it runs in another folder than this shell.
      patch[key] = raw.trim() === '' ? '' : resolve(raw.trim());
      break;
    default:
      patch[key] = raw;
  }
  return patch;
}

function display(view: SettingsView, key: Key): string {
  // Write-only secrets: the contract reports only whether they are set.
  if (key === 'natsPassword') return view.natsPasswordSet ? '(set)' : '(not set)';
  if (key === 'natsToken') return view.natsTokenSet ? '(set)' : '(not set)';
  const value = view[key];
  if (key === 'allowedCidrs') return view.allowedCidrs.length === 0 ? '(none)' : view.allowedCidrs.join(',');
  if (key === 'jetstreamDurable') return view.jetstreamDurable || `(this installation's own: ${view.jetstreamDurableDefault})`;
  if (Array.isArray(value)) return value.length === 0 ? '[] (single attempt)' : `${value.join(',')} (seconds)`;
  if (value === '') return '(empty)';
  return String(value);
}

function printSettings(view: SettingsView): void {
  const width = Math.max(...SETTING_KEYS.map((k) => k.length));
  for (const key of SETTING_KEYS) out(`${key.padEnd(width)}  ${display(view, key)}`);
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}
