/**
 * `schedule pause|resume <job>`: sets `schedule.paused` in the job file (keeping its comments
 * and layout), then makes that one change in Cloud Scheduler when the config has a deployment.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { resolveDeploy, type LoadedJob } from '../core/config.js';
import { ConfigError } from '../core/errors.js';
import { openScheduler } from './cloud-scheduler.js';
import { deploymentOf, ENTRY_PREFIX, ownerTag } from './desired.js';
import { withPaused } from './job-file.js';

/** What pausing or resuming did, in the file and in Cloud Scheduler. */
export interface PauseOutcome {
  readonly job: string;
  readonly file: string;
  readonly paused: boolean;
  /** Whether the file was rewritten (false when it already said so). */
  readonly fileChanged: boolean;
  /** What happened to the Cloud Scheduler entry. */
  readonly entry: 'paused' | 'resumed' | 'missing' | 'not-owned' | 'no-deployment';
  readonly message: string;
}

/** Pauses (or resumes) one job's schedule. */
export async function setJobPaused(job: LoadedJob, paused: boolean): Promise<PauseOutcome> {
  if (!job.spec.schedule) {
    throw ConfigError.of(`job ${job.spec.name} has no schedule to ${paused ? 'pause' : 'resume'}`, 'add schedule: { cron: "0 9 * * *", timezone: UTC } to its file', job.file);
  }
  const text = await readFile(job.file, 'utf8');
  const edited = withPaused(text, paused, job.file);
  if (edited !== text) await writeFile(job.file, edited);
  const base = { job: job.spec.name, file: job.file, paused, fileChanged: edited !== text };
  const deploy = resolveDeploy(job.config);
  if (!deploy?.project || !deploy.region) {
    return { ...base, entry: 'no-deployment', message: `${job.file}: schedule.paused: ${paused}; the config has no deploy.project/region, so no Cloud Scheduler entry was changed (schedule run-local honours the file)` };
  }
  const deployment = deploymentOf(job.config, ['project', 'region']);
  const id = `${ENTRY_PREFIX}${job.spec.name}`;
  const api = await openScheduler(deployment);
  try {
    const entry = (await api.list()).find((candidate) => candidate.id === id);
    if (!entry) return { ...base, entry: 'missing', message: `${id} is not in Cloud Scheduler yet: \`b2betl schedule apply\` creates it ${paused ? 'paused' : 'enabled'}` };
    if (!entry.description.startsWith(ownerTag(deployment.owner))) {
      return { ...base, entry: 'not-owned', message: `${id} exists but is not this deployment's entry; it was left alone` };
    }
    if (paused) await api.pause(id);
    else await api.resume(id);
    return { ...base, entry: paused ? 'paused' : 'resumed', message: `${id} ${paused ? 'paused' : 'resumed'} in project ${deployment.project}, region ${deployment.region}` };
  } finally {
    await api.close();
  }
}
