/**
 * The live preview (docs/design.md#formats): what a subscription — saved, or as the form
 * holds it — would send for one event, computed by the code that sends (delivery/request.ts)
 * after the same checks a save makes. Nothing is sent or stored.
 */
import { BridgeFailure, type PreviewRequest, type RecentEventsQuery } from '../contract/bridge';
import { defaultOptions, type SubscriptionOptions } from '../contract/subscription-options';
import type { PreviewResult, RecentEvent } from '../contract/views';
import { parseBusMessage } from '../bus/intake';
import { buildRequest, eventFromBody } from '../delivery/request';
import { buildBody } from '../delivery/wire';
import { compileCached, runFilter } from '../match/expression';
import { expandPatterns, matchesPattern } from '../match/pattern';
import type { Store } from '../store/database';
import { findEvent, recentEvents, type StoredEvent, type StoredEventSummary } from '../store/deliveries';
import { rotatingUntil } from '../store/subscriptions';
import { checkSecretHeaders, type SubscriptionService } from './subscription-service';

interface PreviewDeps {
  store: Store;
  service: SubscriptionService;
  userAgent: string;
}

/** The signature of a subscription not saved yet: its secret is made at save. */
const UNSAVED_SECRET = 'preview-placeholder-secret-0000';
const SIGNED_AT_SAVE = '(signed with the secret made when saved)';
const SIGNATURE_HEADERS = ['X-DECNET-Signature', 'X-DECNET-Signature-Previous', 'webhook-signature'];

export class Preview {
  constructor(private readonly deps: PreviewDeps) {}

  recent(query: RecentEventsQuery): RecentEvent[] {
    const patterns = expandPatterns(query.presets ?? [], query.patterns ?? []);
    return recentEvents(this.deps.store, (topic) => patterns.some((p) => matchesPattern(p, topic)), query.limit ?? 20).map(pickerView);
  }

  async preview(request: PreviewRequest): Promise<PreviewResult> {
    const stored = request.subscriptionId === undefined ? undefined : this.deps.service.get(request.subscriptionId);
    const patterns =
      request.presets !== undefined || request.patterns !== undefined
        ? expandPatterns(request.presets ?? [], request.patterns ?? [])
        : (stored?.patterns ?? []);
    const empty: PreviewResult = { event: null, matches: false, filter: null, request: null, problem: null };

    let options: SubscriptionOptions;
    let secretHeaders: { name: string; value: string }[];
    try {
      options = this.deps.service.checkOptions(stored?.options ?? defaultOptions(), request);
      secretHeaders = checkSecretHeaders(
        request.secretHeaders ?? (stored?.secretHeaders ?? []).map((h) => ({ name: h.name })),
        stored?.secretHeaders ?? [],
        options.headers,
      );
    } catch (error) {
      if (error instanceof BridgeFailure) return { ...empty, problem: { message: error.message, ...(error.field ? { field: error.field } : {}) } };
      throw error;
    }

    const event = this.eventFor(request, patterns);
    if ('problem' in event) return { ...empty, problem: { message: event.problem, field: request.eventJson !== undefined ? 'eventJson' : 'eventId' } };
    const { stored: chosen, body } = event;
    const topic = chosen.topic;
    const result: PreviewResult = { ...empty, event: pickerView(chosen), matches: patterns.some((p) => matchesPattern(p, topic)) };

    if (options.filter !== '') {
      const compiled = compileCached(options.filter, 'filter');
      result.filter = compiled.ok ? await runFilter(compiled.expression, eventFromBody(body)) : { pass: false, error: compiled.message };
    }

    const secret = request.secret?.trim() ? request.secret : (stored?.secret ?? null);
    const previous = stored && rotatingUntil(stored) !== null ? stored.previousSecret : null;
    const built = await buildRequest(
      {
        url: request.url ?? stored?.url ?? '',
        secret: secret ?? (options.format === 'standard-webhooks' ? `whsec_${'A'.repeat(32)}` : UNSAVED_SECRET),
        previousSecret: previous,
        options,
        secretHeaders,
      },
      [{ body, id: chosen.eventId, topic }],
      { userAgent: this.deps.userAgent, nowMs: Date.now() },
    ).catch((error: unknown) => ({ ok: false as const, error: (error as Error).message }));
    if (!built.ok) return { ...result, problem: { message: built.error, field: options.transform !== '' ? 'transform' : 'url' } };
    const headers = { ...built.request.recordedHeaders };
    if (secret === null) for (const name of SIGNATURE_HEADERS) if (name in headers) headers[name] = SIGNED_AT_SAVE;
    return { ...result, request: { method: 'POST', url: built.request.url, headers, body: built.request.body.toString('utf8') } };
  }

  /** The event to preview with: pasted, chosen by id, or the newest the patterns match. */
  private eventFor(request: PreviewRequest, patterns: readonly string[]): { stored: StoredEvent; body: Buffer } | { problem: string } {
    if (request.eventJson !== undefined) return pasted(request.eventJson);
    if (request.eventId !== undefined) {
      const found = findEvent(this.deps.store, request.eventId);
      return found ? { stored: found, body: Buffer.from(found.body, 'utf8') } : { problem: `no stored event with id ${request.eventId}` };
    }
    const [newest] = recentEvents(this.deps.store, (topic) => patterns.some((p) => matchesPattern(p, topic)), 1);
    const found = newest && findEvent(this.deps.store, newest.eventId);
    return found
      ? { stored: found, body: Buffer.from(found.body, 'utf8') }
      : { problem: 'no stored event matches these patterns yet: paste one, or wait for one to arrive' };
  }
}

function pickerView(event: StoredEventSummary): RecentEvent {
  return { eventId: event.eventId, topic: event.topic, type: event.type, ts: event.ts, receivedAt: event.receivedAt };
}

/** A pasted envelope, read exactly as one from the bus would be (its `topic` as the subject). */
function pasted(text: string): { stored: StoredEvent; body: Buffer } | { problem: string } {
  let topic: unknown;
  try {
    topic = (JSON.parse(text) as { topic?: unknown } | null)?.topic;
  } catch (error) {
    return { problem: `the pasted event is not JSON: ${(error as Error).message}` };
  }
  if (typeof topic !== 'string' || topic === '') return { problem: 'the pasted event needs its "topic" (the subject it was published on)' };
  const now = Date.now();
  const parsed = parseBusMessage(topic, Buffer.from(text, 'utf8'), now);
  if (!parsed.ok) return { problem: `the pasted event would be rejected: ${parsed.reason}` };
  const body = buildBody(parsed.event);
  const { id, type, ts } = parsed.event;
  return { stored: { eventId: id, topic, type, ts, receivedAt: new Date(now).toISOString(), body: body.toString('utf8') }, body };
}
