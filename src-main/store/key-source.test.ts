/**
 * The default key's choice (key-source.ts): the key file first when it exists, else the
 * OS key store when it answers, else the key file made once the database is checked;
 * fakes stand in for the OS key store here (the real one: test/integration/secrets.test.ts), except
 * for the time limit, which is tested against a real bus socket that never answers.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { configDir, defaultKeySource, OsKeyStoreUnavailable, resolveKeySource, systemKeyStore, type OsKeyStore } from './key-source';
import { createKeyFileCipher, parseKey, SecretKeyError, SecretKeySourceError } from './secret-cipher';

let dir: string;
let config: string;
let env: NodeJS.ProcessEnv;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-key-source-'));
  config = join(dir, 'config');
  env = { SLUICE_CONFIG_DIR: config };
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

const keyPath = (): string => join(config, 'secret.key');

/** An OS key store in memory, counting its calls. */
function fakeStore(initial: string | null, behaviour: 'ok' | 'unavailable' | 'fails' = 'ok'): OsKeyStore & { value: string | null; reads: number; creates: number } {
  const store = {
    name: 'the fake store',
    value: initial,
    reads: 0,
    creates: 0,
    async read() {
      store.reads++;
      if (behaviour === 'unavailable') throw new OsKeyStoreUnavailable('no Secret Service on the bus');
      if (behaviour === 'fails') throw new Error('no answer within 5 s');
      return store.value;
    },
    async create(value: string) {
      store.creates++;
      store.value ??= value;
      return store.value;
    },
  };
  return store;
}

describe('the config folder', () => {
  it('is SLUICE_CONFIG_DIR, else the platform user config folder', () => {
    expect(configDir({ SLUICE_CONFIG_DIR: 'rel/dir' }, 'linux', '/home/a')).toBe(join(process.cwd(), 'rel/dir'));
    expect(configDir({}, 'linux', '/home/a')).toBe('/home/a/.config/sluice');
    expect(configDir({ XDG_CONFIG_HOME: '/xdg' }, 'linux', '/home/a')).toBe('/xdg/sluice');
    expect(configDir({ XDG_CONFIG_HOME: 'relative' }, 'linux', '/home/a')).toBe('/home/a/.config/sluice');
    expect(configDir({}, 'darwin', '/Users/a')).toBe('/Users/a/Library/Application Support/sluice');
    expect(configDir({ APPDATA: '/appdata' }, 'win32', '/u')).toBe(join('/appdata', 'sluice'));
    expect(configDir({}, 'win32', '/u')).toBe(join('/u', 'AppData', 'Roaming', 'sluice'));
  });
});

describe('the default key file', () => {
  it('is made only when needed, mode 0600 in a 0700 folder, and read back by the next run', async () => {
    const keys = await defaultKeySource(env, { osKeyStore: null });
    expect(keys.cipher.kind).toBe('key-file');
    expect(keys.source).toBe(`the default key file ${keyPath()}`);
    // Nothing made yet: plain text and a check of an empty database need no key.
    expect(keys.cipher.decrypt('legacy plain text')).toBe('legacy plain text');
    expect(existsSync(config)).toBe(false);
    const sealed = keys.cipher.encrypt('a secret');
    expect(sealed).toMatch(/^enc:v1:/);
    expect(statSync(keyPath()).mode & 0o777).toBe(0o600);
    expect(statSync(config).mode & 0o777).toBe(0o700);
    expect(readdirSync(config)).toEqual(['secret.key']);
    expect(keys.madeKey()).toBe(`the default key file ${keyPath()}`);
    const next = await defaultKeySource(env, { osKeyStore: null });
    expect(next.cipher.decrypt(sealed)).toBe('a secret');
    expect(next.madeKey()).toBeNull();
  });

  it('is not made for a database encrypted with another key: the check refuses, naming where the key would be', async () => {
    const other = createKeyFileCipher(randomBytes(32), 'another key').encrypt('theirs');
    const keys = await defaultKeySource(env, { osKeyStore: null });
    expect(() => keys.cipher.decrypt(other)).toThrow(SecretKeyError);
    expect(() => keys.cipher.decrypt(other)).toThrow(`there is no default key yet: ${keyPath()} does not exist; they were encrypted with another key: give it with --secret-key-file PATH or SLUICE_SECRET_KEY`);
    expect(existsSync(keyPath())).toBe(false);
    keys.ensureKey();
    expect(() => keys.cipher.decrypt(other)).toThrow(`the default key file ${keyPath()} does not open them; they were encrypted with another key`);
  });

  it('two runs starting at once end with the same key', async () => {
    const runs = await Promise.all(Array.from({ length: 6 }, () => defaultKeySource(env, { osKeyStore: null })));
    const sealed = runs.map((r, i) => r.cipher.encrypt(`secret ${i}`));
    for (const r of runs) sealed.forEach((s, i) => expect(r.cipher.decrypt(s)).toBe(`secret ${i}`));
    expect(runs.filter((r) => r.madeKey() !== null)).toHaveLength(1);
    expect(readdirSync(config)).toEqual(['secret.key']);
  });

  it('a run that started before the key was made reads it when another process made it', async () => {
    const early = await defaultKeySource(env, { osKeyStore: null });
    const late = await defaultKeySource(env, { osKeyStore: null });
    const sealed = late.cipher.encrypt('made by the other');
    expect(early.cipher.decrypt(sealed)).toBe('made by the other');
    expect(early.madeKey()).toBeNull();
  });

  it('refuses a world-readable key file, and says when it cannot be made', async () => {
    mkdirSync(config, { mode: 0o700 });
    writeFileSync(keyPath(), randomBytes(32).toString('base64'), { mode: 0o644 });
    chmodSync(keyPath(), 0o644);
    await expect(defaultKeySource(env)).rejects.toThrow(/the default key file .* is readable by every user.*chmod 600/);
    // A folder that cannot be made (under a regular file: even root cannot).
    const blocked = await defaultKeySource({ SLUICE_CONFIG_DIR: join(keyPath(), 'sub') }, { osKeyStore: null });
    expect(() => blocked.ensureKey()).toThrow(SecretKeySourceError);
    expect(() => blocked.cipher.encrypt('x')).toThrow(/cannot make the folder .* for the default key.*--secret-key-file PATH or SLUICE_SECRET_KEY, or choose a writable folder with SLUICE_CONFIG_DIR/);
  });
});

describe('the OS key store', () => {
  it('holds the default key when it answers; made there once, no key file', async () => {
    const store = fakeStore(null);
    const keys = await defaultKeySource(env, { osKeyStore: store });
    expect(keys.cipher.kind).toBe('os-keychain');
    expect(keys.source).toBe(`the default key in the fake store (service "sluice", account "${config}")`);
    expect(store.creates).toBe(1);
    expect(keys.madeKey()).toBe(keys.source);
    const sealed = keys.cipher.encrypt('a secret');
    keys.ensureKey();
    expect(existsSync(keyPath())).toBe(false);
    expect(readdirSync(config)).toEqual([]); // the lock is gone
    const again = await defaultKeySource(env, { osKeyStore: store });
    expect(store.creates).toBe(1);
    expect(again.madeKey()).toBeNull();
    expect(again.cipher.decrypt(sealed)).toBe('a secret');
    expect(parseKey(Buffer.from(store.value as string), 'stored')).toHaveLength(32);
  });

  it('is not asked when the key file exists or SLUICE_KEY_STORE=file; a bad value is refused', async () => {
    const store = fakeStore(randomBytes(32).toString('base64'));
    const file = await defaultKeySource({ ...env, SLUICE_KEY_STORE: 'file' }, { osKeyStore: store });
    expect(file.cipher.kind).toBe('key-file');
    file.ensureKey();
    expect((await defaultKeySource(env, { osKeyStore: store })).cipher.kind).toBe('key-file');
    expect(store.reads).toBe(0);
    await expect(defaultKeySource({ ...env, SLUICE_KEY_STORE: 'keychain' })).rejects.toThrow(/SLUICE_KEY_STORE=keychain: expected "file"/);
  });

  it('unreachable: the key file, quietly; failing: the key file, with a warning and the reason in a refusal', async () => {
    const unreachable = await defaultKeySource(env, { osKeyStore: fakeStore(null, 'unavailable') });
    expect(unreachable.cipher.kind).toBe('key-file');
    expect(unreachable.warnings).toEqual([]);
    const failing = await defaultKeySource(env, { osKeyStore: fakeStore(null, 'fails') });
    expect(failing.cipher.kind).toBe('key-file');
    expect(failing.warnings).toEqual([`the fake store could not be used: no answer within 5 s; the default key is the key file ${keyPath()}`]);
    const theirs = createKeyFileCipher(randomBytes(32), 'the store key').encrypt('x');
    expect(() => failing.cipher.decrypt(theirs)).toThrow('(or reach the OS key store, if it holds the default key: the fake store could not be used: no answer within 5 s)');
    expect(existsSync(keyPath())).toBe(false);
  });

  it('a malformed value in the store is refused, not replaced', async () => {
    const store = fakeStore('not a key');
    await expect(defaultKeySource(env, { osKeyStore: store })).rejects.toThrow(SecretKeySourceError);
    expect(store.value).toBe('not a key');
  });

  it('waits for another process making the key, and says so when it never finishes', async () => {
    mkdirSync(config, { mode: 0o700 });
    writeFileSync(join(config, 'secret.key.lock'), '');
    const store = fakeStore(null);
    setTimeout(() => (store.value = randomBytes(32).toString('base64')), 150);
    const keys = await defaultKeySource(env, { osKeyStore: store });
    expect(store.creates).toBe(0);
    expect(keys.madeKey()).toBeNull();
    await expect(defaultKeySource(env, { osKeyStore: fakeStore(null), lockWaitMs: 200 })).rejects.toThrow(/another Sluice process is making the default key .*secret\.key\.lock exists/);
  });

  describe('this machine’s', () => {
    let server: Server | undefined;
    const sockets: Socket[] = [];
    const saved = process.env['DBUS_SESSION_BUS_ADDRESS'];

    afterEach(async () => {
      if (saved === undefined) delete process.env['DBUS_SESSION_BUS_ADDRESS'];
      else process.env['DBUS_SESSION_BUS_ADDRESS'] = saved;
      for (const s of sockets.splice(0)) s.destroy();
      await new Promise((done) => (server ? server.close(done) : done(undefined)));
      server = undefined;
    });

    it.runIf(process.platform === 'linux')('is not tried without a session bus', () => {
      expect(systemKeyStore(config, {})).toBeNull();
    });

    it.runIf(process.platform === 'linux')('gives up on a bus that never answers, within the time limit', async () => {
      const socketPath = join(dir, 'silent-bus');
      server = createServer((socket) => sockets.push(socket));
      await new Promise<void>((listening) => (server as Server).listen(socketPath, listening));
      // The binding reads the real environment (in its worker thread).
      process.env['DBUS_SESSION_BUS_ADDRESS'] = `unix:path=${socketPath}`;
      const store = systemKeyStore(config, process.env, 500);
      expect(store).not.toBeNull();
      const started = Date.now();
      await expect(store?.read()).rejects.toThrow('no answer within 0.5 s');
      expect(Date.now() - started).toBeLessThan(3_000);
      await expect.poll(() => sockets.length).toBeGreaterThan(0);
      // And the default key falls back to the key file, saying why.
      const keys = await resolveKeySource(undefined, env, { osKeyStore: store });
      expect(keys.cipher.kind).toBe('key-file');
      expect(keys.warnings.join()).toContain('the Secret Service could not be used: no answer within 0.5 s');
    });
  });
});
