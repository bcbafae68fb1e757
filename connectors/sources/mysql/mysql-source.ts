/**
 * The MySQL / MariaDB source: a mysql2 pool in a UTC session, columns from
 * information_schema, and unit reads streamed row by row with the connection paused between
 * chunks so memory stays bounded.
 */
import type { Pool, PoolConnection, PoolOptions } from 'mysql2';
import type { ConnectorContext, SourceConnector, TableListing } from '../../../src/core/connector.js';
import { ConfigError } from '../../../src/core/errors.js';
import { formatDatetime, parseTimestamp } from '../../../src/core/time.js';
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
import { catalogColumn, resultColumn, type MyColumn, type ResultField } from './mysql-types.js';

const NUMBER_TEXT = /^-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?$/;
const TRANSIENT_CODES = new Set([
  'PROTOCOL_CONNECTION_LOST',
  'ECONNRESET',
  'EPIPE',
  'ER_LOCK_DEADLOCK',
  'ER_LOCK_WAIT_TIMEOUT',
  'ER_CON_COUNT_ERROR',
  'ER_SERVER_SHUTDOWN',
  'ER_QUERY_INTERRUPTED',
  'ER_CONNECTION_KILLED',
  'ER_CLIENT_INTERACTION_TIMEOUT',
]);

/** Sorts a mysql2 or socket error into what the user should be told. */
export function classifyMysqlError(error: unknown): ErrorKind {
  const e = error as { code?: string; errno?: number; fatal?: boolean; message?: string; errors?: { code?: string }[] };
  const code = e?.code ?? e?.errors?.[0]?.code;
  if (code === 'ECONNREFUSED') return 'refused';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EHOSTUNREACH' || code === 'ETIMEDOUT') return 'unreachable';
  if (code === 'ER_ACCESS_DENIED_ERROR' || code === 'ER_DBACCESS_DENIED_ERROR' || code === 'ER_ACCESS_DENIED_NO_PASSWORD_ERROR') return 'auth';
  if (code === 'ER_BAD_DB_ERROR') return 'database';
  if ((code && TRANSIENT_CODES.has(code)) || e?.errno === 2013 || e?.errno === 1927 || e?.fatal) return 'transient';
  return 'other';
}

/** A TIMESTAMP column's value as its UTC wall clock, whatever the session's time zone. */
function utc(ref: string): string {
  return `CONVERT_TZ(${ref}, @@session.time_zone, '+00:00')`;
}

/** A promise over mysql2's callback API (the pool's promise wrapper cannot stream). */
function call<T>(run: (done: (error: unknown, result?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => run((error, result) => (error ? reject(error) : resolve(result as T))));
}

class MysqlDialect implements SqlDialect<MyColumn> {
  readonly product = 'MySQL';
  readonly statistics = 'information_schema.TABLES.TABLE_ROWS';
  private mariadb?: Promise<boolean>;
  /** Queries being killed in the server, sent before the pool closes. */
  private readonly kills = new Set<Promise<void>>();
  private defaultDatabase?: Promise<string | undefined>;

  constructor(
    private readonly pool: Pool,
    private readonly endpoint: SqlEndpoint,
  ) {}

  quote(identifier: string): string {
    return `\`${identifier.replace(/`/g, '``')}\``;
  }

  literal(text: string): string {
    return this.pool.escape(text);
  }

  cursorLiteral(text: string, type: ColumnType): string {
    // Numbers stay numbers: comparing a BIGINT with a quoted string would go through a double.
    if ((type === 'INT64' || type === 'NUMERIC' || type === 'BIGNUMERIC' || type === 'FLOAT64') && NUMBER_TEXT.test(text)) return text;
    if (type === 'TIMESTAMP') {
      const micros = parseTimestamp(text);
      if (micros !== undefined) return this.literal(formatDatetime(micros));
    }
    return this.literal(text);
  }

  exportSelect(column: MyColumn): string {
    const ref = `q.${this.quote(column.name)}`;
    const dated = (text: string) => this.dated(ref, text);
    switch (column.type) {
      case 'INT64':
        return `(${ref} + 0)`;
      case 'BOOL':
        return `CASE WHEN ${ref} IS NULL THEN NULL WHEN ${ref} <> 0 THEN 'true' ELSE 'false' END`;
      case 'TIMESTAMP':
        return dated(`DATE_FORMAT(${utc(ref)}, '%Y-%m-%dT%H:%i:%s.%fZ')`);
      case 'DATETIME':
        return dated(`DATE_FORMAT(${ref}, '%Y-%m-%dT%H:%i:%s.%f')`);
      case 'DATE':
        return dated(`DATE_FORMAT(${ref}, '%Y-%m-%d')`);
      case 'BYTES':
        // TO_BASE64 breaks lines at 76 characters
        return `REPLACE(TO_BASE64(${ref}), '\\n', '')`;
      default:
        return `CAST(${ref} AS CHAR)`;
    }
  }

  splitTimestamp(column: MyColumn, nulls: string): string {
    const ref = `q.${this.quote(column.name)}`;
    return `COALESCE(${this.dated(ref, `CAST(${column.type === 'TIMESTAMP' ? utc(ref) : ref} AS DATETIME(6))`)}, CAST(${this.literal(nulls)} AS DATETIME(6)))`;
  }

  /** `text`, or NULL where `ref` is a zero date (`0000-00-00`, a 00 month or day): MySQL's "no date", as a local run reads it. */
  private dated(ref: string, text: string): string {
    return `CASE WHEN YEAR(${ref}) = 0 OR MONTH(${ref}) = 0 OR DAYOFMONTH(${ref}) = 0 THEN NULL ELSE ${text} END`;
  }

  modulo(expression: string, n: number): string {
    return `MOD(MOD(${expression}, ${n}) + ${n}, ${n})`;
  }

  private async schemaOf(table: TableName): Promise<string> {
    if (table.schema !== undefined) return table.schema;
    this.defaultDatabase ??= this.query<{ db: string | null }[]>('reading the database name', 'SELECT DATABASE() AS db').then((rows) => rows[0]?.db ?? undefined);
    const database = await this.defaultDatabase;
    if (!database) {
      throw ConfigError.of(`source.table ${table.name} names no database and connection ${this.endpoint.name} has none`, 'write source.table as database.table, or set database in the connection');
    }
    return database;
  }


  private isMariadb(): Promise<boolean> {
    this.mariadb ??= this.query<{ v: string }[]>('reading the server version', 'SELECT VERSION() AS v').then((rows) => /mariadb/i.test(rows[0]?.v ?? ''));
    return this.mariadb;
  }

  async describe(relation: SqlRelation, _nested: 'string' | 'json'): Promise<MyColumn[]> {
    if (relation.kind === 'query') {
      const fields = await this.query<ResultField[]>('describing source.query', `SELECT * FROM (${relation.sql}\n) AS q LIMIT 0`, [], relation, true);
      return fields.map((f) => resultColumn(f, `q.${this.quote(f.name)}`));
    }
    const schema = await this.schemaOf(relation.table);
    const rows = await this.query<Record<string, unknown>[]>(
      `reading the columns of ${relation.label}`,
      `SELECT COLUMN_NAME AS name, DATA_TYPE AS dataType, COLUMN_TYPE AS columnType, IS_NULLABLE AS nullable,
              NUMERIC_PRECISION AS \`precision\`, NUMERIC_SCALE AS scale
         FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`,
      [schema, relation.table.name],
    );
    if (rows.length === 0) {
      throw ConfigError.of(`table ${relation.label} not found in database ${schema} at ${where(this.endpoint)}`, 'check source.table (database.table or table) and the connection');
    }
    const json = new Set<string>();
    if (await this.isMariadb()) {
      const checks = await this.query<{ clause: string }[]>(
        'reading JSON columns',
        'SELECT CHECK_CLAUSE AS clause FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = ? AND TABLE_NAME = ?',
        [schema, relation.table.name],
      );
      for (const { clause } of checks) {
        const m = /^json_valid\(`((?:[^`]|``)+)`\)$/i.exec(clause.trim());
        if (m) json.add(m[1].replace(/``/g, '`'));
      }
    }
    return rows.map((r) =>
      catalogColumn(
        {
          name: String(r.name),
          dataType: String(r.dataType).toLowerCase(),
          columnType: String(r.columnType),
          nullable: r.nullable === 'YES',
          precision: r.precision === null ? undefined : Number(r.precision),
          scale: r.scale === null ? undefined : Number(r.scale),
          json: json.has(String(r.name)) && /text$/i.test(String(r.dataType)),
        },
        `q.${this.quote(String(r.name))}`,
      ),
    );
  }

  async primaryKey(table: TableName): Promise<string[]> {
    const rows = await this.query<{ name: string }[]>(
      'reading the primary key',
      `SELECT COLUMN_NAME AS name FROM information_schema.KEY_COLUMN_USAGE
        WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION`,
      [await this.schemaOf(table), table.name],
    );
    return rows.map((r) => r.name);
  }

  async indexed(table: TableName, column: string): Promise<boolean> {
    const rows = await this.query<unknown[]>(
      'reading indexes',
      'SELECT 1 FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND COLUMN_NAME = ? AND SEQ_IN_INDEX = 1 LIMIT 1',
      [await this.schemaOf(table), table.name, column],
    );
    return rows.length > 0;
  }

  /**
   * MySQL and MariaDB scan the whole table for a range of a tenth of it rather than look each
   * row up through a secondary index: for parallel units, that is a full scan per unit.
   */
  async rangeHint(table: TableName, column: string): Promise<string | undefined> {
    const rows = await this.query<{ name: string }[]>(
      'reading indexes',
      'SELECT INDEX_NAME AS name FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND COLUMN_NAME = ? AND SEQ_IN_INDEX = 1 ORDER BY INDEX_NAME LIMIT 1',
      [await this.schemaOf(table), table.name, column],
    );
    return rows.length ? `FORCE INDEX (${this.quote(rows[0].name)})` : undefined;
  }

  async tables(): Promise<TableListing[]> {
    // The connection's database, or every database but the server's own when it names none.
    const rows = await this.query<{ db: string; name: string; type: string; n: number | string | null }[]>(
      'listing tables',
      `SELECT TABLE_SCHEMA AS db, TABLE_NAME AS name, TABLE_TYPE AS type, TABLE_ROWS AS n FROM information_schema.TABLES
        WHERE (DATABASE() IS NULL AND TABLE_SCHEMA NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')) OR TABLE_SCHEMA = DATABASE()
        ORDER BY TABLE_SCHEMA, TABLE_NAME`,
    );
    return rows.map((row) => ({
      name: `${row.db}.${row.name}`,
      kind: row.type === 'VIEW' || row.type === 'SYSTEM VIEW' ? 'view' : 'table',
      ...(row.n === null || row.type === 'VIEW' ? {} : { estimatedRows: Number(row.n) }),
    }));
  }

  async tableRows(table: TableName): Promise<number | undefined> {
    const rows = await this.query<{ n: number | string | null }[]>(
      'reading table statistics',
      'SELECT TABLE_ROWS AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?',
      [await this.schemaOf(table), table.name],
    );
    const n = rows[0]?.n;
    return n === null || n === undefined ? undefined : Number(n);
  }

  async explainRows(sql: string): Promise<number | undefined> {
    const rows = await this.query<{ rows?: number | string | null }[]>('estimating rows', `EXPLAIN ${sql}`);
    const counts = rows.map((r) => Number(r.rows)).filter((n) => Number.isFinite(n));
    return counts.length > 0 ? Math.max(...counts) : undefined;
  }

  async count(sql: string): Promise<number> {
    const rows = await this.query<{ n: number | string }[]>('counting rows', `SELECT COUNT(*) AS n FROM (${sql}) AS c`);
    return Number(rows[0].n);
  }

  async rows(sql: string, columns: readonly MyColumn[]): Promise<unknown[][]> {
    let rows: unknown[][];
    if (cancelSignal()) {
      rows = await this.onConnection('reading', (connection) => call<unknown[][]>((done) => connection.query({ sql, rowsAsArray: true }, (error, result) => done(error, result as unknown[][]))));
    } else {
      try {
        rows = await call<unknown[][]>((done) => this.pool.query({ sql, rowsAsArray: true }, (error, result) => done(error, result as unknown[][])));
      } catch (error) {
        throw this.fail(error, 'reading');
      }
    }
    for (const row of rows) fixRow(row, columns);
    return rows;
  }

  async *stream(sql: string, columns: readonly MyColumn[], options: { chunkRows: number; signal: AbortSignal }): AsyncIterable<unknown[][]> {
    let connection: PoolConnection;
    try {
      connection = await call<PoolConnection>((done) => this.pool.getConnection(done));
    } catch (error) {
      throw this.fail(error, 'reading rows', true);
    }
    const fixes = columns.some((c) => c.fix);
    const ready: unknown[][][] = [];
    let chunk: unknown[][] = [];
    let finished = false;
    let failure: unknown;
    let wake: (() => void) | undefined;
    const signal = () => {
      const w = wake;
      wake = undefined;
      w?.();
    };
    const query = connection.query({ sql, rowsAsArray: true });
    query.on('result', (row: unknown) => {
      if (fixes) fixRow(row as unknown[], columns);
      chunk.push(row as unknown[]);
      if (chunk.length >= options.chunkRows) {
        ready.push(chunk);
        chunk = [];
        // Back-pressure: no more packets are parsed until the consumer takes this chunk.
        connection.pause();
        signal();
      }
    });
    const onError = (error: unknown) => {
      failure ??= error;
      signal();
    };
    query.on('error', onError);
    // A lost connection is reported on the connection, not on a query without a callback.
    connection.on('error', onError);
    query.on('end', () => {
      if (chunk.length > 0) ready.push(chunk);
      chunk = [];
      finished = true;
      signal();
    });
    const abort = () => {
      failure ??= new Error('read cancelled');
      this.killQuery(connection);
      connection.destroy();
      signal();
    };
    options.signal.addEventListener('abort', abort, { once: true });
    let clean = false;
    try {
      for (;;) {
        if (failure !== undefined) throw failure;
        const next = ready.shift();
        if (next) {
          if (ready.length === 0 && !finished) connection.resume();
          yield next;
          continue;
        }
        if (finished) break;
        await new Promise<void>((resolve) => (wake = resolve));
      }
      clean = true;
    } catch (error) {
      if (options.signal.aborted) throw error;
      throw this.fail(error, 'reading rows', true);
    } finally {
      options.signal.removeEventListener('abort', abort);
      connection.removeListener('error', onError);
      // A result left half read would poison the pooled connection: drop it (and hear whatever
      // the dying socket still reports).
      if (clean) connection.release();
      else {
        connection.on('error', () => undefined);
        connection.destroy();
      }
    }
  }

  async serverVersion(): Promise<string> {
    const rows = await this.query<{ v: string }[]>('reading the server version', 'SELECT VERSION() AS v');
    const version = String(rows[0]?.v ?? '');
    return /mariadb/i.test(version) ? `MariaDB ${version.split('-')[0]}` : `MySQL ${version}`;
  }


  async close(): Promise<void> {
    await Promise.all(this.kills);
    await call<void>((done) => this.pool.end(done));
  }

  private async query<T>(during: string, sql: string, values: unknown[] = [], relation?: SqlRelation, wantFields = false): Promise<T> {
    const run = (on: Pool | PoolConnection) => call<T>((done) => on.query(sql, values, (error, rows, fields) => done(error, (wantFields ? fields : rows) as T)));
    if (cancelSignal()) return this.onConnection(during, run, relation);
    try {
      return await run(this.pool);
    } catch (error) {
      throw this.fail(error, during, false, relation);
    }
  }

  /** Runs `work` on a connection of its own, its query killed in the server if the run stops meanwhile (see `cancellable`). */
  private async onConnection<T>(during: string, work: (connection: PoolConnection) => Promise<T>, relation?: SqlRelation): Promise<T> {
    const signal = cancelSignal();
    if (signal?.aborted) throw stoppedWhile(during);
    let connection: PoolConnection;
    try {
      connection = await call<PoolConnection>((done) => this.pool.getConnection(done));
    } catch (error) {
      throw this.fail(error, during);
    }
    const cancel = () => this.killQuery(connection);
    signal?.addEventListener('abort', cancel, { once: true });
    let result: T;
    try {
      result = await work(connection);
    } catch (error) {
      connection.destroy();
      throw signal?.aborted ? stoppedWhile(during) : this.fail(error, during, false, relation);
    } finally {
      signal?.removeEventListener('abort', cancel);
    }
    connection.release();
    return result;
  }

  /**
   * Stops the query `connection` runs, in the server: a closed connection alone lets it work on
   * until it next writes. The pool stays open until the kill is sent (see `close`).
   */
  private killQuery(connection: PoolConnection): void {
    const kill = call<void>((done) => this.pool.query(`KILL QUERY ${Number(connection.threadId)}`, () => done(null)));
    this.kills.add(kill);
    void kill.finally(() => this.kills.delete(kill));
  }

  /** The user-facing error for a driver error; a refused connection counts as transient mid-run. */
  private fail(error: unknown, during: string, midRun = false, relation?: SqlRelation): Error {
    if (error instanceof ConfigError) return error;
    const kind = classifyMysqlError(error);
    const code = (error as { code?: string })?.code;
    if (relation && kind === 'other') {
      const detail = redactFor((error as Error).message ?? String(error), this.endpoint);
      if (relation.kind === 'table' && code === 'ER_NO_SUCH_TABLE') {
        return ConfigError.of(`table ${relation.label} not found at ${where(this.endpoint)}: ${detail}`, 'check source.table and the connection');
      }
      if (relation.kind === 'query') return ConfigError.of(`source.query does not run: ${detail}`, 'fix the query; it is run as SELECT * FROM (<query>) AS q');
    }
    return connectionError(midRun && kind === 'refused' ? 'transient' : kind, error, this.endpoint, during);
  }
}

function fixRow(row: unknown[], columns: readonly MyColumn[]): void {
  for (let i = 0; i < columns.length; i++) {
    const fix = columns[i].fix;
    if (fix && row[i] !== null) row[i] = fix(row[i]);
  }
}

/** Creates the MySQL / MariaDB source of a connection. */
export async function createMysqlSource(context: ConnectorContext): Promise<SourceConnector> {
  const config = await withSecrets(context.config as SqlConnectionConfig);
  const endpoint = resolveEndpoint(context.name, 'MySQL', config, { port: 3306, user: 'root' });
  const { default: mysql } = await import('mysql2');
  const ca = await readCa(config.ssl?.ca, context.baseDir, context.name);
  const mode = config.ssl?.mode ?? (ca ? 'verify-full' : undefined);
  const options: PoolOptions = {
    host: endpoint.host,
    port: endpoint.port,
    user: endpoint.user,
    password: config.password ?? (config.url ? decodeURIComponent(new URL(config.url).password) : undefined),
    database: endpoint.database,
    ssl: mode === undefined || mode === 'disable' ? undefined : { ca, rejectUnauthorized: mode !== 'require' },
    connectionLimit: 65,
    supportBigNumbers: true,
    bigNumberStrings: false,
    decimalNumbers: false,
    dateStrings: true,
    jsonStrings: true,
    charset: 'utf8mb4_unicode_ci',
    timezone: 'Z',
    connectTimeout: 15_000,
    enableKeepAlive: true,
  };
  const pool = mysql.createPool(options);
  // Every session reads TIMESTAMPs in UTC and tolerates a slow consumer of a streamed result.
  pool.on('connection', (connection) => {
    connection.query("SET time_zone = '+00:00', SESSION net_write_timeout = 3600");
  });
  return new SqlSource(new MysqlDialect(pool, endpoint));
}
