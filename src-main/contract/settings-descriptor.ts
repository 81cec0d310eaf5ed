/**
 * Every global setting, described once: its kind, default, bounds (schema), names and
 * help, whether it is a write-only secret, and whether changing it reconnects the bus.
 * The `Settings` type, the `settings.update` schema, the defaults, the CLI's parsing and
 * help, and the Settings form are all derived from this table, so adding a setting is
 * one entry here (and its test).
 *
 * Pure data: no Node or DOM import; the renderer bundles this file (`@contract`).
 */
import * as s from './schema';

/** The value each kind of setting holds. */
interface KindValue {
  /** Free text, kept as typed (the form trims it). */
  text: string;
  /** A file on the engine's machine; the CLI stores it absolute (the engine runs in another folder). */
  path: string;
  /** Write-only: `settings.get` reports only whether one is set. */
  secret: string;
  integer: number;
  boolean: boolean;
  /** Strings: comma-separated on the command line, one per line in the form. */
  list: string[];
  /** Seconds between retries: `1,2,4`. */
  schedule: number[];
}
export type SettingKind = keyof KindValue;

/** Where the Settings form shows a field. */
export type SettingGroup = 'bus' | 'delivery' | 'receivers' | 'storage';

export interface SettingDescriptor<Kind extends SettingKind = SettingKind> {
  kind: Kind;
  default: KindValue[Kind];
  /** What `settings.update` accepts (bounds, patterns); applied by the contract on every surface. */
  schema: s.Schema<KindValue[Kind]>;
  group: SettingGroup;
  /** Short name in sentences (`Saved: breaker threshold.`). */
  label: string;
  /** The form field's heading. */
  title: string;
  /** One line under the form field. */
  hint?: string;
  /**
   * `by-hand`: SettingsPanel.svelte places this field itself (a hint with markup, live
   * state beside it). Otherwise the form lays it out from this entry, in its group.
   */
  layout?: 'by-hand';
  /** After the key in `sluice --help`'s key list, in parentheses: its format and what '' means. */
  cliNote?: string;
  /** A change makes the engine reconnect to the bus (and rebind JetStream). */
  reconnectsBus?: true;
}

function setting<Kind extends SettingKind>(descriptor: SettingDescriptor<Kind>): SettingDescriptor<Kind> {
  return descriptor;
}

/** Seconds to wait before each retry, also a subscription's own schedule. */
export const retryScheduleSchema = s.array(s.number({ min: 0, max: 86_400 }), { max: 20 });
/** A JetStream name: part of API subjects and, for a consumer, of a directory name on the server. */
const jetstreamName = (max: number): s.Schema<string> =>
  s.string({ max, pattern: /^[A-Za-z0-9_-]*$/, patternMessage: 'letters, digits, - and _ only' });

/** In this order in `sluice settings get` and `sluice --help`. */
export const SETTINGS = {
  /** One or more bus URLs, comma-separated (`ws://`, `wss://`). */
  natsUrl: setting({
    kind: 'text',
    default: 'ws://127.0.0.1:9222',
    schema: s.string({ min: 1, max: 2048, trim: true }),
    group: 'bus',
    label: 'bus URL',
    title: 'Bus URL(s)',
    reconnectsBus: true,
    layout: 'by-hand',
  }),
  natsUser: setting({ kind: 'text', default: '', schema: s.string({ max: 256 }), group: 'bus', label: 'user', title: 'User', reconnectsBus: true, layout: 'by-hand' }),
  natsPassword: setting({
    kind: 'secret',
    default: '',
    schema: s.string({ max: 1024 }),
    group: 'bus',
    label: 'password',
    title: 'Password',
    hint: 'Sent with the user. Write-only: never shown again once saved.',
    reconnectsBus: true,
    layout: 'by-hand',
  }),
  natsToken: setting({
    kind: 'secret',
    default: '',
    schema: s.string({ max: 4096 }),
    group: 'bus',
    label: 'token',
    title: 'Token',
    hint: 'Instead of user and password. Write-only.',
    reconnectsBus: true,
    layout: 'by-hand',
  }),
  /** Path to a NATS `.creds` file (JWT + NKey seed) or an NKey seed file; stored as given. */
  natsCredsFile: setting({
    kind: 'text',
    default: '',
    schema: s.string({ max: 4096 }),
    group: 'bus',
    label: 'creds file',
    title: 'Credentials file',
    reconnectsBus: true,
    layout: 'by-hand',
  }),
  /**
   * Absolute path to a PEM bundle of the CA(s) that signed the `wss://` bus servers'
   * certificates; when set, only these CAs are trusted for the bus. Empty: the system CAs.
   * Checked when saved, re-read at each connection.
   */
  natsCaFile: setting({
    kind: 'path',
    default: '',
    schema: s.string({ max: 4096, trim: true }),
    group: 'bus',
    label: 'CA file',
    title: 'CA file',
    cliNote: "PEM file of the CA behind wss:// bus URLs; '' = system CAs",
    reconnectsBus: true,
    layout: 'by-hand',
  }),
  /**
   * Absolute paths to a PEM client certificate and its unencrypted key, for `wss://` bus
   * servers that verify clients. Both or neither (the bus status says when only one is set).
   */
  natsClientCertFile: setting({
    kind: 'path',
    default: '',
    schema: s.string({ max: 4096, trim: true }),
    group: 'bus',
    label: 'client certificate',
    title: 'Client certificate',
    reconnectsBus: true,
    layout: 'by-hand',
  }),
  natsClientKeyFile: setting({
    kind: 'path',
    default: '',
    schema: s.string({ max: 4096, trim: true }),
    group: 'bus',
    label: 'client key',
    title: 'Client key',
    cliNote: 'with natsClientCertFile: PEM client certificate and its unencrypted key, for a wss:// bus that verifies clients; both or neither',
    reconnectsBus: true,
    layout: 'by-hand',
  }),
  /** Allow private, loopback and link-local destinations (SSRF guard off for those). */
  allowPrivate: setting({
    kind: 'boolean',
    default: false,
    schema: s.boolean,
    group: 'receivers',
    label: 'private destinations',
    title: 'Allow private, loopback and link-local destinations',
    layout: 'by-hand',
  }),
  /**
   * CIDRs of internal receivers (SIEMs on the LAN) allowed while `allowPrivate` is off.
   * Loopback, unspecified (0.0.0.0) and cloud metadata addresses stay refused under it.
   */
  allowedCidrs: setting({
    kind: 'list',
    default: [],
    schema: s.array(s.string({ min: 1, max: 64 }), { max: 256 }),
    group: 'receivers',
    label: 'allowed networks',
    title: 'Allowed networks (CIDR, one per line)',
    cliNote: "10.0.0.0/8,192.168.10.0/24; '' = none",
    layout: 'by-hand',
  }),
  /**
   * An HTTP CONNECT proxy every delivery goes through (http:// and https:// receivers,
   * as a tunnel to the address the SSRF guard checked); '' = direct. No credentials: the
   * setting is not a secret, so a proxy that wants them is refused when saved.
   */
  egressProxy: setting({
    kind: 'text',
    default: '',
    schema: s.string({ max: 2048, trim: true }),
    group: 'receivers',
    label: 'egress proxy',
    title: 'Egress proxy',
    hint: 'http://host:port of an HTTP CONNECT proxy for every delivery; empty: direct.',
    cliNote: "http://host:port of an HTTP CONNECT proxy; '' = direct",
  }),
  /** Receivers reached directly although a proxy is set, as NO_PROXY lists them. */
  noProxy: setting({
    kind: 'list',
    default: [],
    schema: s.array(s.string({ min: 1, max: 255 }), { max: 256 }),
    group: 'receivers',
    label: 'no-proxy list',
    title: 'Direct, not through the proxy (one per line)',
    hint: 'example.com (and hosts under it), .example.com (only under it), an IP or a CIDR; * for all.',
    cliNote: "example.com,.corp.example,10.0.0.0/8; '' = none",
  }),
  circuitThreshold: setting({
    kind: 'integer',
    default: 5,
    schema: s.number({ min: 1, max: 1000, integer: true }),
    group: 'delivery',
    label: 'breaker threshold',
    title: 'Breaker threshold',
    hint: 'Consecutive failed deliveries that trip a subscription.',
  }),
  /** Global bound on simultaneous outbound requests. */
  concurrency: setting({
    kind: 'integer',
    default: 10,
    schema: s.number({ min: 1, max: 256, integer: true }),
    group: 'delivery',
    label: 'concurrency',
    title: 'Concurrency',
    hint: 'Requests in flight at once, all receivers together.',
  }),
  timeoutMs: setting({
    kind: 'integer',
    default: 10_000,
    schema: s.number({ min: 100, max: 120_000, integer: true }),
    group: 'delivery',
    label: 'timeout',
    title: 'Timeout (ms)',
    hint: 'Per attempt, connect to last byte.',
  }),
  /** Seconds to wait before each retry; jittered ×[0.8, 1.2]. Empty: one attempt. */
  retrySchedule: setting({
    kind: 'schedule',
    default: [1, 2, 4],
    schema: retryScheduleSchema,
    group: 'delivery',
    label: 'retry schedule',
    title: 'Default retry schedule (seconds)',
    cliNote: "1,2,4 or [1,2,4]; '' = none",
    layout: 'by-hand',
  }),
  heldMaxCount: setting({
    kind: 'integer',
    default: 10_000,
    schema: s.number({ min: 0, max: 10_000_000, integer: true }),
    group: 'storage',
    label: 'held events per subscription',
    title: 'Held events per subscription',
    hint: 'While tripped or paused; oldest discarded beyond.',
  }),
  heldMaxAgeHours: setting({
    kind: 'integer',
    default: 72,
    schema: s.number({ min: 1, max: 24 * 365, integer: true }),
    group: 'storage',
    label: 'held events age',
    title: 'Held events kept (hours)',
    hint: 'Older ones are discarded.',
  }),
  /** Delivered (and other finished, non-dead) records older than this are pruned. */
  retentionDays: setting({
    kind: 'integer',
    default: 30,
    schema: s.number({ min: 1, max: 3650, integer: true }),
    group: 'storage',
    label: 'retention age',
    title: 'Keep finished records (days)',
    hint: 'Delivered, tests, rejected…',
  }),
  retentionMaxRows: setting({
    kind: 'integer',
    default: 1_000_000,
    schema: s.number({ min: 1000, max: 100_000_000, integer: true }),
    group: 'storage',
    label: 'retention rows',
    title: 'Keep at most (records)',
    hint: 'Oldest pruned first.',
  }),
  /** Operator audit trail records older than this are pruned (store/audit.ts keeps the rest verifiable). */
  auditRetentionDays: setting({
    kind: 'integer',
    default: 365,
    schema: s.number({ min: 1, max: 36_500, integer: true }),
    group: 'storage',
    label: 'audit trail age',
    title: 'Keep the audit trail (days)',
    hint: 'Who changed what, and when.',
  }),
  /** JetStream stream to consume durably; empty: core NATS subscriptions (the default). */
  jetstreamStream: setting({
    kind: 'text',
    default: '',
    schema: jetstreamName(256),
    group: 'bus',
    label: 'JetStream stream',
    title: 'JetStream stream',
    cliNote: "consume this stream durably; '' = core NATS",
    reconnectsBus: true,
    layout: 'by-hand',
  }),
  /**
   * The durable consumer's name on that stream. Empty (the default): this installation's
   * own (`jetstreamDurableDefault`), so two Sluices on one stream each receive every event.
   * Installations that set the same name share the stream's events between them.
   * NATS advises names under 32 characters.
   */
  jetstreamDurable: setting({
    kind: 'text',
    default: '',
    schema: jetstreamName(32),
    group: 'bus',
    label: 'JetStream durable',
    title: 'JetStream durable consumer',
    cliNote: "its durable consumer; '' = this installation's own, sluice-<install id>; installations that set the same name share the events",
    reconnectsBus: true,
    layout: 'by-hand',
  }),
  /** The team key's file (`sluice team create --key-out`); required with a team. */
  teamKeyFile: setting({
    kind: 'path',
    default: '',
    schema: s.string({ max: 4096, trim: true }),
    group: 'bus',
    label: 'team key file',
    title: 'Team key file',
    hint: "The team's key (absolute path, readable by this user only); every member holds a copy.",
    cliNote: 'the team key file (absolute path, mode 0600)',
    reconnectsBus: true,
    // Shown read-only in the Settings screen's Team fieldset, set by its Create / Join / Leave.
    layout: 'by-hand',
  }),
  /**
   * The team this Sluice is a member of, named by its configuration bucket (docs/design.md#teams):
   * its subscriptions, team settings and breakers are the team's, and it consumes the
   * team's stream through the team's shared durable. Empty (the default): it works alone.
   */
  teamBucket: setting({
    kind: 'text',
    default: '',
    schema: jetstreamName(24),
    group: 'bus',
    label: 'team bucket',
    title: 'Team (its configuration bucket)',
    hint: 'Member of this team (sluice team create / join). Empty: this Sluice works alone.',
    cliNote: "the team's configuration bucket (sluice team create/join set it); '' = alone",
    reconnectsBus: true,
    layout: 'by-hand',
  }),
};

type Descriptors = typeof SETTINGS;

/** The global settings, as stored and as the engine uses them: one value per descriptor. */
export type Settings = { [K in keyof Descriptors]: KindValue[Descriptors[K]['kind']] };
export type SettingKey = keyof Settings;

export const SETTING_KEYS = Object.keys(SETTINGS) as SettingKey[];

export function isSettingKey(key: string): key is SettingKey {
  return Object.hasOwn(SETTINGS, key);
}

/** The keys of one kind, in table order. */
export function keysOfKind<Kind extends SettingKind>(kind: Kind): { [K in SettingKey]: Descriptors[K]['kind'] extends Kind ? K : never }[SettingKey][] {
  return SETTING_KEYS.filter((k) => SETTINGS[k].kind === kind) as never;
}

/** Write-only settings: `settings.get` reports only whether each is set (`natsPasswordSet`). */
export const SECRET_KEYS = keysOfKind('secret');
export type SecretKey = (typeof SECRET_KEYS)[number];

/** Settings whose change makes the engine reconnect to the bus. */
export const BUS_KEYS: readonly SettingKey[] = SETTING_KEYS.filter((k) => SETTINGS[k].reconnectsBus === true);

/** Every default, freshly copied (the lists are not shared). */
export function defaultSettings(): Settings {
  return Object.fromEntries(SETTING_KEYS.map((k) => [k, structuredClone(SETTINGS[k].default)])) as Settings;
}

export const DEFAULT_SETTINGS: Readonly<Settings> = defaultSettings();

type PatchShape = { [K in SettingKey]: s.Schema<Settings[K] | undefined> & { optional: true } };

/** `settings.update`'s argument: any of the settings, each checked by its descriptor's schema. */
export const settingsPatch = s.object(
  Object.fromEntries(SETTING_KEYS.map((k) => [k, s.optional(SETTINGS[k].schema as s.Schema<unknown>)])) as PatchShape,
);
