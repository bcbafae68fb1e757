/**
 * The small interfaces every connector implements. Built-ins register through the same
 * {@link ConnectorRegistry} a third-party plugin package would.
 */
import type { Readable } from 'node:stream';
import type { Logger } from './log.js';
import type { ConnectionConfig, DataflowSettings, JobSpec } from './spec.js';
import type { Column, ColumnType, RecordBatch, SourceColumn, TimeRange, Value } from './types.js';

// ---------------------------------------------------------------------------------------------
// Where bytes live

/** An object (file) in a store, with what identifies its version. */
export interface ObjectInfo {
  /** Path relative to the store's root (never starting with `/`), `/`-separated. */
  readonly path: string;
  readonly size: number;
  /** Last modification, ISO 8601 UTC. */
  readonly modified: string;
  /** etag, generation, or a content hash: whatever changes when the content does. */
  readonly version?: string;
}

/** A folder, bucket or container of files. */
export interface ObjectStore {
  /** `local`, `gcs`, `s3`, `azure`. */
  readonly kind: string;
  /** Human-readable location of `path` for messages (`gs://b/p`, `/abs/p`); never holds a secret. */
  url(path: string): string;
  /** Every object under `prefix`, paging through the store so memory stays flat. */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /**
   * The object's bytes as a stream. With `version` (as `list` or `stat` gave it) they are that
   * version's, or the read fails with `ObjectChanged` (errors.ts) once the object was replaced:
   * a run never loads bytes other than those of the version its ledger records.
   */
  read(path: string, version?: string): Promise<Readable>;
  /** Bytes `start` (inclusive) to `end` (exclusive), for formats that need random access (Parquet); `version` as for `read`. */
  readRange(path: string, start: number, end: number, version?: string): Promise<Uint8Array>;
  /**
   * Writes an object. With `ifGeneration` the write succeeds only if the object's current
   * version is that one (`'0'`: only if it does not exist); otherwise it throws {@link PreconditionFailed}.
   * A conditional write that landed counts as written even when its answer was lost (a store
   * marks it with a write id in the object's metadata), so a refusal means it did not land.
   * Returns the new version.
   */
  write(path: string, data: Buffer | Readable, options?: { ifGeneration?: string }): Promise<string | undefined>;
  /** Metadata of one object, or undefined when absent. */
  stat(path: string): Promise<ObjectInfo | undefined>;
  delete(path: string, options?: { ifGeneration?: string }): Promise<void>;
  /** A `gs://` style URI a warehouse can load from directly, when it can. */
  nativeUri?(path: string): string | undefined;
  /** The object's file on this machine, for stores that are folders. */
  localPath?(path: string): string;
  close?(): Promise<void>;
}

/** A conditional write or delete lost its precondition (HTTP 412 or the store's equivalent). */
export class PreconditionFailed extends Error {
  constructor(readonly path: string) {
    super(`precondition failed for ${path}: it was changed by someone else`);
  }
}

// ---------------------------------------------------------------------------------------------
// How bytes become rows

/** Options every format may receive (csv ones are ignored by other formats). */
export interface FormatOptions {
  readonly delimiter?: string;
  readonly quote?: string;
  readonly escape?: string;
  readonly encoding?: string;
  readonly header?: boolean;
  /** Rows per emitted batch. */
  readonly batchSize?: number;
}

/** Rows of a file as the format produced them. */
export interface FileRows {
  /** Types the file itself declares (Parquet), by field name; inferred from samples otherwise. */
  readonly declaredTypes?: ReadonlyMap<string, SourceColumn>;
  /** Rows the file declares it holds (Parquet), before any is read. */
  readonly rowCount?: number;
  /**
   * Why a destination engine could not read the file exactly as this format does (a nested
   * column, a type the engine reads otherwise); undefined when it could.
   */
  readonly notNative?: string;
  /**
   * Batches of rows. Values are as the format produced them: strings for CSV, JS values for
   * JSON, typed values for Parquet. A header-only file yields one batch with no rows, so its
   * fields are still known.
   */
  readonly batches: AsyncIterable<FileRowBatch>;
}

export interface FileRowBatch {
  /** Field names in file order; a later batch may append new ones (JSON) but never reorders. */
  readonly fields: readonly string[];
  /** Rows aligned with `fields`; a row shorter than `fields` lacks the trailing ones. */
  readonly rows: unknown[][];
  /** 1-based line (or row) number of each row, for error messages. */
  readonly positions: number[];
  /**
   * Column-major values (Parquet), `vectors[i][r]` being field `i` of row `r`, for `length`
   * rows; `rows` and `positions` are then built only if read (see `columnar`).
   */
  readonly vectors?: readonly ArrayLike<unknown>[];
  readonly length?: number;
  /** Position of the first row, with `vectors`. */
  readonly first?: number;
  /**
   * Rows that could not be parsed (a ragged CSV row, an invalid JSON line, undecodable bytes),
   * with the raw text. The pipeline fails the file on them, or sets them aside as rejects when
   * `load.max_bad_records` allows.
   */
  readonly rejects?: readonly ParseReject[];
}

/** A row the format could not parse. */
export interface ParseReject {
  readonly position: number;
  readonly reason: string;
  readonly raw: string;
}

/** A file as a format sees it: a name (for messages), its size, a stream, and ranged reads. */
export interface FileHandle {
  readonly name: string;
  readonly size: number;
  open(): Promise<Readable>;
  readRange(start: number, end: number): Promise<Uint8Array>;
}

/** Turns a byte stream into rows. */
export interface FileFormat {
  /** `csv`, `json`, `jsonl`, `parquet`. */
  readonly name: string;
  /** File extensions that select this format, lowercase without dot. */
  readonly extensions: readonly string[];
  /** Reads rows: streaming formats call `open`, random-access ones (Parquet) `readRange`. */
  read(file: FileHandle, options: FormatOptions): Promise<FileRows>;
}

// ---------------------------------------------------------------------------------------------
// Sources

/** What a source remembers between runs, as kept by the ledger. */
export interface SourceState {
  /** Opaque cursor state the source produced last time (JSON-serializable). */
  readonly cursor?: unknown;
  /** Files already loaded, by path. */
  readonly files: ReadonlyMap<string, ObjectInfo>;
}

export interface PlanContext {
  readonly job: JobSpec;
  readonly state: SourceState;
  readonly fullRefresh: boolean;
  /** Backfill window from `--since/--until`: read it without moving the cursor backwards. */
  readonly window?: { readonly since?: string; readonly until?: string };
  /**
   * A catalog run without --full-refresh: `fullRefresh` is set (a snapshot reads everything),
   * but a source that can tell nothing changed since the snapshot in `state` (files: the same
   * objects, each unchanged) may plan no units, so the run is skipped.
   */
  readonly skipUnchangedSnapshot?: boolean;
  /** Aborts when the run is stopped: a source cancels the queries it plans with (a database stops them at once). */
  readonly signal?: AbortSignal;
  readonly log: Logger;
}

/** One independently readable part of a run: a file, a cursor range, a key-modulo shard. */
export interface WorkUnit {
  /** Stable key: the file path or a range label. */
  readonly id: string;
  /** Shown in progress and --dry-run. */
  readonly label: string;
  readonly estimatedRows?: number;
  readonly bytes?: number;
  /** For file units: recorded as processed once committed. */
  readonly file?: ObjectInfo;
  /**
   * For cursor sources: the cursor state that is safe to record once this unit and every unit
   * before it have committed. Units without it are not safe points (see `SourcePlan.ordered`).
   */
  readonly cursorAfter?: unknown;
  /** Source-private parameters (a query range, a shard number…). */
  readonly params?: unknown;
}

export interface SourcePlan {
  readonly units: readonly WorkUnit[];
  /** Units left out, with why (`unchanged`, …), for the summary and --dry-run. */
  readonly skipped: readonly { readonly id: string; readonly reason: string }[];
  readonly estimatedRows?: number;
  /** Where `estimatedRows` comes from (`count(*) of the window`, `the planner's estimate`), for engine choice. */
  readonly estimateBasis?: string;
  /** Whether `estimatedRows` is a count rather than a statistic. */
  readonly estimateExact?: boolean;
  /**
   * When true, units form an ordered sequence: after failures, only the prefix of committed
   * units up to the last one carrying `cursorAfter` commits. When false (files), every unit
   * that succeeds commits on its own.
   */
  readonly ordered: boolean;
  /**
   * For a backfill window (`--since/--until`): the cursor range the units read, which the
   * commit replaces in the destination so that rows already loaded there are not loaded twice.
   */
  readonly window?: { readonly column: string; readonly lower?: string; readonly upper?: { readonly value: string; readonly inclusive: boolean } };
  /** Extra lines for --dry-run (the query, the high-water mark, the engine…). */
  readonly notes?: readonly string[];
}

export interface ReadContext {
  readonly job: JobSpec;
  readonly log: Logger;
  /** Aborted when the run is cancelled. */
  readonly signal: AbortSignal;
  /** Only planning (--dry-run): decide from what is cheap to read, fetch nothing. */
  readonly planOnly?: boolean;
}

/** Something a source holds that a job can read: a table, a view, a collection. */
export interface CatalogEntry {
  /** As a job names it in `source.table` or `source.collection`. */
  readonly name: string;
  readonly kind: 'table' | 'view' | 'collection';
  /** An estimate of its rows, when the source keeps one. */
  readonly rows?: number;
}

/** A few rows of a source, for a preview: values in `fields` order. */
export interface SourceSample {
  readonly fields: readonly string[];
  readonly rows: readonly (readonly unknown[])[];
}

/** A table of a database source, as `inspect-schema --connection` lists it. */
export interface TableListing {
  /** Qualified as `source.table` takes it (`public.orders`, `shop.orders`). */
  readonly name: string;
  readonly kind: 'table' | 'view' | 'materialized view' | 'partitioned table' | 'foreign table';
  /** The catalog's estimate (statistics, not a count); undefined when it has none (views). */
  readonly estimatedRows?: number;
}

/** Reads data: discover columns, plan units, stream each unit as batches. */
export interface SourceConnector {
  /**
   * The source applies `source.columns` itself (in its query) and may add columns of its own
   * (Firestore's `document_id`), so the pipeline must not filter batches again.
   */
  readonly selectsColumns?: boolean;
  /** Columns of the source, for inspect-schema and schema resolution. */
  discover(job: JobSpec, log: Logger): Promise<SourceColumn[]>;
  plan(context: PlanContext): Promise<SourcePlan>;
  read(unit: WorkUnit, context: ReadContext): AsyncIterable<RecordBatch>;
  /**
   * Optional: the unit as a file on this machine that a destination may read itself instead of
   * taking its rows one by one (see {@link Stage.loadFile}), when it is in one of `formats`;
   * otherwise why it streams. A remote object may be fetched to a temporary file for it, which
   * the source removes when it closes.
   */
  nativeFile?(unit: WorkUnit, context: ReadContext, formats: readonly NativeFormat['kind'][]): Promise<NativeFile | NotNative>;
  /**
   * Optional, for `connections test`: connects, authenticates and makes one real read, and says
   * what it saw (`PostgreSQL 16.2; information_schema readable, 42 tables`). Throws otherwise.
   */
  probe?(): Promise<string>;
  /** Optional, for `init`: the tables, views or collections a job could read. */
  catalog?(): Promise<CatalogEntry[]>;
  /** Optional, for `init`: the first `limit` rows of what the job reads. */
  preview?(job: JobSpec, limit: number): Promise<SourceSample>;
  /** Optional, for `init`: the smallest and largest value of a column (as text), or undefined when it is empty. */
  range?(job: JobSpec, column: string): Promise<{ readonly min: string; readonly max: string } | undefined>;
  /** Optional, for `init`: the primary key the source declares for what the job reads. */
  primaryKey?(job: JobSpec): Promise<string[]>;
  /** Optional: the tables a job could name in `source.table` (databases). */
  listTables?(): Promise<TableListing[]>;
  /** Optional: the exact number of rows the plan's units read, where the plan only estimated it. */
  countRows?(job: JobSpec, units: readonly WorkUnit[]): Promise<number>;
  close(): Promise<void>;
}

/** How a native file is laid out, well enough for a database engine to read it as b2betl would. */
export type NativeFormat =
  | {
      readonly kind: 'csv';
      /** Quotes inside quoted fields are doubled (the escape is the quote). */
      readonly delimiter: string;
      readonly quote: string;
      readonly header: boolean;
      /** Bytes of the longest record: the engine's buffers must hold it. */
      readonly longestRecord: number;
    }
  | { readonly kind: 'parquet' };

/** A file on this machine that a destination may read itself. */
export interface NativeFile {
  /** Absolute path. */
  readonly path: string;
  /** Shown in messages. */
  readonly label: string;
  readonly format: NativeFormat;
  /** The file's fields in order, typed as the stream would type them. */
  readonly columns: readonly SourceColumn[];
  /** Records the source counted in the file: the rows a destination must take from it, no fewer and no more. */
  readonly records: number;
  /** Why the destination may take it, for --dry-run and the log. */
  readonly reason: string;
  /**
   * Whether the file is still the version the plan listed, for a file the destination reads in
   * place: asked after the destination has read it and before it commits, so the rows committed
   * are those of the version the ledger records.
   */
  readonly unchanged?: () => Promise<boolean>;
}

/** A unit that streams through b2betl, and why. */
export interface NotNative {
  readonly reason: string;
  readonly path?: undefined;
}

// ---------------------------------------------------------------------------------------------
// Destinations

export type LoadStrategy = 'transactional' | 'catalog' | 'merge';

/** What a destination knows about an existing table. */
export interface TableInfo {
  readonly columns: readonly Column[];
  /** The strategy label b2betl left on the table, if it created it. */
  readonly strategy?: LoadStrategy;
  readonly rows?: number;
}

/**
 * What the ledger records for a run once it commits, carried in its marker so that a lost
 * ledger can be rebuilt from the destination.
 */
export interface MarkerState {
  /** The source connection the files were read from. */
  readonly connection: string;
  /** The source's new cursor state (high-water mark and boundary identities), when it moved. */
  readonly cursor?: unknown;
  /** Files committed, with their versions. */
  readonly files: readonly ObjectInfo[];
  /** Column mapping: source name → destination name and type. */
  readonly columns: readonly { readonly source: string; readonly name: string; readonly type: string }[];
}

/**
 * A reload that replaces rows in the destination within the commit's transaction: the whole
 * table (`--full-refresh`), or the rows whose cursor falls in a window (`--since/--until`).
 */
export type Replacement =
  | { readonly kind: 'table' }
  | {
      readonly kind: 'window';
      /** The cursor's source column. */
      readonly column: string;
      /** Inclusive lower bound, as the cursor's canonical text. */
      readonly lower?: string;
      readonly upper?: { readonly value: string; readonly inclusive: boolean };
    };

/** The marker committed in the same transaction as the data. */
export interface LoadMarker {
  readonly runId: string;
  readonly job: string;
  readonly table: string;
  readonly strategy: LoadStrategy;
  /** Unit ids committed (file paths or ranges). */
  readonly units: readonly string[];
  readonly rows: number;
  /** What the run records in the ledger (stored with the marker as JSON text). */
  readonly state?: MarkerState;
  /** Rows the commit replaces before it inserts, in the same transaction. */
  readonly replace?: Replacement;
}

/** A marker as read back from the destination. */
export interface StoredMarker {
  readonly runId: string;
  readonly table: string;
  readonly strategy: string;
  readonly rows: number;
  /** ISO 8601 UTC. */
  readonly committedAt: string;
  /** The marker's state as stored (JSON text), or null for markers written without one. */
  readonly state: string | null;
}

export interface StageRequest {
  readonly runId: string;
  readonly job: JobSpec;
  readonly table: string;
  readonly strategy: LoadStrategy;
  readonly primaryKey: readonly string[];
  /** Destination columns as resolved for this run (sanitized names, destination types). */
  readonly columns: readonly Column[];
  /** Rows the commit replaces before it inserts, in the same transaction. */
  readonly replace?: Replacement;
  readonly log: Logger;
}

/** Rows of one run on their way into a table; nothing is visible until `commit`. */
export interface Stage {
  /**
   * Adds or widens columns mid-run (a later file brought a new field), or, once every unit is
   * staged and before the commit, puts them in plan order: earlier rows keep their values by name.
   */
  evolve(columns: readonly Column[]): Promise<void>;
  /** Appends converted rows (ordered as the stage's current columns) for one unit. */
  write(unit: number, rows: readonly Value[][]): Promise<void>;
  /**
   * Optional: appends `length` converted rows given column by column (one vector per stage
   * column, null when the column is all NULL in them), leaving out rows whose `skip` is set.
   * Without it, the pipeline builds the rows and calls `write`.
   */
  writeColumns?(unit: number, columns: readonly (ArrayLike<Value> | null)[], length: number, skip?: Uint8Array): Promise<void>;
  /**
   * Optional: takes a whole unit from a file the destination reads itself, each field `i` into
   * run column `targets[i]` (none: not loaded). Returns the rows staged, or undefined when some
   * value is not one the destination converts exactly as the core would; the unit is then
   * streamed instead, so its rejects and errors come out as usual.
   */
  loadFile?(unit: number, file: NativeFile, targets: readonly (Column | undefined)[]): Promise<number | undefined>;
  /** Forgets every row written for a unit that failed. */
  discard(unit: number): Promise<void>;
  /**
   * Makes the rows of `units` visible and writes the marker in one atomic step, evolving the
   * target table's schema first. Rejected rows of those units (`load.max_bad_records`) go to
   * the `<table>__rejected` table in the same step. The rows the destination read back from
   * what was staged must be `marker.rows`, or nothing is committed and it throws. Returns rows
   * committed.
   */
  commit(units: readonly number[], marker: LoadMarker, rejects: readonly RejectedRow[]): Promise<number>;
  /** Drops everything staged. Safe to call after commit or twice. */
  abort(): Promise<void>;
}

export interface DestinationCapabilities {
  readonly merge: boolean;
  /** Formats of local files the destination's stage reads itself ({@link Stage.loadFile}). */
  readonly nativeFiles?: readonly NativeFormat['kind'][];
  /**
   * The largest row the destination takes, in bytes of its values, and how to name that limit
   * in a message ("BigQuery's 100 MB limit per row").
   */
  readonly maxRow?: { readonly bytes: number; readonly name: string };
  /** The instants its TIMESTAMP, DATETIME and DATE columns hold: a value outside fails its row. */
  readonly timeRange?: TimeRange;
  /** Whether an existing column can change from one type to a wider one (default: yes). */
  readonly canWiden?: (from: ColumnType, to: ColumnType) => boolean;
}

/** Writes data: describe and evolve tables, stage rows, commit atomically with a marker. */
export interface DestinationConnector {
  readonly capabilities: DestinationCapabilities;
  /** Human-readable location of a table (`warehouse.duckdb main.orders`). */
  locate(table: string): string;
  describe(table: string): Promise<TableInfo | undefined>;
  stage(request: StageRequest): Promise<Stage>;
  /** Run ids among `runIds` whose marker is committed in the destination. */
  committedRuns(job: string, runIds: readonly string[]): Promise<Set<string>>;
  /** Every marker of `job` into `table`, oldest first (none when there is no marker table). */
  markers(job: string, table: string): Promise<StoredMarker[]>;
  /**
   * Optional: a staging table an engine fills by itself (a load job from gs:// URIs, a Dataflow
   * job), committed into the target with the same marker transaction as a streamed run.
   */
  tableStage?(request: TableStageRequest): Promise<TableStage>;
  /** With `tableStage`: where a run's staging table will be, before it exists (--dry-run, a launch request). */
  stagingLocation?(job: string, runId: string): TableStage['location'];
  close(): Promise<void>;
}

/** A run's staging table as an {@link Engine} asks for it. */
export interface TableStageRequest extends StageRequest {
  /**
   * Columns the table holds besides the run's, which the engine fills for itself and the commit
   * leaves out (the timestamp a Dataflow read is split on).
   */
  readonly extra?: readonly Column[];
}

/**
 * A table in the destination's warehouse that an {@link Engine} fills without rows passing
 * through b2betl; nothing is visible until `commit`.
 */
export interface TableStage {
  /** The staging table as the warehouse's APIs name it. */
  readonly location: { readonly project: string; readonly dataset: string; readonly table: string };
  /** Its columns: the run's, as the target takes them. */
  readonly columns: readonly Column[];
  /**
   * Optional: one load job from URIs the warehouse reads itself (`gs://…`), with the load's
   * format options; replaces what the table held. A format that carries its own schema (an
   * export) may change the table's columns: they are read back. Returns rows written.
   */
  loadUris?(uris: readonly string[], options: Readonly<Record<string, unknown>>, step?: string): Promise<{ rows: number; columns: readonly Column[] }>;
  /** Rows the staging table holds. */
  count(): Promise<number>;
  /**
   * Moves the staged rows into the target and writes the marker in one atomic step, as
   * {@link Stage.commit} does; `marker.rows` must be what the table holds. Returns rows committed.
   */
  commit(marker: LoadMarker): Promise<number>;
  /** Drops the staging table. Safe to call after commit or twice. */
  abort(): Promise<void>;
}

/** A bad record kept aside when `load.max_bad_records` allows it. */
export interface RejectedRow {
  readonly runId: string;
  readonly unit: string;
  readonly position: string;
  readonly column?: string;
  readonly reason: string;
  readonly raw: string;
}

// ---------------------------------------------------------------------------------------------
// Engines

/** Rows in a run's window as a source can tell cheaply, and where the figure comes from. */
export interface RowEstimate {
  readonly rows: number;
  /** `count(*) of the window`, `the planner's estimate (EXPLAIN) of the window`, `count() of the collection`… */
  readonly basis: string;
  /** A count rather than a statistic. */
  readonly exact?: boolean;
}

/** One run of a job as an engine is offered it: both ends opened, and the plan the source made. */
export interface EngineRequest {
  readonly runId: string;
  readonly job: JobSpec;
  readonly table: string;
  readonly strategy: LoadStrategy;
  readonly primaryKey: readonly string[];
  readonly source: {
    /** The connection's name and block. */
    readonly name: string;
    readonly config: ConnectionConfig;
    readonly connector: SourceConnector;
    /** For file sources: the store the units live in, and the job's format name. */
    readonly store?: ObjectStore;
    readonly format?: string;
  };
  readonly destination: { readonly name: string; readonly config: ConnectionConfig; readonly connector: DestinationConnector };
  readonly plan: SourcePlan;
  /** Rows in this run's window, when the source could estimate them. */
  readonly estimate?: RowEstimate;
  /** The config's `dataflow:` block, when it has one (with its defaults applied). */
  readonly dataflow?: DataflowSettings;
  /** The stored original → sanitized column mapping. */
  readonly mapping: ReadonlyMap<string, string>;
  /** Rows the commit replaces before it inserts, in the same transaction. */
  readonly replace?: Replacement;
  /** Folder of the config file. */
  readonly baseDir: string;
  readonly log: Logger;
}

/**
 * A way to fill a run's stage other than streaming rows through b2betl: a load job from gs://
 * URIs, BigQuery query jobs, a Dataflow job, a Firestore managed export. It commits through the
 * destination's own marker transaction, so the ledger records the run as for a streamed one.
 */
export interface Engine {
  /** `bigquery-load`, `bigquery-query`, `dataflow`, `firestore-export`. */
  readonly name: string;
  /**
   * The run this engine would carry out, or why it declines a job of its kind (the estimate is
   * under the threshold), or undefined when the job is not of its kind. Reads only what is
   * cheap; launches nothing.
   */
  plan(request: EngineRequest): Promise<EngineRun | EngineDecline | undefined>;
}

/** An engine's no to a job it could take, with why, for --dry-run. */
export interface EngineDecline {
  readonly declined: string;
}

/** A run an engine takes. */
export interface EngineRun {
  /** One line for --dry-run and the log ("load 3 files straight from gs://b/p …"). */
  readonly description: string;
  /** Why this engine takes the job (the estimate against the threshold, the files' format). */
  readonly reason: string;
  /**
   * What --dry-run shows besides: the exact request it would send (secrets as references), the
   * partitioning, the staging table. JSON-serializable.
   */
  readonly details?: Readonly<Record<string, unknown>>;
  /**
   * Fills the stage with every unit of the plan (the run is `running`), calls `committing` right
   * before the destination's marker transaction starts, then commits with `marker` (its rows and
   * columns filled in); returns rows committed.
   */
  run(marker: LoadMarker, signal: AbortSignal, committing: BeforeCommit): Promise<{ rows: number; columns?: readonly Column[] }>;
}

/**
 * What an engine awaits right before its commit transaction starts, with the rows and columns it
 * commits (rows undefined when only the commit counts them): from then on the run is `committing`.
 * It throws when the run was stopped before; the engine then commits nothing.
 */
export type BeforeCommit = (rows: number | undefined, columns: readonly Column[]) => Promise<void>;

// ---------------------------------------------------------------------------------------------
// Registration

export interface ConnectorContext {
  /** The connection's name in the config, for messages. */
  readonly name: string;
  readonly config: ConnectionConfig;
  /** Folder of the config file; relative paths resolve against it. */
  readonly baseDir: string;
  readonly log: Logger;
  /** Nothing may be created or changed (--dry-run, inspect-schema): describe only. */
  readonly readOnly?: boolean;
  /** The run that opens it, for a destination that tells other processes who holds it. */
  readonly holder?: { readonly job: string; readonly runId: string };
}

/** Factories a connector package contributes; each is optional. Loaded lazily by type. */
export interface ConnectorFactories {
  source?(context: ConnectorContext): Promise<SourceConnector>;
  destination?(context: ConnectorContext): Promise<DestinationConnector>;
  store?(context: ConnectorContext): Promise<ObjectStore>;
}

/** What an engine package contributes (see {@link Engine}). */
export interface EngineFactory {
  engine(): Engine;
}

export type { Column, RecordBatch, SourceColumn, Value };
