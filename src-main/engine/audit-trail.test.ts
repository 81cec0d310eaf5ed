import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultSettings } from '../contract/settings-descriptor';
import { defaultOptions } from '../contract/subscription-options';
import { listAudit } from '../store/audit';
import { Store } from '../store/database';
import type { Subscription } from '../store/subscriptions';
import { AuditTrail, BulkChange, replayChange, settingsChange, subscriptionChange, testFireChange } from './audit-trail';

/** Never to be seen in the trail, whatever the change. */
const CANARY = 'canary-7f3e9b2d41c0a8e5';
const canary = (n: string): string => `${CANARY}-${n}`;

function sub(changes: Partial<Subscription> = {}): Subscription {
  return {
    id: 'sub-1',
    name: 'siem',
    url: 'https://siem.example/hook',
    secret: canary('secret'),
    previousSecret: null,
    previousSecretUntil: null,
    patterns: ['attacker.>'],
    retrySchedule: null,
    options: defaultOptions(),
    secretHeaders: [{ name: 'Authorization', value: `Bearer ${canary('header')}` }],
    filteredCount: 0,
    enabled: true,
    consecutiveFailures: 0,
    lastSuccessAt: null,
    lastFailureAt: null,
    lastError: null,
    autoDisabledAt: null,
    createdAt: '2026-12-07T10:00:00.000Z',
    updatedAt: '2026-12-07T10:00:00.000Z',
    ...changes,
  };
}

describe('what a subscription change records', () => {
  it('a creation: every field an operator sets, secrets as "set"', () => {
    const change = subscriptionChange(null, sub());
    expect(change).toMatchObject({ action: 'subscription.create', target: 'siem', targetId: 'sub-1', before: null });
    expect(change?.after).toMatchObject({
      name: 'siem',
      url: 'https://siem.example/hook',
      patterns: ['attacker.>'],
      format: 'decnet',
      state: 'active',
      secret: 'set',
      previousSecret: null,
      secretHeaders: [{ name: 'Authorization', value: 'set' }],
    });
    // The engine's own bookkeeping is not an operator's change.
    expect(change?.after).not.toHaveProperty('consecutiveFailures');
    expect(change?.after).not.toHaveProperty('updatedAt');
  });

  it('a deletion: the fields as they were', () => {
    expect(subscriptionChange(sub(), null)).toMatchObject({ action: 'subscription.delete', before: { name: 'siem', secret: 'set' }, after: null });
  });

  it('an update: only what changed, on both sides', () => {
    const change = subscriptionChange(sub(), sub({ url: 'https://siem.example/v2', options: { ...defaultOptions(), rate: 5 }, updatedAt: 'later' }));
    expect(change).toEqual({
      action: 'subscription.update',
      target: 'siem',
      targetId: 'sub-1',
      before: { url: 'https://siem.example/hook', rate: null },
      after: { url: 'https://siem.example/v2', rate: 5 },
    });
  });

  it('a rename is recorded under the new name, the old one in `before`', () => {
    expect(subscriptionChange(sub(), sub({ name: 'wazuh' }))).toMatchObject({ target: 'wazuh', before: { name: 'siem' }, after: { name: 'wazuh' } });
  });

  it('a rotation of the secret: "set" → "changed", the previous one kept "set" until when', () => {
    const until = '2026-12-08T10:00:00.000Z';
    const change = subscriptionChange(sub(), sub({ secret: canary('new'), previousSecret: canary('secret'), previousSecretUntil: until }));
    expect(change).toMatchObject({
      action: 'subscription.rotate_secret',
      before: { secret: 'set', previousSecret: null, previousSecretUntil: null },
      after: { secret: 'changed', previousSecret: 'set', previousSecretUntil: until },
    });
  });

  it('a change of secret headers: each value "set" before, "changed", "unchanged" or "set" (new) after', () => {
    const before = sub({ secretHeaders: [{ name: 'Authorization', value: canary('a') }, { name: 'X-Key', value: canary('k') }] });
    const after = sub({ secretHeaders: [{ name: 'Authorization', value: canary('a2') }, { name: 'X-Key', value: canary('k') }, { name: 'X-New', value: canary('n') }] });
    expect(subscriptionChange(before, after)).toMatchObject({
      action: 'subscription.update',
      before: { secretHeaders: [{ name: 'Authorization', value: 'set' }, { name: 'X-Key', value: 'set' }] },
      after: {
        secretHeaders: [
          { name: 'Authorization', value: 'changed' },
          { name: 'X-Key', value: 'unchanged' },
          { name: 'X-New', value: 'set' },
        ],
      },
    });
  });

  it('a pause and a re-enable (with what it did with the held events); a trip cleared is a re-enable too', () => {
    const paused = sub({ enabled: false });
    expect(subscriptionChange(sub(), paused)).toMatchObject({ action: 'subscription.pause', before: { state: 'active' }, after: { state: 'paused' } });
    expect(subscriptionChange(paused, sub(), 'discard')).toMatchObject({ action: 'subscription.reenable', before: { state: 'paused' }, after: { state: 'active', held: 'discard' } });
    const tripped = sub({ enabled: false, autoDisabledAt: '2026-12-07T11:00:00.000Z', consecutiveFailures: 5 });
    expect(subscriptionChange(tripped, sub(), 'deliver')).toMatchObject({ action: 'subscription.reenable', before: { state: 'tripped' }, after: { state: 'active', held: 'deliver' } });
  });

  it('nothing, when nothing an operator sets changed', () => {
    expect(subscriptionChange(sub(), sub({ updatedAt: 'later', consecutiveFailures: 3 }))).toBeNull();
    expect(subscriptionChange(sub({ enabled: false }), sub({ enabled: false }))).toBeNull();
  });
});

describe('what a settings change records', () => {
  it('the keys that changed; the password and token only as "set", "changed" or cleared', () => {
    const before = { ...defaultSettings(), natsPassword: canary('pw') };
    const after = { ...before, concurrency: 20, natsPassword: canary('pw2'), natsToken: canary('tok') };
    expect(settingsChange(before, after)).toEqual({
      action: 'settings.update',
      target: 'settings',
      targetId: null,
      before: { concurrency: 10, natsPassword: 'set', natsToken: '' },
      after: { concurrency: 20, natsPassword: 'changed', natsToken: 'set' },
    });
    expect(settingsChange(after, { ...after, natsToken: '' })?.after).toEqual({ natsToken: '' });
    expect(settingsChange(before, { ...before })).toBeNull();
  });
});

describe('Pause all / Resume all', () => {
  it('one change for all the subscriptions it changed, by name; none when none changed', () => {
    const bulk = new BulkChange();
    expect(bulk.summary('pause_all')).toBeNull();
    bulk.record(subscriptionChange(sub(), sub({ enabled: false })) as never);
    bulk.record(subscriptionChange(sub({ id: 'sub-2', name: 'wazuh' }), sub({ id: 'sub-2', name: 'wazuh', enabled: false })) as never);
    expect(bulk.summary('pause_all')).toEqual({
      action: 'pause_all',
      target: '2 subscriptions',
      targetId: null,
      before: { siem: { state: 'active' }, wazuh: { state: 'active' } },
      after: { siem: { state: 'paused' }, wazuh: { state: 'paused' } },
    });
  });
});

describe('a canary secret in every kind of change', () => {
  let dir: string;
  let path: string;
  let store: Store;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sluice-audit-trail-'));
    path = join(dir, 'sluice.db');
    store = await Store.open(path);
  });

  afterEach(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('never reaches the trail, nor the table, nor the file', () => {
    const trail = new AuditTrail(store, { actor: 'alice', source: 'console' });
    const rotated = sub({ secret: canary('new'), previousSecret: canary('secret'), previousSecretUntil: '2026-12-08T10:00:00.000Z' });
    const bulk = new BulkChange();
    bulk.record(subscriptionChange(sub(), sub({ enabled: false })) as never);
    const changes = [
      subscriptionChange(null, sub()),
      subscriptionChange(sub(), rotated),
      subscriptionChange(rotated, sub({ ...rotated, secretHeaders: [{ name: 'Authorization', value: canary('h2') }], url: 'https://x.example/' })),
      subscriptionChange(rotated, null),
      settingsChange(defaultSettings(), { ...defaultSettings(), natsPassword: canary('pw'), natsToken: canary('tok') }),
      settingsChange({ ...defaultSettings(), natsPassword: canary('pw') }, { ...defaultSettings(), natsPassword: canary('pw2') }),
      replayChange({ subscriptionId: 'sub-1', dead: true }, { subscriptionId: 'sub-1', subscriptionName: 'siem' }, 3),
      testFireChange(sub(), { deliveryId: 7, eventId: 'e-1' }),
      bulk.summary('pause_all'),
    ];
    for (const change of changes) {
      expect(change).not.toBeNull();
      trail.record(change as NonNullable<typeof change>);
    }
    store.commit();
    const records = listAudit(store);
    expect(records.map((r) => r.action)).toEqual([
      'subscription.create',
      'subscription.rotate_secret',
      'subscription.update',
      'subscription.delete',
      'settings.update',
      'settings.update',
      'deliveries.replay',
      'subscription.test_fire',
      'pause_all',
    ]);
    expect(JSON.stringify(records)).not.toContain(CANARY);
    const raw = store.sqlite.prepare('SELECT * FROM audit').all();
    expect(raw).toHaveLength(changes.length);
    expect(JSON.stringify(raw)).not.toContain(CANARY);
    store.close();
    for (const file of [path, `${path}-wal`]) if (existsSync(file)) expect(readFileSync(file).includes(CANARY), file).toBe(false);
  });
});
