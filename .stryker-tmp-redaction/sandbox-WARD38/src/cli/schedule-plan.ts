/** `b2betl schedule plan`: what `apply` would change in Cloud Scheduler, field by field. */
// @ts-nocheck

import { loadConfig } from '../core/config.js';
import { ExitCode } from '../core/errors.js';
import { sharedConfig } from '../schedule/desired.js';
import { planJson, renderPlan } from '../schedule/render.js';
import { planJobs } from '../schedule/sync.js';
import { fileScope, jobArgsOrDefault, loadJobArgs, printJson, type CommonOptions } from './common.js';

export default async function schedulePlan(args: string[], flags: CommonOptions & { prune?: boolean }): Promise<number> {
  const jobs = await loadJobArgs(await jobArgsOrDefault(args, flags), flags);
  const config = sharedConfig(jobs, await loadConfig({ configFile: flags.config }));
  const { deployment, plan, api } = await planJobs(jobs, config, { prune: flags.prune, scope: fileScope(args, jobs) });
  await api.close();
  if (flags.json) printJson(planJson(plan, deployment));
  else process.stdout.write(`${renderPlan(plan, deployment)}\n`);
  return ExitCode.ok;
}
