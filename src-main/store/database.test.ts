import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { COMMIT_MAX_WRITES, LAZY_COMMIT_MS, Store } from './database';
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
