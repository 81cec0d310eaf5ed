/**
 * Making this installation a member of a team, and no longer one (docs/design.md#teams):
 * the steps and checks of `sluice team create|join|leave` and of the console's Settings
 * screen (the bridge's `team.create|join|leave`, team-membership-bridge.ts), in one place.
 * The CLI says each refusal in its flags' words (`--stream: …`, exit 2); the bridge names
 * the form's field.
 *
 * Every refusal comes before anything changes. The membership itself is three local
 * settings (teamBucket, teamKeyFile, jetstreamStream), set through `setSettings` (the
 * contract's settings.update: its rules, its audit record, the bus reconnecting).
 */
import { existsSync, lstatSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { JetStreamApiCodes, JetStreamApiError, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { SETTINGS, type Settings } from '../contract/settings-descriptor';
import type { Store } from '../store/database';
import { teamChange, type AuditChange } from './audit-trail';
import { listSubscriptions } from '../store/subscriptions';
import { KvBucket, KvError, jetStreamOf } from '../team/kv-bucket';
import { moveIntoTeam, teamSubscriptionOf } from '../team/local-config';
import { ensureSharedConsumer } from '../team/shared-consumer';
import { TeamConfig, TeamConfigError } from '../team/team-config';
import { TeamKeyError, TeamKeyMismatchError, createTeamKeyFile, readTeamKeyFile, type TeamKey } from '../team/team-key';
import { TeamMembers } from '../team/team-members';
import { DEFAULT_TEAM_BUCKET, META_KEY, TeamRecordError, checkTeamName, configBucketName, parseMeta, type TeamMeta } from '../team/team-records';

/** The input a refusal is about: the CLI's flag (`--key-out`), the form's field (`keyOut`). */
export type MembershipField = 'stream' | 'bucket' | 'keyOut' | 'keyFile';

/** What a refusal says beyond its message, for a caller that words it its own way. */
export type MembershipDetail =
  | { kind: 'key-exists'; path: string }
  | { kind: 'team-exists'; bucket: string; meta: TeamMeta | null; url: string }
  | { kind: 'other-team'; team: string }
  | { kind: 'local-only'; names: string[] }
  | { kind: 'not-member' };

/**
 * A refusal or failure of a membership step. `input`: what the caller named is wrong (the
 * CLI's exit 2); else the bus, a file, the team (exit 1). The message does not name the field.
 */
export class MembershipError extends Error {
  constructor(
    message: string,
    readonly field: MembershipField | null,
    readonly input: boolean,
    readonly detail?: MembershipDetail,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'MembershipError';
  }
}

/** A live connection to the bus, for the steps that work on the bus itself. */
export interface MembershipBus {
  nc: NatsConnection;
  /** Where it was reached, for messages. */
  url: string;
}

export type MembershipSettings = Pick<Settings, 'teamBucket' | 'teamKeyFile' | 'jetstreamStream'>;

export interface MembershipContext {
  store: Store;
  /** The settings in force (the bus's, the team's). */
  settings: Settings;
  /** Set (or, with '', unset) the membership settings, through the contract. */
  setSettings: (patch: MembershipSettings) => Promise<void>;
  /** The audit trail, as the operator making the change: what went into the team. */
  record: (change: AuditChange) => void;
}

// ----- the inputs --------------------------------------------------------------------

/** The team's stream: a JetStream stream name, as the jetstreamStream setting takes one. */
export function checkStreamName(raw: string): string {
  const name = raw.trim();
  if (name === '') throw new MembershipError('a stream name is required', 'stream', true);
  const checked = SETTINGS.jetstreamStream.schema.check(name, 'stream');
  if (!checked.ok) throw new MembershipError(`"${raw}" ${checked.issue.message}`, 'stream', true);
  return name;
}

/** The team's name (its bucket), `sluice-team` when not given. */
export function checkBucketName(raw: string | undefined): string {
  const name = (raw ?? DEFAULT_TEAM_BUCKET).trim();
  try {
    return checkTeamName(name);
  } catch (error) {
    if (!(error instanceof TeamRecordError)) throw error;
    throw new MembershipError(error.message, 'bucket', true, undefined, { cause: error });
  }
}

/** The file a new team key goes to: a new one, in a folder that exists (absolute). */
export function newKeyPath(raw: string): string {
  if (raw.trim() === '') throw new MembershipError('a path is required', 'keyOut', true);
  const path = resolve(raw.trim());
  if (exists(path)) throw new MembershipError(`${path} exists already; a team key file is never overwritten (give a new path)`, 'keyOut', true, { kind: 'key-exists', path });
  const folder = dirname(path);
  if (!isDirectory(folder)) throw new MembershipError(`there is no folder ${folder} (it is not created)`, 'keyOut', true);
  return path;
}

/** The team key in a file (absolute path), or why not. */
export function readKeyFile(raw: string): { key: TeamKey; path: string } {
  if (raw.trim() === '') throw new MembershipError('a path is required', 'keyFile', true);
  const path = resolve(raw.trim());
  try {
    return { key: readTeamKeyFile(path), path };
  } catch (error) {
    if (!(error instanceof TeamKeyError)) throw error;
    throw new MembershipError(error.message, 'keyFile', true, undefined, { cause: error });
  }
}

/** A member of another team is refused (leave it first); of the same one, the step runs again. */
export function refuseOtherTeam(settings: Settings, bucket: string): void {
  if (settings.teamBucket !== '' && settings.teamBucket !== bucket)
    throw new MembershipError(`this Sluice is a member of team "${settings.teamBucket}" already: leave it first (nothing was changed)`, null, false, {
      kind: 'other-team',
      team: settings.teamBucket,
    });
}

/** The team this Sluice is a member of; not one: refused. */
export function memberOf(settings: Settings): { bucket: string; keyFile: string } {
  if (settings.teamBucket === '') throw new MembershipError('this Sluice is not a member of a team (teamBucket is not set)', null, false, { kind: 'not-member' });
  return { bucket: settings.teamBucket, keyFile: settings.teamKeyFile };
}

// ----- the bus -----------------------------------------------------------------------

export async function jetStream(bus: MembershipBus): Promise<{ jsm: JetStreamManager }> {
  try {
    return await jetStreamOf(bus.nc);
  } catch (error) {
    if (error instanceof KvError) throw new MembershipError(`the bus at ${bus.url}: ${error.message}`, null, false, undefined, { cause: error });
    throw error;
  }
}

/** The team's stream is the operator's: never created, and a missing one is named with the streams there are. */
export async function checkStream(jsm: JetStreamManager, stream: string, url: string): Promise<void> {
  try {
    await jsm.streams.info(stream);
    return;
  } catch (error) {
    if (!(error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound)) throw error;
  }
  const others: string[] = [];
  for await (const name of jsm.streams.names()) if (!name.startsWith('KV_') && !name.startsWith('OBJ_')) others.push(name);
  throw new MembershipError(
    `there is no stream "${stream}" on the bus at ${url} (${others.length > 0 ? `streams there: ${others.sort().join(', ')}` : 'it has none'}); ` +
      "Sluice never creates the team's stream: the bus's operator defines one that captures the DECNET subjects (see the README, Running Sluice for a team)",
    'stream',
    true,
  );
}

/** Refuses a bucket there already: another team's, to be joined rather than created over. */
export async function refuseExistingBucket(bus: MembershipBus, bucket: string): Promise<void> {
  const existing = await KvBucket.bind(bus.nc, configBucketName(bucket));
  if (!existing) return;
  const entry = await existing.get(META_KEY).catch(() => null);
  let meta: TeamMeta | null = null;
  if (entry?.operation === 'PUT') {
    try {
      meta = parseMeta(entry.value);
    } catch {
      // Not a team's meta record: said as a bucket that is not a team's.
    }
  }
  const what = meta
    ? `team "${bucket}" exists already on the bus at ${bus.url} (stream ${meta.stream}, created ${meta.createdAt}): join it with a copy of its key file, or choose another name`
    : `a bucket "${bucket}" exists already on the bus at ${bus.url} (not a team's: choose another name)`;
  throw new MembershipError(what, 'bucket', true, { kind: 'team-exists', bucket, meta, url: bus.url });
}

/** The team's record, read with this key. */
export async function openTeam(bus: MembershipBus, bucket: string, key: TeamKey, stream?: string): Promise<TeamConfig> {
  try {
    return await TeamConfig.open(bus.nc, bucket, key);
  } catch (error) {
    throw teamError(error, { stream, url: bus.url });
  }
}

/** The team library's errors as refusals: which input is wrong. */
export function teamError(error: unknown, context: { stream?: string | undefined; url?: string | undefined }): unknown {
  if (error instanceof MembershipError) return error;
  if (error instanceof TeamKeyMismatchError) return new MembershipError(error.message, 'keyFile', true, undefined, { cause: error });
  if (error instanceof TeamConfigError) {
    // Another stream (create), or no team / no team record (open).
    const field = /on stream/.test(error.message) ? 'stream' : 'bucket';
    const where = context.url ? ` (bus ${context.url})` : '';
    return new MembershipError(`${error.message}${where}`, field, true, undefined, { cause: error });
  }
  if (error instanceof KvError || error instanceof TeamKeyError || error instanceof TeamRecordError)
    return new MembershipError(error.message, null, false, undefined, { cause: error });
  if (context.stream && error instanceof Error && error.message.includes(`"${context.stream}" not found`))
    return new MembershipError(error.message, 'stream', true, undefined, { cause: error });
  return error;
}

// ----- create ------------------------------------------------------------------------

export interface CreateInput {
  stream: string;
  bucket: string;
  /** A new team key, written to this file (checked by newKeyPath)… */
  keyOut?: string;
  /** …or the key a create cut short wrote, to finish it. */
  keyFile?: { key: TeamKey; path: string };
}

export interface CreateResult {
  team: string;
  bus: string;
  stream: string;
  consumer: string;
  waiting: number;
  keyFile: string;
  keyId: string;
  /** What was copied from this database into the team. */
  subscriptions: string[];
  settings: string[];
}

/**
 * Create a team on the bus and make this Sluice its first member. `done` is told each step
 * once it is done (from the key file on), for the caller to say when a later one fails.
 */
export async function createTeam(context: MembershipContext, bus: MembershipBus, input: CreateInput, done: (step: string) => void = () => undefined): Promise<CreateResult> {
  const { stream, bucket } = input;
  refuseOtherTeam(context.settings, bucket);
  const { jsm } = await jetStream(bus);
  await checkStream(jsm, stream, bus.url);
  if (input.keyOut !== undefined) await refuseExistingBucket(bus, bucket);
  let key: TeamKey;
  let keyFile: string;
  if (input.keyFile) ({ key, path: keyFile } = input.keyFile);
  else {
    keyFile = input.keyOut as string;
    key = createKeyFile(keyFile);
    done(`the team key file ${keyFile} was written (keep it: the team may be sealed with it already)`);
  }
  const config = await TeamConfig.create(bus.nc, { name: bucket, stream, key }).catch((error: unknown) => {
    throw teamError(error, { stream });
  });
  done(`the team's buckets ${configBucketName(bucket)} and ${bucket}-members exist, with its record`);
  const consumer = await ensureSharedConsumer(bus.nc, { team: bucket, stream });
  done(`the shared durable ${consumer.name} exists on stream ${stream}`);
  const moved = await moveIntoTeam(config, context.store, context.settings);
  context.record(teamChange('team.create', bucket, { stream, subscriptions: moved.subscriptions, settings: moved.settings }));
  if (moved.subscriptions.length + moved.settings.length > 0) done(`this database's configuration was copied into the team`);
  // The team's stream too: a member's engine binds the team's durable (named as the bucket) on it.
  await context.setSettings({ teamKeyFile: keyFile, teamBucket: bucket, jetstreamStream: stream });
  return {
    team: bucket,
    bus: bus.url,
    stream,
    consumer: consumer.name,
    waiting: consumer.num_pending,
    keyFile,
    keyId: key.id,
    subscriptions: moved.subscriptions,
    settings: moved.settings,
  };
}

function createKeyFile(path: string): TeamKey {
  try {
    return createTeamKeyFile(path);
  } catch (error) {
    if (error instanceof TeamKeyError) throw new MembershipError(error.message, 'keyOut', false, undefined, { cause: error });
    throw error;
  }
}

// ----- join --------------------------------------------------------------------------

export interface JoinInput {
  stream: string;
  bucket: string;
  keyFile: { key: TeamKey; path: string };
  /** Add this database's subscriptions the team does not have to the team (else refused). */
  mergeLocal: boolean;
}

export interface JoinResult {
  team: string;
  bus: string;
  stream: string;
  consumer: string;
  keyFile: string;
  keyId: string;
  /** The team's subscriptions, by name, with those merged. */
  teamSubscriptions: string[];
  /** This database's subscriptions added to the team. */
  merged: string[];
}

/** A join cut short after some of this database's subscriptions were added to the team. */
export class JoinCutShort extends Error {
  constructor(
    readonly reason: unknown,
    readonly merged: string[],
  ) {
    super(reason instanceof Error ? reason.message : String(reason), { cause: reason });
    this.name = 'JoinCutShort';
  }
}

export async function joinTeam(context: MembershipContext, bus: MembershipBus, input: JoinInput): Promise<JoinResult> {
  const { stream, bucket, keyFile } = input;
  refuseOtherTeam(context.settings, bucket);
  const config = await openTeam(bus, bucket, keyFile.key);
  if (config.meta.stream !== stream) throw new MembershipError(`team "${bucket}" consumes stream "${config.meta.stream}", not "${stream}"`, 'stream', true);
  const snapshot = await config.read();
  const inTeam = new Set(snapshot.subscriptions.map((s) => s.id));
  const localOnly = listSubscriptions(context.store).filter((s) => !inTeam.has(s.id));
  if (localOnly.length > 0 && !input.mergeLocal)
    throw new MembershipError(
      `this database has ${count(localOnly.length, 'subscription')} the team does not: ${localOnly.map((s) => s.name).join(', ')}. ` +
        "A member delivers the team's subscriptions: add these to the team (for every member), or remove them first; nothing was changed",
      null,
      true,
      { kind: 'local-only', names: localOnly.map((s) => s.name) },
    );
  const consumer = await ensureSharedConsumer(bus.nc, { team: bucket, stream }).catch((error: unknown) => {
    throw teamError(error, { stream });
  });
  const merged: string[] = [];
  try {
    for (const sub of localOnly) {
      await config.putSubscription(teamSubscriptionOf(sub));
      merged.push(sub.name);
    }
  } catch (error) {
    if (merged.length === 0) throw error;
    context.record(teamChange('team.join', bucket, { stream, merged, complete: false }));
    throw new JoinCutShort(error, merged);
  }
  context.record(teamChange('team.join', bucket, { stream, merged }));
  try {
    await context.setSettings({ teamKeyFile: keyFile.path, teamBucket: bucket, jetstreamStream: stream });
  } catch (error) {
    if (merged.length === 0) throw error;
    throw new JoinCutShort(error, merged);
  }
  return {
    team: bucket,
    bus: bus.url,
    stream,
    consumer: consumer.name,
    keyFile: keyFile.path,
    keyId: keyFile.key.id,
    teamSubscriptions: [...snapshot.subscriptions.map((s) => s.name), ...merged].sort((a, b) => a.localeCompare(b)),
    merged,
  };
}

// ----- leave -------------------------------------------------------------------------

export interface LeaveResult {
  team: string;
  keyFile: string;
  subscriptionsKept: number;
  heartbeatRemoved: boolean;
  /** Why the heartbeat was not removed (null when it was). */
  heartbeatNote: string | null;
}

/**
 * Leave the team: the three settings unset (back to core NATS: through a durable of its
 * own it would go on taking the team's events alone); the team's subscriptions stay here as
 * a copy. The heartbeat goes when the team can be reached (`connect`, after the settings
 * changed): a member silent for 30 s shows stale anyway.
 */
export async function leaveTeam(
  context: MembershipContext,
  installId: string,
  connect: () => Promise<MembershipBus & { close: () => Promise<void> }>,
): Promise<LeaveResult> {
  const team = memberOf(context.settings);
  const kept = listSubscriptions(context.store).length;
  await context.setSettings({ teamBucket: '', teamKeyFile: '', jetstreamStream: '' });
  context.record(teamChange('team.leave', team.bucket, { subscriptionsKept: kept }));
  const heartbeat = await removeHeartbeat(team.bucket, team.keyFile, installId, connect);
  return { team: team.bucket, keyFile: team.keyFile, subscriptionsKept: kept, heartbeatRemoved: heartbeat.removed, heartbeatNote: heartbeat.note };
}

async function removeHeartbeat(
  bucket: string,
  keyFile: string,
  installId: string,
  connect: () => Promise<MembershipBus & { close: () => Promise<void> }>,
): Promise<{ removed: boolean; note: string | null }> {
  try {
    const key = readTeamKeyFile(keyFile);
    const bus = await connect();
    try {
      const config = await TeamConfig.open(bus.nc, bucket, key);
      await (await TeamMembers.open(bus.nc, config.meta.name, key)).leave(installId);
    } finally {
      await bus.close();
    }
    return { removed: true, note: null };
  } catch (error) {
    return { removed: false, note: error instanceof Error ? error.message : String(error) };
  }
}

// ----- small helpers -----------------------------------------------------------------

export function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return existsSync(path);
  }
}

export function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

export function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
