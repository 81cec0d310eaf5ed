import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { parseJson } from '../json';
import { chatLine, renderChat } from './chat';
import { ecsDocument, judgeBulkItems, renderElastic, renderElasticBulk } from './elasticsearch';
import { hecTime, judgeHecAnswer, renderHec } from './splunk-hec';
import { generateWebhookSecret, standardWebhookHeaders, webhookSecretError } from './standard-webhooks';
import { judgeTheHiveAnswer, renderTheHive, theHiveAlert } from './thehive';
import type { FormatEvent } from './types';

const EVENT: FormatEvent = {
  id: '0b7f9a4e-3c1d-4e8f-9a6b-2d5c7e1f0a3b',
  topic: 'canary.fin-01.triggered',
  type: 'canary_hit',
  ts: '2026-11-28T10:15:30.250000+00:00',
  payload: { ip: '203.0.113.7', port: 445, decky: 'fin-01', token: 'aws-key-7', score: parseJson('72.50') },
};

describe('standard-webhooks', () => {
  const body = Buffer.from('{"hello":"world"}');

  it('is verified by the official standardwebhooks package, with the event id as webhook-id', () => {
    const secret = generateWebhookSecret();
    expect(webhookSecretError(secret)).toBeNull();
    const headers = standardWebhookHeaders({ secret, previousSecret: null, id: EVENT.id, body, nowMs: Date.now() });
    expect(headers['webhook-id']).toBe(EVENT.id);
    expect(new Webhook(secret).verify(body.toString(), headers)).toEqual({ hello: 'world' });
  });

  it('carries both signatures during a rotation: a receiver with either secret verifies', () => {
    const [current, previous] = [generateWebhookSecret(), generateWebhookSecret()];
    const headers = standardWebhookHeaders({ secret: current, previousSecret: previous, id: 'evt-1', body, nowMs: Date.now() });
    expect(headers['webhook-signature']?.split(' ')).toHaveLength(2);
    expect(() => new Webhook(current).verify(body.toString(), headers)).not.toThrow();
    expect(() => new Webhook(previous).verify(body.toString(), headers)).not.toThrow();
    expect(() => new Webhook(generateWebhookSecret()).verify(body.toString(), headers)).toThrow(WebhookVerificationError);
  });

  it('is rejected by the official verifier when stale or tampered', () => {
    const secret = generateWebhookSecret();
    const stale = standardWebhookHeaders({ secret, previousSecret: null, id: 'evt-2', body, nowMs: Date.now() - 10 * 60_000 });
    expect(() => new Webhook(secret).verify(body.toString(), stale)).toThrow(/too old/i);
    const fresh = standardWebhookHeaders({ secret, previousSecret: null, id: 'evt-2', body, nowMs: Date.now() });
    expect(() => new Webhook(secret).verify('{"hello":"w0rld"}', fresh)).toThrow(WebhookVerificationError);
  });

  it('refuses secrets not in the whsec_ form, with the reason', () => {
    expect(webhookSecretError('plain-secret-of-thirty-chars!!')).toMatch(/starts with whsec_/);
    expect(webhookSecretError('whsec_not base64!')).toMatch(/base64/);
    expect(webhookSecretError(`whsec_${Buffer.alloc(8).toString('base64')}`)).toMatch(/24–64 bytes/);
  });
});

describe('splunk-hec', () => {
  it('builds a HEC event: time in epoch seconds from the event ts, the event whole, the metadata set', () => {
    const rendered = renderHec([EVENT], { index: 'decnet', source: '', sourcetype: 'decnet:event', host: 'sluice-ws1' });
    const hec = JSON.parse(rendered.body.toString()) as Record<string, unknown>;
    expect(hec).toMatchObject({ time: 1795860930.25, host: 'sluice-ws1', source: 'decnet:canary.fin-01.triggered', sourcetype: 'decnet:event', index: 'decnet' });
    expect(hec['event']).toMatchObject({ id: EVENT.id, topic: EVENT.topic, type: EVENT.type, payload: { ip: '203.0.113.7' } });
    // The payload's numbers are written as in the DECNET body (Python's form: 72.5).
    expect(rendered.body.toString()).toContain('"score":72.5,');
    expect(hecTime('not a time')).toBeNull();
  });

  it('batches events back to back, one JSON object each, as HEC takes them', () => {
    const second = { ...EVENT, id: 'second' };
    const lines = renderHec([EVENT, second], { index: '', source: '', sourcetype: '', host: '' }).body.toString().split('\n');
    expect(lines.map((l) => (JSON.parse(l) as { event: { id: string } }).event.id)).toEqual([EVENT.id, 'second']);
  });

  it.each([
    [200, '{"text":"Success","code":0}', 'success'],
    [403, '{"text":"Invalid token","code":4}', 'terminal'],
    [401, '{"text":"Token is required","code":2}', 'terminal'],
    [400, '{"text":"Invalid data format","code":6,"invalid-event-number":0}', 'terminal'],
    [503, '{"text":"Server is busy","code":9}', 'retryable'],
    [503, '{"text":"HEC is unhealthy, queues are full","code":18}', 'retryable'],
  ])('reads HTTP %i %s as %s', (status, answer, verdict) => {
    expect(judgeHecAnswer(status, answer)?.verdict).toBe(verdict);
  });

  it('says what a terminal code means, and leaves an answer without a code to the status', () => {
    expect(judgeHecAnswer(403, '{"text":"Invalid token","code":4}')?.error).toMatch(/HEC code 4: the HEC token is invalid/);
    expect(judgeHecAnswer(502, '<html>bad gateway</html>')).toBeNull();
  });
});

describe('elasticsearch', () => {
  it('indexes under the event id, so a repeat overwrites the same document', () => {
    const rendered = renderElastic(EVENT, { index: 'decnet-2026' });
    expect(rendered.path).toBe(`/decnet-2026/_doc/${EVENT.id}`);
    expect(renderElastic(EVENT, { index: 'decnet-2026' }).body.equals(rendered.body)).toBe(true);
  });

  it('maps to ECS where a field fits and keeps the whole event under decnet', () => {
    const doc = ecsDocument(EVENT);
    expect(doc['@timestamp']).toBe('2026-11-28T10:15:30.250Z');
    expect(doc['event']).toMatchObject({ id: EVENT.id, action: 'canary_hit', kind: 'alert', module: 'decnet' });
    expect(doc['source']).toEqual({ ip: '203.0.113.7', port: 445 });
    expect(doc['observer']).toEqual({ name: 'fin-01', type: 'honeypot' });
    expect(ecsDocument({ ...EVENT, payload: { ip: 'not-an-ip' } })['source']).toBeUndefined();
    // DECNET's components also name it source_ip (canary hits) or src_ip.
    expect(ecsDocument({ ...EVENT, payload: { source_ip: '198.51.100.9' } })['source']).toEqual({ ip: '198.51.100.9' });
  });

  it('batches as bulk NDJSON and reads per-item failures', () => {
    const bulk = renderElasticBulk([EVENT, { ...EVENT, id: 'b' }], { index: 'x' });
    expect(bulk.path).toBe('/_bulk?filter_path=errors,items.*._id,items.*.status,items.*.error.type,items.*.error.reason');
    expect(bulk.contentType).toBe('application/x-ndjson');
    const lines = bulk.body.toString().split('\n');
    expect(lines).toHaveLength(5);
    expect(JSON.parse(lines[0] as string)).toEqual({ index: { _index: 'x', _id: EVENT.id } });
    const verdicts = judgeBulkItems(
      JSON.stringify({
        errors: true,
        items: [
          { index: { _id: 'a', status: 201 } },
          { index: { _id: 'b', status: 429, error: { type: 'es_rejected_execution_exception', reason: 'queue full' } } },
          { index: { _id: 'c', status: 400, error: { type: 'mapper_parsing_exception', reason: 'failed to parse' } } },
        ],
      }),
    );
    expect([...(verdicts?.retry ?? [])]).toEqual(['b']);
    expect(verdicts?.dead.get('c')).toMatch(/400 mapper_parsing_exception: failed to parse/);
  });
});

describe('thehive', () => {
  it('makes an alert with the fields TheHive requires, sourceRef the event id', () => {
    const alert = theHiveAlert(EVENT, { type: '', source: '', severity: null });
    expect(alert).toMatchObject({ type: 'decnet', source: 'sluice', sourceRef: EVENT.id, severity: 3 });
    expect(alert['title']).toBe('DECNET canary.fin-01.triggered from 203.0.113.7 on fin-01');
    expect(alert['observables']).toEqual([{ dataType: 'ip', data: '203.0.113.7' }]);
    expect(alert['date']).toBe(Date.parse('2026-11-28T10:15:30.25Z'));
    expect(JSON.parse(renderTheHive(EVENT, { type: 'x', source: 'y', severity: 1 }).body.toString())).toMatchObject({ type: 'x', source: 'y', severity: 1 });
  });

  it('counts its "already exists" answer as delivered, and nothing else', () => {
    const duplicate = '{"type":"CreateError","message":"Alert already exists"}';
    expect(judgeTheHiveAnswer(400, duplicate)?.verdict).toBe('success');
    expect(judgeTheHiveAnswer(400, '{"type":"AttributeCheckingError","message":"title is missing"}')).toBeNull();
  });
});

describe('chat', () => {
  it("writes one line a phone can show: what, from whom, where, and the id", () => {
    expect(chatLine(EVENT)).toBe(`Canary hit: canary.fin-01.triggered from 203.0.113.7 on fin-01 token aws-key-7 (canary_hit, ${EVENT.ts}, id ${EVENT.id})`);
    expect(JSON.parse(renderChat(EVENT, { style: 'slack' }).body.toString())).toEqual({ text: chatLine(EVENT) });
    const teams = JSON.parse(renderChat(EVENT, { style: 'teams' }).body.toString()) as { attachments: { contentType: string; content: { body: { text: string }[] } }[] };
    expect(teams.attachments[0]?.contentType).toBe('application/vnd.microsoft.card.adaptive');
    expect(teams.attachments[0]?.content.body[0]?.text).toBe(chatLine(EVENT));
  });
});
