/**
 * The embedded warehouse: a local DuckDB file. A run's rows are staged as load files beside the
 * warehouse and moved into the target in one transaction with the `_b2betl_loads` marker.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, totalmem } from 'node:os';
import path from 'node:path';
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import type { Column, ConnectorContext, DestinationCapabilities, DestinationConnector, LoadStrategy, Stage, StageRequest, StoredMarker, TableInfo } from '../../../src/core/connector.js';
import { EtlError, LockedError } from '../../../src/core/errors.js';
import { processAlive } from '../../../src/ledger/ledger.js';
import { DuckDBStage } from './duckdb-stage.js';
import { canonicalType, literal, quote } from './duckdb-types.js';

const MARKERS = '_b2betl_loads';
const TABLES = '_b2betl_tables';
/** The share of the machine's memory (or of the container's limit) DuckDB may use by default. */
const MEMORY_SHARE = 0.25;
const MIN_MEMORY = 256 << 20;

/**
 * DuckDB's memory limit when the connection sets none: a quarter of the memory this process may
 * use (the container's limit when there is one, else the machine's), at least 256 MiB. Past it,
 * DuckDB spills to the temp directory beside the warehouse.
 */
export function defaultMemoryLimit(): string {
  const constrained = process.constrainedMemory?.() ?? 0;
  const total = constrained > 0 && constrained < totalmem() ? constrained : totalmem();
  return `${Math.floor(Math.max(MIN_MEMORY, total * MEMORY_SHARE) / (1 << 20))}MiB`;
}


/**
 * The DuckDB instance of a warehouse file, shared by everything in this process that opens the
 * same file (DuckDB allows one configuration per file and process).
 */
export async function warehouseInstance(file: string, options: { readOnly?: boolean; memoryLimit?: string; threads?: number } = {}): Promise<DuckDBInstance> {
  const { readOnly = false, memoryLimit = defaultMemoryLimit(), threads = 2 } = options;
  const duckdb = await import('@duckdb/node-api');
  return duckdb.DuckDBInstance.fromCache(file, {
    // Loads stream from load files, and joins, merges and large results spill to disk past this.
    memory_limit: memoryLimit,
    temp_directory: `${file}.tmp`,
    threads: String(threads),
    // Loads need no row order, and keeping it buffers rows in memory.
    preserve_insertion_order: 'false',
    // A load writes each row group to the file as soon as it is full. By default DuckDB holds up
    // to five per thread first, up to a share of memory_limit: at a limit sized for merges and
    // BLOBs, that is every commit's rows held twice, in the buffer and in the file's blocks.
    write_buffer_row_group_count: '1',
    ...(readOnly ? { access_mode: 'READ_ONLY' } : {}),
  });
}

/** How long a run waits for a warehouse another b2betl run holds. */
const WAREHOUSE_WAIT_MS = Number(process.env.B2BETL_WAREHOUSE_WAIT_MS) || 10 * 60_000;
const WAREHOUSE_POLL_MS = 500;

/** Who holds a warehouse open for writing: `<warehouse>.owner`, written by the b2betl run that opened it. */
interface WarehouseOwner {
  readonly job: string;
  readonly run_id: string;
  readonly pid: number;
  readonly host: string;
  readonly since: string;
}

function ownerFile(file: string): string {
  return `${file}.owner`;
}

function readOwner(file: string): WarehouseOwner | undefined {
  try {
    return JSON.parse(readFileSync(ownerFile(file), 'utf8')) as WarehouseOwner;
  } catch {
    return undefined;
  }
}

/** The process DuckDB names as the holder of a file lock ("Conflicting lock is held in /usr/bin/node (PID 123)"). */
function lockHolder(message: string): { program: string; pid: number } | undefined {
  const match = /lock is held in (.+?) \(PID (\d+)\)/.exec(message);
  return match ? { program: match[1]!, pid: Number(match[2]) } : undefined;
}

/**
 * Opens a warehouse file, not creating it when read-only. While another b2betl run holds it, the
 * open waits (saying for whom) up to a bound; another program holding it fails at once, named.
 */
async function openInstance(
  file: string,
  options: { readOnly: boolean; memoryLimit?: string; threads?: number; log: ConnectorContext['log']; holder?: ConnectorContext['holder'] },
): Promise<DuckDBInstance | undefined> {
  if (options.readOnly && !existsSync(file)) return undefined;
  mkdirSync(path.dirname(file), { recursive: true });
  const deadline = Date.now() + WAREHOUSE_WAIT_MS;
  let told = false;
  for (;;) {
    try {
      const instance = await warehouseInstance(file, options);
      if (options.holder && !options.readOnly) {
        const owner: WarehouseOwner = { job: options.holder.job, run_id: options.holder.runId, pid: process.pid, host: hostname(), since: new Date().toISOString() };
        try {
          writeFileSync(ownerFile(file), JSON.stringify(owner));
        } catch (error) {
          // Only a waiting process reads it: without it, that one names no job.
          options.log.debug(`could not write ${ownerFile(file)}: ${(error as Error).message}`);
        }
      }
      return instance;
    } catch (error) {
      const message = (error as Error).message;
      if (!/lock/i.test(message)) throw error;
      const held = lockHolder(message);
      const owner = readOwner(file);
      const byRun = owner && (held ? held.pid === owner.pid : owner.host !== hostname() || processAlive(owner.pid)) ? owner : undefined;
      if (!byRun) {
        throw new LockedError(
          `${file} is in use by another process${held ? ` (${held.program}, pid ${held.pid})` : ''}`,
          'close the other program (a DuckDB shell?) that has the warehouse open, then run again',
        );
      }
      const who = `b2betl job ${byRun.job} (run ${byRun.run_id}, pid ${byRun.pid} on ${byRun.host}, since ${byRun.since})`;
      if (Date.now() >= deadline) {
        throw new LockedError(
          `${file} stayed in use by ${who} for ${Math.round(WAREHOUSE_WAIT_MS / 1000)} s`,
          'run the jobs one after another (one schedule, or b2betl run with both job files), or give them different warehouses',
        );
      }
      if (!told) {
        told = true;
        options.log.warn(`${file} is in use by ${who}; waiting for it (up to ${Math.round(WAREHOUSE_WAIT_MS / 1000)} s)`);
      }
      await new Promise((resolve) => setTimeout(resolve, WAREHOUSE_POLL_MS));
    }
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
    private readonly holder?: ConnectorContext['holder'],
  ) {}

  /** Opens the warehouse file (not creating it when read-only). */
  static async open(context: ConnectorContext): Promise<DuckDBDestination> {
    if (context.config.type !== 'duckdb') throw new EtlError(`connection ${context.name} is not duckdb`);
    const file = path.resolve(context.baseDir, context.config.path);
    const { memory_limit: memoryLimit, threads } = context.config;
    const instance = await openInstance(file, { readOnly: Boolean(context.readOnly), memoryLimit, threads, log: context.log, holder: context.holder });
    const destination = new DuckDBDestination(file, context.config.schema ?? 'main', instance, context.readOnly ? undefined : context.holder);
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
    if (!this.closed) {
      this.instance?.closeSync();
      if (this.holder && readOwner(this.file)?.run_id === this.holder.runId) rmSync(ownerFile(this.file), { force: true });
    }
    this.closed = true;
  }
}

