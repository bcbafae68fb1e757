/**
 * The BigQuery source: a table (any project, public datasets included) or a query, read with
 * query jobs and paged results. Incremental reads take `cursor >= last` minus the rows already
 * loaded at `last`, up to a high-water mark read at plan time together with the identities of
 * the rows at it, so every row loads exactly once.
 */
import { randomUUID } from 'node:crypto';
import type { Job } from '@google-cloud/bigquery';
import type { CatalogEntry, ConnectorContext, SourceSample, PlanContext, ReadContext, SourceConnector, SourcePlan, WorkUnit } from '../../../src/core/connector.js';
import { LosslessNumber, parse as parseLossless, stringify as stringifyLossless } from 'lossless-json';
import { ConfigError, EtlError } from '../../../src/core/errors.js';
import type { Logger } from '../../../src/core/log.js';
import { parseDuration, type JobSpec } from '../../../src/core/spec.js';
import { formatTimestamp } from '../../../src/core/time.js';
import type { ColumnType, RecordBatch, SourceColumn } from '../../../src/core/types.js';
import {
  bigQueryError,
  errorCode,
  ident,
  jobId,
  openBigQuery,
  queryParameters,
  type BigQueryHandle,
  type QueryParam,
} from '../../bigquery-common/bigquery-client.js';
import { canonicalType, type BigQueryField } from '../../bigquery-common/bigquery-types.js';
import { boundText, readState, subtractLookback, type CursorState } from '../sql/sql-cursor.js';

/** Rows per page of results (one batch). */
export const PAGE_ROWS = 10_000;
/** Past this many rows at the high-water mark, the saved state gets large: say so. */
const SEEN_WARNING = 10_000;
const CURSOR_TYPES: readonly ColumnType[] = ['TIMESTAMP', 'DATETIME', 'DATE', 'INT64', 'NUMERIC', 'BIGNUMERIC', 'FLOAT64', 'STRING'];

/** The source-private part of a unit: the SELECT to run and its parameters. */
export interface BigQueryUnitParams {
  readonly sql: string;
  readonly params: Record<string, QueryParam>;
}

/** What a job reads: the FROM clause, its fields, the selected columns, cursor and keys. */
export interface BigQueryShape {
  /** `\`p.d.t\`` or `(query)`. */
  readonly from: string;
  readonly fields: readonly BigQueryField[];
  readonly selected: readonly BigQueryField[];
  readonly cursor?: BigQueryField;
  readonly keys: readonly BigQueryField[];
  /** Rows of the table per its metadata (tables only). */
  readonly numRows?: number;
  /** `project.dataset.table` for messages, or `query`. */
  readonly label: string;
}

/** Splits `project.dataset.table`, `dataset.table` or `table` (backticks allowed). */
export function tableReference(text: string, handle: Pick<BigQueryHandle, 'project' | 'config'>): { project: string; dataset: string; table: string } {
  const parts = text.replace(/`/g, '').split('.');
  if (parts.length === 3) return { project: parts[0], dataset: parts[1], table: parts[2] };
  if (parts.length === 2) return { project: handle.project, dataset: parts[0], table: parts[1] };
  if (parts.length === 1 && parts[0]) return { project: handle.project, dataset: handle.config.dataset, table: parts[0] };
  throw ConfigError.of(`source.table ${text} is not a BigQuery table name`, 'write project.dataset.table, dataset.table or table');
}

/** The canonical type a BigQuery field is read as: nested and repeated values travel as JSON text. */
function readType(field: BigQueryField): ColumnType {
  if ((field.mode ?? '').toUpperCase() === 'REPEATED') return 'JSON';
  return canonicalType(field.type);
}

/** Source columns of fields. */
export function columnsOfFields(fields: readonly BigQueryField[]): SourceColumn[] {
  return fields.map((field) => ({
    name: field.name,
    type: readType(field),
    nullable: (field.mode ?? 'NULLABLE').toUpperCase() !== 'REQUIRED',
    sourceType: field.mode && field.mode.toUpperCase() !== 'NULLABLE' ? `${field.mode} ${field.type}` : field.type,
  }));
}

const repeated = (field: BigQueryField) => (field.mode ?? '').toUpperCase() === 'REPEATED';
const isRecord = (field: BigQueryField) => /^(?:RECORD|STRUCT)$/i.test(field.type);

/**
 * Decodes one wire value (`v`) of a field into the raw value the convert stage takes. A record
 * or an array travels as JSON text, built from {@link nestedValue}.
 */
export function decodeValue(v: unknown, field: BigQueryField): unknown {
  if (v === null || v === undefined) return null;
  if (repeated(field) || isRecord(field)) return stringifyLossless(nestedValue(v, field));
  return decodeScalar(String(v), field.type.toUpperCase());
}

/**
 * A nested wire value as JSON holds it, much as BigQuery's `TO_JSON_STRING` writes it: a record
 * as an object of its fields, an array as an array, integers and decimals as numbers with every
 * digit, BYTES as Base64, JSON as its value; dates and times as b2betl writes them at the top
 * level (a TIMESTAMP as ISO 8601 UTC text with microseconds, a DATETIME with a space).
 */
function nestedValue(v: unknown, field: BigQueryField): unknown {
  if (v === null || v === undefined) return null;
  if (repeated(field)) return (v as { v: unknown }[]).map((item) => nestedValue(item.v, { ...field, mode: 'NULLABLE' }));
  if (isRecord(field)) {
    const cells = (v as { f: { v: unknown }[] }).f;
    return Object.fromEntries((field.fields ?? []).map((sub, i) => [sub.name, nestedValue(cells[i]?.v, sub)]));
  }
  const type = field.type.toUpperCase();
  const text = String(v);
  if (type === 'TIMESTAMP') return formatTimestamp(timestampMicros(text));
  if (type === 'BYTES') return text;
  if (type === 'JSON') return parseLossless(text);
  if (type === 'INTEGER' || type === 'INT64') return BigInt(text);
  if (/^(?:NUMERIC|BIGNUMERIC|DECIMAL|BIGDECIMAL)$/.test(type)) return new LosslessNumber(text);
  if ((type === 'FLOAT' || type === 'FLOAT64') && !Number.isFinite(Number(text))) return text;
  return decodeScalar(text, type);
}

function decodeScalar(text: string, type: string): unknown {
  switch (type) {
    case 'INTEGER':
    case 'INT64': {
      if (text.length < 16) return Number(text);
      const big = BigInt(text);
      return big <= BigInt(Number.MAX_SAFE_INTEGER) && big >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
    }
    case 'FLOAT':
    case 'FLOAT64':
      return Number(text);
    case 'BOOLEAN':
    case 'BOOL':
      return text === 'true';
    case 'TIMESTAMP':
      return timestampMicros(text);
    case 'DATETIME':
      return text.replace('T', ' ');
    case 'BYTES':
      return new Uint8Array(Buffer.from(text, 'base64'));
    default:
      return text;
  }
}

/**
 * Microseconds of a TIMESTAMP on the wire: int64 micros (with `useInt64Timestamp`), or the
 * service's default float seconds such as `1.704067200123456E9`, read exactly.
 */
export function timestampMicros(text: string): bigint {
  if (/^-?\d+$/.test(text)) return BigInt(text);
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(text);
  if (!m) throw new EtlError(`BigQuery returned ${text} for a TIMESTAMP`);
  const digits = m[2] + (m[3] ?? '');
  const point = m[2].length + Number(m[4] ?? 0) + 6;
  const whole = point <= 0 ? '0' : digits.slice(0, point).padEnd(point, '0');
  const rest = point <= 0 ? digits : digits.slice(point);
  let micros = BigInt(whole || '0');
  if (rest && rest[0] >= '5') micros += 1n;
  return m[1] ? -micros : micros;
}

/** Text of a cursor value as read back from MAX(): the same form `boundText` produces. */
function cursorWireText(v: string, type: ColumnType): string {
  if (type === 'TIMESTAMP') return formatTimestamp(timestampMicros(v));
  if (type === 'DATETIME') return v.replace('T', ' ');
  return v;
}

export class BigQuerySource implements SourceConnector {
  private readonly shapes = new Map<string, Promise<BigQueryShape>>();

  private constructor(readonly handle: BigQueryHandle) {}

  static async open(context: ConnectorContext): Promise<BigQuerySource> {
    return new BigQuerySource(await openBigQuery(context));
  }

  async discover(job: JobSpec, _log: Logger): Promise<SourceColumn[]> {
    const shape = await this.shape(job);
    return columnsOfFields(shape.selected);
  }

  /** The dataset exists, and BigQuery accepts a dry-run query job from these credentials. */
  async probe(): Promise<string> {
    const { project, dataset } = this.handle.config;
    try {
      await this.handle.dataset().getMetadata();
    } catch (error) {
      if (errorCode(error) === 404) throw new EtlError(`dataset ${project}.${dataset} not found`, `create it (bq mk --dataset ${project}:${dataset}), or check project and dataset of connection ${this.handle.name}`);
      throw bigQueryError(error, `read dataset ${project}.${dataset}`, this.handle);
    }
    try {
      await this.handle.client.createJob({ location: this.handle.location, configuration: { dryRun: true, query: { query: 'SELECT 1', useLegacySql: false } } } as never);
    } catch (error) {
      throw bigQueryError(error, 'dry-run a query job', this.handle);
    }
    return `dataset ${project}.${dataset} exists; a dry-run query job was accepted`;
  }

  /** The first `limit` rows of what the job reads. */
  async preview(job: JobSpec, limit: number): Promise<SourceSample> {
    const shape = await this.shape(job);
    const n = Math.max(0, Math.floor(limit));
    if (job.source.table) {
      // tabledata.list costs nothing, where a query would bill a scan of the whole table.
      const ref = tableReference(job.source.table, this.handle);
      const table = this.handle.client.dataset(ref.dataset, { projectId: ref.project }).table(ref.table) as unknown as {
        request(options: { uri: string; qs: Record<string, unknown> }, callback: (error: Error | null, body?: { rows?: { f: { v: unknown }[] }[] }) => void): void;
      };
      const body = await new Promise<{ rows?: { f: { v: unknown }[] }[] }>((resolve, reject) =>
        table.request({ uri: '/data', qs: { maxResults: n, 'formatOptions.useInt64Timestamp': true } }, (error, response) => (error ? reject(bigQueryError(error, `preview ${shape.label}`, this.handle)) : resolve(response ?? {}))),
      );
      const positions = shape.selected.map((field) => shape.fields.indexOf(field));
      const rows = (body.rows ?? []).slice(0, n).map((row) => positions.map((at) => decodeValue(row.f[at]?.v, shape.fields[at])));
      return { fields: shape.selected.map((field) => field.name), rows };
    }
    const result = await this.runSelect(`SELECT ${this.selectList(shape)} FROM ${shape.from} AS _src LIMIT ${n}`, {}, `preview ${shape.label}`, n);
    const fields = result.fields.length ? result.fields : shape.selected;
    return { fields: shape.selected.map((field) => field.name), rows: result.rows.map((row) => row.map((value, i) => decodeValue(value, fields[i]))) };
  }

  /** The smallest and largest value of a column, as cursor text. */
  async range(job: JobSpec, column: string): Promise<{ min: string; max: string } | undefined> {
    const shape = await this.shape(job);
    const field = shape.fields.find((candidate) => candidate.name === column);
    if (!field) throw ConfigError.of(`column ${column} not found in ${shape.label}`, `use one of: ${shape.fields.map((f) => f.name).join(', ')}`);
    const c = `_src.${ident(field.name)}`;
    const result = await this.runSelect(`SELECT MIN(${c}), MAX(${c}) FROM ${shape.from} AS _src`, {}, `read the range of ${column} in ${shape.label}`);
    const [min, max] = result.rows[0] ?? [];
    if (min === null || min === undefined || max === null || max === undefined) return undefined;
    const text = (value: unknown) => {
      const decoded = decodeValue(value, field);
      return typeof decoded === 'bigint' && canonicalType(field.type) === 'TIMESTAMP' ? formatTimestamp(decoded) : String(decoded);
    };
    return { min: text(min), max: text(max) };
  }

  /** The tables and views of the connection's dataset. */
  async catalog(): Promise<CatalogEntry[]> {
    try {
      const [tables] = await this.handle.dataset().getTables();
      return tables.map((table) => ({
        name: `${this.handle.config.dataset}.${table.id}`,
        kind: String(table.metadata?.type ?? 'TABLE').includes('VIEW') ? ('view' as const) : ('table' as const),
        rows: table.metadata?.numRows === undefined ? undefined : Number(table.metadata.numRows),
      }));
    } catch (error) {
      throw bigQueryError(error, `list the tables of ${this.handle.config.dataset}`, this.handle);
    }
  }

  /** The job's table or query, its fields, and the columns, cursor and keys it names. */
  shape(job: JobSpec): Promise<BigQueryShape> {
    const key = JSON.stringify([job.source.table, job.source.query, job.source.columns, job.load.cursor, job.load.primary_key]);
    let shape = this.shapes.get(key);
    if (!shape) {
      shape = this.describe(job);
      shape.catch(() => this.shapes.delete(key));
      this.shapes.set(key, shape);
    }
    return shape;
  }

  private async describe(job: JobSpec): Promise<BigQueryShape> {
    let from: string;
    let fields: BigQueryField[];
    let numRows: number | undefined;
    let label: string;
    if (job.source.table) {
      const ref = tableReference(job.source.table, this.handle);
      label = `${ref.project}.${ref.dataset}.${ref.table}`;
      from = `\`${label}\``;
      try {
        const [metadata] = await this.handle.client.dataset(ref.dataset, { projectId: ref.project }).table(ref.table).getMetadata();
        fields = (metadata.schema?.fields ?? []) as BigQueryField[];
        numRows = metadata.numRows !== undefined ? Number(metadata.numRows) : undefined;
      } catch (error) {
        if (errorCode(error) === 404) {
          throw new EtlError(`BigQuery table ${label} not found (connection ${this.handle.name})`, 'check source.table (project.dataset.table) and that the account can read it');
        }
        throw bigQueryError(error, `read the schema of ${label}`, this.handle);
      }
    } else if (job.source.query) {
      label = 'query';
      from = `(${job.source.query.trim().replace(/;\s*$/, '')})`;
      const result = await this.runSelect(`SELECT * FROM ${from} AS _src LIMIT 0`, {}, 'read the columns of source.query', 0);
      fields = result.fields;
    } else {
      throw ConfigError.of(`job ${job.name}: a BigQuery source needs source.table or source.query`, 'add source.table: project.dataset.table, or source.query: SELECT …');
    }
    const byName = new Map(fields.map((f) => [f.name.toLowerCase(), f]));
    const find = (name: string, what: string): BigQueryField => {
      const field = byName.get(name.toLowerCase());
      if (!field) throw ConfigError.of(`job ${job.name}: ${what} \`${name}\` not found in ${label}; columns are: ${fields.map((f) => f.name).join(', ')}`, `fix ${what}`);
      return field;
    };
    const selected = job.source.columns ? job.source.columns.map((name) => find(name, 'source.columns')) : fields;
    const cursor = job.load.cursor ? find(job.load.cursor, 'load.cursor') : undefined;
    if (cursor && (!CURSOR_TYPES.includes(canonicalType(cursor.type)) || (cursor.mode ?? '').toUpperCase() === 'REPEATED')) {
      throw ConfigError.of(`job ${job.name}: load.cursor \`${cursor.name}\` is ${cursor.type}, which cannot order rows`, 'use a TIMESTAMP, DATETIME, DATE, INT64 or NUMERIC column');
    }
    const keys = (job.load.primary_key ?? []).map((name) => find(name, 'load.primary_key'));
    return { from, fields, selected, cursor, keys, numRows, label };
  }

  /** The identity SQL of a row: a hash of its key, or of the whole row when there is no key. */
  private identity(shape: BigQueryShape): string {
    const value = shape.keys.length ? `STRUCT(${shape.keys.map((k) => `_src.${ident(k.name)}`).join(', ')})` : '_src';
    return `TO_HEX(MD5(TO_JSON_STRING(${value})))`;
  }

  private selectList(shape: BigQueryShape): string {
    return shape.selected.map((f) => `_src.${ident(f.name)}`).join(', ');
  }

  async plan(context: PlanContext): Promise<SourcePlan> {
    const { job } = context;
    const shape = await this.shape(job);
    const window = context.window && (context.window.since !== undefined || context.window.until !== undefined) ? context.window : undefined;
    const base = `SELECT ${this.selectList(shape)} FROM ${shape.from} AS _src`;
    if (window) {
      if (!shape.cursor) throw ConfigError.of(`job ${job.name}: --since/--until need load.cursor`, 'set load.cursor to the column the window applies to');
      const type = canonicalType(shape.cursor.type);
      const c = `_src.${ident(shape.cursor.name)}`;
      const params: Record<string, QueryParam> = {};
      const where: string[] = [];
      if (window.since !== undefined) {
        params.since = { type, value: boundText(window.since, type, '--since') };
        where.push(`${c} >= @since`);
      }
      if (window.until !== undefined) {
        params.until = { type, value: boundText(window.until, type, '--until') };
        where.push(`${c} < @until`);
      }
      const sql = `${base} WHERE ${where.join(' AND ')}`;
      const estimate = await this.count(shape, where.join(' AND '), params);
      return {
        units: [{ id: `window ${window.since ?? ''}..${window.until ?? ''}`, label: `${shape.label} ${where.join(' AND ')}`, estimatedRows: estimate, params: { sql, params } satisfies BigQueryUnitParams }],
        skipped: [],
        estimatedRows: estimate,
        ordered: true,
        notes: [`backfill window on ${shape.cursor.name}; the saved cursor does not move`],
        window: {
          column: shape.cursor.name,
          lower: params.since && 'value' in params.since ? (params.since.value ?? undefined) : undefined,
          upper: params.until && 'value' in params.until && params.until.value !== null ? { value: params.until.value, inclusive: false } : undefined,
        },
      };
    }
    if (job.load.strategy === 'catalog' || !shape.cursor) {
      if (job.load.strategy === 'transactional') {
        throw ConfigError.of(
          `job ${job.name}: strategy transactional reads only new rows, which needs load.cursor`,
          'set load.cursor (e.g. updated_at), or use strategy: catalog to reload the whole table each run',
        );
      }
      const estimate = shape.numRows ?? (await this.count(shape, '', {}));
      return {
        units: [{ id: 'snapshot', label: `${shape.label} (all rows)`, estimatedRows: estimate, params: { sql: base, params: {} } satisfies BigQueryUnitParams }],
        skipped: [],
        estimatedRows: estimate,
        ordered: true,
        notes: [`full snapshot of ${shape.label}`],
      };
    }
    return this.planIncremental(shape, shape.cursor, context, base);
  }

  private async planIncremental(shape: BigQueryShape, cursor: BigQueryField, context: PlanContext, base: string): Promise<SourcePlan> {
    const { job } = context;
    const type = canonicalType(cursor.type);
    const state = context.fullRefresh ? undefined : readState(context.state.cursor, cursor.name, type, job.name);
    const c = `_src.${ident(cursor.name)}`;
    const identity = this.identity(shape);
    const params: Record<string, QueryParam> = {};
    const lower: string[] = [];
    let from: string | undefined;
    if (state?.value !== null && state?.value !== undefined) {
      from = state.value;
      if (job.load.lookback) {
        from = subtractLookback(state.value, type, parseDuration(job.load.lookback), cursor.name);
      } else if (state.seen.length) {
        params.seen_before = { type: 'ARRAY', elementType: 'STRING', values: [...state.seen] };
        lower.push(`NOT (${c} = @low AND ${identity} IN UNNEST(@seen_before))`);
      }
    } else if (job.load.start !== undefined) {
      from = boundText(job.load.start as string | number | Date, type, 'load.start');
    }
    if (from !== undefined) {
      params.low = { type, value: from };
      lower.unshift(`${c} >= @low`);
    }
    // The high-water mark and the rows at it, read now: rows written later wait for the next run.
    const high = await this.runSelect(`SELECT MAX(${c}) AS high, COUNT(*) AS n FROM ${shape.from} AS _src${lower.length ? ` WHERE ${lower.join(' AND ')}` : ''}`, params, `read the high-water mark of ${cursor.name}`);
    const highText = high.rows[0]?.[0] as string | null;
    const count = Number(high.rows[0]?.[1] ?? 0);
    if (highText === null || highText === undefined) {
      return { units: [], skipped: [], estimatedRows: 0, ordered: true, notes: [`no rows in ${shape.label} with ${cursor.name} after ${from ?? 'the start'}`] };
    }
    const highValue = cursorWireText(highText, type);
    params.high = { type, value: highValue };
    const atHigh = await this.runSelect(`SELECT ${identity} AS id FROM ${shape.from} AS _src WHERE ${c} = @high`, { high: params.high }, `read the rows at the high-water mark of ${cursor.name}`);
    const seen = atHigh.rows.map((row) => String(row[0]));
    if (seen.length > SEEN_WARNING) context.log.warn(`${seen.length} rows share the cursor value ${highValue} of ${cursor.name}; the saved state keeps all their identities`);
    params.seen_high = { type: 'ARRAY', elementType: 'STRING', values: seen };
    const where = [...lower, `${c} <= @high`, `(${c} < @high OR ${identity} IN UNNEST(@seen_high))`];
    const sql = `${base} WHERE ${where.join(' AND ')}`;
    const after: CursorState = { column: cursor.name, type, value: highValue, seen };
    const unit: WorkUnit = {
      id: `${cursor.name} ${from ?? '-∞'}..${highValue}`,
      label: `${shape.label} ${cursor.name} in [${from ?? '-∞'}, ${highValue}]`,
      estimatedRows: count,
      cursorAfter: after,
      params: { sql, params } satisfies BigQueryUnitParams,
    };
    return {
      units: [unit],
      skipped: [],
      estimatedRows: count,
      ordered: true,
      notes: [`high-water mark ${cursor.name} = ${highValue}${shape.keys.length ? '' : ' (rows are told apart by a hash of the whole row; set load.primary_key to use the key)'}`],
    };
  }

  private async count(shape: BigQueryShape, where: string, params: Record<string, QueryParam>): Promise<number> {
    const result = await this.runSelect(`SELECT COUNT(*) FROM ${shape.from} AS _src${where ? ` WHERE ${where}` : ''}`, params, `count the rows of ${shape.label}`);
    return Number(result.rows[0]?.[0] ?? 0);
  }

  /** Starts a query job and returns it. */
  private async startQuery(sql: string, params: Record<string, QueryParam>, action: string): Promise<Job> {
    try {
      const [job] = await this.handle.client.createJob({
        jobId: jobId('b2betl_read', randomUUID()),
        location: this.handle.location,
        configuration: { query: { query: sql, useLegacySql: false, ...(Object.keys(params).length ? { queryParameters: queryParameters(params), parameterMode: 'NAMED' } : {}) } },
      } as never);
      return job;
    } catch (error) {
      throw bigQueryError(error, action, this.handle);
    }
  }

  /** One page of a query's results, waiting for the job to finish. */
  private async page(job: Job, pageToken: string | undefined, maxResults: number, action: string): Promise<{ fields: BigQueryField[]; rows: { f: { v: unknown }[] }[]; pageToken?: string }> {
    for (;;) {
      try {
        const [rows, , response] = (await job.getQueryResults({
          autoPaginate: false,
          skipParsing: true,
          maxResults,
          timeoutMs: 30_000,
          ...(pageToken ? { pageToken } : {}),
          'formatOptions.useInt64Timestamp': true,
        } as never)) as unknown as [{ f: { v: unknown }[] }[], unknown, { jobComplete?: boolean; schema?: { fields?: BigQueryField[] }; pageToken?: string }];
        if (response?.jobComplete === false) continue;
        return { fields: response?.schema?.fields ?? [], rows: rows ?? [], pageToken: response?.pageToken };
      } catch (error) {
        throw bigQueryError(error, action, this.handle);
      }
    }
  }

  /** Runs a small SELECT and returns its rows as wire text (plans: counts, marks, identities). */
  private async runSelect(sql: string, params: Record<string, QueryParam>, action: string, maxResults = 100_000): Promise<{ fields: BigQueryField[]; rows: unknown[][] }> {
    const job = await this.startQuery(sql, params, action);
    const out: unknown[][] = [];
    let token: string | undefined;
    let fields: BigQueryField[] = [];
    do {
      const page = await this.page(job, token, Math.max(maxResults, 1), action);
      fields = page.fields;
      if (maxResults > 0) for (const row of page.rows) out.push(row.f.map((cell) => cell.v));
      token = maxResults > 0 ? page.pageToken : undefined;
    } while (token);
    return { fields, rows: out };
  }

  async *read(unit: WorkUnit, context: ReadContext): AsyncIterable<RecordBatch> {
    const { sql, params } = unit.params as BigQueryUnitParams;
    const shape = await this.shape(context.job);
    const columns = columnsOfFields(shape.selected);
    const job = await this.startQuery(sql, params, `read ${unit.label}`);
    let token: string | undefined;
    let position = 0;
    do {
      if (context.signal.aborted) {
        await job.cancel().catch(() => undefined);
        return;
      }
      const page = await this.page(job, token, PAGE_ROWS, `read ${unit.label}`);
      const fields = page.fields.length ? page.fields : shape.selected;
      const rows = page.rows.map((row) => row.f.map((cell, i) => decodeValue(cell.v, fields[i])));
      const positions = rows.map(() => ++position);
      yield { columns, rows, positions };
      token = page.pageToken;
    } while (token);
  }

  async close(): Promise<void> {
    // The REST client holds no connections that need closing.
  }
}
