/**
 * Sluice against stand-ins of the products a SOC runs: real HTTP servers on 127.0.0.1
 * that check a request exactly as each product's documentation (or source) says, and
 * answer as it does. For each product, the `subs add` command that docs/receivers.md
 * gives is run (the built CLI, against the engine's database): without its credential
 * the delivery ends dead with the product's refusal (401/403 are not retried), then the
 * credential is added (the CLI's flags from the guide, or `subscriptions.update` as the
 * console sends it), the dead delivery is replayed, and the product saw exactly the
 * header it wants. Also: Sluice's own headers, line breaks in a value and credentials in
 * a URL are refused at save, naming the field.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { SubscriptionInput, SubscriptionPatch } from '../../src-main/contract/bridge';
import { authorizationHeader, MASKED_VALUE, parseHeaderLine, type ExtraHeader } from '../../src-main/contract/subscription-options';
import type { DeliveryView, SubscriptionView } from '../../src-main/contract/views';
import { CONFIG_DIR_ENV, DEFAULT_KEY_FILE, keyFileCipher } from '../../src-main/store/key-source';
import { envelope, startTestEngine, unwrap, type TestEngine } from '../harness/engine';
import { startReceiver, type Behavior, type ReceivedRequest, type Receiver } from '../harness/receiver';

const CLI = fileURLToPath(new URL('../../out/main/cli.js', import.meta.url));
const GUIDE = readFileSync(resolve(__dirname, '../../docs/receivers.md'), 'utf8');

// ---------------------------------------------------------------------------------------
// The guide's commands

/** Every block preceded by `<!-- command: NAME -->`, as written (continuation lines joined). */
function guideCommands(): Map<string, string> {
  const found = new Map<string, string>();
  for (const m of GUIDE.matchAll(/<!-- command: ([a-z0-9-]+) -->\n *```sh\n([\s\S]*?)\n *```/g)) {
    const [, name, code] = m as unknown as [string, string, string];
    if (found.has(name)) throw new Error(`command ${name} appears twice in docs/receivers.md`);
    found.set(name, code.replace(/\\\n\s*/g, ' ').trim());
  }
  return found;
}
const COMMANDS = guideCommands();

/**
 * A command line as a POSIX shell splits it: quotes and backslashes. A character the shell
 * would act on outside quotes (a `<placeholder>` would be a redirection) is refused, so
 * the guide's lines can be pasted as they are.
 */
function shellWords(line: string): string[] {
  const words: string[] = [];
  let word: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new Error(`unterminated quote in: ${line}`);
      word = (word ?? '') + line.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      const end = line.indexOf('"', i + 1);
      if (end < 0) throw new Error(`unterminated quote in: ${line}`);
      word = (word ?? '') + line.slice(i + 1, end);
      i = end;
    } else if (c === '\\') {
      word = (word ?? '') + (line[++i] ?? '');
    } else if (/[<>|;&$`*?(){}]/.test(c)) {
      throw new Error(`unquoted ${c} in: ${line}`);
    } else if (/\s/.test(c)) {
      if (word !== null) words.push(word);
      word = null;
    } else word = (word ?? '') + c;
  }
  if (word !== null) words.push(word);
  return words;
}

const CREDENTIAL_FLAGS = new Set(['--secret-header', '--bearer', '--basic']);

interface GuideCommand {
  name: string;
  /** `subs add` without the credential. */
  add: string[];
  /** The credential's flags and values, as `subs update` takes them. */
  credential: string[];
  /** The credential as the console sends it (`secretHeaders`). */
  secretHeaders: ExtraHeader[];
}

/**
 * The guide's `subs add` for `id`, its placeholders filled in and its URL moved to the
 * stand-in (same path and query), split into the command without the credential and the
 * credential.
 */
function guideCommand(id: string, receiver: Receiver, fill: Record<string, string>): GuideCommand {
  const text = COMMANDS.get(id);
  if (text === undefined) throw new Error(`docs/receivers.md has no <!-- command: ${id} --> block`);
  let line = text;
  for (const [placeholder, value] of Object.entries(fill)) line = line.split(placeholder).join(value);
  expect(line, `every placeholder of ${id} is filled`).not.toMatch(/<[^>]+>/);
  const words = shellWords(line);
  expect(words.slice(0, 5)).toEqual(['npm', 'run', '-s', 'sluice', '--']);
  expect(words.slice(5, 7)).toEqual(['subs', 'add']);
  const add: string[] = [];
  const credential: string[] = [];
  const secretHeaders: ExtraHeader[] = [];
  let name = '';
  for (let i = 7; i < words.length; i++) {
    const flag = words[i] as string;
    const value = words[i + 1] as string;
    if (CREDENTIAL_FLAGS.has(flag)) {
      credential.push(flag, value);
      secretHeaders.push(flag === '--secret-header' ? parseHeaderLine(value) : authorizationHeader(flag === '--bearer' ? 'bearer' : 'basic', value));
      i++;
    } else if (flag === '--url') {
      const guideUrl = new URL(value);
      expect(guideUrl.protocol, `${id}: the guide's URL is https`).toBe('https:');
      add.push(flag, `http://127.0.0.1:${receiver.port}${guideUrl.pathname}${guideUrl.search}`);
      i++;
    } else {
      // Any other word (an option or its value) as written.
      if (flag === '--name') name = value;
      add.push(flag);
    }
  }
  expect(credential.length, `${id} gives a credential`).toBeGreaterThan(0);
  return { name, add, credential, secretHeaders };
}

// ---------------------------------------------------------------------------------------
// Stand-ins, each rule with the page it comes from

function answer(res: Parameters<Behavior>[1], status: number, body: unknown, headers: Record<string, string | string[]> = {}): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json; charset=UTF-8', ...headers });
  res.end(text);
}

function pathOf(req: ReceivedRequest): { pathname: string; query: URLSearchParams } {
  const url = new URL(req.path, 'http://stand-in');
  return { pathname: url.pathname, query: url.searchParams };
}

const SPLUNK_TOKEN = '6d5f2a3e-8c1b-4f7a-9e2d-0b4c6a8e1f35';

/**
 * Splunk HTTP Event Collector, the event endpoint.
 * - `POST /services/collector/event` takes JSON event objects, each with `event`
 *   (required): https://help.splunk.com/en/splunk-enterprise/get-data-in/collect-http-event-data/http-event-collector-rest-api-endpoints
 *   and https://help.splunk.com/splunk-enterprise/get-data-in/collect-http-event-data/format-events-for-http-event-collector
 * - the token in `Authorization: Splunk <token>`: format-events-for-http-event-collector (above)
 * - the answers (status, text, code: 0 Success/200, 2 Token is required/401, 3 Invalid
 *   authorization/401, 4 Invalid token/403, 5 No data/400, 6 Invalid data format/400,
 *   12 Event field is required/400): "Troubleshoot HTTP Event
 *   Collector", https://help.splunk.com/en/splunk-enterprise/get-data-in/collect-http-event-data/troubleshoot-http-event-collector
 */
function splunkHec(token: string): Behavior {
  return (req, res) => {
    const { pathname } = pathOf(req);
    if (req.method !== 'POST' || pathname !== '/services/collector/event') return answer(res, 404, { text: 'The requested URL was not found on this server.', code: 404 });
    const auth = req.headers['authorization'];
    if (auth === undefined) return answer(res, 401, { text: 'Token is required', code: 2 });
    if (!auth.startsWith('Splunk ')) return answer(res, 401, { text: 'Invalid authorization', code: 3 });
    if (auth !== `Splunk ${token}`) return answer(res, 403, { text: 'Invalid token', code: 4 });
    if (req.body.length === 0) return answer(res, 400, { text: 'No data', code: 5 });
    let event: Record<string, unknown> | null = null;
    try {
      event = JSON.parse(req.body.toString('utf8')) as Record<string, unknown>;
    } catch {
      return answer(res, 400, { text: 'Invalid data format', code: 6, 'invalid-event-number': 0 });
    }
    if (typeof event !== 'object' || event === null || !('event' in event)) return answer(res, 400, { text: 'Event field is required', code: 12, 'invalid-event-number': 0 });
    answer(res, 200, { text: 'Success', code: 0 });
  };
}

const ES_INDEX = 'decnet-events';
const ES_KEY = { id: 'VuaCfGcBCdbkQm-e5aOx', api_key: 'ui2lp2axTNmsyakw9tvNnw' };
/** What `POST /_security/api_key` returns as `encoded`: base64 of `id:api_key`. */
const ES_ENCODED = Buffer.from(`${ES_KEY.id}:${ES_KEY.api_key}`).toString('base64');

/**
 * Elasticsearch, the index API with an API key.
 * - `POST /<index>/_doc/<_id>`, a new id answered 201 with `_index`, `_id`, `result: "created"`:
 *   https://www.elastic.co/guide/en/elasticsearch/reference/current/docs-index_.html
 * - `Authorization: ApiKey <encoded>`, encoded = base64(id:api_key):
 *   https://www.elastic.co/guide/en/elasticsearch/reference/current/security-api-create-api-key.html
 *   and https://www.elastic.co/docs/api/doc/elasticsearch/authentication
 * - missing or wrong credentials: 401, a `security_exception` error body and the
 *   `WWW-Authenticate` challenges:
 *   https://www.elastic.co/guide/en/elasticsearch/reference/current/security-troubleshooting.html
 */
function elasticsearch(index: string, encoded: string): Behavior {
  let seq = 0;
  return (req, res) => {
    const { pathname } = pathOf(req);
    const docId = pathname.startsWith(`/${index}/_doc/`) ? decodeURIComponent(pathname.slice(`/${index}/_doc/`.length)) : '';
    if (docId === '' || docId.includes('/'))
      return answer(res, 404, { error: { type: 'index_not_found_exception', reason: `no such index [${pathname}]` }, status: 404 });
    if (req.method !== 'POST') return answer(res, 405, { error: `Incorrect HTTP method for uri [${pathname}] and method [${req.method}], allowed: [POST]`, status: 405 });
    const auth = req.headers['authorization'];
    if (auth !== `ApiKey ${encoded}`) {
      const reason =
        auth === undefined
          ? `missing authentication credentials for REST request [${pathname}]`
          : 'unable to authenticate with provided credentials and anonymous access is not allowed for this request';
      const challenges = ['Basic realm="security", charset="UTF-8"', 'Bearer realm="security"', 'ApiKey'];
      const cause = { type: 'security_exception', reason, header: { 'WWW-Authenticate': challenges } };
      return answer(res, 401, { error: { root_cause: [cause], ...cause }, status: 401 }, { 'WWW-Authenticate': challenges });
    }
    let doc: unknown;
    try {
      doc = JSON.parse(req.body.toString('utf8'));
    } catch {
      doc = null;
    }
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
      return answer(res, 400, { error: { type: 'document_parsing_exception', reason: 'failed to parse' }, status: 400 });
    seq++;
    answer(
      res,
      201,
      { _index: index, _id: docId, _version: 1, result: 'created', _shards: { total: 2, successful: 1, failed: 0 }, _seq_no: seq - 1, _primary_term: 1 },
      { Location: `/${index}/_doc/${docId}` },
    );
  };
}

const THEHIVE_KEY = 'r6jJ2fK0QxYp1Wb8NnZcT4vHs7LmAe3d';
/** TheHive's alert attributes without a default (InputAlert). */
const THEHIVE_REQUIRED = ['type', 'source', 'sourceRef', 'title', 'description'] as const;

/**
 * TheHive 5, the alert API.
 * - `POST /api/v1/alert` with `Authorization: Bearer <API key>`, else 401:
 *   https://docs.strangebee.com/thehive/api-docs/#tag/Alert/operation/Create%20Alert
 *   (authentication: https://docs.strangebee.com/thehive/api-docs/#section/Authentication)
 * - required attributes type, source, sourceRef, title, description (same page); a body
 *   without them is answered 400 with an `AttributeCheckingError` listing each missing
 *   attribute, the shape quoted in https://github.com/TheHive-Project/TheHive/issues/268
 *   and https://github.com/TheHive-Project/TheHive/issues/1003
 */
function theHive(apiKey: string): Behavior {
  return (req, res) => {
    const { pathname } = pathOf(req);
    if (req.method !== 'POST' || pathname !== '/api/v1/alert') return answer(res, 404, { type: 'NotFoundError', message: `${pathname} not found` });
    if (req.headers['authorization'] !== `Bearer ${apiKey}`) return answer(res, 401, { type: 'AuthenticationError', message: 'Authentication failure' });
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(req.body.toString('utf8')) as Record<string, unknown>;
    } catch {
      return answer(res, 400, { type: 'BadRequestError', message: 'Invalid JSON' });
    }
    const missing = THEHIVE_REQUIRED.filter((field) => typeof body[field] !== 'string' || body[field] === '');
    if (missing.length > 0) {
      const errors = missing.map((field) => ({ name: `alert.${field}`, type: 'MissingAttributeError', message: `Attribute alert.${field} is missing` }));
      return answer(res, 400, { tableName: 'alert', type: 'AttributeCheckingError', message: errors.map((e) => e.message).join('; '), errors });
    }
    answer(res, 201, { _id: '~41', _type: 'Alert', ...body, status: 'New' });
  };
}

const N8N_PATH = '/webhook/decnet';
/** Sent by the n8n Webhook node with every refusal (Webhook.node.ts). */
const N8N_CHALLENGE = { 'WWW-Authenticate': 'Basic realm="Webhook"' };

/**
 * n8n's Webhook node, Authentication "Header Auth": the header named in the credential
 * must carry its value exactly; missing or different → 403 "Authorization data is wrong!".
 * https://docs.n8n.io/integrations/builtin/core-nodes/n8n-nodes-base.webhook/#authentication
 * and the source: packages/nodes-base/nodes/Webhook/utils.ts (validateWebhookAuthentication)
 * and error.ts (WebhookAuthorizationError's messages), https://github.com/n8n-io/n8n
 * Accepted: "Respond: Immediately" answers 200 {"message":"Workflow was started"}.
 */
function n8nHeaderAuth(name: string, value: string): Behavior {
  return (req, res) => {
    if (req.method !== 'POST' || pathOf(req).pathname !== N8N_PATH) return answer(res, 404, { code: 404, message: `The requested webhook "${req.method} decnet" is not registered.` });
    if (req.headers[name.toLowerCase()] !== value) return answer(res, 403, 'Authorization data is wrong!', N8N_CHALLENGE);
    answer(res, 200, { message: 'Workflow was started' });
  };
}

/**
 * n8n's Webhook node, Authentication "Basic Auth": no Basic credentials → 401
 * "Authorization is required!", other ones → 403 "Authorization data is wrong!" (same
 * sources as above).
 */
function n8nBasicAuth(user: string, password: string): Behavior {
  return (req, res) => {
    if (req.method !== 'POST' || pathOf(req).pathname !== N8N_PATH) return answer(res, 404, { code: 404, message: 'not registered' });
    const auth = req.headers['authorization'];
    if (auth === undefined || !auth.startsWith('Basic ')) return answer(res, 401, 'Authorization is required!', N8N_CHALLENGE);
    const given = Buffer.from(auth.slice('Basic '.length), 'base64').toString('utf8');
    if (given !== `${user}:${password}`) return answer(res, 403, 'Authorization data is wrong!', N8N_CHALLENGE);
    answer(res, 200, { message: 'Workflow was started' });
  };
}

const SHUFFLE_HOOK = '/api/v1/hooks/webhook_0b7e2a4c-5d1f-4e8a-9c3b-7f6e5d4c3b2a';

/**
 * Shuffle's Webhook trigger with its authentication field: each line `name=value` is a
 * header the request must carry with that value; else 401
 * {"success": false, "reason": "Bad authentication headers"} and no execution.
 * Source: https://github.com/Shuffle/Shuffle (backend, the webhook handler, and
 * shuffle-shared's CheckHookAuth); https://shuffler.io/docs/triggers#webhook
 */
function shuffleWebhook(authField: string): Behavior {
  return (req, res) => {
    if (req.method !== 'POST' || pathOf(req).pathname !== SHUFFLE_HOOK) return answer(res, 404, { success: false, reason: 'Hook not found' });
    for (const line of authField.split('\n')) {
      const parts = line.split('=');
      if (parts.length !== 2) continue;
      const [name, value] = parts.map((p) => p.trim()) as [string, string];
      if (req.headers[name.toLowerCase()] !== value) return answer(res, 401, { success: false, reason: 'Bad authentication headers' });
    }
    answer(res, 200, { success: true, execution_id: 'c3a2b1d0-0000-4000-8000-000000000001' });
  };
}

// ---------------------------------------------------------------------------------------
// The engine, the CLI beside it

let t: TestEngine;
const receivers: Receiver[] = [];

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);
});

beforeEach(async () => {
  // The CLI's default key (test/harness/config-dir.ts), so both open the same secrets.
  const key = join(process.env[CONFIG_DIR_ENV] as string, DEFAULT_KEY_FILE);
  t = await startTestEngine({ settings: { allowPrivate: true }, engine: { cipher: keyFileCipher(key).cipher } });
});

afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.close()));
  await t.cleanup();
});

async function standIn(behavior: Behavior): Promise<Receiver> {
  const r = await startReceiver(behavior);
  receivers.push(r);
  return r;
}

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args, '--db', t.dbPath, '--nats', t.nats.wsUrl], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  return new Promise((done) => child.once('close', (code) => done({ code, stdout, stderr })));
}

/**
 * A CLI change, then the running engine's reload on its signal (awaited every time, so
 * that no signal is left over for the next change's wait).
 */
async function cliChange(args: string[]): Promise<string> {
  const reloaded = t.waitForRecord((r) => r.kind === 'reload' && r.reason === 'reload signal');
  const result = await cli(args);
  expect(result.code, `sluice ${args.join(' ')}\n${result.stderr}`).toBe(0);
  await reloaded;
  return result.stdout;
}

async function subscription(name: string): Promise<SubscriptionView> {
  const found = unwrap(await t.api['subscriptions.list']()).find((s) => s.name === name);
  if (!found) throw new Error(`no subscription ${name}`);
  return found;
}

const matchesEvent = (eventId: string, outcome: DeliveryView['outcome']) => (d: DeliveryView) => d.eventId === eventId && d.outcome === outcome;

interface Refusal {
  status: number;
  /** The product's answer, as Sluice recorded it (the response excerpt). */
  body: string;
  /** The delivery's error, when the format reads the answer (default: `non-retryable <status>`). */
  error?: string;
}

/**
 * The guide's command without its credential: one event, refused by the product and
 * dead at once (a 4xx is not retried); the request carried no credential.
 */
async function refusedWithoutCredential(command: GuideCommand, product: Receiver, credentialHeader: string, refusal: Refusal): Promise<{ sub: SubscriptionView; dead: DeliveryView }> {
  await cliChange(['subs', 'add', ...command.add]);
  const sub = await subscription(command.name);
  expect(sub.secretHeaderNames).toEqual([]);
  const eventId = `${command.name}-first`;
  await t.publish('attacker.observed', envelope('first_sighting', { ip: '198.51.100.23' }, eventId));
  const dead = await t.waitForDelivery(matchesEvent(eventId, 'dead'));
  expect([dead.statusCode, dead.attempts, dead.error]).toEqual([refusal.status, 1, refusal.error ?? `non-retryable ${refusal.status}`]);
  expect(unwrap(await t.api['deliveries.get'](dead.id)).responseExcerpt).toBe(refusal.body);
  const [first] = await product.waitForRequests(1);
  expect(first?.headers[credentialHeader.toLowerCase()]).toBeUndefined();
  return { sub, dead };
}

/** The replayed (or new) delivery reached the product with exactly `header`; Sluice recorded it masked. */
async function deliveredWith(product: Receiver, delivered: DeliveryView, header: ExtraHeader): Promise<ReceivedRequest> {
  const request = product.requests.at(-1) as ReceivedRequest;
  expect(request.headers[header.name.toLowerCase()]).toBe(header.value);
  // Sluice's own headers are still there, the signature first of all.
  expect(request.headers['x-decnet-signature']).toMatch(/^sha256=[0-9a-f]{64}$/);
  expect(request.headers['content-type']).toBe('application/json');
  const detail = unwrap(await t.api['deliveries.get'](delivered.id));
  expect(detail.requestHeaders?.[header.name]).toBe(MASKED_VALUE);
  return request;
}

// ---------------------------------------------------------------------------------------

describe("docs/receivers.md's product commands", () => {
  it('are there for every product section, paste as they are into a shell, and give the credential as a secret header', () => {
    expect([...COMMANDS.keys()].sort()).toEqual(['elasticsearch', 'n8n-basic', 'n8n-header', 'shuffle', 'splunk', 'thehive']);
    for (const [id, text] of COMMANDS) {
      expect(text, id).toMatch(/^npm run -s sluice -- subs add /);
      expect(shellWords(text).some((w) => CREDENTIAL_FLAGS.has(w)), id).toBe(true);
    }
  });
});

describe('Splunk HTTP Event Collector', () => {
  it('refuses a delivery without the token (401, code 2), then indexes the replay sent with `Authorization: Splunk <token>`', async () => {
    const hec = await standIn(splunkHec(SPLUNK_TOKEN));
    const command = guideCommand('splunk', hec, { '<token>': SPLUNK_TOKEN });
    expect(command.credential).toEqual(['--secret-header', `Authorization: Splunk ${SPLUNK_TOKEN}`]);
    const { sub, dead } = await refusedWithoutCredential(command, hec, 'Authorization', {
      status: 401,
      body: '{"text":"Token is required","code":2}',
      error: 'HEC code 2: the HEC token is missing (set a secret header Authorization: Splunk <token>)',
    });
    expect(sub.format).toBe('splunk-hec');
    expect(hec.requests[0]?.path).toBe('/services/collector/event');

    // A wrong token is the other refusal: 403, code 4, also not retried.
    await cliChange(['subs', 'update', sub.name, '--secret-header', 'Authorization: Splunk 00000000-0000-0000-0000-000000000000']);
    expect((await subscription(sub.name)).secretHeaderNames).toEqual(['Authorization']);
    await t.publish('attacker.observed', envelope('first_sighting', { ip: '198.51.100.24' }, 'splunk-wrong'));
    const wrong = await t.waitForDelivery(matchesEvent('splunk-wrong', 'dead'));
    expect([wrong.statusCode, wrong.attempts]).toEqual([403, 1]);
    expect(unwrap(await t.api['deliveries.get'](wrong.id)).responseExcerpt).toBe('{"text":"Invalid token","code":4}');

    // The guide's credential, then the dead letters sent again (by the CLI).
    await cliChange(['subs', 'update', sub.name, ...command.credential]);
    expect(await cliChange(['deliveries', 'replay', '--subscription', sub.name, '--dead'])).toMatch(/^queued 2 deliveries$/m);
    const replayed = await t.waitForDelivery((d) => d.replayOf === dead.id && d.outcome === 'delivered');
    await t.waitForDelivery((d) => d.replayOf === wrong.id && d.outcome === 'delivered');
    expect(replayed.statusCode).toBe(200);
    expect(unwrap(await t.api['deliveries.get'](replayed.id)).responseExcerpt).toBe('{"text":"Success","code":0}');
    const request = await deliveredWith(hec, replayed, { name: 'Authorization', value: `Splunk ${SPLUNK_TOKEN}` });
    // A HEC event with the guide's sourcetype, the DECNET event under `event`.
    expect(request.path).toBe('/services/collector/event');
    const hecEvent = JSON.parse(request.body.toString('utf8')) as { sourcetype: string; event: { id: string } };
    expect(hecEvent.sourcetype).toBe('decnet:event');
    expect(hecEvent.event.id).toMatch(/^splunk-/);
    expect(hec.requests.filter((r) => r.headers['authorization'] === `Splunk ${SPLUNK_TOKEN}`)).toHaveLength(2);
  });
});

describe('Elasticsearch index API', () => {
  it('refuses a delivery without the API key (401 security_exception), then creates a document from the replay sent with `Authorization: ApiKey <encoded>`', async () => {
    const es = await standIn(elasticsearch(ES_INDEX, ES_ENCODED));
    const command = guideCommand('elasticsearch', es, { '<encoded>': ES_ENCODED });
    const refusedBody = JSON.stringify({
      error: {
        root_cause: [
          {
            type: 'security_exception',
            reason: `missing authentication credentials for REST request [/${ES_INDEX}/_doc/elastic-first]`,
            header: { 'WWW-Authenticate': ['Basic realm="security", charset="UTF-8"', 'Bearer realm="security"', 'ApiKey'] },
          },
        ],
        type: 'security_exception',
        reason: `missing authentication credentials for REST request [/${ES_INDEX}/_doc/elastic-first]`,
        header: { 'WWW-Authenticate': ['Basic realm="security", charset="UTF-8"', 'Bearer realm="security"', 'ApiKey'] },
      },
      status: 401,
    });
    const { sub, dead } = await refusedWithoutCredential(command, es, 'Authorization', { status: 401, body: refusedBody });

    // As the console saves it: subscriptions.update with the secret header.
    const updated = unwrap(await t.api['subscriptions.update'](sub.id, { secretHeaders: command.secretHeaders }));
    expect(updated.secretHeaderNames).toEqual(['Authorization']);
    expect(JSON.stringify(updated)).not.toContain(ES_ENCODED);
    expect(unwrap(await t.api['deliveries.replay']({ id: dead.id })).count).toBe(1);
    const replayed = await t.waitForDelivery((d) => d.replayOf === dead.id && d.outcome === 'delivered');
    expect(replayed.statusCode).toBe(201);
    expect(JSON.parse(unwrap(await t.api['deliveries.get'](replayed.id)).responseExcerpt as string)).toMatchObject({ _index: ES_INDEX, _id: 'elastic-first', result: 'created' });
    const request = await deliveredWith(es, replayed, { name: 'Authorization', value: `ApiKey ${ES_ENCODED}` });
    // The document under the event id, in the guide's index.
    expect(request.path).toBe(`/${ES_INDEX}/_doc/elastic-first`);
    expect(JSON.parse(request.body.toString('utf8'))).toMatchObject({ event: { id: 'elastic-first' }, source: { ip: '198.51.100.23' } });
  });
});

describe('TheHive alert API', () => {
  it('refuses a delivery without the API key (401); with `--bearer` the replay is an alert with the fields TheHive requires', async () => {
    const hive = await standIn(theHive(THEHIVE_KEY));
    const command = guideCommand('thehive', hive, { '<api key>': THEHIVE_KEY });
    expect(command.credential).toEqual(['--bearer', THEHIVE_KEY]);
    const { sub, dead } = await refusedWithoutCredential(command, hive, 'Authorization', {
      status: 401,
      body: '{"type":"AuthenticationError","message":"Authentication failure"}',
    });
    expect(sub.format).toBe('thehive');

    await cliChange(['subs', 'update', sub.name, ...command.credential]);
    expect(unwrap(await t.api['deliveries.replay']({ subscriptionId: sub.id, dead: true })).count).toBe(1);
    const replayed = await t.waitForDelivery((d) => d.replayOf === dead.id && d.outcome === 'delivered');
    expect([replayed.statusCode, replayed.attempts]).toEqual([201, 1]);
    const request = await deliveredWith(hive, replayed, { name: 'Authorization', value: `Bearer ${THEHIVE_KEY}` });
    // The `thehive` format: every attribute TheHive requires, the event id as sourceRef.
    expect(JSON.parse(request.body.toString('utf8'))).toMatchObject({ type: 'decnet', source: 'sluice', sourceRef: 'thehive-first', title: 'DECNET attacker.observed from 198.51.100.23' });
  });
});

describe('n8n Webhook node', () => {
  it('Header Auth: 403 "Authorization data is wrong!" without the header, then a new event carries it and starts the workflow', async () => {
    const n8n = await standIn(n8nHeaderAuth('X-Sluice-Token', 'f3c9a1e7b2d84e6f'));
    const command = guideCommand('n8n-header', n8n, { '<value>': 'f3c9a1e7b2d84e6f' });
    const { sub } = await refusedWithoutCredential(command, n8n, 'X-Sluice-Token', { status: 403, body: 'Authorization data is wrong!' });
    expect(n8n.requests[0]?.path).toBe(N8N_PATH);

    const updated = unwrap(await t.api['subscriptions.update'](sub.id, { secretHeaders: command.secretHeaders }));
    expect(updated.secretHeaderNames).toEqual(['X-Sluice-Token']);
    await t.publish('attacker.observed', envelope('first_sighting', { ip: '198.51.100.31' }, 'n8n-header-after'));
    const delivered = await t.waitForDelivery(matchesEvent('n8n-header-after', 'delivered'));
    expect(delivered.statusCode).toBe(200);
    expect(unwrap(await t.api['deliveries.get'](delivered.id)).responseExcerpt).toBe('{"message":"Workflow was started"}');
    await deliveredWith(n8n, delivered, { name: 'X-Sluice-Token', value: 'f3c9a1e7b2d84e6f' });
  });

  it('Basic Auth: 401 "Authorization is required!" without it, 403 with a wrong password, then `--basic` gets the replay through', async () => {
    const n8n = await standIn(n8nBasicAuth('sluice', 'correct horse battery'));
    const command = guideCommand('n8n-basic', n8n, { '<password>': 'correct horse battery' });
    expect(command.credential).toEqual(['--basic', 'sluice:correct horse battery']);
    const { sub, dead } = await refusedWithoutCredential(command, n8n, 'Authorization', { status: 401, body: 'Authorization is required!' });

    await cliChange(['subs', 'update', sub.name, '--basic', 'sluice:wrong']);
    await t.publish('attacker.observed', envelope('first_sighting', {}, 'n8n-wrong'));
    const wrong = await t.waitForDelivery(matchesEvent('n8n-wrong', 'dead'));
    expect([wrong.statusCode, wrong.attempts]).toEqual([403, 1]);
    expect(unwrap(await t.api['deliveries.get'](wrong.id)).responseExcerpt).toBe('Authorization data is wrong!');

    await cliChange(['subs', 'update', sub.name, ...command.credential]);
    expect(unwrap(await t.api['deliveries.replay']({ id: dead.id })).count).toBe(1);
    const replayed = await t.waitForDelivery((d) => d.replayOf === dead.id && d.outcome === 'delivered');
    await deliveredWith(n8n, replayed, { name: 'Authorization', value: `Basic ${Buffer.from('sluice:correct horse battery').toString('base64')}` });
  });
});

describe('Shuffle webhook trigger', () => {
  it('refuses a delivery without the required header (401 Bad authentication headers), then runs the workflow for the replay that carries it', async () => {
    const value = 'a3f1c2e4b5d6978812ab34cd56ef7890a3f1c2e4b5d6978812ab34cd56ef7890';
    const shuffle = await standIn(shuffleWebhook(`x-relay-token=${value}`));
    const command = guideCommand('shuffle', shuffle, { '<uuid>': SHUFFLE_HOOK.slice('/api/v1/hooks/webhook_'.length), '<value>': value });
    const { sub, dead } = await refusedWithoutCredential(command, shuffle, 'x-relay-token', {
      status: 401,
      body: '{"success":false,"reason":"Bad authentication headers"}',
    });
    await cliChange(['subs', 'update', sub.name, ...command.credential]);
    expect(unwrap(await t.api['deliveries.replay']({ subscriptionId: sub.id, dead: true })).count).toBe(1);
    const replayed = await t.waitForDelivery((d) => d.replayOf === dead.id && d.outcome === 'delivered');
    const request = await deliveredWith(shuffle, replayed, { name: 'x-relay-token', value });
    // The body is the execution argument, unchanged: the signed envelope.
    expect(request.body.toString('utf8')).toBe(unwrap(await t.api['deliveries.get'](replayed.id)).requestBody);
  });
});

describe('save-time refusals', () => {
  const base: SubscriptionInput = { name: 'siem', url: 'https://siem.example/hook', presets: [], patterns: ['attacker.>'], enabled: true };

  it("Sluice's own headers cannot be replaced, plain or secret; the field is named", async () => {
    const cases: [Partial<SubscriptionInput>, string, string][] = [
      [{ headers: [{ name: 'Content-Type', value: 'text/plain' }] }, 'headers[0]', 'Content-Type is set by Sluice and cannot be replaced'],
      [{ headers: [{ name: 'X-Tenant', value: 'soc' }, { name: 'X-DECNET-Signature', value: 'sha256=00' }] }, 'headers[1]', 'X-DECNET-Signature is set by Sluice'],
      [{ secretHeaders: [{ name: 'x-decnet-event-id', value: 'forged' }] }, 'secretHeaders[0]', 'x-decnet-event-id is set by Sluice'],
      [{ headers: [{ name: 'Host', value: 'other.example' }] }, 'headers[0]', 'Host is set by Sluice'],
      [{ headers: [{ name: 'Authorization', value: 'a' }], secretHeaders: [{ name: 'authorization', value: 'b' }] }, 'secretHeaders[0]', 'authorization is given twice'],
    ];
    for (const [extra, field, message] of cases) {
      const result = await t.api['subscriptions.create']({ ...base, ...extra });
      expect(result.ok, JSON.stringify(extra)).toBe(false);
      if (!result.ok) {
        expect(result.error.field).toBe(field);
        expect(result.error.message).toContain(message);
      }
    }
    // An update is checked the same way, and changes nothing.
    const { subscription: sub } = unwrap(await t.api['subscriptions.create']({ ...base, headers: [{ name: 'X-Tenant', value: 'soc' }] }));
    const patch: SubscriptionPatch = { headers: [{ name: 'X-Tenant', value: 'soc' }, { name: 'Content-Length', value: '0' }] };
    const refused = await t.api['subscriptions.update'](sub.id, patch);
    expect(refused.ok ? null : [refused.error.field, refused.error.message]).toEqual(['headers[1]', 'Content-Length is set by Sluice and cannot be replaced']);
    expect(unwrap(await t.api['subscriptions.list']()).map((s) => [s.name, s.headers])).toEqual([['siem', [{ name: 'X-Tenant', value: 'soc' }]]]);

    // The CLI says the same before it opens anything.
    const cliRefused = await cli(['subs', 'add', '--name', 'other', '--url', 'https://siem.example/hook', '--pattern', 'a.>', '--header', 'X-DECNET-Signature: sha256=00']);
    expect(cliRefused.code).toBe(2);
    expect(cliRefused.stderr).toContain('X-DECNET-Signature is set by Sluice and cannot be replaced');
    expect(cliRefused.stderr).not.toMatch(/\n\s+at /);
  });

  it('a header value with a line break is refused (no header injection), plain or secret', async () => {
    const cases: [Partial<SubscriptionInput>, string][] = [
      [{ headers: [{ name: 'X-Tenant', value: 'soc\r\nX-Injected: 1' }] }, 'headers[0]'],
      [{ secretHeaders: [{ name: 'X-Api-Key', value: 'key\nX-Injected: 1' }] }, 'secretHeaders[0]'],
      [{ headers: [{ name: 'X-Tenant', value: 'soc\u0000' }] }, 'headers[0]'],
    ];
    for (const [extra, field] of cases) {
      const result = await t.api['subscriptions.create']({ ...base, ...extra });
      expect(result.ok ? null : [result.error.field, result.error.message]).toEqual([field, expect.stringContaining('cannot contain line breaks or control characters')]);
    }
    const cliRefused = await cli(['subs', 'add', '--name', 'x', '--url', 'https://siem.example/hook', '--pattern', 'a.>', '--secret-header', 'X-Api-Key: key\r\nX-Injected: 1']);
    expect(cliRefused.code).toBe(2);
    expect(cliRefused.stderr).toContain('--secret-header: the value of X-Api-Key cannot contain line breaks');
    expect(unwrap(await t.api['subscriptions.list']())).toEqual([]);
  });

  it('a URL with credentials is refused, pointing at secret headers', async () => {
    const result = await t.api['subscriptions.create']({ ...base, url: 'https://sluice:hunter2@siem.example/hook' });
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.error.field).toBe('url');
      expect(result.error.message).toContain('URL must not contain credentials');
      expect(result.error.message).toContain('send them in a secret header instead (--basic USER:PASSWORD or --bearer TOKEN');
    }
    const cliRefused = await cli(['subs', 'add', '--name', 'x', '--url', 'https://sluice:hunter2@siem.example/hook', '--pattern', 'a.>']);
    expect(cliRefused.code).toBe(2);
    expect(cliRefused.stderr).toContain('secret header');
    expect(unwrap(await t.api['subscriptions.list']())).toEqual([]);
  });
});
