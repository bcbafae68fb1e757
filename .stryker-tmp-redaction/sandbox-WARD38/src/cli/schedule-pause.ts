/** `b2betl schedule pause <job>` and `schedule resume <job>`: one job's `schedule.paused`, in its file and in Cloud Scheduler. */
// @ts-nocheck

import { ConfigError, ExitCode } from '../core/errors.js';
import { setJobPaused } from '../schedule/pause.js';
import { jobArgsOrDefault, loadJobArgs, printJson, type CommonOptions } from './common.js';

/** The job a `pause`/`resume` argument names: a job file, or a job name in the default jobs folder. */
async function findJob(arg: string, flags: CommonOptions) {
  if (/\.ya?ml$/i.test(arg)) return (await loadJobArgs([arg], flags))[0];
  const jobs = await loadJobArgs(await jobArgsOrDefault([], flags), flags);
  const job = jobs.find((candidate) => candidate.spec.name === arg);
  if (!job) throw ConfigError.of(`no job named ${arg} in the jobs folder`, `give its file (jobs/${arg}.yaml), or one of: ${jobs.map((candidate) => candidate.spec.name).join(', ')}`);
  return job;
}

async function toggle(arg: string, paused: boolean, flags: CommonOptions): Promise<number> {
  const outcome = await setJobPaused(await findJob(arg, flags), paused);
  if (flags.json) printJson(outcome);
  else process.stdout.write(`${outcome.fileChanged ? `${outcome.file}: schedule.paused set to ${paused}` : `${outcome.file} already says paused: ${paused}`}\n${outcome.message}\n`);
  return outcome.entry === 'not-owned' ? ExitCode.failed : ExitCode.ok;
}

export default function schedulePause(arg: string, flags: CommonOptions): Promise<number> {
  return toggle(arg, true, flags);
}

/** `schedule resume <job>`. */
export function scheduleResume(arg: string, flags: CommonOptions): Promise<number> {
  return toggle(arg, false, flags);
}
