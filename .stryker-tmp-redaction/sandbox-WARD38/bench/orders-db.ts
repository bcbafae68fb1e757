/**
 * Database → DuckDB throughput: a deterministic 1,000,000-row `orders` table generated inside
 * PostgreSQL and MariaDB/MySQL, then `b2betl run` of it (parallelism 1 and 2) timed beside the
 * raw limit of each server in the same run (`psql COPY … (FORMAT binary)` and
 * `mariadb -e "SELECT * FROM orders"`, both to /dev/null), and beside the source alone
 * (its `read()` without conversion or loading).
 *
 *   npm run build && node dist/bench/orders-db.js [rows] [postgres|mysql ...]     (default: 1000000, both)
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { measure, thousands, type Measured } from './support.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const args = process.argv.slice(2);
const rows = Number(args.find((a) => /^\d+$/.test(a)) ?? 1_000_000);
const targets = args.filter((a) => a === 'postgres' || a === 'mysql');

const PG = { host: process.env.PGHOST ?? '127.0.0.1', port: Number(process.env.PGPORT ?? 5432), user: process.env.PGUSER ?? 'postgres', database: process.env.PGDATABASE ?? 'test' };
const MY = { host: process.env.MYSQL_HOST ?? '127.0.0.1', port: Number(process.env.MYSQL_PORT ?? 3306), user: process.env.MYSQL_USER ?? 'root' };
const PG_SCHEMA = 'bench_orders';
const MY_DATABASE = 'bench_orders';

/** The note column: commas, quotes, a newline, a tab and non-ASCII text, varying with the row. */
const NOTE_PARTS = ['plain', 'comma, separated', 'say "hi"', 'line one\nline two', 'tab\there', 'ünïcödé ✓ 😀', "it's"];

/** SQL creating and filling `orders` in PostgreSQL, entirely in the server. */
export function postgresOrders(n: number): string[] {
  const notes = `(ARRAY[${NOTE_PARTS.map((p) => `E'${p.replace(/\n/g, '\\n').replace(/\t/g, '\\t').replace(/'/g, "\\'")}'`).join(', ')}])`;
  return [
    `DROP SCHEMA IF EXISTS ${PG_SCHEMA} CASCADE`,
    `CREATE SCHEMA ${PG_SCHEMA}`,
    `CREATE TABLE ${PG_SCHEMA}.orders (
       id bigint PRIMARY KEY, customer_id int NOT NULL, amount numeric(12,2) NOT NULL, currency char(3) NOT NULL,
       status varchar(16) NOT NULL, note text, created_at timestamptz(6) NOT NULL, updated_at timestamptz(6) NOT NULL,
       is_paid boolean NOT NULL, attrs jsonb)`,
    `INSERT INTO ${PG_SCHEMA}.orders
       SELECT g, 1 + (g * 7919) % 50000, ((g * 104729) % 10000000) / 100.0, (ARRAY['EUR','USD','UAH','PLN'])[1 + g % 4],
              (ARRAY['new','paid','shipped','cancelled','refunded'])[1 + g % 5],
              CASE WHEN g % 11 = 0 THEN NULL ELSE ${notes}[1 + g % ${NOTE_PARTS.length}] || ' #' || g END,
              timestamptz '2024-01-01 00:00:00+00' + g * interval '31 seconds' + (g % 1000) * interval '1 microsecond',
              timestamptz '2024-01-01 00:00:00+00' + g * interval '31 seconds' + (g % 97) * interval '1 hour',
              g % 3 = 0,
              jsonb_build_object('sku', 'S' || (g % 1000), 'qty', 1 + g % 9, 'tags', jsonb_build_array('t' || (g % 7), jsonb_build_array(g % 3, 'x')))
         FROM generate_series(1::bigint, ${n}) g`,
    `CREATE INDEX ON ${PG_SCHEMA}.orders (updated_at)`,
    `ANALYZE ${PG_SCHEMA}.orders`,
  ];
}

const DIGITS = '(SELECT 0 d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)';

/** SQL creating and filling `orders` in MariaDB/MySQL, entirely in the server. */
export function mysqlOrders(n: number): string[] {
  const digits = Math.max(1, Math.ceil(Math.log10(n + 1)));
  const aliases = Array.from({ length: digits }, (_, i) => `d${i}`);
  const number = aliases.map((a, i) => `${a}.d * ${10 ** i}`).join(' + ');
  const notes = NOTE_PARTS.map((p) => `'${p.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\t/g, '\\t').replace(/'/g, "\\'")}'`).join(', ');
  return [
    `DROP DATABASE IF EXISTS ${MY_DATABASE}`,
    `CREATE DATABASE ${MY_DATABASE} CHARACTER SET utf8mb4`,
    `CREATE TABLE ${MY_DATABASE}.orders (
       id bigint PRIMARY KEY, customer_id int NOT NULL, amount decimal(12,2) NOT NULL, currency char(3) NOT NULL,
       status varchar(16) NOT NULL, note text, created_at datetime(6) NOT NULL, updated_at datetime(6) NOT NULL,
       is_paid tinyint(1) NOT NULL, attrs json, KEY (updated_at))`,
    `INSERT INTO ${MY_DATABASE}.orders
       SELECT n, 1 + (n * 7919) % 50000, ((n * 104729) % 10000000) / 100, ELT(1 + n % 4, 'EUR', 'USD', 'UAH', 'PLN'),
              ELT(1 + n % 5, 'new', 'paid', 'shipped', 'cancelled', 'refunded'),
              IF(n % 11 = 0, NULL, CONCAT(ELT(1 + n % ${NOTE_PARTS.length}, ${notes}), ' #', n)),
              TIMESTAMP('2024-01-01') + INTERVAL n * 31 SECOND + INTERVAL n % 1000 MICROSECOND,
              TIMESTAMP('2024-01-01') + INTERVAL n * 31 SECOND + INTERVAL n % 97 HOUR,
              n % 3 = 0,
              JSON_OBJECT('sku', CONCAT('S', n % 1000), 'qty', 1 + n % 9, 'tags', JSON_ARRAY(CONCAT('t', n % 7), JSON_ARRAY(n % 3, 'x')))
         FROM (SELECT ${number} + 1 AS n FROM ${aliases.map((a) => `${DIGITS} ${a}`).join(', ')}) s WHERE n <= ${n}`,
    `ANALYZE TABLE ${MY_DATABASE}.orders`,
  ];
}

async function prepare(target: 'postgres' | 'mysql'): Promise<void> {
  const started = performance.now();
  if (target === 'postgres') {
    const { default: pg } = await import('pg');
    const client = new pg.Client(PG);
    await client.connect();
    try {
      const existing = await client.query(`SELECT count(*)::int AS n FROM ${PG_SCHEMA}.orders`).catch(() => undefined);
      if (existing?.rows[0].n === rows) return;
      for (const sql of postgresOrders(rows)) await client.query(sql);
    } finally {
      await client.end();
    }
  } else {
    const mysql = await import('mysql2/promise');
    const connection = await mysql.createConnection(MY);
    try {
      const existing = await connection.query(`SELECT COUNT(*) AS n FROM ${MY_DATABASE}.orders`).catch(() => undefined);
      if (existing && Number((existing[0] as { n: number }[])[0].n) === rows) return;
      for (const sql of mysqlOrders(rows)) await connection.query(sql);
    } finally {
      await connection.end();
    }
  }
  console.log(`generated ${thousands(rows)} ${target} orders in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

function connectionYaml(target: 'postgres' | 'mysql'): string {
  return target === 'postgres'
    ? `{ type: postgres, host: ${PG.host}, port: ${PG.port}, user: ${PG.user}, database: ${PG.database} }`
    : `{ type: mysql, host: ${MY.host}, port: ${MY.port}, user: ${MY.user}, database: ${MY_DATABASE} }`;
}

async function runB2betl(target: 'postgres' | 'mysql', parallelism: number): Promise<Measured> {
  const dir = await mkdtemp(path.join(tmpdir(), 'b2betl-bench-'));
  try {
    const table = target === 'postgres' ? `${PG_SCHEMA}.orders` : 'orders';
    await writeFile(path.join(dir, 'etl.config.yaml'), `connections:\n  shop: ${connectionYaml(target)}\n`);
    await writeFile(
      path.join(dir, 'orders.yaml'),
      `name: orders\nsource: { connection: shop, table: ${table}, parallelism: ${parallelism} }\nload: { strategy: transactional, cursor: updated_at }\n`,
    );
    const result = await measure(process.execPath, [path.join(root, 'bin', 'b2betl.js'), 'run', 'orders.yaml'], { cwd: dir });
    if (result.code !== 0) throw new Error(`b2betl failed:\n${result.stderr}`);
    return result;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The source alone: plan and read every unit, counting rows, in a child process. */
async function runSource(target: 'postgres' | 'mysql'): Promise<Measured> {
  const dir = await mkdtemp(path.join(tmpdir(), 'b2betl-bench-'));
  try {
    const script = path.join(dir, 'read.mjs');
    const config = target === 'postgres' ? { type: 'postgres', ...PG } : { type: 'mysql', ...MY, database: MY_DATABASE };
    const table = target === 'postgres' ? `${PG_SCHEMA}.orders` : 'orders';
    await writeFile(
      script,
      `import { source } from ${JSON.stringify(path.join(root, 'dist', 'connectors', 'sources', target, 'index.js'))};
import { jobSchema } from ${JSON.stringify(path.join(root, 'dist', 'src', 'core', 'spec.js'))};
import { silentLogger } from ${JSON.stringify(path.join(root, 'dist', 'src', 'core', 'log.js'))};
const src = await source({ name: 'shop', config: ${JSON.stringify(config)}, baseDir: '.', log: silentLogger });
const job = jobSchema.parse({ name: 'orders', source: { connection: 'shop', table: ${JSON.stringify(table)} }, load: { strategy: 'transactional', cursor: 'updated_at' } });
const plan = await src.plan({ job, state: { files: new Map() }, fullRefresh: false, log: silentLogger });
let n = 0;
for (const unit of plan.units) for await (const batch of src.read(unit, { job, log: silentLogger, signal: new AbortController().signal })) n += batch.rows.length;
await src.close();
if (n !== ${rows}) { console.error('read ' + n + ' rows'); process.exit(1); }
`,
    );
    const result = await measure(process.execPath, [script]);
    if (result.code !== 0) throw new Error(`source read failed:\n${result.stderr}`);
    return result;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function runLimit(target: 'postgres' | 'mysql'): Promise<Measured> {
  const result =
    target === 'postgres'
      ? await measure('psql', ['-h', PG.host, '-p', String(PG.port), '-U', PG.user, '-d', PG.database, '-c', `COPY ${PG_SCHEMA}.orders TO STDOUT (FORMAT binary)`])
      : await measure('mariadb', ['-h', MY.host, '-P', String(MY.port), '-u', MY.user, MY_DATABASE, '-e', 'SELECT * FROM orders']);
  if (result.code !== 0) throw new Error(`raw export failed:\n${result.stderr}`);
  return result;
}

async function bench(target: 'postgres' | 'mysql'): Promise<void> {
  await prepare(target);
  const limit = await runLimit(target);
  const read = await runSource(target);
  const runs = [await runB2betl(target, 1), await runB2betl(target, 2)];
  const line = (name: string, m: Measured) =>
    `${name.padEnd(30)} ${(m.ms / 1000).toFixed(2).padStart(7)} s  ${thousands(rows / (m.ms / 1000)).padStart(11)} rows/s  ${(m.ms / limit.ms).toFixed(2).padStart(5)}x limit  peak RSS ${m.peakRssMb.toFixed(0).padStart(4)} MB`;
  console.log(`\n${target}: ${thousands(rows)} orders`);
  console.log(line(target === 'postgres' ? 'psql COPY binary (limit)' : 'mariadb -e SELECT (limit)', limit));
  console.log(line('source read() alone', read));
  console.log(line('b2betl run, parallelism 1', runs[0]));
  console.log(line('b2betl run, parallelism 2', runs[1]));
}

for (const target of targets.length ? targets : (['postgres', 'mysql'] as const)) await bench(target as 'postgres' | 'mysql');
