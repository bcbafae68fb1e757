/**
 * The embedded warehouse: a local DuckDB file. Rows are appended into a per-run staging table
 * and moved into the target in one transaction together with the `_b2betl_loads` marker.
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { DuckDBAppender, DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import type {
  Column,
  ConnectorContext,
  DestinationConnector,
  LoadMarker,
  LoadStrategy,
  RejectedRow,
  Stage,
  StageRequest,
  TableInfo,
  Value,
} from '../../../src/core/connector.js';
import { EtlError, LockedError } from '../../../src/core/errors.js';
import type { ColumnType } from '../../../src/core/types.js';

const STAGING_SCHEMA = '_b2betl_staging';
const MARKERS = '_b2betl_loads';
const TABLES = '_b2betl_tables';
const UNIT_COLUMN = '_b2betl_unit';
const ROW_COLUMN = '_b2betl_row';

/** Canonical type → DuckDB column type. BIGNUMERIC has no DuckDB decimal wide enough: exact text. */
const DUCKDB_TYPES: Record<ColumnType, string> = {
  STRING: 'VARCHAR',
  INT64: 'BIGINT',
  FLOAT64: 'DOUBLE',
  NUMERIC: 'DECIMAL(38,9)',
  BIGNUMERIC: 'VARCHAR',
  BOOL: 'BOOLEAN',
  TIMESTAMP: 'TIMESTAMPTZ',
  DATETIME: 'TIMESTAMP',
  DATE: 'DATE',
  TIME: 'TIME',
  BYTES: 'BLOB',
  JSON: 'JSON',
};

/** DuckDB column type → canonical type, for describing existing tables. */
export function canonicalType(duckdbType: string): ColumnType {
  const type = duckdbType.toUpperCase();
  if (/^(BIGINT|INTEGER|SMALLINT|TINYINT|UBIGINT|UINTEGER|USMALLINT|UTINYINT|INT\d*)$/.test(type)) return 'INT64';
  if (/^(DOUBLE|FLOAT|REAL)$/.test(type)) return 'FLOAT64';
  if (type.startsWith('DECIMAL') || type === 'HUGEINT') return 'NUMERIC';
  if (type === 'BOOLEAN') return 'BOOL';
  if (type === 'TIMESTAMP WITH TIME ZONE' || type === 'TIMESTAMPTZ') return 'TIMESTAMP';
  if (type.startsWith('TIMESTAMP')) return 'DATETIME';
  if (type === 'DATE') return 'DATE';
  if (type.startsWith('TIME')) return 'TIME';
  if (type === 'BLOB') return 'BYTES';
  if (type === 'JSON') return 'JSON';
  return 'STRING';
}

/** Quotes an identifier. */
export function quote(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}

type Append = (appender: DuckDBAppender, value: Value) => void;

function appendFor(type: ColumnType, values: typeof import('@duckdb/node-api')): Append {
  const text = (appender: DuckDBAppender, value: Value) =>
    appender.appendVarchar(typeof value === 'string' ? value : typeof value === 'bigint' || typeof value === 'number' || typeof value === 'boolean' ? String(value) : JSON.stringify(value));
  switch (type) {
    case 'INT64':
      return (appender, value) => (typeof value === 'bigint' ? appender.appendBigInt(value) : typeof value === 'number' ? appender.appendDouble(value) : text(appender, value));
    case 'FLOAT64':
      return (appender, value) => (typeof value === 'number' ? appender.appendDouble(value) : appender.appendDouble(Number(value)));
    case 'BOOL':
      return (appender, value) => appender.appendBoolean(Boolean(value));
    case 'TIMESTAMP':
      return (appender, value) => (typeof value === 'bigint' ? appender.appendTimestampTZ(new values.DuckDBTimestampTZValue(value)) : text(appender, value));
    case 'BYTES':
      return (appender, value) => (value instanceof Uint8Array ? appender.appendBlob(value) : text(appender, value));
    default:
      return text;
  }
}

/**
 * The DuckDB instance of a warehouse file, shared by everything in this process that opens the
 * same file (DuckDB allows one configuration per file and process).
 */
export async function warehouseInstance(file: string, readOnly = false): Promise<DuckDBInstance> {
  const duckdb = await import('@duckdb/node-api');
  return duckdb.DuckDBInstance.fromCache(file, {
    memory_limit: process.env.B2BETL_DUCKDB_MEMORY ?? '256MB',
    threads: '2',
    ...(readOnly ? { access_mode: 'READ_ONLY' } : {}),
  });
}

/** Opens a warehouse file, not creating it when read-only. */
async function openInstance(file: string, readOnly: boolean): Promise<DuckDBInstance | undefined> {
  if (readOnly && !existsSync(file)) return undefined;
  mkdirSync(path.dirname(file), { recursive: true });
  try {
    return await warehouseInstance(file, readOnly);
  } catch (error) {
    const message = (error as Error).message;
    if (/lock/i.test(message)) {
      throw new LockedError(`${file} is in use by another process`, 'close the other program (a DuckDB shell?) that has the warehouse open, then run again');
    }
    throw error;
  }
}

export class DuckDBDestination implements DestinationConnector {
  readonly capabilities = { merge: true };
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
    const instance = await openInstance(file, Boolean(context.readOnly));
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

  private qualified(table: string): string {
    return `${quote(this.schema)}.${quote(table)}`;
  }

  private async prepareMetadata(): Promise<void> {
    const db = await this.db();
    await db.run(`CREATE SCHEMA IF NOT EXISTS ${quote(this.schema)}`);
    await db.run(`CREATE SCHEMA IF NOT EXISTS ${quote(STAGING_SCHEMA)}`);
    await db.run(
      `CREATE TABLE IF NOT EXISTS ${this.qualified(MARKERS)} (run_id VARCHAR NOT NULL, job VARCHAR NOT NULL, table_name VARCHAR NOT NULL,
       strategy VARCHAR NOT NULL, units JSON NOT NULL, rows BIGINT NOT NULL, committed_at TIMESTAMPTZ NOT NULL)`,
    );
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

  async stage(request: StageRequest): Promise<Stage> {
    const db = await this.db();
    const duckdb = await import('@duckdb/node-api');
    // Staging tables of earlier, killed runs of this job are garbage: the job lock is ours.
    const stale = await db.runAndReadAll(`SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_name LIKE $2`, [
      STAGING_SCHEMA,
      `${request.job.name}__%`,
    ]);
    for (const row of stale.getRowObjects() as { table_name: string }[]) await db.run(`DROP TABLE IF EXISTS ${quote(STAGING_SCHEMA)}.${quote(row.table_name)}`);
    return new DuckDBStage(db, duckdb, this, request);
  }

  /** Target table DDL pieces, used by the stage at commit. */
  target(table: string): string {
    return this.qualified(table);
  }

  markers(): string {
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

  async close(): Promise<void> {
    this.connection?.closeSync();
    this.connection = undefined;
  }
}

/** A run's staging table; `write` appends through one appender, `commit` moves rows in one transaction. */
class DuckDBStage implements Stage {
  private appender?: DuckDBAppender;
  private appends: Append[] = [];
  private columns: Column[];
  private created = false;
  private rowNumber = 0;
  private readonly staging: string;
  private readonly stagingName: string;

  constructor(
    private readonly db: DuckDBConnection,
    private readonly duckdb: typeof import('@duckdb/node-api'),
    private readonly destination: DuckDBDestination,
    private readonly request: StageRequest,
  ) {
    this.columns = [...request.columns];
    this.stagingName = `${request.job.name}__${request.runId}`;
    this.staging = `${quote(STAGING_SCHEMA)}.${quote(this.stagingName)}`;
  }

  private async ensureCreated(): Promise<void> {
    if (this.created) return;
    const defs = this.columns.map((column) => `${quote(column.name)} ${DUCKDB_TYPES[column.type]}`);
    await this.db.run(`CREATE TABLE ${this.staging} (${[...defs, `${UNIT_COLUMN} INTEGER`, `${ROW_COLUMN} BIGINT`].join(', ')})`);
    this.created = true;
  }

  private async openAppender(): Promise<DuckDBAppender> {
    if (!this.appender) {
      await this.ensureCreated();
      this.appender = await this.db.createAppender(this.stagingName, STAGING_SCHEMA);
      this.appends = this.columns.map((column) => appendFor(column.type, this.duckdb));
    }
    return this.appender;
  }

  private flush(): void {
    this.appender?.closeSync();
    this.appender = undefined;
  }

  async evolve(columns: readonly Column[]): Promise<void> {
    this.flush();
    if (this.created) {
      const known = new Map(this.columns.map((column) => [column.name, column]));
      for (const column of columns) {
        const before = known.get(column.name);
        if (!before) {
          await this.db.run(`ALTER TABLE ${this.staging} ADD COLUMN ${quote(column.name)} ${DUCKDB_TYPES[column.type]}`);
        } else if (DUCKDB_TYPES[before.type] !== DUCKDB_TYPES[column.type]) {
          await this.db.run(`ALTER TABLE ${this.staging} ALTER COLUMN ${quote(column.name)} TYPE ${DUCKDB_TYPES[column.type]}`);
        }
      }
      // New columns were appended after the unit/row columns; keep appender order = table order.
      const order = await this.db.runAndReadAll(
        `SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`,
        [STAGING_SCHEMA, this.stagingName],
      );
      this.tableOrder = (order.getRowObjects() as { column_name: string }[]).map((row) => row.column_name);
    }
    this.columns = [...columns];
  }

  /** Column order of the staging table when it differs from the run's (after ADD COLUMN). */
  private tableOrder?: string[];

  async write(unit: number, rows: readonly Value[][]): Promise<void> {
    const appender = await this.openAppender();
    const appends = this.appends;
    const width = this.columns.length;
    if (this.tableOrder) return this.writeReordered(appender, unit, rows);
    for (const row of rows) {
      for (let i = 0; i < width; i++) {
        const value = row[i];
        if (value === null || value === undefined) appender.appendNull();
        else appends[i](appender, value);
      }
      appender.appendInteger(unit);
      appender.appendBigInt(BigInt(++this.rowNumber));
      appender.endRow();
    }
  }

  private writeReordered(appender: DuckDBAppender, unit: number, rows: readonly Value[][]): void {
    const index = new Map(this.columns.map((column, i) => [column.name, i]));
    const plan = this.tableOrder!.map((name) => (name === UNIT_COLUMN ? -1 : name === ROW_COLUMN ? -2 : index.get(name)!));
    for (const row of rows) {
      for (const i of plan) {
        if (i === -1) appender.appendInteger(unit);
        else if (i === -2) appender.appendBigInt(BigInt(++this.rowNumber));
        else {
          const value = row[i];
          if (value === null || value === undefined) appender.appendNull();
          else this.appends[i](appender, value);
        }
      }
      appender.endRow();
    }
  }

  async discard(unit: number): Promise<void> {
    this.flush();
    if (this.created) await this.db.run(`DELETE FROM ${this.staging} WHERE ${UNIT_COLUMN} = ${Number(unit)}`);
  }

  async commit(units: readonly number[], marker: LoadMarker, rejects: readonly RejectedRow[]): Promise<number> {
    this.flush();
    await this.ensureCreated();
    const target = this.destination.target(this.request.table);
    const names = this.columns.map((column) => quote(column.name)).join(', ');
    const selected = `${UNIT_COLUMN} IN (${units.map(Number).join(', ') || 'NULL'})`;
    await this.db.run('BEGIN TRANSACTION');
    try {
      await this.evolveTarget(target);
      const strategy = this.request.strategy;
      if (strategy === 'catalog') await this.db.run(`DELETE FROM ${target}`);
      let source = `SELECT ${names} FROM ${this.staging} WHERE ${selected}`;
      if (strategy === 'merge') {
        const keys = this.request.primaryKey.map((key) => quote(this.nameOf(key)));
        source = `SELECT ${names} FROM ${this.staging} WHERE ${selected} QUALIFY row_number() OVER (PARTITION BY ${keys.join(', ')} ORDER BY ${ROW_COLUMN} DESC) = 1`;
        const matches = keys.map((key) => `${target}.${key} IS NOT DISTINCT FROM s.${key}`).join(' AND ');
        await this.db.run(`DELETE FROM ${target} USING (SELECT ${keys.join(', ')} FROM ${this.staging} WHERE ${selected}) AS s WHERE ${matches}`);
      }
      const inserted = await this.db.run(`INSERT INTO ${target} (${names}) ${source}`);
      const rows = Number(inserted.rowsChanged);
      await this.db.run(`INSERT INTO ${this.destination.markers()} VALUES ($1, $2, $3, $4, $5, $6, now())`, [
        marker.runId,
        marker.job,
        marker.table,
        marker.strategy,
        JSON.stringify(marker.units),
        rows,
      ]);
      if (rejects.length) await this.writeRejects(rejects);
      await this.db.run('COMMIT');
      await this.abort();
      return rows;
    } catch (error) {
      await this.db.run('ROLLBACK').catch(() => undefined);
      throw error;
    }
  }

  /** The sanitized name of a primary-key column given by its source or sanitized name. */
  private nameOf(key: string): string {
    const column = this.columns.find((c) => c.source === key || c.name === key || c.name.toLowerCase() === key.toLowerCase());
    if (!column) throw new EtlError(`load.primary_key column ${key} is not among the loaded columns`, `columns are: ${this.columns.map((c) => c.source).join(', ')}`);
    return column.name;
  }

  /** Creates the target or brings its schema up to the run's columns, inside the commit transaction. */
  private async evolveTarget(target: string): Promise<void> {
    const existing = await this.destination.describe(this.request.table);
    if (!existing) {
      const defs = this.columns.map((column) => `${quote(column.name)} ${DUCKDB_TYPES[column.type]}`);
      await this.db.run(`CREATE TABLE ${target} (${defs.join(', ')})`);
    } else {
      const known = new Map(existing.columns.map((column) => [column.name.toLowerCase(), column]));
      for (const column of this.columns) {
        const before = known.get(column.name.toLowerCase());
        if (!before) await this.db.run(`ALTER TABLE ${target} ADD COLUMN ${quote(column.name)} ${DUCKDB_TYPES[column.type]}`);
        else if (before.type !== column.type) await this.db.run(`ALTER TABLE ${target} ALTER COLUMN ${quote(column.name)} TYPE ${DUCKDB_TYPES[column.type]}`);
      }
    }
    await this.db.run(`INSERT OR IGNORE INTO ${this.destination.tables()} VALUES ($1, $2, now())`, [this.request.table, this.request.strategy]);
  }

  private async writeRejects(rejects: readonly RejectedRow[]): Promise<void> {
    const table = this.destination.target(`${this.request.table}__rejected`);
    await this.db.run(
      `CREATE TABLE IF NOT EXISTS ${table} (run_id VARCHAR, unit VARCHAR, position VARCHAR, column_name VARCHAR, reason VARCHAR, raw VARCHAR, rejected_at TIMESTAMPTZ)`,
    );
    const statement = await this.db.prepare(`INSERT INTO ${table} VALUES ($1, $2, $3, $4, $5, $6, now())`);
    for (const reject of rejects) {
      statement.bind([reject.runId, reject.unit, reject.position, reject.column ?? null, reject.reason, reject.raw]);
      await statement.run();
    }
  }

  async abort(): Promise<void> {
    this.flush();
    if (this.created) await this.db.run(`DROP TABLE IF EXISTS ${this.staging}`);
    this.created = false;
  }
}
