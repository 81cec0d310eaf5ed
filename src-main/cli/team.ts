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
import { JoinCutShort, createTeam, joinTeam, leaveTeam, newKeyPath } from '../engine/team-membership';
import { ensureInstallId } from '../store/settings';
import type { TeamKey } from '../team/team-key';
import { CHANGE_OPTIONS, CliError, EXIT_FAILURE, EXIT_OK, expectOperands, parseCommand, unknownSubcommand } from './args';
import { err, out, printJson, unwrap } from './output';
import { checkNatsUrl, connectOnce, database, withApi } from './session';
import {
  bucketOf,
  cliErrorOf,
  command,
  count,
  keyFileOf,
  keyOfSettings,
  memberOf,
  membershipContext,
  names,
  noteStoredUrl,
  openTeam,
  refuseOtherTeam,
  shellWord,
  streamOf,
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
  else if (values['key-out'] !== undefined) keyOut = problems.check(() => asCliError(() => newKeyPath(values['key-out'] as string)));
  else if (values['key-file'] !== undefined) given = keyFileOf(problems, values['key-file']);
  else if (!problems.mentions('--key-out') && !problems.mentions('--key-file')) problems.add('--key-out is required: the new file to write the team key to');
  problems.check(() => checkNatsUrl(values.nats));
  const db = database(values.db, 'existing', problems);
  problems.done();

  const finish = command('team create', ['--stream', stream, '--bucket', bucket], values.db, values.nats);
  const result = await withApi({ db, nats: values.nats, reload: true, command: 'team create' }, async (api, engine) => {
    const context = membershipContext(api, engine);
    refuseOtherTeam(context.settings, bucket);
    const storedUrl = unwrap(await api['settings.get']()).natsUrl;
    const bus = await connectOnce(context.settings);
    // What was done is said if a later step fails, with the command that finishes.
    const done: string[] = [];
    try {
      const created = await createTeam(context, bus, { stream, bucket, ...(keyOut !== undefined ? { keyOut } : {}), ...(given ? { keyFile: given } : {}) }, (step) =>
        done.push(step),
      );
      return { ...created, storedUrl };
    } catch (error) {
      const keyFile = given?.path ?? keyOut;
      throw cutShort(cliErrorOf(error), done, `${finish} --key-file ${shellWord(keyFile ?? '')}`);
    } finally {
      await bus.close();
    }
  });

  const { storedUrl, ...created } = result;
  const document = {
    team: created.team,
    bus: created.bus,
    stream: created.stream,
    consumer: created.consumer,
    waiting: created.waiting,
    keyFile: created.keyFile,
    keyId: created.keyId,
    subscriptions: created.subscriptions,
    settings: created.settings,
  };
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

/** A membership check run where a CliError is expected (problems.check). */
function asCliError<T>(check: () => T): T {
  try {
    return check();
  } catch (error) {
    throw cliErrorOf(error);
  }
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
  const keyFile = given as { key: TeamKey; path: string };

  const result = await withApi({ db, nats: values.nats, reload: true, command: 'team join' }, async (api, engine) => {
    const context = membershipContext(api, engine);
    refuseOtherTeam(context.settings, bucket);
    const storedUrl = unwrap(await api['settings.get']()).natsUrl;
    const bus = await connectOnce(context.settings);
    try {
      return { ...(await joinTeam(context, bus, { stream, bucket, keyFile, mergeLocal: values['merge-local'] === true })), storedUrl };
    } catch (error) {
      if (!(error instanceof JoinCutShort)) throw cliErrorOf(error);
      const reason = cliErrorOf(error.reason);
      throw new CliError(
        `team join was cut short: ${error.message}\n${count(error.merged.length, 'subscription')} of this database were added to the team (${error.merged.join(', ')}); ` +
          'this Sluice is not a member yet: run the same command again to finish',
        reason instanceof CliError ? reason.exitCode : EXIT_FAILURE,
        { cause: error },
      );
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
    const context = membershipContext(api, engine);
    memberOf(context.settings);
    const installId = ensureInstallId(context.store);
    return leaveTeam(context, installId, () => connectOnce(context.settings));
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
