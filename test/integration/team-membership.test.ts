/**
 * The bridge's team.create, team.join and team.leave (the console's Settings screen), as
 * `sluice team create|join|leave` do them (engine/team-membership.ts): against a real
 * nats-server with JetStream and a running engine. Every refusal names the form's field
 * and changes nothing: no key file, no settings, nothing in the team's bucket.
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { BridgeError, Result } from '../../src-main/contract/bridge';
import { TeamConfig } from '../../src-main/team/team-config';
import { createTeamKeyFile, readTeamKeyFile } from '../../src-main/team/team-key';
import { TeamMembers } from '../../src-main/team/team-members';
import { readTrail } from '../harness/audit';
import { startTestEngine, unwrap, type TestEngine } from '../harness/engine';
import { startNatsServer, type NatsServer } from '../harness/nats-server';

const STREAM = 'DECNET';
const TEAM = 'soc';

let nats: NatsServer;
let nc: NatsConnection;
let dir: string;
const engines: TestEngine[] = [];

beforeEach(async () => {
  nats = await startNatsServer();
  nc = await nats.client();
  await (await jetstreamManager(nc)).streams.add({ name: STREAM, subjects: ['attacker.>'] });
  dir = await mkdtemp(join(tmpdir(), 'sluice-membership-'));
});

afterEach(async () => {
  for (const t of engines.splice(0)) await t.cleanup();
  await nats.cleanup();
  await rm(dir, { recursive: true, force: true });
});

async function engine(subs: string[] = []): Promise<TestEngine> {
  const t = await startTestEngine({ server: nats });
  engines.push(t);
  for (const name of subs) unwrap(await t.api['subscriptions.create']({ name, url: `http://127.0.0.1:9/${name}`, patterns: ['attacker.>'] }));
  return t;
}

function refusal<T>(result: Result<T>): BridgeError {
  if (result.ok) throw new Error(`expected a refusal, got ${JSON.stringify(result.value)}`);
  return result.error;
}

/** What a refusal must leave as it was: the membership settings, the subscriptions, the files. */
async function state(t: TestEngine): Promise<unknown> {
  const { teamBucket, teamKeyFile, jetstreamStream } = unwrap(await t.api['settings.get']());
  const subs = unwrap(await t.api['subscriptions.list']()).map((s) => s.name);
  return { teamBucket, teamKeyFile, jetstreamStream, subs, files: readdirSync(dir).sort() };
}

const consuming = (t: TestEngine): Promise<unknown> =>
  t.engine.status().jetstream?.state === 'consuming' ? Promise.resolve() : t.waitForRecord((r) => r.kind === 'jetstream' && r.status.state === 'consuming');

describe('team.create, team.join, team.leave', { timeout: 60_000 }, () => {
  it("creates a team from this Sluice's configuration, is its member on the team's durable, and leaves it", async () => {
    const t = await engine(['siem', 'soar']);
    const keyOut = join(dir, 'team.key');
    const created = unwrap(await t.api['team.create']({ stream: STREAM, bucket: TEAM, keyOut }));
    expect(created).toMatchObject({ action: 'created', team: TEAM, stream: STREAM, keyFile: keyOut, moved: ['siem', 'soar'] });
    expect(created.message).toContain(`Team ${TEAM} created`);
    expect(statSync(keyOut).mode & 0o777).toBe(0o600);

    const settings = unwrap(await t.api['settings.get']());
    expect(settings).toMatchObject({ teamBucket: TEAM, teamKeyFile: keyOut, jetstreamStream: STREAM });
    // The team exists on the bus with this key, holding the subscriptions; the engine consumes through its durable.
    const snapshot = await (await TeamConfig.open(nc, TEAM, readTeamKeyFile(keyOut))).read();
    expect(snapshot.subscriptions.map((s) => s.name).sort()).toEqual(['siem', 'soar']);
    await consuming(t);
    expect(t.engine.status().jetstream?.durable).toBe(TEAM);
    await vi.waitFor(async () => expect(unwrap(await t.api['team.status']())?.members.map((m) => m.instanceId)).toContain(t.engine.installId), { timeout: 15_000 });

    const left = unwrap(await t.api['team.leave']());
    expect(left).toMatchObject({ action: 'left', team: TEAM, stream: null, keyFile: keyOut, moved: [] });
    expect(left.message).toContain(`Left team ${TEAM}`);
    expect(unwrap(await t.api['settings.get']())).toMatchObject({ teamBucket: '', teamKeyFile: '', jetstreamStream: '' });
    expect(unwrap(await t.api['team.status']())).toBeNull();
    // Its copy of the subscriptions stays; its heartbeat is gone; the key file stays.
    expect(unwrap(await t.api['subscriptions.list']()).map((s) => s.name).sort()).toEqual(['siem', 'soar']);
    const members = await (await TeamMembers.open(nc, TEAM, readTeamKeyFile(keyOut))).list();
    expect(members.map((m) => m.instanceId)).not.toContain(t.engine.installId);
    expect(readdirSync(dir)).toEqual(['team.key']);

    // Alone now: leaving again is refused.
    expect(refusal(await t.api['team.leave']())).toMatchObject({ code: 'conflict', message: expect.stringContaining('not a member') as string });

    // The audit trail, as the console's: the team formed with what went into it, then left.
    const team = readTrail(t.dbPath).filter((r) => r.action.startsWith('team.'));
    expect(team.map((r) => [r.action, r.source, r.after])).toEqual([
      ['team.create', 'console', { team: TEAM, stream: STREAM, subscriptions: ['siem', 'soar'], settings: ['timeoutMs', 'retrySchedule', 'allowPrivate'] }],
      ['team.leave', 'console', { subscriptionsKept: 2 }],
    ]);
  });

  it('refuses a create whose key file exists, whose stream is not there, or whose team exists, changing nothing', async () => {
    const t = await engine(['siem']);
    const existing = join(dir, 'taken.key');
    writeFileSync(existing, 'not mine\n');
    const before = await state(t);

    const taken = refusal(await t.api['team.create']({ stream: STREAM, bucket: TEAM, keyOut: existing }));
    expect(taken).toMatchObject({ code: 'invalid_argument', field: 'keyOut', message: expect.stringContaining('exists already') as string });
    expect(readFileSync(existing, 'utf8')).toBe('not mine\n');

    const noStream = refusal(await t.api['team.create']({ stream: 'NOPE', bucket: TEAM, keyOut: join(dir, 'new.key') }));
    expect(noStream).toMatchObject({ code: 'invalid_argument', field: 'stream' });
    expect(noStream.message).toContain(`there is no stream "NOPE"`);
    expect(noStream.message).toContain(`streams there: ${STREAM}`);

    const relative = refusal(await t.api['team.create']({ stream: STREAM, keyOut: 'team.key' }));
    expect(relative).toMatchObject({ code: 'invalid_argument', field: 'keyOut', message: expect.stringContaining('absolute') as string });

    // A team of that name on the bus already: joined, not created over.
    await TeamConfig.create(nc, { name: TEAM, stream: STREAM, key: createTeamKeyFile(join(dir, 'other.key')) });
    const before2 = { ...(before as object), files: [...(before as { files: string[] }).files, 'other.key'].sort() };
    const exists = refusal(await t.api['team.create']({ stream: STREAM, bucket: TEAM, keyOut: join(dir, 'new.key') }));
    expect(exists).toMatchObject({ code: 'invalid_argument', field: 'bucket', message: expect.stringContaining(`team "${TEAM}" exists already`) as string });
    expect(await state(t)).toEqual(before2);
    expect((await (await TeamConfig.open(nc, TEAM, readTeamKeyFile(join(dir, 'other.key')))).read()).subscriptions).toEqual([]);
  });

  it("refuses a join with a wrong key, another stream, or this Sluice's own subscriptions unless they are added; then joins", async () => {
    const keyFile = join(dir, 'team.key');
    const key = createTeamKeyFile(keyFile);
    await TeamConfig.create(nc, { name: TEAM, stream: STREAM, key });
    const t = await engine(['own']);
    const before = await state(t);

    const wrong = join(dir, 'wrong.key');
    createTeamKeyFile(wrong);
    const badKey = refusal(await t.api['team.join']({ stream: STREAM, bucket: TEAM, keyFile: wrong }));
    expect(badKey).toMatchObject({ code: 'invalid_argument', field: 'keyFile' });

    const missing = refusal(await t.api['team.join']({ stream: STREAM, bucket: TEAM, keyFile: join(dir, 'missing.key') }));
    expect(missing).toMatchObject({ code: 'invalid_argument', field: 'keyFile' });

    const otherStream = refusal(await t.api['team.join']({ stream: 'OTHER', bucket: TEAM, keyFile }));
    expect(otherStream).toMatchObject({ code: 'invalid_argument', field: 'stream', message: `team "${TEAM}" consumes stream "${STREAM}", not "OTHER"` });

    const noTeam = refusal(await t.api['team.join']({ stream: STREAM, bucket: 'nobody', keyFile }));
    expect(noTeam).toMatchObject({ code: 'invalid_argument', field: 'bucket' });

    const localOnly = refusal(await t.api['team.join']({ stream: STREAM, bucket: TEAM, keyFile }));
    expect(localOnly).toMatchObject({ code: 'invalid_argument', message: expect.stringContaining('1 subscription the team does not: own') as string });
    expect(localOnly.message).toContain('nothing was changed');
    expect(await state(t)).toEqual({ ...(before as object), files: ['team.key', 'wrong.key'] });
    expect((await (await TeamConfig.open(nc, TEAM, key)).read()).subscriptions).toEqual([]);

    const joined = unwrap(await t.api['team.join']({ stream: STREAM, bucket: TEAM, keyFile, mergeLocal: true }));
    expect(joined).toMatchObject({ action: 'joined', team: TEAM, stream: STREAM, keyFile, moved: ['own'] });
    expect(unwrap(await t.api['settings.get']())).toMatchObject({ teamBucket: TEAM, teamKeyFile: keyFile, jetstreamStream: STREAM });
    expect((await (await TeamConfig.open(nc, TEAM, key)).read()).subscriptions.map((s) => s.name)).toEqual(['own']);
    await consuming(t);
    // Only the join that changed something is in the audit trail.
    expect(readTrail(t.dbPath).filter((r) => r.action === 'team.join').map((r) => r.after)).toEqual([{ team: TEAM, stream: STREAM, merged: ['own'] }]);

    // A member of this team is refused another.
    const another = refusal(await t.api['team.create']({ stream: STREAM, bucket: 'second', keyOut: join(dir, 'second.key') }));
    expect(another).toMatchObject({ code: 'conflict', message: expect.stringContaining(`member of team "${TEAM}" already`) as string });
    expect(readdirSync(dir)).not.toContain('second.key');
  });
});
