/**
 * The engine end to end under plain Node: a real nats-server, real HTTP receivers on
 * 127.0.0.1, a real SQLite file. Covers every behaviour of the origin worker's test and
 * the delivery rules of docs/design.md#events-in and docs/design.md#wire-format.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildBody, sign } from '../../src-main/delivery/wire';
import { envelope, startTestEngine, unwrap, type TestEngine } from '../harness/engine';
import { redirect, retryAfter, startReceiver, status, type Receiver } from '../harness/receiver';

const SECRET = 'test-secret-0123456789abcdef';

let t: TestEngine;
let receiver: Receiver;

beforeEach(async () => {
  t = await startTestEngine({ nats: { maxPayload: 2 * 1024 * 1024 } });
  receiver = await startReceiver();
});

afterEach(async () => {
  await receiver.close();
  await t.cleanup();
});

async function subscribe(patterns: string[], url = receiver.url, name = 'siem') {
  const created = unwrap(await t.api['subscriptions.create']({ name, url, secret: SECRET, patterns }));
  await t.engine.busReady();
  return created.subscription;
}

describe('dispatch', () => {
  it('POSTs a matching event, signed, with the topic and id headers', async () => {
    const sub = await subscribe(['attacker.>']);
    const event = { v: 1, id: 'evt-1', type: 'first_sighting', ts: '2026-11-28T10:00:00+00:00', payload: { ip: '203.0.113.7', port: 22 } };
    await t.publish('attacker.observed', event);
    const [req] = await receiver.waitForRequests(1);
    const expectedBody = buildBody({ id: 'evt-1', topic: 'attacker.observed', type: 'first_sighting', ts: event.ts, payload: event.payload });
    expect(req?.method).toBe('POST');
    expect(req?.body.equals(expectedBody)).toBe(true);
    expect(req?.headers['x-decnet-signature']).toBe(sign(SECRET, expectedBody));
    expect(req?.headers['x-decnet-event-topic']).toBe('attacker.observed');
    expect(req?.headers['x-decnet-event-id']).toBe('evt-1');
    expect(req?.headers['content-type']).toBe('application/json');
    expect(req?.headers['user-agent']).toMatch(/^Sluice\/\d+\.\d+\.\d+$/);
    expect(Math.abs(Number(req?.headers['x-decnet-timestamp']) - Date.now() / 1000)).toBeLessThan(5);

    const [final] = await t.waitForFinal(1);
    expect(final).toMatchObject({ outcome: 'delivered', statusCode: 200, attempts: 1, subscriptionId: sub.id, eventId: 'evt-1' });
    const detail = unwrap(await t.api['deliveries.get'](final!.id));
    expect(detail.requestBody).toBe(expectedBody.toString());
    expect(detail.requestHeaders?.['X-DECNET-Signature']).toBe(sign(SECRET, expectedBody));
    expect(detail.attemptLog).toHaveLength(1);
    expect(detail.attemptLog[0]?.address).toBe('127.0.0.1');
    const after = unwrap(await t.api['subscriptions.list']())[0];
    expect(after?.consecutiveFailures).toBe(0);
    expect(after?.lastSuccessAt).not.toBeNull();
  });

  it('sends nothing for an event that matches no pattern', async () => {
    await subscribe(['attacker.>']);
    await t.publish('decky.web-01.state', envelope('state', { up: true }));
    await t.publish('attacker', envelope('bare', {}));
    await t.publish('attacker.observed', envelope('sentinel', {}, 'sentinel'));
    const requests = await receiver.waitForRequests(1);
    await t.waitForFinal(1);
    expect(requests.map((r) => r.headers['x-decnet-event-id'])).toEqual(['sentinel']);
    expect(receiver.requests).toHaveLength(1);
  });

  it('delivers once per subscription however many of its patterns match', async () => {
    const other = await startReceiver();
    try {
      await subscribe(['attacker.>', 'attacker.*', 'attacker.observed', '>']);
      await subscribe(['attacker.observed', '*.observed'], other.url, 'soar');
      await t.publish('attacker.observed', envelope('x', { n: 1 }, 'once'));
      await t.publish('system.log', envelope('x', { n: 2 }, 'sentinel'));
      await receiver.waitForRequests(2);
      await t.waitForFinal(3);
      expect(receiver.requests.map((r) => r.headers['x-decnet-event-id'])).toEqual(['once', 'sentinel']);
      expect(other.requests.map((r) => r.headers['x-decnet-event-id'])).toEqual(['once']);
    } finally {
      await other.close();
    }
  });

  it('turns a plain JSON object into the payload of a generated envelope', async () => {
    await subscribe(['system.>']);
    await t.publish('system.log', { msg: 'hello' });
    const [req] = await receiver.waitForRequests(1);
    const body = JSON.parse(req!.body.toString()) as Record<string, unknown>;
    expect(body).toMatchObject({ v: 1, topic: 'system.log', type: '', payload: { msg: 'hello' } });
    expect(req?.headers['x-decnet-event-id']).toBe(body['id']);
  });
});

describe('retries and terminal answers', () => {
  it('records a failure on 5xx after 1 + len(schedule) attempts', async () => {
    receiver.setBehavior(status(503));
    await subscribe(['attacker.>']);
    await t.publish('attacker.observed', envelope('x', {}));
    const [final] = await t.waitForFinal(1);
    expect(final).toMatchObject({ outcome: 'dead', attempts: 3, statusCode: 503, error: 'http 503' });
    expect(receiver.requests).toHaveLength(3);
    const ids = new Set(receiver.requests.map((r) => r.headers['x-decnet-event-id']));
    expect(ids.size).toBe(1);
    const [sub] = unwrap(await t.api['subscriptions.list']());
    expect(sub).toMatchObject({ consecutiveFailures: 1, lastError: 'http 503', state: 'active' });
    expect(sub?.lastFailureAt).not.toBeNull();
  });

  it('retries 429 and succeeds when the receiver recovers', async () => {
    let calls = 0;
    receiver.setBehavior((req, res) => {
      calls++;
      if (calls === 1) return retryAfter(0)(req, res);
      return status(202)(req, res);
    });
    await subscribe(['attacker.>']);
    await t.publish('attacker.observed', envelope('x', {}));
    const [final] = await t.waitForFinal(1);
    expect(final).toMatchObject({ outcome: 'delivered', attempts: 2, statusCode: 202 });
  });

  it('ends at once on a 4xx: non-retryable', async () => {
    receiver.setBehavior(status(404));
    await subscribe(['attacker.>']);
    await t.publish('attacker.observed', envelope('x', {}));
    const [final] = await t.waitForFinal(1);
    expect(final).toMatchObject({ outcome: 'dead', attempts: 1, statusCode: 404, error: 'non-retryable 404' });
    expect(receiver.requests).toHaveLength(1);
  });

  it('does not follow a redirect', async () => {
    const target = await startReceiver();
    try {
      receiver.setBehavior(redirect(target.url));
      await subscribe(['attacker.>']);
      await t.publish('attacker.observed', envelope('x', {}));
      const [final] = await t.waitForFinal(1);
      expect(final).toMatchObject({ outcome: 'dead', attempts: 1, statusCode: 302, error: 'redirect 302 not followed' });
      expect(target.requests).toHaveLength(0);
    } finally {
      await target.close();
    }
  });

  it('cuts a receiver that drips one byte a second at the attempt deadline', async () => {
    unwrap(await t.api['settings.update']({ timeoutMs: 1500, retrySchedule: [] }));
    receiver.setBehavior((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const timer = setInterval(() => res.write('x'), 1000);
      res.on('close', () => clearInterval(timer));
    });
    await subscribe(['attacker.>']);
    const started = Date.now();
    await t.publish('attacker.observed', envelope('x', {}));
    const [final] = await t.waitForFinal(1);
    expect(final?.outcome).toBe('dead');
    expect(final?.error).toMatch(/timeout/);
    expect(Date.now() - started).toBeLessThan(4000);
  });
});

describe('bad bus messages', () => {
  it('rejects what is not a JSON object, with a reason, and keeps delivering', async () => {
    await subscribe(['attacker.>']);
    const bad: [string, Uint8Array][] = [
      ['not JSON', new TextEncoder().encode('hello there')],
      ['array', new TextEncoder().encode('[1,2]')],
      ['invalid UTF-8', new Uint8Array([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x3a, 0x31, 0x7d])],
      ['over 1 MiB', new TextEncoder().encode(JSON.stringify({ blob: 'a'.repeat(1024 * 1024 + 10) }))],
    ];
    for (const [, data] of bad) await t.publish('attacker.observed', data);
    await t.publish('attacker.observed', envelope('ok', {}, 'after-bad'));
    const [req] = await receiver.waitForRequests(1);
    expect(req?.headers['x-decnet-event-id']).toBe('after-bad');
    await t.waitForFinal(5, () => true);
    const rejected = unwrap(await t.api['deliveries.list']({ outcome: 'rejected' }));
    expect(rejected.map((d) => d.error).reverse()).toEqual([
      expect.stringContaining('not JSON'),
      expect.stringContaining('a JSON array, not a JSON object'),
      expect.stringContaining('not valid UTF-8'),
      expect.stringContaining('over the 1 MiB limit'),
    ]);
    expect(rejected.every((d) => d.topic === 'attacker.observed' && d.subscriptionId === null)).toBe(true);
    const st = unwrap(await t.api['status.get']());
    expect(st.intake).toEqual({ received: 5, rejected: 4 });
    expect(receiver.requests).toHaveLength(1);
  });
});
