/**
 * The SQLite store: one file, WAL, `synchronous=FULL` (an acknowledged write survives a
 * power cut), and group commits so that durability does not cost throughput. Queries
 * are built with Kysely for their types and run synchronously on better-sqlite3, with
 * prepared statements cached by SQL text.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, type Compilable } from 'kysely';
import { checkDatabaseFolder, closeQuietly, CorruptDatabaseError, isCorruption, moveAside, probeIntegrity, StoreError } from './database-file';
import { migrationProvider } from './migrations';
import type { Database } from './schema';
import { beginImmediateUnbounded } from './write-lock';

export const BUSY_TIMEOUT_MS = 5000;
/** A write kept waiting this long by another process's write lock says so (see `onLockWait`). */
export const LOCK_WAIT_NOTE_MS = 1000;
/** A group commits early once it holds this many writes. */
export const COMMIT_MAX_WRITES = 500;
/**
 * A group holding only lazy writes commits within this long (or with the next prompt
 * write, or when someone waits for durability). It holds the write lock meanwhile, so
 * this is also about the longest another process's write waits for an engine that is
 * not saturated (measured at 500 and 4,000 events/s: at most ~50 and ~120 ms).
 */
export const LAZY_COMMIT_MS = 50;

/**
 * When a write must be on disk. `prompt`: at the end of this turn of the event loop
 * (something waits for it: an attempt may not start before its record is committed).
 * `lazy`: with the next group, at most LAZY_COMMIT_MS later — for records whose loss
 * in a crash costs only a repeat (an outcome: the delivery is attempted again and the
 * receiver de-duplicates on the event id), so a steady stream of outcomes does not
 * cost an fsync each.
 */
export type Durability = 'prompt' | 'lazy';

export type SqlParam = string | number | bigint | Buffer | null;
type Param = SqlParam;

/**
 * How subscription secrets are kept at rest. The store encrypts on write and decrypts
 * on read through it; `kind` is shown to the analyst ('plaintext' is a warning).
 */
export interface SecretCipher {
  readonly kind: 'os-keychain' | 'key-file' | 'plaintext';
  encrypt(secret: string): string;
  decrypt(stored: string): string;
}

/** No protection at rest: the default until a key source is configured. */
export const PLAINTEXT_CIPHER: SecretCipher = {
  kind: 'plaintext',
  encrypt: (secret) => secret,
  decrypt: (stored) => stored,
};

interface StoreOptions {
  /** See `Store.open`. */
  ifCorrupt?: 'move-aside' | 'refuse';
  /**
   * How a write waits for the write lock while another process holds it. `bounded` (an
   * engine: it must never stall behind another process): SQLite's busy timeout,
   * BUSY_TIMEOUT_MS, then the write fails and is reported. `unbounded` (a one-shot
   * command beside a running engine: an edit must not be lost): as long as it takes,
   * trying every LOCK_RETRY_MS (bounded after all beside another store of this process
   * on the same file: see `beginImmediate`).
   */
  lockWait?: 'bounded' | 'unbounded';
  /** Called once when an unbounded wait has lasted LOCK_WAIT_NOTE_MS (the CLI says it is waiting). */
  onLockWait?: () => void;
}

/** The stores open in this process, by absolute file path (see `beginImmediate`). */
const openStores = new Map<string, Set<Store>>();

export class Store {
  readonly kysely: Kysely<Database>;
  private readonly statements = new Map<string, BetterSqlite3.Statement>();
  private groupWrites = 0;
  /** Depth of `transaction()` calls under way: a group never commits in the middle of one. */
  private atomicDepth = 0;
  private commitScheduled: NodeJS.Immediate | null = null;
  private lazyCommitScheduled: NodeJS.Timeout | null = null;
  private waiters: { resolve: () => void; reject: (err: unknown) => void }[] = [];
  private lastDataVersion = 0;
  private closed = false;
  /** A group transaction of ours is open (BEGIN IMMEDIATE ran and it has not ended). */
  private groupOpen = false;
  /** A group of writes was lost (failed commit, or rolled back by a failed write), and no commit has succeeded since. */
  private failed = false;
  /**
   * What `open` had to do to give a usable store, for the operator: set when the file
   * was damaged and moved aside (the message says where). Null on a normal open.
   */
  notice: StoreError | null = null;
  /** Applied to subscription secrets by the subscriptions repository. */
  cipher: SecretCipher = PLAINTEXT_CIPHER;

  private lockWait: 'bounded' | 'unbounded' = 'bounded';
  private onLockWait: () => void = () => {};

  private constructor(
    readonly sqlite: BetterSqlite3.Database,
    readonly path: string,
  ) {
    this.kysely = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
    this.savepoint = sqlite.transaction((fn: () => unknown) => fn());
  }

  /**
   * Open (creating if needed, in a folder that exists), check and migrate the database at `path`. A file that is
   * not a database or fails `PRAGMA quick_check` is moved aside (`<name>.corrupt-<time>`,
   * with its -wal/-shm), never deleted or overwritten, and a new empty database is
   * created in its place; `notice` then says what happened and where the old file is.
   * With `ifCorrupt: 'refuse'` (a one-shot command) it is left as it is and open fails.
   * Any other failure (permissions, a lock held too long) is a StoreError: nothing moves.
   */
  static async open(path: string, options: StoreOptions = {}): Promise<Store> {
    const store = await Store.openOrMoveAside(path, options);
    store.lockWait = options.lockWait ?? 'bounded';
    if (options.onLockWait) store.onLockWait = options.onLockWait;
    if (path !== ':memory:') {
      const key = resolve(path);
      openStores.set(key, (openStores.get(key) ?? new Set()).add(store));
    }
    return store;
  }

  /**
   * A read-only connection of its own to a database an engine may be running on: a long
   * read (an export) beside it, on another connection, so it never holds the engine's
   * connection or its write lock (WAL: readers and the writer do not wait for each other).
   * Nothing is created, checked, migrated or written; `path` must be a database already.
   */
  static openReadOnly(path: string): Store {
    if (path === ':memory:' || !existsSync(path)) throw new StoreError(`no database at ${path}`);
    let sqlite: BetterSqlite3.Database;
    try {
      sqlite = new BetterSqlite3(path, { readonly: true, fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
      sqlite.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    } catch (err) {
      throw new StoreError(`cannot open database ${path}: ${(err as Error).message}`, { cause: err });
    }
    return new Store(sqlite, path);
  }

  private static async openOrMoveAside(path: string, options: StoreOptions): Promise<Store> {
    if (path === ':memory:') return Store.openChecked(path);
    checkDatabaseFolder(path);
    try {
      return await Store.openChecked(path);
    } catch (err) {
      if (!(err instanceof CorruptDatabaseError)) throw err;
      if (options.ifCorrupt === 'refuse')
        throw new StoreError(
          `database ${path} is corrupt (${err.reason}); nothing was changed. Restore a backup, or start the engine ` +
            '(`sluice run`, the app), which moves it aside and starts with a new empty database',
          { cause: err },
        );
      const movedTo = moveAside(path, new Date());
      const store = await Store.openChecked(path);
      store.notice = new StoreError(
        `database ${path} was corrupt (${err.reason}): moved it aside to ${movedTo} (with its -wal/-shm) and ` +
          'started with a new, empty database. Subscriptions, settings and undelivered events are in the moved file: ' +
          `restore a backup, or salvage with \`sqlite3 ${movedTo} .recover\``,
        { cause: err },
      );
      return store;
    }
  }

  private static async openChecked(path: string): Promise<Store> {
    // Judged on a read-only connection first, so a damaged file is moved aside exactly as
    // it was found: a read-write one would fold its WAL into it when closed.
    const probed = path !== ':memory:' && existsSync(path) ? probeIntegrity(path, BUSY_TIMEOUT_MS) : 'ok';
    if (probed instanceof CorruptDatabaseError) throw probed;
    let sqlite: BetterSqlite3.Database;
    try {
      sqlite = new BetterSqlite3(path, { timeout: BUSY_TIMEOUT_MS });
    } catch (err) {
      if (isCorruption(err)) throw new CorruptDatabaseError((err as Error).message, { cause: err });
      throw new StoreError(`cannot open database ${path}: ${(err as Error).message}`, { cause: err });
    }
    try {
      if (probed === 'unknown') {
        // The read-only look was not possible: judge it here, before anything is written.
        const check = sqlite.pragma('quick_check', { simple: true });
        if (check !== 'ok') throw new CorruptDatabaseError(`quick_check: ${String(check)}`);
      }
      // Only takes effect on a new, empty file: lets retention give space back. Set only
      // there: on a file in use it would wait for the write lock a running engine holds.
      if (sqlite.pragma('page_count', { simple: true }) === 0) sqlite.pragma('auto_vacuum = INCREMENTAL');
      sqlite.pragma('journal_mode = WAL');
      // better-sqlite3 builds WAL with NORMAL as its default: set FULL explicitly.
      sqlite.pragma('synchronous = FULL');
      sqlite.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
      sqlite.pragma('foreign_keys = ON');
    } catch (err) {
      closeQuietly(sqlite);
      if (err instanceof CorruptDatabaseError) throw err;
      if (isCorruption(err)) throw new CorruptDatabaseError((err as Error).message, { cause: err });
      throw new StoreError(`cannot open database ${path}: ${(err as Error).message}`, { cause: err });
    }
    const store = new Store(sqlite, path);
    const { error } = await new Migrator({ db: store.kysely, provider: migrationProvider }).migrateToLatest();
    if (error) {
      closeQuietly(sqlite);
      if (isCorruption(error)) throw new CorruptDatabaseError((error as Error).message, { cause: error });
      throw new StoreError(`cannot migrate database ${path}: ${(error as Error).message}`, { cause: error });
    }
    store.lastDataVersion = store.dataVersion();
    return store;
  }

  private statement(sql: string): BetterSqlite3.Statement {
    let stmt = this.statements.get(sql);
    if (!stmt) {
      stmt = this.sqlite.prepare(sql);
      this.statements.set(sql, stmt);
    }
    return stmt;
  }

  all<R>(query: Compilable<R>): R[] {
    const { sql, parameters } = query.compile();
    return this.statement(sql).all(...(parameters as Param[])) as R[];
  }

  /** A read given as SQL text (a cached prepared statement), for the few run very often. */
  allSql<R>(sql: string, parameters: readonly Param[]): R[] {
    return this.statement(sql).all(...parameters) as R[];
  }

  first<R>(query: Compilable<R>): R | undefined {
    const { sql, parameters } = query.compile();
    return this.statement(sql).get(...(parameters as Param[])) as R | undefined;
  }

  /** Run a write with a RETURNING clause now, inside the current group transaction. */
  writeReturning<R>(query: Compilable<R>): R[] {
    const { sql, parameters } = query.compile();
    return this.write(() => this.statement(sql).all(...(parameters as Param[])) as R[]);
  }

  /** Run a write now, inside the current group transaction. */
  run(query: Compilable<unknown>, durability: Durability = 'prompt'): BetterSqlite3.RunResult {
    const { sql, parameters } = query.compile();
    return this.write(() => this.statement(sql).run(...(parameters as Param[])), durability);
  }

  /**
   * Run a write given as SQL text (a cached prepared statement), for the few statements
   * run once or more per delivery, where building the query each time would cost more
   * than running it. Everything else goes through Kysely for its types.
   */
  runSql(sql: string, parameters: readonly Param[], durability: Durability = 'prompt'): BetterSqlite3.RunResult {
    return this.write(() => this.statement(sql).run(...parameters), durability);
  }

  /**
   * A write in the group. When it fails with SQLITE_FULL or an I/O error SQLite rolls
   * the whole transaction back, not just the statement: every write of the group is
   * gone, so its waiters are rejected at once (they must never be resolved by a later
   * commit that no longer holds their writes).
   */
  private write<T>(exec: () => T, durability: Durability = 'prompt'): T {
    this.beginGroup(durability);
    try {
      return exec();
    } catch (err) {
      // A statement that failed alone (a constraint) is the caller's to handle; a lost group is not.
      if (this.groupOpen && !this.sqlite.inTransaction)
        this.groupLost(new StoreError(`write failed, its group of writes rolled back: ${(err as Error).message}`, { cause: err }));
      throw err;
    }
  }

  /** The group's writes are not on disk and never will be: fail its waiters and say so. */
  private groupLost(failure: StoreError): void {
    this.groupOpen = false;
    this.failed = true;
    this.unscheduleCommit();
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.reject(failure);
    this.onCommitError(failure);
  }

  /**
   * Group commit: writes join an open transaction that commits once the current turn
   * of the event loop is over (or at COMMIT_MAX_WRITES): one fsync for everything a
   * burst wrote, and no write lock held while the process waits for I/O. Reads on this
   * connection already see the writes; `durable()` waits for the commit.
   */
  private beginGroup(durability: Durability = 'prompt'): void {
    if (this.closed) throw new StoreError('the store is closed');
    if (!this.sqlite.inTransaction) {
      // Rolled back by SQLite behind our back and not noticed yet: never resolve its waiters.
      if (this.groupOpen) this.groupLost(new StoreError('the group of writes was rolled back'));
      this.beginImmediate();
      this.groupOpen = true;
      this.groupWrites = 0;
    }
    this.groupWrites++;
    if (this.groupWrites >= COMMIT_MAX_WRITES && this.atomicDepth === 0) this.commit();
    else if (durability === 'prompt') this.scheduleCommit();
    else if (!this.commitScheduled) this.lazyCommitScheduled ??= setTimeout(() => this.commitFromTimer(), LAZY_COMMIT_MS);
  }

  /**
   * Take the write lock. Bounded: SQLite's busy timeout. Unbounded: try, and while another
   * process holds it, try again every few ms, for as long as it takes. The
   * wait blocks this process (writes are synchronous here): only one-shot commands wait
   * so, with nothing else to do meanwhile; the note is written from inside the wait.
   */
  private beginImmediate(): void {
    // The wait blocks this thread: beside another store of this process on the same file
    // (tests run an engine and a one-shot in one process), the holder could be that one,
    // which could then never commit. Bounded there, as for an engine.
    if (this.lockWait === 'bounded' || this.sharesFileInProcess()) {
      this.sqlite.exec('BEGIN IMMEDIATE');
      return;
    }
    beginImmediateUnbounded(this.sqlite, BUSY_TIMEOUT_MS, LOCK_WAIT_NOTE_MS, this.onLockWait);
  }

  private sharesFileInProcess(): boolean {
    return (openStores.get(resolve(this.path))?.size ?? 0) > 1;
  }

  /** Commit at the end of this turn of the event loop (a lazy group is promoted). */
  private scheduleCommit(): void {
    if (this.lazyCommitScheduled) {
      clearTimeout(this.lazyCommitScheduled);
      this.lazyCommitScheduled = null;
    }
    this.commitScheduled ??= setImmediate(() => this.commitFromTimer());
  }

  private unscheduleCommit(): void {
    if (this.commitScheduled) {
      clearImmediate(this.commitScheduled);
      this.commitScheduled = null;
    }
    if (this.lazyCommitScheduled) {
      clearTimeout(this.lazyCommitScheduled);
      this.lazyCommitScheduled = null;
    }
  }

  /**
   * Called once for every group of writes that was lost (a failed commit, on any path,
   * or a write whose failure rolled the group back); its waiters are rejected too.
   */
  onCommitError: (err: StoreError) => void = () => {};
  /**
   * Called (on a later turn) at the first successful commit after a failure: writes that
   * were lost meanwhile may have left work to take up again.
   */
  onRecovered: () => void = () => {};

  /** True from a lost group of writes until a commit succeeds again. */
  get failing(): boolean {
    return this.failed;
  }

  private commitFromTimer(): void {
    try {
      this.commit();
    } catch {
      // Reported by commit() through onCommitError.
    }
  }

  /** Resolves once everything written so far is on disk; rejects if it never will be. */
  durable(): Promise<void> {
    if (!this.sqlite.inTransaction) {
      if (!this.groupOpen) return Promise.resolve();
      const failure = new StoreError('the group of writes was rolled back');
      this.groupLost(failure);
      return Promise.reject(failure);
    }
    // Someone waits: a lazy group commits now, not when its timer says.
    this.scheduleCommit();
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** Commit the group now. Throws a StoreError when it fails (the group is then rolled back and reported). */
  commit(): void {
    this.unscheduleCommit();
    if (!this.sqlite.inTransaction) {
      if (this.groupOpen) {
        const failure = new StoreError('the group of writes was rolled back');
        this.groupLost(failure);
        throw failure;
      }
      const waiters = this.waiters;
      this.waiters = [];
      for (const w of waiters) w.resolve();
      return;
    }
    try {
      this.sqlite.exec('COMMIT');
    } catch (err) {
      try {
        // SQLITE_FULL and I/O errors have usually rolled it back already.
        if (this.sqlite.inTransaction) this.sqlite.exec('ROLLBACK');
      } catch {
        // Nothing more to undo.
      }
      const failure = new StoreError(`commit failed: ${(err as Error).message}`, { cause: err });
      this.groupLost(failure);
      throw failure;
    }
    this.groupOpen = false;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.resolve();
    if (this.failed) {
      this.failed = false;
      setImmediate(() => {
        if (!this.closed) this.onRecovered();
      });
    }
  }

  /** One wrapper for every atomic call: building better-sqlite3's wrapper per call costs more than the savepoint. */
  private readonly savepoint: (fn: () => unknown) => unknown;

  /** Run `fn` atomically (a savepoint inside the group): pending group writes are committed with it. */
  transaction<T>(fn: () => T): T {
    return this.atomic(() => (this.savepoint as (f: () => T) => T)(fn));
  }

  /**
   * Run `fn` atomically without a savepoint, for the writes of each event on the hot path
   * (a savepoint costs about as much as the event's two inserts, measured). A write that
   * fails with the group (a full disk) takes the whole group with it; one that fails
   * alone (a constraint) is undone by `undo`, in the group, before the error goes on.
   */
  atomically<T>(fn: () => T, undo: () => void): T {
    return this.atomic(() => {
      try {
        return fn();
      } catch (err) {
        if (this.groupOpen && this.sqlite.inTransaction) undo();
        throw err;
      }
    });
  }

  /** A group never commits in the middle of an atomic call. */
  private atomic<T>(run: () => T): T {
    this.beginGroup();
    this.atomicDepth++;
    try {
      return run();
    } finally {
      this.atomicDepth--;
      if (this.atomicDepth === 0 && this.groupWrites >= COMMIT_MAX_WRITES) this.commit();
    }
  }

  private dataVersion(): number {
    return this.sqlite.pragma('data_version', { simple: true }) as number;
  }

  /** True when another connection (the CLI, another process) committed since last asked. */
  changedElsewhere(): boolean {
    const v = this.dataVersion();
    if (v === this.lastDataVersion) return false;
    this.lastDataVersion = v;
    return true;
  }

  close(): void {
    if (this.closed) return;
    try {
      this.commit();
    } finally {
      this.closed = true;
      this.sqlite.close();
      const key = resolve(this.path);
      const stores = openStores.get(key);
      stores?.delete(this);
      if (stores?.size === 0) openStores.delete(key);
    }
  }
}
