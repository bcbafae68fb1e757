/**
 * Runs that BigQuery carries out by itself, with no rows passing through this machine:
 * files in GCS loaded from their gs:// URIs with one load job, and BigQuery → BigQuery jobs
 * run as one query script. Both commit with the same marker transaction as streamed runs.
 */
import type { Column, DirectLoad, DirectRequest, LoadMarker, ObjectStore, SourceColumn } from '../../../src/core/connector.js';
import { stateColumns } from '../../../src/core/marker-state.js';
import { resolveSchema } from '../../../src/core/schema.js';
import { ident, type BigQueryConnection, type QueryParam } from '../../bigquery-common/bigquery-client.js';
import { canWiden, fieldOf } from '../../bigquery-common/bigquery-types.js';
import type { BigQueryUnitParams } from '../../sources/bigquery/bigquery-source.js';
import { commitStaging, commitTransaction, mergeStatement } from './bigquery-commit.js';
import type { BigQueryDestination } from './bigquery-destination.js';
import { loadStaging } from './bigquery-staging-load.js';
import { MARKERS, sqlString } from './bigquery-tables.js';

const NATIVE_FORMATS: Record<string, string> = { csv: 'CSV', tsv: 'CSV', jsonl: 'NEWLINE_DELIMITED_JSON', ndjson: 'NEWLINE_DELIMITED_JSON', parquet: 'PARQUET' };
const ENCODINGS: Record<string, string> = { 'utf-8': 'UTF-8', utf8: 'UTF-8', latin1: 'ISO-8859-1', 'iso-8859-1': 'ISO-8859-1' };

/** The direct path for this run, or undefined when rows must stream through b2betl. */
export async function planDirectLoad(destination: BigQueryDestination, request: DirectRequest): Promise<DirectLoad | undefined> {
  if (request.source.config.type === 'bigquery') return planQueryLoad(destination, request);
  if (request.store?.kind === 'gcs' && typeof request.store.nativeUri === 'function') return planFileLoad(destination, request, request.store);
  return undefined;
}

/** Columns of the run against the existing table, when they fit without widening. */
async function resolved(destination: BigQueryDestination, request: DirectRequest, source: readonly SourceColumn[]): Promise<{ columns: Column[]; exists: boolean } | undefined> {
  const existing = await destination.describe(request.table);
  if (existing?.strategy && existing.strategy !== request.strategy) return undefined;
  const resolution = resolveSchema(source, existing?.columns, request.mapping, { canWiden });
  if (resolution.mismatches.length || resolution.widened.length) return undefined;
  if (existing && existing.columns.some((c) => !c.nullable && !resolution.columns.some((r) => r.name.toLowerCase() === c.name.toLowerCase()))) return undefined;
  return { columns: resolution.columns, exists: existing !== undefined };
}

/**
 * For text formats, whose types are only sampled: the run's columns when the table exists and
 * already has every column of the files; its types then hold and BigQuery checks each value.
 */
async function settled(destination: BigQueryDestination, request: DirectRequest, source: readonly SourceColumn[]): Promise<{ columns: Column[]; exists: boolean } | undefined> {
  const existing = await destination.describe(request.table);
  if (!existing || (existing.strategy && existing.strategy !== request.strategy)) return undefined;
  const resolution = resolveSchema(source, existing.columns, request.mapping, { canWiden });
  if (resolution.added.length) return undefined;
  const byName = new Map(existing.columns.map((c) => [c.name.toLowerCase(), c]));
  const columns = resolution.columns.map((c) => ({ ...c, type: byName.get(c.name.toLowerCase())!.type, repeated: byName.get(c.name.toLowerCase())!.repeated }));
  if (columns.some((c) => c.repeated)) return undefined;
  if (existing.columns.some((c) => !c.nullable && !columns.some((r) => r.name.toLowerCase() === c.name.toLowerCase()))) return undefined;
  return { columns, exists: true };
}

/** The marker's state with the run's columns, which a direct load knows only once it runs. */
function withColumns(marker: LoadMarker, columns: readonly Column[]): LoadMarker['state'] {
  return marker.state && { ...marker.state, columns: stateColumns(columns) };
}

// ---------------------------------------------------------------------------------------------
// gs:// files

function formatOf(request: DirectRequest): string | undefined {
  const names = request.plan.units.map((unit) => unit.file?.path ?? unit.id);
  if (names.some((name) => /\.(gz|zst|bz2|xz|zip|snappy)$/i.test(name))) return undefined;
  if (request.format) return NATIVE_FORMATS[request.format];
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

async function planFileLoad(destination: BigQueryDestination, request: DirectRequest, store: ObjectStore): Promise<DirectLoad | undefined> {
  const { job } = request;
  const format = formatOf(request);
  if (!format || job.source.columns || request.strategy === 'merge' || job.load.max_bad_records > 0) return undefined;
  const files = request.plan.units.map((unit) => unit.file);
  if (files.some((file) => !file)) return undefined;
  const load: Record<string, unknown> = { sourceFormat: format };
  if (format === 'CSV') {
    const csv = job.source.csv ?? {};
    const tsv = files.every((file) => /\.tsv$/i.test(file!.path));
    const delimiter = csv.delimiter ?? (tsv ? '\t' : ',');
    if ([...delimiter].length !== 1 || (csv.escape && csv.escape !== (csv.quote ?? '"'))) return undefined;
    const encoding = ENCODINGS[(csv.encoding ?? 'utf-8').toLowerCase()];
    if (!encoding) return undefined;
    Object.assign(load, { fieldDelimiter: delimiter, quote: csv.quote ?? '"', encoding, skipLeadingRows: csv.header === false ? 0 : 1, allowQuotedNewlines: true });
  }
  if (format === 'NEWLINE_DELIMITED_JSON' && (await nestedJson(store, files[0]!.path, files[0]!.size))) return undefined;
  const { FilesSource } = await import('../../sources/files/files-source.js');
  const discovered = await new FilesSource(store).discover(job, request.log);
  const fit = format === 'PARQUET' ? await resolved(destination, request, discovered) : await settled(destination, request, discovered);
  if (!fit) return undefined;
  // JSON and Parquet fields match by name, so the file's names must already be BigQuery's.
  if (format !== 'CSV' && fit.columns.some((c) => c.name !== c.source)) return undefined;
  const uris = files.map((file) => store.nativeUri!(file!.path)!);
  const where = uris.length === 1 ? uris[0] : `${uris.length} files under ${store.url('')}`;
  return {
    description: `load ${where} straight into ${destination.locate(request.table)} with one BigQuery load job (no rows pass through this machine)`,
    async run(marker: LoadMarker) {
      const columns = fit.columns;
      const d = destination;
      await d.tables.ensureDataset();
      await d.tables.prepareTarget(job, request.table, request.strategy, columns, request.runId, request.primaryKey);
      const staging = d.stagingName(job.name, request.runId);
      const fields = columns.map((c) => fieldOf(c));
      await d.tables.createStaging(staging, fields);
      try {
        const metadata = await loadStaging(d, staging, fields, { kind: 'uris', uris }, d.jobIdFor(job.name, request.runId, 'load'), load);
        const rows = Number(metadata.statistics?.load?.outputRows ?? 0);
        await commitStaging(d, {
          spec: job,
          table: request.table,
          staging,
          columns,
          strategy: request.strategy,
          primaryKey: request.primaryKey,
          marker: { ...marker, rows, state: withColumns(marker, columns) },
          rejects: [],
          replace: request.replace,
        });
        return { rows, columns };
      } finally {
        await d.tables.dropTable(staging);
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// BigQuery → BigQuery

/** Whether the destination's client can run queries over the source's tables. */
function sameService(destination: BigQueryDestination, source: BigQueryConnection): boolean {
  const dest = destination.handle.config;
  const location = (text?: string) => (text ?? '').toUpperCase();
  return (source.endpoint ?? '') === (dest.endpoint ?? '') && (source.credentials ?? '') === (dest.credentials ?? '') && (!source.location || !dest.location || location(source.location) === location(dest.location));
}

async function planQueryLoad(destination: BigQueryDestination, request: DirectRequest): Promise<DirectLoad | undefined> {
  const sourceConfig = request.source.config as BigQueryConnection;
  if (!sameService(destination, sourceConfig)) return undefined;
  const units = request.plan.units.map((unit) => unit.params as BigQueryUnitParams | undefined);
  if (!units.length || units.some((unit) => !unit || typeof unit.sql !== 'string')) return undefined;
  const { BigQuerySource } = await import('../../sources/bigquery/bigquery-source.js');
  const source = await BigQuerySource.open({ name: request.source.name, config: request.source.config, baseDir: destination.handle.baseDir, log: request.log });
  const shape = await source.shape(request.job);
  const discovered = await source.discover(request.job, request.log);
  const fit = await resolved(destination, request, discovered);
  if (!fit) return undefined;
  const { job } = request;
  // Each unit's SELECT keeps its own parameters; with several units they are renamed apart.
  const params: Record<string, QueryParam> = {};
  const selects = units.map((unit, i) => {
    let sql = unit!.sql;
    for (const [name, value] of Object.entries(unit!.params)) {
      const renamed = units.length > 1 ? `u${i}_${name}` : name;
      if (renamed !== name) sql = sql.replace(new RegExp(`@${name}\\b`, 'g'), `@${renamed}`);
      params[renamed] = value;
    }
    return sql;
  });
  const bySource = new Map(shape.selected.map((f) => [f.name, f]));
  const expressions = fit.columns.map((column) => {
    const field = bySource.get(column.source);
    const value = `_u.${ident(column.source)}`;
    const nested = field && ((field.mode ?? '').toUpperCase() === 'REPEATED' || ['RECORD', 'STRUCT'].includes(field.type.toUpperCase()));
    const from = discovered.find((d) => d.name === column.source)?.type;
    let expression = value;
    if (nested) expression = column.type === 'JSON' ? `TO_JSON(${value})` : `TO_JSON_STRING(${value})`;
    else if (from === 'JSON' && column.type === 'STRING') expression = `TO_JSON_STRING(${value})`;
    else if (from && from !== column.type && !['NUMERIC', 'BIGNUMERIC', 'FLOAT64'].includes(column.type)) expression = `CAST(${value} AS ${column.type})`;
    return `${expression} AS ${ident(column.name)}`;
  });
  const select = `SELECT ${expressions.join(', ')} FROM (${selects.join(' UNION ALL ')}) AS _u`;
  const names = fit.columns.map((c) => ident(c.name));
  return {
    description: `run inside BigQuery as one query script: ${request.strategy === 'merge' ? 'MERGE' : 'INSERT … SELECT'} from ${shape.label} into ${destination.locate(request.table)} (no rows pass through this machine)`,
    async run(marker: LoadMarker) {
      const d = destination;
      const columns = fit.columns.map((c) => ({ ...c, nullable: fit.exists ? c.nullable : true }));
      await d.tables.ensureDataset();
      await d.tables.ensureMarkers();
      await d.tables.prepareTarget(job, request.table, request.strategy, columns, request.runId, request.primaryKey);
      const target = d.path(request.table);
      const statements: string[] = [];
      if (request.strategy === 'merge') {
        const cursor = job.load.cursor ? fit.columns.find((c) => c.source === job.load.cursor) : undefined;
        const keys = request.primaryKey.map((key) => fit.columns.find((c) => c.source === key || c.name === key)?.name ?? key);
        statements.push(mergeStatement(target, `(${select})`, columns, keys, cursor ? `${ident(cursor.name)} DESC` : undefined));
      } else {
        statements.push(`INSERT INTO ${target} (${names.join(', ')}) ${select}`);
      }
      await commitTransaction(d, {
        job: job.name,
        table: request.table,
        columns,
        strategy: request.strategy,
        marker: { ...marker, state: withColumns(marker, columns) },
        replace: request.replace,
        body: statements,
        rows: '@@row_count',
        params,
        action: `copy ${shape.label} into ${d.project}.${d.datasetId}.${request.table}`,
      });
      const [rows] = await d.handle.client.query({
        query: `SELECT rows FROM ${d.path(MARKERS)} WHERE run_id = @run_id AND job = @job`,
        params: { run_id: marker.runId, job: marker.job },
        location: d.handle.location,
      } as never);
      const loaded = Number((rows as { rows: number | string }[])[0]?.rows ?? 0);
      return { rows: loaded, columns };
    },
  };
}

export { sqlString };
