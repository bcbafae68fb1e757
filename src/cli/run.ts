/** `b2betl run`: runs jobs one after another, with a progress view on a TTY. */
import { isatty } from 'node:tty';
import type { LoadedConfig, LoadedJob } from '../core/config.js';
import { ConfigError, ExitCode, Interruption, messageOf } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { stderrLogger } from '../core/log.js';
import { abandonRuns, runJob, type RunObserver, type RunResult } from '../core/pipeline.js';
import { commandLogger, formatDuration, loadJobArgs, printJson, renderTable, shortPath, withLedger, type CommonOptions } from './common.js';

interface RunFlags extends CommonOptions {
  readonly dryRun?: boolean;
  readonly fullRefresh?: boolean;
  readonly since?: string;
  readonly until?: string;
  readonly cancelOnInterrupt?: boolean;
}

/** Exit codes of a run stopped by a signal: 128 + the signal's number. */
const SIGNAL_EXIT: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

/**
 * Runs every job named; exit 0 when all succeed (or had nothing to do), 1 otherwise, 2 for a
 * job that cannot run as written, 130/143 when stopped by SIGINT/SIGTERM. Whatever happens, the
 * summary (or --json) is printed for every job.
 */
export default async function run(args: string[], flags: RunFlags): Promise<number> {
  const jobs = await loadJobArgs(args, flags);
  const results: RunResult[] = [];
  const tty = Boolean(process.stderr.isTTY) && !flags.json && !process.env.CI;
  // With --json, stdout is for the results; warnings (takeovers, reconciled runs) still go to stderr.
  const log = flags.json && !flags.verbose ? stderrLogger({ quiet: true }) : commandLogger(flags);
  let code: number = ExitCode.ok;
  const stop = stopOnSignals(log, remoteJobs(flags), () => {
    // A second signal: exit now, the ledger told synchronously; the destination's commit is atomic.
    for (const run of abandonRuns(`${stop.signal} twice`)) {
      results.push({ ...failedResult(run.job, run.error), status: 'interrupted', run_id: run.runId, rows_extracted: run.counts.rows_extracted });
    }
    const done = new Set(results.map((result) => result.job));
    for (const job of jobs) if (!done.has(job.spec.name)) results.push(notStarted(job, stop.signal!));
    print(flags, results, jobs);
    process.exit(SIGNAL_EXIT[stop.signal!] ?? ExitCode.failed);
  });
  try {
    for (const [config, group] of groupByConfig(jobs)) {
      const pending = [...group];
      const failAll = (error: unknown) => {
        for (const job of pending.splice(0)) results.push(failedResult(job, error));
      };
      try {
        await withLedger(
          config,
          log,
          async (open) => {
            const options = { ledger: open.ledger, shared: open, fullRefresh: flags.fullRefresh, dryRun: flags.dryRun, since: flags.since, until: flags.until, signal: stop.controller.signal };
            while (pending.length && !stop.signal) {
              const job = pending.shift()!;
              try {
                results.push(tty ? await runWithProgress(job, options, flags) : await runPlain(job, { ...options, log }));
              } catch (error) {
                // A job that cannot run as written: the others still run, and the exit code says usage.
                if (!(error instanceof ConfigError)) throw error;
                code = ExitCode.usage;
                results.push(failedResult(job, error));
                if (!flags.json) process.stderr.write(`error: ${messageOf(error)}\n`);
              }
            }
          },
          { readOnly: flags.dryRun },
        );
      } catch (error) {
        // The ledger itself failed (opening or saving it): every job not run yet is failed with that reason.
        if (error instanceof ConfigError) code = ExitCode.usage;
        log.warn(messageOf(error));
        failAll(error);
        if (code === ExitCode.ok) code = ExitCode.failed;
      }
      if (stop.signal) for (const job of pending.splice(0)) results.push(notStarted(job, stop.signal));
    }
  } finally {
    stop.dispose();
  }
  print(flags, results, jobs);
  if (stop.signal) return SIGNAL_EXIT[stop.signal] ?? ExitCode.failed;
  if (code !== ExitCode.ok) return code;
  return results.every((result) => result.status === 'succeeded' || result.status === 'skipped') ? ExitCode.ok : ExitCode.failed;
}

function print(flags: RunFlags, results: readonly RunResult[], jobs: readonly LoadedJob[]): void {
  // A dry run's JSON carries each job's plan (null when it could not be planned; `error` says why).
  if (flags.json) printJson(flags.dryRun ? results.map((result) => ({ ...result, plan: result.plan ?? null })) : results.map(({ plan: _plan, ...result }) => result));
  else process.stdout.write(`${flags.dryRun ? renderPlans(results, jobs) : renderSummary(results)}\n`);
}

/** A job a signal stopped before it started. */
function notStarted(job: LoadedJob, signal: string): RunResult {
  return { ...failedResult(job, `not started: stopped by ${signal}`), status: 'interrupted' };
}

/** The result of a job that did not get to run: the ledger or its spec failed first. */
function failedResult(job: LoadedJob | string, error: unknown): RunResult {
  return {
    job: typeof job === 'string' ? job : job.spec.name,
    run_id: '',
    status: 'failed',
    rows_extracted: 0,
    rows_loaded: 0,
    rows_rejected: 0,
    files_processed: 0,
    files_skipped: 0,
    files_failed: 0,
    duration_ms: 0,
    error: messageOf(error),
  };
}

/**
 * Whether to cancel a job running elsewhere (Dataflow) when the run is stopped: yes with
 * --cancel-on-interrupt; on a terminal, the answer is the next key (y cancels; none within a
 * minute keeps it); otherwise no, and the next run picks the job up.
 */
function remoteJobs(flags: RunFlags): { cancel: (what: string) => Promise<boolean>; asks: boolean } {
  if (flags.cancelOnInterrupt) return { cancel: async () => true, asks: false };
  // process.stdin is opened only to read the answer: opening it on a terminal would hold it.
  if (!isatty(0) || !process.stderr.isTTY || flags.json) return { cancel: async () => false, asks: false };
  const cancel = () =>
    new Promise<boolean>((resolve) => {
      const stdin = process.stdin;
      const raw = stdin.isRaw;
      const done = (answer: boolean) => {
        clearTimeout(timer);
        stdin.off('data', onData);
        stdin.setRawMode(raw);
        stdin.pause();
        resolve(answer);
      };
      const onData = (data: Buffer) => done(/^y/i.test(data.toString('utf8')));
      const timer = setTimeout(() => done(false), 60_000);
      stdin.setRawMode(true);
      stdin.on('data', onData);
      stdin.resume();
    });
  return { cancel, asks: true };
}

/**
 * SIGINT/SIGTERM while jobs run: the first stops the running job at a safe point (nothing more is
 * read; a commit under way finishes) and no further job starts; a second calls `now`.
 */
function stopOnSignals(log: Logger, remote: { cancel: (what: string) => Promise<boolean>; asks: boolean }, now: () => void) {
  const controller = new AbortController();
  const state: { signal?: string; controller: AbortController; dispose(): void } = {
    controller,
    dispose: () => {
      process.off('SIGINT', onSigint);
      process.off('SIGTERM', onSigterm);
      // The results are out and the lock released; a signal while the process winds down ends it now.
      process.once('SIGINT', () => process.exit(SIGNAL_EXIT.SIGINT));
      process.once('SIGTERM', () => process.exit(SIGNAL_EXIT.SIGTERM));
    },
  };
  const on = (signal: string) => {
    if (state.signal) {
      log.warn(`${signal} again: exiting now`);
      now();
      return;
    }
    state.signal = signal;
    log.warn(`${signal}: stopping at a safe point; nothing more is read (${signal === 'SIGINT' ? 'Ctrl-C' : signal} again exits at once)`);
    controller.abort(new Interruption(signal, remote.cancel, remote.asks));
  };
  const onSigint = () => on('SIGINT');
  const onSigterm = () => on('SIGTERM');
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);
  return state;
}

function groupByConfig(jobs: readonly LoadedJob[]): Map<LoadedConfig, LoadedJob[]> {
  const groups = new Map<LoadedConfig, LoadedJob[]>();
  for (const job of jobs) groups.set(job.config, [...(groups.get(job.config) ?? []), job]);
  return groups;
}

type JobOptions = Omit<Parameters<typeof runJob>[1], 'log' | 'observer'>;

/** Non-TTY: plain log lines per event. */
async function runPlain(job: LoadedJob, options: JobOptions & { log: Logger }): Promise<RunResult> {
  const log = options.log;
  const observer: RunObserver = {
    planned: (plan) => log.info(`${job.spec.name}: ${plan.units.length} unit(s) to load, ${plan.skipped.length} skipped`),
    unitFinished: (unit, error) => (error ? undefined : log.info(`${job.spec.name}: read ${unit.label}`)),
    committing: (rows) => log.info(`${job.spec.name}: committing${rows === undefined ? '' : ` ${rows} row(s)`}`),
  };
  if (!options.dryRun) log.info(`${job.spec.name}: starting (${shortPath(job.file)})`);
  const result = await runJob(job, { ...options, observer });
  if (!options.dryRun) log.info(`${job.spec.name}: ${result.status}, ${result.rows_loaded} row(s) loaded in ${formatDuration(result.duration_ms)}${result.note ? `: ${result.note}` : ''}`);
  return result;
}

/** TTY: a listr2 task for the job whose line shows live progress. */
async function runWithProgress(job: LoadedJob, options: JobOptions, flags: CommonOptions): Promise<RunResult> {
  const { DefaultRenderer, Listr, ListrLogger, ProcessOutput } = await import('listr2');
  /** listr2's view, drawn on stderr whether or not stdout is a terminal (listr2 itself asks stdout). */
  class StderrRenderer extends DefaultRenderer {
    static override nonTTY = true;
  }
  // The view is drawn on stderr (whose terminal chose it), so stdout keeps only the summary;
  // whatever is written to stdout meanwhile is held and printed after the view.
  fallBackToWidth(process.stderr, process.stdout);
  const logger = new ListrLogger({ useIcons: true, processOutput: new ProcessOutput(process.stderr, process.stdout) });
  let result: RunResult | undefined;
  let thrown: { error: unknown } | undefined;
  const warnings: string[] = [];
  const tasks = new Listr(
    [
      {
        title: job.spec.name,
        task: async (_context: unknown, task: { output?: string; title: string }) => {
          const log: Logger = {
            info: (message) => (task.output = message),
            warn: (message) => warnings.push(`${job.spec.name}: ${message}`),
            debug: (message) => (flags.verbose ? (task.output = message) : undefined),
          };
          const observer: RunObserver = {
            planned: (plan) => (task.output = `${plan.units.length} unit(s) to load, ${plan.skipped.length} skipped`),
            unitStarted: (unit, index, total) => (task.output = `${index + 1}/${total} ${unit.label}`),
            rows: (unit, count) => (task.output = `${unit.label}: ${count.toLocaleString('en-US')} rows`),
            committing: (count) => (task.output = `committing${count === undefined ? '' : ` ${count.toLocaleString('en-US')} row(s)`}`),
          };
          try {
            result = await runJob(job, { ...options, log, observer });
          } catch (error) {
            thrown = { error };
            throw error;
          }
          task.title = `${job.spec.name}: ${result.status}, ${result.rows_loaded.toLocaleString('en-US')} row(s) in ${formatDuration(result.duration_ms)}${result.note ? ` (${result.note})` : ''}`;
          if (result.status === 'failed' || result.status === 'partial' || result.status === 'interrupted') throw new Error(result.error ?? result.status);
        },
      },
    ],
    // Ctrl-C is b2betl's to handle (a safe stop, then an exit at once): listr2 would exit 127 at once.
    { concurrent: false, exitOnError: false, registerSignalListeners: false, renderer: StderrRenderer, rendererOptions: { collapseErrors: false, logger } },
  );
  await tasks.run().catch(() => undefined);
  for (const warning of warnings) process.stderr.write(`warning: ${warning}\n`);
  if (thrown) throw thrown.error;
  return result!;
}

/**
 * A terminal that reports no width (0 columns: a pseudo-terminal nobody sized, some CI
 * runners) would make the view wrap every character onto its own line: such streams get
 * $COLUMNS, else 80. The renderer reads stdout's width whichever stream it draws on.
 */
function fallBackToWidth(view: NodeJS.WriteStream, ...others: NodeJS.WriteStream[]): void {
  const fromEnv = Number(process.env.COLUMNS);
  const width = view.columns > 0 ? view.columns : Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : 80;
  for (const stream of [view, ...others]) if (!(stream.columns > 0)) stream.columns = width;
}

function renderSummary(results: readonly RunResult[]): string {
  const table = renderTable(
    ['job', 'status', 'rows', 'rejected', 'files', 'skipped', 'failed', 'time', 'run'],
    results.map((r) => [r.job, r.status, r.rows_loaded, r.rows_rejected, r.files_processed, r.files_skipped, r.files_failed, formatDuration(r.duration_ms), r.run_id]),
  );
  const errors = results.filter((r) => r.error).map((r) => `\n${r.job} (${r.status}):\n  ${r.error!.replace(/\n/g, '\n  ')}`);
  // Why a job loaded nothing (no file matches its pattern, every file unchanged…).
  const notes = results.filter((r) => r.note && !r.error).map((r) => `\n${r.job} (${r.status}): ${r.note}`);
  return table + notes.join('') + errors.join('');
}

function renderPlans(results: readonly RunResult[], jobs: readonly LoadedJob[]): string {
  return results
    .map((result, i) => {
      if (!result.plan) return `${result.job}: cannot plan: ${result.error}`;
      const plan = result.plan;
      const lines = [
        `${result.job} (${shortPath(jobs[i]?.file ?? '')})`,
        `  source:      ${plan.source}`,
        `  destination: ${plan.destination}`,
        `  strategy:    ${plan.strategy}, ${plan.path === 'direct' ? `loaded by the ${plan.engine.name} engine, no rows through this machine` : plan.units.some((unit) => unit.path === 'native') ? 'files marked native are read by the destination itself, the rest streamed through b2betl' : 'streamed through b2betl'}`,
        `  estimate:    ${plan.estimated_rows === null ? 'unknown' : `${plan.estimated_rows.toLocaleString('en-US')} row(s)`}`,
        `  engine:      ${plan.engine.name}: ${plan.engine.reason}`,
        ...(plan.engine.details ? [`  request:     ${JSON.stringify(plan.engine.details, null, 2).replace(/\n/g, '\n  ')}`] : []),
        `  to load:     ${plan.units.length} unit(s)${plan.skipped.length ? `, ${plan.skipped.length} skipped` : ''}`,
        ...plan.units
          .slice(0, 50)
          .map(
            (unit) =>
              `    - ${unit.label}${unit.estimated_rows !== null ? ` (~${unit.estimated_rows} rows)` : ''}${unit.bytes !== null ? ` ${unit.bytes} bytes` : ''}${unit.path ? `\n        ${unit.path}: ${unit.reason}` : ''}`,
          ),
        ...(plan.units.length > 50 ? [`    … and ${plan.units.length - 50} more`] : []),
        ...plan.notes.map((note) => `  note: ${note}`),
      ];
      return lines.join('\n');
    })
    .join('\n\n');
}
