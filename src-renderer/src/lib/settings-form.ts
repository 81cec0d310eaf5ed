/**
 * The Settings form's logic, apart from its markup: the draft a view gives, the patch of
 * what changed (and what must be fixed first), whether the form differs from what is
 * stored, where an error from the engine goes, and what a save says. Every field is
 * handled by its setting's kind (contract/settings-descriptor.ts), so a new setting needs
 * nothing here.
 */
import type { BridgeError, SettingsPatch } from '@contract/bridge';
import {
  BUS_KEYS,
  SECRET_KEYS,
  SETTINGS,
  SETTING_KEYS,
  keysOfKind,
  type SecretKey,
  type SettingGroup,
  type SettingKey,
  type Settings,
} from '@contract/settings-descriptor';
import type { SettingsView } from '@contract/views';
import { parseScheduleText, sameSchedule } from './retry-schedule';

export type { SecretKey, SettingKey };
/** The settings edited as a field; the secrets are replaced or cleared, never shown. */
export type FieldKey = Exclude<SettingKey, SecretKey>;
export const FIELD_KEYS = SETTING_KEYS.filter((k): k is FieldKey => SETTINGS[k].kind !== 'secret');

/** What the analyst sees in each field; numbers stay text until saved, so a typo can be named. */
export type Draft = { [K in FieldKey]: Settings[K] extends boolean ? boolean : string };

export type SecretMode = 'keep' | 'replace' | 'clear';
export type SecretEdits = Record<SecretKey, { mode: SecretMode; value: string }>;
export type FieldProblems = Partial<Record<SettingKey, string>>;

export function untouchedSecrets(): SecretEdits {
  return Object.fromEntries(SECRET_KEYS.map((k) => [k, { mode: 'keep', value: '' }])) as SecretEdits;
}

export function draftOf(view: SettingsView): Draft {
  const draft: Record<string, string | boolean> = {};
  for (const key of FIELD_KEYS) {
    const value = view[key];
    switch (SETTINGS[key].kind) {
      case 'list':
        draft[key] = (value as string[]).join('\n');
        break;
      case 'schedule':
        draft[key] = (value as number[]).join(', ');
        break;
      case 'boolean':
        draft[key] = value as boolean;
        break;
      default:
        draft[key] = String(value);
    }
  }
  return draft as Draft;
}

/** A list field: one entry per line (or comma-separated). */
const listOf = (text: string): string[] =>
  text
    .split(/[\n,]/)
    .map((c) => c.trim())
    .filter(Boolean);

const sameList = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

/** The patch the form would save (changed fields only), and what must be fixed first. */
export function pendingOf(saved: SettingsView, draft: Draft, secrets: SecretEdits): { patch: SettingsPatch; problems: FieldProblems } {
  const patch: Record<string, unknown> = {};
  const problems: FieldProblems = {};
  for (const key of SETTING_KEYS) {
    const kind = SETTINGS[key].kind;
    if (kind === 'secret') {
      const edit = secrets[key as SecretKey];
      if (edit.mode === 'clear') patch[key] = '';
      else if (edit.mode === 'replace' && edit.value !== '') patch[key] = edit.value;
      continue;
    }
    const field = key as FieldKey;
    const stored = saved[field];
    const input = draft[field];
    if (kind === 'boolean') {
      if (input !== stored) patch[key] = input;
      continue;
    }
    const text = input as string;
    switch (kind) {
      case 'text':
      case 'path':
        if (text.trim() !== stored) patch[key] = text.trim();
        break;
      case 'list': {
        const list = listOf(text);
        if (!sameList(list, stored as string[])) patch[key] = list;
        break;
      }
      case 'schedule': {
        const schedule = parseScheduleText(text);
        if (!schedule.ok) problems[key] = schedule.error;
        else if (!sameSchedule(schedule.value, stored as number[])) patch[key] = schedule.value;
        break;
      }
      case 'integer': {
        const digits = text.trim();
        if (!/^\d+$/.test(digits)) problems[key] = digits === '' ? 'a value is required' : `"${digits}" is not a whole number`;
        else if (Number(digits) !== stored) patch[key] = Number(digits);
        break;
      }
    }
  }
  return { patch: patch as SettingsPatch, problems };
}

/** The form differs from what is stored (a typo counts: Save then names it). */
export function isDirty(saved: SettingsView, draft: Draft, pending: { patch: SettingsPatch; problems: FieldProblems }): boolean {
  const initial = draftOf(saved);
  return (
    Object.keys(pending.patch).length > 0 ||
    Object.keys(pending.problems).length > 0 ||
    FIELD_KEYS.some((k) => initial[k] !== draft[k])
  );
}

/**
 * An error from the engine, under the field it names (`allowedCidrs[2]` → allowed
 * networks, `entry 3: …`); null when it names no setting (shown for the whole form).
 */
export function fieldErrorOf(error: BridgeError): { key: SettingKey; message: string } | null {
  const field = error.field ?? '';
  const key = field.replace(/\[.*$/, '');
  if (!Object.hasOwn(SETTINGS, key)) return null;
  let message = error.message.startsWith(`${field} `) ? error.message.slice(field.length + 1) : error.message;
  if (message.startsWith(`${key} `)) message = message.slice(key.length + 1);
  const index = /\[(\d+)\]/.exec(field)?.[1];
  if (index !== undefined) message = `entry ${Number(index) + 1}: ${message}`;
  return { key: key as SettingKey, message };
}

/** What a save says: what was saved, whether it is in effect and reconnects the bus, and what this run's flags keep. */
export function savedMessage(patch: SettingsPatch, view: SettingsView): string {
  const changed = SETTING_KEYS.filter((k) => Object.hasOwn(patch, k));
  const overridden = (k: SettingKey): boolean => view.overrides[k] !== undefined;
  const busChanged = changed.some((k) => BUS_KEYS.includes(k) && !overridden(k));
  const waiting = changed.filter(overridden);
  const applied = changed.filter((k) => !overridden(k));
  const names = (keys: SettingKey[]): string =>
    keys.map((k) => (SETTINGS[k].kind === 'secret' && patch[k] === '' ? `${SETTINGS[k].label} (cleared)` : SETTINGS[k].label)).join(', ');
  return (
    `Saved: ${names(changed)}.` +
    (applied.length > 0 ? ` In effect now${busChanged ? ' — the engine reconnects to the bus with the new settings.' : '.'}` : '') +
    (waiting.length > 0
      ? ` ${names(waiting)}: this run keeps ${waiting.map((k) => view.overrides[k]?.by).join(', ')}; the saved value applies at the next start without it.`
      : '')
  );
}

export type IntegerKey = ReturnType<typeof keysOfKind<'integer'>>[number];
export type BooleanKey = ReturnType<typeof keysOfKind<'boolean'>>[number];
/** The fields whose draft is text. */
export type TextualKey = Exclude<FieldKey, BooleanKey>;

const laidOut = (key: SettingKey, group: SettingGroup): boolean => SETTINGS[key].group === group && SETTINGS[key].layout !== 'by-hand';

/** The whole-number fields the form lays out in a group's grid, in table order. */
export function integerFieldsIn(group: SettingGroup): IntegerKey[] {
  return keysOfKind('integer').filter((k) => laidOut(k, group));
}

/** The settings the form lays out in a group outside a grid (`gridded`: its whole numbers are in one), in table order. */
export function otherFieldsIn(group: SettingGroup, gridded: boolean): SettingKey[] {
  return SETTING_KEYS.filter((k) => laidOut(k, group) && !(gridded && SETTINGS[k].kind === 'integer'));
}
