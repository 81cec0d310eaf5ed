/**
 * `sluice team status`: the team as the bus has it now, read with the member's key: who
 * is in it (heartbeats), what is left to take care of on the shared durable, its
 * subscriptions and their shared breakers, and the settings it sets. One JSON object
 * with `--json` (TeamReport, as `sluice --help` documents it); else a few lines and
 * a table of the members.
 */
import { TeamMembers, type MemberView } from '../team/team-members';
import { pendingCount, type SharedBacklog } from '../team/shared-consumer';
import type { TeamConfig, TeamProblem } from '../team/team-config';
import type { TeamKey } from '../team/team-key';
import type { TeamSettings } from '../team/team-records';
import { err, out, printTable, shortTime } from './output';
import type { BusConnection } from './session';

export interface TeamReport {
  team: string;
  bus: string;
  stream: string;
  consumer: string;
  keyId: string;
  createdAt: string;
  /** This installation's instance id (its members record, when its engine runs). */
  self: string;
  /** By name; `self` marks this installation's. */
  members: (MemberView & { self: boolean })[];
  /** The shared durable's backlog; null when it cannot be read (backlogError says why). */
  backlog: SharedBacklog | null;
  backlogError: string | null;
  subscriptions: {
    count: number;
    /** Switched off by the analyst. */
    paused: string[];
    /** Tripped by the shared breaker. */
    tripped: { id: string; name: string; since: string | null; consecutiveFailures: number; lastError: string | null }[];
  };
  /** The team's settings that are set (the others take their defaults). */
  settings: TeamSettings;
  /** Records that could not be read (unsigned, or another key's), left out above. */
  problems: TeamProblem[];
}

export async function readTeamStatus(bus: BusConnection, config: TeamConfig, key: TeamKey, self: string): Promise<TeamReport> {
  const { meta } = config;
  const snapshot = await config.read();
  const members = await (await TeamMembers.open(bus.nc, meta.name, key)).list();
  let backlog: SharedBacklog | null = null;
  let backlogError: string | null = null;
  try {
    backlog = await pendingCount(bus.nc, meta.name, meta.stream);
  } catch (error) {
    backlogError = error instanceof Error ? error.message : String(error);
  }
  const names = new Map(snapshot.subscriptions.map((s) => [s.id, s.name]));
  const tripped = Object.entries(snapshot.breakers)
    .filter(([id, b]) => b.tripped && names.has(id))
    .map(([id, b]) => ({ id, name: names.get(id) as string, since: b.trippedAt, consecutiveFailures: b.consecutiveFailures, lastError: b.lastError }))
    .sort((a, b) => a.name.localeCompare(b.name));
  return {
    team: meta.name,
    bus: bus.url,
    stream: meta.stream,
    consumer: meta.consumer,
    keyId: meta.keyId,
    createdAt: meta.createdAt,
    self,
    members: members.map((m) => ({ ...m, self: m.instanceId === self })),
    backlog,
    backlogError,
    subscriptions: {
      count: snapshot.subscriptions.length,
      paused: snapshot.subscriptions.filter((s) => !s.enabled).map((s) => s.name),
      tripped,
    },
    settings: snapshot.settings,
    problems: snapshot.problems,
  };
}

export function printTeamStatus(view: TeamReport): void {
  const { subscriptions: subs } = view;
  const lines: [string, string][] = [
    ['team', `${view.team} (key ${view.keyId}, created ${shortTime(view.createdAt)})`],
    ['bus', view.bus],
    ['stream', `${view.stream}, through the shared durable ${view.consumer}`],
    ['backlog', view.backlog ? backlogLabel(view.backlog) : `unknown: ${view.backlogError ?? ''}`],
    ['subscriptions', subscriptionsLabel(subs)],
    ['settings', settingsLabel(view.settings)],
  ];
  const width = Math.max(...lines.map(([label]) => label.length));
  for (const [label, value] of lines) out(`${label.padEnd(width)}  ${value}`);
  for (const t of subs.tripped) out(`${''.padEnd(width)}  TRIPPED ${t.name} since ${shortTime(t.since)} after ${t.consecutiveFailures} failures: ${t.lastError ?? '-'}`);
  for (const p of view.problems) err(`note: record ${p.key} left out: ${p.message}`);
  out();
  if (view.members.length === 0) {
    out('(no members running: a member writes its heartbeat every 10 s while its engine runs)');
    return;
  }
  printTable(view.members, [
    { header: 'NAME', value: (m) => (m.self ? `${m.name} (this one)` : m.name), max: 32 },
    { header: 'HOST', value: (m) => m.host, max: 32 },
    { header: 'VERSION', value: (m) => m.version },
    { header: 'BUS', value: (m) => m.bus },
    { header: 'LAST SEEN', value: (m) => `${m.stale ? 'STALE · ' : ''}${ago(m.silentForMs)}` },
    { header: 'DELIVERED', value: (m) => String(m.deliveries.delivered), align: 'right' },
    { header: 'FAILED', value: (m) => String(m.deliveries.failed), align: 'right' },
    { header: 'IN FLIGHT', value: (m) => String(m.deliveries.inFlight), align: 'right' },
    { header: 'ID', value: (m) => m.instanceId },
  ]);
}

function backlogLabel(b: SharedBacklog): string {
  return `${b.pending} waiting, ${b.ackPending} handed to members and not yet acknowledged; ${b.waiting} pull${b.waiting === 1 ? '' : 's'} waiting`;
}

function subscriptionsLabel(subs: TeamReport['subscriptions']): string {
  const parts = [String(subs.count)];
  if (subs.paused.length > 0) parts.push(`${subs.paused.length} paused (${subs.paused.join(', ')})`);
  parts.push(subs.tripped.length === 0 ? 'no breaker tripped' : `${subs.tripped.length} tripped`);
  return parts.join('; ');
}

function settingsLabel(settings: TeamSettings): string {
  const set = Object.entries(settings);
  if (set.length === 0) return '(every team setting at its default)';
  return set.map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : String(v)}`).join('  ');
}

/** `4 s ago`, `3 min ago`, `2 h ago`. */
function ago(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s ago`;
  if (s < 7200) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}
