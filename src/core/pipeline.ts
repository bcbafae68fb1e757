/**
 * One run of one job: reconcile → plan → extract → convert → stage → commit → record.
 * The cursor and processed files move only in the ledger transaction that follows the
 * destination's atomic commit; a run killed anywhere is reconciled by the next one.
 * Here: the run's lifecycle, from its lock to how it ends; its units stream in run-stream.ts,
 * and commit in run-commit.ts.
 */
import { resolveConnection, type LoadedJob } from './config.js';
import type { DestinationConnector, EngineRequest, EngineRun, ReadContext, Replacement, SourceConnector, SourcePlan, SourceState, WorkUnit } from './connector.js';
import { chooseEngine, type EngineChoice } from './engine-choice.js';
import { ConfigError, EtlError, LockedError, SchemaError, messageOf } from './errors.js';
import type { Logger } from './log.js';
import { openDestination, openSource, type OpenedSource } from './open.js';
import { describeReplacement, replacementOf } from './reload.js';
import { rebuildState, rebuiltSourceState, restoreIfLost } from './restore.js';
import { RunCommit } from './run-commit.js';
import { CLOSE_MS, UnitStream, nativeRefusal, settleWithin } from './run-stream.js';
import { faultPoint } from './faults.js';
import { Stopwatch } from './stopwatch.js';
import type { Column } from './types.js';
import { newRunId, zeroCounts, type Ledger, type PendingCommit, type RunCounts } from '../ledger/ledger.js';
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

/**
 * A job lock's lease, renewed every third of it while the run lives: a lock left by a process
 * that died on another machine is taken over once its lease expires.
 */
const LEASE_MS = 60_000;

/** The words for why a run was stopped: the signal's name, or the reason its caller gave. */
function stopReason(signal: AbortSignal | undefined): string {
  const reason: unknown = signal?.reason;
  if (reason instanceof Error) return reason.message;
  return typeof reason === 'string' && reason ? reason : 'stopped';
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
    const plan = await opened.source.plan({ ...planContext(job, options, state), signal: options.signal, log });
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
  private readonly commit: RunCommit;
  /** The units being streamed, once the run streams them. */
  private streamed: UnitStream | undefined;
  private started = false;
  /** Why renewing the lock in a shared ledger failed, once it has. */
  private lockLost: unknown;

  constructor(
    private readonly job: LoadedJob,
    private readonly options: RunOptions,
    private readonly runId: string,
  ) {
    this.log = options.log;
    this.ledger = options.ledger;
    this.commit = new RunCommit({
      job,
      runId,
      ledger: options.ledger,
      shared: options.shared,
      log: options.log,
      observer: options.observer,
      watch: this.watch,
      journal: this.journal,
      counts: this.counts,
    });
    options.signal?.addEventListener('abort', () => this.controller.abort(options.signal?.reason), { once: true });
  }

  private get name(): string {
    return this.job.spec.name;
  }

  /**
   * Whether the run must not commit: the caller stopped it (a signal, a server shutting down), or
   * it lost its lock in a shared ledger, so that another machine may be running the job now.
   */
  private get interrupted(): boolean {
    return Boolean(this.options.signal?.aborted) || this.lockLost !== undefined;
  }

  /** Why a run stopped before its commit left nothing loaded. */
  private stoppedBeforeCommit(): string {
    const read = this.counts.rows_extracted;
    const reason = this.lockLost === undefined ? stopReason(this.options.signal) : `lost the job's lock: ${messageOf(this.lockLost)}`;
    return `interrupted (${reason}) before the commit: nothing of this run was committed${read ? ` (${read} row(s) read); the next run reads them again` : '; the next run reads the same data'}`;
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
        this.lockLost = error ?? 'renewing it failed';
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
      await this.commit.reconcile(destination);
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
      if (this.started && !this.commit.committing) {
        if (this.interrupted && !(error instanceof ConfigError)) return this.stopBeforeCommit();
        this.counts.rows_extracted = Math.max(this.counts.rows_extracted, this.streamed?.extracted() ?? 0);
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
    const committing = this.commit.committing;
    const error = committing
      ? `interrupted (${reason}) during the commit: whether it landed is settled by the next run, from the destination's marker`
      : `interrupted (${reason}) before the commit: nothing of this run was committed; the next run reads it again`;
    try {
      if (this.started && !committing) {
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

  private async load(opened: OpenedSource, destination: DestinationConnector): Promise<{ status: RunStatus; counts: RunCounts; error?: string; note?: string }> {
    const { spec } = this.job;
    const state = sourceState(this.job, this.options, opened);
    let plan = await this.watch.time('plan', () => opened.source.plan({ ...planContext(this.job, this.options, state), signal: this.controller.signal, log: this.log }));
    if (plan.units.length === 0 && spec.load.strategy === 'catalog' && !(await destination.describe(this.job.table))) {
      // The last snapshot's table is gone: unchanged files still have to be loaded.
      plan = await this.watch.time('plan', () => opened.source.plan({ ...planContext(this.job, this.options, state), skipUnchangedSnapshot: false, signal: this.controller.signal, log: this.log }));
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
    const pending = (rows: number, columns: readonly Column[], rowsInMarker = false): PendingCommit => ({
      connection: opened.connection,
      files,
      snapshot: this.job.spec.load.strategy === 'catalog',
      cursor,
      columns,
      counts: { ...this.counts, rows_extracted: rows, rows_loaded: rows, files_processed: files.length, bytes: files.reduce((sum, f) => sum + f.size, 0) },
      ...(rowsInMarker ? { rowsInMarker } : {}),
      status: 'succeeded',
      stages: this.watch.times,
    });
    if (this.interrupted) return this.stopBeforeCommit();
    const filling = performance.now();
    let committed = filling;
    const committing = async (rows: number | undefined, columns: readonly Column[]) => {
      if (this.interrupted) throw new EtlError(this.stoppedBeforeCommit());
      this.watch.add('stage', filling);
      committed = performance.now();
      await this.commit.begin(pending(rows ?? 0, columns, rows === undefined));
      this.options.observer?.committing?.(rows);
    };
    // Until the commit begins the engine fills the stage; from then on it commits.
    const clock = () => (this.commit.committing ? this.watch.add('commit', committed) : this.watch.add('stage', filling));
    let result: { rows: number; columns?: readonly Column[] };
    try {
      result = await direct.run(this.commit.marker(plan.units, 0, pending(0, [])), this.controller.signal, committing);
    } catch (error) {
      clock();
      // Stopped while the engine filled the stage: its own words say what became of its work.
      if (this.interrupted && !this.commit.committing) return this.stopBeforeCommit(messageOf(error));
      throw error;
    }
    clock();
    const { rows, columns } = result;
    faultPoint('after-commit');
    const final = pending(rows, columns ?? []);
    faultPoint('before-record');
    Object.assign(this.counts, final.counts);
    this.commit.record(final);
    faultPoint('after-record');
    return { status: 'succeeded' as const, counts: this.counts };
  }

  /** A run whose rows stream through b2betl: its units read into one stage, then committed together. */
  private async stream(opened: OpenedSource, destination: DestinationConnector, plan: SourcePlan, existing: readonly Column[] | undefined, replace: Replacement | undefined) {
    const streamed = new UnitStream({
      job: this.job,
      runId: this.runId,
      log: this.log,
      observer: this.options.observer,
      controller: this.controller,
      watch: this.watch,
      journal: this.journal,
      opened,
      destination,
      existing,
      mapping: this.ledger.mapping(this.name),
      replace,
    });
    this.streamed = streamed;
    const { schema, stage } = streamed;
    try {
      const outcomes = await streamed.readAll(plan);
      if (this.interrupted) {
        await stage.current?.abort();
        this.counts.rows_extracted = streamed.extracted();
        return this.stopBeforeCommit();
      }
      // The table's columns follow the plan, not the order in which reads happened to finish.
      schema.orderByPlan();
      // A snapshot or a whole-table reload replaces the table even when no unit brought a batch.
      if (stage.current || (existing && (this.job.spec.load.strategy === 'catalog' || replace?.kind === 'table'))) await stage.serial(() => stage.ensure());
      return await this.commit.commitUnits({
        destination,
        connection: opened.connection,
        plan,
        outcomes,
        columns: schema.columns,
        stage,
        replaces: replace !== undefined,
        extracted: streamed.extracted(),
      });
    } catch (error) {
      await stage.current?.abort().catch(() => undefined);
      throw error;
    }
  }
}
