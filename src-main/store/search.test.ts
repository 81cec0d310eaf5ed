import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { expectedIds, fillDeliveryLog, logRow } from '../../test/harness/delivery-log';
import { Store } from './database';
import { deleteEvent } from './deliveries';
import { csvField, writeExport } from './delivery-export';
import { pruneFinished } from './retention';
import { indexEventText, indexedSeq, searchDeliveries, searchPlan, unindexedCount, type DeliverySearch } from './search';

let dir: string;
let store: Store;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-search-'));
  store = await Store.open(join(dir, 'sluice.db'));
});

afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

function indexAll(): void {
  while (indexEventText(store, 1000).more);
}

/** The event seqs the text index holds for `text` (the MATCH alone, not checked by LIKE). */
function indexed(text: string): number[] {
  return store.allSql<{ rowid: number }>('select rowid from events_text where events_text match ? order by rowid', [`"${text}"`]).map((r) => r.rowid);
}

function ids(filter: DeliverySearch, limit?: number): number[] {
  return searchDeliveries(store, filter, limit).map((d) => d.id);
}

function integrityCheck(): void {
  // Fails (SQLITE_CORRUPT_VTAB) when the index holds an entry its content table does not.
  store.sqlite.prepare("insert into events_text (events_text, rank) values ('integrity-check', 1)").run();
}

describe('the text index', () => {
  it('is filled in bounded batches above a watermark kept in the database', async () => {
    fillDeliveryLog(store.sqlite, 2500);
    expect(indexedSeq(store)).toBe(0);
    expect(unindexedCount(store)).toBe(2500);

    expect(indexEventText(store, 1000)).toEqual({ indexed: 1000, more: true });
    expect(indexedSeq(store)).toBe(1000);
    expect(unindexedCount(store)).toBe(1500);
    expect(indexEventText(store, 1000)).toEqual({ indexed: 1000, more: true });
    expect(indexEventText(store, 1000)).toEqual({ indexed: 500, more: false });
    expect(indexEventText(store, 1000)).toEqual({ indexed: 0, more: false });
    expect(indexedSeq(store)).toBe(2500);
    integrityCheck();

    // The watermark is in the file: another connection continues from it.
    fillDeliveryLog(store.sqlite, 10, 2501);
    store.close();
    store = await Store.open(join(dir, 'sluice.db'));
    expect(indexedSeq(store)).toBe(2500);
    expect(indexEventText(store, 1000)).toEqual({ indexed: 10, more: false });
    expect(indexed('evt-00002505')).toEqual([2505]);
  });

  it('answers exactly over indexed events and the tail not indexed yet', () => {
    fillDeliveryLog(store.sqlite, 3000);
    indexAll();
    // Received since the last batch: above the watermark.
    fillDeliveryLog(store.sqlite, 400, 3001);
    expect(unindexedCount(store)).toBe(400);
    for (const text of ['web-01', '203.0.113.7', '198.51.100.23', '203.0.', 'evt-00003333', 'evt-00001234']) {
      const want = expectedIds(3400, { text });
      expect(want.length, text).toBeGreaterThan(0);
      expect(ids({ text }, 10_000), text).toEqual(want);
    }
    // A tail row alone.
    expect(ids({ text: 'evt-00003333' })).toEqual([3333]);
  });

  it('finds an IP and a hyphenated decoy name exactly (not a part of another token)', () => {
    fillDeliveryLog(store.sqlite, 5000);
    indexAll();
    // 203.0.113.7 is also the start of 203.0.113.70…79: a substring, as documented.
    const ip = expectedIds(5000, { text: '203.0.113.7' });
    expect(ip.length).toBeGreaterThan(0);
    expect(ids({ text: '203.0.113.7' }, 10_000)).toEqual(ip);
    for (const id of ip) expect(logRow(id).body).toContain('203.0.113.7');
    expect(ids({ text: '198.51.100.23' }, 10_000)).toEqual([4007, 3007, 2007, 1007, 7]);
    expect(ids({ text: '"src_ip":"203.0.113.7"' }, 10_000)).toEqual(expectedIds(5000, { text: '"src_ip":"203.0.113.7"' }));

    const decoy = ids({ text: 'web-01' }, 10_000);
    expect(decoy).toEqual(expectedIds(5000, { text: 'web-01' }));
    expect(decoy.every((id) => id % 100 === 1)).toBe(true);
    expect(decoy).toHaveLength(50);
    // Case: ASCII letters either way.
    expect(ids({ text: 'ADMIN' }, 10_000)).toEqual(expectedIds(5000, { text: 'admin' }));
    // Shorter than a trigram: found by the scan.
    expect(ids({ text: 'Ad' }, 10_000)).toEqual(expectedIds(5000, { text: 'ad' }));
  });

  it('takes hostile text literally: FTS syntax, quotes and LIKE wildcards are plain characters', () => {
    fillDeliveryLog(store.sqlite, 2000);
    indexAll();
    const hostile = ['"', '""', 'OR', 'a OR b', 'then OR left *', '*', 'web*', 'NEAR(web 01)', 'decoy:web', '-', '^web', '(', ')', '%', '_', '\\', "'", 'web-0_', '10%', 'src_ip'];
    for (const text of hostile) {
      expect(() => searchDeliveries(store, { text }), text).not.toThrow();
      expect(ids({ text }, 10_000), text).toEqual(expectedIds(2000, { text }));
    }
    // Matched where the body has it: `said \"hi\", then OR left *` (the JSON escapes its quotes).
    expect(ids({ text: 'then OR left *' }, 10_000).length).toBeGreaterThan(0);
    expect(ids({ text: '\\"hi\\", then' }, 10_000)).toEqual(expectedIds(2000, { text: '\\"hi\\", then' }));
    // `_` and `%` are not wildcards: "web-0_" is in no body.
    expect(ids({ text: 'web-0_' })).toEqual([]);
  });
});

describe('searching', () => {
  const N = 6000;
  beforeEach(() => {
    fillDeliveryLog(store.sqlite, N);
    indexAll();
  });

  it('by event id, status, window and their combinations, newest first, limited', () => {
    const t = (i: number): string => logRow(i).createdAt;
    const filters: DeliverySearch[] = [
      { eventId: 'evt-00004242' },
      { eventId: 'nope' },
      { statusCode: 503 },
      { statusCode: 500 },
      { statusCode: 404 },
      { from: t(100), to: t(399) },
      { from: t(5990) },
      { to: t(10) },
      { from: t(N + 1) },
      { to: '2020-01-01T00:00:00.000Z' },
      { text: 'web-07', statusCode: 500 },
      { text: 'web-07', from: t(1000), to: t(3000) },
      { statusCode: 503, from: t(1000), to: t(3000) },
      { eventId: 'evt-00004242', text: 'web-42' },
      { eventId: 'evt-00004242', text: 'web-43' },
      { eventId: 'evt-00004200', statusCode: 503, from: t(4200), to: t(4200), text: '203.0.' },
    ];
    for (const filter of filters) {
      const want = expectedIds(N, filter, 200);
      expect(ids(filter), JSON.stringify(filter)).toEqual(want);
    }
    expect(ids({ statusCode: 200 }, 5)).toEqual(expectedIds(N, { statusCode: 200 }, 5));
    expect(ids({})).toHaveLength(200);
    expect(() => searchDeliveries(store, {}, 0)).toThrow(RangeError);
  });

  it('uses the indexes: no scan of the log for an event id, a window or a rare text', () => {
    const plan = (filter: DeliverySearch): string => searchPlan(store, filter).join(' | ');
    expect(plan({ eventId: 'evt-00000001' })).toMatch(/events_by_event_id/);
    expect(plan({ eventId: 'evt-00000001' })).toMatch(/deliveries_by_event/);
    expect(plan({ eventId: 'evt-00000001' })).not.toMatch(/SCAN d\b/);
    expect(plan({ from: logRow(10).createdAt, to: logRow(20).createdAt })).toMatch(/SEARCH d USING INTEGER PRIMARY KEY \(rowid>\? AND rowid<\?\)/);
    expect(plan({ text: '203.0.113.7' })).toMatch(/events_text VIRTUAL TABLE/);
    expect(plan({ text: '203.0.113.7' })).not.toMatch(/SCAN d\b/);
  });
});

describe('retention and the index', () => {
  it('removes the index entries of the events it deletes, in the same transaction', () => {
    fillDeliveryLog(store.sqlite, 1000);
    indexAll();
    expect(indexed('web-01')).toHaveLength(10);
    // Everything is older than a day at this "now": all finished, all pruned.
    const now = Date.parse(logRow(1000).createdAt) + 2 * 86_400_000;
    while (pruneFinished(store, { retentionDays: 1, retentionMaxRows: 1_000_000 }, now).more);
    expect(store.allSql<{ n: number }>('select count(*) as n from events', [])[0]?.n).toBe(0);
    expect(indexed('web-01')).toEqual([]);
    integrityCheck();
    expect(ids({ text: 'web-01' })).toEqual([]);
  });

  it('by count too, keeping the entries of the events kept', () => {
    fillDeliveryLog(store.sqlite, 1000);
    indexAll();
    while (pruneFinished(store, { retentionDays: 10_000, retentionMaxRows: 300 }, Date.now()).more);
    integrityCheck();
    expect(ids({ text: 'web-01' }, 1000)).toEqual(expectedIds(1000, { text: 'web-01' }).filter((id) => id > 700));
    expect(indexed('web-01').every((seq) => seq > 700)).toBe(true);
  });

  it('an event intake takes back loses its entry (when it had one)', () => {
    fillDeliveryLog(store.sqlite, 10);
    indexAll();
    deleteEvent(store, 5);
    integrityCheck();
    expect(indexed('evt-00000005')).toEqual([]);
  });
});

describe('export', () => {
  it('quotes CSV fields as RFC 4180 has it', () => {
    expect(csvField(null)).toBe('');
    expect(csvField(42)).toBe('42');
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvField('cr\r')).toBe('"cr\r"');
  });

  it('writes the filtered set with bodies and attempts, never the URL or headers', async () => {
    fillDeliveryLog(store.sqlite, 500);
    indexAll();
    const sink = new PassThrough();
    let text = '';
    sink.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
    const count = await writeExport(store, { statusCode: 503 }, 'ndjson', sink);
    const lines = text.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const want = expectedIds(500, { statusCode: 503 }).reverse();
    expect(count).toBe(want.length);
    expect(lines.map((l) => l['id'])).toEqual(want);
    const first = lines[0] as Record<string, unknown>;
    const row = logRow(want[0] as number);
    expect(first).toMatchObject({ eventId: row.eventId, statusCode: 503, outcome: 'failed', eventBody: row.body, attemptLog: row.attemptLog });
    expect(text).not.toContain('token=');
    expect(text).not.toContain('content-type');
  });
});
