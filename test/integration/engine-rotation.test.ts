/**
 * Dual-secret rotation (issue 5, item 2), end to end: a real engine, a real
 * nats-server and real receivers. During the overlap each delivery carries
 * `X-DECNET-Signature` (new secret) and `X-DECNET-Signature-Previous` (old secret), each
 * verifiable with its own secret; after it, only the new one, and the old secret is
 * forgotten. Plus the rules of the patch and the CLI's `--keep-previous`.
 */
import { spawn } from 'node:child_process';
import BetterSqlite3 from 'better-sqlite3';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SubscriptionView } from '../../src-main/contract/views';
import { sign } from '../../src-main/delivery/wire';
import { resolveKeySource } from '../../src-main/store/key-source';
import { envelope, startTestEngine, unwrap, type TestEngine } from '../harness/engine';
import { startReceiver, type Receiver, type ReceivedRequest } from '../harness/receiver';

const OLD = 'old-secret-0123456789abcdef';
const NEW = 'new-secret-0123456789abcdef';
const CLI = fileURLToPath(new URL('../../out/main/cli.js', import.meta.url));

let t: TestEngine;
let receiver: Receiver;
let sub: SubscriptionView;

beforeEach(async () => {
  // The key the CLI below uses by default (this test file's config folder), as a
  // `sluice run` beside it would.
  t = await startTestEngine({ engine: { cipher: (await resolveKeySource(undefined)).cipher } });
  receiver = await startReceiver();
  sub = unwrap(
    await t.api['subscriptions.create']({ name: 'siem', url: receiver.url, secret: OLD, presets: [], patterns: ['attacker.>'], enabled: true }),
  ).subscription;
  await t.engine.busReady();
});

afterEach(async () => {
  await receiver.close();
  await t.cleanup();
});

async function deliverOne(id: string): Promise<ReceivedRequest> {
  const before = receiver.requests.length;
  await t.publish('attacker.observed', envelope('x', { id }, id));
  const got = await receiver.waitForRequests(before + 1);
  const request = got[before] as ReceivedRequest;
  expect(request.headers['x-decnet-event-id']).toBe(id);
  return request;
}

/** What a receiver holding `secret` concludes: which header verifies, if any. */
function verifies(request: ReceivedRequest, secret: string): 'current' | 'previous' | null {
  const expected = sign(secret, request.body);
  if (request.headers['x-decnet-signature'] === expected) return 'current';
  if (request.headers['x-decnet-signature-previous'] === expected) return 'previous';
  return null;
}

function storedPrevious(): { previous_secret: string | null; previous_secret_until: string | null } {
  const conn = new BetterSqlite3(t.dbPath, { fileMustExist: true });
  try {
    return conn.prepare('SELECT previous_secret, previous_secret_until FROM subscriptions WHERE id = ?').get(sub.id) as never;
  } finally {
    conn.close();
  }
}

describe('rotating a secret with an overlap', () => {
  it('signs with both secrets during the window, each verifiable, and only the new one after it', async () => {
    const before = await deliverOne('before');
    expect(verifies(before, OLD)).toBe('current');
    expect(before.headers['x-decnet-signature-previous']).toBeUndefined();

    const rotated = unwrap(await t.api['subscriptions.update'](sub.id, { secret: NEW, previousSecretValidHours: 1 }));
    const until = Date.parse(rotated.previousSecretUntil ?? '');
    expect(until - Date.now()).toBeGreaterThan(59 * 60_000);
    expect(until - Date.now()).toBeLessThanOrEqual(60 * 60_000);

    const during = await deliverOne('during');
    // A receiver already switched and one not yet switched both accept it.
    expect(verifies(during, NEW)).toBe('current');
    expect(verifies(during, OLD)).toBe('previous');
    expect(during.headers['x-decnet-signature']).not.toBe(during.headers['x-decnet-signature-previous']);
    // The detail view shows what went on the wire: both signatures.
    const recorded = await t.waitForDelivery((d) => d.eventId === 'during' && d.outcome === 'delivered');
    const detail = unwrap(await t.api['deliveries.get'](recorded.id));
    expect(detail.requestHeaders?.['X-DECNET-Signature-Previous']).toBe(during.headers['x-decnet-signature-previous']);
    // A test fire during the window carries both too.
    const test = unwrap(await t.api['subscriptions.testFire'](sub.id));
    expect(test.delivered).toBe(true);
    const fired = receiver.requests.at(-1) as ReceivedRequest;
    expect([verifies(fired, NEW), verifies(fired, OLD)]).toEqual(['current', 'previous']);

    // The window ends (as stored; another process could have written it). Written once
    // the engine's group commit is done: this process must not wait on its own lock.
    await t.engine.durable();
    const conn = new BetterSqlite3(t.dbPath, { fileMustExist: true });
    conn.prepare('UPDATE subscriptions SET previous_secret_until = ? WHERE id = ?').run(new Date(Date.now() - 1000).toISOString(), sub.id);
    conn.close();
    await t.waitForRecord((r) => r.kind === 'reload' && r.reason === 'database changed');
    const after = await deliverOne('after');
    expect(verifies(after, NEW)).toBe('current');
    expect(verifies(after, OLD)).toBeNull();
    expect(after.headers['x-decnet-signature-previous']).toBeUndefined();
    // The old secret is forgotten, and the console no longer shows a rotation.
    expect(storedPrevious()).toEqual({ previous_secret: null, previous_secret_until: null });
    expect(unwrap(await t.api['subscriptions.list']())[0]?.previousSecretUntil).toBeNull();
  });

  it('a tiny window ends on its own', async () => {
    unwrap(await t.api['subscriptions.update'](sub.id, { secret: NEW, previousSecretValidHours: 1 / 3600 }));
    const during = await deliverOne('during');
    expect(verifies(during, OLD)).toBe('previous');
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const after = await deliverOne('after');
    expect(verifies(after, NEW)).toBe('current');
    expect(after.headers['x-decnet-signature-previous']).toBeUndefined();
  });

  it('without an overlap (0 or absent) the new secret applies at once', async () => {
    for (const patch of [{ secret: NEW }, { secret: `${NEW}-2`, previousSecretValidHours: 0 }]) {
      const view = unwrap(await t.api['subscriptions.update'](sub.id, patch));
      expect(view.previousSecretUntil).toBeNull();
      const request = await deliverOne(`now-${patch.secret}`);
      expect(verifies(request, patch.secret)).toBe('current');
      expect(request.headers['x-decnet-signature-previous']).toBeUndefined();
    }
  });

  it('rotating again during a window keeps only the secret just replaced; 0 hours alone ends the overlap', async () => {
    unwrap(await t.api['subscriptions.update'](sub.id, { secret: NEW, previousSecretValidHours: 2 }));
    const third = 'third-secret-0123456789abc';
    unwrap(await t.api['subscriptions.update'](sub.id, { secret: third, previousSecretValidHours: 1 }));
    const request = await deliverOne('third');
    expect(verifies(request, third)).toBe('current');
    expect(verifies(request, NEW)).toBe('previous');
    expect(verifies(request, OLD)).toBeNull();

    const ended = unwrap(await t.api['subscriptions.update'](sub.id, { previousSecretValidHours: 0 }));
    expect(ended.previousSecretUntil).toBeNull();
    expect((await deliverOne('ended')).headers['x-decnet-signature-previous']).toBeUndefined();
  });

  it('refuses an overlap without a new secret, or outside 0–720 hours, naming the field', async () => {
    const alone = await t.api['subscriptions.update'](sub.id, { previousSecretValidHours: 5 });
    expect(alone.ok ? null : alone.error).toMatchObject({ code: 'invalid_argument', field: 'previousSecretValidHours' });
    for (const hours of [-1, 721, Number.NaN]) {
      const r = await t.api['subscriptions.update'](sub.id, { secret: NEW, previousSecretValidHours: hours });
      expect(r.ok ? null : r.error, String(hours)).toMatchObject({ code: 'invalid_argument', field: 'previousSecretValidHours' });
    }
    expect(verifies(await deliverOne('unchanged'), OLD)).toBe('current');
  });
});

describe('the CLI', () => {
  function cli(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [CLI, ...args, '--db', t.dbPath], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
      child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
      child.once('exit', (code) => resolve({ code, stdout, stderr }));
    });
  }

  it('subs update --secret S --keep-previous HOURS rotates with an overlap', async () => {
    const result = await cli('subs', 'update', 'siem', '--secret', NEW, '--keep-previous', '2', '--json', '--nats', t.nats.wsUrl);
    expect(result.code, result.stderr).toBe(0);
    const view = JSON.parse(result.stdout) as SubscriptionView;
    expect(Date.parse(view.previousSecretUntil ?? '') - Date.now()).toBeGreaterThan(119 * 60_000);
    const human = await cli('subs', 'update', 'siem', '--secret', `${NEW}-b`, '--keep-previous', '0.5', '--nats', t.nats.wsUrl);
    expect(human.stdout).toContain('the previous secret stays valid until');
    // The running engine picks the change up (reload signal or database poll).
    await t.waitForRecord((r) => r.kind === 'reload' && r.reason !== 'start', 1500).catch(() => undefined);
    await t.engine.busReady();
    const request = await deliverOne('cli');
    expect(verifies(request, `${NEW}-b`)).toBe('current');
    expect(verifies(request, NEW)).toBe('previous');

    const alone = await cli('subs', 'update', 'siem', '--keep-previous', '2');
    expect(alone.code).toBe(2);
    expect(alone.stderr).toContain('--keep-previous goes with --secret');
    const bad = await cli('subs', 'update', 'siem', '--secret', NEW, '--keep-previous', '721');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('0–720');
  });
});
