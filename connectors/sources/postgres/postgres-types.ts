/**
 * PostgreSQL types → canonical types, and the decoders of their text output (COPY and simple
 * queries share them) under the session settings the source sets: TimeZone UTC, DateStyle
 * ISO, IntervalStyle iso_8601, bytea_output hex.
 */
import { normalizeTime, parseTimestamp } from '../../../src/core/time.js';
import type { ColumnType } from '../../../src/core/types.js';
import type { SqlColumn } from '../sql/sql-dialect.js';
import { decimalType } from '../sql/sql-types.js';

/** Decodes one non-NULL value of PostgreSQL text output into its canonical representation. */
export type TextDecoder = (text: string) => unknown;

/** A PostgreSQL column with its decoder. */
export interface PgColumn extends SqlColumn {
  readonly decode: TextDecoder;
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
const TIMESTAMPTZ_UTC = /^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?\+00$/;
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

/** timestamptz printed in UTC → bigint microseconds; infinity and BC dates stay text (and fail conversion). */
export const decodeTimestamptz: TextDecoder = (text) => {
  const m = TIMESTAMPTZ_UTC.exec(text);
  if (m && m[1] >= '1000') {
    const millis = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
    const fraction = m[7] ? Number((m[7] + '00000').slice(0, 6)) : 0;
    const micros = millis * 1000 + fraction;
    return Number.isSafeInteger(micros) ? BigInt(micros) : BigInt(millis) * 1000n + BigInt(fraction);
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

/**
 * Maps a column. Arrays and composite values are selected as `to_json(…)` text (JSON when the
 * job asks `nested: json`, else STRING); money is selected as numeric.
 */
export function pgColumn(
  name: string,
  type: PgType,
  options: { sourceType: string; nullable: boolean; ref: string; nested: 'string' | 'json' },
): PgColumn {
  const base = { name, nullable: options.nullable, sourceType: options.sourceType, select: options.ref };
  const make = (canonical: ColumnType, decode: TextDecoder, select = options.ref): PgColumn => ({ ...base, type: canonical, decode, select });
  if (type.category === 'A' || type.kind === 'c') {
    return make(options.nested === 'json' ? 'JSON' : 'STRING', asIs, `to_json(${options.ref})::text`);
  }
  switch (type.name) {
    case 'int2':
    case 'int4':
    case 'oid':
      return make('INT64', int);
    case 'int8':
      return make('INT64', decodeInt8);
    case 'numeric': {
      const { precision, scale } = numericPrecision(type.typmod);
      return make(decimalType(precision, scale), asIs);
    }
    case 'money':
      return make('NUMERIC', asIs, `${options.ref}::numeric`);
    case 'float4':
    case 'float8':
      return make('FLOAT64', float);
    case 'bool':
      return make('BOOL', bool);
    case 'date':
      return make('DATE', asIs);
    case 'timestamp':
      return make('DATETIME', decodeTimestamp);
    case 'timestamptz':
      return make('TIMESTAMP', decodeTimestamptz);
    case 'time':
      return make('TIME', time);
    case 'bytea':
      return make('BYTES', bytea);
    case 'json':
    case 'jsonb':
      return make('JSON', asIs);
    default:
      // text, varchar, char, uuid, enum, inet, cidr, interval (ISO 8601), timetz, ranges, xml, bit…
      return make('STRING', asIs);
  }
}
