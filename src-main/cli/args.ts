/**
 * Command-line parsing helpers: every command parses its own arguments with
 * {@link parseCommand}, which collects every problem of the command line (with the
 * nearest option for a typo) so that bad input is reported at once, as one
 * {@link CliError} with exit code 2.
 */
import { parseArgs } from 'node:util';
import { OPTION_VALUE_FLAGS } from './subscription-flags';

/** Exit codes: 2 for bad input (the message names the problem), 1 for internal failures. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/**
 * Bad input (exit 2, the default) or a failure the message explains (exit 1), as every
 * entry point reports it: `sluice`, `npm run serve` and `npm run demo` (see usage.ts).
 */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT_USAGE,
    options?: { cause?: unknown },
  ) {
    super(message, options);
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
  'event',
  'event-id',
  'text',
  'status',
  'format',
  'metrics',
  'stream',
  'bucket',
  'key-out',
  'key-file',
  ...OPTION_VALUE_FLAGS,
];

interface CommandLine {
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

/** An option as a command declares it (the shape `node:util` parseArgs takes). */
export interface OptionSpec {
  type: 'string' | 'boolean';
  multiple?: boolean;
  short?: string;
}
type OptionsConfig = Record<string, OptionSpec>;
/** The values of a parse, typed by the options declared. */
type OptionValues<O extends OptionsConfig> = {
  [K in keyof O]?: O[K] extends { type: 'string' }
    ? O[K] extends { multiple: true }
      ? string[]
      : string
    : O[K] extends { multiple: true }
      ? boolean[]
      : boolean;
};

/**
 * What is wrong with one command line, collected rather than thrown one at a time, so
 * that a single run names every problem (exit 2): each validation adds what it finds and
 * goes on with a placeholder, and `done()` throws them all before anything runs.
 */
export class Problems {
  private readonly list: string[] = [];
  /** A problem with the command line's shape: the message points at the help. */
  private usage = false;

  constructor(readonly command: string) {}

  add(problem: string, usage = false): void {
    this.list.push(problem);
    this.usage ||= usage;
  }

  /** `fn()`, or undefined with the CliError it threw recorded as a problem. */
  check<T>(fn: () => T): T | undefined {
    try {
      return fn();
    } catch (error) {
      if (!(error instanceof CliError)) throw error;
      this.add(error.message);
      return undefined;
    }
  }

  get count(): number {
    return this.list.length;
  }

  /** Whether a problem already names `option` (`--url: missing value`, `did you mean --name?`). */
  mentions(option: string): boolean {
    const named = new RegExp(`${option.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![\\w-])`);
    return this.list.some((p) => named.test(p));
  }

  /** `--name is required`, unless a problem with it was already said (a typo, a missing value). */
  require(option: string, value: unknown): void {
    if (value === undefined && !this.mentions(option)) this.add(`${option} is required`);
  }

  /** One CliError naming every problem, one per line; nothing when there is none. */
  done(): void {
    if (this.list.length === 0) return;
    const help = this.usage ? ' (see sluice --help)' : '';
    if (this.list.length === 1) throw new CliError(`${this.command}: ${this.list[0]}${help}`);
    throw new CliError(`${this.command}: ${this.list.length} problems${help}:\n${this.list.map((p) => `  ${p}`).join('\n')}`);
  }
}

interface ParsedCommand<O extends OptionsConfig> {
  values: OptionValues<O>;
  positionals: string[];
  /** The problems found so far; the command adds its own and calls `done()`. */
  problems: Problems;
}

/**
 * A value that begins with `-` would be read as an option: such a value is given as
 * `--name=-value` (as `node:util` parseArgs requires too). `-` alone is a value (stdin).
 */
function optionLike(arg: string): boolean {
  return arg.length > 1 && arg.startsWith('-');
}

/**
 * Parse `argv` against a command's `options`, recording every problem instead of stopping
 * at the first: an unknown option (with the nearest of this command's options), an option
 * without its value, a value given to a flag. `--` ends the options.
 */
export function parseCommand<const O extends OptionsConfig>(command: string, argv: string[], options: O): ParsedCommand<O> {
  const problems = new Problems(command);
  const values: Record<string, string | boolean | (string | boolean)[]> = {};
  const positionals: string[] = [];
  const names = Object.keys(options);
  const set = (name: string, value: string | boolean): void => {
    if (options[name]?.multiple) values[name] = [...((values[name] as (string | boolean)[] | undefined) ?? []), value];
    else values[name] = value;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!optionLike(arg)) {
      positionals.push(arg);
      continue;
    }
    const next = argv[i + 1];
    let name: string;
    let inline: string | undefined;
    let label: string;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
      inline = eq === -1 ? undefined : arg.slice(eq + 1);
      label = `--${name}`;
      if (!Object.hasOwn(options, name)) {
        const near = suggest(name, names);
        problems.add(`${label}: unknown option${near.length > 0 ? `; did you mean ${orList(near.map((n) => `--${n}`))}?` : ''}`, true);
        // `--nmae siem`: "siem" is the misspelt option's value, not an argument.
        if (inline === undefined && next !== undefined && !optionLike(next) && near.some((n) => options[n]?.type === 'string')) i++;
        continue;
      }
    } else {
      // `-h`, `-f`; a cluster of short flags (`-fh`) is each of them.
      const letters = [...arg.slice(1)];
      const found = letters.map((letter) => names.find((n) => options[n]?.short === letter));
      const unknown = letters.filter((_, j) => found[j] === undefined);
      if (unknown.length > 0) {
        for (const letter of unknown) problems.add(`-${letter}: unknown option`, true);
        continue;
      }
      if (letters.length > 1) {
        for (const n of found as string[]) {
          if (options[n]?.type === 'string') problems.add(`-${options[n]?.short}: needs a value (give it on its own, or as --${n})`, true);
          else set(n, true);
        }
        continue;
      }
      name = found[0] as string;
      label = `-${letters[0]}`;
    }
    const spec = options[name] as OptionSpec;
    if (spec.type === 'boolean') {
      if (inline !== undefined) problems.add(`${label}: takes no value`, true);
      else set(name, true);
      continue;
    }
    let value = inline;
    if (value === undefined && next !== undefined && !optionLike(next)) {
      value = next;
      i++;
    }
    if (value === undefined) {
      problems.add(`${label}: missing value${next !== undefined && optionLike(next) ? ` (a value that starts with "-" is given as --${name}=${next})` : ''}`, true);
      continue;
    }
    set(name, value);
  }
  return { values: values as OptionValues<O>, positionals, problems };
}

/**
 * Exactly the operands a command expects, by name (`ID|NAME`, `KEY VALUE`): missing or
 * extra ones are problems; the operands come back padded with '' to their count.
 */
export function expectOperands(problems: Problems, positionals: string[], names: string[]): string[] {
  if (positionals.length < names.length) problems.add(`missing ${names.slice(positionals.length).join(' ')}`, true);
  const extra = positionals.slice(names.length);
  if (extra.length > 0) problems.add(`unexpected argument${extra.length > 1 ? 's' : ''} ${extra.map((a) => `"${a}"`).join(' ')}`, true);
  return names.map((_, i) => positionals[i] ?? '');
}

/**
 * The candidates nearest to a mistyped `word`, for "did you mean": within an edit
 * distance that grows with the word's length (one edit in four letters, a swapped pair
 * counting as one), ignoring case; else the one candidate that `word` begins (`--dry`).
 */
export function suggest(word: string, candidates: readonly string[]): string[] {
  const typed = word.toLowerCase();
  if (typed === '') return [];
  const limit = Math.max(1, Math.floor(typed.length / 4));
  let best = Infinity;
  let nearest: string[] = [];
  for (const candidate of candidates) {
    const d = editDistance(typed, candidate.toLowerCase());
    if (d > limit || d > best) continue;
    if (d < best) nearest = [];
    best = d;
    nearest.push(candidate);
  }
  if (nearest.length > 0) return nearest.slice(0, 3);
  const prefixed = candidates.filter((c) => c.toLowerCase().startsWith(typed));
  return typed.length >= 2 && prefixed.length === 1 ? prefixed : [];
}

/** Damerau-Levenshtein distance (optimal string alignment): insert, delete, replace, swap two neighbours. */
export function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  const at = (i: number, j: number): number => rows[i]?.[j] ?? Infinity;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, at(i - 2, j - 2) + 1);
      (rows[i] as number[])[j] = d;
    }
  }
  return at(a.length, b.length);
}

/** `a`, `a or b`, `a, b or c`. */
export function orList(items: readonly string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;
}

/** `subs lsit`: the nearest subcommand (`did you mean subs list?`), else every one. */
export function unknownSubcommand(group: string, sub: string, commands: readonly string[]): CliError {
  const near = suggest(sub, commands);
  return new CliError(
    `${group}: unknown subcommand "${sub}"; ${near.length > 0 ? `did you mean ${orList(near.map((c) => `${group} ${c}`))}?` : `expected one of: ${commands.join(', ')}`}`,
  );
}

/**
 * `raw` as one of `allowed` (case-insensitive), or a CliError naming them and the
 * nearest: `--outcome: "delivred" is not one of: pending, …; did you mean delivered?`.
 */
export function oneOf<T extends string>(label: string, raw: string, allowed: readonly T[]): T {
  const text = raw.trim();
  const found = allowed.find((a) => a.toLowerCase() === text.toLowerCase());
  if (found !== undefined) return found;
  const near = suggest(text, allowed);
  throw new CliError(`${label}: "${raw}" is not one of: ${allowed.join(', ')}${near.length > 0 ? `; did you mean ${orList(near)}?` : ''}`);
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
