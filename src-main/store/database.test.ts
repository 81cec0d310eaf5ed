import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { COMMIT_MAX_WRITES, Store } from './database';
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
