/** DuckDB's column types for the canonical ones, and back. */
// @ts-nocheck

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
 * Plain decimal text (`-12.5`, at most 9 significant decimals) to DECIMAL(38,9). DuckDB parses
 * text into a decimal wider than 18 digits slowly (about 25 µs a value), and a failed TRY_CAST
 * costs as much: the digits are read as one HUGEINT, the fraction padded to 9 digits, and scaled.
 * Anything that is not plain decimal text raises a conversion error.
 */
export function numericFromText(expression: string): string {
  const digits = `split_part(${expression}, '.', 1) || rpad(split_part(${expression}, '.', 2), 9, '0')`;
  return `(CAST(CAST(${digits} AS HUGEINT) AS DECIMAL(38,0)) * 0.000000001)`;
}
