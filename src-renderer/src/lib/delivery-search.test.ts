import { describe, expect, it } from 'vitest';
import { deliveryExportRequest, deliverySearchQuery } from '@contract/bridge';
import { EMPTY_FORM, SEARCH_LIMIT, countLine, formField, describeSearch, exportHref, parseBox, parseSearch, type SearchForm } from './delivery-search';

const form = (over: Partial<SearchForm>): SearchForm => ({ ...EMPTY_FORM, ...over });

describe('parseBox', () => {
  it('reads id: as an event id and anything else as text', () => {
    expect(parseBox('id:evt-123')).toEqual({ eventId: 'evt-123' });
    expect(parseBox('  ID:  evt-123 ')).toEqual({ eventId: 'evt-123' });
    expect(parseBox('10.0.0.1')).toEqual({ text: '10.0.0.1' });
    expect(parseBox(' web-01 ')).toEqual({ text: 'web-01' });
    expect(parseBox('user id: 5')).toEqual({ text: 'user id: 5' });
    expect(parseBox('   ')).toBeNull();
  });
});

describe('parseSearch', () => {
  it('makes the form a query the contract accepts', () => {
    const r = parseSearch(form({ box: '203.0.113.7', status: ' 503 ', from: '2026-11-28T10:00', to: '2026-11-28T11:30:15' }));
    expect(r).toEqual({
      ok: true,
      filter: { text: '203.0.113.7', statusCode: 503, from: new Date('2026-11-28T10:00').toISOString(), to: new Date('2026-11-28T11:30:15').toISOString() },
    });
    if (!r.ok) return;
    expect(deliverySearchQuery.check({ ...r.filter, limit: SEARCH_LIMIT }, '').ok).toBe(true);
    expect(deliveryExportRequest.check({ ...r.filter, format: 'csv' }, '').ok).toBe(true);
    expect(parseSearch(form({ box: 'id:evt-9' }))).toEqual({ ok: true, filter: { eventId: 'evt-9' } });
    expect(parseSearch(form({ status: '200' }))).toEqual({ ok: true, filter: { statusCode: 200 } });
  });

  it('says what is wrong, and with which field', () => {
    expect(parseSearch(EMPTY_FORM)).toMatchObject({ ok: false, field: 'box', message: /Say what to find/ });
    expect(parseSearch(form({ box: 'id:' }))).toMatchObject({ ok: false, field: 'box', message: /event id after "id:"/ });
    for (const status of ['99', '600', '2OO', '20', '503.5', '-200'])
      expect(parseSearch(form({ status })), status).toMatchObject({ ok: false, field: 'status', message: /not an HTTP status/ });
    expect(parseSearch(form({ box: 'x', from: 'yesterday' }))).toMatchObject({ ok: false, field: 'from', message: /not a date and time/ });
    expect(parseSearch(form({ box: 'x', from: '2026-11-28T11:00', to: '2026-11-28T10:00' }))).toMatchObject({ ok: false, field: 'from', message: /after/ });
  });
});

describe('formField', () => {
  it("names the form's field for the contract's", () => {
    expect(['eventId', 'text', 'statusCode', 'from', 'to', 'limit', undefined].map(formField)).toEqual(['box', 'box', 'status', 'from', 'to', null, null]);
  });
});

describe('words and links', () => {
  it('describes a search and counts its rows', () => {
    expect(describeSearch({ text: '10.0.0.1', statusCode: 503 })).toBe('text "10.0.0.1", status 503');
    expect(describeSearch({ eventId: 'e1', from: 'A', to: 'B' }, (t) => `<${t}>`)).toBe('event id e1, from <A>, to <B>');
    expect(countLine(0)).toBe('No delivery matches');
    expect(countLine(1)).toBe('1 delivery matches');
    expect(countLine(1234, 5000)).toBe('1,234 deliveries match');
    expect(countLine(SEARCH_LIMIT)).toMatch(/newest 1,000 matches shown/);
  });

  it("builds the web host's export link with the token and the contract's names", () => {
    const href = exportHref('t/k+n=', { text: 'a&b=c', statusCode: 503 }, 'ndjson');
    const url = new URL(href, 'http://127.0.0.1:7870');
    expect(url.pathname).toBe('/export');
    expect(Object.fromEntries(url.searchParams)).toEqual({ token: 't/k+n=', format: 'ndjson', text: 'a&b=c', statusCode: '503' });
  });
});
