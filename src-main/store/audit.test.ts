import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appendAudit, auditHash, GENESIS_HASH, listAudit, pruneAudit, verifyAudit, type AuditEntry } from './audit';
import { Store } from './database';

const DAY = 86_400_000;
const NOW = Date.parse('2026-12-07T12:00:00.000Z');
const daysAgo = (n: number): string => new Date(NOW - n * DAY).toISOString();

let dir: string;
let path: string;
let store: Store;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-audit-'));
  path = join(dir, 'sluice.db');
  store = await Store.open(path);
});

afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

function entry(n: number): AuditEntry {
  return {
    actor: 'alice',
    source: 'console',
    action: 'subscription.update',
    target: `siem-${n}`,
    targetId: `id-${n}`,
    before: { url: `https://siem.example/${n}` },
    after: { url: `https://siem.example/${n + 1}` },
  };
}

/** `n` records, the i-th made `ages[i]` days ago (default: all today). */
function seed(n: number, ages: number[] = []): void {
  for (let i = 0; i < n; i++) appendAudit(store, entry(i), daysAgo(ages[i] ?? 0));
  store.commit();
}

/** Another connection to the file, as someone editing it by hand would use. */
function byHand(sql: string, ...params: unknown[]): void {
  store.commit();
  const db = new BetterSqlite3(path);
  try {
    db.prepare(sql).run(...params);
  } finally {
    db.close();
  }
}

describe('the chain', () => {
  it('links each record to the one before, from the genesis, and keeps what was given', () => {
    seed(3);
    const records = listAudit(store);
    expect(records.map((r) => r.seq)).toEqual([1, 2, 3]);
    expect(records[0]?.prevHash).toBe(GENESIS_HASH);
    expect(records[1]?.prevHash).toBe(records[0]?.hash);
    expect(records[2]?.prevHash).toBe(records[1]?.hash);
    expect(records[1]).toMatchObject({ ...entry(1), at: daysAgo(0) });
    for (const r of records) expect(r.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(new Set(records.map((r) => r.hash)).size).toBe(3);
  });

  it('hashes every field: changing any one changes the hash', () => {
    const row = { seq: 1, at: daysAgo(0), actor: 'a', source: 's', action: 'x', target: 't', target_id: null, before: null, after: '{}', prev_hash: GENESIS_HASH };
    const base = auditHash(row);
    for (const [key, other] of Object.entries({ seq: 2, at: daysAgo(1), actor: 'b', source: 'cli', action: 'y', target: 'u', target_id: 'id', before: '{}', after: null, prev_hash: 'f'.repeat(64) }))
      expect(auditHash({ ...row, [key]: other }), key).not.toBe(base);
  });

  it('lists since a time, and the newest N in order', () => {
    seed(5, [10, 8, 6, 4, 2]);
    expect(listAudit(store, { since: daysAgo(5) }).map((r) => r.seq)).toEqual([4, 5]);
    expect(listAudit(store, { limit: 2 }).map((r) => r.seq)).toEqual([4, 5]);
    expect(listAudit(store, { since: daysAgo(9), limit: 10 }).map((r) => r.seq)).toEqual([2, 3, 4, 5]);
  });

  it('goes on from the head across a reopen, in one chain', async () => {
    seed(2);
    store.close();
    store = await Store.open(path);
    appendAudit(store, entry(9));
    expect(verifyAudit(store)).toMatchObject({ intact: true, count: 3, broken: null });
  });
});

describe('verify', () => {
  it('says an intact chain is intact, with its ends; an empty one too', () => {
    expect(verifyAudit(store)).toEqual({ intact: true, count: 0, first: null, last: null, anchor: null, broken: null });
    seed(4, [3, 2, 1, 0]);
    const last = listAudit(store).at(-1);
    expect(verifyAudit(store)).toEqual({
      intact: true,
      count: 4,
      first: { seq: 1, at: daysAgo(3) },
      last: { seq: 4, at: daysAgo(0), hash: last?.hash },
      anchor: null,
      broken: null,
    });
  });

  it('names a record edited in place (any field)', () => {
    for (const [column, value] of [
      ['after', '{"url":"https://evil.example/"}'],
      ['actor', 'mallory'],
      ['at', daysAgo(30)],
      ['action', 'subscription.create'],
      ['before', null],
    ] as const) {
      seed(4);
      byHand(`UPDATE audit SET ${column} = ? WHERE seq = 3`, value);
      const result = verifyAudit(store);
      expect(result, column).toMatchObject({ intact: false, count: 2, broken: { seq: 3, reason: 'edited' } });
      expect(result.broken?.message).toMatch(/does not match its hash/);
      byHand('DELETE FROM audit');
      byHand('UPDATE audit_chain SET head_seq = 0, head_hash = ?', GENESIS_HASH);
    }
  });

  it('names the record after one deleted from the middle, and the first when the oldest were deleted', () => {
    seed(5);
    byHand('DELETE FROM audit WHERE seq = 3');
    expect(verifyAudit(store)).toMatchObject({ intact: false, count: 2, broken: { seq: 4, reason: 'unlinked', action: 'subscription.update' } });
    expect(verifyAudit(store).broken?.message).toMatch(/does not link to the record before it \(seq 2\)/);
    byHand('DELETE FROM audit WHERE seq <= 2');
    expect(verifyAudit(store)).toMatchObject({ intact: false, count: 0, broken: { seq: 4, reason: 'unlinked' } });
    expect(verifyAudit(store).broken?.message).toMatch(/records before it were deleted/);
  });

  it('sees the newest records deleted (the head is missing)', () => {
    seed(5);
    byHand('DELETE FROM audit WHERE seq >= 4');
    expect(verifyAudit(store)).toMatchObject({ intact: false, count: 3, broken: { seq: 4, at: null, action: null, reason: 'truncated' } });
    expect(verifyAudit(store).broken?.message).toBe('the newest records (seq 4–5) were deleted');
    // A record appended since links to the missing head: the gap stays visible.
    appendAudit(store, entry(7));
    expect(verifyAudit(store)).toMatchObject({ intact: false, broken: { seq: 6, reason: 'unlinked' } });
  });

  it('sees records reordered (rows swapped whole, or renumbered)', () => {
    seed(4);
    // Swap the contents of seq 2 and 3, hashes and links included.
    byHand('UPDATE audit SET seq = -2 WHERE seq = 2');
    byHand('UPDATE audit SET seq = 2 WHERE seq = 3');
    byHand('UPDATE audit SET seq = 3 WHERE seq = -2');
    const result = verifyAudit(store);
    expect(result.intact).toBe(false);
    expect(result.broken?.seq).toBe(2);
  });

  it('sees the chain table gone', () => {
    seed(2);
    byHand('DELETE FROM audit_chain');
    expect(verifyAudit(store)).toMatchObject({ intact: false, count: 2, broken: { reason: 'no_chain' } });
    // Appending still works (from the last record) and says nothing is fixed by it.
    appendAudit(store, entry(3));
    expect(listAudit(store).at(-1)?.prevHash).toBe(listAudit(store).at(-2)?.hash);
  });
});

describe('retention', () => {
  it('removes records older than the cutoff from the start, and what remains still verifies', () => {
    seed(6, [400, 380, 366, 200, 10, 0]);
    expect(pruneAudit(store, 365, NOW)).toBe(3);
    expect(listAudit(store).map((r) => r.seq)).toEqual([4, 5, 6]);
    expect(verifyAudit(store)).toMatchObject({ intact: true, count: 3, first: { seq: 4 }, anchor: { seq: 3, at: daysAgo(366) } });
    // Appends go on in the same chain, and a second pass with nothing old removes nothing.
    appendAudit(store, entry(6), daysAgo(0));
    expect(pruneAudit(store, 365, NOW)).toBe(0);
    expect(verifyAudit(store)).toMatchObject({ intact: true, count: 4 });
  });

  it('can remove everything and go on from the anchor', () => {
    seed(3, [50, 40, 30]);
    expect(pruneAudit(store, 7, NOW)).toBe(3);
    expect(verifyAudit(store)).toMatchObject({ intact: true, count: 0, anchor: { seq: 3 } });
    const next = appendAudit(store, entry(3));
    expect(next.seq).toBe(4);
    expect(verifyAudit(store)).toMatchObject({ intact: true, count: 1, first: { seq: 4 } });
  });

  it('removes only a prefix: an old record after a newer one (the clock stepped back) waits', () => {
    seed(4, [400, 10, 400, 0]);
    expect(pruneAudit(store, 365, NOW)).toBe(1);
    expect(listAudit(store).map((r) => r.seq)).toEqual([2, 3, 4]);
    expect(verifyAudit(store).intact).toBe(true);
  });

  it('tells records deleted from the start by hand from those retention removed', () => {
    seed(5, [400, 400, 10, 5, 0]);
    pruneAudit(store, 365, NOW);
    byHand('DELETE FROM audit WHERE seq = 3');
    expect(verifyAudit(store)).toMatchObject({ intact: false, broken: { seq: 4, reason: 'unlinked' } });
    expect(verifyAudit(store).broken?.message).toMatch(/after seq 2, removed by retention.*not by retention/);
  });
});

describe('secrets', () => {
  it('stores what it is given as it is: the redaction is the engine’s (engine/audit-trail.test.ts)', () => {
    appendAudit(store, { ...entry(0), after: { secret: 'changed' } });
    expect(listAudit(store)[0]?.after).toEqual({ secret: 'changed' });
  });
});
