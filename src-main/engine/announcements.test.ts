import { describe, expect, it } from 'vitest';
import { defaultOptions } from '../contract/subscription-options';
import { ANNOUNCED_ERROR_MAX_CHARS, Announcer, REENABLED_SUBJECT, TRIPPED_SUBJECT, announcedError, encode, trippedAnnouncement } from './announcements';
import { EngineRecords, type EngineRecord } from './records';

const CANARY = 'c4n4ry-TOKEN-77f1';

function sub(over: Partial<Parameters<typeof announcedError>[1]> = {}) {
  return {
    id: 'sub-1',
    name: 'siem',
    url: `https://alice:${CANARY}@siem.example:8443/hook?key=${CANARY}&x=1`,
    secret: 'the-signing-secret-0123456789',
    previousSecret: null,
    secretHeaders: [{ name: 'Authorization', value: `Splunk ${CANARY}` }],
    options: { ...defaultOptions(), headers: [{ name: 'X-Team', value: 'blue-team-header' }] },
    consecutiveFailures: 5,
    lastError: 'HTTP 503',
    autoDisabledAt: '2026-12-06T10:00:00.000Z',
    ...over,
  };
}

describe('announcedError', () => {
  it.each([
    [`POST https://alice:${CANARY}@siem.example:8443/hook?key=${CANARY} failed`, 'POST https://siem.example:8443/hook failed'],
    // A receiver that echoes the token back in its answer.
    [`HEC code 4: token ${CANARY} is invalid`, 'HEC code 4: token … is invalid'],
    [`rejected Authorization: Splunk ${CANARY}`, 'rejected Authorization: …'],
    ['signature the-signing-secret-0123456789 refused', 'signature … refused'],
    ['unknown team blue-team-header', 'unknown team …'],
    [`query key=${CANARY}`, 'query key=…'],
    ['ECONNREFUSED connection refused (127.0.0.1:4000)', 'ECONNREFUSED connection refused (127.0.0.1:4000)'],
  ])('%s → %s', (raw, clean) => {
    expect(announcedError(raw, sub())).toBe(clean);
  });

  it('is one line of at most 300 characters', () => {
    const out = announcedError(`line one\nline two ${'word '.repeat(200)}`, sub());
    expect(out.length).toBeLessThanOrEqual(ANNOUNCED_ERROR_MAX_CHARS);
    expect(out).not.toContain('\n');
    expect(out.endsWith('…')).toBe(true);
  });

  it('leaves short, common words alone (a short header value is not taken for a credential)', () => {
    const s = sub({ secretHeaders: [{ name: 'X-A', value: 'Bearer abc' }], url: 'https://siem.example/hook?a=1' });
    expect(announcedError('HTTP 401 abc: sign in first', s)).toBe('HTTP 401 abc: sign in first');
  });
});

describe('trippedAnnouncement', () => {
  it('says who, when, how many failures, the sanitised last error and the held count', () => {
    const a = trippedAnnouncement(sub({ lastError: `HEC code 4: token ${CANARY} is invalid` } as never), '2026-12-06T10:00:00.000Z', 3);
    expect(a.subject).toBe(TRIPPED_SUBJECT);
    expect(JSON.parse(new TextDecoder().decode(encode(a)))).toEqual({
      name: 'siem',
      subscriptionId: 'sub-1',
      at: '2026-12-06T10:00:00.000Z',
      consecutiveFailures: 5,
      lastError: 'HEC code 4: token … is invalid',
      held: 3,
    });
  });
});

describe('Announcer', () => {
  const setup = (offline: boolean, connected = true) => {
    const records = new EngineRecords();
    const seen: EngineRecord[] = [];
    records.on((r) => seen.push(r));
    const published: { subject: string; body: unknown }[] = [];
    const announcer = new Announcer({
      publish: (subject, data) => {
        if (!connected) return false;
        published.push({ subject, body: JSON.parse(new TextDecoder().decode(data)) });
        return true;
      },
      held: () => 7,
      records,
      offline,
    });
    return { announcer, seen, published };
  };

  it('publishes a trip at once and records it', () => {
    const { announcer, seen, published } = setup(false);
    announcer.tripped(sub() as never, '2026-12-06T10:00:00.000Z');
    expect(published).toEqual([{ subject: TRIPPED_SUBJECT, body: expect.objectContaining({ name: 'siem', held: 7 }) }]);
    expect(seen).toEqual([{ kind: 'announcement', subject: TRIPPED_SUBJECT, sent: true, subscriptionId: 'sub-1', name: 'siem' }]);
  });

  it('drops an announcement the bus cannot take, with a record (never queued, never thrown)', () => {
    const { announcer, seen, published } = setup(false, false);
    announcer.reenabled(sub() as never, 'discard', 4);
    expect(published).toEqual([]);
    expect(seen).toEqual([{ kind: 'announcement', subject: REENABLED_SUBJECT, sent: false, subscriptionId: 'sub-1', name: 'siem' }]);
    expect(announcer.take()).toEqual([]);
  });

  it('announces the re-enable of a tripped subscription only, with the analyst\'s choice and the count', () => {
    const { announcer, published } = setup(false);
    announcer.reenabled({ id: 'p', name: 'paused-one', autoDisabledAt: null }, 'deliver', 2);
    expect(published).toEqual([]);
    announcer.reenabled(sub() as never, 'deliver', 2);
    expect(published).toEqual([{ subject: REENABLED_SUBJECT, body: { name: 'siem', subscriptionId: 'sub-1', at: expect.any(String), held: 'deliver', heldCount: 2 } }]);
  });

  it('offline (a CLI command), keeps them for the command to publish, each once', () => {
    const { announcer, seen, published } = setup(true);
    announcer.reenabled(sub() as never, 'discard', 1);
    expect(published).toEqual([]);
    expect(seen).toEqual([]);
    expect(announcer.take().map((a) => a.subject)).toEqual([REENABLED_SUBJECT]);
    expect(announcer.take()).toEqual([]);
  });
});
