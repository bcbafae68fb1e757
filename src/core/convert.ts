/**
 * The one convert stage every source and destination share: raw values → canonical {@link Value}s
 * of the destination column's type. A value that cannot convert throws; it is never nulled or
 * mangled silently.
 */
import { fitsInt64, isCodeNumeral, pointDecimal } from './infer.js';
import {
  canonicalMicros,
  dateToMicros,
  formatDate,
  formatDatetime,
  formatTimestamp,
  isIsoDate,
  normalizeTime,
  parseTimestamp,
  readSpelledDate,
  spelledMicros,
} from './time.js';
import type { ColumnType, TextSpelling, TimeRange, Value } from './types.js';

/** Why one value could not convert (caught per row and turned into a bad record). */
export class ConversionFailure {
  constructor(readonly reason: string) {}
}

/** Converts one raw value; throws {@link ConversionFailure}. */
export type ValueConverter = (raw: unknown) => Value;

const INTEGER_TEXT = /^[+-]?\d+$/;
const DECIMAL_TEXT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
/** Text read as a BOOL, compared in lower case after trimming. */
export const BOOL_TEXT = { true: ['true', 't', 'yes', 'y', '1'], false: ['false', 'f', 'no', 'n', '0'] } as const;
const TRUE_TEXT = new Set<string>(BOOL_TEXT.true);
const FALSE_TEXT = new Set<string>(BOOL_TEXT.false);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

function fail(reason: string): never {
  throw new ConversionFailure(reason);
}

function show(raw: unknown): string {
  const text = typeof raw === 'string' ? JSON.stringify(raw) : typeof raw === 'bigint' ? `${raw}` : safeJson(raw);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** JSON.stringify that also handles bigint, Date, bytes and Map, for nested values. */
export function safeJson(value: unknown): string {
  return (
    JSON.stringify(value, (_key, v: unknown) => {
      if (typeof v === 'bigint') return fitsSafe(v) ? Number(v) : v.toString();
      if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
      if (v instanceof Map) return Object.fromEntries(v);
      return v;
    }) ?? 'null'
  );
}

function fitsSafe(value: bigint): boolean {
  return value <= MAX_SAFE && value >= -MAX_SAFE;
}

/** Normalizes an integer to number when exact, bigint otherwise. */
function integer(value: bigint): number | bigint {
  if (!fitsInt64(value)) fail(`${value} is outside the INT64 range; load it as NUMERIC`);
  return fitsSafe(value) ? Number(value) : value;
}

/** Expands exponent notation to plain decimal text exactly, and drops a leading `+`. */
export function plainDecimal(text: string): string {
  let t = text.trim();
  if (t.startsWith('+')) t = t.slice(1);
  const e = t.search(/[eE]/);
  if (e < 0) return t;
  const negative = t.startsWith('-');
  const mantissa = t.slice(negative ? 1 : 0, e);
  const exponent = Number(t.slice(e + 1));
  const [whole, fraction = ''] = mantissa.split('.');
  const digits = whole + fraction;
  const point = whole.length + exponent;
  let out: string;
  if (point <= 0) out = `0.${'0'.repeat(-point)}${digits}`;
  else if (point >= digits.length) out = digits + '0'.repeat(point - digits.length);
  else out = `${digits.slice(0, point)}.${digits.slice(point)}`;
  out = out.replace(/^0+(?=\d)/, '');
  if (out.includes('.')) out = out.replace(/0+$/, '').replace(/\.$/, '');
  return (negative ? '-' : '') + out;
}

function toStringValue(raw: unknown, from?: ColumnType): string {
  switch (typeof raw) {
    case 'string':
      return raw;
    case 'bigint':
      return from === 'TIMESTAMP' ? formatTimestamp(raw) : raw.toString();
    case 'number':
    case 'boolean':
      return String(raw);
    default:
      if (raw instanceof Date) return raw.toISOString();
      if (raw instanceof Uint8Array) return Buffer.from(raw).toString('base64');
      return safeJson(raw);
  }
}

/**
 * Fails on a numeral whose characters a number would lose: a code. A leading zero always makes
 * one (`07030`); a plus sign only on an integer whose column was inferred (`+4915123`), since
 * such a column may still become text for it. Under a decimal or a declared type a plus sign is
 * a sign, as DuckDB's and BigQuery's casts read it (`+0.10` is 0.1).
 */
function refuseCode(text: string, raw: string, plusIsCode: boolean): void {
  if (!plusIsCode && text.charCodeAt(0) === 43) text = text.slice(1);
  if (isCodeNumeral(text)) fail(`${show(raw)} is a code, not a number: as a number it would lose its ${text.startsWith('+') ? 'plus sign' : 'leading zeros'}`);
}

/** INT64 from a value; `plusIsCode`: a plus-signed integer is a code (see {@link refuseCode}). */
function toInt64(raw: unknown, plusIsCode = true): number | bigint {
  switch (typeof raw) {
    case 'number':
      if (Number.isInteger(raw)) return raw;
      return fail(`${raw} is not an integer`);
    case 'bigint':
      return integer(raw);
    case 'string': {
      const text = raw.trim();
      refuseCode(text, raw, plusIsCode);
      if (INTEGER_TEXT.test(text)) return text.length < 16 ? Number(text) : integer(BigInt(text));
      if (/^[+-]?\d+\.0*$/.test(text)) return integer(BigInt(text.split('.')[0]));
      return fail(`${show(raw)} is not an integer`);
    }
    case 'boolean':
      return raw ? 1 : 0;
    default:
      return fail(`${show(raw)} is not an integer`);
  }
}

function toFloat64(raw: unknown): number {
  switch (typeof raw) {
    case 'number':
      return raw;
    case 'bigint': {
      const value = Number(raw);
      if (BigInt(value) !== raw) fail(`${raw} cannot be a FLOAT64 without losing precision; load the column as NUMERIC or STRING`);
      return value;
    }
    case 'string': {
      const text = raw.trim();
      refuseCode(text, raw, false);
      if (DECIMAL_TEXT.test(text)) return Number(text);
      const lower = text.toLowerCase();
      if (lower === 'nan') return Number.NaN;
      if (lower === 'inf' || lower === 'infinity' || lower === '+inf' || lower === '+infinity') return Number.POSITIVE_INFINITY;
      if (lower === '-inf' || lower === '-infinity') return Number.NEGATIVE_INFINITY;
      return fail(`${show(raw)} is not a number`);
    }
    default:
      return fail(`${show(raw)} is not a number`);
  }
}

/** Largest integer digits and scale of each decimal type (BigQuery's NUMERIC and BIGNUMERIC). */
const DECIMAL_LIMITS = { NUMERIC: { whole: 29, scale: 9 }, BIGNUMERIC: { whole: 38, scale: 38 } };

/** Checks that exact decimal text fits the type without rounding. */
function fitDecimal(text: string, type: 'NUMERIC' | 'BIGNUMERIC'): string {
  const [whole, fraction = ''] = text.replace(/^-/, '').split('.');
  const scale = fraction.replace(/0+$/, '').length;
  const limits = DECIMAL_LIMITS[type];
  if (whole.replace(/^0+/, '').length > limits.whole || scale > limits.scale) {
    fail(`${text} does not fit ${type} (${limits.whole} integer digits, ${limits.scale} decimals) without rounding${type === 'NUMERIC' ? '; the column needs BIGNUMERIC' : '; load it as STRING'}`);
  }
  return text;
}

function toDecimal(raw: unknown, type: 'NUMERIC' | 'BIGNUMERIC'): string {
  return typeof raw === 'string' && raw.trim().toLowerCase() === 'nan' ? 'NaN' : fitDecimal(decimalText(raw, type), type);
}

function decimalText(raw: unknown, type: 'NUMERIC' | 'BIGNUMERIC'): string {
  switch (typeof raw) {
    case 'string': {
      const text = raw.trim();
      refuseCode(text, raw, false);
      if (DECIMAL_TEXT.test(text)) return plainDecimal(text);
      return fail(`${show(raw)} is not a decimal number`);
    }
    case 'number':
      if (!Number.isFinite(raw)) return fail(`${raw} has no ${type} representation`);
      return plainDecimal(String(raw));
    case 'bigint':
      return raw.toString();
    default:
      return fail(`${show(raw)} is not a decimal number`);
  }
}

function toBool(raw: unknown): boolean {
  if (typeof raw === 'boolean') return raw;
  if (typeof raw === 'number' && (raw === 0 || raw === 1)) return raw === 1;
  if (typeof raw === 'bigint' && (raw === 0n || raw === 1n)) return raw === 1n;
  if (typeof raw === 'string') {
    const lower = raw.trim().toLowerCase();
    if (TRUE_TEXT.has(lower)) return true;
    if (FALSE_TEXT.has(lower)) return false;
  }
  return fail(`${show(raw)} is not a boolean (true/false)`);
}

function toTimestamp(raw: unknown, dateFormat?: string): bigint {
  if (typeof raw === 'bigint') return raw;
  if (raw instanceof Date) {
    if (Number.isNaN(raw.getTime())) fail('invalid date');
    return dateToMicros(raw);
  }
  if (typeof raw === 'string') {
    const micros = parseTimestamp(raw);
    if (micros !== undefined) return micros;
    // A date spelled another way has no zone: like ISO text without one, it is read as UTC.
    const spelled = readSpelledDate(raw.trim(), dateFormat);
    if (spelled) return spelledMicros(spelled);
  }
  return fail(`${show(raw)} is not a timestamp (expected ISO 8601, e.g. 2024-03-01T10:00:00Z)`);
}

/** `YYYY-MM-DD HH:MM:SS.ffffff` by its shape: what sources give for their own DATETIME columns. */
function isCanonicalDatetime(text: string): boolean {
  return text.length === 26 && text.charCodeAt(4) === 45 && text.charCodeAt(10) === 32 && text.charCodeAt(13) === 58 && text.charCodeAt(19) === 46;
}

function toDatetime(raw: unknown, from?: ColumnType, dateFormat?: string): string {
  if (typeof raw === 'string') {
    if (from === 'DATETIME' && isCanonicalDatetime(raw)) return raw;
    const micros = parseTimestamp(raw);
    if (micros !== undefined) return formatDatetime(micros);
    const spelled = readSpelledDate(raw.trim(), dateFormat);
    if (spelled) return `${spelled.date} ${spelled.time ?? '00:00:00.000000'}`;
  }
  if (typeof raw === 'bigint' && from !== 'INT64') return formatDatetime(raw);
  if (raw instanceof Date) return formatDatetime(dateToMicros(raw));
  return fail(`${show(raw)} is not a date-time (expected YYYY-MM-DD HH:MM:SS${dateFormat ? ` or ${dateFormat} HH:MM:SS` : ''})`);
}

function toDate(raw: unknown, from?: ColumnType, dateFormat?: string): string {
  if (typeof raw === 'string') {
    const text = raw.length === 10 ? raw : raw.trim();
    if (isIsoDate(text)) return text;
    const spelled = readSpelledDate(text, dateFormat);
    if (spelled && !spelled.time) return spelled.date;
  }
  if (raw instanceof Date) return formatDate(dateToMicros(raw));
  if (typeof raw === 'bigint' && from === 'TIMESTAMP') return formatDate(raw);
  return fail(`${show(raw)} is not a date (expected YYYY-MM-DD${dateFormat ? ` or ${dateFormat}` : ''})`);
}

function toTime(raw: unknown): string {
  if (typeof raw === 'string') {
    const time = normalizeTime(raw);
    if (time) return time;
  }
  return fail(`${show(raw)} is not a time of day (expected HH:MM:SS)`);
}

function toBytes(raw: unknown): Uint8Array {
  if (raw instanceof Uint8Array) return raw;
  if (typeof raw === 'string') {
    const text = raw.trim();
    if (/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(text)) return Buffer.from(text, 'base64');
    if (/^\\x[0-9a-fA-F]*$/.test(text)) return Buffer.from(text.slice(2), 'hex');
  }
  return fail(`${show(raw)} is not bytes (expected base64 text)`);
}

function toJson(raw: unknown): string {
  if (typeof raw === 'string') {
    try {
      JSON.parse(raw);
      return raw;
    } catch {
      return fail(`${show(raw)} is not valid JSON text`);
    }
  }
  return safeJson(raw);
}

/** Well-known text (`POINT (1 2)`, `MULTIPOLYGON EMPTY`) or GeoJSON text, by their opening. */
const GEOGRAPHY_TEXT = /^\s*(?:(?:SRID=\d+;\s*)?(?:POINT|LINESTRING|POLYGON|MULTIPOINT|MULTILINESTRING|MULTIPOLYGON|GEOMETRYCOLLECTION)\b|\{)/i;

function toGeography(raw: unknown): string {
  if (typeof raw === 'string' && GEOGRAPHY_TEXT.test(raw)) return raw;
  if (raw !== null && typeof raw === 'object' && !(raw instanceof Uint8Array) && 'type' in raw) return safeJson(raw);
  return fail(`${show(raw)} is not a geography (expected well-known text such as POINT (1 2), or GeoJSON)`);
}

/** The zero value of a type, used by `load.fill_required_defaults`. */
export function defaultValue(type: ColumnType): Value {
  switch (type) {
    case 'INT64':
    case 'FLOAT64':
      return 0;
    case 'NUMERIC':
    case 'BIGNUMERIC':
      return '0';
    case 'BOOL':
      return false;
    case 'TIMESTAMP':
      return 0n;
    case 'DATETIME':
      return '1970-01-01 00:00:00.000000';
    case 'DATE':
      return '1970-01-01';
    case 'TIME':
      return '00:00:00.000000';
    case 'BYTES':
      return new Uint8Array();
    case 'JSON':
      return 'null';
    case 'GEOGRAPHY':
      return 'GEOMETRYCOLLECTION EMPTY';
    default:
      return '';
  }
}

export interface ConverterOptions extends TextSpelling {
  /** Type the source reported, to read ambiguous raw values right (a bigint TIMESTAMP). */
  readonly from?: ColumnType;
  /** The destination column is REQUIRED. */
  readonly required?: boolean;
  /** Fill a missing REQUIRED value with the type's default instead of failing. */
  readonly fillRequired?: boolean;
  /** `from` was inferred from a sample: values are checked, never taken as already exact. */
  readonly inferred?: boolean;
  /** The instants the destination holds: a TIMESTAMP, DATETIME or DATE outside fails. */
  readonly range?: TimeRange;
}

/** Whether canonical DATE or DATETIME text has a year from 0001 to 9999: inside every destination's range. */
function plainYear(text: string): boolean {
  const c = text.charCodeAt(4);
  return c === 45 && text.charCodeAt(0) !== 45 && !text.startsWith('0000');
}

/** Wraps a TIMESTAMP, DATETIME or DATE converter so that a value outside `range` fails, naming it. */
function withinRange(type: ColumnType, convert: (raw: unknown) => Value, range: TimeRange): (raw: unknown) => Value {
  const outside = (shown: string): never => fail(`${shown} is outside ${range.name}`);
  if (type === 'TIMESTAMP') {
    return (raw) => {
      const micros = convert(raw) as bigint;
      if (micros < range.min || micros > range.max) outside(formatTimestamp(micros));
      return micros;
    };
  }
  const yearsFit = range.min <= canonicalMicros('0001-01-01')! && range.max >= canonicalMicros('9999-12-31 23:59:59.999999')!;
  return (raw) => {
    const text = convert(raw) as string;
    if (yearsFit && plainYear(text)) return text;
    const micros = canonicalMicros(text);
    if (micros !== undefined && (micros < range.min || micros > range.max)) outside(text);
    return text;
  };
}

/** Wraps a numeric converter so that text is read with a decimal comma (`1,50`), and a point in it fails. */
function withDecimalComma(convert: (raw: unknown) => Value): (raw: unknown) => Value {
  return (raw) => {
    if (typeof raw !== 'string') return convert(raw);
    const numeral = pointDecimal(raw);
    if (numeral === undefined) fail(`${show(raw)} has a decimal point, where source.csv.decimal is ","`);
    try {
      return convert(numeral);
    } catch (error) {
      // Name the value as the file writes it, quoted or trimmed as the message has it.
      if (error instanceof ConversionFailure) fail(error.reason.replace(show(numeral), show(raw)).replace(numeral.trim(), raw.trim()));
      throw error;
    }
  };
}

/** The converter of raw values into `type`. */
export function converterFor(type: ColumnType, options: ConverterOptions = {}): ValueConverter {
  const { from, dateFormat } = options;
  const trusted = !options.inferred;
  const convert = ((): ((raw: unknown) => Value) => {
    switch (type) {
      case 'STRING':
        return (raw) => toStringValue(raw, from);
      case 'INT64':
        return trusted ? (raw) => toInt64(raw, false) : toInt64;
      case 'FLOAT64':
        return toFloat64;
      case 'NUMERIC':
      case 'BIGNUMERIC':
        // Exact text from a column of the same decimal type already fits it (the source mapped its precision).
        if (from === type && trusted) return (raw) => (typeof raw === 'string' ? raw : toDecimal(raw, type));
        return (raw) => toDecimal(raw, type);
      case 'BOOL':
        return toBool;
      case 'TIMESTAMP':
        return (raw) => toTimestamp(raw, dateFormat);
      case 'DATETIME':
        return (raw) => toDatetime(raw, from, dateFormat);
      case 'DATE':
        return (raw) => toDate(raw, from, dateFormat);
      case 'TIME':
        return toTime;
      case 'BYTES':
        return toBytes;
      case 'GEOGRAPHY':
        return toGeography;
      case 'JSON':
        // JSON text from a JSON-typed source column (jsonb, a JSON file's nested value) is valid.
        return from === 'JSON' && trusted ? (raw) => (typeof raw === 'string' ? raw : safeJson(raw)) : toJson;
    }
  })();
  const range = options.range;
  const numeric = type === 'INT64' || type === 'FLOAT64' || type === 'NUMERIC' || type === 'BIGNUMERIC';
  const spelled = options.decimalComma && numeric ? withDecimalComma(convert) : convert;
  const checked = range && (type === 'TIMESTAMP' || type === 'DATETIME' || type === 'DATE') ? withinRange(type, spelled, range) : spelled;
  // Empty text is a value only for text; for every other type (JSON text included) it is missing.
  const emptyIsNull = type !== 'STRING';
  const fallback = options.required ? (options.fillRequired ? defaultValue(type) : undefined) : null;
  const missing = (): Value => {
    if (fallback === undefined) fail('is REQUIRED in the destination but has no value; set load.fill_required_defaults: true to fill defaults');
    return fallback;
  };
  return (raw) => {
    if (raw === null || raw === undefined) return missing();
    if (emptyIsNull && raw === '') return missing();
    return checked(raw);
  };
}
