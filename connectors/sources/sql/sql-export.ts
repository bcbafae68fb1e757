/**
 * A run's units as one SELECT for an engine that reads the database itself (a Dataflow JDBC
 * template), the boundary filters of the reads said in SQL, with a column to split the read on.
 */
import type { WorkUnit } from '../../../src/core/connector.js';
import { formatDatetime, parseTimestamp } from '../../../src/core/time.js';
import { cursorText } from './sql-cursor.js';
import type { SqlColumn, SqlDialect } from './sql-dialect.js';
import { selectSql } from './sql-query.js';
import { shardKeyOf, type Shape } from './sql-shape.js';
import { aggregate, cursorRef, mergedRange, windowConditions, type Range, type SqlUnitParams } from './sql-window.js';

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

/**
 * The units of a plan as one SELECT, each visible column aliased as `aliases` maps it; or why
 * the window cannot be said in SQL alone.
 */
export async function exportWindow<C extends SqlColumn>(dialect: SqlDialect<C>, shape: Shape<C>, units: readonly WorkUnit[], aliases: ReadonlyMap<string, string>): Promise<SqlExport | { readonly reason: string }> {
  const params = units.map((unit) => (unit.params ?? {}) as SqlUnitParams);
  if (!params.length) return { reason: 'the plan has no units' };
  // Shards of one range read that range together; range units join into the range they split.
  const whole: SqlUnitParams = params.every((p) => p.shard) ? { range: params[0].range } : params.length === 1 ? params[0] : mergedRange(params);
  const conditions = windowConditions(dialect, shape, whole);
  const identity = identityConditions(dialect, shape, whole.range);
  if ('reason' in identity) return identity;
  conditions.push(...identity.conditions);
  const select = shape.visible.map((column) => `${dialect.exportSelect(column)} AS ${dialect.quote(aliases.get(column.name) ?? column.name)}`);
  const sql = selectSql(select, shape.from, conditions);
  const read = (column: C | undefined) => (column && shape.visible.includes(column) ? column : undefined);
  const timed = (column: C | undefined) => (column?.type === 'TIMESTAMP' || column?.type === 'DATETIME' ? column : undefined);
  // An integer key or cursor splits as it is; a timestamp cursor or key splits through a column of its own.
  const integer = read(shardKeyOf(shape)) ?? (shape.cursor?.type === 'INT64' && !whole.range?.nulls ? read(shape.cursor) : undefined);
  const candidate = integer ?? timed(shape.cursor) ?? (shape.keys.length === 1 ? timed(shape.keys[0]) : undefined);
  if (!candidate) {
    return { sql, unsplit: `${shape.relation.label} has no integer primary key among the columns read, no integer cursor that is never NULL in the window, and no timestamp cursor or primary key` };
  }
  const [min, max] = await Promise.all([aggregate(dialect, shape, candidate, 'min', conditions), aggregate(dialect, shape, candidate, 'max', conditions)]);
  if (min === null || max === null) return { sql, unsplit: `the window holds no ${candidate.name} value to split on` };
  const alias = (column: C) => aliases.get(column.name) ?? column.name;
  if (candidate === integer) return { sql, split: { type: 'long', alias: alias(candidate), column: candidate.name, min, max, sql } };
  if (shape.visible.some((column) => alias(column).toLowerCase() === SPLIT_ALIAS)) return { sql, unsplit: `a column read is named ${SPLIT_ALIAS}, the name of the column a timestamp split adds` };
  const nulls = formatDatetime(parseTimestamp(min)!);
  const split = selectSql([...select, `${dialect.splitTimestamp(candidate, nulls)} AS ${dialect.quote(SPLIT_ALIAS)}`], shape.from, conditions);
  return { sql, split: { type: 'datetime', alias: SPLIT_ALIAS, column: candidate.name, min, max, sql: split } };
}

/**
 * The boundary filters a read applies row by row (rows already loaded at the lower bound,
 * rows at the high-water mark that arrived after the plan) as SQL conditions on the key.
 */
function identityConditions<C extends SqlColumn>(dialect: SqlDialect<C>, shape: Shape<C>, range: Range | undefined): { conditions: string[] } | { reason: string } {
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
      return dialect.cursorLiteral(text, key.type);
    });
    return parts.length === 1 ? parts[0] : `(${parts.join(', ')})`;
  };
  const keys = shape.keys.map((key) => `q.${dialect.quote(key.name)}`);
  const keyRef = keys.length === 1 ? keys[0] : `(${keys.join(', ')})`;
  const ref = cursorRef(dialect, shape);
  const literal = (text: string) => dialect.cursorLiteral(text, shape.cursor!.type);
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
