/**
 * Breaker announcements on the bus, end to end: a real engine, nats-server and
 * receivers, and a NATS client listening on `system.webhook.>` as another team's tool
 * would. A trip is announced exactly once (requests on the wire when it trips fail after
 * it and re-stamp it, never announce it again), a re-enable exactly once, and the last
 * error they carry holds none of the subscription's secrets even when the receiver echoes
 * them. "No second message" is known without sleeping: each check waits for a later
 * announcement from the same engine connection, which NATS delivers in order.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ServerResponse } from 'node:http';
import type { NatsConnection } from '@nats-io/nats-core';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { REENABLED_SUBJECT, TRIPPED_SUBJECT } from '../../src-main/engine/announcements';
import { RELOAD_SUBJECT, type EngineRecord } from '../../src-main/engine/engine';
import { envelope, startTestEngine, unwrap, type TestEngine } from '../harness/engine';
import { startReceiver, status, type Behavior, type Receiver } from '../harness/receiver';

const CLI = fileURLToPath(new URL('../../out/main/cli.js', import.meta.url));
/** Canaries: in the subscription's URL query and in its secret header; never on the bus. */
const CANARY_QUERY = 'qcanary-8c1f2e9d7b44';
const CANARY_HEADER = 'hcanary-51aa0f3e6c09';
const SECRET = 'announcements-test-secret-0123456789';

interface Announced {
  subject: string;
  raw: string;
  body: Record<string, unknown>;
}

/** The announcements on `system.webhook.>` (the reload signal, also there, aside), in arrival order, awaitable. */
class Inbox {
  readonly messages: Announced[] = [];
  private readonly waiters = new Set<() => void>();

  constructor(nc: NatsConnection) {
    nc.subscribe('system.webhook.>', {
      callback: (_err, msg) => {
        if (msg.subject === RELOAD_SUBJECT) return;
        const raw = new TextDecoder().decode(msg.data);
        this.messages.push({ subject: msg.subject, raw, body: JSON.parse(raw) as Record<string, unknown> });
        for (const wake of [...this.waiters]) wake();
      },
    });
  }

  /** Resolves once `n` messages on `subject` have arrived (timing out after 10 s). */
  async count(subject: string, n: number): Promise<Announced[]> {
    const matching = (): Announced[] => this.messages.filter((m) => m.subject === subject);
    if (matching().length >= n) return matching();
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(wake);
        reject(new Error(`${n} × ${subject} not seen; got ${JSON.stringify(this.messages.map((m) => m.subject))}`));
      }, 10_000);
      const wake = (): void => {
        if (matching().length < n) return;
        clearTimeout(timer);
        this.waiters.delete(wake);
        resolve();
      };
      this.waiters.add(wake);
    });
    return matching();
  }
}

/** A HEC collector that says it is busy and echoes the token back (as some do), holding its answers until `hold` requests wait. */
function echoingBusyCollector(hold: number): Behavior {
  const waiting: ServerResponse[] = [];
  const answer = (res: ServerResponse): void => {
    const body = JSON.stringify({ text: `Server is busy; token ${CANARY_HEADER} for /services/collector?token=${CANARY_QUERY}`, code: 9 });
    res.writeHead(503, { 'Content-Type': 'application/json' }).end(body);
  };
  return (_req, res) => {
    if (waiting.length === hold) return answer(res);
    waiting.push(res);
    if (waiting.length === hold) waiting.forEach(answer);
  };
}

let t: TestEngine;
let bus: NatsConnection;
let inbox: Inbox;
const receivers: Receiver[] = [];

beforeEach(async () => {
  t = await startTestEngine({ settings: { circuitThreshold: 2, retrySchedule: [] } });
  bus = await t.nats.client();
  inbox = new Inbox(bus);
  await bus.flush();
});

afterEach(async () => {
  for (const r of receivers.splice(0)) await r.close();
  await t.cleanup();
});

async function receiver(behavior?: Behavior): Promise<Receiver> {
  const r = await startReceiver(behavior);
  receivers.push(r);
  return r;
}

const announcementRecords = (): Extract<EngineRecord, { kind: 'announcement' }>[] =>
  t.records.filter((r): r is Extract<EngineRecord, { kind: 'announcement' }> => r.kind === 'announcement');

describe('trip and re-enable announcements', () => {
  it('a trip is announced once, a re-enable once; the last error holds no secret; system.> subscribers get them as events', async () => {
    const collector = await receiver(echoingBusyCollector(4));
    const socFeed = await receiver();
    const hec = unwrap(
      await t.api['subscriptions.create']({
        name: 'hec-prod',
        url: `${collector.url}?token=${CANARY_QUERY}`,
        secret: SECRET,
        patterns: ['attacker.>'],
        format: 'splunk-hec',
        secretHeaders: [{ name: 'Authorization', value: `Splunk ${CANARY_HEADER}` }],
      }),
    ).subscription;
    // Another team's feed of system events: the announcements reach it like any event.
    unwrap(await t.api['subscriptions.create']({ name: 'soc-feed', url: socFeed.url, presets: ['SystemStatus'] }));
    await t.engine.busReady();

    // Four events on the wire at once; the second failure trips it, the two after re-stamp it.
    for (let i = 0; i < 4; i++) await t.publish('attacker.observed', envelope('x', { i }, `evt-${i}`));
    await t.waitForFinal(4, (d) => d.subscriptionId === hec.id);
    const trips = t.records.filter((r) => r.kind === 'breaker' && r.tripped && r.subscriptionId === hec.id);
    expect(trips.length).toBeGreaterThanOrEqual(2);
    // The receiver's echo reached the engine's own record (where the analyst reads it)…
    expect(JSON.stringify(trips)).toContain(CANARY_HEADER);

    const [tripped] = await inbox.count(TRIPPED_SUBJECT, 1);
    expect(tripped?.body).toEqual({
      name: 'hec-prod',
      subscriptionId: hec.id,
      at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      consecutiveFailures: 2,
      lastError: `HEC code 9: Server is busy; token … for /services/collector?…`,
      held: 0,
    });

    // Two more events are held for it meanwhile.
    for (let i = 4; i < 6; i++) await t.publish('attacker.observed', envelope('x', { i }, `evt-${i}`));
    await t.waitForDelivery((d) => d.eventId === 'evt-5' && d.subscriptionId === hec.id && d.outcome === 'held');
    await t.waitForDelivery((d) => d.eventId === 'evt-4' && d.subscriptionId === hec.id && d.outcome === 'held');

    // The analyst re-enables it and lets the held events go: announced once, after the trip.
    unwrap(await t.api['subscriptions.setEnabled'](hec.id, true, 'discard'));
    const [reenabled] = await inbox.count(REENABLED_SUBJECT, 1);
    expect(reenabled?.body).toEqual({ name: 'hec-prod', subscriptionId: hec.id, at: expect.any(String), held: 'discard', heldCount: 2 });
    // Published in order on one connection: a second trip announcement would have come before it.
    expect(inbox.messages.map((m) => m.subject)).toEqual([TRIPPED_SUBJECT, REENABLED_SUBJECT]);

    // It trips again: a new trip, a new announcement — and the re-enable was said once.
    collector.setBehavior(status(503));
    await t.engine.busReady();
    for (let i = 6; i < 8; i++) await t.publish('attacker.observed', envelope('x', { i }, `evt-${i}`));
    await inbox.count(TRIPPED_SUBJECT, 2);
    expect(inbox.messages.map((m) => m.subject)).toEqual([TRIPPED_SUBJECT, REENABLED_SUBJECT, TRIPPED_SUBJECT]);
    expect(announcementRecords().map((r) => [r.subject, r.sent, r.name])).toEqual([
      [TRIPPED_SUBJECT, true, 'hec-prod'],
      [REENABLED_SUBJECT, true, 'hec-prod'],
      [TRIPPED_SUBJECT, true, 'hec-prod'],
    ]);

    // …but nothing of the subscription's secrets, header or URL query went on the bus.
    for (const m of inbox.messages) {
      for (const secret of [CANARY_QUERY, CANARY_HEADER, SECRET, 'Splunk']) expect(m.raw).not.toContain(secret);
    }

    // Subscribers of system.> get each announcement as one event, and nothing loops back.
    const feed = await socFeed.waitForRequests(3);
    expect(feed.map((r) => r.headers['x-decnet-event-topic'])).toEqual([TRIPPED_SUBJECT, REENABLED_SUBJECT, TRIPPED_SUBJECT]);
    expect(feed.map((r) => (JSON.parse(r.body.toString()) as { payload: { name: string } }).payload.name)).toEqual(['hec-prod', 'hec-prod', 'hec-prod']);
  });

  it('pausing and resuming is no trip: nothing is announced', async () => {
    const ok = await receiver();
    const sub = unwrap(await t.api['subscriptions.create']({ name: 'paused-one', url: ok.url, patterns: ['attacker.>'] })).subscription;
    const failing = await receiver(status(500));
    const other = unwrap(await t.api['subscriptions.create']({ name: 'marker', url: failing.url, patterns: ['marker.>'] })).subscription;
    await t.engine.busReady();
    unwrap(await t.api['subscriptions.setEnabled'](sub.id, false));
    unwrap(await t.api['subscriptions.setEnabled'](sub.id, true, 'deliver'));
    // A later trip from the same engine: the first message on the bus is that one.
    for (let i = 0; i < 2; i++) await t.publish('marker.x', envelope('x', { i }));
    await inbox.count(TRIPPED_SUBJECT, 1);
    expect(inbox.messages.map((m) => [m.subject, m.body['subscriptionId']])).toEqual([[TRIPPED_SUBJECT, other.id]]);
  });

  it('a bus that is down costs the announcement, with a record, never the trip', async () => {
    // The receiver answers (500) only once the bus is gone.
    const held: ServerResponse[] = [];
    const failing = await receiver((_req, res) => void held.push(res));
    const sub = unwrap(await t.api['subscriptions.create']({ name: 'down-bus', url: failing.url, patterns: ['attacker.>'] })).subscription;
    await t.engine.busReady();
    for (let i = 0; i < 2; i++) await t.publish('attacker.observed', envelope('x', { i }));
    await failing.waitForRequests(2);
    await t.nats.stop();
    await t.waitForRecord((r) => r.kind === 'bus' && r.status.state !== 'connected');
    for (const res of held) res.writeHead(500).end();
    await t.waitForRecord((r) => r.kind === 'announcement');
    expect(announcementRecords()).toEqual([{ kind: 'announcement', subject: TRIPPED_SUBJECT, sent: false, subscriptionId: sub.id, name: 'down-bus' }]);
    expect(unwrap(await t.api['subscriptions.list']()).find((s) => s.id === sub.id)?.state).toBe('tripped');
  });
});

describe('a re-enable from the CLI, beside a running engine', () => {
  beforeAll(() => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);
  });

  const cli = (...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      const child = spawn(process.execPath, [CLI, ...args, '--db', t.dbPath], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      child.once('exit', (code) => resolve({ code, stdout, stderr }));
    });

  it('sluice subs enable publishes the announcement once, with the reload signal; the engine does not repeat it', async () => {
    const failing = await receiver(status(500));
    const sub = unwrap(await t.api['subscriptions.create']({ name: 'cli-siem', url: failing.url, patterns: ['attacker.>'] })).subscription;
    await t.engine.busReady();
    for (let i = 0; i < 2; i++) await t.publish('attacker.observed', envelope('x', { i }));
    await inbox.count(TRIPPED_SUBJECT, 1);
    await t.publish('attacker.observed', envelope('x', {}, 'held-1'));
    await t.waitForDelivery((d) => d.eventId === 'held-1' && d.outcome === 'held');

    const enabled = await cli('subs', 'enable', 'cli-siem', '--held', 'deliver', '--nats', t.nats.wsUrl);
    expect(enabled.code).toBe(0);
    expect(enabled.stderr).not.toContain('not announced');
    const [reenabled] = await inbox.count(REENABLED_SUBJECT, 1);
    expect(reenabled?.body).toEqual({ name: 'cli-siem', subscriptionId: sub.id, at: expect.any(String), held: 'deliver', heldCount: 1 });

    // The engine takes the change up (the reload signal) and the held event goes out again…
    await t.waitForFinal(3, (d) => d.subscriptionId === sub.id);
    // …then trips again: its trip is the engine's next message; no re-enable of its own came before it.
    await t.publish('attacker.observed', envelope('x', {}));
    await inbox.count(TRIPPED_SUBJECT, 2);
    expect(inbox.messages.map((m) => m.subject)).toEqual([TRIPPED_SUBJECT, REENABLED_SUBJECT, TRIPPED_SUBJECT]);
  });

  it('with no bus, the CLI says the announcement was not sent (and still re-enables)', async () => {
    const failing = await receiver(status(500));
    unwrap(await t.api['subscriptions.create']({ name: 'no-bus', url: failing.url, patterns: ['attacker.>'] }));
    await t.engine.busReady();
    for (let i = 0; i < 2; i++) await t.publish('attacker.observed', envelope('x', { i }));
    await inbox.count(TRIPPED_SUBJECT, 1);
    const enabled = await cli('subs', 'enable', 'no-bus', '--nats', 'ws://127.0.0.1:1');
    expect(enabled.code).toBe(0);
    expect(enabled.stderr).toContain(`note: not announced on ${REENABLED_SUBJECT} ("no-bus"): no bus\n`);
  });
});
