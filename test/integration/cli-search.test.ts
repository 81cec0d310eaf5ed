/**
 * `sluice deliveries search` and `sluice deliveries export` (the built CLI as a child
 * process) on a real database of 100,000 generated deliveries: exact answers by each
 * filter and combinations, the text index filled by the command itself when no engine
 * did, and the export of every row as CSV (parsed back per RFC 4180) and NDJSON.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeliveryView } from '../../src-main/contract/views';
import { Store } from '../../src-main/store/database';
import { EXPORT_COLUMNS } from '../../src-main/store/search';
import { expectedIds, fillDeliveryLog, logRow } from '../harness/delivery-log';

const CLI = fileURLToPath(new URL('../../out/main/cli.js', import.meta.url));
const N = 100_000;

let dir: string;
let db: string;

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
  dir = await mkdtemp(join(tmpdir(), 'sluice-cli-search-'));
  db = join(dir, 'sluice.db');
  const store = await Store.open(db);
  fillDeliveryLog(store.sqlite, N);
  store.close();
}, 120_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(...args: string[]): Promise<Result> {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, SLUICE_DB: db }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

async function searchIds(...args: string[]): Promise<number[]> {
  const r = await cli('deliveries', 'search', '--json', ...args);
  expect(r.stderr, args.join(' ')).not.toMatch(/error|at .*\.js/i);
  expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  return (JSON.parse(r.stdout) as DeliveryView[]).map((d) => d.id);
}

/** RFC 4180: fields quoted when they hold , " or a line break, quotes doubled; CRLF rows. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i++;
    } else field += c;
  }
  if (field !== '' || row.length > 0) throw new Error('the CSV does not end with CRLF');
  return rows;
}

describe('sluice deliveries search', () => {
  it('indexes what no engine did, then answers every filter exactly', async () => {
    // The first text search finds 100,000 events missing from the index: it says so and adds them.
    const first = await cli('deliveries', 'search', '--json', '--text', 'web-01');
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toMatch(/adding 100000 events to the text index/);
    expect((JSON.parse(first.stdout) as DeliveryView[]).map((d) => d.id)).toEqual(expectedIds(N, { text: 'web-01' }, 200));

    const t = (i: number): string => logRow(i).createdAt;
    const cases: { args: string[]; filter: Parameters<typeof expectedIds>[1]; limit?: number }[] = [
      { args: ['--event-id', 'evt-00054321'], filter: { eventId: 'evt-00054321' } },
      { args: ['--text', '198.51.100.23', '--limit', '1000'], filter: { text: '198.51.100.23' }, limit: 1000 },
      { args: ['--text', '203.0.113.7'], filter: { text: '203.0.113.7' } },
      { args: ['--text', 'then OR left *', '--limit', '50'], filter: { text: 'then OR left *' }, limit: 50 },
      { args: ['--text', '"'], filter: { text: '"' } },
      { args: ['--status', '503', '--limit', '10000'], filter: { statusCode: 503 }, limit: 10_000 },
      { args: ['--status', '404'], filter: { statusCode: 404 } },
      { args: ['--from', t(5000), '--to', t(5099), '--limit', '1000'], filter: { from: t(5000), to: t(5099) }, limit: 1000 },
      { args: ['--text', 'web-07', '--status', '500', '--from', t(20_000), '--to', t(60_000)], filter: { text: 'web-07', statusCode: 500, from: t(20_000), to: t(60_000) } },
      { args: ['--event-id', 'evt-00000700', '--status', '500'], filter: { eventId: 'evt-00000700', statusCode: 500 } },
    ];
    for (const c of cases) {
      const want = expectedIds(N, c.filter, c.limit ?? 200);
      expect(await searchIds(...c.args), c.args.join(' ')).toEqual(want);
    }
    // Sanity: the answers are not all empty.
    expect(expectedIds(N, { text: '198.51.100.23' }, 1000)).toHaveLength(100);
  }, 120_000);

  it('prints a table by default', async () => {
    const r = await cli('deliveries', 'search', '--event-id', 'evt-00000042');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^TIME +ID +OUTCOME/);
    expect(r.stdout).toContain('evt-00000042');
    const none = await cli('deliveries', 'search', '--event-id', 'nope');
    expect(none.stdout.trim()).toBe('(no deliveries match)');
  });

  it('refuses bad values, naming the flag (exit 2)', async () => {
    for (const [args, message] of [
      [['--status', 'abc'], /--status: "abc" is not an integer/],
      [['--status', '42'], /--status: "42" is not an HTTP status/],
      [['--from', 'yesterday'], /--from: "yesterday" is not an ISO-8601 time/],
      [['--from', '2026-12-02', '--to', '2026-12-01'], /--from: after --to/],
      [['--limit', '0'], /--limit: "0" is not from 1 to 10000/],
      [['--text', ''], /--text: the text to find is required/],
      [['--evnt-id', 'x'], /did you mean --event-id/],
    ] as const) {
      const r = await cli('deliveries', 'search', ...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });
});

describe('sluice deliveries export', () => {
  it('writes all 100,000 rows as CSV to a new file, parsed back exactly', async () => {
    const file = join(dir, 'all.csv');
    const r = await cli('deliveries', 'export', '--format', 'csv', '--out', file);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/exported 100000 deliveries to/);
    const rows = parseCsv(readFileSync(file, 'utf8'));
    expect(rows[0]).toEqual([...EXPORT_COLUMNS]);
    expect(rows).toHaveLength(N + 1);
    const col = (name: (typeof EXPORT_COLUMNS)[number]): number => EXPORT_COLUMNS.indexOf(name);
    // Oldest first; a few rows whole, among them one with a line break, a comma and quotes in its error.
    for (const i of [1, 17, 19, 77, 50_000, 99_999, N]) {
      const row = rows[i] as string[];
      const want = logRow(i);
      expect(row[col('id')]).toBe(String(i));
      expect(row[col('eventId')]).toBe(want.eventId);
      expect(row[col('createdAt')]).toBe(want.createdAt);
      expect(row[col('statusCode')]).toBe(want.statusCode === null ? '' : String(want.statusCode));
      expect(row[col('error')]).toBe(want.error ?? '');
      expect(row[col('eventBody')]).toBe(want.body);
      expect(row[col('requestBody')]).toBe(want.requestBody ?? '');
      expect(JSON.parse(row[col('attemptLog')] as string)).toEqual(want.attemptLog);
      expect(row).toHaveLength(EXPORT_COLUMNS.length);
    }
    expect(logRow(77).error).toContain('\n');
    // Never overwritten.
    const again = await cli('deliveries', 'export', '--format', 'csv', '--out', file);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/--out: .*all\.csv exists/);
  }, 120_000);

  it('writes the filtered set as NDJSON to stdout', async () => {
    const r = await cli('deliveries', 'export', '--format', 'ndjson', '--status', '503');
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const want = expectedIds(N, { statusCode: 503 }).reverse();
    expect(lines.map((l) => l['id'])).toEqual(want);
    expect(lines[0]).toMatchObject({ eventBody: logRow(want[0] as number).body, statusCode: 503, subscriptionName: 'siem' });
    expect(r.stdout).not.toContain('token=');
  });

  it('refuses a missing or unknown format (exit 2)', async () => {
    const none = await cli('deliveries', 'export');
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/--format is required/);
    const xml = await cli('deliveries', 'export', '--format', 'xml');
    expect(xml.code).toBe(2);
    expect(xml.stderr).toMatch(/--format: "xml" is not one of: csv, ndjson/);
    const exists = join(dir, 'exists.csv');
    writeFileSync(exists, 'keep me');
    const r = await cli('deliveries', 'export', '--format', 'csv', '--out', exists);
    expect(r.code).toBe(2);
    expect(readFileSync(exists, 'utf8')).toBe('keep me');
  });
});
