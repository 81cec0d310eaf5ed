/**
 * The benchmark's publisher: a child process (publisher-process.mjs) with its own bus
 * connection, so publishing costs the engine's process nothing.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

export interface BenchPublisher {
  /** Publish `total` events on `subject` as fast as the bus takes them. */
  flood(subject: string, total: number, prefix: string): Promise<void>;
  /** Publish at `rate` per second; the wall-clock time each id was published. */
  steady(subject: string, rate: number, total: number, prefix: string): Promise<{ sent: [string, number][]; seconds: number }>;
  close(): Promise<void>;
}

interface Reply {
  token?: number;
  ready?: boolean;
  error?: string;
  sent?: [string, number][];
  seconds?: number;
}

export async function startPublisher(wsUrl: string): Promise<BenchPublisher> {
  const child: ChildProcess = fork(join(__dirname, 'publisher-process.mjs'), [wsUrl], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`bench publisher exited (${code}) before connecting`)));
    child.once('message', () => resolve());
  });
  let nextToken = 1;
  const pending = new Map<number, (reply: Reply) => void>();
  child.on('message', (m: Reply) => {
    if (m.token === undefined) return;
    pending.get(m.token)?.(m);
    pending.delete(m.token);
  });
  const ask = (message: Record<string, unknown>): Promise<Reply> =>
    new Promise((resolve, reject) => {
      const token = nextToken++;
      pending.set(token, (reply) => (reply.error ? reject(new Error(`bench publisher: ${reply.error}`)) : resolve(reply)));
      child.send({ ...message, token });
    });
  return {
    flood: async (subject, total, prefix) => void (await ask({ cmd: 'flood', subject, total, prefix })),
    steady: async (subject, rate, total, prefix) => {
      const reply = await ask({ cmd: 'steady', subject, rate, total, prefix });
      return { sent: reply.sent ?? [], seconds: reply.seconds ?? NaN };
    },
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.disconnect();
      }),
  };
}
