/**
 * The team key: 32 random bytes that every member of a team holds in a key file, and that
 * seals the secrets the team's shared configuration carries over the bus (subscription
 * secrets, previous secrets, secret headers). The bus and its JetStream files only ever
 * see sealed values; a member with another key is told so by the key id, not handed
 * garbage.
 *
 * - The key file holds one line, `sluice-team-key-v1:<base64url of the 32 bytes>`, mode
 *   0600; it is made once (never overwritten) and refused when anyone but its owner can
 *   read it. Errors name the file, never its content.
 * - A sealed value is `team:v1:<key id>:<base64url(iv | tag | ciphertext)>`: AES-256-GCM,
 *   a random 96-bit IV per value, and associated data naming the record and field it was
 *   sealed for (`subs.<id>/secret`), so a sealed secret copied into another record does
 *   not open there.
 * - The key id is a short HMAC of the key (not the key, and no help in guessing it): it
 *   is in the team's meta record and in every sealed value.
 * - Every record a member writes is signed (`v1:<key id>:<base64url HMAC-SHA256>`, under
 *   a key derived from the team key, over the record's key and exact bytes): whoever can
 *   publish on the bus without the team key cannot make members take a subscription, a
 *   setting or a breaker state of theirs.
 *
 * The key stays inside a TeamKey (a private field; inspecting or serialising one shows
 * its id only) and is written nowhere but the key file.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { closeSync, fchmodSync, fsyncSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const FILE_PREFIX = 'sluice-team-key-v1:';
const SEALED_PREFIX = 'team:v1:';
const KEY_ID_LABEL = 'sluice team key id v1';
const AAD_LABEL = 'sluice team secret v1';
const MAC_KEY_LABEL = 'sluice team record mac v1';
const SIGNATURE = /^v1:([0-9a-f]{16}):([A-Za-z0-9_-]{43})$/;
/** A key file's most bytes: one line of the format above, with room for a newline or BOM. */
const MAX_FILE_BYTES = 256;

/** A team key file that cannot be used, or a sealed value that this key cannot open. */
export class TeamKeyError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TeamKeyError';
  }
}

/** The key in hand is not the one the team's values were sealed with. */
export class TeamKeyMismatchError extends TeamKeyError {
  constructor(message: string) {
    super(message);
    this.name = 'TeamKeyMismatchError';
  }
}

export class TeamKey {
  readonly #key: Buffer;
  /** Signs records: derived, so that no key serves two purposes. */
  readonly #macKey: Buffer;
  /** 16 hex digits: an HMAC of the key, safe to show and to store. */
  readonly id: string;
  /** Where the key came from, for messages (a path, never the key). */
  readonly source: string;

  private constructor(key: Buffer, source: string) {
    this.#key = Buffer.from(key);
    this.#macKey = createHmac('sha256', this.#key).update(MAC_KEY_LABEL).digest();
    this.id = keyIdOf(this.#key);
    this.source = source;
  }

  /** A new key held in memory only (tests; `createTeamKeyFile` is how members get one). */
  static generate(source = 'a new team key'): TeamKey {
    return new TeamKey(randomBytes(KEY_BYTES), source);
  }

  /** From the key file's text (see `readTeamKeyFile`); the error names `source`, never the text. */
  static parse(text: string, source: string): TeamKey {
    const line = text.replace(/^\uFEFF/, '').trim();
    const body = line.startsWith(FILE_PREFIX) ? line.slice(FILE_PREFIX.length) : null;
    const key = body !== null && /^[A-Za-z0-9_-]{43}$/.test(body) ? Buffer.from(body, 'base64url') : null;
    if (!key || key.length !== KEY_BYTES)
      throw new TeamKeyError(`${source} is not a Sluice team key file (one line: ${FILE_PREFIX} and 43 base64url characters)`);
    return new TeamKey(key, source);
  }

  /**
   * Seals `plaintext` for one place: `context` names the record and field
   * (`subs.<id>/secret`), and `open` must be given the same.
   */
  seal(plaintext: string, context: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    cipher.setAAD(this.aad(context));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return `${SEALED_PREFIX}${this.id}:${Buffer.concat([iv, cipher.getAuthTag(), ciphertext]).toString('base64url')}`;
  }

  /**
   * The plaintext of a value sealed for `context`. Throws TeamKeyMismatchError when it
   * was sealed with another key, TeamKeyError when it is malformed, tampered with, or
   * was sealed for another record.
   */
  open(sealed: string, context: string): string {
    const match = /^team:v1:([0-9a-f]{16}):([A-Za-z0-9_-]+)$/.exec(sealed);
    if (!match) throw new TeamKeyError(`${context}: not a sealed team secret`);
    const [, id, body] = match as unknown as [string, string, string];
    if (id !== this.id) throw new TeamKeyMismatchError(mismatch(this, id, `${context} was sealed`));
    const raw = Buffer.from(body, 'base64url');
    if (raw.length < IV_BYTES + TAG_BYTES) throw new TeamKeyError(`${context}: the sealed secret is truncated`);
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, raw.subarray(0, IV_BYTES));
      decipher.setAAD(this.aad(context));
      decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch {
      throw new TeamKeyError(`${context}: the sealed secret does not open: it was altered, or sealed for another record`);
    }
  }

  /** The signature of `data` stored as `context` (a record's key). */
  sign(data: Uint8Array, context: string): string {
    return `v1:${this.id}:${this.mac(data, context).toString('base64url')}`;
  }

  /**
   * Throws unless `signature` is this key's over `data` as `context`: TeamKeyMismatchError
   * for another team key's signature, TeamKeyError for none, a forged or a moved one.
   */
  verify(signature: string | undefined, data: Uint8Array, context: string): void {
    const match = signature === undefined ? null : SIGNATURE.exec(signature);
    if (!match) throw new TeamKeyError(`${context}: not signed with a team key: written by something that does not hold it, ignored`);
    const [, id, mac] = match as unknown as [string, string, string];
    if (id !== this.id) throw new TeamKeyMismatchError(mismatch(this, id, `${context} was signed`));
    if (!timingSafeEqual(Buffer.from(mac, 'base64url'), this.mac(data, context)))
      throw new TeamKeyError(`${context}: its signature does not match: altered, moved from another record, or forged; ignored`);
  }

  /** Throws TeamKeyMismatchError unless this is the key whose id the team records. */
  assertTeamKey(teamKeyId: string, team: string): void {
    if (teamKeyId !== this.id) throw new TeamKeyMismatchError(mismatch(this, teamKeyId, `team "${team}" was created`));
  }

  toJSON(): { id: string } {
    return { id: this.id };
  }

  toString(): string {
    return `TeamKey(${this.id})`;
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }

  private mac(data: Uint8Array, context: string): Buffer {
    return createHmac('sha256', this.#macKey).update(`${MAC_KEY_LABEL}\n${this.id}\n${context}\n`, 'utf8').update(data).digest();
  }

  private aad(context: string): Buffer {
    return Buffer.from(`${AAD_LABEL}\n${this.id}\n${context}`, 'utf8');
  }
}

function mismatch(key: TeamKey, expectedId: string, what: string): string {
  return (
    `this team key is not the team's key: ${what} with key ${expectedId}, and ${key.source} is key ${key.id}; ` +
    "copy the team's key file from a member"
  );
}

function keyIdOf(key: Buffer): string {
  return createHmac('sha256', key).update(KEY_ID_LABEL).digest('hex').slice(0, 16);
}

/**
 * Makes a new team key file at `path` (mode 0600) and returns its key. Refuses a path
 * that exists: a team key is never replaced, since every value sealed with it would be
 * lost.
 */
export function createTeamKeyFile(path: string): TeamKey {
  const key = randomBytes(KEY_BYTES);
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new TeamKeyError(`${path} exists already; a team key file is never overwritten (remove it yourself if it is no team's key)`);
    throw new TeamKeyError(`cannot create the team key file ${path}: ${(error as Error).message}`, { cause: error });
  }
  try {
    try {
      // The mode asked for at creation is cut by the umask; this sets it exactly.
      fchmodSync(fd, 0o600);
      writeSync(fd, `${FILE_PREFIX}${key.toString('base64url')}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    // A half-written key file would be refused at every start: leave none.
    rmSync(path, { force: true });
    throw new TeamKeyError(`cannot write the team key file ${path}: ${(error as Error).message}`, { cause: error });
  }
  return TeamKey.parse(`${FILE_PREFIX}${key.toString('base64url')}`, `the team key file ${path}`);
}

/**
 * The key in the team key file at `path`. Refuses a missing, unreadable or malformed
 * file, and one that its group or other users can read or write (on Windows, where
 * modes say nothing, the file's folder is trusted).
 */
export function readTeamKeyFile(path: string): TeamKey {
  const label = `the team key file ${path}`;
  let text: string;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new TeamKeyError(`${label} is not a regular file`);
    if (process.platform !== 'win32' && (st.mode & 0o077) !== 0)
      throw new TeamKeyError(
        `${label} can be read by others (mode 0${(st.mode & 0o777).toString(8)}); only its owner may: chmod 600 ${path}`,
      );
    if (st.size > MAX_FILE_BYTES) throw new TeamKeyError(`${label} is not a Sluice team key file (${st.size} bytes; a key file is one short line)`);
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if (error instanceof TeamKeyError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR')
      throw new TeamKeyError(`${label} does not exist: copy the team's key file from a member, or create a team with a new one`, { cause: error });
    throw new TeamKeyError(`cannot read ${label}: ${(error as Error).message}`, { cause: error });
  }
  return TeamKey.parse(text, label);
}
