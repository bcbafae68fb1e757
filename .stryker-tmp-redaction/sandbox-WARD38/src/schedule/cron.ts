/** Fire times of a job's unix-cron schedule in its time zone, with croner. */
// @ts-nocheck

import { Cron } from 'croner';

/** A schedule that computes fire times; it never starts a timer of its own. */
export function cronOf(expression: string, timezone: string): Cron {
  return new Cron(expression, { timezone, mode: '5-part' });
}

/** The next `count` fire times after `from`. */
export function nextFires(expression: string, timezone: string, count: number, from = new Date()): Date[] {
  return cronOf(expression, timezone).nextRuns(count, from);
}

/** `2026-03-30 09:00 CEST` (the wall clock in `timezone`, with its abbreviation). */
export function formatInZone(date: Date, timezone: string): string {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-GB', {
      timeZone: timezone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      weekday: 'short',
      hourCycle: 'h23',
      timeZoneName: 'short',
    })
      .formatToParts(date)
      .map((part) => [part.type, part.value]),
  );
  return `${parts.weekday} ${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute} ${parts.timeZoneName}`;
}
