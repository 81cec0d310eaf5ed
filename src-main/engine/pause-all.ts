/**
 * Pause all / Resume all (the tray menu), through the bridge contract exactly as the
 * console pauses and re-enables one subscription.
 *
 * Resume all must not undo the analyst's own decisions, so Pause all keeps a ledger of
 * what it paused: each subscription with the `updatedAt` its pause left. Resume all
 * re-enables only entries still paused and untouched since (same `updatedAt`: the
 * engine's breaker bookkeeping never changes it, a person's edit, pause or re-enable
 * does). A subscription paused by hand before Pause all, or re-enabled and paused again
 * after it, stays paused. The ledger is kept in a small JSON file beside the database so
 * it survives a restart; it is checked against the subscriptions on every snapshot.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { SluiceApi } from '../contract/bridge';
import type { SubscriptionView } from '../contract/views';

interface PausedEntry {
  id: string;
  name: string;
  /** The subscription's `updatedAt` right after Pause all paused it. */
  updatedAt: string;
}

export interface PauseLedger {
  entries: PausedEntry[];
}

export const EMPTY_LEDGER: PauseLedger = { entries: [] };

export type PauseApi = Pick<SluiceApi, 'subscriptions.list' | 'subscriptions.setEnabled'>;

export interface BulkResult {
  ledger: PauseLedger;
  /** Names changed by this call. */
  changed: string[];
  /** Names that could not be changed, with the engine's message. */
  failed: { name: string; message: string }[];
}

/** Entries Resume all would still act on, given the subscriptions as they are now. */
export function reconcile(ledger: PauseLedger, views: readonly SubscriptionView[]): PauseLedger {
  const byId = new Map(views.map((v) => [v.id, v]));
  const entries = ledger.entries.filter((e) => {
    const view = byId.get(e.id);
    return view !== undefined && view.state === 'paused' && view.updatedAt === e.updatedAt;
  });
  return entries.length === ledger.entries.length ? ledger : { entries };
}

async function listOrThrow(api: PauseApi): Promise<SubscriptionView[]> {
  const listed = await api['subscriptions.list']();
  if (!listed.ok) throw new Error(`cannot list subscriptions: ${listed.error.message}`);
  return listed.value;
}

/** Pause every active subscription; the ledger gains them (earlier entries still valid stay). */
export async function pauseAll(api: PauseApi, ledger: PauseLedger): Promise<BulkResult> {
  const views = await listOrThrow(api);
  const kept = reconcile(ledger, views).entries;
  const entries = [...kept];
  const changed: string[] = [];
  const failed: BulkResult['failed'] = [];
  for (const view of views.filter((v) => v.state === 'active')) {
    const r = await api['subscriptions.setEnabled'](view.id, false);
    if (!r.ok) {
      failed.push({ name: view.name, message: r.error.message });
      continue;
    }
    // A delivery that ended failed just now may have tripped it instead: not ours to resume.
    if (r.value.state !== 'paused') continue;
    changed.push(view.name);
    entries.push({ id: view.id, name: view.name, updatedAt: r.value.updatedAt });
  }
  return { ledger: { entries }, changed, failed };
}

/** Re-enable what Pause all paused and nobody touched since; the ledger is emptied. */
export async function resumeAll(api: PauseApi, ledger: PauseLedger): Promise<BulkResult> {
  const views = await listOrThrow(api);
  const changed: string[] = [];
  const failed: BulkResult['failed'] = [];
  for (const entry of reconcile(ledger, views).entries) {
    // What each held while paused is delivered, as a one-click re-enable does: nothing lost.
    const r = await api['subscriptions.setEnabled'](entry.id, true, 'deliver');
    if (r.ok) changed.push(entry.name);
    else failed.push({ name: entry.name, message: r.error.message });
  }
  return { ledger: EMPTY_LEDGER, changed, failed };
}

/** The ledger file; a missing or unreadable one is an empty ledger (Resume all then does nothing). */
export function loadLedger(path: string): PauseLedger {
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch {
    return EMPTY_LEDGER;
  }
  try {
    const parsed: unknown = JSON.parse(raw);
    const list = (parsed as { entries?: unknown }).entries;
    if (!Array.isArray(list)) return EMPTY_LEDGER;
    const entries = list.filter(
      (e): e is PausedEntry =>
        typeof e === 'object' && e !== null && typeof e.id === 'string' && typeof e.name === 'string' && typeof e.updatedAt === 'string',
    );
    return { entries: entries.map(({ id, name, updatedAt }) => ({ id, name, updatedAt })) };
  } catch {
    return EMPTY_LEDGER;
  }
}

/** Written whole to a temp file and renamed over the old one: never half a ledger. */
export function saveLedger(path: string, ledger: PauseLedger): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(ledger, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, path);
}
