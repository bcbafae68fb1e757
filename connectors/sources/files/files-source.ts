/**
 * The source for files: any {@link ObjectStore} × any {@link FileFormat}. Plans new or changed
 * files, infers each file's columns from its first rows, and streams it as batches.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, open, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import picomatch from 'picomatch';
import { compressionOf } from '../../formats/decompress.js';
import { formatByName, formatForPath, formatNameForPath, type FormatName } from '../../formats/index.js';
import { csvHead, DELIMITER_SAMPLE_BYTES } from '../../formats/csv/csv-format.js';
import { scanCsv } from './native-csv.js';
import type {
  FileHandle,
  FileRowBatch,
  FormatOptions,
  NativeFile,
  NativeFormat,
  NotNative,
  ObjectInfo,
  ObjectStore,
  PlanContext,
  ReadContext,
  SourceConnector,
  SourcePlan,
  SourceSample,
  WorkUnit,
} from '../../../src/core/connector.js';
import { ConfigError, EtlError } from '../../../src/core/errors.js';
import { SchemaSampler, textSpelling, widenType } from '../../../src/core/infer.js';
import { silentLogger as silentLog, type Logger } from '../../../src/core/log.js';
import type { JobSpec } from '../../../src/core/spec.js';
import { processAlive } from '../../../src/ledger/ledger.js';
import { columnar, type RecordBatch, type SourceColumn } from '../../../src/core/types.js';

const DEFAULT_SAMPLE_ROWS = 1000;
/**
 * Smaller files stream: reading one by a database engine costs a statement and a table.
 * `B2BETL_NATIVE_MIN_BYTES` moves the line.
 */
const NATIVE_MIN_BYTES = Number(process.env.B2BETL_NATIVE_MIN_BYTES ?? 8 << 20);
/** Parquet's nested types, declared as STRING (JSON text) unless the job asks for native JSON. */
const NESTED_SOURCE_TYPES = new Set(['LIST', 'MAP', 'STRUCT', 'REPEATED']);
const GLOB_CHARS = /[*?[\]{}!]/;

/** The folder part of a glob before its first wildcard: what to list. */
export function listPrefix(pattern: string): string {
  const parts = pattern.split('/');
  const fixed: string[] = [];
  for (const part of parts.slice(0, -1)) {
    if (GLOB_CHARS.test(part)) break;
    fixed.push(part);
  }
  return fixed.length ? `${fixed.join('/')}/` : '';
}

/** Whether a stored file record says the object is unchanged. */
function unchanged(seen: ObjectInfo | undefined, now: ObjectInfo): boolean {
  return seen !== undefined && seen.size === now.size && seen.modified === now.modified && (seen.version ?? '') === (now.version ?? '');
}

/** Renames exact duplicate field names (`a`, `a` → `a`, `a_2`) so every column is addressable. */
function uniqueFields(fields: readonly string[]): string[] {
  const seen = new Map<string, number>();
  return fields.map((field) => {
    const count = (seen.get(field) ?? 0) + 1;
    seen.set(field, count);
    return count === 1 ? field : `${field}_${count}`;
  });
}

export class FilesSource implements SourceConnector {
  /** Objects fetched to temporary files this run, by path. */
  private readonly fetched = new Map<string, string>();
  /** The folder of those files, made on first use. */
  private temporary?: Promise<string>;
  private fetches = 0;

  constructor(private readonly store: ObjectStore) {}

  async *matching(pattern: string): AsyncIterable<ObjectInfo> {
    const isMatch = picomatch(pattern, { dot: false });
    for await (const object of this.store.list(listPrefix(pattern))) {
      if (isMatch(object.path)) yield object;
    }
  }

  async plan(context: PlanContext): Promise<SourcePlan> {
    const pattern = patternOf(context.job);
    const units: WorkUnit[] = [];
    const skipped: { id: string; reason: string }[] = [];
    const listed: ObjectInfo[] = [];
    for await (const object of this.matching(pattern)) {
      listed.push(object);
      if (!context.fullRefresh && unchanged(context.state.files.get(object.path), object)) {
        skipped.push({ id: object.path, reason: 'unchanged' });
        continue;
      }
      units.push({ id: object.path, label: this.store.url(object.path), bytes: object.size, file: object });
    }
    // A snapshot of exactly the files of the last one, each unchanged, would load the same rows.
    const seen = context.state.files;
    if (context.skipUnchangedSnapshot && listed.length && listed.length === seen.size && listed.every((object) => unchanged(seen.get(object.path), object))) {
      return {
        units: [],
        skipped: listed.map((object) => ({ id: object.path, reason: 'unchanged' })),
        ordered: false,
        notes: [`all ${listed.length} file(s) matching ${pattern} are unchanged since the last snapshot (--full-refresh loads it again)`],
      };
    }
    units.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const notes: string[] = [];
    if (!units.length) {
      notes.push(
        skipped.length
          ? `all ${skipped.length} file(s) matching ${pattern} are unchanged since they were loaded`
          : `no files match ${pattern} under ${this.store.url(listPrefix(pattern))}`,
      );
    }
    return { units, skipped, ordered: false, notes };
  }

  async *read(unit: WorkUnit, context: ReadContext): AsyncIterable<RecordBatch> {
    yield* this.readFile(unit.file ?? { path: unit.id, size: unit.bytes ?? 0, modified: '' }, context.job, context.log);
  }

  /**
   * The unit as a file the destination reads itself, when it is one of `formats` on this machine
   * and can be read exactly as the stream would read it; otherwise why it streams.
   */
  async nativeFile(unit: WorkUnit, context: ReadContext, formats: readonly NativeFormat['kind'][]): Promise<NativeFile | NotNative> {
    const file = unit.file;
    if (!file) return { reason: 'not a file' };
    const format = formatNameOf(context.job, file.path);
    if ((format !== 'csv' && format !== 'parquet') || !formats.includes(format)) return { reason: `the destination reads no ${format ?? 'such'} files itself` };
    if (compressionOf(file.path)) return { reason: 'compressed' };
    return format === 'parquet' ? this.nativeParquet(file, context) : this.nativeCsv(file, context);
  }

  /**
   * A Parquet file whose every column the destination reads as the Parquet format does: its
   * types are the file's own, its rows the count the file declares. A remote object is decided
   * on by its footer (ranged reads), then fetched whole to a temporary file for the destination,
   * whose footer is read again: the file read is the file counted.
   */
  private async nativeParquet(file: ObjectInfo, context: ReadContext): Promise<NativeFile | NotNative> {
    const { job } = context;
    const format = await formatByName('parquet');
    const described = async (handle: FileHandle): Promise<NotNative | { columns: SourceColumn[]; records: number }> => {
      const rows = await format.read(handle, formatOptions(job, file.path));
      if (rows.notNative) return { reason: rows.notNative };
      const declared = [...(rows.declaredTypes?.values() ?? [])];
      if (new Set(declared.map((column) => column.name)).size !== declared.length) return { reason: 'two columns share a name' };
      return { columns: declared, records: rows.rowCount ?? 0 };
    };
    const local = this.store.localPath?.(file.path);
    const remote = await described(this.handle(file));
    if ('reason' in remote) return remote;
    const reason = 'the destination reads it itself, every column in the type the file declares';
    const base = { label: this.store.url(file.path), format: { kind: 'parquet' } as const };
    if (local) return { ...base, ...remote, path: local, reason, ...this.readInPlace(file) };
    const fetchedReason = `fetched whole to a temporary file (removed after the run), then ${reason}`;
    if (context.planOnly) return { ...base, ...remote, path: this.store.url(file.path), reason: fetchedReason };
    const path = await this.fetch(file, context);
    const fetched = await described(this.handle(file));
    if ('reason' in fetched) return fetched;
    return { ...base, ...fetched, path, reason: fetchedReason };
  }

  /**
   * Streams an object into a temporary file, once per run; later reads of the object (its
   * stream, if the destination does not take it after all) read that file. The files go when
   * the source closes.
   */
  private async fetch(file: ObjectInfo, { log, signal }: ReadContext): Promise<string> {
    const known = this.fetched.get(file.path);
    if (known) return known;
    this.temporary ??= sweepFetched().then(() => mkdtemp(join(tmpdir(), `${FETCH_PREFIX}${process.pid}-`)));
    const target = join(await this.temporary, `${this.fetches++}${extname(file.path)}`);
    const start = performance.now();
    await pipeline(await this.store.read(file.path, file.version), createWriteStream(target), { signal });
    const size = (await stat(target)).size;
    if (size !== file.size) {
      await rm(target, { force: true });
      throw new EtlError(`${this.store.url(file.path)}: fetched ${size} bytes of the ${file.size} listed; the object changed during the run`, 'run the job again');
    }
    this.fetched.set(file.path, target);
    log.debug(`${this.store.url(file.path)}: fetched ${size} bytes in ${Math.round(performance.now() - start)} ms`);
    return target;
  }

  /**
   * An uncompressed UTF-8 CSV file of at least {@link NATIVE_MIN_BYTES} (a remote one fetched to
   * a temporary file) that DuckDB parses as the CSV format does (see `scanCsv`; quotes doubled, one-byte delimiter),
   * with its columns typed by the same sample the stream would take. Single-column files stay
   * streamed: a blank line is a record there.
   */
  private async nativeCsv(file: ObjectInfo, context: ReadContext): Promise<NativeFile | NotNative> {
    const { job, log } = context;
    const csv = job.source.csv ?? {};
    if (file.size < NATIVE_MIN_BYTES) return { reason: `smaller than ${mebibytes(NATIVE_MIN_BYTES)}: one statement per file costs more than it saves` };
    if (csv.encoding && csv.encoding !== 'utf-8' && csv.encoding !== 'utf8') return { reason: `encoded in ${csv.encoding}` };
    if (csv.decimal === ',') return { reason: 'numbers with a decimal comma, which the core reads' };
    const quote = csv.quote ?? '"';
    // DuckDB unescapes any character after an escape; the CSV format only the quote.
    if ((csv.escape ?? quote) !== quote) return { reason: 'an escape character other than the quote' };
    // A remote object is fetched first: the sample, the scan and DuckDB all read that copy, and
    // so does the stream if the file streams after all.
    const local = this.store.localPath?.(file.path) ?? (context.planOnly ? undefined : await this.fetch(file, context));
    const head = Math.min(file.size, DELIMITER_SAMPLE_BYTES);
    const { delimiter, separatorLine } = await csvHead(formatOptions(job, file.path), () => this.handle(file).readRange(0, head));
    if (separatorLine) return { reason: 'an Excel separator line (sep=…) before the header, which DuckDB would read as a record' };
    if (!/^[\x00-\x7f]$/.test(delimiter) || !/^[\x00-\x7f]$/.test(quote)) return { reason: 'a delimiter or quote of more than one byte' };
    const batches = this.readFile(file, job, log)[Symbol.asyncIterator]();
    const first = await batches.next();
    await batches.return?.();
    if (first.done || first.value.columns.length < 2) return { reason: 'a single column, where a blank line is a record' };
    const reason = 'the destination reads it itself, its records parsing alike (a value spelled other than plainly streams it after all)';
    const fetched = this.store.localPath ? '' : 'fetched whole to a temporary file (removed after the run), then ';
    const base = { label: this.store.url(file.path), columns: first.value.columns, reason: fetched + reason };
    const header = csv.header ?? true;
    if (!local) {
      // Planning only: the scan of its records waits for the run, which fetches the object.
      return { ...base, path: this.store.url(file.path), format: { kind: 'csv', delimiter, quote, header, longestRecord: 0 }, records: 0 };
    }
    const scan = await scanCsv(local, delimiter, quote, first.value.columns.length);
    if ('reason' in scan) return { reason: scan.reason };
    return {
      ...base,
      path: local,
      format: { kind: 'csv', delimiter, quote, header, longestRecord: scan.longestRecord },
      records: scan.records - (header ? 1 : 0),
      ...this.readInPlace(file),
    };
  }

  /** For a file of a local folder, which the destination reads where it lies: the check that it is still the version listed. */
  private readInPlace(file: ObjectInfo): Pick<NativeFile, 'unchanged'> {
    if (!this.store.localPath || file.version === undefined) return {};
    return { unchanged: async () => (await this.store.stat(file.path))?.version === file.version };
  }

  /** Streams one file: the first `sample_size` rows set the columns, later fields extend them. */
  async *readFile(file: ObjectInfo, job: JobSpec, _log: Logger): AsyncIterable<RecordBatch> {
    const format = await (job.source.format ? formatByName(job.source.format) : formatForPath(file.path));
    const handle = this.handle(file);
    const rows = await format.read(handle, formatOptions(job, file.path));
    const sampleSize = job.source.sample_size ?? DEFAULT_SAMPLE_ROWS;
    const text = format.name === 'csv';
    const spelling = text ? textSpelling({ dateFormat: job.source.csv?.date_format, decimalComma: job.source.csv?.decimal === ',' }) : {};
    const sampler = new SchemaSampler({ text, nested: job.source.nested ?? 'string', ...spelling });
    const declared = rows.declaredTypes;
    const nestedAsJson = job.source.nested === 'json';
    const held: FileRowBatch[] = [];
    let columns: SourceColumn[] | undefined;
    let fieldCount = 0;
    let uniqueNames: string[] = [];

    const columnsFor = (fields: readonly string[]): SourceColumn[] => {
      if (columns && fields.length === fieldCount) return columns;
      uniqueNames = uniqueFields(fields);
      const inferred = new Map(sampler.columns().map((column) => [column.name, column]));
      const previous = new Map((columns ?? []).map((column) => [column.name, column]));
      columns = uniqueNames.map((name, i) => {
        const known = previous.get(name) ?? declared?.get(fields[i]);
        if (known && nestedAsJson && NESTED_SOURCE_TYPES.has(known.sourceType ?? '')) return { ...known, name, type: 'JSON' as const };
        if (known) return { ...known, name };
        const guess = inferred.get(name);
        return guess ?? { name, type: 'STRING', nullable: true, inferred: true, ...spelling };
      });
      fieldCount = fields.length;
      return columns;
    };
    const toRecordBatch = (batch: FileRowBatch): RecordBatch =>
      batch.vectors
        ? columnar({ columns: columnsFor(batch.fields) }, batch.vectors, batch.length ?? 0, batch.first ?? 1)
        : { columns: columnsFor(batch.fields), rows: batch.rows, positions: batch.positions, rejects: batch.rejects };

    for await (const batch of rows.batches) {
      if (columns) {
        if (batch.fields.length !== fieldCount) {
          const names = uniqueFields(batch.fields);
          for (const row of batch.rows) sampler.add(names, row);
        }
        yield toRecordBatch(batch);
        continue;
      }
      held.push(batch);
      const names = uniqueFields(batch.fields);
      for (const name of names) sampler.declare(name);
      for (const row of batch.rows) {
        if (sampler.rows >= sampleSize) break;
        sampler.add(names, row);
      }
      if (sampler.rows >= sampleSize) {
        for (const heldBatch of held.splice(0)) yield toRecordBatch(heldBatch);
      }
    }
    for (const heldBatch of held) yield toRecordBatch(heldBatch);
  }

  /** The file as formats see it (its fetched copy, if the run fetched it); formats decompress `.gz` themselves, by the name. */
  private handle(file: ObjectInfo): FileHandle {
    const store = this.store;
    const fetched = this.fetched.get(file.path);
    if (fetched) {
      return {
        name: store.url(file.path),
        size: file.size,
        open: async () => createReadStream(fetched),
        readRange: async (start: number, end: number) => {
          const handle = await open(fetched, 'r');
          try {
            const bytes = Buffer.allocUnsafe(end - start);
            const { bytesRead } = await handle.read(bytes, 0, end - start, start);
            return bytes.subarray(0, bytesRead);
          } finally {
            await handle.close();
          }
        },
      };
    }
    return {
      name: store.url(file.path),
      size: file.size,
      // Pinned to the version listed: the bytes read are those the ledger records.
      open: () => store.read(file.path, file.version),
      readRange: (start: number, end: number) => store.readRange(file.path, start, end, file.version),
    };
  }

  async discover(job: JobSpec, log: Logger) {
    const sampleSize = job.source.sample_size ?? DEFAULT_SAMPLE_ROWS;
    const sampler = new Map<string, SourceColumn>();
    let rows = 0;
    for await (const object of this.matching(patternOf(job))) {
      for await (const batch of this.readFile(object, job, log)) {
        for (const column of batch.columns) {
          const known = sampler.get(column.name);
          if (!known || known.unseen) sampler.set(column.name, column);
          else if (!column.unseen) sampler.set(column.name, { ...known, type: widenType(known.type, column.type) ?? 'STRING' });
        }
        rows += batch.rows.length;
        if (rows >= sampleSize) break;
      }
      if (rows >= sampleSize) break;
    }
    return [...sampler.values()];
  }

  /** The first `limit` rows of the first matching file. */
  async preview(job: JobSpec, limit: number): Promise<SourceSample> {
    for await (const object of this.matching(patternOf(job))) {
      const rows: unknown[][] = [];
      let fields: readonly string[] = [];
      for await (const batch of this.readFile(object, job, silentLog)) {
        fields = batch.columns.map((column) => column.name);
        rows.push(...batch.rows.slice(0, limit - rows.length));
        if (rows.length >= limit) break;
      }
      return { fields, rows };
    }
    return { fields: [], rows: [] };
  }

  async close(): Promise<void> {
    const temporary = this.temporary;
    this.temporary = undefined;
    this.fetched.clear();
    if (temporary) await rm(await temporary, { recursive: true, force: true });
    await this.store.close?.();
  }
}

/** Temporary folders of fetched objects: `b2betl-fetch-<pid>-…` under the system's temporary folder. */
const FETCH_PREFIX = 'b2betl-fetch-';

/** Removes the fetched objects of runs whose process is gone (killed before it could remove them). */
async function sweepFetched(): Promise<void> {
  const root = tmpdir();
  const names = await readdir(root).catch(() => [] as string[]);
  await Promise.all(
    names.map(async (name) => {
      const pid = name.startsWith(FETCH_PREFIX) ? Number(name.slice(FETCH_PREFIX.length).split('-')[0]) : NaN;
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && !processAlive(pid)) await rm(join(root, name), { recursive: true, force: true });
    }),
  );
}

function patternOf(job: JobSpec): string {
  const pattern = job.source.pattern;
  if (!pattern) throw ConfigError.of(`job ${job.name}: source.pattern is required for files`, 'add pattern: "*.csv"');
  return pattern.replace(/^\.?\//, '');
}

/** The format a job reads a file in: `source.format`, else the file's extension. */
function formatNameOf(job: JobSpec, path: string): FormatName | undefined {
  return job.source.format ? (job.source.format === 'ndjson' ? 'jsonl' : job.source.format) : formatNameForPath(path);
}

function mebibytes(bytes: number): string {
  return `${+(bytes / (1 << 20)).toFixed(1)} MiB`;
}

function formatOptions(job: JobSpec, path: string): FormatOptions {
  const csv = job.source.csv ?? {};
  const tsv = /\.tsv(\.gz)?$/i.test(path);
  return { ...csv, delimiter: csv.delimiter ?? (tsv ? '\t' : undefined) };
}
