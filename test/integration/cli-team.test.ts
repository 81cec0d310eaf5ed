/**
 * `sluice team create|join|leave|status` as child processes (the built `out/main/cli.js`)
 * against a real nats-server with JetStream and WebSocket, and a stream made here as the
 * bus's operator would (Sluice never makes one): the key file, the team's buckets and
 * shared durable, this installation's configuration moved in with its secrets sealed, the
 * local settings that make it a member, and every refusal said on stderr (exit 2 for the
 * command line, 1 for the bus or the state) with nothing changed.
 *
 * No engine runs here: members' heartbeats are written with TeamMembers, as a member's
 * engine writes them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AckPolicy, JetStreamApiCodes, JetStreamApiError, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { SettingsView, SubscriptionView } from '../../src-main/contract/views';
import type { TeamReport } from '../../src-main/cli/team-status';
import { TeamConfig } from '../../src-main/team/team-config';
import { readTeamKeyFile } from '../../src-main/team/team-key';
import { TeamMembers, type MemberHeartbeat } from '../../src-main/team/team-members';
import { readTrail } from '../harness/audit';
import { startNatsServer, type NatsServer } from '../harness/nats-server';

const CLI = fileURLToPath(new URL('../../out/main/cli.js', import.meta.url));
const STREAM = 'DECNET';
const TEAM = 'sluice-team';
const CANARY = `canary-secret-${randomBytes(6).toString('hex')}`;
const HEADER_CANARY = `canary-header-${randomBytes(6).toString('hex')}`;
const decoder = new TextDecoder();

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

let dir: string;
let nats: NatsServer;
const servers: NatsServer[] = [];
const children = new Set<ChildProcess>();

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);
});

beforeEach(async () => {
  // The real path: the CLI stores the key file absolute, resolved from its working folder.
  dir = await realpath(await mkdtemp(join(tmpdir(), 'sluice-cli-team-')));
  nats = await server();
});

afterEach(async () => {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
  await Promise.all(servers.splice(0).map((s) => s.cleanup()));
  await rm(dir, { recursive: true, force: true });
});

async function server(options: { jetstream?: boolean } = {}): Promise<NatsServer> {
  const started = await startNatsServer(options);
  servers.push(started);
  return started;
}

function cli(...args: string[]): Promise<Result> {
  const { SLUICE_DB: _default, ...env } = process.env;
  const child = spawn(process.execPath, [CLI, ...args], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve) =>
    child.once('close', (code) => {
      children.delete(child);
      resolve({ code, stdout, stderr });
    }),
  );
}

async function ok(...args: string[]): Promise<string> {
  const r = await cli(...args);
  expect(r.code, `sluice ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

/** A refusal: its exit code, one message on stderr naming what is wrong, no stack trace, nothing on stdout. */
async function refused(code: number, args: string[], ...said: (string | RegExp)[]): Promise<string> {
  const r = await cli(...args);
  expect(r.code, `sluice ${args.join(' ')}: ${r.stdout}${r.stderr}`).toBe(code);
  expect(r.stdout).toBe('');
  expect(r.stderr).toMatch(/^sluice: /);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  for (const s of said) expect(r.stderr).toMatch(s);
  return r.stderr;
}

/** A database on this bus, with subscriptions whose secrets are the canaries. */
async function database(name: string, subs: string[] = [], bus = nats.wsUrl): Promise<string> {
  const db = join(dir, name);
  await ok('settings', 'set', 'natsUrl', bus, '--db', db);
  await ok('settings', 'set', 'allowPrivate', 'true', '--db', db);
  for (const sub of subs) {
    await ok(
      'subs', 'add', '--db', db, '--name', sub, '--url', `http://127.0.0.1:9/${sub}`, '--pattern', 'attacker.>',
      '--secret', CANARY, '--secret-header', `Authorization: Bearer ${HEADER_CANARY}`,
    );
  }
  return db;
}

async function settingsOf(db: string): Promise<SettingsView> {
  return JSON.parse(await ok('settings', 'get', '--json', '--db', db)) as SettingsView;
}

async function subsOf(db: string): Promise<string[]> {
  return (JSON.parse(await ok('subs', 'list', '--json', '--db', db)) as SubscriptionView[]).map((s) => s.name);
}

/** What a refused command must leave as it was: the local settings and subscriptions, and the files. */
async function localState(db: string): Promise<unknown> {
  const { overrides: _o, ...settings } = await settingsOf(db);
  return { settings, subs: await subsOf(db), files: readdirSync(dir).sort() };
}

async function jsm(on = nats): Promise<JetStreamManager> {
  return jetstreamManager(await on.client());
}

/** The stream of the team's events: the operator's, made here with the NATS client. */
async function makeStream(name = STREAM, on = nats): Promise<void> {
  await (await jsm(on)).streams.add({ name, subjects: [`${name.toLowerCase()}.>`, 'attacker.>'] });
}

async function streamExists(name: string, on = nats): Promise<boolean> {
  try {
    await (await jsm(on)).streams.info(name);
    return true;
  } catch (error) {
    if (error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound) return false;
    throw error;
  }
}

/** Every message the team's configuration bucket stores, as text (subject, headers, body). */
async function rawBucket(nc: NatsConnection, bucket = TEAM): Promise<string[]> {
  const manager = await jetstreamManager(nc);
  const { state } = await manager.streams.info(`KV_${bucket}`);
  const texts: string[] = [];
  for (let seq = state.first_seq; seq <= state.last_seq; seq++) {
    const msg = await manager.streams.getMessage(`KV_${bucket}`, { seq });
    if (msg) texts.push(`${msg.subject}\n${msg.header.toString()}\n${decoder.decode(msg.data)}`);
  }
  return texts;
}

function heartbeat(instanceId: string, name: string): MemberHeartbeat {
  return {
    instanceId,
    name,
    host: `${name}.example`,
    version: '0.1.0',
    startedAt: new Date().toISOString(),
    bus: 'connected',
    deliveries: { delivered: 12, failed: 1, inFlight: 2 },
  };
}

/** `sluice team create` for `db` (its subscriptions moved in); returns the key file's path. */
async function createTeam(db: string, keyName = 'team.key'): Promise<string> {
  await ok('team', 'create', '--stream', STREAM, '--key-out', keyName, '--db', db);
  return join(dir, keyName);
}

describe('sluice team create', () => {
  it("makes the key file, the team's buckets and shared durable, moves this database's configuration in sealed, and makes it a member", async () => {
    await makeStream();
    const db = await database('a.db', ['siem', 'soar']);
    await ok('settings', 'set', 'circuitThreshold', '7', '--db', db);

    const r = await cli('team', 'create', '--stream', STREAM, '--key-out', 'team.key', '--db', db);
    expect(r.code, r.stderr).toBe(0);
    const keyFile = join(dir, 'team.key');
    expect(r.stdout).toContain(`team ${TEAM} created on ${nats.wsUrl}`);
    expect(r.stdout).toContain(`through the shared durable ${TEAM}`);
    expect(r.stdout).toContain(`key file  ${keyFile}`);
    expect(r.stdout).toContain('moved 2 subscriptions (siem, soar) and 2 settings (circuitThreshold, allowPrivate) into the team');
    expect(r.stdout).toContain(`sluice team join --stream ${STREAM} --bucket ${TEAM} --key-file PATH`);
    expect(r.stdout).toContain('over a safe channel');

    // The key file: one line, mode 0600.
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(keyFile, 'utf8')).toMatch(/^sluice-team-key-v1:[A-Za-z0-9_-]{43}\n$/);

    // The buckets and the durable.
    const manager = await jsm();
    expect((await manager.streams.info(`KV_${TEAM}`)).config.subjects).toEqual([`$KV.${TEAM}.>`]);
    expect(await streamExists(`KV_${TEAM}-members`)).toBe(true);
    expect((await manager.consumers.info(STREAM, TEAM)).config).toMatchObject({ durable_name: TEAM, ack_policy: 'explicit' });

    // The configuration, read back with the key: secrets and all.
    const nc = await nats.client();
    const key = readTeamKeyFile(keyFile);
    const snapshot = await (await TeamConfig.open(nc, TEAM, key)).read();
    expect(snapshot.meta).toMatchObject({ name: TEAM, stream: STREAM, consumer: TEAM, keyId: key.id });
    expect(snapshot.subscriptions.map((s) => [s.name, s.secret, s.secretHeaders])).toEqual([
      ['siem', CANARY, [{ name: 'Authorization', value: `Bearer ${HEADER_CANARY}` }]],
      ['soar', CANARY, [{ name: 'Authorization', value: `Bearer ${HEADER_CANARY}` }]],
    ]);
    expect(snapshot.settings).toEqual({ circuitThreshold: 7, allowPrivate: true });
    expect(snapshot.problems).toEqual([]);
    // ...and sealed on the bus: no stored message holds a secret.
    const raw = (await rawBucket(nc)).join('\n');
    expect(raw).toContain('subs.');
    expect(raw).not.toContain(CANARY);
    expect(raw).not.toContain(HEADER_CANARY);

    // A member now, by the local settings; its subscriptions stay here too.
    const settings = await settingsOf(db);
    expect([settings.teamBucket, settings.teamKeyFile, settings.jetstreamStream]).toEqual([TEAM, keyFile, STREAM]);
    expect(await subsOf(db)).toEqual(['siem', 'soar']);

    // The audit trail: what went into the team, once, and the membership settings; no secret.
    const trail = readTrail(db).filter((r) => r.source === 'cli (team create)');
    expect(trail.map((r) => [r.action, r.target])).toEqual([
      ['team.create', TEAM],
      ['settings.update', 'settings'],
    ]);
    expect(trail[0]?.after).toEqual({ team: TEAM, stream: STREAM, subscriptions: ['siem', 'soar'], settings: ['circuitThreshold', 'allowPrivate'] });
    expect(JSON.stringify(readTrail(db))).not.toContain(CANARY);
  });

  it('--json: one object saying what was made and moved; --bucket names the team', async () => {
    await makeStream();
    const db = await database('a.db', ['siem']);
    const doc = JSON.parse(await ok('team', 'create', '--stream', STREAM, '--bucket', 'blue', '--key-out', 'blue.key', '--db', db, '--json')) as Record<string, unknown>;
    const key = readTeamKeyFile(join(dir, 'blue.key'));
    expect(doc).toEqual({
      team: 'blue',
      bus: nats.wsUrl,
      stream: STREAM,
      consumer: 'blue',
      waiting: expect.any(Number) as number,
      keyFile: join(dir, 'blue.key'),
      keyId: key.id,
      subscriptions: ['siem'],
      settings: ['allowPrivate'],
    });
    expect(await streamExists('KV_blue')).toBe(true);
    expect(await streamExists('KV_blue-members')).toBe(true);
    expect((await settingsOf(db)).teamBucket).toBe('blue');
  });

  it('refuses a key file that exists, before touching the bus or the database', async () => {
    await makeStream();
    const db = await database('a.db', ['siem']);
    writeFileSync(join(dir, 'team.key'), 'keep me\n', { mode: 0o600 });
    const before = await localState(db);
    await refused(2, ['team', 'create', '--stream', STREAM, '--key-out', 'team.key', '--db', db], /--key-out: .*team\.key exists already; a team key file is never overwritten/);
    expect(readFileSync(join(dir, 'team.key'), 'utf8')).toBe('keep me\n');
    expect(await streamExists(`KV_${TEAM}`)).toBe(false);
    expect(await streamExists(`KV_${TEAM}-members`)).toBe(false);
    expect(await localState(db)).toEqual(before);
  });

  it('refuses a stream that is not on the bus, naming it and the streams there are; nothing is made', async () => {
    await makeStream('OTHER');
    const db = await database('a.db', ['siem']);
    const before = await localState(db);
    await refused(
      2,
      ['team', 'create', '--stream', STREAM, '--key-out', 'team.key', '--db', db],
      /--stream: there is no stream "DECNET" on the bus at ws:\/\/127\.0\.0\.1:\d+ \(streams there: OTHER\)/,
      /never creates/,
    );
    expect(existsSync(join(dir, 'team.key'))).toBe(false);
    expect(await streamExists(`KV_${TEAM}`)).toBe(false);
    expect(await streamExists(STREAM)).toBe(false);
    expect(await localState(db)).toEqual(before);
  });

  it('says JetStream is off, and makes nothing', async () => {
    const plain = await server({ jetstream: false });
    const db = await database('a.db', ['siem'], plain.wsUrl);
    const before = await localState(db);
    await refused(1, ['team', 'create', '--stream', STREAM, '--key-out', 'team.key', '--db', db], /JetStream is not available on this NATS server/, /enable it/);
    expect(existsSync(join(dir, 'team.key'))).toBe(false);
    expect(await localState(db)).toEqual(before);
  });

  it('says a bus that cannot be reached, and makes nothing', async () => {
    await makeStream();
    const db = await database('a.db', ['siem']);
    const before = await localState(db);
    await refused(1, ['team', 'create', '--stream', STREAM, '--key-out', 'team.key', '--db', db, '--nats', 'ws://127.0.0.1:1'], /bus not reachable at ws:\/\/127\.0\.0\.1:1: /);
    expect(existsSync(join(dir, 'team.key'))).toBe(false);
    expect(await localState(db)).toEqual(before);
  });

  it('refuses a team that exists already (join it instead), before writing a key', async () => {
    await makeStream();
    await createTeam(await database('a.db'));
    const db = await database('b.db', ['siem']);
    const before = await localState(db);
    await refused(2, ['team', 'create', '--stream', STREAM, '--key-out', 'mine.key', '--db', db], /--bucket: team "sluice-team" exists already/, /sluice team join --stream DECNET --bucket sluice-team --key-file/);
    expect(existsSync(join(dir, 'mine.key'))).toBe(false);
    expect(await localState(db)).toEqual(before);
  });

  it('cut short after the key file was written: says what was done, and the command that finishes with that key', async () => {
    await makeStream();
    const db = await database('a.db', ['siem']);
    // A push consumer holding the durable's name: the team cannot have its shared durable.
    const manager = await jsm();
    await manager.consumers.add(STREAM, { durable_name: TEAM, deliver_subject: 'elsewhere', ack_policy: AckPolicy.Explicit });

    const stderr = await refused(1, ['team', 'create', '--stream', STREAM, '--key-out', 'team.key', '--db', db], /team create was cut short: .*push consumer/, /done:/);
    const keyFile = join(dir, 'team.key');
    expect(stderr).toContain(`the team key file ${keyFile} was written`);
    expect(stderr).toContain('this Sluice is not a member yet');
    const next = /^ {2}(sluice team create .*)$/m.exec(stderr)?.[1];
    expect(next).toBe(`sluice team create --stream ${STREAM} --bucket ${TEAM} --db ${db} --key-file ${keyFile}`);
    expect(existsSync(keyFile)).toBe(true);
    expect((await settingsOf(db)).teamBucket).toBe('');

    // The operator clears the way; the command said finishes with the same key.
    await manager.consumers.delete(STREAM, TEAM);
    const args = (next as string).split(' ').slice(1);
    const r = await cli(...args);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('moved 1 subscription (siem)');
    const settings = await settingsOf(db);
    expect([settings.teamBucket, settings.teamKeyFile, settings.jetstreamStream]).toEqual([TEAM, keyFile, STREAM]);
    const snapshot = await (await TeamConfig.open(await nats.client(), TEAM, readTeamKeyFile(keyFile))).read();
    expect(snapshot.subscriptions.map((s) => s.name)).toEqual(['siem']);
  });

  it('names every command-line problem at once (exit 2), before anything is opened', async () => {
    const db = await database('a.db');
    const before = await localState(db);
    await refused(2, ['team', 'create', '--db', db], /2 problems/, /--stream is required/, /--key-out is required/);
    await refused(2, ['team', 'create', '--stream', 'a.b', '--bucket', 'far-too-long-a-name-for-a-team', '--key-out', 'nofolder/team.key', '--db', db],
      /3 problems/, /--stream: "a\.b" letters, digits, - and _ only/, /--bucket: "far-too-long-a-name-for-a-team" is not a team name/, /--key-out: there is no folder .*nofolder/);
    await refused(2, ['team', 'create', '--stream', STREAM, '--key-ot', 'k', '--db', db], /--key-ot: unknown option; did you mean --key-out\?/);
    await refused(2, ['team', 'create', '--stream', STREAM, '--key-out', 'a.key', '--key-file', 'b.key', '--db', db], /--key-out and --key-file: give one/);
    await refused(2, ['team', 'create', '--stream', STREAM, '--key-out', 'team.key', '--db', join(dir, 'missing.db')], /no database at .*missing\.db/);
    await refused(2, ['team', 'craete'], /did you mean team create\?/);
    expect(await localState(db)).toEqual(before);
  });
});

describe('sluice team join', () => {
  it("makes a second database a member: refused while it has subscriptions the team has not, unless --merge-local adds them", async () => {
    await makeStream();
    const keyFile = await createTeam(await database('a.db', ['siem']));
    const db = await database('b.db', ['own']);
    const before = await localState(db);
    const nc = await nats.client();
    const key = readTeamKeyFile(keyFile);
    const teamSubs = async (): Promise<string[]> => (await (await TeamConfig.open(nc, TEAM, key)).read()).subscriptions.map((s) => s.name);

    await refused(2, ['team', 'join', '--stream', STREAM, '--key-file', keyFile, '--db', db], /this database has 1 subscription the team does not: own/, /--merge-local/, /nothing was changed/);
    expect(await localState(db)).toEqual(before);
    expect(await teamSubs()).toEqual(['siem']);

    const r = await cli('team', 'join', '--stream', STREAM, '--key-file', keyFile, '--merge-local', '--db', db);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`joined team ${TEAM} on ${nats.wsUrl}`);
    expect(r.stdout).toContain('added 1 subscription of this database to the team (own) (--merge-local)');
    expect(r.stdout).toContain('the team has 2 subscriptions (own, siem)');
    const settings = await settingsOf(db);
    expect([settings.teamBucket, settings.teamKeyFile]).toEqual([TEAM, keyFile]);
    expect(await teamSubs()).toEqual(['own', 'siem']);
    const own = (await (await TeamConfig.open(nc, TEAM, key)).read()).subscriptions.find((s) => s.name === 'own');
    expect(own?.secret).toBe(CANARY);
    expect((await rawBucket(nc)).join('\n')).not.toContain(CANARY);
    // The refused join recorded nothing; the one that merged, what it added to the team.
    const joins = readTrail(db).filter((r) => r.action === 'team.join');
    expect(joins.map((r) => [r.source, r.target, r.after])).toEqual([['cli (team join)', TEAM, { team: TEAM, stream: STREAM, merged: ['own'] }]]);
  });

  it('--json; makes the shared durable when it is missing; a database without subscriptions joins as it is', async () => {
    await makeStream();
    const keyFile = await createTeam(await database('a.db', ['siem']));
    await (await jsm()).consumers.delete(STREAM, TEAM);
    const db = await database('c.db');
    const doc = JSON.parse(await ok('team', 'join', '--stream', STREAM, '--bucket', TEAM, '--key-file', keyFile, '--db', db, '--json')) as Record<string, unknown>;
    expect(doc).toEqual({
      team: TEAM,
      bus: nats.wsUrl,
      stream: STREAM,
      consumer: TEAM,
      keyFile,
      keyId: readTeamKeyFile(keyFile).id,
      teamSubscriptions: ['siem'],
      merged: [],
    });
    expect((await (await jsm()).consumers.info(STREAM, TEAM)).name).toBe(TEAM);
    expect((await settingsOf(db)).teamBucket).toBe(TEAM);
  });

  it('refuses another key, another stream, a team that is not there, and a bad key file; nothing changes', async () => {
    await makeStream();
    const keyFile = await createTeam(await database('a.db', ['siem']));
    const db = await database('b.db');
    const other = join(dir, 'other.key');
    writeFileSync(other, `sluice-team-key-v1:${randomBytes(32).toString('base64url')}\n`, { mode: 0o600 });
    const before = await localState(db);

    await refused(2, ['team', 'join', '--stream', STREAM, '--key-file', other, '--db', db], /--key-file: this team key is not the team's key/, /copy the team's key file from a member/);
    await refused(2, ['team', 'join', '--stream', 'OTHER', '--key-file', keyFile, '--db', db], /--stream: team "sluice-team" consumes stream "DECNET", not "OTHER"/);
    await refused(2, ['team', 'join', '--stream', STREAM, '--bucket', 'red', '--key-file', keyFile, '--db', db], /--bucket: there is no team "red" on this bus/);
    await refused(2, ['team', 'join', '--stream', STREAM, '--key-file', 'nowhere.key', '--db', db], /--key-file: the team key file .*nowhere\.key does not exist/);
    writeFileSync(join(dir, 'open.key'), readFileSync(keyFile), { mode: 0o644 });
    await refused(2, ['team', 'join', '--stream', STREAM, '--key-file', 'open.key', '--db', db], /--key-file: .*can be read by others \(mode 0644\)/);
    writeFileSync(join(dir, 'junk.key'), 'not a key\n', { mode: 0o600 });
    await refused(2, ['team', 'join', '--stream', STREAM, '--key-file', 'junk.key', '--db', db], /--key-file: .*junk\.key is not a Sluice team key file/);
    await refused(2, ['team', 'join', '--stream', STREAM, '--db', db], /--key-file is required/);

    const after = (await localState(db)) as { files: string[] };
    expect({ ...after, files: after.files.filter((f) => !['open.key', 'junk.key'].includes(f)) }).toEqual(before);
    expect(await streamExists('KV_red')).toBe(false);
  });

  it('refuses a member of another team (leave it first)', async () => {
    await makeStream();
    const db = await database('a.db');
    await createTeam(db);
    const blue = join(dir, 'blue.key');
    await ok('team', 'create', '--stream', STREAM, '--bucket', 'blue', '--key-out', blue, '--db', await database('b.db'));
    await refused(1, ['team', 'join', '--stream', STREAM, '--bucket', 'blue', '--key-file', blue, '--db', db], /a member of team "sluice-team" already: sluice team leave first/);
    expect((await settingsOf(db)).teamBucket).toBe(TEAM);
  });
});

describe('sluice team status', () => {
  it('lists the members, the backlog, the subscriptions and tripped breakers, and the team settings', async () => {
    await makeStream();
    const db = await database('a.db', ['siem', 'soar']);
    await ok('settings', 'set', 'circuitThreshold', '3', '--db', db);
    const keyFile = await createTeam(db);
    const nc = await nats.client();
    const key = readTeamKeyFile(keyFile);
    const config = await TeamConfig.open(nc, TEAM, key);
    const siem = (await config.read()).subscriptions.find((s) => s.name === 'siem');
    await config.recordFailure(siem?.id as string, 'HTTP 503', 1);

    // No engine runs: no members yet.
    const empty = JSON.parse(await ok('team', 'status', '--json', '--db', db)) as TeamReport;
    expect(empty.members).toEqual([]);
    const self = empty.self;
    expect(self).toMatch(/^[0-9a-f-]{36}$/);

    // Two members' engines beat (written as they write them).
    const members = await TeamMembers.open(nc, TEAM, key);
    await members.beat(heartbeat(self, 'alpha'));
    await members.beat(heartbeat('00000000-0000-4000-8000-000000000002', 'bravo'));

    const view = JSON.parse(await ok('team', 'status', '--json', '--db', db)) as TeamReport;
    expect(view).toMatchObject({
      team: TEAM,
      bus: nats.wsUrl,
      stream: STREAM,
      consumer: TEAM,
      keyId: key.id,
      self,
      backlogError: null,
      subscriptions: { count: 2, paused: [], tripped: [{ id: siem?.id, name: 'siem', consecutiveFailures: 1, lastError: 'HTTP 503' }] },
      settings: { circuitThreshold: 3, allowPrivate: true },
      problems: [],
    });
    expect(view.backlog).toEqual({ pending: expect.any(Number) as number, ackPending: 0, total: expect.any(Number) as number, waiting: 0 });
    expect(view.members.map((m) => [m.name, m.host, m.self, m.stale, m.bus, m.deliveries])).toEqual([
      ['alpha', 'alpha.example', true, false, 'connected', { delivered: 12, failed: 1, inFlight: 2 }],
      ['bravo', 'bravo.example', false, false, 'connected', { delivered: 12, failed: 1, inFlight: 2 }],
    ]);
    expect(Object.keys(view).sort()).toEqual(
      ['backlog', 'backlogError', 'bus', 'consumer', 'createdAt', 'keyId', 'members', 'problems', 'self', 'settings', 'stream', 'subscriptions', 'team'].sort(),
    );

    const human = await ok('team', 'status', '--db', db);
    expect(human).toMatch(new RegExp(`^team +${TEAM} \\(key ${key.id}`, 'm'));
    expect(human).toMatch(/^subscriptions +2; 1 tripped$/m);
    expect(human).toMatch(/TRIPPED siem since .* after 1 failures: HTTP 503/);
    expect(human).toMatch(/^settings +circuitThreshold=3 {2}allowPrivate=true$/m);
    expect(human).toMatch(/^NAME +HOST +VERSION +BUS +LAST SEEN +DELIVERED +FAILED +IN FLIGHT +ID$/m);
    expect(human).toMatch(/^alpha \(this one\) +alpha\.example +0\.1\.0 +connected +\d+ s ago +12 +1 +2 +[0-9a-f-]{36}$/m);
    expect(human).not.toContain(CANARY);
  });

  it('refuses a database that is not a member (exit 1)', async () => {
    const db = await database('a.db');
    await refused(1, ['team', 'status', '--db', db], /this Sluice is not a member of a team \(teamBucket is not set\): sluice team create, or sluice team join/);
  });
});

describe('sluice team leave', () => {
  it("unsets the team locally, keeps the local subscriptions, and removes this member's heartbeat", async () => {
    await makeStream();
    const db = await database('a.db', ['siem']);
    const keyFile = await createTeam(db);
    const nc = await nats.client();
    const members = await TeamMembers.open(nc, TEAM, readTeamKeyFile(keyFile));
    const { self } = JSON.parse(await ok('team', 'status', '--json', '--db', db)) as TeamReport;
    await members.beat(heartbeat(self, 'alpha'));
    await members.beat(heartbeat('00000000-0000-4000-8000-000000000002', 'bravo'));

    const r = await cli('team', 'leave', '--db', db);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`left team ${TEAM}: this Sluice works alone again`);
    expect(r.stdout).toContain("its copy of the team's subscriptions stays here (1 subscription)");
    expect(r.stdout).toContain(`its heartbeat was removed from ${TEAM}-members`);
    const settings = await settingsOf(db);
    expect([settings.teamBucket, settings.teamKeyFile, settings.jetstreamStream]).toEqual(['', '', '']);
    expect(await subsOf(db)).toEqual(['siem']);
    expect((await members.list()).map((m) => m.name)).toEqual(['bravo']);
    expect(readTrail(db).filter((r) => r.action === 'team.leave').map((r) => [r.source, r.before, r.after])).toEqual([
      ['cli (team leave)', { team: TEAM }, { subscriptionsKept: 1 }],
    ]);
    // The team itself is untouched, and so is the key file.
    expect((await (await TeamConfig.open(nc, TEAM, readTeamKeyFile(keyFile))).read()).subscriptions.map((s) => s.name)).toEqual(['siem']);

    await refused(1, ['team', 'leave', '--db', db], /this Sluice is not a member of a team/);
  });

  it('leaves with the bus away: says the heartbeat stays until it goes stale', async () => {
    await makeStream();
    const db = await database('a.db', ['siem']);
    await createTeam(db);
    const r = await cli('team', 'leave', '--db', db, '--nats', 'ws://127.0.0.1:1', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ team: TEAM, subscriptionsKept: 1, heartbeatRemoved: false, heartbeatNote: expect.stringContaining('bus not reachable at ws://127.0.0.1:1') as string });
    expect((await settingsOf(db)).teamBucket).toBe('');
  });
});

describe('sluice --help', () => {
  it('lists the team commands', async () => {
    const help = await ok('--help');
    for (const line of ['team create --stream NAME [--bucket NAME] --key-out PATH', 'team join --stream NAME [--bucket NAME] --key-file PATH [--merge-local]', 'team leave', 'team status'])
      expect(help).toContain(line);
  });
});
