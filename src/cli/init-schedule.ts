/**
 * Step 5 of `b2betl init`: when the job runs (none, hourly, daily at, weekly on, a custom cron)
 * and in which time zone, shown with its next fire times.
 */
import { timeZoneProblem, unixCronProblem } from '../core/spec.js';
import { formatInZone, nextFires } from '../schedule/cron.js';
import { Asker, ask, prompts, say } from './init-ask.js';
import { cronOf, describeSchedule, parseSchedule, timeOfDayProblem, WEEKDAY_CHOICES, type SchedulePick } from './init-files.js';
import type { InitFlags } from './init.js';

/** The schedule as cron and time zone (none: no cron), and how to say it. */
export async function chooseSchedule(flags: InitFlags, asker: Asker): Promise<{ cron?: string; timezone: string; text?: string }> {
  const machine = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  const pick: SchedulePick = flags.schedule !== undefined
    ? parseSchedule(flags.schedule)
    : await asker.answer<SchedulePick>('--schedule', undefined, async () => {
        const { input, select } = await prompts();
        const kind = await ask(() =>
          select({
            message: 'When should it run?',
            choices: [
              { value: 'none', name: 'No schedule (run it yourself, or from CI)' },
              { value: 'hourly', name: 'Hourly' },
              { value: 'daily', name: 'Daily at…' },
              { value: 'weekly', name: 'Weekly on…' },
              { value: 'cron', name: 'Custom cron expression' },
            ],
          }),
        );
        const at = () => ask(() => input({ message: 'At (HH:MM, 24-hour)', default: '06:00', validate: (value) => timeOfDayProblem(value) ?? true })).then((v) => v.trim());
        switch (kind) {
          case 'daily':
            return { kind, at: await at() };
          case 'weekly': {
            const day = await ask(() => select({ message: 'On', choices: WEEKDAY_CHOICES }));
            return { kind, day, at: await at() };
          }
          case 'cron':
            return { kind, cron: (await ask(() => input({ message: 'Cron (minute hour day-of-month month day-of-week)', validate: (value) => unixCronProblem(value.trim()) ?? true }))).trim() };
          default:
            return { kind: kind as 'none' | 'hourly' };
        }
      }, { fallback: { kind: 'none' } });
  const cron = cronOf(pick);
  if (!cron) {
    say('no schedule: run it with b2betl run (add a schedule: block later for Cloud Scheduler)');
    return { timezone: machine };
  }
  const timezone = await asker.answer(
    '--timezone',
    flags.timezone,
    () => ask(() => prompts().then(({ input }) => input({ message: 'Time zone', default: machine, validate: (value) => timeZoneProblem(value.trim()) ?? true }))).then((v) => v.trim()),
    { fallback: machine, check: timeZoneProblem },
  );
  const fires = nextFires(cron, timezone, 3);
  say(`${describeSchedule(pick, timezone)} (cron "${cron}"); next: ${fires.map((date) => formatInZone(date, timezone)).join(', ')}`);
  return { cron, timezone, text: describeSchedule(pick, timezone) };
}
