/**
 * A team's shared configuration (docs/design.md#teams): one KV bucket on the team's bus
 * (kv-bucket.ts) that every member reads and watches, so that several Sluice instances
 * consuming one stream deliver with one set of subscriptions and settings and show one
 * picture. The records and their checks are team-records.ts; secrets are sealed, and
 * every record signed, with the team key (team-key.ts) before they leave the process.
 *
 * The circuit breaker is shared too: every member counts a receiver's failures in the
 * same `breaker.<id>` record with compare-and-set writes (read the record, compute the
 * next one, write it only if nobody wrote in between, else read again), so the failures
 * of all members add up, and of all the calls that reach the threshold exactly one is
 * told it tripped the breaker (to say so once, and to hold events once).
 *
 * Takes a live connection and never closes it (the bus's, or a CLI command's own); a
 * watch ends with its connection, and the caller watches again on the next one.
 */
import type { NatsConnection } from '@nats-io/nats-core';
import type { Settings } from '../contract/settings-descriptor';
import type { HeldAction } from '../contract/views';
import { KvBucket, KvConflictError, type KvEntry, type KvWatch } from './kv-bucket';
import { ensureMembersBucket } from './team-members';
import { TeamKeyError, type TeamKey } from './team-key';
import {
  CLEAR_BREAKER,
  META_KEY,
  TeamRecordError,
  breakerAfterFailure,
  breakerKey,
  checkTeamName,
  checkTeamSetting,
  configBucketName,
  encodeJson,
  isTeamSettingKey,
  parseBreaker,
  parseMeta,
  readRecord,
  signatureHeaders,
  sealSubscription,
  settingKey,
  sharedConsumerName,
  subscriptionKey,
  verifyEntry,
  type BreakerRecord,
  type FailureResult,
  type TeamMeta,
  type TeamRecord,
  type TeamSettingKey,
  type TeamSettings,
  type TeamSubscription,
} from './team-records';

/** A JetStream stream name (as the jetstreamStream setting accepts). */
const STREAM_NAME = /^[A-Za-z0-9_-]{1,256}$/;
/**
 * Compare-and-set attempts before giving up: each lost attempt means another member
 * wrote, so this many in a row would take as many members failing at the same instant.
 */
const MAX_CAS_ATTEMPTS = 64;

/** A team that cannot be created or opened as asked. */
export class TeamConfigError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TeamConfigError';
  }
}

export interface CreateTeamOptions {
  name: string;
  /** The JetStream stream of the team's events (an existing stream; never created here). */
  stream: string;
  key: TeamKey;
  now?: Date;
}

/** Every record at one moment. */
export interface TeamSnapshot {
  meta: TeamMeta;
  /** By name. */
  subscriptions: TeamSubscription[];
  /** The team's settings that are set; the others take their defaults. */
  settings: TeamSettings;
  /** By subscription id; a subscription without one has a clear breaker. */
  breakers: Record<string, BreakerRecord>;
  /** The highest revision read (0: an empty bucket). */
  revision: number;
  /** Records that could not be read and are left out above, with why. */
  problems: TeamProblem[];
}

export interface TeamProblem {
  key: string;
  message: string;
}

/** One record as it was at the start of a watch (`initial`), or as it just changed. */
export interface TeamChange {
  record: TeamRecord;
  revision: number;
  initial: boolean;
}

export class TeamConfig {
  private constructor(
    readonly meta: TeamMeta,
    readonly bucket: KvBucket,
    private readonly key: TeamKey,
  ) {}

  /**
   * Makes the team's buckets and meta record. Idempotent: a team that exists already
   * with this key and stream is opened; with another key, TeamKeyMismatchError.
   */
  static async create(nc: NatsConnection, options: CreateTeamOptions): Promise<TeamConfig> {
    const name = checkTeamName(options.name);
    if (!STREAM_NAME.test(options.stream)) throw new TeamConfigError(`"${options.stream}" is not a JetStream stream name: letters, digits, - and _`);
    const bucket = await KvBucket.ensure(nc, configBucketName(name), { description: `Sluice team ${name}: its shared configuration` });
    await ensureMembersBucket(nc, name);
    const meta: TeamMeta = {
      name,
      stream: options.stream,
      consumer: sharedConsumerName(name),
      keyId: options.key.id,
      createdAt: (options.now ?? new Date()).toISOString(),
    };
    try {
      const value = encodeJson(meta);
      await bucket.put(META_KEY, value, 0, signatureHeaders(options.key, META_KEY, 'PUT', value));
      return new TeamConfig(meta, bucket, options.key);
    } catch (error) {
      if (!(error instanceof KvConflictError)) throw error;
    }
    const existing = await TeamConfig.open(nc, name, options.key);
    if (existing.meta.stream !== options.stream)
      throw new TeamConfigError(`team "${name}" exists already, on stream "${existing.meta.stream}" (not "${options.stream}")`);
    return existing;
  }

  /** An existing team, checking that `key` is its key. */
  static async open(nc: NatsConnection, name: string, key: TeamKey): Promise<TeamConfig> {
    const bucket = await KvBucket.bind(nc, configBucketName(name));
    if (!bucket) throw new TeamConfigError(`there is no team "${name}" on this bus (no bucket ${configBucketName(name)}): create it first`);
    const entry = await bucket.get(META_KEY);
    if (!entry || entry.operation !== 'PUT') throw new TeamConfigError(`team "${name}" has no "${META_KEY}" record in bucket ${bucket.name}: create the team again`);
    const meta = parseMeta(entry.value);
    // The key id first: a member with another key is told so, not that the record is forged.
    key.assertTeamKey(meta.keyId, name);
    verifyEntry(key, entry);
    return new TeamConfig(meta, bucket, key);
  }

  /** Stores a subscription, its secrets sealed; with `expectRevision`, only over that revision. Returns the new revision. */
  async putSubscription(sub: TeamSubscription, expectRevision?: number): Promise<number> {
    return this.put(subscriptionKey(sub.id), sealSubscription(this.key, sub), expectRevision);
  }

  /** Deletes a subscription and its breaker. */
  async deleteSubscription(id: string): Promise<number> {
    const revision = await this.remove(subscriptionKey(id));
    const breaker = await this.bucket.get(breakerKey(id));
    if (breaker?.operation === 'PUT') await this.remove(breakerKey(id));
    return revision;
  }

  /** Sets a team setting (checked by its descriptor); TeamRecordError for a value or key refused. */
  async putSetting<K extends TeamSettingKey>(key: K, value: Settings[K]): Promise<number> {
    return this.put(settingKey(key), encodeJson(checkTeamSetting(key, value)));
  }

  /** Back to the default for every member. */
  async deleteSetting(key: TeamSettingKey): Promise<number> {
    return this.remove(settingKey(checkTeamSettingKey(key)));
  }

  /** Every record now. */
  async read(): Promise<TeamSnapshot> {
    const snapshot: TeamSnapshot = { meta: this.meta, subscriptions: [], settings: {}, breakers: {}, revision: 0, problems: [] };
    for (const entry of await this.bucket.entries()) {
      snapshot.revision = Math.max(snapshot.revision, entry.revision);
      const record = this.readEntry(entry, (problem) => snapshot.problems.push(problem));
      if (record?.kind === 'team' && record.meta) snapshot.meta = record.meta;
      if (record?.kind === 'subscription' && record.subscription) snapshot.subscriptions.push(record.subscription);
      if (record?.kind === 'breaker' && record.breaker) snapshot.breakers[record.id] = record.breaker;
      if (record?.kind === 'setting' && record.value !== null) (snapshot.settings as Record<string, unknown>)[record.key] = record.value;
    }
    snapshot.subscriptions.sort((a, b) => a.name.localeCompare(b.name));
    return snapshot;
  }

  /**
   * Hands `onChange` every record there is (`initial`), then every change, with its
   * revision, until stop() or the connection's end (`ended`). A record that cannot be
   * read, or an `onChange` that throws, goes to `onProblem`; the watch goes on.
   */
  watch(onChange: (change: TeamChange) => void, onProblem: (problem: TeamProblem) => void = () => undefined): KvWatch {
    return this.bucket.watch((entry, initial) => {
      const record = this.readEntry(entry, onProblem);
      if (!record) return;
      try {
        onChange({ record, revision: entry.revision, initial });
      } catch (error) {
        onProblem({ key: entry.key, message: `the change handler failed: ${errorMessage(error)}` });
      }
    });
  }

  /** A subscription's shared breaker (clear when it has none). */
  async breaker(id: string): Promise<BreakerRecord> {
    return this.currentBreaker(await this.bucket.get(breakerKey(id)));
  }

  /**
   * A delivery to subscription `id` ended failed: counts it in the shared breaker and
   * trips it at `threshold`. Of all the calls (of all members) that trip it, exactly one
   * gets `trippedNow: true`.
   */
  async recordFailure(id: string, error: string, threshold: number, now = new Date()): Promise<FailureResult> {
    return (await this.updateBreaker(id, (current) => breakerAfterFailure(current, error, threshold, now.toISOString()))).result;
  }

  /** A delivery ended delivered: the failure streak is over. Writes nothing when there is none (the usual case). */
  async recordSuccess(id: string): Promise<boolean> {
    const { result } = await this.updateBreaker(id, (current) =>
      current.consecutiveFailures === 0 && current.lastError === null
        ? { next: null, result: false }
        : { next: { ...current, consecutiveFailures: 0, lastError: null }, result: true },
    );
    return result;
  }

  /**
   * The analyst switches the subscription back on: the breaker is cleared, and `held`
   * says what every member does with the events it held meanwhile (each applies it once,
   * seeing this record's new revision in its watch). Also for a paused subscription.
   */
  async reenable(id: string, held: HeldAction, now = new Date()): Promise<{ wasTripped: boolean; revision: number }> {
    if (held !== 'deliver' && held !== 'discard') throw new TeamRecordError(`held events are delivered or discarded, not ${JSON.stringify(held)}`);
    const { result, revision } = await this.updateBreaker(id, (current) => ({
      next: { ...CLEAR_BREAKER, lastFailureAt: current.lastFailureAt, reenabledAt: now.toISOString(), heldDecision: held },
      result: current.tripped,
    }));
    return { wasTripped: result, revision: revision as number };
  }

  /**
   * The compare-and-set loop over `breaker.<id>`: `step` gives the next record (null:
   * nothing to write) and the result; returns it with the revision written (null: none).
   */
  private async updateBreaker<R>(
    id: string,
    step: (current: BreakerRecord) => { next: BreakerRecord | null; result: R },
  ): Promise<{ result: R; revision: number | null }> {
    const key = breakerKey(id);
    for (let attempt = 1; ; attempt++) {
      const entry = await this.bucket.get(key);
      const current = this.currentBreaker(entry);
      const { next, result } = step(current);
      if (next === null) return { result, revision: null };
      try {
        return { result, revision: await this.put(key, encodeJson(next), entry?.revision ?? 0) };
      } catch (error) {
        if (!(error instanceof KvConflictError)) throw error;
        if (attempt >= MAX_CAS_ATTEMPTS) throw new TeamConfigError(`${key}: ${MAX_CAS_ATTEMPTS} writes in a row lost to other members' writes`, { cause: error });
      }
      // Members that collided retry at spread-out moments rather than together again.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(50, attempt * 2)));
    }
  }

  /** A breaker as stored; clear when there is none, or when it was not written by a member (the next write replaces it). */
  private currentBreaker(entry: KvEntry | null): BreakerRecord {
    if (entry?.operation !== 'PUT') return { ...CLEAR_BREAKER };
    try {
      verifyEntry(this.key, entry);
    } catch {
      return { ...CLEAR_BREAKER };
    }
    return parseBreaker(entry.value);
  }

  /** Every write is signed (team-records.ts, SIGNATURE_HEADER). */
  private put(recordKey: string, value: Uint8Array, expectRevision?: number): Promise<number> {
    return this.bucket.put(recordKey, value, expectRevision, signatureHeaders(this.key, recordKey, 'PUT', value));
  }

  private remove(recordKey: string, expectRevision?: number): Promise<number> {
    return this.bucket.delete(recordKey, expectRevision, signatureHeaders(this.key, recordKey, 'DEL'));
  }

  private readEntry(entry: KvEntry, onProblem: (problem: TeamProblem) => void): TeamRecord | null {
    try {
      return readRecord(this.key, entry);
    } catch (error) {
      if (!(error instanceof TeamRecordError || error instanceof TeamKeyError)) throw error;
      onProblem({ key: entry.key, message: error.message });
      return null;
    }
  }
}

function checkTeamSettingKey(key: TeamSettingKey): TeamSettingKey {
  if (!isTeamSettingKey(key)) throw new TeamRecordError(`${String(key)} is not a team setting`);
  return key;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
