/**
 * The `b2betl` command line. Each command module is imported only when its command runs.
 */
// @ts-nocheck

import { Command, CommanderError, Option } from 'commander';
import { EtlError, ExitCode, messageOf } from '../core/errors.js';
import { redact, redactStandardStreams } from '../core/redact.js';

type Action = (...args: never[]) => Promise<number>;

/** Defers a command's module until the command runs, and records its exit code. */
function lazy(load: () => Promise<{ default: Action }>, setCode: (code: number) => void) {
  return async (...args: unknown[]) => {
    const { default: action } = await load();
    setCode(await (action as (...a: unknown[]) => Promise<number>)(...args));
  };
}

/** Builds the program; `setCode` receives each command's exit code. */
export function program(setCode: (code: number) => void): Command {
  const cli = new Command('b2betl')
    .description('Move data from databases, Firestore and files into BigQuery or a local DuckDB warehouse.')
    .version('0.1.0')
    .showHelpAfterError()
    .exitOverride();
  const config = new Option('-c, --config <file>', 'etl.config.yaml to use (default: found from the job folder, then the working directory)');
  const json = new Option('--json', 'print machine-readable JSON on stdout');

  cli
    .command('run')
    .description('run jobs: extract, convert and load, incrementally by default')
    .argument('<jobs...>', 'job spec files or folders of them')
    .addOption(config)
    .addOption(json)
    .option('--dry-run', 'show what would be read and loaded; write nothing')
    .option('--full-refresh', 'reload from scratch, ignoring the stored cursor and processed files')
    .option('--since <value>', 'backfill from this cursor value (the stored cursor does not move backwards)')
    .option('--until <value>', 'backfill up to this cursor value')
    .option('-v, --verbose', 'log debug detail')
    .action(lazy(() => import('./run.js'), setCode));

  cli
    .command('validate')
    .description('check config and job specs; report every problem at once')
    .argument('<jobs...>', 'job spec files or folders of them')
    .addOption(config)
    .addOption(json)
    .action(lazy(() => import('./validate.js'), setCode));

  cli
    .command('inspect-schema')
    .description('source columns, their destination types and names, and compatibility with the destination table')
    .argument('[job]', 'a job spec file')
    .option('--connection <name>', 'inspect a connection directly instead of a job')
    .option('--table <name>', 'with --connection: the table to inspect')
    .option('--pattern <glob>', 'with --connection on a file store: the files to sample')
    .addOption(config)
    .addOption(json)
    .action(lazy(() => import('./inspect-schema.js'), setCode));

  const state = cli.command('state').description("the ledger's stored state of a job: cursor, processed files, column mapping");
  state
    .command('show')
    .argument('<job>', 'job name or job spec file')
    .addOption(config)
    .addOption(json)
    .action(lazy(() => import('./state-show.js'), setCode));
  state
    .command('reset')
    .description('forget the cursor, processed files and column mapping: the next run starts over')
    .argument('<job>', 'job name or job spec file')
    .addOption(config)
    .addOption(json)
    .action(lazy(() => import('./state-reset.js'), setCode));

  cli
    .command('history')
    .description('recent runs, newest first')
    .argument('[job]', 'only this job (name or spec file)')
    .option('-n, --limit <n>', 'how many runs', '20')
    .addOption(config)
    .addOption(json)
    .action(lazy(() => import('./history.js'), setCode));

  const schedule = cli.command('schedule').description("Cloud Scheduler entries for jobs with a schedule: block, and a local scheduler");
  const prune = new Option('--prune', "delete this deployment's entries whose job spec is gone or has no schedule");
  schedule
    .command('plan')
    .description('show what apply would change: create, update (field by field), pause, resume, delete, unchanged')
    .argument('[jobs...]', 'job spec files or folders (default: the jobs/ folder beside the config)')
    .addOption(prune)
    .addOption(config)
    .addOption(json)
    .action(lazy(() => import('./schedule-plan.js'), setCode));
  schedule
    .command('apply')
    .description('make Cloud Scheduler match the job specs (a second apply changes nothing)')
    .argument('[jobs...]', 'job spec files or folders (default: the jobs/ folder beside the config)')
    .addOption(prune)
    .addOption(config)
    .addOption(json)
    .option('-v, --verbose', 'log debug detail')
    .action(lazy(() => import('./schedule-apply.js'), setCode));
  schedule
    .command('list')
    .description("this deployment's Cloud Scheduler entries, with their state and last attempt")
    .addOption(config)
    .addOption(json)
    .action(lazy(() => import('./schedule-list.js'), setCode));
  schedule
    .command('pause')
    .description('set schedule.paused: true in the job file (comments kept) and pause its entry')
    .argument('<job>', 'job spec file or job name')
    .addOption(config)
    .addOption(json)
    .action(lazy(() => import('./schedule-pause.js'), setCode));
  schedule
    .command('resume')
    .description('set schedule.paused: false in the job file (comments kept) and resume its entry')
    .argument('<job>', 'job spec file or job name')
    .addOption(config)
    .addOption(json)
    .action(lazy(async () => ({ default: (await import('./schedule-pause.js')).scheduleResume }), setCode));
  schedule
    .command('run-local')
    .description('fire the schedule: entries in this process (croner, each job in its time zone) until Ctrl-C')
    .argument('[jobs...]', 'job spec files or folders (default: the jobs/ folder beside the config)')
    .option('--concurrency <n>', 'different jobs running at once', '2')
    .addOption(config)
    .addOption(new Option('--json', 'print one JSON line per fire and per result'))
    .option('-v, --verbose', 'log debug detail')
    .action(lazy(() => import('./schedule-run-local.js'), setCode));

  cli
    .command('serve')
    .description('HTTP entry point for Cloud Run: POST /jobs/<name>/run with a Google-signed OIDC token')
    .argument('[jobs...]', 'job spec files or folders (default: the jobs/ folder beside the config)')
    .option('-p, --port <port>', 'port to listen on (default: $PORT, else 8080)')
    .option('--host <host>', 'address to listen on', '0.0.0.0')
    .option('--allow-local-ledger', 'accept a local-file ledger (a VM with a persistent disk); on Cloud Run use ledger: gs://…')
    .option('-v, --verbose', 'log debug detail')
    .addOption(config)
    .action(lazy(() => import('./serve.js'), setCode));

  const deploy = cli.command('deploy').description('deploying b2betl to Cloud Run');
  deploy
    .command('print')
    .description('print the gcloud commands that deploy this config to Cloud Run and schedule its jobs, in order')
    .addOption(config)
    .addOption(json)
    .action(lazy(() => import('./deploy-print.js'), setCode));
  return cli;
}

/** Runs the CLI and returns the process exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  let code: number = ExitCode.ok;
  redactStandardStreams();
  try {
    await program((value) => (code = value)).parseAsync(argv as string[]);
    return code;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    }
    process.stderr.write(`error: ${redact(messageOf(error))}\n`);
    if (!(error instanceof EtlError) && process.env.B2BETL_DEBUG) process.stderr.write(`${redact((error as Error).stack ?? '')}\n`);
    return error instanceof EtlError ? error.exitCode : ExitCode.failed;
  }
}
