import { describe, expect, it } from 'vitest';
import type { AuditRecordView, AuditVerification } from '@contract/views';
import { actionLabel, changes, mayHaveOlder, oldestSeq, shown, verificationText, withNewer, withOlder } from './audit-view';

const NOW = Date.parse('2026-12-06T10:00:00Z');

function record(seq: number, over: Partial<AuditRecordView> = {}): AuditRecordView {
  return {
    seq,
    at: new Date(NOW - (100 - seq) * 60_000).toISOString(),
    actor: 'analyst',
    source: 'console',
    action: 'settings.update',
    target: 'settings',
    targetId: null,
    before: null,
    after: null,
    ...over,
  };
}

describe('changes', () => {
  it('lists each changed field before → after, the fields only before last', () => {
    expect(changes({ before: { url: 'https://a.example/', rate: null, batch: 5 }, after: { url: 'https://b.example/', rate: 5 } })).toEqual({
      kind: 'changed',
      lines: [
        { field: 'url', before: 'https://a.example/', after: 'https://b.example/', secret: false },
        { field: 'rate', before: '—', after: '5', secret: false },
        { field: 'batch', before: '5', after: '—', secret: false },
      ],
    });
  });

  it('shows a secret only as its word, never as before → after', () => {
    const c = changes({ before: { secret: 'set', previousSecret: null, natsPassword: '' }, after: { secret: 'changed', previousSecret: 'set', natsPassword: 'set' } });
    expect(c.lines).toEqual([
      { field: 'secret', before: null, after: 'changed', secret: true },
      { field: 'previousSecret', before: null, after: 'set', secret: true },
      { field: 'natsPassword', before: null, after: 'set', secret: true },
    ]);
    // Removed, and a value that is not one of the trail's words (a record edited by hand): never shown.
    expect(changes({ before: { natsToken: 'set' }, after: { natsToken: '' } }).lines[0]).toMatchObject({ after: 'removed', secret: true });
    expect(changes({ before: { secret: 'set' }, after: { secret: 'hunter2-hunter2-hunter2' } }).lines[0]).toMatchObject({ after: 'changed', secret: true });
    expect(JSON.stringify(changes({ before: null, after: { secret: 'hunter2-hunter2-hunter2' } }))).not.toContain('hunter2');
  });

  it('shows secret headers by name, each with its word', () => {
    const c = changes({
      before: { secretHeaders: [{ name: 'Authorization', value: 'set' }, { name: 'X-Old', value: 'set' }] },
      after: { secretHeaders: [{ name: 'Authorization', value: 'changed' }, { name: 'X-Key', value: 'set' }] },
    });
    expect(c.lines).toEqual([
      { field: 'secretHeaders Authorization', before: null, after: 'changed', secret: true },
      { field: 'secretHeaders X-Key', before: null, after: 'set', secret: true },
      { field: 'secretHeaders X-Old', before: null, after: 'removed', secret: true },
    ]);
  });

  it('lists what a creation made, leaving out empty values and options at their defaults', () => {
    const c = changes({
      before: null,
      after: { name: 'siem', url: 'https://siem.example/hook', patterns: ['attacker.>', 'decky.*.state'], retrySchedule: null, format: 'decnet', rate: null, batch: 10, direct: false, state: 'active', secret: 'set', previousSecret: null, secretHeaders: [{ name: 'Authorization', value: 'set' }] },
    });
    expect(c.kind).toBe('made');
    expect(c.lines.map((l) => [l.field, l.after, l.secret])).toEqual([
      ['name', 'siem', false],
      ['url', 'https://siem.example/hook', false],
      ['patterns', 'attacker.>, decky.*.state', false],
      ['batch', '10', false],
      ['state', 'active', false],
      ['secret', 'set', true],
      ['secretHeaders Authorization', 'set', true],
    ]);
  });

  it('shows a deletion as what there was; a replay and a Pause all as they are kept', () => {
    expect(changes({ before: { name: 'siem', url: 'https://siem.example/', secret: 'set' }, after: null })).toEqual({
      kind: 'deleted',
      lines: [
        { field: 'name', before: 'siem', after: null, secret: false },
        { field: 'url', before: 'https://siem.example/', after: null, secret: false },
        { field: 'secret', before: 'set', after: null, secret: true },
      ],
    });
    expect(changes({ before: null, after: { id: 7, queued: 1 } }).lines.map((l) => `${l.field}=${l.after}`)).toEqual(['id=7', 'queued=1']);
    expect(changes({ before: { siem: { state: 'active' } }, after: { siem: { state: 'paused' } } }).lines).toEqual([
      { field: 'siem', before: 'state=active', after: 'state=paused', secret: false },
    ]);
  });

  it('shows a value that is not an object (edited by hand) as it is, and nothing for none', () => {
    expect(changes({ before: null, after: 'not json' }).lines).toEqual([{ field: '', before: null, after: 'not json', secret: false }]);
    expect(changes({ before: null, after: null })).toEqual({ kind: 'none', lines: [] });
  });
});

describe('values and actions', () => {
  it('writes values as text', () => {
    expect(shown(null)).toBe('—');
    expect(shown('')).toBe('(empty)');
    expect(shown([])).toBe('(none)');
    expect(shown([1, 2, 3])).toBe('1, 2, 3');
    expect(shown([{ name: 'X-Tenant', value: 'blue' }])).toBe('X-Tenant=blue');
    expect(shown(true)).toBe('true');
  });

  it('names the actions in words, an unknown one as it is', () => {
    expect(actionLabel('subscription.reenable')).toBe('Re-enabled');
    expect(actionLabel('pause_all')).toBe('Pause all');
    expect(actionLabel('something.new')).toBe('something.new');
  });
});

describe('pages', () => {
  it('adds an older page below, newest first, each record once', () => {
    const first = [record(9), record(8), record(7)];
    const older = [record(7), record(6), record(5)];
    expect(withOlder(first, older).map((r) => r.seq)).toEqual([9, 8, 7, 6, 5]);
    expect(oldestSeq(first)).toBe(7);
    expect(oldestSeq([])).toBeNull();
    expect(mayHaveOlder(first, 3)).toBe(true);
    expect(mayHaveOlder(first, 4)).toBe(false);
  });

  it('adds the records written since on top, keeping the older pages loaded below', () => {
    const shownNow = [record(9), record(8), record(7), record(6), record(5)];
    const newest = [record(11), record(10), record(9)];
    expect(withNewer(shownNow, newest, 3).map((r) => r.seq)).toEqual([11, 10, 9, 8, 7, 6, 5]);
    // Nothing new: the very same array (the view does not redraw).
    expect(withNewer(shownNow, [record(9), record(8), record(7)], 3)).toBe(shownNow);
    expect(withNewer([], [], 3)).toEqual([]);
    // Into an empty view (a trail that was empty, a since in the future then passed).
    expect(withNewer([], [record(2), record(1)], 3).map((r) => r.seq)).toEqual([2, 1]);
  });

  it('shows the newest page alone when a page or more was written since: no gap left unseen', () => {
    const shownNow = [record(9), record(8)];
    const newest = [record(14), record(13), record(12)];
    expect(withNewer(shownNow, newest, 3)).toBe(newest);
  });
});

describe('verificationText', () => {
  const base: AuditVerification = { intact: true, count: 12, first: { seq: 1, at: '2026-12-06T09:00:00Z' }, last: { seq: 12, at: '2026-12-06T09:50:00Z', hash: 'ab' }, anchor: null, broken: null };

  it('says intact with the span checked, and what retention removed', () => {
    const intact = verificationText(base, NOW);
    expect(intact.tone).toBe('ok');
    expect(intact.text).toMatch(/^Chain intact: 12 records checked, #1–#12 \(.+ to .+\)\.$/);
    expect(verificationText({ ...base, anchor: { seq: 40, at: null } }, NOW).text).toContain('records up to #40 were removed by retention');
  });

  it('names the broken record, its action and why', () => {
    const text = verificationText(
      { ...base, intact: false, count: 2, broken: { seq: 3, at: '2026-12-06T09:10:00Z', action: 'subscription.update', reason: 'edited', message: 'its content does not match its hash: it was edited after it was written' } },
      NOW,
    );
    expect(text.tone).toBe('bad');
    expect(text.text).toMatch(/^Chain broken at record #3 \(.+, Edited\): its content does not match its hash: it was edited after it was written\. 2 records before it verified\.$/);
    const missing = verificationText({ ...base, intact: false, broken: { seq: 13, at: null, action: null, reason: 'truncated', message: 'the newest records (seq 13) were deleted' } }, NOW);
    expect(missing.text).toContain('#13 (missing)');
  });
});
