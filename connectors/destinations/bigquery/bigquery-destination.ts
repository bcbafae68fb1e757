/**
 * The BigQuery destination. Rows of a run are written to local NDJSON files per unit, loaded
 * with a single load job into a staging table that expires within a day, then moved into the
 * target together with the `_b2betl_loads` marker in one multi-statement transaction.
 */
import type { ConnectorContext, DestinationCapabilities, DestinationConnector, LoadStrategy, Stage, StageRequest, StoredMarker, TableInfo, TableStage, TableStageRequest } from '../../../src/core/connector.js';
import { bigQueryError, jobId, openBigQuery, tablePath, type BigQueryHandle } from '../../bigquery-common/bigquery-client.js';
import { canWiden, columnsOf } from '../../bigquery-common/bigquery-types.js';
import { BigQueryStage } from './bigquery-stage.js';
import { BigQueryTableStage } from './bigquery-table-stage.js';
import { BigQueryTables, MARKERS, STRATEGY_LABEL } from './bigquery-tables.js';

/** The BigQuery destination connector: describes tables, stages runs and reports committed ones. */
export class BigQueryDestination implements DestinationConnector {
  readonly capabilities: DestinationCapabilities = {
    merge: true,
    canWiden,
    // A JSON load job takes rows of up to 100 MB; the NDJSON keys and quotes ride within the margin.
    maxRow: { bytes: 100e6, name: "BigQuery's limit of 100 MB per row" },
    timeRange: { min: -62135596800000000n, max: 253402300799999999n, name: "BigQuery's range, 0001-01-01 to 9999-12-31" },
  };
  /** The dataset and its tables: creation, the marker table, staging tables, schema changes. */
  readonly tables: BigQueryTables;

  private constructor(
    readonly handle: BigQueryHandle,
    readOnly: boolean,
  ) {
    this.tables = new BigQueryTables(this, handle, readOnly);
  }

  static async open(context: ConnectorContext): Promise<BigQueryDestination> {
    return new BigQueryDestination(await openBigQuery(context), Boolean(context.readOnly));
  }

  get project(): string {
    return this.handle.project;
  }

  get datasetId(): string {
    return this.handle.config.dataset;
  }

  /** `project.dataset.table` quoted for SQL. */
  path(table: string): string {
    return tablePath(this.project, this.datasetId, table);
  }

  locate(table: string): string {
    return `bigquery ${this.project}.${this.datasetId}.${table}`;
  }

  async describe(table: string): Promise<TableInfo | undefined> {
    const metadata = await this.tables.tableMetadata(table);
    if (!metadata) return undefined;
    const label = metadata.labels?.[STRATEGY_LABEL];
    const strategy = label === 'transactional' || label === 'catalog' || label === 'merge' ? (label as LoadStrategy) : undefined;
    return { columns: columnsOf(metadata.schema?.fields ?? []), strategy, rows: metadata.numRows !== undefined ? Number(metadata.numRows) : undefined };
  }

  async stage(request: StageRequest): Promise<Stage> {
    return BigQueryStage.create(this, request);
  }

  async committedRuns(job: string, runIds: readonly string[]): Promise<Set<string>> {
    if (!runIds.length) return new Set();
    if (!(await this.tables.tableMetadata(MARKERS))) return new Set();
    try {
      const [rows] = await this.handle.client.query({
        query: `SELECT run_id FROM ${this.path(MARKERS)} WHERE job = @job AND run_id IN UNNEST(@runs)`,
        params: { job, runs: [...runIds] },
        types: { job: 'STRING', runs: ['STRING'] },
        location: this.handle.location,
      } as never);
      return new Set((rows as { run_id: string }[]).map((row) => row.run_id));
    } catch (error) {
      throw bigQueryError(error, `read load markers in ${this.project}.${this.datasetId}.${MARKERS}`, this.handle);
    }
  }

  async markers(job: string, table: string): Promise<StoredMarker[]> {
    const metadata = await this.tables.tableMetadata(MARKERS);
    if (!metadata) return [];
    const hasState = metadata.schema?.fields?.some((field) => field.name === 'state') ?? false;
    try {
      const [rows] = await this.handle.client.query({
        query: `SELECT run_id, table_name, strategy, rows, UNIX_MICROS(committed_at) AS committed_at, ${hasState ? 'state' : 'CAST(NULL AS STRING)'} AS state
                FROM ${this.path(MARKERS)} WHERE job = @job AND table_name = @table ORDER BY committed_at, run_id`,
        params: { job, table },
        types: { job: 'STRING', table: 'STRING' },
        location: this.handle.location,
      } as never);
      return (rows as { run_id: string; table_name: string; strategy: string; rows: number | string; committed_at: number | string; state: string | null }[]).map((row) => ({
        runId: row.run_id,
        table: row.table_name,
        strategy: row.strategy,
        rows: Number(row.rows),
        committedAt: new Date(Number(row.committed_at) / 1000).toISOString(),
        state: row.state,
      }));
    } catch (error) {
      throw bigQueryError(error, `read load markers in ${this.project}.${this.datasetId}.${MARKERS}`, this.handle);
    }
  }

  async tableStage(request: TableStageRequest): Promise<TableStage> {
    return BigQueryTableStage.create(this, request);
  }

  stagingLocation(job: string, runId: string): TableStage['location'] {
    return { project: this.project, dataset: this.datasetId, table: this.stagingName(job, runId) };
  }

  /** A staging table name for a run, unique per job and run. */
  stagingName(job: string, runId: string): string {
    return jobId('_b2betl_stage', job, runId).slice(0, 1000);
  }

  /** The job id of one step of a run: `b2betl_<job>_<runId>_<step>`. */
  jobIdFor(job: string, runId: string, step: string): string {
    return jobId('b2betl', job, runId, step);
  }

  async close(): Promise<void> {
    // The REST client holds no connections that need closing.
  }
}
