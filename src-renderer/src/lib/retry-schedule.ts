/**
 * A subscription's retry schedule as the form offers it: the global default (null), the
 * extended preset for receivers with long maintenance windows, or custom seconds.
 */
import { EXTENDED_RETRY_SCHEDULE_S } from '@contract/views';


/** 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: about 27.6 hours before a delivery is dead. */
export const EXTENDED_RETRY_SCHEDULE = EXTENDED_RETRY_SCHEDULE_S;

/** The contract's bounds on a schedule. */
export const MAX_RETRIES = 20;
export const MAX_RETRY_DELAY_S = 86_400;

export type ScheduleMode = 'default' | 'extended' | 'custom';

export function scheduleMode(schedule: readonly number[] | null): ScheduleMode {
  if (schedule === null) return 'default';
  return sameSchedule(schedule, EXTENDED_RETRY_SCHEDULE) ? 'extended' : 'custom';
}

export function sameSchedule(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((n, i) => n === b[i]);
}

/** `5, 300, 1800` → seconds, or the reason it is not a schedule. Empty: one attempt. */
export function parseScheduleText(text: string): { ok: true; value: number[] } | { ok: false; error: string } {
  const trimmed = text.trim();
  if (trimmed === '') return { ok: true, value: [] };
  const parts = trimmed.split(',').map((p) => p.trim());
  if (parts.length > MAX_RETRIES) return { ok: false, error: `at most ${MAX_RETRIES} retries` };
  const value: number[] = [];
  for (const part of parts) {
    if (!/^\d+(\.\d+)?$/.test(part)) return { ok: false, error: `"${part}" is not a number of seconds` };
    const n = Number(part);
    if (n > MAX_RETRY_DELAY_S) return { ok: false, error: `${part} s is more than a day (${MAX_RETRY_DELAY_S} s)` };
    value.push(n);
  }
  return { ok: true, value };
}

/** `300` → `5 min`, `7200` → `2 h`, `1.5` → `1.5 s`. */
export function duration(seconds: number): string {
  if (seconds >= 3600 && seconds % 360 === 0) return `${seconds / 3600} h`;
  if (seconds >= 60 && seconds % 6 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

/** `retries after 5 s, 5 min, … (≈ 37 h in all)` or `one attempt, no retries`. */
export function describeSchedule(schedule: readonly number[]): string {
  if (schedule.length === 0) return 'one attempt, no retries';
  const total = schedule.reduce((a, b) => a + b, 0);
  return `retries after ${schedule.map(duration).join(', ')} (≈ ${approx(total)} in all)`;
}

function approx(seconds: number): string {
  if (seconds >= 3600) return `${Math.round(seconds / 360) / 10} h`;
  if (seconds >= 60) return `${Math.round(seconds / 6) / 10} min`;
  return `${Math.round(seconds * 10) / 10} s`;
}
