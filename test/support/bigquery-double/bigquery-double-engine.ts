/**
 * The double's catalog and execution engine: datasets, tables, jobs and scripts over DuckDB,
 * with BigQuery's rules (names, modes, dispositions, transactions, rate limits) enforced.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { parse as parseLossless } from 'lossless-json';
import Papa from 'papaparse';
import {
  assignable,
  BqFailure,
  bqTypeOfDuck,
  duckScalar,
  duckType,
  ExactNumber,
  invalid,
  legacyType,
  loadValue,
  normalizeSchema,
  ValueProblem,
  widenable,
  type BqErrorProto,
  type BqField,
} from './bigquery-double-types.js';
import {
  closing,
  duckTable,
  keyword,
  literal,
  parseColumnType,
  quote,
  schemaName,
  significant,
  splitCommas,
  splitStatements,
  tableAt,
  tokenize,
  translate,
  type Catalog,
  type Parameter,
  type TablePath,
  type Token,
} from './bigquery-double-sql.js';

/** JSON object as the REST API carries it. */
export type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

interface TableState {
  path: TablePath;
  fields: BqField[];
  labels: Record<string, string>;
  timePartitioning?: Json;
  clustering?: Json;
  expirationTime?: string;
  description?: string;
  creationTime: number;
  lastModifiedTime: number;
  etag: string;
}

interface DatasetState {
  project: string;
  dataset: string;
  location: string;
  labels: Record<string, string>;
  description?: string;
  defaultTableExpirationMs?: string;
  creationTime: number;
  etag: string;
}

/** A job the double ran or is running. */
export interface JobState {
  project: string;
  jobId: string;
  location: string;
  configuration: Json;
  state: 'RUNNING' | 'DONE';
  errorResult?: BqErrorProto;
  errors?: BqErrorProto[];
  statistics: Json;
  /** Table holding the result rows of a query, and its schema. */
  result?: { table: string; fields: BqField[]; rows: number };
  numDmlAffectedRows?: number;
  /** Rows the script's last DML statement changed (`@@row_count`). */
  lastDmlRows?: number;
  done: Promise<void>;
  /** Bytes of the uploaded file, for load jobs from the upload endpoint. */
  upload?: Buffer;
}

/** A source of gs:// objects for load jobs with `sourceUris`. */
export type ObjectReader = (uri: string) => Promise<Buffer | undefined>;

export interface EngineOptions {
  /** Table update operations allowed per table in `windowMs` (BigQuery: 5 per 10 s). */
  tableUpdateLimit?: { operations: number; windowMs: number };
  /** Reads gs:// objects for load jobs from URIs. */
  objects?: ObjectReader;
}

const RESULTS_SCHEMA = '_results';

/** Serializes work on the single DuckDB connection. */
class Mutex {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(work: () => Promise<T>): Promise<T> {
    const next = this.tail.then(work, work);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

/** The double's state and behaviour, independent of HTTP. */
export class Engine {
  readonly datasets = new Map<string, DatasetState>();
  readonly tables = new Map<string, TableState>();
  readonly jobs = new Map<string, JobState>();
  private readonly updates = new Map<string, number[]>();
  private readonly mutex = new Mutex();
  private resultCount = 0;
  tableUpdateLimit: { operations: number; windowMs: number };

  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly db: DuckDBConnection,
    private readonly scratch: string,
    private readonly options: EngineOptions,
  ) {
    this.tableUpdateLimit = options.tableUpdateLimit ?? { operations: 5, windowMs: 10_000 };
  }

  static async create(options: EngineOptions = {}): Promise<Engine> {
    const instance = await DuckDBInstance.create(':memory:');
    const db = await instance.connect();
    await db.run("SET TimeZone = 'UTC'");
    await db.run(`CREATE SCHEMA ${quote(RESULTS_SCHEMA)}`);
    const scratch = await mkdtemp(path.join(tmpdir(), 'bq-double-'));
    return new Engine(instance, db, scratch, options);
  }

  async close(): Promise<void> {
    await this.mutex.run(async () => {
      this.db.closeSync();
      this.instance.closeSync();
    });
    await rm(this.scratch, { recursive: true, force: true });
  }

  // -------------------------------------------------------------------------------------------
  // Datasets

  private datasetKey(project: string, dataset: string): string {
    return `${project}:${dataset}`;
  }

  dataset(project: string, dataset: string): DatasetState {
    const state = this.datasets.get(this.datasetKey(project, dataset));
    if (!state) throw new BqFailure(404, 'notFound', `Not found: Dataset ${project}:${dataset}`);
    return state;
  }

  async insertDataset(project: string, body: Json): Promise<Json> {
    const ref = body.datasetReference ?? {};
    const dataset = String(ref.datasetId ?? '');
    if (!/^[A-Za-z0-9_]{1,1024}$/.test(dataset)) {
      throw invalid(`Invalid dataset ID "${dataset}". Dataset IDs must be alphanumeric (plus underscores) and must be at most 1024 characters long.`);
    }
    if (this.datasets.has(this.datasetKey(project, dataset))) throw new BqFailure(409, 'duplicate', `Already Exists: Dataset ${project}:${dataset}`);
    await this.mutex.run(() => this.db.run(`CREATE SCHEMA ${quote(schemaName(project, dataset))}`));
    const state: DatasetState = {
      project,
      dataset,
      location: body.location ?? 'US',
      labels: body.labels ?? {},
      description: body.description,
      defaultTableExpirationMs: body.defaultTableExpirationMs,
      creationTime: Date.now(),
      etag: randomUUID(),
    };
    this.datasets.set(this.datasetKey(project, dataset), state);
    return this.datasetResource(state);
  }

  patchDataset(project: string, dataset: string, body: Json): Json {
    const state = this.dataset(project, dataset);
    if (body.location && body.location !== state.location) throw invalid('Cannot change dataset location');
    if (body.labels) state.labels = Object.fromEntries(Object.entries({ ...state.labels, ...body.labels }).filter(([, v]) => v !== null)) as Record<string, string>;
    if (body.description !== undefined) state.description = body.description;
    state.etag = randomUUID();
    return this.datasetResource(state);
  }

  async deleteDataset(project: string, dataset: string, deleteContents: boolean): Promise<void> {
    this.dataset(project, dataset);
    const tables = [...this.tables.values()].filter((t) => t.path.project === project && t.path.dataset === dataset);
    if (tables.length && !deleteContents) throw new BqFailure(400, 'resourceInUse', `Dataset ${project}:${dataset} is still in use`);
    await this.mutex.run(() => this.db.run(`DROP SCHEMA ${quote(schemaName(project, dataset))} CASCADE`));
    for (const t of tables) this.tables.delete(this.tableKey(t.path));
    this.datasets.delete(this.datasetKey(project, dataset));
  }

  datasetResource(state: DatasetState): Json {
    return {
      kind: 'bigquery#dataset',
      id: `${state.project}:${state.dataset}`,
      etag: state.etag,
      datasetReference: { projectId: state.project, datasetId: state.dataset },
      location: state.location,
      labels: state.labels,
      ...(state.description ? { description: state.description } : {}),
      creationTime: String(state.creationTime),
      lastModifiedTime: String(state.creationTime),
    };
  }

  // -------------------------------------------------------------------------------------------
  // Tables

  private tableKey(p: TablePath): string {
    return `${p.project}:${p.dataset}.${p.table}`;
  }

  /** The table's state, dropping it first if it expired. */
  findTable(p: TablePath): TableState | undefined {
    const key = this.tableKey(p);
    const state = this.tables.get(key);
    if (state?.expirationTime && Number(state.expirationTime) <= Date.now()) {
      this.tables.delete(key);
      void this.mutex.run(() => this.db.run(`DROP TABLE IF EXISTS ${duckTable(p)}`));
      return undefined;
    }
    return state;
  }

  table(p: TablePath): TableState {
    this.dataset(p.project, p.dataset);
    const state = this.findTable(p);
    if (!state) throw new BqFailure(404, 'notFound', `Not found: Table ${p.project}:${p.dataset}.${p.table}`);
    return state;
  }

  /** Counts a table update against the per-table rate limit; throws rateLimitExceeded past it. */
  noteUpdate(p: TablePath): void {
    const key = this.tableKey(p);
    const now = Date.now();
    const recent = (this.updates.get(key) ?? []).filter((t) => t > now - this.tableUpdateLimit.windowMs);
    if (recent.length >= this.tableUpdateLimit.operations) {
      this.updates.set(key, recent);
      throw new BqFailure(
        403,
        'rateLimitExceeded',
        'Exceeded rate limits: too many table update operations for this table. For more information, see https://cloud.google.com/bigquery/docs/troubleshoot-quotas',
      );
    }
    recent.push(now);
    this.updates.set(key, recent);
  }

  private validateTableOptions(fields: BqField[], body: Json, where: string): void {
    const partition = body.timePartitioning;
    if (partition) {
      if (!['DAY', 'HOUR', 'MONTH', 'YEAR'].includes(partition.type ?? 'DAY')) throw invalid(`Invalid time partitioning type ${partition.type}`);
      if (partition.field) {
        const field = fields.find((f) => f.name.toLowerCase() === String(partition.field).toLowerCase());
        if (!field) throw invalid(`The field specified for time partitioning can only be of type TIMESTAMP, DATE or DATETIME. The type found is: (no such field ${partition.field}) in ${where}`);
        if (!['TIMESTAMP', 'DATE', 'DATETIME'].includes(field.type) || field.mode === 'REPEATED') {
          throw invalid(`The field specified for time partitioning can only be of type TIMESTAMP, DATE or DATETIME. The type found is: ${field.type}.`);
        }
      }
    }
    const clustering = body.clustering?.fields as string[] | undefined;
    if (clustering) {
      if (clustering.length > 4) throw invalid('Too many clustering fields: at most 4 are allowed');
      for (const name of clustering) {
        const field = fields.find((f) => f.name.toLowerCase() === name.toLowerCase());
        if (!field) throw invalid(`The field specified for clustering cannot be found in the schema. Invalid field: ${name}.`);
        if (['FLOAT64', 'JSON'].includes(field.type) || field.mode === 'REPEATED') throw invalid(`Field ${name} of type ${field.type} is not supported for clustering.`);
      }
    }
    for (const [key, value] of Object.entries((body.labels ?? {}) as Record<string, string>)) {
      if (!/^[a-z][a-z0-9_-]{0,62}$/.test(key) || !/^[a-z0-9_-]{0,63}$/.test(String(value))) {
        throw invalid(`Invalid label ${key}: ${value}. Label keys and values can contain only lowercase letters, numeric characters, underscores and dashes.`);
      }
    }
  }

  async insertTable(project: string, dataset: string, body: Json): Promise<Json> {
    this.dataset(project, dataset);
    const tableId = String(body.tableReference?.tableId ?? '');
    if (!/^[\p{L}\p{M}\p{N}\p{Pc}\p{Pd}\p{Zs}]{1,1024}$/u.test(tableId)) throw invalid(`Invalid table ID "${tableId}".`);
    const p = { project, dataset, table: tableId };
    if (this.findTable(p)) throw new BqFailure(409, 'duplicate', `Already Exists: Table ${project}:${dataset}.${tableId}`);
    const fields = normalizeSchema(body.schema?.fields, `${project}:${dataset}.${tableId}`);
    this.validateTableOptions(fields, body, `${project}:${dataset}.${tableId}`);
    await this.mutex.run(() => this.createStorage(p, fields));
    const now = Date.now();
    const state: TableState = {
      path: p,
      fields,
      labels: body.labels ?? {},
      timePartitioning: body.timePartitioning ? { type: 'DAY', ...body.timePartitioning } : undefined,
      clustering: body.clustering,
      expirationTime: body.expirationTime !== undefined ? String(body.expirationTime) : undefined,
      description: body.description,
      creationTime: now,
      lastModifiedTime: now,
      etag: randomUUID(),
    };
    this.tables.set(this.tableKey(p), state);
    return this.tableResource(state);
  }

  private async createStorage(p: TablePath, fields: readonly BqField[]): Promise<void> {
    const columns = fields.map((f) => `${quote(f.name)} ${duckType(f)}${f.mode === 'REQUIRED' ? ' NOT NULL' : ''}`);
    // DuckDB needs a column; a schemaless BigQuery table has none, so keep a hidden placeholder.
    if (columns.length === 0) columns.push('"__empty__" BOOLEAN');
    await this.db.run(`CREATE OR REPLACE TABLE ${duckTable(p)} (${columns.join(', ')})`);
  }

  /** tables.patch / tables.update: schema additions and relaxations, labels, options. */
  async patchTable(p: TablePath, body: Json, replace: boolean): Promise<Json> {
    const state = this.table(p);
    this.noteUpdate(p);
    if (body.schema?.fields) {
      const fields = normalizeSchema(body.schema.fields, this.tableKey(p));
      await this.mutex.run(() => this.applySchema(state, fields, { addition: true, relaxation: true, requireAll: true }));
    }
    if (body.labels !== undefined) {
      const merged = replace ? body.labels : { ...state.labels, ...body.labels };
      state.labels = Object.fromEntries(Object.entries(merged ?? {}).filter(([, v]) => v !== null)) as Record<string, string>;
    }
    if (body.expirationTime !== undefined) state.expirationTime = body.expirationTime === null ? undefined : String(body.expirationTime);
    if (body.description !== undefined) state.description = body.description;
    if (body.clustering !== undefined) {
      this.validateTableOptions(state.fields, { clustering: body.clustering }, this.tableKey(p));
      state.clustering = body.clustering ?? undefined;
    }
    if (body.timePartitioning && JSON.stringify(body.timePartitioning.field) !== JSON.stringify(state.timePartitioning?.field)) {
      throw invalid('Cannot change partitioning/clustering spec for a partitioned table');
    }
    state.lastModifiedTime = Date.now();
    state.etag = randomUUID();
    return this.tableResource(state);
  }

  /**
   * Moves a table to `fields`: new fields need `addition` (and may not be REQUIRED), REQUIRED →
   * NULLABLE needs `relaxation`, type changes and (with `requireAll`) missing fields fail.
   */
  private async applySchema(
    state: TableState,
    fields: BqField[],
    allow: { addition: boolean; relaxation: boolean; requireAll: boolean },
  ): Promise<void> {
    const where = this.tableKey(state.path);
    const byName = new Map(fields.map((f) => [f.name.toLowerCase(), f]));
    for (const existing of state.fields) {
      const next = byName.get(existing.name.toLowerCase());
      if (!next) {
        if (allow.requireAll) throw invalid(`Provided Schema does not match Table ${where}. Field ${existing.name} is missing in new schema`);
        continue;
      }
      if (next.type !== existing.type) {
        throw invalid(`Provided Schema does not match Table ${where}. Field ${existing.name} has changed type from ${legacyType(existing.type)} to ${legacyType(next.type)}`);
      }
      if (next.mode !== existing.mode) {
        if (existing.mode === 'REQUIRED' && next.mode === 'NULLABLE') {
          if (!allow.relaxation) throw invalid(`Provided Schema does not match Table ${where}. Field ${existing.name} has changed mode from REQUIRED to NULLABLE`);
        } else {
          throw invalid(`Provided Schema does not match Table ${where}. Field ${existing.name} has changed mode from ${existing.mode} to ${next.mode}`);
        }
      }
    }
    const known = new Set(state.fields.map((f) => f.name.toLowerCase()));
    const added = fields.filter((f) => !known.has(f.name.toLowerCase()));
    for (const field of added) {
      if (!allow.addition) throw invalid(`Provided Schema does not match Table ${where}. Cannot add fields (field: ${field.name})`);
      if (field.mode === 'REQUIRED') throw invalid(`Provided Schema does not match Table ${where}. Cannot add required fields to an existing schema. (field: ${field.name})`);
    }
    for (const field of added) {
      await this.db.run(`ALTER TABLE ${duckTable(state.path)} ADD COLUMN ${quote(field.name)} ${duckType(field)}`);
      state.fields.push(field);
    }
    for (const existing of state.fields) {
      const next = byName.get(existing.name.toLowerCase());
      if (next && existing.mode === 'REQUIRED' && next.mode === 'NULLABLE') {
        await this.db.run(`ALTER TABLE ${duckTable(state.path)} ALTER COLUMN ${quote(existing.name)} DROP NOT NULL`);
        existing.mode = 'NULLABLE';
      }
    }
  }

  async deleteTable(p: TablePath): Promise<void> {
    this.table(p);
    await this.mutex.run(() => this.db.run(`DROP TABLE IF EXISTS ${duckTable(p)}`));
    this.tables.delete(this.tableKey(p));
  }

  async tableResource(state: TableState): Promise<Json> {
    const rows = await this.mutex.run(async () => {
      const reader = await this.db.runAndReadAll(`SELECT COUNT(*) FROM ${duckTable(state.path)}`);
      return String(reader.getRowsJS()[0][0]);
    });
    const { project, dataset, table } = state.path;
    return {
      kind: 'bigquery#table',
      etag: state.etag,
      id: `${project}:${dataset}.${table}`,
      selfLink: `/projects/${project}/datasets/${dataset}/tables/${table}`,
      tableReference: { projectId: project, datasetId: dataset, tableId: table },
      schema: { fields: state.fields.map((f) => ({ name: f.name, type: legacyType(f.type), mode: f.mode, ...(f.description ? { description: f.description } : {}) })) },
      ...(Object.keys(state.labels).length ? { labels: state.labels } : {}),
      ...(state.timePartitioning ? { timePartitioning: state.timePartitioning } : {}),
      ...(state.clustering ? { clustering: state.clustering } : {}),
      ...(state.expirationTime ? { expirationTime: state.expirationTime } : {}),
      ...(state.description ? { description: state.description } : {}),
      numRows: rows,
      numBytes: '0',
      creationTime: String(state.creationTime),
      lastModifiedTime: String(state.lastModifiedTime),
      type: 'TABLE',
      location: this.dataset(project, dataset).location,
    };
  }

  listTables(project: string, dataset: string): TableState[] {
    this.dataset(project, dataset);
    return [...this.tables.values()].filter((t) => t.path.project === project && t.path.dataset === dataset && this.findTable(t.path));
  }

  // -------------------------------------------------------------------------------------------
  // Jobs

  private jobKey(project: string, jobId: string): string {
    return `${project}:${jobId}`;
  }

  /** jobs.insert: registers the job and starts it; 409 for a job id already used. */
  insertJob(project: string, body: Json, upload?: Buffer, fault?: BqFailure): JobState {
    const ref = body.jobReference ?? {};
    const jobId = String(ref.jobId ?? `job_${randomUUID().replace(/-/g, '_')}`);
    if (!/^[A-Za-z0-9_-]{1,1024}$/.test(jobId)) {
      throw invalid(`Invalid job ID "${jobId}". Job IDs must be alphanumeric (plus underscores and dashes) and must be at most 1024 characters long.`);
    }
    const jobProject = String(ref.projectId ?? project);
    const key = this.jobKey(jobProject, jobId);
    const existing = this.jobs.get(key);
    if (existing) throw new BqFailure(409, 'duplicate', `Already Exists: Job ${jobProject}:${existing.location}.${jobId}`);
    const configuration = body.configuration ?? {};
    const location = ref.location ?? body.location ?? this.defaultLocation(configuration, jobProject);
    const job: JobState = {
      project: jobProject,
      jobId,
      location,
      configuration,
      state: 'RUNNING',
      statistics: { creationTime: String(Date.now()), startTime: String(Date.now()) },
      done: Promise.resolve(),
      upload,
    };
    this.jobs.set(key, job);
    job.done = this.mutex.run(() => (fault ? Promise.reject(fault) : this.execute(job))).then(
      () => {
        job.state = 'DONE';
        job.statistics.endTime = String(Date.now());
      },
      (error: unknown) => {
        const failure = error instanceof BqFailure ? error : new BqFailure(400, 'invalidQuery', error instanceof Error ? error.message : String(error));
        job.errorResult = failure.proto();
        job.errors = [failure.proto(), ...failure.errors];
        job.state = 'DONE';
        job.statistics.endTime = String(Date.now());
      },
    );
    return job;
  }

  private defaultLocation(configuration: Json, project: string): string {
    const table = configuration.load?.destinationTable ?? configuration.query?.defaultDataset;
    const dataset = table ? this.datasets.get(this.datasetKey(table.projectId ?? project, table.datasetId)) : undefined;
    return dataset?.location ?? 'US';
  }

  job(project: string, jobId: string, location?: string): JobState {
    const job = this.jobs.get(this.jobKey(project, jobId));
    if (!job || (location && location.toUpperCase() !== job.location.toUpperCase())) {
      throw new BqFailure(404, 'notFound', `Not found: Job ${project}:${location ?? 'US'}.${jobId}`);
    }
    return job;
  }

  jobResource(job: JobState): Json {
    const type = job.configuration.load ? 'LOAD' : job.configuration.query ? 'QUERY' : 'UNKNOWN';
    return {
      kind: 'bigquery#job',
      etag: randomUUID(),
      id: `${job.project}:${job.location}.${job.jobId}`,
      selfLink: `/projects/${job.project}/jobs/${job.jobId}?location=${job.location}`,
      user_email: 'test@double.local',
      jobReference: { projectId: job.project, jobId: job.jobId, location: job.location },
      configuration: { ...job.configuration, jobType: type },
      status: {
        state: job.state,
        ...(job.errorResult ? { errorResult: job.errorResult, errors: job.errors } : {}),
      },
      statistics: job.statistics,
    };
  }

  private async execute(job: JobState): Promise<void> {
    if (job.configuration.load) return this.runLoad(job);
    if (job.configuration.query) return this.runQueryJob(job);
    throw invalid('the test double runs query and load jobs only');
  }

  // -------------------------------------------------------------------------------------------
  // Query jobs and scripts

  private catalog(defaultProject: string, defaultDataset?: string): Catalog {
    return {
      defaultProject,
      defaultDataset,
      hasDataset: (project, dataset) => this.datasets.has(this.datasetKey(project, dataset)),
    };
  }

  private async runQueryJob(job: JobState): Promise<void> {
    const q = job.configuration.query;
    if (q.useLegacySql === true) throw invalid('the test double speaks GoogleSQL only (useLegacySql: false)');
    const defaults = q.defaultDataset ?? {};
    const catalog = this.catalog(defaults.projectId ?? job.project, defaults.datasetId);
    const parameters = parseParameters(q.queryParameters ?? []);
    const statements = splitStatements(tokenize(String(q.query ?? '')));
    if (statements.length === 0) throw invalid('Syntax error: Unexpected end of script');
    let inTransaction = false;
    let statementType = 'SCRIPT';
    try {
      for (const statement of statements) {
        const tokens = significant(statement);
        const first = keyword(tokens[0]);
        statementType = statements.length > 1 ? 'SCRIPT' : first;
        if (first === 'BEGIN') {
          if (inTransaction) throw invalid('Nested transactions are not supported');
          await this.db.run('BEGIN TRANSACTION');
          inTransaction = true;
        } else if (first === 'COMMIT') {
          if (!inTransaction) throw invalid('COMMIT TRANSACTION without an active transaction');
          await this.db.run('COMMIT');
          inTransaction = false;
        } else if (first === 'ROLLBACK') {
          if (inTransaction) await this.db.run('ROLLBACK');
          inTransaction = false;
        } else {
          await this.runStatement(job, tokens, catalog, parameters, inTransaction);
        }
      }
      if (inTransaction) throw invalid('Transaction was never committed: a script that begins a transaction must end it with COMMIT TRANSACTION');
    } catch (error) {
      if (inTransaction) await this.db.run('ROLLBACK').catch(() => undefined);
      throw error;
    }
    job.statistics.query = {
      statementType,
      totalBytesProcessed: '0',
      ...(job.numDmlAffectedRows !== undefined ? { numDmlAffectedRows: String(job.numDmlAffectedRows) } : {}),
    };
  }

  private async run(sql: string, values: Record<string, string | null> = {}): Promise<number> {
    try {
      const result = await this.db.run(sql, values);
      return Number(result.rowsChanged);
    } catch (error) {
      throw duckFailure(error);
    }
  }

  private async runStatement(job: JobState, tokens: Token[], catalog: Catalog, given: Parameter[], inTransaction: boolean): Promise<void> {
    const first = keyword(tokens[0]);
    const parameters = [...given, { name: '@row_count', type: 'INT64', value: String(job.lastDmlRows ?? -1) }];
    const before = job.numDmlAffectedRows ?? 0;
    try {
      await this.dispatch(job, first, tokens, catalog, parameters, inTransaction);
    } finally {
      if ((job.numDmlAffectedRows ?? 0) !== before || ['INSERT', 'MERGE', 'DELETE', 'UPDATE', 'TRUNCATE'].includes(first)) {
        job.lastDmlRows = (job.numDmlAffectedRows ?? 0) - before;
      }
    }
  }

  private async dispatch(job: JobState, first: string, tokens: Token[], catalog: Catalog, parameters: Parameter[], inTransaction: boolean): Promise<void> {
    const ddl = ['CREATE', 'DROP', 'ALTER'].includes(first);
    if (ddl && inTransaction) {
      throw invalid(`${first} TABLE is not supported inside a transaction; run DDL before BEGIN TRANSACTION`);
    }
    switch (first) {
      case 'SELECT':
      case 'WITH':
      case '': {
        const { sql, values } = translate(tokens, catalog, parameters);
        const table = `r${++this.resultCount}`;
        await this.run(`CREATE TABLE ${quote(RESULTS_SCHEMA)}.${quote(table)} AS ${sql}`, values);
        const fields = await this.describe(`${quote(RESULTS_SCHEMA)}.${quote(table)}`);
        const count = await this.db.runAndReadAll(`SELECT COUNT(*) FROM ${quote(RESULTS_SCHEMA)}.${quote(table)}`);
        job.result = { table, fields, rows: Number(count.getRowsJS()[0][0]) };
        return;
      }
      case 'INSERT':
        return this.runInsert(job, tokens, catalog, parameters);
      case 'MERGE':
        return this.runMerge(job, tokens, catalog, parameters);
      case 'DELETE':
      case 'UPDATE':
      case 'TRUNCATE': {
        let at = 1;
        if (first === 'DELETE' && keyword(tokens[1]) === 'FROM') at = 2;
        if (first === 'TRUNCATE' && keyword(tokens[1]) === 'TABLE') at = 2;
        const { path: target } = tableAt(tokens, at, catalog);
        this.table(target);
        if (first !== 'TRUNCATE' && !tokens.some((t) => keyword(t) === 'WHERE')) throw invalid(`${first} must have a WHERE clause`);
        this.noteUpdate(target);
        const body = first === 'TRUNCATE' ? tokenize(`DELETE FROM \`${target.project}.${target.dataset}.${target.table}\``) : tokens;
        const { sql, values } = translate(first === 'DELETE' && at === 1 ? [tokens[0], { kind: 'ident', text: 'FROM' }, ...tokens.slice(1)] : body, catalog, parameters);
        job.numDmlAffectedRows = (job.numDmlAffectedRows ?? 0) + (await this.run(sql, values));
        this.touch(target);
        return;
      }
      case 'CREATE':
        return this.runCreate(tokens, catalog, parameters);
      case 'DROP': {
        if (keyword(tokens[1]) !== 'TABLE') throw invalid(`the test double supports DROP TABLE only`);
        const ifExists = keyword(tokens[2]) === 'IF';
        const { path: target } = tableAt(tokens, ifExists ? 4 : 2, catalog);
        if (!this.findTable(target)) {
          if (ifExists) return;
          throw new BqFailure(404, 'notFound', `Not found: Table ${this.tableKey(target)}`);
        }
        await this.run(`DROP TABLE ${duckTable(target)}`);
        this.tables.delete(this.tableKey(target));
        return;
      }
      case 'ALTER':
        return this.runAlter(tokens, catalog);
      default:
        throw invalid(`Syntax error: the test double does not support statements starting with ${tokens[0]?.text}`);
    }
  }

  private touch(p: TablePath): void {
    const state = this.findTable(p);
    if (state) state.lastModifiedTime = Date.now();
  }

  /** BigQuery fields of a DuckDB relation. */
  private async describe(relation: string): Promise<BqField[]> {
    const reader = await this.db.runAndReadAll(`DESCRIBE SELECT * FROM ${relation}`);
    return reader.getRowsJS().map((row) => {
      const { type, repeated } = bqTypeOfDuck(String(row[1]));
      return { name: String(row[0]), type, mode: repeated ? 'REPEATED' : 'NULLABLE' };
    });
  }

  private async runInsert(job: JobState, tokens: Token[], catalog: Catalog, parameters: Parameter[]): Promise<void> {
    const at = keyword(tokens[1]) === 'INTO' ? 2 : 1;
    const { path: target, end } = tableAt(tokens, at, catalog);
    const state = this.table(target);
    let columns = state.fields;
    let queryStart = end;
    if (tokens[end]?.text === '(') {
      const close = closing(tokens, end);
      const names = splitCommas(tokens.slice(end + 1, close)).map((part) => part.map((t) => t.value ?? t.text).join(''));
      columns = names.map((name) => {
        const field = state.fields.find((f) => f.name.toLowerCase() === name.toLowerCase());
        if (!field) throw invalid(`Column ${name} is not present in table ${this.tableKey(target)}`);
        return field;
      });
      queryStart = close + 1;
    }
    const query = tokens.slice(queryStart);
    if (keyword(query[0]) !== 'VALUES') {
      const { sql, values } = translate(query, catalog, parameters);
      const described = await this.db.runAndReadAll(`DESCRIBE ${sql}`, values).catch((error: unknown) => {
        throw duckFailure(error);
      });
      const types = described.getRowsJS().map((row) => String(row[1]));
      if (types.length !== columns.length) throw invalid(`Inserted row has wrong column count; Has ${types.length}, ${columns.length} are expected`);
      types.forEach((duck, i) => {
        if (duck === 'NULL' || duck === '"NULL"') return;
        const found = bqTypeOfDuck(duck);
        const column = columns[i];
        if (found.repeated !== (column.mode === 'REPEATED') || !assignable(found.type, column.type)) {
          throw invalid(
            `Query column ${i + 1} has type ${found.repeated ? `ARRAY<${found.type}>` : found.type} which cannot be inserted into column ${column.name}, which has type ${column.mode === 'REPEATED' ? `ARRAY<${column.type}>` : column.type}`,
          );
        }
      });
    }
    for (const field of state.fields) {
      if (field.mode === 'REQUIRED' && !columns.includes(field)) throw invalid(`Required field ${field.name} cannot be null`);
    }
    this.noteUpdate(target);
    const { sql, values } = translate(at === 1 ? [tokens[0], { kind: 'ident', text: 'INTO' }, ...tokens.slice(1)] : tokens, catalog, parameters);
    job.numDmlAffectedRows = (job.numDmlAffectedRows ?? 0) + (await this.run(sql, values));
    this.touch(target);
  }

  private async runMerge(job: JobState, tokens: Token[], catalog: Catalog, parameters: Parameter[]): Promise<void> {
    const at = keyword(tokens[1]) === 'INTO' ? 2 : 1;
    const { path: target, end } = tableAt(tokens, at, catalog);
    this.table(target);
    let i = end;
    if (keyword(tokens[i]) === 'AS') i++;
    const targetAlias = keyword(tokens[i]) !== 'USING' ? tokens[i++] : undefined;
    if (keyword(tokens[i]) !== 'USING') throw invalid('Syntax error: Expected keyword USING in MERGE');
    const on = tokens.findIndex((t, k) => k > i && keyword(t) === 'ON' && depthAt(tokens, k) === 0);
    const when = tokens.findIndex((t, k) => k > on && keyword(t) === 'WHEN' && depthAt(tokens, k) === 0);
    if (on < 0 || when < 0) throw invalid('Syntax error: MERGE needs ON and WHEN clauses');
    // BigQuery refuses a MERGE whose source matches one target row more than once.
    const alias = targetAlias ? [targetAlias] : [];
    const check = [
      ...tokenize('SELECT 1 FROM '),
      ...tokens.slice(at, end),
      ...alias,
      { kind: 'ident', text: 'JOIN' } as Token,
      ...tokens.slice(i + 1, on),
      ...tokens.slice(on, when),
      ...tokenize(` GROUP BY ${targetAlias ? `${targetAlias.text}.` : ''}rowid HAVING COUNT(*) > 1 LIMIT 1`),
    ];
    const { sql: checkSql, values: checkValues } = translate(check, catalog, parameters);
    const duplicates = await this.db.runAndReadAll(checkSql, checkValues).catch((error: unknown) => {
      throw duckFailure(error);
    });
    if (duplicates.getRowsJS().length > 0) throw invalid('UPDATE/MERGE must match at most one source row for each target row');
    this.noteUpdate(target);
    const { sql, values } = translate(at === 1 ? [tokens[0], { kind: 'ident', text: 'INTO' }, ...tokens.slice(1)] : tokens, catalog, parameters);
    job.numDmlAffectedRows = (job.numDmlAffectedRows ?? 0) + (await this.run(sql, values));
    this.touch(target);
  }

  private async runCreate(tokens: Token[], catalog: Catalog, parameters: Parameter[]): Promise<void> {
    let i = 1;
    let replace = false;
    if (keyword(tokens[i]) === 'OR' && keyword(tokens[i + 1]) === 'REPLACE') {
      replace = true;
      i += 2;
    }
    if (keyword(tokens[i]) === 'TEMP' || keyword(tokens[i]) === 'TEMPORARY') throw invalid('the test double does not support temporary tables');
    if (keyword(tokens[i]) !== 'TABLE') throw invalid(`the test double supports CREATE TABLE only`);
    i++;
    let ifNotExists = false;
    if (keyword(tokens[i]) === 'IF') {
      ifNotExists = true;
      i += 3;
    }
    const { path: target, end } = tableAt(tokens, i, catalog);
    this.dataset(target.project, target.dataset);
    const exists = this.findTable(target);
    if (exists && ifNotExists) return;
    if (exists && !replace) throw new BqFailure(409, 'duplicate', `Already Exists: Table ${this.tableKey(target)}`);
    i = end;
    let fields: BqField[] | undefined;
    if (tokens[i]?.text === '(') {
      const close = closing(tokens, i);
      fields = splitCommas(tokens.slice(i + 1, close)).map((def) => {
        const { type, mode } = parseColumnType(def.slice(1));
        return { name: def[0].value ?? def[0].text, type, mode };
      });
      i = close + 1;
    }
    const options: Json = {};
    let query: Token[] | undefined;
    while (i < tokens.length) {
      const k = keyword(tokens[i]);
      if (k === 'PARTITION' && keyword(tokens[i + 1]) === 'BY') {
        i += 2;
        const start = i;
        while (i < tokens.length && !['CLUSTER', 'OPTIONS', 'AS'].includes(keyword(tokens[i]))) i++;
        const expr = tokens.slice(start, i).filter((t) => t.kind === 'ident' || t.kind === 'quoted');
        const field = expr.find((t) => !['DATE', 'TIMESTAMP_TRUNC', 'DATETIME_TRUNC', 'DATE_TRUNC', 'DAY', 'HOUR', 'MONTH', 'YEAR'].includes(keyword(t)));
        options.timePartitioning = { type: 'DAY', ...(field ? { field: field.value ?? field.text } : {}) };
      } else if (k === 'CLUSTER' && keyword(tokens[i + 1]) === 'BY') {
        i += 2;
        const names: string[] = [];
        while (i < tokens.length && !['OPTIONS', 'AS'].includes(keyword(tokens[i]))) {
          if (tokens[i].text !== ',') names.push(tokens[i].value ?? tokens[i].text);
          i++;
        }
        options.clustering = { fields: names };
      } else if (k === 'OPTIONS') {
        const close = closing(tokens, i + 1);
        Object.assign(options, parseOptions(tokens.slice(i + 2, close)));
        i = close + 1;
      } else if (k === 'AS') {
        query = tokens.slice(i + 1);
        break;
      } else throw invalid(`Syntax error: unexpected ${tokens[i].text} in CREATE TABLE`);
    }
    this.noteUpdate(target);
    if (query) {
      const { sql, values } = translate(query, catalog, parameters);
      const scratchTable = `${quote(RESULTS_SCHEMA)}.${quote(`ctas${++this.resultCount}`)}`;
      await this.run(`CREATE TABLE ${scratchTable} AS ${sql}`, values);
      fields = fields ?? (await this.describe(scratchTable));
      fields = normalizeSchema(fields, this.tableKey(target));
      this.validateTableOptions(fields, options, this.tableKey(target));
      await this.createStorage(target, fields);
      await this.run(`INSERT INTO ${duckTable(target)} SELECT * FROM ${scratchTable}`);
      await this.run(`DROP TABLE ${scratchTable}`);
    } else {
      if (!fields) throw invalid('CREATE TABLE needs a column list or AS query');
      fields = normalizeSchema(fields, this.tableKey(target));
      this.validateTableOptions(fields, options, this.tableKey(target));
      await this.createStorage(target, fields);
    }
    const now = Date.now();
    this.tables.set(this.tableKey(target), {
      path: target,
      fields,
      labels: options.labels ?? {},
      timePartitioning: options.timePartitioning,
      clustering: options.clustering,
      expirationTime: options.expirationTime,
      description: options.description,
      creationTime: now,
      lastModifiedTime: now,
      etag: randomUUID(),
    });
  }

  private async runAlter(tokens: Token[], catalog: Catalog): Promise<void> {
    if (keyword(tokens[1]) !== 'TABLE') throw invalid('the test double supports ALTER TABLE only');
    let i = 2;
    if (keyword(tokens[i]) === 'IF') i += 2;
    const { path: target, end } = tableAt(tokens, i, catalog);
    const state = this.table(target);
    // Every action is checked before any is applied: an invalid statement changes nothing and
    // does not count against the table's update rate.
    await this.alterActions(state, splitCommas(tokens.slice(end)), false);
    this.noteUpdate(target);
    await this.alterActions(state, splitCommas(tokens.slice(end)), true);
    state.lastModifiedTime = Date.now();
  }

  private async alterActions(state: TableState, actions: Token[][], apply: boolean): Promise<void> {
    const target = state.path;
    const added = new Set<string>();
    for (const action of actions) {
      const a = keyword(action[0]);
      const b = keyword(action[1]);
      if (a === 'ADD' && b === 'COLUMN') {
        let k = 2;
        let ifNotExists = false;
        if (keyword(action[k]) === 'IF') {
          ifNotExists = true;
          k += 3;
        }
        const name = action[k].value ?? action[k].text;
        const { type, mode } = parseColumnType(action.slice(k + 1));
        if (state.fields.some((f) => f.name.toLowerCase() === name.toLowerCase()) || (!apply && added.has(name.toLowerCase()))) {
          if (ifNotExists) continue;
          throw invalid(`Column already exists: ${name}`);
        }
        added.add(name.toLowerCase());
        if (mode === 'REQUIRED') throw invalid(`ALTER TABLE ADD COLUMN cannot add a REQUIRED column (${name}); new columns must be NULLABLE`);
        const [field] = normalizeSchema([{ name, type, mode }], this.tableKey(target));
        if (!apply) continue;
        await this.run(`ALTER TABLE ${duckTable(target)} ADD COLUMN ${quote(field.name)} ${duckType(field)}`);
        state.fields.push(field);
      } else if (a === 'ALTER' && b === 'COLUMN') {
        const name = action[2].value ?? action[2].text;
        const field = state.fields.find((f) => f.name.toLowerCase() === name.toLowerCase());
        if (!field) throw invalid(`Column not found: ${name} in table ${this.tableKey(target)}`);
        const verb = `${keyword(action[3])} ${keyword(action[4])}`;
        if (verb === 'SET DATA') {
          const { type } = parseColumnType(action.slice(6));
          if (!widenable(field.type, type)) {
            throw invalid(`ALTER TABLE ALTER COLUMN SET DATA TYPE requires that the existing column type (${field.type}) is assignable to the new type (${type})`);
          }
          if (!apply) continue;
          const source = quote(field.name);
          const using = type === 'BIGNUMERIC' ? `regexp_replace(regexp_replace(CAST(${source} AS VARCHAR), '(\\.[0-9]*?)0+$', '\\1'), '\\.$', '')` : `CAST(${source} AS ${duckScalar(type)})`;
          await this.run(`ALTER TABLE ${duckTable(target)} ALTER COLUMN ${source} SET DATA TYPE ${duckScalar(type)} USING ${using}`);
          field.type = type;
        } else if (verb === 'DROP NOT') {
          if (!apply) continue;
          await this.run(`ALTER TABLE ${duckTable(target)} ALTER COLUMN ${quote(field.name)} DROP NOT NULL`);
          field.mode = 'NULLABLE';
        } else throw invalid(`the test double does not support ALTER COLUMN ${verb}`);
      } else if (a === 'DROP' && b === 'COLUMN') {
        const name = action[2].value ?? action[2].text;
        if (!state.fields.some((f) => f.name.toLowerCase() === name.toLowerCase())) throw invalid(`Column not found: ${name}`);
        if (!apply) continue;
        await this.run(`ALTER TABLE ${duckTable(target)} DROP COLUMN ${quote(name)}`);
        state.fields = state.fields.filter((f) => f.name.toLowerCase() !== name.toLowerCase());
      } else if (a === 'SET' && b === 'OPTIONS') {
        const options = parseOptions(action.slice(3, closing(action, 2)));
        if (!apply) continue;
        if (options.labels) state.labels = { ...state.labels, ...options.labels };
        if (options.expirationTime) state.expirationTime = options.expirationTime;
        if (options.description) state.description = options.description;
      } else throw invalid(`the test double does not support ALTER TABLE ${a} ${b}`);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Load jobs

  private async runLoad(job: JobState): Promise<void> {
    const load = job.configuration.load;
    const dest = load.destinationTable ?? {};
    const target: TablePath = { project: dest.projectId ?? job.project, dataset: dest.datasetId, table: dest.tableId };
    this.dataset(target.project, target.dataset);
    const format = String(load.sourceFormat ?? 'CSV').toUpperCase();
    const files: { name: string; data: Buffer }[] = [];
    if (job.upload) files.push({ name: 'file-00000000', data: job.upload });
    for (const uri of (load.sourceUris ?? []) as string[]) {
      if (!this.options.objects) throw invalid(`the test double was started without an object reader, so it cannot read ${uri}`);
      const data = await this.options.objects(uri);
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
    const existing = this.findTable(target);
    const createDisposition = load.createDisposition ?? 'CREATE_IF_NEEDED';
    const writeDisposition = load.writeDisposition ?? 'WRITE_APPEND';
    if (!existing && createDisposition === 'CREATE_NEVER') throw new BqFailure(404, 'notFound', `Not found: Table ${this.tableKey(target)}`);
    if (load.autodetect) throw invalid('the test double does not support schema autodetection; give the schema');
    const given = load.schema?.fields ? normalizeSchema(load.schema.fields, this.tableKey(target)) : undefined;
    const fields = given ?? existing?.fields;
    if (!fields) throw invalid('No schema specified on job or table.');
    const updateOptions = new Set<string>(load.schemaUpdateOptions ?? []);
    if (updateOptions.size && existing && writeDisposition === 'WRITE_EMPTY') {
      throw invalid('Schema update options should only be specified with WRITE_APPEND disposition, or with WRITE_TRUNCATE disposition on a table partition.');
    }
    if (existing && writeDisposition === 'WRITE_EMPTY') {
      const count = await this.db.runAndReadAll(`SELECT COUNT(*) FROM ${duckTable(target)}`);
      if (Number(count.getRowsJS()[0][0]) > 0) throw new BqFailure(409, 'duplicate', `Already Exists: Table ${this.tableKey(target)}`);
    }

    const { rows, errors, total } = await this.parseLoadFiles(format, files, fields, load);
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

    this.noteUpdate(target);
    await this.run('BEGIN TRANSACTION');
    try {
      let state = existing;
      if (!state || writeDisposition === 'WRITE_TRUNCATE') {
        const options = { timePartitioning: load.timePartitioning ?? state?.timePartitioning, clustering: load.clustering ?? state?.clustering };
        this.validateTableOptions(fields, options, this.tableKey(target));
        await this.createStorage(target, fields);
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
        await this.applySchema(state, given, {
          addition: updateOptions.has('ALLOW_FIELD_ADDITION'),
          relaxation: updateOptions.has('ALLOW_FIELD_RELAXATION'),
          requireAll: false,
        });
      }
      await this.insertRows(state, fields, rows);
      await this.run('COMMIT');
      state.lastModifiedTime = Date.now();
      this.tables.set(this.tableKey(target), state);
    } catch (error) {
      await this.db.run('ROLLBACK').catch(() => undefined);
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

  /** Parses and checks every row of the load's files against `fields`. */
  private async parseLoadFiles(
    format: string,
    files: { name: string; data: Buffer }[],
    fields: BqField[],
    load: Json,
  ): Promise<{ rows: (string | null)[][]; errors: BqErrorProto[]; total: number }> {
    const rows: (string | null)[][] = [];
    const errors: BqErrorProto[] = [];
    let total = 0;
    const byName = new Map(fields.map((f, i) => [f.name.toLowerCase(), i]));
    const ignoreUnknown = load.ignoreUnknownValues === true;
    const check = (record: Map<string, unknown>, csv: boolean): (string | null)[] => {
      const row: (string | null)[] = new Array(fields.length).fill(null);
      for (const [key, raw] of record) {
        const index = byName.get(key.toLowerCase());
        if (index === undefined) {
          if (ignoreUnknown) continue;
          throw new ValueProblem(`No such field: ${key}.`);
        }
        const field = fields[index];
        if (raw === null || raw === undefined) continue;
        if (field.mode === 'REPEATED') {
          if (!Array.isArray(raw)) throw new ValueProblem(`Expected array for repeated field ${field.name}`);
          row[index] = JSON.stringify(raw.map((element) => {
            if (element === null) throw new ValueProblem(`Array ${field.name} contains a null element`);
            return loadValue(field.type, element, csv);
          }));
        } else {
          try {
            row[index] = loadValue(field.type, raw, csv);
          } catch (error) {
            if (error instanceof ValueProblem) throw new ValueProblem(`${error.message} Field: ${field.name}; Value: ${describeRaw(raw)}`);
            throw error;
          }
        }
      }
      fields.forEach((field, i) => {
        if (field.mode === 'REQUIRED' && row[i] === null) throw new ValueProblem(`Missing required field: ${field.name}.`);
      });
      return row;
    };
    for (const file of files) {
      if (format === 'NEWLINE_DELIMITED_JSON') {
        const text = file.data.toString('utf8');
        let offset = 0;
        for (const line of text.split('\n')) {
          const start = offset;
          offset += Buffer.byteLength(line, 'utf8') + 1;
          if (line.trim() === '') continue;
          total++;
          try {
            let parsed: unknown;
            try {
              parsed = parseLossless(line, null, (value: string) => new ExactNumber(value));
            } catch (error) {
              throw new ValueProblem(`Parser terminated before end of string: ${(error as Error).message}`);
            }
            if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new ValueProblem('Row is not a JSON object');
            rows.push(check(new Map(Object.entries(parsed as Record<string, unknown>)), false));
          } catch (error) {
            if (!(error instanceof ValueProblem)) throw error;
            errors.push({ reason: 'invalid', location: file.name, message: `Error while reading data, error message: JSON parsing error in row starting at position ${start}: ${error.message}` });
          }
        }
      } else if (format === 'CSV') {
        const parsed = Papa.parse<string[]>(file.data.toString(load.encoding === 'ISO-8859-1' ? 'latin1' : 'utf8'), {
          delimiter: load.fieldDelimiter === 'tab' || load.fieldDelimiter === '\\t' ? '\t' : (load.fieldDelimiter ?? ','),
          quoteChar: load.quote ?? '"',
          skipEmptyLines: true,
        });
        const skip = Number(load.skipLeadingRows ?? 0);
        const nullMarker = load.nullMarker ?? '';
        parsed.data.slice(skip).forEach((cells, index) => {
          total++;
          try {
            if (cells.length > fields.length && !ignoreUnknown) throw new ValueProblem(`Too many values in row starting at position ${index + skip}. Found ${cells.length} column(s) while expected ${fields.length}.`);
            if (cells.length < fields.length && !load.allowJaggedRows) throw new ValueProblem(`Too few columns: expected ${fields.length} column(s) but got ${cells.length} column(s).`);
            const record = new Map<string, unknown>();
            fields.forEach((field, i) => {
              const cell = cells[i];
              record.set(field.name, cell === undefined || cell === nullMarker ? null : cell);
            });
            rows.push(check(record, true));
          } catch (error) {
            if (!(error instanceof ValueProblem)) throw error;
            errors.push({ reason: 'invalid', location: file.name, message: `Error while reading data, error message: CSV processing encountered an error in row ${index + skip + 1}: ${error.message}` });
          }
        });
      } else if (format === 'PARQUET') {
        const records = await this.parquetRows(file.data);
        records.forEach((record, index) => {
          total++;
          try {
            rows.push(check(record, true));
          } catch (error) {
            if (!(error instanceof ValueProblem)) throw error;
            errors.push({ reason: 'invalid', location: file.name, message: `Error while reading data, error message: Parquet row ${index}: ${error.message}` });
          }
        });
      } else {
        throw invalid(`the test double cannot read ${format} load files`);
      }
    }
    return { rows, errors, total };
  }

  private async insertRows(state: TableState, fields: BqField[], rows: (string | null)[][]): Promise<void> {
    if (rows.length === 0) return;
    const staging = `${quote(RESULTS_SCHEMA)}.${quote(`load${++this.resultCount}`)}`;
    await this.run(`CREATE TABLE ${staging} (${fields.map((_, i) => `c${i} VARCHAR`).join(', ')})`);
    const appender = await this.db.createAppender(`load${this.resultCount}`, RESULTS_SCHEMA);
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
    await this.run(`INSERT INTO ${duckTable(state.path)} (${fields.map((f) => quote(f.name)).join(', ')}) SELECT ${expressions.join(', ')} FROM ${staging}`);
    await this.run(`DROP TABLE ${staging}`);
  }

  /** Rows of a Parquet file as text values (DuckDB reads it), checked later like CSV cells. */
  private async parquetRows(data: Buffer): Promise<Map<string, unknown>[]> {
    const file = path.join(this.scratch, `${randomUUID()}.parquet`);
    await writeFile(file, data);
    const reader = await this.db.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${literal(file)})`);
    const columns = reader.getRowsJS().map((row) => ({ name: String(row[0]), type: String(row[1]) }));
    const select = columns.map((c) => {
      const q = quote(c.name);
      if (c.type === 'BLOB') return `to_base64(${q})`;
      if (c.type.startsWith('TIMESTAMP')) return `strftime(${q}, '%Y-%m-%d %H:%M:%S.%f') || '+00:00'`;
      return `CAST(${q} AS VARCHAR)`;
    });
    const result = await this.db.runAndReadAll(`SELECT ${select.join(', ')} FROM read_parquet(${literal(file)})`);
    await rm(file, { force: true });
    return result.getRowsJS().map((row) => new Map(columns.map((c, i) => [c.name, row[i] === null ? null : String(row[i])])));
  }

  // -------------------------------------------------------------------------------------------
  // Reading results

  /** Rows of a job's result or a table, in BigQuery's `{f:[{v}]}` wire form. */
  async readRows(
    relation: { table: string; schema?: string } | TablePath,
    fields: readonly BqField[],
    startIndex: number,
    maxResults: number,
    int64Timestamps: boolean,
  ): Promise<Json[]> {
    return this.mutex.run(async () => {
      const from = 'table' in relation && 'project' in relation ? duckTable(relation as TablePath) : `${quote(RESULTS_SCHEMA)}.${quote((relation as { table: string }).table)}`;
      if (fields.length === 0) return [];
      const exprs = fields.map((f) => {
        const column = quote(f.name);
        if (f.mode === 'REPEATED') return `list_transform(${column}, x -> ${wireText('x', f.type)})`;
        return wireText(column, f.type);
      });
      const reader = await this.db.runAndReadAll(`SELECT ${exprs.join(', ')} FROM ${from} ORDER BY rowid LIMIT ${maxResults} OFFSET ${startIndex}`);
      return reader.getRowsJS().map((row) => ({
        f: row.map((value, i) => {
          const field = fields[i];
          const one = (v: unknown) => ({ v: v === null ? null : formatWire(String(v), field.type, int64Timestamps) });
          if (field.mode === 'REPEATED') return { v: ((value as unknown[] | null) ?? []).map(one) };
          return one(value);
        }),
      }));
    });
  }

  /** Fields of a table for reading (its schema) or of a job's result. */
  resultFields(job: JobState): BqField[] {
    return job.result?.fields ?? [];
  }
}

function describeRaw(raw: unknown): string {
  if (raw instanceof ExactNumber) return raw.text;
  return typeof raw === 'string' ? raw : JSON.stringify(raw);
}

/** Depth of parentheses at token `index`. */
function depthAt(tokens: readonly Token[], index: number): number {
  let depth = 0;
  for (let i = 0; i < index; i++) {
    if (tokens[i].text === '(') depth++;
    else if (tokens[i].text === ')') depth--;
  }
  return depth;
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

/** DuckDB expression rendering a stored value as the text BigQuery puts on the wire. */
function wireText(column: string, type: string): string {
  switch (type) {
    case 'INT64':
    case 'STRING':
    case 'JSON':
    case 'TIME':
    case 'DATE':
      return `CAST(${column} AS VARCHAR)`;
    case 'FLOAT64':
      return `CASE WHEN isnan(${column}) THEN 'NaN' WHEN ${column} = 'inf'::DOUBLE THEN 'Infinity' WHEN ${column} = '-inf'::DOUBLE THEN '-Infinity' ELSE CAST(${column} AS VARCHAR) END`;
    case 'NUMERIC':
    case 'BIGNUMERIC':
      return `CAST(${column} AS VARCHAR)`;
    case 'BOOL':
      return `CASE WHEN ${column} THEN 'true' ELSE 'false' END`;
    case 'TIMESTAMP':
      return `CAST(epoch_us(${column}) AS VARCHAR)`;
    case 'DATETIME':
      return `strftime(${column}, '%Y-%m-%dT%H:%M:%S.%f')`;
    case 'BYTES':
      return `to_base64(${column})`;
    default:
      return `CAST(${column} AS VARCHAR)`;
  }
}

/** Final touches on wire text: exact decimals without trailing zeros, timestamps as requested. */
function formatWire(text: string, type: string, int64Timestamps: boolean): string {
  switch (type) {
    case 'NUMERIC':
    case 'BIGNUMERIC':
      return text.includes('.') ? text.replace(/0+$/, '').replace(/\.$/, '') : text;
    case 'TIMESTAMP':
      if (int64Timestamps) return text;
      // The service's default: seconds since the epoch as a floating-point string.
      return (Number(BigInt(text)) / 1e6).toExponential().replace('e+', 'E').replace('e-', 'E-');
    case 'DATETIME':
      return text.replace(/\.0{6}$/, '').replace(/(\.\d*?)0+$/, '$1');
    default:
      return text;
  }
}

/** Maps a DuckDB error onto BigQuery's messages (REQUIRED fields, casts). */
function duckFailure(error: unknown): BqFailure {
  if (error instanceof BqFailure) return error;
  const message = error instanceof Error ? error.message : String(error);
  const notNull = /NOT NULL constraint failed: [^.]+\.(\S+)/.exec(message);
  if (notNull) return invalid(`Required field ${notNull[1]} cannot be null`);
  return new BqFailure(400, 'invalidQuery', message.replace(/^[A-Za-z ]+Error: /, ''));
}

/** Query parameters of a request, flattened to names, types and text values. */
function parseParameters(raw: readonly Json[]): Parameter[] {
  return raw.map((p) => ({
    name: p.name,
    type: String(p.parameterType?.type ?? 'STRING'),
    arrayType: p.parameterType?.arrayType?.type,
    value: p.parameterValue?.value ?? null,
    arrayValues: (p.parameterValue?.arrayValues as Json[] | undefined)?.map((v) => v.value ?? null),
  }));
}

/** `OPTIONS(labels=[("k","v")], expiration_timestamp=TIMESTAMP "...", description="...")`. */
function parseOptions(tokens: Token[]): Json {
  const options: Json = {};
  for (const part of splitCommas(tokens)) {
    const name = keyword(part[0]);
    const value = part.slice(2);
    if (name === 'LABELS') {
      const labels: Record<string, string> = {};
      const strings = value.filter((t) => t.kind === 'string').map((t) => t.value!);
      for (let i = 0; i + 1 < strings.length; i += 2) labels[strings[i]] = strings[i + 1];
      options.labels = labels;
    } else if (name === 'DESCRIPTION') options.description = value.find((t) => t.kind === 'string')?.value;
    else if (name === 'EXPIRATION_TIMESTAMP') {
      const text = value.find((t) => t.kind === 'string')?.value;
      if (text) options.expirationTime = String(Date.parse(text.replace(' ', 'T').replace(/ ?UTC$/, 'Z')));
    }
  }
  return options;
}

export type { TableState, DatasetState };
