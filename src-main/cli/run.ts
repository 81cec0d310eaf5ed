/**
 * `sluice run`: the engine online without a UI. stdout carries JSON lines only, each
 * with an ISO `time` and a `kind`: start, delivery (every outcome but pending), bus
 * (each state change), breaker (trips), announcement (a trip or re-enable said on the
 * bus, or not: `sent`), reload, error, stop. Human hints go to stderr. `--metrics
 * HOST:PORT` serves Prometheus metrics on a loopback address while it runs.
 * SIGINT/SIGTERM stop it cleanly (in-flight deliveries finish or are recorded), exit 0.
 */
import { Engine, type EngineRecord } from '../engine/engine';
import { ClaimError, takeoverNote } from '../store/claim';
import { VERSION } from '../version';
import type { MetricsServer } from '../engine/metrics-server';
import { TeamKeyError } from '../team/team-key';
import { CliError, EXIT_FAILURE, EXIT_OK, EXIT_USAGE, GLOBAL_OPTIONS, expectOperands, parseCommand } from './args';
import { err, printJsonLine } from './output';
import { cliKeySource, ensureCliKey, sayIfKeyMade } from './secrets';
import { checkNatsUrl, cliActor, database, sayIfCreated } from './session';
import { SecretKeyError, SecretKeySourceError } from '../store/secret-cipher';
import { listenForMetrics, parseMetricsAddress } from './usage';

const OPTIONS = {
  ...GLOBAL_OPTIONS,
  nats: { type: 'string' },
  'allow-private': { type: 'boolean' },
  metrics: { type: 'string' },
} as const;

type LogLine = { kind: string } & Record<string, unknown>;

function log(line: LogLine, time = new Date()): void {
  printJsonLine({ time: time.toISOString(), ...line });
}

/** The JSON line for an engine record, or null for what is not logged. */
export function recordLine(record: EngineRecord): LogLine | null {
  switch (record.kind) {
    case 'delivery':
      if (record.delivery.outcome === 'pending') return null;
      return { kind: 'delivery', final: record.final, ...record.delivery };
    case 'bus':
      return { kind: 'bus', ...record.status };
    case 'breaker':
      if (!record.tripped) return null;
      return {
        kind: 'breaker',
        event: 'tripped',
        subscriptionId: record.subscriptionId,
        name: record.name,
        consecutiveFailures: record.consecutiveFailures,
        error: record.error,
      };
    case 'reload':
      return { kind: 'reload', reason: record.reason, patterns: record.patterns, subscriptions: record.subscriptions };
    case 'announcement':
      return { kind: 'announcement', subject: record.subject, sent: record.sent, subscriptionId: record.subscriptionId, name: record.name };
    case 'error':
      return { kind: 'error', message: record.message };
    case 'recovered':
      return { kind: 'recovered', deliveries: record.deliveries };
    case 'jetstream':
      return { kind: 'jetstream', ...record.status };
    case 'retention':
      return { kind: 'retention', deleted: record.deleted, eventsDeleted: record.eventsDeleted, auditDeleted: record.auditDeleted };
  }
}

export async function runCommand(argv: string[]): Promise<number> {
  const { values, positionals, problems } = parseCommand('run', argv, OPTIONS);
  expectOperands(problems, positionals, []);
  problems.check(() => checkNatsUrl(values.nats));
  const metricsAddress = values.metrics === undefined ? undefined : problems.check(() => parseMetricsAddress(values.metrics as string));
  const file = database(values.db, 'create', problems);
  problems.done();
  const db = file.path;

  let requestStop: () => void = () => undefined;
  const stopRequested = new Promise<string>((resolve) => {
    let signalled = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (signalled) {
        err(`sluice: ${signal} again; exiting without waiting for in-flight deliveries`);
        process.exit(EXIT_FAILURE);
      }
      signalled = true;
      err(`sluice: ${signal}: stopping (in-flight deliveries finish or are recorded)…`);
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    requestStop = () => resolve('stdout closed');
  });
  // Nobody reading the log any more (a closed pipe): stop as for a signal.
  process.stdout.on('error', () => requestStop());
  const fatal = (error: unknown): void => {
    log({ kind: 'error', message: `fatal: ${error instanceof Error ? error.message : String(error)}` });
    err(error instanceof Error ? (error.stack ?? error.message) : String(error));
    process.exit(EXIT_FAILURE);
  };
  process.on('uncaughtException', fatal);
  process.on('unhandledRejection', fatal);

  const ackWait = ackWaitFromEnvironment();
  const keys = await cliKeySource();
  // Listening first: a taken port refuses the run before the engine touches anything.
  const metrics: MetricsServer | undefined = metricsAddress ? await listenForMetrics(metricsAddress) : undefined;
  let engine: Engine;
  try {
    engine = await Engine.start({
      dbPath: db,
      command: 'sluice run',
      actor: cliActor('sluice run'),
      cipher: keys.cipher,
      ...(values.nats !== undefined ? { natsUrl: values.nats } : {}),
      ...(values['allow-private'] ? { allowPrivate: true } : {}),
      ...(metrics ? { metrics } : {}),
      ...ackWait,
    });
  } catch (error) {
    await metrics?.close();
    // Wrong or missing key, or another engine on this database: refuse, say why on
    // the log too, touch nothing.
    if (error instanceof SecretKeyError || error instanceof SecretKeySourceError || error instanceof ClaimError)
      log({ kind: 'error', message: error.message });
    if (error instanceof ClaimError) throw new CliError(claimRefusal(error), EXIT_USAGE);
    // The default key could not be made (for the upgrade of plain-text secrets).
    if (error instanceof SecretKeySourceError) throw new CliError(error.message);
    // The team's key file (teamKeyFile) is missing, unsafe or not a team key.
    if (error instanceof TeamKeyError) {
      log({ kind: 'error', message: error.message });
      throw new CliError(`${error.message} (the teamKeyFile setting; sluice team leave works alone again)`, EXIT_USAGE);
    }
    throw error;
  }
  try {
    // The database opens with this key (checked by start): now the default key may be made.
    ensureCliKey(keys);
  } catch (error) {
    log({ kind: 'error', message: (error as Error).message });
    await engine.stop();
    throw error;
  }
  engine.onRecord((record) => {
    const time = new Date();
    const line = recordLine(record);
    if (!line) return;
    if (record.kind === 'reload') {
      // Logged once the bus holds the new subscriptions: an event published after
      // this line reaches them.
      void engine.busReady().then(() => log(line, time));
    } else {
      log(line, time);
    }
  });
  const settings = engine.effectiveSettings();
  const status = engine.status();
  log({
    kind: 'start',
    version: VERSION,
    db,
    natsUrl: settings.natsUrl,
    allowPrivate: settings.allowPrivate,
    ...(status.jetstream ? { jetstreamStream: status.jetstream.stream, jetstreamDurable: status.jetstream.durable } : {}),
    subscriptions: status.counts.configured,
    enabled: status.counts.enabled,
    secretStorage: status.secretStorage,
    secretKeySource: keys.source,
    ...(engine.secretsUpgraded > 0 ? { secretsUpgraded: engine.secretsUpgraded } : {}),
    ...(metrics ? { metrics: metrics.url } : {}),
  });
  sayIfKeyMade(keys);
  sayIfCreated(file);
  if (engine.tookOverFrom) err(`sluice: ${takeoverNote(engine.tookOverFrom)}`);
  if (engine.secretsUpgraded > 0) err(`sluice: encrypted ${engine.secretsUpgraded} plain-text secret(s) with ${keys.source}`);
  if (engine.secretsScrubError)
    log({ kind: 'error', message: `secrets encrypted, but their old plain-text bytes may remain in the database file: ${engine.secretsScrubError}` });
  if (metrics) err(`sluice: Prometheus metrics at ${metrics.url} (this machine only)`);
  err(`sluice ${VERSION}: delivering from ${settings.natsUrl} (database ${db}); JSON lines on stdout; Ctrl-C to stop`);

  const reason = await stopRequested;
  await engine.stop();
  log({ kind: 'stop', reason });
  return EXIT_OK;
}

/** Why this run refuses, and what to do instead. */
function claimRefusal(error: ClaimError): string {
  return `${error.message}. One engine per database: stop that one first, or run this one on another --db; one-shot commands (sluice subs, deliveries, settings) work beside it`;
}

/**
 * `$SLUICE_ACK_WAIT_MS`: JetStream's ack wait for this run (a team's members must agree on
 * it; docs/design.md#teams). Unset: the default. A value that is not a whole number of
 * ms from 1,000 up is refused at start rather than silently ignored.
 */
function ackWaitFromEnvironment(): { jetstreamAckWaitMs?: number } {
  const raw = process.env['SLUICE_ACK_WAIT_MS'];
  if (raw === undefined || raw.trim() === '') return {};
  const ms = Number(raw);
  if (!Number.isInteger(ms) || ms < 1_000 || ms > 3_600_000) throw new CliError(`$SLUICE_ACK_WAIT_MS: "${raw}" is not a whole number of milliseconds from 1000 to 3600000`, EXIT_USAGE);
  return { jetstreamAckWaitMs: ms };
}

