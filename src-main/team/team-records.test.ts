/**
 * The team's records (team-records.ts): a subscription stored with every secret sealed
 * and read back, records that cannot be read, the team's settings, the breaker's steps,
 * and what of an error the team may share.
 */
import { describe, expect, it } from 'vitest';
import { defaultOptions } from '../contract/subscription-options';
import type { KvEntry } from './kv-bucket';
import { TeamKey, TeamKeyError, TeamKeyMismatchError } from './team-key';
import {
  CLEAR_BREAKER,
  TeamRecordError,
  breakerAfterFailure,
  checkTeamName,
  checkTeamSetting,
  configBucketName,
  membersBucketName,
  openSubscription,
  readRecord,
  sanitiseError,
  sealSubscription,
  sharedConsumerName,
  signatureHeaders,
  type TeamSubscription,
} from './team-records';

const key = TeamKey.generate();
const decoder = new TextDecoder();
const encoder = new TextEncoder();

function subscription(overrides: Partial<TeamSubscription> = {}): TeamSubscription {
  return {
    id: '6f1c2a8e-1b7d-4c1e-9a51-0d2f7f9b1c11',
    name: 'splunk',
    url: 'https://siem.example/hook',
    secret: 'canary-secret-1',
    previousSecret: 'canary-previous-2',
    previousSecretUntil: '2030-01-01T00:00:00.000Z',
    patterns: ['attacker.>'],
    retrySchedule: [1, 5],
    options: defaultOptions(),
    secretHeaders: [{ name: 'Authorization', value: 'Bearer canary-header-3' }],
    enabled: true,
    createdAt: '2024-01-01T00:00:00.000Z',
    updatedAt: '2024-01-02T00:00:00.000Z',
    ...overrides,
  };
}

/** An entry as a member writes it: signed. */
const entry = (k: string, value: Uint8Array, operation: KvEntry['operation'] = 'PUT', signer = key): KvEntry => ({
  key: k,
  revision: 7,
  operation,
  value,
  created: '2024-01-01T00:00:00.000Z',
  headers: signatureHeaders(signer, k, operation === 'PUT' ? 'PUT' : 'DEL', value),
});

describe('a subscription record', () => {
  it('holds no secret in clear, and opens back to the same subscription', () => {
    const sub = subscription();
    const stored = sealSubscription(key, sub);
    const text = decoder.decode(stored);
    expect(text).not.toMatch(/canary/);
    expect(text).toContain('splunk');
    expect(openSubscription(key, sub.id, stored)).toEqual(sub);
  });

  it('stores only what is the team\'s, whatever else the object passed carries', () => {
    const local = { ...subscription(), consecutiveFailures: 3, lastError: 'x', filteredCount: 9 };
    expect(Object.keys(JSON.parse(decoder.decode(sealSubscription(key, local))) as object).sort()).toEqual(Object.keys(subscription()).sort());
  });

  it('does not open under another key, or as another subscription', () => {
    const sub = subscription();
    const stored = sealSubscription(key, sub);
    expect(() => openSubscription(TeamKey.generate(), sub.id, stored)).toThrow(TeamKeyMismatchError);
    // Copied to another id: the id check, then the seal's binding, refuse it.
    expect(() => openSubscription(key, 'other-id', stored)).toThrow(TeamRecordError);
    const moved = encoder.encode(decoder.decode(stored).replace(sub.id, 'other-id'));
    expect(() => openSubscription(key, 'other-id', moved)).toThrow(TeamKeyError);
    // A secret header's value moved to another header's name does not open either.
    const two = subscription({ secretHeaders: [{ name: 'A', value: 'a' }, { name: 'B', value: 'b' }] });
    const swapped = JSON.parse(decoder.decode(sealSubscription(key, two))) as { secretHeaders: { name: string; value: string }[] };
    swapped.secretHeaders = [{ name: 'A', value: swapped.secretHeaders[1]?.value as string }];
    expect(() => openSubscription(key, two.id, encoder.encode(JSON.stringify(swapped)))).toThrow(/header\/A: the sealed secret does not open/);
  });

  it('refuses a malformed record by name', () => {
    expect(() => openSubscription(key, 'a', encoder.encode('{'))).toThrow('subs.a: not JSON');
    expect(() => openSubscription(key, 'a', encoder.encode('[]'))).toThrow('subs.a: not a JSON object');
    const sub = subscription({ id: 'a' });
    const o = JSON.parse(decoder.decode(sealSubscription(key, sub))) as Record<string, unknown>;
    expect(() => openSubscription(key, 'a', encoder.encode(JSON.stringify({ ...o, patterns: 'x' })))).toThrow('subs.a: patterns is not a list of text');
    expect(() => openSubscription(key, 'a', encoder.encode(JSON.stringify({ ...o, secret: 'plain' })))).toThrow('subs.a/secret: not a sealed team secret');
    expect(() => sealSubscription(key, subscription({ id: 'a.b' }))).toThrow('"a.b" is not a subscription id');
  });
});

describe('reading the bucket', () => {
  it('reads each kind of record, deletes as null, and skips what this version does not know', () => {
    const sub = subscription({ id: 's1' });
    expect(readRecord(key, entry('subs.s1', sealSubscription(key, sub)))).toEqual({ kind: 'subscription', id: 's1', subscription: sub });
    expect(readRecord(key, entry('subs.s1', new Uint8Array(), 'DEL'))).toEqual({ kind: 'subscription', id: 's1', subscription: null });
    expect(readRecord(key, entry('settings.circuitThreshold', encoder.encode('7')))).toEqual({ kind: 'setting', key: 'circuitThreshold', value: 7 });
    expect(readRecord(key, entry('breaker.s1', encoder.encode('{"consecutiveFailures":2}')))).toEqual({
      kind: 'breaker',
      id: 's1',
      breaker: { ...CLEAR_BREAKER, consecutiveFailures: 2 },
    });
    expect(readRecord(key, entry('settings.natsUrl', encoder.encode('"ws://x"')))).toBeNull();
    expect(readRecord(key, entry('future.thing', encoder.encode('{}')))).toBeNull();
    expect(() => readRecord(key, entry('settings.circuitThreshold', encoder.encode('0')))).toThrow(TeamRecordError);
    expect(() => readRecord(key, entry('team', encoder.encode('{"name":1}')))).toThrow('team: name is not text');
  });

  it('refuses what was not written by a holder of the team key', () => {
    const value = encoder.encode('true');
    const unsigned = { ...entry('settings.allowPrivate', value), headers: {} };
    expect(() => readRecord(key, unsigned)).toThrow('settings.allowPrivate/PUT: not signed with a team key: written by something that does not hold it, ignored');
    const forged = { ...entry('settings.allowPrivate', value), headers: { 'Sluice-Team-Signature': `v1:${key.id}:${'A'.repeat(43)}` } };
    expect(() => readRecord(key, forged)).toThrow(/its signature does not match/);
    // A genuine signature moved to another record, or onto other bytes, or from a delete to a put.
    const moved = { ...entry('settings.allowPrivate', value), headers: entry('settings.circuitThreshold', value).headers };
    expect(() => readRecord(key, moved)).toThrow(/its signature does not match/);
    const altered = { ...entry('settings.circuitThreshold', encoder.encode('5')), value: encoder.encode('6') };
    expect(() => readRecord(key, altered)).toThrow(/its signature does not match/);
    const deleteAsPut = { ...entry('subs.s1', new Uint8Array(0), 'DEL'), operation: 'PUT' as const };
    expect(() => readRecord(key, deleteAsPut)).toThrow(TeamKeyError);
    expect(() => readRecord(key, entry('settings.allowPrivate', value, 'PUT', TeamKey.generate()))).toThrow(TeamKeyMismatchError);
    expect(readRecord(key, entry('settings.allowPrivate', value))).toEqual({ kind: 'setting', key: 'allowPrivate', value: true });
  });
});

describe('the team settings', () => {
  it('are checked by their descriptors, and only the team\'s are accepted', () => {
    expect(checkTeamSetting('retrySchedule', [1, 2])).toEqual([1, 2]);
    expect(() => checkTeamSetting('circuitThreshold', 0)).toThrow(TeamRecordError);
    expect(() => checkTeamSetting('natsUrl' as never, 'ws://x')).toThrow('natsUrl is not a team setting');
  });
});

describe('names', () => {
  it('come from a checked team name', () => {
    expect(configBucketName('blue')).toBe('blue');
    expect(membersBucketName('blue')).toBe('blue-members');
    expect(sharedConsumerName('blue-team_2')).toBe('blue-team_2');
    expect(sharedConsumerName('a'.repeat(24)).length).toBeLessThanOrEqual(32);
    expect(() => configBucketName('a'.repeat(25))).toThrow(/1 to 24/);
    for (const bad of ['', 'a.b', 'a b', 'x'.repeat(25), '*']) expect(() => checkTeamName(bad)).toThrow(TeamRecordError);
  });
});

describe('the shared breaker', () => {
  it('trips once at the threshold and keeps counting after', () => {
    let current = { ...CLEAR_BREAKER };
    const results = [];
    for (let i = 0; i < 4; i++) {
      const { next, result } = breakerAfterFailure(current, `HTTP 50${i}`, 3, `2024-01-01T00:00:0${i}.000Z`);
      results.push(result);
      current = next;
    }
    expect(results.map((r) => [r.consecutiveFailures, r.tripped, r.trippedNow])).toEqual([
      [1, false, false],
      [2, false, false],
      [3, true, true],
      [4, true, false],
    ]);
    expect(current).toMatchObject({ trippedAt: '2024-01-01T00:00:02.000Z', lastFailureAt: '2024-01-01T00:00:03.000Z', lastError: 'HTTP 503' });
  });

  it('shares an error without credentials, query strings or control characters', () => {
    expect(sanitiseError('connect to https://user:pa55@siem.example/hook?token=abc123 failed\r\n\u001b[31mred')).toBe(
      'connect to https://…@siem.example/hook?… failed [31mred',
    );
    expect(sanitiseError('401: Bearer abcdefgh12345678 refused')).toBe('401: Bearer … refused');
    expect(sanitiseError('x'.repeat(2000))).toHaveLength(512);
  });
});
