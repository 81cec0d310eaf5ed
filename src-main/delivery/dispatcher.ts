/**
 * The delivery pipeline: one job per (event, subscription) match, moved through
 * prepare → send → success / retry / end, with its state a typed value at every step.
 * Egress is bounded by one global semaphore, and each subscription by its share of it
 * (`subscriptionShare`): a receiver that hangs holds at most its share of the slots, so
 * the others' deliveries never queue behind its 10 s timeouts.
 * A subscription may set its own bound (`Pacing.concurrency`, within its share) and a
 * rate (`Pacing.rate`): a job over the rate goes back to the store, due when its token
 * is (delivery/pacing.ts), never attempted early and never counted as a failure.
 * A job stays in memory only while it waits for a slot or is on the wire: a retry
 * leaves as `retrying` with its due time, which the caller keeps in the store (the
 * outbox) and hands back when due. Recording and the breaker live with the caller
 * (`onUpdate`), so this module only decides what happens next. A batching subscription's
 * jobs go several to a request (delivery/batches.ts), each still ending on its own.
 *
 * Over 500 lines: what remains is one job's life — slots, its rate, its batch, the
 * attempt and what follows — around one mutable `JobState` that each step reads and
 * writes; the parts that stand alone are out already (the request: delivery/request.ts;
 * the rate: pacing.ts; stopped jobs: cancellation.ts; batches: batches.ts).
 */
import type { AttemptRecord, Outcome } from '../contract/views';
import type { AttemptRequest, AttemptResult } from './http-client';
import { hasReceiverTls } from './receiver-tls';
import { DELETED, PAUSED, REQUEUE_ON_STOP, TRIPPED, stoppedAs, type Cancellation } from './cancellation';
import { NO_PACING, Pacer, burstOf, hasRate, type Pacing } from './pacing';
import { judgeAttempt, retryDelayMs, terminalError } from './retry-policy';
import { LazyAbort, Semaphore } from './semaphore';
import { defaultOptions, type ExtraHeader, type FormatName, type SubscriptionOptions } from '../contract/subscription-options';
import type { AnswerVerdict } from './formats/types';
import { Batches, batchSizeOf, batchWaitOf, itemVerdict } from './batches';
import { buildRequest, judgeAnswer, judgeItems } from './request';

/**
 * Attempts one subscription may have on the wire at once: the global bound less a
 * reserve of a fifth (at least one slot). However many events a dead receiver has
 * queued, the reserve stays free for every other subscription, while a lone healthy
 * subscription keeps most of the bound (8 of the default 10). A hard cap rather than a
 * share of what is idle: slots a hanging receiver took while it was alone could not be
 * taken back before its timeouts.
 */
export function subscriptionShare(concurrency: number): number {
  const bound = Math.max(1, concurrency);
  return Math.max(1, bound - Math.max(1, Math.ceil(bound / 5)));
}

/**
 * Attempts a subscription may have on the wire at once: its own concurrency when it sets
 * one, but never more than its share of the global bound. The global bound stays the
 * operator's cap on all egress, and the reserve within it stays free for the others: a
 * subscription asking for 32 gets 32 once the global bound is 40 or more (8 of the
 * default 10 until then), and one that hangs still cannot starve the rest.
 */
export function shareLimit(concurrency: number, pacing: Pacing): number {
  const share = subscriptionShare(concurrency);
  return pacing.concurrency === null ? share : Math.max(1, Math.min(Math.floor(pacing.concurrency), share));
}

/** What the pipeline needs to know about a subscription at the moment of an attempt. */
export interface Destination {
  url: string;
  secret: string;
  /** The secret a rotation replaced and the end (epoch ms) of its overlap: a second signature until then. */
  previousSecret?: { secret: string; untilMs: number } | null;
  enabled: boolean;
  tripped: boolean;
  /** Seconds before each retry (its own schedule, or the global one). */
  retrySchedule: readonly number[];
  /** Its secret headers (masked wherever a request is recorded); the plain ones are in `options`. */
  secretHeaders?: readonly ExtraHeader[];
  /** Its rate, burst and concurrency (nulls: unpaced, the default share). */
  pacing: Pacing;
  /**
   * Its delivery options (contract/subscription-options.ts): the format and its settings,
   * the transform, its TLS files and proxy bypass; absent: DECNET's, as is.
   */
  options?: SubscriptionOptions;
}

export interface DeliveryJob {
  deliveryId: number;
  subscriptionId: string;
  eventId: string;
  topic: string;
  /** The exact signed bytes. */
  body: Buffer;
  /** A test fire: one attempt, recorded as `test`, breaker untouched. */
  test: boolean;
  /** Attempts already made (a retry taken back from the store). */
  attemptsMade?: number;
  attemptLog?: AttemptRecord[];
  /**
   * Taken from the outbox in due order (a paced delivery whose slot came, a retry whose
   * wait is over), rather than just arrived: under a rate it takes the next token,
   * where one that just arrived goes behind those already waiting.
   */
  fromOutbox?: boolean;
}

/** A destination that says nothing of its format: DECNET's, as is. */
const DECNET_AS_IS = defaultOptions();

/** How a delivery ended, as far as the breaker is concerned. */
export type FinalOutcome = Extract<Outcome, 'delivered' | 'dead' | 'blocked' | 'failed' | 'test'>;

/** What every update carries: the delivery's record as it now stands. */
interface UpdateRecord {
  attempts: number;
  statusCode: number | null;
  latencyMs: number | null;
  error: string | null;
  requestHeaders: Record<string, string> | null;
  responseExcerpt: string | null;
  attemptLog: AttemptRecord[];
  /** The body sent when it is not the event's stored one (a format, a transform): recorded for the detail. */
  requestBody?: string | null;
  /** Sent in a batch whose body is recorded with this delivery (its first). */
  batchOf?: number | null;
}

/**
 * What the dispatcher reports as a job leaves memory, by what it means:
 * - `ended`: the delivery is over with its final outcome; `countsForBreaker` says whether
 *   that end moves its subscription's breaker (a test fire, a stopped subscription do not);
 * - `due`: it waits in the store until `nextAttemptAt` (epoch ms): a retry after a failed
 *   attempt (`cause: 'retry'`), or put back as it was, `pending` or `retrying`: the engine
 *   stopping (`requeued`) or its subscription's rate (`paced`: not a retry, no attempt
 *   counted, the breaker untouched);
 * - `held`: it waits for the analyst (its subscription tripped or was paused).
 * `final` is the same as `kind === 'ended'`, kept for the records and their readers.
 */
export type DeliveryUpdate = UpdateRecord &
  (
    | { kind: 'ended'; outcome: FinalOutcome; countsForBreaker: boolean; final: true }
    | { kind: 'due'; outcome: Extract<Outcome, 'pending' | 'retrying'>; cause: 'retry' | 'requeued' | 'paced'; nextAttemptAt: number; final: false }
    | { kind: 'held'; outcome: 'held'; final: false }
  );

/**
 * Whether an update follows an attempt just made (its status, latency and error are that
 * attempt's): a retry scheduled after it, or an end that counts for the breaker, which
 * only an answer (or its absence) does; a blocked destination was never sent to.
 */
export function followsAttempt(update: DeliveryUpdate): boolean {
  if (update.kind === 'due') return update.cause === 'retry';
  return update.kind === 'ended' && update.countsForBreaker && update.outcome !== 'blocked';
}

export interface DispatcherDeps {
  send(request: AttemptRequest): Promise<AttemptResult>;
  /** The subscription now, or undefined when it was deleted. */
  destination(subscriptionId: string): Destination | undefined;
  settings(): { concurrency: number; timeoutMs: number };
  userAgent: string;
  onUpdate(job: DeliveryJob, update: DeliveryUpdate): void;
  /** `onUpdate` threw (the store could not record it): the job has left memory regardless. */
  onError?(job: DeliveryJob, error: unknown): void;
  random?: () => number;
  now?: () => number;
}

interface JobState {
  job: DeliveryJob;
  attempts: number;
  log: AttemptRecord[];
  lastHeaders: Record<string, string> | null;
  /** The body last sent when a format or a transform made it (null: the event's own, or in its batch's record). */
  lastBody: string | null;
  /** The delivery whose record holds the batch this one was last sent in. */
  batchOf: number | null;
  /** Set when the job must stop (subscription stopped, engine stopping). */
  cancelled: Cancellation | null;
  /** Aborted on cancellation: a job waiting for a slot leaves the queue at once. */
  abort: LazyAbort;
  done: (update: DeliveryUpdate) => void;
  promise: Promise<DeliveryUpdate>;
}

export class Dispatcher {
  private readonly semaphore: Semaphore;
  /** Each subscription's share of the slots, while it has jobs waiting or on the wire. */
  private readonly shares = new Map<string, Semaphore>();
  /** The rate of each paced subscription (a few numbers each: what waits is in the store). */
  private readonly pacers = new Map<string, Pacer>();
  private readonly bySubscription = new Map<string, Set<JobState>>();
  /** Each batching subscription's batch being filled, if any. */
  private readonly batches = new Batches<JobState>();
  /** Jobs in memory by delivery id (test fires aside). */
  private readonly byDelivery = new Map<number, JobState>();
  private readonly inFlight = new Set<Promise<void>>();
  private stopping = false;
  private readonly random: () => number;
  private readonly now: () => number;

  constructor(private readonly deps: DispatcherDeps) {
    this.semaphore = new Semaphore(deps.settings().concurrency);
    this.random = deps.random ?? Math.random;
    this.now = deps.now ?? Date.now;
  }

  /** Jobs in memory: waiting for a slot or on the wire. */
  get pending(): number {
    let n = 0;
    for (const set of this.bySubscription.values()) n += set.size;
    return n;
  }

  /** Jobs of one subscription in memory. */
  inMemoryOf(subscriptionId: string): number {
    return this.bySubscription.get(subscriptionId)?.size ?? 0;
  }

  get sending(): number {
    return this.semaphore.inUse;
  }

  /** Apply a changed concurrency bound at once. */
  resize(): void {
    this.semaphore.setLimit(this.deps.settings().concurrency);
    for (const [id, share] of this.shares) share.setLimit(this.shareLimitOf(id));
  }

  /** Whether a subscription's rate holds deliveries back now (some wait in the store for their slot). */
  holdingBack(subscriptionId: string): boolean {
    return this.pacers.get(subscriptionId)?.holdingBack(this.now()) ?? false;
  }

  /** The subscriptions whose rate holds deliveries back now. */
  pacedSubscriptions(): string[] {
    const now = this.now();
    return [...this.pacers].filter(([, pacer]) => pacer.holdingBack(now)).map(([id]) => id);
  }

  /**
   * Forget a subscription's rate state (its pacing changed, or what it parked was moved):
   * the next delivery starts a full bucket and an empty queue.
   */
  resetPacing(subscriptionId: string): void {
    this.pacers.delete(subscriptionId);
  }

  /** Whether a delivery is in memory (waiting for a slot or on the wire). */
  has(deliveryId: number): boolean {
    return this.byDelivery.has(deliveryId);
  }

  /** The deliveries in memory. */
  deliveryIds(): number[] {
    return [...this.byDelivery.keys()];
  }

  /**
   * Start an attempt; resolves with the update at which the job leaves memory (never
   * rejects). A delivery already in memory is not started twice (a claim that a failed
   * commit rolled back is claimed again): its running job's promise is returned.
   */
  submit(job: DeliveryJob): Promise<DeliveryUpdate> {
    const running = job.test ? undefined : this.byDelivery.get(job.deliveryId);
    if (running) return running.promise;
    let done!: (update: DeliveryUpdate) => void;
    const promise = new Promise<DeliveryUpdate>((resolve) => (done = resolve));
    const state: JobState = {
      job,
      attempts: job.attemptsMade ?? 0,
      log: [...(job.attemptLog ?? [])],
      lastHeaders: null,
      lastBody: null,
      batchOf: null,
      cancelled: null,
      abort: new LazyAbort(),
      done,
      promise,
    };
    if (this.stopping) {
      state.cancelled = REQUEUE_ON_STOP;
      this.finishCancelled(state);
      return promise;
    }
    let set = this.bySubscription.get(job.subscriptionId);
    if (!set) this.bySubscription.set(job.subscriptionId, (set = new Set()));
    set.add(state);
    if (!job.test) this.byDelivery.set(job.deliveryId, state);
    this.track(this.attempt(state));
    return promise;
  }

  /**
   * Stop the jobs of a subscription now (it tripped, was paused or deleted). A request
   * already on the wire finishes; nothing more is sent. A queued job ends when it
   * reaches the front of the queue, which is at once: it no longer waits for a slot.
   */
  cancelSubscription(subscriptionId: string, cancellation: Cancellation): void {
    // What it parked is the store's to end (held, failed); a re-enable starts a new queue.
    this.pacers.delete(subscriptionId);
    const set = this.bySubscription.get(subscriptionId);
    if (!set) return;
    for (const state of set) {
      if (state.job.test || state.cancelled) continue;
      state.cancelled = cancellation;
      state.abort.abort();
    }
  }

  /**
   * Stop: requests on the wire finish within their deadline and are recorded; queued
   * jobs go back to the store as they were, to be taken up at the next start.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const id of [...this.bySubscription.keys()]) this.cancelSubscription(id, REQUEUE_ON_STOP);
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  private track(p: Promise<void>): void {
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  private async attempt(state: JobState): Promise<void> {
    const { job } = state;
    const subscription = this.checkStopped(state);
    if (!subscription) return;
    // Over its rate: back to the store before taking any slot (a test fire is one request the analyst asked for).
    if (!job.test && this.parkIfPaced(state, subscription.pacing)) return;
    // A batching subscription's jobs go together: the first waits for the next ones.
    const size = job.test ? 1 : batchSizeOf(subscription);
    const members = size > 1 ? await this.batches.join(job.subscriptionId, state, state.abort.signal, size, batchWaitOf(subscription)) : [state];
    // Riding in another job's batch: that job's attempt ends this one too.
    if (members === null) return;
    const live = members.filter((m) => {
      if (!m.cancelled) return true;
      this.finishCancelled(m);
      return false;
    });
    const lead = live[0];
    if (!lead) return;
    // Its subscription's share first, then a global slot: the jobs of a subscription
    // that has its share on the wire wait here, never in the global queue ahead of others.
    const share = this.shareOf(job.subscriptionId, subscription.pacing);
    const releaseShare = await share.acquire(lead.abort);
    if (!releaseShare) {
      this.dropShareIfIdle(job.subscriptionId, share);
      this.endStopped(live, lead);
      return;
    }
    const releaseSlot = await this.semaphore.acquire(lead.abort);
    const release = (): void => {
      releaseSlot?.();
      releaseShare();
      this.dropShareIfIdle(job.subscriptionId, share);
    };
    if (!releaseSlot) {
      release();
      this.endStopped(live, lead);
      return;
    }
    let result: AttemptResult | undefined;
    let destination: Destination | undefined;
    let transformFailed: string | null = null;
    let format: FormatName = 'decnet';
    const startedAt = this.now();
    try {
      const current = this.checkStopped(lead);
      if (!current) return this.endStopped(live.slice(1), lead);
      destination = current;
      const previous = destination.previousSecret;
      const options = destination.options ?? DECNET_AS_IS;
      const built = await buildRequest(
        {
          url: destination.url,
          secret: destination.secret,
          previousSecret: previous && startedAt < previous.untilMs ? previous.secret : null,
          options,
          secretHeaders: destination.secretHeaders ?? [],
        },
        live.map((m) => ({ body: m.job.body, id: m.job.eventId, topic: m.job.topic })),
        { userAgent: this.deps.userAgent, nowMs: startedAt },
      ).catch((error: unknown) => ({ ok: false as const, error: `could not build the request: ${(error as Error).message}` }));
      // Nothing is sent when the subscription's transform failed on this event: dead with
      // the reason, replayable once the transform is fixed; the receiver is not to blame.
      if (!built.ok) transformFailed = built.error;
      else {
        const { request } = built;
        format = options.format;
        for (const m of live) {
          // What is recorded and shown never holds a secret header's value.
          m.lastHeaders = request.recordedHeaders;
          // A batch's body is kept once, with its first delivery; the others point at it.
          m.lastBody = m !== lead || request.body.equals(job.body) ? null : request.body.toString('utf8');
          m.batchOf = live.length > 1 && m !== lead ? lead.job.deliveryId : null;
        }
        result = await this.sendSafely({
          url: request.url,
          body: request.body,
          headers: request.headers,
          timeoutMs: this.deps.settings().timeoutMs,
          ...(hasReceiverTls(options) ? { tls: { caFile: options.caFile, clientCert: options.clientCert, clientKey: options.clientKey } } : {}),
          ...(options.direct ? { direct: true } : {}),
          ...(live.length > 1 ? { keepAnswer: true } : {}),
        });
      }
    } finally {
      release();
    }
    if (transformFailed !== null) return this.transformFailed(lead, transformFailed);
    if (!result || !destination) return;
    // A bulk answer says per event what failed: only those are retried (or end).
    const items = live.length > 1 && result.kind === 'response' ? judgeItems(format, result.answer ?? result.responseExcerpt) : null;
    for (const m of live) this.afterAttempt(m, result, startedAt, destination.retrySchedule, format, itemVerdict(items, m.job.eventId));
  }

  /** The lead job was stopped: the others of its batch end the same way. */
  private endStopped(members: readonly JobState[], lead: JobState): void {
    for (const m of members) {
      m.cancelled ??= lead.cancelled ?? REQUEUE_ON_STOP;
      this.finishCancelled(m);
    }
  }

  /** A subscription's share, its limit as its pacing says now (a changed concurrency applies at its next job). */
  private shareOf(subscriptionId: string, pacing: Pacing): Semaphore {
    const limit = shareLimit(this.deps.settings().concurrency, pacing);
    let share = this.shares.get(subscriptionId);
    if (!share) this.shares.set(subscriptionId, (share = new Semaphore(limit)));
    else share.setLimit(limit);
    return share;
  }

  private shareLimitOf(subscriptionId: string): number {
    return shareLimit(this.deps.settings().concurrency, this.deps.destination(subscriptionId)?.pacing ?? NO_PACING);
  }

  /**
   * A paced subscription's job over its rate leaves memory at once, due in the store at
   * the slot its pacer gives it (`due`, cause `paced`: unchanged otherwise, no attempt
   * counted). Returns true when it was parked.
   */
  private parkIfPaced(state: JobState, pacing: Pacing): boolean {
    const id = state.job.subscriptionId;
    if (!hasRate(pacing)) {
      this.pacers.delete(id);
      return false;
    }
    const now = this.now();
    let pacer = this.pacers.get(id);
    if (!pacer) this.pacers.set(id, (pacer = new Pacer(pacing, now)));
    else if (pacer.rate !== pacing.rate || pacer.burst !== burstOf(pacing)) pacer.reconfigure(pacing, now);
    const due = pacer.admit(now, state.job.fromOutbox === true);
    if (due === null) return false;
    const last = state.log[state.log.length - 1];
    this.finish(state, {
      kind: 'due',
      cause: 'paced',
      outcome: state.attempts === 0 ? 'pending' : 'retrying',
      nextAttemptAt: due,
      final: false,
      attempts: state.attempts,
      statusCode: last?.statusCode ?? null,
      latencyMs: last?.latencyMs ?? null,
      error: last?.error ?? null,
      requestHeaders: null,
      responseExcerpt: null,
      attemptLog: [...state.log],
    });
    return true;
  }

  private dropShareIfIdle(subscriptionId: string, share: Semaphore): void {
    if (share.inUse === 0 && share.queued === 0 && this.shares.get(subscriptionId) === share) this.shares.delete(subscriptionId);
  }

  /** `send` is not meant to throw; if it does, the attempt is a network error, not a stuck job. */
  private async sendSafely(request: AttemptRequest): Promise<AttemptResult> {
    const started = this.now();
    try {
      return await this.deps.send(request);
    } catch (error) {
      return {
        kind: 'network_error',
        statusCode: null,
        error: `attempt failed: ${error instanceof Error ? error.message : String(error)}`.slice(0, 300),
        latencyMs: this.now() - started,
        address: null,
        responseExcerpt: null,
        retryAfterMs: null,
      };
    }
  }

  /** Its subscription as it is now, or null (and the job ended) when it must not be attempted. */
  private checkStopped(state: JobState): Destination | null {
    if (state.cancelled) {
      this.finishCancelled(state);
      return null;
    }
    const destination = this.deps.destination(state.job.subscriptionId);
    // A test fire goes to a paused or tripped subscription too: the analyst asked for it.
    if (destination && (destination.enabled || state.job.test)) return destination;
    state.cancelled = !destination ? DELETED : destination.tripped ? TRIPPED : PAUSED;
    this.finishCancelled(state);
    return null;
  }

  /** A transform that fails on the event: dead with the reason, not counted against the receiver. */
  private transformFailed(state: JobState, error: string): void {
    const last = state.log[state.log.length - 1];
    this.finish(state, {
      kind: 'ended',
      outcome: state.job.test ? 'test' : 'dead',
      countsForBreaker: false,
      final: true,
      attempts: state.attempts,
      statusCode: last?.statusCode ?? null,
      latencyMs: last?.latencyMs ?? null,
      error,
      requestHeaders: null,
      responseExcerpt: null,
      attemptLog: [...state.log],
    });
  }

  private afterAttempt(
    state: JobState,
    result: AttemptResult,
    startedAt: number,
    schedule: readonly number[],
    format: FormatName,
    item: AnswerVerdict | null = null,
  ): void {
    const { job } = state;
    const blocked = result.kind === 'blocked';
    if (!blocked) {
      state.attempts++;
      state.log.push({
        attempt: state.attempts,
        startedAt: new Date(startedAt).toISOString(),
        statusCode: result.statusCode,
        latencyMs: Math.round(result.latencyMs),
        error: result.error,
        address: result.address,
      });
    }
    // A product that says more than its status (HEC's code, TheHive's duplicate) is read its own way.
    const answer =
      item ?? (result.kind === 'response' && result.statusCode !== null ? judgeAnswer(format, result.statusCode, result.responseExcerpt) : null);
    const verdict = answer?.verdict ?? judgeAttempt(result);
    const record: UpdateRecord = {
      attempts: state.attempts,
      statusCode: result.statusCode,
      latencyMs: Math.round(result.latencyMs),
      error: answer ? answer.error : result.error,
      requestHeaders: blocked ? null : state.lastHeaders,
      responseExcerpt: result.responseExcerpt,
      attemptLog: [...state.log],
      ...(blocked ? {} : { requestBody: state.lastBody, batchOf: state.batchOf }),
    };
    const ended = (outcome: FinalOutcome, error: string | null, countsForBreaker: boolean): void =>
      this.finish(state, { ...record, error, kind: 'ended', outcome, countsForBreaker, final: true });
    if (job.test) return ended('test', result.error, false);
    if (verdict === 'success') return ended('delivered', null, true);
    if (blocked) return ended('blocked', result.error, true);
    const error =
      answer?.error ??
      (verdict === 'terminal' && result.statusCode !== null ? terminalError(result.statusCode) : (result.error ?? 'failed'));
    const delay =
      verdict === 'retryable' ? retryDelayMs(state.attempts, schedule, this.random, result.retryAfterMs) : null;
    if (delay === null) return ended('dead', error, true);
    // Its subscription stopped while it was on the wire: the stop decides what becomes of
    // it, unless that is to wait in the store anyway (the engine stopping).
    if (state.cancelled && stoppedAs(state.cancelled, true).kind !== 'due') return this.finishCancelled(state);
    // The wait is the store's: the job leaves memory and comes back when it is due.
    this.finish(state, { ...record, error, kind: 'due', outcome: 'retrying', cause: 'retry', nextAttemptAt: this.now() + delay, final: false });
  }

  private finishCancelled(state: JobState): void {
    const cancelled = state.cancelled as Cancellation;
    const last = state.log[state.log.length - 1];
    const record: UpdateRecord = {
      attempts: state.attempts,
      statusCode: last?.statusCode ?? null,
      latencyMs: last?.latencyMs ?? null,
      // Waiting keeps the last error (shown until it is sent again); an end says why it ended.
      error: last?.error ?? null,
      requestHeaders: state.lastHeaders,
      responseExcerpt: null,
      attemptLog: [...state.log],
    };
    const stopped = stoppedAs(cancelled, state.attempts > 0);
    switch (stopped.kind) {
      case 'ended':
        this.finish(state, {
          ...record,
          error: last?.error ? `${cancelled.reason} (last attempt: ${last.error})` : cancelled.reason,
          kind: 'ended',
          outcome: stopped.outcome,
          countsForBreaker: false,
          final: true,
        });
        return;
      case 'held':
        this.finish(state, { ...record, kind: 'held', outcome: 'held', final: false });
        return;
      case 'due':
        this.finish(state, { ...record, kind: 'due', outcome: stopped.outcome, cause: 'requeued', nextAttemptAt: this.now(), final: false });
        return;
    }
  }

  private finish(state: JobState, update: DeliveryUpdate): void {
    const set = this.bySubscription.get(state.job.subscriptionId);
    if (set) {
      set.delete(state);
      if (set.size === 0) this.bySubscription.delete(state.job.subscriptionId);
    }
    if (this.byDelivery.get(state.job.deliveryId) === state) this.byDelivery.delete(state.job.deliveryId);
    try {
      this.deps.onUpdate(state.job, update);
    } catch (error) {
      // Recording failed (a full disk): the job still leaves memory, and the caller is told.
      try {
        this.deps.onError?.(state.job, error);
      } catch {
        // Nothing more can be done with it here.
      }
    }
    state.done(update);
  }
}
