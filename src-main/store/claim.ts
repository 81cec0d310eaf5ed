/**
 * One engine per database: the claim an engine (`sluice run`, `npm run serve`, the app,
 * the demo) holds on its database file while it runs, so that a second engine on the
 * same file refuses at once instead of consuming the bus beside it and delivering every
 * event a second time. One-shot commands never claim: they work beside the engine.
 *
 * The claim is a lock the operating system holds for the process, not a file whose
 * presence means "taken": `<db>.lock`, a tiny SQLite database beside the database
 * (mode 0600), on which the holder keeps a read transaction open for as long as it
 * runs. SQLite's file locks (POSIX fcntl locks; LockFileEx on Windows) belong to the
 * process and are dropped by the kernel when it ends, however it ends (SIGKILL, a
 * crash, a power cut): a claim left by a dead engine never blocks a restart, and there
 * is no pid to second-guess (pid reuse after a reboot, a container's new hostname).
 * The file also says who holds it, for the message a refused engine prints.
 *
 * Taking it: write our row and commit. The commit needs SQLite's exclusive lock, which
 * is refused while a holder keeps its shared lock: refused, read the holder's row and
 * refuse. Committed, nobody held it: take the shared lock and keep it. Two engines
 * starting at the same moment can both commit before either holds; each then reads back
 * whose row is there (it cannot change once a holder keeps its shared lock), and only
 * its owner keeps the claim. Never delete `<db>.lock` by hand: a new file beside a
 * running engine would let a second one in; it never needs deleting.
 */
import { closeSync, openSync } from 'node:fs';
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import BetterSqlite3 from 'better-sqlite3';
import { checkDatabaseFolder, StoreError } from './database-file';
import { isBusy } from './write-lock';

/**
 * How long taking or reading the claim waits for another engine that is taking it at
 * the same moment (each holds SQLite's locks for a few milliseconds). A holder keeps
 * its lock for as long as it runs, so a refusal comes after this long: "at once".
 */
const CLAIM_BUSY_MS = 250;

/** Who holds (or held) a database. */
export interface ClaimHolder {
  pid: number;
  /** What it is: `sluice run`, `sluice serve`, `Sluice app`… */
  command: string;
  /** ISO-8601, when it took the claim. */
  since: string;
  host: string;
}

/** Another engine runs on this database: this one must not start. */
export class ClaimError extends StoreError {
  constructor(
    readonly path: string,
    /** Null when the holder could not be read (it was just then taking the claim too). */
    readonly holder: ClaimHolder | null,
    options?: { cause?: unknown },
  ) {
    super(`${path} is in use by another engine: ${holder ? describeHolder(holder) : 'one starting at the same moment'}`, options);
    this.name = 'ClaimError';
  }
}

/** `pid 1234 (sluice run), since 2026-12-06T03:12:00Z`, with the host when it is not this one. */
function describeHolder(holder: ClaimHolder): string {
  const host = holder.host !== hostname() ? ` on ${holder.host}` : '';
  return `pid ${holder.pid}${host} (${holder.command}), since ${holder.since}`;
}

/** The note for a claim taken over from an engine that ended without letting go. */
export function takeoverNote(previous: ClaimHolder): string {
  return `took over the claim of ${describeHolder(previous)}: it ended without releasing it (killed or crashed)`;
}

const held = new Set<DatabaseClaim>();
let exitHookInstalled = false;

/** An engine's claim on its database, until `release()` (or the end of the process). */
export class DatabaseClaim {
  private released = false;

  private constructor(
    private readonly sqlite: BetterSqlite3.Database,
    private readonly token: string,
    readonly holder: ClaimHolder,
    /** The holder before us, when it ended without releasing (killed, crashed): said once, as a note. */
    readonly tookOverFrom: ClaimHolder | null,
  ) {}

  /**
   * Claim the database at `path` for this process, or throw a ClaimError naming the
   * engine that holds it. Never waits for a holder; never blocked by a dead one.
   */
  static take(path: string, command: string): DatabaseClaim {
    // Beside the database, whose folder is never created (see locateDatabase).
    checkDatabaseFolder(path);
    const lockPath = `${path}.lock`;
    const token = randomUUID();
    const holder: ClaimHolder = { pid: process.pid, command, since: isoSeconds(new Date()), host: hostname() };
    let sqlite: BetterSqlite3.Database | null = null;
    try {
      sqlite = openClaimFile(lockPath);
      sqlite.exec('BEGIN IMMEDIATE');
      // A row nobody holds: its engine ended without releasing (a clean stop deletes it).
      const previous = readHolder(sqlite);
      sqlite.prepare('DELETE FROM holder').run();
      sqlite
        .prepare('INSERT INTO holder (token, pid, command, since, host) VALUES (?, ?, ?, ?, ?)')
        .run(token, holder.pid, holder.command, holder.since, holder.host);
      // Needs SQLite's exclusive lock: refused (busy) while a holder keeps its shared one.
      sqlite.exec('COMMIT');
      // Hold: a read transaction keeps the shared lock until release, or the end of the process.
      sqlite.exec('BEGIN');
      const now = readTokenAndHolder(sqlite);
      if (now?.token !== token) throw new ClaimError(path, now?.holder ?? null);
      const claim = new DatabaseClaim(sqlite, token, holder, previous);
      held.add(claim);
      installExitHook();
      return claim;
    } catch (err) {
      if (sqlite?.inTransaction) rollbackQuietly(sqlite);
      // Busy: another engine holds the claim (or was taking it at this very moment).
      const refusal = isBusy(err) ? new ClaimError(path, sqlite ? readHolderQuietly(sqlite) : null, { cause: err }) : err;
      if (sqlite) closeQuietly(sqlite);
      if (refusal instanceof StoreError) throw refusal;
      throw new StoreError(`cannot claim database ${path} (${lockPath}): ${(err as Error).message}`, { cause: err });
    }
  }

  /** Let the database go: the next engine starts without a note. Idempotent. */
  release(): void {
    if (this.released) return;
    this.released = true;
    held.delete(this);
    try {
      if (this.sqlite.inTransaction) this.sqlite.exec('ROLLBACK');
      // Best effort: a row left behind only makes the next start say it took over.
      this.sqlite.prepare('DELETE FROM holder WHERE token = ?').run(this.token);
    } catch {
      // The lock goes with the connection below in any case.
    } finally {
      closeQuietly(this.sqlite);
    }
  }
}

function openClaimFile(lockPath: string): BetterSqlite3.Database {
  // Created owner-only before SQLite opens it (SQLite would use 0644); its journal takes the same mode.
  closeSync(openSync(lockPath, 'a', 0o600));
  const sqlite = new BetterSqlite3(lockPath, { timeout: CLAIM_BUSY_MS });
  try {
    // A rollback journal, not WAL: the holder's shared lock must keep every writer out.
    sqlite.pragma('journal_mode = DELETE');
    sqlite.exec(
      'CREATE TABLE IF NOT EXISTS holder (token TEXT NOT NULL, pid INTEGER NOT NULL, command TEXT NOT NULL, since TEXT NOT NULL, host TEXT NOT NULL)',
    );
    return sqlite;
  } catch (err) {
    closeQuietly(sqlite);
    throw err;
  }
}

type Row = { token: string; pid: number; command: string; since: string; host: string };

function readTokenAndHolder(sqlite: BetterSqlite3.Database): { token: string; holder: ClaimHolder } | null {
  const row = sqlite.prepare('SELECT token, pid, command, since, host FROM holder LIMIT 1').get() as Row | undefined;
  return row ? { token: row.token, holder: { pid: row.pid, command: row.command, since: row.since, host: row.host } } : null;
}

function readHolder(sqlite: BetterSqlite3.Database): ClaimHolder | null {
  return readTokenAndHolder(sqlite)?.holder ?? null;
}

function readHolderQuietly(sqlite: BetterSqlite3.Database): ClaimHolder | null {
  try {
    return readHolder(sqlite);
  } catch {
    return null;
  }
}

function isoSeconds(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** A process that exits without stopping its engine (a fatal error) still says it let go. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const claim of [...held]) claim.release();
  });
}

function rollbackQuietly(sqlite: BetterSqlite3.Database): void {
  try {
    sqlite.exec('ROLLBACK');
  } catch {
    // Nothing more to undo.
  }
}

function closeQuietly(sqlite: BetterSqlite3.Database): void {
  try {
    sqlite.close();
  } catch {
    // Closing is all that is left to do with it.
  }
}
