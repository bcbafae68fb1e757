/**
 * End to end: the real `b2betl` binary choosing an engine for PostgreSQL jobs. `--dry-run` names
 * the engine and why (the estimate, where it comes from, against `dataflow.threshold_rows`);
 * a local destination always loads here, saying so when the estimate is large; `engine:
 * dataflow` where Dataflow cannot run is refused before anything starts, naming the key.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { runCli, scratchProject } from '../support/cli.js';
import { startBigQueryDouble, type BigQueryDouble } from '../support/bigquery-double/index.js';
import { MY, myScratch, pgScratch, PG, type MyScratch, type PgScratch } from '../support/databases.js';

type Project = Awaited<ReturnType<typeof scratchProject>>;
type Plan = { engine: { name: string; reason: string }; notes: string[]; estimated_rows: number | null };

let pg: PgScratch;
let my: MyScratch;
let bigquery: BigQueryDouble;
let project: Project;

const DATAFLOW = 'dataflow: { project: my-proj-123, region: europe-west1, temp_location: gs://tmp-bucket/b2betl }\n';

before(async () => {
  pg = await pgScratch('engine');
  await pg.sql('CREATE TABLE orders (id int PRIMARY KEY, updated_at timestamptz NOT NULL)');
  await pg.sql("INSERT INTO orders SELECT i, timestamptz '2024-01-01' + i * interval '1 hour' FROM generate_series(1, 12) AS i");
  await pg.sql('CREATE TABLE big (id int PRIMARY KEY, updated_at timestamptz NOT NULL)');
  await pg.sql("INSERT INTO big SELECT i, timestamptz '2024-01-01' + i * interval '1 hour' FROM generate_series(1, 12) AS i");
  // The catalog's statistics say ten million rows: what the planner then estimates for a read of it.
  await pg.sql(`UPDATE pg_class SET reltuples = 10000000, relpages = pg_relation_size(oid) / 8192 WHERE oid = '${pg.schema}.big'::regclass`);
  my = await myScratch('engine');
  await my.sql('CREATE TABLE big (id int PRIMARY KEY, updated_at datetime(6) NOT NULL) ENGINE=InnoDB STATS_PERSISTENT=1 STATS_AUTO_RECALC=0');
  await my.sql("INSERT INTO big VALUES (1, '2024-01-01 00:00:00'), (2, '2024-01-02 00:00:00')");
  await my.sql('ANALYZE TABLE big');
  // InnoDB's persistent statistics say ten million rows: TABLE_ROWS and EXPLAIN then say so too.
  await my.sql(`UPDATE mysql.innodb_table_stats SET n_rows = 10000000 WHERE database_name = '${my.database}' AND table_name = 'big'`);
  // Renamed away and back, the table is opened afresh and reads the statistics again.
  await my.sql('RENAME TABLE big TO big_stats, big_stats TO big');
  bigquery = await startBigQueryDouble({ project: 'my-proj-123' });
  const connections = [
    'connections:',
    `  db: { type: postgres, host: ${PG.host}, port: ${PG.port}, user: ${PG.user}, database: ${PG.database} }`,
    `  bq: { type: bigquery, project: my-proj-123, dataset: raw, endpoint: "${bigquery.endpoint}" }`,
    `  my: { type: mysql, host: ${MY.host}, port: ${MY.port}, user: ${MY.user}, database: ${my.database} }`,
    '',
  ].join('\n');
  const job = (name: string, table: string, extra = '') => `name: ${name}\nsource: { connection: db, table: ${pg.schema}.${table} }\nload: { cursor: updated_at }\n${extra}`;
  project = await scratchProject({
    'etl.config.yaml': connections + DATAFLOW,
    'jobs/small.yaml': job('small', 'orders', 'destination: { connection: bq }\n'),
    'jobs/pinned.yaml': job('pinned', 'big', 'destination: { connection: bq }\nengine: local\n'),
    'jobs/local-big.yaml': job('local_big', 'big'),
    'jobs/my-big.yaml': `name: my_big\nsource: { connection: my, table: big }\nload: { cursor: updated_at }\n`,
    'bare/etl.config.yaml': connections,
    'bare/jobs/big.yaml': job('big_bq', 'big', 'destination: { connection: bq }\n'),
    'close/etl.config.yaml': connections + DATAFLOW.replace(' }', ', threshold_rows: 6000000 }'),
    'close/jobs/big.yaml': job('close_call', 'big', 'destination: { connection: bq }\n'),
    'refused/etl.config.yaml': connections + DATAFLOW,
    'refused/jobs/into-duckdb.yaml': job('into_duckdb', 'orders', 'engine: dataflow\n'),
  });
});

after(async () => {
  await project?.cleanup();
  await bigquery?.stop();
  await pg?.drop();
  await my?.drop();
});

async function dryRun(job: string, cwd = project.dir): Promise<Plan> {
  const result = await runCli(['run', job, '--dry-run', '--json'], cwd);
  assert.equal(result.code, 0, result.stderr);
  return (JSON.parse(result.stdout) as { plan: Plan }[])[0].plan;
}

describe('engine choice for PostgreSQL jobs', () => {
  test('a statistic close to the threshold is counted before it decides', async () => {
    // The planner says ten million against a threshold of six: the window's 12 rows are counted.
    const plan = await dryRun('jobs/big.yaml', `${project.dir}/close`);
    assert.equal(plan.engine.name, 'local');
    assert.match(plan.engine.reason, /12 rows \(count\(\*\) of the window: the PostgreSQL planner's estimate \(EXPLAIN\) of the window, from pg_class\.reltuples put it at [\d,]{9,}, too close to the threshold to decide\).*under dataflow\.threshold_rows \(6,000,000\)/);
  });

  test('a small window into BigQuery streams; the dry run gives the count and the threshold', async () => {
    const plan = await dryRun('jobs/small.yaml');
    assert.equal(plan.engine.name, 'local');
    assert.match(plan.engine.reason, /12 rows \(count\(\*\) of the window; pg_class\.reltuples says the table is small\).*under dataflow\.threshold_rows \(1,000,000\)/);
    assert.match(plan.engine.reason, /rows stream through this machine$/);
    const text = await runCli(['run', 'jobs/small.yaml', '--dry-run'], project.dir);
    assert.match(text.stdout, /\n {2}engine: {6}local: .*12 rows \(count\(\*\) of the window/);
  });

  test('a large estimate into DuckDB loads locally, with a note naming the estimate and its source', async () => {
    const plan = await dryRun('jobs/local-big.yaml');
    assert.equal(plan.engine.name, 'local');
    assert.ok(plan.estimated_rows !== null && plan.estimated_rows >= 1_000_000, String(plan.estimated_rows));
    const note = plan.notes.find((n) => n.includes('is a local destination'));
    assert.match(
      note ?? plan.notes.join('\n'),
      /^the estimate, [\d,]+ rows \(the PostgreSQL planner's estimate \(EXPLAIN\) of the window, from pg_class\.reltuples\), reaches dataflow\.threshold_rows \(1,000,000\), but warehouse \(duckdb\) is a local destination: the run loads on this machine$/,
    );
  });

  test('a MySQL estimate names information_schema.TABLES.TABLE_ROWS', async () => {
    const plan = await dryRun('jobs/my-big.yaml');
    assert.equal(plan.engine.name, 'local');
    assert.ok(
      plan.notes.some((n) => /^the estimate, 10,000,000 rows \(the MySQL planner's estimate \(EXPLAIN\) of the window, from information_schema\.TABLES\.TABLE_ROWS\), reaches dataflow\.threshold_rows/.test(n)),
      plan.notes.join('\n'),
    );
  });

  test('engine: local keeps a large job on this machine, and says so', async () => {
    const plan = await dryRun('jobs/pinned.yaml');
    assert.deepEqual(plan.engine, { name: 'local', reason: 'engine: local: rows stream through this machine' });
  });

  test('a large job with no dataflow: block loads locally, with a note saying what would move it', async () => {
    const plan = await dryRun('jobs/big.yaml', `${project.dir}/bare`);
    assert.equal(plan.engine.name, 'local');
    assert.ok(plan.notes.some((n) => /reaches dataflow\.threshold_rows \(1,000,000\), but the config has no dataflow: block: the run loads on this machine/.test(n)), plan.notes.join('\n'));
  });

  test('engine: dataflow into DuckDB is refused before anything runs, at its line, with the fix', async () => {
    const result = await runCli(['run', 'jobs/into-duckdb.yaml', '--dry-run'], `${project.dir}/refused`);
    assert.equal(result.code, 2, result.stdout + result.stderr);
    assert.match(result.stderr, /into-duckdb\.yaml:4: engine: Dataflow loads into BigQuery, but destination warehouse is duckdb, which always loads on this machine/);
    assert.match(result.stderr, /set engine: auto or local, or point destination\.connection at a bigquery connection/);
  });
});
