/**
 * A real engine for a test: its own SQLite file in a temp dir, its own nats-server,
 * reached through the in-process bridge client exactly as the console reaches it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Result, SluiceApi } from '../../src-main/contract/bridge';
import type { DeliveryView, Settings } from '../../src-main/contract/views';
import { Engine, type EngineOptions, type EngineRecord } from '../../src-main/engine/engine';
import { createInProcessClient } from '../../src-main/engine/in-process-client';
import { startNatsServer, type NatsServer, type NatsServerOptions } from './nats-server';

export interface TestEngine {
  engine: Engine;
  api: SluiceApi;
  nats: NatsServer;
  publisher: NatsConnection;
  dbPath: string;
  dir: string;
  /** Publish a JSON value (or raw bytes) on a subject and flush. */
  publish(subject: string, body: unknown): Promise<void>;
  /** Resolves with the first engine record that satisfies `predicate`. */
  waitForRecord<R extends EngineRecord>(predicate: (r: EngineRecord) => r is R, timeoutMs?: number): Promise<R>;
  waitForRecord(predicate: (r: EngineRecord) => boolean, timeoutMs?: number): Promise<EngineRecord>;
  /** Resolves once `n` deliveries matching `predicate` have ended since the engine started (final states, in order). */
  waitForFinal(n: number, predicate?: (d: DeliveryView) => boolean, timeoutMs?: number): Promise<DeliveryView[]>;
  /** Resolves with the first delivery record, seen before or after the call, that satisfies `predicate`. */
  waitForDelivery(predicate: (d: DeliveryView) => boolean, timeoutMs?: number): Promise<DeliveryView>;
  records: EngineRecord[];
  cleanup(): Promise<void>;
}

export interface TestEngineOptions {
  settings?: Partial<Settings>;
  nats?: NatsServerOptions;
  engine?: Partial<EngineOptions>;
  /** Reuse a running server instead of starting one. */
  server?: NatsServer;
  /** Reopen an existing database (a restart) instead of a new one. */
  dbPath?: string;
  /** Keep every engine record for `waitForFinal`/`waitForDelivery` (default); the benchmark turns it off. */
  keepRecords?: boolean;
}

/** Fast retries for tests; the policy itself is tested with the default schedule. */
export const FAST_SETTINGS: Partial<Settings> = { retrySchedule: [0.05, 0.05], timeoutMs: 3000 };

export async function startTestEngine(options: TestEngineOptions = {}): Promise<TestEngine> {
  const dir = options.dbPath ? dirname(options.dbPath) : await mkdtemp(join(tmpdir(), 'sluice-engine-'));
  const dbPath = options.dbPath ?? join(dir, 'sluice.db');
  const nats = options.server ?? (await startNatsServer(options.nats));
  const engine = await Engine.start({ dbPath, natsUrl: nats.wsUrl, allowPrivate: true, ...options.engine });
  const api = createInProcessClient(engine, (err) => {
    throw err;
  });
  const settings = { ...FAST_SETTINGS, ...options.settings };
  unwrap(await api['settings.update'](settings));
  const publisher = await nats.client();
  const records: EngineRecord[] = [];
  const waiters = new Set<{ test: (r: EngineRecord) => boolean; resolve: (r: EngineRecord) => void }>();
  engine.onRecord((record) => {
    if (options.keepRecords !== false) records.push(record);
    for (const w of [...waiters]) {
      if (w.test(record)) {
        waiters.delete(w);
        w.resolve(record);
      }
    }
  });
  await waitConnected(engine);

  const waitForRecord = (test: (r: EngineRecord) => boolean, timeoutMs = 10_000): Promise<EngineRecord> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(entry);
        reject(new Error(`no matching engine record within ${timeoutMs} ms; last: ${JSON.stringify(records.slice(-5))}`));
      }, timeoutMs);
      const entry = {
        test,
        resolve: (r: EngineRecord) => {
          clearTimeout(timer);
          resolve(r);
        },
      };
      waiters.add(entry);
    });

  return {
    engine,
    api,
    nats,
    publisher,
    dbPath,
    dir,
    records,
    async publish(subject, body) {
      const data = body instanceof Uint8Array ? body : new TextEncoder().encode(JSON.stringify(body));
      publisher.publish(subject, data);
      await publisher.flush();
    },
    waitForRecord: waitForRecord as TestEngine['waitForRecord'],
    async waitForFinal(n, predicate = () => true, timeoutMs = 10_000) {
      const isFinal = (r: EngineRecord): r is Extract<EngineRecord, { kind: 'delivery' }> =>
        r.kind === 'delivery' && r.final && predicate(r.delivery);
      const found = records.filter(isFinal).map((r) => r.delivery);
      if (found.length >= n) return found;
      await waitForRecord((r) => {
        if (isFinal(r)) found.push(r.delivery);
        return found.length >= n;
      }, timeoutMs);
      return found;
    },
    async waitForDelivery(predicate, timeoutMs = 10_000) {
      const seen = records.find((r) => r.kind === 'delivery' && predicate(r.delivery));
      if (seen?.kind === 'delivery') return seen.delivery;
      const r = await waitForRecord((x) => x.kind === 'delivery' && predicate(x.delivery), timeoutMs);
      return (r as Extract<EngineRecord, { kind: 'delivery' }>).delivery;
    },
    async cleanup() {
      await engine.stop();
      if (!options.server) await nats.cleanup();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export async function waitConnected(engine: Engine, timeoutMs = 10_000): Promise<void> {
  if (engine.status().bus.state !== 'connected') {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`bus not connected: ${JSON.stringify(engine.status().bus)}`)), timeoutMs);
      const off = engine.onRecord((r) => {
        if (r.kind === 'bus' && r.status.state === 'connected') {
          clearTimeout(timer);
          off();
          resolve();
        }
      });
    });
  }
  await engine.busReady();
}

export function unwrap<T>(result: Result<T>): T {
  if (!result.ok) throw new Error(`bridge call failed: ${result.error.code}: ${result.error.message}`);
  return result.value;
}

/** A DECNET envelope as other components publish it. */
export function envelope(type: string, payload: Record<string, unknown>, id = `evt-${Math.random().toString(36).slice(2)}`) {
  return { v: 1, id, type, ts: Date.now() / 1000, payload };
}
