/**
 * `b2betl jobs list|pause|resume|rename|delete`, the real binary on a PostgreSQL table loaded
 * into DuckDB: a renamed job keeps its cursor (the next run loads only the new rows), its table
 * and its history; pause and resume keep the file's comments and reach Cloud Scheduler; delete
 * removes the file (and with --forget-state the ledger rows) but never the table.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { queryDuckDB, runCli, scratchProject } from '../support/cli.js';
import { PG, pgScratch, type PgScratch } from '../support/databases.js';
import { startSchedulerDouble, type SchedulerDouble } from '../support/scheduler-double.js';

type Project = Awaited<ReturnType<typeof scratchProject>>;

describe('b2betl jobs', () => {
  let pg: PgScratch;
  let project: Project;
  let scheduler: SchedulerDouble;
  const cli = (...args: string[]) => runCli(args, project.dir);

  before(async () => {
    pg = await pgScratch('jobs');
    await pg.sql('CREATE TABLE orders (id int PRIMARY KEY, updated_at timestamptz NOT NULL, total numeric(10,2))');
    await pg.sql("INSERT INTO orders SELECT n, timestamptz '2024-01-01 00:00:00+00' + n * interval '1 hour', n * 1.5 FROM generate_series(1, 5) n");
    scheduler = await startSchedulerDouble();
    project = await scratchProject({
      'etl.config.yaml': [
        '# the shop database',
        'connections:',
        `  shop: { type: postgres, host: ${PG.host}, port: ${PG.port}, user: ${PG.user}, database: ${PG.database} }`,
        'deploy:',
        '  project: my-proj',
        '  region: europe-central2',
        '  service_url: https://b2betl-abc123-lm.a.run.app',
        '  service_account: etl-scheduler@my-proj.iam.gserviceaccount.com',
        `  endpoint: ${scheduler.endpoint}`,
        '',
      ].join('\n'),
      'jobs/orders.yaml': [
        '# orders, hourly',
        'name: orders   # keep it short',
        'source:',
        `  connection: shop`,
        `  table: ${pg.schema}.orders`,
        'load:',
        '  strategy: transactional',
        '  cursor: updated_at   # grows on every change',
        'schedule:',
        '  cron: "0 * * * *"',
        '  timezone: Europe/Kyiv',
        '',
      ].join('\n'),
    });
  });

  after(async () => {
    await project?.cleanup();
    await pg?.drop();
    await scheduler?.stop();
  });

  it('lists a job that never ran, with its next fire time', async () => {
    const result = await cli('jobs', 'list', '--json');
    assert.equal(result.code, 0, result.stderr);
    const [row] = JSON.parse(result.stdout);
    assert.equal(row.name, 'orders');
    assert.equal(row.source, `shop:${pg.schema}.orders`);
    assert.equal(row.strategy, 'transactional');
    assert.equal(row.destination, 'warehouse.orders');
    assert.match(row.schedule, /^next \w{3} \d{4}-\d\d-\d\d \d\d:00 /);
    assert.equal(row.last_run, null);
  });

  it('loads, then lists the last run with its rows and duration', async () => {
    const run = await cli('run', 'jobs/orders.yaml');
    assert.equal(run.code, 0, run.stderr);
    const result = await cli('jobs', 'list', '--json');
    const [row] = JSON.parse(result.stdout);
    assert.equal(row.last_run.status, 'succeeded');
    assert.equal(row.last_run.rows, 5);
    assert.ok(row.last_run.duration_ms >= 0);
    const text = await cli('jobs', 'list');
    assert.match(text.stdout, /orders\s+shop:\S+\s+transactional\s+warehouse\.orders\s+next .*succeeded .*\s5\s/);
  });

  it('pauses and resumes through the file, keeping its comments, and tells Cloud Scheduler', async () => {
    assert.equal((await cli('schedule', 'apply')).code, 0);
    const paused = await cli('jobs', 'pause', 'orders');
    assert.equal(paused.code, 0, paused.stderr);
    const text = await readFile(path.join(project.dir, 'jobs/orders.yaml'), 'utf8');
    assert.match(text, /# orders, hourly\nname: orders {3}# keep it short\n/);
    assert.match(text, /cursor: updated_at {3}# grows on every change/);
    assert.match(text, /timezone: Europe\/Kyiv\n {2}paused: true\n/);
    assert.equal(scheduler.jobs().find((entry) => entry.name.endsWith('/b2betl-orders'))?.state, 'PAUSED');
    const listed = JSON.parse((await cli('jobs', 'list', '--json')).stdout)[0];
    assert.match(listed.schedule, /^paused \(0 \* \* \* \* Europe\/Kyiv\)$/);
    assert.equal((await cli('jobs', 'resume', 'orders')).code, 0);
    assert.match(await readFile(path.join(project.dir, 'jobs/orders.yaml'), 'utf8'), /paused: false\n/);
    assert.equal(scheduler.jobs().find((entry) => entry.name.endsWith('/b2betl-orders'))?.state, 'ENABLED');
  });

  it('renames file, name and ledger state together: the next run loads only the new rows, into the same table', async () => {
    const renamed = await cli('jobs', 'rename', 'orders', 'shop-orders', '--json');
    assert.equal(renamed.code, 0, renamed.stderr);
    const summary = JSON.parse(renamed.stdout);
    assert.deepEqual(summary.moved, { runs: 1, files: 0, cursors: 1, columns: 3 });
    assert.equal(summary.table, 'orders');
    assert.match(summary.note, /schedule apply --prune/);
    assert.ok(!existsSync(path.join(project.dir, 'jobs/orders.yaml')));
    const text = await readFile(path.join(project.dir, 'jobs/shop-orders.yaml'), 'utf8');
    assert.match(text, /^# orders, hourly\nname: shop-orders {3}# keep it short\n/);
    assert.match(text, /\ndestination:\n {2}table: orders\n$/);

    await pg.sql("INSERT INTO orders VALUES (6, '2024-02-01 00:00:00+00', 9), (7, '2024-02-02 00:00:00+00', 10.5)");
    const run = await cli('run', 'jobs/shop-orders.yaml', '--json');
    assert.equal(run.code, 0, run.stderr);
    assert.equal(JSON.parse(run.stdout)[0].rows_loaded, 2);
    const rows = await queryDuckDB(path.join(project.dir, 'warehouse.duckdb'), 'SELECT id::INT AS id FROM orders ORDER BY id');
    assert.deepEqual(rows.map((row) => row.id), [1, 2, 3, 4, 5, 6, 7]);
    const history = JSON.parse((await cli('history', 'shop-orders', '--json')).stdout);
    assert.equal(history.length, 2, 'the run before the rename moved with the job');
  });

  it('refuses a bad new name, a taken name, and an unknown job', async () => {
    const bad = await cli('jobs', 'rename', 'shop-orders', 'Shop Orders');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /not a job name.*\n.*lowercase letters, digits, _ and -/);
    await project.write('jobs/other.yaml', `name: other\nsource: { connection: shop, table: ${pg.schema}.orders }\nload: { strategy: catalog }\n`);
    const taken = await cli('jobs', 'rename', 'shop-orders', 'other');
    assert.equal(taken.code, 2);
    assert.match(taken.stderr, /a job named other already exists \(jobs\/other\.yaml\)/);
    const unknown = await cli('jobs', 'rename', 'nope', 'x');
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /no job named nope.*\n.*other, shop-orders/);
  });

  it('delete keeps the table; --forget-state also empties the ledger for the job', async () => {
    const noTty = await cli('jobs', 'delete', 'other');
    assert.equal(noTty.code, 2);
    assert.match(noTty.stderr, /needs --yes/);
    assert.ok(existsSync(path.join(project.dir, 'jobs/other.yaml')));
    const kept = await cli('jobs', 'delete', 'other', '--yes');
    assert.equal(kept.code, 0, kept.stderr);
    assert.ok(!existsSync(path.join(project.dir, 'jobs/other.yaml')));

    const forgot = await cli('jobs', 'delete', 'shop-orders', '--yes', '--forget-state', '--json');
    assert.equal(forgot.code, 0, forgot.stderr);
    assert.ok(JSON.parse(forgot.stdout).ledger_rows_removed >= 2 + 1 + 3);
    assert.equal(JSON.parse((await cli('history', 'shop-orders', '--json')).stdout).length, 0);
    const rows = await queryDuckDB(path.join(project.dir, 'warehouse.duckdb'), 'SELECT count(*)::INT AS n FROM orders');
    assert.equal(rows[0].n, 7, 'the destination table is never dropped');
  });
});
