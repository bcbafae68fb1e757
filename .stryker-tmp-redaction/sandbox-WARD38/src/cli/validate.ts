/** `b2betl validate`: checks config and job specs without touching any system. */
// @ts-nocheck

import { ConfigError, ExitCode, formatIssue } from '../core/errors.js';
import { loadJobArgs, printJson, shortPath, type CommonOptions } from './common.js';

/** Exit 0 when every job is valid, 2 with every problem listed otherwise. */
export default async function validate(args: string[], flags: CommonOptions): Promise<number> {
  try {
    const jobs = await loadJobArgs(args, flags);
    if (flags.json) printJson({ valid: true, jobs: jobs.map((job) => ({ name: job.spec.name, file: job.file, config: job.config.file ?? null })) });
    else for (const job of jobs) process.stdout.write(`ok  ${job.spec.name}  ${shortPath(job.file)}\n`);
    return ExitCode.ok;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    if (flags.json) printJson({ valid: false, problems: error.issues });
    else process.stderr.write(`${error.issues.map(formatIssue).join('\n')}\n${error.issues.length} problem(s) found\n`);
    return ExitCode.usage;
  }
}
