/**
 * `sluice team create|join|leave|status` (docs/design.md#teams): several Sluices sharing
 * one JetStream stream through one durable, one configuration (a KV bucket) and one
 * picture. These commands set a team up and make this installation a member (the local
 * settings teamBucket and teamKeyFile, set through the contract as `settings set` does,
 * so its rules apply and a running engine gets the reload signal); the running engine
 * does the rest.
 *
 * Every refusal comes before anything changes. `create` is the one command that changes
 * things in several places (a key file, the bus, the database): cut short after the key
 * file was written, it says what was done and the command that finishes it, which runs
 * the same steps again with that key (each is idempotent).
 */
import { dirname, resolve } from 'node:path';
import type { Settings } from '../contract/settings-descriptor';
import { ensureInstallId } from '../store/settings';
import { listSubscriptions } from '../store/subscriptions';
import { KvBucket } from '../team/kv-bucket';
import { moveIntoTeam, teamSubscriptionOf } from '../team/local-config';
import { ensureSharedConsumer } from '../team/shared-consumer';
import { TeamConfig } from '../team/team-config';
import { TeamKeyError, createTeamKeyFile, readTeamKeyFile, type TeamKey } from '../team/team-key';
import { TeamMembers } from '../team/team-members';
import { META_KEY, configBucketName, parseMeta } from '../team/team-records';
import { CHANGE_OPTIONS, CliError, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, expectOperands, parseCommand, unknownSubcommand } from './args';
import { err, out, printJson, unwrap } from './output';
import { checkNatsUrl, connectOnce, database, withApi, type BusConnection } from './session';
import {
  becomeMember,
  bucketOf,
  checkStream,
  command,
  count,
  exists,
  isDirectory,
  jetStream,
  keyFileOf,
  keyOfSettings,
  memberOf,
  names,
  noteStoredUrl,
  openTeam,
  refuseOtherTeam,
  shellWord,
  streamOf,
  teamError,
} from './team-shared';
import { printTeamStatus, readTeamStatus } from './team-status';

export const TEAM_COMMANDS = ['create', 'join', 'leave', 'status'] as const;

const TEAM_OPTIONS = { ...CHANGE_OPTIONS, stream: { type: 'string' }, bucket: { type: 'string' } } as const;

export async function teamCommand(sub: string | undefined, argv: string[]): Promise<number> {
  switch (sub) {
    case 'create':
      return create(argv);
    case 'join':
      return join(argv);
    case 'leave':
      return leave(argv);
    case 'status':
      return status(argv);
    case undefined:
      throw new CliError(`team: a subcommand is required: ${TEAM_COMMANDS.join(', ')}`);
    default:
      throw unknownSubcommand('team', sub, TEAM_COMMANDS);
  }
}

// ----- create ------------------------------------------------------------------------

async function create(argv: string[]): Promise<number> {
  const { values, positionals, problems } = parseCommand('team create', argv, {
    ...TEAM_OPTIONS,
    'key-out': { type: 'string' },
    'key-file': { type: 'string' },
  });
  expectOperands(problems, positionals, []);
  const stream = streamOf(problems, values.stream);
  const bucket = bucketOf(problems, values.bucket);
  let keyOut: string | undefined;
  let given: { key: TeamKey; path: string } | undefined;
  if (values['key-out'] !== undefined && values['key-file'] !== undefined)
    problems.add('--key-out and --key-file: give one (--key-out PATH makes a new team key; --key-file PATH finishes a create cut short, with the key it wrote)');
  else if (values['key-out'] !== undefined) keyOut = problems.check(() => newKeyPath(values['key-out'] as string));
  else if (values['key-file'] !== undefined) given = keyFileOf(problems, values['key-file']);
  else if (!problems.mentions('--key-out') && !problems.mentions('--key-file')) problems.add('--key-out is required: the new file to write the team key to');
  problems.check(() => checkNatsUrl(values.nats));
  const db = database(values.db, 'existing', problems);
  problems.done();

  const finish = command('team create', ['--stream', stream, '--bucket', bucket], values.db, values.nats);
  const result = await withApi({ db, nats: values.nats, reload: true, command: 'team create' }, async (api, engine) => {
    const settings = engine.effectiveSettings();
    refuseOtherTeam(settings, bucket);
    const storedUrl = unwrap(await api['settings.get']()).natsUrl;
    const bus = await connectOnce(settings);
    try {
      const { jsm } = await jetStream(bus);
      await checkStream(jsm, stream, bus.url);
      if (keyOut !== undefined) await refuseExistingBucket(bus, bucket);
      // From here on, what was done is said if a later step fails.
      const done: string[] = [];
      let key: TeamKey;
      let keyFile: string;
      if (given) ({ key, path: keyFile } = given);
      else {
        keyFile = keyOut as string;
        key = createKeyFile(keyFile);
        done.push(`the team key file ${keyFile} was written (keep it: the team may be sealed with it already)`);
      }
      const next = `${finish} --key-file ${shellWord(keyFile)}`;
      try {
        const config = await TeamConfig.create(bus.nc, { name: bucket, stream, key }).catch((error: unknown) => {
          throw teamError(error, { keyLabel: '--key-file', stream });
        });
        done.push(`the team's buckets ${configBucketName(bucket)} and ${bucket}-members exist, with its record`);
        const consumer = await ensureSharedConsumer(bus.nc, { team: bucket, stream });
        done.push(`the shared durable ${consumer.name} exists on stream ${stream}`);
        const moved = await moveIntoTeam(config, engine.offlineStore(), settings);
        if (moved.subscriptions.length + moved.settings.length > 0) done.push(`this database's configuration was copied into the team`);
        await becomeMember(api, bucket, keyFile, stream);
        return {
          team: bucket,
          bus: bus.url,
          storedUrl,
          stream,
          consumer: consumer.name,
          waiting: consumer.num_pending,
          keyFile,
          keyId: key.id,
          subscriptions: moved.subscriptions,
          settings: moved.settings,
        };
      } catch (error) {
        throw cutShort(error, done, next);
      }
    } finally {
      await bus.close();
    }
  });

  const { storedUrl, ...document } = result;
  noteStoredUrl(storedUrl, result.bus);
  if (values.json) {
    printJson(document);
    return EXIT_OK;
  }
  out(`team ${result.team} created on ${result.bus}`);
  out(`  stream    ${result.stream} (the operator's), through the shared durable ${result.consumer}: ${count(result.waiting, 'message')} waiting`);
  out(`  key file  ${result.keyFile} (key id ${result.keyId}, mode 0600)`);
  out(`moved ${count(result.subscriptions.length, 'subscription')}${names(result.subscriptions)} and ${count(result.settings.length, 'setting')}${names(result.settings)} into the team`);
  out(`this Sluice is a member: teamBucket = ${result.team}, teamKeyFile = ${result.keyFile}`);
  out('next: give the key file to each member over a safe channel (it opens every secret of the team); on each:');
  out(`  sluice settings set natsUrl ${shellWord(result.bus)}   (if its bus URL is another)`);
  out(`  sluice team join --stream ${shellWord(result.stream)} --bucket ${shellWord(result.team)} --key-file PATH`);
  out('then sluice run (or the app) on each; sluice team status shows the members');
  return EXIT_OK;
}

/** `--key-out`: a new file, in a folder that exists (refused before anything is touched). */
function newKeyPath(raw: string): string {
  if (raw.trim() === '') throw new CliError('--key-out: a path is required');
  const path = resolve(raw.trim());
  if (exists(path))
    throw new CliError(
      `--key-out: ${path} exists already; a team key file is never overwritten (give a new path; to finish a create cut short with this key: --key-file ${shellWord(path)})`,
    );
  const folder = dirname(path);
  if (!isDirectory(folder)) throw new CliError(`--key-out: there is no folder ${folder} (it is not created)`);
  return path;
}

function createKeyFile(path: string): TeamKey {
  try {
    return createTeamKeyFile(path);
  } catch (error) {
    if (error instanceof TeamKeyError) throw new CliError(`--key-out: ${error.message}`, EXIT_FAILURE, { cause: error });
    throw error;
  }
}

/** Refuses a bucket there already: another team's, to be joined rather than created over. */
async function refuseExistingBucket(bus: BusConnection, bucket: string): Promise<void> {
  const existing = await KvBucket.bind(bus.nc, configBucketName(bucket));
  if (!existing) return;
  const entry = await existing.get(META_KEY).catch(() => null);
  let what = `a bucket "${bucket}" exists already on the bus at ${bus.url} (not a team's: choose another --bucket)`;
  if (entry?.operation === 'PUT') {
    try {
      const meta = parseMeta(entry.value);
      what =
        `team "${bucket}" exists already on the bus at ${bus.url} (stream ${meta.stream}, created ${meta.createdAt}): ` +
        `to be a member, sluice team join --stream ${shellWord(meta.stream)} --bucket ${shellWord(bucket)} --key-file <a copy of its key file>; ` +
        `to finish a create cut short: --key-file <the key file it wrote> instead of --key-out`;
    } catch {
      // Not a team's meta record: said as a bucket that is not a team's.
    }
  }
  throw new CliError(`--bucket: ${what}`, EXIT_USAGE);
}

/** A failure once something was done: what was, that the rest was not, and the command that finishes. */
function cutShort(error: unknown, done: string[], next: string): unknown {
  if (done.length === 0) return error;
  const reason = error instanceof Error ? error.message : String(error);
  const exitCode = error instanceof CliError ? error.exitCode : EXIT_FAILURE;
  return new CliError(
    [`team create was cut short: ${reason}`, 'done:', ...done.map((d) => `  ${d}`), 'this Sluice is not a member yet; to finish (each step again, with this key):', `  ${next}`].join('\n'),
    exitCode,
    { cause: error },
  );
}

// ----- join --------------------------------------------------------------------------

async function join(argv: string[]): Promise<number> {
  const { values, positionals, problems } = parseCommand('team join', argv, {
    ...TEAM_OPTIONS,
    'key-file': { type: 'string' },
    'merge-local': { type: 'boolean' },
  });
  expectOperands(problems, positionals, []);
  const stream = streamOf(problems, values.stream);
  const bucket = bucketOf(problems, values.bucket);
  problems.require('--key-file', values['key-file']);
  const given = values['key-file'] !== undefined ? keyFileOf(problems, values['key-file']) : undefined;
  problems.check(() => checkNatsUrl(values.nats));
  const db = database(values.db, 'existing', problems);
  problems.done();
  const { key, path: keyFile } = given as { key: TeamKey; path: string };

  const result = await withApi({ db, nats: values.nats, reload: true, command: 'team join' }, async (api, engine) => {
    const settings = engine.effectiveSettings();
    refuseOtherTeam(settings, bucket);
    const storedUrl = unwrap(await api['settings.get']()).natsUrl;
    const bus = await connectOnce(settings);
    try {
      const config = await openTeam(bus.nc, bucket, key, { keyLabel: '--key-file', url: bus.url });
      if (config.meta.stream !== stream)
        throw new CliError(`--stream: team "${bucket}" consumes stream "${config.meta.stream}", not "${stream}"`, EXIT_USAGE);
      const snapshot = await config.read();
      const inTeam = new Set(snapshot.subscriptions.map((s) => s.id));
      const localOnly = listSubscriptions(engine.offlineStore()).filter((s) => !inTeam.has(s.id));
      if (localOnly.length > 0 && !values['merge-local'])
        throw new CliError(
          `this database has ${count(localOnly.length, 'subscription')} the team does not: ${localOnly.map((s) => s.name).join(', ')}. ` +
            "A member delivers the team's subscriptions: --merge-local adds these to the team (for every member), " +
            'or remove them first (sluice subs rm); nothing was changed',
          EXIT_USAGE,
        );
      const consumer = await ensureSharedConsumer(bus.nc, { team: bucket, stream }).catch((error: unknown) => {
        throw teamError(error, { keyLabel: '--key-file', stream });
      });
      const merged: string[] = [];
      try {
        for (const sub of localOnly) {
          await config.putSubscription(teamSubscriptionOf(sub));
          merged.push(sub.name);
        }
        await becomeMember(api, bucket, keyFile, stream);
      } catch (error) {
        if (merged.length === 0) throw error;
        const reason = error instanceof Error ? error.message : String(error);
        throw new CliError(
          `team join was cut short: ${reason}\n${count(merged.length, 'subscription')} of this database were added to the team (${merged.join(', ')}); ` +
            'this Sluice is not a member yet: run the same command again to finish',
          error instanceof CliError ? error.exitCode : EXIT_FAILURE,
          { cause: error },
        );
      }
      return {
        team: bucket,
        bus: bus.url,
        storedUrl,
        stream,
        consumer: consumer.name,
        keyFile,
        keyId: key.id,
        teamSubscriptions: [...snapshot.subscriptions.map((s) => s.name), ...merged].sort((a, b) => a.localeCompare(b)),
        merged,
      };
    } finally {
      await bus.close();
    }
  });

  const { storedUrl, ...document } = result;
  noteStoredUrl(storedUrl, result.bus);
  if (values.json) {
    printJson(document);
    return EXIT_OK;
  }
  out(`joined team ${result.team} on ${result.bus}`);
  out(`  stream    ${result.stream}, through the shared durable ${result.consumer}`);
  out(`  key file  ${result.keyFile} (key id ${result.keyId})`);
  if (result.merged.length > 0) out(`added ${count(result.merged.length, 'subscription')} of this database to the team${names(result.merged)} (--merge-local)`);
  out(`the team has ${count(result.teamSubscriptions.length, 'subscription')}${names(result.teamSubscriptions)}`);
  out(`this Sluice is a member: teamBucket = ${result.team}, teamKeyFile = ${result.keyFile}`);
  out("its engine takes the team's configuration from the bucket: a running one at the reload signal, else at its next start (sluice run, or the app)");
  return EXIT_OK;
}

// ----- leave -------------------------------------------------------------------------

async function leave(argv: string[]): Promise<number> {
  const { values, positionals, problems } = parseCommand('team leave', argv, CHANGE_OPTIONS);
  expectOperands(problems, positionals, []);
  problems.check(() => checkNatsUrl(values.nats));
  const db = database(values.db, 'existing', problems);
  problems.done();

  const result = await withApi({ db, nats: values.nats, reload: true, command: 'team leave' }, async (api, engine) => {
    const settings = engine.effectiveSettings();
    const team = memberOf(settings);
    const store = engine.offlineStore();
    const installId = ensureInstallId(store);
    const kept = listSubscriptions(store).length;
    // Back to core NATS: through a durable of its own it would go on taking the team's events alone.
    unwrap(await api['settings.update']({ teamBucket: '', teamKeyFile: '', jetstreamStream: '' }));
    // The heartbeat goes once this Sluice is alone: a member silent for 30 s shows stale anyway.
    const heartbeat = await removeHeartbeat(settings, team.bucket, team.keyFile, installId);
    return { team: team.bucket, keyFile: team.keyFile, subscriptionsKept: kept, heartbeatRemoved: heartbeat.removed, heartbeatNote: heartbeat.note };
  });

  if (values.json) {
    printJson(result);
    return EXIT_OK;
  }
  out(`left team ${result.team}: this Sluice works alone again, on its own settings, listening on core NATS (set jetstreamStream to consume a stream alone)`);
  out(`its copy of the team's subscriptions stays here (${count(result.subscriptionsKept, 'subscription')}); the team keeps its own`);
  if (result.heartbeatRemoved) out(`its heartbeat was removed from ${result.team}-members`);
  else err(`note: its heartbeat was not removed (${result.heartbeatNote}); the members see it stale after 30 s, and it is forgotten after a day`);
  out(`the key file ${result.keyFile} stays; delete it if this machine should no longer hold the team's key`);
  return EXIT_OK;
}

async function removeHeartbeat(settings: Settings, bucket: string, keyFile: string, installId: string): Promise<{ removed: boolean; note: string | null }> {
  try {
    const key = readTeamKeyFile(keyFile);
    const bus = await connectOnce(settings);
    try {
      const config = await openTeam(bus.nc, bucket, key, { keyLabel: `teamKeyFile ${keyFile}`, url: bus.url });
      await (await TeamMembers.open(bus.nc, config.meta.name, key)).leave(installId);
    } finally {
      await bus.close();
    }
    return { removed: true, note: null };
  } catch (error) {
    return { removed: false, note: error instanceof Error ? error.message : String(error) };
  }
}

// ----- status ------------------------------------------------------------------------

async function status(argv: string[]): Promise<number> {
  const { values, positionals, problems } = parseCommand('team status', argv, CHANGE_OPTIONS);
  expectOperands(problems, positionals, []);
  problems.check(() => checkNatsUrl(values.nats));
  const db = database(values.db, 'existing', problems);
  problems.done();

  const view = await withApi({ db, nats: values.nats }, async (_api, engine) => {
    const settings = engine.effectiveSettings();
    const team = memberOf(settings);
    const key = keyOfSettings(team.keyFile);
    const installId = ensureInstallId(engine.offlineStore());
    const bus = await connectOnce(settings);
    try {
      const config = await openTeam(bus.nc, team.bucket, key, { keyLabel: `teamKeyFile ${team.keyFile}`, url: bus.url, exitCode: EXIT_FAILURE });
      return await readTeamStatus(bus, config, key, installId);
    } finally {
      await bus.close();
    }
  });
  if (values.json) printJson(view);
  else printTeamStatus(view);
  return EXIT_OK;
}
