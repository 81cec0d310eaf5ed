/**
 * The SQLite store: one file, WAL, `synchronous=FULL` (an acknowledged write survives a
 * power cut), and group commits so that durability does not cost throughput. Queries
 * are built with Kysely for their types and run synchronously on better-sqlite3, with
 * prepared statements cached by SQL text.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, type Compilable } from 'kysely';
import { migrationProvider } from './migrations';
import type { Database } from './schema';

export const BUSY_TIMEOUT_MS = 5000;
/** A group commits early once it holds this many writes. */
export const COMMIT_MAX_WRITES = 500;

type Param = string | number | bigint | Buffer | null;

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

export class StoreError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreError';
  }
}

export class Store {
  readonly kysely: Kysely<Database>;
  private readonly statements = new Map<string, BetterSqlite3.Statement>();
  private groupWrites = 0;
  /** Depth of `transaction()` calls under way: a group never commits in the middle of one. */
  private atomicDepth = 0;
  private commitScheduled: NodeJS.Immediate | null = null;
  private waiters: { resolve: () => void; reject: (err: unknown) => void }[] = [];
  private lastDataVersion = 0;
  private closed = false;
  /** Applied to subscription secrets by the subscriptions repository. */
  cipher: SecretCipher = PLAINTEXT_CIPHER;

  private constructor(
    readonly sqlite: BetterSqlite3.Database,
    readonly path: string,
  ) {
    this.kysely = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  }

  /** Open (creating if needed) and migrate the database at `path`. */
  static async open(path: string): Promise<Store> {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    let sqlite: BetterSqlite3.Database;
    try {
      sqlite = new BetterSqlite3(path, { timeout: BUSY_TIMEOUT_MS });
      // Only takes effect on a new, empty file: lets retention give space back.
      sqlite.pragma('auto_vacuum = INCREMENTAL');
      sqlite.pragma('journal_mode = WAL');
      // better-sqlite3 builds WAL with NORMAL as its default: set FULL explicitly.
      sqlite.pragma('synchronous = FULL');
      sqlite.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
      sqlite.pragma('foreign_keys = ON');
    } catch (err) {
      throw new StoreError(`cannot open database ${path}: ${(err as Error).message}`, { cause: err });
    }
    const store = new Store(sqlite, path);
    const { error } = await new Migrator({ db: store.kysely, provider: migrationProvider }).migrateToLatest();
    if (error) {
      sqlite.close();
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

  first<R>(query: Compilable<R>): R | undefined {
    const { sql, parameters } = query.compile();
    return this.statement(sql).get(...(parameters as Param[])) as R | undefined;
  }

  /** Run a write with a RETURNING clause now, inside the current group transaction. */
  writeReturning<R>(query: Compilable<R>): R[] {
    const { sql, parameters } = query.compile();
    this.beginGroup();
    return this.statement(sql).all(...(parameters as Param[])) as R[];
  }

  /** Run a write now, inside the current group transaction. */
  run(query: Compilable<unknown>): BetterSqlite3.RunResult {
    const { sql, parameters } = query.compile();
    this.beginGroup();
    return this.statement(sql).run(...(parameters as Param[]));
  }

  /**
   * Group commit: writes join an open transaction that commits once the current turn
   * of the event loop is over (or at COMMIT_MAX_WRITES): one fsync for everything a
   * burst wrote, and no write lock held while the process waits for I/O. Reads on this
   * connection already see the writes; `durable()` waits for the commit.
   */
  private beginGroup(): void {
    if (this.closed) throw new StoreError('the store is closed');
    if (!this.sqlite.inTransaction) {
      this.sqlite.exec('BEGIN IMMEDIATE');
      this.groupWrites = 0;
    }
    this.groupWrites++;
    if (this.groupWrites >= COMMIT_MAX_WRITES && this.atomicDepth === 0) this.commit();
    else this.commitScheduled ??= setImmediate(() => this.commitFromTimer());
  }

  /** Called when a scheduled group commit fails (its waiters are rejected too). */
  onCommitError: (err: StoreError) => void = () => {};

  private commitFromTimer(): void {
    try {
      this.commit();
    } catch (err) {
      this.onCommitError(err as StoreError);
    }
  }

  /** Resolves once everything written so far is on disk. */
  durable(): Promise<void> {
    if (!this.sqlite.inTransaction) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  commit(): void {
    if (this.commitScheduled) {
      clearImmediate(this.commitScheduled);
      this.commitScheduled = null;
    }
    const waiters = this.waiters;
    this.waiters = [];
    if (!this.sqlite.inTransaction) {
      for (const w of waiters) w.resolve();
      return;
    }
    try {
      this.sqlite.exec('COMMIT');
      for (const w of waiters) w.resolve();
    } catch (err) {
      if (this.sqlite.inTransaction) this.sqlite.exec('ROLLBACK');
      const failure = new StoreError(`commit failed: ${(err as Error).message}`, { cause: err });
      for (const w of waiters) w.reject(failure);
      throw failure;
    }
  }

  /** Run `fn` atomically (a savepoint inside the group): pending group writes are committed with it. */
  transaction<T>(fn: () => T): T {
    this.beginGroup();
    const savepoint = this.sqlite.transaction(fn);
    this.atomicDepth++;
    try {
      return savepoint();
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
    }
  }
}
