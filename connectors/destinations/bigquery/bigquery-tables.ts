/**
 * The destination's dataset and tables: created when missing, the `_b2betl_loads` marker table,
 * staging tables, and targets brought to a run's columns (added, widened, labelled).
 */
import { randomUUID } from 'node:crypto';
import type { Column, LoadStrategy } from '../../../src/core/connector.js';
import { EtlError, SchemaError } from '../../../src/core/errors.js';
import type { JobSpec } from '../../../src/core/spec.js';
import { bigQueryError, errorCode, ident, jobId, runQuery, type BigQueryHandle } from '../../bigquery-common/bigquery-client.js';
import { canWiden, columnsOf, fieldOf, type BigQueryField } from '../../bigquery-common/bigquery-types.js';
import type { BigQueryDestination } from './bigquery-destination.js';

/** The marker table every commit writes in the same transaction as the data. */
export const MARKERS = '_b2betl_loads';
/** The label that records which strategy loads a table. */
export const STRATEGY_LABEL = 'b2betl_strategy';
/** Staging tables expire after this long even if a run dies before dropping them. */
const STAGING_TTL_MS = 24 * 60 * 60 * 1000;

const MARKER_FIELDS: BigQueryField[] = [
  { name: 'run_id', type: 'STRING', mode: 'REQUIRED' },
  { name: 'job', type: 'STRING', mode: 'REQUIRED' },
  { name: 'table_name', type: 'STRING', mode: 'REQUIRED' },
  { name: 'strategy', type: 'STRING', mode: 'REQUIRED' },
  { name: 'units', type: 'STRING', mode: 'REPEATED' },
  { name: 'rows', type: 'INT64', mode: 'REQUIRED' },
  { name: 'committed_at', type: 'TIMESTAMP', mode: 'REQUIRED' },
  // What the ledger records for the run (JSON text), to rebuild a lost ledger.
  { name: 'state', type: 'STRING', mode: 'NULLABLE' },
];

/** A GoogleSQL string literal. */
export function sqlString(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n').replace(/\r/g, '\\r')}'`;
}

/** GoogleSQL type of a column, for DDL. */
function sqlType(column: Pick<Column, 'type' | 'repeated'>): string {
  return column.repeated ? `ARRAY<${column.type}>` : column.type;
}

/** Dataset and table management of one BigQuery destination. */
export class BigQueryTables {
  private datasetReady?: Promise<void>;
  private markersReady?: Promise<void>;

  constructor(
    private readonly destination: BigQueryDestination,
    private readonly handle: BigQueryHandle,
    private readonly readOnly: boolean,
  ) {}

  /** Creates the dataset (in `location`) when missing; once per process. */
  ensureDataset(): Promise<void> {
    if (this.readOnly) throw new EtlError('the BigQuery destination was opened read-only');
    this.datasetReady ??= (async () => {
      const dataset = this.handle.dataset();
      try {
        const [exists] = await dataset.exists();
        if (exists) return;
        await dataset.create({ location: this.handle.location } as never);
        this.handle.log.info(`created dataset ${this.destination.project}.${this.destination.datasetId}${this.handle.location ? ` in ${this.handle.location}` : ''}`);
      } catch (error) {
        if (errorCode(error) === 409) return;
        this.datasetReady = undefined;
        throw bigQueryError(error, `create dataset ${this.destination.project}.${this.destination.datasetId}`, this.handle);
      }
    })();
    return this.datasetReady;
  }

  /** Creates `_b2betl_loads` when missing: day-partitioned on committed_at, clustered by job. */
  ensureMarkers(): Promise<void> {
    this.markersReady ??= (async () => {
      await this.ensureDataset();
      try {
        const created = await this.createTable(MARKERS, MARKER_FIELDS, {
          timePartitioning: { type: 'DAY', field: 'committed_at' },
          clustering: { fields: ['job'] },
        });
        // A marker table from before markers carried the run's state gains the column.
        if (!created && !(await this.tableMetadata(MARKERS))?.schema?.fields?.some((f) => f.name === 'state')) {
          await runQuery(this.handle, jobId('b2betl_markers_state', randomUUID()), `ALTER TABLE ${this.destination.path(MARKERS)} ADD COLUMN IF NOT EXISTS state STRING`, `add the state column to ${this.destination.project}.${this.destination.datasetId}.${MARKERS}`);
        }
      } catch (error) {
        this.markersReady = undefined;
        throw error;
      }
    })();
    return this.markersReady;
  }

  /** tables.insert; an existing table is fine (a retried step created it). */
  async createTable(table: string, fields: readonly BigQueryField[], options: Record<string, unknown> = {}): Promise<boolean> {
    try {
      await this.handle.dataset().table(table).create({ schema: { fields }, ...options } as never);
      return true;
    } catch (error) {
      if (errorCode(error) === 409) return false;
      throw bigQueryError(error, `create table ${this.destination.project}.${this.destination.datasetId}.${table}`, this.handle);
    }
  }

  /** The table's resource, or undefined when it does not exist. */
  async tableMetadata(table: string): Promise<{ schema?: { fields?: BigQueryField[] }; labels?: Record<string, string>; numRows?: string; timePartitioning?: unknown } | undefined> {
    try {
      const [metadata] = await this.handle.dataset().table(table).getMetadata();
      return metadata as never;
    } catch (error) {
      if (errorCode(error) === 404) return undefined;
      throw bigQueryError(error, `read table ${this.destination.project}.${this.destination.datasetId}.${table}`, this.handle);
    }
  }

  /** Drops a table, ignoring one that is already gone. */
  async dropTable(table: string): Promise<void> {
    try {
      await this.handle.dataset().table(table).delete();
    } catch (error) {
      if (errorCode(error) !== 404) this.handle.log.warn(`could not drop ${this.destination.project}.${this.destination.datasetId}.${table}: ${bigQueryError(error, 'drop a staging table', this.handle).message}`);
    }
  }

  /**
   * Creates the target from `columns`, or brings it to them: labels it with the strategy
   * (refusing another), adds new columns as NULLABLE and widens types BigQuery can widen, in
   * one DDL script run before the load.
   */
  async prepareTarget(spec: JobSpec, table: string, strategy: LoadStrategy, columns: readonly Column[], runId: string, primaryKey: readonly string[]): Promise<void> {
    const metadata = await this.tableMetadata(table);
    if (!metadata) {
      const options: Record<string, unknown> = { labels: { [STRATEGY_LABEL]: strategy } };
      const cursor = spec.load.cursor ? columns.find((c) => c.source === spec.load.cursor || c.name === spec.load.cursor) : undefined;
      if (strategy === 'transactional' && cursor && ['TIMESTAMP', 'DATE', 'DATETIME'].includes(cursor.type) && !cursor.repeated) {
        options.timePartitioning = { type: 'DAY', field: cursor.name };
      }
      const keys = primaryKey
        .map((key) => columns.find((c) => c.source === key || c.name === key))
        .filter((c): c is Column => c !== undefined && !c.repeated && !['FLOAT64', 'JSON'].includes(c.type))
        .slice(0, 4);
      if (strategy === 'merge' && keys.length) options.clustering = { fields: keys.map((c) => c.name) };
      const created = await this.createTable(table, columns.map((c) => fieldOf({ ...c, nullable: true })), options);
      if (created) {
        this.handle.log.info(`created table ${this.destination.project}.${this.destination.datasetId}.${table}${options.timePartitioning ? `, partitioned by day on ${cursor!.name}` : ''}`);
        return;
      }
      return this.prepareTarget(spec, table, strategy, columns, runId, primaryKey);
    }
    const label = metadata.labels?.[STRATEGY_LABEL];
    if (label && label !== strategy) {
      throw new SchemaError(
        `${this.destination.locate(table)} is loaded with strategy ${label}; job ${spec.name} uses ${strategy}`,
        `a table keeps one load strategy: set load.strategy: ${label}, or load into another destination.table`,
      );
    }
    const existing = new Map((metadata.schema?.fields ?? []).map((f) => [f.name.toLowerCase(), f]));
    const actions: string[] = [];
    const problems: string[] = [];
    for (const column of columns) {
      const field = existing.get(column.name.toLowerCase());
      if (!field) {
        actions.push(`ADD COLUMN IF NOT EXISTS ${ident(column.name)} ${sqlType(column)}`);
        continue;
      }
      const [current] = columnsOf([field]);
      if (field.type === 'RECORD' || field.type === 'STRUCT') {
        problems.push(`  ${field.name}: the table has a RECORD column; b2betl loads nested values as JSON or STRING columns`);
      } else if (current.type !== column.type) {
        if (canWiden(current.type, column.type)) actions.push(`ALTER COLUMN ${ident(field.name)} SET DATA TYPE ${column.type}`);
        else problems.push(`  ${field.name}: the table has ${current.type}, this run needs ${column.type}`);
      }
    }
    if (problems.length) {
      throw new SchemaError(
        `cannot change the columns of ${this.destination.locate(table)}:\n${problems.join('\n')}`,
        'BigQuery widens only INT64 → NUMERIC/BIGNUMERIC/FLOAT64 and NUMERIC → BIGNUMERIC/FLOAT64; load into a new destination.table, or recreate the column with the wider type yourself (CREATE OR REPLACE TABLE … AS SELECT CAST(…))',
      );
    }
    const statements: string[] = [];
    const adds = actions.filter((a) => a.startsWith('ADD'));
    if (adds.length) statements.push(`ALTER TABLE ${this.destination.path(table)} ${adds.join(', ')}`);
    for (const alter of actions.filter((a) => a.startsWith('ALTER'))) statements.push(`ALTER TABLE ${this.destination.path(table)} ${alter}`);
    if (!label) statements.push(`ALTER TABLE ${this.destination.path(table)} SET OPTIONS (labels = [(${sqlString(STRATEGY_LABEL)}, ${sqlString(strategy)})])`);
    if (!statements.length) return;
    await runQuery(this.handle, this.destination.jobIdFor(spec.name, runId, 'schema'), statements.join(';\n'), `change the schema of ${this.destination.project}.${this.destination.datasetId}.${table}`);
    this.handle.log.info(`${this.destination.locate(table)}: ${actions.length ? actions.join(', ') : 'labelled'} `);
  }

  /** Creates the staging table: run columns (all NULLABLE), expiring within a day. */
  async createStaging(name: string, fields: readonly BigQueryField[]): Promise<void> {
    await this.createTable(name, fields, { expirationTime: String(Date.now() + STAGING_TTL_MS) });
  }
}
