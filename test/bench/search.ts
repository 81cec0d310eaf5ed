/**
 * The benchmark's `search` phase: a store of 1,000,000 generated deliveries (one event
 * each, test/harness/delivery-log.ts), its text index built in batches as the engine's
 * maintenance builds it, then each kind of search timed (the median of several, every
 * answer checked against the generator) and 100,000 rows exported as CSV to a file with
 * the resident memory sampled meanwhile.
 */
import { mkdtempSync, rmSync, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { performance } from 'node:perf_hooks';
import { Store } from '../../src-main/store/database';
import { writeExport } from '../../src-main/store/delivery-export';
import { indexEventText, searchDeliveries, type DeliverySearch } from '../../src-main/store/search';
import { expectedIds, fillDeliveryLog, logRow } from '../harness/delivery-log';

const RUNS = 5;
/** Received after the last index batch: found by the scan of the tail. */
const TAIL = 2_000;

const round = (x: number, digits = 1): number => Number(x.toFixed(digits));
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const mb = (bytes: number): number => round(bytes / 1024 / 1024, 1);

export async function searchPhase(total: number, exportRows: number): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-search-'));
  const store = await Store.open(join(dir, 'sluice.db'));
  try {
    let t0 = performance.now();
    fillDeliveryLog(store.sqlite, total);
    const generateSeconds = (performance.now() - t0) / 1000;

    t0 = performance.now();
    let longestBatch = 0;
    for (;;) {
      const b0 = performance.now();
      const batch = indexEventText(store);
      store.commit();
      longestBatch = Math.max(longestBatch, performance.now() - b0);
      if (!batch.more) break;
    }
    const indexSeconds = (performance.now() - t0) / 1000;
    fillDeliveryLog(store.sqlite, TAIL, total + 1);
    const rows = total + TAIL;

    const t = (i: number): string => logRow(i).createdAt;
    const kinds: Record<string, DeliverySearch> = {
      event_id: { eventId: `evt-${String(Math.floor(total / 2)).padStart(8, '0')}` },
      text_rare_ip: { text: '198.51.100.23' },
      text_decoy: { text: 'web-01' },
      text_common: { text: 'admin' },
      text_in_tail: { text: `evt-${String(total + TAIL / 2).padStart(8, '0')}` },
      status_503: { statusCode: 503 },
      status_absent: { statusCode: 404 },
      window_1h: { from: t(Math.floor(total / 3)), to: t(Math.floor(total / 3) + 3599) },
      combined: { text: 'web-07', statusCode: 500, from: t(Math.floor(total / 4)), to: t(Math.floor(total / 2)) },
    };
    const searchMs: Record<string, number> = {};
    for (const [name, filter] of Object.entries(kinds)) {
      const times: number[] = [];
      for (let r = 0; r < RUNS; r++) {
        const s0 = performance.now();
        const found = searchDeliveries(store, filter);
        times.push(performance.now() - s0);
        if (r === 0) {
          const want = expectedIds(rows, filter, 200);
          if (JSON.stringify(found.map((d) => d.id)) !== JSON.stringify(want)) throw new Error(`search ${name}: not the exact answer`);
        }
      }
      searchMs[name] = round(median(times));
    }

    // Export: the first `exportRows` deliveries by window, to a file; RSS sampled as it goes.
    store.commit();
    const file = join(dir, 'export.csv');
    const out = createWriteStream(file);
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 20);
    t0 = performance.now();
    const count = await writeExport(store, { from: t(1), to: t(exportRows) }, 'csv', out);
    out.end();
    await finished(out);
    const exportSeconds = (performance.now() - t0) / 1000;
    clearInterval(sampler);
    rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
    if (count !== exportRows) throw new Error(`export wrote ${count} rows, not ${exportRows}`);

    return {
      deliveries: rows,
      generate_seconds: round(generateSeconds),
      index_seconds: round(indexSeconds),
      index_events_per_s: Math.round(total / indexSeconds),
      index_longest_batch_ms: round(longestBatch),
      search_ms: searchMs,
      export_rows: count,
      export_seconds: round(exportSeconds, 2),
      export_rows_per_s: Math.round(count / exportSeconds),
      export_rss_growth_mb: mb(rssPeak - rssBefore),
    };
  } finally {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
