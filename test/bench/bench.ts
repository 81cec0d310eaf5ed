/**
 * `npm run bench`: Sluice against the ceiling of this machine, in one run. Starts its own
 * nats-server and a lean local receiver; the engine, the publisher and the receiver share
 * this process (as the ceiling's client and the receiver do), so ratios compare like with
 * like. Prints a table and writes `.bench/results.json`. Not part of the tests.
 *
 * BENCH_SCALE=0.2 shrinks every count (a quick look); the targets are judged at 1.
 */
import { createHmac } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import type { NatsConnection } from '@nats-io/nats-core';
import { Agent, request } from 'undici';
import { it } from 'vitest';
import { unwrap, startTestEngine, type TestEngine } from '../harness/engine';
import { startNatsServer, type NatsServer } from '../harness/nats-server';
import { launchChromium, openConsole } from '../harness/browser';

const SCALE = Number(process.env['BENCH_SCALE'] ?? '1');
const n = (count: number): number => Math.max(100, Math.round(count * SCALE));
const CONCURRENCY = 10;
const OUT_DIR = join(__dirname, '../../.bench');

/** A lean receiver: answers 200 at once and notes when each event id arrived. */
interface LeanReceiver {
  url: string;
  count: number;
  arrivals: Map<string, number>;
  up: boolean;
  waitFor(count: number, timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

async function startLeanReceiver(): Promise<LeanReceiver> {
  const waiters: { count: number; resolve: () => void }[] = [];
  const state = {
    count: 0,
    arrivals: new Map<string, number>(),
    up: true,
  };
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (!state.up) {
        res.writeHead(503).end();
        return;
      }
      state.count++;
      const id = req.headers['x-decnet-event-id'];
      if (typeof id === 'string' && id.startsWith('lat-')) state.arrivals.set(id, performance.now());
      res.writeHead(200, { 'content-length': '2' }).end('ok');
      for (let i = waiters.length - 1; i >= 0; i--) {
        const w = waiters[i] as { count: number; resolve: () => void };
        if (state.count >= w.count) {
          waiters.splice(i, 1);
          w.resolve();
        }
      }
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}/hook`,
    waitFor(count: number, timeoutMs: number) {
      if (state.count >= count) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`receiver: ${state.count}/${count} after ${timeoutMs} ms`)), timeoutMs);
        waiters.push({ count, resolve: () => (clearTimeout(timer), resolve()) });
      });
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  });
}

const BODY = Buffer.from(
  JSON.stringify({ id: 'x'.repeat(36), payload: { ip: '203.0.113.7', port: 22, decky: 'web-01', score: 0.87 }, topic: 'attacker.observed', ts: '2026-11-28T00:00:00+00:00', type: 'first_sighting', v: 1 }),
);

/** Phase 1: the receiver driven directly by a minimal keep-alive client with HMAC per request. */
async function ceiling(receiver: LeanReceiver, total: number): Promise<number> {
  const agent = new Agent({ connections: CONCURRENCY, pipelining: 1 });
  const start = receiver.count;
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
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const seconds = (performance.now() - t0) / 1000;
  await agent.close();
  if (receiver.count - start < total) throw new Error('ceiling: requests lost');
  return total / seconds;
}

function envelope(id: string): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ v: 1, id, type: 'first_sighting', ts: Date.now() / 1000, payload: { ip: '203.0.113.7', port: 22, decky: 'web-01', score: 0.87 } }));
}

/** Publishes as fast as the bus takes them, flushing now and then. */
async function flood(nc: NatsConnection, subject: string, total: number, prefix: string): Promise<void> {
  for (let i = 0; i < total; i++) {
    nc.publish(subject, envelope(`${prefix}-${i}`));
    if (i % 1000 === 999) await nc.flush();
  }
  await nc.flush();
}

async function throughput(t: TestEngine, receiver: LeanReceiver, total: number, subject: string, expected: number): Promise<number> {
  const start = receiver.count;
  const t0 = performance.now();
  await flood(t.publisher, subject, total, `tp${start}`);
  await receiver.waitFor(start + expected, 300_000);
  await t.engine.durable();
  return expected / ((performance.now() - t0) / 1000);
}

/** Publish at a steady rate; latency = receiver arrival − publish time, per event. */
async function latency(t: TestEngine, receiver: LeanReceiver, rate: number, seconds: number, warmupSeconds: number) {
  const sent = new Map<string, number>();
  const total = Math.round(rate * (seconds + warmupSeconds));
  const perTick = Math.max(1, Math.round(rate / 200)); // 5 ms ticks
  const start = receiver.count;
  let i = 0;
  const t0 = performance.now();
  while (i < total) {
    const due = t0 + (i / rate) * 1000;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    for (let k = 0; k < perTick && i < total; k++, i++) {
      const id = `lat-${rate}-${i}`;
      sent.set(id, performance.now());
      t.publisher.publish('attacker.observed', envelope(id));
    }
  }
  await t.publisher.flush();
  await receiver.waitFor(start + total, 60_000);
  const warmup: number[] = [];
  const steady: number[] = [];
  let j = 0;
  for (const [id, at] of sent) {
    const arrived = receiver.arrivals.get(id);
    if (arrived === undefined) continue;
    (j++ < rate * warmupSeconds ? warmup : steady).push(arrived - at);
  }
  return { warmup: stats(warmup), steady: stats(steady) };
}

function stats(values: number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number): number => round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN);
  return { count: sorted.length, p50: at(0.5), p99: at(0.99), max: round(sorted[sorted.length - 1] ?? NaN) };
}

const round = (x: number, digits = 2): number => Math.round(x * 10 ** digits) / 10 ** digits;
const mb = (bytes: number): number => round(bytes / 1024 / 1024, 1);

it('benchmark', { timeout: 30 * 60_000 }, async () => {
  const results: Record<string, unknown> = { scale: SCALE, at: new Date().toISOString() };
  const nats: NatsServer = await startNatsServer({ maxPayload: 2 * 1024 * 1024 });
  const receiver = await startLeanReceiver();
  let t: TestEngine | null = null;
  try {
    // 1. Ceiling.
    await ceiling(receiver, n(2000)); // warm-up
    const ceilingRps = await ceiling(receiver, n(20_000));
    results['ceiling_rps'] = round(ceilingRps, 0);

    // 2. Throughput, one subscription, then 50 overlapping ones.
    t = await startTestEngine({ server: nats, settings: { concurrency: CONCURRENCY, retrySchedule: [1, 2, 4] } });
    unwrap(await t.api['subscriptions.create']({ name: 'bench', url: receiver.url, patterns: ['attacker.>'] }));
    await t.engine.busReady();
    await throughput(t, receiver, n(2000), 'attacker.observed', n(2000)); // warm-up
    const one = await throughput(t, receiver, n(20_000), 'attacker.observed', n(20_000));
    results['throughput_1sub_dps'] = round(one, 0);
    results['throughput_1sub_ratio'] = round(one / ceilingRps, 3);

    const burstStart = performance.now();
    await throughput(t, receiver, 5000, 'attacker.observed', 5000);
    results['burst_5000_ms'] = round(performance.now() - burstStart, 0);

    // 3. Latency at steady rates (after a 2 s warm-up, reported apart).
    results['latency_1000'] = await latency(t, receiver, 1000, 5, 2);
    results['latency_5000'] = await latency(t, receiver, 5000, 5, 2);

    const patterns = ['attacker.>', 'attacker.*', 'attacker.observed', '*.observed', '>'];
    for (let i = 0; i < 49; i++)
      unwrap(await t.api['subscriptions.create']({ name: `bench-${i}`, url: receiver.url, patterns: [patterns[i % patterns.length] as string] }));
    await t.engine.busReady();
    const events50 = n(2000);
    const fifty = await throughput(t, receiver, events50, 'attacker.observed', events50 * 50);
    results['throughput_50subs_dps'] = round(fifty, 0);
    results['throughput_50subs_ratio'] = round(fifty / ceilingRps, 3);
    await t.cleanup();
    t = null;

    // 4. Backlog: the receiver is down while events pour in (the subscription trips and
    // holds them), then up: re-enable with delivery of what was held.
    t = await startTestEngine({ server: nats, settings: { concurrency: CONCURRENCY, retrySchedule: [], circuitThreshold: 5, heldMaxCount: 1_000_000 } });
    const { subscription } = unwrap(await t.api['subscriptions.create']({ name: 'backlog', url: receiver.url, patterns: ['attacker.>'] }));
    await t.engine.busReady();
    global.gc?.();
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 50);
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    receiver.up = false;
    const backlog = n(100_000);
    await flood(t.publisher, 'attacker.observed', backlog, 'bl');
    const heldTarget = backlog - 5;
    const t0 = performance.now();
    while (unwrap(await t.api['subscriptions.list']())[0]!.heldCount < heldTarget - 50) {
      if (performance.now() - t0 > 600_000) throw new Error('backlog: events not held in time');
      await new Promise((r) => setTimeout(r, 200));
    }
    loop.disable();
    results['backlog_events'] = backlog;
    results['backlog_intake_seconds'] = round((performance.now() - t0) / 1000, 1);
    results['backlog_event_loop_p99_ms'] = round(loop.percentile(99) / 1e6, 1);
    receiver.up = true;
    const drainStart = performance.now();
    const before = receiver.count;
    const held = unwrap(await t.api['subscriptions.list']())[0]!.heldCount;
    unwrap(await t.api['subscriptions.setEnabled'](subscription.id, true, 'deliver'));
    await receiver.waitFor(before + held, 600_000);
    const drainSeconds = (performance.now() - drainStart) / 1000;
    clearInterval(sampler);
    results['backlog_rss_growth_mb'] = mb(rssPeak - rssBefore);
    results['backlog_drain_seconds'] = round(drainSeconds, 1);
    results['backlog_drain_dps'] = round(held / drainSeconds, 0);
    results['backlog_drain_ratio_to_throughput'] = round(held / drainSeconds / one, 3);
    await t.cleanup();
    t = null;

    // 6. Start with 500 subscriptions.
    t = await startTestEngine({ server: nats });
    for (let i = 0; i < 500; i++)
      unwrap(await t.api['subscriptions.create']({ name: `s${i}`, url: receiver.url, patterns: [`attacker.${i}.>`, 'canary.*.triggered'] }));
    const dbPath = t.dbPath;
    await t.engine.stop();
    const startAt = performance.now();
    const restarted = await startTestEngine({ server: nats, dbPath });
    results['start_500_subs_ms'] = round(performance.now() - startAt, 0);
    t = restarted;
    await t.cleanup();
    t = null;

    // 5. The console under a flood of deliveries.
    if (process.env['BENCH_CONSOLE'] !== '0') results['console'] = await consoleUnderFlood(nats, receiver);
  } finally {
    await t?.cleanup();
    await receiver.close();
    await nats.cleanup();
  }
  mkdirSync(OUT_DIR, { recursive: true });
  writeFileSync(join(OUT_DIR, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  console.log(table(results));
});

async function consoleUnderFlood(nats: NatsServer, receiver: LeanReceiver) {
  const t = await startTestEngine({ server: nats, settings: { concurrency: CONCURRENCY } });
  const browser = await launchChromium();
  try {
    unwrap(await t.api['subscriptions.create']({ name: 'flood', url: receiver.url, patterns: ['attacker.>'] }));
    await t.engine.busReady();
    const c = await openConsole(browser, t);
    const cdp = await c.page.context().newCDPSession(c.page);
    await cdp.send('Performance.enable');
    await c.page.evaluate(`(() => {
      window.__frames = []; window.__long = [];
      let last = performance.now();
      const tick = (now) => { window.__frames.push(now - last); last = now; requestAnimationFrame(tick); };
      requestAnimationFrame(tick);
      new PerformanceObserver((list) => { for (const e of list.getEntries()) window.__long.push(e.duration); }).observe({ entryTypes: ['longtask'] });
    })()`);
    const heap = async (): Promise<number> => {
      const m = (await cdp.send('Performance.getMetrics')) as { metrics: { name: string; value: number }[] };
      return m.metrics.find((x) => x.name === 'JSHeapUsedSize')?.value ?? 0;
    };
    const heapBefore = await heap();
    const rate = 2000;
    const seconds = Number(process.env['BENCH_CONSOLE_SECONDS'] ?? '20');
    const visibility: number[] = [];
    const total = rate * seconds;
    const t0 = performance.now();
    for (let i = 0; i < total; i++) {
      const due = t0 + (i / rate) * 1000;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      t.publisher.publish('attacker.observed', envelope(`cf-${i}`));
      // Every second, time how long a fresh delivery takes to show as the top row.
      if (i % rate === rate - 1) {
        const id = `cf-${i}`;
        const sentAt = performance.now();
        void c.page
          .waitForSelector(`[data-testid="delivery-row"][data-event-id="${id}"]`, { timeout: 10_000 })
          .then(() => visibility.push(performance.now() - sentAt))
          .catch(() => visibility.push(Number.POSITIVE_INFINITY));
      }
    }
    await t.publisher.flush();
    await new Promise((r) => setTimeout(r, 1500));
    const heapAfter = await heap();
    const { frames, long } = (await c.page.evaluate('({ frames: window.__frames, long: window.__long })')) as { frames: number[]; long: number[] };
    const sortedFrames = [...frames].sort((a, b) => a - b);
    await c.close();
    return {
      seconds,
      rate,
      frame_p95_ms: round(sortedFrames[Math.floor(sortedFrames.length * 0.95)] ?? NaN, 1),
      long_tasks: long.length,
      longest_task_ms: round(Math.max(0, ...long), 0),
      visible_p50_ms: stats(visibility).p50,
      visible_max_ms: stats(visibility).max,
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
