/**
 * Team mode end to end (docs/design.md#teams): several engines, each with its own
 * database, share one JetStream stream through one durable consumer, one configuration
 * in a KV bucket and one breaker — against a real nats-server with JetStream, real
 * receivers, and `sluice run` killed with SIGKILL.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Settings, SubscriptionView, TeamStatusView } from '../../src-main/contract/views';
import { ensureSharedConsumer } from '../../src-main/team/shared-consumer';
import { TeamConfig } from '../../src-main/team/team-config';
import { createTeamKeyFile, type TeamKey } from '../../src-main/team/team-key';
import { readTrail } from '../harness/audit';
import { envelope, startTestEngine, unwrap, type TestEngine } from '../harness/engine';
import { startNatsServer, type NatsServer } from '../harness/nats-server';
import { startReceiver, status, type Receiver } from '../harness/receiver';
import { teamSubscription } from '../harness/team';

const CLI = resolve(__dirname, '../../build/sluice.mjs');
const STREAM = 'DECNET';
const TEAM = 'soc';
/** Short, so what a killed member took and never acknowledged goes to the others quickly. */
const ACK_WAIT_MS = 2_000;

let nats: NatsServer;
let nc: NatsConnection;
let dir: string;
let keyFile: string;
let key: TeamKey;
let receiver: Receiver;
const members: TestEngine[] = [];
const children: ChildProcess[] = [];

beforeEach(async () => {
  nats = await startNatsServer();
  nc = await nats.client();
  await (await jetstreamManager(nc)).streams.add({ name: STREAM, subjects: ['attacker.>', 'canary.>'] });
  dir = await mkdtemp(join(tmpdir(), 'sluice-team-'));
  keyFile = join(dir, 'team.key');
  key = createTeamKeyFile(keyFile);
  await TeamConfig.create(nc, { name: TEAM, stream: STREAM, key });
  await ensureSharedConsumer(nc, { team: TEAM, stream: STREAM, ackWaitMs: ACK_WAIT_MS });
  receiver = await startReceiver();
});

afterEach(async () => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  for (const m of members.splice(0)) await m.cleanup();
  await receiver.close();
  await nats.cleanup();
  await rm(dir, { recursive: true, force: true });
});

const TEAM_SETTINGS: Partial<Settings> = { jetstreamStream: STREAM, teamKeyFile: '', teamBucket: TEAM };

/** A member: an engine of its own database, joined to the team, consuming once the team is open. */
async function member(): Promise<TestEngine> {
  const t = await startTestEngine({ server: nats, settings: { ...TEAM_SETTINGS, teamKeyFile: keyFile }, engine: { jetstreamAckWaitMs: ACK_WAIT_MS } });
  members.push(t);
  if (t.engine.status().jetstream?.state !== 'consuming') await t.waitForRecord((r) => r.kind === 'jetstream' && r.status.state === 'consuming');
  return t;
}

const byName = async (t: TestEngine, name: string): Promise<SubscriptionView | undefined> =>
  unwrap(await t.api['subscriptions.list']()).find((s) => s.name === name);

async function publish(ids: string[], subject = 'attacker.observed'): Promise<void> {
  const js = jetstream(nc);
  for (let i = 0; i < ids.length; i += 500)
    await Promise.all(ids.slice(i, i + 500).map((id) => js.publish(subject, new TextEncoder().encode(JSON.stringify(envelope('x', {}, id))), { msgID: id })));
}

const eventIds = (r: Receiver): string[] => r.requests.map((q) => q.headers['x-decnet-event-id'] as string);

describe('a team of engines', { timeout: 120_000 }, () => {
  it('shares one configuration: an edit on one member is live on the others within a second, and every member delivers', async () => {
    const [a, b, c] = [await member(), await member(), await member()];
    const started = Date.now();
    unwrap(await a.api['subscriptions.create']({ name: 'siem', url: receiver.url, patterns: ['attacker.>'] }));
    await vi.waitFor(async () => {
      expect(await byName(b, 'siem')).toBeDefined();
      expect(await byName(c, 'siem')).toBeDefined();
    }, { timeout: 1_000, interval: 20 });
    expect(Date.now() - started).toBeLessThan(1_000);

    // Each event goes to one member; published one at a time, B soon takes one.
    let n = 0;
    const deliveredBy = async (t: TestEngine): Promise<number> => unwrap(await t.api['deliveries.list']({ outcome: 'delivered' })).length;
    while ((await deliveredBy(b)) === 0 && n < 200) {
      await publish([`one-${n++}`]);
      await receiver.waitForRequests(n, 5_000);
    }
    expect(await deliveredBy(b)).toBeGreaterThan(0);
    expect(new Set(eventIds(receiver)).size).toBe(n);

    // An edit and a team setting on C reach A.
    const siem = (await byName(c, 'siem')) as SubscriptionView;
    unwrap(await c.api['subscriptions.update'](siem.id, { patterns: ['attacker.>', 'canary.>'] }));
    unwrap(await c.api['settings.update']({ circuitThreshold: 7 }));
    await vi.waitFor(async () => {
      expect((await byName(a, 'siem'))?.patterns).toEqual(['attacker.>', 'canary.>']);
      expect(unwrap(await a.api['settings.get']()).circuitThreshold).toBe(7);
    }, { timeout: 1_000, interval: 20 });

    // Deleted on B: gone everywhere.
    unwrap(await b.api['subscriptions.remove'](siem.id));
    await vi.waitFor(async () => {
      expect(await byName(a, 'siem')).toBeUndefined();
      expect(await byName(c, 'siem')).toBeUndefined();
    }, { timeout: 1_000, interval: 20 });
  });

  it('a new member consumes only once it has the team configuration: events already waiting are all delivered', async () => {
    const config = await TeamConfig.open(nc, TEAM, key);
    await config.putSubscription(teamSubscription({ name: 'waiting', url: receiver.url }));
    const ids = Array.from({ length: 500 }, (_, i) => `early-${i}`);
    await publish(ids);
    // Its database is new: it knows no subscription until it has read the team's.
    await member();
    await vi.waitFor(() => expect(new Set(eventIds(receiver)).size).toBe(ids.length), { timeout: 20_000, interval: 50 });
  });

  it('takes an edit made with the CLI on a member database to every member; with the bus away it refuses and changes nothing', async () => {
    const [a, b] = [await member(), await member()];
    const add = (db: string, name: string, extra: string[] = []) =>
      runCliResult(['subs', 'add', '--db', db, '--name', name, '--url', receiver.url, '--pattern', 'attacker.>', ...extra]);
    // Stored (the test engines only override it for their run): a team setting, for every member.
    unwrap(await a.api['settings.update']({ allowPrivate: true }));
    const added = await add(a.dbPath, 'from-cli', ['--nats', nats.wsUrl]);
    expect(added.code, added.stderr).toBe(0);
    await vi.waitFor(async () => expect(await byName(b, 'from-cli')).toBeDefined(), { timeout: 1_000, interval: 20 });

    // The bus unreachable for the command: refused, named, and nothing changed here or there.
    const refused = await add(a.dbPath, 'offline-edit', ['--nats', 'ws://127.0.0.1:1']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/the team's configuration \(bucket soc\) could not take the change, so it was not made/);
    expect(refused.stderr).not.toMatch(/\n\s+at /);
    expect(await byName(a, 'offline-edit')).toBeUndefined();
    expect(await byName(b, 'offline-edit')).toBeUndefined();

    // The audit trail: the edit is the member's that made it (once, its CLI's); the one the
    // team refused is nowhere; a member that only took the team's copy records nothing of it.
    await Promise.all([a.engine.durable(), b.engine.durable()]);
    expect(readTrail(a.dbPath).filter((r) => r.target === 'from-cli' || r.target === 'offline-edit').map((r) => [r.action, r.source, r.target])).toEqual([
      ['subscription.create', 'cli (subs add)', 'from-cli'],
    ]);
    expect(readTrail(b.dbPath).filter((r) => r.target === 'from-cli' || r.target === 'offline-edit')).toEqual([]);
  });

  it('trips once for the team on failures seen by two members, announces it once, and a re-enable on a third resumes everywhere', async () => {
    const [a, b] = [await member(), await member()];
    const failing = await startReceiver(status(500, 'down'));
    try {
      // A high threshold first, so that both A and B see failures before it trips.
      unwrap(await a.api['settings.update']({ circuitThreshold: 1000, retrySchedule: [] }));
      unwrap(await a.api['subscriptions.create']({ name: 'flaky', url: failing.url, patterns: ['attacker.>'] }));
      await vi.waitFor(async () => expect(await byName(b, 'flaky')).toBeDefined(), { timeout: 1_000, interval: 20 });
      const announcements: string[] = [];
      const sub = nc.subscribe('system.webhook.*', { callback: (_e, m) => void announcements.push(`${m.subject} ${m.string()}`) });
      const failuresOf = async (t: TestEngine): Promise<number> => unwrap(await t.api['deliveries.list']({ outcome: 'dead' })).length;
      let n = 0;
      while (((await failuresOf(a)) === 0 || (await failuresOf(b)) === 0) && n < 200) {
        await publish([`fail-${n++}`]);
        await failing.waitForRequests(n, 5_000);
      }
      expect(await failuresOf(a)).toBeGreaterThan(0);
      expect(await failuresOf(b)).toBeGreaterThan(0);
      const c = await member();
      // The next failure trips it, wherever it is seen.
      unwrap(await c.api['settings.update']({ circuitThreshold: n + 1 }));
      await vi.waitFor(async () => expect(unwrap(await a.api['settings.get']()).circuitThreshold).toBe(n + 1), { timeout: 1_000, interval: 20 });
      await vi.waitFor(async () => expect(unwrap(await b.api['settings.get']()).circuitThreshold).toBe(n + 1), { timeout: 1_000, interval: 20 });
      await publish([`fail-${n++}`]);
      for (const t of [a, b, c]) await vi.waitFor(async () => expect((await byName(t, 'flaky'))?.state).toBe('tripped'), { timeout: 5_000, interval: 20 });

      // Held on every member from now on.
      await publish(['held-1', 'held-2', 'held-3', 'held-4']);
      const heldOf = async (t: TestEngine): Promise<number> => (await byName(t, 'flaky'))?.heldCount ?? 0;
      await vi.waitFor(async () => expect((await heldOf(a)) + (await heldOf(b)) + (await heldOf(c))).toBe(4), { timeout: 5_000, interval: 20 });
      const requestsAtTrip = failing.requests.length;

      // Re-enabled on C, the receiver fixed: every member resumes and delivers what it held.
      failing.setBehavior(status(200, 'ok'));
      const flaky = (await byName(c, 'flaky')) as SubscriptionView;
      unwrap(await c.api['subscriptions.setEnabled'](flaky.id, true, 'deliver'));
      for (const t of [a, b, c]) await vi.waitFor(async () => expect((await byName(t, 'flaky'))?.state).toBe('active'), { timeout: 2_000, interval: 20 });
      await failing.waitForRequests(requestsAtTrip + 4, 10_000);
      const resent = failing.requests.slice(requestsAtTrip).map((q) => q.headers['x-decnet-event-id']);
      expect(resent.sort()).toEqual(['held-1', 'held-2', 'held-3', 'held-4']);

      // One announcement each: the trip (by the member whose count tripped it) and the re-enable (by C).
      await vi.waitFor(() => expect(announcements.filter((x) => x.startsWith('system.webhook.reenabled'))).toHaveLength(1));
      // A later message on the same subjects from this client comes after anything already sent.
      nc.publish('system.webhook.fence', '');
      await vi.waitFor(() => expect(announcements.some((x) => x.startsWith('system.webhook.fence'))).toBe(true));
      expect(announcements.filter((x) => x.startsWith('system.webhook.tripped'))).toHaveLength(1);
      sub.unsubscribe();
    } finally {
      await failing.close();
    }
  });

  it('10,000 events over three members, one killed with SIGKILL midway: every event arrives, duplicates only from the killed one', async () => {
    const [a, b] = [await member(), await member()];
    unwrap(await a.api['subscriptions.create']({ name: 'siem', url: receiver.url, patterns: ['attacker.>'] }));
    // The third is `sluice run` on a database of its own, joined by settings.
    const cDb = join(dir, 'c.db');
    const set = (k: string, v: string): Promise<void> => runCli(['settings', 'set', k, v, '--db', cDb]);
    await set('natsUrl', nats.wsUrl);
    await set('allowPrivate', 'true');
    await set('jetstreamStream', STREAM);
    await set('teamKeyFile', keyFile);
    await set('teamBucket', TEAM);
    let c = await startRun(cDb);
    await vi.waitFor(async () => expect(await byName(b, 'siem')).toBeDefined(), { timeout: 1_000, interval: 20 });

    const ids = Array.from({ length: 10_000 }, (_, i) => `ev-${i}`);
    const publishing = publish(ids);
    await receiver.waitForRequests(3_000, 60_000);
    c.kill('SIGKILL');
    await new Promise((r) => c.once('exit', r));
    await publishing;
    // What C took and never acknowledged goes to A and B after the ack wait; what it
    // acknowledged (recorded in its outbox) it delivers when it comes back.
    c = await startRun(cDb);
    await vi.waitFor(() => expect(new Set(eventIds(receiver)).size).toBe(10_000), { timeout: 90_000, interval: 200 });
    const arrivals = eventIds(receiver);
    const duplicates = arrivals.length - new Set(arrivals).size;
    // A duplicate is an event C recorded (or sent) and did not acknowledge before it died:
    // at most what it could hold unacknowledged (the durable's max ack pending, 1,000).
    expect(duplicates).toBeLessThanOrEqual(1_000);
    for (const t of [a, b]) expect(unwrap(await t.api['deliveries.list']({ outcome: 'delivered' })).length).toBeGreaterThan(0);
  });

  it('shows one picture on every member: the members with their health, the shared backlog, and who delivered what', async () => {
    const [a, b] = [await member(), await member()];
    unwrap(await a.api['subscriptions.create']({ name: 'siem', url: receiver.url, patterns: ['attacker.>'] }));
    await vi.waitFor(async () => expect(await byName(b, 'siem')).toBeDefined(), { timeout: 1_000, interval: 20 });
    // Until each member has delivered something, so each has told the team.
    const seenFrom = (recent: { instanceId: string }[]): Set<string> => new Set(recent.map((d) => d.instanceId));
    let n = 0;
    const ids = [a.engine.installId, b.engine.installId];
    await vi.waitFor(
      async () => {
        await publish([`pic-${n++}`]);
        const status = unwrap(await a.api['team.status']());
        expect([...seenFrom(status?.recent ?? [])].sort()).toEqual([...ids].sort());
      },
      { timeout: 20_000, interval: 300 },
    );
    const status = unwrap(await b.api['team.status']()) as TeamStatusView;
    expect(status).toMatchObject({ bucket: TEAM, stream: STREAM, connected: true, problem: null });
    expect(status.members.map((m) => m.instanceId).sort()).toEqual([...ids].sort());
    expect(status.members.find((m) => m.self)?.instanceId).toBe(b.engine.installId);
    for (const m of status.members) expect(m).toMatchObject({ stale: false, bus: 'connected' });
    expect(typeof status.pending).toBe('number');
    expect(status.recent[0]).toMatchObject({ subscriptionName: 'siem', outcome: 'delivered', statusCode: 200, topic: 'attacker.observed' });

    // A forged entry on the team's subject (no team key) is not shown.
    nc.publish(`sluice.team.${TEAM}.deliveries`, JSON.stringify([{ ...status.recent[0], member: 'forged', instanceId: 'forged' }]));
    const later = `pic-${n++}`;
    await publish([later]);
    // Once the later event is in the picture, the forged one (sent before it) would be too.
    await vi.waitFor(async () => expect(unwrap(await a.api['team.status']())?.recent.some((d) => d.eventId === later)).toBe(true), { timeout: 5_000, interval: 100 });
    expect(unwrap(await a.api['team.status']())?.recent.some((d) => d.member === 'forged')).toBe(false);

    // Alone, there is no team to show.
    const alone = await startTestEngine({ server: nats });
    members.push(alone);
    expect(unwrap(await alone.api['team.status']())).toBeNull();
  });

  it('never writes the team key in clear: not in the bucket, not in a database, not in a record', async () => {
    const a = await member();
    const records: string[] = [];
    a.engine.onRecord((r) => records.push(JSON.stringify(r)));
    unwrap(await a.api['subscriptions.create']({ name: 'siem', url: receiver.url, patterns: ['attacker.>'], secret: 'canary-secret-5f2a9c1e7b' }));
    await publish(['k-1']);
    await receiver.waitForRequests(1, 5_000);
    await a.engine.durable();
    const keyText = (await readFile(keyFile, 'utf8')).trim().split(':')[1] as string;
    const raw: string[] = [];
    const jsm = await jetstreamManager(nc);
    for (const stream of [`KV_${TEAM}`, `KV_${TEAM}-members`]) {
      const last = (await jsm.streams.info(stream)).state.last_seq;
      for (let seq = 1; seq <= last; seq++) {
        const m = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
        if (m) raw.push(new TextDecoder().decode(m.data), JSON.stringify(m.header ?? {}));
      }
    }
    expect(raw.join('\n')).not.toContain('canary-secret-5f2a9c1e7b');
    expect(raw.join('\n')).not.toContain(keyText);
    const files = (await readdir(join(a.dbPath, '..'))).filter((f) => f.startsWith('sluice.db'));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) expect((await readFile(join(a.dbPath, '..', f))).includes(Buffer.from(keyText))).toBe(false);
    expect(records.join('\n')).not.toContain(keyText);
  });
});

/** `sluice run` on `db`, with this test's short ack wait; resolves once it consumes the team's stream. */
async function startRun(db: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [CLI, 'run', '--db', db], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SLUICE_ACK_WAIT_MS: String(ACK_WAIT_MS) } });
  children.push(child);
  await new Promise<void>((resolvePromise, reject) => {
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (/"state":"consuming"/.test(out)) resolvePromise();
    });
    child.once('exit', (code) => reject(new Error(`sluice run exited (${code}) before consuming: ${out}`)));
  });
  return child;
}

async function runCliResult(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  return { code, stdout, stderr };
}

async function runCli(args: string[]): Promise<void> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  if (code !== 0) throw new Error(`sluice ${args.join(' ')}: exit ${code}: ${err}`);
}
