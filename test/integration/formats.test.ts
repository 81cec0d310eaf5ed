/**
 * Each format (docs/design.md#formats) through the whole engine — a real nats-server, a
 * real SQLite file, the dispatcher — against a stand-in of its product: a real HTTP server
 * on 127.0.0.1 that checks a request as the product's documentation says (each rule with
 * the page it comes from) and answers as the product does. For every format, the bytes
 * the stand-in got are the delivery's recorded body and the preview's body. Also filters
 * and transforms with formats, and the CLI's `subs add --format` and `subs preview`.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { SubscriptionInput } from '../../src-main/contract/bridge';
import type { DeliveryView, SubscriptionView } from '../../src-main/contract/views';
import { generateWebhookSecret } from '../../src-main/delivery/formats/standard-webhooks';
import { sign } from '../../src-main/delivery/wire';
import { CONFIG_DIR_ENV, DEFAULT_KEY_FILE, keyFileCipher } from '../../src-main/store/key-source';
import { startTestEngine, unwrap, type TestEngine, type TestEngineOptions } from '../harness/engine';
import { concatenatedObjects, parseObject } from '../harness/hec';
import { SIGNING_VECTORS } from '../harness/signing-vectors';
import { startReceiver, type Behavior, type ReceivedRequest, type Receiver } from '../harness/receiver';

const CLI = fileURLToPath(new URL('../../out/main/cli.js', import.meta.url));

// ---------------------------------------------------------------------------------------
// Stand-ins, each rule with the page it comes from

function answer(res: Parameters<Behavior>[1], status: number, body: unknown): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json; charset=UTF-8' });
  res.end(text);
}

function pathname(req: ReceivedRequest): string {
  return new URL(req.path, 'http://stand-in').pathname;
}


const HEC_TOKEN = '6d5f2a3e-8c1b-4f7a-9e2d-0b4c6a8e1f35';

interface HecStandIn {
  behavior: Behavior;
  /** Every event object indexed, in order. */
  indexed: Record<string, unknown>[];
  /** Answer "Server is busy" (503, code 9) to the next `n` requests. */
  busyFor(n: number): void;
}

/**
 * Splunk HTTP Event Collector, the event endpoint.
 * - `POST /services/collector/event`; the token in `Authorization: Splunk <token>`; each
 *   event a JSON object with `event` (required) and optional `time` (epoch seconds),
 *   `host`, `source`, `sourcetype`, `index`; several objects back to back in one request:
 *   "Format events for HTTP Event Collector",
 *   https://help.splunk.com/splunk-enterprise/get-data-in/collect-http-event-data/format-events-for-http-event-collector
 * - the endpoint: https://help.splunk.com/en/splunk-enterprise/get-data-in/collect-http-event-data/http-event-collector-rest-api-endpoints
 * - the answers (0 Success/200, 2 Token is required/401, 3 Invalid authorization/401,
 *   4 Invalid token/403, 6 Invalid data format/400, 7 Incorrect index/400, 9 Server is
 *   busy/503, 12 Event field is required/400, 13 Event field cannot be blank/400):
 *   "Troubleshoot HTTP Event Collector",
 *   https://help.splunk.com/en/splunk-enterprise/get-data-in/collect-http-event-data/troubleshoot-http-event-collector
 */
function splunkHec(token: string, allowedIndexes: readonly string[]): HecStandIn {
  const indexed: Record<string, unknown>[] = [];
  let busy = 0;
  return {
    indexed,
    busyFor(n) {
      busy = n;
    },
    behavior: (req, res) => {
      if (req.method !== 'POST' || pathname(req) !== '/services/collector/event') return answer(res, 404, { text: 'The requested URL was not found on this server.', code: 404 });
      const auth = req.headers['authorization'];
      if (auth === undefined) return answer(res, 401, { text: 'Token is required', code: 2 });
      if (!auth.startsWith('Splunk ')) return answer(res, 401, { text: 'Invalid authorization', code: 3 });
      if (auth !== `Splunk ${token}`) return answer(res, 403, { text: 'Invalid token', code: 4 });
      if (busy > 0) {
        busy--;
        return answer(res, 503, { text: 'Server is busy', code: 9 });
      }
      if (req.body.length === 0) return answer(res, 400, { text: 'No data', code: 5 });
      const events = concatenatedObjects(req.body.toString('utf8'));
      if (events === null) return answer(res, 400, { text: 'Invalid data format', code: 6, 'invalid-event-number': 0 });
      for (const [i, e] of events.entries()) {
        if (!('event' in e)) return answer(res, 400, { text: 'Event field is required', code: 12, 'invalid-event-number': i });
        if (e['event'] === '' || e['event'] === null) return answer(res, 400, { text: 'Event field cannot be blank', code: 13, 'invalid-event-number': i });
        if ('time' in e && typeof e['time'] !== 'number') return answer(res, 400, { text: 'Invalid data format', code: 6, 'invalid-event-number': i });
        if (typeof e['index'] === 'string' && !allowedIndexes.includes(e['index'])) return answer(res, 400, { text: 'Incorrect index', code: 7, 'invalid-event-number': i });
      }
      indexed.push(...events);
      answer(res, 200, { text: 'Success', code: 0 });
    },
  };
}

interface EsStandIn {
  behavior: Behavior;
  /** The index's documents by id, with their version. */
  docs: Map<string, { source: Record<string, unknown>; version: number }>;
}

/**
 * Elasticsearch, the index API with an explicit id.
 * - `PUT`/`POST /<index>/_doc/<_id>`: creates the document (201, `result: "created"`,
 *   `_version: 1`) or replaces the one with that id (200, `result: "updated"`, the version
 *   one up): https://www.elastic.co/guide/en/elasticsearch/reference/current/docs-index_.html
 *   (both methods: RestIndexAction's routes, server/src/main/java/org/elasticsearch/rest/action/document/RestIndexAction.java
 *   in https://github.com/elastic/elasticsearch)
 * - a body that is not a JSON object: 400 `document_parsing_exception` (same page)
 */
function elasticsearch(index: string): EsStandIn {
  const docs = new Map<string, { source: Record<string, unknown>; version: number }>();
  let seq = 0;
  return {
    docs,
    behavior: (req, res) => {
      const m = /^\/([^/]+)\/_doc\/([^/]+)$/.exec(pathname(req));
      if (!m || decodeURIComponent(m[1] as string) !== index) return answer(res, 404, { error: { type: 'index_not_found_exception', reason: `no such index [${pathname(req)}]` }, status: 404 });
      if (req.method !== 'POST' && req.method !== 'PUT') return answer(res, 405, { error: `Incorrect HTTP method for uri [${req.path}] and method [${req.method}], allowed: [POST, PUT]`, status: 405 });
      const source = parseObject(req.body);
      if (source === null) return answer(res, 400, { error: { type: 'document_parsing_exception', reason: 'failed to parse' }, status: 400 });
      const id = decodeURIComponent(m[2] as string);
      const before = docs.get(id);
      const version = (before?.version ?? 0) + 1;
      docs.set(id, { source, version });
      answer(res, before ? 200 : 201, {
        _index: index,
        _id: id,
        _version: version,
        result: before ? 'updated' : 'created',
        _shards: { total: 2, successful: 1, failed: 0 },
        _seq_no: seq++,
        _primary_term: 1,
      });
    },
  };
}

const THEHIVE_KEY = 'r6jJ2fK0QxYp1Wb8NnZcT4vHs7LmAe3d';
/** TheHive's alert attributes without a default (InputAlert). */
const THEHIVE_REQUIRED = ['type', 'source', 'sourceRef', 'title', 'description'] as const;

interface HiveStandIn {
  behavior: Behavior;
  /** Alerts by `type|source|sourceRef`. */
  alerts: Map<string, Record<string, unknown>>;
}

/**
 * TheHive 5, the alert API.
 * - `POST /api/v1/alert` with `Authorization: Bearer <API key>`, else 401; required
 *   attributes type, source, sourceRef, title, description:
 *   https://docs.strangebee.com/thehive/api-docs/#tag/Alert/operation/Create%20Alert
 *   (a body without them: 400 `AttributeCheckingError`, as quoted in
 *   https://github.com/TheHive-Project/TheHive/issues/1003)
 * - type + source + sourceRef are unique: a second alert with the same three is refused
 *   with 400 and a message saying it "already exists":
 *   https://github.com/TheHive-Project/TheHive/issues/1302 (the uniqueness) and
 *   https://github.com/TheHive-Project/TheHive/issues/1094 (400, not 409)
 */
function theHive(apiKey: string): HiveStandIn {
  const alerts = new Map<string, Record<string, unknown>>();
  return {
    alerts,
    behavior: (req, res) => {
      if (req.method !== 'POST' || pathname(req) !== '/api/v1/alert') return answer(res, 404, { type: 'NotFoundError', message: `${pathname(req)} not found` });
      if (req.headers['authorization'] !== `Bearer ${apiKey}`) return answer(res, 401, { type: 'AuthenticationError', message: 'Authentication failure' });
      const body = parseObject(req.body);
      if (body === null) return answer(res, 400, { type: 'BadRequestError', message: 'Invalid JSON' });
      const missing = THEHIVE_REQUIRED.filter((field) => typeof body[field] !== 'string' || body[field] === '');
      if (missing.length > 0) {
        const errors = missing.map((field) => ({ name: `alert.${field}`, type: 'MissingAttributeError', message: `Attribute alert.${field} is missing` }));
        return answer(res, 400, { tableName: 'alert', type: 'AttributeCheckingError', message: errors.map((e) => e.message).join('; '), errors });
      }
      const key = `${body['type'] as string}|${body['source'] as string}|${body['sourceRef'] as string}`;
      if (alerts.has(key)) return answer(res, 400, { type: 'CreateError', message: `Alert ${key.replaceAll('|', ':')} already exists` });
      alerts.set(key, body);
      answer(res, 201, { _id: `~${alerts.size * 4096}`, _type: 'Alert', ...body, status: 'New' });
    },
  };
}

/**
 * Slack incoming webhook: a JSON body whose `text` is the message; 200 "ok"; a body that
 * is not JSON: 400 "invalid_payload"; without text: 400 "no_text".
 * https://docs.slack.dev/messaging/sending-messages-using-incoming-webhooks ("Handling
 * errors") and https://api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks
 */
const slackWebhook: Behavior = (req, res) => {
  if (req.method !== 'POST') return answer(res, 405, 'invalid_request');
  const body = parseObject(req.body);
  if (body === null) return answer(res, 400, 'invalid_payload');
  if (typeof body['text'] !== 'string' || body['text'].trim() === '') return answer(res, 400, 'no_text');
  answer(res, 200, 'ok');
};

/**
 * Microsoft Teams, a Workflows webhook ("Send webhook alerts to a channel"): the body is
 * a message whose attachments are Adaptive Cards (`contentType`
 * `application/vnd.microsoft.card.adaptive`, `content` an AdaptiveCard with a version
 * and a body); accepted with 202.
 * https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/connectors-using#send-adaptive-cards-using-an-incoming-webhook
 * and the card schema, https://adaptivecards.io/explorer/AdaptiveCard.html
 */
const teamsWorkflow: Behavior = (req, res) => {
  const body = parseObject(req.body);
  const attachments = body?.['attachments'];
  if (body === null || body['type'] !== 'message' || !Array.isArray(attachments) || attachments.length === 0)
    return answer(res, 400, { error: { code: 'InvalidRequestContent', message: 'The request content is not a message with attachments.' } });
  for (const a of attachments as Record<string, unknown>[]) {
    const card = a['contentType'] === 'application/vnd.microsoft.card.adaptive' ? (a['content'] as Record<string, unknown> | undefined) : undefined;
    if (!card || card['type'] !== 'AdaptiveCard' || typeof card['version'] !== 'string' || !Array.isArray(card['body']) || card['body'].length === 0)
      return answer(res, 400, { error: { code: 'InvalidRequestContent', message: 'An attachment is not an Adaptive Card.' } });
  }
  answer(res, 202, '');
};

interface StandardWebhooksReceiver {
  behavior: Behavior;
  /** Payloads verified with the official library, with their webhook-id. */
  verified: { id: string; payload: unknown }[];
  /** Answer 503 to the next `n` verified requests (the receiver was briefly down). */
  failNext(n: number): void;
}

/**
 * A receiver as the Standard Webhooks spec has it, verifying with the official library
 * (`standardwebhooks`, https://github.com/standard-webhooks/standard-webhooks/tree/main/libraries/javascript):
 * 401 when no signature verifies with any secret it holds, 2xx when one does.
 * https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md
 */
function standardWebhooksReceiver(secrets: () => readonly string[]): StandardWebhooksReceiver {
  const verified: { id: string; payload: unknown }[] = [];
  let failing = 0;
  return {
    verified,
    failNext(n) {
      failing = n;
    },
    behavior: (req, res) => {
      let payload: unknown;
      const ok = secrets().some((secret) => {
        try {
          payload = new Webhook(secret).verify(req.body.toString('utf8'), req.headers);
          return true;
        } catch (error) {
          if (error instanceof WebhookVerificationError) return false;
          throw error;
        }
      });
      if (!ok) return answer(res, 401, 'bad signature');
      if (failing > 0) {
        failing--;
        return answer(res, 503, 'try again later');
      }
      verified.push({ id: req.headers['webhook-id'] as string, payload });
      answer(res, 204, '');
    },
  };
}

/** Verifies with the official library, holding only `secret`: true, or the library's reason. */
function verifiesWith(secret: string, req: ReceivedRequest): true | string {
  try {
    new Webhook(secret).verify(req.body.toString('utf8'), req.headers);
    return true;
  } catch (error) {
    return (error as Error).message;
  }
}

// ---------------------------------------------------------------------------------------
// The engine

let t: TestEngine;
const receivers: Receiver[] = [];

async function engine(options: TestEngineOptions = {}): Promise<TestEngine> {
  // The CLI's default key (test/harness/config-dir.ts), so both open the same secrets.
  const key = join(process.env[CONFIG_DIR_ENV] as string, DEFAULT_KEY_FILE);
  t = await startTestEngine({ ...options, engine: { cipher: keyFileCipher(key).cipher, ...options.engine } });
  return t;
}

afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.close()));
  await t?.cleanup();
});

async function standIn(behavior: Behavior): Promise<Receiver & { base: string }> {
  const r = await startReceiver(behavior);
  receivers.push(r);
  return Object.assign(r, { base: `http://127.0.0.1:${r.port}` });
}

async function create(input: SubscriptionInput): Promise<{ sub: SubscriptionView; secret: string }> {
  const created = unwrap(await t.api['subscriptions.create']({ presets: [], enabled: true, ...input }));
  await t.engine.busReady();
  return { sub: created.subscription, secret: created.secret };
}

/** A DECNET envelope with a fixed time, so that bodies can be written down. */
function event(id: string, type: string, payload: Record<string, unknown>, ts = 1795860930.25): Record<string, unknown> {
  return { v: 1, id, type, ts, payload };
}

const ended = (eventId: string, outcome: DeliveryView['outcome']) => (d: DeliveryView) => d.eventId === eventId && d.outcome === outcome;

/**
 * The bytes the product got are the delivery's recorded body and the preview's body for
 * that stored event, and the preview's URL is where they went.
 */
async function expectSameBytes(received: ReceivedRequest, delivery: DeliveryView, receiver: Receiver): Promise<void> {
  const detail = unwrap(await t.api['deliveries.get'](delivery.id));
  expect(detail.requestBody).not.toBeNull();
  expect(received.body.equals(Buffer.from(detail.requestBody as string, 'utf8'))).toBe(true);
  const preview = unwrap(await t.api['subscriptions.preview']({ subscriptionId: delivery.subscriptionId as string, eventId: delivery.eventId as string }));
  expect(preview.problem).toBeNull();
  expect(preview.request?.body).toBe(detail.requestBody);
  expect(preview.request?.url).toBe(`http://127.0.0.1:${receiver.port}${received.path}`);
}

// ---------------------------------------------------------------------------------------

describe('splunk-hec', () => {
  const options = { format: 'splunk-hec', hecIndex: 'decnet', hecSourcetype: 'decnet:event', hecSource: 'sluice:soc', hecHost: 'sluice-ws1' } as const;

  it('indexes each event with its time from ts and the configured metadata; the bytes are the record and the preview', async () => {
    await engine();
    const hec = splunkHec(HEC_TOKEN, ['decnet', 'main']);
    const splunk = await standIn(hec.behavior);
    const { sub } = await create({
      name: 'splunk',
      url: `${splunk.base}/services/collector/event`,
      patterns: ['attacker.>'],
      secretHeaders: [{ name: 'Authorization', value: `Splunk ${HEC_TOKEN}` }],
      ...options,
    });
    await t.publish('attacker.observed', event('hec-1', 'first_sighting', { ip: '203.0.113.7', score: 72.5 }));
    const delivered = await t.waitForDelivery(ended('hec-1', 'delivered'));
    expect([delivered.statusCode, delivered.attempts, delivered.subscriptionId]).toEqual([200, 1, sub.id]);
    expect(unwrap(await t.api['deliveries.get'](delivered.id)).responseExcerpt).toBe('{"text":"Success","code":0}');
    expect(hec.indexed).toEqual([
      {
        time: 1795860930.25,
        host: 'sluice-ws1',
        source: 'sluice:soc',
        sourcetype: 'decnet:event',
        index: 'decnet',
        event: { id: 'hec-1', topic: 'attacker.observed', type: 'first_sighting', ts: '2026-11-28T10:15:30.250000+00:00', payload: { ip: '203.0.113.7', score: 72.5 } },
      },
    ]);
    const [request] = splunk.requests;
    expect(request?.headers['authorization']).toBe(`Splunk ${HEC_TOKEN}`);
    expect(request?.headers['content-type']).toBe('application/json');
    await expectSameBytes(request as ReceivedRequest, delivered, splunk);
  });

  it('ends a delivery dead at once on "Invalid token" (403, code 4) with the HEC reason; retries "Server is busy" (503, code 9) until delivered', async () => {
    await engine();
    const hec = splunkHec(HEC_TOKEN, ['decnet']);
    const splunk = await standIn(hec.behavior);
    const { sub } = await create({
      name: 'splunk',
      url: `${splunk.base}/services/collector/event`,
      patterns: ['attacker.>'],
      secretHeaders: [{ name: 'Authorization', value: 'Splunk 00000000-0000-0000-0000-000000000000' }],
      ...options,
    });
    await t.publish('attacker.observed', event('hec-wrong', 'first_sighting', { ip: '203.0.113.8' }));
    const dead = await t.waitForDelivery(ended('hec-wrong', 'dead'));
    expect([dead.statusCode, dead.attempts, dead.error]).toEqual([403, 1, 'HEC code 4: the HEC token is invalid']);
    expect(unwrap(await t.api['deliveries.get'](dead.id)).responseExcerpt).toBe('{"text":"Invalid token","code":4}');
    expect(splunk.requests).toHaveLength(1);

    // The right token; the collector busy for two attempts: retried on the schedule, then indexed.
    unwrap(await t.api['subscriptions.update'](sub.id, { secretHeaders: [{ name: 'Authorization', value: `Splunk ${HEC_TOKEN}` }] }));
    hec.busyFor(2);
    await t.publish('attacker.observed', event('hec-busy', 'first_sighting', { ip: '203.0.113.9' }));
    const delivered = await t.waitForDelivery(ended('hec-busy', 'delivered'));
    expect([delivered.statusCode, delivered.attempts]).toEqual([200, 3]);
    const detail = unwrap(await t.api['deliveries.get'](delivered.id));
    expect(detail.attemptLog.map((a) => a.statusCode)).toEqual([503, 503, 200]);
    expect(hec.indexed.map((e) => (e['event'] as { id: string }).id)).toEqual(['hec-busy']);
    // The dead one, replayed with the right token: indexed too.
    unwrap(await t.api['deliveries.replay']({ id: dead.id }));
    await t.waitForDelivery((d) => d.replayOf === dead.id && d.outcome === 'delivered');
    expect(hec.indexed.map((e) => (e['event'] as { id: string }).id)).toEqual(['hec-busy', 'hec-wrong']);
  });
});

describe('elasticsearch', () => {
  it('indexes a document under the event id; a replay overwrites it (one document, result "updated")', async () => {
    await engine();
    const es = elasticsearch('decnet-events');
    const node = await standIn(es.behavior);
    await create({ name: 'elastic', url: node.base, patterns: ['attacker.>'], format: 'elasticsearch', esIndex: 'decnet-events' });
    await t.publish('attacker.observed', event('es-1', 'first_sighting', { ip: '198.51.100.23', port: 445, decky: 'fin-01' }));
    const delivered = await t.waitForDelivery(ended('es-1', 'delivered'));
    expect(delivered.statusCode).toBe(201);
    expect(node.requests[0]?.path).toBe('/decnet-events/_doc/es-1');
    expect([...es.docs.keys()]).toEqual(['es-1']);
    const doc = es.docs.get('es-1')?.source as Record<string, unknown>;
    expect(doc['@timestamp']).toBe('2026-11-28T10:15:30.250Z');
    expect(doc['event']).toMatchObject({ id: 'es-1', action: 'first_sighting' });
    expect(doc['source']).toEqual({ ip: '198.51.100.23', port: 445 });
    await expectSameBytes(node.requests[0] as ReceivedRequest, delivered, node);

    unwrap(await t.api['deliveries.replay']({ id: delivered.id }));
    const replayed = await t.waitForDelivery((d) => d.replayOf === delivered.id && d.outcome === 'delivered');
    expect(replayed.statusCode).toBe(200);
    expect(JSON.parse(unwrap(await t.api['deliveries.get'](replayed.id)).responseExcerpt as string)).toMatchObject({ _id: 'es-1', result: 'updated', _version: 2 });
    expect(es.docs.size).toBe(1);
    expect(node.requests[1]?.body.equals(node.requests[0]?.body as Buffer)).toBe(true);
  });
});

describe('thehive', () => {
  it('creates one alert with the required fields; a replay meets "already exists" (400) and counts as delivered', async () => {
    await engine();
    const hive = theHive(THEHIVE_KEY);
    const server = await standIn(hive.behavior);
    await create({
      name: 'thehive',
      url: `${server.base}/api/v1/alert`,
      patterns: ['canary.>'],
      format: 'thehive',
      thehiveSource: 'sluice-soc',
      secretHeaders: [{ name: 'Authorization', value: `Bearer ${THEHIVE_KEY}` }],
    });
    await t.publish('canary.fin-01.triggered', event('hive-1', 'canary_hit', { ip: '203.0.113.7', decky: 'fin-01', token: 'aws-key-7' }));
    const delivered = await t.waitForDelivery(ended('hive-1', 'delivered'));
    expect(delivered.statusCode).toBe(201);
    expect([...hive.alerts.values()]).toEqual([
      expect.objectContaining({
        type: 'decnet',
        source: 'sluice-soc',
        sourceRef: 'hive-1',
        title: 'DECNET canary.fin-01.triggered from 203.0.113.7 on fin-01',
        severity: 3,
        observables: [{ dataType: 'ip', data: '203.0.113.7' }],
      }),
    ]);
    await expectSameBytes(server.requests[0] as ReceivedRequest, delivered, server);

    unwrap(await t.api['deliveries.replay']({ id: delivered.id }));
    const [replayed] = (await t.waitForFinal(1, (d) => d.replayOf === delivered.id)) as [DeliveryView];
    expect([replayed.outcome, replayed.statusCode, replayed.attempts, replayed.error]).toEqual(['delivered', 400, 1, null]);
    expect(unwrap(await t.api['deliveries.get'](replayed.id)).responseExcerpt).toMatch(/already exists/);
    expect(server.requests).toHaveLength(2);
    expect(hive.alerts.size).toBe(1);
  });

  it('the stand-in refuses what TheHive refuses: a DECNET body lacks the alert fields (400, dead)', async () => {
    await engine();
    const hive = theHive(THEHIVE_KEY);
    const server = await standIn(hive.behavior);
    await create({ name: 'raw', url: `${server.base}/api/v1/alert`, patterns: ['canary.>'], secretHeaders: [{ name: 'Authorization', value: `Bearer ${THEHIVE_KEY}` }] });
    await t.publish('canary.fin-01.triggered', event('hive-raw', 'canary_hit', { ip: '203.0.113.7' }));
    const dead = await t.waitForDelivery(ended('hive-raw', 'dead'));
    expect([dead.statusCode, dead.attempts]).toEqual([400, 1]);
    expect(unwrap(await t.api['deliveries.get'](dead.id)).responseExcerpt).toContain('AttributeCheckingError');
    expect(hive.alerts.size).toBe(0);
  });
});

describe('chat', () => {
  it('Slack: a message with text, accepted ("ok"); the stand-in refuses a body without text (no_text)', async () => {
    await engine();
    const slack = await standIn(slackWebhook);
    await create({ name: 'slack', url: `${slack.base}/services/T000/B000/XXXX`, patterns: ['canary.>'], format: 'chat', chatStyle: 'slack' });
    await create({ name: 'raw', url: `${slack.base}/services/T000/B000/YYYY`, patterns: ['canary.>'] });
    await t.publish('canary.fin-01.triggered', event('chat-1', 'canary_hit', { ip: '203.0.113.7', decky: 'fin-01', token: 'aws-key-7' }));
    const [first, second] = await t.waitForFinal(2, (d) => d.eventId === 'chat-1');
    const byName = new Map([first, second].map((d) => [d?.subscriptionName, d as DeliveryView]));
    const delivered = byName.get('slack') as DeliveryView;
    expect([delivered.outcome, delivered.statusCode]).toEqual(['delivered', 200]);
    expect(unwrap(await t.api['deliveries.get'](delivered.id)).responseExcerpt).toBe('ok');
    const request = slack.requests.find((r) => r.path.endsWith('XXXX')) as ReceivedRequest;
    expect(JSON.parse(request.body.toString('utf8'))).toEqual({
      text: 'Canary hit: canary.fin-01.triggered from 203.0.113.7 on fin-01 token aws-key-7 (canary_hit, 2026-11-28T10:15:30.250000+00:00, id chat-1)',
    });
    await expectSameBytes(request, delivered, slack);
    // An envelope has no `text`: Slack refuses it, for good.
    const refused = byName.get('raw') as DeliveryView;
    expect([refused.outcome, refused.statusCode]).toEqual(['dead', 400]);
    expect(unwrap(await t.api['deliveries.get'](refused.id)).responseExcerpt).toBe('no_text');
  });

  it('Teams: a message whose attachment is an Adaptive Card, accepted (202)', async () => {
    await engine();
    const teams = await standIn(teamsWorkflow);
    await create({ name: 'teams', url: `${teams.base}/workflows/abc/triggers/manual/paths/invoke`, patterns: ['attacker.>'], format: 'chat', chatStyle: 'teams' });
    await t.publish('attacker.observed', event('chat-2', 'first_sighting', { ip: '198.51.100.4' }));
    const delivered = await t.waitForDelivery(ended('chat-2', 'delivered'));
    expect(delivered.statusCode).toBe(202);
    const [request] = teams.requests;
    const message = JSON.parse((request as ReceivedRequest).body.toString('utf8')) as { attachments: { content: { body: { text: string }[] } }[] };
    expect(message.attachments[0]?.content.body[0]?.text).toBe('Attacker: attacker.observed from 198.51.100.4 (first_sighting, 2026-11-28T10:15:30.250000+00:00, id chat-2)');
    await expectSameBytes(request as ReceivedRequest, delivered, teams);
  });
});

describe('standard-webhooks', () => {
  it('is verified by the official library with the secret made at create (whsec_); webhook-id is the event id on a retry and a replay', async () => {
    await engine();
    let held: string[] = [];
    const sw = standardWebhooksReceiver(() => held);
    const receiver = await standIn(sw.behavior);
    const { sub, secret } = await create({ name: 'sw', url: receiver.url, patterns: ['attacker.>'], format: 'standard-webhooks' });
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(secret.slice('whsec_'.length), 'base64')).toHaveLength(32);
    held = [secret];

    sw.failNext(1);
    await t.publish('attacker.observed', event('sw-1', 'first_sighting', { ip: '203.0.113.7', note: 'café ☕' }));
    const delivered = await t.waitForDelivery(ended('sw-1', 'delivered'));
    expect(delivered.attempts).toBe(2);
    expect(receiver.requests.map((r) => r.headers['webhook-id'])).toEqual(['sw-1', 'sw-1']);
    expect(sw.verified).toEqual([{ id: 'sw-1', payload: expect.objectContaining({ id: 'sw-1', topic: 'attacker.observed', payload: { ip: '203.0.113.7', note: 'café ☕' } }) }]);
    // The body is DECNET's canonical body; DECNET's signature headers are not sent.
    expect(receiver.requests[1]?.headers['x-decnet-signature']).toBeUndefined();
    await expectSameBytes(receiver.requests[1] as ReceivedRequest, delivered, receiver);

    unwrap(await t.api['deliveries.replay']({ id: delivered.id }));
    await t.waitForDelivery((d) => d.replayOf === delivered.id && d.outcome === 'delivered');
    expect(receiver.requests.map((r) => r.headers['webhook-id'])).toEqual(['sw-1', 'sw-1', 'sw-1']);
    expect(sw.verified.map((v) => v.id)).toEqual(['sw-1', 'sw-1']);
    expect(verifiesWith(generateWebhookSecret(), receiver.requests[2] as ReceivedRequest)).toMatch(/No matching signature/);
    expect(sub.format).toBe('standard-webhooks');
  });

  it('during a rotation signs twice: a receiver holding either secret verifies', async () => {
    await engine();
    const sw = standardWebhooksReceiver(() => []);
    const receiver = await standIn(sw.behavior);
    receiver.setBehavior((_req, res) => answer(res, 204, ''));
    const old = generateWebhookSecret();
    const { sub, secret } = await create({ name: 'sw', url: receiver.url, patterns: ['attacker.>'], format: 'standard-webhooks', secret: old });
    expect(secret).toBe(old);
    const next = generateWebhookSecret();
    unwrap(await t.api['subscriptions.update'](sub.id, { secret: next, previousSecretValidHours: 1 }));
    await t.publish('attacker.observed', event('sw-rot', 'first_sighting', { ip: '203.0.113.7' }));
    const delivered = await t.waitForDelivery(ended('sw-rot', 'delivered'));
    const [request] = receiver.requests as [ReceivedRequest];
    expect(request.headers['webhook-signature']?.split(' ')).toHaveLength(2);
    expect(verifiesWith(old, request)).toBe(true);
    expect(verifiesWith(next, request)).toBe(true);
    expect(verifiesWith(generateWebhookSecret(), request)).toMatch(/No matching signature/);
    await expectSameBytes(request, delivered, receiver);
  });

  it('refuses a secret not in the whsec_ form at save, naming the field', async () => {
    await engine();
    const refused = await t.api['subscriptions.create']({ name: 'sw', url: 'https://hooks.example/sw', patterns: ['a.>'], format: 'standard-webhooks', secret: 'plain-secret-of-thirty-chars!!' });
    expect(refused).toMatchObject({ ok: false, error: { code: 'invalid_argument', field: 'secret', message: expect.stringContaining('starts with whsec_') } });
    const { sub } = await create({ name: 'sw', url: 'https://hooks.example/sw', patterns: ['a.>'], format: 'standard-webhooks' });
    const update = await t.api['subscriptions.update'](sub.id, { secret: 'another-plain-secret-0123456789' });
    expect(update).toMatchObject({ ok: false, error: { field: 'secret', message: expect.stringContaining('whsec_') } });
    expect(unwrap(await t.api['subscriptions.list']())).toHaveLength(1);
  });
});

describe('decnet', () => {
  const vectors = SIGNING_VECTORS;

  it("is still the canonical body signed DECNET's way: every reference vector, byte for byte, through the engine", async () => {
    await engine();
    const receiver = await standIn((_req, res) => answer(res, 200, 'ok'));
    for (const v of vectors) {
      await create({ name: `v-${v.name}`, url: `${receiver.url}/${v.name}`, secret: v.secret, patterns: [v.event.topic] });
      await t.publish(v.event.topic, Buffer.from(v.body_base64, 'base64'));
      const delivered = await t.waitForDelivery(ended(v.event.id, 'delivered'));
      const request = receiver.requests.at(-1) as ReceivedRequest;
      expect(request.body.toString('utf8'), v.name).toBe(v.body_utf8);
      expect(request.headers['x-decnet-signature'], v.name).toBe(v.signature);
      expect(request.headers['webhook-signature']).toBeUndefined();
      await expectSameBytes(request, delivered, receiver);
      unwrap(await t.api['subscriptions.remove'](delivered.subscriptionId as string));
    }
    expect(receiver.requests).toHaveLength(vectors.length);
  });
});

describe('filters with formats', () => {
  it('a filtered-out event never reaches the product', async () => {
    await engine();
    const hec = splunkHec(HEC_TOKEN, ['main']);
    const splunk = await standIn(hec.behavior);
    const { sub } = await create({
      name: 'finance',
      url: `${splunk.base}/services/collector/event`,
      patterns: ['canary.>'],
      format: 'splunk-hec',
      filter: 'payload.score > 70 and payload.decky in ["fin-01","fin-02"]',
      secretHeaders: [{ name: 'Authorization', value: `Splunk ${HEC_TOKEN}` }],
    });
    await t.publish('canary.fin-01.triggered', event('f-low', 'canary_hit', { decky: 'fin-01', score: 12 }));
    await t.publish('canary.web-03.triggered', event('f-other', 'canary_hit', { decky: 'web-03', score: 95 }));
    await t.publish('canary.fin-02.triggered', event('f-pass', 'canary_hit', { decky: 'fin-02', score: 88 }));
    await t.waitForDelivery(ended('f-pass', 'delivered'));
    expect(hec.indexed.map((e) => (e['event'] as { id: string }).id)).toEqual(['f-pass']);
    expect(splunk.requests).toHaveLength(1);
    expect(unwrap(await t.api['subscriptions.list']()).find((s) => s.id === sub.id)?.filteredCount).toBe(2);
    expect(unwrap(await t.api['deliveries.list']({ subscriptionId: sub.id })).map((d) => d.eventId)).toEqual(['f-pass']);
  });
});

describe('transforms', () => {
  const transform = 'payload.ip ? {"alert": type, "from": payload.ip, "decky": payload.decky, "score": payload.score, "ref": id} : $error("no source ip in " & id)';

  it('builds a custom body; one that fails on an event ends that delivery dead with the reason and does not trip the subscription; fixed, the replay is delivered', async () => {
    await engine({ settings: { circuitThreshold: 1 } });
    const receiver = await standIn((_req, res) => answer(res, 200, 'ok'));
    const { sub } = await create({ name: 'custom', url: receiver.url, patterns: ['attacker.>'], transform });

    await t.publish('attacker.observed', event('tx-1', 'first_sighting', { ip: '203.0.113.7', decky: 'fin-01', score: 88 }));
    const delivered = await t.waitForDelivery(ended('tx-1', 'delivered'));
    const [request] = receiver.requests as [ReceivedRequest];
    expect(request.body.toString('utf8')).toBe('{"alert":"first_sighting","from":"203.0.113.7","decky":"fin-01","score":88,"ref":"tx-1"}');
    await expectSameBytes(request, delivered, receiver);

    await t.publish('attacker.observed', event('tx-noip', 'first_sighting', { decky: 'fin-01' }));
    const dead = await t.waitForDelivery(ended('tx-noip', 'dead'));
    expect(dead.error).toBe('transform failed: no source ip in tx-noip');
    expect([dead.attempts, dead.statusCode]).toEqual([0, null]);
    expect(receiver.requests).toHaveLength(1);
    // Not the receiver's fault: with a threshold of 1, the subscription is still active and sends the next event.
    const after = unwrap(await t.api['subscriptions.list']()).find((s) => s.id === sub.id) as SubscriptionView;
    expect([after.state, after.consecutiveFailures]).toEqual(['active', 0]);
    await t.publish('attacker.observed', event('tx-2', 'first_sighting', { ip: '203.0.113.9' }));
    await t.waitForDelivery(ended('tx-2', 'delivered'));

    unwrap(await t.api['subscriptions.update'](sub.id, { transform: '{"alert": type, "from": payload.ip ? payload.ip : "unknown", "ref": id}' }));
    unwrap(await t.api['deliveries.replay']({ id: dead.id }));
    const replayed = await t.waitForDelivery((d) => d.replayOf === dead.id && d.outcome === 'delivered');
    const last = receiver.requests.at(-1) as ReceivedRequest;
    expect(last.body.toString('utf8')).toBe('{"alert":"first_sighting","from":"unknown","ref":"tx-noip"}');
    await expectSameBytes(last, replayed, receiver);
  });
});

// ---------------------------------------------------------------------------------------

describe('the CLI', () => {
  beforeAll(() => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);
  });

  beforeEach(async () => {
    await engine({ settings: { allowPrivate: true } });
  });

  function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    // `subs preview` reads the database only; the others signal the running engine.
    const global = args[1] === 'preview' ? ['--db', t.dbPath] : ['--db', t.dbPath, '--nats', t.nats.wsUrl];
    const child = spawn(process.execPath, [CLI, ...args, ...global], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    return new Promise((done) => child.once('close', (code) => done({ code, stdout, stderr })));
  }

  it('subs add --format splunk-hec, then subs preview --event prints the request whose body the collector then gets', async () => {
    const hec = splunkHec(HEC_TOKEN, ['main']);
    const splunk = await standIn(hec.behavior);
    const reloaded = t.waitForRecord((r) => r.kind === 'reload' && r.reason === 'reload signal');
    const added = await cli([
      'subs', 'add', '--name', 'splunk', '--pattern', 'attacker.>',
      '--format', 'splunk-hec', '--hec-sourcetype', 'decnet:event',
      '--url', `${splunk.base}/services/collector/event`,
      '--secret-header', `Authorization: Splunk ${HEC_TOKEN}`,
    ]);
    expect(added.code, added.stderr).toBe(0);
    await reloaded;

    const envelope = event('cli-1', 'first_sighting', { ip: '203.0.113.7', note: 'café ☕' });
    const file = join(t.dir, 'event.json');
    writeFileSync(file, JSON.stringify({ ...envelope, topic: 'attacker.observed' }, null, 2));
    const preview = await cli(['subs', 'preview', 'splunk', '--event', file]);
    expect(preview.code, preview.stderr).toBe(0);
    const split = preview.stdout.indexOf('\n\n');
    const [requestLine, ...headerLines] = preview.stdout.slice(0, split).split('\n');
    const body = preview.stdout.slice(split + 2).replace(/\n$/, '');
    expect(requestLine).toBe(`POST ${splunk.base}/services/collector/event`);
    expect(headerLines).toContain('Authorization: ••••••••');
    expect(JSON.parse(body)).toMatchObject({ sourcetype: 'decnet:event', time: 1795860930.25, event: { id: 'cli-1' } });
    expect(splunk.requests).toHaveLength(0);

    await t.publish('attacker.observed', envelope);
    await t.waitForDelivery(ended('cli-1', 'delivered'));
    const [request] = splunk.requests as [ReceivedRequest];
    expect(request.body.toString('utf8')).toBe(body);
    expect(request.headers['authorization']).toBe(`Splunk ${HEC_TOKEN}`);
    expect(hec.indexed).toHaveLength(1);
  });
});
