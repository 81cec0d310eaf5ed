/**
 * Nothing received is lost when the engine dies: the headless engine (`sluice run`, the
 * built CLI) is killed with SIGKILL in the middle of 2,000 events, at two points —
 * after the outbox commit (deliveries recorded, not yet sent), and after the POST but
 * before its result is recorded. After a restart every event id reaches the receiver at
 * least once, and the store's counts add up.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import type { NatsConnection } from '@nats-io/nats-core';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Engine } from '../../src-main/engine/engine';
import { createInProcessClient } from '../../src-main/engine/in-process-client';
import { envelope, unwrap } from '../harness/engine';
import { startNatsServer, type NatsServer } from '../harness/nats-server';
import { startReceiver, type Receiver } from '../harness/receiver';

const CLI = join(__dirname, '../../out/main/cli.js');
const EVENTS = 2000;

let dir: string;
let db: string;
let nats: NatsServer;
let receiver: Receiver;
let publisher: NatsConnection;
const children = new Set<ChildProcess>();

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-crash-'));
  db = join(dir, 'sluice.db');
  nats = await startNatsServer();
  receiver = await startReceiver();
  publisher = await nats.client();
  // The subscription, made through the contract as the console would.
  const engine = await Engine.start({ dbPath: db, offline: true });
  const api = createInProcessClient(engine);
  unwrap(await api['settings.update']({ allowPrivate: true, retrySchedule: [0.2, 0.5, 1], timeoutMs: 3000 }));
  unwrap(await api['subscriptions.create']({ name: 'siem', url: receiver.url, patterns: ['attacker.>'] }));
  await engine.stop();
});

afterEach(async () => {
  for (const child of children) child.kill('SIGKILL');
  children.clear();
  await receiver.close();
  await nats.cleanup();
  await rm(dir, { recursive: true, force: true });
});

/** `sluice run`; resolves once it reports the bus connected. */
async function startRun(): Promise<ChildProcess> {
  const child = spawn(process.execPath, [CLI, 'run', '--db', db, '--nats', nats.wsUrl], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  await new Promise<void>((resolve, reject) => {
    let buffered = '';
    const onData = (chunk: Buffer): void => {
      buffered += chunk.toString();
      if (/"kind":"bus","state":"connected"/.test(buffered)) {
        child.stdout?.off('data', onData);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) => reject(new Error(`sluice run exited (${code}) before connecting`)));
  });
  // Let it drain its stdout for the rest of the run.
  child.stdout?.resume();
  child.stderr?.resume();
  return child;
}

function kill9(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

async function publishAll(): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < EVENTS; i++) {
    const id = `crash-${i}`;
    ids.push(id);
    publisher.publish('attacker.observed', new TextEncoder().encode(JSON.stringify(envelope('x', { i }, id))));
  }
  await publisher.flush();
  return ids;
}

/** Reads the store from outside, as another process would. */
function storeCounts(): Record<string, number> {
  const sqlite = new BetterSqlite3(db, { readonly: true, timeout: 5000 });
  try {
    const rows = sqlite.prepare('SELECT outcome, COUNT(*) AS n FROM deliveries GROUP BY outcome').all() as { outcome: string; n: number }[];
    const events = (sqlite.prepare('SELECT COUNT(*) AS n FROM events').get() as { n: number }).n;
    return { ...Object.fromEntries(rows.map((r) => [r.outcome, r.n])), events };
  } finally {
    sqlite.close();
  }
}


/** Receiver behaviour that answers 200 and records each distinct event id. */
function countingBehavior(seen: Set<string>, onRequest?: (n: number) => boolean) {
  let n = 0;
  return (req: { headers: Record<string, string> }, res: import('node:http').ServerResponse) => {
    n++;
    if (onRequest && !onRequest(n)) return; // hold the answer: the engine dies first
    seen.add(req.headers['x-decnet-event-id'] as string);
    res.writeHead(200).end('ok');
  };
}

describe('kill -9 of the headless engine', () => {
  it('after the outbox commit: recorded deliveries resume at the next start', { timeout: 90_000 }, async () => {
    // The receiver takes requests but never answers: work piles up recorded, unsent.
    receiver.setBehavior(() => undefined);
    const run = await startRun();
    const ids = await publishAll();
    await vi.waitFor(() => expect((storeCounts()['pending'] ?? 0) === EVENTS, `${EVENTS} deliveries committed`).toBe(true), { timeout: 30_000, interval: 25 });
    // Its share of the egress slots (half the global 10) hangs; the rest wait in the store.
    await vi.waitFor(() => expect(receiver.requests.length >= 5, 'the first attempts to be on the wire').toBe(true), { timeout: 30_000, interval: 25 });
    await kill9(run);
    expect(storeCounts()).toMatchObject({ pending: EVENTS, events: EVENTS });

    const seen = new Set<string>();
    receiver.setBehavior(countingBehavior(seen));
    const again = await startRun();
    await vi.waitFor(() => expect(seen.size === EVENTS, `all ${EVENTS} event ids at the receiver`).toBe(true), { timeout: 60_000, interval: 25 });
    expect([...seen].sort()).toEqual([...ids].sort());
    await vi.waitFor(() => expect(storeCounts()['delivered'] === EVENTS, 'every delivery recorded delivered').toBe(true), { timeout: 30_000, interval: 25 });
    expect(storeCounts()).toEqual({ delivered: EVENTS, events: EVENTS });
    again.kill('SIGTERM');
  });

  it('after the POST, before its result is recorded: a duplicate at most, nothing lost', { timeout: 90_000 }, async () => {
    const seen = new Set<string>();
    let run: ChildProcess | undefined;
    let killed: Promise<void> | undefined;
    // At the 1000th request the engine dies while that request is still unanswered.
    receiver.setBehavior(
      countingBehavior(seen, (n) => {
        if (n < 1000) return true;
        killed ??= kill9(run as ChildProcess);
        return false;
      }),
    );
    run = await startRun();
    const ids = await publishAll();
    await vi.waitFor(() => expect(killed !== undefined, 'the 1000th request').toBe(true), { timeout: 30_000, interval: 25 });
    await killed;
    const atKill = storeCounts();
    expect((atKill['delivered'] ?? 0) + (atKill['pending'] ?? 0) + (atKill['retrying'] ?? 0)).toBe(EVENTS);
    expect(atKill['delivered'] ?? 0).toBeLessThan(EVENTS);

    const before = receiver.requests.length;
    receiver.setBehavior(countingBehavior(seen));
    const again = await startRun();
    await vi.waitFor(() => expect(seen.size === EVENTS, `all ${EVENTS} event ids at the receiver`).toBe(true), { timeout: 60_000, interval: 25 });
    expect([...seen].sort()).toEqual([...ids].sort());
    await vi.waitFor(() => expect(storeCounts()['delivered'] === EVENTS, 'every delivery recorded delivered').toBe(true), { timeout: 30_000, interval: 25 });
    expect(storeCounts()).toEqual({ delivered: EVENTS, events: EVENTS });
    // Resent after the restart: only what was unfinished, not the whole stream again.
    const resent = receiver.requests.length - before;
    expect(resent).toBeLessThanOrEqual(EVENTS - (atKill['delivered'] ?? 0) + 20);
    again.kill('SIGTERM');
  });
});
