/**
 * Where the key that encrypts subscription secrets in a headless run (`sluice run`,
 * `npm run serve`, every CLI command) comes from (docs/design.md#secrets-at-rest):
 * `--secret-key-file PATH`, else SLUICE_SECRET_KEY, else the default key. A headless run never stores secrets
 * unprotected.
 *
 * The default key is made by Sluice the first time it is needed and used from then on:
 * - in the OS key store (macOS Keychain, Windows Credential Manager, the Secret Service
 *   on Linux: GNOME Keyring, KWallet…) when this run can reach one: service "sluice",
 *   account the config folder's path;
 * - else in the file `secret.key` in the user's config folder (mode 0600, the folder
 *   0700): $SLUICE_CONFIG_DIR, else $XDG_CONFIG_HOME/sluice or ~/.config/sluice (Linux),
 *   ~/Library/Application Support/sluice (macOS), %APPDATA%\sluice (Windows).
 * Never beside the database: a copy of the database does not carry its key.
 *
 * The order, so that every run of one user finds the same key:
 * 1. the key file when it exists (once made, it is the key, whatever else is reachable);
 * 2. unless SLUICE_KEY_STORE=file, the OS key store's entry when the store answers
 *    (made there when it has none);
 * 3. else the key file, made when the first secret is stored or the engine starts.
 * A key is made only once the database has been checked (step 3), so a run refused
 * for a database encrypted with another key leaves no key behind; and a key is never
 * replaced: a database whose secrets it does not open is refused, never rewritten.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fchmodSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { SecretCipher } from './database';
import {
  KEY_FILE_PREFIX,
  SECRET_KEY_ENV,
  SecretKeyError,
  SecretKeySourceError,
  createKeyFileCipher,
  isEncrypted,
  modeText,
  newKeyText,
  otherScheme,
  parseKey,
} from './secret-cipher';

/** Overrides the config folder that holds the default key (operators, tests). */
export const CONFIG_DIR_ENV = 'SLUICE_CONFIG_DIR';
/** `file` keeps the default key in the key file even where an OS key store answers; `auto` (default) prefers the store. */
const KEY_STORE_ENV = 'SLUICE_KEY_STORE';
export const DEFAULT_KEY_FILE = 'secret.key';
/** The OS key store entry's service name (its account is the config folder). */
const OS_KEY_STORE_SERVICE = 'sluice';
/** How long one OS key store call may take: a store that never answers must not hang a run. */
const OS_KEY_STORE_TIMEOUT_MS = 5_000;
/** A lock older than this was left by a process that died while making the key. */
const STALE_LOCK_MS = 60_000;

export interface KeySource {
  cipher: SecretCipher;
  /** Where the key is (for logs: never the key). */
  source: string;
  /** Things the operator should fix or know (a group-readable key file, an OS key store that failed). */
  warnings: string[];
  /** Make the default key now if it does not exist yet (nothing for other sources); throws SecretKeySourceError. */
  ensureKey(): void;
  /** Where this process made a new default key, if it did (to say so once: it must be kept). */
  madeKey(): string | null;
}

const fixedSource = (cipher: SecretCipher, source: string, warnings: string[] = [], made: string | null = null): KeySource => ({
  cipher,
  source,
  warnings,
  ensureKey: () => undefined,
  madeKey: () => made,
});

/** The folder of the default key file (and the OS key store entry's account). */
export function configDir(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform, home = homedir()): string {
  const override = env[CONFIG_DIR_ENV];
  if (override !== undefined && override.trim() !== '') return resolve(override);
  if (platform === 'win32') return join(env['APPDATA'] || join(home, 'AppData', 'Roaming'), 'sluice');
  if (platform === 'darwin') return join(home, 'Library', 'Application Support', 'sluice');
  // XDG: a relative XDG_CONFIG_HOME is invalid and ignored.
  const xdg = env['XDG_CONFIG_HOME'];
  return join(xdg && isAbsolute(xdg) ? xdg : join(home, '.config'), 'sluice');
}

/** The bytes of a key file, refusing one anyone on the machine can read; null when there is none and `missingOk`. */
function readKeyFile(path: string, label: string, missingOk: true): { key: Buffer; warnings: string[] } | null;
function readKeyFile(path: string, label: string, missingOk?: false): { key: Buffer; warnings: string[] };
function readKeyFile(path: string, label: string, missingOk = false): { key: Buffer; warnings: string[] } | null {
  const warnings: string[] = [];
  let data: Buffer;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new SecretKeySourceError(`${label}: not a regular file`);
    if (process.platform !== 'win32') {
      if ((st.mode & 0o007) !== 0)
        throw new SecretKeySourceError(
          `${label}: the key file is readable by every user on this machine (mode ${modeText(st.mode)}); restrict it with: chmod 600 ${path}`,
        );
      if ((st.mode & 0o070) !== 0)
        warnings.push(`the key file ${path} is accessible to its group (mode ${modeText(st.mode)}); consider chmod 600 ${path}`);
    }
    data = readFileSync(path);
  } catch (error) {
    if (error instanceof SecretKeySourceError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    // Not there (ENOTDIR: a folder on the way is a file; making it says why).
    if (missingOk && (code === 'ENOENT' || code === 'ENOTDIR')) return null;
    throw new SecretKeySourceError(`${label}: cannot read it: ${(error as Error).message}`, { cause: error });
  }
  return { key: parseKey(data, label), warnings };
}

/** The cipher for a key file given with --secret-key-file. */
export function keyFileCipher(path: string): KeySource {
  const { key, warnings } = readKeyFile(path, `--secret-key-file ${path}`);
  const source = `the key file ${path}`;
  return fixedSource(createKeyFileCipher(key, source), source, warnings);
}

/** The cipher for SLUICE_SECRET_KEY (base64 of 32 bytes; hex accepted). */
export function envKeyCipher(value: string): KeySource {
  const source = `$${SECRET_KEY_ENV}`;
  return fixedSource(createKeyFileCipher(parseKey(Buffer.from(value.trim(), 'latin1'), source), source), source);
}

interface DefaultKeyOptions {
  /** The OS key store to try; null for none. Default: this machine's, when it can be reached. */
  osKeyStore?: OsKeyStore | null;
  /** How long to wait for another process that is making the key in the OS key store. */
  lockWaitMs?: number;
}

/** This run's key: `--secret-key-file`, else SLUICE_SECRET_KEY, else the default key. */
export async function resolveKeySource(
  keyFile: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  options: DefaultKeyOptions = {},
): Promise<KeySource> {
  if (keyFile !== undefined) {
    if (keyFile.trim() === '') throw new SecretKeySourceError('--secret-key-file: a path is required');
    return keyFileCipher(keyFile);
  }
  const value = env[SECRET_KEY_ENV];
  if (value !== undefined && value.trim() !== '') return envKeyCipher(value);
  return defaultKeySource(env, options);
}

const ANOTHER_KEY = `they were encrypted with another key: give it with --secret-key-file PATH or ${SECRET_KEY_ENV}`;

/** The default key (see the top of this file for the order). */
export async function defaultKeySource(env: NodeJS.ProcessEnv = process.env, options: DefaultKeyOptions = {}): Promise<KeySource> {
  const dir = configDir(env);
  const path = join(dir, DEFAULT_KEY_FILE);
  const mode = (env[KEY_STORE_ENV] ?? '').trim().toLowerCase();
  if (mode !== '' && mode !== 'auto' && mode !== 'file')
    throw new SecretKeySourceError(`${KEY_STORE_ENV}=${env[KEY_STORE_ENV]}: expected "file" (the key file only) or "auto" (the OS key store when reachable)`);
  const fileLabel = `the default key file ${path}`;
  const existing = readKeyFile(path, fileLabel, true);
  if (existing) return fixedSource(createKeyFileCipher(existing.key, fileLabel, { refusalHint: ANOTHER_KEY }), fileLabel, existing.warnings);

  const store = mode === 'file' ? null : options.osKeyStore !== undefined ? options.osKeyStore : systemKeyStore(dir, env);
  if (!store) return lazyKeyFileSource(dir, path, null);

  const where = `the default key in ${store.name} (service "${OS_KEY_STORE_SERVICE}", account "${dir}")`;
  try {
    let text = await store.read();
    let made = false;
    if (text === null) {
      const ours = newKeyText().trim();
      text = await makeInOsStore(store, dir, ours, options.lockWaitMs ?? 2 * OS_KEY_STORE_TIMEOUT_MS);
      made = text === ours;
    }
    const cipher = createKeyFileCipher(parseKey(Buffer.from(text, 'latin1'), where), where, { kind: 'os-keychain', refusalHint: ANOTHER_KEY });
    return fixedSource(cipher, where, [], made ? where : null);
  } catch (error) {
    // A malformed key in the store, or another process stuck making it: refuse.
    if (error instanceof SecretKeySourceError) throw error;
    // The store cannot be used (none behind the bus, locked, no answer): the key file.
    // Safe even if the store holds the key: the file is made only once the database
    // opens with it, and a database encrypted with the store's key does not.
    const unavailable = error instanceof OsKeyStoreUnavailable;
    const why = `${store.name} ${unavailable ? 'is not available' : 'could not be used'}: ${(error as Error).message}`;
    const source = lazyKeyFileSource(dir, path, why);
    if (!unavailable) source.warnings.push(`${why}; the default key is the key file ${path}`);
    return source;
  }
}

/**
 * The default key file, read when it exists and made when it is first needed (the first
 * secret encrypted, or `ensureKey`): a database encrypted with another key is refused
 * by the decrypt check before anything is encrypted, so no useless key is made for it.
 */
function lazyKeyFileSource(dir: string, path: string, storeProblem: string | null): KeySource {
  const label = `the default key file ${path}`;
  let cipher: SecretCipher | null = null;
  let made = false;
  const load = (make: boolean): SecretCipher | null => {
    if (cipher) return cipher;
    let key = readKeyFile(path, label, true)?.key ?? null;
    if (!key && make) ({ key, made } = makeKeyFile(dir, path, label));
    if (key) cipher = createKeyFileCipher(key, label, { refusalHint: ANOTHER_KEY });
    return cipher;
  };
  const lazy: SecretCipher = {
    kind: 'key-file',
    encrypt: (secret) => (load(true) as SecretCipher).encrypt(secret),
    decrypt(stored) {
      const ready = load(false);
      if (ready) return ready.decrypt(stored);
      if (!isEncrypted(stored)) return stored;
      if (!stored.startsWith(KEY_FILE_PREFIX)) throw otherScheme(stored, label);
      throw new SecretKeyError(
        `there is no default key yet: ${path} does not exist; ${ANOTHER_KEY}` +
          (storeProblem ? ` (or reach the OS key store, if it holds the default key: ${storeProblem})` : ''),
      );
    },
  };
  return {
    cipher: lazy,
    source: label,
    warnings: [],
    ensureKey: () => void load(true),
    madeKey: () => (made ? label : null),
  };
}

/**
 * Make the key file: a new key written to a private temporary file, then linked to its
 * name, which fails when it exists: of two processes starting at once, one key wins and
 * both read it back. Never replaces a key.
 */
function makeKeyFile(dir: string, path: string, label: string): { key: Buffer; made: boolean } {
  ensureConfigDir(dir);
  const tmp = join(dir, `.${DEFAULT_KEY_FILE}.${process.pid}.${randomBytes(6).toString('hex')}`);
  let made = false;
  try {
    const fd = openSync(tmp, 'wx', 0o600);
    try {
      fchmodSync(fd, 0o600);
      writeSync(fd, newKeyText());
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      linkSync(tmp, path);
      made = true;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') {
        // Another process made it first: use that one.
      } else if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'ENOSYS') {
        // No hard links on this file system: exclusive create of the name itself.
        try {
          writeFileSync(path, readFileSync(tmp), { flag: 'wx', mode: 0o600 });
          made = true;
        } catch (inner) {
          if ((inner as NodeJS.ErrnoException).code !== 'EEXIST') throw inner;
        }
      } else {
        throw error;
      }
    }
  } catch (error) {
    throw new SecretKeySourceError(
      `cannot make the default key ${path}: ${(error as Error).message}; give a key with --secret-key-file PATH or ${SECRET_KEY_ENV}, or choose a writable folder with ${CONFIG_DIR_ENV}`,
      { cause: error },
    );
  } finally {
    rmSync(tmp, { force: true });
  }
  if (made) syncDir(dir);
  return { key: readKeyFile(path, label).key, made };
}

function ensureConfigDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new SecretKeySourceError(
      `cannot make the folder ${dir} for the default key: ${(error as Error).message}; give a key with --secret-key-file PATH or ${SECRET_KEY_ENV}, or choose a writable folder with ${CONFIG_DIR_ENV}`,
      { cause: error },
    );
  }
}

/** The new name durable with the file (best effort: not every platform can open a folder). */
function syncDir(dir: string): void {
  if (process.platform === 'win32') return;
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // The key file itself is synced; a lost name after a crash means a new key next start.
  }
}

// ----- the OS key store ------------------------------------------------------------

/** The store cannot be reached at all (no binding, no session bus, no Secret Service): the key file is the default. */
export class OsKeyStoreUnavailable extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'OsKeyStoreUnavailable';
  }
}

/** A time-bounded OS key store holding one value. */
export interface OsKeyStore {
  /** For messages: "the Secret Service". */
  readonly name: string;
  /** The stored value; null when there is none. OsKeyStoreUnavailable when the store cannot be reached. */
  read(): Promise<string | null>;
  /** Store `value` unless there is a value already; resolves to the value held afterwards. */
  create(value: string): Promise<string>;
}

/** Make the key in the store, one process at a time (a lock file in the config folder). */
async function makeInOsStore(store: OsKeyStore, dir: string, value: string, waitMs: number): Promise<string> {
  ensureConfigDir(dir);
  const lock = join(dir, `${DEFAULT_KEY_FILE}.lock`);
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      closeSync(openSync(lock, 'wx', 0o600));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST')
        throw new SecretKeySourceError(`cannot make ${lock}: ${(error as Error).message}; choose a writable folder with ${CONFIG_DIR_ENV}`, { cause: error });
    }
    // Another process is making it: use its key once it is there.
    const found = await store.read();
    if (found !== null) return found;
    if (Date.now() - lockAge(lock) > STALE_LOCK_MS) {
      rmSync(lock, { force: true });
      continue;
    }
    if (Date.now() >= deadline)
      throw new SecretKeySourceError(
        `another Sluice process is making the default key in ${store.name} (${lock} exists); if no other Sluice is starting, remove that file`,
      );
    await new Promise((wake) => setTimeout(wake, 100));
  }
  try {
    return await store.create(value);
  } finally {
    rmSync(lock, { force: true });
  }
}

function lockAge(lock: string): number {
  try {
    return statSync(lock).mtimeMs;
  } catch {
    return Date.now();
  }
}

/** What the OS key store is called on this platform. */
function storeName(platform: NodeJS.Platform): string {
  if (platform === 'darwin') return 'the macOS Keychain';
  if (platform === 'win32') return 'the Windows Credential Manager';
  return 'the Secret Service';
}

// Runs in a worker thread: the binding's calls are synchronous (the Secret Service's
// D-Bus handshake included), and a bus that accepts but never answers would block the
// main thread; a worker can be abandoned after the time limit. On Linux the entry is
// pinned to the Secret Service: left to itself the binding falls back to the kernel
// keyring, which is lost at reboot, and the secrets with it.
const WORKER = `
const { parentPort, workerData: d } = require('node:worker_threads');
let entry = null;
try {
  const { Entry } = require(d.module);
  entry = new Entry(d.service, d.account, { linux: { store: 'secret-service' } });
} catch (error) {
  parentPort.postMessage({ unavailable: String((error && error.message) || error) });
}
if (entry) {
  try {
    let value = entry.getPassword();
    if (value === null && d.value !== null) {
      entry.setPassword(d.value);
      value = entry.getPassword();
    }
    parentPort.postMessage({ value: value === undefined ? null : value });
  } catch (error) {
    parentPort.postMessage({ error: String((error && error.message) || error) });
  }
}
`;

type WorkerAnswer = { value: string | null } | { unavailable: string } | { error: string };

/**
 * This machine's OS key store through @napi-rs/keyring, or null when a headless run
 * cannot reach one: no binding for this platform, or (Linux, BSD) no session bus,
 * which is the case of servers, containers and system services.
 */
export function systemKeyStore(account: string, env: NodeJS.ProcessEnv = process.env, timeoutMs = OS_KEY_STORE_TIMEOUT_MS): OsKeyStore | null {
  const platform = process.platform;
  if (platform !== 'darwin' && platform !== 'win32' && platform !== 'linux' && platform !== 'freebsd') return null;
  if ((platform === 'linux' || platform === 'freebsd') && !env['DBUS_SESSION_BUS_ADDRESS']) return null;
  let module: string;
  try {
    module = createRequire(__filename).resolve('@napi-rs/keyring');
  } catch {
    return null;
  }
  const name = storeName(platform);
  const ask = (value: string | null): Promise<string | null> =>
    new Promise((resolvePromise, reject) => {
      const worker = new Worker(WORKER, { eval: true, workerData: { module, service: OS_KEY_STORE_SERVICE, account, value } });
      // An abandoned call must not keep the process alive; the timer waits for it.
      worker.unref();
      const timer = setTimeout(() => {
        void worker.terminate();
        reject(new Error(`no answer within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        void worker.terminate();
      };
      worker.once('message', (answer: WorkerAnswer) => {
        done();
        if ('unavailable' in answer) reject(new OsKeyStoreUnavailable(answer.unavailable));
        else if ('error' in answer) reject(new Error(answer.error));
        else resolvePromise(answer.value);
      });
      worker.once('error', (error) => {
        done();
        reject(new OsKeyStoreUnavailable(error.message, { cause: error }));
      });
      worker.once('exit', () => {
        done();
        reject(new OsKeyStoreUnavailable('the key store worker stopped without an answer'));
      });
    });
  return {
    name,
    read: () => ask(null),
    create: async (value) => {
      const held = await ask(value);
      if (held === null) throw new Error('the new key could not be read back');
      return held;
    },
  };
}
