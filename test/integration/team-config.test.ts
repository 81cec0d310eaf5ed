/**
 * A team's shared configuration (src-main/team/team-config.ts) against a real
 * nats-server with JetStream, with one connection per member: creating and opening a
 * team (and refusing a wrong key), records round trip, secrets never in clear on the bus
 * or in the stream, a watch that sees another member's change, writes without the team
 * key refused, and the shared breaker's compare-and-set under concurrent failures from
 * several members.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { defaultOptions } from '../../src-main/contract/subscription-options';
import { TeamConfig, TeamConfigError, type TeamChange } from '../../src-main/team/team-config';
import { TeamKey, TeamKeyMismatchError } from '../../src-main/team/team-key';
import { configBucketName, signatureHeaders, type TeamSubscription } from '../../src-main/team/team-records';
import { startNatsServer, type NatsServer } from '../harness/nats-server';

const servers: NatsServer[] = [];
const decoder = new TextDecoder();
const STREAM = 'DECNET';

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.cleanup()));
});

async function server(options: { jetstream?: boolean } = {}): Promise<NatsServer> {
  const started = await startNatsServer(options);
  servers.push(started);
  return started;
}

/** `n` members of team "blue" sharing one key, each on its own connection. */
async function members(nats: NatsServer, n: number, key = TeamKey.generate()): Promise<TeamConfig[]> {
  const first = await TeamConfig.create(await nats.client(), { name: 'blue', stream: STREAM, key });
  const others = [];
  for (let i = 1; i < n; i++) others.push(await TeamConfig.open(await nats.client(), 'blue', key));
  return [first, ...others];
}

function subscription(id: string, overrides: Partial<TeamSubscription> = {}): TeamSubscription {
  return {
    id,
    name: `sub-${id}`,
    url: 'https://siem.example/hook',
    secret: `canary-secret-${id}`,
    previousSecret: `canary-previous-${id}`,
    previousSecretUntil: '2030-01-01T00:00:00.000Z',
    patterns: ['attacker.>'],
    retrySchedule: null,
    options: defaultOptions(),
    secretHeaders: [{ name: 'Authorization', value: `Bearer canary-header-${id}` }],
    enabled: true,
    createdAt: '2024-01-01T00:00:00.000Z',
    updatedAt: '2024-01-01T00:00:00.000Z',
    ...overrides,
  };
}

/** Every message still stored in a stream, as text (subject, headers and body). */
async function rawStream(nc: NatsConnection, stream: string): Promise<string[]> {
  const jsm = await jetstreamManager(nc);
  const { state } = await jsm.streams.info(stream);
  const texts: string[] = [];
  for (let seq = state.first_seq; seq <= state.last_seq; seq++) {
    const msg = await jsm.streams.getMessage(stream, { seq });
    if (msg) texts.push(`${msg.subject}\n${msg.header.toString()}\n${decoder.decode(msg.data)}`);
  }
  return texts;
}

describe('a team', () => {
  it('is created once, opened by members with its key, and refuses another key clearly', async () => {
    const nats = await server();
    const key = TeamKey.generate();
    const created = await TeamConfig.create(await nats.client(), { name: 'blue', stream: STREAM, key, now: new Date('2024-05-01T00:00:00Z') });
    expect(created.meta).toEqual({ name: 'blue', stream: STREAM, consumer: 'blue', keyId: key.id, createdAt: '2024-05-01T00:00:00.000Z' });
    // Creating again with the same key and stream opens it.
    expect((await TeamConfig.create(await nats.client(), { name: 'blue', stream: STREAM, key })).meta).toEqual(created.meta);
    expect((await TeamConfig.open(await nats.client(), 'blue', key)).meta).toEqual(created.meta);

    const wrong = TeamKey.generate('the team key file other.key');
    const refusal = TeamConfig.open(await nats.client(), 'blue', wrong);
    await expect(refusal).rejects.toBeInstanceOf(TeamKeyMismatchError);
    await expect(refusal).rejects.toThrow(`this team key is not the team's key: team "blue" was created with key ${key.id}, and the team key file other.key is key ${wrong.id}`);
    await expect(TeamConfig.create(await nats.client(), { name: 'blue', stream: STREAM, key: wrong })).rejects.toBeInstanceOf(TeamKeyMismatchError);
    await expect(TeamConfig.create(await nats.client(), { name: 'blue', stream: 'OTHER', key })).rejects.toThrow(
      'team "blue" exists already, on stream "DECNET" (not "OTHER")',
    );
    const missing = TeamConfig.open(await nats.client(), 'green', key);
    await expect(missing).rejects.toBeInstanceOf(TeamConfigError);
    await expect(missing).rejects.toThrow('there is no team "green" on this bus (no bucket green): create it first');
  });

  it('says that it needs JetStream', async () => {
    const nats = await server({ jetstream: false });
    await expect(TeamConfig.create(await nats.client(), { name: 'blue', stream: STREAM, key: TeamKey.generate() })).rejects.toThrow(
      /^JetStream is not available on this NATS server/,
    );
  });

  it('shares subscriptions and settings, and deletes them', async () => {
    const nats = await server();
    const [a, b] = (await members(nats, 2)) as [TeamConfig, TeamConfig];
    await a.putSubscription(subscription('s2', { name: 'zeta' }));
    await a.putSubscription(subscription('s1', { name: 'alpha' }));
    await a.putSetting('circuitThreshold', 7);
    await a.putSetting('retrySchedule', [2, 4]);
    await expect(a.putSetting('circuitThreshold', 0)).rejects.toThrow(/circuitThreshold/);
    await expect(a.putSetting('natsUrl' as never, 'ws://elsewhere' as never)).rejects.toThrow('natsUrl is not a team setting');

    const seen = await b.read();
    expect(seen.subscriptions).toEqual([subscription('s1', { name: 'alpha' }), subscription('s2', { name: 'zeta' })]);
    expect(seen.settings).toEqual({ circuitThreshold: 7, retrySchedule: [2, 4] });
    expect(seen.problems).toEqual([]);
    expect(seen.revision).toBeGreaterThan(0);

    await a.recordFailure('s2', 'HTTP 500', 5);
    await b.deleteSubscription('s2');
    await b.deleteSetting('retrySchedule');
    const after = await a.read();
    expect(after.subscriptions.map((s) => s.id)).toEqual(['s1']);
    expect(after.settings).toEqual({ circuitThreshold: 7 });
    expect(after.breakers).toEqual({});
  });

  it('never carries a secret in clear, on the bus or in the stream', async () => {
    const nats = await server();
    const wire: string[] = [];
    const spy = await nats.client();
    spy.subscribe(`$KV.${configBucketName('blue')}.>`, {
      callback: (_error, msg) => {
        wire.push(`${msg.headers?.toString() ?? ''}\n${msg.string()}`);
      },
    });
    await spy.flush();
    const [a] = (await members(nats, 1)) as [TeamConfig];
    await a.putSubscription(subscription('s1'));
    await a.putSubscription(subscription('s1', { secret: 'canary-rotated', previousSecret: 'canary-secret-s1' }));
    await a.putSubscription(subscription('s2', { previousSecret: null, secretHeaders: [] }));
    await a.recordFailure('s1', 'HTTP 401 for https://user:canary-userinfo@siem.example/hook?key=canary-query', 5);

    await vi.waitFor(() => expect(wire.length).toBe(5));
    const stored = await rawStream(spy, `KV_${configBucketName('blue')}`);
    expect(stored.length).toBe(4);
    for (const text of [...wire, ...stored]) expect(text).not.toMatch(/canary/);
    // The sealed values are there: the check above looked at the right messages.
    expect(stored.join('\n')).toMatch(/"secret":"team:v1:/);
    expect((await a.read()).subscriptions.map((s) => s.secret)).toEqual(['canary-rotated', 'canary-secret-s2']);
  });

  it('is watched: every record, then another member\'s change with its revision', async () => {
    const nats = await server();
    const [a, b] = (await members(nats, 2)) as [TeamConfig, TeamConfig];
    await a.putSubscription(subscription('s1'));
    const changes: TeamChange[] = [];
    const watch = b.watch((change) => changes.push(change));
    await watch.ready;
    expect(changes.map((c) => [c.record.kind, c.initial])).toEqual([
      ['team', true],
      ['subscription', true],
    ]);
    const revision = await a.putSetting('heldMaxAgeHours', 12);
    await vi.waitFor(() => expect(changes.at(-1)).toEqual({ record: { kind: 'setting', key: 'heldMaxAgeHours', value: 12 }, revision, initial: false }));
    const deleted = await a.deleteSubscription('s1');
    await vi.waitFor(() => expect(changes.at(-1)).toEqual({ record: { kind: 'subscription', id: 's1', subscription: null }, revision: deleted, initial: false }));
    await watch.stop();
    expect(await watch.ended).toBeNull();
  });

  it('reports a record it cannot read and watches on', async () => {
    const nats = await server();
    const key = TeamKey.generate();
    const [a] = (await members(nats, 1, key)) as [TeamConfig];
    const problems: string[] = [];
    const changes: TeamChange[] = [];
    const watch = a.watch((change) => changes.push(change), (problem) => problems.push(`${problem.key}: ${problem.message}`));
    await watch.ready;
    // Signed (a member of another version, or a bug), but not a subscription.
    const bad = new TextEncoder().encode('not json');
    await a.bucket.put('subs.bad', bad, undefined, signatureHeaders(key, 'subs.bad', 'PUT', bad));
    await a.putSubscription(subscription('s1'));
    await vi.waitFor(() => expect(changes.some((c) => c.record.kind === 'subscription')).toBe(true));
    expect(problems).toEqual(['subs.bad: subs.bad: not JSON']);
    expect((await a.read()).problems).toEqual([{ key: 'subs.bad', message: 'subs.bad: not JSON' }]);
    await watch.stop();
  });
});

describe('a write by something without the team key', () => {
  it('is refused by members, which say so and keep watching', async () => {
    const nats = await server();
    const [a] = (await members(nats, 1)) as [TeamConfig];
    await a.putSubscription(subscription('s1'));
    const changes: TeamChange[] = [];
    const problems: string[] = [];
    const watch = a.watch((change) => changes.push(change), (problem) => problems.push(problem.message));
    await watch.ready;

    // A client on the bus that can publish, without the key: a plain publish, and a member with another key.
    const nc = await nats.client();
    const bucket = `$KV.${configBucketName('blue')}`;
    nc.publish(`${bucket}.settings.allowPrivate`, 'true');
    nc.publish(`${bucket}.subs.evil`, JSON.stringify({ ...subscription('evil'), url: 'https://attacker.example' }));
    await nc.flush();
    const stranger = await TeamConfig.create(await nats.client(), { name: 'blue', stream: STREAM, key: TeamKey.generate() }).catch((error: unknown) => error);
    expect(stranger).toBeInstanceOf(TeamKeyMismatchError);
    const revision = await a.putSetting('circuitThreshold', 3);

    await vi.waitFor(() => expect(changes.at(-1)?.revision).toBe(revision));
    expect(changes.filter((c) => !c.initial).map((c) => c.record)).toEqual([{ kind: 'setting', key: 'circuitThreshold', value: 3 }]);
    expect(problems).toEqual([
      'settings.allowPrivate/PUT: not signed with a team key: written by something that does not hold it, ignored',
      'subs.evil/PUT: not signed with a team key: written by something that does not hold it, ignored',
    ]);
    const snapshot = await a.read();
    expect(snapshot.settings).toEqual({ circuitThreshold: 3 });
    expect(snapshot.subscriptions.map((s) => s.id)).toEqual(['s1']);
    expect(snapshot.problems.map((p) => p.key)).toEqual(['settings.allowPrivate', 'subs.evil']);
    await watch.stop();
  });

  it('cannot clear or trip the shared breaker', async () => {
    const nats = await server();
    const [a] = (await members(nats, 1)) as [TeamConfig];
    const nc = await nats.client();
    nc.publish(`$KV.${configBucketName('blue')}.breaker.s1`, JSON.stringify({ consecutiveFailures: 99, tripped: true }));
    await nc.flush();
    await vi.waitFor(async () => expect(await a.bucket.get('breaker.s1')).not.toBeNull());
    expect(await a.breaker('s1')).toMatchObject({ consecutiveFailures: 0, tripped: false });
    expect(await a.recordFailure('s1', 'HTTP 500', 2)).toEqual({ consecutiveFailures: 1, tripped: false, trippedNow: false });
  });
});

describe('the shared breaker', () => {
  it('trips exactly once when three members record failures at the same time', async () => {
    const nats = await server();
    const team = await members(nats, 3);
    const calls = team.flatMap((member, m) => Array.from({ length: 10 }, (_, i) => member.recordFailure('s1', `member ${m} failure ${i}`, 5)));
    const results = await Promise.all(calls);
    expect(results.filter((r) => r.trippedNow)).toHaveLength(1);
    expect(results.find((r) => r.trippedNow)?.consecutiveFailures).toBe(5);
    // Every failure counted once: the counts handed out are 1..30, each once.
    expect(results.map((r) => r.consecutiveFailures).sort((x, y) => x - y)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    const breaker = await (team[0] as TeamConfig).breaker('s1');
    expect(breaker).toMatchObject({ consecutiveFailures: 30, tripped: true });
    expect(breaker.lastError).toMatch(/^member \d failure \d$/);
    expect(breaker.trippedAt).not.toBeNull();
  });

  it('resets on success without writing when there is nothing to reset', async () => {
    const nats = await server();
    const [a, b] = (await members(nats, 2)) as [TeamConfig, TeamConfig];
    expect(await a.recordSuccess('s1')).toBe(false);
    expect(await a.bucket.get('breaker.s1')).toBeNull();
    await a.recordFailure('s1', 'timeout', 5);
    await b.recordFailure('s1', 'timeout', 5);
    expect(await b.recordSuccess('s1')).toBe(true);
    const revision = (await a.bucket.get('breaker.s1'))?.revision;
    expect(await a.breaker('s1')).toMatchObject({ consecutiveFailures: 0, lastError: null, tripped: false });
    expect(await a.recordSuccess('s1')).toBe(false);
    expect((await a.bucket.get('breaker.s1'))?.revision).toBe(revision);
  });

  it('is re-enabled once, with the held decision every member sees', async () => {
    const nats = await server();
    const [a, b] = (await members(nats, 2)) as [TeamConfig, TeamConfig];
    for (let i = 0; i < 2; i++) await a.recordFailure('s1', 'HTTP 503', 2);
    expect((await b.breaker('s1')).tripped).toBe(true);
    const changes: TeamChange[] = [];
    const watch = b.watch((change) => changes.push(change));
    await watch.ready;
    const { wasTripped, revision } = await a.reenable('s1', 'discard', new Date('2024-06-01T00:00:00Z'));
    expect(wasTripped).toBe(true);
    await vi.waitFor(() =>
      expect(changes.at(-1)).toEqual({
        record: {
          kind: 'breaker',
          id: 's1',
          breaker: expect.objectContaining({ tripped: false, consecutiveFailures: 0, heldDecision: 'discard', reenabledAt: '2024-06-01T00:00:00.000Z' }),
        },
        revision,
        initial: false,
      }),
    );
    expect((await a.reenable('s1', 'deliver')).wasTripped).toBe(false);
    await watch.stop();
  });
});
