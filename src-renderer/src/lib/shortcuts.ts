/**
 * The console's keyboard shortcuts, in one place: the keys, what each does and the rule that
 * decides whether a key press is a shortcut at all. The help overlay and the README table
 * are made from (or checked against) SHORTCUTS, so the list an analyst reads cannot drift
 * from what the keys do. Pure: App.svelte turns a key press into an action here and runs it.
 *
 * The policy, so that a shortcut never takes a key from somewhere it means something else:
 * - Nothing fires with Ctrl, Meta or Alt held: those belong to the browser and the OS
 *   (copy, find, tab switching…). Shift only as part of the character it makes (`?`).
 * - While typing (an input, a textarea, a select, an editable element) every key is the
 *   field's, except Escape.
 * - While a modal dialog or a menu is open, every key is theirs (Escape included: the
 *   dialog closes itself and gives focus back).
 * - Enter is a shortcut only on a list's row (or with nothing focused): on a button or a
 *   link it stays the button's.
 * - Arrow keys move through rows only while a list has focus: elsewhere they scroll.
 */

export type ShortcutAction =
  | 'focus-filter'
  | 'next'
  | 'previous'
  | 'open'
  | 'close'
  | 'go-subscriptions'
  | 'go-deliveries'
  | 'reenable'
  | 'help';

/** Where a key press happens, as far as the keymap cares. */
export type KeyTarget =
  /** A text field, a select, an editable element: its keys are its own. */
  | 'typing'
  /** A row of the delivery log or the subscriptions table (or the list itself). */
  | 'list'
  /** A button, a link or another control. */
  | 'control'
  /** Nothing in particular (the page). */
  | 'page';

export interface Shortcut {
  /** `KeyboardEvent.key` values, pressed one after the other (`['g', 's']`). */
  keys: readonly string[];
  action: ShortcutAction;
  /** What it does, as the help overlay and the README say it. */
  description: string;
  /** Only while a list (the log, the subscriptions) has focus. */
  listOnly?: boolean;
}

export const SHORTCUTS: readonly Shortcut[] = [
  { keys: ['/'], action: 'focus-filter', description: 'Focus the log filter (topic or pattern)' },
  { keys: ['j'], action: 'next', description: 'Next row: the delivery log, or the subscriptions when they have focus' },
  { keys: ['k'], action: 'previous', description: 'Previous row' },
  { keys: ['ArrowDown'], action: 'next', description: 'Next row, while a list has focus', listOnly: true },
  { keys: ['ArrowUp'], action: 'previous', description: 'Previous row, while a list has focus', listOnly: true },
  { keys: ['Enter'], action: 'open', description: "Open the selected row's detail (a delivery, a subscription's health)" },
  { keys: ['Escape'], action: 'close', description: 'Close the detail, dialog or overlay (focus goes back where it was); from a log filter, back to the log' },
  { keys: ['g', 's'], action: 'go-subscriptions', description: 'Go to the subscriptions table' },
  { keys: ['g', 'd'], action: 'go-deliveries', description: 'Go to the delivery log' },
  {
    keys: ['e'],
    action: 'reenable',
    description: 'Re-enable the selected subscription (paused or tripped); with held events, a menu: deliver them, or discard them (confirmed)',
  },
  { keys: ['?'], action: 'help', description: 'Show these shortcuts' },
];

/** How long the second key of a sequence (`g` then `s`) may wait. */
export const SEQUENCE_MS = 1500;

/** What of a key press the keymap reads (a KeyboardEvent has all of it). */
export interface KeyPress {
  key: string;
  ctrlKey: boolean;
  metaKey: boolean;
  altKey: boolean;
}

export interface KeyContext {
  target: KeyTarget;
  /** A modal dialog or a menu is open. */
  modal: boolean;
}

/** The first key of a sequence, waiting for the next. */
export interface PendingKey {
  key: string;
  at: number;
}

export interface Resolved {
  action: ShortcutAction | null;
  /** Carry into the next key press. */
  pending: PendingKey | null;
}

/** How a key reads in the help overlay and the README: `g s`, `?`, `↓`. */
export function keyLabel(key: string): string {
  switch (key) {
    case 'ArrowDown':
      return '↓';
    case 'ArrowUp':
      return '↑';
    case 'Escape':
      return 'Esc';
    default:
      return key;
  }
}

export function shortcutLabel(shortcut: Shortcut): string {
  return shortcut.keys.map(keyLabel).join(' ');
}

/** The action a key press asks for, if any, and the sequence left pending. `now` in ms. */
export function resolveKey(press: KeyPress, context: KeyContext, pending: PendingKey | null, now: number): Resolved {
  const none: Resolved = { action: null, pending: null };
  if (press.ctrlKey || press.metaKey || press.altKey) return none;
  if (context.modal) return none;
  if (context.target === 'typing' && press.key !== 'Escape') return none;

  const waiting = pending !== null && now - pending.at <= SEQUENCE_MS ? pending.key : null;
  if (waiting !== null) {
    const match = SHORTCUTS.find((s) => s.keys.length === 2 && s.keys[0] === waiting && s.keys[1] === press.key);
    // A first key followed by something else: the sequence is dropped, the key read afresh.
    if (match) return { action: match.action, pending: null };
  }
  if (SHORTCUTS.some((s) => s.keys.length === 2 && s.keys[0] === press.key)) return { action: null, pending: { key: press.key, at: now } };

  const match = SHORTCUTS.find((s) => s.keys.length === 1 && s.keys[0] === press.key);
  if (!match) return none;
  if (match.listOnly && context.target !== 'list') return none;
  if (match.action === 'open' && context.target !== 'list' && context.target !== 'page') return none;
  return { action: match.action, pending: null };
}

/** The parts of an element that decide whether keys typed at it are text. */
export interface ElementLike {
  tagName: string;
  type?: string;
  isContentEditable?: boolean;
}

/** Input types that take no typed text: a key press at them is not typing. */
const NOT_TEXT = new Set(['button', 'submit', 'reset', 'checkbox', 'radio', 'range', 'color', 'file', 'image']);

export function isTyping(el: ElementLike | null): boolean {
  if (!el) return false;
  const tag = el.tagName.toLowerCase();
  if (tag === 'textarea' || tag === 'select') return true;
  if (tag === 'input') return !NOT_TEXT.has((el.type ?? 'text').toLowerCase());
  return el.isContentEditable === true;
}
