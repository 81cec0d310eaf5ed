/**
 * Finding and exporting deliveries through the contract (docs/design.md#finding-and-exporting-deliveries):
 * what a search's argument must also meet beyond its schema (a window the right way
 * round, something to find), and the export, streamed from a read-only
 * connection of its own so that a long one never holds the engine's connection.
 *
 * One export, two ways out: the web host streams it into a download (`GET /export`), the
 * desktop app into the file its save dialog chose (`deliveries.export`, `fileExport`
 * below, the dialog injected so that all of this runs under Node).
 */
import { once } from 'node:events';
import { createWriteStream, rmSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { BridgeFailure, type DeliveryExportRequest, type DeliveryExportResult, type DeliverySearchQuery } from '../contract/bridge';
import { Store } from '../store/database';
import { writeExport } from '../store/delivery-export';
import type { DeliverySearch } from '../store/search';

export type SearchFields = Omit<DeliverySearchQuery, 'limit'>;

/**
 * The store's filter for checked search fields (their times already UTC, as the store
 * writes them). `required`: a search must say what to find; an export without a filter
 * is the whole log.
 */
export function searchFilter(fields: SearchFields, required: boolean): DeliverySearch {
  const filter: DeliverySearch = {};
  if (fields.eventId !== undefined) filter.eventId = fields.eventId;
  if (fields.text !== undefined) filter.text = fields.text;
  if (fields.statusCode !== undefined) filter.statusCode = fields.statusCode;
  if (fields.from !== undefined) filter.from = fields.from;
  if (fields.to !== undefined) filter.to = fields.to;
  if (filter.from !== undefined && filter.to !== undefined && filter.from > filter.to)
    throw new BridgeFailure('invalid_argument', `from (${filter.from}) is after to (${filter.to})`, 'from');
  if (required && Object.keys(filter).length === 0)
    throw new BridgeFailure('invalid_argument', 'say what to find: an event id, a text, a status code or a time window (from, to)');
  return filter;
}

/** The export's file name: what it is and when it was made (`sluice-deliveries-20261206T104912Z.csv`). */
export function exportFileName(format: DeliveryExportRequest['format'], now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `sluice-deliveries-${stamp}.${format}`;
}

/** An export ready to stream: checked, its read-only connection open. */
export interface OpenedExport {
  format: DeliveryExportRequest['format'];
  /** Stream the deliveries into `out`, oldest first; resolves with the count. The connection is closed after it. */
  write(out: Writable): Promise<number>;
  /** Close the connection without writing (only when `write` is not called). */
  close(): void;
}

/**
 * Check `request` and open a read-only connection to `dbPath` for it: a bad request, or a
 * log that cannot be read, is refused (BridgeFailure) before anything is written, so the
 * web host can still answer with an error rather than a broken download.
 */
export function openExport(dbPath: string, request: DeliveryExportRequest): OpenedExport {
  const { format, ...fields } = request;
  const filter = searchFilter(fields, false);
  let store: Store;
  try {
    store = Store.openReadOnly(dbPath);
  } catch (err) {
    throw new BridgeFailure('unavailable', `the delivery log cannot be read for an export: ${(err as Error).message}`);
  }
  const close = (): void => store.close();
  return {
    format,
    close,
    write: async (out) => {
      try {
        return await writeExport(store, filter, format, out);
      } finally {
        close();
      }
    },
  };
}

/** Write the deliveries `request` selects to `out` (see `openExport`); resolves with the count. */
export function streamExport(dbPath: string, request: DeliveryExportRequest, out: Writable): Promise<number> {
  return openExport(dbPath, request).write(out);
}

/** Where to save an export (the desktop app: its save dialog); null: the analyst cancelled. */
export type ChooseExportFile = (suggestedName: string) => Promise<string | null>;

/**
 * `deliveries.export` for the desktop app: ask where, then stream the export into that
 * file. A failed export leaves no half file looking like a whole one.
 */
export function fileExport(dbPath: string, choose: ChooseExportFile): (request: DeliveryExportRequest) => Promise<DeliveryExportResult | null> {
  return async (request) => {
    // Checked before the dialog: a bad filter is said at once, not after choosing a file.
    searchFilter(request, false);
    const file = await choose(exportFileName(request.format));
    if (file === null) return null;
    const out = createWriteStream(file);
    // A failure surfaces through the writes and `finished` (out.errored), never as an unhandled 'error'.
    out.on('error', () => {});
    try {
      await once(out, 'open');
      const count = await streamExport(dbPath, request, out);
      out.end();
      await finished(out);
      return { file, count };
    } catch (err) {
      out.destroy();
      rmSync(file, { force: true });
      if (err instanceof BridgeFailure) throw err;
      throw new BridgeFailure('unavailable', `writing ${file} failed: ${(err as Error).message}`);
    }
  };
}
