/**
 * Peak RSS of `b2betl run` at 1× and 5× the data, beside the floor of the same binary doing no
 * work (`b2betl --version`), all measured in this run: memory that stays flat shows a 5×/1×
 * ratio near 1. Two paths every streamed row takes: a CSV file streamed through the core
 * (`B2BETL_STREAM_ONLY=1`) and a PostgreSQL table, each into DuckDB. The CSV file runs again with
 * `memory_limit: 64MB`: DuckDB's buffer pool keeps the blocks a commit wrote up to its limit, and
 * what the default limit adds over that run is that cache, not memory b2betl holds.
 *
 *   npm run build && node dist/bench/memory.js [rows]     (default: 200000, so 1,000,000 at 5×)
 */
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { measure, thousands, type Measured } from './support.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const work = path.join(root, 'bench', 'data', 'memory');
const base = Number(process.argv[2] ?? 200_000);
const binary = path.join(root, 'bin', 'b2betl.js');
const PG = { host: process.env.PGHOST ?? '127.0.0.1', port: Number(process.env.PGPORT ?? 5432), user: process.env.PGUSER ?? 'postgres', database: process.env.PGDATABASE ?? 'test' };
const SCHEMA = 'bench_memory';

async function run(project: string, env: NodeJS.ProcessEnv = {}): Promise<Measured> {
  await rm(path.join(project, 'warehouse.duckdb'), { force: true });
  await rm(path.join(project, '.b2betl'), { recursive: true, force: true });
  const result = await measure(process.execPath, [binary, 'run', 'job.yaml'], { cwd: project, env });
  if (result.code !== 0) throw new Error(`b2betl failed:\n${result.stderr}`);
  return result;
}

/** `etl.config.yaml` of a project reading `inbox` and `connection` into its DuckDB warehouse with `warehouse` settings. */
function config(connection: string, warehouse = ''): string {
  return `connections:\n${connection}  wh: { type: duckdb, path: ./warehouse.duckdb${warehouse} }\ndefaults: { destination: wh }\n`;
}

async function csvProject(rows: number, warehouse?: string): Promise<string> {
  const project = path.join(work, `csv-${rows}`);
  const file = path.join(project, 'inbox', 'orders.csv');
  if (!existsSync(file)) {
    await mkdir(path.dirname(file), { recursive: true });
    const generated = await measure(process.execPath, [path.join(root, 'dist', 'bench', 'generate-csv.js'), String(rows), file]);
    if (generated.code !== 0) throw new Error(`generator failed: ${generated.stderr}`);
  }
  await writeFile(path.join(project, 'etl.config.yaml'), config('  inbox: { type: local, path: ./inbox }\n', warehouse));
  await writeFile(path.join(project, 'job.yaml'), 'name: orders\nsource: { connection: inbox, pattern: "orders.csv" }\nload: { strategy: catalog }\n');
  return project;
}

async function postgresProject(rows: number): Promise<string> {
  const { default: pg } = await import('pg');
  const client = new pg.Client(PG);
  await client.connect();
  const table = `${SCHEMA}.orders_${rows}`;
  try {
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${SCHEMA}`);
    await client.query(`DROP TABLE IF EXISTS ${table}`);
    await client.query(`CREATE TABLE ${table} (id bigint PRIMARY KEY, amount numeric(12,2), note text, updated_at timestamptz(6))`);
    await client.query(
      `INSERT INTO ${table} SELECT g, (g % 100000) / 100.0, repeat('note ', 1 + g % 20), timestamptz '2024-01-01' + g * interval '1 second' FROM generate_series(1, ${rows}) g`,
    );
  } finally {
    await client.end();
  }
  const project = path.join(work, `pg-${rows}`);
  await mkdir(project, { recursive: true });
  await writeFile(path.join(project, 'etl.config.yaml'), config(`  db: { type: postgres, host: ${PG.host}, port: ${PG.port}, user: ${PG.user}, database: ${PG.database} }\n`));
  await writeFile(path.join(project, 'job.yaml'), `name: orders\nsource: { connection: db, table: ${table} }\nload: { strategy: catalog }\n`);
  return project;
}

async function dropPostgres(): Promise<void> {
  const { default: pg } = await import('pg');
  const client = new pg.Client(PG);
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  await client.end();
}

const floor = await measure(process.execPath, [binary, '--version']);
console.log(`baseline: b2betl --version, peak RSS ${floor.peakRssMb.toFixed(0)} MB`);
const scenarios: { name: string; project: (rows: number) => Promise<string>; env?: NodeJS.ProcessEnv }[] = [
  { name: 'CSV streamed → DuckDB', project: csvProject, env: { B2BETL_STREAM_ONLY: '1' } },
  { name: 'CSV streamed → DuckDB, memory_limit: 64MB', project: (rows) => csvProject(rows, ', memory_limit: 64MB'), env: { B2BETL_STREAM_ONLY: '1' } },
  { name: 'PostgreSQL → DuckDB', project: postgresProject },
];
try {
  for (const scenario of scenarios) {
    const one = await run(await scenario.project(base), scenario.env);
    const five = await run(await scenario.project(base * 5), scenario.env);
    const line = (rows: number, m: Measured) =>
      `  ${thousands(rows).padStart(10)} rows  ${(m.ms / 1000).toFixed(2).padStart(6)} s  peak RSS ${m.peakRssMb.toFixed(0).padStart(4)} MB (${(m.peakRssMb - floor.peakRssMb).toFixed(0)} MB above the baseline)`;
    console.log(`\n${scenario.name}`);
    console.log(line(base, one));
    console.log(line(base * 5, five));
    console.log(`  RSS at 5× / RSS at 1×: ${(five.peakRssMb / one.peakRssMb).toFixed(2)}`);
  }
} finally {
  await dropPostgres();
}
