/**
 * docs/receivers.md is run, not just read: every code block marked
 * `<!-- snippet: NAME -->` is extracted and executed for real — the Python verifier with
 * python3, the Node one with node, the Go one with go (when `go` is on PATH; .ci/run
 * installs golang-go) — against every reference signing vector, tampered bodies, wrong
 * secrets, the rotation header, and real deliveries from Sluice's engine. The Python
 * receiver and its Shuffle forwarder run as real processes; the Standard Webhooks verifier
 * runs with the official library against real deliveries; the filters and transforms the
 * guide shows are compiled and run on events.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DeliveryView } from '../../src-main/contract/views';
import { generateWebhookSecret } from '../../src-main/delivery/formats/standard-webhooks';
import type { JsonObject } from '../../src-main/delivery/json';
import { sign } from '../../src-main/delivery/wire';
import { compileExpression, runFilter, runTransform, type CompiledExpression } from '../../src-main/match/expression';
import { envelope, startTestEngine, unwrap, type TestEngine } from '../harness/engine';
import { startReceiver, status, type Receiver, type ReceivedRequest } from '../harness/receiver';
import { SIGNING_VECTORS, type SigningVector } from '../harness/signing-vectors';


const DOC_PATH = resolve(__dirname, '../../docs/receivers.md');
/** From the reference implementation, copied unchanged: see test/fixtures/README.md. */
const vectors = SIGNING_VECTORS;

interface Snippet {
  lang: string;
  code: string;
}

/** Every block preceded by `<!-- snippet: NAME -->`. */
function extractSnippets(markdown: string): Map<string, Snippet> {
  const found = new Map<string, Snippet>();
  for (const m of markdown.matchAll(/<!-- snippet: ([a-z0-9-]+) -->\n```([a-z]+)\n([\s\S]*?)\n```/g)) {
    const [, name, lang, code] = m as unknown as [string, string, string, string];
    if (found.has(name)) throw new Error(`snippet ${name} appears twice in docs/receivers.md`);
    found.set(name, { lang, code: `${code}\n` });
  }
  return found;
}

const markdown = readFileSync(DOC_PATH, 'utf8');
const snippets = extractSnippets(markdown);

function snippet(name: string): string {
  const s = snippets.get(name);
  if (!s) throw new Error(`docs/receivers.md has no <!-- snippet: ${name} --> block`);
  return s.code;
}

function onPath(command: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => dir !== '' && existsSync(join(dir, command)));
}

const HAS_GO = onPath('go');
const GO_SKIP_REASON = 'go is not on PATH (bash .ci/run installs the golang-go package)';

// ---------------------------------------------------------------------------------------
// Cases every verify snippet must decide the same way

interface Case {
  name: string;
  body: Buffer;
  signature: string | null;
  previous: string | null;
  secrets: string[];
  expect: boolean;
}

function flipByte(body: Buffer, at = Math.floor(body.length / 2)): Buffer {
  const copy = Buffer.from(body);
  copy[at] = (copy[at] as number) ^ 0x01;
  return copy;
}

function vectorCases(): Case[] {
  const cases: Case[] = [];
  vectors.forEach((v, i) => {
    const body = Buffer.from(v.body_base64, 'base64');
    const other = vectors[(i + 1) % vectors.length] as SigningVector;
    const next = `rotated-new-secret-for-${v.name}`;
    const base = { body, signature: v.signature, previous: null, secrets: [v.secret] };
    const add = (name: string, c: Partial<Case> & { expect: boolean }): void => {
      cases.push({ ...base, ...c, name: `${v.name}: ${name}` });
    };
    add('the reference signature verifies', { expect: true });
    add('holding an unrelated secret as well', { secrets: ['unrelated-secret-0123456789', v.secret], expect: true });
    add('one flipped bit in the body', { body: flipByte(body), expect: false });
    add('a trailing newline added to the body', { body: Buffer.concat([body, Buffer.from('\n')]), expect: false });
    add('the body re-serialized (parsed and written again)', { body: Buffer.from(JSON.stringify(JSON.parse(v.body_utf8), null, 1)), expect: false });
    add('a wrong secret', { secrets: [`${v.secret}x`], expect: false });
    add('no signature header', { signature: null, expect: false });
    add("another body's signature", { signature: other.signature, expect: false });
    add('the hex without its sha256= prefix', { signature: v.signature.slice('sha256='.length), expect: false });
    // Rotation: Sluice signs with the new secret and puts the old secret's signature in
    // X-DECNET-Signature-Previous.
    const rotating = { signature: sign(next, body), previous: v.signature };
    add('rotation, receiver still on the old secret (Previous header)', { ...rotating, secrets: [v.secret], expect: true });
    add('rotation, receiver already on the new secret', { ...rotating, secrets: [next], expect: true });
    add('rotation, receiver holding both', { ...rotating, secrets: [next, v.secret], expect: true });
    add('rotation, receiver holding neither', { ...rotating, secrets: ['neither-old-nor-new-0123'], expect: false });
    add('rotation, tampered body', { ...rotating, body: flipByte(body), secrets: [v.secret], expect: false });
    add('after the overlap, receiver still on the old secret', { signature: sign(next, body), previous: null, expect: false });
  });
  return cases;
}

// ---------------------------------------------------------------------------------------
// Running the snippets

interface Workdir {
  dir: string;
  write(name: string, text: string): string;
}

const workdirs: string[] = [];

function workdir(prefix: string): Workdir {
  const dir = mkdtempSync(join(tmpdir(), `sluice-receivers-${prefix}-`));
  workdirs.push(dir);
  return {
    dir,
    write(name, text) {
      const path = join(dir, name);
      writeFileSync(path, text);
      return path;
    },
  };
}

afterAll(() => {
  for (const dir of workdirs) rmSync(dir, { recursive: true, force: true });
});

function wireCases(cases: Case[]): string {
  return JSON.stringify(cases.map((c) => ({ body: c.body.toString('base64'), signature: c.signature, previous: c.previous, secrets: c.secrets })));
}

function run(command: string, args: string[], cwd: string, input: string, env: NodeJS.ProcessEnv = {}): string {
  const result = spawnSync(command, args, { cwd, input, encoding: 'utf8', timeout: 180_000, env: { ...process.env, ...env } });
  if (result.error) throw result.error;
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} exited ${result.status}:\n${result.stderr}`);
  return result.stdout;
}

const PYTHON_DRIVER = `import base64, json, sys
from decnet_verify import verify_decnet_signature
cases = json.load(sys.stdin)
print(json.dumps([verify_decnet_signature(base64.b64decode(c["body"]), c["signature"], c["previous"], c["secrets"]) for c in cases]))
`;

const NODE_DRIVER = `import { readFileSync } from 'node:fs';
import { verifyDecnetSignature } from './verify.mjs';
const cases = JSON.parse(readFileSync(0, 'utf8'));
process.stdout.write(JSON.stringify(cases.map((c) => verifyDecnetSignature(Buffer.from(c.body, 'base64'), c.signature ?? undefined, c.previous ?? undefined, c.secrets))));
`;

/** Runs each case through VerifySignature and through Handler (status code of a real request). */
const GO_DRIVER = `package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
)

type testCase struct {
	Body      string   \`json:"body"\`
	Signature string   \`json:"signature"\`
	Previous  string   \`json:"previous"\`
	Secrets   []string \`json:"secrets"\`
}

func main() {
	var cases []testCase
	if err := json.NewDecoder(os.Stdin).Decode(&cases); err != nil {
		panic(err)
	}
	out := struct {
		Verify  []bool \`json:"verify"\`
		Handler []int  \`json:"handler"\`
	}{}
	for _, c := range cases {
		body, err := base64.StdEncoding.DecodeString(c.Body)
		if err != nil {
			panic(err)
		}
		out.Verify = append(out.Verify, VerifySignature(body, c.Signature, c.Previous, c.Secrets))
		req := httptest.NewRequest(http.MethodPost, "/decnet", bytes.NewReader(body))
		if c.Signature != "" {
			req.Header.Set("X-DECNET-Signature", c.Signature)
		}
		if c.Previous != "" {
			req.Header.Set("X-DECNET-Signature-Previous", c.Previous)
		}
		rec := httptest.NewRecorder()
		Handler(c.Secrets, func(got []byte) error {
			if !bytes.Equal(got, body) {
				panic("handler passed on other bytes than it received")
			}
			return nil
		})(rec, req)
		out.Handler = append(out.Handler, rec.Code)
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		panic(err)
	}
}
`;

function runPythonVerify(cases: Case[]): boolean[] {
  const w = workdir('py');
  w.write('decnet_verify.py', snippet('python-verify'));
  w.write('driver.py', PYTHON_DRIVER);
  return JSON.parse(run('python3', ['driver.py'], w.dir, wireCases(cases), { PYTHONDONTWRITEBYTECODE: '1' })) as boolean[];
}

function runNodeVerify(cases: Case[]): boolean[] {
  const w = workdir('node');
  w.write('verify.mjs', snippet('node-verify'));
  w.write('driver.mjs', NODE_DRIVER);
  return JSON.parse(run(process.execPath, ['driver.mjs'], w.dir, wireCases(cases))) as boolean[];
}

function runGo(cases: Case[]): { verify: boolean[]; handler: number[] } {
  const w = workdir('go');
  const code = snippet('go-verify');
  expect(code.startsWith('package decnet\n'), 'the Go snippet declares package decnet').toBe(true);
  w.write('go.mod', 'module receiversguide\n\ngo 1.19\n');
  w.write('verify.go', code.replace(/^package decnet\n/, 'package main\n'));
  w.write('main.go', GO_DRIVER);
  // GOFLAGS/GOTOOLCHAIN: build offline with whatever go is installed.
  return JSON.parse(run('go', ['run', '.'], w.dir, wireCases(cases), { GOFLAGS: '-mod=mod', GOTOOLCHAIN: 'local' })) as {
    verify: boolean[];
    handler: number[];
  };
}

function mismatches(cases: Case[], got: boolean[]): string[] {
  expect(got).toHaveLength(cases.length);
  return cases.flatMap((c, i) => (got[i] === c.expect ? [] : [`${c.name}: expected ${c.expect}, got ${String(got[i])}`]));
}

// ---------------------------------------------------------------------------------------
// Real deliveries from Sluice's engine

const OLD = 'old-secret-0123456789abcdef';
const NEW = 'new-secret-0123456789abcdef';

interface EngineCapture {
  before: ReceivedRequest;
  during: ReceivedRequest;
}

/** One delivery before and one during a rotation (old secret kept valid for an hour). */
async function captureEngineDeliveries(): Promise<EngineCapture> {
  const t = await startTestEngine();
  const receiver = await startReceiver();
  try {
    const sub = unwrap(
      await t.api['subscriptions.create']({ name: 'guide', url: receiver.url, secret: OLD, presets: [], patterns: ['attacker.>'], enabled: true }),
    ).subscription;
    await t.engine.busReady();
    await t.publish('attacker.observed', envelope('first_sighting', { ip: '203.0.113.7' }, 'engine-before'));
    const [before] = await receiver.waitForRequests(1);
    unwrap(await t.api['subscriptions.update'](sub.id, { secret: NEW, previousSecretValidHours: 1 }));
    await t.publish('attacker.observed', envelope('first_sighting', { ip: '203.0.113.8', note: 'café ☕' }, 'engine-during'));
    const during = (await receiver.waitForRequests(2))[1];
    return { before: before as ReceivedRequest, during: during as ReceivedRequest };
  } finally {
    await receiver.close();
    await t.cleanup();
  }
}

function engineCases(capture: EngineCapture): Case[] {
  const headers = (r: ReceivedRequest) => ({ signature: r.headers['x-decnet-signature'] ?? null, previous: r.headers['x-decnet-signature-previous'] ?? null });
  const { before, during } = capture;
  return [
    { name: 'engine: a delivery, receiver holds its secret', body: before.body, ...headers(before), secrets: [OLD], expect: true },
    { name: 'engine: a delivery, receiver holds another secret', body: before.body, ...headers(before), secrets: [NEW], expect: false },
    { name: 'engine: a delivery, tampered body', body: flipByte(before.body), ...headers(before), secrets: [OLD], expect: false },
    { name: 'engine: during rotation, receiver on the old secret', body: during.body, ...headers(during), secrets: [OLD], expect: true },
    { name: 'engine: during rotation, receiver on the new secret', body: during.body, ...headers(during), secrets: [NEW], expect: true },
    { name: 'engine: during rotation, tampered body', body: flipByte(during.body, 20), ...headers(during), secrets: [OLD, NEW], expect: false },
    { name: 'engine: during rotation, Previous header dropped, old secret', body: during.body, ...headers(during), previous: null, secrets: [OLD], expect: false },
  ];
}

// ---------------------------------------------------------------------------------------

describe('docs/receivers.md', () => {
  it('marks every Python, Node and Go block as a snippet, so none goes untested', () => {
    const fences = [...markdown.matchAll(/^ *```(python|js|javascript|go|ts|typescript)$/gm)].length;
    const marked = [...snippets.values()].filter((s) => ['python', 'js', 'go'].includes(s.lang)).length;
    expect(fences).toBe(marked);
    expect([...snippets.keys()].sort()).toEqual(
      ['go-verify', 'http-example', 'node-verify', 'node-verify-standard-webhooks', 'python-forward-shuffle', 'python-receiver', 'python-verify'].sort(),
    );
  });

  it('shows a delivery that is the reference vector, byte for byte', () => {
    const v = vectors.find((x) => x.name === 'simple') as SigningVector;
    const [head, body] = snippet('http-example').split('\n\n') as [string, string];
    expect(body.trimEnd()).toBe(v.body_utf8);
    expect(head).toContain(`X-DECNET-Signature: ${v.signature}\n`);
    expect(head).toContain(`X-DECNET-Event-Id: ${v.event.id}\n`);
    expect(head).toContain(`X-DECNET-Event-Topic: ${v.event.topic}\n`);
    expect(markdown).toContain(`its secret is \`${v.secret}\``);
  });
});

describe('the verify snippets', () => {
  let cases: Case[];

  beforeAll(async () => {
    cases = [...vectorCases(), ...engineCases(await captureEngineDeliveries())];
  });

  it('are given cases that must pass and cases that must fail', () => {
    expect(vectors.length).toBeGreaterThanOrEqual(6);
    expect(cases.filter((c) => c.expect).length).toBeGreaterThanOrEqual(vectors.length * 4);
    expect(cases.filter((c) => !c.expect).length).toBeGreaterThanOrEqual(vectors.length * 8);
  });

  it('python: accepts every valid and rotation case, rejects every tampered or mis-signed one', () => {
    expect(mismatches(cases, runPythonVerify(cases))).toEqual([]);
  });

  it('node: accepts every valid and rotation case, rejects every tampered or mis-signed one', () => {
    expect(mismatches(cases, runNodeVerify(cases))).toEqual([]);
  });

  it.skipIf(!HAS_GO)(`go: VerifySignature and Handler decide every case the same way${HAS_GO ? '' : ` — skipped: ${GO_SKIP_REASON}`}`, () => {
    const got = runGo(cases);
    expect(mismatches(cases, got.verify)).toEqual([]);
    expect(got.handler).toEqual(cases.map((c) => (c.expect ? 200 : 401)));
  });
});

// ---------------------------------------------------------------------------------------
// The Python receiver as a real process

interface PythonReceiver {
  url: string;
  out: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Starts the receiver snippet (with `extra` pasted in before its main block) on a free port. */
async function startPythonReceiver(env: Record<string, string>, extra = ''): Promise<PythonReceiver> {
  const w = workdir('receiver');
  w.write('decnet_verify.py', snippet('python-verify'));
  const source = snippet('python-receiver');
  const mainAt = source.indexOf('\nif __name__ == "__main__":');
  expect(mainAt, 'the receiver snippet has a main block').toBeGreaterThan(0);
  w.write('decnet_receiver.py', extra === '' ? source : `${source.slice(0, mainAt)}\n\n${extra}${source.slice(mainAt)}`);
  const out = join(w.dir, 'events.json');
  const child = spawn('python3', ['decnet_receiver.py'], {
    cwd: w.dir,
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', PYTHONUNBUFFERED: '1', HOST: '127.0.0.1', PORT: '0', DECNET_OUT: out, DECNET_DEDUP_DB: join(w.dir, 'seen.sqlite3'), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()));
  const url = await new Promise<string>((resolveUrl, reject) => {
    let stdout = '';
    const timer = setTimeout(() => reject(new Error(`python receiver did not start:\n${stderr}`)), 15_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+\/)/.exec(stdout);
      if (m) {
        clearTimeout(timer);
        resolveUrl(m[1] as string);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`python receiver exited ${code}:\n${stderr}`));
    });
  });
  return {
    url,
    out,
    child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

function lines(path: string): string[] {
  return existsSync(path) ? readFileSync(path, 'utf8').split('\n').filter((l) => l !== '') : [];
}

/** A direct POST, as Sluice would send it (or a forger). */
function post(url: string, body: Buffer, headers: Record<string, string>): Promise<{ status: number; text: string }> {
  return new Promise((resolvePost, reject) => {
    const req = request(url, { method: 'POST', headers: { 'Content-Type': 'application/json', 'Content-Length': String(body.length), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolvePost({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

function signedPost(url: string, v: SigningVector, secret = v.secret): Promise<{ status: number; text: string }> {
  const body = Buffer.from(v.body_base64, 'base64');
  return post(url, body, { 'X-DECNET-Signature': sign(secret, body), 'X-DECNET-Event-Id': v.event.id });
}

const vector = (name: string): SigningVector => vectors.find((v) => v.name === name) as SigningVector;

describe('the Python receiver, fed by Sluice', () => {
  let t: TestEngine;
  let receiver: PythonReceiver;

  beforeEach(async () => {
    t = await startTestEngine();
    // A receiver that was never switched: it holds only the old secret.
    receiver = await startPythonReceiver({ DECNET_SECRET: OLD });
  });

  afterEach(async () => {
    await receiver.stop();
    await t.cleanup();
  });

  it('writes each verified event once, across duplicates and a rotation, and refuses forgeries', async () => {
    const sub = unwrap(
      await t.api['subscriptions.create']({ name: 'wazuh', url: `${receiver.url}decnet`, secret: OLD, presets: [], patterns: ['attacker.>'], enabled: true }),
    ).subscription;
    await t.engine.busReady();

    const first = envelope('first_sighting', { ip: '198.51.100.4' }, 'guide-1');
    await t.publish('attacker.observed', first);
    await t.publish('attacker.observed', first); // the same event id again: a duplicate
    const done = await t.waitForFinal(2);
    expect(done.map((d) => [d.eventId, d.outcome, d.statusCode])).toEqual([
      ['guide-1', 'delivered', 200],
      ['guide-1', 'delivered', 200],
    ]);
    expect(lines(receiver.out).map((l) => (JSON.parse(l) as { id: string }).id)).toEqual(['guide-1']);

    unwrap(await t.api['subscriptions.update'](sub.id, { secret: NEW, previousSecretValidHours: 1 }));
    await t.publish('attacker.observed', envelope('first_sighting', { ip: '198.51.100.5' }, 'guide-2'));
    const [, , rotated] = await t.waitForFinal(3);
    expect([rotated?.eventId, rotated?.outcome]).toEqual(['guide-2', 'delivered']);
    const written = lines(receiver.out);
    expect(written.map((l) => (JSON.parse(l) as { id: string }).id)).toEqual(['guide-1', 'guide-2']);
    // The file holds the exact signed bytes, one event per line; the rotated delivery carried both signatures.
    const detail = unwrap(await t.api['deliveries.get']((rotated as DeliveryView).id));
    expect(written[1]).toBe(detail.requestBody);
    expect(detail.requestHeaders?.['X-DECNET-Signature-Previous']).toBe(sign(OLD, Buffer.from(written[1] as string, 'utf8')));
    expect((JSON.parse(written[1] as string) as { payload: { ip: string } }).payload.ip).toBe('198.51.100.5');

    const forged = Buffer.from((written[0] as string).replace('198.51.100.4', '198.51.100.9'), 'utf8');
    expect((await post(`${receiver.url}decnet`, forged, { 'X-DECNET-Signature': sign(NEW, forged) })).status).toBe(401);
    expect((await post(`${receiver.url}decnet`, forged, {})).status).toBe(401);
    expect(lines(receiver.out)).toHaveLength(2);
  });
});

describe('the Shuffle forwarder, against a stand-in for the product', () => {
  let product: Receiver;
  let receiver: PythonReceiver;

  beforeEach(async () => {
    product = await startReceiver(status(201, '{}'));
  });

  afterEach(async () => {
    await receiver?.stop();
    await product.close();
  });

  it('Shuffle: the verified body is passed on unchanged, with the header the webhook requires', async () => {
    const unicode = vector('unicode');
    const webhook = product.url.replace(/\/hook$/, '/api/v1/hooks/webhook_0b7e2a4c');
    receiver = await startPythonReceiver(
      { DECNET_SECRET: unicode.secret, SHUFFLE_WEBHOOK_URL: webhook, SHUFFLE_HEADER_VALUE: 'relay-token-value' },
      snippet('python-forward-shuffle'),
    );

    expect(await signedPost(receiver.url, unicode)).toEqual({ status: 200, text: 'ok' });
    const [hook] = await product.waitForRequests(1);
    expect([hook?.method, hook?.path, hook?.headers['x-relay-token']]).toEqual(['POST', '/api/v1/hooks/webhook_0b7e2a4c', 'relay-token-value']);
    expect((hook as ReceivedRequest).body.equals(Buffer.from(unicode.body_base64, 'base64'))).toBe(true);

    expect((await signedPost(receiver.url, unicode, 'not-the-secret-0123456789')).status).toBe(401);
    expect(await signedPost(receiver.url, unicode)).toEqual({ status: 200, text: 'duplicate' });
    expect(product.requests).toHaveLength(1);
  });
});

// ---------------------------------------------------------------------------------------
// Standard Webhooks: the guide's verifier, with the official library, against real deliveries

interface WebhookCase {
  name: string;
  body: string;
  headers: Record<string, string>;
  secrets: string[];
  /** The event id the verifier returns, or null (refused). */
  expect: string | null;
}

const STANDARD_WEBHOOKS_DRIVER = `import { readFileSync } from 'node:fs';
import { verifySluice } from './verify.mjs';
const cases = JSON.parse(readFileSync(0, 'utf8'));
process.stdout.write(JSON.stringify(cases.map((c) => verifySluice(c.body, c.headers, c.secrets)?.id ?? null)));
`;

/** One delivery before and one during a rotation, in the standard-webhooks format. */
async function captureStandardWebhooks(oldSecret: string, newSecret: string): Promise<EngineCapture> {
  const t = await startTestEngine();
  const receiver = await startReceiver();
  try {
    const { subscription: sub } = unwrap(
      await t.api['subscriptions.create']({ name: 'sw', url: receiver.url, secret: oldSecret, presets: [], patterns: ['attacker.>'], format: 'standard-webhooks' }),
    );
    await t.engine.busReady();
    await t.publish('attacker.observed', envelope('first_sighting', { ip: '203.0.113.7' }, 'sw-before'));
    const [before] = await receiver.waitForRequests(1);
    unwrap(await t.api['subscriptions.update'](sub.id, { secret: newSecret, previousSecretValidHours: 1 }));
    await t.publish('attacker.observed', envelope('first_sighting', { ip: '203.0.113.8', note: 'café ☕' }, 'sw-during'));
    const during = (await receiver.waitForRequests(2))[1];
    return { before: before as ReceivedRequest, during: during as ReceivedRequest };
  } finally {
    await receiver.close();
    await t.cleanup();
  }
}

describe('the Standard Webhooks verifier', () => {
  it('accepts real deliveries with the secret held (either one during a rotation), refuses a tampered or mis-signed one', async () => {
    const [oldSecret, newSecret, other] = [generateWebhookSecret(), generateWebhookSecret(), generateWebhookSecret()];
    const { before, during } = await captureStandardWebhooks(oldSecret, newSecret);
    expect(before.headers['webhook-signature']?.split(' ')).toHaveLength(1);
    expect(during.headers['webhook-signature']?.split(' ')).toHaveLength(2);
    const c = (name: string, r: ReceivedRequest, secrets: string[], expectId: string | null, change: Partial<Pick<WebhookCase, 'body' | 'headers'>> = {}): WebhookCase => ({
      name,
      body: r.body.toString('utf8'),
      headers: r.headers,
      secrets,
      expect: expectId,
      ...change,
    });
    const cases: WebhookCase[] = [
      c('a delivery, receiver holds its secret', before, [oldSecret], 'sw-before'),
      c('a delivery, receiver holds another secret', before, [other], null),
      c('a delivery, receiver holds another and its secret', before, [other, oldSecret], 'sw-before'),
      c('a delivery, tampered body', before, [oldSecret], null, { body: before.body.toString('utf8').replace('203.0.113.7', '203.0.113.9') }),
      c('a delivery, another webhook-id', before, [oldSecret], null, { headers: { ...before.headers, 'webhook-id': 'sw-other' } }),
      c('during rotation, receiver on the old secret', during, [oldSecret], 'sw-during'),
      c('during rotation, receiver on the new secret', during, [newSecret], 'sw-during'),
      c('during rotation, receiver holding neither', during, [other], null),
      c('during rotation, the old signature dropped, old secret', during, [oldSecret], null, {
        headers: { ...during.headers, 'webhook-signature': (during.headers['webhook-signature'] as string).split(' ')[0] as string },
      }),
    ];
    const w = workdir('standard-webhooks');
    // The official library, as `npm install standardwebhooks` would put it beside the receiver.
    mkdirSync(join(w.dir, 'node_modules'));
    symlinkSync(resolve(__dirname, '../../node_modules/standardwebhooks'), join(w.dir, 'node_modules', 'standardwebhooks'), 'dir');
    w.write('verify.mjs', snippet('node-verify-standard-webhooks'));
    w.write('driver.mjs', STANDARD_WEBHOOKS_DRIVER);
    const got = JSON.parse(run(process.execPath, ['driver.mjs'], w.dir, JSON.stringify(cases))) as (string | null)[];
    expect(cases.flatMap((k, i) => (got[i] === k.expect ? [] : [`${k.name}: expected ${k.expect}, got ${got[i]}`]))).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------
// The guide's filters and transforms

/** The expression of each block marked `<!-- expression: NAME -->`, from its `--filter '…'` or `--transform '…'`. */
function guideExpressions(): Map<string, { kind: 'filter' | 'transform'; text: string }> {
  const found = new Map<string, { kind: 'filter' | 'transform'; text: string }>();
  for (const m of markdown.matchAll(/<!-- expression: ([a-z0-9-]+) -->\n```sh\n([\s\S]*?)\n```/g)) {
    const [, name, code] = m as unknown as [string, string, string];
    const option = /--(filter|transform) '([^']*)'/.exec(code);
    if (!option) throw new Error(`expression ${name} has no --filter or --transform`);
    expect(code, name).toMatch(/^npm run -s sluice -- subs add /);
    found.set(name, { kind: option[1] as 'filter' | 'transform', text: option[2] as string });
  }
  return found;
}

describe("docs/receivers.md's filters and transforms", () => {
  const expressions = guideExpressions();
  const at = (name: string): CompiledExpression => {
    const entry = expressions.get(name);
    if (!entry) throw new Error(`no <!-- expression: ${name} --> block`);
    const compiled = compileExpression(entry.text, entry.kind);
    if (!compiled.ok) throw new Error(`${name}: ${compiled.message}`);
    return compiled.expression;
  };
  const ev = (topic: string, type: string, payload: JsonObject) => ({ id: 'e-1', topic, type, ts: '2026-11-28T10:15:30.250000+00:00', payload });

  it('are the three the guide shows, and each compiles', () => {
    expect([...expressions.keys()]).toEqual(['finance-canaries', 'high-score', 'ticket-body']);
  });

  it('finance canaries: a fin- decoy passes, another decoy or none does not', async () => {
    const filter = at('finance-canaries');
    expect(await runFilter(filter, ev('canary.fin-01.triggered', 'canary_hit', { decky: 'fin-01' }))).toEqual({ pass: true, error: null });
    expect((await runFilter(filter, ev('canary.web-03.triggered', 'canary_hit', { decky: 'web-03' }))).pass).toBe(false);
    expect((await runFilter(filter, ev('canary.x.triggered', 'canary_hit', {}))).pass).toBe(false);
  });

  it('high score: above 70 passes, 70 and below or no score does not', async () => {
    const filter = at('high-score');
    expect((await runFilter(filter, ev('attacker.observed', 'scored', { score: 88 }))).pass).toBe(true);
    expect((await runFilter(filter, ev('attacker.observed', 'scored', { score: 70 }))).pass).toBe(false);
    expect((await runFilter(filter, ev('attacker.observed', 'scored', {}))).pass).toBe(false);
  });

  it('ticket body: the fields the ticketing webhook wants', async () => {
    const transform = at('ticket-body');
    const body = (result: Awaited<ReturnType<typeof runTransform>>) => (result.ok ? JSON.parse(result.body.toString('utf8')) : result.error);
    expect(body(await runTransform(transform, ev('canary.fin-01.triggered', 'canary_hit', { decky: 'fin-01', ip: '203.0.113.7', score: 95 })))).toEqual({
      summary: 'DECNET canary_hit on fin-01',
      severity: 'critical',
      source_ip: '203.0.113.7',
      occurred_at: '2026-11-28T10:15:30.250000+00:00',
      external_id: 'e-1',
    });
    expect(body(await runTransform(transform, ev('attacker.observed', 'first_sighting', { ip: '198.51.100.4', score: 40 })))).toEqual({
      summary: 'DECNET first_sighting on attacker.observed',
      severity: 'high',
      source_ip: '198.51.100.4',
      occurred_at: '2026-11-28T10:15:30.250000+00:00',
      external_id: 'e-1',
    });
  });
});
