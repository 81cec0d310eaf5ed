/**
 * What a payload format is: how an event becomes the request a product expects, how that
 * request is signed, and how the product's answer is read. One module per format; the
 * dispatcher will know only this interface.
 */
import type { JsonValue } from '../json';

/** An event as stored (the canonical body, parsed back). */
export interface FormatEvent {
  id: string;
  topic: string;
  type: string;
  /** ISO-8601 as received (or derived from epoch seconds at intake). */
  ts: string;
  payload: JsonValue;
}

/** The request one event (or a batch of them) becomes, before signing. */
export interface RenderedRequest {
  /** The exact bytes sent, signed, stored and shown. */
  body: Buffer;
  contentType: string;
  /** Appended to the subscription's URL path (Elasticsearch's `/<index>/_doc/<id>`), or ''. */
  path: string;
}

/** How the receiver's answer reads for this format, when the status alone does not say. */
export interface AnswerVerdict {
  verdict: 'success' | 'retryable' | 'terminal';
  /** The reason shown in the log (the product's own words where it gives them). */
  error: string | null;
}

/** Per batched request: which events failed, when the product answers per item (a bulk API). */
export interface ItemVerdicts {
  /** Event ids whose item failed and may be retried alone. */
  retry: Set<string>;
  /** Event ids whose item failed for good, with the product's reason. */
  dead: Map<string, string>;
}
