/**
 * A run's units as one SELECT for an engine that reads the database itself (a Dataflow JDBC
 * template), the boundary filters of the reads said in SQL, with a column to split the read on.
 */
import type { WorkUnit } from '../../../src/core/connector.js';
import { cursorText } from './sql-cursor.js';
import type { SqlColumn, SqlDialect } from './sql-dialect.js';
import { selectSql } from './sql-query.js';
import { shardKeyOf, type Shape } from './sql-shape.js';
import { cursorRef, mergedRange, windowConditions, type Range, type SqlUnitParams } from './sql-window.js';

/**
 * A run's rows as one SELECT that an engine runs on the database itself (a Dataflow JDBC
 * template): the window exactly as the units read it, boundary rows filtered inside the query.
 */
export interface SqlExport {
  /** SELECT of the visible columns as {@link SqlDialect.exportSelect} gives them, each AS its alias. */
  readonly sql: string;
  /**
   * A NOT NULL integer column among the selected ones the read can be split on (by its alias),
   * with its smallest and largest value in the window; undefined when there is none or the window is empty.
   */
  readonly split?: { readonly alias: string; readonly column: string; readonly min: string; readonly max: string };
  /** Why there is no split column, for --dry-run. */
  readonly unsplit?: string;
}

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
  const key = shardKeyOf(shape);
  const candidate =
    key && shape.visible.includes(key)
      ? key
      : shape.cursor?.type === 'INT64' && shape.visible.includes(shape.cursor) && !whole.range?.nulls
        ? shape.cursor
        : undefined;
  if (!candidate) return { sql, unsplit: `${shape.relation.label} has no integer primary key among the columns read, nor an integer cursor that is never NULL in the window` };
  const ref = `q.${dialect.quote(candidate.name)}`;
  const bounds = `SELECT min(${ref}) AS lo, max(${ref}) AS hi FROM ${shape.from}${conditions.length ? ` WHERE ${conditions.map((c) => `(${c})`).join(' AND ')}` : ''}`;
  const [row] = await dialect.rows(bounds, [
    { ...candidate, name: 'lo', select: 'lo' },
    { ...candidate, name: 'hi', select: 'hi' },
  ] as C[]);
  if (row?.[0] == null || row[1] == null) return { sql, unsplit: 'the window is empty' };
  return { sql, split: { alias: aliases.get(candidate.name) ?? candidate.name, column: candidate.name, min: String(row[0]), max: String(row[1]) } };
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
