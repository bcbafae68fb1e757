/** SELECT text of the SQL sources: a table or a wrapped custom query, filtered and projected. */
// @ts-nocheck

import { ConfigError } from '../../../src/core/errors.js';
import type { SqlDialect, SqlRelation, TableName } from './sql-dialect.js';

/** Splits `schema.table` (parts optionally quoted with "" or ``) into its parts. */
export function parseTableName(text: string): TableName {
  const parts: string[] = [];
  const pattern = /\s*(?:"((?:[^"]|"")*)"|`((?:[^`]|``)*)`|([^."`]+))\s*(\.|$)/y;
  let match: RegExpExecArray | null;
  let offset = 0;
  while (offset < text.length && (match = pattern.exec(text))) {
    parts.push(match[1]?.replace(/""/g, '"') ?? match[2]?.replace(/``/g, '`') ?? match[3].trim());
    offset = pattern.lastIndex;
    if (!match[4]) break;
  }
  if (offset < text.length || parts.length === 0 || parts.length > 2) {
    throw ConfigError.of(`source.table ${JSON.stringify(text)} is not a table name`, 'write it as schema.table or table');
  }
  return parts.length === 2 ? { schema: parts[0], name: parts[1] } : { name: parts[0] };
}

/** The relation a job reads from (`source.table` or `source.query`). */
export function relationOf(source: { table?: string; query?: string }, job: string): SqlRelation {
  if (source.query !== undefined) {
    const sql = source.query.trim().replace(/;\s*$/, '');
    return { kind: 'query', sql, label: `the query of job ${job}` };
  }
  if (source.table !== undefined) {
    const table = parseTableName(source.table);
    return { kind: 'table', table, label: source.table };
  }
  throw ConfigError.of(`job ${job}: a database source needs source.table or source.query`, 'add table: schema.table, or query: "SELECT ..."');
}

/** The FROM item of a relation, aliased `q`. */
export function fromClause(relation: SqlRelation, dialect: Pick<SqlDialect, 'quote'>): string {
  if (relation.kind === 'query') return `(${relation.sql}\n) AS q`;
  const { schema, name } = relation.table;
  return `${schema !== undefined ? `${dialect.quote(schema)}.` : ''}${dialect.quote(name)} AS q`;
}

/** `SELECT <expressions> FROM <relation> AS q [WHERE <conditions>]`. */
export function selectSql(expressions: readonly string[], from: string, conditions: readonly string[]): string {
  const where = conditions.length > 0 ? ` WHERE ${conditions.map((c) => `(${c})`).join(' AND ')}` : '';
  return `SELECT ${expressions.join(', ')} FROM ${from}${where}`;
}
