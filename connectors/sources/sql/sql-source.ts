/**
 * The source connector both SQL databases share: columns from the catalog, plans of cursor
 * ranges or key shards with a high-water mark read at plan time, and streamed units whose
 * boundary rows are filtered so that every row loads exactly once.
 */
import { ConfigError, type ConfigIssue } from '../../../src/core/errors.js';
import type { Logger } from '../../../src/core/log.js';
import { parseDuration, type JobSpec } from '../../../src/core/spec.js';
import { formatDatetime, parseTimestamp } from '../../../src/core/time.js';
import type { CatalogEntry, PlanContext, ReadContext, SourceConnector, SourcePlan, SourceSample, TableListing, WorkUnit } from '../../../src/core/connector.js';
import type { RecordBatch, SourceColumn } from '../../../src/core/types.js';
import {
  boundText,
  compareCursor,
  cursorText,
  cursorValue,
  IdentitySet,
  readState,
  rowIdentity,
  splitRange,
  splittable,
  subtractLookback,
  type CursorState,
} from './sql-cursor.js';
import type { SqlColumn, SqlDialect, SqlRelation } from './sql-dialect.js';
import { fromClause, relationOf, selectSql } from './sql-query.js';
import { CURSOR_TYPES } from './sql-types.js';

/** Rows per emitted batch. */
export const BATCH_ROWS = 2000;
/** Target rows per cursor-range unit when a plan is split. */
export const UNIT_ROWS = 50_000;
/** Below this many rows (catalog statistics), estimates are exact counts. */
const SMALL_TABLE_ROWS = 200_000;
const MAX_UNITS = 1000;
/** Past this many rows at the high-water mark, the saved state gets large: say so. */
const SEEN_WARNING = 10_000;

/** Lower bound of a unit's cursor range: `cursor >= value`, minus rows already loaded at it. */
interface LowerBound {
  readonly value: string;
  readonly exclude?: readonly string[];
}

/** Upper bound: `cursor <= value` (or `<`); with `only`, rows at `value` must be among these. */
interface UpperBound {
  readonly value: string;
  readonly inclusive: boolean;
  readonly only?: readonly string[];
}

/** The source-private part of a {@link WorkUnit}. */
export interface SqlUnitParams {
  /** Cursor filter; absent for full snapshots. */
  readonly range?: {
    readonly lower?: LowerBound;
    readonly upper?: UpperBound;
    /** Rows with a NULL cursor belong to this unit too. */
    readonly nulls: boolean;
    /** No cursor value qualifies (only NULLs, if `nulls`). */
    readonly empty?: boolean;
  };
  /** Rows whose `column mod of = index`. */
  readonly shard?: { readonly column: string; readonly of: number; readonly index: number };
  /** One of the ranges a plan cut the cursor into: read through the cursor's index. */
  readonly narrow?: boolean;
}

interface Shape<C extends SqlColumn> {
  readonly relation: SqlRelation;
  readonly from: string;
  /** `from` for a narrow range of the cursor, with the dialect's index hint if it needs one. */
  readonly rangeFrom: string;
  readonly all: readonly C[];
  readonly visible: readonly C[];
  readonly batchColumns: readonly SourceColumn[];
  readonly cursor?: C;
  /** Identity columns: load.primary_key, else the table's primary key; empty means row hashes. */
  readonly keys: readonly C[];
}

/** The columns a read selects: visible ones, then hidden ones its boundary filter needs. */
interface Selection<C extends SqlColumn> {
  readonly columns: readonly C[];
  readonly visible: number;
  readonly cursorIndex: number;
  readonly keyIndexes: readonly number[];
}

type Range = NonNullable<SqlUnitParams['range']>;

/**
 * A run's rows as one SELECT that an engine runs on the database itself (a Dataflow JDBC
 * template): the window exactly as the units read it, boundary rows filtered inside the query.
 */
export interface SqlExport {
  /** SELECT of the visible columns as {@link SqlDialect.exportSelect} gives them, each AS its alias. */
  readonly sql: string;
  /** A column the read can be split on; undefined when there is none or the window is empty. */
  readonly split?: SqlSplit;
  /** Why there is no split column, for --dry-run. */
  readonly unsplit?: string;
}

/** A column an export's read can be split on by value ranges, with its smallest and largest value in the window. */
export interface SqlSplit {
  /**
   * `long`: a NOT NULL integer column among the selected ones. `datetime`: a TIMESTAMP or DATETIME
   * column, carried as its UTC wall clock (NULLs at `min`) in a column of the split read's own,
   * which the table the rows go to must hold besides the run's columns.
   */
  readonly type: 'long' | 'datetime';
  /** The split column's name in `sql`. */
  readonly alias: string;
  /** The source column. */
  readonly column: string;
  /** State text of the column's type. */
  readonly min: string;
  readonly max: string;
  /** The SELECT to split: the export's, with the `datetime` split column added. */
  readonly sql: string;
}

/** The name of the column a `datetime` split read adds. */
const SPLIT_ALIAS = '_b2betl_split';

/** A {@link SourceConnector} over any {@link SqlDialect}. */
export class SqlSource<C extends SqlColumn> implements SourceConnector {
  private readonly shapes = new Map<string, Promise<Shape<C>>>();

  constructor(private readonly dialect: SqlDialect<C>) {}

  async discover(job: JobSpec, _log: Logger): Promise<SourceColumn[]> {
    const shape = await this.shape(job);
    return shape.visible.map((column) => publicColumn(column));
  }

  async plan(context: PlanContext): Promise<SourcePlan> {
    const { job } = context;
    const shape = await this.shape(job);
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

  async *read(unit: WorkUnit, context: ReadContext): AsyncIterable<RecordBatch> {
    const shape = await this.shape(context.job);
    const params = (unit.params ?? {}) as SqlUnitParams;
    const range = params.range;
    const exclude = range?.lower?.exclude?.length ? new IdentitySet(range.lower.exclude) : undefined;
    const only = range?.upper?.only ? new IdentitySet(range.upper.only) : undefined;
    const filtered = exclude !== undefined || only !== undefined;
    const selection = this.selection(shape, filtered);
    const type = shape.cursor?.type ?? 'STRING';
    const lowerValue = exclude && range?.lower ? cursorValue(range.lower.value, type) : undefined;
    const upperValue = only && range?.upper ? cursorValue(range.upper.value, type) : undefined;
    const sql = this.unitSql(shape, params, selection.columns);
    context.log.debug(`${unit.label}: ${sql}`);

    let rows: unknown[][] = [];
    let positions: number[] = [];
    let count = 0;
    let emitted = false;
    for await (const chunk of this.dialect.stream(sql, selection.columns, { chunkRows: BATCH_ROWS, signal: context.signal })) {
      for (const row of chunk) {
        if (filtered) {
          const value = row[selection.cursorIndex];
          if (exclude && value === lowerValue) {
            const id = rowIdentity(row, selection.keyIndexes);
            if (exclude.take(id)) {
              if (value === upperValue) only?.take(id);
              continue;
            }
            if (only && value === upperValue && !only.take(id)) continue;
          } else if (only && value === upperValue && !only.take(rowIdentity(row, selection.keyIndexes))) {
            continue;
          }
          row.length = selection.visible;
        }
        rows.push(row);
        positions.push(++count);
      }
      if (rows.length >= BATCH_ROWS) {
        yield { columns: shape.batchColumns, rows, positions };
        emitted = true;
        rows = [];
        positions = [];
      }
    }
    if (rows.length > 0 || !emitted) yield { columns: shape.batchColumns, rows, positions };
  }

  async probe(): Promise<string> {
    const version = await this.dialect.serverVersion();
    const tables = await this.dialect.tables();
    return `${version}; information_schema readable (${tables.length} table(s) and view(s))`;
  }

  async catalog(): Promise<CatalogEntry[]> {
    return (await this.dialect.tables()).map((table) => ({ name: table.name, kind: table.kind.includes('view') ? 'view' : 'table', rows: table.estimatedRows }));
  }

  async preview(job: JobSpec, limit: number): Promise<SourceSample> {
    const shape = await this.shape(job);
    const sql = `${selectSql(shape.visible.map((c) => c.select), shape.from, [])} LIMIT ${Math.max(0, Math.floor(limit))}`;
    return { fields: shape.visible.map((c) => c.name), rows: await this.dialect.rows(sql, shape.visible) };
  }

  async range(job: JobSpec, column: string): Promise<{ min: string; max: string } | undefined> {
    const shape = await this.shape({ ...job, load: { ...job.load, cursor: column } });
    const cursor = shape.cursor!;
    const [min, max] = await Promise.all([this.extreme(shape, cursor, 'min'), this.extreme(shape, cursor, 'max')]);
    return min === null || max === null ? undefined : { min, max };
  }

  /**
   * The units of a plan as one SELECT for an engine that reads the database itself, each visible
   * column aliased as `aliases` maps it; or why the window cannot be said in SQL alone.
   */
  async exportUnits(job: JobSpec, units: readonly WorkUnit[], aliases: ReadonlyMap<string, string>): Promise<SqlExport | { readonly reason: string }> {
    const shape = await this.shape(job);
    const params = units.map((unit) => (unit.params ?? {}) as SqlUnitParams);
    if (!params.length) return { reason: 'the plan has no units' };
    // Shards of one range read that range together; range units join into the range they split.
    const whole: SqlUnitParams = params.every((p) => p.shard) ? { range: params[0].range } : params.length === 1 ? params[0] : mergedRange(params);
    const conditions = this.conditions(shape, whole);
    const identity = this.identityConditions(shape, whole.range);
    if ('reason' in identity) return identity;
    conditions.push(...identity.conditions);
    const select = shape.visible.map((column) => `${this.dialect.exportSelect(column)} AS ${this.dialect.quote(aliases.get(column.name) ?? column.name)}`);
    const sql = selectSql(select, shape.from, conditions);
    const read = (column: C | undefined) => (column && shape.visible.includes(column) ? column : undefined);
    const timed = (column: C | undefined) => (column?.type === 'TIMESTAMP' || column?.type === 'DATETIME' ? column : undefined);
    // An integer key or cursor splits as it is; a timestamp cursor or key splits through a column of its own.
    const integer = read(this.shardKey(shape)) ?? (shape.cursor?.type === 'INT64' && !whole.range?.nulls ? read(shape.cursor) : undefined);
    const candidate = integer ?? timed(shape.cursor) ?? (shape.keys.length === 1 ? timed(shape.keys[0]) : undefined);
    if (!candidate) {
      return { sql, unsplit: `${shape.relation.label} has no integer primary key among the columns read, no integer cursor that is never NULL in the window, and no timestamp cursor or primary key` };
    }
    const [min, max] = await Promise.all([this.aggregate(shape, candidate, 'min', conditions), this.aggregate(shape, candidate, 'max', conditions)]);
    if (min === null || max === null) return { sql, unsplit: `the window holds no ${candidate.name} value to split on` };
    const alias = (column: C) => aliases.get(column.name) ?? column.name;
    if (candidate === integer) return { sql, split: { type: 'long', alias: alias(candidate), column: candidate.name, min, max, sql } };
    if (shape.visible.some((column) => alias(column).toLowerCase() === SPLIT_ALIAS)) return { sql, unsplit: `a column read is named ${SPLIT_ALIAS}, the name of the column a timestamp split adds` };
    const nulls = formatDatetime(parseTimestamp(min)!);
    const split = selectSql([...select, `${this.dialect.splitTimestamp(candidate, nulls)} AS ${this.dialect.quote(SPLIT_ALIAS)}`], shape.from, conditions);
    return { sql, split: { type: 'datetime', alias: SPLIT_ALIAS, column: candidate.name, min, max, sql: split } };
  }

  async primaryKey(job: JobSpec): Promise<string[]> {
    const relation = relationOf(job.source, job.name);
    return relation.kind === 'table' ? this.dialect.primaryKey(relation.table) : [];
  }

  listTables(): Promise<TableListing[]> {
    return this.dialect.tables();
  }

  async close(): Promise<void> {
    await this.dialect.close();
  }

  // -------------------------------------------------------------------------------------------
  // Shape of the source

  private shape(job: JobSpec): Promise<Shape<C>> {
    const key = JSON.stringify([job.source.table, job.source.query, job.source.columns, job.source.nested, job.load.cursor, job.load.primary_key]);
    let shape = this.shapes.get(key);
    if (!shape) {
      shape = this.resolveShape(job);
      shape.catch(() => this.shapes.delete(key));
      this.shapes.set(key, shape);
    }
    return shape;
  }

  private async resolveShape(job: JobSpec): Promise<Shape<C>> {
    const relation = relationOf(job.source, job.name);
    const all = await this.dialect.describe(relation, job.source.nested ?? 'string');
    const issues: ConfigIssue[] = [];
    const find = (name: string, key: string): C | undefined => {
      const column = all.find((c) => c.name === name) ?? unique(all.filter((c) => c.name.toLowerCase() === name.toLowerCase()));
      if (!column) {
        issues.push({
          file: '',
          path: '',
          message: `\`${key}\` column \`${name}\` not found in ${relation.label}; columns are: ${all.map((c) => c.name).join(', ')}`,
          fix: `use one of the columns listed, spelled as in the ${relation.kind === 'query' ? 'query' : 'table'}`,
        });
      }
      return column;
    };
    const visible = job.source.columns ? job.source.columns.map((name) => find(name, 'columns')) : all;
    const cursor = job.load.cursor !== undefined ? find(job.load.cursor, 'cursor') : undefined;
    let keys: (C | undefined)[] = job.load.primary_key?.map((name) => find(name, 'primary_key')) ?? [];
    if (issues.length > 0) throw new ConfigError(issues);
    if (cursor && !CURSOR_TYPES.has(cursor.type)) {
      throw ConfigError.of(
        `\`cursor\` column \`${cursor.name}\` of ${relation.label} is ${cursor.sourceType ?? cursor.type}, which cannot order rows`,
        'use a timestamp, date or increasing number column as load.cursor',
      );
    }
    if (!job.load.primary_key && relation.kind === 'table') {
      const names = await this.dialect.primaryKey(relation.table);
      keys = names.map((name) => all.find((c) => c.name === name));
    }
    const known = visible as C[];
    const from = fromClause(relation, this.dialect);
    const hint = cursor && relation.kind === 'table' ? await this.dialect.rangeHint?.(relation.table, cursor.name) : undefined;
    return {
      relation,
      from,
      rangeFrom: hint ? `${from} ${hint}` : from,
      all,
      visible: known,
      batchColumns: known.map((column) => publicColumn(column)),
      cursor,
      keys: keys.every((k) => k !== undefined) ? (keys as C[]) : [],
    };
  }

  private selection(shape: Shape<C>, withIdentity: boolean): Selection<C> {
    const columns = [...shape.visible];
    const indexOf = (column: C): number => {
      let index = columns.indexOf(column);
      if (index < 0) index = columns.push(column) - 1;
      return index;
    };
    if (!withIdentity || !shape.cursor) return { columns, visible: columns.length, cursorIndex: -1, keyIndexes: [] };
    const visible = columns.length;
    const cursorIndex = indexOf(shape.cursor);
    const keyIndexes = shape.keys.map(indexOf);
    return { columns, visible, cursorIndex, keyIndexes };
  }

  // -------------------------------------------------------------------------------------------
  // SQL

  private cursorRef(shape: Shape<C>): string {
    return shape.cursor ? `q.${this.dialect.quote(shape.cursor.name)}` : '';
  }

  private conditions(shape: Shape<C>, params: SqlUnitParams): string[] {
    const out: string[] = [];
    const { range, shard } = params;
    if (range && shape.cursor) {
      const ref = this.cursorRef(shape);
      const literal = (text: string) => this.dialect.cursorLiteral(text, shape.cursor!.type);
      const parts: string[] = [];
      if (range.empty) parts.push('1 = 0');
      else {
        if (range.lower) parts.push(`${ref} >= ${literal(range.lower.value)}`);
        if (range.upper) parts.push(`${ref} ${range.upper.inclusive ? '<=' : '<'} ${literal(range.upper.value)}`);
        if (parts.length === 0) parts.push(`${ref} IS NOT NULL`);
      }
      const body = parts.join(' AND ');
      out.push(range.nulls ? `${body} OR ${ref} IS NULL` : body);
    }
    if (shard) out.push(`${this.dialect.modulo(`q.${this.dialect.quote(shard.column)}`, shard.of)} = ${shard.index}`);
    return out;
  }

  private unitSql(shape: Shape<C>, params: SqlUnitParams, columns: readonly C[]): string {
    return selectSql(
      columns.map((c) => c.select),
      params.narrow ? shape.rangeFrom : shape.from,
      this.conditions(shape, params),
    );
  }

  /** max or min of the cursor over `cursor >= floor` (all non-NULL values without a floor). */
  private extreme(shape: Shape<C>, cursor: C, which: 'max' | 'min', floor?: string, ceiling?: string): Promise<string | null> {
    const ref = this.cursorRef(shape);
    const conditions = [floor !== undefined ? `${ref} >= ${this.dialect.cursorLiteral(floor, cursor.type)}` : `${ref} IS NOT NULL`];
    if (ceiling !== undefined) conditions.push(`${ref} < ${this.dialect.cursorLiteral(ceiling, cursor.type)}`);
    return this.aggregate(shape, cursor, which, conditions);
  }

  /** max or min of a column over the rows where `conditions` hold, as state text; null when there is none. */
  private async aggregate(shape: Shape<C>, column: C, which: 'max' | 'min', conditions: readonly string[]): Promise<string | null> {
    // The aggregate runs on the raw column; its result then goes through the column's own select.
    const name = this.dialect.quote(column.name);
    const sql = `SELECT ${column.select} FROM (${selectSql([`${which}(q.${name}) AS ${name}`], shape.from, conditions)}) AS q`;
    const [row] = await this.dialect.rows(sql, [column]);
    const value = row?.[0];
    return value === null || value === undefined ? null : cursorText(value, column.type);
  }

  /** Identities of the rows whose cursor is exactly `value`. */
  private async seenAt(shape: Shape<C>, cursor: C, value: string, log: { warn(m: string): void }): Promise<string[]> {
    const selection = this.selection(shape, true);
    const sql = selectSql(
      selection.columns.map((c) => c.select),
      shape.from,
      [`${this.cursorRef(shape)} = ${this.dialect.cursorLiteral(value, cursor.type)}`],
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

  // -------------------------------------------------------------------------------------------
  // Estimates

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

  private counts(shape: Shape<C>, params: readonly SqlUnitParams[]): Promise<number[]> {
    return Promise.all(params.map((p) => this.dialect.count(selectSql(['1 AS one'], shape.from, this.conditions(shape, p)))));
  }

  async countRows(job: JobSpec, units: readonly WorkUnit[]): Promise<number> {
    const counts = await this.counts(await this.shape(job), units.map((unit) => (unit.params ?? {}) as SqlUnitParams));
    return counts.reduce((a, b) => a + b, 0);
  }

  private async estimateAll(shape: Shape<C>, params: SqlUnitParams): Promise<number | undefined> {
    const sql = selectSql(['1 AS one'], shape.from, this.conditions(shape, params));
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

  // -------------------------------------------------------------------------------------------
  // Plans

  private async planSnapshot(shape: Shape<C>, job: JobSpec): Promise<SourcePlan> {
    const parallelism = job.source.parallelism ?? 1;
    const notes: string[] = [];
    let params: SqlUnitParams[] = [{}];
    let labels = ['all rows'];
    if (parallelism > 1) {
      const total = await this.estimateAll(shape, {});
      const shardKey = this.shardKey(shape);
      const cursor = shape.cursor;
      if (total !== undefined && total <= UNIT_ROWS) {
        notes.push(`parallelism ${parallelism} not used: about ${total} rows fit one unit`);
      } else if (shardKey) {
        params = Array.from({ length: parallelism }, (_, index) => ({ shard: { column: shardKey.name, of: parallelism, index } }));
        labels = params.map((_, i) => `${shardKey.name} mod ${parallelism} = ${i}`);
      } else if (cursor && splittable(cursor.type)) {
        const low = await this.extreme(shape, cursor, 'min');
        const high = await this.extreme(shape, cursor, 'max');
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
    notes.unshift(`query: ${this.unitSql(shape, params[0], shape.visible)}`);
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
    const high = await this.extreme(shape, cursor, 'max', floor);
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
        const low = lowerValue ?? (await this.extreme(shape, cursor, 'min'));
        const bounds = parts > 1 && low !== null ? splitRange(low, high, type, parts) : [];
        const shardKey = this.shardKey(shape);
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
    notes.unshift(`query: ${this.unitSql(shape, params[0], shape.visible)}`);
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
      const high = await this.extreme(shape, cursor, 'max', since);
      upper = high !== null ? { value: high, inclusive: true } : undefined;
    }
    const whole: Range = upper || since !== undefined ? { lower: since !== undefined ? { value: since } : undefined, upper, nulls: false } : { empty: true, nulls: false };
    let params: SqlUnitParams[] = [{ range: whole }];
    const parallelism = job.source.parallelism ?? 1;
    if (parallelism > 1 && !whole.empty && splittable(cursor.type)) {
      const total = await this.estimateAll(shape, { range: whole });
      const parts = await this.unitCount(shape, cursor, total, parallelism);
      const low = since ?? (await this.extreme(shape, cursor, 'min'));
      const high = upper?.value ?? (await this.extreme(shape, cursor, 'max'));
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
    notes.unshift(`query: ${this.unitSql(shape, params[0], shape.visible)}`);
    return { units, skipped: [], estimatedRows: estimate.total, estimateBasis: estimate.basis, estimateExact: estimate.exact, ordered: false, notes, window: { column: cursor.name, lower: since, upper } };
  }

  /**
   * The boundary filters a read applies row by row (rows already loaded at the lower bound,
   * rows at the high-water mark that arrived after the plan) as SQL conditions on the key.
   */
  private identityConditions(shape: Shape<C>, range: Range | undefined): { conditions: string[] } | { reason: string } {
    const exclude = range?.lower?.exclude?.length ? range.lower : undefined;
    const only = range?.upper?.only ? range.upper : undefined;
    if ((!exclude && !only) || !shape.cursor) return { conditions: [] };
    if (!shape.keys.length) {
      return { reason: `rows at the cursor's boundary values are told apart by a hash of the whole row, which SQL cannot match: set load.primary_key for ${shape.relation.label}` };
    }
    const literals: string[] = [];
    for (const key of shape.keys) {
      if (!['INT64', 'NUMERIC', 'BIGNUMERIC', 'STRING', 'DATE', 'DATETIME', 'TIME', 'TIMESTAMP'].includes(key.type)) {
        return { reason: `key column \`${key.name}\` is ${key.type}, which the boundary filter cannot compare in SQL` };
      }
    }
    const tuple = (identity: string): string => {
      const values = JSON.parse(identity) as (string | number | null)[];
      const parts = shape.keys.map((key, i) => {
        const value = values[i];
        if (value === null || value === undefined) return 'NULL';
        const text = key.type === 'TIMESTAMP' && typeof value === 'number' ? cursorText(BigInt(value), 'TIMESTAMP') : String(value);
        return this.dialect.cursorLiteral(text, key.type);
      });
      return parts.length === 1 ? parts[0] : `(${parts.join(', ')})`;
    };
    const keys = shape.keys.map((key) => `q.${this.dialect.quote(key.name)}`);
    const keyRef = keys.length === 1 ? keys[0] : `(${keys.join(', ')})`;
    const ref = this.cursorRef(shape);
    const literal = (text: string) => this.dialect.cursorLiteral(text, shape.cursor!.type);
    const conditions: string[] = [];
    if (exclude) {
      for (const identity of exclude.exclude!) literals.push(tuple(identity));
      conditions.push(`${ref} IS NULL OR NOT (${ref} = ${literal(exclude.value)} AND ${keyRef} IN (${literals.join(', ')}))`);
    }
    if (only) {
      const kept = only.only!.map(tuple);
      conditions.push(`${ref} IS NULL OR ${ref} <> ${literal(only.value)}${kept.length ? ` OR ${keyRef} IN (${kept.join(', ')})` : ''}`);
    }
    return { conditions };
  }

  private shardKey(shape: Shape<C>): C | undefined {
    return shape.keys.length === 1 && shape.keys[0].type === 'INT64' ? shape.keys[0] : undefined;
  }


  private rangeLabel(cursor: C, range: Range): string {
    if (range.empty) return range.nulls ? `${cursor.name} is null` : 'no rows';
    const parts: string[] = [];
    if (range.lower) parts.push(`>= ${range.lower.value}`);
    if (range.upper) parts.push(`${range.upper.inclusive ? '<=' : '<'} ${range.upper.value}`);
    return `${cursor.name} ${parts.join(' and ') || 'any'}${range.nulls ? ' or null' : ''}`;
  }
}

function unique<T>(items: T[]): T | undefined {
  return items.length === 1 ? items[0] : undefined;
}

function publicColumn(column: SqlColumn): SourceColumn {
  const { name, type, nullable, sourceType, repeated } = column;
  return repeated === undefined ? { name, type, nullable, sourceType } : { name, type, nullable, sourceType, repeated };
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

/** A whole range spanning every unit's, for one estimate. */
function mergedRange(params: readonly SqlUnitParams[]): SqlUnitParams {
  const first = params[0].range;
  const last = params[params.length - 1].range;
  if (!first || !last) return { range: first ?? last };
  return { range: { lower: first.lower, upper: last.upper, nulls: first.nulls } };
}

/** The state after an intermediate range unit `[…, bound)`: never behind the previous one. */
function intermediateState(cursor: SqlColumn, bound: string, previous: CursorState | undefined): CursorState {
  if (previous?.value != null && compareCursor(bound, previous.value, cursor.type) <= 0) return previous;
  return { column: cursor.name, type: cursor.type, value: bound, seen: [] };
}
