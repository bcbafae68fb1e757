/**
 * The embedded warehouse: a local DuckDB file. A run's rows are staged as load files beside the
 * warehouse and moved into the target in one transaction with the `_b2betl_loads` marker.
 */
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import type { Column, ConnectorContext, DestinationCapabilities, DestinationConnector, LoadStrategy, Stage, StageRequest, StoredMarker, TableInfo } from '../../../src/core/connector.js';
import { EtlError, LockedError } from '../../../src/core/errors.js';
import { DuckDBStage } from './duckdb-stage.js';
import { canonicalType, literal, quote } from './duckdb-types.js';

const MARKERS = '_b2betl_loads';
const DEFAULT_MEMORY_LIMIT = '64MB';
const TABLES = '_b2betl_tables';


/**
 * The DuckDB instance of a warehouse file, shared by everything in this process that opens the
 * same file (DuckDB allows one configuration per file and process).
 */
export async function warehouseInstance(file: string, options: { readOnly?: boolean; memoryLimit?: string; threads?: number } = {}): Promise<DuckDBInstance> {
  const { readOnly = false, memoryLimit = DEFAULT_MEMORY_LIMIT, threads = 2 } = options;
  const duckdb = await import('@duckdb/node-api');
  return duckdb.DuckDBInstance.fromCache(file, {
    // Loads stream from load files and spill to disk past this; the process stays small.
    memory_limit: memoryLimit,
    threads: String(threads),
    // Loads need no row order, and keeping it buffers rows in memory.
    preserve_insertion_order: 'false',
    ...(readOnly ? { access_mode: 'READ_ONLY' } : {}),
  });
}

/** Opens a warehouse file, not creating it when read-only. */
async function openInstance(file: string, options: { readOnly: boolean; memoryLimit?: string; threads?: number }): Promise<DuckDBInstance | undefined> {
  if (options.readOnly && !existsSync(file)) return undefined;
  mkdirSync(path.dirname(file), { recursive: true });
  try {
    return await warehouseInstance(file, options);
  } catch (error) {
    const message = (error as Error).message;
    if (/lock/i.test(message)) {
      throw new LockedError(`${file} is in use by another process`, 'close the other program (a DuckDB shell?) that has the warehouse open, then run again');
    }
    throw error;
  }
}

export class DuckDBDestination implements DestinationConnector {
  private closed = false;
  readonly capabilities: DestinationCapabilities = {
    merge: true,
    nativeFiles: ['csv', 'parquet'],
    timeRange: { min: -9223372022400000000n, max: 9223372036854775806n, name: "DuckDB's range, 290309-12-22 BC to 294247-01-10" },
  };
  private connection?: DuckDBConnection;

  private constructor(
    private readonly file: string,
    private readonly schema: string,
    private readonly instance: DuckDBInstance | undefined,
  ) {}

  /** Opens the warehouse file (not creating it when read-only). */
  static async open(context: ConnectorContext): Promise<DuckDBDestination> {
    if (context.config.type !== 'duckdb') throw new EtlError(`connection ${context.name} is not duckdb`);
    const file = path.resolve(context.baseDir, context.config.path);
    const { memory_limit: memoryLimit, threads } = context.config;
    const instance = await openInstance(file, { readOnly: Boolean(context.readOnly), memoryLimit, threads });
    const destination = new DuckDBDestination(file, context.config.schema ?? 'main', instance);
    if (instance && !context.readOnly) await destination.prepareMetadata();
    return destination;
  }

  private async db(): Promise<DuckDBConnection> {
    if (!this.instance) throw new EtlError(`${this.file} does not exist yet`);
    if (!this.connection) {
      this.connection = await this.instance.connect();
      await this.connection.run("SET TimeZone = 'UTC'");
    }
    return this.connection;
  }

  /** `"schema"."table"` */
  qualified(table: string): string {
    return `${quote(this.schema)}.${quote(table)}`;
  }

  private async prepareMetadata(): Promise<void> {
    const db = await this.db();
    await db.run(`CREATE SCHEMA IF NOT EXISTS ${quote(this.schema)}`);
    await db.run(
      `CREATE TABLE IF NOT EXISTS ${this.qualified(MARKERS)} (run_id VARCHAR NOT NULL, job VARCHAR NOT NULL, table_name VARCHAR NOT NULL,
       strategy VARCHAR NOT NULL, units JSON NOT NULL, rows BIGINT NOT NULL, committed_at TIMESTAMPTZ NOT NULL, state VARCHAR)`,
    );
    // Warehouses written before markers carried the run's state.
    await db.run(`ALTER TABLE ${this.qualified(MARKERS)} ADD COLUMN IF NOT EXISTS state VARCHAR`);
    await db.run(`CREATE TABLE IF NOT EXISTS ${this.qualified(TABLES)} (table_name VARCHAR PRIMARY KEY, strategy VARCHAR NOT NULL, created_at TIMESTAMPTZ NOT NULL)`);
  }

  locate(table: string): string {
    return `${this.file} ${this.schema}.${table}`;
  }

  async describe(table: string): Promise<TableInfo | undefined> {
    if (!this.instance) return undefined;
    const db = await this.db();
    const reader = await db.runAndReadAll(
      `SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`,
      [this.schema, table],
    );
    const rows = reader.getRowObjects() as { column_name: string; data_type: string; is_nullable: string }[];
    if (!rows.length) return undefined;
    const columns: Column[] = rows.map((row) => ({
      name: row.column_name,
      source: row.column_name,
      type: canonicalType(row.data_type),
      nullable: row.is_nullable === 'YES',
      sourceType: row.data_type,
    }));
    const label = await db
      .runAndReadAll(`SELECT strategy FROM ${this.qualified(TABLES)} WHERE table_name = $1`, [table])
      .then((r) => r.getRowObjects()[0] as { strategy: LoadStrategy } | undefined)
      .catch(() => undefined);
    return { columns, strategy: label?.strategy };
  }

  /** Folder of a warehouse's load files: `<warehouse>.staging/`. */
  private stagingRoot(): string {
    return `${this.file}.staging`;
  }

  async stage(request: StageRequest): Promise<Stage> {
    const db = await this.db();
    // Load files of earlier, killed runs of this job are garbage: the job lock is ours.
    const root = this.stagingRoot();
    const prefix = `${request.job.name}__`;
    for (const entry of existsSync(root) ? readdirSync(root) : []) {
      if (entry.startsWith(prefix)) rmSync(path.join(root, entry), { recursive: true, force: true });
    }
    return new DuckDBStage(db, this, request, path.join(root, `${prefix}${request.runId}`));
  }

  /** Columns of a table, read inside the caller's transaction. */
  async describeColumns(table: string): Promise<readonly Column[] | undefined> {
    return (await this.describe(table))?.columns;
  }

  markersTable(): string {
    return this.qualified(MARKERS);
  }

  tables(): string {
    return this.qualified(TABLES);
  }

  async committedRuns(job: string, runIds: readonly string[]): Promise<Set<string>> {
    if (!runIds.length || !this.instance) return new Set();
    const db = await this.db();
    const reader = await db.runAndReadAll(
      `SELECT run_id FROM ${this.qualified(MARKERS)} WHERE job = $1 AND run_id IN (${runIds.map(literal).join(', ')})`,
      [job],
    );
    return new Set((reader.getRowObjects() as { run_id: string }[]).map((row) => row.run_id));
  }

  async markers(job: string, table: string): Promise<StoredMarker[]> {
    if (!this.instance) return [];
    const db = await this.db();
    const columns = await db.runAndReadAll(`SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2`, [this.schema, MARKERS]);
    const names = new Set((columns.getRowObjects() as { column_name: string }[]).map((row) => row.column_name));
    if (!names.size) return [];
    const reader = await db.runAndReadAll(
      `SELECT run_id, table_name, strategy, rows, strftime(committed_at AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%fZ') AS committed_at, ${names.has('state') ? 'state' : 'NULL'} AS state
       FROM ${this.qualified(MARKERS)} WHERE job = $1 AND table_name = $2 ORDER BY committed_at, run_id`,
      [job, table],
    );
    return (reader.getRowObjects() as { run_id: string; table_name: string; strategy: string; rows: bigint; committed_at: string; state: string | null }[]).map((row) => ({
      runId: row.run_id,
      table: row.table_name,
      strategy: row.strategy,
      rows: Number(row.rows),
      committedAt: row.committed_at,
      state: row.state,
    }));
  }

  /**
   * Closes the connection and lets go of the instance, so that a long-running process (`serve`,
   * `schedule run-local`) does not keep the warehouse file locked between runs; the file closes
   * once every user in the process has let go.
   */
  async close(): Promise<void> {
    this.connection?.closeSync();
    this.connection = undefined;
    if (!this.closed) this.instance?.closeSync();
    this.closed = true;
  }
}

