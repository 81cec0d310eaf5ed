import { describe, expect, it } from 'vitest';
import { isTyping, resolveKey, SEQUENCE_MS, SHORTCUTS, shortcutLabel, type KeyContext, type KeyPress, type PendingKey } from './shortcuts';

const press = (key: string, mods: Partial<KeyPress> = {}): KeyPress => ({ key, ctrlKey: false, metaKey: false, altKey: false, ...mods });
const at = (target: KeyContext['target'], modal = false): KeyContext => ({ target, modal });
const action = (key: string, context = at('page'), mods: Partial<KeyPress> = {}) => resolveKey(press(key, mods), context, null, 0).action;

describe('shortcuts', () => {
  it('maps each single key to its action', () => {
    expect(action('/')).toBe('focus-filter');
    expect(action('j')).toBe('next');
    expect(action('k')).toBe('previous');
    expect(action('Enter')).toBe('open');
    expect(action('Escape')).toBe('close');
    expect(action('e')).toBe('reenable');
    expect(action('?')).toBe('help');
    expect(action('x')).toBeNull();
    // Shifted letters are other keys.
    expect(action('J')).toBeNull();
  });

  it('reads g s and g d as sequences, within the time allowed', () => {
    const first = resolveKey(press('g'), at('page'), null, 1000);
    expect(first).toEqual({ action: null, pending: { key: 'g', at: 1000 } });
    expect(resolveKey(press('s'), at('page'), first.pending, 1500).action).toBe('go-subscriptions');
    expect(resolveKey(press('d'), at('control'), first.pending, 1500).action).toBe('go-deliveries');
    // Too late: the second key is read alone (d, s are nothing alone).
    expect(resolveKey(press('s'), at('page'), first.pending, 1000 + SEQUENCE_MS + 1)).toEqual({ action: null, pending: null });
    // Broken by another key: that key counts on its own.
    expect(resolveKey(press('j'), at('page'), first.pending, 1200)).toEqual({ action: 'next', pending: null });
    // s alone is nothing.
    expect(action('s')).toBeNull();
  });

  it('leaves every key but Escape to a field being typed in', () => {
    for (const key of ['/', 'j', 'k', 'e', '?', 'g', 'Enter', 'ArrowDown']) expect(action(key, at('typing'))).toBeNull();
    expect(action('Escape', at('typing'))).toBe('close');
    const pending: PendingKey = { key: 'g', at: 0 };
    expect(resolveKey(press('s'), at('typing'), pending, 10).action).toBeNull();
  });

  it('leaves every key to an open dialog or menu, Escape included', () => {
    for (const key of ['/', 'j', 'Enter', 'Escape', '?', 'e']) expect(action(key, at('page', true))).toBeNull();
  });

  it('never fires with Ctrl, Meta or Alt (the browser’s and the OS’s shortcuts)', () => {
    for (const mod of ['ctrlKey', 'metaKey', 'altKey'] as const) {
      for (const s of SHORTCUTS) expect(action(s.keys[0]!, at('list'), { [mod]: true })).toBeNull();
    }
  });

  it('moves with the arrows only while a list has focus', () => {
    expect(action('ArrowDown', at('list'))).toBe('next');
    expect(action('ArrowUp', at('list'))).toBe('previous');
    expect(action('ArrowDown', at('page'))).toBeNull();
    expect(action('ArrowUp', at('control'))).toBeNull();
  });

  it('leaves Enter to a focused button', () => {
    expect(action('Enter', at('control'))).toBeNull();
    expect(action('Enter', at('list'))).toBe('open');
  });

  it('knows which elements take typed text', () => {
    expect(isTyping({ tagName: 'INPUT', type: 'text' })).toBe(true);
    expect(isTyping({ tagName: 'INPUT' })).toBe(true);
    expect(isTyping({ tagName: 'INPUT', type: 'password' })).toBe(true);
    expect(isTyping({ tagName: 'INPUT', type: 'checkbox' })).toBe(false);
    expect(isTyping({ tagName: 'TEXTAREA' })).toBe(true);
    expect(isTyping({ tagName: 'SELECT' })).toBe(true);
    expect(isTyping({ tagName: 'DIV', isContentEditable: true })).toBe(true);
    expect(isTyping({ tagName: 'BUTTON' })).toBe(false);
    expect(isTyping(null)).toBe(false);
  });

  it('has one entry per key sequence, and no sequence hides another', () => {
    const labels = SHORTCUTS.map(shortcutLabel);
    expect(new Set(labels).size).toBe(labels.length);
    const prefixes = new Set(SHORTCUTS.filter((s) => s.keys.length > 1).map((s) => s.keys[0]));
    expect(SHORTCUTS.filter((s) => s.keys.length === 1 && prefixes.has(s.keys[0]))).toEqual([]);
  });
});
