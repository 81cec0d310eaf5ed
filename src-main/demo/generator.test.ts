import { describe, expect, it } from 'vitest';
import { parseBusMessage } from '../bus/intake';
import { matchesPattern, subjectError } from '../match/pattern';
import { CANARIES, DECKIES, DemoGenerator, type DemoEvent } from './generator';
import { DEFAULT_RETRY_SCHEDULE_S } from '../delivery/retry-policy';
import { DEFAULT_CIRCUIT_THRESHOLD } from '../store/settings';
import { FAST_SCALE, FIRST_OUTAGE_MS, OutageSchedule } from './outages';
import { Rng, seedFrom } from './random';
import { SIEM, SOAR, storedPatterns } from './subscriptions';

const START = Date.UTC(2026, 10, 28, 12, 0, 0);
const TEN_MINUTES = 10 * 60_000;

function run(seed: number, untilMs = TEN_MINUTES): DemoEvent[] {
  return new DemoGenerator({ seed, startMs: START }).until(untilMs);
}

/** Events per whole second of the run. */
function perSecond(events: DemoEvent[], untilMs: number): number[] {
  const counts = new Array<number>(Math.ceil(untilMs / 1000)).fill(0);
  for (const e of events) counts[Math.floor(e.atMs / 1000)]!++;
  return counts;
}

describe('demo generator', () => {
  it('is deterministic: the same seed gives the same events, another seed others', () => {
    const a = run(42, 120_000);
    const b = run(42, 120_000);
    expect(b).toEqual(a);
    const c = run(43, 120_000);
    expect(c.map((e) => e.envelope.id)).not.toEqual(a.map((e) => e.envelope.id));
  });

  it('emits events in time order, with unique ids and valid DECNET envelopes the engine accepts', () => {
    const events = run(7);
    expect(events.length).toBeGreaterThan(1000);
    const ids = new Set<string>();
    let last = 0;
    for (const e of events) {
      expect(e.atMs).toBeGreaterThanOrEqual(last);
      last = e.atMs;
      expect(subjectError(e.subject)).toBeNull();
      expect(e.envelope).toMatchObject({ v: 1, type: expect.any(String), payload: expect.any(Object) });
      expect(e.envelope.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      ids.add(e.envelope.id);
      const ts = e.envelope.ts;
      const wall = typeof ts === 'number' ? ts * 1000 : Date.parse(ts);
      expect(wall).toBeCloseTo(START + e.atMs, -1);
      const parsed = parseBusMessage(e.subject, Buffer.from(JSON.stringify(e.envelope)), START + e.atMs);
      expect(parsed.ok, `${e.subject}: ${JSON.stringify(parsed)}`).toBe(true);
    }
    expect(ids.size).toBe(events.length);
  });

  it('covers the DECNET topic families: attackers, decoy state, canaries, system logs and more', () => {
    const subjects = new Set(run(1).map((e) => e.subject));
    for (const subject of ['attacker.observed', 'attacker.scored', 'attacker.fingerprinted', 'attacker.session.started', 'attacker.session.ended', 'attacker.intel.enriched', 'system.log', 'credential.attempted', 'ttp.detected', 'campaign.updated', 'email.received'])
      expect(subjects, subject).toContain(subject);
    const has = (pattern: string) => [...subjects].some((s) => matchesPattern(pattern, s));
    for (const pattern of ['decky.*.state', 'decky.*.traffic', 'canary.*.triggered', 'system.*.health', 'identity.>'])
      expect(has(pattern), pattern).toBe(true);
    for (const s of subjects) {
      const decky = /^decky\.([^.]+)\./.exec(s)?.[1];
      if (decky) expect(DECKIES.map((d) => d.id)).toContain(decky);
      const token = /^canary\.([^.]+)\./.exec(s)?.[1];
      if (token) expect(CANARIES.map((c) => c.token)).toContain(token);
    }
  });

  it('keeps a quiet baseline of a few events a second, with attack waves as bursts', () => {
    const untilMs = TEN_MINUTES;
    const events = run(99, untilMs);
    const counts = perSecond(events, untilMs);
    const sorted = [...counts].sort((x, y) => x - y);
    const median = sorted[Math.floor(sorted.length / 2)]!;
    expect(median).toBeGreaterThanOrEqual(1);
    expect(median).toBeLessThanOrEqual(5);
    // Bursts: the busiest seconds run an order of magnitude above the baseline.
    expect(Math.max(...counts)).toBeGreaterThanOrEqual(20);
    const waves = events.filter((e) => e.note?.startsWith('attack wave'));
    expect(waves.length).toBeGreaterThanOrEqual(5);
    expect(waves.length).toBeLessThanOrEqual(15);
    expect(waves[0]!.atMs).toBeGreaterThanOrEqual(10_000);
    expect(waves[0]!.atMs).toBeLessThan(20_000);
    expect(waves[0]!.subject).toBe('attacker.observed');
    expect(waves[0]!.envelope.type).toBe('first_sighting');
  });

  it('tells a consistent story per decoy: every state change names the state it left', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const last = new Map<string, string>();
      for (const e of run(seed).filter((x) => x.subject.endsWith('.state'))) {
        const p = e.envelope.payload as { decky: string; state: string; previous: string };
        expect(e.subject).toBe(`decky.${p.decky}.state`);
        expect(p.previous, `seed ${seed} at ${e.atMs} ms`).toBe(last.get(p.decky) ?? 'up');
        expect(p.state).not.toBe(p.previous);
        last.set(p.decky, p.state);
      }
      expect(last.size).toBeGreaterThan(0);
    }
  });

  it('takes the baseline rate and wave timing from its options', () => {
    const quiet = new DemoGenerator({ seed: 3, startMs: START, baselinePerSecond: 10, firstWaveMs: 1e12 }).until(60_000);
    expect(quiet.length).toBeGreaterThan(500);
    expect(quiet.length).toBeLessThan(700);
    expect(quiet.some((e) => e.note)).toBe(false);
  });
});

describe('flaky receiver schedule', () => {
  it('is down from the start for the first outage, then alternates, deterministically', () => {
    const s = new OutageSchedule(11);
    expect(s.at(0)).toEqual({ down: true, fromMs: 0, toMs: FIRST_OUTAGE_MS });
    expect(s.at(FIRST_OUTAGE_MS - 1).down).toBe(true);
    const up = s.at(FIRST_OUTAGE_MS);
    expect(up.down).toBe(false);
    expect(up.toMs - up.fromMs).toBeGreaterThanOrEqual(60_000);
    const down = s.at(up.toMs);
    expect(down.down).toBe(true);
    expect(down.toMs - down.fromMs).toBeGreaterThanOrEqual(20_000);
    expect(down.toMs - down.fromMs).toBeLessThanOrEqual(40_000);
    const again = new OutageSchedule(11);
    expect(again.at(3_600_000)).toEqual(s.at(3_600_000));
    // Asking out of order gives the same answers.
    expect(again.at(up.fromMs + 1)).toEqual(up);
  });

  it('scales every stretch', () => {
    const fast = new OutageSchedule(11, 0.4);
    const slow = new OutageSchedule(11, 1);
    expect(fast.at(0).toMs).toBe(FIRST_OUTAGE_MS * 0.4);
    const f = fast.at(fast.at(0).toMs);
    const s = slow.at(slow.at(0).toMs);
    expect(f.toMs - f.fromMs).toBeCloseTo((s.toMs - s.fromMs) * 0.4, 6);
  });
});

describe('seeds', () => {
  it('takes a number as is and hashes any other text', () => {
    expect(seedFrom('1234')).toBe(1234);
    expect(seedFrom('red team friday')).toBe(seedFrom('red team friday'));
    expect(seedFrom('red team friday')).not.toBe(seedFrom('red team monday'));
    const r = new Rng(1);
    const values = Array.from({ length: 1000 }, () => r.next());
    expect(Math.min(...values)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...values)).toBeLessThan(1);
  });
});

describe('the demo subscriptions against the generator', () => {
  const matching = (events: DemoEvent[], sub: typeof SIEM) => {
    const patterns = storedPatterns(sub);
    return events.filter((e) => patterns.some((p) => matchesPattern(p, e.subject)));
  };

  it('stores the patterns the console shows', () => {
    expect(storedPatterns(SIEM)).toEqual(['attacker.>', 'canary.*.triggered']);
    expect(storedPatterns(SOAR)).toEqual(['decky.*.state', 'decky.*.traffic', 'system.>', 'canary.>', 'ttp.>', 'credential.>']);
  });

  it('gives the flaky subscription its 5 failures (threshold) well inside the first outage, whatever the seed', () => {
    for (const scale of [1, FAST_SCALE]) {
      // A delivery fails after its last retry: 1 + 2 + 4 s, at most +20% jitter, scaled.
      const retryWindowMs = DEFAULT_RETRY_SCHEDULE_S.reduce((a, b) => a + b, 0) * 1000 * 1.2 * scale;
      const outageMs = new OutageSchedule(1, scale).at(0).toMs;
      for (let seed = 1; seed <= 200; seed++) {
        const fifth = matching(run(seed, outageMs), SOAR)[DEFAULT_CIRCUIT_THRESHOLD - 1];
        expect(fifth, `seed ${seed}`).toBeDefined();
        expect(fifth!.atMs + retryWindowMs, `seed ${seed}, scale ${scale}`).toBeLessThan(outageMs * 0.9);
      }
    }
  });

  it('sends the healthy subscription a steady share of the traffic', () => {
    const events = run(21, 60_000);
    const siem = matching(events, SIEM);
    expect(siem.length / events.length).toBeGreaterThan(0.3);
    expect(siem.length / events.length).toBeLessThan(0.8);
    expect(siem.some((e) => e.subject.startsWith('canary.'))).toBe(true);
  });
});
