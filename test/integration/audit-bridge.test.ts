/**
 * The console's side of the operator audit trail (issue 18): `audit.list` (newest first,
 * paged back by seq, filtered by a time with its offset) and `audit.verify` (the chain
 * intact, or the first broken record named), through the in-process bridge against a
 * real engine and its SQLite file. Reading the trail records nothing; a bad time is
 * refused naming the field; a canary secret is in no answer.
 */
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIT_PAGE, type AuditRecordView } from '../../src-main/contract/views';
import { readTrail } from '../harness/audit';
import { startTestEngine, unwrap, type TestEngine } from '../harness/engine';
import { startReceiver, type Receiver } from '../harness/receiver';

const CANARY = 'canary-audit-view-7c0e4b19a2d85f36';

let t: TestEngine;
let receiver: Receiver;

beforeAll(async () => {
  receiver = await startReceiver();
  t = await startTestEngine();
});

afterAll(async () => {
  await receiver?.close();
  await t?.cleanup();
});

/** Edit the database by hand (another connection), as someone covering their tracks would. */
function byHand(db: string, sql: string, ...params: unknown[]): void {
  const conn = new BetterSqlite3(db);
  try {
    conn.pragma('busy_timeout = 5000');
    conn.prepare(sql).run(...params);
  } finally {
    conn.close();
  }
}

describe('audit.list and audit.verify', () => {
  it('lists the trail newest first, pages back by seq, filters by time; reading records nothing and shows no secret', async () => {
    const api = t.api;
    const { subscription: sub } = unwrap(await api['subscriptions.create']({ name: 'siem', url: receiver.url, patterns: ['attacker.>'], secret: `${CANARY}-1` }));
    unwrap(await api['subscriptions.update'](sub.id, { secret: `${CANARY}-2` }));
    unwrap(await api['subscriptions.setEnabled'](sub.id, false));
    unwrap(await api['settings.update']({ concurrency: 6, natsPassword: `${CANARY}-pw` }));
    await t.engine.durable();
    const stored = readTrail(t.dbPath);
    // The harness's own settings.update, then the four above.
    expect(stored.map((r) => r.action)).toEqual(['settings.update', 'subscription.create', 'subscription.rotate_secret', 'subscription.pause', 'settings.update']);

    const all = unwrap(await api['audit.list']());
    expect(all.map((r) => r.seq)).toEqual([5, 4, 3, 2, 1]);
    expect(all[0]).toEqual({
      seq: 5,
      at: stored[4]?.at as string,
      actor: stored[4]?.actor as string,
      source: 'console',
      action: 'settings.update',
      target: 'settings',
      targetId: null,
      before: { concurrency: 10, natsPassword: '' },
      after: { concurrency: 6, natsPassword: 'set' },
    } satisfies AuditRecordView);
    expect(all[2]).toMatchObject({ action: 'subscription.rotate_secret', target: 'siem', targetId: sub.id, before: { secret: 'set' }, after: { secret: 'changed' } });
    // The view carries no hashes: what the page shows, nothing more.
    expect(Object.keys(all[0] as object).sort()).toEqual(['action', 'actor', 'after', 'at', 'before', 'seq', 'source', 'target', 'targetId']);
    expect(JSON.stringify(all)).not.toContain(CANARY);

    // Paging back: a page, then the records before its oldest.
    const page = unwrap(await api['audit.list']({ limit: 2 }));
    expect(page.map((r) => r.seq)).toEqual([5, 4]);
    expect(unwrap(await api['audit.list']({ limit: 2, before: 4 })).map((r) => r.seq)).toEqual([3, 2]);
    expect(unwrap(await api['audit.list']({ limit: 2, before: 2 })).map((r) => r.seq)).toEqual([1]);
    expect(unwrap(await api['audit.list']({ before: 1 }))).toEqual([]);

    // Since: at or after, a time in any offset normalised to the store's UTC.
    const third = stored[2]?.at as string;
    expect(unwrap(await api['audit.list']({ since: third })).map((r) => r.seq)).toEqual([5, 4, 3]);
    const ms = Date.parse(third);
    const plusTwo = new Date(ms + 2 * 3_600_000).toISOString().replace('Z', '+02:00');
    expect(unwrap(await api['audit.list']({ since: plusTwo })).map((r) => r.seq)).toEqual([5, 4, 3]);
    expect(unwrap(await api['audit.list']({ since: new Date(Date.now() + 60_000).toISOString() }))).toEqual([]);

    // Reading (and verifying) changed nothing in the trail.
    unwrap(await api['audit.verify']());
    await t.engine.durable();
    expect(readTrail(t.dbPath)).toHaveLength(5);
  });

  it.each([
    ['yesterday'],
    ['2026-12-06T10:00:00'],
    ['2026-12-06'],
    ['2026-02-30T10:00:00Z'],
    ['2026-01-01T25:00:00Z'],
  ])('refuses since %j naming the field, in words', async (since) => {
    expect(await t.api['audit.list']({ since })).toEqual({
      ok: false,
      error: { code: 'invalid_argument', field: 'since', message: 'since must be an ISO-8601 time with its offset, such as 2026-11-28T10:00:00Z' },
    });
  });

  it('verifies the chain: intact, then the record edited in the file is named, and why', async () => {
    const intact = unwrap(await t.api['audit.verify']());
    expect(intact).toMatchObject({ intact: true, count: 5, first: { seq: 1 }, last: { seq: 5 }, broken: null });

    await t.engine.durable();
    const [, , third] = readTrail(t.dbPath);
    byHand(t.dbPath, 'UPDATE audit SET after = ? WHERE seq = ?', JSON.stringify({ secret: 'unchanged' }), third?.seq);
    const broken = unwrap(await t.api['audit.verify']());
    expect(broken).toMatchObject({
      intact: false,
      count: 2,
      broken: { seq: 3, at: third?.at, action: 'subscription.rotate_secret', reason: 'edited', message: expect.stringContaining('does not match its hash') as string },
    });
    // The list still shows it, as it now reads.
    expect(unwrap(await t.api['audit.list']({ before: 4, limit: 1 }))[0]).toMatchObject({ seq: 3, after: { secret: 'unchanged' } });

    byHand(t.dbPath, 'DELETE FROM audit WHERE seq = ?', 3);
    expect(unwrap(await t.api['audit.verify']()).broken).toMatchObject({ seq: 4, reason: 'unlinked' });
  });

  it('answers a page (AUDIT_PAGE records, the newest) when no limit is given', async () => {
    for (let i = 0; i < AUDIT_PAGE; i++) unwrap(await t.api['settings.update']({ concurrency: 1 + (i % 2) }));
    const newest = unwrap(await t.api['audit.list']());
    expect(newest).toHaveLength(AUDIT_PAGE);
    expect(newest[0]?.seq).toBe(5 + AUDIT_PAGE);
    expect(newest.at(-1)?.seq).toBe(6);
    // Seq 3 was deleted above: 5 + AUDIT_PAGE - 1 records in all.
    expect(unwrap(await t.api['audit.list']({ limit: 1000 }))).toHaveLength(4 + AUDIT_PAGE);
  });
});
