/**
 * Bus mistakes diagnosed (docs/design.md#bus-connection), against real parts: a real
 * nats-server (its plain client port, its WebSocket listener, one with TLS, one that
 * wants a token), a port nobody listens on, and a real HTTP server that is not NATS.
 * nats-core calls all of these "connection refused"; the bus status must say which
 * mistake it is, and its fix. `sluice run` carries the same text in its JSON lines.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NatsBus, type BusOptions } from '../../src-main/bus/nats-bus';
import { freePort } from '../../src-main/bus/nats-server-process';
import type { BusStatus } from '../../src-main/contract/views';
import { startNatsServer, type NatsServer } from '../harness/nats-server';
import { makeTestPki, startTlsNatsServer, type TestPki, type TlsNatsServer } from '../harness/tls';

const CLI = join(__dirname, '../../out/main/cli.js');

let plain: NatsServer;
let pki: TestPki;
let tlsServer: TlsNatsServer;
const buses: NatsBus[] = [];
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  plain = await startNatsServer();
  pki = await makeTestPki();
  tlsServer = await startTlsNatsServer(pki);
});

afterAll(async () => {
  await tlsServer?.stop();
  await pki?.cleanup();
  await plain?.cleanup();
});

afterEach(async () => {
  await Promise.all(buses.splice(0).map((bus) => bus.close()));
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A bus on `servers`, started; resolves with its first status that reports a failed dial (and passes `test`). */
async function firstFailure(options: BusOptions, test: (status: BusStatus) => boolean = () => true): Promise<BusStatus> {
  const bus = new NatsBus({ onError: () => undefined, ...options });
  buses.push(bus);
  const failed = new Promise<BusStatus>((resolve) => {
    bus.onStatus((status) => {
      if (status.attempt >= 1 && status.lastError && test(status)) resolve(status);
    });
  });
  bus.start();
  return failed;
}

async function httpServer(status: number, body: string): Promise<string> {
  const server: Server = createServer((_req, res) => {
    res.writeHead(status, { 'Content-Type': 'text/plain' });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  server.closeIdleConnections();
  return `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('a bus URL that reaches no NATS WebSocket listener', () => {
  it('the plain NATS client port: it answered, with NATS; point at the websocket listen port', async () => {
    const url = `ws://127.0.0.1:${plain.port}`;
    const status = await firstFailure({ servers: [url] });
    expect(status.state).toBe('connecting');
    expect(status.lastError).toContain(`${url}: 127.0.0.1:${plain.port} answers with the NATS client protocol`);
    expect(status.lastError).toContain("plain client port, not its WebSocket listener");
    expect(status.lastError).toContain("`websocket { listen: … }` block (9222 in the README's nats.conf)");
    expect(status.lastError).not.toContain('connection refused');
  });

  it('a port nobody listens on: nothing there; the websocket block, the README nats.conf, npm run demo', async () => {
    const port = await freePort();
    const url = `ws://127.0.0.1:${port}`;
    const status = await firstFailure({ servers: [url] });
    expect(status.lastError).toContain(`${url}: nothing is listening at 127.0.0.1:${port} (connection refused)`);
    expect(status.lastError).toContain(`\`websocket { listen: "127.0.0.1:${port}", no_tls: true }\``);
    expect(status.lastError).toContain("README's nats.conf");
    expect(status.lastError).toContain('npm run demo');
  });

  it('an HTTP server that is not NATS: names its answer and the listener to use', async () => {
    const url = await httpServer(404, 'no such page');
    const status = await firstFailure({ servers: [url] });
    expect(status.lastError).toContain(`${url}: an HTTP server answered at ${url.slice(5)} (HTTP 404) but it is not a NATS WebSocket listener`);
    expect(status.lastError).toContain("9222 in the README's nats.conf");
  });

  it('wss:// at a WebSocket listener without TLS: use ws://', async () => {
    const url = `wss://127.0.0.1:${plain.wsPort}`;
    const status = await firstFailure({ servers: [url] });
    expect(status.lastError).toContain(`TLS: ${url}: the server at 127.0.0.1:${plain.wsPort} does not speak TLS`);
    expect(status.lastError).toContain(`Use ws://127.0.0.1:${plain.wsPort}`);
  });

  it('ws:// at a WebSocket listener with TLS: use wss://', async () => {
    const port = new URL(tlsServer.wsUrl).port;
    const url = `ws://127.0.0.1:${port}`;
    const status = await firstFailure({ servers: [url] });
    expect(status.lastError).toContain(`TLS: ${url}: the listener at 127.0.0.1:${port} expects TLS`);
    expect(status.lastError).toContain(`use wss://127.0.0.1:${port}, with natsCaFile if a private CA signed its certificate`);
  });

  it('several URLs: each one named with its own diagnosis', async () => {
    const closed = `ws://127.0.0.1:${await freePort()}`;
    const natsPort = `ws://127.0.0.1:${plain.port}`;
    // A dial tries one server; once each was tried, the status names both, in the configured order.
    const status = await firstFailure({ servers: [closed, natsPort] }, (s) => (s.lastError ?? '').includes(' | '));
    expect(status.lastError?.indexOf(closed)).toBe(0);
    expect(status.lastError).toContain(`${closed}: nothing is listening`);
    expect(status.lastError).toContain(`${natsPort}: 127.0.0.1:${plain.port} answers with the NATS client protocol`);
  });
});

describe('a server that refuses the credentials', () => {
  let guarded: NatsServer;
  beforeAll(async () => {
    guarded = await startNatsServer({ token: 'the-right-token' });
  });
  afterAll(async () => {
    await guarded?.cleanup();
  });

  it('a wrong token: auth_failed, naming natsToken and the other ways to authenticate', async () => {
    const status = await firstFailure({ servers: [guarded.wsUrl], token: 'a-wrong-token' });
    expect(status.state).toBe('auth_failed');
    expect(status.lastError).toBe(
      "the bus server refused the token (natsToken) (Authorization Violation): set natsToken, or natsUser and natsPassword, or natsCredsFile to what the server's authorization block expects",
    );
    expect(status.lastError).not.toContain('a-wrong-token');
  });

  it('no credentials: the server requires some, none is configured', async () => {
    const status = await firstFailure({ servers: [guarded.wsUrl] });
    expect(status.state).toBe('auth_failed');
    expect(status.lastError).toContain('the bus server requires authentication (Authorization Violation) and none is configured');
  });
});

describe('the CLI', () => {
  it('sluice publish says why the bus is not reachable', async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);
    const dir = await mkdtemp(join(tmpdir(), 'sluice-busdiag-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const port = await freePort();
    // publish reads the bus settings from the database: one must exist (settings set makes it).
    const setup = spawn(process.execPath, [CLI, 'settings', 'set', 'allowPrivate', 'false', '--db', join(dir, 'sluice.db'), '--nats', `ws://127.0.0.1:${port}`], {
      stdio: 'ignore',
    });
    expect(await new Promise<number | null>((resolve) => setup.once('exit', resolve))).toBe(0);
    const child = spawn(process.execPath, [CLI, 'publish', '--db', join(dir, 'sluice.db'), '--nats', `ws://127.0.0.1:${port}`, 'attacker.observed', '{}'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(1);
    expect(stderr).toContain(`sluice: bus not reachable at ws://127.0.0.1:${port}: ws://127.0.0.1:${port}: nothing is listening at 127.0.0.1:${port}`);
    expect(stderr).toContain('npm run demo');
  });


  it('prints the diagnosis in its bus JSON lines', async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);
    const dir = await mkdtemp(join(tmpdir(), 'sluice-busdiag-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const url = `ws://127.0.0.1:${plain.port}`;
    const child = spawn(process.execPath, [CLI, 'run', '--db', join(dir, 'sluice.db'), '--nats', url], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    cleanups.push(async () => {
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    });
    let out = '';
    const line = await new Promise<Record<string, unknown>>((resolve, reject) => {
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        out += chunk;
        for (const text of out.split('\n').slice(0, -1)) {
          const record = JSON.parse(text) as Record<string, unknown>;
          if (record['kind'] === 'bus' && typeof record['lastError'] === 'string') resolve(record);
        }
      });
      void exited.then((code) => reject(new Error(`sluice run exited ${code}; stdout:\n${out}`)));
    });
    expect(line['state']).toBe('connecting');
    expect(line['lastError']).toContain('answers with the NATS client protocol');
    expect(line['lastError']).toContain("9222 in the README's nats.conf");
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
