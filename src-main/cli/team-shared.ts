/**
 * What the team commands (team.ts) share: their flags (`--stream`, `--bucket`,
 * `--key-file`), the member's own settings, and the refusals of the membership steps
 * (engine/team-membership.ts) and of the team library said in the commands' words: which
 * flag or setting is wrong, and exit 2 for what the command line named, 1 for the rest.
 */
import { resolve } from 'node:path';
import type { NatsConnection } from '@nats-io/nats-core';
import type { SluiceApi } from '../contract/bridge';
import type { Settings } from '../contract/settings-descriptor';
import type { Engine } from '../engine/engine';
import * as membership from '../engine/team-membership';
import { MembershipError, checkBucketName, checkStreamName, count, readKeyFile, type MembershipContext, type MembershipField } from '../engine/team-membership';
import { TeamConfig } from '../team/team-config';
import { TeamKeyError, readTeamKeyFile, type TeamKey } from '../team/team-key';
import { CliError, EXIT_FAILURE, EXIT_USAGE, type Problems } from './args';
import { err, unwrap } from './output';

/** `--stream NAME`: required, a JetStream stream name (as the jetstreamStream setting takes one). */
export function streamOf(problems: Problems, raw: string | undefined): string {
  problems.require('--stream', raw);
  if (raw === undefined) return '';
  return checked(problems, () => checkStreamName(raw), raw.trim());
}

/** `--bucket NAME`: the team's name, `sluice-team` when not given. */
export function bucketOf(problems: Problems, raw: string | undefined): string {
  return checked(problems, () => checkBucketName(raw), (raw ?? '').trim());
}

/** `--key-file PATH`: the team key in it (absolute), or a problem saying why not. */
export function keyFileOf(problems: Problems, raw: string): { key: TeamKey; path: string } | undefined {
  return checked(problems, () => readKeyFile(raw), undefined);
}

/** A membership check whose refusal is a problem of the command line, in its flag's words. */
function checked<T, F>(problems: Problems, check: () => T, otherwise: F): T | F {
  try {
    return check();
  } catch (error) {
    if (!(error instanceof MembershipError)) throw error;
    problems.add((cliErrorOf(error) as CliError).message);
    return otherwise;
  }
}

/** The flag of each input the membership steps name. */
const FLAGS: Record<MembershipField, string> = { stream: '--stream', bucket: '--bucket', keyOut: '--key-out', keyFile: '--key-file' };

/**
 * A membership step's refusal (engine/team-membership.ts) in the commands' words: the flag
 * it is about, the command to run instead, exit 2 for what the command line named, 1 for
 * the rest. Anything else is returned as it is.
 */
export function cliErrorOf(error: unknown): unknown {
  if (!(error instanceof MembershipError)) return error;
  const exit = error.input ? EXIT_USAGE : EXIT_FAILURE;
  const detail = error.detail;
  let message = error.field ? `${FLAGS[error.field]}: ${error.message}` : error.message;
  switch (detail?.kind) {
    case 'key-exists':
      message = `--key-out: ${detail.path} exists already; a team key file is never overwritten (give a new path; to finish a create cut short with this key: --key-file ${shellWord(detail.path)})`;
      break;
    case 'team-exists': {
      const { bucket } = detail;
      message = detail.meta
        ? `--bucket: team "${bucket}" exists already on the bus at ${detail.url} (stream ${detail.meta.stream}, created ${detail.meta.createdAt}): ` +
          `to be a member, sluice team join --stream ${shellWord(detail.meta.stream)} --bucket ${shellWord(bucket)} --key-file <a copy of its key file>; ` +
          `to finish a create cut short: --key-file <the key file it wrote> instead of --key-out`
        : `--bucket: a bucket "${bucket}" exists already on the bus at ${detail.url} (not a team's: choose another --bucket)`;
      break;
    }
    case 'other-team':
      message = `this Sluice is a member of team "${detail.team}" already: sluice team leave first (nothing was changed)`;
      break;
    case 'local-only':
      message =
        `this database has ${count(detail.names.length, 'subscription')} the team does not: ${detail.names.join(', ')}. ` +
        "A member delivers the team's subscriptions: --merge-local adds these to the team (for every member), " +
        'or remove them first (sluice subs rm); nothing was changed';
      break;
    case 'not-member':
      message = 'this Sluice is not a member of a team (teamBucket is not set): sluice team create, or sluice team join';
      break;
    case undefined:
      break;
  }
  return new CliError(message, exit, { cause: error });
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
  try {
    return membership.memberOf(settings);
  } catch (error) {
    throw cliErrorOf(error);
  }
}

/** A member of another team is refused (leave it first); of the same one, the command runs again. */
export function refuseOtherTeam(settings: Settings, bucket: string): void {
  try {
    membership.refuseOtherTeam(settings, bucket);
  } catch (error) {
    throw cliErrorOf(error);
  }
}

/** How the membership steps set this Sluice's settings from the command line: through the contract. */
export function membershipContext(api: SluiceApi, engine: Engine): MembershipContext {
  return {
    store: engine.offlineStore(),
    settings: engine.effectiveSettings(),
    setSettings: async (patch) => void unwrap(await api['settings.update'](patch)),
    record: (change) => engine.audit.record(change),
  };
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

/** The team library's errors in the command's words (as the membership steps read them): which flag or setting, and the exit code. */
export function teamError(error: unknown, context: TeamErrorContext): unknown {
  if (error instanceof CliError) return error;
  const said = membership.teamError(error, context);
  if (!(said instanceof MembershipError)) return said;
  const label =
    said.field === 'keyFile'
      ? context.keyLabel
      : said.field === 'bucket'
        ? context.keyLabel.startsWith('--')
          ? '--bucket'
          : 'teamBucket'
        : said.field === null
          ? null
          : FLAGS[said.field];
  return new CliError(label ? `${label}: ${said.message}` : said.message, said.input ? (context.exitCode ?? EXIT_USAGE) : EXIT_FAILURE, { cause: error });
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

export { count };

export function names(list: readonly string[]): string {
  return list.length === 0 ? '' : ` (${list.join(', ')})`;
}
