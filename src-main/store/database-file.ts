/**
 * The database file itself, apart from the connection to it: where a path points (a
 * missing folder is never made), the StoreError every store failure is, and what is done
 * with a damaged file (recognised by SQLite's corruption codes, moved aside with its
 * -wal/-shm, never deleted). The store (database.ts) opens, checks and migrates through
 * these; the engine's claim and the entry points judge a path with them first.
 */
import { existsSync, renameSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';

export class StoreError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreError';
  }
}

/** Where a database path points, judged before anything opens it. */
export interface DatabaseLocation {
  /** The path made absolute, for messages. */
  absolute: string;
  /** A file is there (opening it opens that database; else a new one is created). */
  exists: boolean;
  /** Why no database can be there: its folder is missing, or the path is a folder. */
  problem: string | null;
}

/**
 * Where the database at `path` stands. A missing folder is a problem, never made on the
 * way: a typo in a `--db` path must not quietly grow a new tree with a new, empty
 * database in it. The entry points (CLI, web host) judge their path with this first;
 * {@link Store.open} and the engine's claim refuse a missing folder too.
 */
export function locateDatabase(path: string): DatabaseLocation {
  const absolute = resolve(path);
  const folder = dirname(absolute);
  const kind = (p: string): 'file' | 'folder' | 'none' => {
    try {
      return statSync(p).isDirectory() ? 'folder' : 'file';
    } catch {
      return 'none';
    }
  };
  const at = kind(absolute);
  if (at === 'folder') return { absolute, exists: false, problem: `${absolute} is a folder, not a database file` };
  if (at === 'file') return { absolute, exists: true, problem: null };
  const parent = kind(folder);
  if (parent === 'none') return { absolute, exists: false, problem: `the folder ${folder} does not exist; it is not created` };
  if (parent === 'file') return { absolute, exists: false, problem: `${folder} is a file, not a folder` };
  return { absolute, exists: false, problem: null };
}

/** A StoreError when no database can be opened or created at `path` (see locateDatabase). */
export function checkDatabaseFolder(path: string): void {
  if (path === ':memory:') return;
  const { problem } = locateDatabase(path);
  if (problem) throw new StoreError(`cannot open database ${path}: ${problem}`);
}

/** The database file is not a database or is damaged (SQLITE_NOTADB, SQLITE_CORRUPT, a failed quick_check). */
export class CorruptDatabaseError extends StoreError {
  readonly reason: string;

  constructor(reason: string, options?: { cause?: unknown }) {
    // quick_check reports on several lines, page by page: one line, the first findings.
    const line = reason
      .replace(/\*\*\* in database \w+ \*\*\*/g, '')
      .split(/\s*\n\s*/)
      .filter((part) => part !== '')
      .join('; ')
      .replace(/:; /g, ': ');
    const short = line.length > 200 ? `${line.slice(0, 200)}…` : line;
    super(`corrupt database: ${short}`, options);
    this.name = 'CorruptDatabaseError';
    this.reason = short;
  }
}

/** The files SQLite keeps beside a database: all move with it. */
const COMPANION_SUFFIXES = ['', '-wal', '-shm', '-journal'];

export function isCorruption(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^SQLITE_(CORRUPT|NOTADB)/.test(code)) return true;
  }
  return false;
}

/**
 * Move a damaged database and its -wal/-shm/-journal aside as `<name>.corrupt-<time>`
 * (never deleted, never overwritten): returns the new name of the main file.
 */
export function moveAside(path: string, now: Date): string {
  const stamp = now.toISOString().replace(/[:.]/g, '-');
  let target = `${path}.corrupt-${stamp}`;
  for (let n = 2; COMPANION_SUFFIXES.some((suffix) => existsSync(target + suffix)); n++) target = `${path}.corrupt-${stamp}-${n}`;
  for (const suffix of COMPANION_SUFFIXES) {
    if (!existsSync(path + suffix)) continue;
    try {
      renameSync(path + suffix, target + suffix);
    } catch (err) {
      throw new StoreError(
        `database ${path} is corrupt and could not be moved aside to ${target}${suffix} (${(err as Error).message}); ` +
          'move or restore it yourself, then start again',
        { cause: err },
      );
    }
  }
  return target;
}

/** `PRAGMA quick_check` on a read-only connection: ok, the damage found, or unknown when it could not look. */
export function probeIntegrity(path: string, timeoutMs: number): 'ok' | 'unknown' | CorruptDatabaseError {
  let probe: BetterSqlite3.Database | null = null;
  try {
    probe = new BetterSqlite3(path, { readonly: true, fileMustExist: true, timeout: timeoutMs });
    const check = probe.pragma('quick_check', { simple: true });
    return check === 'ok' ? 'ok' : new CorruptDatabaseError(`quick_check: ${String(check)}`);
  } catch (err) {
    return isCorruption(err) ? new CorruptDatabaseError((err as Error).message, { cause: err }) : 'unknown';
  } finally {
    if (probe) closeQuietly(probe);
  }
}

export function closeQuietly(sqlite: BetterSqlite3.Database): void {
  try {
    sqlite.close();
  } catch {
    // Closing is all that is left to do with it.
  }
}
