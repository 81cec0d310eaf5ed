/**
 * The filtered delivery log written out as CSV (RFC 4180) or NDJSON, streamed: rows are
 * read from a cursor (store/search.ts `exportRows`) and written as they come, waiting for
 * the destination to drain when it is full, so memory stays flat for any number of rows.
 */
import type { Writable } from 'node:stream';
import { EXPORT_FORMAT_NAMES } from '../contract/bridge';
import type { Store } from './database';
import { EXPORT_COLUMNS, exportRows, type DeliverySearch, type ExportRow } from './search';

export const EXPORT_FORMATS = EXPORT_FORMAT_NAMES;
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

/**
 * Write `text`, resolving once the destination can take more: at once when it has room,
 * after a turn of the event loop (beside a running engine, an export of any length never
 * keeps its commits and deliveries waiting longer than one chunk takes); when it is full,
 * at its 'drain'. Rejects when it fails or is closed meanwhile (a download given up).
 */
function write(out: Writable, text: string): Promise<void> {
  if (out.destroyed) return Promise.reject(out.errored ?? new Error('the destination was closed'));
  if (out.write(text)) return new Promise((resolve) => setImmediate(resolve));
  return new Promise((resolve, reject) => {
    const done = (error?: Error): void => {
      out.off('drain', onDrain);
      out.off('error', onError);
      out.off('close', onClose);
      if (error) reject(error);
      else resolve();
    };
    const onDrain = (): void => done();
    const onError = (error: Error): void => done(error);
    const onClose = (): void => done(out.errored ?? new Error('the destination was closed'));
    out.once('drain', onDrain);
    out.once('error', onError);
    out.once('close', onClose);
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
