/**
 * Waiting for SQLite's write lock without a limit (a one-shot command beside a running
 * engine: an edit must not be lost), and telling a busy database from other failures.
 */
import type BetterSqlite3 from 'better-sqlite3';

/**
 * How often a write that waits without limit tries again for the write lock. SQLite's own
 * busy handler backs off to one try per 100 ms, while a busy engine leaves the lock free
 * only for moments between its group commits: tried that rarely, a one-shot command can
 * lose that race for seconds on end (edits failed after the busy timeout at 500 events/s).
 */
const LOCK_RETRY_MS = 1;

/** SQLITE_BUSY and its extended codes: another connection holds the lock. */
export function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}

/**
 * BEGIN IMMEDIATE, trying every LOCK_RETRY_MS while another process holds the lock, for as
 * long as it takes; `onLongWait` is called once, from inside the wait, after `noteAfterMs`.
 * The wait blocks this thread: only for callers with nothing else to do meanwhile.
 * `busyTimeoutMs` is the connection's own busy timeout, set again afterwards.
 */
export function beginImmediateUnbounded(sqlite: BetterSqlite3.Database, busyTimeoutMs: number, noteAfterMs: number, onLongWait: () => void): void {
  const started = Date.now();
  let noted = false;
  sqlite.pragma('busy_timeout = 0');
  try {
    for (;;) {
      try {
        sqlite.exec('BEGIN IMMEDIATE');
        return;
      } catch (err) {
        if (!isBusy(err)) throw err;
      }
      if (!noted && Date.now() - started >= noteAfterMs) {
        noted = true;
        onLongWait();
      }
      sleepSync(LOCK_RETRY_MS);
    }
  } finally {
    sqlite.pragma(`busy_timeout = ${busyTimeoutMs}`);
  }
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

/** Block this thread for `ms` (a wait that holds no lock and has nothing else to do). */
function sleepSync(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}
