/**
 * Intake: a bus message becomes a recorded event and its deliveries (docs/design.md#envelope,
 * docs/design.md#rejections-and-limits). Core NATS messages wait in the intake queue and
 * are recorded a slice at a time (pausing the bus's socket while too many wait); a
 * JetStream message is recorded at once, and acknowledged only once committed. Each
 * delivery recorded for an enabled subscription is handed on (`submit`) only once its
 * record is on disk; one for a tripped or paused subscription is held.
 */
import type { EngineStatus, Settings } from '../contract/views';
import { parseBusMessage } from '../bus/intake';
import type { DeliveryJob } from '../delivery/dispatcher';
import { buildBody, type WireEvent } from '../delivery/wire';
import type { Store } from '../store/database';
import { compileCached, runFilter } from '../match/expression';
import { deleteEvent, insertDelivery, insertEvent } from '../store/deliveries';
import { countFiltered, type Subscription } from '../store/subscriptions';
import type { DeliveryFeed } from './delivery-feed';
import type { EventHub } from './event-hub';
import { IntakeQueue } from './intake-queue';
import type { EngineRecords } from './records';
import type { OutboxScheduler } from './scheduler';

interface IntakeDeps {
  store: Store;
  feed: DeliveryFeed;
  hub: EventHub;
  records: EngineRecords;
  scheduler: () => OutboxScheduler;
  settings: () => Settings;
  /** The subscription as it is now: it may have been paused or re-enabled since a message was routed. */
  subscription: (id: string) => Subscription | undefined;
  /** The subscriptions whose patterns match a subject (JetStream messages are matched here). */
  targetsFor: (subject: string) => Subscription[];
  /** A delivery recorded and committed, to be attempted. */
  submit: (job: DeliveryJob) => void;
  /** Too many messages wait: stop reading the bus (the server buffers), and go on later. */
  pauseReading: () => void;
  resumeReading: () => void;
}

interface QueuedMessage {
  subject: string;
  data: Uint8Array;
  targets: Subscription[];
  receivedAt: number;
}

export class IntakeStage {
  private readonly counts = { received: 0, rejected: 0 };
  private readonly queue: IntakeQueue<QueuedMessage>;
  private readonly filterErrorAt = new Map<string, number>();

  constructor(private readonly deps: IntakeDeps) {
    this.queue = new IntakeQueue<QueuedMessage>((message) => this.recordQueued(message), {
      // Behind by a few thousand: let the server hold the rest (see NatsBus.pauseReading).
      onFull: () => deps.pauseReading(),
      onDrained: () => deps.resumeReading(),
    });
  }

  /** Messages received and rejected so far (the engine status). */
  status(): EngineStatus['intake'] {
    return { ...this.counts };
  }

  /** A core NATS message: queued, to be recorded in a later slice (see IntakeQueue). */
  fromCore(subject: string, data: Uint8Array, targets: Subscription[]): void {
    this.queue.push({ subject, data, targets, receivedAt: Date.now() });
  }

  /** A JetStream message: recorded (or, matching nothing, skipped) before it is acknowledged. */
  fromStream(subject: string, data: Uint8Array): Promise<void> {
    const targets = this.deps.targetsFor(subject);
    return targets.length === 0 ? Promise.resolve() : this.record(subject, data, targets);
  }

  /** Core NATS messages read and not yet recorded. */
  waiting(): number {
    return this.queue.size;
  }

  /** Record every message still waiting (at stop: read from the bus, so never dropped). */
  drain(): void {
    this.queue.drain();
  }

  private recordQueued({ subject, data, targets, receivedAt }: QueuedMessage): void {
    const report = (err: unknown): void => this.deps.records.error(`could not record a message on ${subject}: ${(err as Error).message}`);
    try {
      this.record(subject, data, targets, receivedAt).catch(report);
    } catch (err) {
      // A write that failed at once (a full disk): the message is not recorded.
      report(err);
    }
  }

  /**
   * Record a bus message and its matches, then start them. Resolves once the records
   * are committed (a JetStream message is acknowledged only then); a delivery is never
   * attempted before its record is on disk.
   */
  private record(subject: string, data: Uint8Array, targets: Subscription[], receivedAt = Date.now()): Promise<void> {
    const { store, feed, hub } = this.deps;
    this.counts.received++;
    let parsed: ReturnType<typeof parseBusMessage>;
    try {
      parsed = parseBusMessage(subject, data, receivedAt);
    } catch (err) {
      // Intake never throws by design; if it does, the message is still accounted for.
      parsed = { ok: false, reason: `could not be read (${(err as Error).message.slice(0, 120)})` };
    }
    const at = new Date(receivedAt).toISOString();
    if (!parsed.ok) {
      this.counts.rejected++;
      const id = insertDelivery(store, {
        eventSeq: null,
        eventId: null,
        topic: subject,
        subscriptionId: null,
        subscriptionName: null,
        url: null,
        outcome: 'rejected',
        error: parsed.reason,
        at,
      });
      feed.publish(id, true);
      hub.statusChanged();
      return store.durable();
    }
    const event = parsed.event;
    // Most subscriptions have no filter: those events are recorded now, in arrival order.
    if (!targets.some((t) => t.options.filter !== '')) return this.commit(event, targets, [], at, receivedAt);
    return this.filtered(event, targets).then(({ kept, out }) => this.commit(event, kept, out, at, receivedAt));
  }

  /**
   * The targets whose filter the event passes (docs/design.md#filters); the others are
   * counted, not recorded. A filter that fails on the event lets it through, saying why
   * (at most once a minute per subscription).
   */
  private async filtered(event: WireEvent, targets: Subscription[]): Promise<{ kept: Subscription[]; out: Subscription[] }> {
    const kept: Subscription[] = [];
    const out: Subscription[] = [];
    for (const target of targets) {
      const filter = target.options.filter === '' ? null : compileCached(target.options.filter, 'filter');
      // Saved filters compile (they are checked at save); one that does not is not applied.
      if (filter === null || !filter.ok) {
        kept.push(target);
        continue;
      }
      const verdict = await runFilter(filter.expression, event);
      if (verdict.error !== null) this.filterFailed(target, verdict.error);
      (verdict.pass ? kept : out).push(target);
    }
    return { kept, out };
  }

  private filterFailed(sub: Subscription, error: string): void {
    const now = Date.now();
    if ((this.filterErrorAt.get(sub.id) ?? 0) > now - 60_000) return;
    this.filterErrorAt.set(sub.id, now);
    this.deps.records.error(`${sub.name}: ${error}; the event was let through`);
  }

  private commit(event: WireEvent, targets: Subscription[], filteredOut: Subscription[], at: string, receivedAt: number): Promise<void> {
    const { store, feed, hub } = this.deps;
    if (targets.length === 0) {
      // Every match was filtered out: nothing of the event is kept but the counts.
      store.transaction(() => filteredOut.forEach((sub) => countFiltered(store, sub.id, 1)));
      hub.subscriptionsChanged();
      return store.durable();
    }
    // All or nothing: an event is never on disk without its deliveries.
    let seq: number | null = null;
    const { jobs, held } = store.atomically(
      () => {
        const recorded = this.recordEvent(event, targets, at, receivedAt, (s) => (seq = s));
        for (const sub of filteredOut) countFiltered(store, sub.id, 1);
        return recorded;
      },
      () => {
        if (seq !== null) deleteEvent(store, seq);
      },
    );
    if (filteredOut.length > 0) hub.subscriptionsChanged();
    if (held) hub.subscriptionsChanged();
    const committed = store.durable();
    // Never attempted unless committed: a failed commit leaves nothing to send.
    if (jobs.length > 0)
      void committed.then(
        () => jobs.forEach((job) => this.deps.submit(job)),
        () => jobs.forEach((job) => feed.dropped(job.deliveryId)),
      );
    return committed;
  }

  /**
   * The event and one delivery per target: pending for an enabled subscription (taken
   * into memory now when there is room, else left due in the store), held for a
   * tripped or paused one.
   */
  private recordEvent(
    event: WireEvent,
    targets: Subscription[],
    at: string,
    nowMs: number,
    inserted: (seq: number) => void,
  ): { jobs: DeliveryJob[]; held: boolean } {
    const { store, feed } = this.deps;
    const scheduler = this.deps.scheduler();
    const body = buildBody(event);
    const seq = insertEvent(store, {
      eventId: event.id,
      topic: event.topic,
      type: event.type,
      ts: event.ts,
      body: body.toString('utf8'),
      receivedAt: at,
    });
    inserted(seq);
    const jobs: DeliveryJob[] = [];
    let held = false;
    for (const target of targets) {
      // As it is now: it may have been paused or re-enabled since the message was routed.
      const sub = this.deps.subscription(target.id) ?? target;
      const base = { eventSeq: seq, eventId: event.id, topic: event.topic, subscriptionId: sub.id, subscriptionName: sub.name, url: sub.url, at };
      if (!sub.enabled) {
        if (this.deps.settings().heldMaxCount <= 0) continue;
        const heldId = insertDelivery(store, { ...base, outcome: 'held' });
        feed.recorded(heldId, base, 'held', false);
        held = true;
        continue;
      }
      const inMemory = scheduler.hasRoom(sub.id, jobs.length);
      const deliveryId = insertDelivery(store, { ...base, outcome: 'pending', nextAttemptAt: inMemory ? null : nowMs });
      feed.recorded(deliveryId, base, 'pending', inMemory);
      if (inMemory) {
        jobs.push({ deliveryId, subscriptionId: sub.id, eventId: event.id, topic: event.topic, body, test: false });
      } else scheduler.notify();
    }
    return { jobs, held };
  }
}
