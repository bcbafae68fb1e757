/**
 * `b2betl jobs list|pause|resume|rename|delete`: the jobs of a project, their schedules and
 * last runs, and the changes that must move a job file and its ledger state together.
 */
import { existsSync } from 'node:fs';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { expandJobFiles, loadJobs, type LoadedJob } from '../core/config.js';
import { ConfigError, ExitCode, formatIssue } from '../core/errors.js';
import { setIn } from '../core/yaml-edit.js';
import { newRunId, type Ledger, type RunRecord } from '../ledger/ledger.js';
import { formatInZone, nextFires } from '../schedule/cron.js';
import { commandLogger, formatDuration, jobArgsOrDefault, loadJobArgs, printJson, renderTable, shortPath, withLedger, type CommonOptions } from './common.js';
import schedulePause, { scheduleResume } from './schedule-pause.js';

const JOB_NAME = /^[a-z0-9_-]+$/;

/** One row of `jobs list`. */
interface JobRow {
  readonly name: string;
  readonly file: string;
  readonly source: string;
  readonly strategy: string;
  readonly destination: string;
  readonly schedule: string;
  readonly last_run: { status: string; rows: number; duration_ms: number | null; started_at: string } | null;
  readonly problem?: string;
}

/** The jobs of the default folder; files that do not validate are listed with their first problem. */
async function projectJobs(flags: CommonOptions): Promise<{ jobs: LoadedJob[]; broken: { file: string; problem: string }[] }> {
  const files = await expandJobFiles(await jobArgsOrDefault([], flags));
  try {
    return { jobs: await loadJobs(files, { configFile: flags.config }), broken: [] };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const jobs: LoadedJob[] = [];
    const broken: { file: string; problem: string }[] = [];
    for (const file of files) {
      try {
        jobs.push(...(await loadJobs([file], { configFile: flags.config })));
      } catch (single) {
        if (!(single instanceof ConfigError)) throw single;
        broken.push({ file, problem: single.issues[0] ? formatIssue(single.issues[0]).split('\n')[0] : single.message });
      }
    }
    return { jobs, broken };
  }
}

function sourceText(job: LoadedJob): string {
  const s = job.spec.source;
  const what = s.table ?? (s.query ? 'query' : undefined) ?? s.collection ?? (s.collection_group ? `group ${s.collection_group}` : undefined) ?? s.pattern ?? '';
  return `${s.connection}:${what}`;
}

function scheduleText(job: LoadedJob): string {
  const schedule = job.spec.schedule;
  if (!schedule) return 'none';
  if (schedule.paused) return `paused (${schedule.cron} ${schedule.timezone})`;
  const [next] = nextFires(schedule.cron, schedule.timezone, 1);
  return next ? `next ${formatInZone(next, schedule.timezone)}` : `${schedule.cron} (never fires)`;
}

function lastRun(run: RunRecord | undefined): JobRow['last_run'] {
  if (!run) return null;
  const duration = run.ended_at ? Date.parse(run.ended_at) - Date.parse(run.started_at) : null;
  return { status: run.status, rows: run.rows_loaded, duration_ms: duration, started_at: run.started_at };
}

export default async function jobsList(flags: CommonOptions): Promise<number> {
  const { jobs, broken } = await projectJobs(flags);
  const rows: JobRow[] = [];
  const log = commandLogger(flags);
  const byConfig = new Map<LoadedJob['config'], LoadedJob[]>();
  for (const job of jobs) byConfig.set(job.config, [...(byConfig.get(job.config) ?? []), job]);
  for (const [config, group] of byConfig) {
    await withLedger(
      config,
      log,
      async ({ ledger }) => {
        for (const job of group) {
          rows.push({
            name: job.spec.name,
            file: job.file,
            source: sourceText(job),
            strategy: job.spec.load.strategy,
            destination: `${job.destinationName}.${job.table}`,
            schedule: scheduleText(job),
            last_run: lastRun(ledger.runs({ job: job.spec.name, limit: 1 })[0]),
          });
        }
      },
      { readOnly: true },
    );
  }
  for (const { file, problem } of broken) {
    rows.push({ name: path.basename(file).replace(/\.ya?ml$/i, ''), file, source: '', strategy: '', destination: '', schedule: '', last_run: null, problem });
  }
  rows.sort((a, b) => a.name.localeCompare(b.name));
  if (flags.json) printJson(rows);
  else {
    const table = renderTable(
      ['job', 'source', 'strategy', 'destination', 'schedule', 'last run', 'rows', 'took'],
      rows.map((row) =>
        row.problem
          ? [row.name, `invalid: ${row.problem}`]
          : [
              row.name,
              row.source,
              row.strategy,
              row.destination,
              row.schedule,
              row.last_run ? `${row.last_run.status} ${row.last_run.started_at.slice(0, 16).replace('T', ' ')}` : 'never run',
              row.last_run?.rows ?? '',
              row.last_run?.duration_ms === null || row.last_run === null ? '' : formatDuration(row.last_run.duration_ms),
            ],
      ),
    );
    process.stdout.write(`${table}\n`);
  }
  return broken.length ? ExitCode.usage : ExitCode.ok;
}

/** `jobs pause <job>`: the same change as `schedule pause`. */
export function jobsPause(arg: string, flags: CommonOptions): Promise<number> {
  return schedulePause(arg, flags);
}

/** `jobs resume <job>`: the same change as `schedule resume`. */
export function jobsResume(arg: string, flags: CommonOptions): Promise<number> {
  return scheduleResume(arg, flags);
}

/** The job a command argument names: its file, or its name in the default jobs folder. */
async function findJob(arg: string, flags: CommonOptions): Promise<LoadedJob> {
  if (/\.ya?ml$/i.test(arg)) return (await loadJobArgs([arg], flags))[0];
  const { jobs } = await projectJobs(flags);
  const job = jobs.find((candidate) => candidate.spec.name === arg);
  if (!job) throw ConfigError.of(`no job named ${arg} in the jobs folder`, `give its file, or one of: ${jobs.map((candidate) => candidate.spec.name).join(', ') || '(none)'}`);
  return job;
}

interface RenameFlags extends CommonOptions {
  readonly table?: string;
}

/**
 * `jobs rename <old> <new>`: the file, its `name:` and the ledger's runs, processed files,
 * cursor and mapping move together; the destination table keeps its name unless `--table`.
 */
export async function jobsRename(oldArg: string, newName: string, flags: RenameFlags): Promise<number> {
  if (!JOB_NAME.test(newName)) throw ConfigError.of(`"${newName}" is not a job name`, 'use lowercase letters, digits, _ and - only');
  if (flags.table !== undefined && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(flags.table)) {
    throw ConfigError.of(`--table "${flags.table}" is not a table name`, 'use letters, digits and _ only, not starting with a digit');
  }
  const job = await findJob(oldArg, flags);
  const oldName = job.spec.name;
  if (oldName === newName) throw ConfigError.of(`the job is already named ${newName}`);
  const { jobs } = await projectJobs(flags).catch(() => ({ jobs: [] as LoadedJob[] }));
  const clash = jobs.find((other) => other.spec.name === newName);
  if (clash) throw ConfigError.of(`a job named ${newName} already exists (${shortPath(clash.file)})`, 'pick another name, or delete that job first');
  const dir = path.dirname(job.file);
  const baseName = path.basename(job.file);
  const renamesFile = baseName.replace(/\.ya?ml$/i, '') === oldName;
  const target = renamesFile ? path.join(dir, `${newName}${path.extname(baseName)}`) : job.file;
  if (renamesFile && existsSync(target)) throw ConfigError.of(`${shortPath(target)} already exists`, 'move it away, or pick another name');

  const original = await readFile(job.file, 'utf8');
  let text = setIn(original, ['name'], newName, job.file);
  const table = flags.table ?? job.table;
  if (flags.table !== undefined || job.spec.destination.table === undefined) text = setIn(text, ['destination', 'table'], table, job.file);

  // The new file first (beside the old one), then the ledger in one transaction, then the old file goes.
  const staged = `${target}.renaming-${process.pid}`;
  await writeFile(staged, text);
  let moved: ReturnType<Ledger['renameJob']>;
  try {
    moved = await withLedger(job.config, commandLogger(flags), async (open) => {
      const lockId = newRunId();
      await open.lock?.(oldName, lockId, 60_000);
      try {
        return open.ledger.renameJob(oldName, newName);
      } finally {
        await open.unlock?.(oldName, lockId);
      }
    });
  } catch (error) {
    await rm(staged, { force: true });
    throw error;
  }
  await rename(staged, target);
  if (target !== job.file) await rm(job.file, { force: true });

  const scheduled = Boolean(job.spec.schedule && job.config.config.deploy?.project);
  const summary = {
    job: newName,
    was: oldName,
    file: target,
    table,
    moved,
    note: scheduled ? `Cloud Scheduler still has the entry of ${oldName}: \`b2betl schedule apply --prune\` creates ${newName}'s and deletes the old one` : undefined,
  };
  if (flags.json) printJson(summary);
  else {
    process.stdout.write(
      `renamed ${oldName} → ${newName}: ${shortPath(target)}; the ledger moved ${moved.runs} run(s), ${moved.files} processed file(s), ` +
        `${moved.cursors ? 'the cursor' : 'no cursor'} and ${moved.columns} column mapping(s); destination table ${table}` +
        `${flags.table === undefined ? ' (unchanged)' : ''}\n${summary.note ? `${summary.note}\n` : ''}`,
    );
  }
  return ExitCode.ok;
}

interface DeleteFlags extends CommonOptions {
  readonly forgetState?: boolean;
  readonly yes?: boolean;
}

/** `jobs delete <job>`: removes the job file (and with --forget-state its ledger rows); never the destination table. */
export async function jobsDelete(arg: string, flags: DeleteFlags): Promise<number> {
  const job = await findJob(arg, flags);
  const name = job.spec.name;
  if (!flags.yes) {
    if (!process.stdin.isTTY || !process.stdout.isTTY) throw ConfigError.of(`deleting ${shortPath(job.file)} needs --yes when there is no terminal to confirm on`, `b2betl jobs delete ${arg} --yes`);
    const { confirm } = await import('@inquirer/prompts');
    const sure = await confirm({
      message: `Delete ${shortPath(job.file)}${flags.forgetState ? ' and forget its ledger state' : ''}? (table ${job.destinationName}.${job.table} stays)`,
      default: false,
    }).catch(() => false);
    if (!sure) {
      process.stdout.write('nothing deleted\n');
      return ExitCode.ok;
    }
  }
  let forgotten = 0;
  if (flags.forgetState) {
    forgotten = await withLedger(job.config, commandLogger(flags), async (open) => {
      const lockId = newRunId();
      await open.lock?.(name, lockId, 60_000);
      try {
        const held = open.ledger.lockOf(name);
        if (held && Date.parse(held.expires_at) >= Date.now()) throw ConfigError.of(`job ${name} is running (run ${held.run_id})`, 'delete it once that run has finished');
        return open.ledger.forget(name);
      } finally {
        await open.unlock?.(name, lockId);
      }
    });
  }
  await rm(job.file);
  const note = job.spec.schedule && job.config.config.deploy?.project ? `Cloud Scheduler still has its entry: \`b2betl schedule apply --prune\` deletes it` : undefined;
  const summary = { job: name, file: job.file, ledger_rows_removed: forgotten, state_kept: !flags.forgetState, table_kept: `${job.destinationName}.${job.table}`, note };
  if (flags.json) printJson(summary);
  else {
    process.stdout.write(
      `deleted ${shortPath(job.file)}; ${flags.forgetState ? `forgot its ledger state (${forgotten} row(s))` : 'its ledger state stays (a job with the same name picks it up; --forget-state removes it)'}; ` +
        `table ${summary.table_kept} was not touched\n${note ? `${note}\n` : ''}`,
    );
  }
  return ExitCode.ok;
}
