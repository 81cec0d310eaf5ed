/**
 * The web host's export download (`GET /export`, docs/design.md#finding-and-exporting-deliveries): only
 * with this run's token, bad filters refused with 400 and a message naming the filter,
 * and a 20,000-row export streamed through its own read-only connection while the engine
 * goes on receiving, delivering and committing events (the download held half-read).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { request, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Store } from '../../src-main/store/database';
import { EXPORT_COLUMNS } from '../../src-main/store/search';
import { startWebHost, type WebHost } from '../../src-main/webhost/server';
import { envelope, startTestEngine, unwrap, type TestEngine } from '../harness/engine';
import { fillDeliveryLog, logRow } from '../harness/delivery-log';
import { startReceiver, type Receiver } from '../harness/receiver';

const N = 20_000;

let t: TestEngine;
let receiver: Receiver;
let host: WebHost;
let rendererDir: string;
const internalErrors: unknown[] = [];

beforeAll(async () => {
  t = await startTestEngine();
  receiver = await startReceiver();
  // The generated log, written beside the running engine (its own connection, one transaction).
  const store = await Store.open(t.dbPath);
  fillDeliveryLog(store.sqlite, N);
  store.close();
  rendererDir = await mkdtemp(join(tmpdir(), 'sluice-export-renderer-'));
  host = await startWebHost({ engine: t.engine, port: 0, rendererDir, onInternalError: (err) => internalErrors.push(err) });
}, 60_000);

afterAll(async () => {
  await host?.close();
  await receiver?.close();
  await t?.cleanup();
  if (rendererDir) await rm(rendererDir, { recursive: true, force: true });
});

/** Open a GET; resolves with the response once its head arrives (the body not read yet). */
function get(path: string, headers: Record<string, string> = {}): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: host.port, path, headers }, resolve);
    req.on('error', reject);
    req.end();
  });
}

async function text(res: IncomingMessage): Promise<string> {
  res.setEncoding('utf8');
  let body = '';
  for await (const chunk of res) body += chunk as string;
  return body;
}

const withToken = (query: string): string => `/export?token=${encodeURIComponent(host.token)}&${query}`;

describe('GET /export', () => {
  it("refuses a request without this run's token, or for another host", async () => {
    for (const path of ['/export?format=csv', '/export?format=csv&token=', `/export?format=csv&token=${host.token}x`, '/export?format=csv&token=not-it']) {
      const res = await get(path);
      expect(res.statusCode, path).toBe(403);
      expect(res.headers['content-disposition']).toBeUndefined();
      expect(await text(res)).toMatch(/not this run's token/);
    }
    const rebound = await get(withToken('format=csv'), { Host: `evil.example:${host.port}` });
    expect(rebound.statusCode).toBe(421);
    await text(rebound);
  });

  it('refuses bad filters with 400 and says which', async () => {
    const cases: [string, RegExp][] = [
      ['', /format is required: csv or ndjson/],
      ['format=xml', /format must be one of: csv, ndjson/],
      ['format=csv&statusCode=42', /statusCode must be between 100 and 599/],
      ['format=csv&statusCode=abc', /statusCode must be a finite number/],
      ['format=csv&from=yesterday', /from must be an ISO-8601 time with its offset/],
      ['format=csv&to=2026-02-30T10:00:00Z', /to must be an ISO-8601 time with its offset/],
      ['format=csv&from=2026-11-02T00:00:00Z&to=2026-11-01T00:00:00Z', /from \(2026-11-02T00:00:00.000Z\) is after to/],
      ['format=csv&text=', /text must not be empty/],
      ['format=csv&status=503', /status is not a known field/],
      ['format=csv&__proto__=x', /__proto__ is not an allowed key/],
      ['format=csv&text=a&text=b', /text is given 2 times/],
    ];
    for (const [query, message] of cases) {
      const res = await get(withToken(query));
      expect(res.statusCode, query).toBe(400);
      const body = await text(res);
      expect(body, query).toMatch(message);
      expect(body).not.toMatch(/\n\s+at /);
    }
    expect(internalErrors).toEqual([]);
  });

  it('downloads the filtered set as an attachment, CSV and NDJSON', async () => {
    const csv = await get(withToken('format=csv&statusCode=503&from=2026-11-01T00:00:00Z&to=2026-11-01T01:00:00Z'));
    expect(csv.statusCode).toBe(200);
    expect(csv.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(csv.headers['content-disposition']).toMatch(/^attachment; filename="sluice-deliveries-\d{8}T\d{6}Z\.csv"$/);
    const lines = (await text(csv)).split('\r\n');
    expect(lines[0]).toBe(EXPORT_COLUMNS.join(','));
    // The first hour holds rows 1 to 3,600; every 50th is a 503, except every 11th (no answer).
    const want = Array.from({ length: 72 }, (_, k) => 50 * (k + 1)).filter((i) => i % 11 !== 0);
    expect(lines.slice(1, -1).map((l) => Number(l.split(',')[0]))).toEqual(want);

    const ndjson = await get(withToken(`format=ndjson&text=198.51.100.23`));
    expect(ndjson.headers['content-type']).toBe('application/x-ndjson; charset=utf-8');
    const rows = (await text(ndjson)).trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rows.map((r) => r['id'])).toEqual(Array.from({ length: N / 1000 }, (_, k) => 1000 * k + 7));
    expect(rows[0]).toMatchObject({ eventId: logRow(7).eventId, eventBody: logRow(7).body, statusCode: logRow(7).statusCode });
  });

  it('streams 20,000 rows with backpressure while the engine goes on committing', async () => {
    unwrap(await t.api['subscriptions.create']({ name: 'live', url: receiver.url, patterns: ['attacker.>'] }));
    const res = await get(withToken('format=ndjson'));
    expect(res.statusCode).toBe(200);
    res.setEncoding('utf8');
    let body = '';
    let ended = false;
    res.on('data', (chunk: string) => (body += chunk));
    res.on('end', () => (ended = true));
    await vi.waitFor(() => expect(body.length).toBeGreaterThan(0));
    // Held half-read: the host waits for the download to drain, and meanwhile the engine
    // takes events off the bus, writes them and delivers them (its connection and its
    // write lock are its own; the export reads a snapshot on another connection).
    res.pause();
    for (let i = 0; i < 5; i++) await t.publish('attacker.observed', envelope('attacker.observed', { ip: '192.0.2.1' }, `evt-live-${i}`));
    const live = await t.waitForFinal(5, (d) => d.subscriptionName === 'live');
    expect(live.map((d) => d.outcome)).toEqual(Array(5).fill('delivered'));
    await t.engine.durable();
    expect(ended).toBe(false);
    const heldBack = body.length;
    expect(heldBack).toBeLessThan(N * 300);
    res.resume();
    await vi.waitFor(() => expect(ended).toBe(true), { timeout: 30_000 });

    const ids = body.trimEnd().split('\n').map((l) => (JSON.parse(l) as { id: number }).id);
    // The snapshot the export began with: every generated row, oldest first; the live ones came after it.
    expect(ids).toHaveLength(N);
    expect(ids[0]).toBe(1);
    expect(ids[N - 1]).toBe(N);
    expect(ids.every((id, k) => id === k + 1)).toBe(true);
    expect(internalErrors).toEqual([]);
  }, 60_000);

  it('lets go of a download given up half way', async () => {
    const res = await get(withToken('format=csv'));
    await new Promise((resolve) => res.once('data', resolve));
    res.destroy();
    // The host carries on: the next export is whole.
    const again = await get(withToken('format=csv&eventId=evt-00000042'));
    const lines = (await text(again)).split('\r\n');
    expect(lines).toHaveLength(3);
    expect(lines[1]).toMatch(/^42,/);
    expect(internalErrors).toEqual([]);
  });
});
