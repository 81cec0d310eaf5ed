/**
 * The bench's `team` phase: throughput of a team of 1, 2 and 3 members, each `sluice run`
 * in a process of its own with its own database, sharing the team's durable on a stream
 * (docs/design.md#teams). Every member, the receiver, the publisher and nats-server share
 * this machine's cores, so the figure says how the work divides here, not what more
 * machines would add (the README explains the difference).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { ensureSharedConsumer } from '../../src-main/team/shared-consumer';
import { TeamConfig } from '../../src-main/team/team-config';
import { createTeamKeyFile } from '../../src-main/team/team-key';
import type { NatsServer } from '../harness/nats-server';
import { teamSubscription } from '../harness/team';
import type { LeanReceiver } from './lean-receiver';
import type { BenchPublisher } from './publisher';

const CLI = resolve(__dirname, '../../build/sluice.mjs');
const STREAM = 'BENCH_TEAM';
const TEAM = 'bench-team';
const SUBJECT = 'team.observed';

interface TeamBench {
  nats: NatsServer;
  receiver: LeanReceiver;
  publisher: BenchPublisher;
}

/** Deliveries per second with each team size, and the member count each was measured with. */
export async function teamPhase({ nats, receiver, publisher }: TeamBench, total: number, sizes: readonly number[] = [1, 2, 3]): Promise<Record<string, number>> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-bench-team-'));
  const nc = await nats.client();
  const running: ChildProcess[] = [];
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: STREAM, subjects: ['team.>'] });
    const keyFile = join(dir, 'team.key');
    const key = createTeamKeyFile(keyFile);
    const config = await TeamConfig.create(nc, { name: TEAM, stream: STREAM, key });
    await ensureSharedConsumer(nc, { team: TEAM, stream: STREAM });
    await config.putSubscription(teamSubscription({ name: 'bench', url: receiver.url, secret: 'bench-secret-0123456789', patterns: ['team.>'], retrySchedule: [1, 2, 4] }));
    await config.putSetting('allowPrivate', true);
    const results: Record<string, number> = {};
    let run = 0;
    for (const size of sizes) {
      for (let m = running.length; m < size; m++) running.push(await startMember(join(dir, `member-${m}.db`), nats.wsUrl, keyFile));
      const start = await receiver.count();
      const t0 = performance.now();
      await publisher.flood(SUBJECT, total, `team${run++}-${size}`);
      await receiver.waitFor(start + total, 60_000).catch(async (error: unknown) => {
        const stream = (await jsm.streams.info(STREAM)).state;
        const consumer = await jsm.consumers.info(STREAM, TEAM);
        throw new Error(`${(error as Error).message}; stream: ${stream.messages} messages (last seq ${stream.last_seq}); consumer: pending ${consumer.num_pending}, ack pending ${consumer.num_ack_pending}, redelivered ${consumer.num_redelivered}, delivered ${consumer.delivered.stream_seq}`);
      });
      results[`members_${size}_dps`] = Math.round(total / ((performance.now() - t0) / 1000));
    }
    return results;
  } finally {
    for (const child of running) child.kill('SIGTERM');
    await Promise.all(running.map((child) => (child.exitCode === null ? new Promise((r) => child.once('exit', r)) : null)));
    await nc.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** A member: its database joined to the team by its settings, `sluice run`; resolves once it consumes. */
async function startMember(db: string, natsUrl: string, keyFile: string): Promise<ChildProcess> {
  for (const [key, value] of [
    ['natsUrl', natsUrl],
    ['jetstreamStream', STREAM],
    ['teamKeyFile', keyFile],
    ['teamBucket', TEAM],
  ] as const)
    await cli(['settings', 'set', key, value, '--db', db]);
  const child = spawn(process.execPath, [CLI, 'run', '--db', db], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((ready, fail) => {
    let out = '';
    const onData = (chunk: Buffer): void => {
      out += chunk.toString();
      if (/"state":"consuming"/.test(out)) {
        child.stdout?.off('data', onData);
        child.stdout?.resume();
        ready();
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) => fail(new Error(`member exited (${code}) before consuming: ${out.slice(-500)}`)));
  });
  return child;
}

async function cli(args: string[]): Promise<void> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  if (code !== 0) throw new Error(`sluice ${args.join(' ')}: ${err}`);
}
