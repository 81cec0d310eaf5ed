import { describe, expect, it } from 'vitest';
import type { TeamDeliveryView, TeamMemberView, TeamStatusView } from '@contract/views';
import { backlog, busTone, entryMember, lastSeen, memberLabels, membersSummary, sortMembers, teamState, uniqueEntries } from './team-view';

const NOW = Date.parse('2026-12-06T10:00:00Z');

function member(over: Partial<TeamMemberView> & { instanceId: string }): TeamMemberView {
  return {
    name: 'soc-1',
    host: 'soc-1',
    version: '0.1.0',
    startedAt: '2026-12-06T09:00:00Z',
    lastSeen: new Date(NOW - 4_000).toISOString(),
    stale: false,
    bus: 'connected',
    deliveries: { delivered: 0, failed: 0, inFlight: 0 },
    self: false,
    ...over,
  };
}

function entry(over: Partial<TeamDeliveryView> & { instanceId: string; deliveryId: number }): TeamDeliveryView {
  return {
    member: 'soc-1',
    subscriptionName: 'siem',
    eventId: `evt-${over.deliveryId}`,
    topic: 'attacker.observed',
    outcome: 'delivered',
    statusCode: 200,
    latencyMs: 12,
    at: new Date(NOW).toISOString(),
    ...over,
  };
}

describe('sortMembers', () => {
  it('puts this Sluice first, then the live members by name, then the stale ones', () => {
    const members = [
      member({ instanceId: 'd', name: 'zulu', stale: true }),
      member({ instanceId: 'c', name: 'bravo' }),
      member({ instanceId: 'b', name: 'yankee', self: true }),
      member({ instanceId: 'a', name: 'alpha', stale: true }),
      member({ instanceId: 'e', name: 'alpha' }),
    ];
    expect(sortMembers(members).map((m) => m.instanceId)).toEqual(['b', 'e', 'c', 'a', 'd']);
    // The list given is left as it was.
    expect(members.map((m) => m.instanceId)).toEqual(['d', 'c', 'b', 'a', 'e']);
  });

  it('keeps this Sluice first even when it is stale (its own heartbeat could not be written)', () => {
    const sorted = sortMembers([member({ instanceId: 'x', name: 'a' }), member({ instanceId: 'y', name: 'b', self: true, stale: true })]);
    expect(sorted.map((m) => m.instanceId)).toEqual(['y', 'x']);
  });

  it('orders members of one name by host, then by instance id', () => {
    const sorted = sortMembers([
      member({ instanceId: '2', name: 'soc', host: 'b' }),
      member({ instanceId: '9', name: 'soc', host: 'a' }),
      member({ instanceId: '1', name: 'soc', host: 'b' }),
    ]);
    expect(sorted.map((m) => m.instanceId)).toEqual(['9', '1', '2']);
  });
});

describe('memberLabels', () => {
  it('calls a member by its name, and adds the start of its id where two share a name', () => {
    const labels = memberLabels([
      member({ instanceId: '3f2a9c1e-0000-4000-8000-000000000001', name: 'vm' }),
      member({ instanceId: '7b4d2e90-0000-4000-8000-000000000002', name: 'vm' }),
      member({ instanceId: 'c0ffee00-0000-4000-8000-000000000003', name: 'night-shift' }),
    ]);
    expect(labels.get('3f2a9c1e-0000-4000-8000-000000000001')).toBe('vm · 3f2a9c1e');
    expect(labels.get('7b4d2e90-0000-4000-8000-000000000002')).toBe('vm · 7b4d2e90');
    expect(labels.get('c0ffee00-0000-4000-8000-000000000003')).toBe('night-shift');
  });

  it('names a log entry by its member, or by the name it gave when that member is no longer listed', () => {
    const labels = memberLabels([member({ instanceId: 'a', name: 'day-shift' })]);
    expect(entryMember(entry({ instanceId: 'a', deliveryId: 1, member: 'old-name' }), labels)).toBe('day-shift');
    expect(entryMember(entry({ instanceId: 'gone', deliveryId: 1, member: 'left-early' }), labels)).toBe('left-early');
  });
});

describe('lastSeen', () => {
  it('says how long ago, and why a stale member is one', () => {
    const seen = lastSeen(member({ instanceId: 'a' }), NOW);
    expect(seen.ago).toBe('4s ago');
    expect(seen.title).toBe(`Last heartbeat ${new Date(NOW - 4_000).toISOString()}`);
    const stale = lastSeen(member({ instanceId: 'a', stale: true, lastSeen: new Date(NOW - 125_000).toISOString() }), NOW);
    expect(stale.ago).toBe('2m ago');
    expect(stale.title).toContain('silent for more than 30 s');
    // A member whose clock is ahead of ours: not in the future.
    expect(lastSeen(member({ instanceId: 'a', lastSeen: new Date(NOW + 3_000).toISOString() }), NOW).ago).toBe('0s ago');
  });
});

describe('busTone', () => {
  it('is well when connected, a warning on the way back, a problem otherwise', () => {
    expect(busTone('connected')).toBe('ok');
    expect(busTone('connecting')).toBe('warn');
    expect(busTone('reconnecting')).toBe('warn');
    expect(busTone('auth_failed')).toBe('bad');
    expect(busTone('closed')).toBe('bad');
  });
});

describe('backlog', () => {
  it("counts the events waiting on the team's stream, or says it cannot be read", () => {
    expect(backlog(0)).toEqual({ figure: '0', text: "events waiting on the team's stream" });
    expect(backlog(1)).toEqual({ figure: '1', text: "event waiting on the team's stream" });
    expect(backlog(1234)).toEqual({ figure: (1234).toLocaleString(), text: "events waiting on the team's stream" });
    expect(backlog(null)).toEqual({ figure: null, text: "The backlog of the team's stream cannot be read now" });
  });
});

describe('teamState', () => {
  const view = (over: Partial<TeamStatusView>): TeamStatusView => ({
    bucket: 'soc',
    stream: 'DECNET',
    connected: true,
    members: [],
    pending: 0,
    recent: [],
    problem: null,
    ...over,
  });

  it('is connected, or names the problem', () => {
    expect(teamState(view({}))).toEqual({ tone: 'ok', text: "Connected to the team's configuration" });
    expect(teamState(view({ connected: false, problem: 'this team key is not the team\'s key' }))).toEqual({ tone: 'bad', text: "this team key is not the team's key" });
    expect(teamState(view({ connected: false, problem: null }))).toEqual({ tone: 'bad', text: 'not connected to the bus' });
    expect(teamState(view({ problem: 'members bucket unavailable' }))).toEqual({ tone: 'warn', text: 'members bucket unavailable' });
  });
});

describe('membersSummary', () => {
  it('counts the members and the stale ones', () => {
    expect(membersSummary([member({ instanceId: 'a' })])).toEqual({ text: '1 member', stale: 0 });
    expect(membersSummary([member({ instanceId: 'a' }), member({ instanceId: 'b', stale: true }), member({ instanceId: 'c' })])).toEqual({
      text: '3 members · 1 stale',
      stale: 1,
    });
    expect(membersSummary([])).toEqual({ text: '0 members', stale: 0 });
  });
});

describe('uniqueEntries', () => {
  it("keeps each member's delivery once, newest first as received", () => {
    const recent = [
      entry({ instanceId: 'a', deliveryId: 3 }),
      entry({ instanceId: 'b', deliveryId: 3 }),
      entry({ instanceId: 'a', deliveryId: 2, outcome: 'dead' }),
      entry({ instanceId: 'a', deliveryId: 3, outcome: 'failed' }),
    ];
    expect(uniqueEntries(recent).map((d) => `${d.instanceId}:${d.deliveryId}:${d.outcome}`)).toEqual(['a:3:delivered', 'b:3:delivered', 'a:2:dead']);
  });
});
