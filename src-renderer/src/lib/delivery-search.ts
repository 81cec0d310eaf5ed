/**
 * The delivery log's search, apart from its markup: the form as the analyst fills it
 * (one box, a status code, a time window) made into the contract's `deliveries.search`
 * query, the words for what was searched, and the web host's export link.
 *
 * The box holds an event id or text: `id:evt-123` (or `id: evt-123`) finds that event's
 * deliveries exactly; anything else is text contained in the event's body (an attacker's
 * IP, a decoy's name). An event's id is in its body too, so a pasted id is found either way.
 */
import type { DeliveryExportRequest, DeliverySearchQuery } from '@contract/bridge';
import { localInputToIso } from './format';

/** Rows a search shows: the newest this many; the export has every match. */
export const SEARCH_LIMIT = 1000;

export type ExportFormat = DeliveryExportRequest['format'];

export interface SearchForm {
  /** `id:…` for an event id, else text in the body. */
  box: string;
  /** An HTTP status code, as typed. */
  status: string;
  /** `<input type="datetime-local">` values: local time, no zone ('' when empty). */
  from: string;
  to: string;
}

/** The search's filters, without the page size. */
export type SearchFilter = Omit<DeliverySearchQuery, 'limit'>;

export type ParsedSearch = { ok: true; filter: SearchFilter } | { ok: false; field: keyof SearchForm; message: string };

export const EMPTY_FORM: SearchForm = { box: '', status: '', from: '', to: '' };

const EVENT_ID = /^id:\s*(.*)$/is;

/** The box: an event id (`id:…`) or text. Null: empty. */
export function parseBox(box: string): { eventId: string } | { text: string } | null {
  const id = EVENT_ID.exec(box.trim());
  if (id) return { eventId: (id[1] ?? '').trim() };
  // Spaces around what was typed or pasted are not part of it.
  return box.trim() === '' ? null : { text: box.trim() };
}

/** The form as a search, or what is wrong with it (the field to point at). */
export function parseSearch(form: SearchForm): ParsedSearch {
  const filter: SearchFilter = {};
  const box = parseBox(form.box);
  if (box && 'eventId' in box) {
    if (box.eventId === '') return { ok: false, field: 'box', message: 'Give the event id after "id:".' };
    filter.eventId = box.eventId;
  } else if (box) filter.text = box.text;
  const status = form.status.trim();
  if (status !== '') {
    const code = /^\d{3}$/.test(status) ? Number(status) : NaN;
    if (!(code >= 100 && code <= 599)) return { ok: false, field: 'status', message: `"${status}" is not an HTTP status (100–599).` };
    filter.statusCode = code;
  }
  for (const field of ['from', 'to'] as const) {
    if (form[field] === '') continue;
    const iso = localInputToIso(form[field]);
    if (iso === null) return { ok: false, field, message: `"${form[field]}" is not a date and time.` };
    filter[field] = iso;
  }
  if (filter.from !== undefined && filter.to !== undefined && filter.from > filter.to)
    return { ok: false, field: 'from', message: '"From" is after "To".' };
  if (Object.keys(filter).length === 0)
    return { ok: false, field: 'box', message: 'Say what to find: an event id (id:…), text in the body, a status code or a time window.' };
  return { ok: true, filter };
}

/** The form's field an engine error names (by the contract's name), or null. */
export function formField(field: string | undefined): keyof SearchForm | null {
  if (field === 'eventId' || field === 'text') return 'box';
  if (field === 'statusCode') return 'status';
  return field === 'from' || field === 'to' ? field : null;
}

/** What was searched, in words: `text "10.0.0.1", status 503`. */
export function describeSearch(filter: SearchFilter, time: (iso: string) => string = (iso) => iso): string {
  const parts: string[] = [];
  if (filter.eventId !== undefined) parts.push(`event id ${filter.eventId}`);
  if (filter.text !== undefined) parts.push(`text "${filter.text}"`);
  if (filter.statusCode !== undefined) parts.push(`status ${filter.statusCode}`);
  if (filter.from !== undefined) parts.push(`from ${time(filter.from)}`);
  if (filter.to !== undefined) parts.push(`to ${time(filter.to)}`);
  return parts.join(', ');
}

/** The count line: how many match, and whether only the newest are shown. */
export function countLine(shown: number, limit = SEARCH_LIMIT): string {
  if (shown === 0) return 'No delivery matches';
  if (shown >= limit) return `The newest ${limit.toLocaleString('en-US')} matches shown (export for all of them)`;
  return `${shown.toLocaleString('en-US')} ${shown === 1 ? 'delivery matches' : 'deliveries match'}`;
}

/**
 * The web host's download of the export (`GET /export`): the page's token goes along,
 * as it does to `/rpc`, and the filters by the contract's names.
 */
export function exportHref(token: string, filter: SearchFilter, format: ExportFormat): string {
  const params = new URLSearchParams({ token, format });
  for (const [key, value] of Object.entries(filter)) if (value !== undefined) params.set(key, String(value));
  return `/export?${params.toString()}`;
}
