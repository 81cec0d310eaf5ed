/**
 * `sluice deliveries search` and `sluice deliveries export`: find deliveries by event id,
 * text in the event's body, HTTP status and time window (store/search.ts), newest first;
 * or write the whole filtered set, with bodies and attempts, as CSV or NDJSON, streamed.
 *
 * They read the store itself rather than through an engine (no secret key is needed, and
 * nothing secret is shown). Events a running engine has not added to the text index yet
 * are found by a scan of them; a database with no engine running may hold many (an
 * upgraded store, a long stop), so these commands first index what is missing, in
 * batches that each commit (a running engine is never held up), with progress on stderr.
 */
import { createWriteStream, rmSync } from 'node:fs';
import { finished } from 'node:stream/promises';
import { Store } from '../store/database';
import { EXPORT_FORMATS, writeExport, type ExportFormat } from '../store/delivery-export';
import { DEFAULT_SEARCH_LIMIT, MAX_SEARCH_LIMIT, indexEventText, searchDeliveries, unindexedCount, type DeliverySearch } from '../store/search';
import { CliError, EXIT_OK, GLOBAL_OPTIONS, expectOperands, oneOf, parseCommand, parseInteger, type Problems } from './args';
import { DELIVERY_COLUMNS, err, out, printJson, printTable } from './output';
import { isoTime } from './replay';
import { database } from './session';

const FILTER_OPTIONS = {
  ...GLOBAL_OPTIONS,
  'event-id': { type: 'string' },
  text: { type: 'string' },
  status: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
} as const;

const SEARCH_OPTIONS = { ...FILTER_OPTIONS, limit: { type: 'string' } } as const;
const EXPORT_OPTIONS = { ...FILTER_OPTIONS, format: { type: 'string' }, out: { type: 'string' } } as const;

/** A backlog this large is indexed with progress on stderr. */
const PROGRESS_FROM = 20_000;
const INDEX_BATCH = 10_000;

type FilterValues = { [K in keyof typeof FILTER_OPTIONS]?: string | boolean | undefined };

/** The filters given, checked; every problem is added to `problems`. */
function filterOf(values: FilterValues, problems: Problems): DeliverySearch {
  const filter: DeliverySearch = {};
  const eventId = values['event-id'];
  if (typeof eventId === 'string') {
    if (eventId.trim() === '') problems.add('--event-id: an event id is required');
    else filter.eventId = eventId;
  }
  if (typeof values.text === 'string') {
    if (values.text === '') problems.add('--text: the text to find is required');
    else filter.text = values.text;
  }
  if (typeof values.status === 'string') {
    const status = problems.check(() => parseInteger('--status', values.status as string));
    if (status !== undefined && (status < 100 || status > 599)) problems.add(`--status: "${values.status}" is not an HTTP status (100-599)`);
    else if (status !== undefined) filter.statusCode = status;
  }
  if (typeof values.from === 'string') {
    const from = problems.check(() => isoTime('--from', values.from as string));
    if (from !== undefined) filter.from = from;
  }
  if (typeof values.to === 'string') {
    const to = problems.check(() => isoTime('--to', values.to as string));
    if (to !== undefined) filter.to = to;
  }
  if (filter.from !== undefined && filter.to !== undefined && filter.from > filter.to) problems.add('--from: after --to');
  return filter;
}

async function openStore(path: string): Promise<Store> {
  return Store.open(path, {
    ifCorrupt: 'refuse',
    lockWait: 'unbounded',
    onLockWait: () => err(`note: waiting for the engine running on ${path} to let go of the write lock…`),
  });
}

/** Add the events not in the text index yet (each batch commits on its own). */
function indexMissing(store: Store): void {
  const pending = unindexedCount(store);
  if (pending === 0) return;
  const loud = pending >= PROGRESS_FROM;
  if (loud) err(`note: adding ${pending} events to the text index…`);
  let done = 0;
  let next = 100_000;
  for (;;) {
    const batch = indexEventText(store, INDEX_BATCH);
    store.commit();
    done += batch.indexed;
    if (loud && done >= next) {
      err(`note: ${done} of ${pending} indexed`);
      next += 100_000;
    }
    if (!batch.more) break;
  }
  if (loud) err(`note: text index complete (${done} events added)`);
}

export async function searchCommand(argv: string[]): Promise<number> {
  const { values, positionals, problems } = parseCommand('deliveries search', argv, SEARCH_OPTIONS);
  expectOperands(problems, positionals, []);
  const filter = filterOf(values, problems);
  const limit = values.limit === undefined ? DEFAULT_SEARCH_LIMIT : problems.check(() => parseInteger('--limit', values.limit as string));
  if (limit !== undefined && (limit < 1 || limit > MAX_SEARCH_LIMIT)) problems.add(`--limit: "${values.limit}" is not from 1 to ${MAX_SEARCH_LIMIT}`);
  const db = database(values.db, 'existing', problems);
  problems.done();

  const store = await openStore(db.path);
  try {
    if (filter.text !== undefined) indexMissing(store);
    const rows = searchDeliveries(store, filter, limit ?? DEFAULT_SEARCH_LIMIT);
    if (values.json) printJson(rows);
    else if (rows.length === 0) out('(no deliveries match)');
    else printTable(rows, DELIVERY_COLUMNS);
    return EXIT_OK;
  } finally {
    store.close();
  }
}

export async function exportCommand(argv: string[]): Promise<number> {
  const { values, positionals, problems } = parseCommand('deliveries export', argv, EXPORT_OPTIONS);
  expectOperands(problems, positionals, []);
  const filter = filterOf(values, problems);
  let format: ExportFormat | undefined;
  problems.require('--format', values.format);
  if (values.format !== undefined) format = problems.check(() => oneOf<ExportFormat>('--format', values.format as string, EXPORT_FORMATS));
  if (values.json) problems.add('--json: not for export (give --format ndjson)', true);
  const outPath = values.out;
  if (outPath !== undefined && outPath.trim() === '') problems.add('--out: a file name is required');
  const db = database(values.db, 'existing', problems);
  problems.done();

  const store = await openStore(db.path);
  try {
    if (filter.text !== undefined) indexMissing(store);
    if (outPath === undefined) {
      try {
        await writeExport(store, filter, format as ExportFormat, process.stdout);
      } catch (error) {
        // The reader went away (`| head`): what it read is what it wanted.
        if ((error as NodeJS.ErrnoException).code === 'EPIPE') return EXIT_OK;
        throw error;
      }
      return EXIT_OK;
    }
    // 'wx': an existing file is refused, never overwritten (nor a race with another writer).
    const file = createWriteStream(outPath, { flags: 'wx' });
    const opened = new Promise<void>((resolve, reject) => {
      file.once('open', () => resolve());
      file.once('error', reject);
    });
    try {
      await opened;
    } catch (error) {
      const e = error as NodeJS.ErrnoException;
      throw new CliError(e.code === 'EEXIST' ? `--out: ${outPath} exists; give a new file name` : `--out: cannot write ${outPath} (${e.code ?? e.message})`);
    }
    let count: number;
    try {
      count = await writeExport(store, filter, format as ExportFormat, file);
      file.end();
      await finished(file);
    } catch (error) {
      // No half file left looking like a whole one.
      file.destroy();
      rmSync(outPath, { force: true });
      throw new CliError(`--out: writing ${outPath} failed (${(error as Error).message})`, 1);
    }
    err(`exported ${count} deliver${count === 1 ? 'y' : 'ies'} to ${outPath}`);
    return EXIT_OK;
  } finally {
    store.close();
  }
}
