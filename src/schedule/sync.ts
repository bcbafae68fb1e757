/** From job specs to a Cloud Scheduler plan: everything is validated before the first API call. */
import { resolveDeploy, type LoadedConfig, type LoadedJob } from '../core/config.js';
import { openScheduler, type ActualEntry, type SchedulerApi } from './cloud-scheduler.js';
import { deploymentOf, desiredEntries, type Deployment } from './desired.js';
import { planSchedule, type SchedulePlan } from './plan.js';

export interface PlannedSchedule {
  readonly deployment: Deployment;
  readonly plan: SchedulePlan;
  readonly api: SchedulerApi;
}

/** The deployment of a config that scheduled jobs need: every missing key is named at once. */
export function schedulingDeployment(jobs: readonly LoadedJob[], config: LoadedConfig): Deployment {
  const deploy = resolveDeploy(config);
  const callsService = jobs.some((job) => job.spec.schedule && (job.spec.schedule.target ?? deploy?.target ?? 'service') === 'service');
  return deploymentOf(config, ['project', 'region', 'service_account', ...(callsService ? (['service_url'] as const) : [])]);
}

/**
 * Plans the entries of `jobs` against Cloud Scheduler. The caller closes `api`. `scope` limits
 * the plan to these jobs (job files named one by one), so that other entries are not orphans.
 */
export async function planJobs(jobs: readonly LoadedJob[], config: LoadedConfig, options: { prune?: boolean; scope?: ReadonlySet<string>; now?: Date }): Promise<PlannedSchedule> {
  const deployment = schedulingDeployment(jobs, config);
  const desired = desiredEntries(jobs, deployment);
  const api = await openScheduler(deployment);
  let actual: ActualEntry[];
  try {
    actual = await api.list();
  } catch (error) {
    await api.close();
    throw error;
  }
  return { deployment, api, plan: planSchedule(desired, actual, { owner: deployment.owner, prune: options.prune, scope: options.scope, now: options.now }) };
}
