/**
 * A real HTTP (or, given TLS options, HTTPS) receiver on 127.0.0.1 for integration tests.
 *
 * Every request is recorded (after its body has been read) and then answered by the
 * current behavior. `close()` destroys open sockets, so a hanging or dripping behavior
 * never blocks a test's teardown.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type ServerOptions as HttpsOptions } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { Readable } from 'node:stream';
import { createGzip } from 'node:zlib';

export interface ReceivedRequest {
  method: string;
  path: string;
  /** Lower-case header names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: Buffer;
  /** Date.now() when the request body was complete. */
  receivedAt: number;
  /** Over TLS: the SNI name the client sent (null: none) and its certificate's CN (null: none). */
  tls?: { servername: string | null; clientCn: string | null };
}

/** How the receiver answers; the default answers 200 "ok". */
export type Behavior = (req: ReceivedRequest, res: ServerResponse) => void | Promise<void>;

export interface Receiver {
  /** e.g. http://127.0.0.1:41234/hook (https:// with TLS options) */
  url: string;
  port: number;
  /** Every request received, in order. */
  requests: ReceivedRequest[];
  /** Change how it answers from now on. */
  setBehavior(b: Behavior): void;
  /** Resolves when requests.length >= n; rejects on timeout (default 5000 ms) or close. */
  waitForRequests(n: number, timeoutMs?: number): Promise<ReceivedRequest[]>;
  /** Stops listening and destroys open sockets. */
  close(): Promise<void>;
}

interface Waiter {
  n: number;
  resolve: (requests: ReceivedRequest[]) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

const DEFAULT_WAIT_MS = 5_000;
const CHUNK_BYTES = 64 * 1024;

/** `tls`: serve HTTPS with these options (certificate and key; `requestCert` + `ca` to require client certificates). */
export async function startReceiver(behavior: Behavior = status(200, 'ok'), options: { tls?: HttpsOptions } = {}): Promise<Receiver> {
  let current = behavior;
  let closed = false;
  const requests: ReceivedRequest[] = [];
  const waiters = new Set<Waiter>();
  const sockets = new Set<Socket>();

  const settleWaiters = (): void => {
    for (const waiter of waiters) {
      if (requests.length >= waiter.n) {
        clearTimeout(waiter.timer);
        waiters.delete(waiter);
        waiter.resolve([...requests]);
      }
    }
  };

  const handler = (incoming: IncomingMessage, res: ServerResponse): void => {
    void handleRequest(incoming, res);
  };
  const server: Server = options.tls === undefined ? createServer(handler) : createHttpsServer(options.tls, handler);

  const handleRequest = async (incoming: IncomingMessage, res: ServerResponse): Promise<void> => {
    let received: ReceivedRequest;
    try {
      received = await readRequest(incoming);
    } catch {
      incoming.socket.destroy();
      return;
    }
    requests.push(received);
    settleWaiters();
    try {
      await current(received, res);
    } catch {
      res.destroy();
    }
  };

  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('clientError', (_error, socket) => socket.destroy());
  // A failed handshake never becomes a request; its socket is still closed by close().
  server.on('tlsClientError', (_error, socket) => socket.destroy());

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `${options.tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}/hook`,
    port,
    requests,
    setBehavior(b) {
      current = b;
    },
    waitForRequests(n, timeoutMs = DEFAULT_WAIT_MS) {
      if (requests.length >= n) return Promise.resolve([...requests]);
      if (closed) return Promise.reject(new Error(`receiver closed with ${requests.length} of ${n} request(s)`));
      return new Promise<ReceivedRequest[]>((resolve, reject) => {
        const waiter: Waiter = {
          n,
          resolve,
          reject,
          timer: setTimeout(() => {
            waiters.delete(waiter);
            reject(
              new Error(`receiver: expected ${n} request(s) within ${timeoutMs} ms, got ${requests.length}`),
            );
          }, timeoutMs),
        };
        waiters.add(waiter);
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const waiter of waiters) {
        clearTimeout(waiter.timer);
        waiter.reject(new Error(`receiver closed with ${requests.length} of ${waiter.n} request(s)`));
      }
      waiters.clear();
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      server.closeAllConnections();
      await stopped;
    },
  };
}

async function readRequest(incoming: IncomingMessage): Promise<ReceivedRequest> {
  const chunks: Buffer[] = [];
  for await (const chunk of incoming) chunks.push(chunk as Buffer);
  const socket = incoming.socket as Partial<TLSSocket>;
  const clientCn = socket.encrypted === true ? socket.getPeerCertificate?.().subject?.CN : undefined;
  return {
    method: incoming.method ?? '',
    path: incoming.url ?? '',
    headers: flattenHeaders(incoming),
    body: Buffer.concat(chunks),
    receivedAt: Date.now(),
    ...(socket.encrypted === true
      ? { tls: { servername: typeof socket.servername === 'string' ? socket.servername : null, clientCn: typeof clientCn === 'string' ? clientCn : null } }
      : {}),
  };
}

function flattenHeaders(incoming: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(incoming.headersDistinct)) {
    if (value !== undefined) headers[name] = value.join(', ');
  }
  return headers;
}

/** Answers `code` with a text body (default: the status code's reason). */
export function status(code: number, body?: string): Behavior {
  return (_req, res) => {
    res.writeHead(code, { 'content-type': 'text/plain' });
    res.end(body ?? String(code));
  };
}

/** Never answers. */
export function hang(): Behavior {
  return () => undefined;
}

/** Sends 200 headers, then one byte per interval, forever (until the client goes away). */
export function drip(intervalMs: number): Behavior {
  return (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.flushHeaders();
    const timer = setInterval(() => res.write('.'), intervalMs);
    res.once('close', () => clearInterval(timer));
  };
}

/** 302 to `location`. */
export function redirect(location: string): Behavior {
  return (_req, res) => {
    res.writeHead(302, { location, 'content-type': 'text/plain' });
    res.end('moved');
  };
}

/** 200 with a body of `bytes` bytes ("a"), streamed with backpressure and a Content-Length. */
export function hugeBody(bytes: number): Behavior {
  return (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(bytes) });
    pipeQuietly(filler(bytes, 0x61), res);
  };
}

/**
 * 200 with `Content-Encoding: gzip` whose body inflates to `decodedBytes` zero bytes.
 * Compressed on the fly with backpressure: it only costs what the client reads.
 */
export function gzipBomb(decodedBytes: number): Behavior {
  return (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-encoding': 'gzip' });
    pipeQuietly(filler(decodedBytes, 0).pipe(createGzip({ level: 9 })), res);
  };
}

/** Destroys the connection without answering (TCP RST where supported). */
export function resetConnection(): Behavior {
  return (_req, res) => {
    const socket = res.socket;
    if (socket === null) return;
    if (typeof socket.resetAndDestroy === 'function') socket.resetAndDestroy();
    else socket.destroy();
  };
}

/** 429 with `Retry-After: <seconds>`. */
export function retryAfter(seconds: number): Behavior {
  return (_req, res) => {
    res.writeHead(429, { 'retry-after': String(seconds), 'content-type': 'text/plain' });
    res.end('slow down');
  };
}

function filler(total: number, byte: number): Readable {
  const chunk = Buffer.alloc(CHUNK_BYTES, byte);
  let remaining = total;
  return new Readable({
    read() {
      if (remaining <= 0) {
        this.push(null);
        return;
      }
      const size = Math.min(remaining, CHUNK_BYTES);
      remaining -= size;
      this.push(size === CHUNK_BYTES ? chunk : chunk.subarray(0, size));
    },
  });
}

function pipeQuietly(source: Readable, res: ServerResponse): void {
  source.on('error', () => res.destroy());
  res.once('close', () => source.destroy());
  source.pipe(res);
}
