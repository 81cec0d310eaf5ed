/**
 * The engine's log: what happened, as records for whoever runs the engine (the CLI
 * prints them, the demo and the web host show them). Every module of the engine writes
 * here; none of them knows who listens.
 */
import type { DeliveryView, EngineStatus } from '../contract/views';

export type EngineRecord =
  /**
   * A delivery recorded or changed. `attempt`: this change follows an attempt just made
   * (its status, latency and error are that attempt's), for the metrics.
   */
  | { kind: 'delivery'; delivery: DeliveryView; final: boolean; attempt: boolean }
  | { kind: 'bus'; status: EngineStatus['bus'] }
  | { kind: 'breaker'; subscriptionId: string; name: string; tripped: boolean; consecutiveFailures: number; error: string }
  | { kind: 'reload'; reason: string; patterns: number; subscriptions: number }
  /** A breaker announcement (engine/announcements.ts) published on the bus, or dropped (`sent` false: no bus). */
  | { kind: 'announcement'; subject: string; sent: boolean; subscriptionId: string; name: string }
  /** Deliveries a previous run left unfinished, due again at this start. */
  | { kind: 'recovered'; deliveries: number }
  | { kind: 'jetstream'; status: NonNullable<EngineStatus['jetstream']> }
  /** Finished records pruned by retention. */
  | { kind: 'retention'; deleted: number; eventsDeleted: number; auditDeleted: number }
  | { kind: 'error'; message: string };

export class EngineRecords {
  private readonly listeners = new Set<(record: EngineRecord) => void>();

  on(listener: (record: EngineRecord) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(record: EngineRecord): void {
    for (const listener of this.listeners) listener(record);
  }

  /** Something went wrong that the engine survives: said, never thrown. */
  error(message: string): void {
    this.emit({ kind: 'error', message });
  }

  get listening(): boolean {
    return this.listeners.size > 0;
  }
}
