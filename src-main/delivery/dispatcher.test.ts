/**
 * The dispatcher's egress policy: one global bound, and per subscription a share of it,
 * so that a receiver that hangs never holds the slots the others need. Driven with a
 * fake `send` whose answers the test releases by hand.
 */
import { describe, expect, it } from 'vitest';
import type { AttemptRequest, AttemptResult } from './http-client';
import { Dispatcher, shareLimit, subscriptionShare, type DeliveryJob, type DeliveryUpdate, type DispatcherDeps } from './dispatcher';
import { NO_PACING, type Pacing } from './pacing';

const OK: AttemptResult = {
  kind: 'response',
  statusCode: 200,
  error: null,
  latencyMs: 1,
  address: '127.0.0.1',
  responseExcerpt: 'ok',
  retryAfterMs: null,
};

interface Harness {
  dispatcher: Dispatcher;
  /** Requests on the wire, by subscription (taken from the URL). */
  onWire: Map<string, number>;
  peakTotal: number;
  peakBySubscription: Map<string, number>;
  /** Answer every request on the wire of a subscription. */
  answer(subscriptionId: string, result?: AttemptResult): void;
  updates: { job: DeliveryJob; update: DeliveryUpdate }[];
  errors: unknown[];
  setConcurrency(n: number): void;
  /** Each subscription's pacing (none unless set). */
  pacing: Map<string, Pacing>;
}

function harness(concurrency: number, overrides: Partial<DispatcherDeps> = {}): Harness {
  const waiting = new Map<string, ((r: AttemptResult) => void)[]>();
  const onWire = new Map<string, number>();
  const peakBySubscription = new Map<string, number>();
  const settings = { concurrency, timeoutMs: 10_000 };
  const h: Harness = {
    dispatcher: undefined as unknown as Dispatcher,
    onWire,
    peakTotal: 0,
    peakBySubscription,
    updates: [],
    errors: [],
    pacing: new Map(),
    answer(id, result = OK) {
      const list = waiting.get(id) ?? [];
      waiting.set(id, []);
      for (const resolve of list) resolve(result);
    },
    setConcurrency(n) {
      settings.concurrency = n;
      h.dispatcher.resize();
    },
  };
  const send = (req: AttemptRequest): Promise<AttemptResult> => {
    const id = new URL(req.url).pathname.slice(1);
    onWire.set(id, (onWire.get(id) ?? 0) + 1);
    const total = [...onWire.values()].reduce((a, b) => a + b, 0);
    h.peakTotal = Math.max(h.peakTotal, total);
    peakBySubscription.set(id, Math.max(peakBySubscription.get(id) ?? 0, onWire.get(id) as number));
    return new Promise((resolve) => {
      const list = waiting.get(id) ?? [];
      list.push((r) => {
        onWire.set(id, (onWire.get(id) as number) - 1);
        resolve(r);
      });
      waiting.set(id, list);
    });
  };
  h.dispatcher = new Dispatcher({
    send,
    destination: (id) => ({
      url: `http://receiver.test/${id}`,
      secret: 's'.repeat(16),
      enabled: true,
      tripped: false,
      retrySchedule: [],
      pacing: h.pacing.get(id) ?? NO_PACING,
    }),
    settings: () => settings,
    userAgent: 'test',
    onUpdate: (job, update) => h.updates.push({ job, update }),
    onError: (_job, error) => h.errors.push(error),
    ...overrides,
  });
  return h;
}

let nextId = 1;
function job(subscriptionId: string, deliveryId = nextId++): DeliveryJob {
  return { deliveryId, subscriptionId, eventId: `e${deliveryId}`, topic: 't', body: Buffer.from('{}'), test: false };
}

/** Let every pending promise chain settle. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
  await new Promise((resolve) => setImmediate(resolve));
}

describe('subscriptionShare', () => {
  it('is the global bound less a reserve of a fifth, and at least one', () => {
    expect([0, 1, 2, 3, 4, 10, 11, 256].map(subscriptionShare)).toEqual([1, 1, 1, 2, 3, 8, 8, 204]);
  });
});

describe('Dispatcher fairness', () => {
  it('a subscription whose receiver hangs holds its share, and another is sent at once', async () => {
    const h = harness(10);
    for (let i = 0; i < 200; i++) void h.dispatcher.submit(job('dead'));
    await settle();
    expect(h.onWire.get('dead')).toBe(subscriptionShare(10));
    expect(h.dispatcher.sending).toBe(subscriptionShare(10));

    const healthy = h.dispatcher.submit(job('healthy'));
    await settle();
    expect(h.onWire.get('healthy')).toBe(1);
    h.answer('healthy');
    expect((await healthy).outcome).toBe('delivered');
    expect(h.onWire.get('dead')).toBe(subscriptionShare(10));
    expect(h.dispatcher.pending).toBe(200);
  });

  it('keeps the global bound with many subscriptions, each within its share', async () => {
    const h = harness(10);
    for (const id of ['a', 'b', 'c', 'd']) for (let i = 0; i < 50; i++) void h.dispatcher.submit(job(id));
    await settle();
    expect(h.dispatcher.sending).toBe(10);
    for (let round = 0; round < 30; round++) {
      for (const id of ['a', 'b', 'c', 'd']) h.answer(id);
      await settle();
    }
    expect(h.updates.filter((u) => u.update.outcome === 'delivered')).toHaveLength(200);
    expect(h.peakTotal).toBe(10);
    for (const id of ['a', 'b', 'c', 'd']) expect(h.peakBySubscription.get(id)).toBeLessThanOrEqual(subscriptionShare(10));
  });

  it('a lone subscription still gets its whole share, and the share follows a changed bound', async () => {
    const h = harness(4);
    for (let i = 0; i < 20; i++) void h.dispatcher.submit(job('only'));
    await settle();
    expect(h.onWire.get('only')).toBe(subscriptionShare(4));
    h.setConcurrency(20);
    await settle();
    expect(h.onWire.get('only')).toBe(subscriptionShare(20));
    h.setConcurrency(1);
    h.answer('only');
    await settle();
    // All on the wire were answered; with a bound of 1 the next goes out alone.
    expect(h.onWire.get('only')).toBe(1);
  });

  it('jobs waiting for their share leave at once when their subscription stops', async () => {
    const h = harness(2);
    const jobs = Array.from({ length: 5 }, () => h.dispatcher.submit(job('stopped')));
    await settle();
    expect(h.onWire.get('stopped')).toBe(1);
    h.dispatcher.cancelSubscription('stopped', { untried: 'held', retried: 'dead', reason: 'subscription tripped' });
    await settle();
    expect(h.updates.map((u) => u.update.outcome)).toEqual(['held', 'held', 'held', 'held']);
    h.answer('stopped');
    expect((await Promise.all(jobs)).map((u) => u.outcome)).toEqual(['delivered', 'held', 'held', 'held', 'held']);
    // Nothing left behind: a new subscription gets a slot at once.
    void h.dispatcher.submit(job('next'));
    await settle();
    expect(h.onWire.get('next')).toBe(1);
  });
});

describe('Dispatcher robustness', () => {
  it('never has the same delivery twice in memory', async () => {
    const h = harness(10);
    const first = h.dispatcher.submit(job('a', 1_000_001));
    const again = h.dispatcher.submit(job('a', 1_000_001));
    expect(again).toBe(first);
    await settle();
    expect(h.onWire.get('a')).toBe(1);
    expect(h.dispatcher.has(1_000_001)).toBe(true);
    h.answer('a');
    await first;
    expect(h.dispatcher.has(1_000_001)).toBe(false);
    expect(h.updates).toHaveLength(1);
  });

  it('a failure to record an outcome frees the slot and is reported, not thrown', async () => {
    const h = harness(1, {
      onUpdate: () => {
        throw new Error('commit failed: database or disk is full');
      },
    });
    const a = h.dispatcher.submit(job('a'));
    const b = h.dispatcher.submit(job('a'));
    await settle();
    h.answer('a');
    expect((await a).outcome).toBe('delivered');
    await settle();
    h.answer('a');
    expect((await b).outcome).toBe('delivered');
    expect(h.errors.map((e) => (e as Error).message)).toEqual([
      'commit failed: database or disk is full',
      'commit failed: database or disk is full',
    ]);
    expect(h.dispatcher.sending).toBe(0);
  });

  it('a send that throws is a network error, not a stuck job', async () => {
    const h = harness(1, { send: () => Promise.reject(new Error('boom')) });
    const update = await h.dispatcher.submit(job('a'));
    expect(update).toMatchObject({ outcome: 'dead', error: 'attempt failed: boom', final: true });
    expect(h.dispatcher.sending).toBe(0);
  });
});

describe('Dispatcher pacing', () => {
  const paced = (p: Partial<Pacing>): Pacing => ({ ...NO_PACING, ...p });

  it("bounds a subscription's requests on the wire by its own concurrency, never above its share of the global bound", async () => {
    expect(shareLimit(20, paced({ concurrency: 2 }))).toBe(2);
    expect(shareLimit(20, paced({ concurrency: 32 }))).toBe(subscriptionShare(20));
    expect(shareLimit(40, paced({ concurrency: 32 }))).toBe(32);
    expect(shareLimit(20, NO_PACING)).toBe(subscriptionShare(20));
    const h = harness(20);
    h.pacing.set('two', paced({ concurrency: 2 }));
    h.pacing.set('many', paced({ concurrency: 32 }));
    for (const id of ['two', 'many']) for (let i = 0; i < 40; i++) void h.dispatcher.submit(job(id));
    await settle();
    expect(h.onWire.get('two')).toBe(2);
    // 18 of 20: 'many' holds its capped share (16), 'two' its 2.
    expect(h.onWire.get('many')).toBe(subscriptionShare(20));
    expect(h.dispatcher.sending).toBe(18);
    // A changed concurrency applies at the subscription's next job.
    h.pacing.set('two', paced({ concurrency: 3 }));
    void h.dispatcher.submit(job('two'));
    await settle();
    expect(h.onWire.get('two')).toBe(3);
    expect(h.peakBySubscription.get('many')).toBe(subscriptionShare(20));
  });

  it('hands a job over its rate back at once, due at its slot: no attempt, no failure, nothing held in memory', async () => {
    let clock = 1_000_000;
    const h = harness(10, { now: () => clock });
    h.pacing.set('slow', paced({ rate: 5, burst: 2 }));
    const updates = Array.from({ length: 5 }, () => h.dispatcher.submit(job('slow')));
    await settle();
    expect(h.onWire.get('slow')).toBe(2);
    expect(h.dispatcher.pending).toBe(2);
    const parked = h.updates.map((u) => u.update);
    expect(parked).toHaveLength(3);
    for (const u of parked) expect(u).toMatchObject({ kind: 'due', cause: 'paced', outcome: 'pending', attempts: 0, error: null, final: false });
    expect(parked.map((u) => (u.kind === 'due' ? u.nextAttemptAt - clock : null))).toEqual([200, 400, 600]);
    expect(h.dispatcher.holdingBack('slow')).toBe(true);
    expect(h.dispatcher.pacedSubscriptions()).toEqual(['slow']);
    h.answer('slow');
    expect((await Promise.all(updates.slice(0, 2))).map((u) => u.outcome)).toEqual(['delivered', 'delivered']);

    // Due: taken back from the outbox at its slot, it is sent.
    clock += 200;
    const back = h.dispatcher.submit({ ...job('slow', h.updates[0]!.job.deliveryId), fromOutbox: true });
    await settle();
    expect(h.onWire.get('slow')).toBe(1);
    h.answer('slow');
    expect((await back).outcome).toBe('delivered');
    // A newcomer meanwhile goes behind the two still parked.
    const late = await h.dispatcher.submit(job('slow'));
    expect(late).toMatchObject({ kind: 'due', cause: 'paced', nextAttemptAt: 1_000_800 });
  });

  it('keeps a paced retry a retry: its attempts, its last error, its outcome', async () => {
    const clock = 5_000;
    const h = harness(10, { now: () => clock });
    h.pacing.set('slow', paced({ rate: 1, burst: 1 }));
    void h.dispatcher.submit(job('slow'));
    const log = [{ attempt: 1, startedAt: new Date(0).toISOString(), statusCode: 503, latencyMs: 4, error: 'http 503', address: '127.0.0.1' }];
    const update = await h.dispatcher.submit({ ...job('slow'), attemptsMade: 1, attemptLog: log, fromOutbox: true });
    expect(update).toMatchObject({ kind: 'due', cause: 'paced', outcome: 'retrying', attempts: 1, statusCode: 503, error: 'http 503', nextAttemptAt: 6_000 });
  });

  it('never paces a test fire, and forgets a stopped subscription\'s queue', async () => {
    const h = harness(10);
    h.pacing.set('slow', paced({ rate: 0.1, burst: 1 }));
    void h.dispatcher.submit(job('slow'));
    expect((await h.dispatcher.submit(job('slow'))).kind).toBe('due');
    expect(h.dispatcher.holdingBack('slow')).toBe(true);
    const fire = h.dispatcher.submit({ ...job('slow'), test: true });
    await settle();
    expect(h.onWire.get('slow')).toBe(2);
    h.answer('slow');
    expect((await fire).outcome).toBe('test');
    h.dispatcher.cancelSubscription('slow', { untried: 'held', retried: 'held', reason: 'subscription paused' });
    expect(h.dispatcher.holdingBack('slow')).toBe(false);
  });
});
