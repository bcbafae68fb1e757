/**
 * The `b2betl` command line. Each command module is imported only when its command runs.
 */
import { Command, CommanderError, Option } from 'commander';
import { EtlError, ExitCode, messageOf } from '../core/errors.js';

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
  return cli;
}

/** Runs the CLI and returns the process exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  let code: number = ExitCode.ok;
  try {
    await program((value) => (code = value)).parseAsync(argv as string[]);
    return code;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    }
    process.stderr.write(`error: ${messageOf(error)}\n`);
    if (!(error instanceof EtlError) && process.env.B2BETL_DEBUG) process.stderr.write(`${(error as Error).stack}\n`);
    return error instanceof EtlError ? error.exitCode : ExitCode.failed;
  }
}
