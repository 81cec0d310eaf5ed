import { describe, expect, it } from 'vitest';
import { subscriptionInput, subscriptionPatch } from '@contract/bridge';
import { HEADERS_MAX, OPTION_KEYS, SUBSCRIPTION_OPTIONS, defaultOptions } from '@contract/subscription-options';
import type { SubscriptionView } from '@contract/views';
import {
  FOLDED_GROUPS,
  OPTION_GROUPS,
  applyAuthorization,
  belongsTo,
  choicesOf,
  formatFields,
  isFolded,
  secretHint,
  changedOptions,
  describeOptions,
  draftOf,
  draftSummary,
  fieldErrorOf,
  hasOptions,
  inputFields,
  isDirty,
  parseNumber,
  patchFields,
  pendingOf,
  rowProblem,
} from './subscription-options-form';

function viewOf(changes: Partial<SubscriptionView> = {}): SubscriptionView {
  return {
    id: 'sub-1',
    name: 'siem',
    url: 'https://siem.example.org/hook',
    presets: [],
    patterns: ['attacker.>'],
    enabled: true,
    state: 'active',
    consecutiveFailures: 0,
    lastSuccessAt: null,
    lastFailureAt: null,
    lastError: null,
    autoDisabledAt: null,
    insecureUrl: false,
    createdAt: '2026-12-06T00:00:00.000Z',
    updatedAt: '2026-12-06T00:00:00.000Z',
    retrySchedule: null,
    deadCount: 0,
    heldCount: 0,
    heldSince: null,
    previousSecretUntil: null,
    ...defaultOptions(),
    secretHeaderNames: [],
    filteredCount: 0,
    ...changes,
  } as SubscriptionView;
}

describe('the delivery options form', () => {
  it('starts a new subscription at the defaults, every option a field of its kind, and sends nothing', () => {
    const draft = draftOf(null);
    expect(Object.keys(draft).sort()).toEqual([...OPTION_KEYS, 'secretHeaders'].sort());
    expect(draft).toEqual({
      format: 'decnet',
      hecIndex: '',
      hecSourcetype: '',
      hecSource: '',
      hecHost: '',
      esIndex: '',
      thehiveType: '',
      thehiveSource: '',
      thehiveSeverity: '',
      chatStyle: 'slack',
      batch: '',
      batchMs: '',
      filter: '',
      transform: '',
      headers: [],
      caFile: '',
      clientCert: '',
      clientKey: '',
      direct: false,
      rate: '',
      burst: '',
      concurrency: '',
      secretHeaders: [],
    });
    const pending = pendingOf(null, draft);
    expect(pending.fields).toEqual({});
    expect(pending.problems).toEqual({});
    expect(isDirty(null, draft)).toBe(false);
    expect(hasOptions(null)).toBe(false);
  });

  it('lays the options out in the groups of the table, in its order', () => {
    expect(OPTION_GROUPS.map((g) => [g.group, g.keys])).toEqual([
      ['format', ['format', 'hecIndex', 'hecSourcetype', 'hecSource', 'hecHost', 'esIndex', 'thehiveType', 'thehiveSource', 'thehiveSeverity', 'chatStyle', 'batch', 'batchMs']],
      ['filter', ['filter', 'transform']],
      ['headers', ['headers']],
      ['tls', ['caFile', 'clientCert', 'clientKey']],
      ['network', ['direct']],
      ['pacing', ['rate', 'burst', 'concurrency']],
    ]);
    expect(OPTION_GROUPS.flatMap((g) => g.keys)).toEqual(OPTION_KEYS);
  });

  it('edits a view: its values as fields, its secret headers by name only', () => {
    const view = viewOf({ headers: [{ name: 'X-Tenant', value: 'blue' }], rate: 2.5, direct: true, secretHeaderNames: ['Authorization'] });
    const draft = draftOf(view);
    expect(draft).toMatchObject({ headers: [{ name: 'X-Tenant', value: 'blue' }], rate: '2.5', burst: '', direct: true });
    expect(draft.secretHeaders).toEqual([{ name: 'Authorization', value: '', stored: true, replace: false }]);
    expect(pendingOf(view, draft)).toEqual({ fields: {}, problems: {}, sent: { headers: [0], secretHeaders: [0] } });
    expect(isDirty(view, draft)).toBe(false);
    expect(hasOptions(view)).toBe(true);
    expect(hasOptions(viewOf({ secretHeaderNames: ['Authorization'] }))).toBe(true);
    expect(hasOptions(viewOf())).toBe(false);
  });

  it('reads a view held in a proxy (the console keeps its views reactive)', () => {
    const view = viewOf({ headers: [{ name: 'X-Tenant', value: 'blue' }], secretHeaderNames: ['Authorization'] });
    // Deep, as Svelte's $state proxies are: every object read through it is a proxy too.
    const deep = <T extends object>(target: T): T =>
      new Proxy(target, {
        get: (t, key) => {
          const value = Reflect.get(t, key) as unknown;
          return typeof value === 'object' && value !== null ? deep(value) : value;
        },
      });
    const proxied = deep(view);
    expect(() => structuredClone(proxied.headers)).toThrow();
    expect(draftOf(proxied)).toEqual(draftOf(view));
    expect(pendingOf(proxied, draftOf(view)).fields).toEqual({});
  });

  it('parses number fields: empty is no limit, others are checked against the schema', () => {
    expect(parseNumber('rate', '')).toEqual({ ok: true, value: null });
    expect(parseNumber('rate', ' 0.5 ')).toEqual({ ok: true, value: 0.5 });
    expect(parseNumber('rate', 'fast')).toEqual({ ok: false, error: '"fast" is not a number' });
    expect(parseNumber('rate', '0x10')).toEqual({ ok: false, error: '"0x10" is not a number' });
    expect(parseNumber('rate', '0')).toEqual({ ok: false, error: 'must be between 0.01 and 100000' });
    expect(parseNumber('concurrency', '65')).toEqual({ ok: false, error: 'must be between 1 and 64' });
    expect(parseNumber('burst', '2.5')).toEqual({ ok: false, error: 'must be a whole number' });
    expect(parseNumber('burst', '20')).toEqual({ ok: true, value: 20 });
  });

  it('sends only the options that changed, each parsed by its kind, as the contract accepts them', () => {
    const view = viewOf({ headers: [{ name: 'X-Tenant', value: 'blue' }], rate: 5, caFile: '/etc/ca.pem' });
    const draft = draftOf(view);
    draft.headers.push({ name: ' X-Source ', value: ' sluice ' }, { name: '', value: '' });
    draft.caFile = '  ';
    draft.concurrency = '4';
    draft.direct = true;
    const pending = pendingOf(view, draft);
    expect(pending.problems).toEqual({});
    expect(pending.fields).toEqual({
      headers: [
        { name: 'X-Tenant', value: 'blue' },
        { name: 'X-Source', value: 'sluice' },
      ],
      caFile: '',
      direct: true,
      concurrency: 4,
    });
    expect(subscriptionPatch.check(patchFields(pending), 'patch').ok).toBe(true);
    expect(isDirty(view, draft)).toBe(true);
    // Clearing a number is a change to null (no limit), not "unchanged".
    const cleared = draftOf(view);
    cleared.rate = '';
    expect(pendingOf(view, cleared).fields).toEqual({ rate: null });
  });

  it('names each header problem at its row, with the contract rules', () => {
    const draft = draftOf(null);
    draft.headers = [
      { name: 'X-Ok', value: 'fine' },
      { name: 'Bad Name', value: 'v' },
      { name: 'Content-Type', value: 'text/plain' },
      { name: 'x-ok', value: 'again' },
      { name: 'X-Line', value: 'a\nb' },
      { name: '', value: 'orphan' },
    ];
    const { problems } = pendingOf(null, draft);
    expect(problems).toEqual({
      'headers[1].name': '"Bad Name" is not a valid header name (letters, digits and - only, no spaces or colons)',
      'headers[2].name': 'Content-Type is set by Sluice and cannot be replaced',
      'headers[3].name': 'x-ok is given twice',
      'headers[4].value': 'the value of X-Line cannot contain line breaks or control characters',
      'headers[5].name': 'a header needs a name',
    });
    expect(rowProblem(problems, 'headers', 4)).toEqual({ message: expect.stringContaining('line breaks'), part: 'value' });
    expect(rowProblem(problems, 'headers', 0)).toBeNull();
  });

  it('refuses a burst without a rate, as the engine does', () => {
    const draft = draftOf(null);
    draft.burst = '10';
    expect(pendingOf(null, draft).problems).toEqual({ burst: 'a burst goes with a rate limit: set the rate too' });
    draft.rate = '5';
    expect(pendingOf(null, draft)).toMatchObject({ problems: {}, fields: { rate: 5, burst: 10 } });
  });

  it('creates secret headers with their values; a name may not repeat a plain one', () => {
    const draft = draftOf(null);
    draft.headers = [{ name: 'X-Key', value: 'plain' }];
    draft.secretHeaders = [
      { name: 'X-Api-Key', value: 's3cret', stored: false, replace: false },
      { name: 'x-key', value: 'dup', stored: false, replace: false },
      { name: 'X-Empty', value: ' ', stored: false, replace: false },
      { name: '', value: '', stored: false, replace: false },
    ];
    const pending = pendingOf(null, draft);
    expect(pending.problems).toEqual({
      'secretHeaders[1].name': 'x-key is given twice',
      'secretHeaders[2].value': 'the secret header X-Empty needs a value',
    });
    draft.secretHeaders.splice(1, 2);
    const fixed = pendingOf(null, draft);
    expect(fixed.problems).toEqual({});
    const input = { name: 'siem', url: 'https://siem.example.org/hook', ...inputFields(fixed) };
    expect(input).toMatchObject({ headers: [{ name: 'X-Key', value: 'plain' }], secretHeaders: [{ name: 'X-Api-Key', value: 's3cret' }] });
    expect(subscriptionInput.check(input, 'input').ok).toBe(true);
  });

  it('on update keeps stored secret headers by name, sends replaced and new ones with their value, leaves removed ones out', () => {
    const view = viewOf({ secretHeaderNames: ['Authorization', 'X-Api-Key', 'X-Old'] });
    const draft = draftOf(view);
    expect(pendingOf(view, draft).fields.secretHeaders).toBeUndefined();
    draft.secretHeaders[1] = { ...draft.secretHeaders[1]!, replace: true, value: 'new-key' };
    draft.secretHeaders.splice(2, 1);
    draft.secretHeaders.push({ name: 'X-Extra', value: 'e', stored: false, replace: false });
    const pending = pendingOf(view, draft);
    expect(pending.problems).toEqual({});
    expect(pending.fields).toEqual({
      secretHeaders: [{ name: 'Authorization' }, { name: 'X-Api-Key', value: 'new-key' }, { name: 'X-Extra', value: 'e' }],
    });
    expect(subscriptionPatch.check(patchFields(pending), 'patch').ok).toBe(true);

    // Removing one only is a change too; replacing without a value is not a save.
    const removed = draftOf(view);
    removed.secretHeaders.splice(0, 1);
    expect(pendingOf(view, removed).fields).toEqual({ secretHeaders: [{ name: 'X-Api-Key' }, { name: 'X-Old' }] });
    const blank = draftOf(view);
    blank.secretHeaders[0]!.replace = true;
    expect(pendingOf(view, blank).problems).toEqual({ 'secretHeaders[0].value': 'type the new value of Authorization, or keep the stored one' });
  });

  it('flags a plain header that repeats a stored secret header at the plain row', () => {
    const view = viewOf({ secretHeaderNames: ['Authorization'] });
    const draft = draftOf(view);
    draft.headers.push({ name: 'authorization', value: 'x' });
    expect(pendingOf(view, draft).problems).toEqual({ 'headers[0].name': 'authorization is given twice' });
  });

  it('counts plain and secret headers against the one bound', () => {
    const draft = draftOf(null);
    draft.headers = Array.from({ length: HEADERS_MAX }, (_, i) => ({ name: `X-H${i}`, value: 'v' }));
    expect(pendingOf(null, draft).problems).toEqual({});
    draft.secretHeaders.push({ name: 'X-S', value: 'v', stored: false, replace: false });
    expect(pendingOf(null, draft).problems).toEqual({ headers: `at most ${HEADERS_MAX} headers, secret ones included` });
  });

  it('turns an Authorization shortcut into a secret header, replacing the value of one already there', () => {
    const draft = draftOf(null);
    expect(applyAuthorization(draft, 'bearer', '  ')).toBe('the bearer credential is empty');
    expect(applyAuthorization(draft, 'basic', 'nocolon')).toBe('Basic credentials are written USER:PASSWORD');
    expect(draft.secretHeaders).toEqual([]);
    expect(applyAuthorization(draft, 'bearer', 'tok-1')).toBeNull();
    expect(draft.secretHeaders).toEqual([{ name: 'Authorization', value: 'Bearer tok-1', stored: false, replace: false }]);
    expect(applyAuthorization(draft, 'basic', 'ann:pw')).toBeNull();
    expect(draft.secretHeaders).toEqual([{ name: 'Authorization', value: `Basic ${btoa('ann:pw')}`, stored: false, replace: false }]);

    const view = viewOf({ secretHeaderNames: ['authorization'] });
    const editing = draftOf(view);
    expect(applyAuthorization(editing, 'splunk', 'hec')).toBeNull();
    expect(editing.secretHeaders).toEqual([{ name: 'authorization', value: 'Splunk hec', stored: true, replace: true }]);
    expect(pendingOf(view, editing).fields).toEqual({ secretHeaders: [{ name: 'authorization', value: 'Splunk hec' }] });
  });

  it("places the engine's errors at the draft row it means, blank rows skipped", () => {
    const draft = draftOf(viewOf({ secretHeaderNames: ['X-Gone'] }));
    draft.headers = [
      { name: '', value: '' },
      { name: 'X-A', value: 'a' },
    ];
    draft.secretHeaders.push({ name: '', value: '', stored: false, replace: false }, { name: 'X-New', value: '', stored: false, replace: false });
    const { sent } = pendingOf(viewOf({ secretHeaderNames: ['X-Gone'] }), draft);
    expect(sent).toEqual({ headers: [1], secretHeaders: [0, 2] });
    expect(fieldErrorOf({ code: 'invalid_argument', message: 'X-A is set by Sluice', field: 'headers[0]' }, draft, sent)).toEqual({
      key: 'headers[1].name',
      message: 'X-A is set by Sluice',
    });
    // The contract's own path (from the schema check), its prefix taken off the message.
    expect(fieldErrorOf({ code: 'invalid_argument', message: 'headers[0].value must be at most 8192 characters', field: 'headers[0].value' }, draft, sent)).toEqual({
      key: 'headers[1].value',
      message: 'must be at most 8192 characters',
    });
    expect(fieldErrorOf({ code: 'invalid_argument', message: 'the secret header X-New needs a value', field: 'secretHeaders[1]' }, draft, sent)).toEqual({
      key: 'secretHeaders[2].value',
      message: 'the secret header X-New needs a value',
    });
    expect(fieldErrorOf({ code: 'invalid_argument', message: 'X-Gone has no stored value to keep', field: 'secretHeaders[0]' }, draft, sent)?.key).toBe('secretHeaders[0].name');
    expect(fieldErrorOf({ code: 'invalid_argument', message: 'nope', field: 'caFile' }, draft, sent)).toEqual({ key: 'caFile', message: 'nope' });
    expect(fieldErrorOf({ code: 'invalid_argument', message: 'burst must be between 1 and 100000', field: 'burst' }, draft, sent)).toEqual({
      key: 'burst',
      message: 'must be between 1 and 100000',
    });
    expect(fieldErrorOf({ code: 'invalid_argument', message: 'too many', field: 'secretHeaders' }, draft, sent)?.key).toBe('headers');
    expect(fieldErrorOf({ code: 'invalid_argument', message: 'bad url', field: 'url' }, draft, sent)).toBeNull();
    expect(fieldErrorOf({ code: 'internal', message: 'oops' }, draft, sent)).toBeNull();
  });

  it('sums up what is set, for the detail and the heading', () => {
    expect(describeOptions(defaultOptions(), [])).toBe('defaults');
    const view = viewOf({ headers: [{ name: 'X-A', value: 'a' }], clientCert: '/c.pem', clientKey: '/k.pem', direct: true, rate: 5, burst: 10, concurrency: 2, secretHeaderNames: ['Authorization'] });
    expect(changedOptions(view)).toEqual(['headers', 'clientCert', 'clientKey', 'direct', 'rate', 'burst', 'concurrency']);
    expect(describeOptions(view, view.secretHeaderNames)).toBe(
      `1 header · 1 secret header · ${SUBSCRIPTION_OPTIONS.clientCert.label}, ${SUBSCRIPTION_OPTIONS.clientKey.label} · no proxy · 5/s (burst 10) · 2 in flight`,
    );
    const draft = draftOf(view);
    draft.secretHeaders = [];
    draft.rate = 'oops';
    expect(draftSummary(view, draft)).toBe('1 header · client certificate, client key · no proxy · 5/s (burst 10) · 2 in flight');
  });

  it('shows under the Format choice only the chosen format’s own options', () => {
    expect(formatFields('decnet')).toEqual([]);
    expect(formatFields('standard-webhooks')).toEqual([]);
    expect(formatFields('splunk-hec')).toEqual(['hecIndex', 'hecSourcetype', 'hecSource', 'hecHost', 'batch', 'batchMs']);
    expect(formatFields('elasticsearch')).toEqual(['esIndex', 'batch', 'batchMs']);
    expect(formatFields('thehive')).toEqual(['thehiveType', 'thehiveSource', 'thehiveSeverity']);
    expect(formatFields('chat')).toEqual(['chatStyle']);
    expect(belongsTo('filter', 'chat')).toBe(true);
    expect(belongsTo('rate', 'thehive')).toBe(true);
    expect(belongsTo('batch', 'thehive')).toBe(false);
    expect(choicesOf('format')).toEqual(['decnet', 'standard-webhooks', 'splunk-hec', 'elasticsearch', 'thehive', 'chat']);
    // Format and filter have sections of their own; the rest fold under "Delivery options".
    expect(FOLDED_GROUPS.map((g) => g.group)).toEqual(['headers', 'tls', 'network', 'pacing']);
    expect(['batch', 'filter', 'format', 'headers[1].name', 'secretHeaders[0].value', 'burst', 'caFile', 'headers'].map(isFolded)).toEqual([
      false, false, false, true, true, true, true, true,
    ]);
  });

  it('sends a format, its text and number options trimmed and parsed, and the expressions exactly as typed', () => {
    const draft = draftOf(null);
    draft.format = 'splunk-hec';
    draft.hecSourcetype = ' decnet:event ';
    draft.batch = '10';
    draft.filter = 'payload.score > 70\n';
    draft.transform = '';
    const pending = pendingOf(null, draft);
    expect(pending.problems).toEqual({});
    expect(pending.fields).toEqual({ format: 'splunk-hec', hecSourcetype: 'decnet:event', batch: 10, filter: 'payload.score > 70\n' });
    expect(subscriptionInput.check({ name: 'splunk', url: 'https://splunk.example.org:8088/services/collector/event', ...inputFields(pending) }, 'input').ok).toBe(true);
    draft.batch = 'lots';
    expect(pendingOf(null, draft).problems).toEqual({ batch: '"lots" is not a number' });
  });

  it('saves the options of the formats not chosen at their defaults, and keeps what was typed for a switch back', () => {
    const view = viewOf({ format: 'splunk-hec', hecIndex: 'soc', batch: 10 });
    const draft = draftOf(view);
    expect(pendingOf(view, draft).fields).toEqual({});
    draft.format = 'thehive';
    draft.batchMs = 'not a number';
    // The engine refuses a batch for TheHive: the switch clears it; a typo in a hidden field is no problem.
    const pending = pendingOf(view, draft);
    expect(pending.problems).toEqual({});
    expect(pending.fields).toEqual({ format: 'thehive', hecIndex: '', batch: null });
    draft.format = 'splunk-hec';
    draft.batchMs = '';
    expect(pendingOf(view, draft).fields).toEqual({});
    expect(draft.hecIndex).toBe('soc');
  });

  it('opens the delivery options for folded options only: a format or a filter shows anyway', () => {
    expect(hasOptions(viewOf({ format: 'splunk-hec', hecSourcetype: 'x', filter: 'true' }))).toBe(false);
    expect(hasOptions(viewOf({ format: 'splunk-hec', rate: 1 }))).toBe(true);
    // Nor does the heading of the folded options say "edited" for a format or a filter.
    const draft = draftOf(null);
    draft.format = 'chat';
    draft.filter = 'true';
    expect(isDirty(null, draft)).toBe(false);
    draft.concurrency = '2';
    expect(isDirty(null, draft)).toBe(true);
    expect(describeOptions({ ...defaultOptions(), format: 'chat', filter: 'true' }, [])).toBe('defaults');
  });

  it("places the engine's errors on the format, filter and transform fields", () => {
    const draft = draftOf(null);
    const { sent } = pendingOf(null, draft);
    expect(fieldErrorOf({ code: 'invalid_argument', message: 'filter: unexpected end of expression', field: 'filter' }, draft, sent)).toEqual({
      key: 'filter',
      message: 'filter: unexpected end of expression',
    });
    expect(fieldErrorOf({ code: 'invalid_argument', message: 'batching is for…', field: 'batch' }, draft, sent)?.key).toBe('batch');
    expect(fieldErrorOf({ code: 'invalid_argument', message: 'needs whsec_', field: 'secret' }, draft, sent)).toBeNull();
  });

  it('says in the secret hint that a Standard Webhooks secret is generated when left blank', () => {
    expect(secretHint('standard-webhooks', false)).toContain('a whsec_… secret is generated');
    expect(secretHint('standard-webhooks', true)).toContain('whsec_');
    expect(secretHint('decnet', false)).toContain('X-DECNET-Signature');
  });
});
