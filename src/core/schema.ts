/**
 * Reconciling source columns with an existing destination table: the compatibility matrix,
 * widening, new columns, and the report inspect-schema shows.
 */
import { sanitizeNames } from './names.js';
import type { Column, ColumnType, SourceColumn } from './types.js';

/**
 * Source type → destination types that hold its values without loss. Extends the matrix of the
 * previous ETL runner (INT64/FLOAT64/STRING/BOOL/TIMESTAMP/DATE) to every canonical type, and
 * lets a DATE load into TIMESTAMP/DATETIME (as midnight UTC).
 */
export const COMPATIBLE: Readonly<Record<ColumnType, readonly ColumnType[]>> = {
  INT64: ['INT64', 'FLOAT64', 'NUMERIC', 'BIGNUMERIC', 'STRING'],
  FLOAT64: ['FLOAT64', 'NUMERIC', 'BIGNUMERIC', 'STRING'],
  NUMERIC: ['NUMERIC', 'BIGNUMERIC', 'STRING'],
  BIGNUMERIC: ['BIGNUMERIC', 'STRING'],
  STRING: ['STRING'],
  BOOL: ['BOOL', 'STRING'],
  TIMESTAMP: ['TIMESTAMP', 'DATETIME', 'STRING'],
  DATETIME: ['DATETIME', 'STRING'],
  DATE: ['DATE', 'TIMESTAMP', 'DATETIME', 'STRING'],
  TIME: ['TIME', 'STRING'],
  BYTES: ['BYTES'],
  JSON: ['JSON', 'STRING'],
  GEOGRAPHY: ['GEOGRAPHY', 'STRING'],
};

/**
 * Type changes an established column takes without asking, because every old value keeps its
 * meaning: integers to wider numbers. A column never turns into STRING because one value did not fit.
 */
export const WIDENINGS: Partial<Record<ColumnType, readonly ColumnType[]>> = {
  INT64: ['FLOAT64', 'NUMERIC', 'BIGNUMERIC'],
  NUMERIC: ['BIGNUMERIC'],
};

/** Whether an existing `from` column may widen to `to`. */
export function isWidening(from: ColumnType, to: ColumnType): boolean {
  return WIDENINGS[from]?.includes(to) === true;
}

/** Whether values of `source` type load into a `destination` column unchanged in meaning. */
export function isCompatible(source: ColumnType, destination: ColumnType): boolean {
  return COMPATIBLE[source].includes(destination);
}

export interface ColumnMismatch {
  readonly column: string;
  readonly source: string;
  readonly sourceType: ColumnType;
  readonly destinationType: ColumnType;
}

/** How a run's source columns meet the destination table. */
export interface SchemaResolution {
  /** Columns to write, in source order, with their destination types. */
  readonly columns: Column[];
  /** Columns present in both with compatible types. */
  readonly compatible: string[];
  /** New columns the table gains (ALTER TABLE ADD COLUMN, NULLABLE). */
  readonly added: Column[];
  /** Existing columns whose type widens to hold the new values. */
  readonly widened: { column: string; from: ColumnType; to: ColumnType }[];
  /** Destination columns the source no longer has; they receive NULL. */
  readonly missing: string[];
  readonly mismatches: ColumnMismatch[];
}

/**
 * Resolves source columns against the destination's existing columns. `mapping` is the stored
 * original → sanitized mapping, so a name keeps its sanitized form across runs.
 */
export function resolveSchema(
  source: readonly SourceColumn[],
  existing: readonly Column[] | undefined,
  mapping: ReadonlyMap<string, string> = new Map(),
  options: { canWiden?: (from: ColumnType, to: ColumnType) => boolean } = {},
): SchemaResolution {
  const canWiden = options.canWiden ?? (() => true);
  const existingByName = new Map<string, Column>();
  for (const column of existing ?? []) {
    existingByName.set(column.name.toLowerCase(), column);
  }
  const known = new Map(mapping);
  for (const column of existing ?? []) {
    if (!known.has(column.source) && ![...known.values()].some((name) => name.toLowerCase() === column.name.toLowerCase())) {
      known.set(column.source, column.name);
    }
  }
  const names = sanitizeNames(
    source.map((column) => column.name),
    known,
  );
  const result: SchemaResolution = { columns: [], compatible: [], added: [], widened: [], missing: [], mismatches: [] };
  const used = new Set<string>();
  for (const column of source) {
    const name = names.get(column.name)!;
    const target = existingByName.get(name.toLowerCase());
    used.add(name.toLowerCase());
    if (!target) {
      const added: Column = { ...column, name, source: column.name, nullable: true };
      result.columns.push(added);
      if (existing) result.added.push(added);
      continue;
    }
    if (isCompatible(column.type, target.type)) {
      result.columns.push({ ...column, name: target.name, source: column.name, type: target.type, nullable: target.nullable });
      result.compatible.push(target.name);
    } else if (isWidening(target.type, column.type) && canWiden(target.type, column.type)) {
      result.columns.push({ ...column, name: target.name, source: column.name, nullable: target.nullable });
      result.widened.push({ column: target.name, from: target.type, to: column.type });
    } else {
      result.mismatches.push({ column: target.name, source: column.name, sourceType: column.type, destinationType: target.type });
      result.columns.push({ ...column, name: target.name, source: column.name, type: target.type, nullable: target.nullable });
    }
  }
  for (const column of existing ?? []) {
    if (!used.has(column.name.toLowerCase()) && !column.name.startsWith('_b2betl')) result.missing.push(column.name);
  }
  return result;
}

/** A readable report of type mismatches, naming the fix. */
export function describeMismatches(table: string, mismatches: readonly ColumnMismatch[]): string {
  const lines = mismatches.map(
    (m) => `  ${m.column}: source ${m.source} is ${m.sourceType}, destination is ${m.destinationType} (a ${m.sourceType} loads into ${COMPATIBLE[m.sourceType].join(', ')})`,
  );
  return `source columns do not fit ${table}:\n${lines.join('\n')}`;
}
