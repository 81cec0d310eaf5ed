/**
 * Breaker announcements on the bus (docs/design.md#announcements): one message when a
 * subscription trips, one when the analyst re-enables a tripped one, so the tools a team
 * already runs (anything that reads NATS, or a SIEM through a `system.>` subscription)
 * see it without watching the console.
 *
 * Each is published once, at the transition, by the engine that made it: the running
 * engine for a trip; for a re-enable, the engine that served it (the console's, or a
 * CLI command's, which publishes it after its change like the reload signal). Never
 * retried nor queued: a bus that is down costs the announcement, never the engine's
 * work; the record says so.
 *
 * What an announcement says of the last error is sanitised (no URL credentials, query
 * strings, tokens, nor any value of the subscription's secrets and headers) and short.
 */
import type { HeldAction } from '../contract/views';
import type { Subscription } from '../store/subscriptions';
import { sanitizeError } from './attention';
import type { EngineRecords } from './records';

export const TRIPPED_SUBJECT = 'system.webhook.tripped';
export const REENABLED_SUBJECT = 'system.webhook.reenabled';
/** The last error in an announcement: enough to tell a 503 from a refused connection. */
export const ANNOUNCED_ERROR_MAX_CHARS = 300;
/** A piece of a header value this long is taken for a credential wherever it shows (`Splunk <token>`). */
const CREDENTIAL_PIECE_MIN = 8;

export interface TrippedAnnouncement {
  name: string;
  subscriptionId: string;
  /** When it tripped (ISO-8601 UTC). */
  at: string;
  consecutiveFailures: number;
  /** The last failure's error, sanitised; null when there was none. */
  lastError: string | null;
  /** Events held for it when it tripped (those that match it later are held too). */
  held: number;
}

export interface ReenabledAnnouncement {
  name: string;
  subscriptionId: string;
  at: string;
  /** What the analyst chose for the events it held: delivered, or let go. */
  held: HeldAction;
  /** How many it held when it was re-enabled. */
  heldCount: number;
}

export type Announcement =
  | { subject: typeof TRIPPED_SUBJECT; body: TrippedAnnouncement }
  | { subject: typeof REENABLED_SUBJECT; body: ReenabledAnnouncement };

type Secrets = Pick<Subscription, 'url' | 'secret' | 'previousSecret' | 'secretHeaders' | 'options'>;

export function trippedAnnouncement(
  sub: Secrets & Pick<Subscription, 'id' | 'name' | 'consecutiveFailures' | 'lastError'>,
  at: string,
  held: number,
): Announcement {
  return {
    subject: TRIPPED_SUBJECT,
    body: {
      name: sub.name,
      subscriptionId: sub.id,
      at,
      consecutiveFailures: sub.consecutiveFailures,
      lastError: sub.lastError === null ? null : announcedError(sub.lastError, sub),
      held,
    },
  };
}

export function reenabledAnnouncement(sub: Pick<Subscription, 'id' | 'name'>, at: string, held: HeldAction, heldCount: number): Announcement {
  return { subject: REENABLED_SUBJECT, body: { name: sub.name, subscriptionId: sub.id, at, held, heldCount } };
}

/**
 * An error fit for the bus: every value the subscription keeps secret or sends as a
 * header (a receiver may echo a token back in its error), its URL's credentials and
 * query values taken out first, then the generic rules (attention.ts sanitizeError).
 */
export function announcedError(raw: string, sub: Secrets): string {
  let text = raw;
  for (const value of knownValues(sub)) text = text.split(value).join('…');
  return sanitizeError(text, ANNOUNCED_ERROR_MAX_CHARS);
}

/** The subscription's values that must not travel, longest first (so a value is not left half-cut by a piece of it). */
function knownValues(sub: Secrets): string[] {
  const values = new Set<string>();
  const add = (value: string | null | undefined, minimum = 4): void => {
    const v = value?.trim();
    if (v && v.length >= minimum) values.add(v);
  };
  add(sub.secret);
  add(sub.previousSecret);
  for (const header of [...sub.secretHeaders, ...sub.options.headers]) {
    add(header.value);
    // `Bearer <token>`, `Splunk <token>`, `Basic <base64>`: the credential alone may be echoed.
    for (const piece of header.value.split(/[\s,;]+/)) add(piece, CREDENTIAL_PIECE_MIN);
  }
  try {
    const url = new URL(sub.url);
    add(safeDecode(url.username));
    add(safeDecode(url.password));
    add(url.username);
    add(url.password);
    add(url.search.slice(1));
    for (const value of url.searchParams.values()) add(value);
  } catch {
    // Not a URL (it was checked at save): nothing of it to take out.
  }
  return [...values].sort((a, b) => b.length - a.length);
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

interface AnnouncerDeps {
  /** Publish on the engine's bus now; false when it is not connected. */
  publish: (subject: string, data: Uint8Array) => boolean;
  /** How many events a subscription holds now. */
  held: (subscriptionId: string) => number;
  records: EngineRecords;
  /** The CLI's offline engine: announcements wait for the command to publish them. */
  offline: boolean;
}

export class Announcer {
  private readonly queued: Announcement[] = [];

  constructor(private readonly deps: AnnouncerDeps) {}

  /** It just tripped (it was not tripped before). */
  tripped(sub: Subscription, at: string): void {
    this.announce(trippedAnnouncement(sub, at, this.deps.held(sub.id)));
  }

  /** It was re-enabled (`before`: as it was), its `released` held events delivered or let go: said when it had tripped. */
  reenabled(before: Pick<Subscription, 'id' | 'name' | 'autoDisabledAt'>, held: HeldAction, released: number): void {
    if (before.autoDisabledAt !== null) this.announce(reenabledAnnouncement(before, new Date().toISOString(), held, released));
  }

  announce(announcement: Announcement): void {
    if (this.deps.offline) {
      this.queued.push(announcement);
      return;
    }
    const { subject, body } = announcement;
    let sent = false;
    try {
      sent = this.deps.publish(subject, encode(announcement));
    } catch {
      sent = false;
    }
    this.deps.records.emit({ kind: 'announcement', subject, sent, subscriptionId: body.subscriptionId, name: body.name });
  }

  /** What an offline engine announced, for its command to publish (each taken once). */
  take(): Announcement[] {
    return this.queued.splice(0);
  }
}

/** The message's bytes: the body as JSON. */
export function encode(announcement: Announcement): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(announcement.body));
}
