/**
 * The desktop app's export (`deliveries.export`, engine/delivery-search.ts `fileExport`)
 * under Node: the save dialog is the one injected function, here a stand-in that names a
 * file in a temp dir or cancels; the rest — the checks, the read-only connection, the
 * file written whole or not at all — is the app's own code on a real engine's database.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BridgeFailure, dispatchCall } from '../../src-main/contract/bridge';
import { Store } from '../../src-main/store/database';
import { EXPORT_COLUMNS } from '../../src-main/store/search';
import { fillDeliveryLog, logRow } from '../harness/delivery-log';
import { startTestEngine, type TestEngine } from '../harness/engine';

let t: TestEngine;

beforeAll(async () => {
  t = await startTestEngine();
  const store = await Store.open(t.dbPath);
  fillDeliveryLog(store.sqlite, 500);
  store.close();
});

afterAll(async () => {
  await t?.cleanup();
});

describe('deliveries.export in the desktop app', () => {
  it('writes the filtered set to the file the dialog chose, and says where and how many', async () => {
    const asked: string[] = [];
    const file = join(t.dir, 'chosen.ndjson');
    const handler = t.engine.fileExport(async (suggested) => {
      asked.push(suggested);
      return file;
    });
    const result = await dispatchCall({ ...t.engine.handlers, 'deliveries.export': handler }, 'deliveries.export', [{ format: 'ndjson', statusCode: 503 }]);
    expect(result).toEqual({ ok: true, value: { file, count: 10 } });
    expect(asked).toEqual([expect.stringMatching(/^sluice-deliveries-\d{8}T\d{6}Z\.ndjson$/)]);
    const rows = readFileSync(file, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as { id: number; eventBody: string });
    expect(rows.map((r) => r.id)).toEqual([50, 100, 150, 200, 250, 300, 350, 400, 450, 500]);
    expect(rows[0]?.eventBody).toBe(logRow(50).body);

    const csvFile = join(t.dir, 'all.csv');
    const csv = await t.engine.fileExport(async () => csvFile)({ format: 'csv' });
    expect(csv).toEqual({ file: csvFile, count: 500 });
    expect(readFileSync(csvFile, 'utf8').startsWith(`${EXPORT_COLUMNS.join(',')}\r\n1,`)).toBe(true);
  });

  it('writes nothing when the analyst cancels', async () => {
    expect(await t.engine.fileExport(async () => null)({ format: 'csv' })).toBeNull();
  });

  it('refuses a bad filter before asking where', async () => {
    let asked = false;
    const handler = t.engine.fileExport(async () => {
      asked = true;
      return join(t.dir, 'never.csv');
    });
    await expect(handler({ format: 'csv', from: '2026-11-02T00:00:00Z', to: '2026-11-01T00:00:00Z' })).rejects.toMatchObject({ code: 'invalid_argument', field: 'from' });
    const handlers = { ...t.engine.handlers, 'deliveries.export': handler };
    expect(await dispatchCall(handlers, 'deliveries.export', [{ format: 'csv', to: '2026-02-30T00:00:00Z' }])).toMatchObject({
      ok: false,
      error: { code: 'invalid_argument', field: 'to', message: /ISO-8601 time with its offset/ },
    });
    expect(asked).toBe(false);
    expect(existsSync(join(t.dir, 'never.csv'))).toBe(false);
  });

  it('says why when the file cannot be written, and leaves none', async () => {
    const file = join(t.dir, 'no-such-folder', 'x.csv');
    const failed = t.engine.fileExport(async () => file)({ format: 'csv' });
    await expect(failed).rejects.toBeInstanceOf(BridgeFailure);
    await expect(failed).rejects.toMatchObject({ code: 'unavailable', message: expect.stringMatching(/writing .*x\.csv failed/) });
    expect(existsSync(file)).toBe(false);
  });

  it('reads through a connection that cannot write', () => {
    const store = Store.openReadOnly(t.dbPath);
    try {
      expect(() => store.sqlite.prepare('delete from deliveries').run()).toThrow(/readonly/);
    } finally {
      store.close();
    }
    expect(() => Store.openReadOnly(join(t.dir, 'missing.db'))).toThrow(/no database at/);
  });

  it('is unavailable outside the desktop app (the browser downloads instead)', async () => {
    expect(await t.api['deliveries.export']({ format: 'csv' })).toMatchObject({ ok: false, error: { code: 'unavailable', message: /desktop app/ } });
  });
});
