/**
 * The key that protects subscription secrets at rest in headless runs
 * (docs/design.md#secrets-at-rest): `--secret-key-file PATH` (any command), else
 * SLUICE_SECRET_KEY, else the default key (see store/key-source.ts), and `sluice keygen`.
 */
import { chmodSync, writeFileSync } from 'node:fs';
import { resolveKeySource, type KeySource } from '../store/key-source';
import { newKeyText, SecretKeySourceError } from '../store/secret-cipher';
import { CliError, EXIT_OK, expectOperands, parseCommand } from './args';
import { err, out } from './output';

const SECRET_KEY_FILE_OPTION = '--secret-key-file';

let keyFile: string | undefined;
let resolved: KeySource | undefined;
let saidMade = false;

/**
 * Take `--secret-key-file PATH` (or `--secret-key-file=PATH`) out of the command line,
 * wherever it is, before the command parses the rest: every command accepts it.
 */
export function takeSecretKeyFile(argv: string[]): string[] {
  const rest: string[] = [];
  keyFile = undefined;
  resolved = undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    let value: string | undefined;
    if (arg === SECRET_KEY_FILE_OPTION) {
      value = argv[i + 1];
      if (value === undefined || value.startsWith('--')) throw new CliError(`${SECRET_KEY_FILE_OPTION}: a path is required`);
      i++;
    } else if (arg.startsWith(`${SECRET_KEY_FILE_OPTION}=`)) {
      value = arg.slice(SECRET_KEY_FILE_OPTION.length + 1);
    } else {
      rest.push(arg);
      continue;
    }
    if (keyFile !== undefined && keyFile !== value) throw new CliError(`${SECRET_KEY_FILE_OPTION} given twice`);
    keyFile = value;
  }
  return rest;
}

/** This run's key source (`--secret-key-file`, else SLUICE_SECRET_KEY, else the default key); bad keys exit 2. */
export async function cliKeySource(): Promise<KeySource> {
  if (resolved) return resolved;
  try {
    resolved = await resolveKeySource(keyFile);
  } catch (error) {
    if (error instanceof SecretKeySourceError) throw new CliError(error.message);
    throw error;
  }
  for (const warning of resolved.warnings) err(`warning: ${warning}`);
  return resolved;
}

/** `keys.ensureKey()`, a failure exiting 2 with its reason. */
export function ensureCliKey(keys: KeySource): void {
  try {
    keys.ensureKey();
  } catch (error) {
    if (error instanceof SecretKeySourceError) throw new CliError(error.message);
    throw error;
  }
}

/** Said once, when this process made the default key: the operator must keep it. */
export function sayIfKeyMade(keys: KeySource): void {
  const made = keys.madeKey();
  if (made === null || saidMade) return;
  saidMade = true;
  err(`sluice: made a new key for subscription secrets: ${made}`);
  err('sluice: keep a copy somewhere safe: without it the stored subscription secrets cannot be read back');
}

const KEYGEN_OPTIONS = {
  out: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/**
 * `sluice keygen [--out PATH]`: a new random 32-byte key, base64, for an operator who
 * keeps the key elsewhere than the default. With --out it goes to a new file (mode 0600,
 * never over an existing one); without, to stdout (for SLUICE_SECRET_KEY).
 */
export function keygenCommand(argv: string[]): number {
  const { values, positionals, problems } = parseCommand('keygen', argv, KEYGEN_OPTIONS);
  expectOperands(problems, positionals, []);
  if (values.out !== undefined && values.out.trim() === '') problems.add('--out needs a path');
  problems.done();
  const text = newKeyText();
  if (values.out === undefined) {
    process.stdout.write(text);
    return EXIT_OK;
  }
  const path = values.out;
  try {
    writeFileSync(path, text, { mode: 0o600, flag: 'wx' });
    chmodSync(path, 0o600);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new CliError(`keygen: ${path} already exists; refusing to replace a key (secrets encrypted with it would be lost)`);
    throw new CliError(`keygen: cannot write ${path}: ${(error as Error).message}`);
  }
  out(`wrote a new key to ${path} (mode 0600)`);
  err(`use it with: sluice run ${SECRET_KEY_FILE_OPTION} ${path}   (and the same option on every command; without it, the default key is used)`);
  err('keep a copy somewhere safe: without it the stored subscription secrets cannot be read back');
  return EXIT_OK;
}
