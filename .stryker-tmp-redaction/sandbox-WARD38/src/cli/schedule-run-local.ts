/** `b2betl schedule run-local`: fires the jobs' schedules in this process until Ctrl-C. */
// @ts-nocheck

import { ConfigError, ExitCode } from '../core/errors.js';
import { stderrLogger } from '../core/log.js';
import { runWithLedger } from '../core/pipeline.js';
import { LocalScheduler, systemClock, type LocalEvent } from '../schedule/local-runner.js';
import { commandLogger, formatDuration, jobArgsOrDefault, loadJobArgs, type CommonOptions } from './common.js';

function describe(event: LocalEvent): string {
  switch (event.event) {
    case 'fire':
      return `${event.local}  ${event.job}: fired`;
    case 'skipped':
      return `${event.local}  ${event.job}: skipped, ${event.reason}`;
    case 'result': {
      const r = event.result;
      return `${event.at}  ${event.job}: ${r.status}, ${r.rows_loaded} row(s) in ${formatDuration(r.duration_ms)} (run ${r.run_id})${r.error ? `: ${r.error}` : ''}`;
    }
    case 'error':
      return `${event.at}  ${event.job}: failed: ${event.error}`;
  }
}

export default async function scheduleRunLocal(args: string[], flags: CommonOptions & { concurrency?: string }): Promise<number> {
  const concurrency = Number(flags.concurrency ?? 2);
  if (!Number.isInteger(concurrency) || concurrency < 1) throw ConfigError.of(`invalid --concurrency ${flags.concurrency}`, 'give a whole number of jobs, 1 or more');
  const jobs = await loadJobArgs(await jobArgsOrDefault(args, flags), flags);
  const scheduled = jobs.filter((job) => job.spec.schedule && !job.spec.schedule.paused);
  const say = (line: string) => process.stderr.write(`${line}\n`);
  for (const job of jobs) if (job.spec.schedule?.paused) say(`${job.spec.name}: paused (schedule.paused: true), not fired`);
  if (!scheduled.length) throw ConfigError.of('none of these jobs has an active schedule: block', 'add schedule: { cron: "0 9 * * *", timezone: Europe/Kyiv } to a job, or resume one');
  const log = flags.json && !flags.verbose ? stderrLogger({ quiet: true }) : commandLogger(flags);
  const scheduler = new LocalScheduler({
    entries: scheduled.map((job) => ({ name: job.spec.name, cron: job.spec.schedule!.cron, timezone: job.spec.schedule!.timezone, job })),
    concurrency,
    clock: systemClock,
    run: (job, signal) => runWithLedger(job, { log, signal }),
    report: (event) => (flags.json ? process.stdout.write(`${JSON.stringify(event)}\n`) : process.stdout.write(`${describe(event)}\n`)),
  });
  const onSignal = (signal: string) => {
    if (scheduler.active.length) {
      say(`${signal}: no more fires; finishing ${scheduler.active.join(', ')} (${signal} again stops them at a safe point)`);
    } else {
      say(`${signal}: stopping`);
    }
    scheduler.stop();
    process.once(signal, () => {
      say(`${signal}: stopping the running jobs at a safe point`);
      scheduler.abort();
    });
  };
  process.once('SIGINT', () => onSignal('SIGINT'));
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  // Said once Ctrl-C is handled, so that a Ctrl-C right after the line stops it cleanly.
  if (!flags.json) for (const job of scheduled) say(`${job.spec.name}: ${job.spec.schedule!.cron} (${job.spec.schedule!.timezone})`);
  say(`scheduling ${scheduled.length} job(s), up to ${concurrency} at once; Ctrl-C stops`);
  await scheduler.start();
  return ExitCode.ok;
}
