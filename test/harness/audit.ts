/**
 * The audit trail of a database as a test reads it: straight from the file on a
 * read-only connection of its own (beside a running engine, as an auditor would).
 */
import BetterSqlite3 from 'better-sqlite3';

export interface TrailRecord {
  seq: number;
  at: string;
  actor: string;
  source: string;
  action: string;
  target: string;
  targetId: string | null;
  before: unknown;
  after: unknown;
}

interface Row {
  seq: number;
  at: string;
  actor: string;
  source: string;
  action: string;
  target: string;
  target_id: string | null;
  before: string | null;
  after: string | null;
}

/** Every record committed so far, oldest first. */
export function readTrail(dbPath: string): TrailRecord[] {
  const db = new BetterSqlite3(dbPath, { readonly: true });
  try {
    const rows = db.prepare('SELECT seq, at, actor, source, action, target, target_id, before, after FROM audit ORDER BY seq').all() as Row[];
    return rows.map((r) => ({
      seq: r.seq,
      at: r.at,
      actor: r.actor,
      source: r.source,
      action: r.action,
      target: r.target,
      targetId: r.target_id,
      before: r.before === null ? null : (JSON.parse(r.before) as unknown),
      after: r.after === null ? null : (JSON.parse(r.after) as unknown),
    }));
  } finally {
    db.close();
  }
}
