/** DuckDB's column types for the canonical ones, and back. */
import type { ColumnType } from '../../../src/core/types.js';

/**
 * Canonical type → DuckDB column type. BIGNUMERIC has no DuckDB decimal wide enough: exact text.
 * GEOGRAPHY is its well-known text: DuckDB's spatial extension, whose types would hold it, is
 * downloaded when first used, and b2betl installs nothing at run time.
 */
export const DUCKDB_TYPES: Record<ColumnType, string> = {
  STRING: 'VARCHAR',
  INT64: 'BIGINT',
  FLOAT64: 'DOUBLE',
  NUMERIC: 'DECIMAL(38,9)',
  BIGNUMERIC: 'VARCHAR',
  BOOL: 'BOOLEAN',
  TIMESTAMP: 'TIMESTAMPTZ',
  DATETIME: 'TIMESTAMP',
  DATE: 'DATE',
  TIME: 'TIME',
  BYTES: 'BLOB',
  JSON: 'JSON',
  GEOGRAPHY: 'VARCHAR',
};

/** DuckDB column type → canonical type, for describing existing tables. */
export function canonicalType(duckdbType: string): ColumnType {
  const type = duckdbType.toUpperCase();
  if (/^(BIGINT|INTEGER|SMALLINT|TINYINT|UBIGINT|UINTEGER|USMALLINT|UTINYINT|INT\d*)$/.test(type)) return 'INT64';
  if (/^(DOUBLE|FLOAT|REAL)$/.test(type)) return 'FLOAT64';
  if (type.startsWith('DECIMAL') || type === 'HUGEINT') return 'NUMERIC';
  if (type === 'BOOLEAN') return 'BOOL';
  if (type === 'TIMESTAMP WITH TIME ZONE' || type === 'TIMESTAMPTZ') return 'TIMESTAMP';
  if (type.startsWith('TIMESTAMP')) return 'DATETIME';
  if (type === 'DATE') return 'DATE';
  if (type.startsWith('TIME')) return 'TIME';
  if (type === 'BLOB') return 'BYTES';
  if (type === 'JSON') return 'JSON';
  return 'STRING';
}

/** Quotes an identifier. */
export function quote(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Quotes a string literal. */
export function literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

/**
 * Text to DECIMAL(38,9): DuckDB parses text into DECIMAL(38,9) slowly, while most values fit
 * DECIMAL(18,9), which is fast.
 */
export function numericFromText(expression: string): string {
  return `COALESCE(TRY_CAST(${expression} AS DECIMAL(18,9))::DECIMAL(38,9), CAST(${expression} AS DECIMAL(38,9)))`;
}
