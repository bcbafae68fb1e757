/**
 * Scratch PostgreSQL schemas and MariaDB/MySQL databases for the SQL source tests, and small
 * helpers to plan and read a source the way the pipeline does.
 */
import { randomBytes } from 'node:crypto';
import type { PlanContext, SourceConnector, SourcePlan, WorkUnit } from '../../src/core/connector.js';
import { silentLogger, type Logger } from '../../src/core/log.js';
import { jobSchema, type ConnectionConfig, type JobSpec } from '../../src/core/spec.js';

/** The PostgreSQL every test uses (trust auth on this machine). */
export const PG = { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' } as const;
/** The MariaDB (or MySQL) every test uses (root without a password). */
export const MY = { host: '127.0.0.1', port: 3306, user: 'root', database: 'test' } as const;

/** A random lowercase suffix for scratch names. */
export function suffix(): string {
  return randomBytes(4).toString('hex');
}

/** A scratch schema in the test PostgreSQL, dropped by `drop()`. */
export interface PgScratch {
  readonly schema: string;
  readonly connection: ConnectionConfig;
  sql(text: string, values?: unknown[]): Promise<Record<string, unknown>[]>;
  drop(): Promise<void>;
}

/** Creates a schema `b2b_<prefix>_<random>` and a client to fill it. */
export async function pgScratch(prefix: string): Promise<PgScratch> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ ...PG, options: '-c TimeZone=UTC' });
  await client.connect();
  const schema = `b2b_${prefix}_${suffix()}`;
  await client.query(`CREATE SCHEMA ${schema}`);
  await client.query(`SET search_path TO ${schema}`);
  return {
    schema,
    connection: { type: 'postgres', ...PG },
    async sql(text, values) {
      return (await client.query(text, values)).rows;
    },
    async drop() {
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await client.end();
    },
  };
}

/** A scratch database in the test MariaDB/MySQL, dropped by `drop()`. */
export interface MyScratch {
  readonly database: string;
  readonly connection: ConnectionConfig;
  sql(text: string, values?: unknown[]): Promise<unknown>;
  drop(): Promise<void>;
}

/** Creates a database `b2b_<prefix>_<random>` and a connection to fill it. */
export async function myScratch(prefix: string): Promise<MyScratch> {
  const mysql = await import('mysql2/promise');
  const database = `b2b_${prefix}_${suffix()}`;
  const connection = await mysql.createConnection({ host: MY.host, port: MY.port, user: MY.user, multipleStatements: true, timezone: 'Z' });
  await connection.query(`CREATE DATABASE ${database} CHARACTER SET utf8mb4`);
  await connection.query(`USE ${database}`);
  await connection.query("SET time_zone = '+00:00'");
  return {
    database,
    connection: { type: 'mysql', host: MY.host, port: MY.port, user: MY.user, database },
    async sql(text, values) {
      const [rows] = await connection.query(text, values);
      return rows;
    },
    async drop() {
      await connection.query(`DROP DATABASE IF EXISTS ${database}`);
      await connection.end();
    },
  };
}

/** A validated job spec (defaults applied) from its `source` and `load` parts. */
export function job(source: Partial<JobSpec['source']>, load: Partial<JobSpec['load']> = {}, name = 'orders'): JobSpec {
  return jobSchema.parse({ name, source: { connection: 'db', ...source }, load });
}

/** A plan context as the pipeline builds it. */
export function planContext(spec: JobSpec, cursor?: unknown, extra: Partial<PlanContext> = {}): PlanContext {
  return { job: spec, state: { cursor, files: new Map() }, fullRefresh: false, log: silentLogger, ...extra };
}

/** Every row of every unit, in unit order, and the cursor state the last unit would record. */
export async function readPlan(source: SourceConnector, spec: JobSpec, plan: SourcePlan, log: Logger = silentLogger): Promise<{ rows: unknown[][]; cursor: unknown; columns: string[] }> {
  const rows: unknown[][] = [];
  let columns: string[] = [];
  for (const unit of plan.units) rows.push(...(await readUnit(source, spec, unit, log, (names) => (columns = names))));
  const cursor = [...plan.units].reverse().find((u) => u.cursorAfter !== undefined)?.cursorAfter;
  return { rows, cursor, columns };
}

/** The rows of one unit. */
export async function readUnit(source: SourceConnector, spec: JobSpec, unit: WorkUnit, log: Logger = silentLogger, onColumns?: (names: string[]) => void): Promise<unknown[][]> {
  const rows: unknown[][] = [];
  const signal = new AbortController().signal;
  for await (const batch of source.read(unit, { job: spec, log, signal })) {
    onColumns?.(batch.columns.map((c) => c.name));
    rows.push(...batch.rows);
  }
  return rows;
}

/** One incremental run as the pipeline does it: plan with the saved cursor, read, return the new cursor. */
export async function run(source: SourceConnector, spec: JobSpec, cursor: unknown, extra: Partial<PlanContext> = {}): Promise<{ rows: unknown[][]; cursor: unknown; plan: SourcePlan }> {
  const plan = await source.plan(planContext(spec, cursor, extra));
  const out = await readPlan(source, spec, plan);
  return { rows: out.rows, cursor: out.cursor ?? cursor, plan };
}

const DIGITS = '(SELECT 0 d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)';

/** Rows 1..n generated in the server, for tables with (id, updated_at, note). */
export function mysqlSeries(table: string, n: number): string {
  return `INSERT INTO ${table} (id, updated_at, note)
    SELECT n, TIMESTAMP('2024-01-01') + INTERVAL n SECOND, CONCAT('n', n) FROM (
      SELECT a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * f.d + 100000 * g.d + 1 AS n
      FROM ${DIGITS} a, ${DIGITS} b, ${DIGITS} c, ${DIGITS} e, ${DIGITS} f, ${DIGITS} g) s WHERE n <= ${n}`;
}
