/**
 * The Audit view's logic, apart from its markup (`audit.list`, `audit.verify`,
 * docs/design.md#audit-trail): what a record changed, line by line, as an analyst reads
 * it; its action in words; what a verification found; and the pages of the trail put
 * together, newest first.
 *
 * The values come as the trail keeps them: a secret is only ever a word there (`set`,
 * `changed`, `unchanged`; engine/audit-trail.ts). A secret's line shows that word alone,
 * never a "before → after" that would read as two values.
 */
import type { AuditRecordView, AuditVerification } from '@contract/views';
import { SECRET_KEYS } from '@contract/settings-descriptor';
import { defaultOptions } from '@contract/subscription-options';
import { plural, shortTime } from './format';

/** Fields whose values the trail keeps as words only: a subscription's secrets (engine/audit-trail.ts SECRET_FIELDS) and the secret settings. */
const SECRET_FIELDS = new Set<string>(['secret', 'previousSecret', ...SECRET_KEYS]);
/** A subscription's secret headers: `{ name, value }` with the value a word. */
const SECRET_HEADERS = 'secretHeaders';

/** One line of what a record changed. */
export interface ChangeLine {
  field: string;
  /** The value before, as text; null: the field had none or the line is not a change (`made`, a secret). */
  before: string | null;
  /** The value after, as text (a secret: its word); null on a deleted record's lines. */
  after: string | null;
  /** A secret: `after` is a word (set, changed, removed), never a value. */
  secret: boolean;
}

/**
 * What a record says happened: `changed` (the fields that differ, before → after), `made`
 * (what was created, replayed or fired, as it was made), `deleted` (what there was).
 */
export interface Changes {
  kind: 'changed' | 'made' | 'deleted' | 'none';
  lines: ChangeLine[];
}

/** The actions of engine/audit-trail.ts AUDIT_ACTIONS in words; one not listed here shows as it is. */
const ACTION_LABELS: Record<string, string> = {
  'subscription.create': 'Created',
  'subscription.update': 'Edited',
  'subscription.delete': 'Deleted',
  'subscription.pause': 'Paused',
  'subscription.reenable': 'Re-enabled',
  'subscription.rotate_secret': 'Secret rotated',
  'subscription.test_fire': 'Test fire',
  'deliveries.replay': 'Replay',
  'settings.update': 'Settings changed',
  pause_all: 'Pause all',
  resume_all: 'Resume all',
};

export function actionLabel(action: string): string {
  return ACTION_LABELS[action] ?? action;
}

/** A record's what-changed, line by line. */
export function changes(record: Pick<AuditRecordView, 'before' | 'after'>): Changes {
  const before = asObject(record.before);
  const after = asObject(record.after);
  if (before && after) {
    const keys = [...Object.keys(after), ...Object.keys(before).filter((k) => !(k in after))];
    return { kind: 'changed', lines: keys.flatMap((key) => changedLines(key, before[key], after[key])) };
  }
  if (after) return { kind: 'made', lines: madeLines(after).map(([field, value]) => ({ field, before: null, after: value, secret: isSecretLine(field) })) };
  if (before) return { kind: 'deleted', lines: madeLines(before).map(([field, value]) => ({ field, before: value, after: null, secret: isSecretLine(field) })) };
  // Not an object (edited by hand, or a shape this console does not know): shown as it is.
  const raw = record.after ?? record.before;
  return raw === null || raw === undefined ? { kind: 'none', lines: [] } : { kind: 'changed', lines: [{ field: '', before: null, after: shown(raw), secret: false }] };
}

const isSecretLine = (field: string): boolean => SECRET_FIELDS.has(field) || field.startsWith(`${SECRET_HEADERS} `);

function changedLines(key: string, was: unknown, now: unknown): ChangeLine[] {
  if (SECRET_FIELDS.has(key)) return [{ field: key, before: null, after: secretWord(now), secret: true }];
  if (key === SECRET_HEADERS && (Array.isArray(was) || Array.isArray(now))) return secretHeaderLines(was, now);
  return [{ field: key, before: shown(was), after: shown(now), secret: false }];
}

/** The words the trail keeps for a secret (engine/audit-trail.ts). */
const SECRET_WORDS = new Set(['set', 'changed', 'unchanged']);

/**
 * A secret's word after the change: `changed`, `set` (there was none), `unchanged`,
 * `removed`. Anything else (a record edited by hand) reads `changed`: the console shows
 * no secret's value, whatever the file holds.
 */
function secretWord(now: unknown): string {
  if (now === null || now === undefined || now === '') return 'removed';
  return typeof now === 'string' && SECRET_WORDS.has(now) ? now : 'changed';
}

/** Each secret header by name: its word after the change, or `removed`. */
function secretHeaderLines(was: unknown, now: unknown): ChangeLine[] {
  const names = (list: unknown): Map<string, string> =>
    new Map(
      (Array.isArray(list) ? list : []).flatMap((h) => {
        const header = asObject(h);
        return header && typeof header['name'] === 'string' ? [[header['name'], secretWord(header['value'])] as [string, string]] : [];
      }),
    );
  const before = names(was);
  const after = names(now);
  const lines: ChangeLine[] = [];
  for (const [name, word] of after) lines.push({ field: `${SECRET_HEADERS} ${name}`, before: null, after: before.has(name) ? word : word === 'unchanged' ? 'set' : word, secret: true });
  for (const name of before.keys()) if (!after.has(name)) lines.push({ field: `${SECRET_HEADERS} ${name}`, before: null, after: 'removed', secret: true });
  return lines;
}

/** A subscription's delivery options as they are when not set: left out of what was made. */
const OPTION_DEFAULTS: Record<string, unknown> = defaultOptions();

/** What was made (or what there was): the fields set, each secret header by name; empty values and options at their defaults left out. */
function madeLines(values: Record<string, unknown>): [string, string][] {
  const out: [string, string][] = [];
  for (const [key, value] of Object.entries(values)) {
    if (value === null || value === undefined || value === '' || value === false || (Array.isArray(value) && value.length === 0)) continue;
    if (key in OPTION_DEFAULTS && JSON.stringify(value) === JSON.stringify(OPTION_DEFAULTS[key])) continue;
    if (key === SECRET_HEADERS && Array.isArray(value)) {
      for (const [name, word] of secretHeaderLines([], value).map((l): [string, string] => [l.field, l.after ?? 'set'])) out.push([name, word]);
      continue;
    }
    out.push([key, SECRET_FIELDS.has(key) ? secretWord(value) : shown(value)]);
  }
  return out;
}

function asObject(value: unknown): Record<string, unknown> | null {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
}

/** A value as text: `—` for none, a list comma-separated, an object as `key=value` pairs. */
export function shown(value: unknown): string {
  if (value === null || value === undefined) return '—';
  if (value === '') return '(empty)';
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.length === 0 ? '(none)' : value.map(item).join(', ');
  const object = asObject(value);
  if (object) return Object.entries(object).map(([k, v]) => `${k}=${shown(v)}`).join(' ');
  return String(value);
}

/** A list's item: a header (`{name, value}`) as `name=value`. */
function item(value: unknown): string {
  const object = asObject(value);
  if (object && typeof object['name'] === 'string' && 'value' in object) return `${object['name']}=${shown(object['value'])}`;
  return shown(value);
}

// ----- pages ------------------------------------------------------------------------------

/** Records asked for at a time: the first page and each "Load older". */
export const AUDIT_VIEW_PAGE = 100;

/** An older page added below what is shown: newest first, each record once. */
export function withOlder(shown: readonly AuditRecordView[], older: readonly AuditRecordView[]): AuditRecordView[] {
  const seen = new Set(shown.map((r) => r.seq));
  return [...shown, ...older.filter((r) => !seen.has(r.seq))].sort((a, b) => b.seq - a.seq);
}

/**
 * The records shown with those written since (`newest`: the newest page as the engine has
 * it now) on top. More new records than a page: a gap could open between them and what is
 * shown, so the newest page alone is shown, as a Refresh would. Nothing new: `shown` itself.
 */
export function withNewer(shown: readonly AuditRecordView[], newest: readonly AuditRecordView[], page: number): readonly AuditRecordView[] {
  const top = shown.length === 0 ? 0 : Math.max(...shown.map((r) => r.seq));
  const fresh = newest.filter((r) => r.seq > top);
  if (fresh.length === 0) return shown;
  if (fresh.length >= page) return newest;
  return [...fresh, ...shown].sort((a, b) => b.seq - a.seq);
}

/** Where "Load older" continues from: the oldest record shown; null when none is. */
export function oldestSeq(records: readonly AuditRecordView[]): number | null {
  return records.length === 0 ? null : Math.min(...records.map((r) => r.seq));
}

/** A full page may have more behind it; a short one is the start of the trail (or of the since filter). */
export const mayHaveOlder = (page: readonly unknown[], limit: number): boolean => page.length >= limit;

// ----- verification -----------------------------------------------------------------------

/** What Verify chain found, in a sentence, and its tone. */
export function verificationText(v: AuditVerification, now = Date.now()): { tone: 'ok' | 'bad'; text: string } {
  if (v.intact) {
    const span = v.first && v.last ? `, #${v.first.seq}–#${v.last.seq} (${shortTime(v.first.at, now)} to ${shortTime(v.last.at, now)})` : '';
    const pruned = v.anchor ? `; records up to #${v.anchor.seq} were removed by retention` : '';
    return { tone: 'ok', text: `Chain intact: ${plural(v.count, 'record')} checked${span}${pruned}.` };
  }
  const broken = v.broken;
  if (!broken) return { tone: 'bad', text: 'Chain broken.' };
  const what = broken.at === null ? 'missing' : `${shortTime(broken.at, now)}, ${actionLabel(broken.action ?? '?')}`;
  return { tone: 'bad', text: `Chain broken at record #${broken.seq} (${what}): ${broken.message}. ${plural(v.count, 'record')} before it verified.` };
}
