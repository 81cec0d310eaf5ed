/**
 * The egress proxy (settings `egressProxy` and `noProxy`, docs/receivers.md): deliveries
 * leave through an HTTP CONNECT proxy, http:// and https:// receivers alike, as a tunnel,
 * so a receiver still sees the request (and its TLS) end to end.
 *
 * The SSRF guard is not handed to the proxy: the receiver's address is resolved and
 * judged here first, and the CONNECT names that checked IP and port, so the proxy has
 * no host name to resolve somewhere else. The proxy's own address is not judged: the
 * operator configured it, and it is typically on the LAN or on this machine.
 */
import { connect, isIP, type Socket } from 'node:net';
import { matchingCidr, parseCidr, type Cidr } from './ssrf';

/** Where the proxy listens. */
export interface ProxyEndpoint {
  host: string;
  port: number;
  /** `host:port`, for messages. */
  text: string;
}

export type ProxyParse = { ok: true; proxy: ProxyEndpoint | null } | { ok: false; reason: string };

/** One `noProxy` entry: every host, a host name or domain, or an address range. */
export type NoProxyEntry = { kind: 'all' } | { kind: 'domain'; name: string; subdomainsOnly: boolean } | { kind: 'cidr'; cidr: Cidr };

export type NoProxyParse = { ok: true; entry: NoProxyEntry } | { ok: false; reason: string };

/** A proxy that could not be reached or would not open the tunnel; retryable like any network error. */
export class ProxyError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ProxyError';
  }
}

const MAX_CONNECT_RESPONSE_BYTES = 16 * 1024;
const HOST_NAME = /^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*$/;

/**
 * `egressProxy`: '' (no proxy) or `http://host:port`. Only plain-HTTP proxies speaking
 * CONNECT; credentials are refused rather than kept in a non-secret setting (and in logs).
 */
export function parseProxyUrl(text: string): ProxyParse {
  const trimmed = text.trim();
  if (trimmed === '') return { ok: true, proxy: null };
  const notUrl: ProxyParse = { ok: false, reason: `"${abbreviate(trimmed)}" is not a URL: use http://host:port` };
  // `proxy:3128` parses as a URL of scheme "proxy"; say what is missing instead.
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed)) return notUrl;
  let url: URL;
  try {
    url = new URL(trimmed);
  } catch {
    return notUrl;
  }
  if (url.protocol !== 'http:') {
    return {
      ok: false,
      reason: `${url.protocol.replace(/:$/, '')}:// proxies are not supported: use the http://host:port of an HTTP CONNECT proxy (https receivers keep their TLS end to end through it)`,
    };
  }
  if (url.username !== '' || url.password !== '') {
    return { ok: false, reason: 'a proxy URL with credentials (user:password@) is not supported: allow this machine on the proxy instead' };
  }
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '') {
    return { ok: false, reason: `"${abbreviate(trimmed)}": give only http://host:port, without a path` };
  }
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  if (host === '') return { ok: false, reason: 'the proxy URL has no host' };
  const port = url.port === '' ? 80 : Number(url.port);
  if (port === 0) return { ok: false, reason: 'port 0 is not a valid proxy port' };
  return { ok: true, proxy: { host, port, text: `${isIP(host) === 6 ? `[${host}]` : host}:${port}` } };
}

/**
 * One `noProxy` entry, as the conventional NO_PROXY reads it: `*` (every receiver),
 * `example.com` (that host and every host under it), `.example.com` or `*.example.com`
 * (only the hosts under it), an IP address or a CIDR range (`10.0.0.0/8`).
 */
export function parseNoProxyEntry(text: string): NoProxyParse {
  const entry = text.trim().toLowerCase();
  if (entry === '') return { ok: false, reason: 'an entry is empty' };
  if (entry === '*') return { ok: true, entry: { kind: 'all' } };
  const unbracketed = entry.startsWith('[') && entry.endsWith(']') ? entry.slice(1, -1) : entry;
  if (isIP(unbracketed) !== 0 || entry.includes('/')) {
    const parsed = parseCidr(unbracketed);
    return parsed.ok ? { ok: true, entry: { kind: 'cidr', cidr: parsed.cidr } } : { ok: false, reason: parsed.reason };
  }
  if (entry.includes(':')) return { ok: false, reason: `"${abbreviate(entry)}": list host names without a port` };
  const subdomainsOnly = entry.startsWith('.') || entry.startsWith('*.');
  const name = entry.replace(/^\*?\./, '').replace(/\.$/, '');
  if (!HOST_NAME.test(name)) return { ok: false, reason: `"${abbreviate(entry)}" is not a host name, domain, IP address or CIDR` };
  return { ok: true, entry: { kind: 'domain', name, subdomainsOnly } };
}

/** The usable entries of a `noProxy` list (the settings refuse the others; dropping them keeps the proxy in use). */
export function parseNoProxy(entries: readonly string[]): NoProxyEntry[] {
  return entries.flatMap((text) => {
    const parsed = parseNoProxyEntry(text);
    return parsed.ok ? [parsed.entry] : [];
  });
}

/**
 * Whether a receiver goes direct: its host name matches a name entry, or the host (an
 * IP literal) or one of the addresses it resolved to lies in an address entry.
 */
export function bypassesProxy(host: string, addresses: readonly string[], entries: readonly NoProxyEntry[]): boolean {
  if (entries.length === 0) return false;
  const name = (host.startsWith('[') ? host.slice(1, -1) : host).toLowerCase().replace(/\.$/, '');
  const ips = isIP(name) === 0 ? addresses : [name, ...addresses];
  return entries.some((entry) => {
    switch (entry.kind) {
      case 'all':
        return true;
      case 'domain':
        return name.endsWith(`.${entry.name}`) || (!entry.subdomainsOnly && name === entry.name);
      case 'cidr':
        return ips.some((ip) => matchingCidr(ip, [entry.cidr]) !== null);
    }
  });
}

/**
 * Opens a TCP connection to the proxy and a CONNECT tunnel through it to `address:port`
 * (an IP the guard judged). Resolves with the socket once the proxy answered 2xx, ready
 * for the receiver's bytes (TLS or plain HTTP).
 */
export function openTunnel(proxy: ProxyEndpoint, target: { address: string; port: number }, timeoutMs: number): Promise<Socket> {
  const authority = `${isIP(target.address) === 6 ? `[${target.address}]` : target.address}:${target.port}`;
  return new Promise<Socket>((resolve, reject) => {
    const socket = connect({ host: proxy.host, port: proxy.port });
    let received = Buffer.alloc(0);
    let settled = false;
    let connected = false;
    const fail = (error: ProxyError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    };
    const timer = setTimeout(
      () => fail(new ProxyError(`proxy ${proxy.text} did not open the tunnel to ${authority} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const onData = (chunk: Buffer): void => {
      received = Buffer.concat([received, chunk]);
      const end = received.indexOf('\r\n\r\n');
      if (end === -1) {
        if (received.length > MAX_CONNECT_RESPONSE_BYTES) fail(new ProxyError(`proxy ${proxy.text} sent an over-long answer to CONNECT`));
        return;
      }
      const statusLine = received.subarray(0, received.indexOf('\r\n')).toString('latin1');
      const status = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(statusLine);
      if (status === null) {
        fail(new ProxyError(`proxy ${proxy.text} answered CONNECT with something other than HTTP: "${abbreviate(statusLine)}"`));
        return;
      }
      const code = Number(status[1]);
      if (code === 407) {
        fail(new ProxyError(`proxy ${proxy.text} asks for authentication (407), which Sluice does not send: allow this machine on the proxy`));
        return;
      }
      if (code < 200 || code > 299) {
        const reason = (status[2] ?? '').trim();
        fail(new ProxyError(`proxy ${proxy.text} refused the tunnel to ${authority}: ${code}${reason === '' ? '' : ` ${abbreviate(reason)}`}`));
        return;
      }
      settled = true;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
      socket.pause();
      // Bytes after the answer belong to the tunnel (a receiver does not speak first, but be exact).
      const rest = received.subarray(end + 4);
      if (rest.length > 0) socket.unshift(rest);
      resolve(socket);
    };
    const onError = (error: Error): void =>
      fail(new ProxyError(`proxy ${proxy.text} ${connected ? 'dropped the connection' : 'unreachable'}`, { cause: error }));
    const onClose = (): void => fail(new ProxyError(`proxy ${proxy.text} closed the connection before answering CONNECT ${authority}`));
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 60_000);
    socket.once('connect', () => {
      connected = true;
      socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
    });
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
  });
}

function abbreviate(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
