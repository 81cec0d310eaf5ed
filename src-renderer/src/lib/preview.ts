/**
 * The subscription form's live preview, apart from its markup: the question the form as
 * typed asks the engine (`subscriptions.preview`), asked as the analyst types but only
 * once they pause, the answers of earlier questions dropped, and the answer read for
 * display. What would be sent is computed by the engine with the code that sends; nothing
 * here builds a request.
 */
import type { BridgeError, PreviewRequest } from '@contract/bridge';
import type { PresetName, PreviewResult } from '@contract/views';
import { SUBSCRIPTION_OPTIONS } from '@contract/subscription-options';
import { fieldErrorOf, type OptionsDraft, type OptionsPending } from './subscription-options-form';

/** Which event the preview renders. */
export type EventPick = { kind: 'newest' } | { kind: 'stored'; eventId: string } | { kind: 'pasted'; json: string };

/** The form's fields besides its options, as typed. */
export interface PreviewForm {
  /** The subscription being edited (its stored secret and secret headers sign and go along); null for a new one. */
  subscriptionId: string | null;
  url: string;
  secret: string;
  presets: PresetName[];
  /** The advanced pattern lines, blank ones left out. */
  patterns: string[];
  /** Why the patterns cannot be used yet, or null. */
  patternProblem: string | null;
}

/**
 * A problem the preview shows, and the form field it shows at (a draft key: `filter`,
 * `headers[1].name`; or `url`, `secret`, `patterns`, `eventJson`, `eventId`), if any.
 */
export interface PreviewProblem {
  message: string;
  at: string | null;
}

export type PreviewQuestion = { ask: PreviewRequest } | { problem: PreviewProblem } | { note: string };

/**
 * What to ask for the form as it stands: only the options that differ from what is
 * stored (the defaults, for a new subscription), as a save would send them. A field the
 * form already knows is wrong is named instead of asking.
 */
export function previewQuestion(form: PreviewForm, pending: OptionsPending, pick: EventPick): PreviewQuestion {
  if (form.patternProblem) return { problem: { message: `invalid topic pattern: ${form.patternProblem}`, at: 'patterns' } };
  const [at, message] = Object.entries(pending.problems)[0] ?? [];
  if (at !== undefined && message !== undefined) return { problem: { message, at } };
  if (pick.kind === 'pasted' && pick.json.trim() === '') return { note: 'Paste a DECNET event as JSON, its "topic" included.' };

  const ask: PreviewRequest = { ...pending.fields, presets: [...form.presets], patterns: [...form.patterns] };
  if (form.subscriptionId !== null) ask.subscriptionId = form.subscriptionId;
  if (form.url.trim() !== '') ask.url = form.url.trim();
  if (form.secret.trim() !== '') ask.secret = form.secret;
  if (pick.kind === 'stored') ask.eventId = pick.eventId;
  if (pick.kind === 'pasted') ask.eventJson = pick.json;
  return { ask };
}

/**
 * The engine's problem (an answer's `problem`, or the call's failure) placed in the form:
 * an option at its draft field (`fieldErrorOf` turns the engine's entry numbers into
 * draft rows, and takes the field's name off the message), the form's own fields as named.
 */
export function placeProblem(problem: { message: string; field?: string | undefined }, draft: OptionsDraft, sent: OptionsPending['sent']): PreviewProblem {
  const field = problem.field ?? '';
  const placed = field ? fieldErrorOf({ code: 'invalid_argument', message: problem.message, field }, draft, sent) : null;
  if (placed) return { message: placed.message, at: placed.key };
  if (field.startsWith('patterns') || field.startsWith('presets')) return { message: problem.message, at: 'patterns' };
  return { message: problem.message, at: ['url', 'secret', 'eventJson', 'eventId'].includes(field) ? field : null };
}

/**
 * A URL not typed yet is not wrong yet: a format that adds a path to it (Elasticsearch)
 * cannot build its request without one, which the preview then asks for, calmly.
 */
export function waitsForUrl(problem: { field?: string | undefined } | null, ask: PreviewRequest): string | null {
  return problem?.field === 'url' && ask.url === undefined && ask.subscriptionId === undefined ? 'Type the receiver URL to see the request.' : null;
}

/** A bridge failure as the engine's problem (the contract names its field in `field`). */
export function problemOfError(error: BridgeError): { message: string; field?: string } {
  return error.field ? { message: error.message, field: error.field } : { message: error.message };
}

export type Verdict = 'none' | 'pass' | 'filtered' | 'error';

/** The filter's verdict, in words, and its tone. */
export function filterVerdict(filter: PreviewResult['filter']): { verdict: Verdict; text: string; tone: 'ok' | 'bad' | 'muted' } {
  if (filter === null) return { verdict: 'none', text: 'no filter: every matching event is sent', tone: 'muted' };
  if (filter.error !== null) return { verdict: 'error', text: `error: ${filter.error} (not sent)`, tone: 'bad' };
  return filter.pass ? { verdict: 'pass', text: 'passes: sent', tone: 'ok' } : { verdict: 'filtered', text: 'filtered out: not sent', tone: 'bad' };
}

/** What the preview does not show of a batching subscription: the request is for one event alone. */
export function batchNote(format: string, batch: string): string | null {
  const n = Number(batch.trim());
  if (batch.trim() === '' || !Number.isInteger(n) || n < 2) return null;
  if (format === 'splunk-hec') return `Batched: up to ${n} events per request, their HEC objects one after another; this is one event's.`;
  if (format === 'elasticsearch') return `Batched: several events go to /_bulk (up to ${n}, NDJSON); an event alone goes as here.`;
  return null;
}

/** A field's title for a problem shown in the panel ("Filter (JSONata): …"). */
export function fieldTitle(field: string): string {
  if (field in SUBSCRIPTION_OPTIONS) return SUBSCRIPTION_OPTIONS[field as keyof typeof SUBSCRIPTION_OPTIONS].title;
  const titles: Record<string, string> = { url: 'Receiver URL', secret: 'Secret', patterns: 'Patterns', eventJson: 'Pasted event', eventId: 'Event' };
  return titles[field] ?? (field.startsWith('headers') || field.startsWith('secretHeaders') ? 'Headers' : field);
}

/** The size of a body as sent: UTF-8 bytes, not characters. */
export function byteLength(text: string): number {
  return new TextEncoder().encode(text).length;
}

/**
 * Asks as the analyst types: a question waits `delayMs` for a later one to replace it,
 * and an answer is passed on only if no question was asked after it (answers can come
 * back out of order: a slow transform, a busy engine).
 */
export class LatestAnswer<Q, A> {
  private timer: ReturnType<typeof setTimeout> | null = null;
  private asked = 0;

  constructor(
    private readonly ask: (question: Q) => Promise<A>,
    private readonly answer: (answer: A, question: Q) => void,
    private readonly delayMs = 250,
  ) {}

  /** Ask `question` once the analyst pauses; `now` skips the wait (the panel just opened). */
  request(question: Q, now = false): void {
    this.clearTimer();
    const n = ++this.asked;
    const send = (): void => {
      this.timer = null;
      void this.ask(question).then((a) => {
        if (n === this.asked) this.answer(a, question);
      });
    };
    if (now) send();
    else this.timer = setTimeout(send, this.delayMs);
  }

  /** Drop the question waiting and any answer still to come. */
  cancel(): void {
    this.clearTimer();
    this.asked++;
  }

  private clearTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}
