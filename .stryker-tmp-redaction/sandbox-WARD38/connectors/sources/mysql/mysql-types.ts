/**
 * MySQL / MariaDB types → canonical types, from the catalog (tables) or from result metadata
 * (queries), and the fix-ups that turn mysql2's values (read with big numbers and dates as
 * strings) into the canonical representation.
 */
// @ts-nocheck

import { normalizeTime, parseTimestamp } from '../../../src/core/time.js';
import type { ColumnType } from '../../../src/core/types.js';
import type { SqlColumn } from '../sql/sql-dialect.js';
import { decimalType } from '../sql/sql-types.js';

/** A MySQL column: `fix`, when present, turns mysql2's value into the canonical one. */
export interface MyColumn extends SqlColumn {
  readonly fix?: (value: unknown) => unknown;
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const FRACTION_PAD = ['.000000', '00000', '0000', '000', '00', '0', ''];

/** A date with a zero year, month or day (`0000-00-00`, `2024-00-10`): MySQL's "no date", read as NULL. */
function isZeroDate(text: string): boolean {
  return text.startsWith('0000') || text.slice(4, 10).includes('-00');
}

/** mysql2 gives a string for a BIGINT beyond 2^53. */
const int64 = (value: unknown) => (typeof value === 'string' ? toInteger(BigInt(value)) : value);
const unsigned64 = (value: unknown) => String(value);
const bool = (value: unknown) => (value === 1 ? true : value === 0 ? false : value);
const bit1 = (value: unknown) => (value instanceof Uint8Array ? value[0] === 1 : value);
const bits = (value: unknown) => (value instanceof Uint8Array ? toInteger(BigInt(`0x${Buffer.from(value).toString('hex') || '0'}`)) : value);
const date = (value: unknown) => (typeof value === 'string' && isZeroDate(value) ? null : value);
const datetime = (value: unknown) => {
  if (typeof value !== 'string') return value;
  if (isZeroDate(value)) return null;
  const dot = value.indexOf('.');
  return value + FRACTION_PAD[dot < 0 ? 0 : value.length - dot - 1];
};
/** TIMESTAMP as printed in the session time zone, which the source sets to UTC. */
const timestamp = (value: unknown) => {
  if (typeof value !== 'string') return value;
  if (isZeroDate(value)) return null;
  return parseTimestamp(value) ?? value;
};
/** TIME is a duration in MySQL (-838:59:59…838:59:59): only times of day normalize; others stay text. */
const time = (value: unknown) => (typeof value === 'string' ? (normalizeTime(value) ?? value) : value);

function toInteger(value: bigint): number | bigint {
  return value <= MAX_SAFE && value >= -MAX_SAFE ? Number(value) : value;
}

function column(name: string, type: ColumnType, nullable: boolean, sourceType: string, ref: string, fix?: (v: unknown) => unknown): MyColumn {
  return fix ? { name, type, nullable, sourceType, select: ref, fix } : { name, type, nullable, sourceType, select: ref };
}

/** A row of information_schema.COLUMNS. */
export interface CatalogColumn {
  readonly name: string;
  /** DATA_TYPE, lowercase (`tinyint`, `decimal`, `longtext`). */
  readonly dataType: string;
  /** COLUMN_TYPE (`tinyint(1)`, `bigint(20) unsigned`, `decimal(12,2)`). */
  readonly columnType: string;
  readonly nullable: boolean;
  readonly precision?: number;
  readonly scale?: number;
  /** MariaDB's JSON is LONGTEXT with a json_valid() check. */
  readonly json: boolean;
}

/** Maps a catalog column. */
export function catalogColumn(c: CatalogColumn, ref: string): MyColumn {
  const sourceType = c.json ? 'json' : c.columnType;
  const make = (type: ColumnType, fix?: (v: unknown) => unknown) => column(c.name, type, c.nullable, sourceType, ref, fix);
  const unsigned = /unsigned/i.test(c.columnType);
  if (c.json) return make('JSON');
  switch (c.dataType) {
    case 'tinyint':
      return /^tinyint\(1\)/i.test(c.columnType) ? make('BOOL', bool) : make('INT64');
    case 'smallint':
    case 'mediumint':
    case 'int':
    case 'integer':
    case 'year':
      return make('INT64');
    case 'bigint':
      return unsigned ? make('NUMERIC', unsigned64) : make('INT64', int64);
    case 'decimal':
    case 'numeric':
      return make(decimalType(c.precision, c.scale));
    case 'float':
    case 'double':
    case 'real':
      return make('FLOAT64');
    case 'date':
      return make('DATE', date);
    case 'datetime':
      return make('DATETIME', datetime);
    case 'timestamp':
      return make('TIMESTAMP', timestamp);
    case 'time':
      return make('TIME', time);
    case 'json':
      return make('JSON');
    case 'bit':
      return /^bit\(1\)/i.test(c.columnType) ? make('BOOL', bit1) : make('INT64', bits);
    case 'binary':
    case 'varbinary':
    case 'tinyblob':
    case 'blob':
    case 'mediumblob':
    case 'longblob':
    case 'geometry':
    case 'point':
    case 'linestring':
    case 'polygon':
    case 'multipoint':
    case 'multilinestring':
    case 'multipolygon':
    case 'geometrycollection':
      return make('BYTES');
    default:
      // char, varchar, *text, enum, set, uuid, inet4/6
      return make('STRING');
  }
}

/** Result-set metadata of one field, as mysql2 reports it. */
export interface ResultField {
  readonly name: string;
  readonly columnType?: number;
  readonly columnLength?: number;
  readonly flags: number | string[];
  readonly decimals: number;
  readonly characterSet?: number;
  readonly extendedFormat?: string;
  readonly typeName?: string;
}

const TYPE_NAMES: Record<number, string> = {
  0: 'decimal', 1: 'tinyint', 2: 'smallint', 3: 'int', 4: 'float', 5: 'double', 7: 'timestamp', 8: 'bigint', 9: 'mediumint',
  10: 'date', 11: 'time', 12: 'datetime', 13: 'year', 14: 'date', 15: 'varchar', 16: 'bit', 245: 'json', 246: 'decimal',
  247: 'enum', 248: 'set', 249: 'tinyblob', 250: 'mediumblob', 251: 'longblob', 252: 'blob', 253: 'varchar', 254: 'char', 255: 'geometry',
};
const NUMERIC_TYPES = new Set([0, 1, 2, 3, 4, 5, 8, 9, 246]);
const NOT_NULL = 1;
const UNSIGNED = 32;
const BINARY_CHARSET = 63;

/** Maps a field of a query's result (`SELECT * FROM (<query>) AS q LIMIT 0`). */
export function resultColumn(f: ResultField, ref: string): MyColumn {
  const flags = typeof f.flags === 'number' ? f.flags : 0;
  const unsigned = (flags & UNSIGNED) !== 0;
  const nullable = (flags & NOT_NULL) === 0;
  const length = f.columnLength ?? 0;
  const name = f.typeName ?? TYPE_NAMES[f.columnType ?? -1] ?? `type ${f.columnType}`;
  const sourceType = `${name}${unsigned && NUMERIC_TYPES.has(f.columnType ?? -1) ? ' unsigned' : ''}`.toLowerCase();
  const make = (type: ColumnType, fix?: (v: unknown) => unknown) => column(f.name, type, nullable, sourceType, ref, fix);
  switch (f.columnType) {
    case 1:
      return length === 1 ? make('BOOL', bool) : make('INT64');
    case 2:
    case 3:
    case 9:
    case 13:
      return make('INT64');
    case 8:
      return unsigned ? make('NUMERIC', unsigned64) : make('INT64', int64);
    case 0:
    case 246: {
      const scale = f.decimals;
      const precision = length - (scale > 0 ? 1 : 0) - (unsigned ? 0 : 1);
      return make(decimalType(precision, scale));
    }
    case 4:
    case 5:
      return make('FLOAT64');
    case 7:
      return make('TIMESTAMP', timestamp);
    case 10:
    case 14:
      return make('DATE', date);
    case 11:
      return make('TIME', time);
    case 12:
      return make('DATETIME', datetime);
    case 16:
      return length === 1 ? make('BOOL', bit1) : make('INT64', bits);
    case 245:
      return make('JSON');
    case 255:
      return make('BYTES');
    default:
      if (f.extendedFormat === 'json') return make('JSON');
      return f.characterSet === BINARY_CHARSET ? make('BYTES') : make('STRING');
  }
}
