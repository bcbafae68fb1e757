/**
 * End to end through the real `b2betl` binary: a scratch project whose `etl.config.yaml` has a
 * bigquery connection pointing at the local double (endpoint set, no credentials: a fixed
 * test token). CSV, JSON lines and Parquet files and a PostgreSQL table are loaded, re-run and
 * read back from the double value by value; BigQuery → BigQuery runs inside the double.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import { startBigQueryDouble, type BigQueryDouble } from '../support/bigquery-double/index.js';
import { runCli, scratchProject } from '../support/cli.js';
import { pgScratch, type PgScratch } from '../support/databases.js';

type Project = Awaited<ReturnType<typeof scratchProject>>;

describe('b2betl run into BigQuery (the double)', () => {
  let double: BigQueryDouble;
  let project: Project;
  let pg: PgScratch;

  const run = async (...args: string[]) => {
    const result = await runCli(['run', ...args, '--json'], project.dir, { B2BETL_RETRY_BASE_MS: '50' });
    assert.ok(result.stdout.trim().startsWith('['), `no JSON on stdout (exit ${result.code}):\n${result.stdout}\n${result.stderr}`);
    return { ...result, results: JSON.parse(result.stdout) as Record<string, unknown>[] };
  };
  const rows = (sql: string) => double.query(sql);

  before(async () => {
    double = await startBigQueryDouble({ project: 'e2e-proj', tableUpdateLimit: { operations: 100, windowMs: 1000 } });
    pg = await pgScratch('bqcli');
    project = await scratchProject({
      'etl.config.yaml': [
        'connections:',
        '  inbox: { type: local, path: ./inbox }',
        `  shop_pg: { type: postgres, host: 127.0.0.1, port: 5432, user: postgres, database: test }`,
        `  bq: { type: bigquery, project: e2e-proj, dataset: raw, location: EU, endpoint: "${double.endpoint}" }`,
        'defaults: { destination: bq }',
        '',
      ].join('\n'),
      'jobs/orders.yaml': 'name: orders\nsource: { connection: inbox, pattern: "orders_*.csv" }\nload: { strategy: transactional }\n',
      'jobs/events.yaml': 'name: events\nsource: { connection: inbox, pattern: "events/*.jsonl" }\nload: { strategy: transactional }\n',
      'jobs/metrics.yaml': 'name: metrics\nsource: { connection: inbox, pattern: "metrics/*.parquet" }\nload: { strategy: catalog }\n',
      'inbox/orders_1.csv': 'id,Customer Name,amount,created_at\n1,"Ann, Inc.",12345678901234.123456789,2024-01-01T10:00:00.123456Z\n2,Bob,-0.5,2024-01-02 11:00:00+02:00\n',
      'inbox/events/a.jsonl': '{"id": 9007199254740993, "kind": "click", "payload": {"x": 1, "y": [true, null]}, "at": "2024-03-01T00:00:00.000001Z"}\n{"id": 2, "kind": "view", "payload": null, "at": "2024-03-02T00:00:00Z"}\n',
    });
    await project.write('inbox/metrics/.keep', '');
    const duck = await (await DuckDBInstance.create(':memory:')).connect();
    const parquet = path.join(project.dir, 'inbox/metrics/m.parquet').replace(/'/g, "''");
    await duck.run(`COPY (SELECT range::BIGINT AS id, (range / 4)::DECIMAL(10,2) AS value, range % 2 = 0 AS even FROM range(10)) TO '${parquet}' (FORMAT PARQUET)`);
    duck.closeSync();
  });
  after(async () => {
    await project.cleanup();
    await pg.drop();
    await double.stop();
  });

  test('CSV files: sanitized names, exact decimals and timestamps, then a re-run loads nothing and a new file loads alone', async () => {
    let { code, results } = await run('jobs/orders.yaml');
    assert.equal(code, 0, JSON.stringify(results));
    assert.equal(results[0].status, 'succeeded');
    assert.equal(results[0].rows_loaded, 2);
    assert.deepEqual(await rows('SELECT * FROM `e2e-proj.raw.orders` ORDER BY id'), [
      { id: '1', Customer_Name: 'Ann, Inc.', amount: '12345678901234.123456789', created_at: '1704103200123456' },
      { id: '2', Customer_Name: 'Bob', amount: '-0.5', created_at: '1704186000000000' },
    ]);
    const table = await double.table('e2e-proj', 'raw', 'orders');
    assert.deepEqual(table?.labels, { b2betl_strategy: 'transactional' });
    ({ results } = await run('jobs/orders.yaml'));
    assert.equal(results[0].status, 'skipped');
    await project.write('inbox/orders_2.csv', 'id,Customer Name,amount,created_at,channel\n3,Cy,1,2024-01-03T00:00:00Z,web\n');
    ({ code, results } = await run('jobs/orders.yaml'));
    assert.equal(code, 0, JSON.stringify(results));
    assert.equal(results[0].rows_loaded, 1);
    assert.deepEqual(
      (await rows('SELECT id, channel FROM `e2e-proj.raw.orders` ORDER BY id')).map((r) => `${r.id}:${r.channel}`),
      ['1:null', '2:null', '3:web'],
    );
    const markers = await rows("SELECT run_id, rows FROM `e2e-proj.raw._b2betl_loads` WHERE job = 'orders' ORDER BY committed_at");
    assert.deepEqual(markers.map((m) => m.rows), ['2', '1']);
    const loads = double.jobs().filter((j) => j.configuration.load && String(j.configuration.load.destinationTable.tableId).startsWith('_b2betl_stage_orders'));
    assert.equal(loads.length, 2, 'one load job per run');
  });

  test('JSON lines: big integers exact, nested objects as JSON text', async () => {
    const { code, results } = await run('jobs/events.yaml');
    assert.equal(code, 0, JSON.stringify(results));
    assert.deepEqual(await rows('SELECT id, kind, payload, `at` FROM `e2e-proj.raw.events` ORDER BY kind'), [
      { id: '9007199254740993', kind: 'click', payload: '{"x":1,"y":[true,null]}', at: '1709251200000001' },
      { id: '2', kind: 'view', payload: null, at: '1709337600000000' },
    ]);
  });

  test('Parquet with catalog replaces the table when run, and skips files unchanged since the last snapshot', async () => {
    for (const [args, status, loaded] of [[[], 'succeeded', 10], [[], 'skipped', 0], [['--full-refresh'], 'succeeded', 10]] as const) {
      const { code, results } = await run('jobs/metrics.yaml', ...args);
      assert.equal(code, 0, JSON.stringify(results));
      assert.equal(results[0].status, status);
      assert.equal(results[0].rows_loaded, loaded);
    }
    assert.deepEqual(await rows('SELECT COUNT(*) AS n, SUM(CAST(even AS INT64)) AS evens, MAX(value) AS top FROM `e2e-proj.raw.metrics`'), [{ n: '10', evens: '5', top: '2.25' }]);
  });

  test('PostgreSQL table, incremental on updated_at, then a strategy change is refused', async () => {
    await pg.sql(`CREATE TABLE ${pg.schema}.customers (id bigint PRIMARY KEY, name text NOT NULL, balance numeric(20,6), tags text[], updated_at timestamptz NOT NULL)`);
    await pg.sql(`INSERT INTO ${pg.schema}.customers VALUES (1, 'ann', 1234567890.123456, '{a,b}', '2024-01-01 00:00:00.000001+00'), (2, 'bob', NULL, NULL, '2024-01-02 00:00:00+00')`);
    await project.write(
      'jobs/customers.yaml',
      `name: customers\nsource: { connection: shop_pg, table: ${pg.schema}.customers }\nload: { strategy: transactional, cursor: updated_at }\n`,
    );
    let { code, results } = await run('jobs/customers.yaml');
    assert.equal(code, 0, JSON.stringify(results));
    assert.equal(results[0].rows_loaded, 2);
    await pg.sql(`INSERT INTO ${pg.schema}.customers VALUES (3, 'cy', 0.5, '{}', '2024-01-03 00:00:00+00')`);
    ({ code, results } = await run('jobs/customers.yaml'));
    assert.equal(results[0].rows_loaded, 1);
    const got = await rows('SELECT id, name, balance, updated_at FROM `e2e-proj.raw.customers` ORDER BY id');
    assert.deepEqual(got, [
      { id: '1', name: 'ann', balance: '1234567890.123456', updated_at: '1704067200000001' },
      { id: '2', name: 'bob', balance: null, updated_at: '1704153600000000' },
      { id: '3', name: 'cy', balance: '0.5', updated_at: '1704240000000000' },
    ]);
    await project.write('jobs/customers.yaml', `name: customers\nsource: { connection: shop_pg, table: ${pg.schema}.customers }\nload: { strategy: catalog }\n`);
    ({ code, results } = await run('jobs/customers.yaml'));
    assert.notEqual(code, 0);
    assert.match(String(results[0].error), /loaded with strategy transactional; job customers uses catalog/);
  });

  test('a table made elsewhere with REQUIRED columns the files lack: refused naming the fix, then filled with type defaults under load.fill_required_defaults', async () => {
    await double.createDataset('e2e-proj', 'raw', 'EU').catch((error: { status?: number }) => {
      if (error.status !== 409) throw error;
    });
    await double.query('CREATE TABLE `e2e-proj.raw.required` (id INT64, must STRING NOT NULL, n INT64 NOT NULL, `at` TIMESTAMP NOT NULL)');
    await project.write('inbox/required/a.csv', 'id\n1\n');
    await project.write('inbox/required/b.csv', 'id,must\n2,yes\n');
    const job = (load: string) => project.write('jobs/required.yaml', `name: required\nsource: { connection: inbox, pattern: "required/*.csv" }\nload: { ${load} }\n`);
    await job('strategy: transactional');
    let { code, results } = await run('jobs/required.yaml');
    assert.notEqual(code, 0);
    assert.match(String(results[0].error), /n, at are REQUIRED in the destination but the source has no such column/);
    assert.match(String(results[0].error), /fill_required_defaults/);
    assert.deepEqual(await rows('SELECT COUNT(*) AS n FROM `e2e-proj.raw.required`'), [{ n: '0' }]);
    await job('strategy: transactional, fill_required_defaults: true');
    ({ code, results } = await run('jobs/required.yaml'));
    assert.equal(code, 0, JSON.stringify(results));
    assert.equal(results[0].rows_loaded, 2);
    assert.deepEqual(await rows('SELECT id, must, n, `at` FROM `e2e-proj.raw.required` ORDER BY id'), [
      { id: '1', must: '', n: '0', at: '0' },
      { id: '2', must: 'yes', n: '0', at: '0' },
    ]);
  });

  test('an empty snapshot into a table made elsewhere with REQUIRED columns empties it; rows lacking them are refused', async () => {
    await double.createDataset('e2e-proj', 'raw', 'EU').catch((error: { status?: number }) => {
      if (error.status !== 409) throw error;
    });
    await double.query('CREATE TABLE `e2e-proj.raw.required_snap` (id INT64, must STRING NOT NULL)');
    await project.write('jobs/required_snap.yaml', 'name: required_snap\nsource: { connection: inbox, pattern: "required_snap/*.csv" }\nload: { strategy: catalog }\n');
    const snapshot = async (content: string) => {
      await project.write('inbox/required_snap/a.csv', content);
      return (await run('jobs/required_snap.yaml')).results[0];
    };
    const loaded = async () => (await rows('SELECT id, must FROM `e2e-proj.raw.required_snap` ORDER BY id')).map((r) => `${r.id}:${r.must}`);
    for (const empty of ['', 'id\n']) {
      assert.equal((await snapshot('id,must\n1,a\n')).status, 'succeeded');
      assert.deepEqual(await loaded(), ['1:a']);
      const result = await snapshot(empty);
      assert.equal(result.status, 'succeeded', `${JSON.stringify(empty)}: ${result.error}`);
      assert.equal(result.rows_loaded, 0);
      assert.deepEqual(await loaded(), [], JSON.stringify(empty));
    }
    const markers = await rows("SELECT rows FROM `e2e-proj.raw._b2betl_loads` WHERE job = 'required_snap' ORDER BY committed_at");
    assert.deepEqual(markers.map((m) => m.rows), ['1', '0', '1', '0']);
    const refused = await snapshot('id\n2\n');
    assert.equal(refused.status, 'failed');
    assert.match(String(refused.error), /must is REQUIRED in the destination but the source has no such column/);
  });

  test('BigQuery → BigQuery runs as a query job inside BigQuery, shown by --dry-run', async () => {
    // A table of this test's own to copy from, loaded first.
    await project.write('inbox/copied_1.csv', 'id,amount\n1,12345678901234.123456789\n2,-0.5\n3,1\n');
    await project.write('jobs/copied.yaml', 'name: copied\nsource: { connection: inbox, pattern: "copied_*.csv" }\nload: { strategy: transactional }\n');
    assert.equal((await run('jobs/copied.yaml')).code, 0);
    await project.write('jobs/copy.yaml', 'name: copy\nsource: { connection: bq, table: raw.copied, columns: [id, amount] }\nload: { strategy: catalog }\ndestination: { table: orders_copy }\n');
    const dry = await runCli(['run', 'jobs/copy.yaml', '--dry-run', '--json'], project.dir);
    const plan = (JSON.parse(dry.stdout) as { plan: { path: string; notes: string[]; engine: { name: string; reason: string } } }[])[0].plan;
    assert.equal(plan.path, 'direct');
    assert.equal(plan.engine.name, 'bigquery-query');
    assert.match(plan.engine.reason, /both BigQuery/);
    assert.ok(plan.notes.some((note) => /one query script/.test(note)), plan.notes.join('\n'));
    const before = double.jobs().length;
    const { code, results } = await run('jobs/copy.yaml');
    assert.equal(code, 0, JSON.stringify(results));
    assert.equal(results[0].rows_loaded, 3);
    assert.deepEqual(await rows('SELECT id, amount FROM `e2e-proj.raw.orders_copy` ORDER BY id'), [
      { id: '1', amount: '12345678901234.123456789' },
      { id: '2', amount: '-0.5' },
      { id: '3', amount: '1' },
    ]);
    assert.equal(double.jobs().slice(before).filter((j) => j.configuration.load).length, 0);

    // engine: local streams the same copy through this machine: one load job, the same rows.
    await project.write('jobs/copy-local.yaml', 'name: copy_local\nsource: { connection: bq, table: raw.copied, columns: [id, amount] }\nload: { strategy: catalog }\nengine: local\n');
    const local = (JSON.parse((await runCli(['run', 'jobs/copy-local.yaml', '--dry-run', '--json'], project.dir)).stdout) as { plan: { path: string; engine: unknown } }[])[0].plan;
    assert.equal(local.path, 'stream');
    assert.deepEqual(local.engine, { name: 'local', reason: 'engine: local: rows stream through this machine' });
    const streamed = double.jobs().length;
    assert.equal((await run('jobs/copy-local.yaml')).code, 0);
    assert.equal(double.jobs().slice(streamed).filter((j) => j.configuration.load).length, 1);
    assert.deepEqual(await rows('SELECT id, amount FROM `e2e-proj.raw.copy_local` ORDER BY id'), await rows('SELECT id, amount FROM `e2e-proj.raw.orders_copy` ORDER BY id'));
  });

  test('a query-job copy killed after its commit is recorded by the next run with the rows its commit counted', async () => {
    await project.write('inbox/counted_1.csv', 'id\n1\n2\n3\n4\n');
    await project.write('jobs/counted.yaml', 'name: counted\nsource: { connection: inbox, pattern: "counted_*.csv" }\nload: { strategy: transactional }\n');
    assert.equal((await run('jobs/counted.yaml')).code, 0);
    await project.write('jobs/recount.yaml', 'name: recount\nsource: { connection: bq, table: raw.counted }\nload: { strategy: catalog }\n');
    const killed = await runCli(['run', 'jobs/recount.yaml', '--json'], project.dir, { B2BETL_FAULT: 'after-commit' });
    assert.match(killed.stderr, /fault point after-commit hit/);
    const history = async () => JSON.parse((await runCli(['history', 'recount', '--json'], project.dir)).stdout) as Record<string, unknown>[];
    const [crashed] = await history();
    assert.equal(crashed!.status, 'committing');

    const next = await run('jobs/recount.yaml');
    assert.equal(next.code, 0, next.stderr);
    assert.match(next.stderr, new RegExp(`run ${crashed!.id} was interrupted after its commit`));
    const recorded = (await history()).find((record) => record.id === crashed!.id)!;
    assert.equal(recorded.status, 'succeeded');
    assert.equal(recorded.rows_loaded, 4, 'the rows the killed run committed, as its marker counted them');
    assert.equal(next.results[0].rows_loaded, 4);
    assert.deepEqual(await rows('SELECT COUNT(*) AS n FROM `e2e-proj.raw.recount`'), [{ n: '4' }]);
  });
});
