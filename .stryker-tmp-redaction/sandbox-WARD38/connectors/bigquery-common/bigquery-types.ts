/**
 * Canonical types ↔ BigQuery schema fields, and the NDJSON encoding of canonical values that
 * load jobs read exactly (decimals as strings, timestamps with microseconds, JSON verbatim).
 */
// @ts-nocheck

import type { Column, ColumnType, SourceColumn, Value } from '../../src/core/types.js';
import { formatTimestamp } from '../../src/core/time.js';

/** A schema field as the REST API carries it. */
export interface BigQueryField {
  name: string;
  type: string;
  mode?: string;
  fields?: BigQueryField[];
  description?: string;
}

const TO_CANONICAL: Record<string, ColumnType> = {
  STRING: 'STRING',
  BYTES: 'BYTES',
  INTEGER: 'INT64',
  INT64: 'INT64',
  FLOAT: 'FLOAT64',
  FLOAT64: 'FLOAT64',
  NUMERIC: 'NUMERIC',
  DECIMAL: 'NUMERIC',
  BIGNUMERIC: 'BIGNUMERIC',
  BIGDECIMAL: 'BIGNUMERIC',
  BOOLEAN: 'BOOL',
  BOOL: 'BOOL',
  TIMESTAMP: 'TIMESTAMP',
  DATE: 'DATE',
  TIME: 'TIME',
  DATETIME: 'DATETIME',
  JSON: 'JSON',
  // Nested records travel as JSON text in b2betl; intervals as their text form.
  RECORD: 'JSON',
  STRUCT: 'JSON',
  GEOGRAPHY: 'GEOGRAPHY',
  INTERVAL: 'STRING',
  RANGE: 'STRING',
};

/** The canonical type of a BigQuery type name (legacy names included). */
export function canonicalType(type: string): ColumnType {
  return TO_CANONICAL[type.toUpperCase()] ?? 'STRING';
}

/** Columns of a BigQuery schema: REQUIRED → not nullable, REPEATED → repeated. */
export function columnsOf(fields: readonly BigQueryField[]): Column[] {
  return fields.map((field) => ({
    name: field.name,
    source: field.name,
    type: canonicalType(field.type),
    nullable: (field.mode ?? 'NULLABLE').toUpperCase() !== 'REQUIRED',
    sourceType: field.mode && field.mode !== 'NULLABLE' ? `${field.mode} ${field.type}` : field.type,
    ...((field.mode ?? '').toUpperCase() === 'REPEATED' ? { repeated: true } : {}),
  }));
}

/** Source columns of a BigQuery schema (the source connector's view). */
export function sourceColumnsOf(fields: readonly BigQueryField[]): SourceColumn[] {
  return columnsOf(fields).map(({ source: _source, ...column }) => column);
}

/** The BigQuery field for a canonical column; new columns are NULLABLE unless REPEATED. */
export function fieldOf(column: Pick<Column, 'name' | 'type' | 'nullable' | 'repeated'>): BigQueryField {
  return { name: column.name, type: column.type, mode: column.repeated ? 'REPEATED' : column.nullable === false ? 'REQUIRED' : 'NULLABLE' };
}

/** Widenings BigQuery performs with ALTER COLUMN SET DATA TYPE. */
const WIDENINGS: Partial<Record<ColumnType, readonly ColumnType[]>> = {
  INT64: ['NUMERIC', 'BIGNUMERIC', 'FLOAT64'],
  NUMERIC: ['BIGNUMERIC', 'FLOAT64'],
};

/** Whether BigQuery can change a column from `from` to `to` in place. */
export function canWiden(from: ColumnType, to: ColumnType): boolean {
  return from === to || (WIDENINGS[from]?.includes(to) ?? false);
}

/** Encodes one canonical value as an NDJSON field value for a column of `type`. */
export type FieldEncoder = (value: Value) => string;

function floatText(value: number): string {
  if (Number.isNaN(value)) return '"NaN"';
  if (value === Number.POSITIVE_INFINITY) return '"Infinity"';
  if (value === Number.NEGATIVE_INFINITY) return '"-Infinity"';
  return String(value);
}

function scalarEncoder(type: ColumnType): FieldEncoder {
  switch (type) {
    case 'INT64':
      return (value) => (typeof value === 'number' || typeof value === 'bigint' ? String(value) : JSON.stringify(String(value)));
    case 'FLOAT64':
      return (value) => (typeof value === 'number' ? floatText(value) : JSON.stringify(String(value)));
    case 'BOOL':
      return (value) => (value === true || value === 'true' ? 'true' : 'false');
    case 'TIMESTAMP':
      return (value) => JSON.stringify(typeof value === 'bigint' ? formatTimestamp(value) : String(value));
    case 'BYTES':
      return (value) => JSON.stringify(value instanceof Uint8Array ? Buffer.from(value).toString('base64') : String(value));
    case 'JSON':
      // Canonical JSON values are JSON text already: spliced in, the value keeps its JSON type.
      return (value) => (typeof value === 'string' ? value : JSON.stringify(value));
    default:
      return (value) => JSON.stringify(typeof value === 'string' ? value : String(value));
  }
}

/** The NDJSON encoder of a column's values (REPEATED columns take arrays or JSON array text). */
export function encoderFor(column: Pick<Column, 'type' | 'repeated'>): FieldEncoder {
  const scalar = scalarEncoder(column.type);
  if (!column.repeated) return scalar;
  return (value) => {
    const items = typeof value === 'string' ? (JSON.parse(value) as unknown[]) : Array.isArray(value) ? (value as unknown[]) : [value];
    return `[${items
      .filter((item) => item !== null && item !== undefined)
      .map((item) => scalar(column.type === 'JSON' ? JSON.stringify(item) : (item as Value)))
      .join(',')}]`;
  };
}

/** Builds NDJSON lines for rows ordered as `columns`; null values are left out of the line. */
export class NdjsonEncoder {
  private readonly keys: string[];
  private readonly encoders: FieldEncoder[];

  constructor(columns: readonly Pick<Column, 'name' | 'type' | 'repeated'>[], extra: readonly string[] = []) {
    this.keys = [...columns.map((column) => `${JSON.stringify(column.name)}:`), ...extra.map((name) => `${JSON.stringify(name)}:`)];
    this.encoders = [...columns.map((column) => encoderFor(column)), ...extra.map(() => (value: Value) => String(value))];
  }

  /** One line (with its newline) for a row; `extra` values follow the columns. */
  line(row: readonly Value[], extra: readonly Value[] = []): string {
    return this.build(row, -1, extra);
  }

  /** One line for row `r` of column vectors (null: a column of NULLs); `extra` values follow. */
  lineAt(columns: readonly (ArrayLike<Value> | null)[], r: number, extra: readonly Value[] = []): string {
    return this.build(columns, r, extra);
  }

  /** A line from a row (`r` < 0) or from row `r` of column vectors. */
  private build(source: readonly (Value | ArrayLike<Value> | null)[], r: number, extra: readonly Value[]): string {
    let out = '{';
    let first = true;
    const width = this.keys.length - extra.length;
    for (let i = 0; i < this.keys.length; i++) {
      const value = i >= width ? extra[i - width] : r < 0 ? (source[i] as Value) : (source[i] as ArrayLike<Value> | null)?.[r];
      if (value === null || value === undefined) continue;
      out += (first ? '' : ',') + this.keys[i] + this.encoders[i](value);
      first = false;
    }
    return `${out}}\n`;
  }
}
