/**
 * Subscription secrets at rest (docs/design.md#secrets-at-rest): the key-file cipher for
 * headless runs, and the rules every cipher shares for what a stored value is.
 *
 * A stored secret is one of:
 * - legacy plain text: anything not starting with `enc:` (read as is; upgraded at the
 *   next start with a key, see `prepareSecrets`);
 * - `enc:v1:<base64url(iv | tag | ciphertext)>`: AES-256-GCM under an operator key
 *   (a key file or SLUICE_SECRET_KEY), a random 96-bit IV per value;
 * - `enc:os:<base64>`: the OS key store (Electron `safeStorage`, see src-main/app/);
 * - `enc:plain:<base64url>`: a plain-text secret that itself starts with `enc:`, stored
 *   without a key (so it cannot be mistaken for an encrypted one).
 * A value that a process cannot decrypt (no key, another key, another scheme) is never
 * read as plain text and never overwritten: the engine refuses to start instead.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { PLAINTEXT_CIPHER, type SecretCipher } from './database';

export const ENCRYPTED_PREFIX = 'enc:';
export const KEY_FILE_PREFIX = 'enc:v1:';
export const OS_KEYCHAIN_PREFIX = 'enc:os:';
export const ESCAPED_PLAIN_PREFIX = 'enc:plain:';
export const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** The environment variable holding the key (base64 of 32 bytes). */
export const SECRET_KEY_ENV = 'SLUICE_SECRET_KEY';

/** A stored secret that this process cannot turn back into the secret. */
export class SecretKeyError extends Error {
  constructor(detail: string) {
    super(`cannot decrypt subscription secrets: wrong or missing key (${detail})`);
    this.name = 'SecretKeyError';
  }
}

/** A key that cannot be used (unreadable, malformed, world-readable). */
export class SecretKeySourceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretKeySourceError';
  }
}

/** Whether a stored value is in the encrypted namespace (`enc:`). */
export const isEncrypted = (stored: string): boolean => stored.startsWith(ENCRYPTED_PREFIX);

/** Whether a stored value should be re-encrypted by `cipher` (plain text under a real cipher). */
export function needsUpgrade(cipher: SecretCipher, stored: string): boolean {
  return cipher.kind !== 'plaintext' && (!isEncrypted(stored) || stored.startsWith(ESCAPED_PLAIN_PREFIX));
}

/** The form a secret is stored in under `cipher`. */
export function sealSecret(cipher: SecretCipher, secret: string): string {
  if (cipher.kind !== 'plaintext') return cipher.encrypt(secret);
  return isEncrypted(secret) ? ESCAPED_PLAIN_PREFIX + Buffer.from(secret, 'utf8').toString('base64url') : secret;
}

/** The secret a stored value holds; throws {@link SecretKeyError} when `cipher` cannot open it. */
export function openSecret(cipher: SecretCipher, stored: string): string {
  if (!isEncrypted(stored)) return stored;
  if (stored.startsWith(ESCAPED_PLAIN_PREFIX)) return Buffer.from(stored.slice(ESCAPED_PLAIN_PREFIX.length), 'base64url').toString('utf8');
  if (cipher.kind === 'plaintext') {
    const scheme = stored.startsWith(OS_KEYCHAIN_PREFIX) ? 'by the OS key store' : 'with a key file or SLUICE_SECRET_KEY';
    throw new SecretKeyError(`the secrets were encrypted ${scheme}, and this run has no key`);
  }
  return cipher.decrypt(stored);
}

/** AES-256-GCM under a 32-byte operator key. */
export function createKeyFileCipher(key: Buffer, source = 'the key'): SecretCipher {
  if (key.length !== KEY_BYTES) throw new SecretKeySourceError(`${source}: a key is ${KEY_BYTES} bytes, got ${key.length}`);
  const k = Buffer.from(key);
  return {
    kind: 'key-file',
    encrypt(secret) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', k, iv);
      const ciphertext = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
      return KEY_FILE_PREFIX + Buffer.concat([iv, cipher.getAuthTag(), ciphertext]).toString('base64url');
    },
    decrypt(stored) {
      if (!isEncrypted(stored)) return stored;
      if (!stored.startsWith(KEY_FILE_PREFIX)) {
        const scheme = stored.startsWith(OS_KEYCHAIN_PREFIX) ? 'by the OS key store (the desktop app)' : `in an unknown form "${stored.slice(0, 12)}…"`;
        throw new SecretKeyError(`the secrets were encrypted ${scheme}, not with a key file`);
      }
      const raw = Buffer.from(stored.slice(KEY_FILE_PREFIX.length), 'base64url');
      if (raw.length < IV_BYTES + TAG_BYTES) throw new SecretKeyError(`a stored secret is truncated (${source})`);
      try {
        const decipher = createDecipheriv('aes-256-gcm', k, raw.subarray(0, IV_BYTES));
        decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
        return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
      } catch {
        throw new SecretKeyError(`${source} does not open them`);
      }
    },
  };
}

/**
 * A key from text or bytes: exactly 32 raw bytes, or their base64 / base64url / hex
 * (surrounding whitespace ignored).
 */
export function parseKey(data: Buffer, source: string): Buffer {
  const text = data.toString('latin1').trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  if (/^[A-Za-z0-9+/_-]{43}={0,1}$/.test(text)) {
    const decoded = Buffer.from(text, text.includes('+') || text.includes('/') ? 'base64' : 'base64url');
    if (decoded.length === KEY_BYTES) return decoded;
  }
  if (data.length === KEY_BYTES) return Buffer.from(data);
  throw new SecretKeySourceError(
    `${source}: a key is ${KEY_BYTES} random bytes, or their base64 or hex (got ${data.length} bytes that are none of these); ` +
      'create one with `sluice keygen --out PATH`',
  );
}

export interface KeySource {
  cipher: SecretCipher;
  /** Where the key came from (for logs: never the key). */
  source: string;
  /** Things the operator should fix (a group-readable key file). */
  warnings: string[];
}

/** The cipher for a key file. Refuses a file anyone on the machine can read. */
export function keyFileCipher(path: string): KeySource {
  const warnings: string[] = [];
  let data: Buffer;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new SecretKeySourceError(`--secret-key-file ${path}: not a regular file`);
    if (process.platform !== 'win32') {
      if ((st.mode & 0o007) !== 0)
        throw new SecretKeySourceError(
          `--secret-key-file ${path}: the key file is readable by every user on this machine (mode ${modeText(st.mode)}); ` +
            `restrict it with: chmod 600 ${path}`,
        );
      if ((st.mode & 0o070) !== 0)
        warnings.push(`the key file ${path} is accessible to its group (mode ${modeText(st.mode)}); consider chmod 600 ${path}`);
    }
    data = readFileSync(path);
  } catch (error) {
    if (error instanceof SecretKeySourceError) throw error;
    throw new SecretKeySourceError(`--secret-key-file ${path}: cannot read it: ${(error as Error).message}`);
  }
  const source = `the key file ${path}`;
  return { cipher: createKeyFileCipher(parseKey(data, `--secret-key-file ${path}`), source), source, warnings };
}

/** The cipher for SLUICE_SECRET_KEY (base64 of 32 bytes; hex accepted). */
export function envKeyCipher(value: string): KeySource {
  const source = `$${SECRET_KEY_ENV}`;
  const key = parseKey(Buffer.from(value.trim(), 'latin1'), source);
  return { cipher: createKeyFileCipher(key, source), source, warnings: [] };
}

/**
 * The headless runs' key: `--secret-key-file` first, else SLUICE_SECRET_KEY, else none
 * (plain text, which the console and the logs warn about).
 */
export function resolveKeySource(keyFile: string | undefined, env: NodeJS.ProcessEnv = process.env): KeySource {
  if (keyFile !== undefined) {
    if (keyFile.trim() === '') throw new SecretKeySourceError('--secret-key-file: a path is required');
    return keyFileCipher(keyFile);
  }
  const value = env[SECRET_KEY_ENV];
  if (value !== undefined && value.trim() !== '') return envKeyCipher(value);
  return { cipher: PLAINTEXT_CIPHER, source: 'none', warnings: [] };
}

/** A new key, as the text a key file holds (base64 and a newline). */
export function newKeyText(): string {
  return `${randomBytes(KEY_BYTES).toString('base64')}\n`;
}

/** What the analyst reads when secrets are stored unprotected. */
export const PLAINTEXT_WARNING =
  'subscription secrets are stored unprotected (no key): start with --secret-key-file PATH (create one with `sluice keygen --out PATH`) or set SLUICE_SECRET_KEY';

function modeText(mode: number): string {
  return `0${(mode & 0o777).toString(8)}`;
}
