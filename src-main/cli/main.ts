/**
 * The Sluice CLI and headless runner (`npx sluice <command>`, `npm run -s sluice --
 * <command>`: build/sluice.mjs runs this bundle, building it first only when needed). Another client of the bridge contract: one-shot
 * commands open the engine offline and call the contract in-process, so every rule and
 * message is the console's.
 */
import { OUTCOMES } from '../contract/views';
import { CliError, EXIT_OK, orList, scanCommandLine, suggest, unknownSubcommand, withoutWords } from './args';
import { auditCommand } from './audit';
import { deliveriesCommand } from './deliveries';
import { exportCommand, searchCommand } from './search';
import { publishCommand } from './publish';
import { replayCommand } from './replay';
import { runCommand } from './run';
import { keygenCommand, takeSecretKeyFile } from './secrets';
import { settingsCommand, settingsKeysHelp } from './settings';
import { subsCommand } from './subs';
import { teamCommand } from './team';
import { optionsHelp } from './subscription-options';
import { exitWhenFlushed, reportFailure } from './usage';

export const USAGE = `Usage: sluice <command> [options]
       (in the project folder: npx sluice …, or npm run -s sluice -- …)

Commands:
  run [--nats URL] [--allow-private] [--metrics HOST:PORT]
                                           run the engine (no UI); JSON lines on stdout
                                           until SIGINT/SIGTERM; --nats and --allow-private
                                           override the stored settings for this run only;
                                           --metrics serves Prometheus metrics at
                                           http://HOST:PORT/metrics, on a loopback address
                                           only (127.0.0.1, ::1 as [::1], localhost; port 0:
                                           any free one, named in the start line);
                                           one engine per database (exit 2 when another
                                           holds it); the other commands work beside it
  keygen [--out PATH]                      a key of your own for --secret-key-file (else the
                                           default key is used): 32 random bytes, base64,
                                           written to a new file with mode 0600 (stdout
                                           without --out, e.g. for SLUICE_SECRET_KEY)
  subs list                                list subscriptions
  subs add --name N --url U [--pattern P]... [--preset NAME]... [--secret S] [--disabled]
           [--retry-schedule SCHEDULE] [delivery options]
                                           create; prints the secret once (generated when
                                           --secret is not given)
  subs update ID|NAME [--name N] [--url U] [--pattern P]... [--preset NAME]...
                      [--secret S [--keep-previous HOURS]] [--enabled | --disabled]
                      [--retry-schedule SCHEDULE] [delivery options]
                                           change; --pattern/--preset replace all patterns;
                                           --keep-previous keeps the replaced secret valid
                                           (0-720 h): deliveries carry both signatures
                                           (X-DECNET-Signature-Previous) meanwhile
  subs enable ID|NAME [--held deliver|discard]
                                           re-enable (clears a trip); events held while it
                                           was tripped or paused are delivered (default)
                                           or discarded
  subs disable ID|NAME                     pause: its waiting and new events are held
  subs rm ID|NAME                          delete
  subs test ID|NAME                        test fire: one attempt (exit 1 when not delivered)
  subs preview ID|NAME [--event FILE]      the exact request it would send for that event
                                           (a DECNET envelope with its topic; "-" reads
                                           stdin), else for the newest stored one it
                                           matches: request line, headers (secrets
                                           masked), blank line, body. Nothing is sent
  deliveries [--follow] [--limit N] [--subscription ID|NAME] [--outcome O] [--topic T]
                                           the delivery log, newest first; --follow streams
                                           new deliveries and outcome changes until SIGINT
  deliveries replay --id DELIVERY_ID [--dry-run]
  deliveries replay --subscription ID|NAME --dead [--since TIME] [--dry-run]
  deliveries replay --subscription ID|NAME --pattern P --from TIME --to TIME [--dry-run]
                                           send again, keeping event ids: one delivery; a
                                           subscription's dead letters; or stored events
                                           whose topic matches P, received in the window,
                                           to that subscription. --dry-run only counts.
                                           TIME: ISO-8601, e.g. 2026-11-28T10:00:00Z
  deliveries search [--event-id ID] [--text T] [--status N] [--from TIME] [--to TIME]
                   [--limit N]             find deliveries, newest first (default 200):
                                           every filter given must match. --text: the
                                           event's body contains T (an IP, a decoy's
                                           name; ASCII letters in either case)
  deliveries export --format csv|ndjson [the search filters] [--out FILE]
                                           every matching delivery, oldest first, with
                                           the event's body, the body sent and the
                                           attempt log; to stdout, or to FILE (which
                                           must not exist yet)
  audit [--since TIME] [--limit N]         the operator audit trail, oldest first: every
                                           change made from the console, the CLI or the
                                           tray (subscriptions, secret rotations, test
                                           fires, replays, settings, Pause all / Resume
                                           all): when, who (OS user), where from, what,
                                           and the values before and after (secrets only
                                           as set/changed). --since: ISO-8601, as above;
                                           --limit: the newest N
  audit --verify                           check the trail's hash chain: exit 0 "intact:
                                           N records, from … to …", exit 1 naming the
                                           first broken record (seq, time, action) and
                                           why: edited, or records deleted or reordered
  publish SUBJECT BODY                     publish one message on the bus (BODY as given;
                                           "-" reads stdin), e.g. a DECNET envelope
  settings get [KEY]                       show the settings, or one (secrets only as set/not set)
  settings set KEY VALUE                   change one setting (VALUE "-" reads stdin)
  settings unset KEY                       back to its default (clears a password or token)
${settingsKeysHelp()}
  team create --stream NAME [--bucket NAME] --key-out PATH
                                           make a team: Sluices that share the JetStream
                                           stream NAME (the bus operator's; never created)
                                           through one durable, and one configuration: a
                                           new team key in the new file PATH (mode 0600;
                                           never overwritten), the team's bucket (default
                                           sluice-team) and its shared durable (named as
                                           the bucket); this database's subscriptions and
                                           team settings move into it, and this Sluice is
                                           its first member (teamBucket, teamKeyFile).
                                           --key-file PATH instead of --key-out: finish a
                                           create that was cut short, with the key it wrote
  team join --stream NAME [--bucket NAME] --key-file PATH [--merge-local]
                                           become a member (PATH: a copy of the team's key
                                           file); refused while this database has
                                           subscriptions the team has not, unless
                                           --merge-local adds them to the team
  team leave                               work alone again: this Sluice keeps its copy of
                                           the team's subscriptions; its heartbeat is
                                           removed from the team when the bus is reachable
  team status                              the members (heartbeats), the shared durable's
                                           backlog, the team's subscriptions, tripped
                                           breakers and settings; --json: one object
                                           {team, bus, stream, consumer, keyId, createdAt,
                                           self, members: [{instanceId, name, host,
                                           version, startedAt, bus, lastSeen, stale,
                                           silentForMs, deliveries: {delivered, failed,
                                           inFlight}, self}], backlog: {pending,
                                           ackPending, total, waiting} | null,
                                           backlogError, subscriptions: {count, paused:
                                           [names], tripped: [{id, name, since,
                                           consecutiveFailures, lastError}]}, settings:
                                           {key: value}, problems: [{key, message}]}
                                           The team commands connect to the bus of this
                                           database's settings (or --nats URL); exit 1
                                           when it cannot be reached, or when not a member
                                           (leave, status)

Delivery options (subs add, subs update; see docs/receivers.md for each product):
${optionsHelp()}

Options (every command):
  --db FILE      the database (default: $SLUICE_DB, else ./sluice.db). subs add,
                 settings set and run create it when it does not exist, and say so;
                 the other commands refuse a database that does not exist (exit 2).
                 A missing folder is never created.
  --json         machine-readable output: one JSON document (one line per item with --follow)
  --nats URL     (changes) announce the change on this bus instead of the stored URL
  --secret-key-file PATH
                 the key that encrypts subscription secrets in the database (a file of
                 32 random bytes or their base64/hex, not readable by others; see keygen);
                 else $SLUICE_SECRET_KEY (base64); else the default key (below)
  -h, --help     this help

Secrets at rest: subscription secrets are always encrypted (AES-256-GCM). Without
--secret-key-file or SLUICE_SECRET_KEY, the first run makes a default key and uses it
from then on: in the OS key store when this run can reach one (macOS Keychain, Windows
Credential Manager, the Secret Service on a Linux desktop session), else in the file
secret.key (mode 0600) in the config folder: $SLUICE_CONFIG_DIR, else
$XDG_CONFIG_HOME/sluice or ~/.config/sluice (Linux), ~/Library/Application
Support/sluice (macOS), %APPDATA%\\sluice (Windows). SLUICE_KEY_STORE=file skips the OS
key store. Keep a copy of the key: without it the secrets cannot be read back.

Presets: AttackerDetail, DeckyStatus, SystemStatus.
Outcomes: ${OUTCOMES.join(' ')}.
Retry schedules (SCHEDULE): default (the global retrySchedule setting); extended
  (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h); or seconds, e.g. 1,2,4 ('' = one attempt).
Exit status: 0 success, 1 internal error (or a failed test fire, or a broken audit
  chain), 2 bad input (every problem of the command line at once, with the nearest
  option, command or key for a typo).
`;

const GROUPS_WITH_SUBCOMMANDS = new Set(['subs', 'settings', 'team']);
const DELIVERIES_SUBCOMMANDS = ['replay', 'search', 'export'];
const COMMANDS = ['run', 'subs', 'deliveries', 'audit', 'settings', 'team', 'publish', 'keygen', 'help'] as const;

export async function main(commandLine: string[]): Promise<number> {
  const argv = takeSecretKeyFile(commandLine);
  const { words, help } = scanCommandLine(argv);
  const group = words[0];
  if (help || !group || group.value === 'help') {
    process.stdout.write(USAGE);
    return EXIT_OK;
  }
  const sub = GROUPS_WITH_SUBCOMMANDS.has(group.value) ? words[1] : undefined;
  const rest = withoutWords(argv, [group.index, ...(sub ? [sub.index] : [])]);
  switch (group.value) {
    case 'run':
      return runCommand(rest);
    case 'subs':
      return subsCommand(sub?.value, rest);
    case 'deliveries': {
      const word = words[1];
      if (word?.value === 'replay') return replayCommand(withoutWords(argv, [group.index, word.index]));
      if (word?.value === 'search') return searchCommand(withoutWords(argv, [group.index, word.index]));
      if (word?.value === 'export') return exportCommand(withoutWords(argv, [group.index, word.index]));
      // `deliveries replya …`: its options cannot be judged against the wrong command.
      if (word && suggest(word.value, DELIVERIES_SUBCOMMANDS).length > 0) throw unknownSubcommand('deliveries', word.value, DELIVERIES_SUBCOMMANDS);
      return deliveriesCommand(rest);
    }
    case 'audit':
      return auditCommand(rest);
    case 'settings':
      return settingsCommand(sub?.value, rest);
    case 'team':
      return teamCommand(sub?.value, rest);
    case 'publish':
      return publishCommand(rest);
    case 'keygen':
      return keygenCommand(rest);
    default: {
      const near = suggest(group.value, COMMANDS);
      throw new CliError(
        `unknown command "${group.value}"; ${near.length > 0 ? `did you mean ${orList(near)}?` : 'expected run, subs, deliveries, audit, settings, team, publish or keygen'} (see sluice --help)`,
      );
    }
  }
}

main(process.argv.slice(2)).then(exitWhenFlushed, (error: unknown) => exitWhenFlushed(reportFailure({ command: 'sluice', stack: 'debug' }, error)));
