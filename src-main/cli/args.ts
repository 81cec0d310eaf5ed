/**
 * Command-line parsing helpers: every command parses its own arguments strictly with
 * `node:util` parseArgs; bad input becomes a {@link CliError} with exit code 2.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** Exit codes: 2 for bad input (the message names the problem), 1 for internal failures. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT_USAGE,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** Options every command takes. */
export const GLOBAL_OPTIONS = {
  db: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Options of the commands that change something (they publish the reload signal). */
export const CHANGE_OPTIONS = { ...GLOBAL_OPTIONS, nats: { type: 'string' } } as const;

/**
 * Every option that takes a value, in any command: the command words are found before
 * the command's own strict parse, so `--db FILE subs list` is not read as command `FILE`.
 */
const VALUE_OPTIONS = [
  'db',
  'nats',
  'name',
  'url',
  'pattern',
  'preset',
  'secret',
  'limit',
  'subscription',
  'outcome',
  'topic',
  'retry-schedule',
  'keep-previous',
  'held',
  'id',
  'since',
  'from',
  'to',
  'out',
];

export interface CommandLine {
  /** The leading positional words (`subs`, `add`, an id…), in order, with their argv index. */
  words: { value: string; index: number }[];
  help: boolean;
}

/** A lenient first pass: which words were given and whether help was asked for. */
export function scanCommandLine(argv: string[]): CommandLine {
  const { tokens, values } = parseArgs({
    args: argv,
    options: {
      ...Object.fromEntries(VALUE_OPTIONS.map((name) => [name, { type: 'string' as const }])),
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
    strict: false,
    tokens: true,
  });
  const words = tokens.flatMap((t) => (t.kind === 'positional' ? [{ value: t.value, index: t.index }] : []));
  return { words, help: values['help'] === true };
}

/** `argv` without the command words at `indexes` (what the command itself parses). */
export function withoutWords(argv: string[], indexes: number[]): string[] {
  const skip = new Set(indexes);
  return argv.filter((_, i) => !skip.has(i));
}

type OptionsConfig = NonNullable<ParseArgsConfig['options']>;
type StrictConfig<O extends OptionsConfig> = { args: string[]; options: O; allowPositionals: true; strict: true };
type Parsed<O extends OptionsConfig> = ReturnType<typeof parseArgs<StrictConfig<O>>>;

/** A strict parse; an unknown option or a missing value is bad input (exit 2). */
export function parseStrict<const O extends OptionsConfig>(command: string, args: string[], options: O): Parsed<O> {
  try {
    return parseArgs<StrictConfig<O>>({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new CliError(`${command}: ${message} (see sluice --help)`);
  }
}

/** Exactly the operands a command expects, by name: `ID|NAME`, `KEY VALUE`. */
export function expectOperands(command: string, positionals: string[], names: string[]): string[] {
  if (positionals.length < names.length)
    throw new CliError(`${command}: missing ${names.slice(positionals.length).join(' ')} (see sluice --help)`);
  if (positionals.length > names.length)
    throw new CliError(`${command}: unexpected argument "${positionals[names.length] ?? ''}" (see sluice --help)`);
  return positionals;
}

/** The database file: `--db`, else `$SLUICE_DB`, else `./sluice.db`. */
export function dbPath(value: string | undefined): string {
  const path = value ?? process.env['SLUICE_DB'] ?? './sluice.db';
  if (path.trim() === '') throw new CliError('--db: a database file is required');
  return path;
}

export function parseInteger(label: string, raw: string): number {
  const text = raw.trim();
  if (!/^[+-]?\d+$/.test(text)) throw new CliError(`${label}: "${raw}" is not an integer`);
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new CliError(`${label}: "${raw}" is out of range`);
  return value;
}

const TRUE_WORDS = new Set(['true', 'yes', 'on', '1']);
const FALSE_WORDS = new Set(['false', 'no', 'off', '0']);

export function parseBoolean(label: string, raw: string): boolean {
  const text = raw.trim().toLowerCase();
  if (TRUE_WORDS.has(text)) return true;
  if (FALSE_WORDS.has(text)) return false;
  throw new CliError(`${label}: "${raw}" is not a boolean (use true or false)`);
}

/** Seconds between retries: `1,2,4`, a JSON array `[1,2,4]`, or empty for a single attempt. */
export function parseSchedule(label: string, raw: string): number[] {
  const text = raw.trim();
  if (text === '' || text === '[]') return [];
  let items: unknown[];
  if (text.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new CliError(`${label}: "${raw}" is not a JSON array of seconds`);
    }
    if (!Array.isArray(parsed)) throw new CliError(`${label}: "${raw}" is not a JSON array of seconds`);
    items = parsed;
  } else {
    items = text.split(',').map((part) => part.trim());
  }
  return items.map((item) => {
    const value = typeof item === 'number' ? item : typeof item === 'string' && item !== '' ? Number(item) : NaN;
    if (!Number.isFinite(value)) throw new CliError(`${label}: ${JSON.stringify(item)} is not a number of seconds`);
    return value;
  });
}
