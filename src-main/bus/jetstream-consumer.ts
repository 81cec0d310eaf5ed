/**
 * A durable pull consumer on the operator's JetStream stream: bind it (never create the
 * stream), fetch, hand each message to the engine and ack it only once it is stored,
 * nak with a delay on failure, and bind again after a reconnect, with one status.
 *
 * Over 500 lines: JetStreamConsumer is one loop (bind, fetch, dispatch, ack, back off)
 * over a session that ends with its connection; the steps share the session, the
 * messages in flight and the status, so splitting them would hand that state to another
 * module. The free functions at the end are its own (nak delay, API error codes),
 * except ensureDurable, which the team's shared consumer (src-main/team/) uses too.
 */
import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  jetstream,
  jetstreamManager,
  type Consumer,
  type ConsumerConfig,
  type ConsumerInfo,
  type ConsumerMessages,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/nats-core';
import { backoffDelay } from './backoff';
import type { NatsBus } from './nats-bus';

export interface JetStreamConsumerOptions {
  /** An existing stream (the operator's). A missing stream is reported in status and retried; never created. */
  stream: string;
  /**
   * The durable consumer's name. Consumers that bind one name share its messages, each
   * getting some: every installation has its own by default (see `durableNameFrom`).
   */
  durable: string;
  /**
   * Called for every message, in delivery order (several may run at once). The message
   * is acknowledged only after the promise resolves; a rejection naks it with a short
   * delay, so it is redelivered.
   */
  handle: (subject: string, data: Uint8Array) => Promise<void>;
  /** The durable's max_ack_pending; default 1000. */
  maxAckPending?: number;
  /** The durable's ack_wait in ms: an unacknowledged delivery is redelivered after it; default 30 000. */
  ackWaitMs?: number;
  /** Told about handle() rejections and a refused update of the durable; default: console.error. */
  onError?: (error: unknown, subject: string) => void;
}

type JetStreamState = 'idle' | 'binding' | 'consuming' | 'error';

export interface JetStreamConsumerStatus {
  state: JetStreamState;
  stream: string;
  durable: string;
  lastError: string | null;
  /** Messages received from JetStream (redeliveries included) since this consumer was made. */
  delivered: number;
  /** Acknowledgements sent. */
  acked: number;
}

type StatusListener = (status: JetStreamConsumerStatus) => void;

const DEFAULT_MAX_ACK_PENDING = 1_000;
const DEFAULT_ACK_WAIT_MS = 30_000;
// handle() calls in flight per connection; each message is acked on its own resolution.
const MAX_CONCURRENCY = 64;
// Messages asked for per pull; the library pulls again once 75% of them have arrived and
// the iterator has caught up, so this also bounds what waits in memory unprocessed.
const PULL_BATCH = 128;
// A pull request lives this long, with the server's heartbeats at half of it. A pull the
// server refused or lost (a 409 while it restarts or changes leader, a request that
// reached a server still restoring its consumers) is noticed when two heartbeats are
// missed: at the library's default (30 s) consuming would stand still for 30 s, here 10 s.
// The cost is one pull request every 10 s while the stream is idle.
const PULL_EXPIRES_MS = 10_000;
const API_TIMEOUT_MS = 5_000;
// A rejected message comes back after 0.5 s, doubling per redelivery up to 10 s.
const NAK_BASE_MS = 500;
const NAK_MAX_MS = 10_000;
// stop() waits at most this long for its naks to reach the server.
const FLUSH_TIMEOUT_MS = 2_000;

const ENDED: unique symbol = Symbol('ended');
type Ended = typeof ENDED;

interface InFlight {
  readonly msg: JsMsg;
  /** Acked or nacked already: a later resolution of handle() must not answer again. */
  settled: boolean;
  /** Settles once handle() has and the message is answered. */
  done: Promise<void>;
}

/** One bind-and-consume run on one live connection of the bus. */
class Session {
  ended = false;
  messages: ConsumerMessages | null = null;
  readonly inFlight = new Set<InFlight>();
  /** Messages to nak when the session was stopped: unresolved or never handed to handle(). */
  readonly giveBack: JsMsg[] = [];
  /** Messages received since the last successful bind. */
  receivedSinceBind = 0;
  /** Resolves when stop() ends this session or its connection closes. */
  readonly over: Promise<Ended>;
  done: Promise<void> = Promise.resolve();
  private endNow!: () => void;

  constructor(readonly nc: NatsConnection) {
    const stopped = new Promise<void>((resolve) => {
      this.endNow = resolve;
    });
    this.over = Promise.race([stopped, nc.closed()]).then(() => ENDED);
  }

  get live(): boolean {
    return !this.ended && !this.nc.isClosed();
  }

  end(): void {
    this.ended = true;
    this.endNow();
  }

  /** `promise`'s value, or ENDED as soon as the session is over. */
  until<T>(promise: Promise<T>): Promise<T | Ended> {
    promise.catch(() => undefined);
    return Promise.race([promise, this.over]);
  }

  /** Waits `ms`, or less if the session ends meanwhile. */
  async sleep(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const elapsed = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    });
    await this.until(elapsed);
    clearTimeout(timer);
  }
}

/**
 * Consumes a stream through a durable pull consumer on the bus's connection: binds on
 * every (re)connection, hands each message to `handle` and acknowledges it only once
 * `handle` resolves, so events published while Sluice was closed (or disconnected, or
 * still being handled when it stopped) are delivered when it is back.
 */
export class JetStreamConsumer {
  private readonly bus: NatsBus;
  private readonly options: JetStreamConsumerOptions;
  private readonly durable: string;
  private readonly maxAckPending: number;
  private readonly ackWaitMs: number;
  private readonly concurrency: number;
  private readonly listeners = new Set<StatusListener>();
  private state: JetStreamState = 'idle';
  private lastError: string | null = null;
  private delivered = 0;
  private acked = 0;
  private running = false;
  private session: Session | null = null;
  private offConnection: (() => void) | null = null;
  private stopping: Promise<void> | null = null;
  private countsQueued = false;

  constructor(bus: NatsBus, options: JetStreamConsumerOptions) {
    this.bus = bus;
    this.options = options;
    this.durable = options.durable;
    this.maxAckPending = Math.max(1, Math.floor(options.maxAckPending ?? DEFAULT_MAX_ACK_PENDING));
    this.ackWaitMs = Math.max(1_000, Math.floor(options.ackWaitMs ?? DEFAULT_ACK_WAIT_MS));
    this.concurrency = Math.min(MAX_CONCURRENCY, this.maxAckPending);
  }

  get status(): JetStreamConsumerStatus {
    return {
      state: this.state,
      stream: this.options.stream,
      durable: this.durable,
      lastError: this.lastError,
      delivered: this.delivered,
      acked: this.acked,
    };
  }

  /**
   * The durable's backlog as the server counts it (one API request; the metrics ask at
   * each scrape): not yet delivered, and delivered but not acknowledged; asked of the
   * server even while this consumer is not consuming (a backlog that grows then is what
   * an operator wants to see). Null while the bus is not connected; rejects when the
   * server cannot say (no stream, no durable yet).
   */
  async backlog(): Promise<{ stream: string; pending: number; ackPending: number } | null> {
    const nc = this.bus.connection;
    if (!nc) return null;
    const jsm = await jetstreamManager(nc, { timeout: API_TIMEOUT_MS });
    const info = await jsm.consumers.info(this.options.stream, this.durable);
    return { stream: this.options.stream, pending: info.num_pending, ackPending: info.num_ack_pending };
  }

  /**
   * Told of every change: state and lastError at once, the counters at most once per
   * event-loop turn (a burst of messages is one notification).
   */
  onStatus(listener: StatusListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.transition('binding', null);
    this.offConnection = this.bus.onConnection((nc) => this.attach(nc));
    const nc = this.bus.connection;
    if (nc) this.attach(nc);
  }

  /**
   * Stops consuming. Messages whose handle() has not resolved are never acked here: they
   * are nacked (when the connection is still up) so the next consumer on this durable
   * gets them at once, or else redelivered after ack_wait. Does not wait for handle().
   */
  stop(): Promise<void> {
    if (this.stopping) return this.stopping;
    if (!this.running) return Promise.resolve();
    this.stopping = this.shutdown().finally(() => {
      this.stopping = null;
    });
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    this.running = false;
    this.offConnection?.();
    this.offConnection = null;
    const session = this.session;
    this.session = null;
    if (session) {
      this.endSession(session);
      await session.done;
      await this.returnUnanswered(session);
    }
    this.transition('idle', null);
  }

  private attach(nc: NatsConnection): void {
    if (!this.running || nc.isClosed() || this.session?.nc === nc) return;
    const previous = this.session;
    if (previous) this.endSession(previous);
    const session = new Session(nc);
    this.session = session;
    session.done = this.run(session).catch((error: unknown) => {
      if (this.session === session) this.transition('error', errorMessage(error));
    });
  }

  /**
   * Ends a session: closes its pull subscription, and sets aside every message whose
   * handle() has not resolved, so it is never acked.
   */
  private endSession(session: Session): void {
    session.end();
    try {
      session.messages?.close().catch(() => undefined);
    } catch {
      // Its connection is already gone, and the subscription with it.
    }
    for (const entry of session.inFlight) {
      if (entry.settled) continue;
      entry.settled = true;
      session.giveBack.push(entry.msg);
    }
  }

  /**
   * Naks what a stopped session set aside, so the next consumer on the durable gets it
   * at once instead of after ack_wait. nats-server 2.9 would hand a nacked message to
   * our closed pull request (its waiting request outlives the UNSUB), where it is lost
   * until ack_wait and the consumer's delivered sequence rewinds by one (a duplicate):
   * a consumer-info request first makes the server drop waiting requests nobody listens to.
   */
  private async returnUnanswered(session: Session): Promise<void> {
    const { nc, giveBack } = session;
    if (giveBack.length === 0 || nc.isClosed()) return;
    try {
      const jsm = await jetstreamManager(nc, { timeout: API_TIMEOUT_MS, checkAPI: false });
      await jsm.consumers.info(this.options.stream, this.durable);
    } catch {
      // Naks still go out; at worst a message waits for ack_wait.
    }
    for (const msg of giveBack.splice(0)) answer(() => msg.nak());
    await flushQuietly(nc);
  }

  /** Binds and consumes on one connection until it closes or stop() is called. */
  private async run(session: Session): Promise<void> {
    let failures = 0;
    this.transition('binding', null);
    while (session.live) {
      let bound = false;
      try {
        const consumer = await session.until(this.bind(session.nc));
        if (consumer === ENDED || !session.live) break;
        bound = true;
        await this.consume(session, consumer);
        if (!session.live) break;
        throw new Error(`consuming ${this.describe()} stopped`);
      } catch (error) {
        if (!session.live) break;
        // A consumer that delivered before failing was healthy: this is a new failure run.
        if (bound && session.receivedSinceBind > 0) failures = 0;
        failures++;
        if (bound && failures === 1) {
          // Consuming ended under us (consumer or stream deleted): bind again at once,
          // so the error reported is bind()'s, which names what is missing.
          this.transition('binding', null);
          continue;
        }
        // While retrying, the state stays 'error' with its reason.
        this.transition('error', this.explain(error));
      }
      await session.sleep(backoffDelay(failures));
    }
    if (this.session === session) {
      this.session = null;
      // The bus is reconnecting; the next connection binds again.
      if (this.running) this.transition('binding', null);
    }
  }

  /** Ensures the durable pull consumer exists on the stream and returns it. */
  private async bind(nc: NatsConnection): Promise<Consumer> {
    const { stream } = this.options;
    const jsm = await jetstreamManager(nc, { timeout: API_TIMEOUT_MS }).catch((error: unknown) => {
      throw new Error(`JetStream is not available: ${errorMessage(error)}`, { cause: error });
    });
    await ensureDurable(jsm, stream, this.durable, { ackWaitMs: this.ackWaitMs, maxAckPending: this.maxAckPending }, (error) =>
      this.reportError(error, `(updating ${this.describe()})`),
    );
    return jetstream(nc, { timeout: API_TIMEOUT_MS }).consumers.get(stream, this.durable);
  }

  /** Runs handle() for each message in order, at most `concurrency` at once. */
  private async consume(session: Session, consumer: Consumer): Promise<void> {
    const messages = await consumer.consume({
      max_messages: Math.min(PULL_BATCH, this.maxAckPending),
      expires: PULL_EXPIRES_MS,
      // A deleted consumer or stream ends the iterator with an error: bind() runs again.
      abort_on_missing_resource: true,
    });
    session.messages = messages;
    session.receivedSinceBind = 0;
    if (!session.live) {
      await messages.close().catch(() => undefined);
      return;
    }
    this.transition('consuming', null);
    for await (const msg of messages) {
      this.delivered++;
      session.receivedSinceBind++;
      this.countsChanged();
      if (session.inFlight.size >= this.concurrency) {
        await session.until(Promise.race([...session.inFlight].map((entry) => entry.done)));
      }
      if (!session.live) {
        // Pulled but never handed to handle(): stop() gives it back.
        session.giveBack.push(msg);
        continue;
      }
      this.dispatch(session, msg);
    }
  }

  private dispatch(session: Session, msg: JsMsg): void {
    const entry: InFlight = { msg, settled: false, done: Promise.resolve() };
    session.inFlight.add(entry);
    entry.done = this.handleOne(entry).finally(() => session.inFlight.delete(entry));
  }

  private async handleOne(entry: InFlight): Promise<void> {
    const { msg } = entry;
    let subject = '(unknown subject)';
    let failure: unknown = null;
    let failed = false;
    try {
      subject = msg.subject;
      await this.options.handle(subject, msg.data);
    } catch (error) {
      failed = true;
      failure = error;
    }
    if (entry.settled) return;
    entry.settled = true;
    if (failed) {
      this.reportError(failure, subject);
      answer(() => msg.nak(nakDelay(msg)));
    } else if (answer(() => msg.ack())) {
      this.acked++;
      this.countsChanged();
    }
  }

  private explain(error: unknown): string {
    const message = errorMessage(error);
    // What a consume() that lost its stream or consumer throws.
    if (message === 'stream not found') return this.streamMissing().message;
    if (message === 'consumer not found') return `${this.describe()} was deleted; recreating it`;
    return message;
  }

  private streamMissing(): Error {
    return streamMissing(this.options.stream);
  }

  private describe(): string {
    return describeDurable(this.options.stream, this.durable);
  }

  private transition(state: JetStreamState, lastError: string | null): void {
    if (state === this.state && lastError === this.lastError) return;
    this.state = state;
    this.lastError = lastError;
    this.emit();
  }

  private countsChanged(): void {
    if (this.countsQueued) return;
    this.countsQueued = true;
    setImmediate(() => {
      this.countsQueued = false;
      this.emit();
    });
  }

  private emit(): void {
    const status = this.status;
    for (const listener of this.listeners) {
      try {
        listener(status);
      } catch (error) {
        this.reportError(error, '(status listener)');
      }
    }
  }

  private reportError(error: unknown, subject: string): void {
    const onError = this.options.onError ?? defaultOnError;
    try {
      onError(error, subject);
    } catch {
      // An error reporter that throws has nowhere left to report to.
    }
  }
}

export interface DurableSettings {
  /** ack_wait in ms. */
  ackWaitMs: number;
  maxAckPending: number;
}

/**
 * Ensures the durable pull consumer `durable` exists on `stream` (made when missing,
 * taking everything the stream captures from its first message) and returns its info.
 * Refuses a push consumer or one without explicit acks; keeps ack_wait and
 * max_ack_pending in step with `settings` (both can change on a live consumer), and
 * when the server refuses that, tells `onUpdateError` and goes on with what it has.
 * Never creates the stream.
 */
export async function ensureDurable(
  jsm: JetStreamManager,
  stream: string,
  durable: string,
  settings: DurableSettings,
  onUpdateError: (error: unknown) => void,
): Promise<ConsumerInfo> {
  let info: ConsumerInfo;
  try {
    info = await jsm.consumers.info(stream, durable);
  } catch (error) {
    if (isApiError(error, JetStreamApiCodes.StreamNotFound)) throw streamMissing(stream);
    if (!isApiError(error, JetStreamApiCodes.ConsumerNotFound)) throw error;
    // No filter subject: the consumer takes everything the stream captures.
    const config: Partial<ConsumerConfig> = {
      durable_name: durable,
      deliver_policy: DeliverPolicy.All,
      ack_policy: AckPolicy.Explicit,
      ack_wait: nanos(settings.ackWaitMs),
      max_ack_pending: settings.maxAckPending,
    };
    info = await jsm.consumers.add(stream, config).catch((addError: unknown) => {
      if (isApiError(addError, JetStreamApiCodes.StreamNotFound)) throw streamMissing(stream);
      throw addError;
    });
  }
  const { config } = info;
  if (config.deliver_subject) {
    throw new Error(`${describeDurable(stream, durable)} is a push consumer; Sluice needs a pull consumer (delete it, or choose another name: the jetstreamDurable setting)`);
  }
  if (config.ack_policy !== AckPolicy.Explicit) {
    throw new Error(`${describeDurable(stream, durable)} has ack_policy ${config.ack_policy}; Sluice needs explicit acks`);
  }
  const wantAckWait = nanos(settings.ackWaitMs);
  if (config.ack_wait !== wantAckWait || config.max_ack_pending !== settings.maxAckPending) {
    info = await jsm.consumers.update(stream, durable, { ack_wait: wantAckWait, max_ack_pending: settings.maxAckPending }).catch((error: unknown) => {
      onUpdateError(error);
      return info;
    });
  }
  return info;
}

function streamMissing(stream: string): Error {
  return new Error(`JetStream stream "${stream}" not found; Sluice does not create streams: define one that captures the DECNET subjects`);
}

function describeDurable(stream: string, durable: string): string {
  return `consumer "${durable}" on stream "${stream}"`;
}

/** Sends an ack or nak; false when it could not be sent (the connection is gone). */
function answer(send: () => void): boolean {
  try {
    send();
    return true;
  } catch {
    return false;
  }
}

function nakDelay(msg: JsMsg): number {
  let deliveries = 1;
  try {
    deliveries = msg.info.deliveryCount;
  } catch {
    // A reply subject we cannot parse: use the first step.
  }
  return Math.min(NAK_MAX_MS, NAK_BASE_MS * 2 ** Math.min(Math.max(0, deliveries - 1), 16));
}

function isApiError(error: unknown, code: number): boolean {
  return error instanceof JetStreamApiError && error.code === code;
}

async function flushQuietly(nc: NatsConnection): Promise<void> {
  if (nc.isClosed()) return;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, FLUSH_TIMEOUT_MS);
  });
  await Promise.race([nc.flush().catch(() => undefined), timedOut]);
  clearTimeout(timer);
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function defaultOnError(error: unknown, subject: string): void {
  console.error(`[jetstream] ${subject}:`, error);
}
