/**
 * The delivery options of `subs add` / `subs update`, derived from the contract's table
 * (contract/subscription-options.ts): each option's flag, its parsing and its help line;
 * plus the secret headers and their shortcuts (`--secret-header`, `--bearer`, `--basic`).
 */
import { resolve } from 'node:path';
import type { SubscriptionPatch } from '../contract/bridge';
import {
  OPTION_KEYS,
  SUBSCRIPTION_OPTIONS,
  authorizationHeader,
  parseHeaderLine,
  type ExtraHeader,
  type OptionKey,
  type SubscriptionOptions,
} from '../contract/subscription-options';
import type { SubscriptionView } from '../contract/views';
import { CliError, oneOf, type Problems } from './args';

import { OPTION_FLAGS } from './subscription-flags';

export { OPTION_FLAGS };

type FlagValues = Record<string, string | boolean | string[] | boolean[] | undefined>;
type OptionChanges = Pick<SubscriptionPatch, OptionKey | 'secretHeaders'>;

/**
 * The option changes the flags ask for: on `subs add` (`current` absent) the values as
 * given; on `subs update`, over the subscription's current options, sending only what
 * changes. Problems are collected; a wrong flag leaves its option out.
 */
export function optionChanges(problems: Problems, values: FlagValues, current?: SubscriptionView | 'update'): OptionChanges {
  const changes: OptionChanges = {};
  const record = changes as Record<string, unknown>;
  for (const key of OPTION_KEYS) {
    const { kind, cli } = SUBSCRIPTION_OPTIONS[key];
    if (kind === 'headers') continue;
    if (kind === 'boolean') {
      if (values[cli] === true && values[`no-${cli}`] === true) problems.add(`--${cli} and --no-${cli} contradict each other`);
      else if (values[cli] === true) record[key] = true;
      else if (values[`no-${cli}`] === true) record[key] = false;
      continue;
    }
    const raw = values[cli];
    if (typeof raw !== 'string') continue;
    const value = problems.check(() => {
      switch (kind) {
        case 'path':
          return parsePath(raw);
        case 'number':
          return parseNumber(`--${cli}`, raw);
        case 'choice':
          return oneOf(`--${cli}`, raw.trim(), SUBSCRIPTION_OPTIONS[key].choices ?? []);
        case 'text':
          return raw.trim();
        case 'expression':
          return raw;
      }
    });
    if (value !== undefined) record[key] = value;
  }
  headerChanges(problems, values, current, changes);
  return changes;
}

/** A path as the engine needs it: absolute (it may run in another folder); '' clears it. */
function parsePath(raw: string): string {
  const text = raw.trim();
  return text === '' ? '' : resolve(text);
}

/** A number; '' or `none` clears the limit. Bounds are the contract's. */
function parseNumber(label: string, raw: string): number | null {
  const text = raw.trim().toLowerCase();
  if (text === '' || text === 'none') return null;
  const value = /^\d+(\.\d+)?$/.test(text) ? Number(text) : NaN;
  if (!Number.isFinite(value)) throw new CliError(`${label}: "${raw}" is not a number (or "none" for no limit)`);
  return value;
}

function headerLines(problems: Problems, label: string, lines: unknown): ExtraHeader[] {
  if (!Array.isArray(lines)) return [];
  return lines.flatMap((line: string) => {
    try {
      return [parseHeaderLine(line)];
    } catch (error) {
      problems.add(`${label}: ${(error as Error).message}`);
      return [];
    }
  });
}

/** `current` is 'update' for the first look at an update's flags, before the subscription is read. */
function headerChanges(problems: Problems, values: FlagValues, current: SubscriptionView | 'update' | undefined, changes: OptionChanges): void {
  const plain = headerLines(problems, '--header', values['header']);
  const secret = headerLines(problems, '--secret-header', values['secret-header']);
  const shortcuts: [string, 'bearer' | 'basic'][] = [
    ['bearer', 'bearer'],
    ['basic', 'basic'],
  ];
  for (const [flag, scheme] of shortcuts) {
    const raw = values[flag];
    if (typeof raw !== 'string') continue;
    try {
      secret.push(authorizationHeader(scheme, raw));
    } catch (error) {
      problems.add(`--${flag}: ${(error as Error).message}`);
    }
  }
  const removed = new Set(((values['remove-header'] as string[] | undefined) ?? []).map((n) => n.trim().toLowerCase()));
  if (!current && removed.size > 0) problems.add('--remove-header goes with subs update');
  const same = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase();
  const named = [...plain, ...secret];
  for (let i = 0; i < named.length; i++)
    if (named.slice(0, i).some((h) => same(h.name, (named[i] as ExtraHeader).name)))
      problems.add(
        `${(named[i] as ExtraHeader).name} is given twice${/^authorization$/i.test((named[i] as ExtraHeader).name) ? ' (--bearer and --basic set Authorization too)' : ''}`,
      );

  if (current === 'update') return;
  if (!current) {
    if (plain.length > 0) changes.headers = plain;
    if (secret.length > 0) changes.secretHeaders = secret;
    return;
  }
  // Update: a header given replaces the one of its name, plain or secret; the rest stay.
  const touched = (name: string): boolean => removed.has(name.toLowerCase()) || named.some((h) => same(h.name, name));
  for (const name of removed)
    if (!current.headers.some((h) => same(h.name, name)) && !current.secretHeaderNames.some((n) => same(n, name)))
      problems.add(`--remove-header: ${current.name} has no header named ${name}`);
  if (plain.length > 0 || current.headers.some((h) => touched(h.name)))
    changes.headers = [...current.headers.filter((h) => !touched(h.name)), ...plain];
  if (secret.length > 0 || current.secretHeaderNames.some(touched))
    changes.secretHeaders = [...current.secretHeaderNames.filter((n) => !touched(n)).map((name) => ({ name })), ...secret];
}

/** Lines for `sluice --help`: each option of `subs add` / `subs update`, with its hint. */
export function optionsHelp(): string {
  const lines = OPTION_KEYS.map((key) => {
    const d = SUBSCRIPTION_OPTIONS[key];
    const flag =
      d.kind === 'headers'
        ? `--${d.cli} 'NAME: VALUE'`
        : d.kind === 'boolean'
          ? `--${d.cli} | --no-${d.cli}`
          : `--${d.cli} ${d.kind === 'path' ? 'PATH' : (d.cliValue ?? 'N')}`;
    const choices = d.kind === 'choice' ? ` One of: ${(d.choices ?? []).join(', ')}.` : '';
    const formats = 'formats' in d && d.formats ? ` (${d.formats.join(', ')})` : '';
    return [flag, `${d.hint}${choices}${formats}`];
  });
  lines.splice(OPTION_KEYS.indexOf('headers') + 1, 0,
    ["--secret-header 'NAME: VALUE'", 'A header whose value is a credential: stored encrypted, never shown again (repeatable).'],
    ['--bearer TOKEN | --basic USER:PASSWORD', "Shortcuts for a secret 'Authorization: Bearer …' / 'Basic …' header."],
    ['--remove-header NAME', '(subs update) Stop sending a header, plain or secret.'],
  );
  return lines.map(([flag, hint]) => `  ${(flag as string).padEnd(40)} ${wrap(hint as string, 48).join(`\n${' '.repeat(43)}`)}`).join('\n');
}

/** Words into lines of at most `width` characters (a longer word has a line of its own). */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') lines.push(line);
  return lines;
}

/** A one-line summary of the options that differ from their defaults (`subs add` / `update` output). */
export function optionsSummary(sub: SubscriptionView): string[] {
  const out: string[] = [];
  if (sub.format !== 'decnet') {
    const own = OPTION_KEYS.filter((k) => {
      const d = SUBSCRIPTION_OPTIONS[k];
      return 'formats' in d && d.formats?.includes(sub.format) && sub[k] !== d.default;
    }).map((k) => `${SUBSCRIPTION_OPTIONS[k].label} ${String(sub[k])}`);
    out.push(`format: ${sub.format}${own.length > 0 ? ` (${own.join(', ')})` : ''}`);
  }
  if (sub.filter !== '') out.push(`filter: ${sub.filter}`);
  if (sub.transform !== '') out.push(`transform: ${sub.transform}`);
  if (sub.headers.length > 0) out.push(`headers: ${sub.headers.map((h) => h.name).join(', ')}`);
  if (sub.secretHeaderNames.length > 0) out.push(`secret headers: ${sub.secretHeaderNames.join(', ')} (set)`);
  const o: SubscriptionOptions = sub;
  if (o.caFile) out.push(`CA file: ${o.caFile}`);
  if (o.clientCert) out.push(`client certificate: ${o.clientCert} (key ${o.clientKey || 'not set'})`);
  if (o.direct) out.push('direct: bypasses the egress proxy');
  if (o.rate !== null) out.push(`rate: ${o.rate}/s, burst ${o.burst ?? Math.max(1, Math.ceil(o.rate))}`);
  if (o.concurrency !== null) out.push(`concurrency: ${o.concurrency}`);
  return out;
}

/**
 * The flag a contract field is typed with on the command line (`rate` → `--rate`,
 * `headers[1]` → `--header`), so an engine error names what the user typed; null for a
 * field that is not a delivery option.
 */
export function flagForField(field: string): string | null {
  const key = field.replace(/\[\d+\].*$/, '');
  if (key === 'secretHeaders') return '--secret-header';
  const option = (SUBSCRIPTION_OPTIONS as Record<string, { cli: string } | undefined>)[key];
  return option ? `--${option.cli}` : null;
}
