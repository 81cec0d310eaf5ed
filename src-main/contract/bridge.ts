/**
 * The bridge contract (docs/design.md#bridge-contract), declared once. Each call has a
 * schema for its argument list and a value type; each event has a payload type. Electron
 * IPC, the local web host and the in-process client are all generated from this map, so
 * adding a call here makes the compiler point at every place that must follow.
 *
 * No Node or Electron import: the renderer and the preload bundle this file.
 */
import * as s from './schema';
import { retryScheduleSchema, settingsPatch } from './settings-descriptor';
import { HEADERS_MAX, headerSchema, optionFields } from './subscription-options';
import {
  OUTCOMES,
  PRESET_NAMES,
  PREVIOUS_SECRET_MAX_HOURS,
  type CreatedSubscription,
  type ReplayResult,
  type DeliveryDetail,
  type DeliveryView,
  type EngineStatus,
  type HealthReport,
  type PreviewResult,
  type RecentEvent,
  type SettingsView,
  type TeamMembershipView,
  type TeamStatusView,
  type SubscriptionView,
  type TestFireResult,
  type AuditRecordView,
  type AuditVerification,
} from './views';

const id = s.string({ min: 1, max: 64 });
const name = s.string({ min: 1, max: 64, trim: true });
const url = s.string({ min: 1, max: 2048, trim: true });
const secret = s.string({ max: 256 });
const patterns = s.array(s.string({ max: 256 }), { max: 64 });
const presets = s.array(s.literal(...PRESET_NAMES), { max: PRESET_NAMES.length });
const retrySchedule = retryScheduleSchema;
const isoTime = s.string({ min: 1, max: 64 });
const topicPattern = s.string({ min: 1, max: 256 });
const secretHeaders = s.array(headerSchema, { max: HEADERS_MAX });
const secretHeaderChanges = s.array(
  s.object({ name: s.string({ min: 1, max: 128, trim: true }), value: s.optional(s.string({ max: 8192 })) }),
  { max: HEADERS_MAX },
);

export const subscriptionInput = s.object({
  name,
  url,
  /** 16–256 characters; blank or absent generates a 32-byte random URL-safe secret. */
  secret: s.optional(secret),
  presets: s.optional(presets),
  patterns: s.optional(patterns),
  enabled: s.optional(s.boolean),
  /** Seconds before each retry; null or absent: the global default. */
  retrySchedule: s.optional(s.nullable(retrySchedule)),
  /** Write-only headers (credentials): stored encrypted, shown by name only. */
  secretHeaders: s.optional(secretHeaders),
  ...optionFields,
});

/** Any subset of the input; `secret` present means "rotate to this secret". */
export const subscriptionPatch = s.object({
  name: s.optional(name),
  url: s.optional(url),
  secret: s.optional(secret),
  /**
   * With a new `secret`: keep the replaced one valid this many hours (0–720; 0 or absent:
   * no overlap). Without one, 0 ends an ongoing overlap now.
   */
  previousSecretValidHours: s.optional(s.number({ min: 0, max: PREVIOUS_SECRET_MAX_HOURS })),
  presets: s.optional(presets),
  patterns: s.optional(patterns),
  enabled: s.optional(s.boolean),
  retrySchedule: s.optional(s.nullable(retrySchedule)),
  /**
   * The whole set of secret headers after the change: an entry without a value keeps the
   * value stored under its name; a stored name left out is removed.
   */
  secretHeaders: s.optional(secretHeaderChanges),
  ...optionFields,
});

const deliveryId = s.number({ min: 1, max: Number.MAX_SAFE_INTEGER, integer: true });
/** Count only: what the confirmation dialog shows. */
const dryRun = s.optional(s.boolean);

/**
 * What to send again, in exactly one of three forms: `id` (one delivery); `subscriptionId`
 * with `dead: true` (all its dead letters, optionally `since` a time); or `subscriptionId`
 * with `pattern`, `from` and `to` (stored events whose topic matches, received in the
 * window, sent to that subscription). A replay keeps the event id. Fields of another form
 * are ignored (`dead: false` picks no form).
 */
export const replayRequest = s.oneOf(
  {
    id: s.optional(deliveryId),
    subscriptionId: s.optional(id),
    dead: s.optional(s.boolean),
    since: s.optional(isoTime),
    pattern: s.optional(topicPattern),
    from: s.optional(isoTime),
    to: s.optional(isoTime),
    dryRun,
  },
  {
    delivery: s.object({ id: deliveryId, dryRun }),
    dead: s.object({ subscriptionId: id, dead: s.isTrue, since: s.optional(isoTime), dryRun }),
    window: s.object({ subscriptionId: id, pattern: topicPattern, from: isoTime, to: isoTime, dryRun }),
  },
  (request) => {
    if (request.id !== undefined)
      return request.dead || request.pattern !== undefined
        ? { refuse: 'replay either one delivery (id) or a selection, not both' }
        : 'delivery';
    if (request.dead) return 'dead';
    if (request.pattern !== undefined) return 'window';
    return { refuse: 'say what to replay: an id; or a subscriptionId with dead: true; or a subscriptionId with pattern, from and to' };
  },
);

export const deliveryQuery = s.object({
  subscriptionId: s.optional(id),
  outcome: s.optional(s.literal(...OUTCOMES)),
  /** A topic or a topic pattern (`attacker.>`). */
  topic: s.optional(topicPattern),
  /** Only deliveries with an id lower than this (paging back through the log). */
  before: s.optional(s.number({ min: 1, max: Number.MAX_SAFE_INTEGER, integer: true })),
  limit: s.optional(s.number({ min: 1, max: 1000, integer: true })),
  /** Leave held events out: the console's log shows them summarised, one line per subscription. */
  excludeHeld: s.optional(s.boolean),
});

/**
 * What the form would send, for the live preview: the subscription's fields as typed
 * (`subscriptionId` when editing, so its stored secret and secret headers sign and go
 * along), and the event — a stored one by id, or one pasted as JSON; neither: the newest
 * stored event its patterns match.
 */
export const previewRequest = s.object({
  subscriptionId: s.optional(id),
  url: s.optional(url),
  secret: s.optional(secret),
  presets: s.optional(presets),
  patterns: s.optional(patterns),
  secretHeaders: s.optional(secretHeaderChanges),
  ...optionFields,
  eventId: s.optional(s.string({ min: 1, max: 256 })),
  /** A DECNET envelope as JSON text (`topic` included), as an analyst would paste one. */
  eventJson: s.optional(s.string({ min: 1, max: 256 * 1024 })),
});

/** The recent stored events whose topic matches these patterns (the preview's picker). */
export const recentEventsQuery = s.object({
  presets: s.optional(presets),
  patterns: s.optional(patterns),
  limit: s.optional(s.number({ min: 1, max: 100, integer: true })),
});

/** A time in a search: with its offset, normalised to the store's form (UTC, milliseconds). */
const searchTime = s.isoTime();

/** What to find in the log (store/search.ts): every field given must match. */
const deliverySearchFields = {
  /** The event's id, exactly. */
  eventId: s.optional(s.string({ min: 1, max: 256, trim: true })),
  /** Contained in the event's body (an attacker's IP, a decoy's name); ASCII letters in either case. */
  text: s.optional(s.string({ min: 1, max: 1024 })),
  /** The HTTP status of the last attempt. */
  statusCode: s.optional(s.number({ min: 100, max: 599, integer: true })),
  /** Created at or after. */
  from: s.optional(searchTime),
  /** Created at or before. */
  to: s.optional(searchTime),
};

/** The largest page `deliveries.search` answers (store/search.ts MAX_SEARCH_LIMIT). */
export const SEARCH_LIMIT_MAX = 10_000;

/** A search of the log: at least one filter; newest first, at most `limit` (default 200). */
export const deliverySearchQuery = s.object({ ...deliverySearchFields, limit: s.optional(s.number({ min: 1, max: SEARCH_LIMIT_MAX, integer: true })) });

export const EXPORT_FORMAT_NAMES = ['csv', 'ndjson'] as const;

/** The filtered set written out whole (no filter: the whole log), with bodies and attempts. */
export const deliveryExportRequest = s.object({ ...deliverySearchFields, format: s.literal(...EXPORT_FORMAT_NAMES) });

/** Where `deliveries.export` wrote the file (the desktop app's save dialog chose it). */
export interface DeliveryExportResult {
  file: string;
  count: number;
}

/** The team's stream and name (bucket); checked in full by the engine (engine/team-membership.ts). */
const teamStream = s.string({ min: 1, max: 255, trim: true });
const teamBucket = s.optional(s.string({ max: 64, trim: true }));
/** An absolute path to a team key file. */
const keyPath = s.string({ min: 1, max: 4096, trim: true });

/** Create a team on the bus (its stream the operator's) and be its first member; a new key file is written to keyOut. */
export const teamCreateRequest = s.object({ stream: teamStream, bucket: teamBucket, keyOut: keyPath });
/** Join a team with a copy of its key file; mergeLocal adds this database's own subscriptions to the team. */
export const teamJoinRequest = s.object({ stream: teamStream, bucket: teamBucket, keyFile: keyPath, mergeLocal: s.optional(s.boolean) });

/** The Audit view's page of the trail: newest first, `before` a record's seq to page back from it. */
export const auditQuery = s.object({
  /** Records made at or after this time (ISO-8601 with its offset). */
  since: s.optional(s.isoTime()),
  before: s.optional(s.number({ min: 1, max: Number.MAX_SAFE_INTEGER, integer: true })),
  /** At most this many (default AUDIT_PAGE). */
  limit: s.optional(s.number({ min: 1, max: 1000, integer: true })),
});

/** `settings.update`'s argument, derived from the settings' descriptors. */
export { settingsPatch };

/**
 * The argument types, inferred from the schemas: what is checked is what is typed, with
 * no hand-written twin to drift from it.
 */
export type SubscriptionInput = s.Infer<typeof subscriptionInput>;
export type SubscriptionPatch = s.Infer<typeof subscriptionPatch>;
export type ReplayRequest = s.Infer<typeof replayRequest>;
export type DeliveryQuery = s.Infer<typeof deliveryQuery>;
export type PreviewRequest = s.Infer<typeof previewRequest>;
export type RecentEventsQuery = s.Infer<typeof recentEventsQuery>;
/** A change to the global settings: only the fields that change. */
export type SettingsPatch = s.Infer<typeof settingsPatch>;
export type TeamCreateRequest = s.Infer<typeof teamCreateRequest>;
export type TeamJoinRequest = s.Infer<typeof teamJoinRequest>;
export type AuditQuery = s.Infer<typeof auditQuery>;
export type DeliverySearchQuery = s.Infer<typeof deliverySearchQuery>;
export type DeliveryExportRequest = s.Infer<typeof deliveryExportRequest>;

/** Calls, renderer → main. `args` validates the positional argument list. */
export const calls = {
  'subscriptions.list': { args: s.tuple() },
  'subscriptions.create': { args: s.tuple(subscriptionInput) },
  'subscriptions.update': { args: s.tuple(id, subscriptionPatch) },
  'subscriptions.remove': { args: s.tuple(id) },
  'subscriptions.setEnabled': { args: s.tuple(id, s.boolean, s.optional(s.literal('deliver', 'discard'))) },
  'subscriptions.testFire': { args: s.tuple(id) },
  /** Success rate and p50/p95 latency of every subscription, last hour and last day. */
  'subscriptions.health': { args: s.tuple() },
  /** The exact request a subscription (saved or as typed) would send for an event. */
  'subscriptions.preview': { args: s.tuple(previewRequest) },
  'events.recent': { args: s.tuple(recentEventsQuery) },
  'deliveries.list': { args: s.tuple(s.optional(deliveryQuery)) },
  'deliveries.get': { args: s.tuple(deliveryId) },
  /** Find deliveries by event id, text in the body, status code and time window (at least one). */
  'deliveries.search': { args: s.tuple(deliverySearchQuery) },
  /**
   * The desktop app's export: asks where to save, then writes the file (null: the analyst
   * cancelled). In a browser the console downloads `GET /export` from the web host instead.
   */
  'deliveries.export': { args: s.tuple(deliveryExportRequest) },
  'deliveries.replay': { args: s.tuple(replayRequest) },
  'status.get': { args: s.tuple() },
  'settings.get': { args: s.tuple() },
  'settings.update': { args: s.tuple(settingsPatch) },
  /** The team this Sluice is a member of (null alone): members, backlog, live log. */
  'team.status': { args: s.tuple() },
  /** Make this Sluice a member of a team, as `sluice team create|join` do; leave it, as `sluice team leave`. */
  'team.create': { args: s.tuple(teamCreateRequest) },
  'team.join': { args: s.tuple(teamJoinRequest) },
  'team.leave': { args: s.tuple() },
  /** The operator audit trail, newest first (read-only: not itself audited). */
  'audit.list': { args: s.tuple(s.optional(auditQuery)) },
  /** Its hash chain checked, as `sluice audit --verify`: intact, or the first broken record and why. */
  'audit.verify': { args: s.tuple() },
} as const;

/** What each call returns when it succeeds. */
export interface CallValues {
  'subscriptions.list': SubscriptionView[];
  'subscriptions.create': CreatedSubscription;
  'subscriptions.update': SubscriptionView;
  'subscriptions.remove': null;
  'subscriptions.setEnabled': SubscriptionView;
  'subscriptions.testFire': TestFireResult;
  'subscriptions.health': HealthReport;
  'subscriptions.preview': PreviewResult;
  'events.recent': RecentEvent[];
  'deliveries.list': DeliveryView[];
  'deliveries.get': DeliveryDetail;
  'deliveries.search': DeliveryView[];
  'deliveries.export': DeliveryExportResult | null;
  'deliveries.replay': ReplayResult;
  'status.get': EngineStatus;
  'settings.get': SettingsView;
  'settings.update': SettingsView;
  'team.status': TeamStatusView | null;
  'team.create': TeamMembershipView;
  'team.join': TeamMembershipView;
  'team.leave': TeamMembershipView;
  'audit.list': AuditRecordView[];
  'audit.verify': AuditVerification;
}

/** Events, main → renderer; batched so a flood sends at most ~10 messages a second. */
export interface EventPayloads {
  'deliveries.appended': DeliveryView[];
  'subscriptions.changed': SubscriptionView[];
  'status.changed': EngineStatus;
}

export type CallName = keyof typeof calls;
export type EventName = keyof EventPayloads;
export const CALL_NAMES = Object.keys(calls) as CallName[];
export const EVENT_NAMES: EventName[] = ['deliveries.appended', 'subscriptions.changed', 'status.changed'];

/**
 * How the web host refuses a page whose token is missing or is not this run's
 * (docs/design.md#web-host): its `/rpc` socket opens and is closed at once with this
 * code, because a page's script cannot see why an HTTP upgrade was refused, and the page
 * must say what to do. Missing and wrong read the same: not this run's token, nothing more.
 */
export const TOKEN_REFUSED_CLOSE_CODE = 4401;
export const TOKEN_REFUSED_REASON = "not this run's token";

/** A trailing argument that may be undefined may also be left out. */
type OptionalTail<T extends readonly unknown[]> = T extends readonly [...infer Head, infer Last]
  ? undefined extends Last
    ? [...Head, Last?]
    : T
  : T;

export type CallArgs<K extends CallName> = OptionalTail<s.Infer<(typeof calls)[K]['args']>>;

export type ErrorCode =
  | 'invalid_argument'
  | 'not_found'
  | 'conflict'
  | 'forbidden_destination'
  /** The caller is not allowed to use the bridge (a foreign frame or origin). */
  | 'forbidden'
  | 'unavailable'
  | 'internal';

export interface BridgeError {
  code: ErrorCode;
  message: string;
  /** The input field the error is about, for inline display (`url`, `patterns[2]`). */
  field?: string;
}

/** Every call answers with data; nothing throws across the boundary. */
export type Result<T> = { ok: true; value: T } | { ok: false; error: BridgeError };

/** The main-process side: one async handler per call; may throw {@link BridgeFailure}. */
export type Handlers = {
  [K in CallName]: (...args: CallArgs<K>) => Promise<CallValues[K]> | CallValues[K];
};

/** The renderer side: named functions returning results, plus event subscription. */
export type SluiceApi = {
  [K in CallName]: (...args: CallArgs<K>) => Promise<Result<CallValues[K]>>;
} & {
  on<E extends EventName>(event: E, listener: (payload: EventPayloads[E]) => void): () => void;
};

/** Thrown by handlers to answer with a specific error; anything else becomes `internal`. */
export class BridgeFailure extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'BridgeFailure';
  }

  toError(): BridgeError {
    return this.field === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, field: this.field };
  }
}

/**
 * Validate an untrusted argument list and run the handler, turning every failure into
 * data. The one place where the contract is enforced; each transport calls it.
 */
export async function dispatchCall(
  handlers: Handlers,
  name: unknown,
  rawArgs: unknown,
  onInternalError?: (err: unknown, call: string) => void,
): Promise<Result<unknown>> {
  if (typeof name !== 'string' || !Object.hasOwn(calls, name)) {
    return { ok: false, error: { code: 'invalid_argument', message: `unknown call: ${String(name).slice(0, 64)}` } };
  }
  const call = name as CallName;
  const checked = calls[call].args.check(rawArgs ?? [], '');
  if (!checked.ok) {
    const { path, message, whole } = checked.issue;
    const field = path && !whole ? fieldName(path) : undefined;
    return {
      ok: false,
      error: { code: 'invalid_argument', message: field ? `${field} ${message}` : message, ...(field ? { field } : {}) },
    };
  }
  try {
    const handler = handlers[call] as (...a: unknown[]) => unknown;
    const value = await handler(...(checked.value as readonly unknown[]));
    return { ok: true, value };
  } catch (err) {
    if (err instanceof BridgeFailure) return { ok: false, error: err.toError() };
    onInternalError?.(err, call);
    return { ok: false, error: { code: 'internal', message: 'internal error; see the engine log' } };
  }
}

/** `arg1.url` → `url`; `arg0.patterns[2]` → `patterns[2]`: the form's field name. */
function fieldName(path: string): string {
  return path.replace(/^arg\d+\.?/, '') || path;
}
