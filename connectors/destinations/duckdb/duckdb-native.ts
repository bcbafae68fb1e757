/**
 * A local CSV file read by DuckDB itself: its parallel reader parses the file and SQL converts
 * each field, never a row through JavaScript. The source has checked that every record is whole
 * and parsed alike (see `readsAlike`). SQL takes only what it can convert exactly as the core
 * would: each type accepts its plain spellings (`-12`, `3.5`, `2024-03-01T10:00:00Z`…) and
 * raises an error on anything else. The unit is then streamed, which widens columns, sets bad
 * rows aside or names them, as for any file.
 */
import type { NativeFile } from '../../../src/core/connector.js';
import { BOOL_TEXT } from '../../../src/core/convert.js';
import type { Column, ColumnType } from '../../../src/core/types.js';
import { DUCKDB_TYPES, literal, numericFromText, quote } from './duckdb-types.js';

/** Read buffer per thread at least; larger than the longest record DuckDB accepts by default (2 MB). */
const BUFFER_SIZE = 4 << 20;

/**
 * DuckDB's CSV read buffer for records of up to `longest` bytes. Its parallel reader silently
 * leaves out a record longer than the buffer, so the buffer is always larger than the longest.
 */
export function readBufferFor(longest: number, least = BUFFER_SIZE): number {
  return Math.max(least, longest + BUFFER_SIZE);
}

/** `read_csv` options of a buffer that holds records of up to `longest` bytes. */
export function bufferOptions(longest: number, least?: number): string {
  const buffer = readBufferFor(longest, least);
  return `buffer_size = ${buffer}, max_line_size = ${buffer - 1}`;
}

/**
 * Plain spellings per type, as RE2 patterns matched against the whole field: numbers without a
 * plus sign or a leading zero (those are codes the core keeps as text); for a TIMESTAMP, whole
 * seconds below 60, at most microseconds, years from 1000, in UTC (the session's zone).
 */
const PLAIN: Partial<Record<ColumnType, string>> = {
  INT64: '-?(0|[1-9][0-9]{0,17})',
  FLOAT64: '-?(0|[1-9][0-9]{0,299})(\\.[0-9]{1,300})?([eE][+-]?[0-9]{1,3})?',
  NUMERIC: '-?(0|[1-9][0-9]{0,28})(\\.[0-9]{1,9})?',
  DATE: '[0-9]{4}-[0-9]{2}-[0-9]{2}',
  TIMESTAMP: '[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}[T ]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,6})?Z?',
};

function notPlain(type: ColumnType): string {
  return `error('not a plain ${type}')`;
}

/** SQL converting the text field `field` to `type`, or undefined when only the core converts it. */
function convertSql(field: string, type: ColumnType): string | undefined {
  if (type === 'STRING') return field;
  // An empty field is NULL for every other type.
  if (type === 'BOOL') {
    const list = (words: readonly string[]) => words.map(literal).join(', ');
    return `CASE WHEN ${field} = '' THEN NULL WHEN lower(${field}) IN (${list(BOOL_TEXT.true)}) THEN true WHEN lower(${field}) IN (${list(BOOL_TEXT.false)}) THEN false ELSE ${notPlain(type)} END`;
  }
  const pattern = PLAIN[type];
  if (!pattern) return undefined;
  const value = type === 'NUMERIC' ? numericFromText(field) : `CAST(${field} AS ${DUCKDB_TYPES[type]})`;
  return `CASE WHEN ${field} = '' THEN NULL WHEN regexp_full_match(${field}, ${literal(pattern)}) THEN ${value} ELSE ${notPlain(type)} END`;
}

/** Options of DuckDB's `read_csv` that parse the file as the CSV format does, every field as text. */
function readCsv(file: NativeFile, csv: Extract<NativeFile['format'], { kind: 'csv' }>): string {
  const fields = file.columns.map((_, i) => `${literal(`f${i}`)}: 'VARCHAR'`);
  const { delimiter, quote: quoteChar, header } = csv;
  return `read_csv(${literal(file.path)}, ${[
    `header = ${header}`,
    'auto_detect = false',
    `delim = ${literal(delimiter)}`,
    `quote = ${literal(quoteChar)}`,
    `escape = ${literal(quoteChar)}`,
    "encoding = 'utf-8'",
    "compression = 'none'",
    'strict_mode = true',
    // An empty field is text like any other, as in the CSV format: no field is NULL, since a
    // newline never stands unquoted in one.
    "nullstr = '\n'",
    'allow_quoted_nulls = false',
    'parallel = true',
    bufferOptions(csv.longestRecord),
    `columns = {${fields.join(', ')}}`,
  ].join(', ')})`;
}

/**
 * The query reading `file` into `targets` (the run column of each field, if loaded), or
 * undefined when some target type is one only the core converts.
 */
export function nativeFileQuery(file: NativeFile, targets: readonly (Column | undefined)[]): string | undefined {
  const selects: string[] = [];
  for (const [i, column] of targets.entries()) {
    if (!column) continue;
    const sql = convertSql(quote(`f${i}`), column.type);
    if (!sql) return undefined;
    selects.push(`${sql} AS ${quote(column.name)}`);
  }
  if (!selects.length) return undefined;
  if (file.format.kind !== 'csv') return undefined;
  return `SELECT ${selects.join(', ')} FROM ${readCsv(file, file.format)}`;
}
