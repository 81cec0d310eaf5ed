/**
 * The metrics endpoint's HTTP side (`--metrics HOST:PORT`, docs/design.md#metrics): one
 * page, `GET /metrics`, in the Prometheus text format. It has no authentication, so it
 * listens on a loopback address only (127.0.0.0/8, ::1, localhost) and answers only
 * requests whose `Host` names a loopback address, so a DNS-rebound web page cannot read
 * it either. What the page says is engine/metrics.ts's; this file only serves it, and
 * loads nothing of the metrics until it is asked to (a run without `--metrics` pays
 * nothing for them).
 */
import { createServer, STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import { isIPv4, isIPv6, type AddressInfo } from 'node:net';

export const METRICS_PATH = '/metrics';

export interface ListenAddress {
  /** A loopback address as given (`127.0.0.1`, `::1`; `localhost` is listened on as 127.0.0.1). */
  host: string;
  /** 0 picks a free port. */
  port: number;
}

/** The metrics as rendered at a scrape. */
export interface MetricsPage {
  contentType: string;
  body: string;
}

export interface MetricsServer {
  /** Where it listens, the port as bound (`:0` given: the one picked). */
  readonly address: ListenAddress;
  /** `http://127.0.0.1:9464/metrics` */
  readonly url: string;
  /** What a scrape gets from now on; until then a scrape gets 503. */
  serve(render: () => Promise<MetricsPage>, onError?: (error: unknown) => void): void;
  close(): Promise<void>;
}

/** The endpoint could not listen (the port is taken, the address is not this machine's). */
export class MetricsServerError extends Error {
  override readonly name = 'MetricsServerError';
}

const LOOPBACK_RULE = 'the metrics endpoint has no authentication, so it listens on a loopback address only: 127.0.0.0/8, ::1 or localhost';

/** Whether `host` is a loopback address (127.0.0.0/8, ::1 in any spelling) or `localhost`. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  if (h === 'localhost') return true;
  if (isIPv4(h)) return h.split('.')[0] === '127';
  if (isIPv6(h)) return new URL(`http://[${h}]/`).hostname === '[::1]';
  return false;
}

/**
 * `HOST:PORT` (`127.0.0.1:9464`, `localhost:9464`, `[::1]:9464`) as a loopback address,
 * or what is wrong with it, in words that follow the flag's name.
 */
export function parseListenAddress(raw: string): { ok: true; address: ListenAddress } | { ok: false; problem: string } {
  const text = raw.trim();
  const bad = (why: string): { ok: false; problem: string } => ({ ok: false, problem: `"${raw}" ${why}` });
  const match = /^(?:\[([^\]]*)\]|([^:[\]]*)):(\d*)$/.exec(text);
  if (!match) {
    if (isIPv6(text.replace(/:\d+$/, '')) || isIPv6(text)) return bad('is not HOST:PORT: write an IPv6 address in brackets, e.g. [::1]:9464');
    return bad('is not HOST:PORT, e.g. 127.0.0.1:9464');
  }
  const bracketed = match[1];
  const host = bracketed ?? match[2] ?? '';
  const portText = match[3] ?? '';
  if (host === '') return bad('has no host: give a loopback address, e.g. 127.0.0.1:9464');
  if (bracketed !== undefined && !isIPv6(host)) return bad(`is not HOST:PORT: "${host}" in brackets is not an IPv6 address`);
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) return bad('has no valid port: give 0–65535 after the colon (0 picks a free port)');
  if (!isLoopbackHost(host)) return bad(`is not a loopback address: ${LOOPBACK_RULE}`);
  return { ok: true, address: { host, port: Number(portText) } };
}

/** The Host header names a loopback address (any port): a DNS-rebound name does not. */
function loopbackHostHeader(req: IncomingMessage): boolean {
  const header = req.headers.host;
  if (header === undefined) return false;
  const match = /^(?:\[([^\]]+)\]|([^:]+))(?::\d+)?$/.exec(header);
  const host = match?.[1] ?? match?.[2];
  return host !== undefined && isLoopbackHost(host);
}

/** Listen on `address` (a loopback address, or MetricsServerError). */
export async function startMetricsServer(address: ListenAddress): Promise<MetricsServer> {
  if (!isLoopbackHost(address.host)) throw new MetricsServerError(`${address.host} is not a loopback address: ${LOOPBACK_RULE}`);
  // `localhost` could resolve to anything /etc/hosts says: listen on the address it means.
  const bindHost = address.host.toLowerCase() === 'localhost' ? '127.0.0.1' : address.host;
  let render: (() => Promise<MetricsPage>) | null = null;
  let onError: (error: unknown) => void = () => undefined;

  const respond = (res: ServerResponse, status: number, text: string, extra: Record<string, string> = {}): void => {
    const body = `${status} ${STATUS_CODES[status] ?? ''}: ${text}\n`;
    res.writeHead(status, {
      ...extra,
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Length': String(Buffer.byteLength(body)),
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
    });
    res.end(res.req.method === 'HEAD' ? undefined : body);
  };

  const server = createServer((req, res) => {
    if (!loopbackHostHeader(req)) return respond(res, 421, 'the Host header must name a loopback address');
    const path = (req.url ?? '').split(/[?#]/, 1)[0];
    if (path !== METRICS_PATH) return respond(res, 404, `the metrics are at ${METRICS_PATH}`);
    if (req.method !== 'GET' && req.method !== 'HEAD') return respond(res, 405, 'GET only', { Allow: 'GET, HEAD' });
    if (!render) return respond(res, 503, 'the engine is not running');
    render().then(
      (page) => {
        res.writeHead(200, {
          'Content-Type': page.contentType,
          'Content-Length': String(Buffer.byteLength(page.body)),
          'Cache-Control': 'no-store',
          'X-Content-Type-Options': 'nosniff',
        });
        res.end(req.method === 'HEAD' ? undefined : page.body);
      },
      (error: unknown) => {
        onError(error);
        if (!res.headersSent) respond(res, 500, 'the metrics could not be collected; see the engine log');
        else res.destroy();
      },
    );
  });
  // A scraper keeps its connection open between scrapes: never let it hold a stop.
  server.keepAliveTimeout = 5_000;

  await new Promise<void>((resolve, reject) => {
    const failed = (error: NodeJS.ErrnoException): void => reject(listenError(error, address));
    server.once('error', failed);
    server.listen(address.port, bindHost, () => {
      server.off('error', failed);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = isIPv6(bindHost) ? `[${bindHost}]` : bindHost;
  let closing: Promise<void> | null = null;
  return {
    address: { host: address.host, port },
    url: `http://${urlHost}:${port}${METRICS_PATH}`,
    serve(next, errors) {
      render = next;
      if (errors) onError = errors;
    },
    close() {
      render = null;
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

function listenError(error: NodeJS.ErrnoException, address: ListenAddress): MetricsServerError {
  const where = `${isIPv6(address.host) ? `[${address.host}]` : address.host}:${address.port}`;
  switch (error.code) {
    case 'EADDRINUSE':
      return new MetricsServerError(`${where} is already in use (another Sluice, or another exporter?); choose another port, or port 0 for any free one`);
    case 'EADDRNOTAVAIL':
      return new MetricsServerError(`cannot listen on ${where}: that address is not configured on this machine (127.0.0.1 always is)`);
    case 'EACCES':
      return new MetricsServerError(`cannot listen on ${where}: permission denied (ports below 1024 need privileges; 9464 is the usual one)`);
    default:
      return new MetricsServerError(`cannot listen on ${where}: ${error.message}`);
  }
}
