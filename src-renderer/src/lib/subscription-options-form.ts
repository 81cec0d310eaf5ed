/**
 * The subscription form's delivery options, apart from its markup: the draft a view gives
 * (or the defaults, for a new subscription), each field parsed and checked with the
 * contract's own rules, whether the draft differs from what is stored, the fields a save
 * sends (only the changed options; the secret headers as the bridge wants them), and where
 * an error from the engine goes. Every option is handled by its kind
 * (contract/subscription-options.ts), so a new option needs nothing here.
 *
 * Secret headers are write-only: the draft holds a stored one by name only, and a value
 * only while the analyst types a new one.
 */
import type { BridgeError, SubscriptionPatch } from '@contract/bridge';
import {
  AUTH_SCHEMES,
  CHAT_STYLES,
  HEADERS_MAX,
  OPTION_KEYS,
  SUBSCRIPTION_OPTIONS,
  authorizationHeader,
  defaultOptions,
  headerNameError,
  headerValueError,
  type AuthScheme,
  type ExtraHeader,
  type FormatName,
  type OptionDescriptor,
  type OptionGroup,
  type OptionKey,
  type OptionKind,
  type SubscriptionOptions,
} from '@contract/subscription-options';
import type { SubscriptionView } from '@contract/views';

export { AUTH_SCHEMES, HEADERS_MAX, SUBSCRIPTION_OPTIONS, type AuthScheme, type OptionKey };

type KindOf<K extends OptionKey> = (typeof SUBSCRIPTION_OPTIONS)[K]['kind'];
type KeyOfKind<Kind extends OptionKind> = { [K in OptionKey]: KindOf<K> extends Kind ? K : never }[OptionKey];
export type NumberKey = KeyOfKind<'number'>;
export type PathKey = KeyOfKind<'path'>;
export type BooleanKey = KeyOfKind<'boolean'>;
export type HeadersKey = KeyOfKind<'headers'>;
export type TextKey = KeyOfKind<'text'>;
export type ChoiceKey = KeyOfKind<'choice'>;
export type ExpressionKey = KeyOfKind<'expression'>;

export function keysOfKind<Kind extends OptionKind>(kind: Kind): KeyOfKind<Kind>[] {
  return OPTION_KEYS.filter((k) => SUBSCRIPTION_OPTIONS[k].kind === kind) as KeyOfKind<Kind>[];
}

/** A plain header as typed. */
export interface HeaderRow {
  name: string;
  value: string;
}

/**
 * A secret header in the form. A stored one (`stored`) is known by name only: it is kept
 * as it is unless `replace` (then `value` is its new value). A new one has a name and a value.
 */
export interface SecretRow {
  name: string;
  value: string;
  stored: boolean;
  replace: boolean;
}

/** What the analyst sees in each field; numbers stay text until saved, so a typo can be named. */
type DraftOf<Kind extends OptionKind> = Kind extends 'headers' ? HeaderRow[] : Kind extends 'boolean' ? boolean : string;
export type OptionsDraft = { [K in OptionKey]: DraftOf<KindOf<K>> } & { secretHeaders: SecretRow[] };

/**
 * Problems by field: an option's key, a row's part (`headers[2].name`, `secretHeaders[0].value`,
 * indexed as in the draft), a whole row (`headers[2]`) or a whole list (`headers`).
 */
export type OptionProblems = Record<string, string>;

/** A secret header as the bridge takes it: without a value, the stored one is kept. */
export interface SecretChange {
  name: string;
  value?: string;
}

/** The option fields of a subscription input or patch. */
export type OptionFields = Partial<SubscriptionOptions> & { secretHeaders?: SecretChange[] };

export interface OptionsPending {
  /** The options that differ from what is stored (the defaults, for a new subscription), and the secret headers if they changed. */
  fields: OptionFields;
  problems: OptionProblems;
  /** The draft row each sent entry came from (blank rows are left out), to place the engine's errors. */
  sent: { headers: number[]; secretHeaders: number[] };
}

/**
 * Whether an option goes with a format (its descriptor's `formats`; none: every format).
 * The form shows only the chosen format's own options, and saves the others at their
 * defaults: a batch size typed for Splunk is not sent to TheHive, which the engine refuses.
 */
export function belongsTo(key: OptionKey, format: string): boolean {
  const formats = (SUBSCRIPTION_OPTIONS[key] as OptionDescriptor).formats;
  return !formats || (formats as readonly string[]).includes(format);
}

/** The fields under the Format choice: the chosen format's own options, in table order. */
export function formatFields(format: string): OptionKey[] {
  return OPTION_KEYS.filter((k) => k !== 'format' && SUBSCRIPTION_OPTIONS[k].group === 'format' && belongsTo(k, format));
}

/** How a choice's values read in its select. */
export const CHOICE_LABELS: Record<FormatName | (typeof CHAT_STYLES)[number], string> = {
  decnet: 'DECNET (the signed envelope)',
  'standard-webhooks': 'Standard Webhooks',
  'splunk-hec': 'Splunk HTTP Event Collector',
  elasticsearch: 'Elasticsearch',
  thehive: 'TheHive alert',
  chat: 'Chat message (Slack, Teams)',
  slack: 'Slack (incoming webhook)',
  teams: 'Microsoft Teams (workflow)',
};
export function choicesOf(key: ChoiceKey): readonly string[] {
  return SUBSCRIPTION_OPTIONS[key].choices;
}

/** The secret field's hint: what the chosen format signs with, and what a blank field does. */
export function secretHint(format: string, editing: boolean): string {
  if (format === 'standard-webhooks')
    return editing
      ? 'Blank keeps the current secret. A new one is whsec_ followed by base64; receivers verify webhook-signature with it.'
      : 'Blank: a whsec_… secret is generated (shown once). Your own is whsec_ followed by base64; receivers verify webhook-signature with it.';
  return '16–256 characters. Receivers verify X-DECNET-Signature with it.';
}

/** The options a view holds. */
export function optionsOf(view: SubscriptionView | null): SubscriptionOptions {
  if (!view) return defaultOptions();
  const out: Record<string, unknown> = {};
  // Copied by hand: the console's views are reactive proxies, which structuredClone refuses.
  for (const key of OPTION_KEYS) {
    const value = view[key];
    out[key] = Array.isArray(value) ? value.map((h: ExtraHeader) => ({ name: h.name, value: h.value })) : value;
  }
  return out as SubscriptionOptions;
}

/** The form's draft for a subscription, or the defaults for a new one. */
export function draftOf(view: SubscriptionView | null): OptionsDraft {
  const options = optionsOf(view);
  const draft: Record<string, unknown> = {};
  for (const key of OPTION_KEYS) {
    const value = options[key];
    switch (SUBSCRIPTION_OPTIONS[key].kind) {
      case 'headers':
        draft[key] = (value as ExtraHeader[]).map((h) => ({ name: h.name, value: h.value }));
        break;
      case 'boolean':
        draft[key] = value;
        break;
      case 'number':
        draft[key] = value === null ? '' : String(value);
        break;
      default:
        draft[key] = value;
    }
  }
  draft.secretHeaders = (view?.secretHeaderNames ?? []).map((name) => ({ name, value: '', stored: true, replace: false }));
  return draft as OptionsDraft;
}

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/** A number field's text: '' is null (no limit, or the default); a number is checked against its schema. */
export function parseNumber(key: NumberKey, text: string): { ok: true; value: number | null } | { ok: false; error: string } {
  const trimmed = text.trim();
  if (trimmed === '') return { ok: true, value: null };
  if (!DECIMAL.test(trimmed)) return { ok: false, error: `"${trimmed}" is not a number` };
  const checked = SUBSCRIPTION_OPTIONS[key].schema.check(Number(trimmed), key);
  return checked.ok ? { ok: true, value: checked.value } : { ok: false, error: checked.issue.message };
}

function sameValue(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((h: ExtraHeader, i) => h.name === (b[i] as ExtraHeader).name && h.value === (b[i] as ExtraHeader).value);
  return a === b;
}

/**
 * The fields a save sends, and what must be fixed first. Header rules are the contract's
 * (names, values, no name twice — plain and secret together, names compared without case),
 * as the engine applies them at save, so an error shows at its row before anything is sent.
 */
export function pendingOf(saved: SubscriptionView | null, draft: OptionsDraft): OptionsPending {
  const base = optionsOf(saved);
  const fields: Record<string, unknown> = {};
  const problems: OptionProblems = {};
  const sent = { headers: [] as number[], secretHeaders: [] as number[] };
  const values: Record<string, unknown> = {};

  // A stored secret header's name is taken before anything typed: a plain header of the
  // same name is the row at fault.
  const taken = new Set(draft.secretHeaders.filter((r) => r.stored).map((r) => r.name.toLowerCase()));
  const nameProblem = (name: string): string | null => {
    const error = headerNameError(name);
    if (error) return error;
    if (taken.has(name.toLowerCase())) return `${name} is given twice`;
    taken.add(name.toLowerCase());
    return null;
  };

  const format = draft.format.trim();
  const defaults = defaultOptions();
  for (const key of OPTION_KEYS) {
    const input = draft[key];
    if (!belongsTo(key, format)) {
      // Hidden with this format: saved at its default; the draft keeps what was typed, for a switch back.
      if (!sameValue(defaults[key], base[key])) fields[key] = defaults[key];
      values[key] = defaults[key];
      continue;
    }
    switch (SUBSCRIPTION_OPTIONS[key].kind) {
      case 'headers': {
        const headers: ExtraHeader[] = [];
        (input as HeaderRow[]).forEach((row, i) => {
          const name = row.name.trim();
          const value = row.value.trim();
          if (name === '' && value === '') return; // a row left blank is no header
          sent.headers.push(i);
          headers.push({ name, value });
          const nameError = nameProblem(name);
          const valueError = nameError ? null : headerValueError(name, value);
          if (nameError) problems[`${key}[${i}].name`] = nameError;
          else if (valueError) problems[`${key}[${i}].value`] = valueError;
        });
        values[key] = headers;
        break;
      }
      case 'path':
      case 'text':
      case 'choice':
        values[key] = (input as string).trim();
        break;
      case 'expression':
        values[key] = input;
        break;
      case 'boolean':
        values[key] = input;
        break;
      case 'number': {
        const parsed = parseNumber(key as NumberKey, input as string);
        if (parsed.ok) values[key] = parsed.value;
        else problems[key] = parsed.error;
        break;
      }
    }
    if (values[key] !== undefined && !sameValue(values[key], base[key])) fields[key] = values[key];
  }
  // The one rule across options the engine also applies (subscription-service.ts).
  if (values.burst !== null && values.burst !== undefined && values.rate === null && !problems.burst)
    problems.burst = 'a burst goes with a rate limit: set the rate too';

  const secrets: SecretChange[] = [];
  draft.secretHeaders.forEach((row, i) => {
    if (row.stored && !row.replace) {
      sent.secretHeaders.push(i);
      secrets.push({ name: row.name });
      return;
    }
    const name = row.name.trim();
    if (!row.stored && name === '' && row.value.trim() === '') return;
    sent.secretHeaders.push(i);
    secrets.push({ name, value: row.value });
    const nameError = row.stored ? null : nameProblem(name);
    if (nameError) problems[`secretHeaders[${i}].name`] = nameError;
    else if (row.value.trim() === '')
      problems[`secretHeaders[${i}].value`] = row.stored ? `type the new value of ${name}, or keep the stored one` : `the secret header ${name} needs a value`;
    else {
      const valueError = headerValueError(name, row.value.trim());
      if (valueError) problems[`secretHeaders[${i}].value`] = valueError;
    }
  });
  if (sent.headers.length + sent.secretHeaders.length > HEADERS_MAX) problems.headers = `at most ${HEADERS_MAX} headers, secret ones included`;
  const storedNames = saved?.secretHeaderNames ?? [];
  const secretsChanged =
    secrets.length !== storedNames.length || secrets.some((s, i) => s.value !== undefined || s.name !== storedNames[i]);
  if (secretsChanged) fields.secretHeaders = secrets;

  return { fields: fields as OptionFields, problems, sent };
}

/**
 * The folded delivery options of the draft differ from what is stored (a typo or a
 * half-typed row counts), for their heading; the format and the filter are in view anyway.
 */
export function isDirty(saved: SubscriptionView | null, draft: OptionsDraft): boolean {
  const folded = (d: OptionsDraft): string => JSON.stringify([FOLDED_GROUPS.flatMap((g) => g.keys.map((k) => d[k])), d.secretHeaders]);
  return folded(draftOf(saved)) !== folded(draft);
}

/** The options of a view that differ from their defaults, in table order. */
export function changedOptions(view: SubscriptionView): OptionKey[] {
  const defaults = defaultOptions();
  return OPTION_KEYS.filter((k) => !sameValue(view[k], defaults[k]));
}

/** Whether the form opens its delivery options: something folded in them is not the default. */
export function hasOptions(view: SubscriptionView | null): boolean {
  const folded = new Set(FOLDED_GROUPS.flatMap((g) => g.keys));
  return !!view && (changedOptions(view).some((k) => folded.has(k)) || view.secretHeaderNames.length > 0);
}

/** One line for the options' heading: what is set, or that all are the defaults. */
export function describeOptions(options: SubscriptionOptions, secretNames: readonly string[]): string {
  const parts: string[] = [];
  const count = (n: number, what: string): string => `${n} ${what}${n === 1 ? '' : 's'}`;
  if (options.headers.length > 0) parts.push(count(options.headers.length, 'header'));
  if (secretNames.length > 0) parts.push(count(secretNames.length, 'secret header'));
  const tls = keysOfKind('path').filter((k) => options[k] !== '');
  if (tls.length > 0) parts.push(tls.map((k) => SUBSCRIPTION_OPTIONS[k].label).join(', '));
  if (options.direct) parts.push('no proxy');
  if (options.rate !== null) parts.push(`${options.rate}/s${options.burst !== null ? ` (burst ${options.burst})` : ''}`);
  if (options.concurrency !== null) parts.push(`${options.concurrency} in flight`);
  return parts.length > 0 ? parts.join(' · ') : 'defaults';
}

/** The draft's options as far as they parse (a field that does not keeps what is stored), for the heading. */
export function draftSummary(saved: SubscriptionView | null, draft: OptionsDraft): string {
  const { fields } = pendingOf(saved, draft);
  const options = { ...optionsOf(saved), ...fields } as SubscriptionOptions & { secretHeaders?: unknown };
  delete options.secretHeaders;
  const names = (fields.secretHeaders ?? draft.secretHeaders.filter((r) => r.stored)).map((s) => s.name);
  return describeOptions(options, names);
}

/** The groups of the form, in the table's order, with the options each holds. */
export const GROUP_TITLES: Record<OptionGroup, string> = {
  format: 'Format',
  filter: 'Filter and transform',
  headers: 'Headers',
  tls: 'TLS',
  network: 'Network',
  pacing: 'Pacing',
};
export const OPTION_GROUPS: { group: OptionGroup; title: string; keys: OptionKey[] }[] = [
  ...new Set(OPTION_KEYS.map((k) => SUBSCRIPTION_OPTIONS[k].group)),
].map((group) => ({ group, title: GROUP_TITLES[group], keys: OPTION_KEYS.filter((k) => SUBSCRIPTION_OPTIONS[k].group === group) }));
/**
 * The groups the form shows apart, always in view: the format (the first thing an analyst
 * picks for a product) and the filter; the rest fold away under "Delivery options".
 */
const OWN_SECTIONS: readonly OptionGroup[] = ['format', 'filter'];
export const FOLDED_GROUPS = OPTION_GROUPS.filter((g) => !OWN_SECTIONS.includes(g.group));

/** Whether a problem's field (an option, or a header row's part) is folded under "Delivery options". */
export function isFolded(field: string): boolean {
  const key = field.replace(/\[.*$/, '');
  return FOLDED_GROUPS.some((g) => (g.keys as string[]).includes(key)) || key === 'secretHeaders';
}

/**
 * The Authorization shortcut: a scheme and a credential become a secret `Authorization`
 * header, replacing the value of one already there. Null when done, else what is wrong.
 */
export function applyAuthorization(draft: OptionsDraft, scheme: AuthScheme, credential: string): string | null {
  let header: ExtraHeader;
  try {
    header = authorizationHeader(scheme, credential);
  } catch (err) {
    return (err as Error).message;
  }
  const existing = draft.secretHeaders.find((r) => r.name.trim().toLowerCase() === 'authorization');
  if (existing) {
    existing.value = header.value;
    if (existing.stored) existing.replace = true;
  } else draft.secretHeaders.push({ name: header.name, value: header.value, stored: false, replace: false });
  return null;
}

/**
 * An error from the engine, under the field it names: `headers[0]` (or the contract's
 * `headers[0].name`) at that row of the draft, `burst` at its field. The engine numbers
 * the entries it was sent; `sent` turns them back into draft rows. Null when it names no option.
 */
export function fieldErrorOf(error: BridgeError, draft: OptionsDraft, sent: OptionsPending['sent']): { key: string; message: string } | null {
  const field = error.field ?? '';
  const message = field && error.message.startsWith(`${field} `) ? error.message.slice(field.length + 1) : error.message;
  const row = /^(headers|secretHeaders)\[(\d+)\](?:\.(name|value))?/.exec(field);
  if (row) {
    const list = row[1] as 'headers' | 'secretHeaders';
    const index = sent[list][Number(row[2])];
    if (index === undefined) return { key: 'headers', message };
    const part = row[3] ?? partAtFault(list === 'headers' ? draft.headers[index] : draft.secretHeaders[index]);
    return { key: `${list}[${index}].${part}`, message };
  }
  if (field === 'secretHeaders') return { key: 'headers', message };
  if ((OPTION_KEYS as string[]).includes(field)) return { key: field, message };
  return null;
}

/** Which input of a header row the engine's rules refuse: the value when the name passes them. */
function partAtFault(row: HeaderRow | SecretRow | undefined): 'name' | 'value' {
  if (!row) return 'name';
  const name = row.name.trim();
  if (headerNameError(name)) return 'name';
  const stored = 'stored' in row && row.stored && !row.replace;
  return !stored && (headerValueError(name, row.value.trim()) || ('stored' in row && row.value.trim() === '')) ? 'value' : 'name';
}

/** The problem a header row shows under it, and which of its inputs is at fault. */
export function rowProblem(problems: OptionProblems, list: 'headers' | 'secretHeaders', index: number): { message: string; part: 'name' | 'value' } | null {
  const name = problems[`${list}[${index}].name`];
  if (name) return { message: name, part: 'name' };
  const value = problems[`${list}[${index}].value`];
  return value ? { message: value, part: 'value' } : null;
}

/** The option fields of a patch (typed for the bridge). */
export function patchFields(pending: OptionsPending): Pick<SubscriptionPatch, OptionKey | 'secretHeaders'> {
  return pending.fields;
}

/** The option fields of a new subscription: a new form has no stored secret header, so each carries its value. */
export function inputFields(pending: OptionsPending): Partial<SubscriptionOptions> & { secretHeaders?: ExtraHeader[] } {
  const { secretHeaders, ...options } = pending.fields;
  return secretHeaders ? { ...options, secretHeaders: secretHeaders.map((h) => ({ name: h.name, value: h.value ?? '' })) } : options;
}
