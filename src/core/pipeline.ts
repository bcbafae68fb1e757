/**
 * One run of one job: reconcile → plan → extract → convert → stage → commit → record.
 * The cursor and processed files move only in the ledger transaction that follows the
 * destination's atomic commit; a run killed anywhere is reconciled by the next one.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { resolveConnection, type LoadedJob } from './config.js';
import type {
  DestinationConnector,
  EngineRequest,
  EngineRun,
  LoadMarker,
  ReadContext,
  RejectedRow,
  Replacement,
  SourceConnector,
  SourcePlan,
  SourceState,
  Stage,
  WorkUnit,
} from './connector.js';
import { chooseEngine, type EngineChoice } from './engine-choice.js';
import { BadRecordError, ConfigError, EtlError, LocalFileError, LockedError, SchemaError, messageOf } from './errors.js';
import type { Logger } from './log.js';
import { openDestination, openSource, type OpenedSource } from './open.js';
import { redact } from './redact.js';
import { withRetry } from './retry.js';
import { stateColumns } from './marker-state.js';
import { describeReplacement, replacementOf } from './reload.js';
import { rebuildState, rebuiltSourceState, restoreIfLost } from './restore.js';
import { CellFailure, RunSchema } from './run-schema.js';
import { faultPoint } from './faults.js';
import { rowAt, rowsOf, type Column, type RecordBatch, type Value } from './types.js';
import { newRunId, type Ledger, type PendingCommit, type RunCounts, type StageTimes } from '../ledger/ledger.js';
import { withLedger, type OpenLedger } from '../ledger/open.js';
import { RunJournal } from '../ledger/details.js';

export type RunStatus = 'succeeded' | 'failed' | 'partial' | 'skipped' | 'interrupted';

/** What `b2betl run --json` prints per job. */
export interface RunResult extends Omit<RunCounts, 'bytes'> {
  job: string;
  run_id: string;
  status: RunStatus;
  duration_ms: number;
  error: string | null;
  /** Why nothing was loaded, for a skipped run ("no files match …"). */
  note?: string;
  /** With --dry-run: what would be read and loaded. */
  plan?: DryRunPlan;
}

export interface DryRunPlan {
  source: string;
  destination: string;
  strategy: string;
  path: 'stream' | 'direct';
  /** The engine that would fill the stage (`local`: rows stream through this machine), why, and what it would send. */
  engine: { name: string; reason: string; details?: Readonly<Record<string, unknown>> };
  estimated_rows: number | null;
  units: {
    id: string;
    label: string;
    estimated_rows: number | null;
    bytes: number | null;
    /** How the unit's rows would travel: read by the destination itself, or through b2betl. */
    path?: 'native' | 'streamed';
    /** Why it takes that path. */
    reason?: string;
  }[];
  skipped: { id: string; reason: string }[];
  notes: string[];
}

/** Progress callbacks, for the listr2 view or plain log lines. */
export interface RunObserver {
  planned?(plan: SourcePlan): void;
  unitStarted?(unit: WorkUnit, index: number, total: number): void;
  rows?(unit: WorkUnit, rows: number): void;
  unitFinished?(unit: WorkUnit, error?: string): void;
  /** The commit begins, of this many rows (undefined when only the commit counts them). */
  committing?(rows?: number): void;
}

export interface RunOptions {
  readonly ledger: Ledger;
  /** Locks and publishing of a ledger shared between machines. */
  readonly shared?: Pick<OpenLedger, 'lock' | 'renewLock' | 'unlock' | 'sync'>;
  readonly log: Logger;
  readonly fullRefresh?: boolean;
  readonly dryRun?: boolean;
  readonly since?: string;
  readonly until?: string;
  readonly observer?: RunObserver;
  readonly signal?: AbortSignal;
  /** The run's id, when the caller labels its logs with it first (`serve`); else a new one. */
  readonly runId?: string;
  /** `throw`: a job another run holds raises {@link LockedError} instead of a failed result (`serve` answers 409). */
  readonly ifLocked?: 'fail' | 'throw';
}

/** How a unit ended: its rows and set-aside rejects, or why it failed. */
type UnitOutcome = { rows: number; rejects: RejectedRow[]; error?: undefined } | { error: string };

/**
 * A job lock's lease, renewed every third of it while the run lives: a lock left by a process
 * that died on another machine is taken over once its lease expires.
 */
const LEASE_MS = 60_000;
/** How long closing a source or destination may take before the run ends without waiting further. */
const CLOSE_MS = 10_000;
/** A column of no values: every row's value is null. */
const NULLS: ArrayLike<Value> = { length: 0 };
const DEFAULT_FILE_CONCURRENCY = 4;

function zeroCounts(): RunCounts {
  return { rows_extracted: 0, rows_loaded: 0, rows_rejected: 0, files_processed: 0, files_skipped: 0, files_failed: 0, bytes: 0 };
}

/** Waits for every promise to settle, but at most `ms`: a close that hangs does not hold the run's ending. */
async function settleWithin(promises: readonly (Promise<unknown> | undefined)[], ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  await Promise.race([Promise.allSettled(promises), timeout]);
  clearTimeout(timer);
}

/** The words for why a run was stopped: the signal's name, or the reason its caller gave. */
function stopReason(signal: AbortSignal | undefined): string {
  const reason: unknown = signal?.reason;
  if (reason instanceof Error) return reason.message;
  return typeof reason === 'string' && reason ? reason : 'stopped';
}

/**
 * A full garbage collection before the destination's commit: the streaming phase leaves garbage
 * that V8 would otherwise keep while the destination (DuckDB, in this process) needs memory.
 */
const collectGarbage: () => void = (() => {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as (() => void) | undefined;
  return () => gc?.();
})();

/** A unit's failure, naming the unit unless the message already starts with it (`file:line: …`). */
function unitError(unit: WorkUnit, message: string): string {
  return message.startsWith(unit.label) ? message : `${unit.label}: ${message}`;
}

const FAILURES_SHOWN = 10;

/** The run's error: the first failures in full, then how many more (the log has every one). */
function summarizeFailures(failures: readonly string[]): string {
  const shown = failures.slice(0, FAILURES_SHOWN).join('\n');
  return failures.length > FAILURES_SHOWN ? `${shown}\n… and ${failures.length - FAILURES_SHOWN} more failed unit(s)` : shown;
}

/** What every unit of a run reads through: its source, the run's columns, and the one stage. */
interface UnitContext {
  readonly source: SourceConnector;
  readonly schema: RunSchema;
  readonly ensureStage: () => Promise<Stage>;
  /** Stage calls go one at a time through this. */
  readonly serial: <T>(action: () => Promise<T>) => Promise<T>;
  /** Where the rows go, for the files it reads itself. */
  readonly destination: DestinationConnector;
}

/** Accumulates milliseconds per stage. */
class Stopwatch {
  readonly times: StageTimes = {};
  /** When each stage first began (epoch milliseconds). */
  readonly firsts: Partial<Record<keyof StageTimes, number>> = {};
  add(stage: keyof StageTimes, since: number): void {
    this.firsts[stage] ??= Math.round(performance.timeOrigin + since);
    this.times[stage] = Math.round((this.times[stage] ?? 0) + (performance.now() - since));
  }
  async time<T>(stage: keyof StageTimes, action: () => Promise<T>): Promise<T> {
    const start = performance.now();
    try {
      return await action();
    } finally {
      this.add(stage, start);
    }
  }
}

/**
 * Runs one job to completion and returns its result; never throws for a run failure. A job that
 * cannot run as written (a {@link ConfigError}, such as a connection whose `${VAR}` is unset)
 * throws it: the caller fails that job alone.
 */
export async function runJob(job: LoadedJob, options: RunOptions): Promise<RunResult> {
  const started = Date.now();
  const runId = options.runId ?? newRunId();
  const result = (status: RunStatus, { bytes: _bytes, ...counts }: RunCounts, error: string | null, plan?: DryRunPlan): RunResult => ({
    job: job.spec.name,
    run_id: runId,
    status,
    ...counts,
    duration_ms: Date.now() - started,
    error,
    plan,
  });
  if (options.dryRun) {
    try {
      return result('skipped', zeroCounts(), null, await planOnly(job, options, runId));
    } catch (error) {
      if (error instanceof ConfigError) throw error;
      return result('failed', zeroCounts(), messageOf(error));
    }
  }
  const run = new Run(job, options, runId);
  try {
    const { status, counts, error, note } = await run.execute();
    return { ...result(status, counts, error ?? null), ...(note ? { note } : {}) };
  } catch (error) {
    if (error instanceof ConfigError || (error instanceof LockedError && options.ifLocked === 'throw')) throw error;
    return result('failed', run.counts, messageOf(error));
  }
}

/**
 * Runs one job with its config's ledger opened around it and written back after: one run exactly
 * as `b2betl run` makes it, for callers that run jobs one by one (`serve`, the local scheduler).
 */
export function runWithLedger(job: LoadedJob, options: Omit<RunOptions, 'ledger' | 'shared'>): Promise<RunResult> {
  return withLedger(job.config, options.log, (open) => runJob(job, { ...options, ledger: open.ledger, shared: open }));
}

/** The plan a run would follow, with nothing written anywhere. */
async function planOnly(job: LoadedJob, options: RunOptions, runId: string): Promise<DryRunPlan> {
  const log = options.log;
  const opened = await openSource(job, log);
  const destination = await openDestination(job, log, { readOnly: true });
  try {
    const name = job.spec.name;
    // A lost ledger is rebuilt from the destination's markers before a run: the plan shows that run.
    const rebuilt = options.ledger.hasState(name) || options.ledger.wasReset(name) ? undefined : await rebuildState(job, destination);
    const state = rebuilt && !options.fullRefresh ? rebuiltSourceState(rebuilt.state, opened.connection) : sourceState(job, options, opened);
    const plan = await opened.source.plan({ ...planContext(job, options, state), log });
    const replace = replacementOf(job, { fullRefresh: options.fullRefresh, window: windowOf(options) }, plan);
    const choice = await chooseEngine(engineRequest(job, destination, opened, plan, runId, options, replace));
    const paths = choice.run ? undefined : await unitPaths(job, destination, opened.source, plan, log);
    const described = describePlan(job, destination, plan, choice, paths);
    if (rebuilt) described.notes.unshift(`the ledger has no state for job ${name}: the run first rebuilds it from ${rebuilt.markers} load marker(s) in ${rebuilt.location}`);
    if (replace) described.notes.push(describeReplacement(destination.locate(job.table), replace));
    return described;
  } finally {
    await Promise.allSettled([opened.source.close(), destination.close()]);
  }
}

/** Why no unit of a job is offered to the destination to read itself; undefined when they may be. */
function nativeRefusal(job: LoadedJob, destination: DestinationConnector, source: SourceConnector): string | undefined {
  if (!source.nativeFile || !destination.capabilities.nativeFiles?.length) return 'the destination reads no files itself';
  if (process.env.B2BETL_STREAM_ONLY) return 'B2BETL_STREAM_ONLY is set';
  // The last row per key wins: that needs the rows in file order, which a parallel reader does not keep.
  if (job.spec.load.strategy === 'merge') return 'load.strategy merge needs the rows in file order';
  return undefined;
}

/** Which path each unit would take, and why: what --dry-run shows per file. */
async function unitPaths(job: LoadedJob, destination: DestinationConnector, source: SourceConnector, plan: SourcePlan, log: Logger): Promise<{ path: 'native' | 'streamed'; reason: string }[]> {
  const refused = nativeRefusal(job, destination, source);
  const context: ReadContext = { job: job.spec, log, signal: new AbortController().signal, planOnly: true };
  const paths: { path: 'native' | 'streamed'; reason: string }[] = [];
  // One unit at a time: deciding may read a whole file.
  for (const unit of plan.units) {
    const file = refused ? { reason: refused } : await source.nativeFile!(unit, context, destination.capabilities.nativeFiles!);
    paths.push({ path: file.path === undefined ? 'streamed' : 'native', reason: file.reason });
  }
  return paths;
}

function describePlan(
  job: LoadedJob,
  destination: DestinationConnector,
  plan: SourcePlan,
  choice: EngineChoice,
  paths?: readonly { path: 'native' | 'streamed'; reason: string }[],
): DryRunPlan {
  const direct = choice.run;
  return {
    source: `${job.spec.source.connection} (${job.sourceConnection.type})`,
    destination: destination.locate(job.table),
    strategy: job.spec.load.strategy,
    path: direct ? 'direct' : 'stream',
    engine: { name: choice.engine, reason: choice.reason, ...(direct?.details ? { details: direct.details } : {}) },
    estimated_rows: plan.estimatedRows ?? null,
    units: plan.units.map((unit, i) => ({
      id: unit.id,
      label: unit.label,
      estimated_rows: unit.estimatedRows ?? null,
      bytes: unit.bytes ?? null,
      ...(paths?.[i] && unit.file ? paths[i] : {}),
    })),
    skipped: [...plan.skipped],
    notes: [...(plan.notes ?? []), ...(direct ? [direct.description] : []), ...choice.notes],
  };
}

function windowOf(options: RunOptions) {
  return options.since || options.until ? { since: options.since, until: options.until } : undefined;
}

/**
 * What a source plans from. Catalog reads everything (so does --full-refresh), unless, without
 * --full-refresh, the source can tell nothing changed since the last snapshot.
 */
function planContext(job: LoadedJob, options: RunOptions, state: SourceState) {
  const catalog = job.spec.load.strategy === 'catalog';
  return {
    job: job.spec,
    state,
    fullRefresh: Boolean(options.fullRefresh) || catalog,
    skipUnchangedSnapshot: catalog && !options.fullRefresh,
    window: windowOf(options),
  };
}

function sourceState(job: LoadedJob, options: RunOptions, opened: OpenedSource) {
  if (options.fullRefresh) return { files: new Map() };
  return { cursor: options.ledger.cursor(job.spec.name), files: options.ledger.files(job.spec.name, opened.connection) };
}

/** A run as the engines are offered it. */
function engineRequest(
  job: LoadedJob,
  destination: DestinationConnector,
  opened: OpenedSource,
  plan: SourcePlan,
  runId: string,
  options: RunOptions,
  replace: Replacement | undefined,
): EngineRequest {
  return {
    runId,
    job: job.spec,
    table: job.table,
    strategy: job.spec.load.strategy,
    primaryKey: job.spec.load.primary_key ?? [],
    source: { name: opened.connection, config: resolveConnection(job.config, opened.connection), connector: opened.source, store: opened.store, format: job.spec.source.format },
    destination: { name: job.destinationName, config: resolveConnection(job.config, job.destinationName), connector: destination },
    plan,
    estimate: plan.estimatedRows === undefined ? undefined : { rows: plan.estimatedRows, basis: plan.estimateBasis ?? "the source's estimate", exact: plan.estimateExact },
    dataflow: job.config.config.dataflow,
    mapping: options.ledger.mapping(job.spec.name),
    replace,
    baseDir: job.config.baseDir,
    log: options.log,
  };
}

/** Runs in progress in this process. */
const activeRuns = new Set<Run>();

/**
 * Ends every run of this process at once, for an exit that does not wait (a second Ctrl-C):
 * each is recorded as interrupted unless it is committing, and its lock in the ledger is released.
 */
export function abandonRuns(reason: string): { job: string; runId: string; counts: RunCounts; error: string }[] {
  const abandoned = [...activeRuns].map((run) => run.abandon(reason));
  activeRuns.clear();
  return abandoned;
}

/** The state of one run in progress. */
class Run {
  readonly counts = zeroCounts();
  private readonly watch = new Stopwatch();
  private readonly journal = new RunJournal();
  private readonly log: Logger;
  private readonly ledger: Ledger;
  private readonly controller = new AbortController();
  private badRecords = 0;
  /** Rows read so far by every unit of the run (retried reads counted again). */
  private rowsRead = 0;
  /** Rows read by each unit's latest attempt, failed ones included. */
  private readonly unitRows: number[] = [];
  private started = false;
  private committing = false;

  constructor(
    private readonly job: LoadedJob,
    private readonly options: RunOptions,
    private readonly runId: string,
  ) {
    this.log = options.log;
    this.ledger = options.ledger;
    options.signal?.addEventListener('abort', () => this.controller.abort(options.signal?.reason), { once: true });
  }

  private get name(): string {
    return this.job.spec.name;
  }

  /** Whether the caller stopped the run (a signal, a server shutting down). */
  private get interrupted(): boolean {
    return Boolean(this.options.signal?.aborted);
  }

  /** Why a run stopped before its commit left nothing loaded. */
  private stoppedBeforeCommit(): string {
    const read = this.counts.rows_extracted;
    return `interrupted (${stopReason(this.options.signal)}) before the commit: nothing of this run was committed${read ? ` (${read} row(s) read); the next run reads them again` : '; the next run reads the same data'}`;
  }

  /** Records the run as interrupted before its commit: nothing of it was loaded. `error` says what became of its work. */
  private stopBeforeCommit(error = this.stoppedBeforeCommit()): { status: RunStatus; counts: RunCounts; error: string } {
    this.counts.rows_loaded = 0;
    this.counts.rows_rejected = 0;
    this.counts.files_processed = 0;
    this.ledger.finishRun(this.runId, 'interrupted', this.counts, this.watch.times, error);
    return { status: 'interrupted', counts: this.counts, error };
  }

  async execute(): Promise<{ status: RunStatus; counts: RunCounts; error?: string; note?: string }> {
    const shared = this.options.shared;
    await shared?.lock?.(this.name, this.runId, LEASE_MS);
    try {
      this.ledger.acquireLock(this.name, this.runId, LEASE_MS);
    } catch (error) {
      await shared?.unlock?.(this.name, this.runId);
      throw error;
    }
    faultPoint('after-lock');
    activeRuns.add(this);
    const heartbeat = setInterval(() => {
      try {
        this.ledger.renewLock(this.name, this.runId, LEASE_MS);
      } catch (error) {
        this.log.warn(`could not renew the lock of ${this.name}: ${messageOf(error)}`);
      }
      shared?.renewLock?.(this.name, this.runId, LEASE_MS).catch((error: unknown) => {
        this.log.warn(`lost the lock of ${this.name}: ${messageOf(error)}; stopping the run`);
        this.controller.abort(error);
      });
    }, LEASE_MS / 3).unref();
    let opened: OpenedSource | undefined;
    let destination: DestinationConnector | undefined;
    try {
      const { spec } = this.job;
      this.ledger.startRun({ id: this.runId, job: this.name, destination: this.job.destinationName, table: this.job.table, strategy: spec.load.strategy });
      this.started = true;
      destination = await openDestination(this.job, this.log, { runId: this.runId });
      const reconciling = Date.now();
      await this.reconcile(destination);
      await restoreIfLost(this.job, destination, this.ledger, this.log);
      this.journal.stage('reconcile', reconciling, Date.now() - reconciling);
      this.journal.cursorBefore(this.ledger.cursor(this.name));
      faultPoint('after-reconcile');
      if (this.interrupted) return this.stopBeforeCommit();
      opened = await openSource(this.job, this.log);
      return await this.load(opened, destination);
    } catch (error) {
      this.journal.failed(error);
      // A run past markCommitting is left for reconciliation: its commit may have landed.
      if (this.started && !this.committing) {
        if (this.interrupted && !(error instanceof ConfigError)) return this.stopBeforeCommit();
        this.counts.rows_extracted = Math.max(this.counts.rows_extracted, this.extracted());
        this.counts.rows_loaded = 0;
        this.counts.rows_rejected = 0;
        this.counts.files_processed = 0;
        this.ledger.finishRun(this.runId, 'failed', this.counts, this.watch.times, messageOf(error));
      }
      throw error;
    } finally {
      activeRuns.delete(this);
      clearInterval(heartbeat);
      if (this.started) this.noteDetails();
      await settleWithin([opened?.source.close(), destination?.close()], CLOSE_MS);
      try {
        this.ledger.releaseLock(this.name, this.runId);
      } catch (error) {
        this.log.warn(`could not release the lock of ${this.name}: ${messageOf(error)}`);
      }
      await shared?.unlock?.(this.name, this.runId).catch((error: unknown) => this.log.warn(`could not release the lock of ${this.name}: ${messageOf(error)}`));
    }
  }

  /**
   * Ends the run at once, for a process that exits without waiting (a second Ctrl-C): a run not
   * yet committing is recorded as interrupted, and the job's lock in the ledger is released. A
   * run that is committing stays so: the next run settles it by the destination's marker.
   */
  abandon(reason: string): { job: string; runId: string; counts: RunCounts; error: string } {
    const error = this.committing
      ? `interrupted (${reason}) during the commit: whether it landed is settled by the next run, from the destination's marker`
      : `interrupted (${reason}) before the commit: nothing of this run was committed; the next run reads it again`;
    try {
      if (this.started && !this.committing) {
        this.counts.rows_loaded = 0;
        this.ledger.finishRun(this.runId, 'interrupted', this.counts, this.watch.times, error);
      }
      this.ledger.releaseLock(this.name, this.runId);
    } catch {
      // the ledger itself failed: its lock expires with its lease
    }
    return { job: this.name, runId: this.runId, counts: { ...this.counts, rows_loaded: 0 }, error };
  }

  /** Records the run's details; they inform, so a failure to record them only warns. */
  private noteDetails(): void {
    try {
      this.ledger.noteDetails(this.runId, this.journal.finish(this.watch.times, this.watch.firsts, this.ledger.cursor(this.name)));
    } catch (error) {
      this.log.warn(`could not record the details of run ${this.runId}: ${messageOf(error)}`);
    }
  }

  /** Settles runs a killed process left in flight: recorded if their marker committed, failed otherwise. */
  private async reconcile(destination: DestinationConnector): Promise<void> {
    const unfinished = this.ledger.unfinishedRuns(this.name, this.runId);
    if (!unfinished.length) return;
    const committed = await destination.committedRuns(
      this.name,
      unfinished.filter((run) => run.status === 'committing').map((run) => run.id),
    );
    for (const run of unfinished) {
      if (committed.has(run.id) && run.pending) {
        this.log.warn(`run ${run.id} was interrupted after its commit; recording its state now`);
        this.ledger.recordCommit(run.id, this.name, run.pending);
      } else {
        this.log.warn(`run ${run.id} was interrupted before its commit; nothing of it was loaded`);
        this.ledger.finishRun(run.id, 'interrupted', zeroCounts(), {}, 'interrupted before commit (its process ended first); nothing was loaded, the next run reads the same data');
      }
    }
  }

  private async load(opened: OpenedSource, destination: DestinationConnector): Promise<{ status: RunStatus; counts: RunCounts; error?: string; note?: string }> {
    const { spec } = this.job;
    const state = sourceState(this.job, this.options, opened);
    let plan = await this.watch.time('plan', () => opened.source.plan({ ...planContext(this.job, this.options, state), log: this.log }));
    if (plan.units.length === 0 && spec.load.strategy === 'catalog' && !(await destination.describe(this.job.table))) {
      // The last snapshot's table is gone: unchanged files still have to be loaded.
      plan = await this.watch.time('plan', () => opened.source.plan({ ...planContext(this.job, this.options, state), skipUnchangedSnapshot: false, log: this.log }));
    }
    this.options.observer?.planned?.(plan);
    this.journal.source(`${spec.source.connection} (${this.job.sourceConnection.type})`);
    this.journal.planned(plan, { ...windowOf(this.options), fullRefresh: Boolean(this.options.fullRefresh) });
    const replace = replacementOf(this.job, { fullRefresh: this.options.fullRefresh, window: windowOf(this.options) }, plan);
    this.counts.files_skipped = plan.skipped.length;
    faultPoint('after-plan');
    if (this.interrupted) return this.stopBeforeCommit();
    if (plan.units.length === 0) {
      const reason = plan.notes?.[0] ?? 'nothing new to load';
      this.ledger.finishRun(this.runId, 'skipped', this.counts, this.watch.times, reason);
      return { status: 'skipped', counts: this.counts, note: reason };
    }
    const existing = await destination.describe(this.job.table);
    if (existing?.strategy && existing.strategy !== spec.load.strategy) {
      throw new SchemaError(
        `${destination.locate(this.job.table)} was loaded with strategy ${existing.strategy}; job ${this.name} uses ${spec.load.strategy}`,
        `a table keeps one load strategy: set load.strategy: ${existing.strategy}, or load into another destination.table`,
      );
    }
    const choice = await chooseEngine(engineRequest(this.job, destination, opened, plan, this.runId, this.options, replace));
    for (const note of choice.notes) this.log.warn(note);
    if (choice.run) {
      this.journal.engine(choice.run.description);
      return this.runEngine(choice.run, plan, opened);
    }
    this.journal.engine(`streamed through b2betl into ${destination.locate(this.job.table)}`);
    return this.stream(opened, destination, plan, existing?.columns, replace);
  }

  /**
   * A run an engine carries out: it fills the stage while the run is `running`, and commits with
   * the marker once the run is `committing`; the ledger records it as any run.
   */
  private async runEngine(direct: EngineRun, plan: SourcePlan, opened: OpenedSource) {
    this.log.info(`${direct.description} (${direct.reason})`);
    const files = plan.units.flatMap((unit) => (unit.file ? [unit.file] : []));
    const cursor = [...plan.units].reverse().find((unit) => unit.cursorAfter !== undefined)?.cursorAfter;
    const pending = (rows: number, columns: readonly Column[]): PendingCommit => ({
      connection: opened.connection,
      files,
      snapshot: this.job.spec.load.strategy === 'catalog',
      cursor,
      columns,
      counts: { ...this.counts, rows_extracted: rows, rows_loaded: rows, files_processed: files.length, bytes: files.reduce((sum, f) => sum + f.size, 0) },
      status: 'succeeded',
      stages: this.watch.times,
    });
    if (this.interrupted) return this.stopBeforeCommit();
    const filling = performance.now();
    let committed = filling;
    const committing = async (rows: number | undefined, columns: readonly Column[]) => {
      if (this.interrupted) throw new EtlError(this.stoppedBeforeCommit());
      this.watch.add('stage', filling);
      this.ledger.markCommitting(this.runId, pending(rows ?? 0, columns));
      this.committing = true;
      committed = performance.now();
      await this.options.shared?.sync?.();
      faultPoint('before-commit');
      this.options.observer?.committing?.(rows);
    };
    // Until the commit begins the engine fills the stage; from then on it commits.
    const clock = () => (this.committing ? this.watch.add('commit', committed) : this.watch.add('stage', filling));
    let result: { rows: number; columns?: readonly Column[] };
    try {
      result = await direct.run(this.marker(plan.units, 0, pending(0, [])), this.controller.signal, committing);
    } catch (error) {
      clock();
      // Stopped while the engine filled the stage: its own words say what became of its work.
      if (this.interrupted && !this.committing) return this.stopBeforeCommit(messageOf(error));
      throw error;
    }
    clock();
    const { rows, columns } = result;
    faultPoint('after-commit');
    const final = pending(rows, columns ?? []);
    faultPoint('before-record');
    Object.assign(this.counts, final.counts);
    this.record(final);
    faultPoint('after-record');
    return { status: 'succeeded' as const, counts: this.counts };
  }

  /** The run's marker, carrying what the ledger records once it commits. */
  private marker(units: readonly WorkUnit[], rows: number, pending: PendingCommit): LoadMarker {
    const { spec } = this.job;
    const state = { connection: pending.connection, cursor: pending.cursor, files: pending.files, columns: stateColumns(pending.columns) };
    return { runId: this.runId, job: this.name, table: this.job.table, strategy: spec.load.strategy, units: units.map((unit) => unit.id), rows, state };
  }

  private async stream(opened: OpenedSource, destination: DestinationConnector, plan: SourcePlan, existing: readonly Column[] | undefined, replace: Replacement | undefined) {
    const { spec } = this.job;
    const schema = new RunSchema({
      table: destination.locate(this.job.table),
      existing,
      mapping: this.ledger.mapping(this.name),
      select: opened.source.selectsColumns ? undefined : spec.source.columns,
      fillRequired: spec.load.fill_required_defaults,
      canWiden: destination.capabilities.canWiden ?? (() => true),
      maxRow: destination.capabilities.maxRow,
      timeRange: destination.capabilities.timeRange,
    });
    let stage: Stage | undefined;
    let stagedGeneration = -1;
    let staging = Promise.resolve();
    const ensureStage = async (): Promise<Stage> => {
      if (!stage) {
        stage = await destination.stage({
          runId: this.runId,
          job: spec,
          table: this.job.table,
          strategy: spec.load.strategy,
          primaryKey: spec.load.primary_key ?? [],
          columns: schema.columns,
          replace,
          log: this.log,
        });
        stagedGeneration = schema.generation;
      } else if (stagedGeneration !== schema.generation) {
        stagedGeneration = schema.generation;
        await stage.evolve(schema.columns);
      }
      return stage;
    };
    /** Stage calls go one at a time: destinations append through a single writer. */
    const serial = <T>(action: () => Promise<T>): Promise<T> => {
      const next = staging.then(action);
      staging = next.then(
        () => undefined,
        () => undefined,
      );
      return next;
    };

    const outcomes: UnitOutcome[] = new Array(plan.units.length);
    const concurrency = Math.max(1, spec.source.parallelism ?? (opened.store ? DEFAULT_FILE_CONCURRENCY : 1));
    let next = 0;
    let stopped = false;
    const allOrNothing = spec.load.strategy === 'catalog';

    const processUnit = async (index: number): Promise<void> => {
      const unit = plan.units[index];
      this.options.observer?.unitStarted?.(unit, index, plan.units.length);
      const began = Date.now();
      try {
        const outcome = await withRetry(
          async () => {
            try {
              return await this.readUnit(unit, index, { source: opened.source, schema, ensureStage, serial, destination });
            } catch (error) {
              if (stage) await serial(() => stage!.discard(index));
              throw error;
            }
          },
          {
            signal: this.controller.signal,
            onRetry: (error, attempt, delay) => this.log.warn(`${unit.label}: ${messageOf(error)}; retrying (attempt ${attempt + 1}) in ${Math.round(delay)} ms`),
          },
        );
        outcomes[index] = outcome;
        this.journal.unit(unit, began, { rows: outcome.rows });
        this.options.observer?.unitFinished?.(unit);
      } catch (error) {
        if (error instanceof ConfigError || error instanceof SchemaError || error instanceof LocalFileError) throw error;
        const message = messageOf(error);
        outcomes[index] = { error: message };
        this.journal.unit(unit, began, { error: message });
        // A read cancelled by a stop (a signal, another unit's failure that ends the run) is no failure of its own.
        if (!this.controller.signal.aborted) this.log.warn(unitError(unit, message));
        this.options.observer?.unitFinished?.(unit, message);
        if (plan.ordered || allOrNothing) stopped = true;
      }
    };
    // A failure that ends the run stops every unit being read, and waits for them before it is thrown.
    let fatal: { error: unknown } | undefined;
    const worker = async () => {
      while (!stopped && next < plan.units.length && !this.controller.signal.aborted) {
        try {
          await processUnit(next++);
        } catch (error) {
          fatal ??= { error };
          stopped = true;
          this.controller.abort(error);
        }
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(concurrency, plan.units.length) }, worker));
      if (fatal) throw fatal.error;
      if (this.interrupted) {
        await stage?.abort();
        this.counts.rows_extracted = this.extracted();
        return this.stopBeforeCommit();
      }
      // The table's columns follow the plan, not the order in which reads happened to finish.
      schema.orderByPlan();
      // A snapshot or a whole-table reload replaces the table even when no unit brought a batch.
      if (stage || (existing && (allOrNothing || replace?.kind === 'table'))) await serial(ensureStage);
      return await this.commit(opened, destination, plan, outcomes, schema, stage, serial, replace !== undefined);
    } catch (error) {
      await stage?.abort().catch(() => undefined);
      throw error;
    }
  }

  /**
   * A unit the destination reads itself, straight from a local file, when the source can offer
   * it and the destination converts every value of it exactly as the core would. Returns its
   * rows, or undefined: then it streams.
   */
  private async readNative(unit: WorkUnit, index: number, { source, schema, ensureStage, serial, destination }: UnitContext): Promise<number | undefined> {
    if (!unit.file || nativeRefusal(this.job, destination, source)) return undefined;
    const start = performance.now();
    const file = await source.nativeFile!(unit, this.readContext(), destination.capabilities.nativeFiles!);
    if (file.path === undefined) {
      this.log.debug(`${unit.label}: streamed: ${file.reason}`);
      return undefined;
    }
    const targets = schema.nativeTargets(schema.planFor(file.columns, index));
    if (!targets) {
      this.log.debug(`${unit.label}: streamed: a column still awaits its first value or is REQUIRED in the destination`);
      return undefined;
    }
    const rows = await serial(async () => (await ensureStage()).loadFile?.(index, file, targets));
    this.watch.add('stage', start);
    if (rows !== undefined && rows !== file.records) {
      // The destination lost or invented rows: what the stream reads is the truth.
      this.log.warn(`${unit.label}: the destination read ${rows} row(s) of the file's ${file.records} record(s); streaming it instead`);
      await serial(async () => (await ensureStage()).discard(index));
      return undefined;
    }
    return rows;
  }

  /** Rows read from the source: every unit's latest attempt, whether it succeeded or not. */
  private extracted(): number {
    return this.unitRows.reduce((sum, rows) => sum + (rows ?? 0), 0);
  }

  private readContext(): ReadContext {
    return { job: this.job.spec, log: this.log, signal: this.controller.signal };
  }

  /** Streams one unit into the stage; returns its row count and set-aside rejects. */
  private async readUnit(unit: WorkUnit, index: number, context: UnitContext): Promise<{ rows: number; rejects: RejectedRow[] }> {
    const { source, schema, ensureStage, serial } = context;
    this.unitRows[index] = 0;
    const native = await this.readNative(unit, index, context);
    if (native !== undefined) {
      this.rowsRead += native;
      this.unitRows[index] = native;
      faultPoint('after-rows', this.rowsRead);
      this.options.observer?.rows?.(unit, native);
      faultPoint('after-unit-staged');
      return { rows: native, rejects: [] };
    }
    const rejects: RejectedRow[] = [];
    const limit = this.job.spec.load.max_bad_records;
    let rows = 0;
    const bad = (position: number | string, column: string | undefined, reason: string, raw: unknown) => {
      if (this.badRecords + rejects.length >= limit) throw new BadRecordError(`${unit.label}:${position}`, column, reason, raw);
      const text = typeof raw === 'string' ? raw : JSON.stringify(raw, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
      // The rejects table is read by whoever reads the warehouse: no secret goes there either.
      rejects.push({ runId: this.runId, unit: unit.id, position: String(position), column, reason: redact(reason), raw: redact(text) });
    };
    let written = 0;
    const iterator = source.read(unit, this.readContext())[Symbol.asyncIterator]();
    let finished = false;
    try {
      for (;;) {
        let start = performance.now();
        const step = await iterator.next();
        this.watch.add('extract', start);
        if (step.done) {
          finished = true;
          break;
        }
        const batch: RecordBatch = step.value;
        for (const reject of batch.rejects ?? []) bad(reject.position, undefined, reject.reason, reject.raw);
        start = performance.now();
        const plan = schema.planFor(batch.columns, index);
        let length: number;
        if (batch.vectors) {
          // Column by column: no row is built unless the stage takes only rows.
          length = batch.length ?? 0;
          const result = schema.convertColumns(plan, batch.vectors, length);
          for (const failure of result.failures) bad(batch.positions?.[failure.row] ?? rows + failure.row + 1, failure.column, failure.reason, rowAt(batch.vectors, failure.row));
          this.watch.add('convert', start);
          start = performance.now();
          const kept = length - result.failures.length;
          await serial(async () => {
            const stage = await ensureStage();
            if (!kept) return;
            if (stage.writeColumns) await stage.writeColumns(index, result.columns, length, result.skip);
            else await stage.write(index, rowsOf(result.columns.map((column) => column ?? NULLS), length).filter((_row, r) => !result.skip?.[r]) as Value[][]);
          });
          written += kept;
        } else {
          length = batch.rows.length;
          const converted: Value[][] = [];
          for (let r = 0; r < batch.rows.length; r++) {
            try {
              converted.push(schema.convertRow(plan, batch.rows[r]));
            } catch (error) {
              if (!(error instanceof CellFailure)) throw error;
              bad(batch.positions?.[r] ?? rows + r + 1, error.column, error.reason, batch.rows[r]);
            }
          }
          this.watch.add('convert', start);
          start = performance.now();
          await serial(async () => {
            const stage = await ensureStage();
            if (converted.length) await stage.write(index, converted);
          });
          written += converted.length;
        }
        this.watch.add('stage', start);
        const read = length + (batch.rejects?.length ?? 0);
        rows += read;
        this.rowsRead += read;
        this.unitRows[index] = rows;
        faultPoint('after-rows', this.rowsRead);
        this.options.observer?.rows?.(unit, rows);
      }
    } finally {
      // A read stopped half way (a failure, a cancel) lets its source close the query it holds open.
      if (!finished) await settleWithin([iterator.return?.()], CLOSE_MS);
    }
    // Every record parsed is a row staged or a row set aside: a file never commits with rows missing.
    if (written + rejects.length !== rows) {
      throw new EtlError(`${unit.label}: ${rows} record(s) parsed but ${written} staged and ${rejects.length} set aside; nothing of the file was committed`);
    }
    this.badRecords += rejects.length;
    faultPoint('after-unit-staged');
    return { rows, rejects };
  }

  private async commit(
    opened: OpenedSource,
    destination: DestinationConnector,
    plan: SourcePlan,
    outcomes: UnitOutcome[],
    schema: RunSchema,
    stage: Stage | undefined,
    serial: <T>(action: () => Promise<T>) => Promise<T>,
    replaces: boolean,
  ) {
    const committed = this.committable(plan, outcomes);
    const failed = outcomes.map((outcome, index) => ({ outcome, index })).filter(({ outcome }) => outcome?.error);
    const units = committed.map((index) => plan.units[index]);
    const rows = committed.reduce((sum, index) => sum + (outcomes[index] as { rows: number }).rows, 0);
    const rejects = committed.flatMap((index) => (outcomes[index] as { rejects: RejectedRow[] }).rejects);
    this.journal.rejected(rejects);
    const files = units.flatMap((unit) => (unit.file ? [unit.file] : []));
    const cursor = [...units].reverse().find((unit) => unit.cursorAfter !== undefined)?.cursorAfter;
    // What is read counts now; what loads counts once it has committed.
    Object.assign(this.counts, {
      rows_extracted: this.extracted(),
      files_failed: plan.units.filter((unit, index) => unit.file && outcomes[index]?.error).length,
    });
    const committedCounts: RunCounts = {
      ...this.counts,
      rows_loaded: rows - rejects.length,
      rows_rejected: rejects.length,
      files_processed: files.length,
      bytes: files.reduce((sum, file) => sum + file.size, 0),
    };
    const firstError = failed.length ? summarizeFailures(failed.map(({ outcome, index }) => unitError(plan.units[index], outcome.error ?? 'failed'))) : undefined;
    const status: RunStatus = failed.length ? (committed.length ? 'partial' : 'failed') : 'succeeded';
    if (!committed.length) {
      await stage?.abort();
      this.ledger.finishRun(this.runId, 'failed', this.counts, this.watch.times, firstError);
      return { status, counts: this.counts, error: firstError };
    }
    const pending: PendingCommit = {
      connection: opened.connection,
      files,
      snapshot: this.job.spec.load.strategy === 'catalog',
      cursor,
      columns: schema.columns,
      counts: committedCounts,
      status: status === 'partial' ? 'partial' : 'succeeded',
      error: firstError,
      stages: this.watch.times,
    };
    this.ledger.markCommitting(this.runId, pending);
    this.committing = true;
    await this.options.shared?.sync?.();
    faultPoint('before-commit');
    // A reload that replaces rows commits even with none to insert: the rows it replaces go.
    const needsCommit = stage && (rows > 0 || replaces || this.job.spec.load.strategy === 'catalog');
    if (needsCommit) {
      this.options.observer?.committing?.(rows);
      collectGarbage();
      try {
        committedCounts.rows_loaded = await this.watch.time('commit', () => serial(() => stage!.commit(committed, this.marker(units, rows - rejects.length, pending), rejects)));
      } catch (error) {
        await this.settleFailedCommit(destination, error);
      }
    } else {
      await stage?.abort();
    }
    faultPoint('after-commit');
    const start = performance.now();
    faultPoint('before-record');
    Object.assign(this.counts, committedCounts);
    this.record({ ...pending, counts: committedCounts, stages: this.watch.times });
    this.watch.add('record', start);
    faultPoint('after-record');
    return { status, counts: this.counts, error: firstError };
  }

  /** Records a committed run; a ledger that fails now is reported with what did commit. */
  private record(pending: PendingCommit): void {
    try {
      this.ledger.recordCommit(this.runId, this.name, pending);
    } catch (error) {
      throw new EtlError(
        `run ${this.runId} committed ${pending.counts.rows_loaded} row(s) into ${this.job.table}, but the ledger could not record it: ${messageOf(error)}`,
        "fix the ledger; the next run records this run from the destination's marker and loads nothing twice",
        { cause: error },
      );
    }
  }

  /**
   * A commit that threw may still have landed (its answer lost on the way back): the destination's
   * marker decides. Returns when it landed (the run is then recorded as committed); otherwise
   * throws the commit's error, and the run is recorded as failed, or, when even the marker cannot
   * be read, stays `committing` with the error noted, for the next run to settle.
   */
  private async settleFailedCommit(destination: DestinationConnector, error: unknown): Promise<void> {
    let landed: boolean;
    try {
      landed = (await destination.committedRuns(this.name, [this.runId])).has(this.runId);
    } catch (check) {
      this.ledger.noteError(this.runId, `${messageOf(error)}\n(whether the commit landed is unknown: ${messageOf(check)}; the next run settles it by the destination's marker)`);
      throw error;
    }
    if (!landed) {
      this.committing = false;
      throw error;
    }
    this.log.warn(`the commit reported ${messageOf(error).split('\n')[0]}, but its marker is in the destination: it landed`);
  }

  /** Units whose rows may commit: every success, or for ordered plans the safe prefix. */
  private committable(plan: SourcePlan, outcomes: readonly ({ error?: string } | undefined)[]): number[] {
    const ok = (index: number) => outcomes[index] !== undefined && !outcomes[index]!.error;
    if (this.job.spec.load.strategy === 'catalog') {
      return plan.units.every((_unit, index) => ok(index)) ? plan.units.map((_unit, index) => index) : [];
    }
    if (!plan.ordered) return plan.units.map((_unit, index) => index).filter(ok);
    let safe = -1;
    for (let index = 0; index < plan.units.length && ok(index); index++) {
      if (plan.units[index].cursorAfter !== undefined) safe = index;
    }
    return Array.from({ length: safe + 1 }, (_unit, index) => index);
  }
}
