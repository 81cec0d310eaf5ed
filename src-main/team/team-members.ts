/**
 * Who is in the team: every member writes a heartbeat (`members.<instanceId>`: its name,
 * host, version, start, bus state and delivery counts, and when it was written) into the
 * team's members bucket every few seconds, and `team status` lists them.
 *
 * nats-server 2.9 has no per-key TTL, so liveness is read from the heartbeat itself: a
 * member whose last heartbeat is older than STALE_AFTER_MS is shown stale (stopped,
 * crashed or cut off). The members bucket is apart from the configuration because it
 * has an age limit (a day): the server itself forgets a member that has been silent that
 * long, which on the configuration bucket would expire subscriptions. A member that
 * stops cleanly removes its heartbeat at once. Heartbeats are signed with the team key
 * like configuration records (team-records.ts), and unsigned ones are not listed.
 */
import type { NatsConnection } from '@nats-io/nats-core';
import type { BusState } from '../contract/views';
import { KvBucket } from './kv-bucket';
import type { TeamKey } from './team-key';
import { checkRecordId, encodeJson, membersBucketName, signatureHeaders, verifyEntry } from './team-records';

export const HEARTBEAT_INTERVAL_MS = 10_000;
/** Three heartbeats missed: one lost write or a slow second is not enough to call a member gone. */
export const STALE_AFTER_MS = 3 * HEARTBEAT_INTERVAL_MS;
/** The members bucket's age limit: a member silent this long is no longer listed at all. */
export const MEMBER_MAX_AGE_MS = 24 * 60 * 60 * 1000;

const memberKey = (instanceId: string): string => `members.${checkRecordId(instanceId, 'an instance id')}`;

/** What a member says of itself in each heartbeat. */
export interface MemberHeartbeat {
  /** This installation's id (stable across restarts). */
  instanceId: string;
  /** What the analyst calls it; the host name by default. */
  name: string;
  host: string;
  /** Sluice's version. */
  version: string;
  startedAt: string;
  bus: BusState;
  /** Since it started. */
  deliveries: { delivered: number; failed: number; inFlight: number };
}

export interface MemberRecord extends MemberHeartbeat {
  /** When the heartbeat was written (by the member's clock). */
  lastSeen: string;
}

export interface MemberView extends MemberRecord {
  /** No heartbeat for longer than the stale limit. */
  stale: boolean;
  /** Since the last heartbeat (0 when its clock is ahead of ours). */
  silentForMs: number;
}

/** The members bucket, made when missing. */
export function ensureMembersBucket(nc: NatsConnection, team: string, maxAgeMs = MEMBER_MAX_AGE_MS): Promise<KvBucket> {
  return KvBucket.ensure(nc, membersBucketName(team), { maxAgeMs, description: `Sluice team ${team}: its members' heartbeats` });
}

export interface HeartbeatLoop {
  /** Stops beating; `leave` (default true) removes this member's heartbeat, as a clean stop does. */
  stop(leave?: boolean): Promise<void>;
}

export class TeamMembers {
  private constructor(
    private readonly bucket: KvBucket,
    private readonly key: TeamKey,
    private readonly staleAfterMs: number,
  ) {}

  static async open(nc: NatsConnection, team: string, key: TeamKey, options: { staleAfterMs?: number; maxAgeMs?: number } = {}): Promise<TeamMembers> {
    return new TeamMembers(await ensureMembersBucket(nc, team, options.maxAgeMs), key, options.staleAfterMs ?? STALE_AFTER_MS);
  }

  /** Writes one heartbeat; returns its revision. */
  async beat(heartbeat: MemberHeartbeat, now = new Date()): Promise<number> {
    const key = memberKey(heartbeat.instanceId);
    const value = encodeJson({ ...heartbeat, lastSeen: now.toISOString() } satisfies MemberRecord);
    return this.bucket.put(key, value, undefined, signatureHeaders(this.key, key, 'PUT', value));
  }

  /** Removes a member's heartbeat (a clean stop, or the analyst forgetting a member for good). */
  async leave(instanceId: string): Promise<void> {
    const key = memberKey(instanceId);
    await this.bucket.delete(key, undefined, signatureHeaders(this.key, key, 'DEL'));
  }

  /** Every member with a heartbeat, by name; unsigned and unreadable records are left out. */
  async list(now = new Date()): Promise<MemberView[]> {
    const members: MemberView[] = [];
    for (const entry of await this.bucket.entries()) {
      if (entry.operation !== 'PUT' || !entry.key.startsWith('members.')) continue;
      try {
        verifyEntry(this.key, entry);
      } catch {
        continue;
      }
      const record = parseMember(entry.value);
      if (!record) continue;
      const silentForMs = Math.max(0, now.getTime() - Date.parse(record.lastSeen));
      members.push({ ...record, stale: silentForMs > this.staleAfterMs, silentForMs });
    }
    return members.sort((a, b) => a.name.localeCompare(b.name) || a.instanceId.localeCompare(b.instanceId));
  }

  /**
   * Beats now and every `intervalMs` with what `current()` says; a failed beat (the bus
   * away) goes to `onError` and the next one tries again. The timer never keeps the
   * process alive.
   */
  startHeartbeat(
    current: () => MemberHeartbeat,
    options: { intervalMs?: number; onError?: (error: unknown) => void } = {},
  ): HeartbeatLoop {
    let last: Promise<unknown> = Promise.resolve();
    let instanceId: string | null = null;
    const beatOnce = (): void => {
      last = last.then(async () => {
        try {
          const heartbeat = current();
          instanceId = heartbeat.instanceId;
          await this.beat(heartbeat);
        } catch (error) {
          options.onError?.(error);
        }
      });
    };
    beatOnce();
    const timer = setInterval(beatOnce, options.intervalMs ?? HEARTBEAT_INTERVAL_MS);
    timer.unref();
    return {
      stop: async (leave = true) => {
        clearInterval(timer);
        await last;
        if (leave && instanceId !== null) await this.leave(instanceId).catch((error: unknown) => options.onError?.(error));
      },
    };
  }
}

function parseMember(value: Uint8Array): MemberRecord | null {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(new TextDecoder().decode(value)) as Record<string, unknown>;
  } catch {
    return null;
  }
  if (typeof o !== 'object' || o === null) return null;
  const text = ['instanceId', 'name', 'host', 'version', 'startedAt', 'bus', 'lastSeen'] as const;
  if (!text.every((field) => typeof o[field] === 'string') || Number.isNaN(Date.parse(o['lastSeen'] as string))) return null;
  const d = (typeof o['deliveries'] === 'object' && o['deliveries'] !== null ? o['deliveries'] : {}) as Record<string, unknown>;
  const count = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0);
  return {
    instanceId: o['instanceId'] as string,
    name: o['name'] as string,
    host: o['host'] as string,
    version: o['version'] as string,
    startedAt: o['startedAt'] as string,
    bus: o['bus'] as BusState,
    lastSeen: o['lastSeen'] as string,
    deliveries: { delivered: count(d['delivered']), failed: count(d['failed']), inFlight: count(d['inFlight']) },
  };
}
