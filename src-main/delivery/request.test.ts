import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { defaultOptions, MASKED_VALUE, type SubscriptionOptions } from '../contract/subscription-options';
import { generateWebhookSecret } from './formats/standard-webhooks';
import { buildRequest, eventFromBody, judgeAnswer, type RequestPlan } from './request';
import { buildBody, buildHeaders } from './wire';

const EVENT = { id: 'evt-1', topic: 'attacker.observed', type: 'first_sighting', ts: '2026-11-28T10:00:00+00:00', payload: { ip: '203.0.113.7', decky: 'web-01' } };
const BODY = buildBody(EVENT);
const NOW = Date.parse('2026-11-28T10:00:05Z');
const CONTEXT = { userAgent: 'Sluice/test', nowMs: NOW };

function plan(options: Partial<SubscriptionOptions> = {}, over: Partial<RequestPlan> = {}): RequestPlan {
  return { url: 'https://receiver.example/hook', secret: 'test-secret-0123456789abcdef', previousSecret: null, options: { ...defaultOptions(), ...options }, secretHeaders: [], ...over };
}

async function built(p: RequestPlan, events = [{ body: BODY, id: EVENT.id, topic: EVENT.topic }]) {
  const result = await buildRequest(p, events, CONTEXT);
  if (!result.ok) throw new Error(result.error);
  return result.request;
}

describe('buildRequest', () => {
  it('sends the decnet format exactly as the wire module does: same bytes, same headers', async () => {
    const request = await built(plan());
    expect(request.body.equals(BODY)).toBe(true);
    expect(request.url).toBe('https://receiver.example/hook');
    expect(request.headers).toEqual(buildHeaders({ secret: 'test-secret-0123456789abcdef', body: BODY, event: EVENT, userAgent: 'Sluice/test', nowMs: NOW }));
  });

  it('signs the Standard Webhooks way over the same body, verified by the official package', async () => {
    const secret = generateWebhookSecret();
    // The verifier judges the timestamp against its own clock: sign now.
    const result = await buildRequest(plan({ format: 'standard-webhooks' }, { secret }), [{ body: BODY, id: EVENT.id, topic: EVENT.topic }], { ...CONTEXT, nowMs: Date.now() });
    const request = result.ok ? result.request : expect.unreachable();
    expect(request.body.equals(BODY)).toBe(true);
    expect(request.headers['webhook-id']).toBe('evt-1');
    expect(request.headers['X-DECNET-Signature']).toBeUndefined();
    expect(new Webhook(secret).verify(request.body.toString(), request.headers)).toMatchObject({ id: 'evt-1' });
  });

  it('puts an Elasticsearch document under its event id, and signs the body it sends', async () => {
    const request = await built(plan({ format: 'elasticsearch', esIndex: 'decnet-2026' }, { url: 'https://es.example:9200/' }));
    expect(request.url).toBe('https://es.example:9200/decnet-2026/_doc/evt-1');
    expect(request.headers['X-DECNET-Signature']).toBe(buildHeaders({ secret: 'test-secret-0123456789abcdef', body: request.body, event: EVENT, userAgent: 'x', nowMs: NOW })['X-DECNET-Signature']);
    expect(JSON.parse(request.body.toString())).toMatchObject({ event: { id: 'evt-1' }, source: { ip: '203.0.113.7' } });
  });

  it('batches Splunk HEC events into one body', async () => {
    const second = buildBody({ ...EVENT, id: 'evt-2' });
    const request = await built(plan({ format: 'splunk-hec', batch: 10 }), [
      { body: BODY, id: 'evt-1', topic: EVENT.topic },
      { body: second, id: 'evt-2', topic: EVENT.topic },
    ]);
    expect(request.body.toString().split('\n').map((l) => (JSON.parse(l) as { event: { id: string } }).event.id)).toEqual(['evt-1', 'evt-2']);
  });

  it('builds the body with a transform, or says why it could not', async () => {
    const request = await built(plan({ transform: '{"text": "hit from " & payload.ip}' }));
    expect(request.body.toString()).toBe('{"text":"hit from 203.0.113.7"}');
    const failed = await buildRequest(plan({ transform: '$error("no score")' }), [{ body: BODY, id: 'evt-1', topic: EVENT.topic }], CONTEXT);
    expect(failed).toEqual({ ok: false, error: 'transform failed: no score' });
  });

  it('sends secret headers and records them masked', async () => {
    const request = await built(plan({ headers: [{ name: 'X-Env', value: 'prod' }] }, { secretHeaders: [{ name: 'Authorization', value: 'Splunk abc' }] }));
    expect(request.headers['Authorization']).toBe('Splunk abc');
    expect(request.recordedHeaders['Authorization']).toBe(MASKED_VALUE);
    expect(request.recordedHeaders['X-Env']).toBe('prod');
  });

  it('reads the stored body back to the event', () => {
    expect(eventFromBody(BODY)).toEqual(EVENT);
  });

  it("reads a product's answer by its format", () => {
    expect(judgeAnswer('splunk-hec', 503, '{"text":"Server is busy","code":9}')?.verdict).toBe('retryable');
    expect(judgeAnswer('thehive', 400, '{"type":"CreateError","message":"Alert already exists"}')?.verdict).toBe('success');
    expect(judgeAnswer('decnet', 400, '{"code":4}')).toBeNull();
  });
});
