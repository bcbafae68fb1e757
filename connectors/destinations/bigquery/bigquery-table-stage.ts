/**
 * A staging table that an engine fills by itself (a load job from gs:// URIs, a Dataflow job),
 * then committed into the target with the same marker transaction as a streamed run.
 */
import type { Column, LoadMarker, StageRequest, TableStage } from '../../../src/core/connector.js';
import { bigQueryError } from '../../bigquery-common/bigquery-client.js';
import { columnsOf, fieldOf, type BigQueryField } from '../../bigquery-common/bigquery-types.js';
import { commitStaging } from './bigquery-commit.js';
import type { BigQueryDestination } from './bigquery-destination.js';
import { loadStaging } from './bigquery-staging-load.js';

/** A run's staging table in the destination's dataset, created with the run's exact columns. */
export class BigQueryTableStage implements TableStage {
  private dropped = false;
  private fields: BigQueryField[];

  private constructor(
    private readonly destination: BigQueryDestination,
    private readonly request: StageRequest,
    readonly location: { readonly project: string; readonly dataset: string; readonly table: string },
    public columns: readonly Column[],
  ) {
    this.fields = columns.map((c) => fieldOf(c));
  }

  static async create(destination: BigQueryDestination, request: StageRequest): Promise<BigQueryTableStage> {
    await destination.tables.ensureDataset();
    const stage = new BigQueryTableStage(destination, request, destination.stagingLocation(request.job.name, request.runId), request.columns);
    await destination.tables.createStaging(stage.location.table, stage.fields);
    return stage;
  }

  async loadUris(uris: readonly string[], options: Readonly<Record<string, unknown>>, step = 'load'): Promise<{ rows: number; columns: readonly Column[] }> {
    const d = this.destination;
    const { job, runId } = this.request;
    const metadata = await loadStaging(d, this.location.table, this.fields, { kind: 'uris', uris }, d.jobIdFor(job.name, runId, step), options);
    // A load that gives no schema (an export carries its own) leaves the table with the export's columns.
    if ('schema' in options && options.schema === undefined) {
      const fields = (await d.tables.tableMetadata(this.location.table))?.schema?.fields ?? [];
      this.fields = fields;
      this.columns = columnsOf(fields);
    }
    return { rows: Number(metadata.statistics?.load?.outputRows ?? 0), columns: this.columns };
  }

  async count(): Promise<number> {
    const d = this.destination;
    try {
      const [rows] = await d.handle.client.query({ query: `SELECT COUNT(*) AS n FROM ${d.path(this.location.table)}`, location: d.handle.location } as never);
      return Number((rows as { n: number | string }[])[0]?.n ?? 0);
    } catch (error) {
      throw bigQueryError(error, `count the rows staged in ${this.location.project}.${this.location.dataset}.${this.location.table}`, d.handle);
    }
  }

  async commit(marker: LoadMarker): Promise<number> {
    const d = this.destination;
    const { job, table, strategy, runId, primaryKey, replace } = this.request;
    await d.tables.prepareTarget(job, table, strategy, this.columns, runId, primaryKey);
    await commitStaging(d, { spec: job, table, staging: this.location.table, columns: this.columns, strategy, primaryKey, marker, rejects: [], replace });
    this.request.log.info(`committed ${marker.rows} rows into ${d.locate(table)} (run ${runId})`);
    return marker.rows;
  }

  async abort(): Promise<void> {
    if (this.dropped) return;
    this.dropped = true;
    await this.destination.tables.dropTable(this.location.table);
  }
}
