/**
 * The filtered delivery log written out as CSV (RFC 4180) or NDJSON, streamed: rows are
 * read from a cursor (store/search.ts `exportRows`) and written as they come, waiting for
 * the destination to drain when it is full, so memory stays flat for any number of rows.
 */
import type { Writable } from 'node:stream';
import type { Store } from './database';
import { EXPORT_COLUMNS, exportRows, type DeliverySearch, type ExportRow } from './search';

export const EXPORT_FORMATS = ['csv', 'ndjson'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** Rows per write: one write per row would cost more than the formatting. */
const ROWS_PER_CHUNK = 200;

/** A CSV field: quoted when it holds a comma, a quote or a line break, quotes doubled; null is empty. */
export function csvField(value: string | number | null): string {
  if (value === null) return '';
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function csvHeader(): string {
  return `${EXPORT_COLUMNS.join(',')}\r\n`;
}

/** One row, CRLF-terminated as RFC 4180 has it; bodies and the attempt log as their JSON text. */
export function csvLine(row: ExportRow): string {
  return `${EXPORT_COLUMNS.map((c) => csvField(row[c])).join(',')}\r\n`;
}

/** One row as one JSON object: bodies as strings (the exact bytes signed), the attempt log parsed. */
export function ndjsonLine(row: ExportRow): string {
  let attemptLog: unknown;
  try {
    attemptLog = JSON.parse(row.attemptLog);
  } catch {
    attemptLog = row.attemptLog;
  }
  return `${JSON.stringify({ ...row, attemptLog })}\n`;
}

/** Write `text`, resolving once the destination can take more. */
function write(out: Writable, text: string): Promise<void> {
  if (out.write(text)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onDrain = (): void => {
      out.off('error', onError);
      resolve();
    };
    const onError = (error: Error): void => {
      out.off('drain', onDrain);
      reject(error);
    };
    out.once('drain', onDrain);
    out.once('error', onError);
  });
}

/** Write every delivery matching `filter` to `out`, oldest first; resolves with the count. */
export async function writeExport(store: Store, filter: DeliverySearch, format: ExportFormat, out: Writable): Promise<number> {
  const line = format === 'csv' ? csvLine : ndjsonLine;
  let count = 0;
  let chunk = format === 'csv' ? csvHeader() : '';
  const rows = exportRows(store, filter);
  try {
    for (const row of rows) {
      chunk += line(row);
      count++;
      if (count % ROWS_PER_CHUNK === 0) {
        await write(out, chunk);
        chunk = '';
      }
    }
  } finally {
    // An export given up half way (a closed pipe) releases the cursor and the connection.
    rows.return?.();
  }
  if (chunk) await write(out, chunk);
  return count;
}
