import { describe, expect, it } from 'vitest';
import type { DeliveryView, EngineStatus, Outcome, SubscriptionView } from '../contract/views';
import { ExpositionError, parseExposition } from '../../test/harness/prometheus';
import { COUNTED_OUTCOMES, EngineMetrics, LATENCY_BUCKETS_S, attemptResult, countedOutcome, type JetStreamBacklog, type MetricsSource } from './metrics';
import { EngineRecords, type EngineRecord } from './records';

let nextId = 1;
function delivery(over: Partial<DeliveryView> = {}): DeliveryView {
  return {
    id: nextId++,
    createdAt: '2026-12-06T10:00:00.000Z',
    updatedAt: '2026-12-06T10:00:00.000Z',
    subscriptionId: 'sub-a',
    subscriptionName: 'siem-a',
    eventId: 'evt',
    topic: 'attacker.seen',
    outcome: 'delivered',
    statusCode: 200,
    attempts: 1,
    latencyMs: 12,
    error: null,
    replay: false,
    replayOf: null,
    ...over,
  };
}

function status(over: Partial<EngineStatus> = {}): EngineStatus {
  return {
    version: '0.0.0',
    bus: { state: 'connected', url: 'ws://127.0.0.1:1', server: null, attempt: 0, lastError: null, since: '2026-12-06T10:00:00.000Z' },
    jetstream: null,
    counts: { configured: 0, enabled: 0, tripped: 0, failing: 0, insecure: 0 },
    intake: { received: 0, rejected: 0 },
    inFlight: 0,
    secretStorage: 'key-file',
    ...over,
  };
}

function view(name: string, over: Partial<SubscriptionView> = {}): SubscriptionView {
  return { name, state: 'active', heldCount: 0, deadCount: 0, ...over } as SubscriptionView;
}

function setup(options: { views?: SubscriptionView[]; status?: EngineStatus; backlog?: JetStreamBacklog | null } = {}) {
  const records = new EngineRecords();
  let reads = 0;
  const source: MetricsSource & { views: SubscriptionView[]; engineStatus: EngineStatus; backlog: JetStreamBacklog | null } = {
    views: options.views ?? [],
    engineStatus: options.status ?? status(),
    backlog: options.backlog ?? null,
    onRecord: (listener) => records.on(listener),
    status: () => source.engineStatus,
    subscriptionViews: () => {
      reads++;
      return source.views;
    },
    jetstreamBacklog: async () => source.backlog,
  };
  const metrics = new EngineMetrics(source, { processMetrics: false });
  const emit = (d: DeliveryView, final: boolean, attempt: boolean): void => records.emit({ kind: 'delivery', delivery: d, final, attempt });
  const scrape = async () => parseExposition((await metrics.render()).body);
  return { records, source, metrics, emit, scrape, reads: () => reads };
}

describe('countedOutcome and attemptResult', () => {
  const record = (d: DeliveryView, final: boolean): Extract<EngineRecord, { kind: 'delivery' }> => ({ kind: 'delivery', delivery: d, final, attempt: false });

  it('counts a delivery to a subscription once, at its final outcome', () => {
    for (const outcome of COUNTED_OUTCOMES) expect(countedOutcome(record(delivery({ outcome }), true))).toBe(outcome);
    const never: Outcome[] = ['pending', 'retrying', 'held', 'replayed', 'rejected', 'test'];
    for (const outcome of never) expect(countedOutcome(record(delivery({ outcome }), true))).toBeNull();
    expect(countedOutcome(record(delivery({ outcome: 'delivered' }), false))).toBeNull();
    expect(countedOutcome(record(delivery({ outcome: 'dead', subscriptionName: null }), true))).toBeNull();
  });

  it('tells a success from an error answer and from no answer', () => {
    expect(attemptResult(delivery({ outcome: 'delivered', statusCode: 200 }))).toBe('success');
    expect(attemptResult(delivery({ outcome: 'retrying', statusCode: 503 }))).toBe('error_response');
    expect(attemptResult(delivery({ outcome: 'dead', statusCode: 200 }))).toBe('error_response');
    expect(attemptResult(delivery({ outcome: 'dead', statusCode: null }))).toBe('no_response');
  });
});

describe('EngineMetrics', () => {
  it('counts final outcomes, attempts and their latency by subscription name, from the records', async () => {
    const { emit, scrape } = setup();
    emit(delivery({ outcome: 'pending', attempts: 0, latencyMs: null, statusCode: null }), false, false);
    emit(delivery({ outcome: 'delivered', latencyMs: 4 }), true, true);
    emit(delivery({ outcome: 'delivered', latencyMs: 300 }), true, true);
    emit(delivery({ outcome: 'retrying', statusCode: 503, latencyMs: 20 }), false, true);
    emit(delivery({ outcome: 'dead', statusCode: null, latencyMs: 10_000, error: 'timeout after 10000 ms' }), true, true);
    // Ended without an attempt now (a trip's waiting retry; a blocked destination): counted, no attempt.
    emit(delivery({ outcome: 'dead', statusCode: 503, latencyMs: 20 }), true, false);
    emit(delivery({ outcome: 'blocked', subscriptionName: 'siem-b', statusCode: null, attempts: 0, latencyMs: null }), true, false);
    // Never counted as deliveries: held (it waits), a test fire, a rejected bus message.
    emit(delivery({ outcome: 'held', attempts: 0 }), false, false);
    emit(delivery({ outcome: 'test' }), true, false);
    emit(delivery({ outcome: 'rejected', subscriptionId: null, subscriptionName: null }), true, false);

    const page = await scrape();
    const deliveries = (subscription: string, outcome: string) => page.value('sluice_deliveries_total', { subscription, outcome });
    expect(deliveries('siem-a', 'delivered')).toBe(2);
    expect(deliveries('siem-a', 'dead')).toBe(2);
    expect(deliveries('siem-b', 'blocked')).toBe(1);
    expect(page.samples('sluice_deliveries_total')).toHaveLength(3);
    expect(page.families.get('sluice_deliveries_total')?.type).toBe('counter');

    expect(page.value('sluice_delivery_attempts_total', { subscription: 'siem-a', result: 'success' })).toBe(2);
    expect(page.value('sluice_delivery_attempts_total', { subscription: 'siem-a', result: 'error_response' })).toBe(1);
    expect(page.value('sluice_delivery_attempts_total', { subscription: 'siem-a', result: 'no_response' })).toBe(1);
    expect(page.samples('sluice_delivery_attempts_total')).toHaveLength(3);

    expect(page.families.get('sluice_delivery_latency_seconds')?.type).toBe('histogram');
    const bucket = (le: string) => page.value('sluice_delivery_latency_seconds_bucket', { subscription: 'siem-a', le });
    expect(bucket('0.005')).toBe(1);
    expect(bucket('0.025')).toBe(2);
    expect(bucket('0.5')).toBe(3);
    expect(bucket('5')).toBe(3);
    expect(bucket('10')).toBe(4);
    expect(bucket('+Inf')).toBe(4);
    expect(page.value('sluice_delivery_latency_seconds_count', { subscription: 'siem-a' })).toBe(4);
    expect(page.value('sluice_delivery_latency_seconds_sum', { subscription: 'siem-a' })).toBeCloseTo(10.324, 6);
    expect(page.samples('sluice_delivery_latency_seconds_bucket').map((s) => s.labels['le'])).toEqual([...LATENCY_BUCKETS_S.map(String), '+Inf']);
  });

  it('reads the gauges from the engine at each scrape, the subscriptions once per scrape', async () => {
    const t = setup({
      views: [view('a'), view('b', { state: 'tripped', heldCount: 12, deadCount: 3 }), view('c', { state: 'paused', heldCount: 4 })],
      status: status({ inFlight: 7, intake: { received: 40, rejected: 2 } }),
    });
    let page = await t.scrape();
    expect(t.reads()).toBe(1);
    expect(page.samples('sluice_subscription_tripped').map((s) => [s.labels['subscription'], s.value])).toEqual([['a', 0], ['b', 1], ['c', 0]]);
    expect(page.samples('sluice_subscription_held').map((s) => [s.labels['subscription'], s.value])).toEqual([['a', 0], ['b', 12], ['c', 4]]);
    expect(page.value('sluice_subscription_dead_letters', { subscription: 'b' })).toBe(3);
    expect(page.value('sluice_bus_connected')).toBe(1);
    expect(page.value('sluice_deliveries_in_flight')).toBe(7);
    expect(page.value('sluice_bus_messages_total')).toBe(40);
    expect(page.value('sluice_bus_messages_rejected_total')).toBe(2);
    // Core NATS: no JetStream sample at all (not a 0 that would read as "caught up").
    expect(page.samples('sluice_jetstream_pending')).toEqual([]);

    // A deleted subscription leaves the gauges; the bus drops; JetStream has a backlog.
    t.source.views = [view('b', { state: 'active' })];
    t.source.engineStatus = status({ bus: { ...status().bus, state: 'reconnecting' }, intake: { received: 41, rejected: 2 } });
    t.source.backlog = { stream: 'DECNET', pending: 250, ackPending: 8 };
    page = await t.scrape();
    expect(t.reads()).toBe(2);
    expect(page.samples('sluice_subscription_tripped').map((s) => [s.labels['subscription'], s.value])).toEqual([['b', 0]]);
    expect(page.value('sluice_bus_connected')).toBe(0);
    expect(page.value('sluice_bus_messages_total')).toBe(41);
    expect(page.value('sluice_jetstream_pending', { stream: 'DECNET' })).toBe(250);
    expect(page.value('sluice_jetstream_ack_pending', { stream: 'DECNET' })).toBe(8);
  });

  it('keeps a JetStream backlog the server cannot give out of the page, and the page whole', async () => {
    const t = setup();
    t.source.jetstreamBacklog = async () => Promise.reject(new Error('consumer not found'));
    const page = await t.scrape();
    expect(page.samples('sluice_jetstream_pending')).toEqual([]);
    expect(page.value('sluice_bus_connected')).toBe(1);
  });

  it('escapes what a subscription name may hold in a label value', async () => {
    const t = setup({ views: [view('say "hi" \\ there')] });
    const page = await t.scrape();
    expect(page.samples('sluice_subscription_tripped')[0]?.labels).toEqual({ subscription: 'say "hi" \\ there' });
  });

  it('stops listening to the records when closed', async () => {
    const t = setup();
    expect(t.records.listening).toBe(true);
    t.metrics.close();
    expect(t.records.listening).toBe(false);
  });

  it('serves the process metrics on the same registry, and the whole page is valid', async () => {
    const records = new EngineRecords();
    const metrics = new EngineMetrics({
      onRecord: (l) => records.on(l),
      status: () => status(),
      subscriptionViews: () => [view('a')],
      jetstreamBacklog: async () => null,
    });
    try {
      const { contentType, body } = await metrics.render();
      expect(contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
      const page = parseExposition(body);
      expect(page.families.get('process_cpu_seconds_total')?.type).toBe('counter');
      expect(page.families.get('nodejs_heap_size_used_bytes')?.type).toBe('gauge');
      // Its own registry: nothing leaks into prom-client's global one.
      const { register } = await import('prom-client');
      expect(await register.getMetricsAsJSON()).toEqual([]);
    } finally {
      metrics.close();
    }
  });
});

describe('the exposition reader the tests use is strict', () => {
  it.each([
    ['no final newline', '# TYPE a gauge\na 1'],
    ['a bad value', 'a one\n'],
    ['a value Go does not read', 'a 1,5\n'],
    ['a bad metric name', '1a 1\n'],
    ['an unterminated label value', 'a{x="1} 1\n'],
    ['a bad escape', 'a{x="\\t"} 1\n'],
    ['a reserved label name', 'a{__x="1"} 1\n'],
    ['a label twice', 'a{x="1",x="2"} 1\n'],
    ['an unknown type', '# TYPE a thing\na 1\n'],
    ['TYPE after samples', 'a 1\n# TYPE a gauge\n'],
    ['split groups', 'a 1\nb 1\na{x="1"} 2\n'],
    ['a sample twice', 'a 1\na 2\n'],
    ['a histogram without +Inf', '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n'],
    ['a histogram not cumulative', '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n'],
  ])('rejects %s', (_what, text) => {
    expect(() => parseExposition(text)).toThrow(ExpositionError);
  });

  it('reads what the format allows', () => {
    const page = parseExposition('# a comment\n# HELP a it\\\\s \\n two\n# TYPE a counter\na{x="q\\"\\n",} +Inf 1700000000000\n\nb -1.5e3\nc NaN\n');
    expect(page.families.get('a')?.help).toBe('it\\s \n two');
    expect(page.samples('a')).toEqual([{ name: 'a', labels: { x: 'q"\n' }, value: Infinity, timestamp: 1700000000000 }]);
    expect(page.value('b')).toBe(-1500);
    expect(page.value('c')).toBeNaN();
  });
});
