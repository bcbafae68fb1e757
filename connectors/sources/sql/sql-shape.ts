/**
 * What a job reads of its relation, from the catalog: the columns it selects, its cursor and
 * identity columns (checked by name), and the columns a read selects to filter boundary rows.
 */
import { ConfigError, type ConfigIssue } from '../../../src/core/errors.js';
import type { JobSpec } from '../../../src/core/spec.js';
import type { SourceColumn } from '../../../src/core/types.js';
import type { SqlColumn, SqlDialect, SqlRelation } from './sql-dialect.js';
import { fromClause, relationOf } from './sql-query.js';
import { CURSOR_TYPES } from './sql-types.js';

/** A job's relation as its reads and plans use it. */
export interface Shape<C extends SqlColumn> {
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
export interface Selection<C extends SqlColumn> {
  readonly columns: readonly C[];
  readonly visible: number;
  readonly cursorIndex: number;
  readonly keyIndexes: readonly number[];
}

/** Resolves a job's columns, cursor and keys against the relation's catalog; unknown names are config errors. */
export async function resolveShape<C extends SqlColumn>(dialect: SqlDialect<C>, job: JobSpec): Promise<Shape<C>> {
  const relation = relationOf(job.source, job.name);
  const all = await dialect.describe(relation, job.source.nested ?? 'string');
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
    const names = await dialect.primaryKey(relation.table);
    keys = names.map((name) => all.find((c) => c.name === name));
  }
  const known = visible as C[];
  const from = fromClause(relation, dialect);
  const hint = cursor && relation.kind === 'table' ? await dialect.rangeHint?.(relation.table, cursor.name) : undefined;
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

/** The columns a read selects; `withIdentity` adds the cursor and keys its boundary filter needs. */
export function selectionOf<C extends SqlColumn>(shape: Shape<C>, withIdentity: boolean): Selection<C> {
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

/** The integer key a plan can shard on (`key mod n`), when the identity is one such column. */
export function shardKeyOf<C extends SqlColumn>(shape: Shape<C>): C | undefined {
  return shape.keys.length === 1 && shape.keys[0].type === 'INT64' ? shape.keys[0] : undefined;
}

function unique<T>(items: T[]): T | undefined {
  return items.length === 1 ? items[0] : undefined;
}

export function publicColumn(column: SqlColumn): SourceColumn {
  const { name, type, nullable, sourceType, repeated } = column;
  return repeated === undefined ? { name, type, nullable, sourceType } : { name, type, nullable, sourceType, repeated };
}
