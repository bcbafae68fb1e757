/**
 * The `b2betl` command line. Each command module is imported only when its command runs.
 */
import { Command, CommanderError, Option } from 'commander';
import { ConfigError, EtlError, ExitCode, messageOf } from '../core/errors.js';
import { redact, redactStandardStreams, redactValue } from '../core/redact.js';

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
    // options after a subcommand are its own (`history show <id> --json`)
    .enablePositionalOptions()
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
    .option('--full-refresh', 'reload everything from the start, replacing the destination table in the same commit')
    .option('--since <value>', 'reload the window from this cursor value (inclusive), replacing its rows in the destination; the stored cursor does not move')
    .option('--until <value>', 'end of the window to reload (exclusive; default: the high-water mark)')
    .option('--cancel-on-interrupt', 'on Ctrl-C, cancel a Dataflow job the run waits for without asking (otherwise it keeps running and the next run waits for it)')
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
    .command('restore')
    .description("rebuild the cursor, processed files and column mapping from the load markers in the job's destination table")
    .argument('<job>', 'job name or job spec file')
    .addOption(config)
    .addOption(json)
    .action(lazy(() => import('./state-restore.js'), setCode));
  state
    .command('reset')
    .description('forget the cursor, processed files and column mapping: the next run starts over')
    .argument('<job>', 'job name or job spec file')
    .addOption(config)
    .addOption(json)
    .action(lazy(() => import('./state-reset.js'), setCode));

  const history = cli
    .command('history')
    .description('recent runs, newest first; `history show <run_id>` for one run in detail')
    .argument('[job]', 'only this job (name or spec file)')
    .option('--job <job>', 'only this job (name or spec file)')
    .option('--status <statuses>', 'only runs with these statuses, comma-separated (succeeded, partial, failed, skipped, interrupted, running, committing)')
    .option('--since <when>', 'only runs started since a date (2026-03-01), a UTC date and time, or an age (12h, 7d)')
    .option('-n, --limit <n>', 'how many runs', '20')
    .addOption(config)
    .addOption(json)
    .enablePositionalOptions()
    .action(lazy(() => import('./history.js'), setCode));
  history
    .command('show')
    .description("one run: job, source and destination, plan, stage timeline, units, rejected rows, error and causes, cursor before and after")
    .argument('<run_id>', 'the run id, as `b2betl history` lists it')
    .addOption(config)
    .addOption(json)
    .action(lazy(() => import('./history-show.js'), setCode));

  cli
    .command('report')
    .description('write one self-contained HTML page: summary, jobs, the duration ridge chart and every run with its details')
    .option('--days <n>', 'how many days back', '30')
    .option('-o, --out <file>', 'where to write it', 'b2betl-report.html')
    .option('--open', 'open it in the browser')
    .addOption(config)
    .addOption(json)
    .action(lazy(() => import('./report.js'), setCode));

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

  cli
    .command('init')
    .description('create a job in five steps: connection, what to load, preview, load, schedule (every answer also a flag)')
    .option('--connection <name>', 'step 1: the connection to read from (new with --type/--url/--path/…)')
    .option('--type <type>', 'step 1, new connection: postgres, mysql, local, gcs, s3, azure, bigquery or firestore')
    .option('--url <url>', 'step 1, new postgres/mysql connection: postgres://user@host:5432/database (a password in it goes to a variable)')
    .option('--path <folder>', 'step 1, new local connection: the folder holding the files')
    .option('--bucket <name>', 'step 1, new gcs/s3/azure connection: the bucket or container')
    .option('--prefix <folder>', 'step 1, new gcs/s3/azure connection: the folder inside it')
    .option('--project <id>', 'step 1, new bigquery/firestore connection: the Google Cloud project')
    .option('--dataset <name>', 'step 1, new bigquery connection: the dataset')
    .option('--password-env <VAR>', "step 1, new connection: the environment variable holding its secret (written as ${VAR}, never its value)")
    .option('--save-anyway', 'step 1: keep a connection that fails its test')
    .option('--table <schema.table>', 'step 2: the table or view to load')
    .option('--collection <path>', 'step 2: the Firestore collection to load')
    .option('--pattern <glob>', 'step 2: the files to load (*.csv, exports/**/*.parquet)')
    .option('--columns <a,b,c>', 'step 3: only these columns (default: all)')
    .option('--strategy <strategy>', 'step 4: transactional, catalog or merge')
    .option('--cursor <column>', 'step 4: the column that grows (transactional and merge from databases)')
    .option('--start <value>', 'step 4: the first cursor value to load (a date or a number)')
    .option('--primary-key <a,b>', 'step 4: the key columns (merge)')
    .option('--destination <name>', 'step 4: the destination connection (default: the config\'s default)')
    .option('--dest-table <table>', 'step 4: the destination table, new or existing (compatibility is checked)')
    .option('--schedule <when>', 'step 5: none, hourly, "daily 09:00", "weekly mon 09:00" or a cron expression')
    .option('--timezone <zone>', "step 5: IANA time zone (default: this machine's)")
    .option('--name <job>', 'the job name and file name, jobs/<name>.yaml ([a-z0-9_-]+)')
    .option('-y, --yes', 'take the default of every question not given as a flag')
    .option('--force', 'overwrite an existing job file')
    .option('--dry-run', 'after writing, show what a run would do')
    .option('--run', 'after writing, run the job')
    .addOption(config)
    .action(lazy(() => import('./init.js'), setCode));

  const connections = cli.command('connections').description('the connections of etl.config.yaml, and a real read through each');
  connections
    .command('list')
    .description('name, type, where it points (never a secret) and its role')
    .addOption(config)
    .addOption(json)
    .action(lazy(() => import('./connections.js'), setCode));
  connections
    .command('test')
    .description('connect, authenticate and make one real read per connection, with its latency; exit 1 if any failed')
    .argument('[names...]', 'connections to test (default: all)')
    .addOption(config)
    .addOption(json)
    .option('-v, --verbose', 'log debug detail')
    .action(lazy(async () => ({ default: (await import('./connections.js')).connectionsTest }), setCode));

  const jobs = cli.command('jobs').description('the jobs of the project: list, pause, resume, rename, delete');
  jobs
    .command('list')
    .description('name, source, strategy, destination, schedule (paused or next fire) and the last run')
    .addOption(config)
    .addOption(json)
    .action(lazy(() => import('./jobs.js'), setCode));
  jobs
    .command('pause')
    .description('set schedule.paused: true in the job file (comments kept) and pause its Cloud Scheduler entry')
    .argument('<job>', 'job name or job spec file')
    .addOption(config)
    .addOption(json)
    .action(lazy(async () => ({ default: (await import('./jobs.js')).jobsPause }), setCode));
  jobs
    .command('resume')
    .description('set schedule.paused: false in the job file (comments kept) and resume its Cloud Scheduler entry')
    .argument('<job>', 'job name or job spec file')
    .addOption(config)
    .addOption(json)
    .action(lazy(async () => ({ default: (await import('./jobs.js')).jobsResume }), setCode));
  jobs
    .command('rename')
    .description("rename a job: its file, its name: key and the ledger's runs, files, cursor and mapping, together")
    .argument('<job>', 'job name or job spec file')
    .argument('<new-name>', 'the new name ([a-z0-9_-]+)')
    .option('--table <table>', 'also load into this destination table from now on (default: the table keeps its name)')
    .addOption(config)
    .addOption(json)
    .action(lazy(async () => ({ default: (await import('./jobs.js')).jobsRename }), setCode));
  jobs
    .command('delete')
    .description('remove a job file; the destination table is never dropped')
    .argument('<job>', 'job name or job spec file')
    .option('--forget-state', "also remove the job's runs, processed files, cursor and mapping from the ledger")
    .option('-y, --yes', 'do not ask for confirmation')
    .addOption(config)
    .addOption(json)
    .action(lazy(async () => ({ default: (await import('./jobs.js')).jobsDelete }), setCode));

  const deploy = cli.command('deploy').description('deploying b2betl to Cloud Run');
  deploy
    .command('print')
    .description('print the gcloud commands that deploy this config to Cloud Run and schedule its jobs, in order')
    .addOption(config)
    .addOption(json)
    .action(lazy(() => import('./deploy-print.js'), setCode));
  return cli;
}

/**
 * Runs the CLI and returns the process exit code. With `--json`, an error that ends the command
 * (usage, configuration, anything else) is also printed on stdout as
 * `{"error": …, "exit_code": …}` (with `problems` for a configuration error), so that every
 * outcome can be parsed.
 */
export async function main(argv: readonly string[]): Promise<number> {
  let code: number = ExitCode.ok;
  redactStandardStreams();
  const json = argv.slice(2).includes('--json');
  const fail = (message: string, exitCode: number, extra: Record<string, unknown> = {}): number => {
    if (json) process.stdout.write(`${JSON.stringify(redactValue({ error: message, exit_code: exitCode, ...extra }), null, 2)}\n`);
    return exitCode;
  };
  try {
    await program((value) => (code = value)).parseAsync(argv as string[]);
    return code;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? ExitCode.ok : fail(error.message.replace(/^error: /, ''), ExitCode.usage);
    }
    process.stderr.write(`error: ${redact(messageOf(error))}\n`);
    if (!(error instanceof EtlError) && process.env.B2BETL_DEBUG) process.stderr.write(`${redact((error as Error).stack ?? '')}\n`);
    const exitCode = error instanceof EtlError ? error.exitCode : ExitCode.failed;
    if (error instanceof ConfigError && error.issues.length > 1) return fail(`${error.issues.length} problems found`, exitCode, { problems: error.issues });
    return fail(messageOf(error), exitCode, error instanceof ConfigError ? { problems: error.issues } : {});
  }
}
