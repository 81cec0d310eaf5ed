/**
 * One delivery attempt: a single HTTP POST through the SSRF guard
 * (docs/design.md#ssrf-guard, docs/design.md#redirects-and-timeouts).
 *
 * Built on undici (Agent + request) rather than global fetch, which costs about ten times
 * more CPU per request. Pooled Agents keep connections alive; their connect-time lookup
 * goes through the guarded resolver, so every socket is opened to an address that was
 * judged, while the Host header and TLS SNI/certificate check keep the real host name.
 * There is one Agent per route (direct, or through the egress proxy: delivery/proxy.ts)
 * and per receiver TLS material (delivery/receiver-tls.ts).
 */
import type { LookupAddress, LookupOptions } from 'node:dns';
import { stat } from 'node:fs/promises';
import { isIP, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Agent, buildConnector, request } from 'undici';
import { bypassesProxy, openTunnel, parseNoProxy, parseProxyUrl, ProxyError, type NoProxyEntry, type ProxyEndpoint } from './proxy';
import {
  AttemptTimeoutError,
  ForbiddenDestinationError,
  UnresolvableDestinationError,
  errorAddress,
  errorCode,
  isUndiciTimeout,
  networkErrorText,
  rootCause,
} from './attempt-errors';
import { hasReceiverTls, loadReceiverTls, type ReceiverTls } from './receiver-tls';
import { cutExcerpt, parseRetryAfter, readAnswer, readExcerpt, statusError } from './response-body';
import { checkDestination, createGuardedResolver, parseDestination, type DestinationCheck, type GuardedResolver } from './ssrf';

export interface AttemptRequest {
  url: string;
  body: Uint8Array;
  headers: Record<string, string>;
  /** Total deadline for the attempt: resolution, connect, headers and body. */
  timeoutMs: number;
  /** The subscription's own CA, client certificate and key (PEM file paths; '' = not set). */
  tls?: ReceiverTls;
  /** Keep the answer's text whole (up to the response cap), for a bulk API's per-item verdicts. */
  keepAnswer?: boolean;
  /** Go direct even when an egress proxy is set (the subscription's "bypass the proxy"). */
  direct?: boolean;
}

/**
 * The outcome of one attempt. Success is `kind === 'response'` with `error === null`
 * (a 2xx). `statusCode` is kept whenever a status line arrived, even if the attempt then
 * failed (for example a 200 whose body outlived the deadline is a `timeout`).
 */
export interface AttemptResult {
  kind: 'response' | 'network_error' | 'timeout' | 'blocked';
  statusCode: number | null;
  /** Null on 2xx; otherwise a short human string such as `http 503`. */
  error: string | null;
  latencyMs: number;
  /** The IP actually connected to, when known. */
  address: string | null;
  /** The decoded answer up to the response cap, when the request asked to keep it (`keepAnswer`). */
  answer?: string;
  /** First ≤ 1024 characters of the decoded response body. */
  responseExcerpt: string | null;
  /** Parsed Retry-After (seconds or HTTP-date), else null. */
  retryAfterMs: number | null;
}

export interface EgressClientOptions {
  /** The "allow private targets" setting, read at every check. */
  allowPrivate: () => boolean;
  /** The operator's CIDR allowlist, read at every check (used when no `resolver` is given). */
  allowedCidrs?: () => readonly string[];
  /** Most response bytes read after decoding (default 64 KiB); beyond it the connection is dropped. */
  maxResponseBytes?: number;
  resolver?: GuardedResolver;
  /** Pooled connections per origin (default 10). */
  connections?: number;
  /** Trusted CA certificates for https, replacing Node's bundled roots (a private PKI, tests); a request's own CA file wins. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** The egress proxy settings, read at every request (no proxy when absent). */
  proxy?: () => EgressProxySettings;
}

/** The `egressProxy` and `noProxy` settings. */
export interface EgressProxySettings {
  egressProxy: string;
  noProxy: readonly string[];
}

const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024;
const DEFAULT_CONNECTIONS = 10;
const CONNECT_TIMEOUT_MS = 10_000;
// undici runs its header/body timeouts on coarse "fast timers" (ticks of ~0.5 s) that can
// fire up to a tick early, so they sit behind the attempt's own deadline (a plain timer,
// the one that counts) as a backstop only.
const UNDICI_TIMER_SLACK_MS = 1_000;
/** Agents kept (a route and TLS material each); beyond it the least recently used is closed. */
const MAX_POOLS = 64;

/** The egress proxy settings, parsed once per change. */
interface ProxyState {
  key: string;
  /** null: no proxy. */
  proxy: ProxyEndpoint | null;
  /** Why the stored `egressProxy` cannot be used (the settings refuse such a value; fail closed). */
  problem: string | null;
  noProxy: NoProxyEntry[];
}

/** One pooled Agent; `signature` is its TLS files' mtimes and sizes, so a changed file makes a new one. */
interface PoolEntry {
  signature: string;
  agent: Agent;
}

type TlsConnectOptions = { ca?: EgressClientOptions['ca']; cert?: string; key?: string };

type LookupCallback = (error: Error | null, address: string | LookupAddress[], family?: number) => void;

export class EgressClient {
  private readonly resolver: GuardedResolver;
  private readonly maxResponseBytes: number;
  private readonly connections: number;
  private readonly ca: EgressClientOptions['ca'];
  private readonly proxySettings: (() => EgressProxySettings) | undefined;
  private proxyState: ProxyState = { key: '\n', proxy: null, problem: null, noProxy: [] };
  private proxyReadFrom: { egressProxy: string | null; noProxy: readonly string[] | null } = { egressProxy: null, noProxy: null };
  /** Agents by route and TLS file paths, least recently used first. */
  private readonly pools = new Map<string, PoolEntry>();
  /** The policy (resolver and proxy) when the pools were made: their sockets were judged and routed under it. */
  private poolsPolicy: string;
  /** Agents replaced after a policy change, closing once their in-flight requests end. */
  private readonly retiring = new Set<Promise<void>>();
  /** Remote address of the most recent socket per origin (a pooled socket keeps its address). */
  private readonly connectedAddresses = new Map<string, string>();
  /** Origin key per receiver URL, so a request does not parse its URL again. */
  private readonly originKeys = new Map<string, string>();

  constructor(options: EgressClientOptions) {
    this.resolver =
      options.resolver ??
      createGuardedResolver({
        allowPrivate: options.allowPrivate,
        ...(options.allowedCidrs === undefined ? {} : { allowedCidrs: options.allowedCidrs }),
      });
    this.maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    this.connections = options.connections ?? DEFAULT_CONNECTIONS;
    this.ca = options.ca;
    this.proxySettings = options.proxy;
    this.poolsPolicy = this.policyKey();
  }

  private policyKey(): string {
    return `${this.resolver.policyKey()}\n${this.currentProxy().key}`;
  }

  /** The proxy settings in force, parsed again only when they changed. */
  private currentProxy(): ProxyState {
    if (this.proxySettings === undefined) return this.proxyState;
    const { egressProxy, noProxy } = this.proxySettings();
    // Asked at every request: the same settings (replaced, never changed in place) are not compared again.
    if (egressProxy === this.proxyReadFrom.egressProxy && noProxy === this.proxyReadFrom.noProxy) return this.proxyState;
    this.proxyReadFrom = { egressProxy, noProxy };
    const key = `${egressProxy}\n${noProxy.join('\n')}`;
    if (key !== this.proxyState.key) {
      const parsed = parseProxyUrl(egressProxy);
      this.proxyState = {
        key,
        proxy: parsed.ok ? parsed.proxy : null,
        problem: parsed.ok ? null : parsed.reason,
        noProxy: parseNoProxy(noProxy),
      };
    }
    return this.proxyState;
  }

  /**
   * The pool for the next request. A kept-alive socket was judged when it connected; if
   * the settings changed since (private targets switched off, a CIDR removed, another
   * proxy), it may now lead somewhere forbidden while the pre-flight check judged a new
   * DNS answer. So a policy change retires every pool: every later request connects
   * anew, and its connect is judged (and routed) under the policy in force.
   *
   * Within a policy, requests with the same route and TLS files share a pool; a file that
   * changed (mtime or size) is read again and its old pool retired.
   */
  private agentFor(proxy: ProxyEndpoint | null, tls: ReceiverTls | undefined, signature: string): Agent {
    const policy = this.policyKey();
    if (policy !== this.poolsPolicy) {
      for (const entry of this.pools.values()) this.retire(entry.agent);
      this.pools.clear();
      this.poolsPolicy = policy;
    }
    const route = proxy === null ? 'direct' : `proxy ${proxy.text}`;
    const withTls = hasReceiverTls(tls);
    const key = withTls ? `${route}\0${tls.caFile}\0${tls.clientCert}\0${tls.clientKey}` : route;
    const entry = this.pools.get(key);
    if (entry !== undefined) {
      this.pools.delete(key);
      if (entry.signature === signature) {
        this.pools.set(key, entry);
        return entry.agent;
      }
      this.retire(entry.agent);
    }
    // Throws a ReceiverTlsError naming the file; nothing is pooled for it, so the next attempt reads again.
    const material = withTls ? loadReceiverTls(tls) : {};
    const options: TlsConnectOptions = {
      ...(material.ca !== undefined ? { ca: material.ca } : this.ca !== undefined ? { ca: this.ca } : {}),
      ...(material.cert !== undefined ? { cert: material.cert } : {}),
      ...(material.key !== undefined ? { key: material.key } : {}),
    };
    const connect = proxy === null ? this.guardedConnector(options) : this.proxiedConnector(options, proxy);
    const agent = new Agent({ connections: this.connections, connect });
    if (this.pools.size >= MAX_POOLS) {
      const [oldestKey, oldest] = this.pools.entries().next().value as [string, PoolEntry];
      this.pools.delete(oldestKey);
      this.retire(oldest.agent);
    }
    this.pools.set(key, { signature, agent });
    return agent;
  }

  /** Closes an Agent once its in-flight requests end. */
  private retire(agent: Agent): void {
    const closing = agent.close().catch(() => undefined);
    this.retiring.add(closing);
    void closing.finally(() => this.retiring.delete(closing));
  }

  /**
   * The proxy this request goes through, or null for direct: none is set, the request
   * asks to go direct, or the receiver is on the `noProxy` list (its host name, or an
   * address it resolved to). A stored proxy URL that cannot be used fails the attempt
   * rather than silently going direct.
   */
  private routeFor(req: AttemptRequest, addresses: readonly string[]): ProxyEndpoint | null {
    if (req.direct === true) return null;
    const state = this.currentProxy();
    if (state.problem !== null) throw new ProxyError(`the egressProxy setting cannot be used: ${state.problem}`);
    if (state.proxy === null) return null;
    const parsed = parseDestination(req.url);
    if (parsed.ok && bypassesProxy(parsed.host, addresses, state.noProxy)) return null;
    return state.proxy;
  }

  checkDestination(url: string): Promise<DestinationCheck> {
    return checkDestination(url, this.resolver);
  }

  /** Performs one POST. Never throws: every failure is an AttemptResult. */
  async send(req: AttemptRequest): Promise<AttemptResult> {
    const started = performance.now();
    const deadline = new AbortController();
    // The deadline as a promise too: the destination check races it without an abort
    // listener (adding and removing one per request is a measurable share of its cost).
    let timer!: NodeJS.Timeout;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const error = new AttemptTimeoutError(`timeout after ${req.timeoutMs} ms`);
        deadline.abort(error);
        reject(error);
      }, req.timeoutMs);
    });
    expired.catch(() => {}); // settled after the race is decided: nobody else listens
    try {
      const check = await Promise.race([this.checkDestination(req.url), expired]);
      if (!check.ok) return refusedResult(check, elapsed(started));
      const proxy = this.routeFor(req, check.addresses);
      const agent = hasReceiverTls(req.tls)
        ? await Promise.race([fileSignature(req.tls).then((signature) => this.agentFor(proxy, req.tls, signature)), expired])
        : this.agentFor(proxy, undefined, '');
      return await this.post(req, agent, deadline.signal, started);
    } catch (error) {
      return this.failureResult(error, req, deadline.signal, started, null);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    const open = [...this.pools.values()].map((entry) => entry.agent.close());
    this.pools.clear();
    await Promise.all([...open, ...this.retiring]);
  }

  private async post(req: AttemptRequest, agent: Agent, signal: AbortSignal, started: number): Promise<AttemptResult> {
    const response = await request(req.url, {
      dispatcher: agent,
      method: 'POST',
      headers: req.headers,
      body: req.body,
      signal,
      headersTimeout: req.timeoutMs + UNDICI_TIMER_SLACK_MS,
      bodyTimeout: req.timeoutMs + UNDICI_TIMER_SLACK_MS,
    });
    const statusCode = response.statusCode;
    const retryAfterMs = parseRetryAfter(headerValue(response.headers['retry-after']));
    let answer: string;
    try {
      const encoding = headerValue(response.headers['content-encoding']);
      answer = req.keepAnswer
        ? await readAnswer(response.body, encoding, this.maxResponseBytes, this.maxResponseBytes)
        : await readExcerpt(response.body, encoding, this.maxResponseBytes);
    } catch (error) {
      return this.failureResult(error, req, signal, started, statusCode);
    }
    const excerpt = cutExcerpt(answer);
    return {
      kind: 'response',
      statusCode,
      error: statusError(statusCode),
      latencyMs: elapsed(started),
      address: this.addressFor(req.url),
      responseExcerpt: excerpt,
      ...(req.keepAnswer ? { answer } : {}),
      retryAfterMs,
    };
  }

  private failureResult(
    error: unknown,
    req: AttemptRequest,
    signal: AbortSignal,
    started: number,
    statusCode: number | null,
  ): AttemptResult {
    const base = { statusCode, latencyMs: elapsed(started), responseExcerpt: null, retryAfterMs: null };
    const cause = rootCause(error);
    if (signal.aborted || isUndiciTimeout(cause)) {
      return { ...base, kind: 'timeout', error: `timeout after ${req.timeoutMs} ms`, address: this.addressFor(req.url) };
    }
    if (cause instanceof ForbiddenDestinationError) {
      return { ...base, kind: 'blocked', error: `forbidden destination: ${cause.message}`, address: null };
    }
    const address = errorAddress(cause) ?? (statusCode === null ? null : this.addressFor(req.url));
    return { ...base, kind: 'network_error', error: networkErrorText(cause), address };
  }

  private addressFor(url: string): string | null {
    let key = this.originKeys.get(url);
    if (key === undefined) {
      const parsed = URL.canParse(url) ? new URL(url) : null;
      if (parsed === null) return null;
      key = originKey(parsed.protocol, parsed.hostname, parsed.port);
      // A handful of receivers in practice; bounded whatever happens.
      if (this.originKeys.size >= 1024) this.originKeys.clear();
      this.originKeys.set(url, key);
    }
    return this.connectedAddresses.get(key) ?? null;
  }

  /** undici's own connector, with a guarded lookup and a note of where each socket went. */
  private guardedConnector(tls: TlsConnectOptions): buildConnector.connector {
    const connect = buildConnector({
      lookup: this.guardedLookup,
      timeout: CONNECT_TIMEOUT_MS,
      ...tls,
    });
    return (options, callback) => {
      connect(options, (...result) => {
        const [error, socket] = result;
        if (error === null) {
          this.rememberAddress(options, socket);
          callback(null, socket);
        } else {
          callback(error, null);
        }
      });
    };
  }

  /**
   * Through the proxy: the receiver's host is resolved and judged here (a refused one
   * never reaches the proxy), the CONNECT names the checked address, and TLS runs inside
   * the tunnel with the real host name for SNI and the certificate check.
   */
  private proxiedConnector(tls: TlsConnectOptions, proxy: ProxyEndpoint): buildConnector.connector {
    const secure = buildConnector({ timeout: CONNECT_TIMEOUT_MS, ...tls });
    return (options, callback) => {
      this.tunnel(options, proxy).then(
        (tunnel) => {
          if (options.protocol !== 'https:') {
            callback(null, tunnel);
            return;
          }
          secure({ ...options, httpSocket: tunnel }, (...result) => {
            const [error, socket] = result;
            if (error === null) {
              callback(null, socket);
            } else {
              tunnel.destroy();
              callback(error, null);
            }
          });
        },
        (error: unknown) => callback(error instanceof Error ? error : new Error(String(error)), null),
      );
    };
  }

  private async tunnel(options: buildConnector.Options, proxy: ProxyEndpoint): Promise<Socket> {
    const result = await this.resolver.resolve(options.hostname);
    if (!result.ok) {
      const ErrorClass = result.code === 'forbidden_destination' ? ForbiddenDestinationError : UnresolvableDestinationError;
      throw new ErrorClass(result.reason);
    }
    // The first answer, as a direct connect would take it; every answer was judged.
    const address = result.addresses[0] as string;
    const port = options.port === '' ? (options.protocol === 'https:' ? 443 : 80) : Number(options.port);
    const socket = await openTunnel(proxy, { address, port }, CONNECT_TIMEOUT_MS);
    // The receiver's address, not the proxy's: the one the tunnel leads to.
    this.connectedAddresses.set(originKey(options.protocol, options.hostname, options.port), address);
    return socket;
  }

  private rememberAddress(options: buildConnector.Options, socket: Socket): void {
    if (socket.remoteAddress === undefined) return;
    this.connectedAddresses.set(originKey(options.protocol, options.hostname, options.port), socket.remoteAddress);
  }

  // Runs inside net/tls.connect. It is the only way a socket gets an address, so a
  // host that re-resolves to a forbidden address after the pre-flight check fails here.
  private readonly guardedLookup = (hostname: string, options: LookupOptions, callback: LookupCallback): void => {
    this.resolver.resolve(hostname).then(
      (result) => {
        if (!result.ok) {
          const ErrorClass = result.code === 'forbidden_destination' ? ForbiddenDestinationError : UnresolvableDestinationError;
          callback(new ErrorClass(result.reason), '');
          return;
        }
        deliverAddresses(result.addresses, options, callback);
      },
      (error: unknown) => callback(error instanceof Error ? error : new Error(String(error)), ''),
    );
  };
}

/** The same key from a WHATWG URL (`[::1]`, '' for a default port) and from undici's connect options (`::1`). */
function originKey(protocol: string, hostname: string, port: string): string {
  const host = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
  return `${protocol}//${host.toLowerCase()}|${port}`;
}

function deliverAddresses(addresses: string[], options: LookupOptions, callback: LookupCallback): void {
  const family = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : options.family;
  const candidates = addresses
    .map((address) => ({ address, family: isIP(address) }))
    .filter((entry) => family === undefined || family === 0 || entry.family === family);
  const first = candidates[0];
  if (first === undefined) {
    callback(new UnresolvableDestinationError(`no IPv${family} address`), '');
    return;
  }
  if (options.all === true) callback(null, candidates);
  else callback(null, first.address, first.family);
}

function refusedResult(check: Exclude<DestinationCheck, { ok: true }>, latencyMs: number): AttemptResult {
  const base = { statusCode: null, latencyMs, address: null, responseExcerpt: null, retryAfterMs: null };
  switch (check.code) {
    case 'forbidden_destination':
      return { ...base, kind: 'blocked', error: `forbidden destination: ${check.reason}` };
    case 'invalid_url':
      return { ...base, kind: 'blocked', error: `invalid destination: ${check.reason}` };
    case 'unresolvable':
      return { ...base, kind: 'network_error', error: check.reason };
  }
}

// ---------------------------------------------------------------------------------------
// Small helpers

function elapsed(started: number): number {
  return Math.round(performance.now() - started);
}

function headerValue(value: string | string[] | undefined): string | null {
  if (value === undefined) return null;
  return Array.isArray(value) ? value.join(', ') : value;
}

/** The TLS files' mtimes and sizes: a file replaced or edited since gives another signature. */
async function fileSignature(tls: ReceiverTls): Promise<string> {
  const parts = await Promise.all(
    [tls.caFile, tls.clientCert, tls.clientKey].map(async (path) => {
      if (path === '') return '-';
      try {
        const info = await stat(path);
        return `${info.mtimeMs}:${info.size}:${info.ino}`;
      } catch (error) {
        return `unreadable:${errorCode(error) ?? ''}`;
      }
    }),
  );
  return parts.join('|');
}
