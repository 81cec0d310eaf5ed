/**
 * `sluice deliveries`: the delivery log, newest first; with `--follow`, a live stream
 * (polled through `deliveries.list`) of each delivery when it appears and whenever its
 * outcome changes, oldest first, until SIGINT.
 */
import type { DeliveryQuery, SluiceApi } from '../contract/bridge';
import { OUTCOMES, type DeliveryView, type Outcome } from '../contract/views';
import { EXIT_OK, GLOBAL_OPTIONS, expectOperands, oneOf, parseCommand, parseInteger } from './args';
import { DELIVERY_COLUMNS, deliveryLine, out, printJson, printJsonLine, printTable, unwrap } from './output';
import { database, resolveSubscription, withApi } from './session';

const FOLLOW_POLL_MS = 500;
const DEFAULT_LIMIT = 50;
const DEFAULT_FOLLOW_BACKLOG = 20;
/** The contract's page size limit. */
const PAGE = 1000;
/** A poll reads at most this many rows back (the stream skips the excess of a bigger flood). */
const MAX_ROWS_PER_POLL = 10_000;
/** Outcomes that can still change. */
const UNSETTLED = new Set<Outcome>(['pending', 'retrying']);

const OPTIONS = {
  ...GLOBAL_OPTIONS,
  follow: { type: 'boolean', short: 'f' },
  limit: { type: 'string' },
  subscription: { type: 'string' },
  outcome: { type: 'string' },
  topic: { type: 'string' },
} as const;

export async function deliveriesCommand(argv: string[]): Promise<number> {
  const { values, positionals, problems } = parseCommand('deliveries', argv, OPTIONS);
  expectOperands(problems, positionals, []);
  const limit = values.limit === undefined ? undefined : problems.check(() => parseInteger('--limit', values.limit as string));
  // The contract checks these too; checked here, a typo is named with the other problems.
  const outcome = values.outcome === undefined ? undefined : problems.check(() => oneOf<Outcome>('--outcome', values.outcome as string, OUTCOMES));
  const db = database(values.db, 'existing', problems);
  problems.done();
  const json = values.json === true;
  await withApi({ db }, async (api) => {
    const filter: DeliveryQuery = {};
    if (values.subscription !== undefined) filter.subscriptionId = (await resolveSubscription(api, values.subscription)).id;
    if (outcome !== undefined) filter.outcome = outcome;
    if (values.topic !== undefined) filter.topic = values.topic;
    if (values.follow) await follow(api, filter, limit ?? DEFAULT_FOLLOW_BACKLOG, json);
    else {
      const rows = unwrap(await api['deliveries.list']({ ...filter, limit: limit ?? DEFAULT_LIMIT }));
      if (json) printJson(rows);
      else if (rows.length === 0) out('(no deliveries)');
      else printTable(rows, DELIVERY_COLUMNS);
    }
  });
  return EXIT_OK;
}

async function follow(api: SluiceApi, filter: DeliveryQuery, backlog: number, json: boolean): Promise<void> {
  const print = (d: DeliveryView): void => (json ? printJsonLine(d) : out(deliveryLine(d)));
  const stop = stopSignal();
  // The backlog first (validates the filter too: a bad one exits 2 before streaming).
  const first = unwrap(await api['deliveries.list']({ ...filter, limit: backlog }));
  /** Deliveries shown whose outcome may still change, by id. */
  const unsettled = new Map<number, Outcome>();
  let highest = 0;
  const show = (d: DeliveryView): void => {
    print(d);
    highest = Math.max(highest, d.id);
    if (UNSETTLED.has(d.outcome)) unsettled.set(d.id, d.outcome);
    else unsettled.delete(d.id);
  };
  for (const d of [...first].reverse()) show(d);
  // An empty backlog under a filter: start from what exists now, not from the beginning.
  if (first.length === 0) highest = (unwrap(await api['deliveries.list']({ limit: 1 }))[0]?.id ?? 0);

  while (!(await stop.wait(FOLLOW_POLL_MS))) {
    const floor = Math.min(highest + 1, ...unsettled.keys());
    const rows = await rowsSince(api, filter, floor);
    for (const d of rows) {
      const known = unsettled.get(d.id);
      if (d.id > highest || (known !== undefined && known !== d.outcome)) show(d);
    }
    // A row that left the filter (retrying → dead under --outcome retrying) is not seen again.
    const present = new Set(rows.map((d) => d.id));
    for (const id of unsettled.keys()) if (!present.has(id)) unsettled.delete(id);
  }
  stop.dispose();
}

/** Every row with id ≥ floor (paged back from the newest), oldest first. */
async function rowsSince(api: SluiceApi, filter: DeliveryQuery, floor: number): Promise<DeliveryView[]> {
  const rows: DeliveryView[] = [];
  let before: number | undefined;
  for (;;) {
    const page = unwrap(await api['deliveries.list']({ ...filter, limit: PAGE, ...(before ? { before } : {}) }));
    for (const d of page) if (d.id >= floor) rows.push(d);
    const last = page[page.length - 1];
    if (!last || page.length < PAGE || last.id <= floor || rows.length >= MAX_ROWS_PER_POLL) break;
    before = last.id;
  }
  return rows.reverse();
}

/** Resolves `wait()` early (with true) on SIGINT/SIGTERM. */
function stopSignal(): { wait(ms: number): Promise<boolean>; dispose(): void } {
  let stopped = false;
  let wake: (() => void) | null = null;
  const onSignal = (): void => {
    stopped = true;
    wake?.();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    wait(ms) {
      if (stopped) return Promise.resolve(true);
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          wake = null;
          resolve(stopped);
        }, ms);
        wake = () => {
          clearTimeout(timer);
          wake = null;
          resolve(true);
        };
      });
    },
    dispose() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}
