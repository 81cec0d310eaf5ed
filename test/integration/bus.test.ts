import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nkeys } from '@nats-io/nats-core';
import { afterEach, describe, expect, it } from 'vitest';
import type { BusStatus } from '../../src-main/contract/views';
import { NatsBus, loadCredsAuthenticator, type BusOptions } from '../../src-main/bus/nats-bus';
import { startNatsServer, type NatsServer, type NatsServerOptions } from '../harness/nats-server';
import { waitForStatus as waitFor } from '../harness/status';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface Received {
  subject: string;
  data: Uint8Array;
}

/** Collects delivered messages; take() awaits the next unread one. */
class Inbox {
  private readonly items: Received[] = [];
  private readonly waiters: Array<(item: Received) => void> = [];
  readonly handler = (subject: string, data: Uint8Array): void => {
    const item = { subject, data };
    const waiter = this.waiters.shift();
    if (waiter) waiter(item);
    else this.items.push(item);
  };

  get pending(): number {
    return this.items.length;
  }

  take(timeoutMs = 5_000): Promise<Received> {
    const ready = this.items.shift();
    if (ready) return Promise.resolve(ready);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(deliver), 1);
        reject(new Error(`no message within ${timeoutMs} ms`));
      }, timeoutMs);
      const deliver = (item: Received): void => {
        clearTimeout(timer);
        resolve(item);
      };
      this.waiters.push(deliver);
    });
  }
}

const servers: NatsServer[] = [];
const buses: NatsBus[] = [];
const tempDirs: string[] = [];

afterEach(async () => {
  await Promise.all(buses.splice(0).map((bus) => bus.close()));
  await Promise.all(servers.splice(0).map((server) => server.cleanup()));
  await Promise.all(tempDirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

async function server(options?: NatsServerOptions): Promise<NatsServer> {
  const started = await startNatsServer(options);
  servers.push(started);
  return started;
}

function bus(options: BusOptions): NatsBus {
  const created = new NatsBus({ onError: () => undefined, ...options });
  buses.push(created);
  return created;
}

function waitForStatus(target: NatsBus, predicate: (status: BusStatus) => boolean, timeoutMs = 10_000): Promise<BusStatus> {
  return waitFor(target, predicate, timeoutMs);
}

const isConnected = (status: BusStatus): boolean => status.state === 'connected';

async function publishFromClient(natsServer: NatsServer, subject: string, text: string): Promise<void> {
  const nc = await natsServer.client();
  nc.publish(subject, encoder.encode(text));
  await nc.flush();
}

describe('NatsBus against a real nats-server', () => {
  it('connects, subscribes and hands over subject and raw bytes', async () => {
    const natsServer = await server();
    const inbox = new Inbox();
    const subject = bus({ servers: [natsServer.wsUrl] });
    subject.subscribe('attacker.>', inbox.handler);
    subject.start();

    const connected = await waitForStatus(subject, isConnected);
    expect(connected).toMatchObject({ server: natsServer.wsUrl, url: natsServer.wsUrl, attempt: 0, lastError: null });

    const body = new Uint8Array([0x7b, 0x7d, 0xff, 0x00]);
    const nc = await natsServer.client();
    nc.publish('attacker', encoder.encode('not matched: > needs one more token'));
    nc.publish('attacker.observed', body);
    await nc.flush();

    const message = await inbox.take();
    expect(message.subject).toBe('attacker.observed');
    expect([...message.data]).toEqual([...body]);
  });

  it('pauseReading leaves messages with the server; resumeReading takes them, in order, none lost', async () => {
    const natsServer = await server();
    const inbox = new Inbox();
    const subject = bus({ servers: [natsServer.wsUrl] });
    subject.subscribe('flood.>', inbox.handler);
    subject.start();
    await waitForStatus(subject, isConnected);
    await subject.ready();

    subject.pauseReading();
    const nc = await natsServer.client();
    for (let i = 0; i < 200; i++) nc.publish(`flood.${i}`, encoder.encode(String(i)));
    await nc.flush(); // the server holds them all now
    // Asserting an absence needs a bounded look: nothing arrives while paused.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(inbox.pending).toBe(0);

    subject.resumeReading();
    const got: string[] = [];
    for (let i = 0; i < 200; i++) got.push(decoder.decode((await inbox.take()).data));
    expect(got).toEqual(Array.from({ length: 200 }, (_, i) => String(i)));
  });

  it('subscribes before the server is up and receives once it is', async () => {
    const natsServer = await server();
    await natsServer.stop();

    const inbox = new Inbox();
    const subject = bus({ servers: [natsServer.wsUrl] });
    subject.subscribe('decky.*.state', inbox.handler);
    expect(subject.status.state).toBe('connecting');
    subject.start();

    const failing = await waitForStatus(subject, (status) => status.attempt >= 2);
    expect(failing.state).toBe('connecting');
    expect(failing.lastError).toBeTruthy();
    await subject.ready();

    await natsServer.restart();
    await waitForStatus(subject, isConnected);
    await publishFromClient(natsServer, 'decky.d1.state', '{"up":true}');

    const message = await inbox.take();
    expect(message.subject).toBe('decky.d1.state');
    expect(decoder.decode(message.data)).toBe('{"up":true}');
  });

  it('authenticates with a token', async () => {
    const natsServer = await server({ token: 's3cret-token' });
    const inbox = new Inbox();
    const subject = bus({ servers: [natsServer.wsUrl], token: 's3cret-token' });
    subject.subscribe('system.>', inbox.handler);
    subject.start();

    await waitForStatus(subject, isConnected);
    await publishFromClient(natsServer, 'system.log', 'hello');
    expect((await inbox.take()).subject).toBe('system.log');
  });

  it('authenticates with user and password', async () => {
    const natsServer = await server({ user: 'sluice', password: 'pa55word' });
    const subject = bus({ servers: [natsServer.wsUrl], user: 'sluice', pass: 'pa55word' });
    subject.start();
    await waitForStatus(subject, isConnected);
  });

  it('reports auth_failed for a wrong token and keeps retrying', async () => {
    const natsServer = await server({ token: 'right-token' });
    const subject = bus({ servers: [natsServer.wsUrl], token: 'wrong-token' });
    subject.start();

    const failed = await waitForStatus(subject, (status) => status.state === 'auth_failed');
    expect(failed.lastError).toMatch(/authorization/i);
    expect(failed.server).toBeNull();
    const retried = await waitForStatus(subject, (status) => status.attempt >= 3);
    expect(retried.state).toBe('auth_failed');
    expect(retried.since).toBe(failed.since);
    expect(subject.publish('system.log', encoder.encode('x'))).toBe(false);
  });

  it(
    'survives a 30 s outage: reconnecting, then connected, and old subscriptions receive again',
    async () => {
      const natsServer = await server();
      const inbox = new Inbox();
      const subject = bus({ servers: [natsServer.wsUrl] });
      subject.subscribe('campaign.*', inbox.handler);
      const seen: BusStatus[] = [];
      subject.onStatus((status) => seen.push(status));
      subject.start();

      const firstConnect = await waitForStatus(subject, isConnected);
      await publishFromClient(natsServer, 'campaign.started', 'before');
      expect(decoder.decode((await inbox.take()).data)).toBe('before');

      await natsServer.stop();
      const retrying = await waitForStatus(subject, (s) => s.state === 'reconnecting' && s.attempt > 0);
      expect(retrying.lastError).toBeTruthy();
      expect(subject.publish('campaign.x', encoder.encode('dropped'))).toBe(false);

      // The outage itself is the scenario: keep the server down for 30 s.
      await new Promise((resolve) => setTimeout(resolve, 30_000));
      const attemptsDuringOutage = subject.status.attempt;
      expect(subject.status.state).toBe('reconnecting');

      const restartedAt = Date.now();
      await natsServer.restart();
      const reconnected = await waitForStatus(subject, isConnected);
      const reconnectMs = Date.now() - restartedAt;

      await publishFromClient(natsServer, 'campaign.ended', 'after');
      expect(decoder.decode((await inbox.take()).data)).toBe('after');
      expect(reconnected.since > firstConnect.since).toBe(true);
      expect(seen.map((s) => s.state)).toEqual(expect.arrayContaining(['connected', 'reconnecting']));
      // Backoff capped at 5 s (±20%): ~10 dials in 30 s, and the restart is noticed within one cap.
      expect(attemptsDuringOutage).toBeGreaterThanOrEqual(6);
      expect(attemptsDuringOutage).toBeLessThanOrEqual(16);
      expect(reconnectMs).toBeLessThan(7_000);
    },
    60_000,
  );

  it('publish returns false while disconnected and true when connected', async () => {
    const natsServer = await server();
    const subject = bus({ servers: [natsServer.wsUrl] });
    const data = encoder.encode('{}');
    expect(subject.publish('system.webhook.subscriptions_changed', data)).toBe(false);

    const inbox = new Inbox();
    const nc = await natsServer.client();
    const sub = nc.subscribe('system.webhook.subscriptions_changed', {
      callback: (_error, msg) => inbox.handler(msg.subject, msg.data),
    });
    await nc.flush();

    subject.start();
    await waitForStatus(subject, isConnected);
    expect(subject.publish('system.webhook.subscriptions_changed', data)).toBe(true);
    expect((await inbox.take()).subject).toBe('system.webhook.subscriptions_changed');
    sub.unsubscribe();

    await natsServer.stop();
    await waitForStatus(subject, (status) => status.state === 'reconnecting');
    expect(subject.publish('system.webhook.subscriptions_changed', data)).toBe(false);
  });

  it('stops delivery after unsubscribe and keeps other subscriptions', async () => {
    const natsServer = await server();
    const dropped = new Inbox();
    const kept = new Inbox();
    const subject = bus({ servers: [natsServer.wsUrl] });
    const droppedSub = subject.subscribe('identity.*', dropped.handler);
    subject.subscribe('credential.*', kept.handler);
    subject.start();
    await waitForStatus(subject, isConnected);

    droppedSub.unsubscribe();
    droppedSub.unsubscribe();
    expect(droppedSub.pattern).toBe('identity.*');
    await subject.ready();
    // One publisher, so the server delivers in order: once the second arrives, the first would have.
    const nc = await natsServer.client();
    nc.publish('identity.merged', encoder.encode('1'));
    nc.publish('credential.reused', encoder.encode('2'));
    await nc.flush();

    expect((await kept.take()).subject).toBe('credential.reused');
    expect(dropped.pending).toBe(0);
  });

  it('subscribes while connected once ready() resolves', async () => {
    const natsServer = await server();
    const subject = bus({ servers: [natsServer.wsUrl] });
    await subject.ready();
    subject.start();
    await waitForStatus(subject, isConnected);

    const inbox = new Inbox();
    subject.subscribe('ttp.*', inbox.handler);
    await subject.ready();
    await publishFromClient(natsServer, 'ttp.t1059', 'late');
    expect((await inbox.take()).subject).toBe('ttp.t1059');
  });

  it('keeps a subscription whose handler throws, and reports the error', async () => {
    const natsServer = await server();
    const errors: Array<{ error: unknown; subject: string }> = [];
    const inbox = new Inbox();
    const subject = bus({ servers: [natsServer.wsUrl], onError: (error, at) => errors.push({ error, subject: at }) });
    let calls = 0;
    subject.subscribe('canary.*.triggered', (topic, data) => {
      calls++;
      if (calls === 1) throw new Error('handler bug');
      inbox.handler(topic, data);
    });
    subject.start();
    await waitForStatus(subject, isConnected);

    const nc = await natsServer.client();
    nc.publish('canary.a.triggered', encoder.encode('1'));
    nc.publish('canary.b.triggered', encoder.encode('2'));
    await nc.flush();

    expect((await inbox.take()).subject).toBe('canary.b.triggered');
    expect(errors).toHaveLength(1);
    expect(errors[0]?.subject).toBe('canary.a.triggered');
    expect(subject.status.state).toBe('connected');
  });

  it('closes: state closed, publish false, start ignored, close idempotent', async () => {
    const natsServer = await server();
    const subject = bus({ servers: [natsServer.wsUrl] });
    subject.subscribe('email.received', () => undefined);
    subject.start();
    await waitForStatus(subject, isConnected);

    const closedSeen = waitForStatus(subject, (status) => status.state === 'closed');
    await Promise.all([subject.close(), subject.close()]);
    expect((await closedSeen).state).toBe('closed');
    expect(subject.publish('email.received', encoder.encode('x'))).toBe(false);
    subject.start();
    expect(subject.status.state).toBe('closed');
    await subject.ready();
  });

  it('closes promptly while still trying to reach a server that is down', async () => {
    const natsServer = await server();
    await natsServer.stop();
    const subject = bus({ servers: [natsServer.wsUrl] });
    subject.start();
    await waitForStatus(subject, (status) => status.attempt >= 3);

    const startedAt = Date.now();
    await subject.close();
    expect(Date.now() - startedAt).toBeLessThan(1_000);
    expect(subject.status.state).toBe('closed');
  });
});

describe('loadCredsAuthenticator', () => {
  async function writeTemp(name: string, text: string): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-creds-'));
    tempDirs.push(dir);
    const path = join(dir, name);
    await writeFile(path, text);
    return path;
  }

  it('signs the server nonce with a bare NKey seed', async () => {
    const user = nkeys.createUser();
    const path = await writeTemp('user.nk', `${new TextDecoder().decode(user.getSeed())}\n`);
    const auth = (await loadCredsAuthenticator(path))('nonce-123') as { nkey: string; sig: string };
    expect(auth.nkey).toBe(user.getPublicKey());
    const signature = Uint8Array.from(Buffer.from(auth.sig, 'base64url'));
    expect(nkeys.fromPublic(user.getPublicKey()).verify(encoder.encode('nonce-123'), signature)).toBe(true);
  });

  it('reads the JWT and seed from a .creds file', async () => {
    const user = nkeys.createUser();
    const seed = new TextDecoder().decode(user.getSeed());
    const jwt = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJzdWIiOiJVIn0.c2ln';
    const creds = [
      '-----BEGIN NATS USER JWT-----', jwt, '------END NATS USER JWT------', '',
      '-----BEGIN USER NKEY SEED-----', seed, '------END USER NKEY SEED------', '',
    ].join('\n');
    const path = await writeTemp('user.creds', creds);
    const auth = (await loadCredsAuthenticator(path))('nonce') as { jwt: string; nkey: string };
    expect(auth.jwt).toBe(jwt);
    expect(auth.nkey).toBe(user.getPublicKey());
  });

  it('refuses a file with neither', async () => {
    const path = await writeTemp('junk.txt', 'hello\n');
    await expect(loadCredsAuthenticator(path)).rejects.toThrow(/neither a user JWT nor a user NKey seed/);
  });
});
