/**
 * The connection to the NATS bus over WebSocket: dial every configured server in turn,
 * reconnect with backoff, subscribe again after a reconnect, drain on close, and report
 * one status (with a diagnosis from dial-diagnosis.ts when a dial fails). The socket
 * factory, the TLS files and the credentials below the class are its dial.
 *
 * Over 500 lines: NatsBus is one state machine (dialling, connected, reconnecting,
 * closed) whose states share its private fields (the current connection, the
 * registrations to restore, the backoff attempt, the status listeners); cut apart, those
 * fields would have to be exposed to another module. The seam when it grows is the dial
 * (socketFactory, loadTlsMaterial, loadCredsAuthenticator), which needs none of them.
 */
import { readFile } from 'node:fs/promises';
import {
  AuthorizationError,
  UserAuthenticationExpiredError,
  credsAuthenticator,
  nkeyAuthenticator,
  wsconnect,
  type Authenticator,
  type Msg,
  type NatsConnection,
  type Subscription,
  type WsConnectionOptions,
  type WsSocketFactory,
} from '@nats-io/nats-core';
import WebSocket from 'ws';
import type { BusState, BusStatus } from '../contract/views';
import { backoffDelay } from './backoff';
import { checkClientPair, readCaBundle, readClientCertificate, readClientKey } from '../tls/pem-files';
import {
  BusAuthError,
  combineDiagnoses,
  diagnoseAuthRefusal,
  diagnoseSocketFailure,
  type SocketObservation,
} from './dial-diagnosis';

export { BusAuthError, BusDialError, BusTlsError } from './dial-diagnosis';

export interface BusOptions {
  /** ws:// or wss:// URLs. */
  servers: string[];
  token?: string;
  user?: string;
  pass?: string;
  /** A .creds file (JWT + seed) or a bare NKey seed file; re-read on every connection attempt. */
  credsFile?: string;
  /**
   * A PEM bundle of the CAs a `wss://` server's certificate must chain to, trusted instead
   * of the system CAs; re-read on every connection attempt, so a replaced file applies
   * on the next reconnect.
   */
  caFile?: string;
  /**
   * A PEM client certificate and its unencrypted key, presented to `wss://` servers that
   * verify clients (nats-server `websocket { tls { verify: true } }`); re-read on every
   * connection attempt. Both or neither.
   */
  clientCertFile?: string;
  clientKeyFile?: string;
  /** Client name shown by the server; default 'sluice'. */
  name?: string;
  /** Called when a message handler throws or the server refuses a subscription; default: console.error. */
  onError?: (error: unknown, subject: string) => void;
}

/** Receives the raw subject and payload; `data` is never parsed or copied here. */
type MessageHandler = (subject: string, data: Uint8Array) => void;

interface BusSubscription {
  readonly pattern: string;
  unsubscribe(): void;
}

type StatusListener = (status: BusStatus) => void;
type ConnectionListener = (nc: NatsConnection) => void;

interface Registration {
  readonly pattern: string;
  readonly handler: MessageHandler;
  active: Subscription | null;
  removed: boolean;
}

type DialResult = { ok: true; nc: NatsConnection } | { ok: false; error: unknown };

const DEFAULT_NAME = 'sluice';
const HANDSHAKE_TIMEOUT_MS = 5_000;
// A silent half-open socket is noticed after ~3 unanswered pings (≤ 60 s) instead of
// the library's 2-minute interval.
const PING_INTERVAL_MS = 20_000;
const MAX_PINGS_OUT = 3;
// A connection that drops sooner than this counts as a flap: the next dial waits with
// growing backoff instead of hammering a server that accepts and then kicks us.
const STABLE_CONNECTION_MS = 10_000;
// close() must finish even when the server has gone silent and a drain would never complete.
const DRAIN_TIMEOUT_MS = 2_000;

/**
 * The engine's NATS client over WebSocket. Connects and reconnects forever with backoff
 * (its own loop, one code path for the first connection and every later one), keeps
 * subscriptions across reconnects, and reports its state.
 */
export class NatsBus {
  private readonly options: BusOptions;
  private readonly listeners = new Set<StatusListener>();
  private readonly connectionListeners = new Set<ConnectionListener>();
  private readonly registrations = new Set<Registration>();
  private current: BusStatus;
  private nc: NatsConnection | null = null;
  private loop: Promise<void> | null = null;
  private closing: Promise<void> | null = null;
  private wakeFromPause: (() => void) | null = null;
  private hasConnected = false;
  /** The current connection's WebSocket, for flow control (pauseReading). */
  private socket: WebSocket | null = null;
  /** What each server's socket last saw, since the last connection: the status names them all. */
  private readonly socketFailures: SocketObservations = new Map();

  constructor(options: BusOptions) {
    this.options = options;
    this.current = {
      state: 'connecting',
      url: options.servers.join(', '),
      server: null,
      attempt: 0,
      lastError: null,
      since: new Date().toISOString(),
    };
  }

  get status(): BusStatus {
    return this.current;
  }

  /**
   * Stop reading from the bus for a while: core NATS has no flow control of its own, so
   * a consumer that cannot keep up either reads on and holds everything in memory, or
   * stops reading and lets the server buffer (its per-client limit is tens of MB; held
   * much longer than a few seconds, it cuts the client off as a slow consumer). The
   * engine pauses while its intake queue is full and resumes as soon as it has drained.
   * A new connection starts reading (its handshake needs it); the engine pauses it again
   * at the next message if it is still behind.
   */
  pauseReading(): void {
    this.socket?.pause();
  }

  resumeReading(): void {
    this.socket?.resume();
  }

  onStatus(listener: StatusListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * The live connection, or null between connections. It belongs to the bus: use it
   * (e.g. for JetStream), never close or drain it; it is replaced on every reconnect.
   */
  get connection(): NatsConnection | null {
    const nc = this.nc;
    return nc && !nc.isClosed() ? nc : null;
  }

  /**
   * Called with each new live connection, once it holds the bus's subscriptions and the
   * state is 'connected'. A connection's end shows as `nc.closed()` resolving.
   */
  onConnection(listener: ConnectionListener): () => void {
    this.connectionListeners.add(listener);
    return () => this.connectionListeners.delete(listener);
  }

  start(): void {
    if (this.loop || this.closing) return;
    this.loop = this.run().catch((error: unknown) => this.report(error, '(bus loop)'));
  }

  subscribe(pattern: string, handler: MessageHandler): BusSubscription {
    const registration: Registration = { pattern, handler, active: null, removed: false };
    this.registrations.add(registration);
    if (this.nc && !this.nc.isClosed()) registration.active = this.subscribeOn(this.nc, registration);
    return {
      pattern,
      unsubscribe: () => this.unsubscribe(registration),
    };
  }

  async ready(): Promise<void> {
    const nc = this.nc;
    if (!nc || nc.isClosed()) return;
    // A flush that fails means the connection dropped: nothing left to confirm.
    await nc.flush().catch(() => undefined);
  }

  publish(subject: string, data: Uint8Array): boolean {
    const nc = this.nc;
    if (!nc || this.current.state !== 'connected') return false;
    try {
      nc.publish(subject, data);
      return true;
    } catch {
      return false;
    }
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.wakeFromPause?.();
    if (this.nc) await drainOrClose(this.nc);
    await this.loop;
    for (const registration of this.registrations) registration.active = null;
    this.transition('closed', { server: null, attempt: 0, lastError: this.current.lastError });
  }

  private async run(): Promise<void> {
    let failures = 0;
    let flaps = 0;
    while (!this.closing) {
      const dialed = await this.dial();
      if (this.closing) {
        if (dialed.ok) await dialed.nc.close().catch(() => undefined);
        return;
      }
      if (!dialed.ok) {
        failures++;
        this.reportDialFailure(failures, dialed.error);
        await this.pause(backoffDelay(failures));
        continue;
      }
      failures = 0;
      const uptimeMs = await this.serve(dialed.nc);
      flaps = uptimeMs < STABLE_CONNECTION_MS ? flaps + 1 : 0;
      if (flaps > 0) await this.pause(backoffDelay(flaps));
    }
  }

  private async dial(): Promise<DialResult> {
    const seen: SocketObservations = new Map();
    try {
      const nc = await wsconnect(await this.connectionOptions(seen));
      this.socketFailures.clear();
      return { ok: true, nc };
    } catch (error) {
      for (const [url, observation] of seen) this.socketFailures.set(url, observation);
      return { ok: false, error: this.diagnose(error, seen) };
    }
  }

  /**
   * nats-core reports every failed dial as "connection refused"; what each socket saw
   * (its error, or an HTTP answer that was no upgrade) says why, and the fix. A dial
   * tries one server, so with several URLs each is named with what it last showed. A
   * refusal at NATS level (credentials) is named with the settings that were sent.
   */
  private diagnose(error: unknown, seen: SocketObservations): unknown {
    if (isAuthError(error)) return diagnoseAuthRefusal(errorMessage(error), this.options);
    if (seen.size === 0) return error;
    const order = (url: string): number => {
      const index = this.options.servers.findIndex((server) => sameUrl(server, url));
      return index < 0 ? this.options.servers.length : index;
    };
    const observations = [...this.socketFailures.values()].sort((a, b) => order(a.url) - order(b.url));
    return combineDiagnoses(observations.map((observation) => diagnoseSocketFailure(observation, this.options)));
  }

  private async connectionOptions(seen: SocketObservations): Promise<WsConnectionOptions> {
    const { servers, token, user, pass, credsFile, name } = this.options;
    const material = loadTlsMaterial(this.options);
    return {
      servers,
      name: name ?? DEFAULT_NAME,
      token,
      user,
      pass,
      authenticator: credsFile ? await loadCredsAuthenticator(credsFile) : undefined,
      // Reconnection is this class's loop, so one policy covers first and later connections.
      reconnect: false,
      timeout: HANDSHAKE_TIMEOUT_MS,
      pingInterval: PING_INTERVAL_MS,
      maxPingOut: MAX_PINGS_OUT,
      wsFactory: socketFactory(material, seen, (socket) => (this.socket = socket)),
    };
  }

  /** Runs one live connection until it ends; returns how long it lasted. */
  private async serve(nc: NatsConnection): Promise<number> {
    const connectedAt = Date.now();
    this.nc = nc;
    for (const registration of this.registrations) registration.active = this.subscribeOn(nc, registration);
    // Report 'connected' only once the server holds our subscriptions, so a message
    // published after the state change cannot miss them.
    await nc.flush().catch(() => undefined);
    if (!nc.isClosed() && !this.closing) {
      this.hasConnected = true;
      this.transition('connected', { server: this.connectedServer(nc), attempt: 0, lastError: null });
      this.announce(nc);
    }
    const reason = await nc.closed();
    this.nc = null;
    for (const registration of this.registrations) registration.active = null;
    if (!this.closing) {
      this.transition('reconnecting', { server: null, attempt: 0, lastError: describeLoss(reason) });
    }
    return Date.now() - connectedAt;
  }

  private announce(nc: NatsConnection): void {
    for (const listener of this.connectionListeners) {
      try {
        listener(nc);
      } catch (error) {
        this.report(error, '(connection listener)');
      }
    }
  }

  /** The configured URL of the server dialed, as the analyst wrote it. */
  private connectedServer(nc: NatsConnection): string {
    const listen = nc.getServer();
    const src = nc.getServers().find((server) => server.listen === listen)?.src ?? listen;
    return this.options.servers.find((url) => sameUrl(url, src)) ?? src;
  }

  private subscribeOn(nc: NatsConnection, registration: Registration): Subscription | null {
    try {
      return nc.subscribe(registration.pattern, {
        callback: (error, msg) => this.deliver(registration, error, msg),
      });
    } catch (error) {
      this.report(error, registration.pattern);
      return null;
    }
  }

  private deliver(registration: Registration, error: Error | null, msg: Msg): void {
    if (registration.removed) return;
    if (error) {
      this.report(error, registration.pattern);
      return;
    }
    try {
      registration.handler(msg.subject, msg.data);
    } catch (handlerError) {
      // A throwing handler would otherwise unwind into the protocol parser and drop the connection.
      this.report(handlerError, msg.subject);
    }
  }

  private unsubscribe(registration: Registration): void {
    if (registration.removed) return;
    registration.removed = true;
    this.registrations.delete(registration);
    const active = registration.active;
    registration.active = null;
    try {
      active?.unsubscribe();
    } catch {
      // The connection is already gone; nothing to tell the server.
    }
  }

  private reportDialFailure(failures: number, error: unknown): void {
    const state: BusState = isAuthError(error) ? 'auth_failed' : this.hasConnected ? 'reconnecting' : 'connecting';
    this.transition(state, { server: null, attempt: failures, lastError: errorMessage(error) });
  }

  private transition(state: BusState, fields: Pick<BusStatus, 'server' | 'attempt' | 'lastError'>): void {
    if (this.current.state === 'closed') return;
    const since = state === this.current.state ? this.current.since : new Date().toISOString();
    this.current = { state, url: this.current.url, ...fields, since };
    for (const listener of this.listeners) {
      try {
        listener(this.current);
      } catch (error) {
        this.report(error, '(status listener)');
      }
    }
  }

  /** Waits `ms`, or less if close() is called meanwhile. */
  private pause(ms: number): Promise<void> {
    if (this.closing) return Promise.resolve();
    return new Promise((resolve) => {
      const finish = (): void => {
        clearTimeout(timer);
        this.wakeFromPause = null;
        resolve();
      };
      const timer = setTimeout(finish, ms);
      this.wakeFromPause = finish;
    });
  }

  private report(error: unknown, subject: string): void {
    const onError = this.options.onError ?? defaultOnError;
    try {
      onError(error, subject);
    } catch {
      // An error reporter that throws has nowhere left to report to.
    }
  }
}

/**
 * Reads a NATS `.creds` file (user JWT + NKey seed) or a file holding a bare user NKey
 * seed, and returns the matching authenticator.
 */
export async function loadCredsAuthenticator(path: string): Promise<Authenticator> {
  const bytes = await readFile(path);
  const text = new TextDecoder().decode(bytes);
  if (text.includes('BEGIN NATS USER JWT')) return credsAuthenticator(bytes);
  const seed = /^\s*(SU[A-Z2-7]+)\s*$/m.exec(text)?.[1];
  if (!seed) throw new Error(`${path} holds neither a user JWT nor a user NKey seed`);
  return nkeyAuthenticator(new TextEncoder().encode(seed));
}

interface TlsMaterial {
  ca?: string;
  cert?: string;
  key?: string;
}

/** The TLS files at connection time; an error message is what the status shows as the bus error. */
function loadTlsMaterial({ caFile, clientCertFile, clientKeyFile }: BusOptions): TlsMaterial {
  const material: TlsMaterial = {};
  const read = <T>(setting: string, reader: () => T): T => {
    try {
      return reader();
    } catch (error) {
      throw new Error(`${setting}: ${errorMessage(error)}`, { cause: error });
    }
  };
  if (caFile) material.ca = read('natsCaFile', () => readCaBundle(caFile));
  if (clientCertFile && !clientKeyFile) throw new Error('natsClientCertFile is set but natsClientKeyFile is not: a client certificate needs its key');
  if (clientKeyFile && !clientCertFile) throw new Error('natsClientKeyFile is set but natsClientCertFile is not: a key needs its client certificate');
  if (clientCertFile && clientKeyFile) {
    const cert = read('natsClientCertFile', () => readClientCertificate(clientCertFile));
    const key = read('natsClientKeyFile', () => readClientKey(clientKeyFile));
    read('natsClientKeyFile', () => checkClientPair(cert, key, clientCertFile, clientKeyFile));
    Object.assign(material, { cert, key });
  }
  return material;
}


type FactorySocket = Awaited<ReturnType<WsSocketFactory>>['socket'];

/** What each socket of one dial saw when it failed, by URL (the last word for each). */
type SocketObservations = Map<string, SocketObservation>;

/** At most this much of an HTTP answer that is not an upgrade is read, for the diagnosis. */
const MAX_ANSWER_BYTES = 1024;
const ANSWER_READ_MS = 1000;

/**
 * The `ws` package everywhere: Node 20 has no global WebSocket, and one implementation
 * behaves the same under plain Node and Electron. With `ca`, those CAs are the only
 * trusted roots for `wss://` (Node's `ca` replaces the system store), which pins the bus
 * to the certificates its private CA issued; `cert`/`key` answer a server that asks for
 * a client certificate. Each socket records what went wrong for the dial's diagnosis.
 */
function socketFactory(material: TlsMaterial, seen: SocketObservations, created: (socket: WebSocket) => void): WsSocketFactory {
  return async (url) => {
    const socket = new WebSocket(url, material);
    created(socket);
    let answered = false;
    socket.on('error', (error: NodeJS.ErrnoException & { rawPacket?: Buffer }) => {
      // Once an answer is recorded, the abort that follows says nothing more.
      if (!answered) seen.set(url, { url, error: { code: error.code, message: error.message, rawPacket: error.rawPacket } });
    });
    // An HTTP answer that is not an upgrade: which server answered is in its status and body.
    socket.on('unexpected-response', (request, response) => {
      answered = true;
      const chunks: Buffer[] = [];
      let size = 0;
      let finished = false;
      const finish = (): void => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        const body = Buffer.concat(chunks).subarray(0, MAX_ANSWER_BYTES).toString('utf8');
        seen.set(url, { url, response: { status: response.statusCode ?? 0, body } });
        request.destroy();
        socket.terminate();
      };
      const timer = setTimeout(finish, ANSWER_READ_MS);
      response.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        size += chunk.length;
        if (size >= MAX_ANSWER_BYTES) finish();
      });
      response.once('end', finish);
      response.once('error', finish);
    });
    return { socket: socket as unknown as FactorySocket, encrypted: url.startsWith('wss://') };
  };
}

async function drainOrClose(nc: NatsConnection): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), DRAIN_TIMEOUT_MS);
  });
  const drained = nc.drain().then(
    () => true,
    () => false,
  );
  const ok = await Promise.race([drained, timedOut]);
  clearTimeout(timer);
  if (!ok) await nc.close().catch(() => undefined);
}

function sameUrl(a: string, b: string): boolean {
  try {
    return new URL(a).href === new URL(b).href;
  } catch {
    return a === b;
  }
}

function isAuthError(error: unknown): boolean {
  return error instanceof BusAuthError || error instanceof AuthorizationError || error instanceof UserAuthenticationExpiredError;
}

function describeLoss(reason: void | Error): string {
  return reason ? `connection lost: ${reason.message}` : 'connection lost';
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function defaultOnError(error: unknown, subject: string): void {
  console.error(`[bus] ${subject}:`, error);
}
