/**
 * The BigQuery destination. Rows of a run are written to local NDJSON files per unit, loaded
 * with a single load job into a staging table that expires within a day, then moved into the
 * target together with the `_b2betl_loads` marker in one multi-statement transaction.
 */
import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import type { JobMetadata } from '@google-cloud/bigquery';
import type {
  Column,
  ConnectorContext,
  DestinationConnector,
  DirectLoad,
  DirectRequest,
  LoadMarker,
  LoadStrategy,
  ObjectStore,
  RejectedRow,
  Stage,
  StageRequest,
  TableInfo,
  Value,
} from '../../../src/core/connector.js';
import { EtlError, SchemaError } from '../../../src/core/errors.js';
import type { JobSpec } from '../../../src/core/spec.js';
import type { ColumnType } from '../../../src/core/types.js';
import {
  bigQueryError,
  errorCode,
  ident,
  jobId,
  openBigQuery,
  runJob,
  runQuery,
  tablePath,
  type BigQueryHandle,
  type QueryParam,
} from '../../bigquery-common/bigquery-client.js';
import { canWiden, columnsOf, fieldOf, NdjsonEncoder, type BigQueryField } from '../../bigquery-common/bigquery-types.js';
import { planDirectLoad } from './bigquery-direct.js';

/** The marker table every commit writes in the same transaction as the data. */
export const MARKERS = '_b2betl_loads';
/** The label that records which strategy loads a table. */
export const STRATEGY_LABEL = 'b2betl_strategy';
/** Column of staging tables that orders rows for "last row wins" in merges. */
export const ROW_COLUMN = '_b2betl_row';
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
];

const REJECT_FIELDS: BigQueryField[] = [
  { name: 'run_id', type: 'STRING', mode: 'REQUIRED' },
  { name: 'unit', type: 'STRING', mode: 'NULLABLE' },
  { name: 'position', type: 'STRING', mode: 'NULLABLE' },
  { name: 'column_name', type: 'STRING', mode: 'NULLABLE' },
  { name: 'reason', type: 'STRING', mode: 'NULLABLE' },
  { name: 'raw', type: 'STRING', mode: 'NULLABLE' },
  { name: 'rejected_at', type: 'TIMESTAMP', mode: 'NULLABLE' },
];

/** A GoogleSQL string literal. */
export function sqlString(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n').replace(/\r/g, '\\r')}'`;
}

/** GoogleSQL type of a column, for DDL. */
function sqlType(column: Pick<Column, 'type' | 'repeated'>): string {
  return column.repeated ? `ARRAY<${column.type}>` : column.type;
}

/** Where the loaded bytes come from: local files uploaded, or gs:// URIs. */
export type LoadSource = { kind: 'files'; files: readonly string[] } | { kind: 'uris'; uris: readonly string[] };

export class BigQueryDestination implements DestinationConnector {
  readonly capabilities = {
    merge: true,
    canWiden,
  };
  private datasetReady?: Promise<void>;
  private markersReady?: Promise<void>;

  private constructor(
    readonly handle: BigQueryHandle,
    private readonly readOnly: boolean,
  ) {}

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

  /** Creates the dataset (in `location`) when missing; once per process. */
  ensureDataset(): Promise<void> {
    if (this.readOnly) throw new EtlError('the BigQuery destination was opened read-only');
    this.datasetReady ??= (async () => {
      const dataset = this.handle.dataset();
      try {
        const [exists] = await dataset.exists();
        if (exists) return;
        await dataset.create({ location: this.handle.location } as never);
        this.handle.log.info(`created dataset ${this.project}.${this.datasetId}${this.handle.location ? ` in ${this.handle.location}` : ''}`);
      } catch (error) {
        if (errorCode(error) === 409) return;
        this.datasetReady = undefined;
        throw bigQueryError(error, `create dataset ${this.project}.${this.datasetId}`, this.handle);
      }
    })();
    return this.datasetReady;
  }

  /** Creates `_b2betl_loads` when missing: day-partitioned on committed_at, clustered by job. */
  ensureMarkers(): Promise<void> {
    this.markersReady ??= (async () => {
      await this.ensureDataset();
      await this.createTable(MARKERS, MARKER_FIELDS, {
        timePartitioning: { type: 'DAY', field: 'committed_at' },
        clustering: { fields: ['job'] },
      }).catch((error: unknown) => {
        this.markersReady = undefined;
        throw error;
      });
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
      throw bigQueryError(error, `create table ${this.project}.${this.datasetId}.${table}`, this.handle);
    }
  }

  /** The table's resource, or undefined when it does not exist. */
  async tableMetadata(table: string): Promise<{ schema?: { fields?: BigQueryField[] }; labels?: Record<string, string>; numRows?: string; timePartitioning?: unknown } | undefined> {
    try {
      const [metadata] = await this.handle.dataset().table(table).getMetadata();
      return metadata as never;
    } catch (error) {
      if (errorCode(error) === 404) return undefined;
      throw bigQueryError(error, `read table ${this.project}.${this.datasetId}.${table}`, this.handle);
    }
  }

  async describe(table: string): Promise<TableInfo | undefined> {
    const metadata = await this.tableMetadata(table);
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
    if (!(await this.tableMetadata(MARKERS))) return new Set();
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

  async planDirect(request: DirectRequest): Promise<DirectLoad | undefined> {
    return planDirectLoad(this, request);
  }

  /** Drops a table, ignoring one that is already gone. */
  async dropTable(table: string): Promise<void> {
    try {
      await this.handle.dataset().table(table).delete();
    } catch (error) {
      if (errorCode(error) !== 404) this.handle.log.warn(`could not drop ${this.project}.${this.datasetId}.${table}: ${bigQueryError(error, 'drop a staging table', this.handle).message}`);
    }
  }

  /** A staging table name for a run, unique per job and run. */
  stagingName(job: string, runId: string): string {
    return jobId('_b2betl_stage', job, runId).slice(0, 1000);
  }

  /** The job id of one step of a run: `b2betl_<job>_<runId>_<step>`. */
  jobIdFor(job: string, runId: string, step: string): string {
    return jobId('b2betl', job, runId, step);
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
        this.handle.log.info(`created table ${this.project}.${this.datasetId}.${table}${options.timePartitioning ? `, partitioned by day on ${cursor!.name}` : ''}`);
        return;
      }
      return this.prepareTarget(spec, table, strategy, columns, runId, primaryKey);
    }
    const label = metadata.labels?.[STRATEGY_LABEL];
    if (label && label !== strategy) {
      throw new SchemaError(
        `${this.locate(table)} is loaded with strategy ${label}; job ${spec.name} uses ${strategy}`,
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
        `cannot change the columns of ${this.locate(table)}:\n${problems.join('\n')}`,
        'BigQuery widens only INT64 → NUMERIC/BIGNUMERIC/FLOAT64 and NUMERIC → BIGNUMERIC/FLOAT64; load into a new destination.table, or recreate the column with the wider type yourself (CREATE OR REPLACE TABLE … AS SELECT CAST(…))',
      );
    }
    const statements: string[] = [];
    const adds = actions.filter((a) => a.startsWith('ADD'));
    if (adds.length) statements.push(`ALTER TABLE ${this.path(table)} ${adds.join(', ')}`);
    for (const alter of actions.filter((a) => a.startsWith('ALTER'))) statements.push(`ALTER TABLE ${this.path(table)} ${alter}`);
    if (!label) statements.push(`ALTER TABLE ${this.path(table)} SET OPTIONS (labels = [(${sqlString(STRATEGY_LABEL)}, ${sqlString(strategy)})])`);
    if (!statements.length) return;
    await runQuery(this.handle, this.jobIdFor(spec.name, runId, 'schema'), statements.join(';\n'), `change the schema of ${this.project}.${this.datasetId}.${table}`);
    this.handle.log.info(`${this.locate(table)}: ${actions.length ? actions.join(', ') : 'labelled'} `);
  }

  /** Creates the staging table: run columns (all NULLABLE), expiring within a day. */
  async createStaging(name: string, fields: readonly BigQueryField[]): Promise<void> {
    await this.createTable(name, fields, { expirationTime: String(Date.now() + STAGING_TTL_MS) });
  }

  /** The one load job of a run: everything into the staging table, replacing what it held. */
  async loadStaging(name: string, fields: readonly BigQueryField[], source: LoadSource, id: string, options: Record<string, unknown> = {}): Promise<JobMetadata> {
    const load = {
      destinationTable: { projectId: this.project, datasetId: this.datasetId, tableId: name },
      sourceFormat: 'NEWLINE_DELIMITED_JSON',
      schema: { fields },
      writeDisposition: 'WRITE_TRUNCATE',
      createDisposition: 'CREATE_NEVER',
      ...options,
    };
    if (source.kind === 'uris') {
      return runJob(this.handle, { id, action: `load ${source.uris.length} file(s) into ${name}`, configuration: { load: { ...load, sourceUris: source.uris } } });
    }
    return runJob(this.handle, {
      id,
      action: `load staged rows into ${name}`,
      table: { dataset: this.datasetId, table: name },
      configuration: { load },
      // One gzip member over every unit file: about 7x fewer bytes to send (docs/bigquery.md).
      upload: () => Readable.from(concatenate(source.files)).pipe(createGzip({ level: 1 })),
    });
  }

  /**
   * The commit: one transaction that moves the staging rows into the target (append, replace
   * or merge) and inserts the marker, plus any rejected rows.
   */
  async commitStaging(args: {
    spec: JobSpec;
    table: string;
    staging: string;
    columns: readonly Column[];
    strategy: LoadStrategy;
    primaryKey: readonly string[];
    marker: LoadMarker;
    rejects: readonly RejectedRow[];
    orderColumn?: string;
  }): Promise<JobMetadata> {
    const { spec, table, staging, columns, strategy, marker } = args;
    await this.ensureMarkers();
    if (args.rejects.length) await this.createTable(`${table}__rejected`, REJECT_FIELDS);
    const target = this.path(table);
    const names = columns.map((c) => ident(c.name));
    const statements = ['BEGIN TRANSACTION'];
    const source = `SELECT ${names.join(', ')} FROM ${this.path(staging)}`;
    if (strategy === 'catalog') {
      statements.push(`DELETE FROM ${target} WHERE TRUE`);
      statements.push(`INSERT INTO ${target} (${names.join(', ')}) ${source}`);
    } else if (strategy === 'merge') {
      statements.push(this.mergeStatement(target, this.path(staging), columns, args.primaryKey, args.orderColumn ? `${ident(args.orderColumn)} DESC` : undefined));
    } else {
      statements.push(`INSERT INTO ${target} (${names.join(', ')}) ${source}`);
    }
    statements.push(
      `INSERT INTO ${this.path(MARKERS)} (run_id, job, table_name, strategy, units, rows, committed_at) VALUES (@run_id, @job, @table_name, @strategy, @units, @rows, CURRENT_TIMESTAMP())`,
    );
    if (args.rejects.length) {
      const values = args.rejects.map(
        (r) =>
          `(${[r.runId, r.unit, r.position, r.column ?? null, r.reason, r.raw.slice(0, 100_000)].map((v) => (v === null ? 'NULL' : sqlString(v))).join(', ')}, CURRENT_TIMESTAMP())`,
      );
      statements.push(`INSERT INTO ${this.path(`${table}__rejected`)} (run_id, unit, position, column_name, reason, raw, rejected_at) VALUES ${values.join(', ')}`);
    }
    statements.push('COMMIT TRANSACTION');
    const params: Record<string, QueryParam> = {
      run_id: { type: 'STRING', value: marker.runId },
      job: { type: 'STRING', value: marker.job },
      table_name: { type: 'STRING', value: marker.table },
      strategy: { type: 'STRING', value: marker.strategy },
      units: { type: 'ARRAY', elementType: 'STRING', values: [...marker.units] },
      rows: { type: 'INT64', value: String(marker.rows) },
    };
    return runQuery(this.handle, this.jobIdFor(spec.name, marker.runId, 'commit'), statements.join(';\n'), `commit run ${marker.runId} into ${this.project}.${this.datasetId}.${table}`, params);
  }

  /**
   * MERGE on the primary key from `from` (a table path or a parenthesized query); its rows are
   * deduplicated first, keeping per key the first row in `order` (the last staged one).
   */
  mergeStatement(target: string, from: string, columns: readonly Column[], primaryKey: readonly string[], order?: string): string {
    const keys = primaryKey.map((key) => {
      const column = columns.find((c) => c.source === key || c.name === key || c.name.toLowerCase() === key.toLowerCase());
      if (!column) throw new EtlError(`load.primary_key column ${key} is not among the loaded columns`, `columns are: ${columns.map((c) => c.source).join(', ')}`);
      return ident(column.name);
    });
    const names = columns.map((c) => ident(c.name));
    const deduped = `SELECT ${names.join(', ')} FROM ${from} WHERE TRUE QUALIFY ROW_NUMBER() OVER (PARTITION BY ${keys.join(', ')} ORDER BY ${order ?? keys.join(', ')}) = 1`;
    const on = keys.map((k) => `T.${k} IS NOT DISTINCT FROM S.${k}`).join(' AND ');
    const updates = names.filter((n) => !keys.includes(n)).map((n) => `${n} = S.${n}`);
    return [
      `MERGE ${target} T USING (${deduped}) S ON ${on}`,
      ...(updates.length ? [`WHEN MATCHED THEN UPDATE SET ${updates.join(', ')}`] : []),
      `WHEN NOT MATCHED THEN INSERT (${names.join(', ')}) VALUES (${names.map((n) => `S.${n}`).join(', ')})`,
    ].join(' ');
  }

  async close(): Promise<void> {
    // The REST client holds no connections that need closing.
  }
}

/** The bytes of several files, one after another. */
async function* concatenate(files: readonly string[]): AsyncGenerator<Buffer> {
  for (const file of files) {
    for await (const chunk of createReadStream(file)) yield chunk as Buffer;
  }
}

/** One unit's NDJSON file. */
interface UnitFile {
  readonly path: string;
  readonly stream: WriteStream;
  rows: number;
}

/** Rows of a run in local NDJSON files, one per unit; loaded and committed at `commit`. */
class BigQueryStage implements Stage {
  private readonly units = new Map<number, UnitFile>();
  private columns: Column[];
  private encoder: NdjsonEncoder;
  private rowNumber = 0;
  private stagingCreated = false;
  private readonly staging: string;
  private readonly merge: boolean;
  private uploaded: string[] = [];

  private constructor(
    private readonly destination: BigQueryDestination,
    private readonly request: StageRequest,
    private readonly dir: string,
  ) {
    this.columns = [...request.columns];
    this.merge = request.strategy === 'merge';
    this.encoder = this.newEncoder();
    this.staging = destination.stagingName(request.job.name, request.runId);
  }

  static async create(destination: BigQueryDestination, request: StageRequest): Promise<BigQueryStage> {
    const dir = await mkdtemp(path.join(tmpdir(), 'b2betl-bq-'));
    return new BigQueryStage(destination, request, dir);
  }

  private newEncoder(): NdjsonEncoder {
    return new NdjsonEncoder(this.columns, this.merge ? [ROW_COLUMN] : []);
  }

  async evolve(columns: readonly Column[]): Promise<void> {
    // Lines are keyed by column name, so files written before keep their meaning.
    this.columns = [...columns];
    this.encoder = this.newEncoder();
  }

  private unit(index: number): UnitFile {
    let unit = this.units.get(index);
    if (!unit) {
      const file = path.join(this.dir, `unit-${index}.ndjson`);
      unit = { path: file, stream: createWriteStream(file), rows: 0 };
      this.units.set(index, unit);
    }
    return unit;
  }

  async write(index: number, rows: readonly Value[][]): Promise<void> {
    const unit = this.unit(index);
    let chunk = '';
    for (const row of rows) {
      chunk += this.merge ? this.encoder.line(row, [++this.rowNumber]) : this.encoder.line(row);
      if (chunk.length > 1 << 20) {
        if (!unit.stream.write(chunk)) await once(unit.stream, 'drain');
        chunk = '';
      }
    }
    unit.rows += rows.length;
    if (chunk && !unit.stream.write(chunk)) await once(unit.stream, 'drain');
  }

  async discard(index: number): Promise<void> {
    const unit = this.units.get(index);
    if (!unit) return;
    this.units.delete(index);
    await closeStream(unit.stream);
    await rm(unit.path, { force: true });
  }

  private stagingFields(): BigQueryField[] {
    const fields = this.columns.map((c) => fieldOf({ ...c, nullable: true }));
    if (this.merge) fields.push({ name: ROW_COLUMN, type: 'INT64', mode: 'NULLABLE' });
    return fields;
  }

  async commit(indexes: readonly number[], marker: LoadMarker, rejects: readonly RejectedRow[] = []): Promise<number> {
    const { job, table, strategy, runId, primaryKey } = this.request;
    const files: string[] = [];
    let staged = 0;
    for (const index of indexes) {
      const unit = this.units.get(index);
      if (!unit) continue;
      await closeStream(unit.stream);
      if (unit.rows > 0) {
        files.push(unit.path);
        staged += unit.rows;
      }
    }
    const d = this.destination;
    await d.ensureDataset();
    await d.prepareTarget(job, table, strategy, this.columns, runId, primaryKey);
    const fields = this.stagingFields();
    await d.createStaging(this.staging, fields);
    this.stagingCreated = true;
    if (files.length) {
      const source = await this.loadSource(files);
      const metadata = await d.loadStaging(this.staging, fields, source, d.jobIdFor(job.name, runId, 'load'));
      const output = Number(metadata.statistics?.load?.outputRows ?? staged);
      if (output !== staged) throw new EtlError(`the load into ${this.staging} wrote ${output} rows but ${staged} were staged; nothing was committed`, 'run the job again');
    }
    await d.commitStaging({ spec: job, table, staging: this.staging, columns: this.columns, strategy, primaryKey, marker, rejects, orderColumn: this.merge ? ROW_COLUMN : undefined });
    this.request.log.info(`committed ${staged} rows into ${d.locate(table)} (run ${runId})`);
    await this.abort();
    return staged;
  }

  /** Local files to upload, or with `staging: gs://…` the URIs of copies written there. */
  private async loadSource(files: readonly string[]): Promise<LoadSource> {
    const staging = this.destination.handle.config.staging;
    if (!staging) return { kind: 'files', files };
    const store = await stagingStore(this.destination.handle, staging);
    const prefix = `${jobId(this.request.job.name)}/${this.request.runId}`;
    const uris: string[] = [];
    try {
      for (const [i, file] of files.entries()) {
        const name = `${prefix}/part-${String(i).padStart(5, '0')}.ndjson.gz`;
        await store.write(name, createReadStream(file).pipe(createGzip({ level: 1 })));
        this.uploaded.push(name);
        uris.push(store.nativeUri?.(name) ?? store.url(name));
      }
    } finally {
      await store.close?.();
    }
    return { kind: 'uris', uris };
  }

  async abort(): Promise<void> {
    for (const unit of this.units.values()) await closeStream(unit.stream).catch(() => undefined);
    this.units.clear();
    await rm(this.dir, { recursive: true, force: true });
    if (this.stagingCreated) {
      this.stagingCreated = false;
      await this.destination.dropTable(this.staging);
    }
    if (this.uploaded.length) {
      const staging = this.destination.handle.config.staging!;
      const store = await stagingStore(this.destination.handle, staging);
      for (const name of this.uploaded) await store.delete(name).catch((error: unknown) => this.request.log.warn(`could not delete staged ${store.url(name)}: ${(error as Error).message}`));
      await store.close?.();
      this.uploaded = [];
    }
  }
}

function closeStream(stream: WriteStream): Promise<void> {
  if (stream.closed) return Promise.resolve();
  return new Promise((resolve, reject) => {
    stream.end((error?: Error | null) => (error ? reject(error) : resolve()));
  });
}

/**
 * The GCS bucket of `staging: gs://bucket/prefix`, opened with the connection's credentials.
 * With a test `endpoint`, `B2BETL_STAGING_GCS_ENDPOINT` names the GCS stand-in to stage through.
 */
export async function stagingStore(handle: BigQueryHandle, staging: string): Promise<ObjectStore> {
  const match = /^gs:\/\/([^/]+)\/?(.*)$/.exec(staging);
  if (!match) throw new EtlError(`staging ${staging} of connection ${handle.name} is not a gs://bucket/prefix URI`);
  const { store } = await import('../../storage/gcs/index.js');
  const emulator = handle.config.endpoint ? process.env.B2BETL_STAGING_GCS_ENDPOINT : undefined;
  return store({
    name: `${handle.name} staging`,
    config: {
      type: 'gcs',
      bucket: match[1],
      prefix: match[2],
      ...(handle.config.credentials ? { credentials: handle.config.credentials } : {}),
      ...(emulator ? { endpoint: emulator.startsWith('http') ? emulator : `http://${emulator}` } : {}),
      project: handle.project,
    },
    baseDir: handle.baseDir,
    log: handle.log,
  });
}

/** Size of a file, 0 when missing. */
export async function fileSize(file: string): Promise<number> {
  return stat(file).then((s) => s.size, () => 0);
}

/** A unique suffix for scratch names. */
export function scratchId(): string {
  return randomUUID().slice(0, 8);
}

export type { ColumnType };
