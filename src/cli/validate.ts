/** `b2betl validate`: checks config and job specs without touching any system. */
import { pendingWarnings } from '../core/config.js';
import { ConfigError, ExitCode, formatIssue } from '../core/errors.js';
import { loadJobArgs, printJson, shortPath, type CommonOptions } from './common.js';

/**
 * Exit 0 when every job is valid, 2 with every problem listed otherwise. Environment variables
 * a connection needs but that are unset are warnings naming the connection: they are required
 * only where the connection opens.
 */
export default async function validate(args: string[], flags: CommonOptions): Promise<number> {
  try {
    const jobs = await loadJobArgs(args, flags);
    const warnings = [...new Set(jobs.map((job) => job.config))].flatMap((config) => pendingWarnings(config, jobs));
    if (flags.json) {
      printJson({ valid: true, jobs: jobs.map((job) => ({ name: job.spec.name, file: job.file, config: job.config.file ?? null })), warnings });
      return ExitCode.ok;
    }
    for (const warning of warnings) process.stderr.write(`warning: ${formatIssue(warning)}\n`);
    for (const job of jobs) process.stdout.write(`ok  ${job.spec.name}  ${shortPath(job.file)}\n`);
    return ExitCode.ok;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    if (flags.json) printJson({ valid: false, error: `${error.issues.length} problem(s) found`, exit_code: ExitCode.usage, problems: error.issues });
    else process.stderr.write(`${error.issues.map(formatIssue).join('\n')}\n${error.issues.length} problem(s) found\n`);
    return ExitCode.usage;
  }
}
