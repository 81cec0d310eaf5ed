/**
 * `npm run demo` as a user runs it: the built entry (`out/main/demo.js`) as a child
 * process with its own nats-server, receivers, engine and web host. The test reads what
 * it prints and asks the running engine through the web host's JSON-RPC, as the console
 * does; it checks the signatures itself with the secrets the demo printed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { DeliveryDetail, DeliveryView, SubscriptionView } from '../../src-main/contract/views';
import { DemoGenerator } from '../../src-main/demo/generator';
import { seedFrom } from '../../src-main/demo/random';
import { matchesPattern } from '../../src-main/match/pattern';

const DEMO = join(__dirname, '../../out/main/demo.js');
const SIEM = 'SIEM (healthy)';
const SOAR = 'SOAR (flaky)';

// ----- the demo process --------------------------------------------------------------

interface DemoProcess {
  child: ChildProcess;
  stdout: string[];
  stderr: string[];
  /** Resolves with the first stdout line (seen before or after the call) that matches. */
  line(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const started: { demo: DemoProcess; natsPid?: number; dir?: string }[] = [];

function startDemo(args: string[], env: NodeJS.ProcessEnv = {}): DemoProcess {
  const child = spawn(process.execPath, [DEMO, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const stdout: string[] = [];
  const stderr: string[] = [];
  const waiters = new Set<() => void>();
  const collect = (into: string[]) => {
    let buffered = '';
    return (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      into.push(...lines);
      for (const w of [...waiters]) w();
    };
  };
  child.stdout!.on('data', collect(stdout));
  child.stderr!.on('data', collect(stderr));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      resolve({ code, signal });
      for (const w of [...waiters]) w();
    }),
  );
  const demo: DemoProcess = {
    child,
    stdout,
    stderr,
    exited,
    line(re, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          for (const l of stdout) {
            const m = re.exec(l);
            if (m) return done(() => resolve(m));
          }
          if (child.exitCode !== null || child.signalCode !== null)
            done(() => reject(new Error(`demo exited without printing ${re}:\n${stdout.join('\n')}\n${stderr.join('\n')}`)));
        };
        const timer = setTimeout(() => done(() => reject(new Error(`no line ${re} within ${timeoutMs} ms:\n${stdout.join('\n')}\n${stderr.join('\n')}`))), timeoutMs);
        const done = (settle: () => void): void => {
          clearTimeout(timer);
          waiters.delete(check);
          settle();
        };
        waiters.add(check);
        check();
      });
    },
  };
  started.push({ demo });
  return demo;
}

interface Banner {
  url: string;
  natsPid: number;
  dir: string;
  siemSecret: string;
  soarSecret: string;
}

async function banner(demo: DemoProcess): Promise<Banner> {
  const url = (await demo.line(/Sluice console: (http:\/\/127\.0\.0\.1:\d+\/#token=\S+)/))[1]!;
  await demo.line(/publishing events/);
  const text = demo.stdout.join('\n');
  const natsPid = Number(/nats-server \(pid (\d+)\)/.exec(text)![1]);
  const dir = /Temporary dir\s+(\S+)/.exec(text)![1]!;
  const secrets = [...text.matchAll(/secret \(this run only\): (\S+)/g)].map((m) => m[1]!);
  const entry = started.find((s) => s.demo === demo)!;
  entry.natsPid = natsPid;
  entry.dir = dir;
  return { url, natsPid, dir, siemSecret: secrets[0]!, soarSecret: secrets[1]! };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

afterEach(async () => {
  // Only when a test failed midway: nothing of a demo may outlive the test.
  for (const { demo, natsPid, dir } of started.splice(0)) {
    if (demo.child.exitCode === null && demo.child.signalCode === null) {
      demo.child.kill('SIGKILL');
      await demo.exited;
    }
    if (natsPid !== undefined && alive(natsPid)) process.kill(natsPid, 'SIGKILL');
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  }
});

// ----- the console's JSON-RPC, as the page speaks it ---------------------------------

interface Rpc {
  call<T>(method: string, ...params: unknown[]): Promise<T>;
  /** Resolves once `check` holds, testing it now and at each notification of `event`. */
  until(event: string, check: () => Promise<boolean>, timeoutMs?: number): Promise<void>;
  close(): void;
}

async function connectRpc(consoleUrl: string): Promise<Rpc> {
  const url = new URL(consoleUrl);
  const token = decodeURIComponent(url.hash.replace(/^#token=/, ''));
  const ws = new WebSocket(`ws://${url.host}/rpc?token=${encodeURIComponent(token)}`, { origin: url.origin });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let nextId = 1;
  const pending = new Map<number, (result: { ok: boolean; value?: unknown; error?: unknown }) => void>();
  const listeners = new Set<(method: string) => void>();
  ws.on('message', (data) => {
    const msg = JSON.parse(String(data)) as { id?: number; method?: string; result?: { ok: boolean; value?: unknown; error?: unknown } };
    if (msg.id !== undefined && msg.result) pending.get(msg.id)?.(msg.result);
    else if (msg.method) for (const l of [...listeners]) l(msg.method);
  });
  const rpc: Rpc = {
    call<T>(method: string, ...params: unknown[]) {
      const id = nextId++;
      return new Promise<T>((resolve, reject) => {
        pending.set(id, (result) => {
          pending.delete(id);
          if (result.ok) resolve(result.value as T);
          else reject(new Error(`${method}: ${JSON.stringify(result.error)}`));
        });
        ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
      });
    },
    async until(event, check, timeoutMs = 30_000) {
      if (await check()) return;
      await new Promise<void>((resolve, reject) => {
        let busy = false;
        const listener = (method: string): void => {
          if (method !== event || busy) return;
          busy = true;
          check().then(
            (ok) => {
              busy = false;
              if (ok) finish();
            },
            (error: unknown) => finish(error as Error),
          );
        };
        const timer = setTimeout(() => finish(new Error(`condition not met within ${timeoutMs} ms of ${event} notifications`)), timeoutMs);
        const finish = (error?: Error): void => {
          clearTimeout(timer);
          listeners.delete(listener);
          if (error) reject(error);
          else resolve();
        };
        listeners.add(listener);
      });
    },
    close: () => ws.close(),
  };
  return rpc;
}

const header = (headers: Record<string, string> | null, name: string): string | undefined =>
  Object.entries(headers ?? {}).find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];

// ----- the tests ---------------------------------------------------------------------

describe('npm run demo', () => {
  it('delivers signed events to the healthy receiver, trips the flaky subscription within the first minute, and Ctrl-C leaves nothing behind', async () => {
    const spawnedAt = Date.now();
    const demo = startDemo(['--no-open', '--seed', '7']);
    const b = await banner(demo);
    expect(alive(b.natsPid)).toBe(true);
    expect(existsSync(join(b.dir, 'sluice-demo.db'))).toBe(true);
    expect(b.siemSecret).not.toBe(b.soarSecret);

    const rpc = await connectRpc(b.url);
    const subs = await rpc.call<SubscriptionView[]>('subscriptions.list');
    const siem = subs.find((s) => s.name === SIEM)!;
    const soar = subs.find((s) => s.name === SOAR)!;
    expect(siem.patterns).toEqual(['attacker.>', 'canary.*.triggered']);
    expect(soar.patterns).toEqual(['decky.*.state', 'decky.*.traffic', 'system.>', 'canary.>', 'ttp.>', 'credential.>']);

    // The flaky receiver answers 503 from the start: its subscription trips.
    let tripped: SubscriptionView | undefined;
    await rpc.until('subscriptions.changed', async () => {
      tripped = (await rpc.call<SubscriptionView[]>('subscriptions.list')).find((s) => s.name === SOAR && s.state === 'tripped');
      return tripped !== undefined;
    }, 60_000);
    const tripAfterMs = Date.parse(tripped!.autoDisabledAt!) - spawnedAt;
    expect(tripAfterMs).toBeLessThan(60_000);
    expect(tripped!.enabled).toBe(false);
    expect(tripped!.lastError).toMatch(/503/);
    await demo.line(/"SOAR \(flaky\)" TRIPPED after 5 consecutive failed deliveries/);
    const dead = await rpc.call<DeliveryView[]>('deliveries.list', { subscriptionId: soar.id, outcome: 'dead', limit: 50 });
    expect(dead.length).toBeGreaterThanOrEqual(5);
    expect(dead.every((d) => d.statusCode === 503 || d.error !== null)).toBe(true);

    // The healthy receiver got its deliveries, and they verify with the printed secret.
    let delivered: DeliveryView[] = [];
    await rpc.until('deliveries.appended', async () => {
      delivered = await rpc.call<DeliveryView[]>('deliveries.list', { subscriptionId: siem.id, outcome: 'delivered', limit: 12 });
      return delivered.length >= 12;
    });
    // The events are the seeded generator's: the same seed gives the same event ids.
    const generated = new Map(new DemoGenerator({ seed: seedFrom('7'), startMs: 0 }).until(120_000).map((e) => [e.envelope.id, e.subject]));
    for (const d of delivered) {
      const detail = await rpc.call<DeliveryDetail>('deliveries.get', d.id);
      const body = Buffer.from(detail.requestBody!, 'utf8');
      const expected = `sha256=${createHmac('sha256', b.siemSecret).update(body).digest('hex')}`;
      expect(header(detail.requestHeaders, 'X-DECNET-Signature')).toBe(expected);
      expect(detail.statusCode).toBe(200);
      expect(JSON.parse(detail.responseExcerpt!)).toMatchObject({ accepted: true, signature: 'valid', event_id: d.eventId });
      const event = JSON.parse(detail.requestBody!) as { id: string; topic: string; v: number };
      expect(event.v).toBe(1);
      expect(generated.get(event.id)).toBe(event.topic);
      expect(matchesPattern('attacker.>', event.topic) || matchesPattern('canary.*.triggered', event.topic)).toBe(true);
    }
    rpc.close();

    // Ctrl-C: a clean stop, the bus process gone, the temporary folder removed.
    demo.child.kill('SIGINT');
    expect(await demo.exited).toEqual({ code: 0, signal: null });
    expect(alive(b.natsPid)).toBe(false);
    expect(existsSync(b.dir)).toBe(false);
    expect(demo.stdout.join('\n')).toMatch(/summary: .*SIEM \(healthy\) ACTIVE: [1-9]\d* delivered, 0 failed/);
    expect(demo.stdout.join('\n')).toMatch(/signatures verified by the SIEM: [1-9]\d* ·/);
    expect(demo.stdout.join('\n')).not.toMatch(/BAD/);
    expect(demo.stderr.join('\n')).toBe('');
  }, 90_000);

  it('says how to install nats-server when it is missing, and starts nothing', async () => {
    const demo = startDemo(['--no-open'], { NATS_SERVER_BIN: join(__dirname, 'no-such-dir/nats-server') });
    const { code } = await demo.exited;
    expect(code).toBe(3);
    const message = demo.stderr.join('\n');
    expect(message).toContain('NATS_SERVER_BIN is set to');
    expect(message).toContain('sudo apt install nats-server');
    expect(message).toContain('brew install nats-server');
    expect(message).toContain('https://github.com/nats-io/nats-server/releases');
    expect(demo.stdout.join('')).toBe('');
  });

  it('refuses bad options with exit 2', async () => {
    const demo = startDemo(['--port', 'eighty']);
    expect((await demo.exited).code).toBe(2);
    expect(demo.stderr.join('\n')).toMatch(/--port: "eighty" is not a port number/);
  });
});
