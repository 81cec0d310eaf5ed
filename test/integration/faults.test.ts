/**
 * The fault suite: the headless engine with a real nats-server, real receivers and a
 * real SQLite file, under the faults it must survive (issue 5, item 5).
 *
 * - fairness: a receiver that hangs, 200 events queued for it, does not delay a healthy
 *   receiver's deliveries (publish→arrival p99 against a baseline taken in the same test);
 * - hostile receivers (hang, drip, reset, 1 GB, gzip bomb, all at once): each attempt ends
 *   at the deadline or at the 64 KiB decoded cap, with the engine's memory bounded;
 * - a 60 s bus outage ends reconnected, and events published right after are delivered;
 * - a full disk: no crash, the failure reported, nothing committed before it lost, new
 *   events recorded and delivered once space is back, `PRAGMA integrity_check` ok;
 * - a corrupted database is detected at start and moved aside with a clear message
 *   (`sluice run` log, `serve` stderr); a one-shot command refuses and changes nothing.
 *
 * Waits are on events (records, requests, log lines, store state); the only fixed wait is
 * the outage itself.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import BetterSqlite3 from 'better-sqlite3';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { DeliveryView } from '../../src-main/contract/views';
import { Engine, type EngineRecord } from '../../src-main/engine/engine';
import { createInProcessClient } from '../../src-main/engine/in-process-client';
import type { Store } from '../../src-main/store/database';
import { smallDisk, type SmallDisk } from '../harness/disk';
import { envelope, startTestEngine, unwrap, type TestEngine } from '../harness/engine';
import { startNatsServer, type NatsServer } from '../harness/nats-server';
import { drip, gzipBomb, hang, hugeBody, resetConnection, startReceiver, type Behavior, type Receiver } from '../harness/receiver';
import { subscriptionShare } from '../../src-main/delivery/dispatcher';

const CLI = join(__dirname, '../../out/main/cli.js');
const SERVE = join(__dirname, '../../out/main/serve.js');
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

// Everything a test starts, stopped after it whatever happened.
const teardown: (() => Promise<unknown>)[] = [];
const later = (fn: () => Promise<unknown>): void => void teardown.unshift(fn);
afterEach(async () => {
  for (const fn of teardown.splice(0)) await fn().catch(() => undefined);
});

async function engine(settings: Parameters<typeof startTestEngine>[0] = {}): Promise<TestEngine> {
  const t = await startTestEngine(settings);
  later(() => t.cleanup());
  return t;
}

async function receiver(behavior?: Behavior): Promise<Receiver> {
  const r = await startReceiver(behavior);
  // Closed before the engine stops (registered later, run earlier): no attempt outlives it.
  later(() => r.close());
  return r;
}

const encode = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));
const eventId = (headers: Record<string, string>): string => headers['x-decnet-event-id'] as string;

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

/** A receiver behaviour that answers 200 at once and tells when each event id arrived. */
function arrivals() {
  const at = new Map<string, number>();
  const waiters = new Map<string, (ms: number) => void>();
  const behavior: Behavior = (req, res) => {
    const now = performance.now();
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    const id = eventId(req.headers);
    if (at.has(id)) return;
    at.set(id, now);
    waiters.get(id)?.(now);
    waiters.delete(id);
  };
  const wait = (id: string, timeoutMs: number): Promise<number> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${id} did not arrive within ${timeoutMs} ms`)), timeoutMs);
      waiters.set(id, (ms) => {
        clearTimeout(timer);
        resolve(ms);
      });
    });
  return { behavior, wait };
}

/**
 * Publish→arrival latency of `n` events, `workers` at a time, each publishing its next
 * event once the previous one arrived (closed loop: the latency is the pipeline's, not a
 * queue the test built).
 */
async function closedLoop(t: TestEngine, arrived: ReturnType<typeof arrivals>, subject: string, prefix: string, n: number, workers: number) {
  const latencies: number[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) {
      const id = `${prefix}-${next++}`;
      const arrival = arrived.wait(id, 2_000);
      const start = performance.now();
      t.publisher.publish(subject, encode(envelope('x', { id }, id)));
      latencies.push((await arrival) - start);
    }
  };
  await Promise.all(Array.from({ length: workers }, worker));
  return latencies;
}

/** A new temp dir, on /dev/shm (RAM) where it exists; removed by the engine's cleanup. */
async function ramDir(): Promise<string> {
  return mkdtemp(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'sluice-faults-'));
}


/** Reads the database from another connection: only what is committed. */
function readCommitted<T>(db: string, fn: (sqlite: BetterSqlite3.Database) => T): T {
  const sqlite = new BetterSqlite3(db, { readonly: true, timeout: 5000 });
  try {
    return fn(sqlite);
  } finally {
    sqlite.close();
  }
}

function outcomesById(db: string): Map<string, string[]> {
  return readCommitted(db, (sqlite) => {
    const rows = sqlite.prepare('SELECT event_id AS id, outcome FROM deliveries WHERE event_id IS NOT NULL').all() as { id: string; outcome: string }[];
    const out = new Map<string, string[]>();
    for (const r of rows) out.set(r.id, [...(out.get(r.id) ?? []), r.outcome]);
    return out;
  });
}

// ---------------------------------------------------------------------------------------

describe('fairness', () => {
  it('a receiver that hangs with 200 events queued does not delay deliveries to a healthy one', { timeout: 60_000 }, async () => {
    // The spec's 10 s per-attempt deadline: the dead receiver's attempts hold their slots all test long.
    // The store on a RAM file system where there is one: this measures egress, not fsync.
    const t = await engine({ dbPath: join(await ramDir(), 'sluice.db'), settings: { timeoutMs: 10_000, retrySchedule: [] } });
    const healthy = arrivals();
    const good = await receiver(healthy.behavior);
    const dead = await receiver(hang());
    unwrap(await t.api['subscriptions.create']({ name: 'healthy', url: good.url, patterns: ['fair.healthy'] }));
    unwrap(await t.api['subscriptions.create']({ name: 'dead', url: dead.url, patterns: ['fair.dead'] }));
    await t.engine.busReady();

    await closedLoop(t, healthy, 'fair.healthy', 'warmup', 100, 2);
    const baseline = await closedLoop(t, healthy, 'fair.healthy', 'base', 300, 2);

    for (let i = 0; i < 200; i++) t.publisher.publish('fair.dead', encode(envelope('x', {}, `dead-${i}`)));
    await t.publisher.flush();
    // Its share of the ten slots is on the wire, hanging; the rest of its 200 wait behind it.
    await dead.waitForRequests(subscriptionShare(10), 10_000);
    await vi.waitFor(() => expect(t.engine.status().inFlight >= 200, '200 dead-receiver jobs in memory').toBe(true), { timeout: 20_000, interval: 25 });
    const withDead = await closedLoop(t, healthy, 'fair.healthy', 'fair', 300, 2);
    // Still only its share on the wire: the healthy one never waited for a slot.
    expect(dead.requests.length).toBe(subscriptionShare(10));

    const [base50, base95, base99] = [50, 95, 99].map((p) => percentile(baseline, p)) as [number, number, number];
    const [dead50, dead95, dead99] = [50, 95, 99].map((p) => percentile(withDead, p)) as [number, number, number];
    const f = (n: number): string => n.toFixed(1);
    console.info(
      `fairness: healthy publish→arrival p50/p95/p99 ${f(base50)}/${f(base95)}/${f(base99)} ms alone, ` +
        `${f(dead50)}/${f(dead95)}/${f(dead99)} ms beside a hanging receiver holding 5 of 10 slots with 195 queued`,
    );
    // Without the per-subscription share every event would wait for a slot the hanging
    // receiver holds for 10 s. The bounds are generous on the tail: this machine is shared
    // (its event loop stalls up to ~150 ms in either phase, measured), the median is not.
    expect(dead50).toBeLessThan(2 * base50 + 5);
    expect(dead95).toBeLessThan(Math.max(3 * base95, base95 + 20));
    expect(dead99).toBeLessThan(Math.max(5 * base99, 150));
  });
});

// ---------------------------------------------------------------------------------------

describe('hostile receivers', () => {
  it('hang, drip, reset, 1 GB and a gzip bomb, all at once: cut at the deadline or the 64 KiB cap, memory bounded', { timeout: 60_000 }, async () => {
    const DEADLINE = 1500;
    const t = await engine({ settings: { timeoutMs: DEADLINE, retrySchedule: [], circuitThreshold: 100 } });
    // Bytes each big answer got onto the wire before Sluice hung up.
    const sent: Record<string, number[]> = { huge: [], bomb: [] };
    const measured = (kind: string, inner: Behavior): Behavior => (req, res: ServerResponse) => {
      const socket = res.socket;
      res.once('close', () => sent[kind]?.push(socket?.bytesWritten ?? -1));
      return inner(req, res);
    };
    const kinds: Record<string, Behavior> = {
      hang: hang(),
      drip: drip(100),
      reset: resetConnection(),
      huge: measured('huge', hugeBody(GiB)),
      bomb: measured('bomb', gzipBomb(GiB)),
    };
    for (const [kind, behavior] of Object.entries(kinds)) {
      const r = await receiver(behavior);
      unwrap(await t.api['subscriptions.create']({ name: kind, url: r.url, patterns: [`hostile.${kind}`] }));
    }
    await t.engine.busReady();

    const before = process.memoryUsage();
    const peak = { rss: before.rss, heapUsed: before.heapUsed };
    const sampler = setInterval(() => {
      const m = process.memoryUsage();
      peak.rss = Math.max(peak.rss, m.rss);
      peak.heapUsed = Math.max(peak.heapUsed, m.heapUsed);
    }, 10);
    later(async () => clearInterval(sampler));

    const PER_KIND = 3;
    for (let i = 0; i < PER_KIND; i++)
      for (const kind of Object.keys(kinds)) t.publisher.publish(`hostile.${kind}`, encode(envelope('x', { i }, `${kind}-${i}`)));
    await t.publisher.flush();
    const finals = await t.waitForFinal(PER_KIND * Object.keys(kinds).length, () => true, 20_000);
    clearInterval(sampler);

    const by = (kind: string): DeliveryView[] => finals.filter((d) => d.topic === `hostile.${kind}`);
    for (const d of [...by('hang'), ...by('drip')]) {
      expect(d).toMatchObject({ outcome: 'dead', error: `timeout after ${DEADLINE} ms`, attempts: 1 });
      expect(d.latencyMs).toBeGreaterThanOrEqual(DEADLINE - 5);
      expect(d.latencyMs).toBeLessThan(DEADLINE + 1000);
    }
    for (const d of by('drip')) expect(d.statusCode).toBe(200);
    for (const d of by('reset')) {
      expect(d.outcome).toBe('dead');
      expect(d.error).toMatch(/reset|closed|socket/i);
      expect(d.latencyMs).toBeLessThan(DEADLINE);
    }
    // Cut by the cap, well before the deadline: the status line counts, the rest is dropped.
    for (const d of [...by('huge'), ...by('bomb')]) {
      expect(d).toMatchObject({ outcome: 'delivered', statusCode: 200 });
      expect(d.latencyMs).toBeLessThan(DEADLINE);
      const detail = unwrap(await t.api['deliveries.get'](d.id));
      expect((detail.responseExcerpt ?? '').length).toBeLessThanOrEqual(1024);
    }
    expect(sent['huge']).toHaveLength(PER_KIND);
    expect(sent['bomb']).toHaveLength(PER_KIND);
    for (const bytes of [...(sent['huge'] ?? []), ...(sent['bomb'] ?? [])]) expect(bytes).toBeLessThan(64 * MiB);

    const rssGrowth = (peak.rss - before.rss) / MiB;
    const heapGrowth = (peak.heapUsed - before.heapUsed) / MiB;
    console.info(
      `hostile: ${finals.length} deliveries; hang/drip cut at ${by('hang').map((d) => d.latencyMs).join('/')}, ${by('drip').map((d) => d.latencyMs).join('/')} ms; ` +
        `1 GB cut after ${(sent['huge'] ?? []).map((b) => (b / MiB).toFixed(1)).join('/')} MiB sent, bomb after ${(sent['bomb'] ?? []).map((b) => (b / 1024).toFixed(1)).join('/')} KiB compressed; ` +
        `peak growth rss ${rssGrowth.toFixed(1)} MiB, heap ${heapGrowth.toFixed(1)} MiB`,
    );
    expect(rssGrowth).toBeLessThan(100);
    expect(heapGrowth).toBeLessThan(64);
    expect(unwrap(await t.api['status.get']()).inFlight).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------

type BusRecord = Extract<EngineRecord, { kind: 'bus' }>;
const isBus = (state: string) => (r: EngineRecord): r is BusRecord => r.kind === 'bus' && r.status.state === state;

describe('bus outage', () => {
  const OUTAGE_MS = 60_000;

  it('a 60 s nats-server outage ends reconnected; deliveries go on meanwhile and resume from the bus after', { timeout: 120_000 }, async () => {
    const t = await engine({ settings: { timeoutMs: 30_000 } });
    let busDown!: () => void;
    const down = new Promise<void>((resolve) => (busDown = resolve));
    // The event published just before the outage is answered only once the bus is down.
    const r = await receiver(async (req, res) => {
      if (eventId(req.headers) === 'straddle') await down;
      res.writeHead(200).end('ok');
    });
    unwrap(await t.api['subscriptions.create']({ name: 'siem', url: r.url, patterns: ['outage.>'] }));
    await t.engine.busReady();
    await t.publish('outage.x', envelope('x', {}, 'before'));
    await r.waitForRequests(1);
    await t.publish('outage.x', envelope('x', {}, 'straddle'));
    await r.waitForRequests(2);

    const reconnecting = t.waitForRecord(isBus('reconnecting'));
    await t.nats.stop();
    await reconnecting;
    busDown();
    const straddle = await t.waitForDelivery((d) => d.eventId === 'straddle' && d.outcome === 'delivered');
    expect(straddle.outcome).toBe('delivered');
    expect(t.engine.status().bus.state).toBe('reconnecting');

    // The outage itself: a fixed length is the point of this test.
    await delay(OUTAGE_MS);
    const during = unwrap(await t.api['status.get']()).bus;
    expect(during.state).toBe('reconnecting');
    expect(during.attempt).toBeGreaterThan(10);
    expect(during.lastError).toBeTruthy();

    const connected = t.waitForRecord(isBus('connected'), 20_000);
    const restartedAt = Date.now();
    await t.nats.restart();
    await connected;
    const reconnectMs = Date.now() - restartedAt;
    // Backoff is capped at 5 s (±20 % jitter).
    expect(reconnectMs).toBeLessThan(10_000);

    // Published the moment the engine says it is back.
    const after = Array.from({ length: 50 }, (_, i) => `after-${i}`);
    for (const id of after) t.publisher.publish('outage.x', encode(envelope('x', {}, id)));
    await t.publisher.flush();
    const requests = await r.waitForRequests(2 + after.length, 10_000);
    const seen = requests.map((q) => eventId(q.headers));
    expect(seen.slice(0, 2)).toEqual(['before', 'straddle']);
    // Sent several at a time, so not necessarily in order; each exactly once.
    expect(seen.slice(2).sort()).toEqual([...after].sort());
    console.info(`outage: ${OUTAGE_MS / 1000} s down, ${during.attempt} reconnect attempts, back ${reconnectMs} ms after the server; ${after.length} events after it delivered`);
  });
});

// ---------------------------------------------------------------------------------------

describe('full disk', () => {
  // A real full file system (a 24 MiB tmpfs: needs root, as CI has) fails the commit;
  // SQLite's max_page_count fails the write itself, rolling back the whole group of
  // writes under way. Both are run; without root the first falls back to the second.
  it.each(['tmpfs', 'max_page_count'] as const)('%s: no crash, the failure reported, nothing committed lost; recorded and delivered again once space is back', { timeout: 90_000 }, async (want) => {
    const disk: SmallDisk | null = want === 'tmpfs' ? await smallDisk(24 * MiB) : null;
    if (disk) later(() => disk.cleanup());
    const dbDir = disk?.dir ?? (await mkdtemp(join(tmpdir(), 'sluice-full-')));
    const db = join(dbDir, 'sluice.db');
    const t = await engine({ dbPath: db, settings: { timeoutMs: 30_000, retrySchedule: [0.2, 0.5, 1] } });
    const store = (t.engine as unknown as { store: Store }).store;

    // Answers at once, except events held at the gate (answered when it opens).
    let gateOpen = true;
    const gated: (() => void)[] = [];
    const r = await receiver((req, res) => {
      const answer = (): void => void res.writeHead(200).end('ok');
      if (gateOpen) answer();
      else gated.push(answer);
    });
    unwrap(await t.api['subscriptions.create']({ name: 'siem', url: r.url, patterns: ['disk.>'] }));
    await t.engine.busReady();
    const ids = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
    // 16 KiB payloads: every commit needs new pages.
    const payload = { blob: 'x'.repeat(16 * 1024) };
    const publishAll = async (list: string[]): Promise<void> => {
      for (const id of list) t.publisher.publish('disk.x', encode(envelope('x', payload, id)));
      await t.publisher.flush();
    };
    const delivered = (list: string[]) => () => {
      const outcomes = outcomesById(db);
      return list.every((id) => outcomes.get(id)?.includes('delivered'));
    };
    const arrivedIds = (): Set<string> => new Set(r.requests.map((q) => eventId(q.headers)));

    // A: committed and delivered before the fault.
    const a = ids('a', 20);
    await publishAll(a);
    await vi.waitFor(() => expect(delivered(a)(), 'the first events delivered').toBe(true), { timeout: 20_000, interval: 25 });
    // B: committed before the fault, their attempts on the wire when it strikes.
    gateOpen = false;
    const b = ids('b', 20);
    await publishAll(b);
    await vi.waitFor(() => expect(b.every((id) => outcomesById(db).get(id)?.includes('pending')), 'the second events committed').toBe(true), { timeout: 20_000, interval: 25 });
    await vi.waitFor(() => expect(gated.length === subscriptionShare(10), 'their first attempts on the wire').toBe(true), { timeout: 20_000, interval: 25 });

    // The fault. Outcomes are committed lazily: commit what is open first, so the fault
    // meets the file as it is on disk (a group rolled back later would free pages under
    // max_page_count and let C events in; an open group would hold up the checkpoint).
    await t.engine.durable();
    let mode: string;
    if (disk) {
      // Empty the WAL first, so any commit needs space the disk no longer has.
      const sqlite = new BetterSqlite3(db, { timeout: 5000 });
      sqlite.pragma('wal_checkpoint(TRUNCATE)');
      sqlite.close();
      const ballast = await disk.fill();
      mode = `tmpfs of 24 MiB filled with ${(ballast / MiB).toFixed(1)} MiB of ballast`;
    } else {
      // Room for about one more event: the next writes of the same group fail, and
      // SQLite rolls the whole group back, the first event's writes with it.
      store.sqlite.pragma(`max_page_count = ${(store.sqlite.pragma('page_count', { simple: true }) as number) + 8}`);
      mode = want === 'tmpfs' ? 'PRAGMA max_page_count: no permission to mount a tmpfs here' : 'PRAGMA max_page_count';
    }
    const errorsBefore = t.records.filter((x) => x.kind === 'error').length;

    // C: arrive while the disk is full.
    const c = ids('c', 10);
    await publishAll(c);
    const unrecorded = (): EngineRecord[] =>
      t.records.filter((x) => x.kind === 'error' && x.message.startsWith('could not record a message on disk.x'));
    // Each is recorded (room for about one event may let one in, when it comes alone in
    // a group of its own) or reported; none is silently dropped.
    const storedC = (): number => {
      const stored = new Set(readCommitted(db, (s) => (s.prepare('SELECT event_id AS id FROM events').all() as { id: string }[]).map((row) => row.id)));
      return c.filter((id) => stored.has(id)).length;
    };
    await vi.waitFor(() => expect(unrecorded().length + storedC() >= c.length, 'every message that arrived during it recorded or reported').toBe(true), { timeout: 20_000, interval: 25 });
    expect(unrecorded().length).toBeGreaterThan(0);
    expect(unrecorded().every((x) => x.kind === 'error' && /full/.test(x.message))).toBe(true);
    // B's answers come back: their outcomes cannot be recorded either, and the rest of B goes out.
    gateOpen = true;
    for (const answer of gated.splice(0)) answer();
    await vi.waitFor(() => expect(b.every((id) => arrivedIds().has(id)), 'every B event at the receiver').toBe(true), { timeout: 20_000, interval: 25 });
    // On the full file system every commit fails, so their outcomes are lost (and reported);
    // under max_page_count an update that needs no new page still commits.
    if (disk)
      await vi.waitFor(() => expect(t.records.some((x) => x.kind === 'error' && (x.message.startsWith('could not record the outcome') || /commit failed/.test(x.message))), 'a lost outcome reported').toBe(true), { timeout: 20_000, interval: 25 });
    // Alive and well otherwise.
    const status = unwrap(await t.api['status.get']());
    expect(status.bus.state).toBe('connected');

    // Space is back.
    if (disk) await disk.free();
    else store.sqlite.pragma('max_page_count = 1073741823');
    const d = ids('d', 20);
    await publishAll(d);
    await vi.waitFor(() => expect(delivered([...a, ...b, ...d])(), 'every event committed before the fault and after it delivered').toBe(true), { timeout: 30_000, interval: 25 });
    await vi.waitFor(() => expect(readCommitted(db, (s) => (s.prepare("SELECT COUNT(*) AS n FROM deliveries WHERE outcome IN ('pending', 'retrying')").get() as { n: number }).n) === 0, 'nothing left pending').toBe(true), { timeout: 20_000, interval: 25 });

    const outcomes = outcomesById(db);
    const stored = readCommitted(db, (s) => (s.prepare('SELECT event_id AS id FROM events').all() as { id: string }[]).map((row) => row.id));
    // Every stored event is delivered; every C event is either stored (and delivered) or was reported.
    for (const id of stored) expect(outcomes.get(id)).toContain('delivered');
    const cStored = c.filter((id) => stored.includes(id));
    expect(unrecorded().length).toBeGreaterThanOrEqual(c.length - cStored.length);
    // Never attempted unless recorded: no event reached the receiver that the store does not hold.
    for (const id of arrivedIds()) expect(stored).toContain(id);
    for (const id of [...a, ...b, ...d]) expect(arrivedIds().has(id)).toBe(true);
    const errors = t.records.filter((x) => x.kind === 'error').length - errorsBefore;
    await t.engine.stop();
    expect(readCommitted(db, (s) => s.pragma('integrity_check', { simple: true }))).toBe('ok');
    console.info(
      `full disk (${mode}): ${errors} error records; ${c.length - cStored.length} of ${c.length} messages that arrived during it not recorded (reported), ` +
        `${r.requests.filter((q) => eventId(q.headers).startsWith('b-')).length} requests for the ${b.length} B events (outcomes lost with a failed commit sent again); ` +
        `integrity_check ok`,
    );
  });

  it('JetStream: messages that arrive while the disk is full are not acknowledged, and are delivered once space is back', { timeout: 90_000 }, async () => {
    const disk = await smallDisk(24 * MiB);
    if (disk) later(() => disk.cleanup());
    const dbDir = disk?.dir ?? (await mkdtemp(join(tmpdir(), 'sluice-full-js-')));
    const db = join(dbDir, 'sluice.db');
    // The server keeps its stream in its own directory, not on the small disk.
    const nats = await startNatsServer();
    later(() => nats.cleanup());
    const js = jetstream(await nats.client(), { timeout: 5000 });
    await (await jetstreamManager(await nats.client())).streams.add({ name: 'DISK', subjects: ['disk.>'] });
    const t = await engine({ server: nats, dbPath: db, settings: { jetstreamStream: 'DISK' } });
    if (t.engine.status().jetstream?.state !== 'consuming')
      await t.waitForRecord((x) => x.kind === 'jetstream' && x.status.state === 'consuming');
    const store = (t.engine as unknown as { store: Store }).store;
    const r = await receiver();
    unwrap(await t.api['subscriptions.create']({ name: 'siem', url: r.url, patterns: ['disk.>'] }));
    const payload = { blob: 'x'.repeat(16 * 1024) };
    const publishAll = async (list: string[]): Promise<void> => {
      for (const id of list) await js.publish('disk.x', encode(envelope('x', payload, id)), { msgID: id });
    };
    const ids = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
    const delivered = (list: string[]) => () => {
      const outcomes = outcomesById(db);
      return list.every((id) => outcomes.get(id)?.includes('delivered'));
    };

    const a = ids('a', 10);
    await publishAll(a);
    await vi.waitFor(() => expect(delivered(a)(), 'the first events delivered').toBe(true), { timeout: 20_000, interval: 25 });

    await t.engine.durable(); // as above: the fault meets what is on disk
    let mode: string;
    if (disk) {
      const sqlite = new BetterSqlite3(db, { timeout: 5000 });
      sqlite.pragma('wal_checkpoint(TRUNCATE)');
      sqlite.close();
      await disk.fill();
      mode = 'tmpfs';
    } else {
      store.sqlite.pragma(`max_page_count = ${(store.sqlite.pragma('page_count', { simple: true }) as number) + 8}`);
      mode = 'PRAGMA max_page_count';
    }
    const c = ids('c', 10);
    await publishAll(c);
    // Each could not be recorded, so each was given back to the server, not acknowledged.
    const refused = (): Set<string> => new Set(t.records.flatMap((x) => (x.kind === 'error' && x.message.startsWith('JetStream disk.x') ? [x.message] : [])));
    await vi.waitFor(() => expect(t.records.filter((x) => x.kind === 'error' && x.message.startsWith('JetStream disk.x')).length >= c.length, 'every message refused').toBe(true), { timeout: 20_000, interval: 25 });
    expect([...refused()].every((m) => /full|rolled back/.test(m))).toBe(true);
    expect(t.engine.status().jetstream?.state).toBe('consuming');

    if (disk) await disk.free();
    else store.sqlite.pragma('max_page_count = 1073741823');
    const d = ids('d', 10);
    await publishAll(d);
    await vi.waitFor(() => expect(delivered([...a, ...c, ...d])(), 'every event, those that arrived during the fault included, delivered').toBe(true), { timeout: 30_000, interval: 25 });
    const arrived = new Set(r.requests.map((q) => eventId(q.headers)));
    for (const id of [...a, ...c, ...d]) expect(arrived.has(id)).toBe(true);
    await t.engine.stop();
    expect(readCommitted(db, (s) => s.pragma('integrity_check', { simple: true }))).toBe('ok');
    console.info(`full disk, JetStream (${mode}): ${t.records.filter((x) => x.kind === 'error').length} error records; all ${a.length + c.length + d.length} events delivered, the ${c.length} that arrived during the fault after redelivery; integrity_check ok`);
  });
});

// ---------------------------------------------------------------------------------------

describe('corrupted database at start', () => {
  let nats: NatsServer;
  const children = new Set<ChildProcess>();

  async function setup(): Promise<{ dir: string; db: string }> {
    nats = await startNatsServer();
    later(() => nats.cleanup());
    later(async () => {
      for (const child of children) child.kill('SIGKILL');
      children.clear();
    });
    const dir = await mkdtemp(join(tmpdir(), 'sluice-corrupt-'));
    later(() => rm(dir, { recursive: true, force: true }));
    return { dir, db: join(dir, 'sluice.db') };
  }

  /** Starts a built entry point; resolves with the first output line (of `stream`) matching `pattern`, and the child. */
  async function startUntil(args: string[], stream: 'stdout' | 'stderr', pattern: RegExp): Promise<{ child: ChildProcess; line: string; output: () => string }> {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    child.once('exit', () => children.delete(child));
    const seen = { stdout: '', stderr: '' };
    child.stdout?.on('data', (chunk: Buffer) => (seen.stdout += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (seen.stderr += chunk.toString()));
    const line = await new Promise<string>((resolve, reject) => {
      const look = (): void => {
        const found = seen[stream].split('\n').find((l) => pattern.test(l));
        if (found) resolve(found);
      };
      child.stdout?.on('data', look);
      child.stderr?.on('data', look);
      child.once('exit', (code) => reject(new Error(`exited (${code}) before ${pattern}:\n${seen.stdout}\n${seen.stderr}`)));
    });
    return { child, line, output: () => seen.stdout + seen.stderr };
  }

  async function stop(child: ChildProcess): Promise<number | null> {
    if (child.exitCode !== null) return child.exitCode;
    return new Promise((resolve) => {
      child.once('exit', (code) => resolve(code));
      child.kill('SIGTERM');
    });
  }

  const aside = (dir: string): string[] => readdirSync(dir).filter((f) => f.includes('.corrupt-')).sort();

  it('garbage pages: a one-shot command refuses and changes nothing; `sluice run` moves it aside and says so', { timeout: 60_000 }, async () => {
    const { dir, db } = await setup();
    // A real database with a subscription, then garbage over every page after the first.
    const first = await Engine.start({ dbPath: db, offline: true });
    unwrap(await createInProcessClient(first)['subscriptions.create']({ name: 'siem', url: 'https://siem.example/hook', patterns: ['a.>'] }));
    await first.stop();
    const bytes = readFileSync(db);
    expect(bytes.length).toBeGreaterThan(8 * 4096);
    for (let i = 4096; i < bytes.length; i++) bytes[i] = (i * 2654435761) >>> 24;
    writeFileSync(db, bytes);

    await expect(Engine.start({ dbPath: db, offline: true })).rejects.toThrow(/is corrupt .*nothing was changed/);
    expect(readFileSync(db)).toEqual(bytes);
    expect(aside(dir)).toEqual([]);

    const run = await startUntil([CLI, 'run', '--db', db, '--nats', nats.wsUrl], 'stdout', /"kind":"error"/);
    const logged = JSON.parse(run.line) as { message: string };
    const moved = aside(dir);
    // The main file, and the (empty) -wal and -shm that opening it in WAL mode made beside it.
    expect(moved).toEqual([moved[0], `${moved[0]}-shm`, `${moved[0]}-wal`]);
    expect(readFileSync(join(dir, `${moved[0]}-wal`)).length).toBe(0);
    expect(logged.message).toContain(`database ${db} was corrupt`);
    expect(logged.message).toContain(`moved it aside to ${join(dir, moved[0] as string)}`);
    expect(readFileSync(join(dir, moved[0] as string))).toEqual(bytes);
    // Started on a new, empty database.
    expect(run.output()).toMatch(/"kind":"start".*"subscriptions":0/);
    expect(await stop(run.child)).toBe(0);
    expect(readCommitted(db, (s) => s.pragma('integrity_check', { simple: true }))).toBe('ok');
    console.info(`corrupt (garbage pages): ${logged.message}`);
  });

  it('a file that is not a database: `serve` moves it aside and says so on stderr', { timeout: 60_000 }, async () => {
    const { dir, db } = await setup();
    const foreign = Buffer.from('{"this": "is a JSON file, not SQLite"}\n'.repeat(100));
    writeFileSync(db, foreign);
    const serve = await startUntil([SERVE, '--db', db, '--nats', nats.wsUrl, '--port', '0'], 'stderr', /was corrupt/);
    expect(serve.line).toMatch(/error: database .* was corrupt \(file is not a database\): moved it aside to /);
    const moved = aside(dir);
    expect(moved).toHaveLength(1);
    expect(readFileSync(join(dir, moved[0] as string))).toEqual(foreign);
    expect(await stop(serve.child)).toBe(0);
    console.info(`corrupt (not a database): ${serve.line}`);
  });
});
