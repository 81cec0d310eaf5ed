/**
 * `npm run bench`: Sluice against the ceiling of this machine, in one run. Starts its own
 * nats-server, a lean receiver in a process of its own (as a SIEM would be) and a publisher
 * in another (as DECNET's components are). The ceiling's minimal client and the engine both
 * run in this process, one after the other, against that receiver, so the ratio compares
 * like with like. Prints a table and writes
 * `.bench/results.json`. Not part of the tests.
 *
 * BENCH_SCALE=0.2 shrinks every count (a quick look); the targets are judged at 1.
 * BENCH_REPEAT (default 3): ceiling and throughput are measured that many times, interleaved,
 * and the medians reported. BENCH_PHASES=engine-only,stages,burst,latency,fifty,backlog,slow-receiver,team,start,console,search
 * (the default: all) picks the phases run after ceiling and throughput; BENCH_CONSOLE=0 skips
 * the browser phase.
 */
import { createHmac } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';
import { it } from 'vitest';
import { unwrap, startTestEngine, type TestEngine, type TestEngineOptions } from '../harness/engine';
import { startNatsServer, type NatsServer } from '../harness/nats-server';
import { launchChromium, openConsole } from '../harness/browser';
import type { Pacing } from '../../src-main/delivery/pacing';
import { startLeanReceiver, type LeanReceiver } from './lean-receiver';
import { startPublisher, type BenchPublisher } from './publisher';
import { attribute, profiled, STAGES, type Stage } from './stages';
import { countCpu } from './cpu-share';
import { teamPhase } from './team';
import { searchPhase } from './search';

const SCALE = Number(process.env['BENCH_SCALE'] ?? '1');
const n = (count: number): number => Math.max(100, Math.round(count * SCALE));
const REPEAT = Math.max(1, Number(process.env['BENCH_REPEAT'] ?? '3'));
const CONCURRENCY = 10;
const PHASES = new Set((process.env['BENCH_PHASES'] ?? 'engine-only,stages,burst,latency,fifty,backlog,slow-receiver,team,start,console,search').split(','));
if (process.env['BENCH_CONSOLE'] === '0') PHASES.delete('console');
const OUT_DIR = join(__dirname, '../../.bench');

const BODY = Buffer.from(
  JSON.stringify({ id: 'x'.repeat(36), payload: { ip: '203.0.113.7', port: 22, decky: 'web-01', score: 0.87 }, topic: 'attacker.observed', ts: '2026-11-28T00:00:00+00:00', type: 'first_sighting', v: 1 }),
);

/** Phase 1: the receiver driven directly by a minimal keep-alive client with HMAC per request. */
async function ceiling(receiver: LeanReceiver, total: number, concurrency = CONCURRENCY): Promise<number> {
  const agent = new Agent({ connections: concurrency, pipelining: 1 });
  const start = await receiver.count();
  let next = 0;
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (next < total) {
      next++;
      const signature = `sha256=${createHmac('sha256', 'bench-secret-0123456789').update(BODY).digest('hex')}`;
      const res = await request(receiver.url, {
        method: 'POST',
        body: BODY,
        dispatcher: agent,
        headers: { 'content-type': 'application/json', 'x-decnet-signature': signature },
      });
      await res.body.dump();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - t0) / 1000;
  await agent.close();
  if ((await receiver.count()) - start < total) throw new Error('ceiling: requests lost');
  return total / seconds;
}

/** What every phase drives: the bus, the receiver and the publisher, each its own process. */
interface Bench {
  nats: NatsServer;
  receiver: LeanReceiver;
  publisher: BenchPublisher;
}

let floods = 0;

/** Deliveries per second, from the first publish to the last arrival and its commit. */
async function throughput(t: TestEngine, bench: Bench, total: number, subject: string, expected: number): Promise<number> {
  const { receiver, publisher } = bench;
  const start = await receiver.count();
  const t0 = performance.now();
  await publisher.flood(subject, total, `tp${floods++}`);
  await receiver.waitFor(start + expected, 300_000);
  await t.engine.durable();
  return expected / ((performance.now() - t0) / 1000);
}

/** Publish at a steady rate; latency = receiver arrival − publish time, per event (wall clock, one host). */
async function latency({ receiver, publisher }: Bench, rate: number, seconds: number, warmupSeconds: number) {
  const total = Math.round(rate * (seconds + warmupSeconds));
  const start = await receiver.count();
  await receiver.takeArrivals();
  // The engine's own stalls, to tell them apart from the other processes' (and the OS's).
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const { sent } = await publisher.steady('attacker.observed', rate, total, `lat-${rate}`);
  await receiver.waitFor(start + total, 120_000);
  loop.disable();
  const arrivals = await receiver.takeArrivals();
  const warmup: number[] = [];
  const steady: number[] = [];
  sent.forEach(([id, at], index) => {
    const arrived = arrivals.get(id);
    if (arrived !== undefined) (index < rate * warmupSeconds ? warmup : steady).push(arrived - at);
  });
  return { warmup: stats(warmup), steady: stats(steady), engine_loop_delay: { p99: round(loop.percentile(99) / 1e6), max: round(loop.max / 1e6) } };
}

function stats(values: number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number): number => round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN);
  return { count: sorted.length, p50: at(0.5), p99: at(0.99), max: round(sorted[sorted.length - 1] ?? NaN) };
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;
const round = (x: number, digits = 2): number => Math.round(x * 10 ** digits) / 10 ** digits;
const mb = (bytes: number): number => round(bytes / 1024 / 1024, 1);

/** The engine as the bench drives it: no record history kept (it would grow with every delivery). */
const benchEngine = (options: TestEngineOptions): Promise<TestEngine> => startTestEngine({ keepRecords: false, ...options });

it('benchmark', { timeout: 30 * 60_000 }, async () => {
  const results: Record<string, unknown> = { scale: SCALE, repeat: REPEAT, at: new Date().toISOString() };
  const nats: NatsServer = await startNatsServer({ maxPayload: 2 * 1024 * 1024 });
  const receiver = await startLeanReceiver();
  const publisher = await startPublisher(nats.wsUrl);
  const bench: Bench = { nats, receiver, publisher };
  let t: TestEngine | null = null;
  try {
    // 1 and 2. Ceiling and throughput with one subscription, interleaved REPEAT times so
    // that both see the same machine; medians reported.
    t = await benchEngine({ server: nats, settings: { concurrency: CONCURRENCY, retrySchedule: [1, 2, 4] } });
    unwrap(await t.api['subscriptions.create']({ name: 'bench', url: receiver.url, patterns: ['attacker.>'] }));
    await t.engine.busReady();
    await ceiling(receiver, n(2000)); // warm-up
    await throughput(t, bench, n(2000), 'attacker.observed', n(2000)); // warm-up
    const ceilings: number[] = [];
    const ones: number[] = [];
    for (let r = 0; r < REPEAT; r++) {
      ceilings.push(await ceiling(receiver, n(20_000)));
      // Who used the two cores meanwhile (the last run's figures are kept).
      const cpu = countCpu({ receiver: receiver.pid, 'nats-server': nats.pid, publisher: publisher.pid });
      ones.push(await throughput(t, bench, n(20_000), 'attacker.observed', n(20_000)));
      results['throughput_1sub_cpu'] = cpu();
    }
    const ceilingRps = median(ceilings);
    const one = median(ones);
    results['ceiling_rps'] = round(ceilingRps, 0);
    results['ceiling_runs'] = ceilings.map((x) => round(x, 0));
    results['throughput_1sub_dps'] = round(one, 0);
    results['throughput_1sub_runs'] = ones.map((x) => round(x, 0));
    results['throughput_1sub_ratio'] = round(one / ceilingRps, 3);
    if (PHASES.has('engine-only')) results['engine_without_http_dps'] = round(await engineWithoutHttp(t, bench, n(20_000)), 0);
    // Where a delivery's time goes, by stage (a CPU profile of this process).
    if (PHASES.has('stages')) {
      const engine = t;
      await phase(results, 'stages', () => stagesPhase(engine, bench, n(20_000)));
    }

    if (PHASES.has('burst')) {
      const bursts: number[] = [];
      for (let r = 0; r < REPEAT; r++) {
        const burstStart = performance.now();
        await throughput(t, bench, 5000, 'attacker.observed', 5000);
        bursts.push(performance.now() - burstStart);
      }
      results['burst_5000_ms'] = round(median(bursts), 0);
    }

    // 3. Latency at steady rates (after a 2 s warm-up, reported apart).
    if (PHASES.has('latency')) {
      results['latency_1000'] = await latency(bench, 1000, 5, 2);
      results['latency_5000'] = await latency(bench, 5000, 5, 2);
    }

    if (PHASES.has('fifty')) await fiftySubscriptions(t, bench, ceilingRps, results);
    await t.cleanup();
    t = null;

    // The phases below each run their own engine: one that fails is reported in the
    // results and the others still run.
    // 4. Backlog: the receiver is down while events pour in (the subscription trips and
    // holds them), then up: re-enable with delivery of what was held.
    if (PHASES.has('backlog')) await phase(results, 'backlog', () => backlogPhase(bench, one, results));

    // 7. A slow receiver (20 ms per answer) and one subscription allowed 32 in flight.
    if (PHASES.has('slow-receiver')) await phase(results, 'slow_receiver', () => slowReceiverPhase(bench));

    // 8. A team of 1, 2 and 3 members (`sluice run` each) sharing the stream's work.
    if (PHASES.has('team')) await phase(results, 'team', () => teamPhase(bench, n(20_000)));

    // 6. Start with 500 subscriptions.
    if (PHASES.has('start')) await phase(results, 'start_500_subs_ms', () => startWith500(bench));

    // 5. The console under a flood of deliveries.
    if (PHASES.has('console')) await phase(results, 'console', () => consoleUnderFlood(bench));

    // 6. Finding and exporting deliveries in a store of a million (no engine: the store alone).
    if (PHASES.has('search')) await phase(results, 'search', () => searchPhase(n(1_000_000), n(100_000)));
  } finally {
    await t?.cleanup();
    await publisher.close();
    await receiver.close();
    await nats.cleanup();
  }
  mkdirSync(OUT_DIR, { recursive: true });
  writeFileSync(join(OUT_DIR, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  console.log(table(results));
  const failed = Object.entries(results).filter(([, v]) => v !== null && typeof v === 'object' && 'error' in v);
  if (failed.length > 0) throw new Error(`phases failed: ${failed.map(([k]) => k).join(', ')} (see the table)`);
});

/** Run one phase; its value goes under `name` (if it returns one), its failure too, as `{ error }`. */
async function phase(results: Record<string, unknown>, name: string, run: () => Promise<unknown>): Promise<void> {
  try {
    const value = await run();
    if (value !== undefined) results[name] = value;
  } catch (error) {
    results[name] = { error: (error as Error).message };
  }
}

/**
 * Where the time goes: the same flood with the HTTP client replaced by an instant 200,
 * so the figure is the engine's own cost per delivery (bus intake, parsing, the outbox
 * rows, signing, dispatch) with nothing on the wire. Reaches into the engine: a
 * benchmark's seam, not an API.
 */
async function engineWithoutHttp(t: TestEngine, { publisher }: Bench, total: number): Promise<number> {
  const egress = (t.engine as unknown as { egress: { send: (request: unknown) => Promise<unknown> } }).egress;
  const realSend = egress.send;
  let answered = 0;
  let allAnswered!: () => void;
  const done = new Promise<void>((resolve) => (allAnswered = resolve));
  egress.send = async () => {
    if (++answered === total) allAnswered();
    return { kind: 'response', statusCode: 200, error: null, latencyMs: 0, address: '127.0.0.1', responseExcerpt: '', retryAfterMs: null };
  };
  try {
    const t0 = performance.now();
    await publisher.flood('attacker.observed', total, `eo${floods++}`);
    await done;
    await t.engine.durable();
    return total / ((performance.now() - t0) / 1000);
  } finally {
    egress.send = realSend;
  }
}

/** The CPU profiler's sampling interval: fine enough for a few thousand samples per run. */
const PROFILE_INTERVAL_US = 200;

/**
 * Where a delivery's time goes: the engine-only flood (HTTP answered at once by a stub)
 * and then the same flood against the lean receiver, each under the CPU profiler, every
 * sample's time given to a stage (see stages.ts); µs of this thread's CPU per delivery.
 * The unprofiled engine-only rate just before, to set the figures against (the profiler
 * slows the engine a little).
 */
async function stagesPhase(t: TestEngine, bench: Bench, total: number) {
  const engineOnly = await engineWithoutHttp(t, bench, total);
  const alone = await profiled(PROFILE_INTERVAL_US, () => engineWithoutHttp(t, bench, total));
  const withHttp = await profiled(PROFILE_INTERVAL_US, () => throughput(t, bench, total, 'attacker.observed', total));
  const perDelivery = (micros: Record<Stage, number>) => {
    const row: Record<string, number> = {};
    for (const stage of STAGES) row[stage] = round(micros[stage] / total, 1);
    row['total'] = round(Object.values(micros).reduce((a, b) => a + b, 0) / total, 1);
    return row;
  };
  // Kept for a closer look (Chrome DevTools → Performance, or `--cpu-prof` viewers).
  mkdirSync(OUT_DIR, { recursive: true });
  writeFileSync(join(OUT_DIR, 'stages-engine-only.cpuprofile'), JSON.stringify(alone.profile));
  writeFileSync(join(OUT_DIR, 'stages-with-http.cpuprofile'), JSON.stringify(withHttp.profile));
  const engine_only = perDelivery(attribute(alone.profile));
  const with_http = perDelivery(attribute(withHttp.profile));
  const width = Math.max(...[...STAGES, 'total'].map((s) => s.length));
  console.log(
    [
      '',
      `µs of the engine's CPU per delivery, ${total} deliveries (sampled every ${PROFILE_INTERVAL_US} µs)`,
      `${'stage'.padEnd(width)}  engine only  with HTTP`,
      ...[...STAGES, 'total'].map((s) => `${s.padEnd(width)}  ${String(engine_only[s]).padStart(11)}  ${String(with_http[s]).padStart(9)}`),
      '',
    ].join('\n'),
  );
  return {
    deliveries: total,
    sampling_us: PROFILE_INTERVAL_US,
    engine_only_dps: round(engineOnly, 0),
    profiled_engine_only_dps: round(alone.value, 0),
    profiled_with_http_dps: round(withHttp.value, 0),
    us_per_delivery: { engine_only, with_http },
  };
}

/** Throughput again with 50 subscriptions on overlapping patterns (counting deliveries). */
async function fiftySubscriptions(t: TestEngine, bench: Bench, ceilingRps: number, results: Record<string, unknown>): Promise<void> {
  const patterns = ['attacker.>', 'attacker.*', 'attacker.observed', '*.observed', '>'];
  for (let i = 0; i < 49; i++)
    unwrap(await t.api['subscriptions.create']({ name: `bench-${i}`, url: bench.receiver.url, patterns: [patterns[i % patterns.length] as string] }));
  await t.engine.busReady();
  const events50 = n(2000);
  const fifties: number[] = [];
  for (let r = 0; r < REPEAT; r++) fifties.push(await throughput(t, bench, events50, 'attacker.observed', events50 * 50));
  const fifty = median(fifties);
  results['throughput_50subs_dps'] = round(fifty, 0);
  results['throughput_50subs_ratio'] = round(fifty / ceilingRps, 3);
}

/** Phase 4: 100,000 events while the receiver is down (held), then up and drained. */
async function backlogPhase({ nats, receiver, publisher }: Bench, one: number, results: Record<string, unknown>): Promise<void> {
  let t: TestEngine | null = null;
  try {
    t = await benchEngine({ server: nats, settings: { concurrency: CONCURRENCY, retrySchedule: [], circuitThreshold: 5, heldMaxCount: 1_000_000 } });
    const { subscription } = unwrap(await t.api['subscriptions.create']({ name: 'backlog', url: receiver.url, patterns: ['attacker.>'] }));
    await t.engine.busReady();
    global.gc?.();
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 50);
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    await receiver.setUp(false);
    const backlog = n(100_000);
    const t0 = performance.now();
    await publisher.flood('attacker.observed', backlog, 'bl');
    const heldTarget = backlog - 5;
    while (unwrap(await t.api['subscriptions.list']())[0]!.heldCount < heldTarget - 50) {
      if (performance.now() - t0 > 600_000) throw new Error('backlog: events not held in time');
      await new Promise((r) => setTimeout(r, 200));
    }
    loop.disable();
    results['backlog_events'] = backlog;
    results['backlog_intake_seconds'] = round((performance.now() - t0) / 1000, 1);
    results['backlog_event_loop_p99_ms'] = round(loop.percentile(99) / 1e6, 1);
    results['backlog_event_loop_max_ms'] = round(loop.max / 1e6, 1);
    await receiver.setUp(true);
    const drainStart = performance.now();
    const before = await receiver.count();
    const held = unwrap(await t.api['subscriptions.list']())[0]!.heldCount;
    const drainLoop = monitorEventLoopDelay({ resolution: 10 });
    drainLoop.enable();
    unwrap(await t.api['subscriptions.setEnabled'](subscription.id, true, 'deliver'));
    await receiver.waitFor(before + held, 600_000);
    const drainSeconds = (performance.now() - drainStart) / 1000;
    drainLoop.disable();
    results['backlog_drain_event_loop_max_ms'] = round(drainLoop.max / 1e6, 1);
    clearInterval(sampler);
    results['backlog_rss_growth_mb'] = mb(rssPeak - rssBefore);
    results['backlog_drain_seconds'] = round(drainSeconds, 1);
    results['backlog_drain_dps'] = round(held / drainSeconds, 0);
    results['backlog_drain_ratio_to_throughput'] = round(held / drainSeconds / one, 3);
  } finally {
    await t?.cleanup();
  }
}

const SLOW_RECEIVER_MS = 20;
const SLOW_CONCURRENCY = 32;
/** The fast subscription beside the slow one: its rate, and the seconds of each measurement. */
const FAST_RATE = 200;
const FAST_SECONDS = 8;

/**
 * Phase 7: a SIEM that answers after 20 ms, served by one subscription whose own
 * concurrency is 32, with the global bound raised to 40 so that its share (the bound less
 * a fifth) allows 32. At most 32 / 20 ms = 1,600 deliveries/s; the target is 1,400.
 * Its own receiver process, so the others' stays instant.
 *
 * Beside it, a fast subscription (its own topic, the instant receiver, the default
 * concurrency) fed 200 events/s by a publisher of its own: its publish → arrival latency
 * alone (the slow one idle), beside the slow one's flood, and beside the slow one fed at
 * its target rate — whether a slow receiver hurts the others is a ratio within one run.
 */
async function slowReceiverPhase(bench: Bench) {
  const slow = await startLeanReceiver({ delayMs: SLOW_RECEIVER_MS });
  let t: TestEngine | null = null;
  let fastPublisher: BenchPublisher | null = null;
  try {
    t = await benchEngine({
      server: bench.nats,
      settings: { concurrency: 40, retrySchedule: [1, 2, 4] },
    });
    unwrap(await t.api['subscriptions.create']({ name: 'slow', url: slow.url, patterns: ['attacker.>'], concurrency: SLOW_CONCURRENCY }));
    unwrap(await t.api['subscriptions.create']({ name: 'fast', url: bench.receiver.url, patterns: ['fast.>'] }));
    await t.engine.busReady();
    fastPublisher = await startPublisher(bench.nats.wsUrl);
    const fast = fastPublisher;
    const fastLatency = (label: string) => fastStream(bench.receiver, fast, label);
    const withSlow: Bench = { ...bench, receiver: slow };
    await throughput(t, withSlow, n(2000), 'attacker.observed', n(2000)); // warm-up
    const fastAlone = await fastLatency('fast-alone');
    // The same receiver driven by the bare client at 32 requests at once: what this host allows.
    const clientCeiling = await ceiling(slow, n(10_000), SLOW_CONCURRENCY);
    // Requests on the wire, sampled: 32 throughout means the time per request is what limits.
    const dispatcher = (t.engine as unknown as { dispatcher: { sending: number } }).dispatcher;
    const samples: number[] = [];
    const sampler = setInterval(() => samples.push(dispatcher.sending), 5);
    const loop = monitorEventLoopDelay({ resolution: 1 });
    loop.enable();
    const runs: number[] = [];
    try {
      for (let r = 0; r < REPEAT; r++) runs.push(await throughput(t, withSlow, n(20_000), 'attacker.observed', n(20_000)));
    } finally {
      clearInterval(sampler);
      loop.disable();
    }
    // Once the flood is recorded (its intake shares the engine's event loop with the
    // answers): the rate from the first quarter of the deliveries to the last.
    // The fast subscription's events published meanwhile.
    const total = n(20_000);
    const start = await slow.count();
    const besideFlood = fastLatency('fast-flood');
    await bench.publisher.flood('attacker.observed', total, `sr${floods++}`);
    await slow.waitFor(start + total / 4, 300_000);
    const quarterAt = performance.now();
    await slow.waitFor(start + total, 300_000);
    const steady = (total * 0.75) / ((performance.now() - quarterAt) / 1000);
    const fastBesideFlood = await besideFlood;
    // The slow subscription fed at its target rate, the fast one beside it.
    const slowRate = 1400;
    const slowTotal = slowRate * FAST_SECONDS;
    const rateStart = await slow.count();
    const [fastBesideRate] = await Promise.all([fastLatency('fast-rate'), bench.publisher.steady('attacker.observed', slowRate, slowTotal, `srr${floods++}`)]);
    await slow.waitFor(rateStart + slowTotal, 120_000);
    const dps = median(runs);
    return {
      delay_ms: SLOW_RECEIVER_MS,
      concurrency: SLOW_CONCURRENCY,
      bound_dps: (SLOW_CONCURRENCY * 1000) / SLOW_RECEIVER_MS,
      bare_client_rps: round(clientCeiling, 0),
      dps: round(dps, 0),
      runs: runs.map((x) => round(x, 0)),
      steady_dps: round(steady, 0),
      in_flight_mean: round(samples.reduce((a, b) => a + b, 0) / Math.max(1, samples.length), 1),
      // Time per request as the engine sees it: in flight / throughput.
      ms_per_request: round((samples.reduce((a, b) => a + b, 0) / Math.max(1, samples.length) / dps) * 1000, 1),
      engine_loop_delay: { p50: round(loop.percentile(50) / 1e6), p99: round(loop.percentile(99) / 1e6), max: round(loop.max / 1e6) },
      fast: {
        rate: FAST_RATE,
        alone: fastAlone,
        beside_flood: fastBesideFlood,
        beside_1400: fastBesideRate,
        p99_ratio_beside_flood: round(fastBesideFlood.p99 / fastAlone.p99),
        p99_ratio_beside_1400: round(fastBesideRate.p99 / fastAlone.p99),
      },
    };
  } finally {
    await fastPublisher?.close();
    await t?.cleanup();
    await slow.close();
  }
}

/**
 * The fast subscription's stream: FAST_RATE events/s for FAST_SECONDS on `fast.observed`
 * from its own publisher; publish → arrival at the instant receiver, per event.
 */
async function fastStream(receiver: LeanReceiver, publisher: BenchPublisher, label: string) {
  const total = FAST_RATE * FAST_SECONDS;
  const prefix = `lat-${label}`;
  const start = await receiver.count();
  const { sent } = await publisher.steady('fast.observed', FAST_RATE, total, prefix);
  await receiver.waitFor(start + total, 300_000);
  const arrivals = await receiver.takeArrivals();
  const latencies: number[] = [];
  for (const [id, at] of sent) {
    const arrived = arrivals.get(id);
    if (arrived !== undefined) latencies.push(arrived - at);
  }
  // How many waited long: a few stragglers and a whole stretch held back read alike in a p99.
  return { ...stats(latencies), over_100ms: latencies.filter((ms) => ms > 100).length };
}

/** Phase 6: engine start to "bus connected and subscribed" with 500 subscriptions, in ms. */
async function startWith500({ nats, receiver }: Bench): Promise<number> {
  let t: TestEngine | null = null;
  try {
    t = await benchEngine({ server: nats });
    for (let i = 0; i < 500; i++)
      unwrap(await t.api['subscriptions.create']({ name: `s${i}`, url: receiver.url, patterns: [`attacker.${i}.>`, 'canary.*.triggered'] }));
    const dbPath = t.dbPath;
    await t.engine.stop();
    t = null;
    const startAt = performance.now();
    t = await benchEngine({ server: nats, dbPath });
    return round(performance.now() - startAt, 0);
  } finally {
    await t?.cleanup();
  }
}

/**
 * Phase 5: the built console in Chromium through the web host while 2,000 deliveries/s
 * stream in. Frame times and long tasks from the page; "visible" is, for every row that
 * appeared, the time from its delivery's arrival at the receiver to the row first showing
 * it delivered (both on this host's wall clock; rows show up earlier, as pending). The log is virtualized: most rows of a
 * flood never appear, which is the point.
 */
async function consoleUnderFlood({ nats, receiver, publisher }: Bench) {
  const t = await benchEngine({ server: nats, settings: { concurrency: CONCURRENCY } });
  const browser = await launchChromium();
  try {
    unwrap(await t.api['subscriptions.create']({ name: 'flood', url: receiver.url, patterns: ['attacker.>'] }));
    await t.engine.busReady();
    const c = await openConsole(browser, t);
    const cdp = await c.page.context().newCDPSession(c.page);
    await cdp.send('Performance.enable');
    await c.page.evaluate(`(() => {
      window.__frames = []; window.__long = []; window.__seen = new Map();
      let last = performance.now();
      const tick = (now) => { window.__frames.push(now - last); last = now; requestAnimationFrame(tick); };
      requestAnimationFrame(tick);
      new PerformanceObserver((list) => { for (const e of list.getEntries()) window.__long.push(e.duration); }).observe({ entryTypes: ['longtask'] });
      const note = (el) => {
        if (!el.getAttribute || el.getAttribute('data-outcome') !== 'delivered') return;
        const id = el.getAttribute('data-event-id');
        if (id && !window.__seen.has(id)) window.__seen.set(id, performance.timeOrigin + performance.now());
      };
      new MutationObserver((records) => {
        for (const r of records) {
          if (r.type === 'attributes') note(r.target);
          for (const node of r.addedNodes) {
            if (node.nodeType !== 1) continue;
            note(node);
            node.querySelectorAll('[data-event-id]').forEach(note);
          }
        }
      }).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-event-id', 'data-outcome'] });
    })()`);
    const heap = async (): Promise<number> => {
      const m = (await cdp.send('Performance.getMetrics')) as { metrics: { name: string; value: number }[] };
      return m.metrics.find((x) => x.name === 'JSHeapUsedSize')?.value ?? 0;
    };
    await receiver.takeArrivals();
    const heapBefore = await heap();
    const rate = 2000;
    const seconds = Number(process.env['BENCH_CONSOLE_SECONDS'] ?? '20');
    const total = rate * seconds;
    const start = await receiver.count();
    const t0 = performance.now();
    const { seconds: publishSeconds } = await publisher.steady('attacker.observed', rate, total, 'lat-cf');
    await receiver.waitFor(start + total, 120_000);
    const deliveredSeconds = (performance.now() - t0) / 1000;
    // The last batch reaches the page within a flush interval or two.
    // The last batch reaches the page within a flush interval or two; a page that fell far
    // behind is reported as such rather than failing the run.
    const lastShown = await c.page
      .waitForFunction((id) => (globalThis as unknown as { __seen: Map<string, number> }).__seen.has(id), `lat-cf-${total - 1}`, { timeout: 60_000 })
      .then(() => true, () => false);
    const heapAfter = await heap();
    const arrivals = await receiver.takeArrivals();
    const page = (await c.page.evaluate('({ frames: window.__frames, long: window.__long, seen: [...window.__seen] })')) as {
      frames: number[];
      long: number[];
      seen: [string, number][];
    };
    const visible: number[] = [];
    for (const [id, at] of page.seen) {
      const arrived = arrivals.get(id);
      if (arrived !== undefined) visible.push(at - arrived);
    }
    const sortedFrames = [...page.frames].sort((a, b) => a - b);
    const shown = stats(visible);
    await c.close();
    return {
      seconds,
      rate,
      delivered_rate: round(total / deliveredSeconds, 0),
      publish_seconds: round(publishSeconds, 1),
      frame_p95_ms: round(sortedFrames[Math.floor(sortedFrames.length * 0.95)] ?? NaN, 1),
      long_tasks: page.long.length,
      longest_task_ms: round(Math.max(0, ...page.long), 0),
      rows_seen: shown.count,
      last_row_shown_delivered: lastShown,
      visible_p50_ms: shown.p50,
      visible_p99_ms: shown.p99,
      visible_max_ms: shown.max,
      heap_growth_mb: mb(heapAfter - heapBefore),
    };
  } finally {
    await browser.close();
    await t.cleanup();
  }
}

function table(results: Record<string, unknown>): string {
  const rows: [string, string][] = [];
  const flat = (prefix: string, value: unknown): void => {
    if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) flat(prefix ? `${prefix}.${k}` : k, v);
    else rows.push([prefix, String(value)]);
  };
  flat('', results);
  const width = Math.max(...rows.map(([k]) => k.length));
  return ['', 'Sluice benchmark', '-'.repeat(width + 14), ...rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`), ''].join('\n');
}
