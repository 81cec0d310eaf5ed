/**
 * The local web host (docs/design.md#web-host, second transport): serves the built
 * renderer to a browser on 127.0.0.1 and speaks the bridge contract as JSON-RPC 2.0 over
 * a WebSocket at `/rpc`.
 *
 * Who may drive it: only a page this host served, opened from the URL it printed. The
 * per-run token travels in the URL fragment (a browser never sends a fragment, so it
 * stays out of requests, logs and Referer) and the page hands it to `/rpc`; the `Host`
 * header must name this host (a DNS-rebound name does not), and the WebSocket `Origin`
 * must be this host's own origin (another web page's is not; browsers do not let a
 * page forge it). A page of this host whose token is missing or stale (the host was
 * restarted) gets a socket that is closed at once with TOKEN_REFUSED_CLOSE_CODE, so it
 * can say so; every other client is refused at the HTTP upgrade. Runs under plain Node;
 * nothing here imports Electron.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { createServer, STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { extname, resolve, sep } from 'node:path';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import {
  BridgeFailure,
  TOKEN_REFUSED_CLOSE_CODE,
  TOKEN_REFUSED_REASON,
  calls,
  deliveryExportRequest,
  dispatchCall,
  type DeliveryExportRequest,
  type EventName,
  type EventPayloads,
} from '../contract/bridge';
import { SOURCES } from '../engine/audit-trail';
import { exportFileName, type OpenedExport } from '../engine/delivery-search';
import type { Engine } from '../engine/engine';

export const DEFAULT_PORT = 7870;
const RPC_PATH = '/rpc';
/** The export as a download: `GET /export?token=…&format=csv|ndjson&text=…` (docs/design.md#finding-and-exporting-deliveries). */
export const EXPORT_PATH = '/export';
const EXPORT_CONTENT_TYPES = { csv: 'text/csv; charset=utf-8', ndjson: 'application/x-ndjson; charset=utf-8' } as const;
/** The largest JSON-RPC message accepted; a bigger frame closes the socket (1009). */
export const MAX_PAYLOAD_BYTES = 32 * 1024 * 1024;
/** Past this much unsent data a client misses events (it refetches when it reconnects). */
const EVENT_BACKLOG_LIMIT_BYTES = 8 * 1024 * 1024;
/** Past this much unsent data a client that keeps asking without reading is cut off. */
const CLIENT_BACKLOG_LIMIT_BYTES = 64 * 1024 * 1024;
/** How long `close()` waits for clients to finish the WebSocket closing handshake. */
const CLOSE_GRACE_MS = 1000;

/** JSON-RPC 2.0 error codes for faults of the protocol itself (not of a call). */
const RPC_PARSE_ERROR = -32700;
const RPC_INVALID_REQUEST = -32600;
const RPC_METHOD_NOT_FOUND = -32601;

interface WebHostOptions {
  engine: Engine;
  /** 0 picks a free port. Default {@link DEFAULT_PORT}. */
  port?: number;
  /** The built renderer (`out/renderer`): the only files served. */
  rendererDir: string;
  /** Default: 32 random bytes, base64url, new every run. */
  token?: string;
  /** A handler failed unexpectedly (the client gets `internal`). Default: stderr. */
  onInternalError?: (err: unknown, call: string) => void;
}

export interface WebHost {
  /** What the analyst opens: `http://127.0.0.1:PORT/#token=TOKEN`. */
  url: string;
  /** `http://127.0.0.1:PORT` */
  origin: string;
  port: number;
  token: string;
  /** Closes every client socket and the server. */
  close(): Promise<void>;
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.wasm': 'application/wasm',
};

function securityHeaders(port: number): Record<string, string> {
  return {
    'Content-Security-Policy':
      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
      `connect-src 'self' ws://127.0.0.1:${port}; object-src 'none'; base-uri 'none'; ` +
      "form-action 'none'; frame-ancestors 'none'",
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
    'Cache-Control': 'no-store',
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Resource-Policy': 'same-origin',
  };
}

export async function startWebHost(options: WebHostOptions): Promise<WebHost> {
  const { engine } = options;
  // Changes made in the browser are the web console's in the audit trail.
  const handlers = engine.handlersFor(SOURCES.webConsole);
  const token = options.token ?? randomBytes(32).toString('base64url');
  if (token.length === 0) throw new Error('the web host token must not be empty');
  const rendererDir = resolve(options.rendererDir);
  const onInternalError =
    options.onInternalError ??
    ((err: unknown, call: string) => process.stderr.write(`sluice serve: ${call} failed: ${describeError(err)}\n`));

  const sockets = new Set<Socket>();
  const clients = new Set<WebSocket>();
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_PAYLOAD_BYTES, perMessageDeflate: false });
  let port = 0;
  let headers: Record<string, string> = {};

  /** The Host header, when it names this host; a DNS-rebound name does not. */
  const validHost = (req: IncomingMessage): string | null => {
    const host = req.headers.host?.toLowerCase();
    return host === `127.0.0.1:${port}` || host === `localhost:${port}` ? host : null;
  };

  const server = createServer((req, res) => {
    const serve = sanitizePath(req.url) === EXPORT_PATH ? serveExport : serveStatic;
    serve(req, res).catch((err: unknown) => {
      onInternalError(err, `GET ${sanitizePath(req.url)}`);
      if (!res.headersSent) respond(res, 500);
      else res.destroy();
    });
  });

  /** `message`: what went wrong, for whoever reads the answer (the default: the status line). */
  const respond = (res: ServerResponse, status: number, extra: Record<string, string> = {}, message?: string): void => {
    const body = message === undefined ? `${status} ${STATUS_CODES[status] ?? ''}\n` : `${message}\n`;
    res.writeHead(status, {
      ...headers,
      ...extra,
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Length': String(Buffer.byteLength(body)),
    });
    res.end(res.req.method === 'HEAD' ? undefined : body);
  };

  const serveStatic = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (!validHost(req)) return respond(res, 421);
    if (req.method !== 'GET' && req.method !== 'HEAD') return respond(res, 405, { Allow: 'GET, HEAD' });
    const file = staticFile(rendererDir, req.url ?? '');
    if (!file) return respond(res, 404);
    let body: Buffer;
    try {
      if (!(await stat(file)).isFile()) return respond(res, 404);
      body = await readFile(file);
    } catch {
      return respond(res, 404);
    }
    res.writeHead(200, {
      ...headers,
      'Content-Type': CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
      'Content-Length': String(body.length),
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  };

  /**
   * The export, downloaded. The page's link carries the token as its `/rpc` URL does (the
   * page's own fragment never reaches a request); a link without this run's token, from
   * anywhere, gets nothing. The filters are the contract's (`deliveryExportRequest`, the
   * same checks and messages); a bad one is a 400 saying which. Rows are read through a
   * read-only connection of the export's own and written as the browser takes them.
   */
  const serveExport = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const host = validHost(req);
    if (!host) return respond(res, 421);
    if (req.method !== 'GET') return respond(res, 405, { Allow: 'GET' });
    const params = new URL(req.url ?? '', `http://${host}`).searchParams;
    if (!tokenMatches(params.get('token'), token))
      return respond(res, 403, {}, `${TOKEN_REFUSED_REASON}: open the URL \`npm run serve\` printed, and export from that page`);
    const request = exportRequestOf(params);
    if (typeof request === 'string') return respond(res, 400, {}, request);
    let opened: OpenedExport;
    try {
      opened = engine.openExport(request);
    } catch (err) {
      if (err instanceof BridgeFailure) return respond(res, err.code === 'invalid_argument' ? 400 : 503, {}, err.message);
      throw err;
    }
    res.writeHead(200, {
      ...headers,
      'Content-Type': EXPORT_CONTENT_TYPES[request.format],
      'Content-Disposition': `attachment; filename="${exportFileName(request.format)}"`,
    });
    try {
      await opened.write(res);
      res.end();
    } catch (err) {
      // A download given up (the tab closed) is not a fault; either way the connection goes.
      if (!res.destroyed) onInternalError(err, `GET ${EXPORT_PATH}`);
      res.destroy();
    }
  };

  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const onSocketError = (): void => void socket.destroy();
    socket.on('error', onSocketError);
    const refusal = upgradeRefusal(req);
    if (typeof refusal === 'number') {
      refuseUpgrade(socket, refusal);
      return;
    }
    socket.off('error', onSocketError);
    if (refusal === 'token') {
      // This host's own page (Host and Origin passed) with a missing or stale token: a
      // socket that reads nothing and is closed at once, with a code the page can read.
      wss.handleUpgrade(req, socket, head, (ws) => {
        ws.on('error', () => ws.terminate());
        ws.close(TOKEN_REFUSED_CLOSE_CODE, TOKEN_REFUSED_REASON);
      });
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => accept(ws));
  });

  /** Why this upgrade is refused (an HTTP status, or 'token' for this host's page without this run's token), or null to accept it. */
  const upgradeRefusal = (req: IncomingMessage): number | 'token' | null => {
    const host = validHost(req);
    if (!host) return 403;
    let url: URL;
    try {
      url = new URL(req.url ?? '', `http://${host}`);
    } catch {
      return 400;
    }
    if (url.pathname !== RPC_PATH) return 404;
    if (req.headers.origin !== `http://${host}`) return 403;
    if (!tokenMatches(url.searchParams.get('token'), token)) return 'token';
    return null;
  };

  const accept = (ws: WebSocket): void => {
    clients.add(ws);
    ws.on('close', () => clients.delete(ws));
    // A malformed or oversized frame closes the socket; the host carries on.
    ws.on('error', () => ws.terminate());
    ws.on('message', (data, isBinary) => {
      void answer(ws, data, isBinary).catch((err: unknown) => onInternalError(err, 'json-rpc'));
    });
  };

  const sendText = (ws: WebSocket, text: string): void => {
    if (ws.readyState !== WebSocket.OPEN) return;
    if (ws.bufferedAmount > CLIENT_BACKLOG_LIMIT_BYTES) ws.terminate();
    else ws.send(text);
  };

  const answer = async (ws: WebSocket, data: RawData, isBinary: boolean): Promise<void> => {
    const request = parseRequest(data, isBinary);
    if ('silent' in request) return;
    if ('fault' in request) {
      sendText(ws, JSON.stringify({ jsonrpc: '2.0', id: request.id, error: request.fault }));
      return;
    }
    const { id, method, params } = request;
    const result = await dispatchCall(handlers, method, params, onInternalError);
    if (id === undefined) return;
    let text: string;
    try {
      text = JSON.stringify({ jsonrpc: '2.0', id, result });
    } catch (err) {
      onInternalError(err, method);
      text = JSON.stringify({ jsonrpc: '2.0', id, result: INTERNAL_ERROR_RESULT });
    }
    sendText(ws, text);
  };

  const forward = <E extends EventName>(event: E, payload: EventPayloads[E]): void => {
    if (clients.size === 0) return;
    let text: string;
    try {
      text = JSON.stringify({ jsonrpc: '2.0', method: event, params: [payload] });
    } catch (err) {
      onInternalError(err, event);
      return;
    }
    for (const ws of clients) {
      // A client that cannot keep up misses events rather than growing our memory.
      if (ws.readyState === WebSocket.OPEN && ws.bufferedAmount <= EVENT_BACKLOG_LIMIT_BYTES) ws.send(text);
    }
  };

  await new Promise<void>((resolveListen, rejectListen) => {
    server.once('error', rejectListen);
    server.listen({ port: options.port ?? DEFAULT_PORT, host: '127.0.0.1', exclusive: true }, () => {
      server.off('error', rejectListen);
      resolveListen();
    });
  });
  server.on('error', (err) => onInternalError(err, 'http server'));
  port = (server.address() as AddressInfo).port;
  headers = securityHeaders(port);
  const unsubscribe = engine.hub.subscribe(forward);

  const origin = `http://127.0.0.1:${port}`;
  let closing: Promise<void> | null = null;
  const close = async (): Promise<void> => {
    unsubscribe();
    const stopped = new Promise<void>((done) => server.close(() => done()));
    const closed = [...clients].map(
      (ws) =>
        new Promise<void>((done) => {
          const timer = setTimeout(() => ws.terminate(), CLOSE_GRACE_MS);
          ws.once('close', () => {
            clearTimeout(timer);
            done();
          });
          ws.close(1001, 'Sluice web host closing');
        }),
    );
    await Promise.all(closed);
    wss.close();
    server.closeAllConnections();
    for (const socket of sockets) socket.destroy();
    await stopped;
  };

  return {
    url: `${origin}/#token=${encodeURIComponent(token)}`,
    origin,
    port,
    token,
    close: () => (closing ??= close()),
  };
}

/**
 * The file under `rendererDir` a request path names, or null. Decoding happens once,
 * before resolving, and the result must stay inside the directory: `..`, `%2e%2e`,
 * encoded slashes and NUL bytes cannot climb out.
 */
function staticFile(rendererDir: string, requestUrl: string): string | null {
  const rawPath = requestUrl.split(/[?#]/, 1)[0] ?? '';
  if (!rawPath.startsWith('/')) return null;
  let path: string;
  try {
    path = decodeURIComponent(rawPath);
  } catch {
    return null;
  }
  if (path.includes('\0')) return null;
  if (path === '/') path = '/index.html';
  const root = resolve(rendererDir);
  const file = resolve(root, `.${path}`);
  return file.startsWith(root + sep) ? file : null;
}

/**
 * The export a download's query asks for, checked by the contract's schema (a number where
 * one is due: `statusCode=503`), or what is wrong with it. The token is the host's, not a filter.
 */
function exportRequestOf(params: URLSearchParams): DeliveryExportRequest | string {
  // No prototype: a key named __proto__ is a key like any other (and refused as unknown).
  const raw = Object.create(null) as Record<string, unknown>;
  for (const key of new Set(params.keys())) {
    if (key === 'token') continue;
    const values = params.getAll(key);
    if (values.length > 1) return `${key.slice(0, 64)} is given ${values.length} times; give it once`;
    const value = values[0] as string;
    raw[key] = key === 'statusCode' && /^\s*-?\d+(?:\.\d+)?\s*$/.test(value) ? Number(value) : value;
  }
  if (!Object.hasOwn(raw, 'format')) return 'format is required: csv or ndjson';
  const checked = deliveryExportRequest.check(raw, '');
  if (!checked.ok) return `${checked.issue.path} ${checked.issue.message}`.trim();
  return checked.value;
}

/** Constant-time: hashing first makes the comparison independent of the lengths too. */
function tokenMatches(given: string | null, expected: string): boolean {
  if (given === null) return false;
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

function refuseUpgrade(socket: Duplex, status: number): void {
  const reason = STATUS_CODES[status] ?? 'Refused';
  socket.once('finish', () => socket.destroy());
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

const INTERNAL_ERROR_RESULT = { ok: false, error: { code: 'internal', message: 'internal error; see the engine log' } };

type RpcId = string | number | null;
type RpcFault = { code: number; message: string };
type ParsedRequest =
  | { id: RpcId | undefined; method: string; params: unknown[] }
  | { id: RpcId; fault: RpcFault }
  | { silent: true };

const fault = (code: number, message: string, id: RpcId = null): ParsedRequest => ({ id, fault: { code, message } });

/** One JSON-RPC 2.0 request, checked; `id` undefined means a notification (no answer). */
function parseRequest(data: RawData, isBinary: boolean): ParsedRequest {
  if (isBinary) return fault(RPC_PARSE_ERROR, 'Parse error: send JSON text frames');
  let message: unknown;
  try {
    message = JSON.parse(rawText(data));
  } catch {
    return fault(RPC_PARSE_ERROR, 'Parse error: not JSON');
  }
  if (Array.isArray(message)) return fault(RPC_INVALID_REQUEST, 'Invalid Request: batch requests are not supported');
  if (typeof message !== 'object' || message === null) return fault(RPC_INVALID_REQUEST, 'Invalid Request: not an object');
  const request = message as Record<string, unknown>;
  const rawId = request['id'];
  const idOk = rawId === undefined || rawId === null || typeof rawId === 'string' || (typeof rawId === 'number' && Number.isFinite(rawId));
  if (!idOk) return fault(RPC_INVALID_REQUEST, 'Invalid Request: id must be a string, a number or null');
  const id = rawId as RpcId | undefined;
  if (request['jsonrpc'] !== '2.0') return fault(RPC_INVALID_REQUEST, 'Invalid Request: jsonrpc must be "2.0"', id ?? null);
  const method = request['method'];
  if (typeof method !== 'string') return fault(RPC_INVALID_REQUEST, 'Invalid Request: method must be a string', id ?? null);
  const params = request['params'] === undefined ? [] : request['params'];
  if (!Array.isArray(params)) return fault(RPC_INVALID_REQUEST, 'Invalid Request: params must be a list', id ?? null);
  if (!Object.hasOwn(calls, method)) {
    // A notification is never answered, not even with an error (JSON-RPC 2.0 §4.1).
    if (id === undefined) return { silent: true };
    return fault(RPC_METHOD_NOT_FOUND, `Method not found: ${JSON.stringify(method.slice(0, 64))}`, id);
  }
  return { id, method, params };
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}

/** A request path fit for a log line: no query string (it may hold a token), bounded. */
function sanitizePath(url: string | undefined): string {
  return (url ?? '').split(/[?#]/, 1)[0]?.slice(0, 200) ?? '';
}

function describeError(err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}
