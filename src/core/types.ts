/**
 * The canonical type system: every source maps into it, every destination maps out of it.
 *
 * In-memory representation of a converted value, by type:
 *   STRING, JSON          string (JSON as its serialized text)
 *   INT64                 number when within ±2^53, otherwise bigint
 *   FLOAT64               number (NaN and ±Infinity allowed)
 *   NUMERIC, BIGNUMERIC   string holding the exact decimal text ("NaN" for PostgreSQL NaN)
 *   BOOL                  boolean
 *   TIMESTAMP             bigint: microseconds since the Unix epoch, UTC
 *   DATETIME              string 'YYYY-MM-DD HH:MM:SS[.ffffff]', no zone
 *   DATE                  string 'YYYY-MM-DD'
 *   TIME                  string 'HH:MM:SS[.ffffff]'
 *   BYTES                 Uint8Array
 *   GEOGRAPHY             string: well-known text (`POINT (1 2)`) or GeoJSON
 * and null for a missing value.
 */
export const COLUMN_TYPES = [
  'STRING',
  'INT64',
  'FLOAT64',
  'NUMERIC',
  'BIGNUMERIC',
  'BOOL',
  'TIMESTAMP',
  'DATETIME',
  'DATE',
  'TIME',
  'BYTES',
  'JSON',
  'GEOGRAPHY',
] as const;

/** One of the canonical column types. */
export type ColumnType = (typeof COLUMN_TYPES)[number];

/** A converted value, represented as documented on {@link COLUMN_TYPES}. */
export type Value = string | number | bigint | boolean | Uint8Array | null;

/**
 * The instants a destination holds in its TIMESTAMP, DATETIME and DATE columns, in microseconds
 * since the epoch (inclusive), and how to name them in a message.
 */
export interface TimeRange {
  readonly min: bigint;
  readonly max: bigint;
  /** "BigQuery's range, 0001-01-01 to 9999-12-31" */
  readonly name: string;
}

/** How a text source spells values besides the plain forms (`source.csv`). */
export interface TextSpelling {
  /** How dates are spelled besides ISO 8601 and `YYYY/MM/DD` (`date_format`). */
  readonly dateFormat?: string;
  /** Numbers are written with a decimal comma, `1,50` (`decimal: ","`). */
  readonly decimalComma?: boolean;
}

/** A column as a source reports it, before names are sanitized. */
export interface SourceColumn extends TextSpelling {
  /** The name in the source, verbatim. */
  readonly name: string;
  readonly type: ColumnType;
  readonly nullable: boolean;
  /** The source's own type name, shown by inspect-schema (e.g. `numeric(12,2)`). */
  readonly sourceType?: string;
  /** An array column whose elements have `type` (REPEATED in BigQuery). */
  readonly repeated?: boolean;
  /** The type was inferred from sampled values, so a later value may widen it. */
  readonly inferred?: boolean;
  /** Inferred from a sample that held no value for it: the type is a placeholder until one arrives. */
  readonly unseen?: boolean;
}

/** A destination column: a source column under its sanitized name. */
export interface Column extends SourceColumn {
  /** The original source name this column was loaded from. */
  readonly source: string;
}

/**
 * The unit of data between every reader and writer. Rows are positional and follow `columns`;
 * values are raw (as the source produced them) until the convert stage makes them {@link Value}s.
 */
export interface RecordBatch {
  readonly columns: readonly SourceColumn[];
  /** Row-major values; for a columnar batch, built from `vectors` only when read. */
  readonly rows: unknown[][];
  /**
   * Column-major values, when the source decoded column by column (Parquet): `vectors[c][r]`
   * is column `c` of row `r`, for `rows.length` rows. The pipeline then converts and stages
   * whole columns, never building a row.
   */
  readonly vectors?: readonly ArrayLike<unknown>[];
  /** Rows in the batch; set with `vectors`. */
  readonly length?: number;
  /** Where each row came from (a line number or a document key), for error messages. */
  readonly positions?: readonly (number | string)[];
  /** Rows the source could not parse at all, with their raw text (a ragged CSV line…). */
  readonly rejects?: readonly BatchReject[];
}

/** A row a source could not parse. */
export interface BatchReject {
  readonly position: number | string;
  readonly reason: string;
  readonly raw: string;
}

/**
 * `base` as a batch of `length` rows held column by column (`vectors`): its `rows` and
 * `positions` (`first`, `first + 1`…) are built only if something reads them.
 */
export function columnar<T extends object>(base: T, vectors: readonly ArrayLike<unknown>[], length: number, first: number) {
  let rows: unknown[][] | undefined;
  let positions: number[] | undefined;
  return {
    ...base,
    vectors,
    length,
    first,
    get rows(): unknown[][] {
      return (rows ??= rowsOf(vectors, length));
    },
    get positions(): number[] {
      return (positions ??= Array.from({ length }, (_, i) => first + i));
    },
  };
}

/** Row arrays from column vectors; a missing value (undefined) is null. */
export function rowsOf(vectors: readonly ArrayLike<unknown>[], length: number): unknown[][] {
  const rows: unknown[][] = new Array(length);
  for (let r = 0; r < length; r++) rows[r] = rowAt(vectors, r);
  return rows;
}

/** Row `r` of column vectors; a missing value (undefined) is null. */
export function rowAt(vectors: readonly ArrayLike<unknown>[], r: number): unknown[] {
  const row: unknown[] = new Array(vectors.length);
  for (let c = 0; c < vectors.length; c++) row[c] = vectors[c]![r] ?? null;
  return row;
}