/**
 * Files in GCS loaded into BigQuery from their gs:// URIs with one load job into the run's
 * staging table, then committed with the marker (if every file is still the version listed): no
 * rows pass through this machine.
 */
import type { BeforeCommit, Engine, EngineDecline, EngineRequest, EngineRun, LoadMarker, ObjectInfo, ObjectStore } from '../../../src/core/connector.js';
import { ObjectChanged } from '../../../src/core/errors.js';
import { markerWith } from '../../../src/core/marker-state.js';
import { csvHead, DELIMITER_SAMPLE_BYTES } from '../../formats/csv/csv-format.js';
import { fitColumns, settledColumns } from '../engine-columns.js';

const NATIVE_FORMATS: Record<string, string> = { csv: 'CSV', tsv: 'CSV', jsonl: 'NEWLINE_DELIMITED_JSON', ndjson: 'NEWLINE_DELIMITED_JSON', parquet: 'PARQUET' };
const ENCODINGS: Record<string, string> = { 'utf-8': 'UTF-8', utf8: 'UTF-8', latin1: 'ISO-8859-1', 'iso-8859-1': 'ISO-8859-1' };

function formatOf(request: EngineRequest): string | undefined {
  const names = request.plan.units.map((unit) => unit.file?.path ?? unit.id);
  if (names.some((name) => /\.(gz|zst|bz2|xz|zip|snappy)$/i.test(name))) return undefined;
  if (request.source.format) return NATIVE_FORMATS[request.source.format];
  const formats = new Set(names.map((name) => NATIVE_FORMATS[(/\.([a-z0-9]+)$/i.exec(name)?.[1] ?? '').toLowerCase()]));
  return formats.size === 1 ? [...formats][0] : undefined;
}

/** Whether the first line of a JSON lines file holds nested values (BigQuery would need RECORD/JSON columns). */
async function nestedJson(store: ObjectStore, path: string, size: number): Promise<boolean> {
  const head = Buffer.from(await store.readRange(path, 0, Math.min(size, 65_536))).toString('utf8');
  for (const line of head.split('\n').slice(0, -1)) {
    if (!line.trim()) continue;
    try {
      const row = JSON.parse(line) as Record<string, unknown>;
      if (Object.values(row).some((value) => value !== null && typeof value === 'object')) return true;
    } catch {
      return true;
    }
  }
  return false;
}

/** Files whose heads or metadata are read at once. */
const GUESSES_AT_ONCE = 16;

/**
 * Fails unless every file is still the version the plan listed. A load job reads the live
 * objects; a generation that is still live after the job was live all through it (generations
 * never come back), so the job loaded the very bytes the ledger records.
 */
async function unchanged(store: ObjectStore, files: readonly ObjectInfo[]): Promise<void> {
  let next = 0;
  const check = async () => {
    while (next < files.length) {
      const file = files[next++]!;
      if ((await store.stat(file.path))?.version !== file.version) throw new ObjectChanged(store.url(file.path));
    }
  };
  await Promise.all(Array.from({ length: Math.min(GUESSES_AT_ONCE, files.length) }, check));
}

/** What every file's first bytes say of how it is read, as the CSV format would read it. */
async function filesHeads(request: EngineRequest, store: ObjectStore, csv: { delimiter?: string; quote?: string }): Promise<{ delimiters: Set<string>; separatorLine: boolean }> {
  const files = request.plan.units.map((unit) => unit.file!).filter((file) => file.size > 0);
  const delimiters = new Set<string>();
  let separatorLine = false;
  let next = 0;
  const read = async () => {
    while (next < files.length && delimiters.size <= 1 && !separatorLine) {
      const file = files[next++]!;
      const head = await csvHead(csv, () => store.readRange(file.path, 0, Math.min(file.size, DELIMITER_SAMPLE_BYTES), file.version));
      delimiters.add(head.delimiter);
      separatorLine ||= head.separatorLine;
    }
  };
  await Promise.all(Array.from({ length: Math.min(GUESSES_AT_ONCE, files.length) }, read));
  return { delimiters, separatorLine };
}

/** The load job's format options, or why the files cannot be loaded exactly as b2betl reads them. */
async function loadOptions(request: EngineRequest, store: ObjectStore, format: string | undefined): Promise<Record<string, unknown> | EngineDecline> {
  const { job } = request;
  if (!format) return { declined: 'the files are compressed or of mixed or unknown formats' };
  if (job.source.columns) return { declined: 'source.columns selects columns, which needs the rows to pass through b2betl' };
  if (request.strategy === 'merge') return { declined: 'load.strategy merge keeps the last row per key in file order, which a load job does not' };
  if (job.load.max_bad_records > 0) return { declined: 'load.max_bad_records sets bad rows aside, which a load job does not' };
  const load: Record<string, unknown> = { sourceFormat: format };
  if (format === 'CSV') {
    const csv = job.source.csv ?? {};
    const tsv = request.plan.units.every((unit) => /\.tsv$/i.test(unit.file!.path));
    if (csv.decimal === ',') return { declined: 'source.csv.decimal is ",", which a load job does not read' };
    const heads = await filesHeads(request, store, { delimiter: csv.delimiter ?? (tsv ? '\t' : undefined), quote: csv.quote });
    if (heads.separatorLine) return { declined: 'a file starts with an Excel separator line (sep=…), which a load job would read as a record' };
    if (heads.delimiters.size > 1) return { declined: 'the files use different delimiters, each guessed from its first records (set source.csv.delimiter if they are one)' };
    const delimiter = [...heads.delimiters][0] ?? ',';
    if ([...delimiter].length !== 1 || (csv.escape && csv.escape !== (csv.quote ?? '"'))) return { declined: 'the CSV delimiter or escape is one BigQuery does not read' };
    const encoding = ENCODINGS[(csv.encoding ?? 'utf-8').toLowerCase()];
    if (!encoding) return { declined: `BigQuery does not read the ${csv.encoding} encoding` };
    Object.assign(load, { fieldDelimiter: delimiter, quote: csv.quote ?? '"', encoding, skipLeadingRows: csv.header === false ? 0 : 1, allowQuotedNewlines: true });
  }
  const first = request.plan.units[0]!.file!;
  if (format === 'NEWLINE_DELIMITED_JSON' && (await nestedJson(store, first.path, first.size))) return { declined: 'the JSON lines hold nested values' };
  return load;
}

async function plan(request: EngineRequest): Promise<EngineRun | EngineDecline | undefined> {
  const store = request.source.store;
  const destination = request.destination.connector;
  if (request.destination.config.type !== 'bigquery' || !destination.tableStage || store?.kind !== 'gcs' || typeof store.nativeUri !== 'function') return undefined;
  const files = request.plan.units.map((unit) => unit.file);
  if (files.some((file) => !file)) return undefined;
  const format = formatOf(request);
  const load = await loadOptions(request, store, format);
  if ('declined' in load) return load as EngineDecline;
  const discovered = await request.source.connector.discover(request.job, request.log);
  const fit = format === 'PARQUET' ? await fitColumns(request, discovered) : await settledColumns(request, discovered);
  if (!fit) return { declined: format === 'PARQUET' ? "the files' types do not fit the table without widening" : 'CSV and JSON types are only sampled: the table must exist with every column of the files' };
  // JSON and Parquet fields match by name, so the file's names must already be BigQuery's.
  if (format !== 'CSV' && fit.columns.some((c) => c.name !== c.source)) return { declined: "the files' field names are not valid BigQuery column names" };
  const uris = files.map((file) => store.nativeUri!(file!.path)!);
  const where = uris.length === 1 ? uris[0] : `${uris.length} files under ${store.url('')}`;
  return {
    description: `load ${where} straight into ${destination.locate(request.table)} with one BigQuery load job (no rows pass through this machine)`,
    reason: `${format} files in GCS, which BigQuery reads itself exactly as b2betl would`,
    details: { load: { ...load, sourceUris: uris } },
    async run(marker: LoadMarker, _signal: AbortSignal, committing: BeforeCommit) {
      const { columns } = fit;
      const stage = await destination.tableStage!({ runId: request.runId, job: request.job, table: request.table, strategy: request.strategy, primaryKey: request.primaryKey, columns, replace: request.replace, log: request.log });
      try {
        const { rows } = await stage.loadUris!(uris, load);
        await unchanged(store, files.map((file) => file!));
        await committing(rows, columns);
        await stage.commit(markerWith(marker, rows, columns));
        return { rows, columns };
      } finally {
        await stage.abort();
      }
    },
  };
}

/** The engine that loads gs:// files into BigQuery with one load job. */
export const bigQueryLoadEngine: Engine = { name: 'bigquery-load', plan };
