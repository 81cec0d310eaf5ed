/**
 * Secrets at rest (issue 5, item 1). A CANARY secret, created with a key file, goes
 * through everything Sluice does — deliveries, a test fire, retries, dead letters, a
 * replay, a `sluice run` process with its JSON-lines log, a web-host JSON-RPC session,
 * one-shot CLI commands, delivery details — and then appears nowhere: not in the
 * database file, its -wal or -shm (raw bytes), not in any log, not in any bridge answer
 * after the create. Receivers still verify every signature with it. Also: a wrong or
 * missing key makes every entry point refuse to start and changes nothing; plain-text
 * rows of an older database are encrypted at the first start with a key.
 * Without --secret-key-file or SLUICE_SECRET_KEY, the default key (made in the config
 * folder, or the OS key store) does the same: the default commands never store a
 * secret in clear.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import BetterSqlite3 from 'better-sqlite3';
import { WebSocket } from 'ws';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Result, SluiceApi } from '../../src-main/contract/bridge';
import { authorizationHeader, MASKED_VALUE } from '../../src-main/contract/subscription-options';
import type { DeliveryDetail, DeliveryView, SubscriptionView } from '../../src-main/contract/views';
import { sign } from '../../src-main/delivery/wire';
import { Engine } from '../../src-main/engine/engine';
import { envKeyCipher, keyFileCipher, resolveKeySource } from '../../src-main/store/key-source';
import { createKeyFileCipher, parseKey, SecretKeySourceError } from '../../src-main/store/secret-cipher';
import { envelope, startTestEngine, unwrap, type TestEngine } from '../harness/engine';
import { startNatsServer, type NatsServer } from '../harness/nats-server';
import { startReceiver, status, type Behavior, type Receiver } from '../harness/receiver';

const CLI = fileURLToPath(new URL('../../out/main/cli.js', import.meta.url));
const SERVE = fileURLToPath(new URL('../../out/main/serve.js', import.meta.url));
const REFUSAL = 'cannot decrypt subscription secrets: wrong or missing key';

let dir: string;
let db: string;
let keyPath: string;
let nats: NatsServer;
const receivers: Receiver[] = [];
const children = new Set<ChildProcess>();
const engines: TestEngine[] = [];

/** The canary in every form it could leak in: text, base64, base64url, hex. */
function forms(secret: string): string[] {
  const bytes = Buffer.from(secret, 'utf8');
  return [secret, bytes.toString('base64').replace(/=+$/, ''), bytes.toString('base64url'), bytes.toString('hex')];
}

function leaks(haystack: string | Buffer, secret: string): string[] {
  const buf = typeof haystack === 'string' ? Buffer.from(haystack, 'utf8') : haystack;
  return forms(secret).filter((form) => buf.includes(Buffer.from(form, 'utf8')) || buf.includes(Buffer.from(form, 'utf16le')));
}

/** Raw bytes of the database and its WAL and shared-memory files, as they are now. */
function databaseFiles(path = db): { name: string; bytes: Buffer }[] {
  return ['', '-wal', '-shm', '-journal']
    .map((suffix) => `${path}${suffix}`)
    .filter((file) => existsSync(file))
    .map((file) => ({ name: file, bytes: readFileSync(file) }));
}

function expectNotOnDisk(secret: string, when: string): void {
  const files = databaseFiles();
  expect(files.length, when).toBeGreaterThan(0);
  for (const { name, bytes } of files) expect(leaks(bytes, secret), `${when}: ${name}`).toEqual([]);
}

function storedSecrets(path = db): { name: string; secret: string; previous_secret: string | null }[] {
  const conn = new BetterSqlite3(path, { readonly: true, fileMustExist: true });
  try {
    return conn.prepare('SELECT name, secret, previous_secret FROM subscriptions ORDER BY name').all() as never;
  } finally {
    conn.close();
  }
}

/** Every subscription row as stored. */
function allRows(path = db): unknown[] {
  const conn = new BetterSqlite3(path, { readonly: true, fileMustExist: true });
  try {
    return conn.prepare('SELECT * FROM subscriptions ORDER BY id').all();
  } finally {
    conn.close();
  }
}

/** A receiver that answers 200 only when a signature verifies with `secret`, else 401. */
function verifying(secret: string, verified: { ok: number; bad: number }): Behavior {
  return (req, res) => {
    const good = [req.headers['x-decnet-signature'], req.headers['x-decnet-signature-previous']].includes(sign(secret, req.body));
    if (good) verified.ok++;
    else verified.bad++;
    res.writeHead(good ? 200 : 401, { 'content-type': 'text/plain' });
    res.end(good ? 'verified' : 'bad signature');
  };
}

async function receiver(behavior?: Behavior): Promise<Receiver> {
  const r = await startReceiver(behavior);
  receivers.push(r);
  return r;
}

interface Proc {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
  waitFor(predicate: (stdout: string) => boolean, timeoutMs?: number): Promise<void>;
}

function spawnNode(script: string, args: string[], env: NodeJS.ProcessEnv = {}): Proc {
  const { SLUICE_SECRET_KEY: _drop, ...base } = process.env;
  const child = spawn(process.execPath, [script, ...args], { env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  let errText = '';
  const wakers = new Set<() => void>();
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    for (const w of [...wakers]) w();
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (errText += chunk));
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      children.delete(child);
      for (const w of [...wakers]) w();
      resolve(code);
    }),
  );
  return {
    child,
    stdout: () => out,
    stderr: () => errText,
    exited,
    waitFor(predicate, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          wakers.delete(check);
          reject(new Error(`timed out; stdout:\n${out}\nstderr:\n${errText}`));
        }, timeoutMs);
        const check = (): void => {
          if (predicate(out)) {
            clearTimeout(timer);
            wakers.delete(check);
            resolve();
          } else if (child.exitCode !== null) {
            clearTimeout(timer);
            wakers.delete(check);
            reject(new Error(`exited ${child.exitCode}; stdout:\n${out}\nstderr:\n${errText}`));
          }
        };
        wakers.add(check);
        check();
      });
    },
  };
}

async function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = spawnNode(CLI, args, env);
  const code = await p.exited;
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}

const jsonLines = (text: string): Record<string, unknown>[] =>
  text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

/** Every answer of the in-process bridge, as JSON text, from the moment it is wrapped. */
function recording(api: SluiceApi): { api: SluiceApi; answers: string[] } {
  const answers: string[] = [];
  const wrapped = new Proxy(api, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver) as unknown;
      if (typeof key !== 'string' || key === 'on' || typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        const result = (await (value as (...a: unknown[]) => Promise<Result<unknown>>)(...args)) as Result<unknown>;
        answers.push(JSON.stringify(result));
        return result;
      };
    },
  });
  return { api: wrapped, answers };
}

/** A JSON-RPC session with the web host, keeping every message it receives. */
class RpcSession {
  readonly frames: string[] = [];
  private nextId = 1;
  private readonly pending = new Map<number, (m: { result: Result<unknown> }) => void>();

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      const text = data.toString('utf8');
      this.frames.push(text);
      const message = JSON.parse(text) as { id?: number; result: Result<unknown> };
      if (typeof message.id === 'number') this.pending.get(message.id)?.(message);
    });
  }

  static async open(url: string): Promise<RpcSession> {
    const { origin, port, hash } = new URL(url);
    const token = new URLSearchParams(hash.slice(1)).get('token') ?? '';
    const ws = new WebSocket(`ws://127.0.0.1:${port}/rpc?token=${encodeURIComponent(token)}`, { origin });
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    return new RpcSession(ws);
  }

  async call<T>(method: string, ...params: unknown[]): Promise<T> {
    const id = this.nextId++;
    const answer = new Promise<{ result: Result<unknown> }>((resolve) => this.pending.set(id, resolve));
    this.ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
    const { result } = await answer;
    if (!result.ok) throw new Error(`${method}: ${result.error.code}: ${result.error.message}`);
    return result.value as T;
  }

  close(): void {
    this.ws.close();
  }
}

beforeAll(() => {
  for (const file of [CLI, SERVE]) if (!existsSync(file)) throw new Error(`${file} is missing: run npm run build first`);
});

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-secrets-'));
  db = join(dir, 'sluice.db');
  keyPath = join(dir, 'sluice.key');
  nats = await startNatsServer();
});

afterEach(async () => {
  for (const child of [...children]) child.kill('SIGKILL');
  for (const t of engines.splice(0)) {
    await t.engine.stop();
    await t.publisher.close();
  }
  await Promise.all(receivers.splice(0).map((r) => r.close()));
  await nats.cleanup();
  await rm(dir, { recursive: true, force: true });
});

/** A test engine on `db` that is stopped by the test, the database kept. */
async function engineOn(options: Parameters<typeof startTestEngine>[0] = {}): Promise<TestEngine> {
  const t = await startTestEngine({ dbPath: db, server: nats, ...options });
  engines.push(t);
  return t;
}

async function stopEngine(t: TestEngine): Promise<void> {
  engines.splice(engines.indexOf(t), 1);
  await t.engine.stop();
  await t.publisher.close();
}

describe('the key', () => {
  it('sluice keygen writes a new 32-byte key, mode 0600, and never replaces one', async () => {
    const made = await cli(['keygen', '--out', keyPath]);
    expect(made.code, made.stderr).toBe(0);
    expect(statSync(keyPath).mode & 0o777).toBe(0o600);
    expect(parseKey(readFileSync(keyPath), 'key')).toHaveLength(32);
    const again = await cli(['keygen', '--out', keyPath]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('already exists');
    const printed = await cli(['keygen']);
    expect(Buffer.from(printed.stdout.trim(), 'base64')).toHaveLength(32);
  });

  it('accepts 32 raw bytes, base64 or hex; refuses other sizes and world-readable files', async () => {
    const key = randomBytes(32);
    const sealed = createKeyFileCipher(key).encrypt('a secret of some length');
    for (const content of [key, Buffer.from(key.toString('base64')), Buffer.from(`${key.toString('hex')}\n`), Buffer.from(key.toString('base64url'))]) {
      writeFileSync(keyPath, content, { mode: 0o600 });
      chmodSync(keyPath, 0o600);
      expect(keyFileCipher(keyPath).cipher.decrypt(sealed)).toBe('a secret of some length');
    }
    writeFileSync(keyPath, randomBytes(16));
    expect(() => keyFileCipher(keyPath)).toThrow(/32 random bytes/);
    writeFileSync(keyPath, key.toString('base64'));
    chmodSync(keyPath, 0o644);
    expect(() => keyFileCipher(keyPath)).toThrow(/readable by every user.*chmod 600/);
    chmodSync(keyPath, 0o640);
    expect(keyFileCipher(keyPath).warnings.join()).toContain('group');
    expect((await resolveKeySource(undefined, { SLUICE_SECRET_KEY: key.toString('base64') })).cipher.decrypt(sealed)).toBe('a secret of some length');
    await expect(resolveKeySource(undefined, { SLUICE_SECRET_KEY: 'short' })).rejects.toThrow(SecretKeySourceError);
    // Neither: the default key, never plain text.
    const fallback = await resolveKeySource(undefined, { SLUICE_CONFIG_DIR: join(dir, 'config'), SLUICE_KEY_STORE: 'file' });
    expect(fallback.cipher.kind).toBe('key-file');
    expect(fallback.cipher.encrypt('a secret')).toMatch(/^enc:v1:/);
    // Each value has its own IV: the same secret never encrypts to the same text.
    const cipher = createKeyFileCipher(key);
    expect(cipher.encrypt('same secret value')).not.toBe(cipher.encrypt('same secret value'));
    expect(cipher.encrypt('same secret value')).toMatch(/^enc:v1:[A-Za-z0-9_-]+$/);
  });
});

describe('a canary secret', () => {
  it('is used for every signature and appears nowhere else: store, WAL, logs, bridge answers, delivery details', async () => {
    const CANARY = `CANARY-${randomBytes(12).toString('hex')}`;
    expect((await cli(['keygen', '--out', keyPath])).code).toBe(0);
    const keySource = keyFileCipher(keyPath);
    const verified = { ok: 0, bad: 0 };
    const good = await receiver(verifying(CANARY, verified));
    const flaky = await receiver(status(500));

    // ----- the engine, in process, through the bridge ------------------------------
    const t = await engineOn({ engine: { cipher: keySource.cipher }, settings: { circuitThreshold: 50 } });
    const { api, answers } = recording(t.api);
    const created = unwrap(
      await t.api['subscriptions.create']({ name: 'canary-good', url: good.url, secret: CANARY, presets: [], patterns: ['attacker.>'], enabled: true }),
    );
    expect(created.secret).toBe(CANARY);
    const flakyCreated = unwrap(await t.api['subscriptions.create']({ name: 'canary-flaky', url: flaky.url, secret: CANARY, presets: [], patterns: ['canary.>'], enabled: true }));
    expect(flakyCreated.secret).toBe(CANARY);
    expect(storedSecrets().every((row) => row.secret.startsWith('enc:v1:'))).toBe(true);
    await t.engine.busReady();

    for (let i = 0; i < 3; i++) await t.publish('attacker.observed', envelope('sighting', { i }, `good-${i}`));
    await t.waitForFinal(3, (d) => d.outcome === 'delivered');
    const test = unwrap(await api['subscriptions.testFire'](created.subscription.id));
    expect(test.delivered).toBe(true);

    // Retries, then dead letters; then the receiver is fixed and they are replayed.
    for (let i = 0; i < 2; i++) await t.publish('canary.tok.triggered', envelope('hit', { i }, `flaky-${i}`));
    const dead = await t.waitForFinal(2, (d) => d.outcome === 'dead');
    expect(dead.every((d) => d.attempts === 3)).toBe(true);
    expectNotOnDisk(CANARY, 'with the engine running');
    flaky.setBehavior(verifying(CANARY, verified));
    const flakyId = unwrap(await api['subscriptions.list']()).find((s) => s.name === 'canary-flaky')?.id as string;
    expect(unwrap(await api['deliveries.replay']({ subscriptionId: flakyId, dead: true })).count).toBe(2);
    await t.waitForFinal(2, (d) => d.outcome === 'delivered' && d.replay);

    const all = unwrap(await api['deliveries.list']({ limit: 1000 }));
    expect(all.length).toBeGreaterThanOrEqual(8);
    for (const d of all) {
      const detail = unwrap(await api['deliveries.get'](d.id));
      if (detail.requestHeaders) expect(detail.requestHeaders['X-DECNET-Signature']).toMatch(/^sha256=[0-9a-f]{64}$/);
    }
    unwrap(await api['status.get']());
    unwrap(await api['settings.get']());
    expect(unwrap(await api['status.get']()).secretStorage).toBe('key-file');
    expect(answers.length).toBeGreaterThan(all.length);
    for (const answer of answers) expect(leaks(answer, CANARY)).toEqual([]);
    await stopEngine(t);
    expectNotOnDisk(CANARY, 'after the engine stopped');

    // ----- `sluice run`: the JSON-lines log --------------------------------------------
    const run = spawnNode(CLI, ['run', '--db', db, '--secret-key-file', keyPath, '--nats', nats.wsUrl, '--allow-private']);
    await run.waitFor((out) => out.includes('"kind":"bus"') && out.includes('"state":"connected"'));
    const start = jsonLines(run.stdout()).find((l) => l['kind'] === 'start');
    expect(start?.['secretStorage']).toBe('key-file');
    const publisher = await nats.client();
    publisher.publish('attacker.observed', new TextEncoder().encode(JSON.stringify(envelope('x', {}, 'run-1'))));
    flaky.setBehavior(status(503));
    publisher.publish('canary.tok.triggered', new TextEncoder().encode(JSON.stringify(envelope('x', {}, 'run-2'))));
    await publisher.flush();
    await run.waitFor((out) => /"eventId":"run-1".*"outcome":"delivered"|"outcome":"delivered".*"eventId":"run-1"/.test(out));
    await run.waitFor((out) => /"eventId":"run-2"[^\n]*"outcome":"dead"|"outcome":"dead"[^\n]*"eventId":"run-2"/.test(out));
    expectNotOnDisk(CANARY, 'with sluice run running');
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    expect(leaks(run.stdout(), CANARY)).toEqual([]);
    expect(leaks(run.stderr(), CANARY)).toEqual([]);
    await publisher.close();

    // ----- the web host: a JSON-RPC session, rotating away from the canary ---------------
    const serve = spawnNode(SERVE, ['--db', db, '--secret-key-file', keyPath, '--port', '0', '--nats', nats.wsUrl, '--allow-private']);
    await serve.waitFor((out) => out.includes('#token='));
    const url = /(http:\/\/127\.0\.0\.1:\d+\/#token=\S+)/.exec(serve.stdout())?.[1] as string;
    const rpc = await RpcSession.open(url);
    const subs = await rpc.call<SubscriptionView[]>('subscriptions.list');
    const goodView = subs.find((s) => s.name === 'canary-good') as SubscriptionView;
    expect((await rpc.call<{ secretStorage: string }>('status.get')).secretStorage).toBe('key-file');
    const NEXT = `NEXT-${randomBytes(12).toString('hex')}`;
    const rotated = await rpc.call<SubscriptionView>('subscriptions.update', goodView.id, { secret: NEXT, previousSecretValidHours: 1 });
    expect(rotated.previousSecretUntil).not.toBeNull();
    const before = good.requests.length;
    expect((await rpc.call<{ delivered: boolean }>('subscriptions.testFire', goodView.id)).delivered).toBe(true);
    const rotatedRequest = good.requests[before];
    expect(rotatedRequest?.headers['x-decnet-signature']).toBe(sign(NEXT, rotatedRequest?.body as Buffer));
    expect(rotatedRequest?.headers['x-decnet-signature-previous']).toBe(sign(CANARY, rotatedRequest?.body as Buffer));
    const listed = await rpc.call<DeliveryView[]>('deliveries.list', { limit: 1000 });
    for (const d of listed) await rpc.call('deliveries.get', d.id);
    await rpc.call('settings.get');
    expectNotOnDisk(CANARY, 'with the web host running');
    expectNotOnDisk(NEXT, 'with the web host running (the new secret)');
    rpc.close();
    serve.child.kill('SIGTERM');
    expect(await serve.exited).toBe(0);
    expect(rpc.frames.length).toBeGreaterThan(listed.length);
    for (const frame of rpc.frames) {
      expect(leaks(frame, CANARY)).toEqual([]);
      expect(leaks(frame, NEXT)).toEqual([]);
    }
    expect(leaks(serve.stdout() + serve.stderr(), CANARY)).toEqual([]);
    const rows = storedSecrets();
    expect(rows.find((r) => r.name === 'canary-good')?.previous_secret).toMatch(/^enc:v1:/);

    // ----- one-shot commands: with the key they work and say nothing; without, they refuse ----
    for (const args of [['subs', 'list'], ['deliveries', '--limit', '1000'], ['settings', 'get']]) {
      const withKey = await cli([...args, '--db', db, '--json'], { SLUICE_SECRET_KEY: readFileSync(keyPath, 'utf8').trim() });
      expect(withKey.code, withKey.stderr).toBe(0);
      expect(leaks(withKey.stdout + withKey.stderr, CANARY)).toEqual([]);
      const viaOption = await cli([...args, '--db', db, '--secret-key-file', keyPath]);
      expect(viaOption.code, viaOption.stderr).toBe(0);
      const without = await cli([...args, '--db', db]);
      expect(without.code).toBe(1);
      expect(without.stderr).toContain(REFUSAL);
    }

    // Every delivery to a receiver verified with the secret it holds.
    expect(verified.bad).toBe(0);
    expect(verified.ok).toBeGreaterThanOrEqual(7);
    expectNotOnDisk(CANARY, 'at the end');
    expectNotOnDisk(NEXT, 'at the end (the new secret)');
  }, 120_000);
});

describe('a canary secret header', () => {
  it('reaches the receiver on every request and appears nowhere else: store, WAL, records, logs, bridge answers, web-host frames; shown as ••••••••', async () => {
    const CANARY = `CANARY-HDR-${randomBytes(12).toString('hex')}`;
    const PASSWORD = `CANARY-PW-${randomBytes(12).toString('hex')}`;
    const basic = authorizationHeader('basic', `soc:${PASSWORD}`);
    // The values, and the Basic header as it goes on the wire (its base64 is not the password's).
    const secrets = [CANARY, PASSWORD, basic.value];
    const leaked = (haystack: string | Buffer): string[] => secrets.flatMap((secret) => leaks(haystack, secret));
    const notOnDisk = (when: string): void => secrets.forEach((secret) => expectNotOnDisk(secret, when));
    expect((await cli(['keygen', '--out', keyPath])).code).toBe(0);
    const keySource = keyFileCipher(keyPath);

    // Answers 200 only to a request with both credentials: a header lost on the way fails the test.
    const seen = { ok: 0, bad: 0 };
    const checking: Behavior = (req, res) => {
      const good = req.headers['x-api-key'] === CANARY && req.headers['authorization'] === basic.value;
      if (good) seen.ok++;
      else seen.bad++;
      res.writeHead(good ? 200 : 401, { 'content-type': 'text/plain' });
      res.end(good ? 'ok' : 'credentials missing');
    };
    const r = await receiver(checking);

    // ----- the engine, in process, through the bridge ------------------------------
    const t = await engineOn({ engine: { cipher: keySource.cipher }, settings: { circuitThreshold: 50, allowPrivate: true } });
    const { api, answers } = recording(t.api);
    const { subscription } = unwrap(
      await api['subscriptions.create']({
        name: 'canary-headers',
        url: r.url,
        presets: [],
        patterns: ['attacker.>'],
        enabled: true,
        headers: [{ name: 'X-Tenant', value: 'soc-1' }],
        secretHeaders: [{ name: 'X-Api-Key', value: CANARY }, basic],
      }),
    );
    expect(subscription.secretHeaderNames).toEqual(['X-Api-Key', 'Authorization']);
    await t.engine.busReady();
    for (let i = 0; i < 2; i++) await t.publish('attacker.observed', envelope('sighting', { i }, `hdr-${i}`));
    await t.waitForFinal(2, (d) => d.outcome === 'delivered');

    // An edit as the console sends it: the secret headers by name only, their values kept.
    const updated = unwrap(
      await api['subscriptions.update'](subscription.id, {
        headers: [{ name: 'X-Tenant', value: 'soc-2' }],
        secretHeaders: [{ name: 'X-Api-Key' }, { name: 'Authorization' }],
      }),
    );
    expect([updated.headers, updated.secretHeaderNames]).toEqual([[{ name: 'X-Tenant', value: 'soc-2' }], ['X-Api-Key', 'Authorization']]);
    await t.publish('attacker.observed', envelope('sighting', {}, 'hdr-after-update'));
    await t.waitForDelivery((d) => d.eventId === 'hdr-after-update' && d.outcome === 'delivered');
    expect(r.requests.at(-1)?.headers['x-tenant']).toBe('soc-2');
    expect(unwrap(await api['subscriptions.testFire'](subscription.id)).delivered).toBe(true);

    // Retries, a dead letter, its replay: every attempt carries them, every record masks them.
    r.setBehavior(status(503));
    await t.publish('attacker.observed', envelope('sighting', {}, 'hdr-dead'));
    const [dead] = await t.waitForFinal(1, (d) => d.eventId === 'hdr-dead');
    expect([dead?.outcome, dead?.attempts]).toEqual(['dead', 3]);
    r.setBehavior(checking);
    expect(unwrap(await api['deliveries.replay']({ subscriptionId: subscription.id, dead: true })).count).toBe(1);
    await t.waitForDelivery((d) => d.replayOf === dead?.id && d.outcome === 'delivered');

    const details: DeliveryDetail[] = [];
    for (const d of unwrap(await api['deliveries.list']({ limit: 1000 }))) details.push(unwrap(await api['deliveries.get'](d.id)));
    const recorded = details.filter((d) => d.requestHeaders !== null);
    expect(recorded.length).toBeGreaterThanOrEqual(5);
    for (const d of recorded) {
      expect(d.requestHeaders?.['X-Api-Key'], `delivery ${d.id}`).toBe(MASKED_VALUE);
      expect(d.requestHeaders?.['Authorization'], `delivery ${d.id}`).toBe(MASKED_VALUE);
      expect(d.requestHeaders?.['X-Tenant']).toMatch(/^soc-[12]$/);
    }
    expect(unwrap(await api['subscriptions.list']())[0]?.secretHeaderNames).toEqual(['X-Api-Key', 'Authorization']);
    unwrap(await api['status.get']());
    expect(answers.length).toBeGreaterThan(recorded.length);
    for (const answer of answers) expect(leaked(answer)).toEqual([]);
    expect(t.records.length).toBeGreaterThan(0);
    expect(leaked(JSON.stringify(t.records))).toEqual([]);
    notOnDisk('with the engine running');
    await stopEngine(t);
    notOnDisk('after the engine stopped');

    // ----- `sluice run`: the JSON-lines log --------------------------------------------
    const run = spawnNode(CLI, ['run', '--db', db, '--secret-key-file', keyPath, '--nats', nats.wsUrl, '--allow-private']);
    await run.waitFor((out) => out.includes('"kind":"bus"') && out.includes('"state":"connected"'));
    const publisher = await nats.client();
    publisher.publish('attacker.observed', new TextEncoder().encode(JSON.stringify(envelope('x', {}, 'hdr-run'))));
    await publisher.flush();
    await run.waitFor((out) => /"eventId":"hdr-run"[^\n]*"outcome":"delivered"|"outcome":"delivered"[^\n]*"eventId":"hdr-run"/.test(out));
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    expect(leaked(run.stdout() + run.stderr())).toEqual([]);
    await publisher.close();

    // ----- the web host: every JSON-RPC frame ------------------------------------------
    const serve = spawnNode(SERVE, ['--db', db, '--secret-key-file', keyPath, '--port', '0', '--nats', nats.wsUrl, '--allow-private']);
    await serve.waitFor((out) => out.includes('#token='));
    const rpc = await RpcSession.open(/(http:\/\/127\.0\.0\.1:\d+\/#token=\S+)/.exec(serve.stdout())?.[1] as string);
    const view = (await rpc.call<SubscriptionView[]>('subscriptions.list')).find((v) => v.name === 'canary-headers') as SubscriptionView;
    expect(view.secretHeaderNames).toEqual(['X-Api-Key', 'Authorization']);
    const edited = await rpc.call<SubscriptionView>('subscriptions.update', view.id, {
      headers: [{ name: 'X-Tenant', value: 'soc-web' }],
      secretHeaders: view.secretHeaderNames.map((name) => ({ name })),
    });
    expect(edited.secretHeaderNames).toEqual(['X-Api-Key', 'Authorization']);
    expect((await rpc.call<{ delivered: boolean }>('subscriptions.testFire', view.id)).delivered).toBe(true);
    const listed = await rpc.call<DeliveryView[]>('deliveries.list', { limit: 1000 });
    for (const d of listed) {
      const detail = await rpc.call<DeliveryDetail>('deliveries.get', d.id);
      if (detail.requestHeaders) expect(detail.requestHeaders['X-Api-Key']).toBe(MASKED_VALUE);
    }
    notOnDisk('with the web host running');
    rpc.close();
    serve.child.kill('SIGTERM');
    expect(await serve.exited).toBe(0);
    expect(rpc.frames.length).toBeGreaterThan(listed.length);
    for (const frame of rpc.frames) expect(leaked(frame)).toEqual([]);
    expect(rpc.frames.some((frame) => frame.includes(MASKED_VALUE))).toBe(true);
    expect(leaked(serve.stdout() + serve.stderr())).toEqual([]);

    // ----- one-shot commands: an edit that keeps them, a test fire, the listing ---------
    const key = ['--db', db, '--secret-key-file', keyPath];
    for (const args of [
      ['subs', 'update', 'canary-headers', '--header', 'X-Tenant: soc-cli', '--nats', nats.wsUrl],
      ['subs', 'test', 'canary-headers'],
      ['subs', 'list', '--json'],
      ['deliveries', '--limit', '1000', '--json'],
    ]) {
      const result = await cli([...args, ...key]);
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(0);
      expect(leaked(result.stdout + result.stderr)).toEqual([]);
    }
    expect(r.requests.at(-1)?.headers['x-tenant']).toBe('soc-cli');

    // Every request that reached the receiver with it answering carried both credentials.
    expect(seen.bad).toBe(0);
    expect(seen.ok).toBeGreaterThanOrEqual(8);
    notOnDisk('at the end');
  }, 120_000);
});

describe('a wrong or missing key', () => {
  it('makes every entry point refuse to start, with the reason, and changes nothing', async () => {
    expect((await cli(['keygen', '--out', keyPath])).code).toBe(0);
    const t = await engineOn({ engine: { cipher: keyFileCipher(keyPath).cipher } });
    unwrap(await t.api['subscriptions.create']({ name: 'siem', url: 'http://127.0.0.1:9/hook', presets: [], patterns: ['a.>'], enabled: true }));
    await stopEngine(t);
    const before = allRows();

    const otherKey = createKeyFileCipher(randomBytes(32), 'another key');
    await expect(Engine.start({ dbPath: db, offline: true, cipher: otherKey })).rejects.toThrow(REFUSAL);
    await expect(Engine.start({ dbPath: db, offline: true })).rejects.toThrow(`${REFUSAL} (the secrets were encrypted with a key file or SLUICE_SECRET_KEY, and this run has no key)`);

    const wrongKeyPath = join(dir, 'wrong.key');
    expect((await cli(['keygen', '--out', wrongKeyPath])).code).toBe(0);
    const run = spawnNode(CLI, ['run', '--db', db, '--secret-key-file', wrongKeyPath, '--nats', nats.wsUrl]);
    expect(await run.exited).toBe(1);
    expect(run.stderr()).toContain(REFUSAL);
    expect(jsonLines(run.stdout()).map((l) => l['message'])).toEqual([expect.stringContaining(REFUSAL)]);
    const noKey = spawnNode(CLI, ['run', '--db', db, '--nats', nats.wsUrl]);
    expect(await noKey.exited).toBe(1);
    expect(noKey.stderr()).toContain(REFUSAL);
    const serve = spawnNode(SERVE, ['--db', db, '--port', '0', '--nats', nats.wsUrl], { SLUICE_SECRET_KEY: randomBytes(32).toString('base64') });
    expect(await serve.exited).toBe(1);
    expect(serve.stderr()).toContain(REFUSAL);
    const subs = await cli(['subs', 'list', '--db', db, '--secret-key-file', wrongKeyPath]);
    expect(subs.code).toBe(1);
    expect(subs.stderr).toContain(REFUSAL);

    // Nothing rewritten (SQLite's own header counters aside): the rows are as they were.
    expect(allRows()).toEqual(before);
    // And the right key still opens them.
    expect((await cli(['subs', 'list', '--db', db, '--secret-key-file', keyPath])).code).toBe(0);
  }, 60_000);

  it('a running engine keeps delivering when another process stores a secret it cannot open', async () => {
    const r = await receiver();
    const t = await engineOn({ settings: { allowPrivate: true } });
    unwrap(await t.api['subscriptions.create']({ name: 'a', url: r.url, secret: 'a-secret-0123456789', presets: [], patterns: ['a.>'], enabled: true }));
    await t.engine.durable();
    expect((await cli(['keygen', '--out', keyPath])).code).toBe(0);
    const errorRecord = t.waitForRecord((x) => x.kind === 'error' && x.message.includes(REFUSAL));
    const added = await cli(['subs', 'add', '--db', db, '--secret-key-file', keyPath, '--name', 'b', '--url', r.url, '--pattern', 'a.>', '--nats', nats.wsUrl]);
    expect(added.code, added.stderr).toBe(0);
    await errorRecord;
    // The views never decrypt: both are listed; deliveries to the one it holds go on.
    expect(unwrap(await t.api['subscriptions.list']()).map((s) => s.name)).toEqual(['a', 'b']);
    await t.publish('a.b', envelope('x', {}, 'still-running'));
    const [request] = await r.waitForRequests(1);
    expect(request?.headers['x-decnet-signature']).toBe(sign('a-secret-0123456789', request?.body as Buffer));
  });

  it('refuses a world-readable key file before touching the database', async () => {
    writeFileSync(keyPath, randomBytes(32).toString('base64'));
    chmodSync(keyPath, 0o644);
    // A command that would create the database: refused before it does.
    const result = await cli(['settings', 'set', 'allowPrivate', 'true', '--db', db, '--secret-key-file', keyPath]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('readable by every user');
    expect(existsSync(db)).toBe(false);
  });
});

describe('an older database with plain-text secrets', () => {
  it('is encrypted at the first start with a key, old bytes scrubbed, deliveries still verified', async () => {
    const CANARY = `LEGACY-${randomBytes(12).toString('hex')}`;
    const PREVIOUS = `LEGACY-PREV-${randomBytes(8).toString('hex')}`;
    const verified = { ok: 0, bad: 0 };
    const good = await receiver(verifying(CANARY, verified));
    // No key: stored as they are (what an older Sluice wrote), with a rotation under way.
    const plain = await engineOn();
    expect(unwrap(await plain.api['status.get']()).secretStorage).toBe('plaintext');
    const { subscription } = unwrap(
      await plain.api['subscriptions.create']({ name: 'legacy', url: good.url, secret: PREVIOUS, presets: [], patterns: ['attacker.>'], enabled: true }),
    );
    unwrap(await plain.api['subscriptions.update'](subscription.id, { secret: CANARY, previousSecretValidHours: 2 }));
    // A used database: more subscriptions, each edited and rotated, leaving stale copies
    // of their plain-text rows in the file's free space (what the scrub must clear).
    const others: string[] = [];
    for (let i = 0; i < 30; i++) {
      const secret = `OTHER${i}-${randomBytes(8).toString('hex')}`;
      others.push(secret);
      const made = unwrap(
        await plain.api['subscriptions.create']({ name: `z-${i}`, url: 'http://127.0.0.1:9/hook', secret, presets: [], patterns: ['b.>'], enabled: true }),
      );
      for (let k = 1; k <= 3; k++) unwrap(await plain.api['subscriptions.update'](made.subscription.id, { name: `z-${i}-${'x'.repeat(k * 15)}` }));
      unwrap(await plain.api['subscriptions.update'](made.subscription.id, { secret: `${secret}-next`, previousSecretValidHours: 1 }));
    }
    await stopEngine(plain);
    expect(storedSecrets()[0]).toMatchObject({ name: 'legacy', secret: CANARY, previous_secret: PREVIOUS });
    // The check below can see a secret when it is there.
    expect(databaseFiles().some(({ bytes }) => leaks(bytes, CANARY).length > 0)).toBe(true);

    expect((await cli(['keygen', '--out', keyPath])).code).toBe(0);
    const t = await engineOn({ engine: { cipher: keyFileCipher(keyPath).cipher } });
    expect(t.engine.secretsUpgraded).toBe(2 + 2 * others.length);
    expect(t.engine.secretsScrubError).toBeNull();
    for (const row of storedSecrets()) {
      expect(row.secret).toMatch(/^enc:v1:/);
      expect(row.previous_secret).toMatch(/^enc:v1:/);
    }
    expectNotOnDisk(CANARY, 'right after the upgrade');
    expectNotOnDisk(PREVIOUS, 'right after the upgrade (previous secret)');
    for (const other of others) expectNotOnDisk(other, 'right after the upgrade (stale copies)');

    await t.publish('attacker.observed', envelope('x', {}, 'after-upgrade'));
    await t.waitForFinal(1, (d) => d.outcome === 'delivered');
    const request = good.requests.at(-1);
    expect(request?.headers['x-decnet-signature']).toBe(sign(CANARY, request?.body as Buffer));
    expect(request?.headers['x-decnet-signature-previous']).toBe(sign(PREVIOUS, request?.body as Buffer));
    await stopEngine(t);
    expectNotOnDisk(CANARY, 'after the upgraded engine stopped');
    expectNotOnDisk(PREVIOUS, 'after the upgraded engine stopped (previous secret)');

    // The upgrade happens once: a second start has nothing left to do.
    const again = await engineOn({ engine: { cipher: keyFileCipher(keyPath).cipher } });
    expect(again.engine.secretsUpgraded).toBe(0);
    expect(verified).toEqual({ ok: 1, bad: 0 });
  }, 60_000);

  it('one-shot commands only read them; `sluice run` with the key upgrades them and says so', async () => {
    const CANARY = `LEGACY-RUN-${randomBytes(10).toString('hex')}`;
    const plain = await engineOn();
    unwrap(await plain.api['subscriptions.create']({ name: 'legacy', url: 'http://127.0.0.1:9/hook', secret: CANARY, presets: [], patterns: ['a.>'], enabled: true }));
    await stopEngine(plain);
    expect((await cli(['keygen', '--out', keyPath])).code).toBe(0);
    const listed = await cli(['subs', 'list', '--db', db, '--secret-key-file', keyPath]);
    expect(listed.code, listed.stderr).toBe(0);
    expect(storedSecrets()[0]?.secret).toBe(CANARY);

    const run = spawnNode(CLI, ['run', '--db', db, '--secret-key-file', keyPath, '--nats', nats.wsUrl]);
    await run.waitFor((out) => out.includes('"kind":"start"'));
    expect(jsonLines(run.stdout())[0]).toMatchObject({ kind: 'start', secretStorage: 'key-file', secretsUpgraded: 1 });
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    expect(run.stderr()).toContain(`encrypted 1 plain-text secret(s) with the key file ${keyPath}`);
    expect(storedSecrets()[0]?.secret).toMatch(/^enc:v1:/);
    expectNotOnDisk(CANARY, 'after sluice run upgraded it');
  });

  it('a plain-text secret that looks encrypted is kept apart from encrypted ones', async () => {
    const t = await engineOn();
    const odd = 'enc:v1:this-is-really-my-secret';
    unwrap(await t.api['subscriptions.create']({ name: 'odd', url: 'http://127.0.0.1:9/hook', secret: odd, presets: [], patterns: ['a.>'], enabled: true }));
    await stopEngine(t);
    expect(storedSecrets()[0]?.secret).toMatch(/^enc:plain:/);
    // Read back as the secret it is, with or without a key (and upgraded with one).
    const reopened = await engineOn();
    await stopEngine(reopened);
    expect((await cli(['keygen', '--out', keyPath])).code).toBe(0);
    const keyed = await engineOn({ engine: { cipher: keyFileCipher(keyPath).cipher } });
    expect(keyed.engine.secretsUpgraded).toBe(1);
    expect(storedSecrets()[0]?.secret).toMatch(/^enc:v1:/);
    expect(keyFileCipher(keyPath).cipher.decrypt(storedSecrets()[0]?.secret as string)).toBe(odd);
  });
});

describe('the default key (neither --secret-key-file nor SLUICE_SECRET_KEY)', () => {
  let config: string;
  /** A headless server: no OS key store reachable on Linux (no session bus); elsewhere the key file asked for (no developer's keychain in tests). */
  let headless: NodeJS.ProcessEnv;
  const defaultKey = (): string => join(config, 'secret.key');
  const MADE = 'made a new key for subscription secrets: the default key file';

  beforeEach(async () => {
    config = await mkdtemp(join(tmpdir(), 'sluice-config-'));
    headless = {
      SLUICE_CONFIG_DIR: config,
      ...(process.platform === 'linux' ? { SLUICE_KEY_STORE: 'auto', DBUS_SESSION_BUS_ADDRESS: '' } : { SLUICE_KEY_STORE: 'file' }),
    };
  });

  afterEach(() => rm(config, { recursive: true, force: true }));

  /** What an older Sluice left: `secret` in clear in a database at `path`. */
  async function plainDatabase(path: string, secret: string, url = 'http://127.0.0.1:9/hook'): Promise<void> {
    const plain = await startTestEngine({ dbPath: path, server: nats, settings: { allowPrivate: true } });
    unwrap(await plain.api['subscriptions.create']({ name: 'legacy', url, secret, presets: [], patterns: ['attacker.>'], enabled: true }));
    await plain.engine.stop();
    await plain.publisher.close();
    expect(databaseFiles(path).some(({ bytes }) => leaks(bytes, secret).length > 0)).toBe(true);
  }

  it('the default commands never store a canary in clear (.db, -wal, -shm); the key is made in the config folder, 0600, not beside the database', async () => {
    const CANARY = `CANARY-${randomBytes(12).toString('hex')}`;
    const verified = { ok: 0, bad: 0 };
    const good = await receiver(verifying(CANARY, verified));

    // ----- one-shot commands: the first makes the key, and says so once ------------------
    const setup = await cli(['settings', 'set', 'allowPrivate', 'true', '--db', db], headless);
    expect(setup.code, setup.stderr).toBe(0);
    expect(setup.stderr).toContain(`${MADE} ${defaultKey()}`);
    expect(setup.stderr).toContain('keep a copy somewhere safe');
    const added = await cli(['subs', 'add', '--db', db, '--name', 'canary', '--url', good.url, '--pattern', 'attacker.>', '--secret', CANARY], headless);
    expect(added.code, added.stderr).toBe(0);
    expect(added.stderr).not.toContain('made a new key');
    expect(statSync(defaultKey()).mode & 0o777).toBe(0o600);
    expect(statSync(config).mode & 0o777).toBe(0o700);
    expect(readdirSync(config)).toEqual(['secret.key']);
    // Beside the database: only the database's own files.
    expect(readdirSync(dir).filter((name) => !name.startsWith('sluice.db'))).toEqual([]);
    expect(storedSecrets()[0]?.secret).toMatch(/^enc:v1:/);
    expect(keyFileCipher(defaultKey()).cipher.decrypt(storedSecrets()[0]?.secret as string)).toBe(CANARY);
    expectNotOnDisk(CANARY, 'after subs add');

    // ----- `sluice run` ----------------------------------------------------------------
    const run = spawnNode(CLI, ['run', '--db', db, '--nats', nats.wsUrl], headless);
    await run.waitFor((out) => out.includes('"kind":"bus"') && out.includes('"state":"connected"'));
    expect(jsonLines(run.stdout()).find((l) => l['kind'] === 'start')).toMatchObject({
      secretStorage: 'key-file',
      secretKeySource: `the default key file ${defaultKey()}`,
    });
    const publisher = await nats.client();
    publisher.publish('attacker.observed', new TextEncoder().encode(JSON.stringify(envelope('x', {}, 'default-1'))));
    await publisher.flush();
    await run.waitFor((out) => /"eventId":"default-1"[^\n]*"outcome":"delivered"|"outcome":"delivered"[^\n]*"eventId":"default-1"/.test(out));
    expectNotOnDisk(CANARY, 'with sluice run running');
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    expect(leaks(run.stdout() + run.stderr(), CANARY)).toEqual([]);
    await publisher.close();

    // ----- `npm run serve`: a rotation through the console's JSON-RPC --------------------
    const serve = spawnNode(SERVE, ['--db', db, '--port', '0', '--nats', nats.wsUrl], headless);
    await serve.waitFor((out) => out.includes('#token='));
    // stderr comes on its own pipe, after the URL.
    await vi.waitFor(() => expect(serve.stderr()).toContain(`subscription secrets are encrypted with the default key file ${defaultKey()}`));
    const rpc = await RpcSession.open(/(http:\/\/127\.0\.0\.1:\d+\/#token=\S+)/.exec(serve.stdout())?.[1] as string);
    expect((await rpc.call<{ secretStorage: string }>('status.get')).secretStorage).toBe('key-file');
    const view = (await rpc.call<SubscriptionView[]>('subscriptions.list')).find((v) => v.name === 'canary') as SubscriptionView;
    const NEXT = `NEXT-${randomBytes(12).toString('hex')}`;
    await rpc.call('subscriptions.update', view.id, { secret: NEXT, previousSecretValidHours: 1 });
    expect((await rpc.call<{ delivered: boolean }>('subscriptions.testFire', view.id)).delivered).toBe(true);
    expectNotOnDisk(CANARY, 'with the web host running');
    expectNotOnDisk(NEXT, 'with the web host running (the new secret)');
    rpc.close();
    serve.child.kill('SIGTERM');
    expect(await serve.exited).toBe(0);
    expect(leaks(serve.stdout() + serve.stderr(), CANARY)).toEqual([]);

    // ----- and back: one-shot commands read them with the same key ----------------------
    const listed = await cli(['subs', 'list', '--db', db, '--json'], headless);
    expect(listed.code, listed.stderr).toBe(0);
    expect(leaks(listed.stdout + listed.stderr, CANARY)).toEqual([]);
    expect(verified).toEqual({ ok: 2, bad: 0 });
    expect(readdirSync(config)).toEqual(['secret.key']);
    expectNotOnDisk(CANARY, 'at the end');
    expectNotOnDisk(NEXT, 'at the end (the new secret)');
  }, 90_000);

  it('a plain-text database from before is encrypted at the first start (sluice run, npm run serve)', async () => {
    const CANARY = `LEGACY-${randomBytes(12).toString('hex')}`;
    await plainDatabase(db, CANARY);
    const run = spawnNode(CLI, ['run', '--db', db, '--nats', nats.wsUrl], headless);
    await run.waitFor((out) => out.includes('"kind":"start"'));
    expect(jsonLines(run.stdout())[0]).toMatchObject({ kind: 'start', secretStorage: 'key-file', secretsUpgraded: 1 });
    expectNotOnDisk(CANARY, 'with sluice run running, after the upgrade');
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    expect(run.stderr()).toContain(`${MADE} ${defaultKey()}`);
    expect(run.stderr()).toContain(`encrypted 1 plain-text secret(s) with the default key file ${defaultKey()}`);
    expect(keyFileCipher(defaultKey()).cipher.decrypt(storedSecrets()[0]?.secret as string)).toBe(CANARY);
    expectNotOnDisk(CANARY, 'after sluice run stopped');

    const SECOND = `LEGACY-SERVE-${randomBytes(12).toString('hex')}`;
    const second = join(dir, 'second.db');
    await plainDatabase(second, SECOND);
    const serve = spawnNode(SERVE, ['--db', second, '--port', '0', '--nats', nats.wsUrl], headless);
    await serve.waitFor((out) => out.includes('#token='));
    await vi.waitFor(() => expect(serve.stderr()).toContain(`encrypted 1 plain-text secret(s) with the default key file ${defaultKey()}`));
    expect(serve.stderr()).not.toContain('made a new key');
    for (const { name, bytes } of databaseFiles(second)) expect(leaks(bytes, SECOND), name).toEqual([]);
    serve.child.kill('SIGTERM');
    expect(await serve.exited).toBe(0);
    expect(keyFileCipher(defaultKey()).cipher.decrypt(storedSecrets(second)[0]?.secret as string)).toBe(SECOND);
  }, 60_000);

  it('--secret-key-file and SLUICE_SECRET_KEY still override it; a refused run makes no key and says where the default key is', async () => {
    const CANARY = `OWN-KEY-${randomBytes(12).toString('hex')}`;
    expect((await cli(['keygen', '--out', keyPath])).code).toBe(0);
    const add = (path: string, extra: string[], env: NodeJS.ProcessEnv) =>
      cli(['subs', 'add', '--db', path, ...extra, '--name', 'own', '--url', 'http://127.0.0.1:9/hook', '--pattern', 'a.>', '--secret', CANARY], { ...headless, ...env });
    for (const path of [db, join(dir, 'env.db')]) {
      const extra = path === db ? ['--secret-key-file', keyPath] : [];
      expect((await cli(['settings', 'set', 'allowPrivate', 'true', '--db', path, '--secret-key-file', keyPath], headless)).code).toBe(0);
      const envKey = randomBytes(32).toString('base64');
      const made = await add(path, extra, path === db ? {} : { SLUICE_SECRET_KEY: envKey });
      expect(made.code, made.stderr).toBe(0);
      const stored = storedSecrets(path)[0]?.secret as string;
      expect(path === db ? keyFileCipher(keyPath).cipher.decrypt(stored) : envKeyCipher(envKey).cipher.decrypt(stored)).toBe(CANARY);
    }
    expect(existsSync(defaultKey())).toBe(false);
    const before = allRows();

    // Without the key: refused, naming where the default key would be; none is made.
    const ANOTHER = 'they were encrypted with another key: give it with --secret-key-file PATH or SLUICE_SECRET_KEY';
    const run = spawnNode(CLI, ['run', '--db', db, '--nats', nats.wsUrl], headless);
    expect(await run.exited).toBe(1);
    expect(run.stderr()).toContain(`${REFUSAL} (there is no default key yet: ${defaultKey()} does not exist; ${ANOTHER})`);
    const serve = spawnNode(SERVE, ['--db', db, '--port', '0', '--nats', nats.wsUrl], headless);
    expect(await serve.exited).toBe(1);
    expect(serve.stderr()).toContain(REFUSAL);
    expect(existsSync(defaultKey())).toBe(false);

    // Once a default key exists (made for another database), it is named instead.
    expect((await cli(['settings', 'set', 'allowPrivate', 'false', '--db', join(dir, 'fresh.db'), '--nats', 'ws://127.0.0.1:1'], headless)).code).toBe(0);
    expect(existsSync(defaultKey())).toBe(true);
    const listed = await cli(['subs', 'list', '--db', db], headless);
    expect(listed.code).toBe(1);
    expect(listed.stderr).toContain(`${REFUSAL} (the default key file ${defaultKey()} does not open them; ${ANOTHER})`);
    expect(allRows()).toEqual(before);
    expect((await cli(['subs', 'list', '--db', db, '--secret-key-file', keyPath], headless)).code).toBe(0);

    // A world-readable default key file is refused before the database is touched.
    chmodSync(defaultKey(), 0o644);
    const open = await cli(['settings', 'set', 'allowPrivate', 'false', '--db', join(dir, 'untouched.db')], headless);
    expect(open.code).toBe(2);
    expect(open.stderr).toContain(`the default key file ${defaultKey()}: the key file is readable by every user`);
    expect(existsSync(join(dir, 'untouched.db'))).toBe(false);
  }, 60_000);

  it('processes making it at once end with one key, which opens every database', async () => {
    const paths = [0, 1, 2, 3].map((i) => join(dir, `race-${i}.db`));
    expect((await cli(['keygen', '--out', keyPath])).code).toBe(0);
    for (const path of paths) expect((await cli(['settings', 'set', 'allowPrivate', 'true', '--db', path, '--secret-key-file', keyPath], headless)).code).toBe(0);
    expect(existsSync(defaultKey())).toBe(false);
    const results = await Promise.all(
      paths.map((path, i) => cli(['subs', 'add', '--db', path, '--name', 'race', '--url', 'http://127.0.0.1:9/hook', '--pattern', 'a.>', '--secret', `RACE-${i}-0123456789`], headless)),
    );
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    expect(results.filter((r) => r.stderr.includes(MADE))).toHaveLength(1);
    expect(readdirSync(config)).toEqual(['secret.key']);
    const key = keyFileCipher(defaultKey()).cipher;
    paths.forEach((path, i) => expect(key.decrypt(storedSecrets(path)[0]?.secret as string)).toBe(`RACE-${i}-0123456789`));
  }, 60_000);

  it('a key that cannot be made stops the command with the reason, storing nothing', async () => {
    writeFileSync(join(config, 'not-a-folder'), '');
    const blocked = { ...headless, SLUICE_CONFIG_DIR: join(config, 'not-a-folder', 'sluice') };
    const add = await cli(['subs', 'add', '--db', db, '--name', 'x', '--url', 'https://siem.example/hook', '--pattern', 'a.>', '--secret', 'NEVER-STORED-0123456789'], blocked);
    expect(add.code).toBe(2);
    expect(add.stderr).toContain('cannot make the folder');
    expect(add.stderr).toContain('choose a writable folder with SLUICE_CONFIG_DIR');
    expect(add.stderr).not.toMatch(/\n\s+at /);
    expect(allRows()).toEqual([]);
  });

  const gnomeKeyring =
    process.platform === 'linux' && spawnSync('sh', ['-c', 'command -v dbus-run-session && command -v gnome-keyring-daemon'], { stdio: 'ignore' }).status === 0;

  // A desktop session for real: a private D-Bus session with GNOME Keyring, in a home
  // of its own. Skipped where they are not installed (apt-get install gnome-keyring dbus-x11).
  it.runIf(gnomeKeyring)('in a desktop session it lives in the OS key store (GNOME Keyring), not in a file', async () => {
    const CANARY = `KEYRING-${randomBytes(12).toString('hex')}`;
    const home = join(dir, 'home');
    const runtime = join(dir, 'runtime');
    await mkdir(home);
    await mkdir(runtime, { mode: 0o700 });
    const session: NodeJS.ProcessEnv = { ...headless, SLUICE_KEY_STORE: 'auto', HOME: home, XDG_DATA_HOME: join(home, 'data'), XDG_RUNTIME_DIR: runtime };
    delete session['DBUS_SESSION_BUS_ADDRESS'];
    const script = [
      'printf pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null || exit 90',
      '"$1" "$2" settings set allowPrivate true --db "$3" >/dev/null || exit 91',
      '"$1" "$2" subs add --db "$3" --name keyring --url http://127.0.0.1:9/hook --pattern "a.>" --secret "$4" >/dev/null || exit 92',
      // The start line only (then the closed pipe stops it).
      '"$1" "$2" run --db "$3" --nats "$5" | head -n 1',
    ].join('\n');
    const { DBUS_SESSION_BUS_ADDRESS: _bus, ...base } = process.env;
    const child = spawn('dbus-run-session', ['--', 'sh', '-c', script, 'sh', process.execPath, CLI, db, CANARY, nats.wsUrl], {
      env: { ...base, ...session } as NodeJS.ProcessEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const code = await new Promise<number | null>((done) => child.once('exit', done));
    children.delete(child);
    expect(code, stderr).toBe(0);
    const where = `the default key in the Secret Service (service "sluice", account "${config}")`;
    expect(stderr).toContain(`made a new key for subscription secrets: ${where}`);
    expect(jsonLines(stdout)[0]).toMatchObject({ kind: 'start', secretStorage: 'os-keychain', secretKeySource: where });
    expect(existsSync(defaultKey())).toBe(false);
    expect(storedSecrets()[0]?.secret).toMatch(/^enc:v1:/);
    expectNotOnDisk(CANARY, 'with the key in GNOME Keyring');

    // Outside the session the store is out of reach: refused, and no competing key file.
    const outside = await cli(['subs', 'list', '--db', db], headless);
    expect(outside.code).toBe(1);
    expect(outside.stderr).toContain(`${REFUSAL} (there is no default key yet: ${defaultKey()} does not exist`);
    expect(existsSync(defaultKey())).toBe(false);
  }, 60_000);
});
