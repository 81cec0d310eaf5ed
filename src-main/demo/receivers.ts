/**
 * The demo's two webhook receivers on 127.0.0.1, written as a SIEM or SOAR team would
 * write theirs: each checks `X-DECNET-Signature` (HMAC-SHA256 of the exact body bytes
 * with the shared secret, compared in constant time) before it trusts a delivery.
 *
 * - The healthy one answers 200 to a valid signature and 401 to anything else.
 * - The flaky one follows an outage schedule: 503 through its down stretches (without
 *   Retry-After, so Sluice's own backoff applies) and, when up, 200 — with the odd 503
 *   that a retry gets through.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { OutageSchedule } from './outages';
import { Rng } from './random';

/** Bodies larger than this are refused (DECNET events are small). */
const MAX_BODY_BYTES = 2 * 1024 * 1024;

interface ReceiverStats {
  received: number;
  /** Signature checked and valid. */
  verified: number;
  /** Missing or wrong signature (answered 401). */
  badSignature: number;
  /** Answered 503. */
  unavailable: number;
}

interface DemoReceiver {
  url: string;
  stats: ReceiverStats;
  close(): Promise<void>;
}

type SignatureCheck = 'valid' | 'missing' | 'invalid';

/** What a receiver does with `X-DECNET-Signature` (and `-Previous` during a rotation). */
function checkSignature(secret: string, body: Buffer, headers: IncomingMessage['headers']): SignatureCheck {
  const given = [headers['x-decnet-signature'], headers['x-decnet-signature-previous']].filter((h): h is string => typeof h === 'string');
  if (given.length === 0) return 'missing';
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(body).digest('hex')}`);
  return given.some((h) => {
    const candidate = Buffer.from(h);
    return candidate.length === expected.length && timingSafeEqual(candidate, expected);
  })
    ? 'valid'
    : 'invalid';
}

interface HealthyOptions {
  path: string;
  secret: string;
}

export function startHealthyReceiver(options: HealthyOptions): Promise<DemoReceiver> {
  const stats: ReceiverStats = { received: 0, verified: 0, badSignature: 0, unavailable: 0 };
  return listen(options.path, stats, (body, req, res) => {
    const check = checkSignature(options.secret, body, req.headers);
    if (check !== 'valid') {
      stats.badSignature++;
      return answer(res, 401, { accepted: false, signature: check });
    }
    stats.verified++;
    answer(res, 200, { accepted: true, signature: 'valid', event_id: req.headers['x-decnet-event-id'] ?? null });
  });
}

interface FlakyOptions extends HealthyOptions {
  schedule: OutageSchedule;
  /** Time since the run started: the schedule counts from it. */
  elapsedMs: () => number;
  seed: number;
  /** While up, the share of requests that still get a 503 (default 0.1). */
  blipRate?: number;
}

export function startFlakyReceiver(options: FlakyOptions): Promise<DemoReceiver> {
  const stats: ReceiverStats = { received: 0, verified: 0, badSignature: 0, unavailable: 0 };
  const rng = new Rng(options.seed ^ 0xb11b);
  const blipRate = options.blipRate ?? 0.1;
  return listen(options.path, stats, (body, req, res) => {
    const stretch = options.schedule.at(Math.max(0, options.elapsedMs()));
    if (stretch.down || rng.chance(blipRate)) {
      stats.unavailable++;
      return answer(res, 503, { error: stretch.down ? 'playbook runner restarting' : 'worker pool busy' });
    }
    const check = checkSignature(options.secret, body, req.headers);
    if (check !== 'valid') {
      stats.badSignature++;
      return answer(res, 401, { accepted: false, signature: check });
    }
    stats.verified++;
    answer(res, 200, { accepted: true, signature: 'valid', playbook: 'decnet-triage' });
  });
}

type Handler = (body: Buffer, req: IncomingMessage, res: ServerResponse) => void;

async function listen(path: string, stats: ReceiverStats, handle: Handler): Promise<DemoReceiver> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    if (req.method !== 'POST' || req.url !== path) {
      req.resume();
      return answer(res, 404, { error: 'not found' });
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) req.destroy();
      else chunks.push(chunk);
    });
    req.on('end', () => {
      stats.received++;
      handle(Buffer.concat(chunks), req, res);
    });
    req.on('error', () => res.destroy());
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('clientError', (_error, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${path}`,
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}

function answer(res: ServerResponse, status: number, body: Record<string, unknown>): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
