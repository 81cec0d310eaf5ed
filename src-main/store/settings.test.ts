import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Store } from './database';
import { defaultDurableName, durableNameFrom, ensureInstallId, readSettings, writeSettings } from './settings';

let dir: string;
const open: Store[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-settings-'));
});

afterEach(async () => {
  for (const store of open.splice(0)) store.close();
  await rm(dir, { recursive: true, force: true });
});

async function openStore(name = 'sluice.db'): Promise<Store> {
  const store = await Store.open(join(dir, name));
  open.push(store);
  return store;
}

async function reopen(store: Store): Promise<Store> {
  await store.durable();
  store.close();
  open.splice(open.indexOf(store), 1);
  return openStore();
}

/** What a database written before install ids existed looks like: settings, no install id. */
function asBeforeInstallIds(store: Store): void {
  store.run(store.kysely.deleteFrom('settings').where('key', '=', 'installId'));
}

describe('install id', () => {
  it('is made at the first start, kept across restarts, and differs between databases', async () => {
    let store = await openStore();
    const id = ensureInstallId(store);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(ensureInstallId(store)).toBe(id);
    store = await reopen(store);
    expect(ensureInstallId(store)).toBe(id);
    const other = await openStore('other.db');
    expect(ensureInstallId(other)).not.toBe(id);
    expect(defaultDurableName(ensureInstallId(other))).not.toBe(defaultDurableName(id));
    // Not a setting: the settings model never shows it.
    expect(Object.keys(readSettings(store))).not.toContain('installId');
  });

  it('names the durable: sluice- and 12 hex digits, unless one is set', async () => {
    const store = await openStore();
    const id = ensureInstallId(store);
    const own = defaultDurableName(id);
    expect(own).toBe(`sluice-${id.replace(/-/g, '').slice(0, 12)}`);
    expect(own).toMatch(/^sluice-[0-9a-f]{12}$/);
    expect(durableNameFrom(readSettings(store), id)).toBe(own);
    writeSettings(store, { jetstreamDurable: 'soc-team' });
    expect(durableNameFrom(readSettings(store), id)).toBe('soc-team');
  });

  it('replaces an unusable stored id (edited by hand) without touching the settings', async () => {
    const store = await openStore();
    ensureInstallId(store);
    writeSettings(store, { jetstreamStream: 'DECNET' });
    store.run(store.kysely.updateTable('settings').set({ value: '"x y"' }).where('key', '=', 'installId'));
    const id = ensureInstallId(store);
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(readSettings(store).jetstreamDurable).toBe('');
  });
});

describe('the first start after the upgrade that brought install ids', () => {
  it('keeps the durable "sluice" for a database that was consuming a stream', async () => {
    let store = await openStore();
    ensureInstallId(store);
    writeSettings(store, { jetstreamStream: 'DECNET' });
    asBeforeInstallIds(store);
    store = await reopen(store);
    const id = ensureInstallId(store);
    expect(readSettings(store)).toMatchObject({ jetstreamStream: 'DECNET', jetstreamDurable: 'sluice' });
    expect(durableNameFrom(readSettings(store), id)).toBe('sluice');
    // Once: the name stays what the analyst makes it afterwards.
    writeSettings(store, { jetstreamDurable: '' });
    store = await reopen(store);
    expect(ensureInstallId(store)).toBe(id);
    expect(durableNameFrom(readSettings(store), id)).toBe(defaultDurableName(id));
  });

  it('gives a database that was not consuming a stream its own durable', async () => {
    let store = await openStore();
    ensureInstallId(store);
    writeSettings(store, { jetstreamStream: '', concurrency: 4 });
    asBeforeInstallIds(store);
    store = await reopen(store);
    const id = ensureInstallId(store);
    expect(readSettings(store)).toMatchObject({ jetstreamStream: '', jetstreamDurable: '', concurrency: 4 });
    expect(durableNameFrom(readSettings(store), id)).toBe(defaultDurableName(id));
  });
});
