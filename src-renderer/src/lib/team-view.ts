/**
 * The Team view's logic, apart from its markup (`team.status`, docs/design.md#teams):
 * the members in the order an analyst reads them, names that tell members apart, what
 * the backlog and the team's state say, and the team's live log without repeats.
 */
import type { BusState, TeamDeliveryView, TeamMemberView, TeamStatusView } from '@contract/views';
import { ago, plural } from './format';

export type Tone = 'ok' | 'warn' | 'bad';

/** What the console's main area shows: this Sluice's deliveries, (a team member's) the team, or the audit trail. */
export type ConsoleView = 'deliveries' | 'team' | 'audit';

/**
 * This Sluice first, then the members that beat (by name), then the stale ones: a member
 * that stopped or was cut off is a problem, but the ones doing the work come first.
 */
export function sortMembers(members: readonly TeamMemberView[]): TeamMemberView[] {
  const rank = (m: TeamMemberView): number => (m.self ? 0 : m.stale ? 2 : 1);
  return [...members].sort(
    (a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name) || a.host.localeCompare(b.host) || a.instanceId.localeCompare(b.instanceId),
  );
}

/** Characters of an instance id that tell apart two members of one name (the id is a UUID). */
const SHORT_ID = 8;

/**
 * What each member is called in the view, by instance id: its name, and where two members
 * share one (two Sluices on one host), the start of its instance id as well.
 */
export function memberLabels(members: readonly TeamMemberView[]): Map<string, string> {
  const named = new Map<string, number>();
  for (const m of members) named.set(m.name, (named.get(m.name) ?? 0) + 1);
  return new Map(members.map((m) => [m.instanceId, (named.get(m.name) ?? 0) > 1 ? `${m.name} · ${m.instanceId.slice(0, SHORT_ID)}` : m.name]));
}

/** The member of a log entry as the view calls it; one no longer listed (it left) by the name it gave. */
export function entryMember(entry: TeamDeliveryView, labels: ReadonlyMap<string, string>): string {
  return labels.get(entry.instanceId) ?? entry.member;
}

/** When a member last wrote its heartbeat: `4s ago`, and in full for its tooltip. */
export function lastSeen(member: TeamMemberView, now = Date.now()): { ago: string; title: string } {
  const title = `Last heartbeat ${member.lastSeen}`;
  return {
    ago: ago(member.lastSeen, now),
    title: member.stale ? `${title}: silent for more than 30 s, so stopped or cut off from the bus` : title,
  };
}

/** A member's bus state: connected is well, on its way back is a warning, the rest a problem. */
export function busTone(bus: BusState): Tone {
  if (bus === 'connected') return 'ok';
  if (bus === 'connecting' || bus === 'reconnecting') return 'warn';
  return 'bad';
}

/** The shared backlog: `1,234` and `events waiting on the team's stream`, or why there is no figure. */
export function backlog(pending: number | null): { figure: string | null; text: string } {
  if (pending === null) return { figure: null, text: "The backlog of the team's stream cannot be read now" };
  return { figure: pending.toLocaleString(), text: `${pending === 1 ? 'event' : 'events'} waiting on the team's stream` };
}

/** The team's state in one line: connected, or why it cannot be read. */
export function teamState(view: TeamStatusView): { tone: Tone; text: string } {
  if (view.connected && view.problem === null) return { tone: 'ok', text: "Connected to the team's configuration" };
  // Connected but the members or backlog could not be read: the rest of the picture still holds.
  if (view.connected) return { tone: 'warn', text: view.problem ?? '' };
  return { tone: 'bad', text: view.problem ?? 'not connected to the bus' };
}

/** `2 members`, `3 members · 1 stale`. */
export function membersSummary(members: readonly TeamMemberView[]): { text: string; stale: number } {
  const stale = members.filter((m) => m.stale).length;
  return { text: `${plural(members.length, 'member')}${stale > 0 ? ` · ${stale} stale` : ''}`, stale };
}

/** A log entry's key: its id in its member's own log. */
export const entryKey = (d: TeamDeliveryView): string => `${d.instanceId}:${d.deliveryId}`;

/** The log as received (newest first), each delivery once: a batch heard twice shows once, its newest telling kept. */
export function uniqueEntries(recent: readonly TeamDeliveryView[]): TeamDeliveryView[] {
  const seen = new Set<string>();
  return recent.filter((d) => {
    const key = entryKey(d);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
