/**
 * The running engine keeps the full-text index of event bodies up to date off the hot
 * path (its maintenance, about every second), and a search finds an event just received
 * whether or not it is indexed yet.
 */
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { Store } from '../../src-main/store/database';
import { indexedSeq, searchDeliveries, unindexedCount } from '../../src-main/store/search';
import { envelope, startTestEngine, unwrap, type TestEngine } from '../harness/engine';
import { startReceiver, type Receiver } from '../harness/receiver';

let t: TestEngine;
let receiver: Receiver;
let reader: Store | null = null;

beforeEach(async () => {
  t = await startTestEngine();
  receiver = await startReceiver();
});

afterEach(async () => {
  reader?.close();
  reader = null;
  await receiver.close();
  await t.cleanup();
});

it('indexes new events within seconds, and finds them before that too', async () => {
  unwrap(await t.api['subscriptions.create']({ name: 'siem', url: receiver.url, patterns: ['attacker.>'] }));
  await t.engine.busReady();
  for (let i = 0; i < 20; i++) await t.publish('attacker.observed', envelope('first_sighting', { ip: `198.51.100.${i}`, decky: `web-${i}` }, `evt-search-${i}`));
  await t.waitForFinal(20);
  reader = await Store.open(t.dbPath);
  const store = reader;
  // Found at once, indexed or not (the tail above the watermark is scanned).
  expect(searchDeliveries(store, { text: '198.51.100.13' }).map((d) => d.eventId)).toEqual(['evt-search-13']);
  expect(searchDeliveries(store, { text: 'web-1' }).map((d) => d.eventId).sort()).toEqual(
    ['evt-search-1', ...Array.from({ length: 10 }, (_, i) => `evt-search-1${i}`)].sort(),
  );
  // The engine's maintenance catches up without being asked.
  await vi.waitFor(() => expect(unindexedCount(store)).toBe(0), { timeout: 10_000, interval: 100 });
  expect(indexedSeq(store)).toBeGreaterThan(0);
  expect(store.allSql<{ rowid: number }>(`select rowid from events_text where events_text match '"198.51.100.13"'`, [])).toHaveLength(1);
  expect(searchDeliveries(store, { text: '198.51.100.13', statusCode: 200 }).map((d) => d.eventId)).toEqual(['evt-search-13']);
});
