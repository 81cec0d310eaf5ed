import { afterEach, describe, expect, it, vi } from 'vitest';
import { previewRequest } from '@contract/bridge';
import { draftOf, pendingOf } from './subscription-options-form';
import { LatestAnswer, batchNote, byteLength, fieldTitle, filterVerdict, placeProblem, previewQuestion, problemOfError, waitsForUrl, type PreviewForm } from './preview';

const form = (changes: Partial<PreviewForm> = {}): PreviewForm => ({
  subscriptionId: null,
  url: ' https://splunk.example.org:8088/services/collector/event ',
  secret: '',
  presets: ['AttackerDetail'],
  patterns: ['canary.*.triggered'],
  patternProblem: null,
  ...changes,
});

describe('the preview’s question', () => {
  it('asks with the form as typed: the changed options, the patterns, the newest matching event', () => {
    const draft = draftOf(null);
    draft.format = 'splunk-hec';
    draft.hecSourcetype = 'decnet:event';
    draft.filter = 'payload.score > 70';
    const question = previewQuestion(form(), pendingOf(null, draft), { kind: 'newest' });
    expect(question).toEqual({
      ask: {
        url: 'https://splunk.example.org:8088/services/collector/event',
        presets: ['AttackerDetail'],
        patterns: ['canary.*.triggered'],
        format: 'splunk-hec',
        hecSourcetype: 'decnet:event',
        filter: 'payload.score > 70',
      },
    });
    // What the contract takes, as the engine checks it.
    expect(previewRequest.check('ask' in question ? question.ask : null, 'preview').ok).toBe(true);
  });

  it('names the subscription edited, a typed secret, a picked or pasted event; leaves a blank URL and secret out', () => {
    const draft = draftOf(null);
    const pending = pendingOf(null, draft);
    expect(previewQuestion(form({ subscriptionId: 'sub-1', url: '  ', secret: 'a-new-secret-of-24-chars' }), pending, { kind: 'stored', eventId: 'evt-1' })).toEqual({
      ask: { subscriptionId: 'sub-1', secret: 'a-new-secret-of-24-chars', presets: ['AttackerDetail'], patterns: ['canary.*.triggered'], eventId: 'evt-1' },
    });
    const pasted = '{"v":1,"id":"p-1","topic":"attacker.observed","type":"x","ts":1,"payload":{}}';
    expect(previewQuestion(form({ secret: '  ' }), pending, { kind: 'pasted', json: pasted })).toMatchObject({ ask: { eventJson: pasted } });
    expect(previewQuestion(form(), pending, { kind: 'pasted', json: ' \n' })).toEqual({ note: 'Paste a DECNET event as JSON, its "topic" included.' });
  });

  it('does not ask while the form already knows a field is wrong: it names that field', () => {
    const draft = draftOf(null);
    draft.format = 'elasticsearch';
    draft.batch = 'ten';
    expect(previewQuestion(form(), pendingOf(null, draft), { kind: 'newest' })).toEqual({ problem: { message: '"ten" is not a number', at: 'batch' } });
    expect(previewQuestion(form({ patternProblem: 'empty token' }), pendingOf(null, draftOf(null)), { kind: 'newest' })).toEqual({
      problem: { message: 'invalid topic pattern: empty token', at: 'patterns' },
    });
  });
});

describe('the preview’s answer', () => {
  it("places the engine's problem at the form field it names", () => {
    const draft = draftOf(null);
    draft.headers = [
      { name: '', value: '' },
      { name: 'X-A', value: 'a' },
    ];
    const { sent } = pendingOf(null, draft);
    expect(placeProblem({ message: 'filter: unexpected token', field: 'filter' }, draft, sent)).toEqual({ message: 'filter: unexpected token', at: 'filter' });
    expect(placeProblem({ message: 'X-A is set by Sluice', field: 'headers[0]' }, draft, sent)).toEqual({ message: 'X-A is set by Sluice', at: 'headers[1].name' });
    expect(placeProblem({ message: 'needs whsec_', field: 'secret' }, draft, sent)).toEqual({ message: 'needs whsec_', at: 'secret' });
    expect(placeProblem({ message: 'not JSON', field: 'eventJson' }, draft, sent)).toEqual({ message: 'not JSON', at: 'eventJson' });
    expect(placeProblem({ message: 'patterns[0] is invalid', field: 'patterns[0]' }, draft, sent).at).toBe('patterns');
    expect(placeProblem({ message: 'engine unavailable' }, draft, sent)).toEqual({ message: 'engine unavailable', at: null });
    expect(problemOfError({ code: 'invalid_argument', message: 'url is too long', field: 'url' })).toEqual({ message: 'url is too long', field: 'url' });
    expect(problemOfError({ code: 'unavailable', message: 'gone' })).toEqual({ message: 'gone' });
    expect(fieldTitle('filter')).toBe('Filter (JSONata)');
    expect(fieldTitle('eventJson')).toBe('Pasted event');
    expect(fieldTitle('headers[1].name')).toBe('Headers');
  });

  it('waits for a URL not typed yet rather than calling it invalid', () => {
    expect(waitsForUrl({ field: 'url' }, { patterns: [] })).toBe('Type the receiver URL to see the request.');
    expect(waitsForUrl({ field: 'url' }, { patterns: [], url: 'htt' })).toBeNull();
    expect(waitsForUrl({ field: 'url' }, { patterns: [], subscriptionId: 'sub-1' })).toBeNull();
    expect(waitsForUrl({ field: 'transform' }, { patterns: [] })).toBeNull();
    expect(waitsForUrl(null, { patterns: [] })).toBeNull();
  });

  it("reads the filter's verdict", () => {
    expect(filterVerdict(null)).toEqual({ verdict: 'none', text: 'no filter: every matching event is sent', tone: 'muted' });
    expect(filterVerdict({ pass: true, error: null })).toEqual({ verdict: 'pass', text: 'passes: sent', tone: 'ok' });
    expect(filterVerdict({ pass: false, error: null })).toEqual({ verdict: 'filtered', text: 'filtered out: not sent', tone: 'bad' });
    expect(filterVerdict({ pass: false, error: 'boom' })).toEqual({ verdict: 'error', text: 'error: boom (not sent)', tone: 'bad' });
  });

  it('says that a batching subscription sends several events at once', () => {
    expect(batchNote('splunk-hec', '10')).toContain('up to 10 events per request');
    expect(batchNote('elasticsearch', ' 5 ')).toContain('/_bulk');
    expect(batchNote('elasticsearch', '1')).toBeNull();
    expect(batchNote('elasticsearch', '')).toBeNull();
    expect(batchNote('elasticsearch', 'x')).toBeNull();
    expect(batchNote('thehive', '10')).toBeNull();
  });

  it('counts a body in bytes as sent', () => {
    expect(byteLength('{"a":"é"}\n')).toBe(11);
  });
});

describe('asking as the analyst types', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('asks once the analyst pauses, with the last question', async () => {
    vi.useFakeTimers();
    const asked: string[] = [];
    const shown: string[] = [];
    const latest = new LatestAnswer<string, string>(
      async (q) => {
        asked.push(q);
        return `answer to ${q}`;
      },
      (a) => shown.push(a),
      250,
    );
    latest.request('f');
    await vi.advanceTimersByTimeAsync(100);
    latest.request('fi');
    await vi.advanceTimersByTimeAsync(249);
    expect(asked).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(asked).toEqual(['fi']);
    expect(shown).toEqual(['answer to fi']);
    latest.request('now', true);
    await vi.advanceTimersByTimeAsync(0);
    expect(shown).toEqual(['answer to fi', 'answer to now']);
  });

  it('drops an answer that comes back after a later question was asked', async () => {
    const pending: Record<string, (a: string) => void> = {};
    const shown: string[] = [];
    const latest = new LatestAnswer<string, string>(
      (q) => new Promise((resolve) => (pending[q] = resolve)),
      (a) => shown.push(a),
      0,
    );
    latest.request('slow', true);
    latest.request('fast', true);
    pending['fast']!('fast answer');
    await vi.waitFor(() => expect(shown).toEqual(['fast answer']));
    pending['slow']!('slow answer');
    await new Promise((r) => setTimeout(r, 0));
    expect(shown).toEqual(['fast answer']);
    // Cancelled: nothing more is shown.
    latest.request('late', true);
    latest.cancel();
    pending['late']!('late answer');
    await new Promise((r) => setTimeout(r, 0));
    expect(shown).toEqual(['fast answer']);
  });
});
