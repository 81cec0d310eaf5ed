/**
 * A nats-server child process on loopback: find the program, write its config, start it
 * on free ports, wait until its WebSocket listener (what Sluice connects to) accepts, stop
 * it. The demo's own bus and the integration tests' servers both start theirs here.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import type { Readable } from 'node:stream';

/** Debian installs nats-server in /usr/sbin, which is not on every user's PATH. */
const EXTRA_DIRS: readonly string[] = ['/usr/sbin', '/usr/local/sbin', '/usr/local/bin', '/opt/homebrew/bin'];
const READY_TIMEOUT_MS = 15_000;
const KILL_AFTER_MS = 5_000;
const START_ATTEMPTS = 3;
const LOG_TAIL_LINES = 40;

/** No usable nats-server program; the message says where it looked. */
export class NatsServerMissing extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NatsServerMissing';
  }
}

/** nats-server exited, failed to spawn or was not ready in time; the message ends with its last log lines. */
export class NatsServerNotReady extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NatsServerNotReady';
  }
}

/** `$NATS_SERVER_BIN`, else the first nats-server on PATH or in `extraDirs`. */
export function findNatsServer(env: NodeJS.ProcessEnv = process.env, extraDirs: readonly string[] = EXTRA_DIRS): string {
  const override = env['NATS_SERVER_BIN'];
  if (override !== undefined && override !== '') {
    if (isExecutable(override)) return override;
    throw new NatsServerMissing(`NATS_SERVER_BIN is set to ${override}, which is not an executable file.`);
  }
  const names = process.platform === 'win32' ? ['nats-server.exe', 'nats-server'] : ['nats-server'];
  const dirs = [...(env['PATH'] ?? '').split(delimiter).filter(Boolean), ...extraDirs];
  for (const dir of dirs) {
    for (const name of names) {
      const candidate = join(dir, name);
      if (isExecutable(candidate)) return candidate;
    }
  }
  throw new NatsServerMissing(`nats-server was not found on PATH (nor in ${extraDirs.join(', ')}).`);
}

function isExecutable(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** A loopback port that was free a moment ago (someone else may take it before it is bound). */
export function freePort(): Promise<number> {
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

/** What goes into nats.conf. Both listeners are on 127.0.0.1; the WebSocket one without TLS. */
interface NatsServerConfig {
  /** The plain NATS client port. */
  port: number;
  wsPort: number;
  maxPayload?: number;
  /** JetStream on, storing its streams here. */
  jetstreamDir?: string;
  /** Token authorization; takes precedence over `user`/`password`. */
  token?: string;
  user?: string;
  password?: string;
}

export function renderConfig(config: NatsServerConfig): string {
  const lines = [
    `listen: "127.0.0.1:${config.port}"`,
    `websocket {\n  listen: "127.0.0.1:${config.wsPort}"\n  no_tls: true\n}`,
  ];
  if (config.jetstreamDir !== undefined) lines.push(`jetstream {\n  store_dir: ${quote(config.jetstreamDir)}\n}`);
  if (config.maxPayload !== undefined) lines.push(`max_payload: ${config.maxPayload}`);
  if (config.token !== undefined) {
    lines.push(`authorization {\n  token: ${quote(config.token)}\n}`);
  } else if (config.user !== undefined) {
    lines.push(`authorization {\n  user: ${quote(config.user)}\n  password: ${quote(config.password ?? '')}\n}`);
  }
  return `${lines.join('\n')}\n`;
}

/** nats.conf reads double-quoted strings with JSON's escapes; quoting keeps paths and secrets one value. */
function quote(value: string): string {
  return JSON.stringify(value);
}

interface LaunchOptions {
  /** Its own process group: a Ctrl-C in the terminal then reaches only the parent, which stops it in turn. */
  detached?: boolean;
  /** Called right after the spawn, before it is ready: for a caller that kills what is left at exit. */
  onSpawn?: (child: ChildProcess) => void;
}

/**
 * Spawns `bin -c configPath`; resolves once it logged "Server is ready" and `wsPort` accepts
 * connections. On failure it is terminated and the error is a {@link NatsServerNotReady}.
 */
export async function launch(
  bin: string,
  configPath: string,
  wsPort: number,
  options: LaunchOptions = {},
): Promise<ChildProcess> {
  const child = spawn(bin, ['-c', configPath], { stdio: ['ignore', 'pipe', 'pipe'], detached: options.detached ?? false });
  options.onSpawn?.(child);
  try {
    await whenReady(child, wsPort);
    return child;
  } catch (error) {
    await terminate(child);
    throw error;
  }
}

interface Launched {
  child: ChildProcess;
  port: number;
  wsPort: number;
}

/**
 * Writes `configPath` for two free loopback ports and launches. A port found free can be
 * taken before nats-server binds it, so a failed start is tried again on new ports.
 */
export async function launchOnFreePorts(
  bin: string,
  configPath: string,
  config: Omit<NatsServerConfig, 'port' | 'wsPort'>,
  options: LaunchOptions = {},
): Promise<Launched> {
  let lastError: unknown;
  for (let i = 0; i < START_ATTEMPTS; i++) {
    const port = await freePort();
    const wsPort = await freePort();
    await writeFile(configPath, renderConfig({ ...config, port, wsPort }));
    try {
      return { child: await launch(bin, configPath, wsPort, options), port, wsPort };
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}

/** SIGTERM, then SIGKILL after 5 s; resolves once it has exited. */
export function terminate(child: ChildProcess): Promise<void> {
  if (!isRunning(child)) return Promise.resolve();
  return new Promise((resolve) => {
    const killer = setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS);
    child.once('exit', () => {
      clearTimeout(killer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Last resort at process exit: SIGKILL now, synchronously. */
export function killNow(child: ChildProcess): void {
  if (isRunning(child)) child.kill('SIGKILL');
}

function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

function whenReady(child: ChildProcess, wsPort: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const tail: string[] = [];
    let done = false;
    let sawReady = false;
    const fail = (reason: string, cause?: Error): void => {
      const log = tail.length > 0 ? `:\n${tail.join('\n')}` : '';
      finish(new NatsServerNotReady(`${reason}${log}`, cause ? { cause } : undefined));
    };
    const finish = (error?: Error): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      child.off('close', onClose);
      child.off('error', onError);
      stopReading();
      if (error) reject(error);
      else resolve();
    };
    const onLine = (line: string): void => {
      tail.push(line);
      if (tail.length > LOG_TAIL_LINES) tail.shift();
      if (sawReady || !line.includes('Server is ready')) return;
      sawReady = true;
      void whenAccepting(wsPort, () => done).then(() => finish());
    };
    const stopReading = readLines([child.stdout, child.stderr], onLine);
    // 'close' rather than 'exit': by then its last log lines have been read.
    const onClose = (code: number | null, signal: string | null): void =>
      fail(`nats-server exited before it was ready (code ${code}, signal ${signal})`);
    const onError = (error: Error): void => fail(`nats-server could not be started: ${error.message}`, error);
    const timer = setTimeout(() => {
      const what = sawReady ? `its WebSocket port ${wsPort} did not accept connections` : 'it did not log "Server is ready"';
      fail(`nats-server was not ready after ${READY_TIMEOUT_MS / 1000} s: ${what}`);
    }, READY_TIMEOUT_MS);
    child.once('close', onClose);
    child.once('error', onError);
  });
}

/** Feeds each complete line to `onLine`; the returned stop leaves the streams draining, so a chatty server never blocks on a full pipe. */
function readLines(streams: (Readable | null)[], onLine: (line: string) => void): () => void {
  const listeners = streams.map((stream) => {
    let buffered = '';
    const onData = (chunk: Buffer): void => {
      buffered += chunk.toString('utf8');
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) onLine(line);
    };
    const onEnd = (): void => {
      if (buffered !== '') onLine(buffered);
    };
    stream?.on('data', onData);
    stream?.once('end', onEnd);
    return () => {
      stream?.off('data', onData);
      stream?.off('end', onEnd);
      stream?.resume();
    };
  });
  return () => {
    for (const stop of listeners) stop();
  };
}

/** Polls until `port` accepts a connection, or until `givenUp()` says the wait is over. */
async function whenAccepting(port: number, givenUp: () => boolean): Promise<void> {
  let delayMs = 10;
  while (!givenUp() && !(await canConnect(port))) {
    await new Promise((resolve) => setTimeout(resolve, delayMs));
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
