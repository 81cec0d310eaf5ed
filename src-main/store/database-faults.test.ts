/**
 * The store under faults: a write that fails with SQLITE_FULL loses its whole group, and
 * the group's waiters hear it (they are never resolved by a later commit); a damaged or
 * foreign file is moved aside untouched, never deleted or overwritten.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DatabaseClaim } from './claim';
import { Store } from './database';
import { locateDatabase, StoreError } from './database-file';
import { insertEvent } from './deliveries';

let dir: string;
let path: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-store-faults-'));
  path = join(dir, 'sluice.db');
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const event = (id: string, bytes = 10) => ({ eventId: id, topic: 't', type: '', ts: 'now', body: 'x'.repeat(bytes), receivedAt: new Date().toISOString() });
const eventIds = (store: Store) => store.all(store.kysely.selectFrom('events').select('event_id').orderBy('seq')).map((r) => r.event_id);

describe('Store: a full database', () => {
  it('rejects every waiter of a group that SQLITE_FULL rolled back, and says when writes work again', async () => {
    const store = await Store.open(path);
    const lost: StoreError[] = [];
    let recovered = 0;
    store.onCommitError = (err) => lost.push(err);
    store.onRecovered = () => recovered++;
    insertEvent(store, event('kept'));
    await store.durable();

    // Room for a few pages more, then SQLITE_FULL: SQLite rolls back the whole group.
    const pages = store.sqlite.pragma('page_count', { simple: true }) as number;
    store.sqlite.pragma(`max_page_count = ${pages + 3}`);
    insertEvent(store, event('in-the-group'));
    const waiter = store.durable();
    const outcome = waiter.then(
      () => 'resolved',
      (err: unknown) => err,
    );
    expect(() => {
      for (let i = 0; i < 100; i++) insertEvent(store, event(`big-${i}`, 8000));
    }).toThrow(/full/);
    const err = await outcome;
    expect(err).toBeInstanceOf(StoreError);
    expect((err as Error).message).toMatch(/rolled back.*full/);
    expect(lost).toHaveLength(1);
    expect(store.failing).toBe(true);

    // Space again: a new group commits, and the store says it recovered.
    store.sqlite.pragma('max_page_count = 1073741823');
    insertEvent(store, event('after'));
    await store.durable();
    expect(store.failing).toBe(false);
    await new Promise((resolve) => setImmediate(resolve));
    expect(recovered).toBe(1);
    expect(eventIds(store)).toEqual(['kept', 'after']);
    expect(store.sqlite.pragma('integrity_check', { simple: true })).toBe('ok');
    store.close();
  });
});

describe('Store: a damaged file at open', () => {
  const asideFiles = () => readdirSync(dir).filter((f) => f.includes('.corrupt-')).sort();

  it('moves a file that is not a database aside, byte for byte, and starts empty', async () => {
    const foreign = Buffer.from('this is not an SQLite database\n'.repeat(200));
    writeFileSync(path, foreign);
    const store = await Store.open(path);
    const [moved] = asideFiles();
    expect(moved).toMatch(/^sluice\.db\.corrupt-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}Z$/);
    expect(readFileSync(join(dir, moved as string))).toEqual(foreign);
    expect(store.notice?.message).toContain(`moved it aside to ${join(dir, moved as string)}`);
    expect(store.notice?.message).toMatch(/not a database/);
    expect(eventIds(store)).toEqual([]);
    store.close();
  });

  it('moves a database with garbage pages aside with its -wal and -shm', async () => {
    // A database as a crash leaves it: data in the file and in its WAL.
    const writer = new BetterSqlite3(join(dir, 'source.db'));
    writer.pragma('journal_mode = WAL');
    writer.pragma('wal_autocheckpoint = 0');
    writer.exec('CREATE TABLE t (x TEXT)');
    const insert = writer.prepare('INSERT INTO t VALUES (?)');
    for (let i = 0; i < 400; i++) insert.run('row '.repeat(50));
    writer.pragma('wal_checkpoint(TRUNCATE)');
    for (let i = 0; i < 10; i++) insert.run('in the wal');
    for (const suffix of ['', '-wal', '-shm']) writeFileSync(path + suffix, readFileSync(join(dir, 'source.db') + suffix));
    writer.close();
    // Garbage over every page but the first.
    const bytes = readFileSync(path);
    for (let i = 4096; i < bytes.length; i++) bytes[i] = (i * 7919) & 0xff;
    writeFileSync(path, bytes);
    const wal = readFileSync(`${path}-wal`);

    const store = await Store.open(path);
    const moved = asideFiles();
    expect(moved).toHaveLength(3);
    const base = moved[0] as string;
    expect(moved).toEqual([base, `${base}-shm`, `${base}-wal`]);
    expect(readFileSync(join(dir, base))).toEqual(bytes);
    expect(readFileSync(join(dir, `${base}-wal`))).toEqual(wal);
    expect(store.notice?.message).toMatch(/was corrupt/);
    expect(store.sqlite.pragma('integrity_check', { simple: true })).toBe('ok');
    store.close();
  });

  it('refuses, changing nothing, when asked to (a one-shot command)', async () => {
    writeFileSync(path, 'not a database');
    await expect(Store.open(path, { ifCorrupt: 'refuse' })).rejects.toThrow(/is corrupt .*nothing was changed/);
    expect(readFileSync(path, 'utf8')).toBe('not a database');
    expect(asideFiles()).toEqual([]);
  });

  it('never moves a database it merely cannot open', async () => {
    const store = await Store.open(path);
    store.close();
    // A directory where the file should be: an error, not corruption.
    const elsewhere = join(dir, 'sub');
    mkdirSync(elsewhere);
    await Store.open(join(elsewhere, 'x.db')).then((s) => s.close());
    await expect(Store.open(elsewhere)).rejects.toThrow(StoreError);
    expect(existsSync(elsewhere)).toBe(true);
    expect(asideFiles()).toEqual([]);
  });
});

describe('Store: where a database may be', () => {
  it('is never given a folder that does not exist: open and the claim refuse, naming it, creating nothing', async () => {
    const missing = join(dir, 'typo', 'dir');
    const at = join(missing, 'x.db');
    expect(locateDatabase(at)).toEqual({ absolute: at, exists: false, problem: `the folder ${missing} does not exist; it is not created` });
    await expect(Store.open(at)).rejects.toThrow(new StoreError(`cannot open database ${at}: the folder ${missing} does not exist; it is not created`));
    expect(() => DatabaseClaim.take(at, 'test')).toThrow(StoreError);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('tells a database that exists from one to be created, and a folder from a file', async () => {
    expect(locateDatabase(path)).toEqual({ absolute: path, exists: false, problem: null });
    (await Store.open(path)).close();
    expect(locateDatabase(path)).toMatchObject({ exists: true, problem: null });
    expect(locateDatabase(dir).problem).toBe(`${dir} is a folder, not a database file`);
    expect(locateDatabase(join(path, 'x.db')).problem).toBe(`${path} is a file, not a folder`);
  });
});
