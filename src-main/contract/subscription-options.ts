/**
 * A subscription's delivery options, described once: how its requests reach the receiver
 * (extra headers, TLS material, proxy bypass) and how fast (pacing). The bridge contract's
 * fields, the stored JSON, the CLI's options and help, and the subscription form are all
 * derived from this table, so adding an option is one entry here (and its test).
 *
 * Secret headers are not in this table: they are write-only, stored encrypted apart from
 * the options, and only their names are ever shown (see `secretHeaders` in bridge.ts).
 *
 * Pure data and checks: no Node or DOM import; the renderer bundles this file (`@contract`).
 */
import * as s from './schema';

/** A request header a subscription adds to each delivery. */
export interface ExtraHeader {
  name: string;
  value: string;
}

/** The value each kind of option holds. */
interface KindValue {
  /** Name/value pairs sent with every request (`--header 'Name: value'`, repeatable). */
  headers: ExtraHeader[];
  /** An absolute path to a file on the engine's machine; '' for none. */
  path: string;
  boolean: boolean;
  /** A number, or null for "no limit / the default". */
  number: number | null;
  /** One of the descriptor's `choices`. */
  choice: string;
  /** Free text ('' = not set), kept trimmed. */
  text: string;
  /** A JSONata expression ('' = none), checked when saved. */
  expression: string;
}
export type OptionKind = keyof KindValue;

/** Where the form shows an option. */
export type OptionGroup = 'format' | 'filter' | 'headers' | 'tls' | 'network' | 'pacing';

export interface OptionDescriptor<Kind extends OptionKind = OptionKind> {
  kind: Kind;
  default: KindValue[Kind];
  /** What the contract accepts for it (bounds, formats); every surface applies it. */
  schema: s.Schema<KindValue[Kind]>;
  group: OptionGroup;
  /** Short name in sentences. */
  label: string;
  /** The form field's heading. */
  title: string;
  /** One line under the form field, and the CLI's help. */
  hint: string;
  /** The option of `sluice subs add` / `subs update`, without its dashes. */
  cli: string;
  /** For `number` and `text`: the CLI's value name in help (`N`). */
  cliValue?: string;
  /** For `choice`: the values allowed, the first the default. */
  choices?: readonly string[];
  /** The formats this option belongs to (the form shows it with them only); absent: every format. */
  formats?: readonly FormatName[];
}

/**
 * What a subscription sends: DECNET's envelope signed DECNET's
 * way, or the shape and signature a product expects.
 */
export const FORMAT_NAMES = ['decnet', 'standard-webhooks', 'splunk-hec', 'elasticsearch', 'thehive', 'chat'] as const;
export type FormatName = (typeof FORMAT_NAMES)[number];
/** Formats whose product takes several events in one request. */
export const BATCH_FORMATS: readonly FormatName[] = ['splunk-hec', 'elasticsearch'];
export const CHAT_STYLES = ['slack', 'teams'] as const;

function option<Kind extends OptionKind>(descriptor: OptionDescriptor<Kind>): OptionDescriptor<Kind> {
  return descriptor;
}

/** A choice keeps its values' type, so the options type says which strings it may hold. */
function choiceOption<const C extends readonly string[]>(
  descriptor: Omit<OptionDescriptor<'choice'>, 'default' | 'schema' | 'choices'> & { choices: C; default: C[number] },
): OptionDescriptor<'choice'> & { default: C[number]; schema: s.Schema<C[number]>; choices: C } {
  return { ...descriptor, schema: s.literal(...descriptor.choices) };
}

/** The most extra headers (plain and secret together) a subscription may send. */
export const HEADERS_MAX = 32;
const HEADER_NAME_MAX = 128;
const HEADER_VALUE_MAX = 8192;

export const headerSchema = s.object({
  name: s.string({ min: 1, max: HEADER_NAME_MAX, trim: true }),
  value: s.string({ max: HEADER_VALUE_MAX }),
});
const pathSchema = s.string({ max: 4096, trim: true });
const textSchema = (max: number): s.Schema<string> => s.string({ max, trim: true });
/** JSONata: its syntax is checked by the engine when saved (the contract bundles no parser). */
const expressionSchema = s.string({ max: 4096 });

/** In this order in the form and in `sluice subs add --help`. */
export const SUBSCRIPTION_OPTIONS = {
  format: choiceOption({
    kind: 'choice',
    default: 'decnet',
    choices: FORMAT_NAMES,
    group: 'format',
    label: 'format',
    title: 'Format',
    hint: 'What is sent: DECNET’s envelope, Standard Webhooks, or the shape a product takes (Splunk HEC, Elasticsearch, TheHive, a chat message).',
    cli: 'format',
    cliValue: 'FORMAT',
  }),
  hecIndex: option({
    kind: 'text',
    default: '',
    schema: textSchema(256),
    group: 'format',
    label: 'HEC index',
    title: 'Index',
    hint: 'The Splunk index; empty: the token’s default index.',
    cli: 'hec-index',
    cliValue: 'NAME',
    formats: ['splunk-hec'],
  }),
  hecSourcetype: option({
    kind: 'text',
    default: '',
    schema: textSchema(256),
    group: 'format',
    label: 'HEC sourcetype',
    title: 'Sourcetype',
    hint: 'Empty: _json.',
    cli: 'hec-sourcetype',
    cliValue: 'NAME',
    formats: ['splunk-hec'],
  }),
  hecSource: option({
    kind: 'text',
    default: '',
    schema: textSchema(256),
    group: 'format',
    label: 'HEC source',
    title: 'Source',
    hint: 'Empty: decnet:<topic>.',
    cli: 'hec-source',
    cliValue: 'NAME',
    formats: ['splunk-hec'],
  }),
  hecHost: option({
    kind: 'text',
    default: '',
    schema: textSchema(256),
    group: 'format',
    label: 'HEC host',
    title: 'Host',
    hint: 'Empty: the collector sets it.',
    cli: 'hec-host',
    cliValue: 'NAME',
    formats: ['splunk-hec'],
  }),
  esIndex: option({
    kind: 'text',
    default: '',
    schema: s.string({ max: 255, trim: true, pattern: /^(?:[a-z0-9][a-z0-9._+-]*)?$/, patternMessage: 'an index name is lowercase letters, digits and . _ + - (not first)' }),
    group: 'format',
    label: 'Elasticsearch index',
    title: 'Index',
    hint: 'Documents go to /<index>/_doc/<event id>; empty: decnet-events.',
    cli: 'es-index',
    cliValue: 'NAME',
    formats: ['elasticsearch'],
  }),
  thehiveType: option({
    kind: 'text',
    default: '',
    schema: textSchema(128),
    group: 'format',
    label: 'alert type',
    title: 'Alert type',
    hint: 'Empty: decnet. With source and the event id, what TheHive keeps unique.',
    cli: 'thehive-type',
    cliValue: 'TYPE',
    formats: ['thehive'],
  }),
  thehiveSource: option({
    kind: 'text',
    default: '',
    schema: textSchema(128),
    group: 'format',
    label: 'alert source',
    title: 'Alert source',
    hint: 'Empty: sluice.',
    cli: 'thehive-source',
    cliValue: 'NAME',
    formats: ['thehive'],
  }),
  thehiveSeverity: option({
    kind: 'number',
    default: null,
    schema: s.nullable(s.number({ min: 1, max: 4, integer: true })),
    group: 'format',
    label: 'alert severity',
    title: 'Severity (1–4)',
    hint: '1 low, 2 medium, 3 high, 4 critical. Empty: canary hits high, the rest medium.',
    cli: 'thehive-severity',
    cliValue: 'N',
    formats: ['thehive'],
  }),
  chatStyle: choiceOption({
    kind: 'choice',
    default: 'slack',
    choices: CHAT_STYLES,
    group: 'format',
    label: 'chat style',
    title: 'Chat',
    hint: 'Slack incoming webhooks take text; Teams workflows take an Adaptive Card.',
    cli: 'chat-style',
    cliValue: 'STYLE',
    formats: ['chat'],
  }),
  batch: option({
    kind: 'number',
    default: null,
    schema: s.nullable(s.number({ min: 1, max: 1000, integer: true })),
    group: 'format',
    label: 'batch size',
    title: 'Events per request',
    hint: 'Send up to this many events in one request (each still recorded on its own). Empty: one per request.',
    cli: 'batch',
    cliValue: 'N',
    formats: BATCH_FORMATS,
  }),
  batchMs: option({
    kind: 'number',
    default: null,
    schema: s.nullable(s.number({ min: 0, max: 60_000, integer: true })),
    group: 'format',
    label: 'batch wait',
    title: 'Longest wait for a batch (ms)',
    hint: 'A batch leaves when full or when its first event has waited this long. Empty: 1000 ms.',
    cli: 'batch-ms',
    cliValue: 'T',
    formats: BATCH_FORMATS,
  }),
  filter: option({
    kind: 'expression',
    default: '',
    schema: expressionSchema,
    group: 'filter',
    label: 'filter',
    title: 'Filter (JSONata)',
    hint: 'Only events for which this is true are sent, e.g. payload.score > 70 and payload.decky in ["fin-01","fin-02"]. Fields: id, topic, type, ts, payload.',
    cli: 'filter',
    cliValue: 'EXPR',
  }),
  transform: option({
    kind: 'expression',
    default: '',
    schema: expressionSchema,
    group: 'filter',
    label: 'transform',
    title: 'Transform (JSONata)',
    hint: 'Builds the body from the event, for a receiver no format fits, e.g. {"text": topic & " from " & payload.ip}.',
    cli: 'transform',
    cliValue: 'EXPR',
  }),
  headers: option({
    kind: 'headers',
    default: [],
    schema: s.array(headerSchema, { max: HEADERS_MAX }),
    group: 'headers',
    label: 'headers',
    title: 'Headers',
    hint: 'Sent with every delivery. For credentials, use a secret header: it is stored encrypted and never shown again.',
    cli: 'header',
  }),
  caFile: option({
    kind: 'path',
    default: '',
    schema: pathSchema,
    group: 'tls',
    label: 'CA file',
    title: 'CA certificates (PEM)',
    hint: 'Trust only these CAs for this receiver (a private PKI) instead of the system ones.',
    cli: 'ca-file',
  }),
  clientCert: option({
    kind: 'path',
    default: '',
    schema: pathSchema,
    group: 'tls',
    label: 'client certificate',
    title: 'Client certificate (PEM)',
    hint: 'For receivers that require one (mutual TLS); goes with its key.',
    cli: 'client-cert',
  }),
  clientKey: option({
    kind: 'path',
    default: '',
    schema: pathSchema,
    group: 'tls',
    label: 'client key',
    title: 'Client key (PEM)',
    hint: "The client certificate's private key, unencrypted PEM; keep the file readable by you only.",
    cli: 'client-key',
  }),
  direct: option({
    kind: 'boolean',
    default: false,
    schema: s.boolean,
    group: 'network',
    label: 'direct',
    title: 'Bypass the egress proxy',
    hint: 'Connect to this receiver directly even when an egress proxy is set.',
    cli: 'direct',
  }),
  rate: option({
    kind: 'number',
    default: null,
    schema: s.nullable(s.number({ min: 0.01, max: 100_000 })),
    group: 'pacing',
    label: 'rate',
    title: 'Rate limit (events per second)',
    hint: 'Deliveries over the rate wait in the outbox: never dropped, never counted as failures. Empty: no limit.',
    cli: 'rate',
    cliValue: 'N',
  }),
  burst: option({
    kind: 'number',
    default: null,
    schema: s.nullable(s.number({ min: 1, max: 100_000, integer: true })),
    group: 'pacing',
    label: 'burst',
    title: 'Burst',
    hint: 'Events sent at once after a quiet spell, within the rate. Empty: one second of the rate.',
    cli: 'burst',
    cliValue: 'N',
  }),
  concurrency: option({
    kind: 'number',
    default: null,
    schema: s.nullable(s.number({ min: 1, max: 64, integer: true })),
    group: 'pacing',
    label: 'concurrency',
    title: 'Requests in flight',
    hint: 'How many requests this receiver may have at once (1–64), within the global bound. Empty: its fair share.',
    cli: 'concurrency',
    cliValue: 'N',
  }),
} satisfies Record<string, OptionDescriptor>;

export type OptionKey = keyof typeof SUBSCRIPTION_OPTIONS;
export const OPTION_KEYS = Object.keys(SUBSCRIPTION_OPTIONS) as OptionKey[];

/** Every option's value, as stored and as the view shows it. */
export type SubscriptionOptions = { [K in OptionKey]: (typeof SUBSCRIPTION_OPTIONS)[K]['default'] };

/** The contract's fields for the options: each optional in an input or a patch. */
type OptionShape = { [K in OptionKey]: s.Schema<SubscriptionOptions[K] | undefined> & { optional: true } };
export const optionFields = Object.fromEntries(
  OPTION_KEYS.map((key) => [key, s.optional(SUBSCRIPTION_OPTIONS[key].schema as s.Schema<unknown>)]),
) as OptionShape;

export function defaultOptions(): SubscriptionOptions {
  const out: Record<string, unknown> = {};
  for (const key of OPTION_KEYS) out[key] = structuredClone(SUBSCRIPTION_OPTIONS[key].default);
  return out as SubscriptionOptions;
}

/**
 * Stored options (JSON text) back to values: a missing key takes its default, and a value
 * the schema no longer accepts (a bound tightened since) falls back to the default rather
 * than stopping the engine.
 */
export function parseOptions(text: string | null): SubscriptionOptions {
  const options = defaultOptions();
  if (!text) return options;
  let stored: unknown;
  try {
    stored = JSON.parse(text);
  } catch {
    return options;
  }
  if (typeof stored !== 'object' || stored === null) return options;
  const record = options as Record<string, unknown>;
  for (const key of OPTION_KEYS) {
    if (!Object.hasOwn(stored, key)) continue;
    const checked = (SUBSCRIPTION_OPTIONS[key].schema as s.Schema<unknown>).check((stored as Record<string, unknown>)[key], key);
    if (checked.ok) record[key] = checked.value;
  }
  return options;
}

/** The options given in an input or a patch, over `base`. */
export function withOptions(base: SubscriptionOptions, given: Partial<Record<OptionKey, unknown>>): SubscriptionOptions {
  const next = { ...base } as Record<string, unknown>;
  for (const key of OPTION_KEYS) if (given[key] !== undefined) next[key] = given[key];
  return next as SubscriptionOptions;
}

// ---------------------------------------------------------------------------------------
// Headers: the rules a name and a value must meet, shared by the service, the CLI and the form.

/** RFC 9110 §5.1: a field name is a token. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** RFC 9110 §5.5: visible characters, spaces and tabs; never CR, LF or NUL. */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\uffff]*$/;

/**
 * Headers Sluice sets itself, which a subscription cannot replace: the body's framing and
 * type, the signature, the Host the TLS check is made against, and the hop-by-hop headers
 * that belong to the connection (a proxy's included).
 */
const OWNED_HEADERS = new Set([
  'content-type',
  'content-length',
  'content-encoding',
  'host',
  'connection',
  'keep-alive',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'expect',
  'proxy-authorization',
  'proxy-connection',
]);
const OWNED_PREFIXES = ['x-decnet-'];

/** Why a header name cannot be used, or null. */
export function headerNameError(name: string): string | null {
  if (name === '') return 'a header needs a name';
  if (name.length > HEADER_NAME_MAX) return `a header name is at most ${HEADER_NAME_MAX} characters`;
  if (!TOKEN.test(name)) return `"${name}" is not a valid header name (letters, digits and - only, no spaces or colons)`;
  const lower = name.toLowerCase();
  if (OWNED_HEADERS.has(lower) || OWNED_PREFIXES.some((p) => lower.startsWith(p)))
    return `${name} is set by Sluice and cannot be replaced`;
  return null;
}

/** Why a header value cannot be sent, or null. */
export function headerValueError(name: string, value: string): string | null {
  if (value.length > HEADER_VALUE_MAX) return `the value of ${name} is at most ${HEADER_VALUE_MAX} characters`;
  if (!FIELD_VALUE.test(value)) return `the value of ${name} cannot contain line breaks or control characters`;
  return null;
}

/**
 * `Name: value` (the CLI's form, as in curl's `-H`) to a header; throws an Error saying
 * what is wrong. The value is trimmed of the spaces around it.
 */
export function parseHeaderLine(line: string): ExtraHeader {
  const colon = line.indexOf(':');
  if (colon <= 0) throw new Error(`"${line}" is not a header: write it as 'Name: value'`);
  const name = line.slice(0, colon).trim();
  const value = line.slice(colon + 1).trim();
  const error = headerNameError(name) ?? headerValueError(name, value);
  if (error) throw new Error(error);
  return { name, value };
}

/** The Authorization shortcuts the form and the CLI offer. */
export type AuthScheme = 'bearer' | 'basic' | 'splunk' | 'apikey';
export const AUTH_SCHEMES: { scheme: AuthScheme; label: string; credential: string }[] = [
  { scheme: 'bearer', label: 'Bearer token (TheHive, n8n, most APIs)', credential: 'token' },
  { scheme: 'basic', label: 'Basic (user:password)', credential: 'user:password' },
  { scheme: 'splunk', label: 'Splunk HEC token', credential: 'token' },
  { scheme: 'apikey', label: 'Elasticsearch API key', credential: 'encoded API key' },
];

/** UTF-8 bytes to base64, without Node's Buffer (the renderer bundles this). */
function base64(text: string): string {
  let binary = '';
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** The Authorization header a shortcut stands for; throws an Error saying what is missing. */
export function authorizationHeader(scheme: AuthScheme, credential: string): ExtraHeader {
  const value = credential.trim();
  if (value === '') throw new Error(`the ${scheme} credential is empty`);
  if (scheme === 'basic') {
    const colon = value.indexOf(':');
    if (colon <= 0) throw new Error('Basic credentials are written USER:PASSWORD');
    return { name: 'Authorization', value: `Basic ${base64(value)}` };
  }
  if (/\s/.test(value)) throw new Error(`the ${scheme} credential cannot contain spaces`);
  const prefix = { bearer: 'Bearer', splunk: 'Splunk', apikey: 'ApiKey' }[scheme];
  return { name: 'Authorization', value: `${prefix} ${value}` };
}

/** How a secret header's value is shown wherever a request is displayed or recorded. */
export const MASKED_VALUE = '••••••••';
