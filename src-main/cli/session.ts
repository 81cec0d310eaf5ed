/**
 * A one-shot command's session: an offline engine (its rules and its store, no bus
 * consumer) reached through the same bridge contract as the console, and the reload
 * signal that tells a running engine about a change (with the announcement of a
 * re-enable, engine/announcements.ts, when the change was one); and, for the commands
 * that work on the bus itself (`sluice team …`), one connection made with the
 * database's bus settings.
 */
import { userInfo } from 'node:os';
import type { NatsConnection } from '@nats-io/nats-core';
import { BridgeFailure, type SluiceApi } from '../contract/bridge';
import type { Settings, SubscriptionView } from '../contract/views';
import { NatsBus } from '../bus/nats-bus';
import { encode } from '../engine/announcements';
import { cliSource } from '../engine/audit-trail';
import { Engine, RELOAD_SUBJECT } from '../engine/engine';
import { createInProcessClient } from '../engine/in-process-client';
import { busOptionsFrom, validateSettingsPatch } from '../engine/settings';
import { locateDatabase } from '../store/database-file';
import { VERSION } from '../version';
import { CliError, EXIT_FAILURE, type Problems } from './args';
import { err, unwrap } from './output';
import { cliKeySource, ensureCliKey, sayIfKeyMade } from './secrets';

/** How long a change waits for the bus before giving up on the reload signal. */
const RELOAD_CONNECT_TIMEOUT_MS = 1_500;
const RELOAD_CLOSE_TIMEOUT_MS = 1_000;
/** How long a command that needs the bus (`sluice team …`) waits for it: a TLS handshake across a network included. */
const BUS_CONNECT_TIMEOUT_MS = 10_000;

/**
 * What a command does when its database does not exist. `create`: makes it, and says so
 * (`subs add`, `settings set`, `run`). `existing`: refuses (exit 2), since it could only
 * answer from, or change, an empty new database (every other command).
 */
type DatabaseUse = 'create' | 'existing';

/** The database a command works on, judged (see {@link database}). */
interface DatabaseFile {
  /** As given: what the engine opens and the messages name. */
  path: string;
  absolute: string;
  /** Not there yet: this command creates it. */
  isNew: boolean;
}

/**
 * The database of a command: `--db`, else `$SLUICE_DB`, else `./sluice.db`. A typo in it
 * must not pass for an empty database: a command that only reads or changes what is
 * there refuses a file that does not exist, naming the path; one that creates says so
 * once done ({@link sayIfCreated}); none creates a missing folder. What is wrong is added
 * to `problems` (the path comes back as given).
 */
export function database(value: string | undefined, use: DatabaseUse, problems: Problems): DatabaseFile {
  const from = value !== undefined ? '--db' : process.env['SLUICE_DB'] !== undefined ? '$SLUICE_DB' : null;
  const path = value ?? process.env['SLUICE_DB'] ?? './sluice.db';
  // `--db` given without its path: said already; the default is not what was meant.
  if (problems.mentions('--db')) return { path, absolute: path, isNew: false };
  if (path.trim() === '') {
    problems.add(`${from ?? '--db'}: a database file is required`);
    return { path, absolute: path, isNew: false };
  }
  const where = locateDatabase(path);
  const check = from ? `check ${from}` : 'the default: give --db FILE or set $SLUICE_DB';
  if (where.problem) problems.add(`${where.problem} (${check})`);
  else if (!where.exists && use === 'existing')
    problems.add(`no database at ${where.absolute} (${check}; \`sluice run\`, \`sluice subs add\` or \`sluice settings set\` creates one)`);
  return { path, absolute: where.absolute, isNew: !where.exists };
}

/** Said once the engine opened (so created) a database that did not exist. */
export function sayIfCreated(db: DatabaseFile): void {
  if (db.isNew) err(`note: created a new database at ${db.absolute}`);
}

interface SessionOptions {
  db: DatabaseFile;
  /** `--nats`: where to send the reload signal instead of the stored bus URL. */
  nats?: string | undefined;
  /** Publish the reload signal after `fn` succeeds. */
  reload?: boolean;
  /** The command (`subs add`): the changes it makes are `cli (subs add)`'s in the audit trail. */
  command?: string;
}

/** Who a test fire says triggered it: `<user> via sluice CLI`. */
export function cliActor(via = 'sluice CLI'): string {
  try {
    return `${userInfo().username} via ${via}`;
  } catch {
    return via;
  }
}

export function checkNatsUrl(natsUrl: string | undefined): void {
  if (natsUrl === undefined) return;
  try {
    validateSettingsPatch({ natsUrl });
  } catch (error) {
    if (error instanceof BridgeFailure) throw new CliError(`--nats: ${error.message}`);
    throw error;
  }
}

/**
 * Open the engine offline, run `fn` against the contract, close the engine (which
 * commits every write), then, for a change, publish the reload signal. `fn` also gets
 * the engine, for what the contract does not offer (its effective settings, its store).
 */
export async function withApi<T>(options: SessionOptions, fn: (api: SluiceApi, engine: Engine) => Promise<T>): Promise<T> {
  checkNatsUrl(options.nats);
  const keys = await cliKeySource();
  const engine = await Engine.start({
    dbPath: options.db.path,
    offline: true,
    cipher: keys.cipher,
    actor: cliActor(),
    source: cliSource(options.command),
    ...(options.nats !== undefined ? { natsUrl: options.nats } : {}),
    // Written from inside the wait (the process is blocked in it): stderr is synchronous here.
    onLockWait: () => err(`note: waiting for the engine running on ${options.db.path} to let go of the write lock…`),
  });
  sayIfCreated(options.db);
  try {
    // The database opens with this key (checked by start): now the default key may be made.
    ensureCliKey(keys);
  } catch (error) {
    await engine.stop();
    throw error;
  }
  // Set by the client (a callback TypeScript cannot follow): the first call that failed inside.
  let internal = null as { error: unknown; call: string } | null;
  const api = createInProcessClient(engine, (error, call) => {
    internal ??= { error, call };
    if (process.env['SLUICE_DEBUG'] && error instanceof Error && error.stack) err(error.stack);
  });
  let result: T;
  try {
    result = await fn(api, engine);
  } catch (error) {
    // A call that failed inside (the store, a bug): one plain line saying which and why,
    // not the contract's "see the engine log" (there is no other log here) nor a stack.
    if (internal) throw internalFailure(internal.call, internal.error);
    throw error;
  } finally {
    await engine.stop();
    sayIfKeyMade(keys);
  }
  // A re-enable of a tripped subscription is announced by the command that made it, once.
  const announcements = engine.announcer.take();
  if (options.reload || announcements.length > 0) {
    // Read after the change: `settings set natsUrl` announces on the new URL.
    const settings = engine.effectiveSettings();
    const messages = [
      ...(options.reload ? [{ subject: RELOAD_SUBJECT, data: new TextEncoder().encode('{}') }] : []),
      ...announcements.map((a) => ({ subject: a.subject, data: encode(a) })),
    ];
    const { sent } = await publishMessages(settings, messages);
    if (!sent) {
      err(`note: bus not reachable at ${settings.natsUrl}; a running engine picks the change up from the database`);
      for (const a of announcements) err(`note: not announced on ${a.subject} ("${a.body.name}"): no bus`);
    }
  }
  return result;
}

function internalFailure(call: string, error: unknown): CliError {
  const message = error instanceof Error ? error.message : String(error);
  return new CliError(`${call} failed: ${message}`, EXIT_FAILURE);
}

/** Connect, publish one message, close. Not sent when the bus cannot be reached in time; `lastError` then says why. */
export function publishOnce(settings: Settings, subject: string, data: Uint8Array): Promise<{ sent: boolean; lastError: string | null }> {
  return publishMessages(settings, [{ subject, data }]);
}

/**
 * Connect, publish the messages in order, close. Never throws: a change announced with
 * the reload signal (an empty JSON object on RELOAD_SUBJECT) that cannot reach the bus
 * only costs the running engine its ~1 s database poll.
 */
async function publishMessages(
  settings: Settings,
  messages: readonly { subject: string; data: Uint8Array }[],
): Promise<{ sent: boolean; lastError: string | null }> {
  const options = busOptionsFrom(settings, `sluice-cli-${VERSION}`);
  if (options.servers.length === 0) return { sent: false, lastError: 'no bus URL is set' };
  const bus = new NatsBus({ ...options, onError: () => undefined });
  let timer: NodeJS.Timeout | undefined;
  let sent = false;
  let lastError: string | null = null;
  try {
    const connected = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), RELOAD_CONNECT_TIMEOUT_MS);
      bus.onStatus((status) => {
        lastError = status.lastError;
        if (status.state === 'connected') resolve(true);
        // A failed dial (every configured server tried once) is an answer: no bus.
        else if (status.attempt > 0 || status.state === 'auth_failed' || status.state === 'closed') resolve(false);
      });
    });
    bus.start();
    if (await connected) sent = messages.every(({ subject, data }) => bus.publish(subject, data));
  } catch {
    sent = false;
  } finally {
    clearTimeout(timer);
    // close() drains (so the signal is flushed), but never let a dead server hold us.
    await Promise.race([bus.close().catch(() => undefined), delay(RELOAD_CLOSE_TIMEOUT_MS)]);
  }
  return { sent, lastError: sent ? null : lastError };
}

/** A live connection to the bus, owned by the command that made it (which closes it). */
export interface BusConnection {
  nc: NatsConnection;
  /** Where it was reached (the bus URL setting, or --nats), for messages. */
  url: string;
  close(): Promise<void>;
}

/**
 * One connection to the bus with these settings (URL, credentials, TLS files), for the
 * commands that work on the bus itself: the bus's own dial, so its diagnosis of a failed
 * dial is what the command says. A CliError (exit 1), `bus not reachable at URL: why`,
 * when every server refused the first dial, or nothing answered in time.
 */
export async function connectOnce(settings: Settings, timeoutMs = BUS_CONNECT_TIMEOUT_MS): Promise<BusConnection> {
  const options = busOptionsFrom(settings, `sluice-cli-${VERSION}`);
  if (options.servers.length === 0) throw new CliError('no bus URL is set (sluice settings set natsUrl URL, or --nats URL)', EXIT_FAILURE);
  const bus = new NatsBus({ ...options, onError: () => undefined });
  // close() drains, but never let a dead server hold the command.
  const close = (): Promise<void> => Promise.race([bus.close().catch(() => undefined), delay(RELOAD_CLOSE_TIMEOUT_MS)]);
  let timer: NodeJS.Timeout | undefined;
  const outcome = await new Promise<{ nc: NatsConnection } | { error: string }>((resolve) => {
    timer = setTimeout(() => resolve({ error: `no answer within ${Math.round(timeoutMs / 1000)} s` }), timeoutMs);
    bus.onConnection((nc) => resolve({ nc }));
    bus.onStatus((status) => {
      // A failed dial (every configured server tried once) is an answer: no bus.
      if (status.state === 'auth_failed' || (status.state !== 'connected' && status.attempt > 0))
        resolve({ error: status.lastError ?? `the connection is ${status.state}` });
    });
    bus.start();
  });
  clearTimeout(timer);
  if ('error' in outcome) {
    await close();
    throw new CliError(`bus not reachable at ${settings.natsUrl}: ${outcome.error}`, EXIT_FAILURE);
  }
  return { nc: outcome.nc, url: settings.natsUrl, close };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** `ID|NAME` → the subscription: an exact id first, then an exact name. */
export async function resolveSubscription(api: SluiceApi, ref: string): Promise<SubscriptionView> {
  const subs = unwrap(await api['subscriptions.list']());
  const found = subs.find((s) => s.id === ref) ?? subs.find((s) => s.name === ref);
  if (!found) throw new CliError(`no subscription with id or name "${ref}" (see sluice subs list)`);
  return found;
}
