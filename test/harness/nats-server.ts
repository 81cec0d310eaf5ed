/**
 * A real nats-server per test file (JetStream on, in a temporary folder, unless asked
 * otherwise), started with the product's own nats-server process code; killed at exit if
 * a test left it running.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { wsconnect, type NatsConnection } from '@nats-io/nats-core';
import WebSocket from 'ws';
import { findNatsServer, killNow, launch, launchOnFreePorts, terminate } from '../../src-main/bus/nats-server-process';

export interface NatsServerOptions {
  token?: string;
  user?: string;
  password?: string;
  maxPayload?: number;
  /** False: a server without JetStream (to see what needs it refuse clearly). Default true. */
  jetstream?: boolean;
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

// Node 20 has no global WebSocket; without one nats-core's wsconnect hangs silently.
(globalThis as { WebSocket?: unknown }).WebSocket ??= WebSocket;

const liveChildren = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of liveChildren) killNow(child);
});

function track(child: ChildProcess): void {
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
}

export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  const bin = findNatsServer();
  const dir = await mkdtemp(join(tmpdir(), 'sluice-nats-'));
  const configPath = join(dir, 'nats.conf');
  try {
    const { jetstream, ...auth } = options;
    const { child, port, wsPort } = await launchOnFreePorts(
      bin,
      configPath,
      { ...auth, jetstreamDir: jetstream === false ? undefined : join(dir, 'jetstream') },
      { onSpawn: track },
    );
    return new RunningNatsServer(options, bin, dir, configPath, port, wsPort, child);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

class RunningNatsServer implements NatsServer {
  readonly wsUrl: string;
  private readonly clients = new Set<NatsConnection>();

  constructor(
    private readonly options: NatsServerOptions,
    private readonly bin: string,
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
    this.child = await launch(this.bin, this.configPath, this.wsPort, { onSpawn: track });
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
