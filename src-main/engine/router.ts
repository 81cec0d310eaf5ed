/**
 * From bus subjects to subscriptions. One bus subscription per distinct pattern, fanned
 * out to every enabled subscription whose patterns match; a reload changes only the
 * patterns that changed, so an event never falls into a gap while subscriptions are
 * edited (the origin worker tears every consumer down on each reload).
 *
 * NATS sends one copy of a message per matching bus subscription. Exactly one copy is
 * used: the one that arrived on the message's *owner* pattern, the lowest of the
 * confirmed patterns that match it. That copy goes once to each matching subscription,
 * however many of its patterns match (the origin would send it once per pattern).
 *
 * Every subscription routes: an enabled one's events are sent, a tripped or paused one's
 * are held until it is re-enabled (a paused receiver is expected back; its events wait).
 *
 * In JetStream mode the router makes no bus subscriptions: messages come from the
 * durable consumer and are matched here with `targetsFor`.
 */
import type { Subscription } from '../store/subscriptions';
import { PatternIndex } from '../match/pattern-index';

interface RouterBus {
  subscribe(pattern: string, handler: (subject: string, data: Uint8Array) => void): { unsubscribe(): void };
  /** Resolves once the server has confirmed every subscription made so far. */
  ready(): Promise<void>;
}

type RoutedMessage = (subject: string, data: Uint8Array, targets: Subscription[]) => void;

export class Router {
  private readonly subscriptions = new Map<string, Subscription>();
  private readonly holders = new Map<string, Set<string>>();
  private readonly busSubscriptions = new Map<string, { unsubscribe(): void }>();
  /** Patterns the server has confirmed: only these may own a message. */
  private readonly confirmed = new PatternIndex();
  /** Patterns subscribed but not yet confirmed. */
  private readonly pending = new PatternIndex();
  /** Every routed pattern (JetStream mode matches with it). */
  private readonly all = new PatternIndex();

  constructor(
    private readonly bus: RouterBus,
    private readonly onMessage: RoutedMessage,
    private readonly consume: 'core' | 'none' = 'core',
  ) {}

  get patterns(): string[] {
    return [...this.busSubscriptions.keys()];
  }

  subscription(id: string): Subscription | undefined {
    return this.subscriptions.get(id);
  }

  /**
   * Make the routing table match `all`. New patterns are subscribed before old ones are
   * dropped.
   */
  apply(all: readonly Subscription[]): { added: string[]; removed: string[] } {
    this.subscriptions.clear();
    this.holders.clear();
    for (const sub of all) {
      this.subscriptions.set(sub.id, sub);
      for (const pattern of sub.patterns) {
        let set = this.holders.get(pattern);
        if (!set) this.holders.set(pattern, (set = new Set()));
        set.add(sub.id);
      }
    }
    for (const pattern of this.all.patterns()) if (!this.holders.has(pattern)) this.all.delete(pattern);
    for (const pattern of this.holders.keys()) this.all.add(pattern);
    if (this.consume === 'none') return { added: [], removed: [] };
    const added: string[] = [];
    for (const pattern of this.holders.keys()) {
      if (this.busSubscriptions.has(pattern)) continue;
      added.push(pattern);
      this.pending.add(pattern);
      this.busSubscriptions.set(
        pattern,
        this.bus.subscribe(pattern, (subject, data) => this.receive(pattern, subject, data)),
      );
    }
    const removed: string[] = [];
    for (const [pattern, busSub] of this.busSubscriptions) {
      if (this.holders.has(pattern)) continue;
      removed.push(pattern);
      this.confirmed.delete(pattern);
      this.pending.delete(pattern);
      this.busSubscriptions.delete(pattern);
      busSub.unsubscribe();
    }
    if (added.length > 0) void this.confirm(added);
    return { added, removed };
  }

  private async confirm(patterns: string[]): Promise<void> {
    try {
      await this.bus.ready();
    } catch {
      return; // Not connected: confirmed on a later reload.
    }
    for (const pattern of patterns) {
      if (!this.busSubscriptions.has(pattern) || !this.pending.has(pattern)) continue;
      this.pending.delete(pattern);
      this.confirmed.add(pattern);
    }
  }

  /** Re-confirm after a reconnect (the client re-subscribes everything). */
  reconfirm(): void {
    const all = this.patterns.filter((p) => this.pending.has(p));
    if (all.length > 0) void this.confirm(all);
  }

  private receive(via: string, subject: string, data: Uint8Array): void {
    const confirmedMatches = this.confirmed.match(subject);
    const owner = lowest(confirmedMatches.length > 0 ? confirmedMatches : this.pending.match(subject));
    if (owner !== via) return;
    const targets = this.holdersOf([...confirmedMatches, ...this.pending.match(subject)]);
    if (targets.length > 0) this.onMessage(subject, data, targets);
  }

  /** The subscriptions a subject routes to, each once (JetStream mode). */
  targetsFor(subject: string): Subscription[] {
    return this.holdersOf(this.all.match(subject));
  }

  private holdersOf(patterns: string[]): Subscription[] {
    const targets: Subscription[] = [];
    const seen = new Set<string>();
    for (const pattern of patterns) {
      for (const id of this.holders.get(pattern) ?? []) {
        if (seen.has(id)) continue;
        seen.add(id);
        const sub = this.subscriptions.get(id);
        if (sub) targets.push(sub);
      }
    }
    return targets;
  }

  close(): void {
    for (const busSub of this.busSubscriptions.values()) busSub.unsubscribe();
    this.busSubscriptions.clear();
    this.subscriptions.clear();
    this.holders.clear();
  }
}

function lowest(patterns: string[]): string | undefined {
  let min: string | undefined;
  for (const p of patterns) if (min === undefined || p < min) min = p;
  return min;
}
