/**
 * Schema inference from sampled values: text (CSV) and JavaScript values (JSON, Firestore).
 * Types only ever widen as more values are seen; `undefined` means "no evidence yet".
 */
import { readSpelledDate } from './time.js';
import type { ColumnType, SourceColumn, TextSpelling } from './types.js';

const INTEGER = /^[+-]?\d+$/;
const DECIMAL = /^[+-]?(?:\d+\.\d*|\.\d+)$/;
const FLOAT = /^[+-]?(?:\d+\.?\d*|\.\d+)[eE][+-]?\d+$|^[+-]?(?:nan|inf|infinity)$/i;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?$/i;
const BOOLEAN = /^(?:true|false)$/i;
const INT64_DIGITS = 18; // every integer of up to 18 digits fits in INT64

/** A numeral whose integer part starts with a zero and goes on (`007`, `-0042`, `00.5`). */
const LEADING_ZERO = /^-?0\d/;

/**
 * Whether text is a numeral that a number would not keep: a leading zero (`07030`, `0042`, a
 * ZIP code, a FIPS county id, a product code) or an explicit plus sign (`+4915123`). Such values
 * are codes, read as STRING: as a number they would lose characters.
 */
export function isCodeNumeral(text: string): boolean {
  const first = text.charCodeAt(0);
  if (first === 43) return text.length > 1 && /^\+(?:\d|\.\d)/.test(text);
  return (first === 48 || first === 45) && LEADING_ZERO.test(text) && /^-?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?$/.test(text);
}

/** Significant digits of a decimal literal, and its scale. */
function digitsOf(text: string): { precision: number; scale: number } {
  const unsigned = text.replace(/^[+-]/, '');
  const [whole, fraction = ''] = unsigned.split('.');
  const precision = (whole.replace(/^0+/, '') + fraction).replace(/^0+/, '').length;
  return { precision, scale: fraction.length };
}

/**
 * A numeral written with a decimal comma as the plain one (`-1,50` → `-1.50`); undefined when it
 * holds a point, which a number of such a file never does (`1.500` may group thousands).
 */
export function pointDecimal(text: string): string | undefined {
  return text.includes('.') ? undefined : text.replace(',', '.');
}

/**
 * Type of one text value, as a CSV cell; undefined for an empty cell. `spelling` is how the file
 * writes dates besides ISO 8601 and `YYYY/MM/DD`, and whether its numbers have a decimal comma.
 */
export function inferTextType(text: string, spelling: TextSpelling = {}): ColumnType | undefined {
  if (text === '') return undefined;
  const first = text.charCodeAt(0);
  const maybeNumeric = (first >= 48 && first <= 57) || first === 45 || first === 43 || first === 46 || first === 44;
  if (maybeNumeric || first === 78 || first === 110 || first === 73 || first === 105) {
    const numeral = spelling.decimalComma ? pointDecimal(text) : text;
    const type = numeral === undefined ? undefined : numeralType(numeral);
    if (type) return type;
    if (DATE.test(text)) return validDate(text) ? 'DATE' : 'STRING';
    if (TIMESTAMP.test(text)) return validDate(text.slice(0, 10)) ? 'TIMESTAMP' : 'STRING';
    // Dates spelled another way carry no zone: a time of day with them is a wall clock.
    const spelled = first >= 48 && first <= 57 ? readSpelledDate(text, spelling.dateFormat) : undefined;
    if (spelled) return spelled.time ? 'DATETIME' : 'DATE';
  }
  if ((first === 116 || first === 84 || first === 102 || first === 70) && BOOLEAN.test(text)) return 'BOOL';
  return 'STRING';
}

/** The type of a plain numeral (STRING for a code), or undefined when the text is none. */
function numeralType(text: string): ColumnType | undefined {
  const first = text.charCodeAt(0);
  if ((first === 43 || first === 48 || first === 45) && isCodeNumeral(text)) return 'STRING';
  if (INTEGER.test(text)) {
    const digits = text.replace(/^[+-]?0*/, '').length;
    if (digits <= INT64_DIGITS) return 'INT64';
    if (digits === 19 && fitsInt64(BigInt(text))) return 'INT64';
    return digits <= 29 ? 'NUMERIC' : digits <= 38 ? 'BIGNUMERIC' : 'STRING';
  }
  if (DECIMAL.test(text)) {
    const { precision, scale } = digitsOf(text);
    if (precision <= 15) return 'FLOAT64';
    return precision - scale <= 29 && scale <= 9 ? 'NUMERIC' : 'BIGNUMERIC';
  }
  if (FLOAT.test(text)) return 'FLOAT64';
  return undefined;
}

/** The spelling options that are set, to spread into a column. */
export function textSpelling({ dateFormat, decimalComma }: TextSpelling): TextSpelling {
  return { ...(dateFormat ? { dateFormat } : {}), ...(decimalComma ? { decimalComma } : {}) };
}

/** Type of one JavaScript value (JSON, Parquet, Firestore); undefined for null/undefined. */
export function inferValueType(value: unknown, nested: 'string' | 'json' = 'string'): ColumnType | undefined {
  switch (typeof value) {
    case 'undefined':
      return undefined;
    case 'boolean':
      return 'BOOL';
    case 'number':
      return Number.isInteger(value) && Math.abs(value) <= Number.MAX_SAFE_INTEGER ? 'INT64' : 'FLOAT64';
    case 'bigint':
      return fitsInt64(value) ? 'INT64' : 'NUMERIC';
    case 'string':
      if (DATE.test(value) && validDate(value)) return 'DATE';
      if (TIMESTAMP.test(value) && validDate(value.slice(0, 10))) return 'TIMESTAMP';
      return 'STRING';
    case 'object':
      if (value === null) return undefined;
      if (value instanceof Date) return 'TIMESTAMP';
      if (value instanceof Uint8Array) return 'BYTES';
      return nested === 'json' ? 'JSON' : 'STRING';
    default:
      return 'STRING';
  }
}

function validDate(text: string): boolean {
  const month = Number(text.slice(5, 7));
  const day = Number(text.slice(8, 10));
  return month >= 1 && month <= 12 && day >= 1 && day <= 31;
}

/** Whether a bigint fits a signed 64-bit integer. */
export function fitsInt64(value: bigint): boolean {
  return value >= -(2n ** 63n) && value < 2n ** 63n;
}

const NUMERIC_RANK: Partial<Record<ColumnType, number>> = { INT64: 1, NUMERIC: 2, BIGNUMERIC: 3 };

/**
 * The narrowest type that holds values of both types: INT64 and FLOAT64 give FLOAT64, DATE and
 * TIMESTAMP give TIMESTAMP (DATE and DATETIME, DATETIME), integer and decimal kinds give the
 * wider decimal; anything else
 * falls back to STRING (JSON stays JSON with JSON).
 */
export function widenType(a: ColumnType | undefined, b: ColumnType | undefined): ColumnType | undefined {
  if (a === undefined || a === b) return b;
  if (b === undefined) return a;
  const ra = NUMERIC_RANK[a];
  const rb = NUMERIC_RANK[b];
  if (ra && rb) return ra > rb ? a : b;
  const pair = new Set([a, b]);
  if (pair.has('FLOAT64') && (pair.has('INT64') || pair.has('NUMERIC') || pair.has('BIGNUMERIC'))) {
    return pair.has('INT64') ? 'FLOAT64' : pair.has('BIGNUMERIC') ? 'BIGNUMERIC' : 'NUMERIC';
  }
  if (pair.has('DATE') && pair.has('TIMESTAMP')) return 'TIMESTAMP';
  if (pair.has('DATE') && pair.has('DATETIME')) return 'DATETIME';
  return 'STRING';
}

/** Accumulates evidence about fields in sampled rows, keeping first-seen field order. */
export class SchemaSampler {
  private readonly types = new Map<string, ColumnType | undefined>();
  private seen = 0;

  /**
   * `text`: values are text cells (CSV), so "12" is an integer, dates spelled `dateFormat` and
   * numbers with a decimal comma too; otherwise values are typed (JSON, Parquet, Firestore) and
   * only strings that look like dates become dates.
   */
  constructor(private readonly options: { text?: boolean; nested?: 'string' | 'json' } & TextSpelling = {}) {}

  /** Notes a field that exists even if no row gave it a value yet (a CSV header). */
  declare(field: string, type?: ColumnType): void {
    if (!this.types.has(field)) this.types.set(field, type);
    else if (type) this.types.set(field, widenType(this.types.get(field), type));
  }

  /** Adds one row, positional along `fields`. */
  add(fields: readonly string[], row: readonly unknown[]): void {
    this.seen++;
    for (let i = 0; i < fields.length; i++) this.note(fields[i], this.typeOf(row[i]));
  }

  /** Adds one row given as a record. */
  addRecord(record: Record<string, unknown>): void {
    this.seen++;
    for (const field in record) this.note(field, this.typeOf(record[field]));
  }

  private typeOf(value: unknown): ColumnType | undefined {
    return this.options.text && typeof value === 'string' ? inferTextType(value, this.options) : inferValueType(value, this.options.nested);
  }

  private note(field: string, type: ColumnType | undefined): void {
    this.types.set(field, widenType(this.types.get(field), type));
  }

  /** Rows sampled so far. */
  get rows(): number {
    return this.seen;
  }

  /** The inferred columns; fields never seen with a value are STRING. */
  columns(): SourceColumn[] {
    const spelling = textSpelling(this.options);
    return [...this.types].map(([name, type]) =>
      type ? { name, type, nullable: true, inferred: true, ...spelling } : { name, type: 'STRING', nullable: true, inferred: true, unseen: true, ...spelling },
    );
  }
}
