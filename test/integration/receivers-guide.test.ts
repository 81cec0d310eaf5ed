/**
 * docs/receivers.md is run, not just read: every code block marked
 * `<!-- snippet: NAME -->` is extracted and executed for real — the Python verifier with
 * python3, the Node one with node, the Go one with go (when `go` is on PATH; .ci/run
 * installs golang-go) — against every reference signing vector, tampered bodies, wrong
 * secrets, the rotation header, and real deliveries from Sluice's engine. The Python
 * receiver and its TheHive / Shuffle forwarders run as real processes.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DeliveryView } from '../../src-main/contract/views';
import { sign, type WireEvent } from '../../src-main/delivery/wire';
import { envelope, startTestEngine, unwrap, type TestEngine } from '../harness/engine';
import { startReceiver, status, type Receiver, type ReceivedRequest } from '../harness/receiver';

interface Vector {
  name: string;
  secret: string;
  event: WireEvent;
  body_utf8: string;
  body_base64: string;
  signature: string;
}

const DOC_PATH = resolve(__dirname, '../../docs/receivers.md');
/** From the reference implementation, copied unchanged: see test/fixtures/README.md. */
const vectors = JSON.parse(readFileSync(resolve(__dirname, '../fixtures/signing-vectors.json'), 'utf8')) as Vector[];

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
    const other = vectors[(i + 1) % vectors.length] as Vector;
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
      ['go-verify', 'http-example', 'node-verify', 'python-forward-shuffle', 'python-forward-thehive', 'python-receiver', 'python-verify'].sort(),
    );
  });

  it('shows a delivery that is the reference vector, byte for byte', () => {
    const v = vectors.find((x) => x.name === 'simple') as Vector;
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

function signedPost(url: string, v: Vector, secret = v.secret): Promise<{ status: number; text: string }> {
  const body = Buffer.from(v.body_base64, 'base64');
  return post(url, body, { 'X-DECNET-Signature': sign(secret, body), 'X-DECNET-Event-Id': v.event.id });
}

const vector = (name: string): Vector => vectors.find((v) => v.name === name) as Vector;

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

describe('the TheHive and Shuffle forwarders, against stand-ins for the products', () => {
  let product: Receiver;
  let receiver: PythonReceiver;

  beforeEach(async () => {
    product = await startReceiver(status(201, '{}'));
  });

  afterEach(async () => {
    await receiver?.stop();
    await product.close();
  });

  it('TheHive: one alert per event with the event id as sourceRef; a refusal is retried, a duplicate is not sent', async () => {
    const base = product.url.replace(/\/hook$/, '');
    const simple = vector('simple');
    receiver = await startPythonReceiver(
      { DECNET_SECRET: simple.secret, THEHIVE_URL: `${base}/`, THEHIVE_API_KEY: 'test-api-key' },
      snippet('python-forward-thehive'),
    );

    expect(await signedPost(receiver.url, simple)).toEqual({ status: 200, text: 'ok' });
    const [alert] = await product.waitForRequests(1);
    expect([alert?.method, alert?.path, alert?.headers.authorization]).toEqual(['POST', '/api/v1/alert', 'Bearer test-api-key']);
    const sent = JSON.parse((alert as ReceivedRequest).body.toString('utf8')) as Record<string, unknown>;
    expect(sent).toMatchObject({
      type: 'decnet',
      source: 'sluice',
      sourceRef: simple.event.id,
      title: `DECNET ${simple.event.topic}`,
      tags: ['decnet', simple.event.topic],
      severity: 2,
      date: Date.parse(simple.event.ts),
      observables: [{ dataType: 'ip', data: '1.2.3.4' }],
    });
    expect(sent.description).toContain('"first_sighting"');

    // The same event again: answered 200, not sent to TheHive twice.
    expect(await signedPost(receiver.url, simple)).toEqual({ status: 200, text: 'duplicate' });

    // TheHive refuses: Sluice is told to retry, and the event is not remembered as done.
    product.setBehavior(status(500, 'boom'));
    const nested = vector('nested-unsorted');
    expect((await signedPost(receiver.url, nested, simple.secret)).status).toBe(503);
    product.setBehavior(status(201, '{}'));
    expect(await signedPost(receiver.url, nested, simple.secret)).toEqual({ status: 200, text: 'ok' });
    const all = await product.waitForRequests(3);
    expect(all.map((r) => (JSON.parse(r.body.toString('utf8')) as { sourceRef: string }).sourceRef)).toEqual([simple.event.id, nested.event.id, nested.event.id]);
    expect(JSON.parse((all[2] as ReceivedRequest).body.toString('utf8'))).not.toHaveProperty('observables');

    // A forgery never reaches TheHive.
    expect((await signedPost(receiver.url, vector('unicode'), 'not-the-secret-0123456789')).status).toBe(401);
    expect(product.requests).toHaveLength(3);
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
