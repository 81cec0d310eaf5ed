/**
 * The benchmark's receiver: a plain Node HTTP server in a child process (receiver-process.mjs),
 * so that it competes with the client under test only for cores, not for its event loop — as
 * a SIEM on another host would.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

export interface LeanReceiver {
  url: string;
  /** Requests answered 200 so far. */
  count(): Promise<number>;
  /** Down: every request is answered 503. */
  setUp(up: boolean): Promise<void>;
  /** Resolves once `count` requests have been answered 200. */
  waitFor(count: number, timeoutMs: number): Promise<void>;
  /** Wall-clock arrival (epoch ms) of each `lat-` event id since the last call. */
  takeArrivals(): Promise<Map<string, number>>;
  close(): Promise<void>;
}

interface Reply {
  token?: number;
  port?: number;
  count?: number;
  arrivals?: [string, number][];
}

export async function startLeanReceiver(): Promise<LeanReceiver> {
  const child: ChildProcess = fork(join(__dirname, 'receiver-process.mjs'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`bench receiver exited (${code}) before listening`)));
    child.once('message', (m: Reply) => resolve(m.port as number));
  });
  let nextToken = 1;
  const pending = new Map<number, (reply: Reply) => void>();
  child.on('message', (m: Reply) => {
    if (m.token === undefined) return;
    pending.get(m.token)?.(m);
    pending.delete(m.token);
  });
  const ask = (message: Record<string, unknown>, timeoutMs = 10_000): Promise<Reply> =>
    new Promise((resolve, reject) => {
      const token = nextToken++;
      const timer = setTimeout(() => {
        pending.delete(token);
        reject(new Error(`bench receiver: no answer to ${JSON.stringify(message)} within ${timeoutMs} ms`));
      }, timeoutMs);
      pending.set(token, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      child.send({ ...message, token });
    });

  return {
    url: `http://127.0.0.1:${port}/hook`,
    count: async () => (await ask({ cmd: 'count' })).count as number,
    setUp: async (up) => void (await ask({ cmd: 'up', value: up })),
    waitFor: async (count, timeoutMs) => {
      try {
        await ask({ cmd: 'waitFor', count }, timeoutMs);
      } catch {
        throw new Error(`receiver: ${(await ask({ cmd: 'count' })).count}/${count} after ${timeoutMs} ms`);
      }
    },
    takeArrivals: async () => new Map((await ask({ cmd: 'arrivals' })).arrivals),
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill();
      }),
  };
}
