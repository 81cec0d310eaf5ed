/**
 * `sluice audit`: the operator audit trail (docs/design.md#audit-trail), oldest first —
 * who changed what, from where, and the values before and after (secrets only as
 * set/changed) — and `--verify`, which checks its hash chain: exit 0 when intact, 1
 * naming the first broken record and why.
 *
 * It reads the store itself rather than through an engine: the trail needs no secret
 * key, so whoever may read the database can check it, beside a running engine too.
 */
import { defaultOptions } from '../contract/subscription-options';
import { listAudit, verifyAudit, type AuditRecord, type AuditVerification } from '../store/audit';
import { Store } from '../store/database';
import { EXIT_FAILURE, EXIT_OK, GLOBAL_OPTIONS, expectOperands, parseCommand, parseInteger } from './args';
import { clip, err, out, printJson, printTable, shortTime } from './output';
import { isoTime } from './replay';
import { database } from './session';

const OPTIONS = {
  ...GLOBAL_OPTIONS,
  since: { type: 'string' },
  limit: { type: 'string' },
  verify: { type: 'boolean' },
} as const;

/** The CHANGES column is cut here; `--json` has everything. */
const SUMMARY_MAX = 100;

export async function auditCommand(argv: string[]): Promise<number> {
  const { values, positionals, problems } = parseCommand('audit', argv, OPTIONS);
  expectOperands(problems, positionals, []);
  const since = values.since === undefined ? undefined : problems.check(() => isoTime('--since', values.since as string));
  const limit = values.limit === undefined ? undefined : problems.check(() => parseInteger('--limit', values.limit as string));
  if (limit !== undefined && limit < 1) problems.add(`--limit: "${values.limit}" is not a positive number`);
  if (values.verify && (values.since !== undefined || values.limit !== undefined))
    problems.add('--verify checks the whole trail: it takes no --since or --limit', true);
  const db = database(values.db, 'existing', problems);
  problems.done();

  const store = await Store.open(db.path, {
    ifCorrupt: 'refuse',
    lockWait: 'unbounded',
    onLockWait: () => err(`note: waiting for the engine running on ${db.path} to let go of the write lock…`),
  });
  try {
    if (values.verify) return verified(verifyAudit(store), values.json === true);
    const records = listAudit(store, { ...(since !== undefined ? { since } : {}), ...(limit !== undefined ? { limit } : {}) });
    if (values.json) printJson(records);
    else if (records.length === 0) out(since === undefined ? '(no audit records)' : `(no audit records since ${shortTime(since)})`);
    else printTable(records, AUDIT_COLUMNS);
    return EXIT_OK;
  } finally {
    store.close();
  }
}

const AUDIT_COLUMNS = [
  { header: 'SEQ', value: (r: AuditRecord) => String(r.seq), align: 'right' as const },
  { header: 'TIME', value: (r: AuditRecord) => shortTime(r.at) },
  { header: 'ACTOR', value: (r: AuditRecord) => r.actor, max: 16 },
  { header: 'SOURCE', value: (r: AuditRecord) => r.source, max: 28 },
  { header: 'ACTION', value: (r: AuditRecord) => r.action },
  { header: 'TARGET', value: (r: AuditRecord) => r.target, max: 32 },
  { header: 'CHANGES', value: (r: AuditRecord) => summary(r), max: SUMMARY_MAX },
];

/** Exit 0 with the span checked, or 1 naming the first broken record and why. */
function verified(result: AuditVerification, json: boolean): number {
  if (json) printJson(result);
  else if (result.intact) {
    const span = result.first && result.last ? `, from ${shortTime(result.first.at)} to ${shortTime(result.last.at)} (seq ${result.first.seq}–${result.last.seq})` : '';
    out(`intact: ${records(result.count)}${span}`);
    if (result.anchor) out(`records up to seq ${result.anchor.seq} were removed by retention${result.anchor.at ? ` (the last of them from ${shortTime(result.anchor.at)})` : ''}`);
    if (result.last) out(`newest hash: ${result.last.hash}`);
  } else {
    const broken = result.broken as NonNullable<AuditVerification['broken']>;
    const what = broken.at === null ? 'missing' : `${shortTime(broken.at)}, ${broken.action ?? '?'}`;
    out(`broken at seq ${broken.seq} (${what}): ${broken.message}`);
    out(`${records(result.count)} before it verified`);
  }
  return result.intact ? EXIT_OK : EXIT_FAILURE;
}

function records(n: number): string {
  return `${n} record${n === 1 ? '' : 's'}`;
}

/**
 * What changed, on one line: `url: https://a → https://b; secret: set → changed` for a
 * change; `key=value …` of what was made (a creation, a replay, a test fire); `deleted`.
 */
export function summary(record: Pick<AuditRecord, 'before' | 'after'>): string {
  const before = asObject(record.before);
  const after = asObject(record.after);
  if (before && after)
    return Object.keys(after)
      .map((key) => (key in before ? `${key}: ${shown(before[key])} → ${shown(after[key])}` : `${key}: ${shown(after[key])}`))
      .join('; ');
  if (after) return pairs(after);
  if (before) return 'deleted';
  return '';
}

function asObject(value: unknown): Record<string, unknown> | null {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
}

/** A subscription's delivery options as they are when not set. */
const OPTION_DEFAULTS: Record<string, unknown> = defaultOptions();

/** `key=value` for what is set (empty values and options left at their defaults left out: the JSON has them). */
function pairs(values: Record<string, unknown>): string {
  return Object.entries(values)
    .filter(([, v]) => v !== null && v !== '' && v !== false && !(Array.isArray(v) && v.length === 0))
    .filter(([k, v]) => !(k in OPTION_DEFAULTS) || JSON.stringify(v) !== JSON.stringify(OPTION_DEFAULTS[k]))
    .map(([k, v]) => `${k}=${shown(v)}`)
    .join(' ');
}

/** A list's item: a header (`{name, value}`) as `name=value`. */
function item(value: unknown): string {
  const object = asObject(value);
  if (object && typeof object['name'] === 'string' && 'value' in object) return `${object['name']}=${shown(object['value'])}`;
  return object ? JSON.stringify(object) : shown(value);
}

function shown(value: unknown): string {
  if (value === null || value === undefined) return '-';
  if (value === '') return "''";
  if (typeof value === 'string') return clip(value, 60);
  if (Array.isArray(value)) return value.length === 0 ? '[]' : value.map(item).join(',');
  const object = asObject(value);
  if (object) return Object.entries(object).map(([k, v]) => `${k}=${shown(v)}`).join(' ');
  return String(value);
}
