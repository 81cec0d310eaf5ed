/**
 * A JetStream key-value bucket, on the JetStream API itself: `@nats-io/kv` is not among
 * the dependencies, and the layout is small and documented (ADR-8, "JetStream based
 * Key-Value Stores": https://github.com/nats-io/nats-architecture-and-design/blob/main/adr/ADR-8.md),
 * so buckets made here are ordinary KV buckets that `nats kv` and every NATS client read.
 *
 * - A bucket is the stream `KV_<bucket>` on the subjects `$KV.<bucket>.>`; a key is the
 *   rest of the subject; its revision is the message's stream sequence.
 * - A put is a publish; a compare-and-set adds `Nats-Expected-Last-Subject-Sequence`
 *   (0: the key must have no value yet), which the server refuses with code 10071 when
 *   another write came first.
 * - A delete is an empty message with `KV-Operation: DEL` (history kept, as ADR-8 says).
 * - Reading every key, and watching, is an ordered consumer with deliver policy
 *   `last_per_subject`: the latest value of each key, then every change; the initial
 *   values end at the first message with nothing pending.
 * Only what nats-server 2.9 has: no per-key TTL, no multiple filter subjects.
 */
import {
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  StorageType,
  jetstream,
  jetstreamManager,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type StreamConfig,
} from '@nats-io/jetstream';
import { headers, nanos, type MsgHdrs, type NatsConnection } from '@nats-io/nats-core';

const API_TIMEOUT_MS = 5_000;
const OPERATION_HEADER = 'KV-Operation';
const DUPLICATE_WINDOW_MS = 120_000;
/** ADR-8: bucket names, and keys (without a leading or trailing dot). */
const BUCKET_NAME = /^[A-Za-z0-9_-]+$/;
const KEY = /^[-/_=.A-Za-z0-9]+$/;

export type KvOperation = 'PUT' | 'DEL' | 'PURGE';

export interface KvEntry {
  key: string;
  /** The stream sequence of this write: what a compare-and-set expects. */
  revision: number;
  operation: KvOperation;
  /** Empty for DEL and PURGE. */
  value: Uint8Array;
  /** When the server stored it (ISO-8601). */
  created: string;
  /** The message's headers but KV's own (first value of each). */
  headers: Record<string, string>;
}

export interface KvBucketOptions {
  /** Values older than this are removed by the server; 0 (the default): kept until replaced. */
  maxAgeMs?: number;
  description?: string;
}

export interface KvWatch {
  /** Resolves once every value there was at the start has been handed over. */
  readonly ready: Promise<void>;
  /** Resolves when the watch ends: null after stop(), the error when it failed (its connection closed). */
  readonly ended: Promise<Error | null>;
  stop(): Promise<void>;
}

/** Something about a bucket's stream that the team code turns into its own words. */
export class KvError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KvError';
  }
}

/** A compare-and-set lost: another write to the key came first. */
export class KvConflictError extends KvError {
  constructor(key: string, expected: number, options?: { cause?: unknown }) {
    super(`${key} changed since revision ${expected}`, options);
    this.name = 'KvConflictError';
  }
}

/** The JetStream managers of a connection; JetStream off is said as such. */
export async function jetStreamOf(nc: NatsConnection): Promise<{ jsm: JetStreamManager; js: JetStreamClient }> {
  let jsm: JetStreamManager;
  try {
    jsm = await jetstreamManager(nc, { timeout: API_TIMEOUT_MS });
  } catch (error) {
    throw new KvError(
      `JetStream is not available on this NATS server (${errorMessage(error)}); a team keeps its configuration in JetStream: enable it (nats-server -js, or a jetstream {} block in its configuration)`,
      { cause: error },
    );
  }
  return { jsm, js: jetstream(nc, { timeout: API_TIMEOUT_MS }) };
}

export class KvBucket {
  readonly stream: string;
  private readonly prefix: string;

  private constructor(
    readonly name: string,
    private readonly jsm: JetStreamManager,
    private readonly js: JetStreamClient,
  ) {
    this.stream = `KV_${name}`;
    this.prefix = `$KV.${name}.`;
  }

  /** The bucket, made when it does not exist (several members may race: one makes it, all use it). */
  static async ensure(nc: NatsConnection, name: string, options: KvBucketOptions = {}): Promise<KvBucket> {
    checkName(name);
    const { jsm, js } = await jetStreamOf(nc);
    const bucket = new KvBucket(name, jsm, js);
    if (await bucket.exists()) return bucket;
    try {
      await jsm.streams.add(bucket.streamConfig(options));
    } catch (error) {
      // Made meanwhile by another member (with its own description or age): use it.
      if (!(await bucket.exists())) throw new KvError(`cannot create the bucket ${name}: ${errorMessage(error)}`, { cause: error });
    }
    return bucket;
  }

  /** An existing bucket, or null when there is none. */
  static async bind(nc: NatsConnection, name: string): Promise<KvBucket | null> {
    checkName(name);
    const { jsm, js } = await jetStreamOf(nc);
    const bucket = new KvBucket(name, jsm, js);
    return (await bucket.exists()) ? bucket : null;
  }

  /** The latest write to `key` (a DEL included), or null when it was never written. */
  async get(key: string): Promise<KvEntry | null> {
    const stored = await this.jsm.streams.getMessage(this.stream, { last_by_subj: this.subject(key) });
    if (!stored) return null;
    return {
      key,
      revision: stored.seq,
      operation: operationOf(stored.header),
      value: stored.data,
      created: stored.time.toISOString(),
      headers: headerRecord(stored.header),
    };
  }

  /**
   * Writes `value`, with `extraHeaders`; with `expectRevision`, only if the key's latest
   * write is still that revision (0: the key was never written). Returns the new revision.
   */
  async put(key: string, value: Uint8Array, expectRevision?: number, extraHeaders: Record<string, string> = {}): Promise<number> {
    return this.write(key, value, extraHeaders, expectRevision);
  }

  /** Marks `key` deleted (the latest write becomes a DEL); same compare-and-set as put. */
  async delete(key: string, expectRevision?: number, extraHeaders: Record<string, string> = {}): Promise<number> {
    return this.write(key, new Uint8Array(0), { ...extraHeaders, [OPERATION_HEADER]: 'DEL' }, expectRevision);
  }

  /** The latest write of every key (DELs included), in revision order. */
  async entries(): Promise<KvEntry[]> {
    const found: KvEntry[] = [];
    const watch = this.watch((entry, initial) => {
      if (initial) found.push(entry);
    });
    try {
      await Promise.race([watch.ready, watch.ended.then((error) => Promise.reject(error ?? new KvError('the read was stopped')))]);
    } finally {
      await watch.stop();
    }
    return found;
  }

  /**
   * Hands `onEntry` the latest write of every key (`initial` true), then every write as
   * it is stored. One entry at a time, in revision order; a throwing `onEntry` ends the watch.
   */
  watch(onEntry: (entry: KvEntry, initial: boolean) => void): KvWatch {
    let messages: ConsumerMessages | null = null;
    let stopped = false;
    let markReady!: () => void;
    const ready = new Promise<void>((resolve) => (markReady = resolve));
    const run = async (): Promise<Error | null> => {
      const consumer = await this.js.consumers.get(this.stream, {
        filter_subjects: `${this.prefix}>`,
        deliver_policy: DeliverPolicy.LastPerSubject,
      });
      try {
        const info = await consumer.info(true);
        let initial = info.num_pending > 0;
        if (!initial) markReady();
        if (stopped) return null;
        messages = await consumer.consume();
        if (stopped) await messages.close();
        try {
          for await (const msg of messages) {
            const entry: KvEntry = {
              key: msg.subject.slice(this.prefix.length),
              revision: msg.seq,
              operation: operationOf(msg.headers),
              value: msg.data,
              created: msg.time.toISOString(),
              headers: headerRecord(msg.headers),
            };
            onEntry(entry, initial);
            if (initial && msg.info.pending === 0) {
              initial = false;
              markReady();
            }
          }
        } finally {
          // Ended by a throwing onEntry too.
          await messages.close().catch(() => undefined);
        }
        return stopped ? null : new KvError(`the watch of bucket ${this.name} ended: its connection closed`);
      } finally {
        // An ordered consumer outlives its last pull by 5 minutes on the server: reads
        // made every few seconds must not pile them up. Not awaited: with the server
        // away it would only time out.
        consumer.delete().catch(() => undefined);
      }
    };
    const ended = run().catch((error: unknown) => (stopped ? null : error instanceof Error ? error : new KvError(String(error))));
    return {
      ready,
      ended,
      stop: async () => {
        stopped = true;
        await messages?.close().catch(() => undefined);
        await ended;
      },
    };
  }

  private async write(key: string, value: Uint8Array, extraHeaders: Record<string, string>, expectRevision: number | undefined): Promise<number> {
    const subject = this.subject(key);
    let h: MsgHdrs | undefined;
    for (const [name, headerValue] of Object.entries(extraHeaders)) (h ??= headers()).set(name, headerValue);
    try {
      const ack = await this.js.publish(subject, value, {
        headers: h,
        ...(expectRevision === undefined ? {} : { expect: { lastSubjectSequence: expectRevision } }),
      });
      return ack.seq;
    } catch (error) {
      if (expectRevision !== undefined && error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamWrongLastSequence)
        throw new KvConflictError(key, expectRevision, { cause: error });
      throw new KvError(`cannot write ${key} in bucket ${this.name}: ${errorMessage(error)}`, { cause: error });
    }
  }

  private subject(key: string): string {
    if (!KEY.test(key) || key.startsWith('.') || key.endsWith('.') || key.includes('..'))
      throw new KvError(`"${key}" is not a valid key (letters, digits, - / _ = and dots between them)`);
    return this.prefix + key;
  }

  private async exists(): Promise<boolean> {
    try {
      await this.jsm.streams.info(this.stream);
      return true;
    } catch (error) {
      if (error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound) return false;
      throw new KvError(`cannot read the bucket ${this.name}: ${errorMessage(error)}`, { cause: error });
    }
  }

  /** ADR-8's bucket: history 1, discard new, rollups allowed, deletes of messages denied, direct gets. */
  private streamConfig(options: KvBucketOptions): Partial<StreamConfig> & { name: string } {
    const maxAgeMs = Math.max(0, Math.floor(options.maxAgeMs ?? 0));
    return {
      name: this.stream,
      description: options.description,
      subjects: [`${this.prefix}>`],
      max_msgs_per_subject: 1,
      max_age: nanos(maxAgeMs),
      // The server refuses a duplicate window longer than the age limit.
      duplicate_window: nanos(maxAgeMs > 0 ? Math.min(maxAgeMs, DUPLICATE_WINDOW_MS) : DUPLICATE_WINDOW_MS),
      discard: DiscardPolicy.New,
      storage: StorageType.File,
      num_replicas: 1,
      allow_rollup_hdrs: true,
      deny_delete: true,
      allow_direct: true,
    };
  }
}

function checkName(name: string): void {
  if (!BUCKET_NAME.test(name)) throw new KvError(`"${name}" is not a valid bucket name (letters, digits, - and _)`);
}

function headerRecord(h: MsgHdrs | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of h?.keys() ?? []) if (name !== OPERATION_HEADER) out[name] = h?.get(name) ?? '';
  return out;
}

function operationOf(h: MsgHdrs | undefined): KvOperation {
  const op = h?.get(OPERATION_HEADER) ?? '';
  return op === 'DEL' || op === 'PURGE' ? op : 'PUT';
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
