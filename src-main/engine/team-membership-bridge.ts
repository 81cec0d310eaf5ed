/**
 * The console's Settings screen asking to create, join or leave a team (the bridge's
 * `team.create`, `team.join`, `team.leave`): the steps of team-membership.ts on a bus
 * connection of the engine's own, their refusals as BridgeFailures naming the form's field.
 */
import { isAbsolute } from 'node:path';
import { BridgeFailure, type Handlers } from '../contract/bridge';
import type { Settings } from '../contract/settings-descriptor';
import type { OneShotConnection } from '../bus/connect-once';
import type { Store } from '../store/database';
import type { AuditChange } from './audit-trail';
import {
  JoinCutShort,
  MembershipError,
  checkBucketName,
  checkStreamName,
  count,
  createTeam,
  joinTeam,
  leaveTeam,
  newKeyPath,
  readKeyFile,
  refuseOtherTeam,
  teamError,
  type MembershipBus,
  type MembershipContext,
  type MembershipField,
  type MembershipSettings,
} from './team-membership';

export interface BridgeMembershipDeps {
  store: Store;
  /** The settings in force. */
  settings: () => Settings;
  installId: string;
  /** A connection of its own to the bus, with the settings in force (bus/connect-once.ts). */
  connect: () => Promise<OneShotConnection>;
  /** The contract's settings.update: its checks, its audit record, the bus reconnecting. */
  setSettings: (patch: MembershipSettings) => Promise<void>;
  /** The audit trail, as the console's operator. */
  record: (change: AuditChange) => void;
}

/**
 * `team.create`, `team.join`, `team.leave` (the console's Settings screen): the steps
 * above, their refusals as BridgeFailures naming the form's field. A key path must be
 * absolute: the engine's working folder is nobody's choice.
 */
export function bridgeMembership(deps: BridgeMembershipDeps): Pick<Handlers, 'team.create' | 'team.join' | 'team.leave'> {
  const context = (): MembershipContext => ({ store: deps.store, settings: deps.settings(), setSettings: deps.setSettings, record: deps.record });
  const absolute = (raw: string, field: MembershipField): string => {
    if (!isAbsolute(raw.trim())) throw new MembershipError('an absolute path is required', field, true);
    return raw;
  };
  const bucketOf = (raw: string | undefined): string => checkBucketName(raw === undefined || raw.trim() === '' ? undefined : raw);
  const onBus = async <T>(run: (bus: MembershipBus) => Promise<T>): Promise<T> => {
    const url = deps.settings().natsUrl;
    const connection = await deps.connect();
    if ('problem' in connection) throw new BridgeFailure('unavailable', connection.problem);
    try {
      return await run({ nc: connection.nc, url });
    } finally {
      await connection.close();
    }
  };
  return {
    'team.create': (request) =>
      bridged(async () => {
        const stream = checkStreamName(request.stream);
        const bucket = bucketOf(request.bucket);
        const keyOut = newKeyPath(absolute(request.keyOut, 'keyOut'));
        refuseOtherTeam(deps.settings(), bucket);
        const done: string[] = [];
        const created = await onBus((bus) => createTeam(context(), bus, { stream, bucket, keyOut }, (step) => done.push(step))).catch((error: unknown) => {
          throw cutShort(error, done);
        });
        const moved = created.subscriptions.length + created.settings.length > 0 ? `; moved into it: ${[...created.subscriptions, ...created.settings].join(', ')}` : '';
        return {
          action: 'created' as const,
          team: created.team,
          stream: created.stream,
          keyFile: created.keyFile,
          moved: created.subscriptions,
          message:
            `Team ${created.team} created on stream ${created.stream}, its key written to ${created.keyFile}${moved}. ` +
            'Give the key file to each member over a safe channel: it opens every secret of the team.',
        };
      }),
    'team.join': (request) =>
      bridged(async () => {
        const stream = checkStreamName(request.stream);
        const bucket = bucketOf(request.bucket);
        const keyFile = readKeyFile(absolute(request.keyFile, 'keyFile'));
        refuseOtherTeam(deps.settings(), bucket);
        const joined = await onBus((bus) => joinTeam(context(), bus, { stream, bucket, keyFile, mergeLocal: request.mergeLocal === true })).catch((error: unknown) => {
          if (!(error instanceof JoinCutShort)) throw error;
          throw new BridgeFailure(
            'unavailable',
            `the join was cut short: ${error.message}; ${count(error.merged.length, 'subscription')} of this Sluice were added to the team (${error.merged.join(', ')}); ` +
              'it is not a member yet: join again to finish',
          );
        });
        return {
          action: 'joined' as const,
          team: joined.team,
          stream: joined.stream,
          keyFile: joined.keyFile,
          moved: joined.merged,
          message:
            `Joined team ${joined.team}: it has ${count(joined.teamSubscriptions.length, 'subscription')}` +
            (joined.merged.length > 0 ? `, ${joined.merged.join(', ')} added from this Sluice.` : '.'),
        };
      }),
    'team.leave': () =>
      bridged(async () => {
        const left = await leaveTeam(context(), deps.installId, async () => {
          const connection = await deps.connect();
          if ('problem' in connection) throw new Error(connection.problem);
          return { nc: connection.nc, url: deps.settings().natsUrl, close: connection.close };
        });
        return {
          action: 'left' as const,
          team: left.team,
          stream: null,
          keyFile: left.keyFile,
          moved: [],
          message:
            `Left team ${left.team}: this Sluice works alone again and keeps its copy of the team's ${count(left.subscriptionsKept, 'subscription')}. ` +
            (left.heartbeatRemoved ? '' : `Its heartbeat was not removed (${left.heartbeatNote}); the members see it stale after 30 s. `) +
            `The key file ${left.keyFile} stays; delete it if this machine should no longer hold the team's key.`,
        };
      }),
  };
}

/** A membership refusal as the bridge says it: the field, and why. */
async function bridged<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    const said = teamError(error, {});
    if (said instanceof MembershipError) {
      const code = said.input ? 'invalid_argument' : said.detail?.kind === 'other-team' || said.detail?.kind === 'not-member' ? 'conflict' : 'unavailable';
      throw new BridgeFailure(code, said.message, said.field ?? undefined);
    }
    throw said;
  }
}

/** A create that failed once something was done: what was, and that it is not a member yet. */
function cutShort(error: unknown, done: string[]): unknown {
  if (done.length === 0) return error;
  const said = teamError(error, {});
  const reason = said instanceof Error ? said.message : String(said);
  return new BridgeFailure(
    'unavailable',
    `the create was cut short: ${reason}. Done: ${done.join('; ')}. This Sluice is not a member yet: finish with sluice team create --key-file (the key file written)`,
    said instanceof MembershipError ? (said.field ?? undefined) : undefined,
  );
}
