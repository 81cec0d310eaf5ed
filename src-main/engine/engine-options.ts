/**
 * What an engine is started with (`Engine.start`): its database, this run's overrides of
 * the stored settings, what it is and where its changes come from, and the seams tests
 * and the bench set (name lookup, timings).
 */
import type { SecretCipher } from '../store/database';
import type { MetricsServer } from './metrics-server';

export interface EngineOptions {
  dbPath: string;
  /** Overrides the stored bus URL for this run (CLI `--nats`). */
  natsUrl?: string;
  /** Overrides the stored allow-private setting for this run (CLI `--allow-private`). */
  allowPrivate?: boolean;
  /** Names what set `natsUrl` / `allowPrivate` when it is not their flags (the demo); shown with them. */
  overriddenBy?: string;
  reloadFallbackMs?: number;
  /** Name lookup for the SSRF guard (tests point names at chosen addresses). */
  lookup?: (host: string) => Promise<string[]>;
  /** How long the SSRF guard reuses a resolved answer (default 30 s; tests use 0). */
  dnsTtlMs?: number;
  /** Who a test fire says triggered it. */
  actor?: string;
  /**
   * Where the changes made through `handlers` come from, for the audit trail: `console`
   * (the default: the Electron console), `cli (subs add)`… (audit-trail.ts SOURCES). The
   * web host and the tray use handlers of their own (`handlersFor`, `bulk`).
   */
  source?: string;
  /**
   * How subscription secrets are kept at rest (default: plain text, shown as a warning).
   * Set on the store before anything reads a subscription; plain-text secrets are
   * re-encrypted at an online start, and secrets it cannot open make the start fail.
   */
  cipher?: SecretCipher;
  /** How often retention runs (first run one interval after start). */
  retentionIntervalMs?: number;
  /**
   * Never connect to the bus: the CLI's one-shot commands use the engine for its rules
   * and its store, while another process (the running engine) does the consuming. An
   * offline engine does not claim the database, and its writes wait for the write lock
   * as long as it takes (a running engine's group commits hold it most of the time).
   */
  offline?: boolean;
  /**
   * What this engine is (`sluice run`, `sluice serve`, `Sluice app`…), written in its
   * claim on the database: a second engine refused names it.
   */
  command?: string;
  /** Offline: called once when a write has waited LOCK_WAIT_NOTE_MS for the running engine. */
  onLockWait?: () => void;
  /** Serve the Prometheus metrics here while it runs, closed at its stop (`--metrics`); else none are loaded. */
  metrics?: MetricsServer;
  /**
   * JetStream's ack wait (ms): how long a message taken and not acknowledged waits before
   * it is handed to another member of a team (or again to this engine); default 30 s.
   * Every member of a team must use the same (`$SLUICE_ACK_WAIT_MS` for `sluice run`).
   */
  jetstreamAckWaitMs?: number;
  /** This machine's name as its team sees it (default: the host name); the docs picture names its members. */
  hostname?: string;
}
