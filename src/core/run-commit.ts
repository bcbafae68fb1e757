/**
 * The exactly-once core of a run. Before the destination commit, the ledger marks the run
 * `committing` with what it will record; the destination commits the rows with the run's load
 * marker in one transaction; only then does the ledger record the files, cursor and columns.
 * Whether a commit the run could not see the end of landed is told by its marker: at once when
 * the commit threw, or by the next run, which settles the runs a killed process left in flight.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { LoadedJob } from './config.js';
import type { DestinationConnector, LoadMarker, LoadStrategy, RejectedRow, SourcePlan, WorkUnit } from './connector.js';
import { EtlError, messageOf } from './errors.js';
import { faultPoint } from './faults.js';
import type { Logger } from './log.js';
import { stateColumns } from './marker-state.js';
import type { RunObserver, RunStatus } from './pipeline.js';
import { unitError, type RunStage, type UnitOutcome } from './run-stream.js';
import type { Stopwatch } from './stopwatch.js';
import type { Column } from './types.js';
import type { RunJournal } from '../ledger/details.js';
import { zeroCounts, type Ledger, type PendingCommit, type RunCounts } from '../ledger/ledger.js';
import type { OpenLedger } from '../ledger/open.js';

const FAILURES_SHOWN = 10;

/** The run's error: the first failures in full, then how many more (the log has every one). */
function summarizeFailures(failures: readonly string[]): string {
  const shown = failures.slice(0, FAILURES_SHOWN).join('\n');
  return failures.length > FAILURES_SHOWN ? `${shown}\n… and ${failures.length - FAILURES_SHOWN} more failed unit(s)` : shown;
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

/** Units whose rows may commit: every success, or for ordered plans the safe prefix. */
function committable(strategy: LoadStrategy, plan: SourcePlan, outcomes: readonly ({ error?: string } | undefined)[]): number[] {
  const ok = (index: number) => outcomes[index] !== undefined && !outcomes[index]!.error;
  if (strategy === 'catalog') {
    return plan.units.every((_unit, index) => ok(index)) ? plan.units.map((_unit, index) => index) : [];
  }
  if (!plan.ordered) return plan.units.map((_unit, index) => index).filter(ok);
  let safe = -1;
  for (let index = 0; index < plan.units.length && ok(index); index++) {
    if (plan.units[index].cursorAfter !== undefined) safe = index;
  }
  return Array.from({ length: safe + 1 }, (_unit, index) => index);
}

/** What a run's commit records, and where it notes its progress. */
export interface CommitContext {
  readonly job: LoadedJob;
  readonly runId: string;
  readonly ledger: Ledger;
  /** Publishing of a ledger shared between machines. */
  readonly shared?: Pick<OpenLedger, 'sync'>;
  readonly log: Logger;
  readonly observer?: RunObserver;
  readonly watch: Stopwatch;
  readonly journal: RunJournal;
  /** The run's counts: what it read, then what committed. */
  readonly counts: RunCounts;
}

/** What the streamed units of a run bring to its commit. */
export interface StreamedUnits {
  readonly destination: DestinationConnector;
  /** The source connection, the key processed files are kept under. */
  readonly connection: string;
  readonly plan: SourcePlan;
  /** How each unit of the plan ended; a unit never started leaves a hole. */
  readonly outcomes: readonly UnitOutcome[];
  readonly columns: readonly Column[];
  readonly stage: RunStage;
  /** Whether the commit replaces rows (a reload). */
  readonly replaces: boolean;
  /** Rows read from the source: every unit's latest attempt, whether it succeeded or not. */
  readonly extracted: number;
}

/** One run's commit, and whether the ledger holds the run as `committing`. */
export class RunCommit {
  private inFlight = false;

  constructor(private readonly run: CommitContext) {}

  /** Whether the ledger holds the run as `committing`: from then on, only the destination's marker tells whether it landed. */
  get committing(): boolean {
    return this.inFlight;
  }

  private get name(): string {
    return this.run.job.spec.name;
  }

  /** Settles runs a killed process left in flight: recorded if their marker committed, failed otherwise. */
  async reconcile(destination: DestinationConnector): Promise<void> {
    const { ledger, runId, log } = this.run;
    const unfinished = ledger.unfinishedRuns(this.name, runId);
    if (!unfinished.length) return;
    const committed = await destination.committedRuns(
      this.name,
      unfinished.filter((run) => run.status === 'committing').map((run) => run.id),
    );
    for (const run of unfinished) {
      if (committed.has(run.id) && run.pending) {
        log.warn(`run ${run.id} was interrupted after its commit; recording its state now`);
        ledger.recordCommit(run.id, this.name, run.pending.rowsInMarker ? await this.countedByMarker(destination, run.id, run.pending) : run.pending);
      } else {
        log.warn(`run ${run.id} was interrupted before its commit; nothing of it was loaded`);
        ledger.finishRun(run.id, 'interrupted', zeroCounts(), {}, 'interrupted before commit (its process ended first); nothing was loaded, the next run reads the same data');
      }
    }
  }

  /** A committed run's pending record with the rows its commit counted, as its marker holds them. */
  private async countedByMarker(destination: DestinationConnector, runId: string, pending: PendingCommit): Promise<PendingCommit> {
    const marker = (await destination.markers(this.name, this.run.job.table)).find((stored) => stored.runId === runId);
    if (!marker) throw new EtlError(`run ${runId} committed, but no marker of it is in ${destination.locate(this.run.job.table)} to count its rows`, 'set destination.table back to the table that run loaded, then run the job again');
    return { ...pending, counts: { ...pending.counts, rows_extracted: marker.rows, rows_loaded: marker.rows } };
  }

  /** The run's marker, carrying what the ledger records once it commits. */
  marker(units: readonly WorkUnit[], rows: number, pending: PendingCommit): LoadMarker {
    const { job, runId } = this.run;
    const state = { connection: pending.connection, cursor: pending.cursor, files: pending.files, columns: stateColumns(pending.columns) };
    return { runId, job: this.name, table: job.table, strategy: job.spec.load.strategy, units: units.map((unit) => unit.id), rows, state };
  }

  /** Notes in the ledger what the run will record, before the destination commit begins. */
  async begin(pending: PendingCommit): Promise<void> {
    this.run.ledger.markCommitting(this.run.runId, pending);
    this.inFlight = true;
    await this.run.shared?.sync?.();
    faultPoint('before-commit');
  }

  /** Commits the units of a streamed run that may commit, and records what did. */
  async commitUnits({ destination, connection, plan, outcomes, columns, stage, replaces, extracted }: StreamedUnits): Promise<{ status: RunStatus; counts: RunCounts; error?: string }> {
    const { job, runId, ledger, observer, watch, journal, counts } = this.run;
    const committed = committable(job.spec.load.strategy, plan, outcomes);
    const failures = outcomes.flatMap((outcome, index) => (outcome.error ? [unitError(plan.units[index], outcome.error)] : []));
    const units = committed.map((index) => plan.units[index]);
    const rows = committed.reduce((sum, index) => sum + (outcomes[index] as { rows: number }).rows, 0);
    const rejects = committed.flatMap((index) => (outcomes[index] as { rejects: RejectedRow[] }).rejects);
    journal.rejected(rejects);
    const files = units.flatMap((unit) => (unit.file ? [unit.file] : []));
    const cursor = [...units].reverse().find((unit) => unit.cursorAfter !== undefined)?.cursorAfter;
    // What is read counts now; what loads counts once it has committed.
    Object.assign(counts, {
      rows_extracted: extracted,
      files_failed: plan.units.filter((unit, index) => unit.file && outcomes[index]?.error).length,
    });
    const committedCounts: RunCounts = {
      ...counts,
      rows_loaded: rows - rejects.length,
      rows_rejected: rejects.length,
      files_processed: files.length,
      bytes: files.reduce((sum, file) => sum + file.size, 0),
    };
    const firstError = failures.length ? summarizeFailures(failures) : undefined;
    const status: RunStatus = failures.length ? (committed.length ? 'partial' : 'failed') : 'succeeded';
    if (!committed.length) {
      await stage.current?.abort();
      ledger.finishRun(runId, 'failed', counts, watch.times, firstError);
      return { status, counts, error: firstError };
    }
    const pending: PendingCommit = {
      connection,
      files,
      snapshot: job.spec.load.strategy === 'catalog',
      cursor,
      columns,
      counts: committedCounts,
      status: status === 'partial' ? 'partial' : 'succeeded',
      error: firstError,
      stages: watch.times,
    };
    await this.begin(pending);
    // A reload that replaces rows commits even with none to insert: the rows it replaces go.
    const staged = stage.current;
    const needsCommit = staged && (rows > 0 || replaces || job.spec.load.strategy === 'catalog');
    if (needsCommit) {
      observer?.committing?.(rows);
      collectGarbage();
      try {
        committedCounts.rows_loaded = await watch.time('commit', () => stage.serial(() => staged.commit(committed, this.marker(units, rows - rejects.length, pending), rejects)));
      } catch (error) {
        await this.settleFailedCommit(destination, error);
      }
    } else {
      await staged?.abort();
    }
    faultPoint('after-commit');
    const start = performance.now();
    faultPoint('before-record');
    Object.assign(counts, committedCounts);
    this.record({ ...pending, counts: committedCounts, stages: watch.times });
    watch.add('record', start);
    faultPoint('after-record');
    return { status, counts, error: firstError };
  }

  /** Records a committed run; a ledger that fails now is reported with what did commit. */
  record(pending: PendingCommit): void {
    const { job, runId, ledger } = this.run;
    try {
      ledger.recordCommit(runId, this.name, pending);
    } catch (error) {
      throw new EtlError(
        `run ${runId} committed ${pending.counts.rows_loaded} row(s) into ${job.table}, but the ledger could not record it: ${messageOf(error)}`,
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
    const { runId, ledger, log } = this.run;
    let landed: boolean;
    try {
      landed = (await destination.committedRuns(this.name, [runId])).has(runId);
    } catch (check) {
      ledger.noteError(runId, `${messageOf(error)}\n(whether the commit landed is unknown: ${messageOf(check)}; the next run settles it by the destination's marker)`);
      throw error;
    }
    if (!landed) {
      this.inFlight = false;
      throw error;
    }
    log.warn(`the commit reported ${messageOf(error).split('\n')[0]}, but its marker is in the destination: it landed`);
  }
}
