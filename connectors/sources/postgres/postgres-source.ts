/**
 * The PostgreSQL source: a pooled `pg` client, columns from pg_catalog, and unit reads
 * streamed with `COPY (SELECT …) TO STDOUT (FORMAT binary)` (faster than text once every type
 * decodes exactly: bench/orders-db.ts).
 */
import os from 'node:os';
import type { Pool, PoolClient, QueryResult } from 'pg';
import type { ConnectorContext, SourceConnector, TableListing } from '../../../src/core/connector.js';
import { ConfigError } from '../../../src/core/errors.js';
import type { ColumnType } from '../../../src/core/types.js';
import { cancelSignal, stoppedWhile, type SqlDialect, type SqlRelation, type TableName } from '../sql/sql-dialect.js';
import {
  connectionError,
  readCa,
  redactFor,
  resolveEndpoint,
  withSecrets,
  where,
  type ErrorKind,
  type SqlConnectionConfig,
  type SqlEndpoint,
} from '../sql/sql-endpoint.js';
import { SqlSource } from '../sql/sql-source.js';
import { copyBinaryRows } from './postgres-copy.js';
import { pgColumn, type PgColumn, type PgType } from './postgres-types.js';

/** Session settings every connection starts with, so text output decodes exactly. */
const SESSION_OPTIONS = '-c TimeZone=UTC -c DateStyle=ISO,YMD -c IntervalStyle=iso_8601 -c extra_float_digits=1 -c bytea_output=hex';
const RAW_TEXT = { getTypeParser: () => (value: string) => value };

type CopyTo = (sql: string) => NodeJS.ReadableStream & { destroy(error?: Error): void; submit(connection: unknown): void };

const TRANSIENT_CODES = new Set(['ECONNRESET', 'EPIPE', '57P01', '57P02', '57P03', '53300', '40001', '40P01', '08000', '08001', '08003', '08004', '08006']);

/** Sorts a pg or socket error into what the user should be told. */
export function classifyPgError(error: unknown): ErrorKind {
  const e = error as { code?: string; message?: string; errors?: { code?: string }[] };
  const code = e?.code ?? e?.errors?.[0]?.code;
  if (code === 'ECONNREFUSED') return 'refused';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EHOSTUNREACH' || code === 'ETIMEDOUT') return 'unreachable';
  if (code === '28P01' || code === '28000') return 'auth';
  if (code === '3D000') return 'database';
  if ((code && TRANSIENT_CODES.has(code)) || /Connection terminated|terminating connection|timeout exceeded when trying to connect/i.test(e?.message ?? '')) {
    return 'transient';
  }
  return 'other';
}

interface TypeRow {
  root: number;
  typname: string;
  typtype: string;
  typcategory: string;
  typmod: number | null;
}

class PostgresDialect implements SqlDialect<PgColumn> {
  readonly product = 'PostgreSQL';
  readonly statistics = 'pg_class.reltuples';

  constructor(
    private readonly pool: Pool,
    private readonly endpoint: SqlEndpoint,
    private readonly copyTo: CopyTo,
  ) {}

  quote(identifier: string): string {
    return `"${identifier.replace(/"/g, '""')}"`;
  }

  literal(text: string): string {
    const escaped = text.replace(/'/g, "''");
    return text.includes('\\') ? `E'${escaped.replace(/\\/g, '\\\\')}'` : `'${escaped}'`;
  }

  cursorLiteral(text: string, _type: ColumnType): string {
    // An untyped literal takes the type of the column it is compared with, exactly.
    return this.literal(text);
  }

  exportSelect(column: PgColumn): string {
    const ref = `q.${this.quote(column.name)}`;
    switch (column.type) {
      case 'INT64':
      case 'BOOL':
        return column.select;
      case 'TIMESTAMP':
        return `to_char(${ref} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
      case 'DATETIME':
        return `to_char(${ref}, 'YYYY-MM-DD"T"HH24:MI:SS.US')`;
      case 'DATE':
        return `to_char(${ref}, 'YYYY-MM-DD')`;
      case 'BYTES':
        // encode() breaks base64 lines at 76 characters
        return `translate(encode(${ref}, 'base64'), E'\\n', '')`;
      default:
        return `(${column.select})::text`;
    }
  }

  splitTimestamp(column: PgColumn, nulls: string): string {
    const ref = `q.${this.quote(column.name)}`;
    return `COALESCE(${column.type === 'TIMESTAMP' ? `${ref} AT TIME ZONE 'UTC'` : `${ref}::timestamp`}, ${this.literal(nulls)}::timestamp)`;
  }

  modulo(expression: string, n: number): string {
    return `((${expression} % ${n}) + ${n}) % ${n}`;
  }

  private tableRef(table: TableName): string {
    return `${table.schema !== undefined ? `${this.quote(table.schema)}.` : ''}${this.quote(table.name)}`;
  }

  async describe(relation: SqlRelation, nested: 'string' | 'json'): Promise<PgColumn[]> {
    let fields: { name: string; oid: number; typmod: number; sourceType?: string; nullable: boolean }[];
    if (relation.kind === 'table') {
      const result = await this.query(
        'reading the columns of ' + relation.label,
        `SELECT a.attname, a.atttypid::int AS oid, a.atttypmod, format_type(a.atttypid, a.atttypmod) AS formatted, a.attnotnull
           FROM pg_attribute a WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
        [this.tableRef(relation.table)],
        relation,
      );
      fields = result.rows.map((r) => ({ name: r.attname, oid: r.oid, typmod: r.atttypmod, sourceType: r.formatted, nullable: !r.attnotnull }));
    } else {
      const result = await this.query('describing source.query', `SELECT * FROM (${relation.sql}\n) AS q LIMIT 0`, [], relation);
      fields = result.fields.map((f) => ({ name: f.name, oid: f.dataTypeID, typmod: f.dataTypeModifier, nullable: true }));
      const formatted = await this.query(
        'describing source.query',
        'SELECT format_type(o, m) AS t FROM unnest($1::oid[], $2::int[]) WITH ORDINALITY AS u(o, m, n) ORDER BY n',
        [fields.map((f) => f.oid), fields.map((f) => f.typmod)],
      );
      fields = fields.map((f, i) => ({ ...f, sourceType: formatted.rows[i].t }));
    }
    const types = await this.types(fields.map((f) => f.oid));
    return fields.map((f) => {
      const type = types.get(f.oid);
      const pgType: PgType = type
        ? { name: type.typname, kind: type.typtype, category: type.typcategory, typmod: type.typmod ?? f.typmod }
        : { name: 'unknown', kind: 'b', category: 'U', typmod: -1 };
      return pgColumn(f.name, pgType, { sourceType: f.sourceType ?? pgType.name, nullable: f.nullable, ref: `q.${this.quote(f.name)}`, nested });
    });
  }

  /** Types by oid with domains resolved to their base type (and the domain's typmod). */
  private async types(oids: number[]): Promise<Map<number, TypeRow>> {
    const result = await this.query(
      'reading column types',
      `WITH RECURSIVE t(root, oid, typname, typtype, typcategory, typbasetype, typmod) AS (
         SELECT oid, oid, typname::text, typtype::text, typcategory::text, typbasetype, NULL::int FROM pg_type WHERE oid = ANY($1::oid[])
         UNION ALL
         SELECT t.root, b.oid, b.typname::text, b.typtype::text, b.typcategory::text, b.typbasetype, t2.typtypmod
           FROM t JOIN pg_type t2 ON t2.oid = t.oid JOIN pg_type b ON b.oid = t.typbasetype WHERE t.typtype = 'd')
       SELECT root::int, typname, typtype, typcategory, CASE WHEN typmod >= 0 THEN typmod END AS typmod FROM t WHERE typtype <> 'd'`,
      [oids],
    );
    return new Map(result.rows.map((r: TypeRow) => [r.root, r]));
  }

  async primaryKey(table: TableName): Promise<string[]> {
    const result = await this.query(
      'reading the primary key',
      `SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
        WHERE i.indrelid = $1::regclass AND i.indisprimary ORDER BY array_position(i.indkey::int2[], a.attnum)`,
      [this.tableRef(table)],
    );
    return result.rows.map((r) => r.attname as string);
  }

  async indexed(table: TableName, column: string): Promise<boolean> {
    const result = await this.query(
      'reading indexes',
      `SELECT EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
         WHERE i.indrelid = $1::regclass AND a.attname = $2) AS indexed`,
      [this.tableRef(table), column],
    );
    return result.rows[0].indexed === true;
  }

  async tables(): Promise<TableListing[]> {
    // reltuples is -1 (PostgreSQL 14+) or 0 for a table never analyzed: the live-row counter of the statistics collector stands in.
    const result = await this.query(
      'listing tables',
      `SELECT n.nspname AS schema, c.relname AS name, c.relkind::text AS kind,
              CASE WHEN c.relkind IN ('r', 'm', 'p') THEN
                CASE WHEN c.reltuples > 0 THEN c.reltuples::float8 ELSE COALESCE(s.n_live_tup, GREATEST(c.reltuples, 0))::float8 END
              END AS n
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         LEFT JOIN pg_stat_all_tables s ON s.relid = c.oid
        WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND NOT c.relispartition
          AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
          AND has_schema_privilege(n.oid, 'USAGE')
        ORDER BY 1, 2`,
    );
    const kinds: Record<string, TableListing['kind']> = { r: 'table', p: 'partitioned table', v: 'view', m: 'materialized view', f: 'foreign table' };
    return result.rows.map((row) => ({
      name: `${row.schema as string}.${row.name as string}`,
      kind: kinds[row.kind as string] ?? 'table',
      ...(row.n === null ? {} : { estimatedRows: Math.round(Number(row.n)) }),
    }));
  }

  async tableRows(table: TableName): Promise<number | undefined> {
    const result = await this.query(
      'reading table statistics',
      'SELECT reltuples::float8 AS n, pg_relation_size(oid)::float8 AS bytes, relkind::text AS kind FROM pg_class WHERE oid = $1::regclass',
      [this.tableRef(table)],
    );
    // Views and partitioned parents have no statistics of their own: the planner estimates them.
    if (result.rows[0]?.kind !== 'r' && result.rows[0]?.kind !== 'm') return undefined;
    const n = Number(result.rows[0]?.n);
    if (Number.isFinite(n) && n >= 0) return Math.round(n);
    // Never analyzed: a table under 8 MB counts as empty here, so estimates count it exactly.
    return Number(result.rows[0]?.bytes) < 8 * 1024 * 1024 ? 0 : undefined;
  }

  async explainRows(sql: string): Promise<number | undefined> {
    const result = await this.query('estimating rows', `EXPLAIN (FORMAT JSON) ${sql}`);
    const plan = result.rows[0]?.['QUERY PLAN'];
    const rows = (typeof plan === 'string' ? JSON.parse(plan) : plan)?.[0]?.Plan?.['Plan Rows'];
    return typeof rows === 'number' ? rows : undefined;
  }

  async count(sql: string): Promise<number> {
    const result = await this.query('counting rows', `SELECT count(*)::float8 AS n FROM (${sql}) AS c`);
    return Number(result.rows[0].n);
  }

  async rows(sql: string, columns: readonly PgColumn[]): Promise<unknown[][]> {
    const result = await this.onClient('reading', (client) => client.query({ text: sql, rowMode: 'array', types: RAW_TEXT }));
    return (result.rows as (string | null)[][]).map((row) => row.map((v, i) => (v === null ? null : columns[i].decode(v))));
  }

  async *stream(sql: string, columns: readonly PgColumn[], options: { chunkRows: number; signal: AbortSignal }): AsyncIterable<unknown[][]> {
    const client = await this.connect('reading rows', true);
    const copy = client.query(this.copyTo(`COPY (${sql}) TO STDOUT (FORMAT binary)`) as never) as unknown as NodeJS.ReadableStream & {
      destroy(error?: Error): void;
    };
    const abort = () => {
      copy.destroy(new Error('read cancelled'));
      // Closing the connection would wait for the server to finish the query: cancel it there.
      this.pool.query('SELECT pg_cancel_backend($1)', [(client as PoolClient & { processID: number }).processID]).catch(() => undefined);
    };
    options.signal.addEventListener('abort', abort, { once: true });
    let clean = false;
    try {
      yield* copyBinaryRows(copy as AsyncIterable<Buffer>, columns.map((c) => c.binary));
      clean = true;
    } catch (error) {
      if (options.signal.aborted) throw error;
      throw this.fail(error, 'reading rows', true);
    } finally {
      options.signal.removeEventListener('abort', abort);
      // A COPY stopped half way leaves the connection mid-protocol: drop it instead of reusing it.
      client.release(clean ? undefined : true);
    }
  }

  async serverVersion(): Promise<string> {
    const result = await this.query('reading the server version', "SELECT current_setting('server_version') AS v");
    return `PostgreSQL ${String(result.rows[0].v).split(' ')[0]}`;
  }


  async close(): Promise<void> {
    await this.pool.end();
  }

  private async connect(during: string, midRun = false): Promise<PoolClient> {
    let client: PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw this.fail(error, during, midRun);
    }
    // A checked-out client whose server goes away also emits 'error' on itself; the query in
    // flight reports it, and an unheard event would crash the process.
    if (client.listenerCount('error') === 0) client.on('error', () => undefined);
    return client;
  }

  private async query(during: string, text: string, values: unknown[] = [], relation?: SqlRelation): Promise<QueryResult> {
    if (cancelSignal()) return this.onClient(during, (client) => client.query(text, values), relation);
    try {
      return await this.pool.query(text, values);
    } catch (error) {
      throw this.fail(error, during, false, relation);
    }
  }

  /** Runs `work` on a client of its own, its query cancelled in the server if the run stops meanwhile (see `cancellable`). */
  private async onClient<T>(during: string, work: (client: PoolClient) => Promise<T>, relation?: SqlRelation): Promise<T> {
    const signal = cancelSignal();
    if (signal?.aborted) throw stoppedWhile(during);
    const client = await this.connect(during);
    const cancel = () => this.pool.query('SELECT pg_cancel_backend($1)', [(client as PoolClient & { processID: number }).processID]).catch(() => undefined);
    signal?.addEventListener('abort', cancel, { once: true });
    let result: T;
    try {
      result = await work(client);
    } catch (error) {
      client.release(true);
      throw signal?.aborted ? stoppedWhile(during) : this.fail(error, during, false, relation);
    } finally {
      signal?.removeEventListener('abort', cancel);
    }
    client.release();
    return result;
  }

  /** The user-facing error for a driver error; a refused connection counts as transient mid-run. */
  private fail(error: unknown, during: string, midRun = false, relation?: SqlRelation): Error {
    const kind = classifyPgError(error);
    const code = (error as { code?: string })?.code;
    if (relation && kind === 'other') {
      const detail = redactFor((error as Error).message ?? String(error), this.endpoint);
      if (relation.kind === 'table' && (code === '42P01' || code === '3F000')) {
        return ConfigError.of(
          `table ${relation.label} not found in database ${this.endpoint.database ?? '(default)'} at ${where(this.endpoint)}: ${detail}`,
          'check source.table (schema.table) and the connection',
        );
      }
      if (relation.kind === 'query') return ConfigError.of(`source.query does not run: ${detail}`, 'fix the query; it is run as SELECT * FROM (<query>) AS q');
    }
    return connectionError(midRun && kind === 'refused' ? 'transient' : kind, error, this.endpoint, during);
  }
}

function sslOption(config: SqlConnectionConfig, ca: string | undefined): unknown {
  const mode = config.ssl?.mode ?? (ca ? 'verify-full' : undefined);
  switch (mode) {
    case undefined:
      return undefined;
    case 'disable':
      return false;
    case 'require':
      return { rejectUnauthorized: false, ca };
    case 'verify-ca':
      return { rejectUnauthorized: true, ca, checkServerIdentity: () => undefined };
    default:
      return { rejectUnauthorized: true, ca };
  }
}

/** Creates the PostgreSQL source of a connection. */
export async function createPostgresSource(context: ConnectorContext): Promise<SourceConnector> {
  const config = await withSecrets(context.config as SqlConnectionConfig);
  const endpoint = resolveEndpoint(context.name, 'PostgreSQL', config, {
    port: 5432,
    user: process.env.PGUSER ?? os.userInfo().username,
  });
  const [{ default: pg }, { default: copyStreams }] = await Promise.all([import('pg'), import('pg-copy-streams')]);
  const ca = await readCa(config.ssl?.ca, context.baseDir, context.name);
  const pool = new pg.Pool({
    ...(config.url ? { connectionString: config.url } : {}),
    host: endpoint.host,
    port: endpoint.port,
    user: endpoint.user,
    password: config.password ?? (config.url ? undefined : process.env.PGPASSWORD),
    database: endpoint.database,
    ssl: sslOption(config, ca) as never,
    options: SESSION_OPTIONS,
    application_name: 'b2betl',
    max: 65,
    idleTimeoutMillis: 10_000,
    connectionTimeoutMillis: 15_000,
  });
  // An idle pooled connection that dies is simply discarded; the next checkout reconnects.
  pool.on('error', () => undefined);
  return new SqlSource(new PostgresDialect(pool, endpoint, copyStreams.to as unknown as CopyTo));
}
