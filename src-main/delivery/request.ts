/**
 * The request a subscription sends for one event (or one batch): URL, headers and the
 * exact body, in its format (docs/design.md#formats), signed. The one place that builds it:
 * the dispatcher sends what this returns, the store keeps its body, and the console's
 * preview shows it — so the bytes signed, sent, stored and shown are the same.
 */
import type { FormatName, SubscriptionOptions } from '../contract/subscription-options';
import { compileCached, runTransform } from '../match/expression';
import { renderChat } from './formats/chat';
import { renderElastic, renderElasticBulk, judgeBulkItems } from './formats/elasticsearch';
import { judgeHecAnswer, renderHec } from './formats/splunk-hec';
import { standardWebhookHeaders } from './formats/standard-webhooks';
import { judgeTheHiveAnswer, renderTheHive } from './formats/thehive';
import type { AnswerVerdict, FormatEvent, ItemVerdicts, RenderedRequest } from './formats/types';
import { parseJson, type JsonValue } from './json';
import { buildHeaders, maskHeaders } from './wire';

export type { FormatEvent, ItemVerdicts };

/** What the request builder needs of a subscription (its secrets included: main process only). */
export interface RequestPlan {
  url: string;
  secret: string;
  /** The rotated-out secret while its overlap lasts: a second signature. */
  previousSecret: string | null;
  options: SubscriptionOptions;
  secretHeaders: readonly { name: string; value: string }[];
}

export interface BuiltRequest {
  url: string;
  /** As sent. */
  headers: Record<string, string>;
  /** As recorded and shown: secret header values masked. */
  recordedHeaders: Record<string, string>;
  body: Buffer;
}

export type BuildResult = { ok: true; request: BuiltRequest } | { ok: false; error: string };

/** An event's stored canonical body back to its fields. */
export function eventFromBody(body: Uint8Array): FormatEvent {
  const value = parseJson(Buffer.from(body).toString('utf8')) as Record<string, JsonValue>;
  const text = (key: string): string => (typeof value[key] === 'string' ? (value[key] as string) : '');
  return { id: text('id'), topic: text('topic'), type: text('type'), ts: text('ts'), payload: value['payload'] ?? null };
}

/** The body in the subscription's format: one event, or a batch for the formats that take one. */
function render(format: FormatName, events: readonly FormatEvent[], options: SubscriptionOptions, decnetBody: Buffer): RenderedRequest {
  const first = events[0] as FormatEvent;
  switch (format) {
    case 'decnet':
    case 'standard-webhooks':
      // The canonical body exactly as stored: byte-identical to the origin worker's.
      return { body: decnetBody, contentType: 'application/json', path: '' };
    case 'splunk-hec':
      return renderHec(events, {
        index: options.hecIndex,
        source: options.hecSource,
        sourcetype: options.hecSourcetype,
        host: options.hecHost,
      });
    case 'elasticsearch':
      return events.length > 1 ? renderElasticBulk(events, { index: options.esIndex }) : renderElastic(first, { index: options.esIndex });
    case 'thehive':
      return renderTheHive(first, { type: options.thehiveType, source: options.thehiveSource, severity: options.thehiveSeverity });
    case 'chat':
      return renderChat(first, { style: options.chatStyle });
  }
}

/** The subscription's URL with a format's path after it (Elasticsearch's `/<index>/_doc/<id>`). */
function urlWithPath(base: string, path: string): string {
  if (path === '') return base;
  const url = new URL(base);
  const [pathname, query] = path.split('?', 2) as [string, string | undefined];
  url.pathname = `${url.pathname.replace(/\/+$/, '')}${pathname}`;
  if (query !== undefined) url.search = query;
  return url.toString();
}

/**
 * Build the request for `events` (one, or a batch) whose stored canonical bodies are
 * `bodies`. Fails — with the reason, for a dead delivery — only when a transform fails.
 */
export async function buildRequest(
  plan: RequestPlan,
  events: readonly { body: Buffer; id: string; topic: string }[],
  context: { userAgent: string; nowMs: number },
): Promise<BuildResult> {
  const first = events[0];
  if (!first) return { ok: false, error: 'nothing to send' };
  const { options } = plan;
  let rendered: RenderedRequest;
  if (options.transform !== '') {
    const transform = compileCached(options.transform, 'transform');
    if (!transform.ok) return { ok: false, error: transform.message };
    const result = await runTransform(transform.expression, eventFromBody(first.body));
    if (!result.ok) return { ok: false, error: result.error };
    rendered = { body: result.body, contentType: 'application/json', path: '' };
  } else if (options.format === 'decnet' || options.format === 'standard-webhooks') {
    rendered = render(options.format, [], options, first.body);
  } else {
    rendered = render(options.format, events.map((e) => eventFromBody(e.body)), options, first.body);
  }
  const extra = [...options.headers, ...plan.secretHeaders];
  let headers: Record<string, string>;
  if (options.format === 'standard-webhooks') {
    headers = {
      'Content-Type': rendered.contentType,
      'User-Agent': context.userAgent,
      ...standardWebhookHeaders({ secret: plan.secret, previousSecret: plan.previousSecret, id: first.id, body: rendered.body, nowMs: context.nowMs }),
    };
    for (const { name, value } of extra) {
      if (name.toLowerCase() === 'user-agent') delete headers['User-Agent'];
      headers[name] = value;
    }
  } else {
    // DECNET's headers on every other format too: a relay in front of a product can verify them.
    headers = buildHeaders({
      secret: plan.secret,
      previousSecret: plan.previousSecret,
      body: rendered.body,
      event: { id: first.id, topic: first.topic },
      userAgent: context.userAgent,
      nowMs: context.nowMs,
      extra,
    });
    headers['Content-Type'] = rendered.contentType;
  }
  return {
    ok: true,
    request: {
      url: urlWithPath(plan.url, rendered.path),
      headers,
      recordedHeaders: maskHeaders(headers, plan.secretHeaders),
      body: rendered.body,
    },
  };
}

/** How the answer reads for this format when the product says more than its status. */
export function judgeAnswer(format: FormatName, statusCode: number, excerpt: string | null): AnswerVerdict | null {
  switch (format) {
    case 'splunk-hec':
      return judgeHecAnswer(statusCode, excerpt);
    case 'thehive':
      return judgeTheHiveAnswer(statusCode, excerpt);
    default:
      return null;
  }
}

/** Per-item verdicts of a batched answer (Elasticsearch's bulk API), or null. */
export function judgeItems(format: FormatName, excerpt: string | null): ItemVerdicts | null {
  return format === 'elasticsearch' ? judgeBulkItems(excerpt) : null;
}
