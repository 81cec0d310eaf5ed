/**
 * A benchmark helper process (the receiver, the publisher): forked with an IPC channel,
 * asked things by token, answered in any order.
 */
import { fork } from 'node:child_process';
import { join } from 'node:path';

export interface BenchChild<Reply> {
  /** The child's first message (it sends one when ready). */
  hello: Reply;
  /** Its process id (the bench reads its CPU time). */
  pid: number;
  ask(message: Record<string, unknown>, timeoutMs?: number): Promise<Reply>;
  close(): Promise<void>;
}

export async function forkBenchChild<Reply extends { token?: number; error?: string }>(
  script: string,
  args: string[] = [],
): Promise<BenchChild<Reply>> {
  const child = fork(join(__dirname, script), args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const hello = await new Promise<Reply>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`${script} exited (${code}) before it was ready`)));
    child.once('message', (m) => resolve(m as Reply));
  });
  let nextToken = 1;
  const pending = new Map<number, (reply: Reply) => void>();
  child.on('message', (m: Reply) => {
    if (m.token === undefined) return;
    pending.get(m.token)?.(m);
    pending.delete(m.token);
  });
  return {
    hello,
    pid: child.pid as number,
    ask: (message, timeoutMs = Number.POSITIVE_INFINITY) =>
      new Promise((resolve, reject) => {
        const token = nextToken++;
        const timer =
          timeoutMs === Number.POSITIVE_INFINITY
            ? null
            : setTimeout(() => {
                pending.delete(token);
                reject(new Error(`${script}: no answer to ${JSON.stringify(message)} within ${timeoutMs} ms`));
              }, timeoutMs);
        pending.set(token, (reply) => {
          if (timer) clearTimeout(timer);
          if (reply.error) reject(new Error(`${script}: ${reply.error}`));
          else resolve(reply);
        });
        child.send({ ...message, token });
      }),
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.disconnect();
      }),
  };
}
