/** Load jobs: files from an upload or gs:// URIs into a table, with dispositions and schema updates. */
import { randomUUID } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { BqFailure, duckScalar, invalid, normalizeSchema, type BqField } from './bigquery-double-types.js';
import { duckTable, quote, type TablePath } from './bigquery-double-sql.js';
import type { TableCatalog } from './bigquery-double-catalog.js';
import { RESULTS_SCHEMA, type DuckSession } from './bigquery-double-duck.js';
import { parseLoadFiles } from './bigquery-double-load-files.js';
import type { JobState, ObjectReader, TableState } from './bigquery-double-state.js';
import { validateTableOptions } from './bigquery-double-table-options.js';

/** Runs load jobs against the catalog, all rows or none. */
export class LoadRunner {
  constructor(
    private readonly duck: DuckSession,
    private readonly tables: TableCatalog,
    private readonly objects: ObjectReader | undefined,
  ) {}

  /** Runs a load job: reads, checks and appends or replaces the rows in one transaction. */
  async runLoad(job: JobState): Promise<void> {
    const load = job.configuration.load;
    const dest = load.destinationTable ?? {};
    const target: TablePath = { project: dest.projectId ?? job.project, dataset: dest.datasetId, table: dest.tableId };
    this.tables.dataset(target.project, target.dataset);
    const format = String(load.sourceFormat ?? 'CSV').toUpperCase();
    if (format === 'DATASTORE_BACKUP') return this.refuseBackup(job, target);
    const files: { name: string; data: Buffer }[] = [];
    if (job.upload) files.push({ name: 'file-00000000', data: job.upload });
    for (const uri of (load.sourceUris ?? []) as string[]) {
      if (!this.objects) throw invalid(`the test double was started without an object reader, so it cannot read ${uri}`);
      const data = await this.objects(uri);
      if (!data) throw new BqFailure(404, 'notFound', `Not found: URI ${uri}`);
      files.push({ name: uri, data });
    }
    if (files.length === 0) throw invalid('No source URIs or upload given for the load job');
    // Like BigQuery, gzip-compressed CSV and JSON files are recognized by their content.
    for (const file of files) {
      if (file.data[0] === 0x1f && file.data[1] === 0x8b && format !== 'PARQUET') {
        try {
          file.data = gunzipSync(file.data);
        } catch {
          throw invalid(`Error while reading data, error message: the gzip data in ${file.name} is corrupt`, file.name);
        }
      }
    }
    const existing = this.tables.findTable(target);
    const createDisposition = load.createDisposition ?? 'CREATE_IF_NEEDED';
    const writeDisposition = load.writeDisposition ?? 'WRITE_APPEND';
    if (!existing && createDisposition === 'CREATE_NEVER') throw new BqFailure(404, 'notFound', `Not found: Table ${this.tables.tableKey(target)}`);
    if (load.autodetect) throw invalid('the test double does not support schema autodetection; give the schema');
    const given = load.schema?.fields ? normalizeSchema(load.schema.fields, this.tables.tableKey(target)) : undefined;
    const fields = given ?? existing?.fields;
    if (!fields) throw invalid('No schema specified on job or table.');
    const updateOptions = new Set<string>(load.schemaUpdateOptions ?? []);
    if (updateOptions.size && existing && writeDisposition === 'WRITE_EMPTY') {
      throw invalid('Schema update options should only be specified with WRITE_APPEND disposition, or with WRITE_TRUNCATE disposition on a table partition.');
    }
    if (existing && writeDisposition === 'WRITE_EMPTY') {
      const count = await this.duck.db.runAndReadAll(`SELECT COUNT(*) FROM ${duckTable(target)}`);
      if (Number(count.getRowsJS()[0][0]) > 0) throw new BqFailure(409, 'duplicate', `Already Exists: Table ${this.tables.tableKey(target)}`);
    }

    const { rows, errors, total } = await parseLoadFiles(this.duck, format, files, fields, load);
    const maxBad = Number(load.maxBadRecords ?? 0);
    if (errors.length > maxBad) {
      const kind = format === 'NEWLINE_DELIMITED_JSON' ? 'JSON' : format === 'CSV' ? 'CSV' : format;
      throw new BqFailure(
        400,
        'invalid',
        `Error while reading data, error message: ${kind} table encountered too many errors, giving up. Rows: ${total}; errors: ${errors.length}. Please look into the errors[] collection for more details.`,
        errors.slice(0, 5),
        errors[0]?.location,
      );
    }

    this.tables.noteUpdate(target);
    await this.duck.run('BEGIN TRANSACTION');
    try {
      let state = existing;
      if (!state || writeDisposition === 'WRITE_TRUNCATE') {
        const options = { timePartitioning: load.timePartitioning ?? state?.timePartitioning, clustering: load.clustering ?? state?.clustering };
        validateTableOptions(fields, options, this.tables.tableKey(target));
        await this.tables.createStorage(target, fields);
        const now = Date.now();
        state = {
          path: target,
          fields: fields.map((f) => ({ ...f })),
          labels: state?.labels ?? {},
          timePartitioning: options.timePartitioning,
          clustering: options.clustering,
          expirationTime: state?.expirationTime,
          description: state?.description,
          creationTime: state?.creationTime ?? now,
          lastModifiedTime: now,
          etag: randomUUID(),
        };
      } else if (given) {
        await this.tables.applySchema(state, given, {
          addition: updateOptions.has('ALLOW_FIELD_ADDITION'),
          relaxation: updateOptions.has('ALLOW_FIELD_RELAXATION'),
          requireAll: false,
        });
      }
      await this.insertRows(state, fields, rows);
      await this.duck.run('COMMIT');
      state.lastModifiedTime = Date.now();
      this.tables.tables.set(this.tables.tableKey(target), state);
      this.tables.recordCommit(new Map([[this.tables.tableKey(target), existing && writeDisposition === 'WRITE_TRUNCATE' ? 'mutate' : 'insert']]));
    } catch (error) {
      await this.duck.db.run('ROLLBACK').catch(() => undefined);
      throw error;
    }
    job.statistics.load = {
      inputFiles: String(files.length),
      inputFileBytes: String(files.reduce((n, f) => n + f.data.length, 0)),
      outputRows: String(rows.length),
      outputBytes: '0',
      badRecords: String(errors.length),
    };
  }

  /**
   * A load of a Datastore or Firestore export, checked as BigQuery checks it
   * (https://cloud.google.com/bigquery/docs/loading-data-cloud-firestore): one URI, no wildcard,
   * the export's `.export_metadata` file, no schema (the export has its own), no appending to a
   * table, and the file present. The double cannot read the export's files (LevelDB log records
   * of entity protocol buffers), so a load that passes every check fails saying that.
   */
  private async refuseBackup(job: JobState, target: TablePath): Promise<void> {
    const load = job.configuration.load;
    if (job.upload) throw invalid('Datastore backups are loaded from Cloud Storage only; a media upload cannot be one');
    const uris = (load.sourceUris ?? []) as string[];
    if (uris.length !== 1) throw invalid(`Only one source URI may be given for a Datastore backup; got ${uris.length}`);
    const uri = uris[0];
    if (uri.includes('*')) throw invalid(`Wildcards are not allowed in the URI of a Datastore backup: ${uri}`);
    if (!uri.endsWith('.export_metadata')) throw invalid(`The URI of a Datastore backup must name its .export_metadata file: ${uri}`);
    if (load.schema !== undefined) throw invalid('A schema cannot be specified when loading a Datastore backup: the backup carries its own');
    if (load.autodetect) throw invalid('Schema autodetection does not apply to Datastore backups');
    for (const key of ['fieldDelimiter', 'skipLeadingRows', 'quote', 'allowQuotedNewlines', 'allowJaggedRows', 'encoding', 'maxBadRecords', 'ignoreUnknownValues', 'nullMarker']) {
      if (load[key] !== undefined) throw invalid(`${key} does not apply to Datastore backups`);
    }
    if (load.projectionFields !== undefined && (!Array.isArray(load.projectionFields) || load.projectionFields.some((f: unknown) => typeof f !== 'string' || f.includes('.')))) {
      throw invalid('projectionFields must name top-level properties of the backup');
    }
    const existing = this.tables.findTable(target);
    const writeDisposition = load.writeDisposition ?? 'WRITE_APPEND';
    if (existing && writeDisposition === 'WRITE_APPEND') throw invalid(`Cannot append a Datastore backup to the existing table ${this.tables.tableKey(target)}; overwrite it (WRITE_TRUNCATE) or load a new table`);
    if (!existing && (load.createDisposition ?? 'CREATE_IF_NEEDED') === 'CREATE_NEVER') throw new BqFailure(404, 'notFound', `Not found: Table ${this.tables.tableKey(target)}`);
    if (!this.objects) throw invalid(`the test double was started without an object reader, so it cannot read ${uri}`);
    if (!(await this.objects(uri))) throw new BqFailure(404, 'notFound', `Not found: URI ${uri}`);
    throw invalid(`the test double cannot read Datastore backup files (LevelDB log records of entity protocol buffers); the load of ${uri} passed every check of its request`);
  }

  private async insertRows(state: TableState, fields: BqField[], rows: (string | null)[][]): Promise<void> {
    if (rows.length === 0) return;
    const name = this.duck.nextName('load');
    const staging = `${quote(RESULTS_SCHEMA)}.${quote(name)}`;
    await this.duck.run(`CREATE TABLE ${staging} (${fields.map((_, i) => `c${i} VARCHAR`).join(', ')})`);
    const appender = await this.duck.db.createAppender(name, RESULTS_SCHEMA);
    for (const row of rows) {
      for (const value of row) {
        if (value === null) appender.appendNull();
        else appender.appendVarchar(value);
      }
      appender.endRow();
    }
    appender.closeSync();
    const expressions = fields.map((field, i) => {
      const column = `c${i}`;
      if (field.mode === 'REPEATED') {
        return `COALESCE(list_transform(CAST(CAST(${column} AS JSON) AS VARCHAR[]), x -> ${castText('x', field.type)}), [])`;
      }
      return castText(column, field.type);
    });
    await this.duck.run(`INSERT INTO ${duckTable(state.path)} (${fields.map((f) => quote(f.name)).join(', ')}) SELECT ${expressions.join(', ')} FROM ${staging}`);
    await this.duck.run(`DROP TABLE ${staging}`);
  }
}

/** DuckDB expression casting normalized load text into the storage type. */
function castText(column: string, type: string): string {
  switch (type) {
    case 'STRING':
    case 'BIGNUMERIC':
      return column;
    case 'BYTES':
      return `from_base64(${column})`;
    default:
      return `CAST(${column} AS ${duckScalar(type)})`;
  }
}
