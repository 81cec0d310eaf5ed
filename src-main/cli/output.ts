/**
 * Printing: one JSON document (or one JSON line per item) with `--json`, compact human
 * tables and lines otherwise. Data goes to stdout; hints, warnings and errors to stderr.
 */
import type { BridgeError, Result } from '../contract/bridge';
import type { DeliveryView, SubscriptionView } from '../contract/views';
import { CliError, EXIT_FAILURE, EXIT_USAGE } from './args';
import { flagForField } from './subscription-options';

export function out(line = ''): void {
  process.stdout.write(`${line}\n`);
}

export function err(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** One JSON document, pretty enough to read, strict enough to parse. */
export function printJson(value: unknown): void {
  out(JSON.stringify(value, null, 2));
}

/** One JSON line (streams: `run`, `deliveries --follow --json`). */
export function printJsonLine(value: unknown): void {
  out(JSON.stringify(value));
}

interface Column<T> {
  header: string;
  value: (row: T) => string;
  /** Cut longer values with an ellipsis. */
  max?: number;
  align?: 'left' | 'right';
}

/** A plain text table; the last column is not padded. */
export function printTable<T>(rows: readonly T[], columns: readonly Column<T>[]): void {
  const cells = rows.map((row) => columns.map((c) => clip(oneLine(c.value(row)), c.max)));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => (r[i] ?? '').length)));
  const render = (values: string[]): string =>
    values
      .map((v, i) => {
        const last = i === values.length - 1;
        const width = widths[i] ?? 0;
        if (columns[i]?.align === 'right') return v.padStart(width);
        return last ? v : v.padEnd(width);
      })
      .join('  ')
      .trimEnd();
  out(render(columns.map((c) => c.header)));
  for (const row of cells) out(render(row));
}

function oneLine(text: string): string {
  return text.replace(/[\r\n\t]+/g, ' ');
}

export function clip(text: string, max: number | undefined): string {
  if (max === undefined || text.length <= max) return text;
  return `${text.slice(0, Math.max(0, max - 1))}…`;
}

/** `2026-11-28T10:00:00.123Z` → `2026-11-28 10:00:00Z`; null → `-`. */
export function shortTime(iso: string | null): string {
  if (!iso) return '-';
  const m = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)/.exec(iso);
  return m ? `${m[1]} ${m[2]}Z` : iso;
}

export function stateLabel(sub: SubscriptionView): string {
  if (sub.state === 'tripped') return `TRIPPED · ${shortTime(sub.autoDisabledAt)}`;
  return sub.state;
}

/** `default`, or the subscription's own schedule: `5,300,1800 s`; `none` for one attempt. */
export function retriesLabel(sub: Pick<SubscriptionView, 'retrySchedule'>): string {
  if (sub.retrySchedule === null) return 'default';
  return sub.retrySchedule.length === 0 ? 'none' : `${sub.retrySchedule.join(',')} s`;
}

export const SUBSCRIPTION_COLUMNS: Column<SubscriptionView>[] = [
  { header: 'NAME', value: (s) => s.name, max: 32 },
  { header: 'STATE', value: stateLabel },
  { header: 'FAILS', value: (s) => String(s.consecutiveFailures), align: 'right' },
  { header: 'DEAD', value: (s) => String(s.deadCount), align: 'right' },
  { header: 'HELD', value: (s) => String(s.heldCount), align: 'right' },
  { header: 'RETRIES', value: retriesLabel, max: 24 },
  { header: 'URL', value: (s) => s.url, max: 48 },
  { header: 'PATTERNS', value: (s) => s.patterns.join(' '), max: 40 },
  { header: 'LAST SUCCESS', value: (s) => shortTime(s.lastSuccessAt) },
  { header: 'LAST ERROR', value: (s) => s.lastError ?? '-', max: 40 },
  { header: 'ID', value: (s) => s.id },
];

export const DELIVERY_COLUMNS: Column<DeliveryView>[] = [
  { header: 'TIME', value: (d) => shortTime(d.updatedAt) },
  { header: 'ID', value: (d) => String(d.id), align: 'right' },
  { header: 'OUTCOME', value: (d) => (d.replay ? `${d.outcome} (replay)` : d.outcome) },
  { header: 'HTTP', value: (d) => (d.statusCode === null ? '-' : String(d.statusCode)), align: 'right' },
  { header: 'TRIES', value: (d) => String(d.attempts), align: 'right' },
  { header: 'LATENCY', value: (d) => (d.latencyMs === null ? '-' : `${d.latencyMs} ms`), align: 'right' },
  { header: 'SUBSCRIPTION', value: (d) => d.subscriptionName ?? '-', max: 24 },
  { header: 'TOPIC', value: (d) => d.topic, max: 40 },
  { header: 'EVENT', value: (d) => d.eventId ?? '-', max: 36 },
  { header: 'ERROR', value: (d) => d.error ?? '', max: 60 },
];

/** One delivery as a fixed-width line, for streams where no table can be measured. */
export function deliveryLine(d: DeliveryView): string {
  return [
    shortTime(d.updatedAt),
    `#${d.id}`.padStart(7),
    d.outcome.padEnd(9),
    d.replay ? 'REPLAY' : '      ',
    (d.statusCode === null ? '-' : String(d.statusCode)).padStart(3),
    `${d.attempts}x`.padStart(3),
    (d.latencyMs === null ? '-' : `${d.latencyMs}ms`).padStart(7),
    clip(d.subscriptionName ?? '-', 24).padEnd(24),
    clip(d.topic, 40),
    d.eventId ?? '',
    d.error ? `· ${clip(oneLine(d.error), 80)}` : '',
  ]
    .join('  ')
    .trimEnd();
}

const INPUT_ERRORS = new Set<BridgeError['code']>(['invalid_argument', 'conflict', 'forbidden_destination', 'not_found']);

/** The bridge's error as a CLI failure: input errors exit 2, the rest exit 1. */
function bridgeError(error: BridgeError): CliError {
  const flag = error.field ? flagForField(error.field) : null;
  if (flag !== null && error.field) {
    // Named as typed: `--rate: must be between 0.01 and 100000`, not the contract's field.
    const message = error.message.startsWith(`${error.field} `) ? error.message.slice(error.field.length + 1) : error.message;
    return new CliError(`${flag}: ${message} (${error.code})`, INPUT_ERRORS.has(error.code) ? EXIT_USAGE : EXIT_FAILURE);
  }
  const field = error.field && !error.message.includes(error.field) ? `${error.field}: ` : '';
  const exitCode = INPUT_ERRORS.has(error.code) ? EXIT_USAGE : EXIT_FAILURE;
  return new CliError(`${field}${error.message} (${error.code})`, exitCode);
}

export function unwrap<T>(result: Result<T>): T {
  if (!result.ok) throw bridgeError(result.error);
  return result.value;
}
