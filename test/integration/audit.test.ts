/**
 * The operator audit trail (issue 18) against real parts: every kind of change made from
 * the console (the in-process bridge, as the Electron console reaches the engine; JSON-RPC
 * through the web host, as the browser console does; the tray's Pause all / Resume all)
 * and from the built CLI (`out/main/cli.js`, one process per command) appears once, with
 * the OS user and its source; changes refused by their rules record nothing; a record
 * edited or deleted in the database makes `sluice audit --verify` exit 1 naming it; and a
 * canary secret never appears in the trail, in `sluice audit`'s output (table and JSON),
 * nor in the database file and its WAL.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import BetterSqlite3 from 'better-sqlite3';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeliveryView, SubscriptionView } from '../../src-main/contract/views';
import { SOURCES } from '../../src-main/engine/audit-trail';
import { EMPTY_LEDGER, pauseAll, resumeAll } from '../../src-main/engine/pause-all';
import { appendAudit } from '../../src-main/store/audit';
import { Store } from '../../src-main/store/database';
import { createKeyFileCipher } from '../../src-main/store/secret-cipher';
import { startWebHost } from '../../src-main/webhost/server';
import { readTrail, type TrailRecord } from '../harness/audit';
import { startTestEngine, unwrap, type TestEngine } from '../harness/engine';
import { startNatsServer, type NatsServer } from '../harness/nats-server';
import { startReceiver, type Receiver } from '../harness/receiver';

const CLI = fileURLToPath(new URL('../../out/main/cli.js', import.meta.url));
const RENDERER_DIR = fileURLToPath(new URL('../../out/renderer', import.meta.url));
/** In every subscription secret and secret header given below: never to be seen in the trail or the file. */
const CANARY = 'canary-3b8f2e61d0c94a57';
const canary = (what: string): string => `${CANARY}-${what}`;
/** The bus password: never in the trail. (The settings table keeps it as given, so not looked for in the file.) */
const PASSWORD_CANARY = 'pw-canary-9d41c7e0a2b6f358';
const ME = userInfo().username;

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(db: string, args: string[], stdin?: string): Promise<CliResult> {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, SLUICE_DB: db },
    stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  if (stdin !== undefined) child.stdin?.end(stdin);
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

/** A command that must succeed. */
async function ok(db: string, args: string[], stdin?: string): Promise<string> {
  const result = await cli(db, args, stdin);
  if (result.code !== 0) throw new Error(`sluice ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  return result.stdout;
}

/** The database file and its WAL, as bytes: where a secret must not be. */
function fileBytes(db: string): Buffer {
  return Buffer.concat([db, `${db}-wal`].filter((f) => existsSync(f)).map((f) => readFileSync(f)));
}

/** Edit the database by hand (another connection), as someone covering their tracks would. */
function byHand(db: string, sql: string, ...params: unknown[]): void {
  const conn = new BetterSqlite3(db);
  try {
    conn.prepare(sql).run(...params);
  } finally {
    conn.close();
  }
}

const actions = (trail: TrailRecord[]): string[] => trail.map((r) => r.action);

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);
});

describe('changes made from the console', () => {
  let t: TestEngine;
  let receiver: Receiver;

  beforeAll(async () => {
    receiver = await startReceiver();
    // Secrets encrypted at rest, as the app keeps them: so a secret in the file could only come from the trail.
    t = await startTestEngine({ engine: { cipher: createKeyFileCipher(randomBytes(32)) } });
  });

  afterAll(async () => {
    await receiver?.close();
    await t?.cleanup();
  });

  const trail = async (): Promise<TrailRecord[]> => {
    await t.engine.durable();
    return readTrail(t.dbPath);
  };

  it('records each kind of change once, with the OS user and the console as its source; refused ones not at all', async () => {
    const api = t.api;
    // The harness's own settings.update comes first.
    expect(actions(await trail())).toEqual(['settings.update']);

    const { subscription: sub } = unwrap(
      await api['subscriptions.create']({
        name: 'siem',
        url: receiver.url,
        patterns: ['attacker.>'],
        secret: canary('secret'),
        secretHeaders: [{ name: 'Authorization', value: `Bearer ${canary('bearer')}` }],
      }),
    );
    unwrap(await api['subscriptions.update'](sub.id, { url: `${receiver.url}/v2`, rate: 5 }));
    unwrap(await api['subscriptions.update'](sub.id, { secret: canary('rotated'), previousSecretValidHours: 1 }));
    unwrap(await api['subscriptions.setEnabled'](sub.id, false));
    unwrap(await api['subscriptions.setEnabled'](sub.id, true, 'discard'));
    expect(unwrap(await api['subscriptions.testFire'](sub.id)).delivered).toBe(true);
    const [fired] = unwrap(await api['deliveries.list']({ subscriptionId: sub.id, limit: 1 })) as [DeliveryView];
    expect(unwrap(await api['deliveries.replay']({ id: fired.id })).count).toBe(1);
    unwrap(await api['settings.update']({ concurrency: 7, natsPassword: PASSWORD_CANARY }));
    // The tray (as src-main/app/main.ts wires it): one record each for all it changed.
    const paused = await t.engine.bulk(SOURCES.tray, 'pause_all', (bridge) => pauseAll(bridge, EMPTY_LEDGER));
    expect(paused.changed).toEqual(['siem']);
    await t.engine.bulk(SOURCES.tray, 'resume_all', (bridge) => resumeAll(bridge, paused.ledger));

    // Refused by their rules, or changing nothing: no record.
    const before = await trail();
    expect((await api['subscriptions.create']({ name: 'bad', url: 'not a url', patterns: ['x'] })).ok).toBe(false);
    expect((await api['subscriptions.create']({ name: 'siem', url: receiver.url, patterns: ['x'] })).ok).toBe(false);
    expect((await api['subscriptions.update']('no-such-id', { url: receiver.url })).ok).toBe(false);
    expect((await api['subscriptions.update'](sub.id, { retrySchedule: [-1] })).ok).toBe(false);
    expect((await api['subscriptions.setEnabled']('no-such-id', false)).ok).toBe(false);
    expect((await api['subscriptions.remove']('no-such-id')).ok).toBe(false);
    expect((await api['subscriptions.testFire']('no-such-id')).ok).toBe(false);
    expect((await api['settings.update']({ concurrency: 0 })).ok).toBe(false);
    expect((await api['deliveries.replay']({ id: 999_999 })).ok).toBe(false);
    expect(unwrap(await api['deliveries.replay']({ id: fired.id, dryRun: true })).count).toBe(1);
    unwrap(await api['subscriptions.update'](sub.id, { name: 'siem' }));
    unwrap(await api['subscriptions.setEnabled'](sub.id, true));
    unwrap(await api['settings.update']({ concurrency: 7 }));
    expect(await trail()).toEqual(before);

    unwrap(await api['subscriptions.remove'](sub.id));

    const records = await trail();
    expect(records.map((r) => [r.action, r.source])).toEqual([
      ['settings.update', 'console'],
      ['subscription.create', 'console'],
      ['subscription.update', 'console'],
      ['subscription.rotate_secret', 'console'],
      ['subscription.pause', 'console'],
      ['subscription.reenable', 'console'],
      ['subscription.test_fire', 'console'],
      ['deliveries.replay', 'console'],
      ['settings.update', 'console'],
      ['pause_all', 'tray'],
      ['resume_all', 'tray'],
      ['subscription.delete', 'console'],
    ]);
    for (const r of records) expect(r.actor, r.action).toBe(ME);
    expect(records.map((r) => r.seq)).toEqual(records.map((_, i) => i + 1));
    const byAction = (action: string): TrailRecord => records.find((r) => r.action === action) as TrailRecord;
    expect(byAction('subscription.create')).toMatchObject({
      target: 'siem',
      targetId: sub.id,
      before: null,
      after: { url: receiver.url, patterns: ['attacker.>'], secret: 'set', secretHeaders: [{ name: 'Authorization', value: 'set' }], state: 'active' },
    });
    expect(byAction('subscription.update')).toMatchObject({ before: { url: receiver.url, rate: null }, after: { url: `${receiver.url}/v2`, rate: 5 } });
    expect(byAction('subscription.rotate_secret')).toMatchObject({ before: { secret: 'set', previousSecret: null }, after: { secret: 'changed', previousSecret: 'set' } });
    expect(byAction('subscription.reenable')).toMatchObject({ before: { state: 'paused' }, after: { state: 'active', held: 'discard' } });
    expect(byAction('subscription.test_fire')).toMatchObject({ target: 'siem', after: { deliveryId: fired.id } });
    expect(byAction('deliveries.replay')).toMatchObject({ target: 'siem', targetId: sub.id, after: { id: fired.id, queued: 1 } });
    expect(records[8]).toMatchObject({ target: 'settings', before: { concurrency: 10, natsPassword: '' }, after: { concurrency: 7, natsPassword: 'set' } });
    expect(byAction('pause_all')).toMatchObject({ target: '1 subscription', before: { siem: { state: 'active' } }, after: { siem: { state: 'paused' } } });
    expect(byAction('resume_all')).toMatchObject({ after: { siem: { state: 'active', held: 'deliver' } } });
    expect(byAction('subscription.delete')).toMatchObject({ before: { name: 'siem', secret: 'set' }, after: null });

    // The canary: nowhere in the trail, nor (secrets being encrypted) in the file.
    const text = JSON.stringify(records);
    expect(text).not.toContain(CANARY);
    expect(text).not.toContain(PASSWORD_CANARY);
    expect(fileBytes(t.dbPath).includes(CANARY)).toBe(false);

    // Checked beside the running engine, by the CLI.
    const verify = await cli(t.dbPath, ['audit', '--verify']);
    expect(verify.stdout).toMatch(/^intact: 12 records, from \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ to \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ \(seq 1–12\)$/m);
    expect(verify.code).toBe(0);
  });

  it('records changes made in a browser, through the web host, as the web console’s', async () => {
    const host = await startWebHost({ engine: t.engine, port: 0, rendererDir: RENDERER_DIR });
    try {
      const ws = new WebSocket(`ws://127.0.0.1:${host.port}/rpc?token=${encodeURIComponent(host.token)}`, { origin: host.origin });
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
      const call = (method: string, params: unknown[]): Promise<{ ok: boolean; value?: unknown }> =>
        new Promise((resolve) => {
          ws.once('message', (data: Buffer) => resolve((JSON.parse(data.toString('utf8')) as { result: { ok: boolean; value?: unknown } }).result));
          ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }));
        });
      const created = await call('subscriptions.create', [{ name: 'web', url: receiver.url, patterns: ['web.>'] }]);
      expect(created.ok).toBe(true);
      const id = (created.value as { subscription: SubscriptionView }).subscription.id;
      expect((await call('subscriptions.setEnabled', [id, false])).ok).toBe(true);
      ws.close();
    } finally {
      await host.close();
    }
    const records = (await trail()).filter((r) => r.target === 'web');
    expect(records.map((r) => [r.action, r.source, r.actor])).toEqual([
      ['subscription.create', SOURCES.webConsole, ME],
      ['subscription.pause', SOURCES.webConsole, ME],
    ]);
  });
});

describe('changes made with the CLI', { timeout: 180_000 }, () => {
  let dir: string;
  let db: string;
  let nats: NatsServer;
  let receiver: Receiver;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-audit-cli-'));
    db = join(dir, 'sluice.db');
    nats = await startNatsServer();
    receiver = await startReceiver();
  });

  afterAll(async () => {
    await receiver?.close();
    await nats?.cleanup();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('records each kind of change once as `cli (command)`; --verify holds until a record is edited or deleted, then names it; no secret anywhere', async () => {
    const bus = ['--nats', nats.wsUrl];
    await ok(db, ['settings', 'set', 'allowPrivate', 'true', ...bus]);
    await ok(db, ['subs', 'add', '--name', 'siem', '--url', receiver.url, '--pattern', 'attacker.>', '--secret', canary('secret'), '--bearer', canary('bearer'), ...bus]);
    await ok(db, ['subs', 'update', 'siem', '--url', `${receiver.url}/v2`, ...bus]);
    await ok(db, ['subs', 'update', 'siem', '--secret', canary('rotated'), '--keep-previous', '1', ...bus]);
    await ok(db, ['subs', 'disable', 'siem', ...bus]);
    await ok(db, ['subs', 'enable', 'siem', '--held', 'discard', ...bus]);
    await ok(db, ['subs', 'test', 'siem']);
    const [fired] = JSON.parse(await ok(db, ['deliveries', '--json', '--limit', '1'])) as [DeliveryView];
    await ok(db, ['deliveries', 'replay', '--id', String(fired.id), ...bus]);
    await ok(db, ['settings', 'set', 'concurrency', '7', ...bus]);
    await ok(db, ['settings', 'set', 'natsPassword', '-', ...bus], `${PASSWORD_CANARY}\n`);
    await ok(db, ['settings', 'unset', 'natsPassword', ...bus]);

    // Refused (exit 2), or only counted: no record.
    for (const args of [
      ['subs', 'update', 'nosuch', '--url', receiver.url],
      ['subs', 'add', '--name', 'bad', '--url', 'not a url', '--pattern', 'x'],
      ['subs', 'update', 'siem', '--name', ''],
      ['settings', 'set', 'concurrency', '0'],
      ['deliveries', 'replay', '--id', '999999'],
      ['subs', 'rm', 'nosuch'],
    ])
      expect((await cli(db, [...args, ...bus])).code, args.join(' ')).toBe(2);
    await ok(db, ['deliveries', 'replay', '--id', String(fired.id), '--dry-run']);

    await ok(db, ['subs', 'rm', 'siem', ...bus]);

    const json = await ok(db, ['audit', '--json']);
    const records = JSON.parse(json) as (TrailRecord & { prevHash: string; hash: string })[];
    expect(records.map((r) => [r.action, r.source])).toEqual([
      ['settings.update', 'cli (settings set)'],
      ['subscription.create', 'cli (subs add)'],
      ['subscription.update', 'cli (subs update)'],
      ['subscription.rotate_secret', 'cli (subs update)'],
      ['subscription.pause', 'cli (subs disable)'],
      ['subscription.reenable', 'cli (subs enable)'],
      ['subscription.test_fire', 'cli (subs test)'],
      ['deliveries.replay', 'cli (deliveries replay)'],
      ['settings.update', 'cli (settings set)'],
      ['settings.update', 'cli (settings set)'],
      ['settings.update', 'cli (settings unset)'],
      ['subscription.delete', 'cli (subs rm)'],
    ]);
    for (const r of records) expect(r.actor, r.action).toBe(ME);
    expect(records[3]).toMatchObject({ before: { secret: 'set' }, after: { secret: 'changed', previousSecret: 'set' } });
    expect(records[5]).toMatchObject({ after: { state: 'active', held: 'discard' } });
    expect(records[9]).toMatchObject({ before: { natsPassword: '' }, after: { natsPassword: 'set' } });
    expect(records[10]).toMatchObject({ before: { natsPassword: 'set' }, after: { natsPassword: '' } });
    expect(records[1]?.after).toMatchObject({ secret: 'set', secretHeaders: [{ name: 'Authorization', value: 'set' }] });

    // The table: one line per record, aligned, with what changed.
    const table = (await ok(db, ['audit'])).trimEnd().split('\n');
    expect(table[0]).toMatch(/^SEQ\s+TIME\s+ACTOR\s+SOURCE\s+ACTION\s+TARGET\s+CHANGES$/);
    expect(table).toHaveLength(records.length + 1);
    expect(table[3]).toMatch(/subscription\.update\s+siem\s+url: http:\/\/127\.0\.0\.1:\d+\/hook → http:\/\/127\.0\.0\.1:\d+\/hook\/v2$/);
    expect(table[4]).toContain('secret: set → changed; previousSecret: - → set');
    expect(table.map((line) => line.indexOf('cli ('))).toEqual([-1, ...records.map(() => table[1]?.indexOf('cli ('))]);
    const since = await ok(db, ['audit', '--since', records[10]?.at as string]);
    expect(since.trimEnd().split('\n')).toHaveLength(3);

    // No canary in anything `sluice audit` says, nor in the file (the CLI encrypts secrets).
    for (const output of [json, table.join('\n'), await ok(db, ['audit', '--verify'])]) {
      expect(output).not.toContain(CANARY);
      expect(output).not.toContain(PASSWORD_CANARY);
    }
    expect(fileBytes(db).includes(CANARY)).toBe(false);

    // Intact, then a record edited by hand: --verify exits 1 naming it, and why.
    const intact = await cli(db, ['audit', '--verify']);
    expect(intact.code).toBe(0);
    expect(intact.stdout).toMatch(/^intact: 12 records, from .+ to .+ \(seq 1–12\)$/m);
    const edited = records[2] as TrailRecord;
    byHand(db, 'UPDATE audit SET after = ? WHERE seq = ?', JSON.stringify({ url: 'https://elsewhere.example/' }), edited.seq);
    const broken = await cli(db, ['audit', '--verify']);
    expect(broken.code).toBe(1);
    expect(broken.stdout).toContain(`broken at seq ${edited.seq} (${edited.at.slice(0, 10)} ${edited.at.slice(11, 19)}Z, subscription.update): its content does not match its hash`);
    const asJson = await cli(db, ['audit', '--verify', '--json']);
    expect(asJson.code).toBe(1);
    expect(JSON.parse(asJson.stdout)).toMatchObject({ intact: false, broken: { seq: edited.seq, action: 'subscription.update', reason: 'edited' } });

    // Put back exactly, it verifies again; deleted instead, the record after it is named.
    byHand(db, 'UPDATE audit SET after = ? WHERE seq = ?', JSON.stringify(edited.after), edited.seq);
    expect((await cli(db, ['audit', '--verify'])).code).toBe(0);
    byHand(db, 'DELETE FROM audit WHERE seq = ?', edited.seq);
    const gap = await cli(db, ['audit', '--verify']);
    expect(gap.code).toBe(1);
    expect(gap.stdout).toContain(`broken at seq ${edited.seq + 1} (`);
    expect(gap.stdout).toContain(`it does not link to the record before it (seq ${edited.seq - 1})`);
  });

  it('refuses bad options with every problem at once (exit 2)', async () => {
    const result = await cli(db, ['audit', '--since', 'last tuesday', '--limit', 'x', '--verify']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--since: "last tuesday" is not an ISO-8601 time');
    expect(result.stderr).toContain('--limit');
    expect(result.stderr).toContain('--verify checks the whole trail');
    expect(result.stdout).toBe('');
  });
});

describe('retention of the trail', () => {
  it('prunes records older than auditRetentionDays with the rest of retention, and what remains verifies', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-audit-retention-'));
    const db = join(dir, 'sluice.db');
    // Three changes made more than a year ago, then the engine of today.
    const old = await Store.open(db);
    for (const days of [500, 450, 400])
      appendAudit(old, { actor: 'bob', source: 'console', action: 'settings.update', target: 'settings', targetId: null, before: { concurrency: days }, after: { concurrency: days + 1 } }, new Date(Date.now() - days * 86_400_000).toISOString());
    old.close();
    const t = await startTestEngine({ dbPath: db });
    try {
      unwrap(await t.api['settings.update']({ auditRetentionDays: 420 }));
      expect(await t.engine.applyRetention()).toMatchObject({ auditDeleted: 2 });
      await t.engine.durable();
      expect(readTrail(db).map((r) => [r.seq, r.actor, r.after])).toEqual([
        [3, 'bob', { concurrency: 401 }],
        [4, ME, { retrySchedule: [0.05, 0.05], timeoutMs: 3000 }],
        [5, ME, { auditRetentionDays: 420 }],
      ]);
      const verify = await cli(db, ['audit', '--verify']);
      expect(verify.code).toBe(0);
      expect(verify.stdout).toMatch(/^intact: 3 records, from .+ to .+ \(seq 3–5\)\nrecords up to seq 2 were removed by retention \(the last of them from \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\)\n/);
    } finally {
      await t.cleanup();
    }
  });
});
