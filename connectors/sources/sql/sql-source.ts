/**
 * The source connector both SQL databases share: columns from the catalog (sql-shape.ts), plans
 * of cursor ranges or key shards with a high-water mark read at plan time (sql-plan.ts), and
 * streamed units whose boundary rows are filtered so that every row loads exactly once.
 */
import type { Logger } from '../../../src/core/log.js';
import type { JobSpec } from '../../../src/core/spec.js';
import type { CatalogEntry, PlanContext, ReadContext, SourceConnector, SourcePlan, SourceSample, TableListing, WorkUnit } from '../../../src/core/connector.js';
import type { RecordBatch, SourceColumn } from '../../../src/core/types.js';
import { cursorValue, IdentitySet, rowIdentity } from './sql-cursor.js';
import { cancellable, type SqlColumn, type SqlDialect } from './sql-dialect.js';
import { exportWindow, type SqlExport } from './sql-export.js';
import { SqlPlanner } from './sql-plan.js';
import { relationOf, selectSql } from './sql-query.js';
import { publicColumn, resolveShape, selectionOf, type Shape } from './sql-shape.js';
import { extreme, unitSql, type SqlUnitParams } from './sql-window.js';

export type { SqlExport } from './sql-export.js';

/** Rows per emitted batch. */
export const BATCH_ROWS = 2000;

/** A {@link SourceConnector} over any {@link SqlDialect}. */
export class SqlSource<C extends SqlColumn> implements SourceConnector {
  private readonly shapes = new Map<string, Promise<Shape<C>>>();
  private readonly planner: SqlPlanner<C>;

  constructor(private readonly dialect: SqlDialect<C>) {
    this.planner = new SqlPlanner(dialect);
  }

  async discover(job: JobSpec, _log: Logger): Promise<SourceColumn[]> {
    const shape = await this.shape(job);
    return shape.visible.map((column) => publicColumn(column));
  }

  async plan(context: PlanContext): Promise<SourcePlan> {
    return cancellable(context.signal, async () => this.planner.plan(await this.shape(context.job), context));
  }

  async *read(unit: WorkUnit, context: ReadContext): AsyncIterable<RecordBatch> {
    const shape = await this.shape(context.job);
    const params = (unit.params ?? {}) as SqlUnitParams;
    const range = params.range;
    const exclude = range?.lower?.exclude?.length ? new IdentitySet(range.lower.exclude) : undefined;
    const only = range?.upper?.only ? new IdentitySet(range.upper.only) : undefined;
    const filtered = exclude !== undefined || only !== undefined;
    const selection = selectionOf(shape, filtered);
    const type = shape.cursor?.type ?? 'STRING';
    const lowerValue = exclude && range?.lower ? cursorValue(range.lower.value, type) : undefined;
    const upperValue = only && range?.upper ? cursorValue(range.upper.value, type) : undefined;
    const sql = unitSql(this.dialect, shape, params, selection.columns);
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
    const [min, max] = await Promise.all([extreme(this.dialect, shape, cursor, 'min'), extreme(this.dialect, shape, cursor, 'max')]);
    return min === null || max === null ? undefined : { min, max };
  }

  /**
   * The units of a plan as one SELECT for an engine that reads the database itself, each visible
   * column aliased as `aliases` maps it; or why the window cannot be said in SQL alone.
   */
  async exportUnits(job: JobSpec, units: readonly WorkUnit[], aliases: ReadonlyMap<string, string>): Promise<SqlExport | { readonly reason: string }> {
    return exportWindow(this.dialect, await this.shape(job), units, aliases);
  }

  async countRows(job: JobSpec, units: readonly WorkUnit[]): Promise<number> {
    const counts = await this.planner.counts(await this.shape(job), units.map((unit) => (unit.params ?? {}) as SqlUnitParams));
    return counts.reduce((a, b) => a + b, 0);
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

  /** The job's shape, resolved once per set of the keys it depends on. */
  private shape(job: JobSpec): Promise<Shape<C>> {
    const key = JSON.stringify([job.source.table, job.source.query, job.source.columns, job.source.nested, job.load.cursor, job.load.primary_key]);
    let shape = this.shapes.get(key);
    if (!shape) {
      shape = resolveShape(this.dialect, job);
      shape.catch(() => this.shapes.delete(key));
      this.shapes.set(key, shape);
    }
    return shape;
  }
}
