/** The destination's stage: rows of a run in local NDJSON files per unit, loaded and committed at once. */
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createGzip } from 'node:zlib';
import type { Column, LoadMarker, RejectedRow, Stage, StageRequest, Value } from '../../../src/core/connector.js';
import { EtlError, fileError } from '../../../src/core/errors.js';
import { jobId } from '../../bigquery-common/bigquery-client.js';
import { fieldOf, NdjsonEncoder, type BigQueryField } from '../../bigquery-common/bigquery-types.js';
import { commitStaging } from './bigquery-commit.js';
import type { BigQueryDestination } from './bigquery-destination.js';
import { STAGED_REJECT_FIELDS, writeRejects } from './bigquery-rejects.js';
import { loadStaging, stagingStore, type LoadSource } from './bigquery-staging-load.js';

/** Row numbers a unit's rows take at most (2^40); times a unit's index they stay exact doubles for up to 8,000 units. */
const UNIT_ROW_SPAN = 2 ** 40;

/** Column of staging tables that orders rows for "last row wins" in merges. */
export const ROW_COLUMN = '_b2betl_row';

/** One unit's NDJSON file. */
interface UnitFile {
  readonly path: string;
  readonly stream: WriteStream;
  rows: number;
  /** A failed write of the file (a full disk), reported by the next write. */
  failure?: unknown;
}

/** No values after a line's columns. */
const NO_EXTRA: readonly Value[] = [];

/** Rows of a run in local NDJSON files, one per unit; loaded and committed at `commit`. */
export class BigQueryStage implements Stage {
  private readonly units = new Map<number, UnitFile>();
  private columns: Column[];
  private encoder: NdjsonEncoder;
  private rowNumber = 0;
  /** Staging tables created so far, dropped by `abort`. */
  private readonly created: string[] = [];
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
      const opened: UnitFile = { path: file, stream: createWriteStream(file), rows: 0 };
      opened.stream.on('error', (error) => (opened.failure ??= fileError(error, file)));
      unit = opened;
      this.units.set(index, unit);
    }
    return unit;
  }

  async write(index: number, rows: readonly Value[][]): Promise<void> {
    await this.append(index, rows.length, (r, extra) => this.encoder.line(rows[r]!, extra));
  }

  async writeColumns(index: number, columns: readonly (ArrayLike<Value> | null)[], length: number, skip?: Uint8Array): Promise<void> {
    await this.append(index, length, (r, extra) => this.encoder.lineAt(columns, r, extra), skip);
  }

  /** Appends the lines of rows `0`..`length - 1` (but those `skip` marks) to a unit's file. */
  private async append(index: number, length: number, line: (r: number, extra: readonly Value[]) => string, skip?: Uint8Array): Promise<void> {
    const unit = this.unit(index);
    let chunk = '';
    let rows = 0;
    for (let r = 0; r < length; r++) {
      if (skip?.[r]) continue;
      // A merge keeps per key the row last in plan order: the unit's place first, then the row's.
      chunk += line(r, this.merge ? [index * UNIT_ROW_SPAN + ++this.rowNumber] : NO_EXTRA);
      rows++;
      if (chunk.length > 1 << 20) {
        await put(unit, chunk);
        chunk = '';
      }
    }
    unit.rows += rows;
    if (chunk) await put(unit, chunk);
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
    if (staged !== marker.rows) throw new EtlError(`${staged} row(s) were staged for ${marker.rows} loaded; nothing was committed`, 'run the job again');
    const d = this.destination;
    await d.tables.ensureDataset();
    await d.tables.prepareTarget(job, table, strategy, this.columns, runId, primaryKey);
    // With no rows, the commit only replaces what it replaces, writes rejects and the marker.
    if (files.length) {
      const fields = this.stagingFields();
      await this.createStaging(this.staging, fields);
      const source = await this.loadSource(files, 'part');
      const metadata = await loadStaging(d, this.staging, fields, source, d.jobIdFor(job.name, runId, 'load'));
      const output = Number(metadata.statistics?.load?.outputRows ?? staged);
      if (output !== staged) throw new EtlError(`the load into ${this.staging} wrote ${output} rows but ${staged} were staged; nothing was committed`, 'run the job again');
    }
    const rejected = rejects.length ? await this.stageRejects(rejects) : undefined;
    await commitStaging(d, { spec: job, table, staging: files.length ? this.staging : undefined, columns: this.columns, strategy, primaryKey, marker, rejects: rejected, orderColumn: this.merge ? ROW_COLUMN : undefined, replace: this.request.replace });
    this.request.log.info(`committed ${staged} rows into ${d.locate(table)} (run ${runId})`);
    await this.abort();
    return staged;
  }

  /**
   * Loads the rejected rows into a staging table of their own, as the rows are loaded, for the
   * commit to insert from; returns its name.
   */
  private async stageRejects(rejects: readonly RejectedRow[]): Promise<string> {
    const d = this.destination;
    const { job, runId } = this.request;
    const file = path.join(this.dir, 'rejects.ndjson');
    await writeRejects(file, rejects, d.capabilities.maxRow!.bytes);
    const name = `${this.staging}__rejected`;
    await this.createStaging(name, STAGED_REJECT_FIELDS);
    const metadata = await loadStaging(d, name, STAGED_REJECT_FIELDS, await this.loadSource([file], 'rejects'), d.jobIdFor(job.name, runId, 'rejects'));
    const output = Number(metadata.statistics?.load?.outputRows ?? rejects.length);
    if (output !== rejects.length) throw new EtlError(`the load into ${name} wrote ${output} rejected rows of ${rejects.length}; nothing was committed`, 'run the job again');
    return name;
  }

  private async createStaging(name: string, fields: readonly BigQueryField[]): Promise<void> {
    await this.destination.tables.createStaging(name, fields);
    this.created.push(name);
  }

  /** Local files to upload, or with `staging: gs://…` the URIs of copies written there as `<stem>-NNNNN.ndjson.gz`. */
  private async loadSource(files: readonly string[], stem: string): Promise<LoadSource> {
    const staging = this.destination.handle.config.staging;
    if (!staging) return { kind: 'files', files };
    const store = await stagingStore(this.destination.handle, staging);
    const prefix = `${jobId(this.request.job.name)}/${this.request.runId}`;
    const uris: string[] = [];
    try {
      for (const [i, file] of files.entries()) {
        const name = `${prefix}/${stem}-${String(i).padStart(5, '0')}.ndjson.gz`;
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
    for (const table of this.created.splice(0)) await this.destination.tables.dropTable(table);
    if (this.uploaded.length) {
      const staging = this.destination.handle.config.staging!;
      const store = await stagingStore(this.destination.handle, staging);
      for (const name of this.uploaded) await store.delete(name).catch((error: unknown) => this.request.log.warn(`could not delete staged ${store.url(name)}: ${(error as Error).message}`));
      await store.close?.();
      this.uploaded = [];
    }
  }
}

/** Writes to a unit's file, waiting while its buffer is full; a failed file (a full disk) throws, naming it. */
async function put(unit: UnitFile, chunk: string): Promise<void> {
  if (unit.failure) throw unit.failure;
  if (!unit.stream.write(chunk)) {
    // A stream that failed never drains: it closes.
    const done = new AbortController();
    await Promise.race([once(unit.stream, 'drain', { signal: done.signal }), once(unit.stream, 'close', { signal: done.signal })]).catch(() => undefined);
    done.abort();
  }
  if (unit.failure) throw unit.failure;
}

function closeStream(stream: WriteStream): Promise<void> {
  if (stream.closed) return Promise.resolve();
  return new Promise((resolve, reject) => {
    stream.end((error?: Error | null) => (error ? reject(error) : resolve()));
  });
}
