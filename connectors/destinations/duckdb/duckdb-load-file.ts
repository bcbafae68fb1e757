/**
 * How a run's values are spelled in DuckDB load files and read back: CSV with a control
 * character for a quote (JSON and other text full of double quotes goes in as it is), `\N` for
 * NULL, integers digit by digit into the write buffer, 32-bit floats as their shortest
 * single-precision text, TIMESTAMP as microseconds and BYTES as base64; and the `read_csv` type
 * and SQL that turn each column back into its type.
 */
import { write, writeSync } from 'node:fs';
import type { Value } from '../../../src/core/connector.js';
import type { Column, ColumnType } from '../../../src/core/types.js';
import { DUCKDB_TYPES, numericFromText, quote } from './duckdb-types.js';

/** How a load file spells NULL. */
export const NULL = '\\N';
/** Distinct doubles per column whose text a load file's writer keeps. */
const FLOAT_TEXTS = 4096;

/** Spells one value as a load-file field. */
export type Encode = (value: Value) => string;

/** Whether a column is an array of integers {@link writeInteger} writes (32 bits and less, signed or not). */
export function isSmallIntegerArray(column: ArrayLike<unknown>): column is ArrayLike<number> {
  return column instanceof Int32Array || column instanceof Int16Array || column instanceof Int8Array || column instanceof Uint16Array || column instanceof Uint8Array;
}

/**
 * A column's values as text, by `encode`; undefined for a NULL and for a 32-bit integer (not
 * -0), which is written digit by digit instead.
 */
export function encodeColumn(column: ArrayLike<Value>, length: number, encode: Encode): (string | undefined)[] {
  const texts: (string | undefined)[] = new Array(length);
  for (let r = 0; r < length; r++) {
    const value = column[r];
    if (value === null || value === undefined || (typeof value === 'number' && (value | 0) === value && !Object.is(value, -0))) texts[r] = undefined;
    else texts[r] = encode(value);
  }
  return texts;
}

/** Writes a 32-bit integer's decimal digits at `at`; returns the end. */
export function writeInteger(buffer: Buffer, at: number, value: number): number {
  if (value < 0) {
    if (value === -2147483648) return at + buffer.write('-2147483648', at, 'latin1');
    buffer[at++] = 45;
    value = -value;
  }
  if (value < 10) {
    buffer[at] = 48 + value;
    return at + 1;
  }
  let digits = 1;
  for (let rest = value; rest >= 10; rest = (rest / 10) | 0) digits++;
  const end = at + digits;
  for (let i = end - 1; i >= at; i--) {
    buffer[i] = 48 + (value % 10);
    value = (value / 10) | 0;
  }
  return end;
}

/** Writes text at `at` as UTF-8 (short ASCII text byte by byte); returns the end. */
export function writeAscii(buffer: Buffer, at: number, text: string): number {
  const length = text.length;
  if (length > 32) return at + buffer.write(text, at);
  for (let i = 0; i < length; i++) {
    const code = text.charCodeAt(i);
    if (code > 127) return at + buffer.write(text, at);
    buffer[at + i] = code;
  }
  return at + length;
}

/**
 * The quote character of load files: a control character, so that text full of double quotes
 * (JSON above all) is wrapped as it is instead of having every quote doubled.
 */
export const QUOTE = '\x02';
const SPECIAL = /[,\n\r\x02]/;

/** A text field: quoted only when it holds a delimiter, quote or line break, is empty, or reads as NULL. */
function quoted(text: string): string {
  if (text !== '' && text !== NULL && !SPECIAL.test(text)) return text;
  return QUOTE + (text.includes(QUOTE) ? text.replaceAll(QUOTE, QUOTE + QUOTE) : text) + QUOTE;
}

/**
 * The shortest text a 32-bit float (held as the double it is) reads back from in single
 * precision: `13.9` rather than the double's `13.899999618530273`. A candidate is taken only when
 * values around it, far closer than two floats are apart, round to the float too: no reader
 * rounding correctly can then get another; 9 digits always do.
 */
export function float32Text(value: number): string {
  if (value === 0 || !Number.isFinite(value)) return Object.is(value, -0) ? '-0' : String(value);
  for (let digits = 6; digits <= 9; digits++) {
    const text = value.toPrecision(digits);
    const back = Number(text);
    const margin = Math.abs(back) * 2 ** -40;
    if (Math.fround(back) === value && Math.fround(back - margin) === value && Math.fround(back + margin) === value) return withoutTrailingZeros(text);
  }
  return value.toPrecision(9);
}

/** `13.9000` as `13.9`, `1.20000e+5` as `1.2e+5`: zeros after the point dropped, never the exponent's. */
function withoutTrailingZeros(text: string): string {
  const e = text.indexOf('e');
  const mantissa = e < 0 ? text : text.slice(0, e);
  if (!mantissa.includes('.')) return text;
  return mantissa.replace(/\.?0+$/, '') + (e < 0 ? '' : text.slice(e));
}

/**
 * The encoder of a FLOAT64 column whose numbers are spelled by `spell` (a double's shortest text,
 * or a 32-bit float's). Spelling a number costs far more than looking it up, and columns of
 * measurements repeat their values (times of day, prices): the texts of a column's first values
 * are kept.
 */
export function floatEncoder(spell: (value: number) => string): Encode {
  const texts = new Map<number, string>();
  return (value) => {
    if (typeof value !== 'number') return quoted(asText(value));
    // String(-0) is "0", and the map keys -0 as 0: keep the sign of a negative zero.
    if (Object.is(value, -0)) return '-0';
    let text = texts.get(value);
    if (text === undefined) {
      text = spell(value);
      if (texts.size < FLOAT_TEXTS) texts.set(value, text);
    }
    return text;
  };
}

/** Writes a buffer's first `length` bytes to a file, in the thread pool. */
export function writeFully(fd: number, buffer: Buffer, length: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const from = (offset: number) =>
      write(fd, buffer, offset, length - offset, null, (error, written) => {
        if (error) reject(error);
        else if (offset + written < length) from(offset + written);
        else resolve();
      });
    from(0);
  });
}

/** Writes text to a file, returning its bytes. */
export function writeText(fd: number, text: string): number {
  const bytes = Buffer.from(text);
  writeSync(fd, bytes);
  return bytes.length;
}

function asText(value: Value): string {
  if (typeof value === 'string') return value;
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  return String(value);
}

/** How a value of each type is written into a load file (TIMESTAMP as microseconds, BYTES as base64). */
export function encoderFor(type: ColumnType): Encode {
  switch (type) {
    case 'INT64':
    case 'TIMESTAMP':
      return (value) => (typeof value === 'number' || typeof value === 'bigint' ? String(value) : quoted(asText(value)));
    case 'FLOAT64':
      return floatEncoder(String);
    case 'BOOL':
      return (value) => (value ? 'true' : 'false');
    case 'BYTES':
      return (value) => quoted(asText(value));
    case 'DATE':
    case 'DATETIME':
    case 'TIME':
    case 'NUMERIC':
      // Canonical text (`2024-03-01`, `-12.50`): never a delimiter, quote, line break or `\N`.
      return (value) => (typeof value === 'string' && value !== '' ? value : quoted(asText(value)));
    default:
      return (value) => quoted(typeof value === 'string' ? value : asText(value));
  }
}

/** How DuckDB reads a column written as `type`: typed where its CSV reader parses our text directly. */
const READ_TYPES: Partial<Record<ColumnType, string>> = {
  INT64: 'BIGINT',
  FLOAT64: 'DOUBLE',
  BOOL: 'BOOLEAN',
  DATE: 'DATE',
  STRING: 'VARCHAR',
  TIMESTAMP: 'BIGINT',
};

/**
 * The read type of a column written as `written` that the run now holds as `column.type`;
 * `float32`: written as single-precision text (see {@link float32Text}), read as FLOAT.
 */
export function readType(written: Column, column: Column, float32: boolean): string {
  if (float32) return 'FLOAT';
  return written.type === column.type ? (READ_TYPES[column.type] ?? 'VARCHAR') : 'VARCHAR';
}

/** The SQL that turns a load-file column, read as {@link readType}, into the column's type. */
export function decodeSql(written: Column, column: Column, float32: boolean): string {
  const name = quote(column.name);
  // Every 32-bit float is a double: the one its text reads as in single precision.
  if (float32) return `CAST(CAST(${name} AS DOUBLE) AS ${DUCKDB_TYPES[column.type]})`;
  const typed = readType(written, column, false) !== 'VARCHAR';
  if (typed) return column.type === 'TIMESTAMP' ? `make_timestamptz(${name})` : name;
  switch (column.type) {
    case 'TIMESTAMP':
      return `make_timestamptz(CAST(${name} AS BIGINT))`;
    case 'BYTES':
      return `from_base64(${name})`;
    case 'NUMERIC':
      return numericFromText(name);
    default:
      return `CAST(${name} AS ${DUCKDB_TYPES[column.type]})`;
  }
}
