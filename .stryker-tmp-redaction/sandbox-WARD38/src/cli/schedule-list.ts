/** `b2betl schedule list`: the Cloud Scheduler entries this deployment owns. */
// @ts-nocheck

import { loadConfig } from '../core/config.js';
import { ExitCode } from '../core/errors.js';
import { openScheduler } from '../schedule/cloud-scheduler.js';
import { deploymentOf, ownerTag } from '../schedule/desired.js';
import { entryRows } from '../schedule/render.js';
import { printJson, renderTable, type CommonOptions } from './common.js';

export default async function scheduleList(flags: CommonOptions): Promise<number> {
  const deployment = deploymentOf(await loadConfig({ configFile: flags.config }), ['project', 'region']);
  const api = await openScheduler(deployment);
  const entries = await api.list().finally(() => api.close());
  const owned = entries.filter((entry) => entry.description.startsWith(ownerTag(deployment.owner)));
  const others = entries.length - owned.length;
  if (flags.json) {
    printJson({ project: deployment.project, region: deployment.region, owner: deployment.owner, entries: owned, others });
    return ExitCode.ok;
  }
  const where = `project ${deployment.project}, region ${deployment.region}`;
  if (!owned.length) process.stdout.write(`no entries of [${deployment.owner}] in ${where}\n`);
  else process.stdout.write(`${renderTable(['job', 'state', 'schedule', 'time zone', 'target', 'last attempt'], entryRows(owned))}\n`);
  if (others) process.stdout.write(`${others} other entr${others === 1 ? 'y' : 'ies'} in ${where} (not b2betl's)\n`);
  return ExitCode.ok;
}
