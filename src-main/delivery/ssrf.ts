/**
 * Destination policy (docs/design.md#ssrf-guard): which URLs and addresses a webhook may
 * reach.
 *
 * Sluice runs on an analyst's workstation inside a SOC network, so a subscription URL
 * must not become a way to reach the workstation itself, the LAN, or a cloud metadata
 * endpoint. Every address a host name resolves to is judged, and the answer that was
 * judged is the one the connection uses (see createGuardedResolver).
 *
 * Over 500 lines: the guard is kept in one file so that it can be reviewed whole (see
 * SECURITY.md): the special-purpose address ranges, the CIDR allow-list parser, the URL
 * check and the resolver that applies them are one policy, and a split would let one
 * part change without the reader of another seeing it.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP, isIPv4, isIPv6 } from 'node:net';

/**
 * `privateNetwork` is true when the refusal is lifted by the "allow private targets"
 * setting; cloud metadata, unspecified, multicast and broadcast addresses never are.
 * `label` names the range (`loopback`, `private`, `cloud metadata`, …).
 */
export type AddressVerdict =
  | { allowed: true }
  | { allowed: false; reason: string; privateNetwork: boolean; label: string };

/** One entry of the operator's allowlist (`Settings.allowedCidrs`), parsed. */
export type Cidr = { family: 4; network: number; prefix: number; text: string } | { family: 6; network: bigint; prefix: number; text: string };

export type CidrParse = { ok: true; cidr: Cidr } | { ok: false; reason: string };

/** What the address policy depends on besides the address: the two settings. */
export interface DestinationPolicy {
  /** The whole guard off for private, loopback and link-local ranges. */
  allowPrivate: boolean;
  /** Private ranges opened for internal receivers; never loopback, unspecified or metadata. */
  allowedCidrs: readonly Cidr[];
}

export type ParsedDestination =
  | { ok: true; url: URL; host: string; port: number; isIpLiteral: boolean }
  | { ok: false; reason: string };

export type ResolveResult =
  | { ok: true; addresses: string[] }
  | { ok: false; code: 'forbidden_destination' | 'unresolvable'; reason: string };

export interface GuardedResolver {
  resolve(host: string): Promise<ResolveResult>;
  /**
   * Changes whenever the policy the answers are judged by changes (the settings), so a
   * client can drop connections that were judged under another policy.
   */
  policyKey(): string;
}

export interface GuardedResolverOptions {
  /** The "allow private targets" setting, read on every call so a change applies at once. */
  allowPrivate: () => boolean;
  /**
   * The operator's allowlist (`Settings.allowedCidrs`), read on every call. Entries that
   * do not parse are ignored (the settings refuse them; ignoring fails closed).
   */
  allowedCidrs?: () => readonly string[];
  /** Resolves a host name to its addresses; defaults to the system resolver. */
  lookup?: (host: string) => Promise<string[]>;
  /** How long a resolved answer is reused (default 30 s). */
  ttlMs?: number;
}

export type DestinationCheck =
  | { ok: true; addresses: string[] }
  | { ok: false; code: 'invalid_url' | 'forbidden_destination' | 'unresolvable'; reason: string };

// ---------------------------------------------------------------------------------------
// Addresses

interface Ipv4Range {
  network: number;
  prefix: number;
  label: string;
}

interface Ipv6Range {
  network: bigint;
  prefix: number;
  label: string;
}

/** How an IPv6 range carries an IPv4 address that then decides the verdict. */
interface Ipv6Embedding {
  network: bigint;
  prefix: number;
  extract: (value: bigint) => number;
}

// Order matters: the first match names the reason, so specific ranges come first.
const FORBIDDEN_IPV4: readonly Ipv4Range[] = [
  ipv4Range('169.254.169.254/32', 'cloud metadata'),
  ipv4Range('0.0.0.0/8', 'unspecified'),
  ipv4Range('10.0.0.0/8', 'private'),
  ipv4Range('100.64.0.0/10', 'private (carrier-grade NAT)'),
  ipv4Range('127.0.0.0/8', 'loopback'),
  ipv4Range('169.254.0.0/16', 'link-local'),
  ipv4Range('172.16.0.0/12', 'private'),
  ipv4Range('192.0.0.0/24', 'reserved'),
  ipv4Range('192.0.2.0/24', 'documentation'),
  ipv4Range('192.88.99.0/24', 'reserved'),
  ipv4Range('192.168.0.0/16', 'private'),
  ipv4Range('198.18.0.0/15', 'benchmarking'),
  ipv4Range('198.51.100.0/24', 'documentation'),
  ipv4Range('203.0.113.0/24', 'documentation'),
  ipv4Range('224.0.0.0/4', 'multicast'),
  ipv4Range('255.255.255.255/32', 'broadcast'),
  ipv4Range('240.0.0.0/4', 'reserved'),
];

const LOW_32 = 0xffff_ffffn;

// An IPv6 address that carries an IPv4 one reaches that IPv4 host (through the dual
// stack, a NAT64 gateway or a tunnel), so it is only as safe as the IPv4 inside it.
const IPV6_EMBEDDINGS: readonly Ipv6Embedding[] = [
  embedding('::ffff:0:0/96', lowBits), // IPv4-mapped
  embedding('::ffff:0:0:0/96', lowBits), // IPv4-translated (SIIT)
  embedding('64:ff9b::/96', lowBits), // NAT64 well-known prefix
  embedding('2002::/16', (v) => Number((v >> 80n) & LOW_32)), // 6to4
  // Teredo stores the client's IPv4 address inverted in the low 32 bits.
  embedding('2001::/32', (v) => Number(~v & LOW_32)),
];

// Never a webhook receiver, whatever the settings: a metadata endpoint hands out cloud
// credentials, and the others cannot be a single listening host.
const ALWAYS_REFUSED = new Set(['cloud metadata', 'unspecified', 'multicast', 'broadcast']);

const IPV6_UNSPECIFIED = 0n;
const IPV6_LOOPBACK = 1n;
const IPV4_COMPATIBLE = ipv6Range('::/96', 'IPv4-compatible');
const IPV4_MAPPED = ipv6Range('::ffff:0:0/96', 'IPv4-mapped');

const FORBIDDEN_IPV6: readonly Ipv6Range[] = [
  ipv6Range('64:ff9b:1::/48', 'reserved (local NAT64)'),
  ipv6Range('100::/64', 'discard-only'),
  ipv6Range('2001::/23', 'reserved (IETF protocol assignment)'),
  ipv6Range('2001:db8::/32', 'documentation'),
  ipv6Range('3fff::/20', 'documentation'),
  ipv6Range('fd00:ec2::254/128', 'cloud metadata'),
  ipv6Range('fc00::/7', 'private (unique local)'),
  ipv6Range('fe80::/10', 'link-local'),
  ipv6Range('fec0::/10', 'site-local'),
  ipv6Range('ff00::/8', 'multicast'),
];

// Everything outside 2000::/3 is unassigned or special-purpose: nothing a webhook needs.
const IPV6_GLOBAL_UNICAST = ipv6Range('2000::/3', 'global unicast');

/** Judges one IP address (v4 or v6, in any valid spelling) against the policy. */
export function classifyAddress(ip: string): AddressVerdict {
  const address = stripBracketsAndZone(ip.trim());
  if (isIPv4(address)) return classifyIPv4(address);
  if (isIPv6(address)) return classifyIPv6(address, parseIPv6(address));
  return { allowed: false, reason: `not an IP address: ${ip}`, privateNetwork: false, label: 'not an address' };
}

/**
 * The whole address rule, as both the save-time check and every connect apply it:
 *  - a public address is allowed;
 *  - cloud metadata, unspecified, multicast and broadcast are refused whatever the settings;
 *  - with `allowPrivate` on, every other refusal is lifted (loopback included);
 *  - otherwise an address inside an allowlisted CIDR is allowed, except loopback, which
 *    only `allowPrivate` opens. An IPv6 address carrying an IPv4 one (`::ffff:10.0.0.5`)
 *    is matched by that IPv4 address, as it is judged by it.
 */
export function judgeAddress(ip: string, policy: DestinationPolicy): AddressVerdict {
  const verdict = classifyAddress(ip);
  if (verdict.allowed) return verdict;
  if (!verdict.privateNetwork) return withListing(verdict, ip, policy, 'never allowed');
  if (policy.allowPrivate) return { allowed: true };
  if (verdict.label === 'loopback') return withListing(verdict, ip, policy, 'only allowPrivate opens loopback');
  return matchingCidr(ip, policy.allowedCidrs) === null ? verdict : { allowed: true };
}

/** A refusal the allowlist did not lift although it lists the address says so. */
function withListing(verdict: AddressVerdict, ip: string, policy: DestinationPolicy, why: string): AddressVerdict {
  if (verdict.allowed) return verdict;
  const listed = matchingCidr(ip, policy.allowedCidrs);
  return listed === null ? verdict : { ...verdict, reason: `${verdict.reason} (listed in allowedCidrs ${listed.text}, but ${why})` };
}

/** The first allowlist entry that contains the address, or null. */
export function matchingCidr(ip: string, cidrs: readonly Cidr[]): Cidr | null {
  if (cidrs.length === 0) return null;
  const address = stripBracketsAndZone(ip.trim());
  let v4: number | null = null;
  let v6: bigint | null = null;
  if (isIPv4(address)) v4 = parseIPv4(address);
  else if (isIPv6(address)) {
    const value = parseIPv6(address);
    v4 = value === IPV6_UNSPECIFIED || value === IPV6_LOOPBACK ? null : embeddedIPv4(value);
    if (v4 === null) v6 = value;
  } else return null;
  return (
    cidrs.find((cidr) =>
      cidr.family === 4 ? v4 !== null && inIPv4Range(v4, cidr) : v6 !== null && inIPv6Range(v6, cidr),
    ) ?? null
  );
}

/**
 * Parses one allowlist entry: `10.20.0.0/16`, `fd12:3456::/48`, or a single address
 * (`10.20.1.5` is `10.20.1.5/32`). Host bits must be zero, so a typo such as
 * `10.20.1.0/8` is refused rather than silently opening 10/8. An IPv4-mapped IPv6 range
 * (`::ffff:10.0.0.0/104`) is read as the IPv4 range it maps.
 */
export function parseCidr(text: string): CidrParse {
  const bad = (why: string): CidrParse => ({ ok: false, reason: `"${abbreviate(text)}" is not a CIDR: ${why}` });
  if (text !== text.trim() || /\s/.test(text)) return bad('it contains spaces');
  const slash = text.indexOf('/');
  const address = slash === -1 ? text : text.slice(0, slash);
  const prefixText = slash === -1 ? null : text.slice(slash + 1);
  if (address.includes('%')) return bad('a zone (%…) has no place in a range');
  const family = isIPv4(address) ? 4 : isIPv6(address) ? 6 : 0;
  if (family === 0) return bad(`"${abbreviate(address)}" is not an IPv4 or IPv6 address`);
  const bits = family === 4 ? 32 : 128;
  if (prefixText !== null && !/^\d{1,3}$/.test(prefixText)) return bad('the prefix length after "/" must be a number');
  const prefix = prefixText === null ? bits : Number(prefixText);
  if (prefix > bits) return bad(`an IPv${family} prefix length is 0 to ${bits}`);
  if (family === 4) {
    const network = parseIPv4(address);
    const masked = maskIPv4(network, prefix);
    if (masked !== network) return bad(`host bits are set (the network is ${formatIPv4(masked)}/${prefix})`);
    return { ok: true, cidr: { family: 4, network, prefix, text } };
  }
  const network = parseIPv6(address);
  const masked = prefix === 0 ? 0n : (network >> BigInt(128 - prefix)) << BigInt(128 - prefix);
  if (masked !== network) return bad(`host bits are set (the network is ${formatIPv6(masked)}/${prefix})`);
  if (prefix >= 96 && inIPv6Range(network, IPV4_MAPPED)) {
    return { ok: true, cidr: { family: 4, network: lowBits(network), prefix: prefix - 96, text } };
  }
  return { ok: true, cidr: { family: 6, network, prefix, text } };
}

/** Parses a whole allowlist, dropping entries that do not parse. */
export function parseCidrs(texts: readonly string[]): Cidr[] {
  return texts.flatMap((text) => {
    if (typeof text !== 'string') return [];
    const parsed = parseCidr(text);
    return parsed.ok ? [parsed.cidr] : [];
  });
}

function maskIPv4(value: number, prefix: number): number {
  if (prefix === 0) return 0;
  return (value & ((0xffff_ffff << (32 - prefix)) >>> 0)) >>> 0;
}

function formatIPv6(value: bigint): string {
  const groups: string[] = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n) groups.push(((value >> shift) & 0xffffn).toString(16));
  // Compress the longest run of zero groups, as RFC 5952 spells it.
  let best = { start: -1, length: 0 };
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i += 1;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j += 1;
    if (j - i > best.length && j - i > 1) best = { start: i, length: j - i };
    i = j;
  }
  if (best.start === -1) return groups.join(':');
  return `${groups.slice(0, best.start).join(':')}::${groups.slice(best.start + best.length).join(':')}`;
}

function classifyIPv4(address: string): AddressVerdict {
  const label = forbiddenIPv4Label(parseIPv4(address));
  return label === null ? { allowed: true } : refuse(label, `${label} address ${address}`);
}

function forbiddenIPv4Label(value: number): string | null {
  return FORBIDDEN_IPV4.find((range) => inIPv4Range(value, range))?.label ?? null;
}

function classifyIPv6(address: string, value: bigint): AddressVerdict {
  if (value === IPV6_UNSPECIFIED) return refuse('unspecified', `unspecified address ${address}`);
  if (value === IPV6_LOOPBACK) return refuse('loopback', `loopback address ${address}`);
  const embedded = embeddedIPv4(value);
  if (embedded !== null) return classifyEmbedded(address, embedded);
  const range = FORBIDDEN_IPV6.find((r) => inIPv6Range(value, r));
  if (range !== undefined) return refuse(range.label, `${range.label} address ${address}`);
  if (!inIPv6Range(value, IPV6_GLOBAL_UNICAST)) return refuse('reserved', `reserved address ${address}`);
  return { allowed: true };
}

function embeddedIPv4(value: bigint): number | null {
  const carrier = IPV6_EMBEDDINGS.find((e) => inIPv6Range(value, e));
  if (carrier !== undefined) return carrier.extract(value);
  if (inIPv6Range(value, IPV4_COMPATIBLE)) return lowBits(value);
  return null;
}

function classifyEmbedded(address: string, ipv4: number): AddressVerdict {
  const label = forbiddenIPv4Label(ipv4);
  if (label === null) return { allowed: true };
  return refuse(label, `${label} address ${formatIPv4(ipv4)} (embedded in ${address})`);
}

function refuse(label: string, reason: string): AddressVerdict {
  return { allowed: false, reason, privateNetwork: !ALWAYS_REFUSED.has(label), label };
}

function stripBracketsAndZone(ip: string): string {
  const unbracketed = ip.startsWith('[') && ip.endsWith(']') ? ip.slice(1, -1) : ip;
  const zone = unbracketed.indexOf('%');
  return zone === -1 ? unbracketed : unbracketed.slice(0, zone);
}

function parseIPv4(address: string): number {
  return address.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);
}

function formatIPv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => (value >>> shift) & 0xff).join('.');
}

/** Parses a valid IPv6 address (checked by net.isIPv6) into a 128-bit integer. */
function parseIPv6(address: string): bigint {
  const [head = '', tail] = address.split('::');
  const headGroups = ipv6Groups(head);
  const tailGroups = tail === undefined ? [] : ipv6Groups(tail);
  const missing = 8 - headGroups.length - tailGroups.length;
  const groups = [...headGroups, ...new Array<number>(Math.max(missing, 0)).fill(0), ...tailGroups];
  return groups.reduce((acc, group) => (acc << 16n) | BigInt(group), 0n);
}

function ipv6Groups(part: string): number[] {
  if (part === '') return [];
  return part.split(':').flatMap((piece) => {
    if (!piece.includes('.')) return [parseInt(piece, 16)];
    const v4 = parseIPv4(piece);
    return [v4 >>> 16, v4 & 0xffff];
  });
}

function ipv4Range(cidr: string, label: string): Ipv4Range {
  const [network = '', prefix = '32'] = cidr.split('/');
  return { network: parseIPv4(network), prefix: Number(prefix), label };
}

function ipv6Range(cidr: string, label: string): Ipv6Range {
  const [network = '', prefix = '128'] = cidr.split('/');
  return { network: parseIPv6(network), prefix: Number(prefix), label };
}

function embedding(cidr: string, extract: (value: bigint) => number): Ipv6Embedding {
  const { network, prefix } = ipv6Range(cidr, '');
  return { network, prefix, extract };
}

function lowBits(value: bigint): number {
  return Number(value & LOW_32);
}

function inIPv4Range(value: number, range: { network: number; prefix: number }): boolean {
  if (range.prefix === 0) return true;
  const mask = (0xffff_ffff << (32 - range.prefix)) >>> 0;
  return ((value & mask) >>> 0) === ((range.network & mask) >>> 0);
}

function inIPv6Range(value: bigint, range: { network: bigint; prefix: number }): boolean {
  const shift = BigInt(128 - range.prefix);
  return value >> shift === range.network >> shift;
}

// ---------------------------------------------------------------------------------------
// URLs

/** Parses a subscription URL and applies the URL-level rules (scheme, host, credentials). */
export function parseDestination(raw: string): ParsedDestination {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, reason: `not a valid URL: ${abbreviate(raw)}` };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return { ok: false, reason: `unsupported scheme "${url.protocol.replace(/:$/, '')}" (use http or https)` };
  }
  if (url.hostname === '') return { ok: false, reason: 'URL has no host' };
  // Credentials in a URL end up in logs and in the console; receivers take a secret header.
  if (url.username !== '' || url.password !== '') {
    return {
      ok: false,
      reason:
        'URL must not contain credentials (user:password@): they would be logged and shown with it. ' +
        'Remove them and send them in a secret header instead (--basic USER:PASSWORD or --bearer TOKEN; in the form, Authorization)',
    };
  }
  const port = url.port === '' ? defaultPort(url.protocol) : Number(url.port);
  if (port === 0) return { ok: false, reason: 'port 0 is not a valid destination port' };
  const host = stripBracketsAndZone(url.hostname);
  return { ok: true, url, host, port, isIpLiteral: isIP(host) !== 0 };
}

function defaultPort(protocol: string): number {
  return protocol === 'https:' ? 443 : 80;
}

function abbreviate(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

// ---------------------------------------------------------------------------------------
// Resolution

const DEFAULT_TTL_MS = 30_000;
const MAX_CACHED_HOSTS = 1_024;

interface CachedAnswer {
  addresses: string[];
  expiresAt: number;
}

/**
 * A resolver whose answers are judged by the policy and cached for `ttlMs`.
 *
 * DNS-rebinding defence: the pre-flight check and the socket's connect both ask this
 * resolver, so within the TTL they get the same, already-judged answer; and the connect
 * re-judges whatever it gets, so a connection can never reach a forbidden address.
 */
export function createGuardedResolver(options: GuardedResolverOptions): GuardedResolver {
  const lookup = options.lookup ?? systemLookup;
  const ttlMs = options.ttlMs ?? DEFAULT_TTL_MS;
  const cache = new Map<string, CachedAnswer>();
  const pending = new Map<string, Promise<string[]>>();
  const allowedCidrs = options.allowedCidrs ?? ((): readonly string[] => []);
  // The allowlist is read at every check; it is parsed again only when it changed.
  let parsedFor: string | null = null;
  let parsed: Cidr[] = [];
  // Asked several times per request: the same list (settings are replaced, not changed
  // in place) is taken as is; another list is compared by its text first.
  let lastTexts: readonly string[] | null = null;
  const policy = (): DestinationPolicy => {
    const texts = allowedCidrs();
    if (texts !== lastTexts) {
      const key = JSON.stringify(texts);
      if (key !== parsedFor) {
        parsed = parseCidrs(texts);
        parsedFor = key;
      }
      lastTexts = texts;
    }
    return { allowPrivate: options.allowPrivate(), allowedCidrs: parsed };
  };

  const lookupShared = (host: string): Promise<string[]> => {
    const inFlight = pending.get(host);
    if (inFlight !== undefined) return inFlight;
    const started = lookup(host).finally(() => pending.delete(host));
    pending.set(host, started);
    return started;
  };

  const answerFor = async (host: string): Promise<string[]> => {
    const cached = cache.get(host);
    if (cached !== undefined && cached.expiresAt > Date.now()) return cached.addresses;
    cache.delete(host);
    const addresses = await lookupShared(host);
    if (addresses.length > 0 && ttlMs > 0) remember(cache, host, { addresses, expiresAt: Date.now() + ttlMs });
    return addresses;
  };

  return {
    async resolve(rawHost) {
      const host = stripBracketsAndZone(rawHost).toLowerCase();
      if (isIP(host) !== 0) return judge(host, [host], policy());
      let addresses: string[];
      try {
        addresses = await answerFor(host);
      } catch (error) {
        return { ok: false, code: 'unresolvable', reason: `cannot resolve ${host}: ${lookupErrorText(error)}` };
      }
      if (addresses.length === 0) {
        return { ok: false, code: 'unresolvable', reason: `cannot resolve ${host}: no addresses` };
      }
      return judge(host, addresses, policy());
    },
    policyKey() {
      const current = policy();
      return `${current.allowPrivate}\n${parsedFor}`;
    },
  };
}

// One forbidden address refuses the whole host: the client may connect to any of them.
function judge(host: string, addresses: string[], policy: DestinationPolicy): ResolveResult {
  for (const address of addresses) {
    const verdict = judgeAddress(address, policy);
    if (!verdict.allowed) {
      const reason = address === host ? verdict.reason : `${host} resolves to ${verdict.reason}`;
      return { ok: false, code: 'forbidden_destination', reason };
    }
  }
  return { ok: true, addresses: [...addresses] };
}

function remember(cache: Map<string, CachedAnswer>, host: string, answer: CachedAnswer): void {
  if (cache.size >= MAX_CACHED_HOSTS) {
    const oldest = cache.keys().next();
    if (oldest.done !== true) cache.delete(oldest.value);
  }
  cache.set(host, answer);
}

async function systemLookup(host: string): Promise<string[]> {
  const answers = await dnsLookup(host, { all: true, verbatim: true });
  return answers.map((answer) => answer.address);
}

function lookupErrorText(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    return typeof code === 'string' ? code : error.message;
  }
  return String(error);
}

/** The whole destination check: URL rules, then resolution and the address policy. */
export async function checkDestination(url: string, resolver: GuardedResolver): Promise<DestinationCheck> {
  const parsed = parseDestination(url);
  if (!parsed.ok) return { ok: false, code: 'invalid_url', reason: parsed.reason };
  return resolver.resolve(parsed.host);
}
