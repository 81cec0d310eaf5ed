import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ClaimError, DatabaseClaim, takeoverNote } from './claim';

let dir: string;
let db: string;
const claims: DatabaseClaim[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-claim-'));
  db = join(dir, 'sluice.db');
});

afterEach(async () => {
  for (const claim of claims.splice(0)) claim.release();
  await rm(dir, { recursive: true, force: true });
});

function take(command: string): DatabaseClaim {
  const claim = DatabaseClaim.take(db, command);
  claims.push(claim);
  return claim;
}

/**
 * Another process that writes a holder row and keeps the claim's shared lock, as an
 * engine does, until it is killed: plain better-sqlite3, the file format of claim.ts.
 */
function holdInChild(): Promise<{ pid: number; kill: () => Promise<void> }> {
  const script = `
    const Database = require('better-sqlite3');
    const db = new Database(process.argv[1], { timeout: 250 });
    db.pragma('journal_mode = DELETE');
    db.exec('CREATE TABLE IF NOT EXISTS holder (token TEXT NOT NULL, pid INTEGER NOT NULL, command TEXT NOT NULL, since TEXT NOT NULL, host TEXT NOT NULL)');
    db.exec('BEGIN IMMEDIATE');
    db.prepare('DELETE FROM holder').run();
    db.prepare('INSERT INTO holder VALUES (?, ?, ?, ?, ?)').run('child', process.pid, 'child engine', '2026-12-06T03:12:00Z', require('os').hostname());
    db.exec('COMMIT');
    db.exec('BEGIN');
    db.prepare('SELECT * FROM holder').all();
    process.stdout.write('holding\\n');
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['-e', script, `${db}.lock`], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    child.stdout.once('data', () =>
      resolve({
        pid: child.pid as number,
        kill: async () => {
          child.kill('SIGKILL');
          await exited;
        },
      }),
    );
    child.once('exit', (code) => reject(new Error(`the holder exited (${code}) before holding`)));
  });
}

describe('DatabaseClaim', () => {
  it('refuses a second claim at once, naming the holder; free again once released', () => {
    const first = take('sluice run');
    expect(first.tookOverFrom).toBeNull();
    expect(first.holder).toMatchObject({ pid: process.pid, command: 'sluice run' });
    expect(first.holder.since).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

    const startedAt = Date.now();
    let refusal: unknown;
    try {
      take('sluice serve');
    } catch (error) {
      refusal = error;
    }
    expect(Date.now() - startedAt).toBeLessThan(2_000);
    expect(refusal).toBeInstanceOf(ClaimError);
    const error = refusal as ClaimError;
    expect(error.name).toBe('ClaimError');
    expect(error.cause).toBeDefined();
    expect(error.holder).toEqual(first.holder);
    expect(error.message).toBe(`${db} is in use by another engine: pid ${process.pid} (sluice run), since ${first.holder.since}`);

    first.release();
    const second = take('sluice serve');
    // Released cleanly: nothing to take over.
    expect(second.tookOverFrom).toBeNull();
    expect(statSync(`${db}.lock`).mode & 0o777).toBe(0o600);
  });

  it('is never blocked by a holder killed with SIGKILL, and says whose claim it took over', async () => {
    const child = await holdInChild();
    expect(() => take('sluice run')).toThrow(`in use by another engine: pid ${child.pid} (child engine), since 2026-12-06T03:12:00Z`);
    await child.kill();

    const claim = take('sluice run');
    expect(claim.tookOverFrom).toMatchObject({ pid: child.pid, command: 'child engine' });
    expect(takeoverNote(claim.tookOverFrom!)).toBe(
      `took over the claim of pid ${child.pid} (child engine), since 2026-12-06T03:12:00Z: it ended without releasing it (killed or crashed)`,
    );
  });
});
