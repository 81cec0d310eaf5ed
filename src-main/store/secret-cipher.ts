/**
 * Subscription secrets at rest (docs/design.md#secrets-at-rest): the key cipher for
 * headless runs, and the rules every cipher shares for what a stored value is. Where its
 * key comes from is key-source.ts.
 *
 * A stored secret is one of:
 * - legacy plain text: anything not starting with `enc:` (read as is; upgraded at the
 *   next start with a key, see `prepareSecrets`);
 * - `enc:v1:<base64url(iv | tag | ciphertext)>`: AES-256-GCM under a 32-byte key (a key
 *   file, SLUICE_SECRET_KEY, or the default key a headless run makes: see
 *   key-source.ts), a random 96-bit IV per value;
 * - `enc:os:<base64>`: the OS key store (Electron `safeStorage`, see src-main/app/);
 * - `enc:plain:<base64url>`: a plain-text secret that itself starts with `enc:`, stored
 *   without a key (so it cannot be mistaken for an encrypted one).
 * A value that a process cannot decrypt (no key, another key, another scheme) is never
 * read as plain text and never overwritten: the engine refuses to start instead.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { SecretCipher } from './database';

const ENCRYPTED_PREFIX = 'enc:';
export const KEY_FILE_PREFIX = 'enc:v1:';
export const OS_KEYCHAIN_PREFIX = 'enc:os:';
const ESCAPED_PLAIN_PREFIX = 'enc:plain:';
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** The environment variable holding the key (base64 of 32 bytes). */
export const SECRET_KEY_ENV = 'SLUICE_SECRET_KEY';

/** A stored secret that this process cannot turn back into the secret. */
export class SecretKeyError extends Error {
  constructor(detail: string, options?: { cause?: unknown }) {
    super(`cannot decrypt subscription secrets: wrong or missing key (${detail})`, options);
    this.name = 'SecretKeyError';
  }
}

/** A key that cannot be used (unreadable, malformed, world-readable). */
export class SecretKeySourceError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
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

interface KeyCipherOptions {
  /** What status shows: 'os-keychain' when the key itself lives in the OS key store. */
  kind?: 'key-file' | 'os-keychain';
  /** Said after "<source> does not open them" (e.g. how to give the right key). */
  refusalHint?: string;
}

/** AES-256-GCM under a 32-byte key. */
export function createKeyFileCipher(key: Buffer, source = 'the key', options: KeyCipherOptions = {}): SecretCipher {
  if (key.length !== KEY_BYTES) throw new SecretKeySourceError(`${source}: a key is ${KEY_BYTES} bytes, got ${key.length}`);
  const k = Buffer.from(key);
  const refusal = `${source} does not open them${options.refusalHint ? `; ${options.refusalHint}` : ''}`;
  return {
    kind: options.kind ?? 'key-file',
    encrypt(secret) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', k, iv);
      const ciphertext = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
      return KEY_FILE_PREFIX + Buffer.concat([iv, cipher.getAuthTag(), ciphertext]).toString('base64url');
    },
    decrypt(stored) {
      if (!isEncrypted(stored)) return stored;
      if (!stored.startsWith(KEY_FILE_PREFIX)) throw otherScheme(stored, source);
      const raw = Buffer.from(stored.slice(KEY_FILE_PREFIX.length), 'base64url');
      if (raw.length < IV_BYTES + TAG_BYTES) throw new SecretKeyError(`a stored secret is truncated (${source})`);
      try {
        const decipher = createDecipheriv('aes-256-gcm', k, raw.subarray(0, IV_BYTES));
        decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
        return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
      } catch {
        throw new SecretKeyError(refusal);
      }
    },
  };
}

/** The refusal for a stored value encrypted otherwise than with a key (`enc:v1:`). */
export function otherScheme(stored: string, source: string): SecretKeyError {
  const scheme = stored.startsWith(OS_KEYCHAIN_PREFIX) ? 'by the OS key store (the desktop app)' : `in an unknown form "${stored.slice(0, 12)}…"`;
  return new SecretKeyError(`the secrets were encrypted ${scheme}, not with ${source}`);
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

/** A new key, as the text a key file holds (base64 and a newline). */
export function newKeyText(): string {
  return `${randomBytes(KEY_BYTES).toString('base64')}\n`;
}

export function modeText(mode: number): string {
  return `0${(mode & 0o777).toString(8)}`;
}
