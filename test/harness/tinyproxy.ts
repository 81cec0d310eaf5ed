/**
 * A real HTTP CONNECT proxy for egress tests: tinyproxy (the Debian package), run in the
 * foreground on a free loopback port with its own config and log in a temp dir. Ready
 * once its port accepts a connection; stopped by its PID. Its log (LogLevel Connect)
 * names every CONNECT it was asked for.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const READY_TIMEOUT_MS = 10_000;
const CANDIDATES = ['/usr/bin/tinyproxy', '/usr/sbin/tinyproxy'];

export interface Tinyproxy {
  /** http://127.0.0.1:<port> */
  url: string;
  port: number;
  /** The targets of the CONNECT requests it received so far (`127.0.0.1:41234`), in order. */
  connects(): Promise<string[]>;
  /** Resolves once a CONNECT to `target` is in its log; rejects after `timeoutMs`. */
  waitForConnect(target: string, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export function findTinyproxy(): string {
  const found = CANDIDATES.find((path) => existsSync(path));
  if (found === undefined) throw new Error(`tinyproxy not found (looked in ${CANDIDATES.join(', ')}): apt-get install tinyproxy`);
  return found;
}

/** A port nothing listens on right now (the OS's choice, released at once). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** `connectPorts`: the only ports it tunnels to (tinyproxy answers 403 for the others). */
export async function startTinyproxy(options: { connectPorts: number[] }): Promise<Tinyproxy> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-tinyproxy-'));
  const port = await freePort();
  const logFile = join(dir, 'tinyproxy.log');
  const config = join(dir, 'tinyproxy.conf');
  await writeFile(
    config,
    [
      `Port ${port}`,
      'Listen 127.0.0.1',
      'Timeout 30',
      `LogFile "${logFile}"`,
      'LogLevel Connect',
      'MaxClients 50',
      'Allow 127.0.0.1',
      // Without ConnectPort lines tinyproxy would tunnel to any port.
      ...options.connectPorts.map((p) => `ConnectPort ${p}`),
      '',
    ].join('\n'),
  );
  const child = spawn(findTinyproxy(), ['-d', '-c', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const log = async (): Promise<string> => (existsSync(logFile) ? readFile(logFile, 'utf8') : '');
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    await rm(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      const why = `tinyproxy exited (${child.exitCode ?? child.signalCode}); stderr:\n${stderr}\nlog:\n${await log()}`;
      await stop();
      throw new Error(why);
    }
    if (await accepts(port)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`tinyproxy not listening on 127.0.0.1:${port} within ${READY_TIMEOUT_MS} ms; log:\n${await log()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }

  const connects = async (): Promise<string[]> =>
    [...(await log()).matchAll(/Request \(file descriptor \d+\): CONNECT (\S+) HTTP\/1\.[01]/g)].map((m) => m[1] as string);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    connects,
    async waitForConnect(target, timeoutMs = 5_000) {
      const until = Date.now() + timeoutMs;
      while (!(await connects()).includes(target)) {
        if (Date.now() > until) throw new Error(`no CONNECT ${target} in the tinyproxy log within ${timeoutMs} ms:\n${await log()}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    stop,
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
