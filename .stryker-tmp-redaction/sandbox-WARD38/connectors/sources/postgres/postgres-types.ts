/**
 * PostgreSQL types → canonical types, and their decoders: from binary COPY output (unit reads)
 * and from text output (small queries), under the session settings the source sets: TimeZone
 * UTC, DateStyle ISO, IntervalStyle iso_8601, bytea_output hex. Only types whose binary form is
 * cheap and exact are read in binary; every other column is selected as `::text`, so both paths
 * give the same canonical value.
 */
// @ts-nocheck

import { daysFromCivil, normalizeTime, parseTimestamp } from '../../../src/core/time.js';
import type { ColumnType } from '../../../src/core/types.js';
import type { SqlColumn } from '../sql/sql-dialect.js';
import { decimalType } from '../sql/sql-types.js';

/** Decodes one non-NULL value of PostgreSQL text output into its canonical representation. */
export type TextDecoder = (text: string) => unknown;

/** Decodes one non-NULL value of binary COPY output, `buffer[start, end)`. */
export type BinaryDecoder = (buffer: Buffer, start: number, end: number) => unknown;

/** A PostgreSQL column with its decoders. */
export interface PgColumn extends SqlColumn {
  readonly decode: TextDecoder;
  readonly binary: BinaryDecoder;
}

/** The catalog facts of a (domain-resolved) type. */
export interface PgType {
  /** `typname` of the base type, e.g. `int8`, `_text`, `timestamptz`. */
  readonly name: string;
  /** `typtype`: b base, c composite, e enum, r range, m multirange, p pseudo. */
  readonly kind: string;
  /** `typcategory`: A for arrays. */
  readonly category: string;
  /** Type modifier (precision/scale of numeric), -1 when none. */
  readonly typmod: number;
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const TIMESTAMP_WALL = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.(\d{1,6}))?$/;
const FRACTION_PAD = ['.000000', '00000', '0000', '000', '00', '0', ''];

const asIs: TextDecoder = (text) => text;
const int: TextDecoder = (text) => Number(text);

/** int8: a number while exact, a bigint beyond 2^53. */
export const decodeInt8: TextDecoder = (text) => {
  if (text.length < 16) return Number(text);
  const big = BigInt(text);
  return big <= MAX_SAFE && big >= -MAX_SAFE ? Number(big) : big;
};

/** float4/float8, including NaN and ±Infinity (Number() reads PostgreSQL's spelling). */
const float: TextDecoder = (text) => Number(text);

const bool: TextDecoder = (text) => text === 't';


const digit = (text: string, at: number) => text.charCodeAt(at) - 48;

/**
 * timestamptz printed in UTC (`2024-01-01 10:00:00.123456+00`) → bigint microseconds, read
 * with plain arithmetic because it runs for every value; infinity and BC dates stay text (and
 * fail conversion).
 */
export const decodeTimestamptz: TextDecoder = (text) => {
  const end = text.length - 3;
  if (end >= 19 && text.charCodeAt(4) === 45 && text.charCodeAt(10) === 32 && text.charCodeAt(end) === 43 && text.charCodeAt(end + 1) === 48 && text.charCodeAt(end + 2) === 48) {
    const year = digit(text, 0) * 1000 + digit(text, 1) * 100 + digit(text, 2) * 10 + digit(text, 3);
    const days = daysFromCivil(year, digit(text, 5) * 10 + digit(text, 6), digit(text, 8) * 10 + digit(text, 9));
    const seconds = days * 86400 + (digit(text, 11) * 10 + digit(text, 12)) * 3600 + (digit(text, 14) * 10 + digit(text, 15)) * 60 + digit(text, 17) * 10 + digit(text, 18);
    let fraction = 0;
    if (end > 20 && text.charCodeAt(19) === 46) {
      let scale = 100_000;
      for (let i = 20; i < end; i++, scale /= 10) fraction += digit(text, i) * scale;
    }
    const micros = seconds * 1_000_000 + fraction;
    if (Number.isSafeInteger(micros)) return BigInt(micros);
    return BigInt(seconds) * 1_000_000n + BigInt(fraction);
  }
  return parseTimestamp(text) ?? text;
};

/** timestamp (without time zone) → DATETIME text with six fraction digits. */
export const decodeTimestamp: TextDecoder = (text) => {
  const m = TIMESTAMP_WALL.exec(text);
  if (!m) return text;
  return text + FRACTION_PAD[m[1] ? m[1].length : 0];
};

const time: TextDecoder = (text) => normalizeTime(text) ?? text;

const bytea: TextDecoder = (text) => (text.startsWith('\\x') ? Buffer.from(text.slice(2), 'hex') : text);

/** Precision and scale from a numeric type modifier. */
function numericPrecision(typmod: number): { precision?: number; scale?: number } {
  if (typmod < 4) return {};
  const packed = typmod - 4;
  return { precision: (packed >> 16) & 0xffff, scale: packed & 0xffff };
}

const TWO_32 = 4_294_967_296;
/** Microseconds from 1970-01-01 to PostgreSQL's epoch 2000-01-01. */
const PG_EPOCH_MICROS = 946_684_800_000_000;

const binaryInt2: BinaryDecoder = (b, start) => b.readInt16BE(start);
const binaryInt4: BinaryDecoder = (b, start) => b.readInt32BE(start);
const binaryOid: BinaryDecoder = (b, start) => b.readUInt32BE(start);
const binaryInt8: BinaryDecoder = (b, start) => {
  const value = b.readInt32BE(start) * TWO_32 + b.readUInt32BE(start + 4);
  return Number.isSafeInteger(value) ? value : b.readBigInt64BE(start);
};
const binaryFloat8: BinaryDecoder = (b, start) => b.readDoubleBE(start);
const binaryBool: BinaryDecoder = (b, start) => b[start] === 1;
const binaryBytes: BinaryDecoder = (b, start, end) => Buffer.from(b.subarray(start, end));
/** timestamptz: int64 microseconds since 2000-01-01 UTC; ±infinity are the int64 extremes. */
const binaryTimestamptz: BinaryDecoder = (b, start) => {
  const value = b.readInt32BE(start) * TWO_32 + b.readUInt32BE(start + 4) + PG_EPOCH_MICROS;
  if (Number.isSafeInteger(value)) return BigInt(value);
  const raw = b.readBigInt64BE(start);
  if (raw === 9223372036854775807n) return 'infinity';
  if (raw === -9223372036854775808n) return '-infinity';
  return raw + BigInt(PG_EPOCH_MICROS);
};
/** A value selected as text: UTF-8 bytes, then the text decoder. */
function viaText(decode: TextDecoder): BinaryDecoder {
  return decode === asIs ? (b, start, end) => b.toString('utf8', start, end) : (b, start, end) => decode(b.toString('utf8', start, end));
}

/**
 * Maps a column. Arrays and composite values are selected as `to_json(…)` text (JSON when the
 * job asks `nested: json`, else STRING); money is selected as numeric.
 */
export function pgColumn(
  name: string,
  type: PgType,
  options: { sourceType: string; nullable: boolean; ref: string; nested: 'string' | 'json' },
): PgColumn {
  const ref = options.ref;
  const base = { name, nullable: options.nullable, sourceType: options.sourceType };
  const native = (canonical: ColumnType, decode: TextDecoder, binary: BinaryDecoder): PgColumn => ({ ...base, type: canonical, decode, binary, select: ref });
  const asText = (canonical: ColumnType, decode: TextDecoder, select = `${ref}::text`): PgColumn => ({
    ...base,
    type: canonical,
    decode,
    binary: viaText(decode),
    select,
  });
  if (type.category === 'A' || type.kind === 'c') return asText(options.nested === 'json' ? 'JSON' : 'STRING', asIs, `to_json(${ref})::text`);
  switch (type.name) {
    case 'int2':
      return native('INT64', int, binaryInt2);
    case 'int4':
      return native('INT64', int, binaryInt4);
    case 'oid':
      return native('INT64', int, binaryOid);
    case 'int8':
      return native('INT64', decodeInt8, binaryInt8);
    case 'numeric': {
      const { precision, scale } = numericPrecision(type.typmod);
      return asText(decimalType(precision, scale), asIs);
    }
    case 'money':
      return asText('NUMERIC', asIs, `${ref}::numeric::text`);
    case 'float4':
      // As text: the shortest digits that identify the float4 (1.1, not 1.100000023841858).
      return asText('FLOAT64', float);
    case 'float8':
      return native('FLOAT64', float, binaryFloat8);
    case 'bool':
      return native('BOOL', bool, binaryBool);
    case 'date':
      return asText('DATE', asIs);
    case 'timestamp':
      return asText('DATETIME', decodeTimestamp);
    case 'timestamptz':
      return native('TIMESTAMP', decodeTimestamptz, binaryTimestamptz);
    case 'time':
      return asText('TIME', time);
    case 'bytea':
      return native('BYTES', bytea, binaryBytes);
    case 'json':
      return native('JSON', asIs, viaText(asIs));
    case 'jsonb':
      return asText('JSON', asIs);
    case 'text':
    case 'varchar':
    case 'bpchar':
    case 'name':
      return native('STRING', asIs, viaText(asIs));
    default:
      // uuid, enum, inet, cidr, interval (ISO 8601), timetz, ranges, xml, bit, citext…
      return asText('STRING', asIs);
  }
}
