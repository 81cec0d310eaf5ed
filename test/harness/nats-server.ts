import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { wsconnect, type NatsConnection } from '@nats-io/nats-core';
import WebSocket from 'ws';

export interface NatsServerOptions {
  token?: string;
  user?: string;
  password?: string;
  maxPayload?: number;
}

export interface NatsServer {
  /** ws://127.0.0.1:<wsport> */
  wsUrl: string;
  port: number;
  wsPort: number;
  pid: number;
  /** SIGTERM, then wait for exit (SIGKILL after 5 s); frees the ports. */
  stop(): Promise<void>;
  /** Start the same config on the same ports again; resolves once it accepts connections. */
  restart(): Promise<void>;
  /** stop() + close test clients + remove the temp dir. */
  cleanup(): Promise<void>;
  /** A test-side connection over wsconnect (reconnects forever); closed by cleanup(). */
  client(): Promise<NatsConnection>;
}

// Debian installs it in /usr/sbin, which is not on every user's PATH.
const NATS_SERVER_CANDIDATES = ['/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server'];
const NATS_SERVER_BIN =
  process.env.NATS_SERVER_BIN ?? NATS_SERVER_CANDIDATES.find((path) => existsSync(path)) ?? 'nats-server';
const READY_TIMEOUT_MS = 15_000;
const KILL_AFTER_MS = 5_000;
const START_ATTEMPTS = 3;
const LOG_TAIL_LINES = 40;

// Node 20 has no global WebSocket; without one nats-core's wsconnect hangs silently.
(globalThis as { WebSocket?: unknown }).WebSocket ??= WebSocket;

const liveChildren = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of liveChildren) child.kill('SIGKILL');
});

export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-nats-'));
  let lastError: unknown;
  for (let i = 0; i < START_ATTEMPTS; i++) {
    // A free port can be taken by someone else between probing and binding: retry with new ones.
    const port = await findFreePort();
    const wsPort = await findFreePort();
    const configPath = join(dir, 'nats.conf');
    await writeFile(configPath, renderConfig(options, port, wsPort, join(dir, 'jetstream')));
    try {
      const child = await launch(configPath, wsPort);
      return new RunningNatsServer(options, dir, configPath, port, wsPort, child);
    } catch (err) {
      lastError = err;
    }
  }
  await rm(dir, { recursive: true, force: true });
  throw lastError;
}

class RunningNatsServer implements NatsServer {
  readonly wsUrl: string;
  private readonly clients = new Set<NatsConnection>();

  constructor(
    private readonly options: NatsServerOptions,
    private readonly dir: string,
    private readonly configPath: string,
    readonly port: number,
    readonly wsPort: number,
    private child: ChildProcess | null,
  ) {
    this.wsUrl = `ws://127.0.0.1:${wsPort}`;
  }

  get pid(): number {
    return this.child?.pid ?? -1;
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (child) await terminate(child);
  }

  async restart(): Promise<void> {
    await this.stop();
    this.child = await launch(this.configPath, this.wsPort);
  }

  async cleanup(): Promise<void> {
    const clients = [...this.clients];
    this.clients.clear();
    await Promise.allSettled(clients.map((nc) => nc.close()));
    await this.stop();
    await rm(this.dir, { recursive: true, force: true });
  }

  async client(): Promise<NatsConnection> {
    const nc = await wsconnect({
      servers: this.wsUrl,
      name: 'sluice-test-client',
      token: this.options.token,
      user: this.options.user,
      pass: this.options.password,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      waitOnFirstConnect: true,
    });
    this.clients.add(nc);
    return nc;
  }
}

function renderConfig(options: NatsServerOptions, port: number, wsPort: number, storeDir: string): string {
  const lines = [
    `listen: "127.0.0.1:${port}"`,
    `websocket {\n  listen: "127.0.0.1:${wsPort}"\n  no_tls: true\n}`,
    `jetstream {\n  store_dir: ${quote(storeDir)}\n}`,
  ];
  if (options.maxPayload !== undefined) lines.push(`max_payload: ${options.maxPayload}`);
  const auth = renderAuthorization(options);
  if (auth) lines.push(auth);
  return `${lines.join('\n')}\n`;
}

function renderAuthorization(options: NatsServerOptions): string | null {
  if (options.token !== undefined) return `authorization {\n  token: ${quote(options.token)}\n}`;
  if (options.user !== undefined) {
    return `authorization {\n  user: ${quote(options.user)}\n  password: ${quote(options.password ?? '')}\n}`;
  }
  return null;
}

function quote(value: string): string {
  return JSON.stringify(value);
}

function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Spawns nats-server and resolves once it logged "Server is ready" and the WebSocket port accepts. */
async function launch(configPath: string, wsPort: number): Promise<ChildProcess> {
  const child = spawn(NATS_SERVER_BIN, ['-c', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  try {
    await waitForReadyLine(child);
    await waitForTcp(wsPort);
    return child;
  } catch (err) {
    await terminate(child);
    throw err;
  }
}

function waitForReadyLine(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    const tail: string[] = [];
    let buffered = '';
    const finish = (err?: Error): void => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
      child.off('error', onError);
      // Keep draining so a chatty server never blocks on a full pipe.
      child.stdout?.resume();
      child.stderr?.resume();
      if (err) reject(err);
      else resolve();
    };
    const onData = (chunk: Buffer): void => {
      buffered += chunk.toString('utf8');
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        tail.push(line);
        if (tail.length > LOG_TAIL_LINES) tail.shift();
        if (line.includes('Server is ready')) finish();
      }
    };
    const onExit = (code: number | null, signal: string | null): void =>
      finish(new Error(`nats-server exited before ready (code ${code}, signal ${signal}):\n${tail.join('\n')}`));
    const onError = (err: Error): void => finish(err);
    const timer = setTimeout(
      () => finish(new Error(`nats-server not ready after ${READY_TIMEOUT_MS} ms:\n${tail.join('\n')}`)),
      READY_TIMEOUT_MS,
    );
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
    child.once('error', onError);
  });
}

async function waitForTcp(port: number): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let delayMs = 10;
  while (!(await canConnect(port))) {
    if (Date.now() > deadline) throw new Error(`port ${port} not accepting after ${READY_TIMEOUT_MS} ms`);
    await new Promise((r) => setTimeout(r, delayMs));
    delayMs = Math.min(delayMs * 2, 200);
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const killer = setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS);
    child.once('exit', () => {
      clearTimeout(killer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
