/**
 * The window of rows a unit reads, as SQL: its cursor range and shard as conditions, its
 * SELECT, and the cursor's extremes.
 */
import type { SqlColumn, SqlDialect } from './sql-dialect.js';
import { cursorText } from './sql-cursor.js';
import { selectSql } from './sql-query.js';
import type { Shape } from './sql-shape.js';

/** Lower bound of a unit's cursor range: `cursor >= value`, minus rows already loaded at it. */
export interface LowerBound {
  readonly value: string;
  readonly exclude?: readonly string[];
}

/** Upper bound: `cursor <= value` (or `<`); with `only`, rows at `value` must be among these. */
export interface UpperBound {
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

/** A unit's cursor range. */
export type Range = NonNullable<SqlUnitParams['range']>;

/** The cursor column over the relation's alias `q`. */
export function cursorRef<C extends SqlColumn>(dialect: SqlDialect<C>, shape: Shape<C>): string {
  return shape.cursor ? `q.${dialect.quote(shape.cursor.name)}` : '';
}

/** The WHERE conditions of a unit: its cursor range (NULLs included or not) and its shard. */
export function windowConditions<C extends SqlColumn>(dialect: SqlDialect<C>, shape: Shape<C>, params: SqlUnitParams): string[] {
  const out: string[] = [];
  const { range, shard } = params;
  if (range && shape.cursor) {
    const ref = cursorRef(dialect, shape);
    const literal = (text: string) => dialect.cursorLiteral(text, shape.cursor!.type);
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
  if (shard) out.push(`${dialect.modulo(`q.${dialect.quote(shard.column)}`, shard.of)} = ${shard.index}`);
  return out;
}

/** The SELECT of `columns` over a unit's window. */
export function unitSql<C extends SqlColumn>(dialect: SqlDialect<C>, shape: Shape<C>, params: SqlUnitParams, columns: readonly C[]): string {
  return selectSql(
    columns.map((c) => c.select),
    params.narrow ? shape.rangeFrom : shape.from,
    windowConditions(dialect, shape, params),
  );
}

/** max or min of the cursor over `cursor >= floor` (all non-NULL values without a floor). */
export function extreme<C extends SqlColumn>(dialect: SqlDialect<C>, shape: Shape<C>, cursor: C, which: 'max' | 'min', floor?: string, ceiling?: string): Promise<string | null> {
  const ref = cursorRef(dialect, shape);
  const conditions = [floor !== undefined ? `${ref} >= ${dialect.cursorLiteral(floor, cursor.type)}` : `${ref} IS NOT NULL`];
  if (ceiling !== undefined) conditions.push(`${ref} < ${dialect.cursorLiteral(ceiling, cursor.type)}`);
  return aggregate(dialect, shape, cursor, which, conditions);
}

/** max or min of a column over the rows where `conditions` hold, as state text; null when there is none. */
export async function aggregate<C extends SqlColumn>(dialect: SqlDialect<C>, shape: Shape<C>, column: C, which: 'max' | 'min', conditions: readonly string[]): Promise<string | null> {
  // The aggregate runs on the raw column; its result then goes through the column's own select.
  const name = dialect.quote(column.name);
  const sql = `SELECT ${column.select} FROM (${selectSql([`${which}(q.${name}) AS ${name}`], shape.from, conditions)}) AS q`;
  const [row] = await dialect.rows(sql, [column]);
  const value = row?.[0];
  return value === null || value === undefined ? null : cursorText(value, column.type);
}

/** A whole range spanning every unit's, for one estimate. */
export function mergedRange(params: readonly SqlUnitParams[]): SqlUnitParams {
  const first = params[0].range;
  const last = params[params.length - 1].range;
  if (!first || !last) return { range: first ?? last };
  return { range: { lower: first.lower, upper: last.upper, nulls: first.nulls } };
}
