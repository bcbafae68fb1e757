/**
 * What a database driver contributes to the shared SQL source: catalog look-ups, identifier
 * and literal syntax, and decoded row streams. Everything else (planning, cursors, units,
 * filtering) lives once in the shared source (sql-source.ts and the modules beside it).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { TableListing } from '../../../src/core/connector.js';
import { EtlError } from '../../../src/core/errors.js';
import type { ColumnType, SourceColumn } from '../../../src/core/types.js';

/** A table named in `source.table`, split into its parts. */
export interface TableName {
  /** Schema (PostgreSQL) or database (MySQL); undefined for the connection's default. */
  readonly schema?: string;
  readonly name: string;
}

/** What the job reads from: a table or a custom query. */
export type SqlRelation =
  | { readonly kind: 'table'; readonly table: TableName; readonly label: string }
  | { readonly kind: 'query'; readonly sql: string; readonly label: string };

/** A column as a dialect describes it: canonical type plus how to select and decode it. */
export interface SqlColumn extends SourceColumn {
  /** SELECT expression over the alias `q`, e.g. `q."tags"` or `to_json(q."tags")::text`. */
  readonly select: string;
}

/** Driver-specific part of a SQL source. */
export interface SqlDialect<C extends SqlColumn = SqlColumn> {
  /** `PostgreSQL` or `MySQL`, for messages. */
  readonly product: string;
  /** Where the catalog keeps a table's row count (`pg_class.reltuples`), for estimates' reasons. */
  readonly statistics: string;
  quote(identifier: string): string;
  /** A string literal. */
  literal(text: string): string;
  /** The SQL literal of a cursor bound (state text) for a column of `type`. */
  cursorLiteral(text: string, type: ColumnType): string;
  /**
   * A column's SELECT expression over `q` for an engine that reads the database itself through
   * JDBC and writes JSON rows to a warehouse (Dataflow's JDBC templates): integers and booleans
   * as they are, everything else as the text the warehouse reads as the canonical type, so the
   * values arrive as a local run converts them.
   */
  exportSelect(column: C): string;
  /**
   * A TIMESTAMP or DATETIME column's SELECT expression over `q` as the database's timestamp
   * without time zone holding its UTC wall clock with microseconds, and `nulls` (a wall clock,
   * `2024-03-01 10:00:00.123456`) where it has no value: what an engine reading through JDBC
   * splits ranges on, comparing it with UTC timestamps.
   */
  splitTimestamp(column: C, nulls: string): string;
  /** A non-negative `expression mod n`. */
  modulo(expression: string, n: number): string;
  /** Every column of the relation, in order; `nested` picks JSON or STRING for arrays/composites. */
  describe(relation: SqlRelation, nested: 'string' | 'json'): Promise<C[]>;
  /** Primary key columns of a table, in key order (empty when none). */
  primaryKey(table: TableName): Promise<string[]>;
  /** Whether some index starts with `column`, so range reads on it are cheap. */
  indexed(table: TableName, column: string): Promise<boolean>;
  /**
   * Optional: an index hint to put after the FROM item for reads of a narrow range of `column`,
   * where the optimizer would otherwise scan the whole table for each range.
   */
  rangeHint?(table: TableName, column: string): Promise<string | undefined>;
  /** The tables and views the connection can read, outside the system schemas, with catalog row estimates. */
  tables(): Promise<TableListing[]>;
  /** Row count from the catalog statistics (0 for a tiny table never analyzed), undefined when unknown. */
  tableRows(table: TableName): Promise<number | undefined>;
  /** The planner's row estimate for a SELECT. */
  explainRows(sql: string): Promise<number | undefined>;
  /** Exact row count of a SELECT. */
  count(sql: string): Promise<number>;
  /** All rows of a small SELECT, decoded by `columns`. */
  rows(sql: string, columns: readonly C[]): Promise<unknown[][]>;
  /** Rows of a SELECT in chunks of about `chunkRows`, decoded by `columns`, with bounded memory. */
  stream(sql: string, columns: readonly C[], options: { chunkRows: number; signal: AbortSignal }): AsyncIterable<unknown[][]>;
  /** The server's product and version (`PostgreSQL 16.2`, `MariaDB 11.4.2`). */
  serverVersion(): Promise<string>;
  close(): Promise<void>;
}

const stopping = new AsyncLocalStorage<AbortSignal>();

/**
 * Runs `work` so that every query a dialect runs for it, however deep in the planner, is
 * cancelled in the server once `signal` aborts: a run stopped while it plans stops at once
 * instead of waiting for a count or a min/max over a large table.
 */
export function cancellable<T>(signal: AbortSignal | undefined, work: () => Promise<T>): Promise<T> {
  return signal ? stopping.run(signal, work) : work();
}

/** The signal that cancels the query about to run, inside {@link cancellable}. */
export function cancelSignal(): AbortSignal | undefined {
  return stopping.getStore();
}

/** The error of a query cancelled because the run stopped. */
export function stoppedWhile(during: string): EtlError {
  return new EtlError(`stopped while ${during}: the run was interrupted, and its query cancelled in the database`);
}
