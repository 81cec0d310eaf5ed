/**
 * `npm run serve -- --keep-token`: the console's token kept in a file beside the database
 * (`<db>.console-token`), so the printed address, and every tab opened from it, stays
 * valid across restarts (docs/design.md#web-host). The token is the console's only key:
 * the file is created readable by its owner alone (0600), and one that every user of
 * the machine can read is refused, as `--secret-key-file` refuses such a key file.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';

export const CONSOLE_TOKEN_SUFFIX = '.console-token';
/** 32 random bytes as base64url, as the web host makes them; a longer one is accepted. */
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43,256}$/;

/** A token file that cannot be used: the message names the file, what is wrong and the fix. */
export class ConsoleTokenError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConsoleTokenError';
  }
}

export interface KeptToken {
  token: string;
  path: string;
  /** Made at this start (no file before). */
  created: boolean;
  /** Things the operator should fix (a file its group can read). */
  warnings: string[];
}

/** Where `--keep-token` keeps the token of the database `db`. */
export function consoleTokenPath(db: string): string {
  return `${db}${CONSOLE_TOKEN_SUFFIX}`;
}

/** The token kept at `path`, made (mode 0600) when there is none yet. */
export function keepConsoleToken(path: string): KeptToken {
  const made = randomBytes(32).toString('base64url');
  try {
    // `wx`: never through an existing file or link; the mode is set as it is created.
    writeFileSync(path, `${made}\n`, { mode: 0o600, flag: 'wx' });
    return { token: made, path, created: true, warnings: [] };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EEXIST') throw new ConsoleTokenError(`--keep-token: cannot create the console token file ${path}: ${(error as Error).message}`, { cause: error });
  }
  return { ...readConsoleToken(path), created: false };
}

function readConsoleToken(path: string): Omit<KeptToken, 'created'> {
  const warnings: string[] = [];
  let text: string;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new ConsoleTokenError(`--keep-token: the console token file ${path} is not a regular file`);
    if (process.platform !== 'win32') {
      if ((st.mode & 0o007) !== 0)
        throw new ConsoleTokenError(
          `--keep-token: the console token file ${path} is readable by every user on this machine (mode ${modeText(st.mode)}), ` +
            `and it opens the console; restrict it with: chmod 600 ${path} (or delete it: a new one is made at the next start)`,
        );
      if ((st.mode & 0o070) !== 0)
        warnings.push(`the console token file ${path} is accessible to its group (mode ${modeText(st.mode)}); consider chmod 600 ${path}`);
    }
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if (error instanceof ConsoleTokenError) throw error;
    throw new ConsoleTokenError(`--keep-token: cannot read the console token file ${path}: ${(error as Error).message}`, { cause: error });
  }
  const token = text.trim();
  if (!TOKEN_SHAPE.test(token))
    throw new ConsoleTokenError(
      `--keep-token: ${path} does not hold a console token (43 or more letters, digits, - and _); delete it and a new one is made at the next start`,
    );
  return { token, path, warnings };
}

function modeText(mode: number): string {
  return `0${(mode & 0o777).toString(8)}`;
}
