/**
 * The team key (team-key.ts): its file (made once, 0600, refused when others can read it
 * or when it is not a key file), sealing and opening (bound to the record, tamper
 * evident), signing records, and the key id that names a wrong key.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTeamKeyFile, readTeamKeyFile, TeamKey, TeamKeyError, TeamKeyMismatchError } from './team-key';

const posix = process.platform !== 'win32';
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-team-key-'));
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('the team key file', () => {
  it('is made with mode 0600 and one line, and reads back as the same key', () => {
    const path = join(dir, 'team.key');
    const made = createTeamKeyFile(path);
    const text = readFileSync(path, 'utf8');
    expect(text).toMatch(/^sluice-team-key-v1:[A-Za-z0-9_-]{43}\n$/);
    if (posix) expect(statSync(path).mode & 0o777).toBe(0o600);
    const read = readTeamKeyFile(path);
    expect(read.id).toBe(made.id);
    expect(read.id).toMatch(/^[0-9a-f]{16}$/);
    expect(read.open(made.seal('s3cret', 'subs.a/secret'), 'subs.a/secret')).toBe('s3cret');
  });

  it('is never overwritten', () => {
    const path = join(dir, 'team.key');
    createTeamKeyFile(path);
    const before = readFileSync(path, 'utf8');
    expect(() => createTeamKeyFile(path)).toThrow(/exists already; a team key file is never overwritten/);
    expect(readFileSync(path, 'utf8')).toBe(before);
  });

  it('says where it cannot be made', () => {
    expect(() => createTeamKeyFile(join(dir, 'missing', 'team.key'))).toThrow(TeamKeyError);
    expect(existsSync(join(dir, 'missing'))).toBe(false);
  });

  it('refuses a missing file, a folder, and a file that is no key, naming the file but not its content', () => {
    const missing = join(dir, 'nope.key');
    expect(() => readTeamKeyFile(missing)).toThrow(`the team key file ${missing} does not exist`);
    mkdirSync(join(dir, 'folder'));
    expect(() => readTeamKeyFile(join(dir, 'folder'))).toThrow(/is not a regular file/);
    const bad = join(dir, 'bad.key');
    for (const content of ['hunter2-is-my-password\n', 'sluice-team-key-v1:short\n', `sluice-team-key-v2:${'A'.repeat(43)}\n`, 'x'.repeat(1000)]) {
      writeFileSync(bad, content, { mode: 0o600 });
      let message = '';
      try {
        readTeamKeyFile(bad);
      } catch (error) {
        expect(error).toBeInstanceOf(TeamKeyError);
        message = (error as Error).message;
      }
      expect(message).toMatch(/is not a Sluice team key file/);
      expect(message).not.toContain('hunter2');
    }
  });

  it.runIf(posix)('refuses a file its group or other users can read', () => {
    const path = join(dir, 'team.key');
    createTeamKeyFile(path);
    for (const mode of [0o644, 0o640, 0o604, 0o660]) {
      chmodSync(path, mode);
      expect(() => readTeamKeyFile(path)).toThrow(`can be read by others (mode 0${mode.toString(8)}); only its owner may: chmod 600 ${path}`);
    }
    chmodSync(path, 0o400);
    expect(readTeamKeyFile(path).id).toMatch(/^[0-9a-f]{16}$/);
  });

  it.runIf(posix && process.getuid?.() !== 0)('says when it cannot read the file', () => {
    const path = join(dir, 'team.key');
    createTeamKeyFile(path);
    chmodSync(path, 0o000);
    expect(() => readTeamKeyFile(path)).toThrow(/cannot read the team key file .*EACCES/);
  });
});

describe('sealing', () => {
  const key = TeamKey.generate();

  it('gives a different sealed value each time, none holding the secret', () => {
    const a = key.seal('canary-7f3a', 'subs.x/secret');
    const b = key.seal('canary-7f3a', 'subs.x/secret');
    expect(a).not.toBe(b);
    expect(a).toMatch(new RegExp(`^team:v1:${key.id}:[A-Za-z0-9_-]+$`));
    expect(a).not.toContain('canary');
    expect(Buffer.from(a.split(':')[3] as string, 'base64url').toString('latin1')).not.toContain('canary');
    expect(key.open(a, 'subs.x/secret')).toBe('canary-7f3a');
    expect(key.open(key.seal('', 'c'), 'c')).toBe('');
    expect(key.open(key.seal('ünïcødé ✓', 'c'), 'c')).toBe('ünïcødé ✓');
  });

  it('does not open a value moved to another record or field', () => {
    const sealed = key.seal('s3cret', 'subs.a/secret');
    expect(() => key.open(sealed, 'subs.b/secret')).toThrow('subs.b/secret: the sealed secret does not open: it was altered, or sealed for another record');
    expect(() => key.open(sealed, 'subs.a/previousSecret')).toThrow(TeamKeyError);
  });

  it('detects any change to a sealed value', () => {
    const sealed = key.seal('s3cret', 'c');
    const prefix = sealed.slice(0, sealed.lastIndexOf(':') + 1);
    const raw = Buffer.from(sealed.slice(prefix.length), 'base64url');
    for (let i = 0; i < raw.length; i++) {
      const altered = Buffer.from(raw);
      altered[i] = (altered[i] as number) ^ 0x01;
      expect(() => key.open(prefix + altered.toString('base64url'), 'c')).toThrow(TeamKeyError);
    }
    expect(() => key.open(prefix + raw.subarray(0, 20).toString('base64url'), 'c')).toThrow('c: the sealed secret is truncated');
    expect(() => key.open('s3cret', 'c')).toThrow('c: not a sealed team secret');
  });

  it('names a wrong key by its id instead of returning garbage', () => {
    const other = TeamKey.generate('the team key file /tmp/other.key');
    const sealed = key.seal('s3cret', 'subs.a/secret');
    expect(() => other.open(sealed, 'subs.a/secret')).toThrow(TeamKeyMismatchError);
    expect(() => other.open(sealed, 'subs.a/secret')).toThrow(
      `this team key is not the team's key: subs.a/secret was sealed with key ${key.id}, and the team key file /tmp/other.key is key ${other.id}`,
    );
    // A forged id does not help: the tag is checked with the key in hand.
    expect(() => other.open(sealed.replace(key.id, other.id), 'subs.a/secret')).toThrow(/does not open/);
    expect(() => other.assertTeamKey(key.id, 'blue')).toThrow(`this team key is not the team's key: team "blue" was created with key ${key.id}`);
    expect(() => key.assertTeamKey(key.id, 'blue')).not.toThrow();
  });

  it('signs records: a signature holds for its own bytes and record only', () => {
    const data = new TextEncoder().encode('{"url":"https://siem.example"}');
    const signature = key.sign(data, 'subs.a/PUT');
    expect(signature).toMatch(new RegExp(`^v1:${key.id}:[A-Za-z0-9_-]{43}$`));
    expect(() => key.verify(signature, data, 'subs.a/PUT')).not.toThrow();
    expect(() => key.verify(signature, new TextEncoder().encode('{"url":"https://evil.example"}'), 'subs.a/PUT')).toThrow(
      'subs.a/PUT: its signature does not match: altered, moved from another record, or forged; ignored',
    );
    expect(() => key.verify(signature, data, 'subs.b/PUT')).toThrow(/does not match/);
    expect(() => key.verify(undefined, data, 'subs.a/PUT')).toThrow('subs.a/PUT: not signed with a team key');
    expect(() => key.verify('v1:zz', data, 'subs.a/PUT')).toThrow(/not signed with a team key/);
    const other = TeamKey.generate();
    expect(() => other.verify(signature, data, 'subs.a/PUT')).toThrow(TeamKeyMismatchError);
    // Another key cannot sign under this key's id.
    expect(() => key.verify(other.sign(data, 'subs.a/PUT').replace(other.id, key.id), data, 'subs.a/PUT')).toThrow(/does not match/);
  });

  it('never shows the key when inspected, printed or serialised', () => {
    const path = join(dir, 'team.key');
    const fileKey = createTeamKeyFile(path);
    const secretPart = readFileSync(path, 'utf8').trim().split(':')[1] as string;
    const hex = Buffer.from(secretPart, 'base64url').toString('hex');
    for (const shown of [inspect(fileKey, { showHidden: true, depth: 5 }), JSON.stringify({ fileKey }), String(fileKey), `${fileKey}`]) {
      expect(shown).toContain(fileKey.id);
      expect(shown).not.toContain(secretPart);
      expect(shown).not.toContain(hex);
    }
  });
});
