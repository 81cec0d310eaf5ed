import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { BUSY_TIMEOUT_MS, COMMIT_MAX_WRITES, LAZY_COMMIT_MS, LOCK_WAIT_NOTE_MS, Store } from './database';
import { insertEvent } from './deliveries';

let dir: string;
let store: Store;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-store-'));
  store = await Store.open(join(dir, 'sluice.db'));
});

afterEach(async () => {
  store.close();
  await rm(dir, { recursive: true, force: true });
});

const event = (i: number) => ({ eventId: `e${i}`, topic: 't', type: '', ts: 'now', body: '{}', receivedAt: new Date().toISOString() });
const count = () => store.first(store.kysely.selectFrom('events').select((eb) => eb.fn.countAll<number>().as('n')))?.n;

describe('Store', () => {
  it('opens with WAL, synchronous=FULL, a busy timeout and incremental auto-vacuum', () => {
    expect(store.sqlite.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(store.sqlite.pragma('synchronous', { simple: true })).toBe(2);
    expect(store.sqlite.pragma('busy_timeout', { simple: true })).toBe(5000);
    expect(store.sqlite.pragma('auto_vacuum', { simple: true })).toBe(2);
  });

  it('atomically: a write that fails alone has what it wrote undone, and the rest of the group commits', async () => {
    insertEvent(store, event(1)); // an earlier write of the same group
    let seq = 0;
    const failing = () =>
      store.atomically(
        () => {
          seq = insertEvent(store, event(2));
          // A constraint failure: SQLite undoes the statement alone, not the group.
          store.runSql('insert into "events" ("seq", "event_id", "topic", "type", "ts", "body", "received_at") values (?, \'x\', \'t\', \'\', \'now\', \'{}\', \'now\')', [seq]);
        },
        () => store.runSql('delete from "events" where "seq" = ?', [seq]),
      );
    expect(failing).toThrow(/UNIQUE constraint failed/);
    expect(store.sqlite.inTransaction).toBe(true);
    await store.durable();
    const ids = store.all(store.kysely.selectFrom('events').select('event_id')).map((r) => r.event_id);
    expect(ids).toEqual(['e1']);
    expect(store.atomically(() => insertEvent(store, event(3)), () => undefined)).toBeGreaterThan(seq);
    await store.durable();
    expect(count()).toBe(2);
  });

  it('groups writes into one commit per turn of the event loop', async () => {
    for (let i = 0; i < 10; i++) insertEvent(store, event(i));
    expect(store.sqlite.inTransaction).toBe(true);
    await store.durable();
    expect(store.sqlite.inTransaction).toBe(false);
    expect(count()).toBe(10);
  });

  it('commits lazy writes on their own within LAZY_COMMIT_MS, and at once when a prompt write or a waiter comes', async () => {
    const lazy = (i: number) => store.runSql('insert into "events" ("event_id", "topic", "type", "ts", "body", "received_at") values (?, \'t\', \'\', \'now\', \'{}\', \'now\')', [`lazy${i}`], 'lazy');
    const committed = (): boolean => !store.sqlite.inTransaction;

    lazy(1);
    await nextTurn();
    expect(committed()).toBe(false); // a prompt write would have been committed by now
    const started = performance.now();
    while (!committed()) await new Promise((r) => setTimeout(r, 5));
    expect(performance.now() - started).toBeLessThan(LAZY_COMMIT_MS * 10);
    expect(count()).toBe(1);

    lazy(2);
    insertEvent(store, event(3)); // prompt: the lazy one goes with it
    await nextTurn();
    await nextTurn();
    expect(committed()).toBe(true);
    expect(count()).toBe(3);

    lazy(4);
    await store.durable(); // a waiter does not wait for the timer
    expect(committed()).toBe(true);
    expect(count()).toBe(4);
  });

  it('keeps a transaction atomic even when it holds more writes than a group commits at', () => {
    expect(() =>
      store.transaction(() => {
        for (let i = 0; i < COMMIT_MAX_WRITES + 100; i++) insertEvent(store, event(i));
        throw new Error('abandon');
      }),
    ).toThrow('abandon');
    store.commit();
    expect(count()).toBe(0);
    store.transaction(() => {
      for (let i = 0; i < COMMIT_MAX_WRITES + 100; i++) insertEvent(store, event(i));
    });
    store.commit();
    expect(count()).toBe(COMMIT_MAX_WRITES + 100);
  });
});

/**
 * Another process holding the database's write lock (an engine in a group commit) with
 * one uncommitted insert: it commits when told (`release`), or on its own after `ms`.
 * `released` resolves with the time it committed.
 */
function holdWriteLock(path: string, ms?: number): Promise<{ release: () => Promise<number>; released: Promise<number> }> {
  const script = `
    const Database = require('better-sqlite3');
    const db = new Database(process.argv[1]);
    db.exec('BEGIN IMMEDIATE');
    db.prepare("INSERT INTO events (event_id, topic, type, ts, body, received_at) VALUES ('held', 't', '', 'now', '{}', 'now')").run();
    const commit = () => { db.exec('COMMIT'); process.stdout.write('committed ' + Date.now()); db.close(); process.exit(0); };
    process.stdin.once('data', commit);
    if (process.argv[2]) setTimeout(commit, Number(process.argv[2]));
    process.stdout.write('holding\\n');
  `;
  const child = spawn(process.execPath, ['-e', script, path, ms === undefined ? '' : String(ms)], {
    cwd: process.cwd(),
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.setEncoding('utf8');
  const released = new Promise<number>((resolve, reject) =>
    child.once('exit', () => {
      const at = /committed (\d+)/.exec(out)?.[1];
      if (at) resolve(Number(at));
      else reject(new Error(`the lock holder exited without committing: ${out}`));
    }),
  );
  const release = (): Promise<number> => {
    child.stdin.end('go');
    return released;
  };
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk: string) => {
      out += chunk;
      if (out.startsWith('holding')) resolve({ release, released });
    });
    child.once('exit', (code) => reject(new Error(`the lock holder exited (${code}) before holding`)));
  });
}

describe('Store beside another writer', () => {
  it('opens a database in use without waiting for its write lock', async () => {
    const path = store.path;
    store.close();
    const holder = await holdWriteLock(path);
    const startedAt = Date.now();
    store = await Store.open(path, { lockWait: 'unbounded' });
    expect(Date.now() - startedAt).toBeLessThan(1_000);
    expect(count()).toBe(0);
    await holder.release();
    expect(count()).toBe(1);
  });

  it('unbounded: a write waits for the lock as long as it takes, says so once after LOCK_WAIT_NOTE_MS, and is applied', async () => {
    const path = store.path;
    store.close();
    const notes: number[] = [];
    store = await Store.open(path, { lockWait: 'unbounded', onLockWait: () => notes.push(Date.now()) });
    // Longer than the busy timeout a bounded write gives up after.
    const holder = await holdWriteLock(path, BUSY_TIMEOUT_MS + 1_000);
    const startedAt = Date.now();
    insertEvent(store, event(1));
    const acquiredAt = Date.now();
    await store.durable();
    expect(acquiredAt).toBeGreaterThanOrEqual(await holder.released);
    expect(notes).toHaveLength(1);
    expect((notes[0] as number) - startedAt).toBeGreaterThanOrEqual(LOCK_WAIT_NOTE_MS);
    expect(count()).toBe(2);
  });

  it('bounded (an engine): a write gives up after the busy timeout', async () => {
    const holder = await holdWriteLock(store.path);
    expect(() => insertEvent(store, event(1))).toThrow(/database is locked/);
    await holder.release();
  });
});
