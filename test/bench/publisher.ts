/**
 * The benchmark's publisher: a child process (publisher-process.mjs) with its own bus
 * connection, so publishing costs the engine's process nothing.
 */
import { forkBenchChild } from './child';

export interface BenchPublisher {
  /** Publish `total` events on `subject` as fast as the bus takes them. */
  flood(subject: string, total: number, prefix: string): Promise<void>;
  /** Publish at `rate` per second; the wall-clock time each id was published. */
  steady(subject: string, rate: number, total: number, prefix: string): Promise<{ sent: [string, number][]; seconds: number }>;
  close(): Promise<void>;
  /** Its process id (the bench reads its CPU time). */
  pid: number;
}

interface Reply {
  token?: number;
  error?: string;
  sent?: [string, number][];
  seconds?: number;
}

export async function startPublisher(wsUrl: string): Promise<BenchPublisher> {
  const child = await forkBenchChild<Reply>('publisher-process.mjs', [wsUrl]);
  return {
    flood: async (subject, total, prefix) => void (await child.ask({ cmd: 'flood', subject, total, prefix })),
    steady: async (subject, rate, total, prefix) => {
      const reply = await child.ask({ cmd: 'steady', subject, rate, total, prefix });
      return { sent: reply.sent ?? [], seconds: reply.seconds ?? NaN };
    },
    close: () => child.close(),
    pid: child.pid,
  };
}
