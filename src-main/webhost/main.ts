/**
 * `npm run serve` (`node out/main/serve.js`): the engine plus the local web host, so the
 * console runs in a browser where Electron cannot. stdout carries exactly one line, the
 * URL to open (tests parse it); hints and the engine's records go to stderr.
 * SIGINT/SIGTERM stop it cleanly, exit 0. Exit 2: bad input, the port (or the
 * `--metrics` port) is taken, or another engine holds the database.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CliError, EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from '../cli/args';
import { err } from '../cli/output';
import { exitOnStrayErrors, exitWhenFlushed, listenForMetrics, parseEntryOptions, parseMetricsAddress, parsePort, reportFailure } from '../cli/usage';
import { BridgeFailure } from '../contract/bridge';
import { Engine, type EngineRecord } from '../engine/engine';
import type { ListenAddress, MetricsServer } from '../engine/metrics-server';
import { validateSettingsPatch } from '../engine/settings';
import { ClaimError, takeoverNote } from '../store/claim';
import { locateDatabase } from '../store/database-file';
import { resolveKeySource, type KeySource } from '../store/key-source';
import { SecretKeyError, SecretKeySourceError } from '../store/secret-cipher';
import { VERSION } from '../version';
import { CONSOLE_TOKEN_SUFFIX, ConsoleTokenError, consoleTokenPath, keepConsoleToken, type KeptToken } from './console-token';
import { DEFAULT_PORT, startWebHost, type WebHost } from './server';

const USAGE = `Usage: npm run serve -- [options]   (or: node out/main/serve.js [options])

Runs the engine and serves the Sluice console to a browser on 127.0.0.1 only.
Open the URL it prints: it carries a token, and the console refuses
connections without it. The token is new at every start, so a restart changes
the URL (open tabs say so); --keep-token keeps one URL across restarts.

Options:
  --port N          port to listen on (default ${DEFAULT_PORT}; 0 picks a free port)
  --db FILE         the database (default: $SLUICE_DB, else ./sluice.db); made
                    when it does not exist (said on stderr), in a folder that
                    must exist
  --keep-token      keep the console's token in FILE${CONSOLE_TOKEN_SUFFIX} beside the
                    database (made at the first start, readable by you only: mode
                    0600; refused if every user can read it) and reuse it, so the
                    URL and open tabs stay valid across restarts on the same port
  --nats URL        bus URL(s) for this run, overriding the stored setting
  --allow-private   allow private/loopback webhook destinations for this run
  --metrics HOST:PORT
                    serve Prometheus metrics at http://HOST:PORT/metrics while it
                    runs, on a loopback address only (127.0.0.1, [::1], localhost;
                    no authentication); e.g. --metrics 127.0.0.1:9464
  --secret-key-file PATH
                    the key that encrypts subscription secrets in the database (32
                    random bytes or their base64/hex; \`sluice keygen --out PATH\`);
                    else $SLUICE_SECRET_KEY; else the default key, made at the first
                    run: in the OS key store when one is reachable, else in the
                    file secret.key in the config folder ($SLUICE_CONFIG_DIR, else
                    ~/.config/sluice and the like), never beside the database
  -h, --help        this help
`;

const OPTIONS = {
  port: { type: 'string' },
  db: { type: 'string' },
  'keep-token': { type: 'boolean' },
  nats: { type: 'string' },
  'allow-private': { type: 'boolean' },
  'secret-key-file': { type: 'string' },
  metrics: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

interface ServeOptions {
  port: number;
  db: string;
  /** The database does not exist yet: this run creates it. */
  dbIsNew: boolean;
  nats?: string;
  allowPrivate: boolean;
  keyFile?: string;
  keepToken: boolean;
  metrics?: ListenAddress;
}

function parseCommandLine(argv: string[]): ServeOptions | 'help' {
  const values = parseEntryOptions(argv, OPTIONS);
  if (values.help) return 'help';
  const port = values.port === undefined ? DEFAULT_PORT : parsePort(values.port);
  const metrics = values.metrics === undefined ? undefined : parseMetricsAddress(values.metrics);
  if (values.nats !== undefined) {
    try {
      validateSettingsPatch({ natsUrl: values.nats });
    } catch (error) {
      if (error instanceof BridgeFailure) throw new CliError(`--nats: ${error.message}`, EXIT_USAGE, { cause: error });
      throw error;
    }
  }
  const db = values.db ?? process.env['SLUICE_DB'] ?? './sluice.db';
  if (db.trim() === '') throw new CliError('--db: the database path must not be empty');
  // A new database is made (and said), but never a missing folder: a typo in --db.
  const where = locateDatabase(db);
  if (where.problem) throw new CliError(`--db: ${where.problem}`);
  return {
    port,
    db,
    dbIsNew: !where.exists,
    ...(values.nats !== undefined ? { nats: values.nats } : {}),
    allowPrivate: values['allow-private'] === true,
    ...(values['secret-key-file'] !== undefined ? { keyFile: values['secret-key-file'] } : {}),
    keepToken: values['keep-token'] === true,
    ...(metrics ? { metrics } : {}),
  };
}

/** One compact stderr line per engine record worth reading; null for the rest. */
function recordLine(record: EngineRecord): string | null {
  const time = new Date().toISOString().slice(11, 23);
  switch (record.kind) {
    case 'delivery': {
      const d = record.delivery;
      if (d.outcome === 'pending') return null;
      const parts = [
        `delivery #${d.id}`,
        d.outcome,
        d.subscriptionName ?? '-',
        d.topic,
        d.statusCode === null ? null : `HTTP ${d.statusCode}`,
        d.attempts > 0 ? `attempt ${d.attempts}` : null,
        d.latencyMs === null ? null : `${d.latencyMs} ms`,
        d.error,
      ];
      return `${time} ${parts.filter((p) => p !== null).join(' · ')}`;
    }
    case 'bus': {
      const s = record.status;
      const detail = s.state === 'connected' ? (s.server ?? s.url) : s.state === 'reconnecting' ? `attempt ${s.attempt}` : s.url;
      return `${time} bus ${s.state} (${detail})${s.lastError && s.state !== 'connected' ? `: ${s.lastError}` : ''}`;
    }
    case 'breaker':
      return `${time} breaker ${record.name}: ${record.tripped ? 'TRIPPED' : 'failure'} after ${record.consecutiveFailures} consecutive failure(s): ${record.error}`;
    case 'reload':
      return `${time} reload (${record.reason}): ${record.subscriptions} subscription(s), ${record.patterns} pattern(s)`;
    case 'announcement':
      return `${time} ${record.sent ? 'announced' : 'could not announce (bus not connected)'} ${record.subject} for ${record.name}`;
    case 'error':
      return `${time} error: ${record.message}`;
    case 'recovered':
      return `${time} recovered ${record.deliveries} unfinished deliveries from the previous run`;
    case 'jetstream':
      return `${time} jetstream ${record.status.stream}: ${record.status.state}${record.status.lastError ? ` (${record.status.lastError})` : ''}`;
    case 'retention':
      return `${time} retention pruned ${record.deleted} finished deliveries, ${record.eventsDeleted} events and ${record.auditDeleted} audit records`;
  }
}

async function main(argv: string[]): Promise<number> {
  const options = parseCommandLine(argv);
  if (options === 'help') {
    process.stdout.write(USAGE);
    return EXIT_OK;
  }
  const rendererDir = join(__dirname, '../renderer');
  if (!existsSync(join(rendererDir, 'index.html'))) {
    err(`sluice serve: the console is not built (${join(rendererDir, 'index.html')} is missing); run \`npm run build\` first`);
    return EXIT_FAILURE;
  }

  let keys: KeySource;
  try {
    keys = await resolveKeySource(options.keyFile);
  } catch (error) {
    if (error instanceof SecretKeySourceError) throw new CliError(error.message, EXIT_USAGE, { cause: error });
    throw error;
  }
  for (const warning of keys.warnings) err(`warning: ${warning}`);
  const kept: KeptToken | null = options.keepToken ? keepConsoleToken(consoleTokenPath(options.db)) : null;
  for (const warning of kept?.warnings ?? []) err(`warning: ${warning}`);
  // Listening first: a taken port refuses the start before the engine touches anything.
  const metrics: MetricsServer | undefined = options.metrics ? await listenForMetrics(options.metrics) : undefined;
  let engine: Engine;
  try {
    engine = await Engine.start({
      dbPath: options.db,
      command: 'sluice serve',
      cipher: keys.cipher,
      ...(options.nats !== undefined ? { natsUrl: options.nats } : {}),
      ...(options.allowPrivate ? { allowPrivate: true } : {}),
      ...(metrics ? { metrics } : {}),
    });
  } catch (error) {
    await metrics?.close();
    throw error;
  }
  try {
    // The database opens with this key (checked by start): now the default key may be made.
    keys.ensureKey();
  } catch (error) {
    await engine.stop();
    throw error instanceof SecretKeySourceError ? new CliError(error.message, EXIT_USAGE, { cause: error }) : error;
  }
  engine.onRecord((record) => {
    const line = recordLine(record);
    if (line) err(line);
  });

  let host: WebHost;
  try {
    host = await startWebHost({ engine, port: options.port, rendererDir, ...(kept ? { token: kept.token } : {}) });
  } catch (error) {
    await engine.stop();
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      err(`sluice serve: port ${options.port} on 127.0.0.1 is already in use (another \`npm run serve\`?); choose another with --port N, or --port 0 for any free port`);
      return EXIT_USAGE;
    }
    throw error;
  }

  const stopRequested = new Promise<NodeJS.Signals>((resolve) => {
    let signalled = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (signalled) {
        err(`sluice serve: ${signal} again; exiting without waiting for in-flight deliveries`);
        process.exit(EXIT_FAILURE);
      }
      signalled = true;
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });

  const settings = engine.effectiveSettings();
  process.stdout.write(`Sluice console: ${host.url}\n`);
  err(`sluice ${VERSION}: engine delivering from ${settings.natsUrl} (database ${options.db})`);
  if (options.dbIsNew) err(`sluice serve: created a new database at ${locateDatabase(options.db).absolute}`);
  if (metrics) err(`sluice serve: Prometheus metrics at ${metrics.url} (this machine only)`);
  if (engine.tookOverFrom) err(`sluice serve: ${takeoverNote(engine.tookOverFrom)}`);
  err(`sluice serve: subscription secrets are encrypted with ${keys.source}`);
  const made = keys.madeKey();
  if (made !== null)
    err(`sluice serve: made a new key for subscription secrets: ${made}; keep a copy somewhere safe: without it the stored subscription secrets cannot be read back`);
  if (engine.secretsUpgraded > 0) err(`sluice serve: encrypted ${engine.secretsUpgraded} plain-text secret(s) with ${keys.source}`);
  for (const [key, override] of Object.entries(engine.runOverrides()))
    err(`sluice serve: ${key} overridden for this run by ${override.by}: ${String(override.value)} (the stored setting applies without it)`);
  if (kept) {
    err(`Open the URL above in a browser on this machine; it holds the console's access token, so keep it to yourself.`);
    err(
      `The token is kept in ${kept.path} (${kept.created ? 'made now, ' : ''}readable by you only): the URL stays the same across restarts` +
        (options.port === 0 ? ', except its port: --port 0 picks a new one each time; give --port N' : ` on port ${host.port}`) +
        '. Delete the file to change it.',
    );
  } else {
    err('Open the URL above in a browser on this machine; it holds this run\'s access token, so keep it to yourself.');
    err('The token changes at every start (open tabs then say so); --keep-token keeps one URL across restarts.');
  }
  err('Ctrl-C to stop.');

  const signal = await stopRequested;
  err(`sluice serve: ${signal}: stopping (in-flight deliveries finish or are recorded)…`);
  await host.close();
  await engine.stop();
  return EXIT_OK;
}

exitOnStrayErrors('sluice serve');

main(process.argv.slice(2)).then(exitWhenFlushed, (error: unknown) =>
  exitWhenFlushed(
    reportFailure(
      {
        command: 'sluice serve',
        seeHelp: '(see --help)',
        stack: 'always',
        expected: (e) => {
          if (e instanceof ClaimError) return { message: `${e.message}. One engine per database: stop that one first, or serve another --db`, exitCode: EXIT_USAGE };
          if (e instanceof SecretKeyError || e instanceof SecretKeySourceError || e instanceof ConsoleTokenError) return { message: e.message, exitCode: EXIT_FAILURE };
          return null;
        },
      },
      error,
    ),
  ),
);
