/**
 * A staging table that an engine fills by itself (a load job from gs:// URIs, a Dataflow job),
 * then committed into the target with the same marker transaction as a streamed run.
 */
import type { Column, LoadMarker, TableStage, TableStageRequest } from '../../../src/core/connector.js';
import { bigQueryError, ident } from '../../bigquery-common/bigquery-client.js';
import { columnsOf, fieldOf, type BigQueryField } from '../../bigquery-common/bigquery-types.js';
import { commitStaging } from './bigquery-commit.js';
import type { BigQueryDestination } from './bigquery-destination.js';
import { loadStaging } from './bigquery-staging-load.js';

/** A run's staging table in the destination's dataset, created with the run's exact columns (and the engine's extra ones). */
export class BigQueryTableStage implements TableStage {
  private dropped = false;
  private fields: BigQueryField[];
  /** Each column's SELECT expression from the staging table, when one is not its name. */
  private select?: string[];

  private constructor(
    private readonly destination: BigQueryDestination,
    private readonly request: TableStageRequest,
    readonly location: { readonly project: string; readonly dataset: string; readonly table: string },
    public columns: readonly Column[],
  ) {
    // The commit names the run's columns: the extra ones stay behind with the table.
    this.fields = [...columns, ...(request.extra ?? [])].map((c) => fieldOf(c));
  }

  static async create(destination: BigQueryDestination, request: TableStageRequest): Promise<BigQueryTableStage> {
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
    if ('schema' in options && options.schema === undefined) this.adopt((await d.tables.tableMetadata(this.location.table))?.schema?.fields ?? []);
    return { rows: Number(metadata.statistics?.load?.outputRows ?? 0), columns: this.columns };
  }

  /**
   * Takes the staging table's own columns: records and repeated fields go into the target as JSON
   * (text, or JSON with `source.nested: json`), as b2betl loads nested values from any source.
   */
  private adopt(fields: BigQueryField[]): void {
    const json = this.request.job.source.nested === 'json';
    const nested = (field: BigQueryField) => (field.mode ?? '').toUpperCase() === 'REPEATED' || ['RECORD', 'STRUCT'].includes(field.type.toUpperCase());
    this.fields = fields;
    this.columns = fields.map((field) => (nested(field) ? { ...columnsOf([{ ...field, mode: 'NULLABLE' }])[0], type: json ? 'JSON' : 'STRING', repeated: undefined } : columnsOf([field])[0]));
    this.select = fields.some(nested) ? fields.map((field) => (nested(field) ? `${json ? 'TO_JSON' : 'TO_JSON_STRING'}(${ident(field.name)}) AS ${ident(field.name)}` : ident(field.name))) : undefined;
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
    await commitStaging(d, { spec: job, table, staging: this.location.table, columns: this.columns, strategy, primaryKey, marker, replace, select: this.select });
    this.request.log.info(`committed ${marker.rows} rows into ${d.locate(table)} (run ${runId})`);
    return marker.rows;
  }

  async abort(): Promise<void> {
    if (this.dropped) return;
    this.dropped = true;
    await this.destination.tables.dropTable(this.location.table);
  }
}
