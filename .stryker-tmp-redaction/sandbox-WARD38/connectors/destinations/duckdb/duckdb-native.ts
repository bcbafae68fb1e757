/**
 * A local CSV file read by DuckDB itself: its parallel reader parses the file and SQL converts
 * each field, never a row through JavaScript. The source has checked that every record is whole
 * and parsed alike (see `readsAlike`). SQL takes only what it can convert exactly as the core
 * would: each type accepts its plain spellings (`-12`, `3.5`, `2024-03-01T10:00:00Z`…) and
 * raises an error on anything else. The unit is then streamed, which widens columns, sets bad
 * rows aside or names them, as for any file.
 */
// @ts-nocheck

import type { NativeFile } from '../../../src/core/connector.js';
import { BOOL_TEXT } from '../../../src/core/convert.js';
import { DATE_FORMAT } from '../../../src/core/time.js';
import type { Column, ColumnType, SourceColumn } from '../../../src/core/types.js';
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
  return `buffer_size = ${buffer}, max_line_size = ${buffer}`;
}

/**
 * Plain spellings per type, as RE2 patterns matched against the whole field: numbers without a
 * leading zero (a code the core keeps as text), integers without a plus sign (in an inferred
 * integer column, a code too; in a decimal one a sign); for a TIMESTAMP, whole seconds below 60,
 * at most microseconds, years from 1000, in UTC (the session's zone).
 */
const PLAIN: Partial<Record<ColumnType, string>> = {
  INT64: '0|-?[1-9][0-9]{0,17}',
  FLOAT64: '[-+]?(0|[1-9][0-9]{0,299})(\\.[0-9]{1,300})?([eE][+-]?[0-9]{1,3})?',
  NUMERIC: '[-+]?(0|[1-9][0-9]{0,28})(\\.[0-9]{1,9})?',
  TIMESTAMP: '[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}[T ]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,6})?Z?',
};

/** A time of day after a date, as the core reads one: seconds and their fraction optional. */
const TIME_OF_DAY = '([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\\.[0-9]{1,6})?)?';

/** One spelling a column's values may take: its RE2 pattern and the SQL of its value. */
type Branch = readonly [pattern: string, value: string];

/**
 * The spellings of dates as the core reads them (ISO 8601, `YYYY/MM/DD`, and the column's
 * `source.csv.date_format`), each rewritten to ISO text that DuckDB casts: a DATE alone, or a
 * DATETIME (with a time of day, or a date at midnight). A date DuckDB finds invalid raises an
 * error, as the core refuses it.
 */
function dateBranches(field: string, type: 'DATE' | 'DATETIME', dateFormat: string | undefined): Branch[] {
  const cast = (text: string) => `CAST(${text} AS ${DUCKDB_TYPES[type]})`;
  const year = type === 'DATE' ? '[0-9]{4}' : '[1-9][0-9]{3}';
  const times = type === 'DATE' ? [''] : ['', ` ${TIME_OF_DAY}`];
  const branches: Branch[] = times.flatMap((time) => [
    [`${year}-[0-9]{2}-[0-9]{2}${time ? `[T ]${TIME_OF_DAY}` : ''}`, cast(field)] as const,
    [`${year}/[0-9]{1,2}/[0-9]{1,2}${time}`, cast(`replace(${field}, '/', '-')`)] as const,
  ]);
  const format = dateFormat ? DATE_FORMAT.exec(dateFormat) : null;
  if (format) {
    const parts = [format[1]!, format[3]!, format[4]!];
    const separator = format[2] === '.' ? '\\.' : format[2]!;
    const date = parts.map((part) => (part === 'YYYY' ? `(${year})` : '([0-9]{1,2})')).join(separator);
    const iso = ['YYYY', 'MM', 'DD'].map((part) => `\\${parts.indexOf(part) + 1}`).join('-');
    for (const time of times) branches.push([`${date}${time}`, cast(`regexp_replace(${field}, ${literal(`^${date}`)}, ${literal(iso)})`)]);
  }
  return branches;
}

function notPlain(type: ColumnType): string {
  return `error('not a plain ${type}')`;
}

/** SQL converting the text field `field` of `column` to `type`, or undefined when only the core converts it. */
function convertSql(field: string, type: ColumnType, column: SourceColumn): string | undefined {
  if (type === 'STRING') return field;
  // An empty field is NULL for every other type.
  if (type === 'BOOL') {
    const list = (words: readonly string[]) => words.map(literal).join(', ');
    return `CASE WHEN ${field} = '' THEN NULL WHEN lower(${field}) IN (${list(BOOL_TEXT.true)}) THEN true WHEN lower(${field}) IN (${list(BOOL_TEXT.false)}) THEN false ELSE ${notPlain(type)} END`;
  }
  let branches: Branch[];
  if (type === 'DATE' || type === 'DATETIME') branches = dateBranches(field, type, column.dateFormat);
  else {
    const pattern = PLAIN[type];
    if (!pattern) return undefined;
    branches = [[pattern, type === 'NUMERIC' ? numericFromText(field) : `CAST(${field} AS ${DUCKDB_TYPES[type]})`]];
  }
  const cases = branches.map(([pattern, value]) => `WHEN regexp_full_match(${field}, ${literal(pattern)}) THEN ${value}`);
  return `CASE WHEN ${field} = '' THEN NULL ${cases.join(' ')} ELSE ${notPlain(type)} END`;
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
  if (file.format.kind === 'parquet') return parquetQuery(file, targets);
  const selects: string[] = [];
  for (const [i, column] of targets.entries()) {
    if (!column) continue;
    const sql = convertSql(quote(`f${i}`), column.type, file.columns[i]!);
    if (!sql) return undefined;
    selects.push(`${sql} AS ${quote(column.name)}`);
  }
  if (!selects.length) return undefined;
  if (file.format.kind !== 'csv') return undefined;
  return `SELECT ${selects.join(', ')} FROM ${readCsv(file, file.format)}`;
}

/**
 * SQL reading Parquet column `name` (declared as `column`) as the Parquet format converts it
 * into `type`: only into its own canonical type, in DuckDB's equal type; nanosecond timestamps
 * floored to microseconds as the format floors them. Undefined for any other pairing.
 */
function parquetColumnSql(name: string, column: SourceColumn, type: ColumnType): string | undefined {
  if (type !== column.type) return undefined;
  const nanos = /^TIMESTAMP\(NANOS,/.test(column.sourceType ?? '');
  const micros = `(epoch_ns(${name}) - ((epoch_ns(${name}) % 1000) + 1000) % 1000) // 1000`;
  switch (type) {
    case 'TIMESTAMP':
      return nanos ? `make_timestamptz(${micros})` : `CAST(${name} AS TIMESTAMPTZ)`;
    case 'DATETIME':
      return nanos ? `make_timestamp(${micros})` : `CAST(${name} AS TIMESTAMP)`;
    case 'BIGNUMERIC':
      // DuckDB writes a decimal with every digit of its scale, as the format does.
      return `CAST(${name} AS VARCHAR)`;
    case 'GEOGRAPHY':
      return undefined;
    default:
      return `CAST(${name} AS ${DUCKDB_TYPES[type]})`;
  }
}

/** The query reading a Parquet file into `targets`, or undefined when a column pairs otherwise. */
function parquetQuery(file: NativeFile, targets: readonly (Column | undefined)[]): string | undefined {
  const selects: string[] = [];
  for (const [i, target] of targets.entries()) {
    if (!target) continue;
    const sql = parquetColumnSql(quote(file.columns[i]!.name), file.columns[i]!, target.type);
    if (!sql) return undefined;
    selects.push(`${sql} AS ${quote(target.name)}`);
  }
  if (!selects.length) return undefined;
  return `SELECT ${selects.join(', ')} FROM read_parquet(${literal(file.path)}, binary_as_string = false)`;
}
