import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OUTCOMES, type Outcome } from '../contract/views';
import { Store } from './database';
import { insertDelivery, insertEvent, updateDelivery } from './deliveries';
import { FINISHED_OUTCOMES, KEPT_OUTCOMES, freePages, pruneFinished, reclaimSpace, type PruneResult } from './retention';

const DAY = 86_400_000;
const NOW = Date.parse('2026-12-01T12:00:00.000Z');
const OLD = new Date(NOW - 40 * DAY).toISOString();
const RECENT = new Date(NOW - 60_000).toISOString();
const POLICY = { retentionDays: 30, retentionMaxRows: 1_000_000 };
const isKept = (o: string): boolean => (KEPT_OUTCOMES as readonly string[]).includes(o);

let dir: string;
let path: string;
let store: Store;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-retention-'));
  path = join(dir, 'sluice.db');
  store = await Store.open(path);
});

afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

function seedEvent(at: string, body = '{"v":1}'): number {
  return insertEvent(store, { eventId: randomUUID(), topic: 'attacker.observed', type: 't', ts: at, body, receivedAt: at });
}

/** A delivery recorded as pending at `createdAt` that reached `outcome` at `updatedAt`. */
function seedDelivery(eventSeq: number | null, outcome: Outcome, createdAt: string, updatedAt = createdAt): number {
  const id = insertDelivery(store, {
    eventSeq,
    eventId: eventSeq === null ? null : `e${eventSeq}`,
    topic: 'attacker.observed',
    subscriptionId: 's1',
    subscriptionName: 'siem',
    url: 'https://siem.example/hook',
    outcome: 'pending',
    at: createdAt,
    nextAttemptAt: Date.parse(createdAt),
  });
  const waiting = outcome === 'pending' || outcome === 'retrying';
  updateDelivery(store, id, {
    outcome,
    attempts: outcome === 'pending' ? 0 : 1,
    statusCode: outcome === 'delivered' ? 200 : null,
    latencyMs: null,
    error: null,
    at: updatedAt,
    nextAttemptAt: waiting ? NOW + 60_000 : null,
  });
  return id;
}

const deliveries = (): { id: number; outcome: string }[] =>
  store.all(store.kysely.selectFrom('deliveries').select(['id', 'outcome']).orderBy('id'));
const deliveryIds = (): number[] => deliveries().map((d) => d.id);
const eventSeqs = (): number[] => store.all(store.kysely.selectFrom('events').select('seq').orderBy('seq')).map((e) => e.seq);

function pruneAll(policy: typeof POLICY, batchSize?: number): PruneResult[] {
  const results: PruneResult[] = [];
  for (;;) {
    const r = pruneFinished(store, policy, NOW, batchSize);
    results.push(r);
    if (!r.more) return results;
    if (results.length > 10_000) throw new Error('pruneFinished never finishes');
  }
}

describe('outcome classification', () => {
  it('puts every contract outcome in exactly one of finished or kept', () => {
    expect([...FINISHED_OUTCOMES, ...KEPT_OUTCOMES].sort()).toEqual([...OUTCOMES].sort());
    expect(KEPT_OUTCOMES).toEqual(['pending', 'retrying', 'held', 'dead', 'blocked']);
  });
});

describe('pruneFinished', () => {
  it('deletes exactly the finished deliveries not updated for retentionDays, and the events only they referred to', () => {
    const keptDeliveries: number[] = [];
    const keptEvents: number[] = [];
    // Old rows first (ids and created_at grow together, as they do in use). The first was
    // created long ago but finished only now (a retry that finally got through): it stays.
    const retriedEvent = seedEvent(OLD);
    keptDeliveries.push(seedDelivery(retriedEvent, 'delivered', OLD, RECENT));
    keptEvents.push(retriedEvent);
    const oldFinishedEvents: number[] = [];
    for (const outcome of OUTCOMES) {
      const seq = seedEvent(OLD);
      const id = seedDelivery(seq, outcome, OLD);
      if (isKept(outcome)) keptDeliveries.push(id), keptEvents.push(seq);
      else oldFinishedEvents.push(seq);
    }
    // A rejected message has no event.
    seedDelivery(null, 'rejected', OLD);
    // An old event still referred to by a dead letter, or by a recent delivery, stays.
    const sharedWithDead = seedEvent(OLD);
    seedDelivery(sharedWithDead, 'delivered', OLD);
    keptDeliveries.push(seedDelivery(sharedWithDead, 'dead', OLD));
    keptEvents.push(sharedWithDead);
    const sharedWithRecent = seedEvent(OLD);
    seedDelivery(sharedWithRecent, 'delivered', OLD);
    keptEvents.push(sharedWithRecent);
    // Created long ago but finished recently (a dead letter replayed yesterday): stays.
    const lateEvent = seedEvent(OLD);
    keptDeliveries.push(seedDelivery(lateEvent, 'replayed', OLD, RECENT));
    keptEvents.push(lateEvent);
    // Recent rows of every outcome.
    for (const outcome of OUTCOMES) {
      const seq = seedEvent(RECENT);
      keptDeliveries.push(seedDelivery(seq, outcome, RECENT));
      keptEvents.push(seq);
    }
    keptDeliveries.push(seedDelivery(sharedWithRecent, 'delivered', RECENT));

    const r = pruneFinished(store, POLICY, NOW);
    expect(r).toEqual({ deleted: FINISHED_OUTCOMES.length + 3, eventsDeleted: oldFinishedEvents.length, more: false });
    expect(deliveryIds()).toEqual(keptDeliveries.sort((a, b) => a - b));
    expect(eventSeqs()).toEqual(keptEvents.sort((a, b) => a - b));
    for (const e of oldFinishedEvents) expect(eventSeqs()).not.toContain(e);
    // Every unfinished row, old or new, is still there (and the extra old dead letter).
    const outcomes = deliveries().map((d) => d.outcome);
    for (const o of KEPT_OUTCOMES) expect(outcomes.filter((x) => x === o)).toHaveLength(o === 'dead' ? 3 : 2);

    expect(pruneFinished(store, POLICY, NOW)).toEqual({ deleted: 0, eventsDeleted: 0, more: false });
  });

  it('never deletes unfinished work or dead letters, nor their events, even with no retention at all', () => {
    const kept: number[] = [];
    const keptEvents: number[] = [];
    for (let i = 0; i < 5; i++) {
      for (const outcome of OUTCOMES) {
        const seq = seedEvent(i % 2 ? OLD : RECENT);
        const id = seedDelivery(seq, outcome, i % 2 ? OLD : RECENT);
        if (isKept(outcome)) kept.push(id), keptEvents.push(seq);
      }
    }
    const results = pruneAll({ retentionDays: 0, retentionMaxRows: 0 }, 7);
    expect(results.reduce((n, r) => n + r.deleted, 0)).toBe(5 * FINISHED_OUTCOMES.length);
    expect(deliveryIds()).toEqual(kept);
    expect(eventSeqs()).toEqual(keptEvents);
  });

  it('keeps exactly retentionMaxRows finished deliveries, the newest, besides every unfinished one', () => {
    const finished: number[] = [];
    const unfinished: number[] = [];
    for (let i = 0; i < 400; i++) {
      const seq = seedEvent(RECENT);
      if (i % 4 === 3) unfinished.push(seedDelivery(seq, KEPT_OUTCOMES[i % KEPT_OUTCOMES.length] as Outcome, RECENT));
      else finished.push(seedDelivery(seq, FINISHED_OUTCOMES[i % FINISHED_OUTCOMES.length] as Outcome, RECENT));
    }
    expect(finished).toHaveLength(300);

    const first = pruneFinished(store, { retentionDays: 30, retentionMaxRows: 100 }, NOW, 64);
    expect(first).toEqual({ deleted: 64, eventsDeleted: 64, more: true });
    const rest = pruneAll({ retentionDays: 30, retentionMaxRows: 100 }, 64);
    expect(rest.map((r) => r.deleted)).toEqual([64, 64, 8]);
    expect(rest.at(-1)?.more).toBe(false);

    expect(deliveryIds()).toEqual([...finished.slice(-100), ...unfinished].sort((a, b) => a - b));
    expect(eventSeqs()).toHaveLength(100 + unfinished.length);
  });

  it('applies the age limit before the row cap', () => {
    const old: number[] = [];
    for (let i = 0; i < 30; i++) old.push(seedDelivery(seedEvent(OLD), 'delivered', OLD));
    const recent: number[] = [];
    for (let i = 0; i < 30; i++) recent.push(seedDelivery(seedEvent(RECENT), 'test', RECENT));
    const r = pruneFinished(store, { retentionDays: 30, retentionMaxRows: 20 }, NOW, 1000);
    expect(r).toEqual({ deleted: 40, eventsDeleted: 40, more: false });
    expect(deliveryIds()).toEqual(recent.slice(-20));
  });

  it('works in slices: batchSize deliveries per call, more until nothing is left', () => {
    const dead: number[] = [];
    for (let i = 0; i < 1000; i++) {
      const seq = seedEvent(OLD);
      seedDelivery(seq, FINISHED_OUTCOMES[i % FINISHED_OUTCOMES.length] as Outcome, OLD);
      if (i % 20 === 0) dead.push(seedDelivery(seedEvent(OLD), 'dead', OLD));
    }
    const first = pruneFinished(store, POLICY, NOW, 100);
    expect(first).toEqual({ deleted: 100, eventsDeleted: 100, more: true });
    const rest = pruneAll(POLICY, 100);
    expect(rest).toHaveLength(9);
    expect(rest.slice(0, -1).every((r) => r.deleted === 100 && r.more)).toBe(true);
    expect(rest.at(-1)).toEqual({ deleted: 100, eventsDeleted: 100, more: false });
    expect(deliveryIds()).toEqual(dead);
    expect(eventSeqs()).toHaveLength(dead.length);
  });

  it('removes other unreferenced events, a batch per call', () => {
    for (let i = 0; i < 250; i++) seedEvent(OLD);
    const pending = seedDelivery(seedEvent(OLD), 'pending', OLD);
    const results = pruneAll(POLICY, 100);
    expect(results).toEqual([
      { deleted: 0, eventsDeleted: 100, more: true },
      { deleted: 0, eventsDeleted: 100, more: true },
      { deleted: 0, eventsDeleted: 50, more: false },
    ]);
    expect(deliveryIds()).toEqual([pending]);
    expect(eventSeqs()).toHaveLength(1);
  });

  it('sweeps for unreferenced events a window per call, resuming where it stopped, through tied receive times', () => {
    const orphans: number[] = [];
    const referenced: number[] = [];
    for (let i = 0; i < 120; i++) {
      // The first half share one receive time (a burst), the rest are a ms apart.
      const at = i < 60 ? OLD : new Date(Date.parse(OLD) + i).toISOString();
      const seq = seedEvent(at);
      if (i % 3 === 0) orphans.push(seq);
      else {
        seedDelivery(seq, i % 2 ? 'dead' : 'pending', at);
        referenced.push(seq);
      }
    }
    // batchSize 4: at most 4 events deleted and 20 events looked at per call.
    const results = pruneAll(POLICY, 4);
    expect(results.every((r) => r.deleted === 0 && r.eventsDeleted <= 4)).toBe(true);
    expect(results.reduce((n, r) => n + r.eventsDeleted, 0)).toBe(orphans.length);
    expect(results.length).toBeGreaterThanOrEqual(120 / 20);
    expect(eventSeqs()).toEqual(referenced);
    // The next pass starts over from the beginning and finds nothing.
    expect(pruneAll(POLICY, 4).every((r) => r.eventsDeleted === 0)).toBe(true);
  });

  it('rejects a batch size that is not a positive integer', () => {
    expect(() => pruneFinished(store, POLICY, NOW, 0)).toThrow(RangeError);
    expect(() => pruneFinished(store, POLICY, NOW, 1.5)).toThrow(RangeError);
    expect(() => pruneFinished(store, { retentionDays: Number.NaN, retentionMaxRows: 1 }, NOW)).toThrow(RangeError);
  });
});

describe('reclaimSpace', () => {
  it('after pruning 50,000 deliveries with big bodies, gives the pages back and the file shrinks', () => {
    expect(store.sqlite.pragma('auto_vacuum', { simple: true })).toBe(2); // INCREMENTAL
    const N = 50_000;
    // Bulk seed in one statement each (insertEvent/insertDelivery would take several seconds):
    // ~2 KB bodies, one delivered delivery per event, and a dead letter every 10th event.
    store.sqlite.exec(`
      WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${N})
      INSERT INTO events (event_id, topic, type, ts, body, received_at)
      SELECT 'ev' || i, 'attacker.observed', 't', '${OLD}', '{"pad":"' || hex(randomblob(900)) || '"}', '${OLD}' FROM n;
      INSERT INTO deliveries (event_seq, event_id, topic, subscription_id, outcome, attempts, created_at, updated_at, attempt_log)
      SELECT seq, event_id, topic, 's1', 'delivered', 1, '${OLD}', '${OLD}', '[{"attempt":1}]' FROM events ORDER BY seq;
      INSERT INTO deliveries (event_seq, event_id, topic, subscription_id, outcome, attempts, created_at, updated_at)
      SELECT seq, event_id, topic, 's1', 'dead', 3, '${OLD}', '${OLD}' FROM events WHERE seq % 10 = 0 ORDER BY seq;
    `);
    store.sqlite.pragma('wal_checkpoint(TRUNCATE)');
    const sizeBefore = statSync(path).size;
    expect(sizeBefore).toBeGreaterThan(80 * 2 ** 20);

    const started = performance.now();
    const results = pruneAll(POLICY);
    const pruneMs = performance.now() - started;
    expect(results.reduce((n, r) => n + r.deleted, 0)).toBe(N);
    expect(results.reduce((n, r) => n + r.eventsDeleted, 0)).toBe(N - N / 10);
    expect(results).toHaveLength(10);
    expect(store.first(store.kysely.selectFrom('deliveries').select((eb) => eb.fn.countAll<number>().as('n')))?.n).toBe(N / 10);
    expect(pruneMs).toBeLessThan(5000);

    // A write of this turn is still in the open group transaction: reclaimSpace commits it first.
    seedEvent(RECENT);
    expect(store.sqlite.inTransaction).toBe(true);
    const free = freePages(store);
    expect(free).toBeGreaterThan(20_000);
    expect(reclaimSpace(store)).toBe(2000);
    expect(freePages(store)).toBe(free - 2000);
    let released = 2000;
    for (let n = reclaimSpace(store, 10_000); n > 0; n = reclaimSpace(store, 10_000)) released += n;
    expect(released).toBe(free);
    expect(freePages(store)).toBe(0);
    expect(reclaimSpace(store)).toBe(0);

    store.sqlite.pragma('wal_checkpoint(TRUNCATE)');
    const sizeAfter = statSync(path).size;
    expect(sizeAfter).toBeLessThan(sizeBefore * 0.2);
    expect(store.sqlite.pragma('integrity_check', { simple: true })).toBe('ok');
  });

  it('rejects a page count that would release everything at once', () => {
    expect(() => reclaimSpace(store, 0)).toThrow(RangeError);
    expect(() => reclaimSpace(store, -1)).toThrow(RangeError);
    expect(reclaimSpace(store)).toBe(0);
  });
});
