import { describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS, SECRET_KEYS, SETTINGS, SETTING_KEYS } from '@contract/settings-descriptor';
import type { SettingsView } from '@contract/views';
import { FIELD_KEYS, draftOf, fieldErrorOf, integerFieldsIn, isDirty, otherFieldsIn, pendingOf, savedMessage, untouchedSecrets } from './settings-form';

function viewOf(overrides: SettingsView['overrides'] = {}): SettingsView {
  const { natsPassword: _p, natsToken: _t, ...rest } = structuredClone(DEFAULT_SETTINGS);
  return { ...rest, allowedCidrs: ['10.0.0.0/8'], natsPasswordSet: true, natsTokenSet: false, jetstreamDurableDefault: 'sluice-0123456789ab', overrides };
}

describe('the Settings form', () => {
  it('edits every setting but the secrets as a field, numbers as text', () => {
    expect([...FIELD_KEYS, ...SECRET_KEYS].sort()).toEqual([...SETTING_KEYS].sort());
    const draft = draftOf(viewOf());
    expect(Object.keys(draft).sort()).toEqual([...FIELD_KEYS].sort());
    expect(draft).toMatchObject({ natsUrl: 'ws://127.0.0.1:9222', concurrency: '10', retrySchedule: '1, 2, 4', allowedCidrs: '10.0.0.0/8', allowPrivate: false });
  });

  it('saves nothing and is clean while the draft is what is stored', () => {
    const saved = viewOf();
    const draft = draftOf(saved);
    const pending = pendingOf(saved, draft, untouchedSecrets());
    expect(pending).toEqual({ patch: {}, problems: {} });
    expect(isDirty(saved, draft, pending)).toBe(false);
  });

  it('patches only the changed fields, each parsed by its kind', () => {
    const saved = viewOf();
    const draft = {
      ...draftOf(saved),
      natsUrl: ' ws://bus:9222 ',
      concurrency: '20',
      allowedCidrs: '10.0.0.0/8\n192.168.1.0/24, 172.16.0.0/12',
      retrySchedule: '5, 10',
      allowPrivate: true,
      timeoutMs: ' 10000 ',
    };
    const secrets = { ...untouchedSecrets(), natsPassword: { mode: 'clear' as const, value: '' }, natsToken: { mode: 'replace' as const, value: 't0k' } };
    const pending = pendingOf(saved, draft, secrets);
    expect(pending.problems).toEqual({});
    expect(pending.patch).toEqual({
      natsUrl: 'ws://bus:9222',
      natsPassword: '',
      natsToken: 't0k',
      allowPrivate: true,
      allowedCidrs: ['10.0.0.0/8', '192.168.1.0/24', '172.16.0.0/12'],
      concurrency: 20,
      retrySchedule: [5, 10],
    });
    expect(isDirty(saved, draft, pending)).toBe(true);
  });

  it('names a field that cannot be saved, and counts it as a change', () => {
    const saved = viewOf();
    const draft = { ...draftOf(saved), circuitThreshold: '5x', heldMaxCount: ' ', retrySchedule: 'soon' };
    const pending = pendingOf(saved, draft, untouchedSecrets());
    expect(pending.problems.circuitThreshold).toBe('"5x" is not a whole number');
    expect(pending.problems.heldMaxCount).toBe('a value is required');
    expect(pending.problems.retrySchedule).toBeTruthy();
    expect(pending.patch).toEqual({});
    expect(isDirty(saved, draft, pending)).toBe(true);
  });

  it('a secret being replaced with nothing typed yet changes nothing', () => {
    const saved = viewOf();
    const secrets = { ...untouchedSecrets(), natsToken: { mode: 'replace' as const, value: '' } };
    expect(pendingOf(saved, draftOf(saved), secrets).patch).toEqual({});
  });

  it("puts the engine's error under the field it names, an entry by its number", () => {
    expect(fieldErrorOf({ code: 'invalid_argument', message: 'natsUrl: the bus is reached over WebSocket', field: 'natsUrl' })).toEqual({
      key: 'natsUrl',
      message: 'natsUrl: the bus is reached over WebSocket',
    });
    expect(fieldErrorOf({ code: 'invalid_argument', message: 'allowedCidrs[2] must not be empty', field: 'allowedCidrs[2]' })).toEqual({
      key: 'allowedCidrs',
      message: 'entry 3: must not be empty',
    });
    expect(fieldErrorOf({ code: 'invalid_argument', message: 'timeoutMs must be between 100 and 120000', field: 'timeoutMs' })?.message).toBe(
      'must be between 100 and 120000',
    );
    expect(fieldErrorOf({ code: 'internal', message: 'disk full' })).toBeNull();
    expect(fieldErrorOf({ code: 'invalid_argument', message: 'no', field: 'colour' })).toBeNull();
  });

  it('says what was saved, whether the bus reconnects, and what this run keeps', () => {
    const plain = viewOf();
    expect(savedMessage({ concurrency: 20, circuitThreshold: 3 }, plain)).toBe('Saved: breaker threshold, concurrency. In effect now.');
    expect(savedMessage({ natsToken: '' }, plain)).toBe('Saved: token (cleared). In effect now — the engine reconnects to the bus with the new settings.');
    const overridden = viewOf({ natsUrl: { value: 'ws://other:9222', by: '--nats' } });
    expect(savedMessage({ natsUrl: 'ws://bus:9222' }, overridden)).toBe(
      'Saved: bus URL. bus URL: this run keeps --nats; the saved value applies at the next start without it.',
    );
  });

  it('lays out from the descriptors every field the panel does not place by hand, once', () => {
    expect(integerFieldsIn('delivery')).toEqual(['circuitThreshold', 'concurrency', 'timeoutMs']);
    expect(integerFieldsIn('storage')).toEqual(['heldMaxCount', 'heldMaxAgeHours', 'retentionDays', 'retentionMaxRows', 'auditRetentionDays']);
    const laidOut = [
      ...integerFieldsIn('delivery'),
      ...otherFieldsIn('delivery', true),
      ...integerFieldsIn('storage'),
      ...otherFieldsIn('storage', true),
      ...otherFieldsIn('bus', false),
      ...otherFieldsIn('receivers', false),
    ];
    const byHand = SETTING_KEYS.filter((k) => SETTINGS[k].layout === 'by-hand');
    expect([...laidOut, ...byHand].sort()).toEqual([...SETTING_KEYS].sort());
  });
});
