/** `b2betl schedule apply`: makes Cloud Scheduler match the job specs, idempotently. */
// @ts-nocheck

import { loadConfig } from '../core/config.js';
import { ExitCode } from '../core/errors.js';
import { sharedConfig } from '../schedule/desired.js';
import { applyPlan } from '../schedule/plan.js';
import { planJson, renderOutcome, renderPlan } from '../schedule/render.js';
import { planJobs } from '../schedule/sync.js';
import { commandLogger, fileScope, jobArgsOrDefault, loadJobArgs, printJson, type CommonOptions } from './common.js';

export default async function scheduleApply(args: string[], flags: CommonOptions & { prune?: boolean }): Promise<number> {
  const jobs = await loadJobArgs(await jobArgsOrDefault(args, flags), flags);
  const config = sharedConfig(jobs, await loadConfig({ configFile: flags.config }));
  const log = commandLogger(flags);
  const { deployment, plan, api } = await planJobs(jobs, config, { prune: flags.prune, scope: fileScope(args, jobs) });
  if (!flags.json) process.stdout.write(`${renderPlan(plan, deployment)}\n`);
  let outcome;
  try {
    outcome = await applyPlan(plan, api, (change) => log.info(`${change.action} ${change.id}: done`));
  } finally {
    await api.close();
  }
  const change = (c: { action: string; id: string }) => ({ action: c.action, entry: c.id });
  if (flags.json) {
    printJson({
      ...planJson(plan, deployment),
      applied: outcome.done.map(change),
      failed: outcome.failed ? { ...change(outcome.failed.change), error: outcome.failed.error } : null,
      not_done: [...(outcome.failed ? [outcome.failed.change] : []), ...outcome.notDone, ...outcome.conflicts].map(change),
    });
  } else {
    process.stdout.write(`${renderOutcome(outcome)}\n`);
  }
  return outcome.failed || outcome.conflicts.length ? ExitCode.failed : ExitCode.ok;
}
