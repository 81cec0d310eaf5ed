/**
 * One connection for a one-shot job (a CLI command's team edit): dialled once through
 * NatsBus (the same URLs, credentials and TLS as the engine), given up after a timeout or
 * a failed round of every server, and closed by the caller.
 */
import type { NatsConnection } from '@nats-io/nats-core';
import { NatsBus, type BusOptions } from './nats-bus';

export type OneShotConnection = { nc: NatsConnection; close: () => Promise<void> } | { problem: string };

/** How long closing waits for a drain before letting go (a dead server must not hold a command). */
const CLOSE_TIMEOUT_MS = 1_000;

export async function connectOnce(options: BusOptions, timeoutMs: number): Promise<OneShotConnection> {
  if (options.servers.length === 0) return { problem: 'no bus URL is set' };
  const bus = new NatsBus({ ...options, onError: () => undefined });
  let timer: NodeJS.Timeout | undefined;
  let lastError: string | null = null;
  const close = (): Promise<void> =>
    Promise.race([bus.close().catch(() => undefined), new Promise<void>((resolve) => setTimeout(resolve, CLOSE_TIMEOUT_MS).unref())]);
  const nc = await new Promise<NatsConnection | null>((resolve) => {
    timer = setTimeout(() => resolve(null), timeoutMs);
    bus.onConnection((connection) => resolve(connection));
    bus.onStatus((status) => {
      lastError = status.lastError;
      // A failed dial (every configured server tried once) is an answer: no bus.
      if (status.attempt > 0 || status.state === 'auth_failed' || status.state === 'closed') resolve(null);
    });
    bus.start();
  });
  clearTimeout(timer);
  if (nc) return { nc, close };
  await close();
  return { problem: `the bus cannot be reached at ${options.servers.join(', ')}${lastError ? `: ${lastError}` : ''}` };
}
