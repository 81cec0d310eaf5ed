/**
 * The benchmark's receiver: a plain Node HTTP server in a child process (receiver-process.mjs),
 * so that it competes with the client under test only for cores, not for its event loop — as
 * a SIEM on another host would.
 */
import { forkBenchChild } from './child';

export interface LeanReceiver {
  url: string;
  /** Its process id (the bench reads its CPU time). */
  pid: number;
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
  error?: string;
  port?: number;
  count?: number;
  arrivals?: [string, number][];
}

const ASK_TIMEOUT_MS = 10_000;

export interface LeanReceiverOptions {
  /** Answer each request this long after it arrived (a slow SIEM); default at once. */
  delayMs?: number;
}

export async function startLeanReceiver(options: LeanReceiverOptions = {}): Promise<LeanReceiver> {
  const child = await forkBenchChild<Reply>('receiver-process.mjs', options.delayMs ? [`--delay-ms=${options.delayMs}`] : []);
  const count = async (): Promise<number> => (await child.ask({ cmd: 'count' }, ASK_TIMEOUT_MS)).count as number;
  return {
    url: `http://127.0.0.1:${child.hello.port}/hook`,
    pid: child.pid,
    count,
    setUp: async (up) => void (await child.ask({ cmd: 'up', value: up }, ASK_TIMEOUT_MS)),
    waitFor: async (target, timeoutMs) => {
      try {
        await child.ask({ cmd: 'waitFor', count: target }, timeoutMs);
      } catch {
        throw new Error(`receiver: ${await count()}/${target} after ${timeoutMs} ms`);
      }
    },
    takeArrivals: async () => new Map((await child.ask({ cmd: 'arrivals' }, ASK_TIMEOUT_MS)).arrivals),
    close: () => child.close(),
  };
}
