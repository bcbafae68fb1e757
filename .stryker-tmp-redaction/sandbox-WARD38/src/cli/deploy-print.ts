/** `b2betl deploy print`: the gcloud commands that deploy this config to Cloud Run, in order. */
// @ts-nocheck

import { existsSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../core/config.js';
import { ExitCode } from '../core/errors.js';
import { sharedConfig } from '../schedule/desired.js';
import { deploySteps, renderSteps } from '../schedule/gcloud.js';
import { loadJobArgs, printJson, type CommonOptions } from './common.js';

export default async function deployPrint(flags: CommonOptions): Promise<number> {
  const config = await loadConfig({ configFile: flags.config });
  const jobsFolder = path.join(config.baseDir, 'jobs');
  const jobs = existsSync(jobsFolder) ? await loadJobArgs([jobsFolder], flags) : [];
  const steps = deploySteps(sharedConfig(jobs, config), jobs);
  if (flags.json) printJson({ steps });
  else process.stdout.write(`${renderSteps(steps)}\n`);
  return ExitCode.ok;
}
