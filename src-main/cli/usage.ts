/**
 * How every entry point (`sluice`, `npm run serve`, `npm run demo`) takes its options and
 * ends: bad input is a {@link CliError} (exit 2) whose message names the problem, an
 * internal failure exits 1, and every line on stderr starts with the entry point's name.
 * The exit waits until stdout is flushed, since stdout may be a pipe that a test reads.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { MetricsServerError, parseListenAddress, startMetricsServer, type ListenAddress, type MetricsServer } from '../engine/metrics-server';
import { CliError, EXIT_FAILURE, EXIT_USAGE } from './args';
import { err } from './output';

type FlatOptions = NonNullable<ParseArgsConfig['options']>;
/** The values of a strict parse of `O`, typed by the options declared. */
type EntryValues<O extends FlatOptions> = ReturnType<typeof parseArgs<{ args: string[]; options: O; strict: true; allowPositionals: false }>>['values'];

/**
 * The options of an entry point without commands (serve, demo), strictly: an unknown
 * option, a missing value or a stray argument is a CliError with node's own message.
 */
export function parseEntryOptions<const O extends FlatOptions>(argv: string[], options: O): EntryValues<O> {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (error) {
    throw new CliError(error instanceof Error ? error.message : String(error), EXIT_USAGE, { cause: error });
  }
}

/** A TCP port, 0 (any free port) to 65535, or a CliError: `--port: "eighty" is not a port number (0–65535)`. */
export function parsePort(raw: string, label = '--port'): number {
  const port = /^\d{1,5}$/.test(raw) ? Number(raw) : NaN;
  if (!(port >= 0 && port <= 65535)) throw new CliError(`${label}: "${raw}" is not a port number (0–65535)`);
  return port;
}

/**
 * `--metrics HOST:PORT` (`sluice run`, `npm run serve`): a loopback address to serve the
 * Prometheus metrics on, or a CliError naming the flag and what is wrong.
 */
export function parseMetricsAddress(raw: string, label = '--metrics'): ListenAddress {
  const parsed = parseListenAddress(raw);
  if (!parsed.ok) throw new CliError(`${label}: ${parsed.problem}`);
  return parsed.address;
}

/**
 * Listen for `--metrics` before the engine starts (a taken port refuses the run before
 * it touches anything): the server, or a CliError (exit 2) naming the flag.
 */
export async function listenForMetrics(address: ListenAddress, label = '--metrics'): Promise<MetricsServer> {
  try {
    return await startMetricsServer(address);
  } catch (error) {
    if (error instanceof MetricsServerError) throw new CliError(`${label}: ${error.message}`, EXIT_USAGE, { cause: error });
    throw error;
  }
}

/** How an entry point reports what stopped it. */
export interface FailureReport {
  /** What starts the line: `sluice`, `sluice serve`. */
  command: string;
  /** A line said under a bad-input message (exit 2), for entry points whose messages do not point at the help themselves. */
  seeHelp?: string;
  /**
   * Errors this entry point expects and words itself (a claimed database, an unusable
   * key): the message to say and the exit code; null for the rest.
   */
  expected?: (error: unknown) => { message: string; exitCode: number } | null;
  /** The stack of an unexpected error: always (a long-running server's log), or only with $SLUICE_DEBUG (a one-shot command). */
  stack: 'always' | 'debug';
}

/** Say on stderr why the entry point stops, and return its exit code. */
export function reportFailure(report: FailureReport, error: unknown): number {
  const { command } = report;
  const expected = report.expected?.(error) ?? null;
  if (expected) {
    err(`${command}: ${expected.message}`);
    return expected.exitCode;
  }
  if (error instanceof CliError) {
    err(`${command}: ${error.message}${error.exitCode === EXIT_USAGE && report.seeHelp ? `\n${report.seeHelp}` : ''}`);
    return error.exitCode;
  }
  if (report.stack === 'always') {
    err(`${command}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  } else {
    err(`${command}: ${error instanceof Error ? error.message : String(error)}`);
    if (process.env['SLUICE_DEBUG'] && error instanceof Error && error.stack) err(error.stack);
  }
  return EXIT_FAILURE;
}

/** An error nothing awaited: said with its stack, then exit 1 at once (after `last`, what must not outlive the process). */
export function exitOnStrayErrors(command: string, last?: () => void): void {
  const fatal = (error: unknown): void => {
    err(`${command}: fatal: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    last?.();
    process.exit(EXIT_FAILURE);
  };
  process.on('uncaughtException', fatal);
  process.on('unhandledRejection', fatal);
}

/** Exit with `code` once everything written has been flushed (stdout may be a pipe). */
export function exitWhenFlushed(code: number): void {
  process.stdout.write('', () => process.exit(code));
}
