/**
 * The team's members (src-main/team/team-members.ts) against a real nats-server: each
 * member's heartbeat seen by the others, staleness from the heartbeat's age, a clean
 * stop that removes it, and an age limit on the members bucket only, never on the
 * configuration.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { TeamConfig } from '../../src-main/team/team-config';
import { TeamKey } from '../../src-main/team/team-key';
import { MEMBER_MAX_AGE_MS, STALE_AFTER_MS, TeamMembers, type MemberHeartbeat } from '../../src-main/team/team-members';
import { startNatsServer, type NatsServer } from '../harness/nats-server';

const servers: NatsServer[] = [];
const key = TeamKey.generate();

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.cleanup()));
});

async function server(): Promise<NatsServer> {
  const started = await startNatsServer();
  servers.push(started);
  return started;
}

function heartbeat(instanceId: string, delivered = 0): MemberHeartbeat {
  return {
    instanceId,
    name: `sluice-${instanceId}`,
    host: `host-${instanceId}`,
    version: '0.1.0',
    startedAt: '2024-01-01T00:00:00.000Z',
    bus: 'connected',
    deliveries: { delivered, failed: 1, inFlight: 2 },
  };
}

describe('team members', () => {
  it('see each other, and one that stopped beating turns stale', async () => {
    const nats = await server();
    const a = await TeamMembers.open(await nats.client(), 'blue', key);
    const b = await TeamMembers.open(await nats.client(), 'blue', key);
    const t0 = new Date('2024-06-01T12:00:00.000Z');
    await a.beat(heartbeat('a', 10), t0);
    await b.beat(heartbeat('b', 20), new Date(t0.getTime() + 5_000));

    const fresh = await a.list(new Date(t0.getTime() + 6_000));
    expect(fresh.map((m) => [m.instanceId, m.stale, m.silentForMs, m.deliveries.delivered])).toEqual([
      ['a', false, 6_000, 10],
      ['b', false, 1_000, 20],
    ]);
    expect(fresh[0]).toMatchObject({ ...heartbeat('a', 10), lastSeen: t0.toISOString() });

    const later = await b.list(new Date(t0.getTime() + STALE_AFTER_MS + 1));
    expect(later.map((m) => [m.instanceId, m.stale])).toEqual([
      ['a', true],
      ['b', false],
    ]);
    await a.leave('a');
    expect((await b.list()).map((m) => m.instanceId)).toEqual(['b']);
    await expect(a.beat(heartbeat('a.b'))).rejects.toThrow('"a.b" is not an instance id');
  });

  it('list only heartbeats signed with the team key', async () => {
    const nats = await server();
    const nc = await nats.client();
    const members = await TeamMembers.open(nc, 'blue', key);
    await members.beat(heartbeat('a'));
    const stranger = await TeamMembers.open(await nats.client(), 'blue', TeamKey.generate());
    await stranger.beat(heartbeat('intruder'));
    nc.publish('$KV.blue-members.members.forged', JSON.stringify({ ...heartbeat('forged'), lastSeen: new Date().toISOString() }));
    await nc.flush();
    await vi.waitFor(async () => expect((await (await jetstreamManager(nc)).streams.info('KV_blue-members')).state.messages).toBe(3));
    expect((await members.list()).map((m) => m.instanceId)).toEqual(['a']);
  });

  it('beat on a timer, and leave when stopped', async () => {
    const nats = await server();
    const members = await TeamMembers.open(await nats.client(), 'blue', key);
    const watcher = await TeamMembers.open(await nats.client(), 'blue', key);
    let delivered = 0;
    const loop = members.startHeartbeat(() => heartbeat('a', ++delivered), { intervalMs: 50 });
    await vi.waitFor(async () => expect((await watcher.list())[0]?.deliveries.delivered).toBeGreaterThanOrEqual(3));
    await loop.stop();
    expect(await watcher.list()).toEqual([]);
  });

  it('tell a failed beat and go on', async () => {
    const nats = await server();
    const members = await TeamMembers.open(await nats.client(), 'blue', key);
    const errors: string[] = [];
    let calls = 0;
    const loop = members.startHeartbeat(
      () => {
        calls++;
        if (calls === 1) throw new Error('no status yet');
        return heartbeat('a');
      },
      { intervalMs: 50, onError: (error) => errors.push((error as Error).message) },
    );
    await vi.waitFor(async () => expect((await members.list()).map((m) => m.instanceId)).toEqual(['a']));
    expect(errors).toEqual(['no status yet']);
    await loop.stop(false);
    expect((await members.list()).map((m) => m.instanceId)).toEqual(['a']);
  });

  it('live in a bucket with an age limit, apart from the configuration, which has none', async () => {
    const nats = await server();
    const nc = await nats.client();
    await TeamConfig.create(nc, { name: 'blue', stream: 'DECNET', key });
    const jsm = await jetstreamManager(nc);
    expect((await jsm.streams.info('KV_blue')).config.max_age).toBe(0);
    expect((await jsm.streams.info('KV_blue-members')).config.max_age).toBe(MEMBER_MAX_AGE_MS * 1_000_000);
  });

  it('are forgotten by the server once silent longer than the age limit', async () => {
    const nats = await server();
    const members = await TeamMembers.open(await nats.client(), 'short', key, { maxAgeMs: 1_000 });
    await members.beat(heartbeat('a'));
    expect(await members.list()).toHaveLength(1);
    await vi.waitFor(async () => expect(await members.list()).toEqual([]), { timeout: 5_000, interval: 200 });
  });
});
