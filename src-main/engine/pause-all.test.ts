import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { SubscriptionView } from '../contract/views';
import { EMPTY_LEDGER, loadLedger, reconcile, saveLedger, type PauseLedger } from './pause-all';

const dir = mkdtempSync(join(tmpdir(), 'sluice-ledger-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const view = (id: string, state: SubscriptionView['state'], updatedAt: string) => ({ id, state, updatedAt }) as SubscriptionView;
const ledger: PauseLedger = {
  entries: [
    { id: 'a', name: 'a', updatedAt: 't1' },
    { id: 'b', name: 'b', updatedAt: 't1' },
    { id: 'c', name: 'c', updatedAt: 't1' },
    { id: 'd', name: 'd', updatedAt: 't1' },
  ],
};

describe('pause ledger', () => {
  it('keeps only entries still paused and untouched since Pause all', () => {
    const views = [view('a', 'paused', 't1'), view('b', 'active', 't2'), view('c', 'paused', 't3'), view('x', 'paused', 't1')];
    expect(reconcile(ledger, views).entries.map((e) => e.id)).toEqual(['a']);
  });

  it('returns the same ledger when nothing changed (no needless write)', () => {
    const views = ledger.entries.map((e) => view(e.id, 'paused', 't1'));
    expect(reconcile(ledger, views)).toBe(ledger);
  });

  it('saves and loads it back, readable by the user only', () => {
    const path = join(dir, 'sub', 'pause-all.json');
    saveLedger(path, ledger);
    expect(loadLedger(path)).toEqual(ledger);
    if (process.platform !== 'win32') expect(statSync(path).mode & 0o077).toBe(0);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual(ledger);
  });

  it.each([
    ['missing', null],
    ['not JSON', '{nope'],
    ['no entries', '{"x":1}'],
  ])('reads a %s file as empty', (_what, content) => {
    const path = join(dir, `bad-${Math.random()}.json`);
    if (content !== null) writeFileSync(path, content);
    expect(loadLedger(path)).toEqual(EMPTY_LEDGER);
  });

  it('drops malformed entries and extra fields', () => {
    const path = join(dir, 'mixed.json');
    writeFileSync(path, JSON.stringify({ entries: [{ id: 'a', name: 'a', updatedAt: 't', extra: 1 }, { id: 2 }, null, 'x'] }));
    expect(loadLedger(path)).toEqual({ entries: [{ id: 'a', name: 'a', updatedAt: 't' }] });
  });
});
