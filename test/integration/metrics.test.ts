/**
 * The Prometheus metrics end to end (`--metrics HOST:PORT`): a real engine, a real
 * nats-server and real receivers, scraped over real HTTP, the page read by a strict
 * reader of the text exposition format
 * (https://prometheus.io/docs/instrumenting/exposition_formats/, test/harness/prometheus.ts)
 * and its counters compared with the requests the receivers actually got. Then the
 * endpoint's own rules (loopback only, Host, paths, a taken port) and the flag on the
 * built `sluice run` and `npm run serve`.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { MetricsServerError, startMetricsServer, type MetricsServer } from '../../src-main/engine/metrics-server';
import { envelope, startTestEngine, unwrap, type TestEngine } from '../harness/engine';
import { startNatsServer, type NatsServer } from '../harness/nats-server';
import { parseExposition } from '../harness/prometheus';
import { startReceiver, status, type Receiver } from '../harness/receiver';

const CLI = fileURLToPath(new URL('../../out/main/cli.js', import.meta.url));
const SERVE = fileURLToPath(new URL('../../out/main/serve.js', import.meta.url));

interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A GET (or another method) over real HTTP, with the Host header given when asked. */
function get(url: string, options: { host?: string; method?: string } = {}): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: options.method ?? 'GET', headers: options.host ? { host: options.host } : {}, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function scrape(url: string) {
  const answer = await get(url);
  expect(answer.status).toBe(200);
  expect(answer.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
  return parseExposition(answer.body);
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('metrics of a running engine', () => {
  let t: TestEngine;
  let metrics: MetricsServer;
  let ok: Receiver;
  let failing: Receiver;

  it('counts the deliveries actually made, trips, holds, and says so on a valid page', async () => {
    metrics = await startMetricsServer({ host: '127.0.0.1', port: 0 });
    cleanups.push(() => metrics.close());
    t = await startTestEngine({ settings: { circuitThreshold: 3, retrySchedule: [] }, engine: { metrics } });
    cleanups.push(() => t.cleanup());
    ok = await startReceiver();
    failing = await startReceiver(status(500));
    cleanups.push(() => ok.close(), () => failing.close());
    const good = unwrap(await t.api['subscriptions.create']({ name: 'splunk-prod', url: ok.url, patterns: ['attacker.>'] })).subscription;
    const bad = unwrap(await t.api['subscriptions.create']({ name: 'broken "one"', url: failing.url, patterns: ['attacker.>'] })).subscription;
    await t.engine.busReady();

    // Before any event: every subscription has its gauges, no delivery is counted yet.
    let page = await scrape(metrics.url);
    expect(page.value('sluice_bus_connected')).toBe(1);
    expect(page.value('sluice_subscription_tripped', { subscription: 'splunk-prod' })).toBe(0);
    expect(page.value('sluice_subscription_tripped', { subscription: 'broken "one"' })).toBe(0);
    expect(page.samples('sluice_deliveries_total')).toEqual([]);

    // Three events: delivered to one, failed (dead after its one attempt) to the other, which trips.
    for (let i = 0; i < 3; i++) await t.publish('attacker.observed', envelope('x', { i }, `evt-${i}`));
    await t.waitForRecord((r) => r.kind === 'breaker' && r.tripped && r.subscriptionId === bad.id);
    // Two more: delivered to one, held for the tripped one.
    for (let i = 3; i < 5; i++) await t.publish('attacker.observed', envelope('x', { i }, `evt-${i}`));
    await t.waitForFinal(5, (d) => d.subscriptionId === good.id);
    await t.waitForDelivery((d) => d.eventId === 'evt-4' && d.subscriptionId === bad.id && d.outcome === 'held');

    page = await scrape(metrics.url);
    expect(ok.requests).toHaveLength(5);
    expect(failing.requests).toHaveLength(3);
    expect(page.value('sluice_deliveries_total', { subscription: 'splunk-prod', outcome: 'delivered' })).toBe(ok.requests.length);
    expect(page.value('sluice_deliveries_total', { subscription: 'broken "one"', outcome: 'dead' })).toBe(failing.requests.length);
    expect(page.samples('sluice_deliveries_total')).toHaveLength(2);
    expect(page.value('sluice_delivery_attempts_total', { subscription: 'splunk-prod', result: 'success' })).toBe(ok.requests.length);
    expect(page.value('sluice_delivery_attempts_total', { subscription: 'broken "one"', result: 'error_response' })).toBe(failing.requests.length);
    expect(page.value('sluice_delivery_latency_seconds_count', { subscription: 'splunk-prod' })).toBe(5);
    expect(page.value('sluice_delivery_latency_seconds_bucket', { subscription: 'splunk-prod', le: '+Inf' })).toBe(5);
    expect(page.value('sluice_subscription_tripped', { subscription: 'broken "one"' })).toBe(1);
    expect(page.value('sluice_subscription_tripped', { subscription: 'splunk-prod' })).toBe(0);
    expect(page.value('sluice_subscription_held', { subscription: 'broken "one"' })).toBe(2);
    expect(page.value('sluice_subscription_dead_letters', { subscription: 'broken "one"' })).toBe(3);
    expect(page.value('sluice_bus_messages_total')).toBe(5);
    expect(page.value('sluice_bus_messages_rejected_total')).toBe(0);
    expect(page.value('sluice_deliveries_in_flight')).toBe(0);
    expect(page.families.get('process_resident_memory_bytes')?.type).toBe('gauge');
    // Core NATS: no JetStream backlog to speak of, so no sample (not a 0 that reads "caught up").
    expect(page.samples('sluice_jetstream_pending')).toEqual([]);
    // Labels carry names and fixed words only: no URL, no receiver address, no error text.
    expect(JSON.stringify([...page.families.values()])).not.toMatch(/127\.0\.0\.1:\d+|http 500|hook/);

    // The analyst lets the held events go: counted once each, as discarded; the gauges follow.
    unwrap(await t.api['subscriptions.setEnabled'](bad.id, true, 'discard'));
    page = await scrape(metrics.url);
    expect(page.value('sluice_deliveries_total', { subscription: 'broken "one"', outcome: 'discarded' })).toBe(2);
    expect(page.value('sluice_subscription_tripped', { subscription: 'broken "one"' })).toBe(0);
    expect(page.value('sluice_subscription_held', { subscription: 'broken "one"' })).toBe(0);

    // A deleted subscription leaves the gauges; its counters stay (Prometheus counters never go back).
    unwrap(await t.api['subscriptions.remove'](good.id));
    page = await scrape(metrics.url);
    expect(page.samples('sluice_subscription_tripped').map((s) => s.labels['subscription'])).toEqual(['broken "one"']);
    expect(page.value('sluice_deliveries_total', { subscription: 'splunk-prod', outcome: 'delivered' })).toBe(5);

    // The endpoint stops with the engine.
    await t.engine.stop();
    await expect(get(metrics.url)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('in JetStream mode, says the durable\'s backlog as the server counts it', async () => {
    const nats = await startNatsServer();
    cleanups.push(() => nats.cleanup());
    const jsm = await jetstreamManager(await nats.client());
    await jsm.streams.add({ name: 'DECNET', subjects: ['attacker.>'] });
    metrics = await startMetricsServer({ host: '127.0.0.1', port: 0 });
    cleanups.push(() => metrics.close());
    t = await startTestEngine({ server: nats, settings: { jetstreamStream: 'DECNET' }, engine: { metrics } });
    cleanups.push(() => t.cleanup());
    if (t.engine.status().jetstream?.state !== 'consuming') await t.waitForRecord((r) => r.kind === 'jetstream' && r.status.state === 'consuming');
    ok = await startReceiver();
    cleanups.push(() => ok.close());
    unwrap(await t.api['subscriptions.create']({ name: 'siem', url: ok.url, patterns: ['attacker.>'] }));
    const js = jetstream(await nats.client());
    for (let i = 0; i < 3; i++) await js.publish('attacker.observed', new TextEncoder().encode(JSON.stringify(envelope('x', { i }))));
    await ok.waitForRequests(3);
    // Every message delivered and acknowledged, as the server says: the page says the same.
    const durable = t.engine.status().jetstream?.durable as string;
    await vi.waitFor(async () => expect(await jsm.consumers.info('DECNET', durable)).toMatchObject({ num_pending: 0, num_ack_pending: 0, delivered: { stream_seq: 3 } }));
    const page = await scrape(metrics.url);
    expect(page.value('sluice_jetstream_pending', { stream: 'DECNET' })).toBe(0);
    expect(page.value('sluice_jetstream_ack_pending', { stream: 'DECNET' })).toBe(0);
    expect(page.value('sluice_bus_messages_total')).toBe(3);
  });

  it('refuses what is not a scrape of /metrics from this machine', async () => {
    metrics = await startMetricsServer({ host: '127.0.0.1', port: 0 });
    cleanups.push(() => metrics.close());
    // Listening, no engine yet: a clear 503, not a hang.
    expect((await get(metrics.url)).status).toBe(503);
    t = await startTestEngine({ engine: { metrics } });
    cleanups.push(() => t.cleanup());
    const port = metrics.address.port;
    expect((await get(metrics.url, { host: `localhost:${port}` })).status).toBe(200);
    expect((await get(metrics.url, { host: `[::1]:${port}` })).status).toBe(200);
    // A DNS-rebound name in a browser: refused.
    const rebound = await get(metrics.url, { host: `attacker.example:${port}` });
    expect(rebound.status).toBe(421);
    expect(rebound.body).not.toContain('sluice_');
    expect((await get(`http://127.0.0.1:${port}/`)).status).toBe(404);
    expect((await get(`http://127.0.0.1:${port}/metrics/../rpc`)).status).toBe(404);
    expect((await get(`http://127.0.0.1:${port}/metrics?x=1`)).status).toBe(200);
    const post = await get(metrics.url, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers['allow']).toBe('GET, HEAD');
    const head = await get(metrics.url, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
  });

  it('says clearly when the port is taken, or the address is not loopback', async () => {
    const taken = await startMetricsServer({ host: '127.0.0.1', port: 0 });
    cleanups.push(() => taken.close());
    const port = taken.address.port;
    await expect(startMetricsServer({ host: '127.0.0.1', port })).rejects.toThrow(
      new MetricsServerError(`127.0.0.1:${port} is already in use (another Sluice, or another exporter?); choose another port, or port 0 for any free one`),
    );
    await expect(startMetricsServer({ host: '0.0.0.0', port: 0 })).rejects.toThrow(/0\.0\.0\.0 is not a loopback address: the metrics endpoint has no authentication/);
  });
});

describe('--metrics on the built entry points', () => {
  let dir: string;

  beforeAll(() => {
    for (const file of [CLI, SERVE]) if (!existsSync(file)) throw new Error(`${file} is missing: run npm run build first`);
  });

  const tempDir = async (): Promise<string> => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-metrics-'));
    const made = dir;
    cleanups.push(() => rm(made, { recursive: true, force: true }));
    return made;
  };

  /** Runs to its end: exit code, stdout, stderr. */
  const runToEnd = (file: string, args: string[], cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      const child = spawn(process.execPath, [file, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      child.once('exit', (code) => resolve({ code, stdout, stderr }));
    });

  it.each([
    ['0.0.0.0:9464', 'sluice: run: --metrics: "0.0.0.0:9464" is not a loopback address: the metrics endpoint has no authentication, so it listens on a loopback address only: 127.0.0.0/8, ::1 or localhost\n'],
    ['localhost', 'sluice: run: --metrics: "localhost" is not HOST:PORT, e.g. 127.0.0.1:9464\n'],
    ['::1:9464', 'sluice: run: --metrics: "::1:9464" is not HOST:PORT: write an IPv6 address in brackets, e.g. [::1]:9464\n'],
    ['127.0.0.1:70000', 'sluice: run: --metrics: "127.0.0.1:70000" has no valid port: give 0–65535 after the colon (0 picks a free port)\n'],
  ])('sluice run --metrics %s: exit 2, the flag named, nothing made', async (value, message) => {
    const cwd = await tempDir();
    const result = await runToEnd(CLI, ['run', '--db', 'run.db', '--metrics', value], cwd);
    expect(result).toEqual({ code: 2, stdout: '', stderr: message });
    expect(await readdir(cwd)).toEqual([]);
  });

  it('sluice run --metrics without its value, or beside another problem: every problem at once', async () => {
    const cwd = await tempDir();
    const missing = await runToEnd(CLI, ['run', '--db', 'run.db', '--metrics'], cwd);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe('sluice: run: --metrics: missing value (see sluice --help)\n');
    const two = await runToEnd(CLI, ['run', '--db', 'run.db', '--metrics', '10.0.0.1:9464', '--nats', 'nope'], cwd);
    expect(two.code).toBe(2);
    expect(two.stderr).toContain('sluice: run: 2 problems:\n  --nats: "nope" is not a URL\n  --metrics: "10.0.0.1:9464" is not a loopback address');
  });

  it('sluice run --metrics on a taken port: exit 2, said plainly (no stack), the database untouched', async () => {
    const cwd = await tempDir();
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => blocker.close(resolve)));
    const port = (blocker.address() as AddressInfo).port;
    const result = await runToEnd(CLI, ['run', '--db', 'run.db', '--nats', 'ws://127.0.0.1:1', '--metrics', `127.0.0.1:${port}`], cwd);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      `sluice: --metrics: 127.0.0.1:${port} is already in use (another Sluice, or another exporter?); choose another port, or port 0 for any free one\n`,
    );
    expect(result.stdout).toBe('');
    expect(await readdir(cwd)).toEqual([]);
  });

  /** A preload that says on stderr when prom-client is loaded: a run without --metrics must never load it. */
  const watchLoads = async (cwd: string): Promise<string> => {
    const hook = join(cwd, 'watch-loads.cjs');
    await writeFile(
      hook,
      `const Module = require('node:module');
const load = Module._load;
Module._load = function (request, ...rest) {
  if (request === 'prom-client') process.stderr.write('LOADED prom-client\\n');
  return load.call(this, request, ...rest);
};
`,
    );
    return hook;
  };

  it('sluice run without --metrics never loads prom-client', async () => {
    const cwd = await tempDir();
    const hook = await watchLoads(cwd);
    const child = spawn(process.execPath, ['--require', hook, CLI, 'run', '--db', 'run.db', '--nats', 'ws://127.0.0.1:1'], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    cleanups.push(async () => {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    });
    let stderr = '';
    await new Promise<void>((resolve) =>
      child.stderr.on('data', (c: Buffer) => {
        stderr += c.toString();
        if (stderr.includes('Ctrl-C to stop')) resolve();
      }),
    );
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stderr).not.toContain('LOADED prom-client');
    expect(stderr).not.toContain('Prometheus');
  });

  it('sluice run --metrics 127.0.0.1:0 serves while it runs and stops with it', async () => {
    const cwd = await tempDir();
    const hook = await watchLoads(cwd);
    const nats: NatsServer = await startNatsServer();
    cleanups.push(() => nats.cleanup());
    const child = spawn(process.execPath, ['--require', hook, CLI, 'run', '--db', 'run.db', '--nats', nats.wsUrl, '--metrics', '127.0.0.1:0'], {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    cleanups.push(async () => {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const lines: Record<string, unknown>[] = [];
    let buffered = '';
    const connected = new Promise<void>((resolve) => {
      child.stdout.on('data', (c: Buffer) => {
        buffered += c.toString();
        const parts = buffered.split('\n');
        buffered = parts.pop() ?? '';
        for (const line of parts) {
          const record = JSON.parse(line) as Record<string, unknown>;
          lines.push(record);
          if (record['kind'] === 'bus' && record['state'] === 'connected') resolve();
        }
      });
    });
    await connected;
    const start = lines.find((l) => l['kind'] === 'start');
    const url = start?.['metrics'];
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    expect(stderr).toContain(`sluice: Prometheus metrics at ${url as string} (this machine only)\n`);
    expect(stderr).toContain('LOADED prom-client');
    const page = await scrape(url as string);
    expect(page.value('sluice_bus_connected')).toBe(1);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    await expect(get(url as string)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('npm run serve -- --metrics 127.0.0.1:0 serves beside the console and stops with it', async () => {
    const cwd = await tempDir();
    const nats: NatsServer = await startNatsServer();
    cleanups.push(() => nats.cleanup());
    const child = spawn(process.execPath, [SERVE, '--db', 'serve.db', '--port', '0', '--nats', nats.wsUrl, '--metrics', '127.0.0.1:0'], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    cleanups.push(async () => {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    });
    let stderr = '';
    const url = await new Promise<string>((resolve) =>
      child.stderr.on('data', (c: Buffer) => {
        stderr += c.toString();
        const found = /sluice serve: Prometheus metrics at (\S+) \(this machine only\)/.exec(stderr);
        if (found && stderr.includes('Ctrl-C to stop')) resolve(found[1] as string);
      }),
    );
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    await vi.waitFor(async () => expect((await scrape(url)).value('sluice_bus_connected')).toBe(1));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    await expect(get(url)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('npm run serve -- --metrics: a bad value exits 2 naming the flag; --help says it', async () => {
    const cwd = await tempDir();
    const bad = await runToEnd(SERVE, ['--db', 'serve.db', '--metrics', '0.0.0.0:9464'], cwd);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe(
      'sluice serve: --metrics: "0.0.0.0:9464" is not a loopback address: the metrics endpoint has no authentication, so it listens on a loopback address only: 127.0.0.0/8, ::1 or localhost\n(see --help)\n',
    );
    expect(await readdir(cwd)).toEqual([]);
    const help = await runToEnd(SERVE, ['--help'], cwd);
    expect(help.stdout).toContain('--metrics HOST:PORT');
    const cliHelp = await runToEnd(CLI, ['--help'], cwd);
    expect(cliHelp.stdout).toContain('run [--nats URL] [--allow-private] [--metrics HOST:PORT]');
  });
});
