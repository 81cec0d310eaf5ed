/**
 * What the team commands (team.ts) share: their flags (`--stream`, `--bucket`,
 * `--key-file`), the member's own settings, the bus's JetStream and the team's stream,
 * and the team library's errors said in the commands' words: which flag or setting is
 * wrong, and exit 2 for what the command line named, 1 for the rest.
 */
import { existsSync, lstatSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { JetStreamApiCodes, JetStreamApiError, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import type { SluiceApi } from '../contract/bridge';
import { SETTINGS, type Settings } from '../contract/settings-descriptor';
import { KvError, jetStreamOf } from '../team/kv-bucket';
import { TeamConfig, TeamConfigError } from '../team/team-config';
import { TeamKeyError, TeamKeyMismatchError, readTeamKeyFile, type TeamKey } from '../team/team-key';
import { DEFAULT_TEAM_BUCKET, TeamRecordError, checkTeamName } from '../team/team-records';
import { CliError, EXIT_FAILURE, EXIT_USAGE, type Problems } from './args';
import { err, unwrap } from './output';
import type { BusConnection } from './session';

/** `--stream NAME`: required, a JetStream stream name (as the jetstreamStream setting takes one). */
export function streamOf(problems: Problems, raw: string | undefined): string {
  problems.require('--stream', raw);
  if (raw === undefined) return '';
  const name = raw.trim();
  if (name === '') problems.add('--stream: a stream name is required');
  else {
    const checked = SETTINGS.jetstreamStream.schema.check(name, '--stream');
    if (!checked.ok) problems.add(`--stream: "${raw}" ${checked.issue.message}`);
  }
  return name;
}

/** `--bucket NAME`: the team's name, `sluice-team` when not given. */
export function bucketOf(problems: Problems, raw: string | undefined): string {
  const name = (raw ?? DEFAULT_TEAM_BUCKET).trim();
  try {
    return checkTeamName(name);
  } catch (error) {
    if (!(error instanceof TeamRecordError)) throw error;
    problems.add(`--bucket: ${error.message}`);
    return name;
  }
}

/** `--key-file PATH`: the team key in it (absolute), or a problem saying why not. */
export function keyFileOf(problems: Problems, raw: string): { key: TeamKey; path: string } | undefined {
  if (raw.trim() === '') {
    problems.add('--key-file: a path is required');
    return undefined;
  }
  const path = resolve(raw.trim());
  try {
    return { key: readTeamKeyFile(path), path };
  } catch (error) {
    if (!(error instanceof TeamKeyError)) throw error;
    problems.add(`--key-file: ${error.message}`);
    return undefined;
  }
}

/** The key of a member (its teamKeyFile setting); exit 1 when it cannot be read. */
export function keyOfSettings(path: string): TeamKey {
  try {
    return readTeamKeyFile(path);
  } catch (error) {
    if (error instanceof TeamKeyError) throw new CliError(`teamKeyFile: ${error.message}`, EXIT_FAILURE, { cause: error });
    throw error;
  }
}

/** The team this Sluice is a member of; not one: exit 1. */
export function memberOf(settings: Settings): { bucket: string; keyFile: string } {
  if (settings.teamBucket === '')
    throw new CliError('this Sluice is not a member of a team (teamBucket is not set): sluice team create, or sluice team join', EXIT_FAILURE);
  return { bucket: settings.teamBucket, keyFile: settings.teamKeyFile };
}

/** A member of another team is refused (leave it first); of the same one, the command runs again. */
export function refuseOtherTeam(settings: Settings, bucket: string): void {
  if (settings.teamBucket !== '' && settings.teamBucket !== bucket)
    throw new CliError(`this Sluice is a member of team "${settings.teamBucket}" already: sluice team leave first (nothing was changed)`, EXIT_FAILURE);
}

export async function becomeMember(api: SluiceApi, bucket: string, keyFile: string, stream: string): Promise<void> {
  // The team's stream too: a member's engine binds the team's durable (named as the bucket) on it.
  unwrap(await api['settings.update']({ teamKeyFile: keyFile, teamBucket: bucket, jetstreamStream: stream }));
}

export async function jetStream(bus: BusConnection): Promise<{ jsm: JetStreamManager }> {
  try {
    return await jetStreamOf(bus.nc);
  } catch (error) {
    if (error instanceof KvError) throw new CliError(`the bus at ${bus.url}: ${error.message}`, EXIT_FAILURE, { cause: error });
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
  throw new CliError(
    `--stream: there is no stream "${stream}" on the bus at ${url} (${others.length > 0 ? `streams there: ${others.sort().join(', ')}` : 'it has none'}); ` +
      "Sluice never creates the team's stream: the bus's operator defines one that captures the DECNET subjects (see the README, Running Sluice for a team)",
    EXIT_USAGE,
  );
}

export interface TeamErrorContext {
  /** What the key came from: `--key-file`, or `teamKeyFile PATH`. */
  keyLabel: string;
  stream?: string;
  url?: string;
  /** The exit code of a team that is not there or not this key's (default 2: the command line named it). */
  exitCode?: number;
}

export async function openTeam(nc: NatsConnection, bucket: string, key: TeamKey, context: TeamErrorContext): Promise<TeamConfig> {
  try {
    return await TeamConfig.open(nc, bucket, key);
  } catch (error) {
    throw teamError(error, context);
  }
}

/** The team library's errors in the command's words: which flag or setting, and the exit code. */
export function teamError(error: unknown, context: TeamErrorContext): unknown {
  const input = context.exitCode ?? EXIT_USAGE;
  if (error instanceof CliError) return error;
  if (error instanceof TeamKeyMismatchError) return new CliError(`${context.keyLabel}: ${error.message}`, input, { cause: error });
  if (error instanceof TeamConfigError) {
    // Another stream (create), or no team / no team record (open).
    const label = /on stream/.test(error.message) ? '--stream' : context.keyLabel.startsWith('--') ? '--bucket' : 'teamBucket';
    const where = context.url ? ` (bus ${context.url})` : '';
    return new CliError(`${label}: ${error.message}${where}`, input, { cause: error });
  }
  if (error instanceof KvError || error instanceof TeamKeyError || error instanceof TeamRecordError)
    return new CliError(error.message, EXIT_FAILURE, { cause: error });
  if (context.stream && error instanceof Error && error.message.includes(`"${context.stream}" not found`))
    return new CliError(`--stream: ${error.message}`, EXIT_USAGE, { cause: error });
  return error;
}

/** `--nats` reached the team on another bus than the engine's (the natsUrl setting): said, since the engine would find no team there. */
export function noteStoredUrl(stored: string, used: string): void {
  if (stored === used) return;
  err(`note: this command used --nats ${used}, but the engine connects to ${stored} (the natsUrl setting): sluice settings set natsUrl ${shellWord(used)}`);
}

/** `sluice team create --stream S …` with this run's --db and --nats, to run again. */
export function command(name: string, args: string[], dbFlag: string | undefined, nats: string | undefined): string {
  const words = ['sluice', ...name.split(' '), ...args];
  if (dbFlag !== undefined) words.push('--db', resolve(dbFlag));
  if (nats !== undefined) words.push('--nats', nats);
  return words.map(shellWord).join(' ');
}

/** A word as a POSIX shell reads it back. */
export function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

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

export function names(list: readonly string[]): string {
  return list.length === 0 ? '' : ` (${list.join(', ')})`;
}
