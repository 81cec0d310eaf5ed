/**
 * `npm run serve` (`node out/main/serve.js`): the engine plus the local web host, so the
 * console runs in a browser where Electron cannot. stdout carries exactly one line, the
 * URL to open (tests parse it); hints and the engine's records go to stderr.
 * SIGINT/SIGTERM stop it cleanly, exit 0. Exit 2: bad input, the port is taken, or
 * another engine holds the database.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BridgeFailure } from '../contract/bridge';
import { Engine, type EngineRecord } from '../engine/engine';
import { validateSettingsPatch } from '../engine/settings';
import { ClaimError, takeoverNote } from '../store/claim';
import { PLAINTEXT_WARNING, resolveKeySource, SecretKeyError, SecretKeySourceError, type KeySource } from '../store/secret-cipher';
import { VERSION } from '../version';
import { DEFAULT_PORT, startWebHost, type WebHost } from './server';

const EXIT_OK = 0;
const EXIT_FAILURE = 1;
const EXIT_USAGE = 2;

const USAGE = `Usage: npm run serve -- [options]   (or: node out/main/serve.js [options])

Runs the engine and serves the Sluice console to a browser on 127.0.0.1 only.
Open the URL it prints: it carries a per-run token, and the console refuses
connections without it.

Options:
  --port N          port to listen on (default ${DEFAULT_PORT}; 0 picks a free port)
  --db FILE         the database (default: $SLUICE_DB, else ./sluice.db)
  --nats URL        bus URL(s) for this run, overriding the stored setting
  --allow-private   allow private/loopback webhook destinations for this run
  --secret-key-file PATH
                    the key that encrypts subscription secrets in the database (32
                    random bytes or their base64/hex; \`sluice keygen --out PATH\`);
                    else $SLUICE_SECRET_KEY; without either they are stored unprotected
  -h, --help        this help
`;

const OPTIONS = {
  port: { type: 'string' },
  db: { type: 'string' },
  nats: { type: 'string' },
  'allow-private': { type: 'boolean' },
  'secret-key-file': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

class UsageError extends Error {}

interface ServeOptions {
  port: number;
  db: string;
  nats?: string;
  allowPrivate: boolean;
  keys: KeySource;
}

function strictParse(argv: string[]) {
  try {
    return parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false }).values;
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

function parseCommandLine(argv: string[]): ServeOptions | 'help' {
  const values = strictParse(argv);
  if (values.help) return 'help';
  const port = values.port === undefined ? DEFAULT_PORT : parsePort(values.port);
  if (values.nats !== undefined) {
    try {
      validateSettingsPatch({ natsUrl: values.nats });
    } catch (error) {
      if (error instanceof BridgeFailure) throw new UsageError(`--nats: ${error.message}`);
      throw error;
    }
  }
  const db = values.db ?? process.env['SLUICE_DB'] ?? './sluice.db';
  if (db.trim() === '') throw new UsageError('--db: the database path must not be empty');
  let keys: KeySource;
  try {
    keys = resolveKeySource(values['secret-key-file']);
  } catch (error) {
    if (error instanceof SecretKeySourceError) throw new UsageError(error.message);
    throw error;
  }
  return {
    port,
    db,
    ...(values.nats !== undefined ? { nats: values.nats } : {}),
    allowPrivate: values['allow-private'] === true,
    keys,
  };
}

function parsePort(text: string): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(port >= 0 && port <= 65535)) throw new UsageError(`--port: "${text}" is not a port number (0–65535)`);
  return port;
}

function err(line: string): void {
  process.stderr.write(`${line}\n`);
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
    case 'error':
      return `${time} error: ${record.message}`;
    case 'recovered':
      return `${time} recovered ${record.deliveries} unfinished deliveries from the previous run`;
    case 'jetstream':
      return `${time} jetstream ${record.status.stream}: ${record.status.state}${record.status.lastError ? ` (${record.status.lastError})` : ''}`;
    case 'retention':
      return `${time} retention pruned ${record.deleted} finished deliveries and ${record.eventsDeleted} events`;
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

  for (const warning of options.keys.warnings) err(`warning: ${warning}`);
  const engine = await Engine.start({
    dbPath: options.db,
    command: 'sluice serve',
    cipher: options.keys.cipher,
    ...(options.nats !== undefined ? { natsUrl: options.nats } : {}),
    ...(options.allowPrivate ? { allowPrivate: true } : {}),
  });
  engine.onRecord((record) => {
    const line = recordLine(record);
    if (line) err(line);
  });

  let host: WebHost;
  try {
    host = await startWebHost({ engine, port: options.port, rendererDir });
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
  if (engine.tookOverFrom) err(`sluice serve: ${takeoverNote(engine.tookOverFrom)}`);
  if (options.keys.cipher.kind === 'plaintext') err(`warning: ${PLAINTEXT_WARNING}`);
  else if (engine.secretsUpgraded > 0) err(`sluice serve: encrypted ${engine.secretsUpgraded} plain-text secret(s) with ${options.keys.source}`);
  err('Open the URL above in a browser on this machine; it holds this run\'s access token, so keep it to yourself.');
  err('Ctrl-C to stop.');

  const signal = await stopRequested;
  err(`sluice serve: ${signal}: stopping (in-flight deliveries finish or are recorded)…`);
  await host.close();
  await engine.stop();
  return EXIT_OK;
}

function exit(code: number): void {
  // Exit once everything written has been flushed (stdout may be a pipe).
  process.stdout.write('', () => process.exit(code));
}

const fatal = (error: unknown): void => {
  err(`sluice serve: fatal: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  process.exit(EXIT_FAILURE);
};
process.on('uncaughtException', fatal);
process.on('unhandledRejection', fatal);

main(process.argv.slice(2)).then(exit, (error: unknown) => {
  if (error instanceof UsageError) {
    err(`sluice serve: ${error.message}\n(see --help)`);
    exit(EXIT_USAGE);
  } else if (error instanceof ClaimError) {
    err(`sluice serve: ${error.message}. One engine per database: stop that one first, or serve another --db`);
    exit(EXIT_USAGE);
  } else if (error instanceof SecretKeyError) {
    err(`sluice serve: ${error.message}`);
    exit(EXIT_FAILURE);
  } else {
    err(`sluice serve: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    exit(EXIT_FAILURE);
  }
});
