/**
 * The streamed path of a run: each unit read from its source (or by the destination itself from
 * a local file), its values converted to the run's columns and written into the run's one stage,
 * several units at a time. A unit that fails leaves none of its rows in the stage.
 */
import type { LoadedJob } from './config.js';
import type { DestinationConnector, ReadContext, RejectedRow, Replacement, SourceConnector, SourcePlan, Stage, WorkUnit } from './connector.js';
import { BadRecordError, ConfigError, EtlError, LocalFileError, SchemaError, messageOf } from './errors.js';
import { faultPoint } from './faults.js';
import type { Logger } from './log.js';
import type { OpenedSource } from './open.js';
import type { RunObserver } from './pipeline.js';
import { redact } from './redact.js';
import { withRetry } from './retry.js';
import { CellFailure, RunSchema } from './run-schema.js';
import type { Stopwatch } from './stopwatch.js';
import { rowAt, rowsOf, type Column, type RecordBatch, type Value } from './types.js';
import type { RunJournal } from '../ledger/details.js';

/** How a unit ended: its rows and set-aside rejects, or why it failed. */
export type UnitOutcome = { rows: number; rejects: RejectedRow[]; error?: undefined } | { error: string };

/** How long closing a source or destination may take before the run ends without waiting further. */
export const CLOSE_MS = 10_000;
/** A column of no values: every row's value is null. */
const NULLS: ArrayLike<Value> = { length: 0 };
const DEFAULT_FILE_CONCURRENCY = 4;

/** Waits for every promise to settle, but at most `ms`: a close that hangs does not hold the run's ending. */
export async function settleWithin(promises: readonly (Promise<unknown> | undefined)[], ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  await Promise.race([Promise.allSettled(promises), timeout]);
  clearTimeout(timer);
}

/** A unit's failure, naming the unit unless the message already starts with it (`file:line: …`). */
export function unitError(unit: WorkUnit, message: string): string {
  return message.startsWith(unit.label) ? message : `${unit.label}: ${message}`;
}

/** Why no unit of a job is offered to the destination to read itself; undefined when they may be. */
export function nativeRefusal(job: LoadedJob, destination: DestinationConnector, source: SourceConnector): string | undefined {
  if (!source.nativeFile || !destination.capabilities.nativeFiles?.length) return 'the destination reads no files itself';
  if (process.env.B2BETL_STREAM_ONLY) return 'B2BETL_STREAM_ONLY is set';
  // The last row per key wins: that needs the rows in file order, which a parallel reader does not keep.
  if (job.spec.load.strategy === 'merge') return 'load.strategy merge needs the rows in file order';
  return undefined;
}

/** The one stage of a streamed run: opened on the first write, evolved as the run's columns widen. */
export class RunStage {
  private stage: Stage | undefined;
  private stagedGeneration = -1;
  private staging = Promise.resolve();

  constructor(
    private readonly open: () => Promise<Stage>,
    private readonly schema: RunSchema,
  ) {}

  /** The stage, once a unit has opened it. */
  get current(): Stage | undefined {
    return this.stage;
  }

  /** The stage, opened, or evolved to the run's columns as they are now. */
  async ensure(): Promise<Stage> {
    if (!this.stage) {
      this.stage = await this.open();
      this.stagedGeneration = this.schema.generation;
    } else if (this.stagedGeneration !== this.schema.generation) {
      this.stagedGeneration = this.schema.generation;
      await this.stage.evolve(this.schema.columns);
    }
    return this.stage;
  }

  /** Stage calls go one at a time: destinations append through a single writer. */
  serial<T>(action: () => Promise<T>): Promise<T> {
    const next = this.staging.then(action);
    this.staging = next.then(
      () => undefined,
      () => undefined,
    );
    return next;
  }
}

/** What the units of a streamed run read from, write to and report to. */
export interface StreamContext {
  readonly job: LoadedJob;
  readonly runId: string;
  readonly log: Logger;
  readonly observer?: RunObserver;
  /** Stops every read: the caller's stop, or a failure that ends the run. */
  readonly controller: AbortController;
  readonly watch: Stopwatch;
  readonly journal: RunJournal;
  readonly opened: OpenedSource;
  readonly destination: DestinationConnector;
  /** Columns of the existing destination table, if any. */
  readonly existing: readonly Column[] | undefined;
  /** Stored original → sanitized column names of the job. */
  readonly mapping: ReadonlyMap<string, string>;
  readonly replace: Replacement | undefined;
}

/** Reads a run's units into its stage and counts what they read. */
export class UnitStream {
  /** The run's columns, as the batches read so far have made them. */
  readonly schema: RunSchema;
  readonly stage: RunStage;
  private badRecords = 0;
  /** Rows read so far by every unit of the run (retried reads counted again). */
  private rowsRead = 0;
  /** Rows read by each unit's latest attempt, failed ones included. */
  private readonly unitRows: number[] = [];

  constructor(private readonly run: StreamContext) {
    const { job, destination, opened } = run;
    const { spec } = job;
    this.schema = new RunSchema({
      table: destination.locate(job.table),
      existing: run.existing,
      mapping: run.mapping,
      select: opened.source.selectsColumns ? undefined : spec.source.columns,
      fillRequired: spec.load.fill_required_defaults,
      canWiden: destination.capabilities.canWiden ?? (() => true),
      maxRow: destination.capabilities.maxRow,
      timeRange: destination.capabilities.timeRange,
    });
    const open = () =>
      destination.stage({
        runId: run.runId,
        job: spec,
        table: job.table,
        strategy: spec.load.strategy,
        primaryKey: spec.load.primary_key ?? [],
        columns: this.schema.columns,
        replace: run.replace,
        log: run.log,
      });
    this.stage = new RunStage(open, this.schema);
  }

  /**
   * Reads every unit of the plan, retrying transient failures, and returns how each ended (none
   * for a unit never started). A failed unit stops the rest when the plan is ordered or all or
   * nothing; a failure that ends the run is thrown once every unit being read has stopped.
   */
  async readAll(plan: SourcePlan): Promise<UnitOutcome[]> {
    const { job, log, observer, controller, journal, opened } = this.run;
    const { spec } = job;
    const { stage } = this;
    const outcomes: UnitOutcome[] = new Array(plan.units.length);
    const concurrency = Math.max(1, spec.source.parallelism ?? (opened.store ? DEFAULT_FILE_CONCURRENCY : 1));
    let next = 0;
    let stopped = false;
    const allOrNothing = spec.load.strategy === 'catalog';

    const processUnit = async (index: number): Promise<void> => {
      const unit = plan.units[index];
      observer?.unitStarted?.(unit, index, plan.units.length);
      const began = Date.now();
      try {
        const outcome = await withRetry(
          async () => {
            try {
              return await this.readUnit(unit, index);
            } catch (error) {
              if (stage.current) await stage.serial(() => stage.current!.discard(index));
              throw error;
            }
          },
          {
            signal: controller.signal,
            onRetry: (error, attempt, delay) => log.warn(`${unit.label}: ${messageOf(error)}; retrying (attempt ${attempt + 1}) in ${Math.round(delay)} ms`),
          },
        );
        outcomes[index] = outcome;
        journal.unit(unit, began, { rows: outcome.rows });
        observer?.unitFinished?.(unit);
      } catch (error) {
        if (error instanceof ConfigError || error instanceof SchemaError || error instanceof LocalFileError) throw error;
        const message = messageOf(error);
        outcomes[index] = { error: message };
        journal.unit(unit, began, { error: message });
        // A read cancelled by a stop (a signal, another unit's failure that ends the run) is no failure of its own.
        if (!controller.signal.aborted) log.warn(unitError(unit, message));
        observer?.unitFinished?.(unit, message);
        if (plan.ordered || allOrNothing) stopped = true;
      }
    };
    // A failure that ends the run stops every unit being read, and waits for them before it is thrown.
    let fatal: { error: unknown } | undefined;
    const worker = async () => {
      while (!stopped && next < plan.units.length && !controller.signal.aborted) {
        try {
          await processUnit(next++);
        } catch (error) {
          fatal ??= { error };
          stopped = true;
          controller.abort(error);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, plan.units.length) }, worker));
    if (fatal) throw fatal.error;
    return outcomes;
  }

  /** Rows read from the source: every unit's latest attempt, whether it succeeded or not. */
  extracted(): number {
    return this.unitRows.reduce((sum, rows) => sum + (rows ?? 0), 0);
  }

  private readContext(): ReadContext {
    return { job: this.run.job.spec, log: this.run.log, signal: this.run.controller.signal };
  }

  /**
   * A unit the destination reads itself, straight from a local file, when the source can offer
   * it and the destination converts every value of it exactly as the core would. Returns its
   * rows, or undefined: then it streams.
   */
  private async readNative(unit: WorkUnit, index: number): Promise<number | undefined> {
    const { job, log, watch, opened, destination } = this.run;
    const { schema, stage } = this;
    if (!unit.file || nativeRefusal(job, destination, opened.source)) return undefined;
    const start = performance.now();
    const file = await opened.source.nativeFile!(unit, this.readContext(), destination.capabilities.nativeFiles!);
    if (file.path === undefined) {
      log.debug(`${unit.label}: streamed: ${file.reason}`);
      return undefined;
    }
    const targets = schema.nativeTargets(schema.planFor(file.columns, index));
    if (!targets) {
      log.debug(`${unit.label}: streamed: a column still awaits its first value or is REQUIRED in the destination`);
      return undefined;
    }
    const rows = await stage.serial(async () => (await stage.ensure()).loadFile?.(index, file, targets));
    watch.add('stage', start);
    if (rows !== undefined && rows !== file.records) {
      // The destination lost or invented rows: what the stream reads is the truth.
      log.warn(`${unit.label}: the destination read ${rows} row(s) of the file's ${file.records} record(s); streaming it instead`);
      await stage.serial(async () => (await stage.ensure()).discard(index));
      return undefined;
    }
    return rows;
  }

  /** Streams one unit into the stage; returns its row count and set-aside rejects. */
  private async readUnit(unit: WorkUnit, index: number): Promise<{ rows: number; rejects: RejectedRow[] }> {
    const { job, runId, observer, watch, opened } = this.run;
    const { schema, stage } = this;
    this.unitRows[index] = 0;
    const native = await this.readNative(unit, index);
    if (native !== undefined) {
      this.rowsRead += native;
      this.unitRows[index] = native;
      faultPoint('after-rows', this.rowsRead);
      observer?.rows?.(unit, native);
      faultPoint('after-unit-staged');
      return { rows: native, rejects: [] };
    }
    const rejects: RejectedRow[] = [];
    const limit = job.spec.load.max_bad_records;
    let rows = 0;
    const bad = (position: number | string, column: string | undefined, reason: string, raw: unknown) => {
      if (this.badRecords + rejects.length >= limit) throw new BadRecordError(`${unit.label}:${position}`, column, reason, raw);
      const text = typeof raw === 'string' ? raw : JSON.stringify(raw, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
      // The rejects table is read by whoever reads the warehouse: no secret goes there either.
      rejects.push({ runId, unit: unit.id, position: String(position), column, reason: redact(reason), raw: redact(text) });
    };
    let written = 0;
    const iterator = opened.source.read(unit, this.readContext())[Symbol.asyncIterator]();
    let finished = false;
    try {
      for (;;) {
        let start = performance.now();
        const step = await iterator.next();
        watch.add('extract', start);
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
          watch.add('convert', start);
          start = performance.now();
          const kept = length - result.failures.length;
          await stage.serial(async () => {
            const staged = await stage.ensure();
            if (!kept) return;
            if (staged.writeColumns) await staged.writeColumns(index, result.columns, length, result.skip);
            else await staged.write(index, rowsOf(result.columns.map((column) => column ?? NULLS), length).filter((_row, r) => !result.skip?.[r]) as Value[][]);
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
          watch.add('convert', start);
          start = performance.now();
          await stage.serial(async () => {
            const staged = await stage.ensure();
            if (converted.length) await staged.write(index, converted);
          });
          written += converted.length;
        }
        watch.add('stage', start);
        const read = length + (batch.rejects?.length ?? 0);
        rows += read;
        this.rowsRead += read;
        this.unitRows[index] = rows;
        faultPoint('after-rows', this.rowsRead);
        observer?.rows?.(unit, rows);
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
}
