/**
 * The demo's own bus: a nats-server found on this machine, started on free loopback
 * ports with a WebSocket listener (what Sluice connects to), its config and logs in
 * the demo's temporary folder.
 */
import { join } from 'node:path';
import { killNow, launchOnFreePorts, terminate } from '../bus/nats-server-process';

export { findNatsServer, NatsServerMissing } from '../bus/nats-server-process';

/** A hint that says how to get nats-server, for the message when it is missing. */
export const INSTALL_HINT = [
  'The demo runs its own local NATS bus and needs the nats-server program (2.9 or newer).',
  'Install it, then run `npm run demo` again:',
  '  Debian/Ubuntu:  sudo apt install nats-server',
  '  macOS:          brew install nats-server',
  '  Windows:        winget install nats-io.nats-server   (or scoop install nats-server)',
  '  Anywhere else:  https://github.com/nats-io/nats-server/releases — put nats-server on your PATH,',
  '                  or point NATS_SERVER_BIN at it: NATS_SERVER_BIN=/path/to/nats-server npm run demo',
].join('\n');

/** Demo events are small; this just keeps a flood from a wrong tool bounded. */
const MAX_PAYLOAD_BYTES = 1024 * 1024;

interface RunningNats {
  pid: number;
  /** Where Sluice connects: ws://127.0.0.1:<port>. */
  wsUrl: string;
  /** The plain NATS client port (for other tools: `nats sub '>' -s nats://…`). */
  natsUrl: string;
  /** SIGTERM, then SIGKILL after 5 s; resolves once it has exited. */
  stop(): Promise<void>;
  /** Last resort at process exit: SIGKILL now, synchronously. */
  kill(): void;
}

/** Start nats-server from `bin` with its config in `dir`; resolves once the WebSocket port accepts. */
export async function startNats(bin: string, dir: string): Promise<RunningNats> {
  // Its own process group: a Ctrl-C in the terminal reaches the demo, which then
  // stops things in order (the engine before the bus) instead of all at once.
  const { child, port, wsPort } = await launchOnFreePorts(
    bin,
    join(dir, 'nats.conf'),
    { maxPayload: MAX_PAYLOAD_BYTES },
    { detached: true },
  );
  return {
    pid: child.pid ?? -1,
    wsUrl: `ws://127.0.0.1:${wsPort}`,
    natsUrl: `nats://127.0.0.1:${port}`,
    stop: () => terminate(child),
    kill: () => killNow(child),
  };
}
