/**
 * The demo's own bus: a nats-server found on this machine, started on free loopback
 * ports with a WebSocket listener (what Sluice connects to), its config and logs in
 * the demo's temporary folder.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { delimiter, join } from 'node:path';

/** Debian installs nats-server in /usr/sbin, which is not on every user's PATH. */
const EXTRA_DIRS = ['/usr/sbin', '/usr/local/sbin', '/usr/local/bin', '/opt/homebrew/bin'];
const READY_TIMEOUT_MS = 15_000;
const KILL_AFTER_MS = 5_000;
const START_ATTEMPTS = 3;

export class NatsServerMissing extends Error {}

/** A hint that says how to get nats-server, for the message when it is missing. */
export const INSTALL_HINT = [
  'The demo runs its own local NATS bus and needs the nats-server program (2.9 or newer).',
  'Install it, then run `npm run demo` again:',
  '  Debian/Ubuntu:  sudo apt install nats-server',
  '  macOS:          brew install nats-server',
  '  Windows:        winget install nats-io.nats-server   (or scoop install nats-server)',
  '  Anywhere else:  https://github.com/nats-io/nats-server/releases — put nats-server on your PATH,',
  '                  or point NATS_SERVER_BIN at it: NATS_SERVER_BIN=/path/to/nats-server npm run demo',
].join('\n');

function isExecutable(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** `$NATS_SERVER_BIN`, else the first nats-server on PATH or in the usual sbin folders. */
export function findNatsServer(env: NodeJS.ProcessEnv = process.env): string {
  const override = env['NATS_SERVER_BIN'];
  if (override !== undefined && override !== '') {
    if (isExecutable(override)) return override;
    throw new NatsServerMissing(`NATS_SERVER_BIN is set to ${override}, which is not an executable file.`);
  }
  const names = process.platform === 'win32' ? ['nats-server.exe', 'nats-server'] : ['nats-server'];
  const dirs = [...(env['PATH'] ?? '').split(delimiter).filter(Boolean), ...EXTRA_DIRS];
  for (const dir of dirs) {
    for (const name of names) {
      const candidate = join(dir, name);
      if (isExecutable(candidate)) return candidate;
    }
  }
  throw new NatsServerMissing(`nats-server was not found on PATH (nor in ${EXTRA_DIRS.join(', ')}).`);
}

export interface RunningNats {
  pid: number;
  /** Where Sluice connects: ws://127.0.0.1:<port>. */
  wsUrl: string;
  /** The plain NATS client port (for other tools: `nats sub '>' -s nats://…`). */
  natsUrl: string;
  /** SIGTERM, then SIGKILL after 5 s; resolves once it has exited. */
  stop(): Promise<void>;
  /** Last resort at process exit: SIGKILL now, synchronously. */
  kill(): void;
}

/** Start nats-server from `bin` with its config in `dir`; resolves once the WebSocket port accepts. */
export async function startNats(bin: string, dir: string): Promise<RunningNats> {
  let lastError: unknown;
  for (let i = 0; i < START_ATTEMPTS; i++) {
    // A port found free can be taken before nats-server binds it: then try new ones.
    const port = await freePort();
    const wsPort = await freePort();
    const config = join(dir, 'nats.conf');
    await writeFile(
      config,
      [
        `listen: "127.0.0.1:${port}"`,
        `websocket {\n  listen: "127.0.0.1:${wsPort}"\n  no_tls: true\n}`,
        // Demo events are small; this just keeps a flood from a wrong tool bounded.
        'max_payload: 1048576',
        '',
      ].join('\n'),
    );
    // Its own process group: a Ctrl-C in the terminal reaches the demo, which then
    // stops things in order (the engine before the bus) instead of all at once.
    const child = spawn(bin, ['-c', config], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    try {
      await whenReady(child, wsPort);
      return running(child, port, wsPort);
    } catch (error) {
      lastError = error;
      await terminate(child);
    }
  }
  throw lastError;
}

function running(child: ChildProcess, port: number, wsPort: number): RunningNats {
  return {
    pid: child.pid ?? -1,
    wsUrl: `ws://127.0.0.1:${wsPort}`,
    natsUrl: `nats://127.0.0.1:${port}`,
    stop: () => terminate(child),
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

function whenReady(child: ChildProcess, wsPort: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const tail: string[] = [];
    let buffered = '';
    let done = false;
    const finish = (error?: Error): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      child.off('exit', onExit);
      child.off('error', onError);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onData);
      // Keep draining: a chatty server must never block on a full pipe.
      child.stdout?.resume();
      child.stderr?.resume();
      if (error) reject(error);
      else resolve();
    };
    const onData = (chunk: Buffer): void => {
      buffered += chunk.toString('utf8');
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        tail.push(line);
        if (tail.length > 20) tail.shift();
        if (line.includes('Server is ready')) void waitForTcp(wsPort).then(() => finish(), finish);
      }
    };
    const onExit = (code: number | null, signal: string | null): void =>
      finish(new Error(`nats-server exited before it was ready (code ${code}, signal ${signal}):\n${tail.join('\n')}`));
    const onError = (error: Error): void => finish(error);
    const timer = setTimeout(() => finish(new Error(`nats-server was not ready after ${READY_TIMEOUT_MS / 1000} s:\n${tail.join('\n')}`)), READY_TIMEOUT_MS);
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
    child.once('error', onError);
  });
}

function freePort(): Promise<number> {
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

async function waitForTcp(port: number): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let delayMs = 10;
  while (!(await canConnect(port))) {
    if (Date.now() > deadline) throw new Error(`nats-server's WebSocket port ${port} does not accept connections`);
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
