/** The double's datasets and tables: their records, DuckDB storage, schema changes and resources. */
import { randomUUID } from 'node:crypto';
import { BqFailure, duckType, invalid, legacyType, normalizeSchema, type BqField } from './bigquery-double-types.js';
import { duckTable, quote, schemaName, type Catalog, type TablePath } from './bigquery-double-sql.js';
import type { DuckSession } from './bigquery-double-duck.js';
import type { TableUpdateLimiter } from './bigquery-double-rate-limit.js';
import type { DatasetState, Json, TableState } from './bigquery-double-state.js';
import { validateTableOptions } from './bigquery-double-table-options.js';

/** How a statement changed a table: rows added, or rows updated or deleted. */
export type TableChange = 'insert' | 'mutate';

/** Datasets and tables with BigQuery's rules on names, schemas and options enforced. */
export class TableCatalog {
  readonly datasets = new Map<string, DatasetState>();
  readonly tables = new Map<string, TableState>();

  constructor(
    private readonly duck: DuckSession,
    private readonly limiter: TableUpdateLimiter,
  ) {}

  // -------------------------------------------------------------------------------------------
  // Datasets

  datasetKey(project: string, dataset: string): string {
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
    await this.duck.mutex.run(() => this.duck.db.run(`CREATE SCHEMA ${quote(schemaName(project, dataset))}`));
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
    await this.duck.mutex.run(() => this.duck.db.run(`DROP SCHEMA ${quote(schemaName(project, dataset))} CASCADE`));
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

  tableKey(p: TablePath): string {
    return `${p.project}:${p.dataset}.${p.table}`;
  }

  /** The table's state, dropping it first if it expired. */
  findTable(p: TablePath): TableState | undefined {
    const key = this.tableKey(p);
    const state = this.tables.get(key);
    if (state?.expirationTime && Number(state.expirationTime) <= Date.now()) {
      this.tables.delete(key);
      void this.duck.mutex.run(() => this.duck.db.run(`DROP TABLE IF EXISTS ${duckTable(p)}`));
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
    this.limiter.note(this.tableKey(p));
  }

  async insertTable(project: string, dataset: string, body: Json): Promise<Json> {
    this.dataset(project, dataset);
    const tableId = String(body.tableReference?.tableId ?? '');
    if (!/^[\p{L}\p{M}\p{N}\p{Pc}\p{Pd}\p{Zs}]{1,1024}$/u.test(tableId)) throw invalid(`Invalid table ID "${tableId}".`);
    const p = { project, dataset, table: tableId };
    if (this.findTable(p)) throw new BqFailure(409, 'duplicate', `Already Exists: Table ${project}:${dataset}.${tableId}`);
    const fields = normalizeSchema(body.schema?.fields, `${project}:${dataset}.${tableId}`);
    validateTableOptions(fields, body, `${project}:${dataset}.${tableId}`);
    await this.duck.mutex.run(() => this.createStorage(p, fields));
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

  /** Creates (or replaces) the DuckDB table behind `p`; the caller holds the connection. */
  async createStorage(p: TablePath, fields: readonly BqField[]): Promise<void> {
    const columns = fields.map((f) => `${quote(f.name)} ${duckType(f)}${f.mode === 'REQUIRED' ? ' NOT NULL' : ''}`);
    // DuckDB needs a column; a schemaless BigQuery table has none, so keep a hidden placeholder.
    if (columns.length === 0) columns.push('"__empty__" BOOLEAN');
    await this.duck.db.run(`CREATE OR REPLACE TABLE ${duckTable(p)} (${columns.join(', ')})`);
  }

  /** tables.patch / tables.update: schema additions and relaxations, labels, options. */
  async patchTable(p: TablePath, body: Json, replace: boolean): Promise<Json> {
    const state = this.table(p);
    this.noteUpdate(p);
    if (body.schema?.fields) {
      const fields = normalizeSchema(body.schema.fields, this.tableKey(p));
      await this.duck.mutex.run(() => this.applySchema(state, fields, { addition: true, relaxation: true, requireAll: true }));
    }
    if (body.labels !== undefined) {
      const merged = replace ? body.labels : { ...state.labels, ...body.labels };
      state.labels = Object.fromEntries(Object.entries(merged ?? {}).filter(([, v]) => v !== null)) as Record<string, string>;
    }
    if (body.expirationTime !== undefined) state.expirationTime = body.expirationTime === null ? undefined : String(body.expirationTime);
    if (body.description !== undefined) state.description = body.description;
    if (body.clustering !== undefined) {
      validateTableOptions(state.fields, { clustering: body.clustering }, this.tableKey(p));
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
  async applySchema(
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
      await this.duck.db.run(`ALTER TABLE ${duckTable(state.path)} ADD COLUMN ${quote(field.name)} ${duckType(field)}`);
      state.fields.push(field);
    }
    for (const existing of state.fields) {
      const next = byName.get(existing.name.toLowerCase());
      if (next && existing.mode === 'REQUIRED' && next.mode === 'NULLABLE') {
        await this.duck.db.run(`ALTER TABLE ${duckTable(state.path)} ALTER COLUMN ${quote(existing.name)} DROP NOT NULL`);
        existing.mode = 'NULLABLE';
      }
    }
  }

  async deleteTable(p: TablePath): Promise<void> {
    this.table(p);
    await this.duck.mutex.run(() => this.duck.db.run(`DROP TABLE IF EXISTS ${duckTable(p)}`));
    this.tables.delete(this.tableKey(p));
  }

  async tableResource(state: TableState): Promise<Json> {
    const rows = await this.duck.mutex.run(async () => {
      const reader = await this.duck.db.runAndReadAll(`SELECT COUNT(*) FROM ${duckTable(state.path)}`);
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

  /** Commits that changed tables so far: what a transaction's conflicts are checked against. */
  private commits = 0;
  /** Per table key, the last commit that inserted rows into it and the last that updated or deleted rows. */
  private readonly changes = new Map<string, { inserted: number; mutated: number }>();

  /** The commit sequence number now (a transaction's start). */
  get sequence(): number {
    return this.commits;
  }

  /** Records one commit's changes, by table key (`mutate`: rows updated or deleted, or the table replaced). */
  recordCommit(changes: ReadonlyMap<string, TableChange>): void {
    if (!changes.size) return;
    this.commits++;
    for (const [key, kind] of changes) {
      const change = this.changes.get(key) ?? { inserted: 0, mutated: 0 };
      if (kind === 'insert') change.inserted = this.commits;
      else change.mutated = this.commits;
      this.changes.set(key, change);
    }
  }

  /**
   * The table a transaction begun at `since` cannot commit, as BigQuery decides: one it updated
   * or deleted rows of that another job changed since, or one it inserted into whose rows another
   * job updated or deleted since. Concurrent inserts alone do not conflict.
   */
  conflict(since: number, changes: ReadonlyMap<string, TableChange>): string | undefined {
    for (const [key, kind] of changes) {
      const other = this.changes.get(key);
      if (!other) continue;
      if (other.mutated > since || (kind === 'mutate' && other.inserted > since)) return key;
    }
    return undefined;
  }

  /** Marks a table as just modified. */
  touch(p: TablePath): void {
    const state = this.findTable(p);
    if (state) state.lastModifiedTime = Date.now();
  }

  /** How SQL names resolve against the datasets: unqualified names go to the defaults. */
  sqlCatalog(defaultProject: string, defaultDataset?: string): Catalog {
    return {
      defaultProject,
      defaultDataset,
      hasDataset: (project, dataset) => this.datasets.has(this.datasetKey(project, dataset)),
    };
  }
}
