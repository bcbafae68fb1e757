/**
 * Plans of a SQL source: the units of a snapshot (shards of an integer key or ranges of the
 * cursor), of an incremental run up to a high-water mark read at plan time, and of a backfill
 * window, with estimates of their rows.
 */
import { ConfigError } from '../../../src/core/errors.js';
import type { PlanContext, SourcePlan, WorkUnit } from '../../../src/core/connector.js';
import { parseDuration, type JobSpec } from '../../../src/core/spec.js';
import { boundText, compareCursor, readState, rowIdentity, splitRange, splittable, subtractLookback, type CursorState } from './sql-cursor.js';
import type { SqlColumn, SqlDialect } from './sql-dialect.js';
import { selectSql } from './sql-query.js';
import { selectionOf, shardKeyOf, type Shape } from './sql-shape.js';
import { cursorRef, extreme, mergedRange, unitSql, windowConditions, type Range, type SqlUnitParams, type UpperBound } from './sql-window.js';

/** Target rows per cursor-range unit when a plan is split. */
export const UNIT_ROWS = 50_000;
/** Below this many rows (catalog statistics), estimates are exact counts. */
const SMALL_TABLE_ROWS = 200_000;
const MAX_UNITS = 1000;
/** Past this many rows at the high-water mark, the saved state gets large: say so. */
const SEEN_WARNING = 10_000;

/** Plans the units of a job's runs over one {@link SqlDialect}. */
export class SqlPlanner<C extends SqlColumn> {
  constructor(private readonly dialect: SqlDialect<C>) {}

  /** The plan of a run: a backfill window, a snapshot, or the rows past the saved cursor. */
  async plan(shape: Shape<C>, context: PlanContext): Promise<SourcePlan> {
    const { job } = context;
    const window = context.window && (context.window.since !== undefined || context.window.until !== undefined) ? context.window : undefined;
    if (window) {
      if (!shape.cursor) {
        throw ConfigError.of(`job ${job.name}: --since/--until need load.cursor`, 'set load.cursor to the column the window applies to');
      }
      return this.planWindow(shape, shape.cursor, job, window);
    }
    if (job.load.strategy === 'catalog' || !shape.cursor) {
      if (job.load.strategy === 'transactional') {
        throw ConfigError.of(
          `job ${job.name}: strategy transactional reads only new rows, which needs load.cursor`,
          'set load.cursor (e.g. updated_at), or use strategy: catalog to reload the whole table each run',
        );
      }
      return this.planSnapshot(shape, job);
    }
    return this.planIncremental(shape, shape.cursor, context);
  }

  private async planSnapshot(shape: Shape<C>, job: JobSpec): Promise<SourcePlan> {
    const parallelism = job.source.parallelism ?? 1;
    const notes: string[] = [];
    let params: SqlUnitParams[] = [{}];
    let labels = ['all rows'];
    if (parallelism > 1) {
      const total = await this.estimateAll(shape, {});
      const shardKey = shardKeyOf(shape);
      const cursor = shape.cursor;
      if (total !== undefined && total <= UNIT_ROWS) {
        notes.push(`parallelism ${parallelism} not used: about ${total} rows fit one unit`);
      } else if (shardKey) {
        params = Array.from({ length: parallelism }, (_, index) => ({ shard: { column: shardKey.name, of: parallelism, index } }));
        labels = params.map((_, i) => `${shardKey.name} mod ${parallelism} = ${i}`);
      } else if (cursor && splittable(cursor.type)) {
        const low = await extreme(this.dialect, shape, cursor, 'min');
        const high = await extreme(this.dialect, shape, cursor, 'max');
        const parts = await this.unitCount(shape, cursor, total, parallelism);
        const bounds = low !== null && high !== null ? splitRange(low, high, cursor.type, parts) : [];
        if (bounds.length > 0) {
          params = rangeUnits({ nulls: true }, bounds);
          labels = params.map((p) => this.rangeLabel(cursor, p.range!));
        }
      } else {
        notes.push(`parallelism ${parallelism} not used: ${shape.relation.label} has no integer primary key or splittable cursor`);
      }
    }
    const estimate = await this.estimate(shape, params);
    const units = params.map(
      (p, i): WorkUnit => ({
        id: params.length === 1 ? 'all' : labels[i],
        label: labels[i],
        estimatedRows: estimate.perUnit[i],
        params: p,
      }),
    );
    notes.unshift(`query: ${unitSql(this.dialect, shape, params[0], shape.visible)}`);
    if (units.length > 1) notes.push(...units.map((u) => `unit ${u.label}: ~${u.estimatedRows ?? '?'} rows`));
    // No cursor moves, so every unit stands on its own (catalog commits all units or none anyway).
    return { units, skipped: [], estimatedRows: estimate.total, estimateBasis: estimate.basis, estimateExact: estimate.exact, ordered: false, notes };
  }

  private async planIncremental(shape: Shape<C>, cursor: C, context: PlanContext): Promise<SourcePlan> {
    const { job } = context;
    const type = cursor.type;
    const transactional = job.load.strategy === 'transactional';
    const previous = context.fullRefresh ? undefined : readState(context.state.cursor, cursor.name, type, job.name);
    const start = job.load.start !== undefined ? boundText(job.load.start, type, 'load.start') : undefined;
    const floor = previous?.value ?? start;
    const lookback = job.load.lookback ? parseDuration(job.load.lookback) : 0;
    const lowerValue = previous?.value != null && lookback > 0 ? subtractLookback(previous.value, type, lookback, cursor.name) : floor;
    const exclude = transactional && previous?.value != null ? previous.seen : undefined;
    const nulls = !previous && start === undefined;
    const high = await extreme(this.dialect, shape, cursor, 'max', floor);
    const notes: string[] = [];
    let params: SqlUnitParams[];
    let after: CursorState[];

    if (high === null) {
      const range: Range =
        previous?.value != null
          ? { lower: { value: lowerValue!, exclude }, upper: { value: previous.value, inclusive: true }, nulls }
          : { empty: true, nulls };
      params = [{ range }];
      after = [previous ?? { column: cursor.name, type, value: null, seen: [] }];
      notes.push(`high-water mark: no ${cursor.name} value ${floor !== undefined ? `at or after ${floor}` : 'yet'}`);
    } else {
      const seen = transactional ? await this.seenAt(shape, cursor, high, context.log) : [];
      const final: CursorState = { column: cursor.name, type, value: high, seen };
      const whole: Range = {
        lower: lowerValue !== undefined ? { value: lowerValue, exclude } : undefined,
        upper: { value: high, inclusive: true, only: transactional ? seen : undefined },
        nulls,
      };
      params = [{ range: whole }];
      after = [final];
      const parallelism = job.source.parallelism ?? 1;
      if (parallelism > 1) {
        const total = await this.estimateAll(shape, { range: whole });
        const parts = await this.unitCount(shape, cursor, total, parallelism);
        const low = lowerValue ?? (await extreme(this.dialect, shape, cursor, 'min'));
        const bounds = parts > 1 && low !== null ? splitRange(low, high, type, parts) : [];
        const shardKey = shardKeyOf(shape);
        if (bounds.length > 0 && splittable(cursor.type)) {
          params = rangeUnits(whole, bounds);
          after = params.map((p, i) =>
            i === params.length - 1 ? final : intermediateState(cursor, p.range!.upper!.value, previous),
          );
        } else if (parts > 1 && shardKey) {
          params = Array.from({ length: parallelism }, (_, index) => ({ range: whole, shard: { column: shardKey.name, of: parallelism, index } }));
          after = params.map(() => final);
        } else if (parts > 1) {
          notes.push(`parallelism ${parallelism} not used: ${cursor.name} cannot be split and there is no integer primary key`);
        }
      }
      notes.push(
        `cursor ${cursor.name}: ${lowerValue !== undefined ? `from ${lowerValue}` : 'from the beginning'}` +
          `${exclude?.length ? ` (less ${exclude.length} rows already loaded at it)` : ''} to the high-water mark ${high}`,
      );
    }
    if (nulls) notes.push(`rows with NULL ${cursor.name} are loaded by this first run only`);

    const estimate = await this.estimate(shape, params);
    const sharded = params.length > 1 && params[0].shard !== undefined;
    const units = params.map((p, i): WorkUnit => {
      const label = p.shard ? `${p.shard.column} mod ${p.shard.of} = ${p.shard.index}` : this.rangeLabel(cursor, p.range!);
      return {
        id: params.length === 1 ? 'all' : label,
        label,
        estimatedRows: estimate.perUnit[i],
        cursorAfter: sharded && i < params.length - 1 ? undefined : after[i],
        params: p,
      };
    });
    notes.unshift(`query: ${unitSql(this.dialect, shape, params[0], shape.visible)}`);
    if (units.length > 1) notes.push(...units.map((u) => `unit ${u.label}: ~${u.estimatedRows ?? '?'} rows`));
    return { units, skipped: [], estimatedRows: estimate.total, estimateBasis: estimate.basis, estimateExact: estimate.exact, ordered: true, notes };
  }

  private async planWindow(shape: Shape<C>, cursor: C, job: JobSpec, window: { since?: string; until?: string }): Promise<SourcePlan> {
    const type = cursor.type;
    const since = window.since !== undefined ? boundText(window.since, type, '--since') : undefined;
    const until = window.until !== undefined ? boundText(window.until, type, '--until') : undefined;
    const notes = [`backfill of ${cursor.name} from ${since ?? 'the beginning'} until ${until ?? 'the high-water mark'}; the saved cursor does not move`];
    let upper: UpperBound | undefined = until !== undefined ? { value: until, inclusive: false } : undefined;
    if (!upper) {
      const high = await extreme(this.dialect, shape, cursor, 'max', since);
      upper = high !== null ? { value: high, inclusive: true } : undefined;
    }
    const whole: Range = upper || since !== undefined ? { lower: since !== undefined ? { value: since } : undefined, upper, nulls: false } : { empty: true, nulls: false };
    let params: SqlUnitParams[] = [{ range: whole }];
    const parallelism = job.source.parallelism ?? 1;
    if (parallelism > 1 && !whole.empty && splittable(cursor.type)) {
      const total = await this.estimateAll(shape, { range: whole });
      const parts = await this.unitCount(shape, cursor, total, parallelism);
      const low = since ?? (await extreme(this.dialect, shape, cursor, 'min'));
      const high = upper?.value ?? (await extreme(this.dialect, shape, cursor, 'max'));
      const bounds = parts > 1 && low !== null && high !== null ? splitRange(low, high, type, parts) : [];
      if (bounds.length > 0) params = rangeUnits(whole, bounds);
    }
    const estimate = await this.estimate(shape, params);
    const units = params.map(
      (p, i): WorkUnit => ({
        id: `backfill ${this.rangeLabel(cursor, p.range!)}`,
        label: `backfill ${this.rangeLabel(cursor, p.range!)}`,
        estimatedRows: estimate.perUnit[i],
        params: p,
      }),
    );
    notes.unshift(`query: ${unitSql(this.dialect, shape, params[0], shape.visible)}`);
    return { units, skipped: [], estimatedRows: estimate.total, estimateBasis: estimate.basis, estimateExact: estimate.exact, ordered: false, notes, window: { column: cursor.name, lower: since, upper } };
  }

  /** Exact row counts of units' windows. */
  counts(shape: Shape<C>, params: readonly SqlUnitParams[]): Promise<number[]> {
    return Promise.all(params.map((p) => this.dialect.count(selectSql(['1 AS one'], shape.from, windowConditions(this.dialect, shape, p)))));
  }

  /** Identities of the rows whose cursor is exactly `value`. */
  private async seenAt(shape: Shape<C>, cursor: C, value: string, log: { warn(m: string): void }): Promise<string[]> {
    const selection = selectionOf(shape, true);
    const sql = selectSql(
      selection.columns.map((c) => c.select),
      shape.from,
      [`${cursorRef(this.dialect, shape)} = ${this.dialect.cursorLiteral(value, cursor.type)}`],
    );
    const rows = await this.dialect.rows(sql, selection.columns);
    if (rows.length > SEEN_WARNING) {
      log.warn(
        `${rows.length} rows share the high-water mark ${cursor.name} = ${value}; their keys are kept in the job state. ` +
          'A finer-grained cursor column keeps the state small.',
      );
    }
    return rows.map((row) => rowIdentity(row, selection.keyIndexes)).sort();
  }

  private async isSmall(shape: Shape<C>): Promise<boolean> {
    if (shape.relation.kind !== 'table') return false;
    const rows = await this.dialect.tableRows(shape.relation.table);
    return rows !== undefined && rows < SMALL_TABLE_ROWS;
  }

  /** Estimates per unit (exact counts on small tables) and in total. */
  private async estimate(shape: Shape<C>, params: readonly SqlUnitParams[]): Promise<{ total?: number; perUnit: (number | undefined)[]; basis: string; exact?: boolean }> {
    if (await this.isSmall(shape)) {
      const perUnit = await this.counts(shape, params);
      return { total: perUnit.reduce((a, b) => a + b, 0), perUnit, basis: `count(*) of the window; ${this.dialect.statistics} says the table is small`, exact: true };
    }
    const total = await this.estimateAll(shape, params.length === 1 ? params[0] : mergedRange(params));
    const basis = `the ${this.dialect.product} planner's estimate (EXPLAIN) of the window${shape.relation.kind === 'table' ? `, from ${this.dialect.statistics}` : ''}`;
    return { total, perUnit: params.map(() => (total === undefined ? undefined : Math.ceil(total / params.length))), basis };
  }

  private async estimateAll(shape: Shape<C>, params: SqlUnitParams): Promise<number | undefined> {
    const sql = selectSql(['1 AS one'], shape.from, windowConditions(this.dialect, shape, params));
    if (await this.isSmall(shape)) return this.dialect.count(sql);
    return this.dialect.explainRows(sql);
  }

  private async unitCount(shape: Shape<C>, cursor: C | undefined, total: number | undefined, parallelism: number): Promise<number> {
    if (parallelism <= 1) return 1;
    if (total !== undefined && total <= UNIT_ROWS) return 1;
    const indexed = cursor && shape.relation.kind === 'table' ? await this.dialect.indexed(shape.relation.table, cursor.name) : false;
    if (!indexed || total === undefined) return parallelism;
    return Math.min(MAX_UNITS, Math.max(parallelism, Math.ceil(total / UNIT_ROWS)));
  }

  private rangeLabel(cursor: C, range: Range): string {
    if (range.empty) return range.nulls ? `${cursor.name} is null` : 'no rows';
    const parts: string[] = [];
    if (range.lower) parts.push(`>= ${range.lower.value}`);
    if (range.upper) parts.push(`${range.upper.inclusive ? '<=' : '<'} ${range.upper.value}`);
    return `${cursor.name} ${parts.join(' and ') || 'any'}${range.nulls ? ' or null' : ''}`;
  }
}

/** Splits a range at `bounds` into consecutive units; NULLs and the lower exclusions stay with the first. */
function rangeUnits(whole: Range, bounds: readonly string[]): SqlUnitParams[] {
  const units: SqlUnitParams[] = [];
  for (let i = 0; i <= bounds.length; i++) {
    units.push({
      range: {
        lower: i === 0 ? whole.lower : { value: bounds[i - 1] },
        upper: i === bounds.length ? whole.upper : { value: bounds[i], inclusive: false },
        nulls: i === 0 && whole.nulls,
      },
      narrow: true,
    });
  }
  return units;
}

/** The state after an intermediate range unit `[…, bound)`: never behind the previous one. */
function intermediateState(cursor: SqlColumn, bound: string, previous: CursorState | undefined): CursorState {
  if (previous?.value != null && compareCursor(bound, previous.value, cursor.type) <= 0) return previous;
  return { column: cursor.name, type: cursor.type, value: bound, seen: [] };
}
