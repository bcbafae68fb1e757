/**
 * Through the real binary: a PostgreSQL and a MySQL table loaded into BigQuery by Dataflow (the
 * Dataflow double runs Google's JDBC template on the local databases and writes into the
 * BigQuery double) and by a local run of the same job into the same double give the same rows,
 * types, cursor and marker state, on a table with ties at the high-water mark and NULL cursor
 * values, over two runs; so do tables with no integer key, read in partitions of their
 * timestamp cursor, rows on the partitions' bounds included. A run is `running` while its
 * Dataflow job runs. A run killed while its Dataflow job runs is followed by a run that
 * waits for that job: one job launched in all, rows loaded once. --dry-run shows the exact
 * launch request with the credentials as Secret Manager references, and the partitioning.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { runCli, scratchProject, startCli } from '../support/cli.js';
import { startDataflowClouds, type DataflowClouds, type DataflowDouble } from '../support/dataflow-double.js';
import { myScratch, pgScratch, type MyScratch, type PgScratch } from '../support/databases.js';
import { KEY, startPty } from '../support/pty.js';

type Project = Awaited<ReturnType<typeof scratchProject>>;

const PROJECT = 'etl-proj';
const SECRETS = {
  'projects/etl-proj/secrets/pg-user/versions/1': 'postgres',
  'projects/etl-proj/secrets/pg-password/versions/1': 'not-checked-by-trust-auth',
  'projects/etl-proj/secrets/my-user/versions/1': 'root',
};

describe('Dataflow runs through the binary', () => {
  let clouds: DataflowClouds;
  let bigquery: DataflowClouds['bigquery'];
  let dataflow: DataflowDouble;
  let pg: PgScratch;
  let my: MyScratch;
  let project: Project;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    clouds = await startDataflowClouds(PROJECT, SECRETS);
    ({ bigquery, dataflow } = clouds);
    pg = await pgScratch('dfe2e');
    await pg.sql(`CREATE TABLE orders (id bigint PRIMARY KEY, name text, amount numeric(12,2), updated timestamptz, tags text[], raw bytea, paid boolean, day date, local timestamp)`);
    my = await myScratch('dfe2e');
    await my.sql(`CREATE TABLE orders (id BIGINT PRIMARY KEY, name VARCHAR(40), amount DECIMAL(12,2), updated DATETIME(6), paid TINYINT(1), day DATE, raw VARBINARY(16), stamp TIMESTAMP(6) NULL)`);
    // No integer key: a read in partitions splits on the timestamp cursor.
    await pg.sql(`CREATE TABLE events (code text PRIMARY KEY, happened timestamptz, note text)`);
    await my.sql(`CREATE TABLE events (code VARCHAR(8) PRIMARY KEY, stamp TIMESTAMP(6) NULL, happened DATETIME(6), note VARCHAR(40))`);
    const job = (name: string, engine: string, source: string, table = 'orders', cursor = 'updated') =>
      `name: ${name}\nengine: ${engine}\nsource: { connection: ${source}, table: ${table}, parallelism: 3 }\nload: { strategy: transactional, cursor: ${cursor} }\n`;
    project = await scratchProject({
      'etl.config.yaml': [
        'connections:',
        `  shop: { type: postgres, host: 127.0.0.1, port: 5432, database: test, user: "secret://projects/etl-proj/secrets/pg-user/versions/1", password: "secret://projects/etl-proj/secrets/pg-password/versions/1" }`,
        `  plain: { type: postgres, host: 127.0.0.1, port: 5432, database: test, user: postgres, password: hunter2-plain }`,
        `  store: { type: mysql, host: 127.0.0.1, port: 3306, database: ${my.database}, user: "secret://projects/etl-proj/secrets/my-user/versions/1" }`,
        `  bq: { type: bigquery, project: ${PROJECT}, dataset: raw, endpoint: "${bigquery.endpoint}" }`,
        'defaults: { destination: bq }',
        'dataflow: { project: etl-proj, region: europe-west1, temp_location: "gs://etl-temp/b2betl", threshold_rows: 5, max_workers: 4, service_account: etl-runner@etl-proj.iam.gserviceaccount.com }',
        '',
      ].join('\n'),
      'jobs/pg_dataflow.yaml': job('pg_dataflow', 'dataflow', 'shop').replace('table: orders', `table: ${pg.schema}.orders`),
      'jobs/pg_local.yaml': job('pg_local', 'local', 'shop').replace('table: orders', `table: ${pg.schema}.orders`),
      'jobs/pg_auto.yaml': job('pg_auto', 'auto', 'shop').replace('table: orders', `table: ${pg.schema}.orders`),
      'jobs/pg_catalog_dataflow.yaml': `name: pg_catalog_dataflow\nengine: dataflow\nsource: { connection: shop, table: ${pg.schema}.orders, columns: [id, name, updated] }\nload: { strategy: catalog }\n`,
      'jobs/pg_catalog_local.yaml': `name: pg_catalog_local\nengine: local\nsource: { connection: shop, table: ${pg.schema}.orders, columns: [id, name, updated] }\nload: { strategy: catalog }\n`,
      'jobs/pg_plain.yaml': job('pg_plain', 'dataflow', 'plain').replace('table: orders', `table: ${pg.schema}.orders`),
      'jobs/my_dataflow.yaml': job('my_dataflow', 'dataflow', 'store'),
      'jobs/my_local.yaml': job('my_local', 'local', 'store'),
      'jobs/pg_events_dataflow.yaml': job('pg_events_dataflow', 'dataflow', 'shop', `${pg.schema}.events`, 'happened'),
      'jobs/pg_events_local.yaml': job('pg_events_local', 'local', 'shop', `${pg.schema}.events`, 'happened'),
      'jobs/my_stamp_dataflow.yaml': job('my_stamp_dataflow', 'dataflow', 'store', 'events', 'stamp'),
      'jobs/my_stamp_local.yaml': job('my_stamp_local', 'local', 'store', 'events', 'stamp'),
      'jobs/my_wall_dataflow.yaml': job('my_wall_dataflow', 'dataflow', 'store', 'events', 'happened'),
      'jobs/my_wall_local.yaml': job('my_wall_local', 'local', 'store', 'events', 'happened'),
    });
    env = clouds.env;
  });
  after(async () => {
    await project?.cleanup();
    await clouds?.stop();
    await pg?.drop();
    await my?.drop();
  });

  async function run(job: string, ...flags: string[]) {
    const result = await runCli(['run', `jobs/${job}.yaml`, '--json', ...flags], project.dir, env);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    return (JSON.parse(result.stdout) as { run_id: string; status: string; rows_loaded: number; plan?: { engine: { name: string; reason: string; details?: Record<string, unknown> } } }[])[0];
  }

  /** The table's rows by `order`; none while the table does not exist yet. */
  const all = async (table: string, order = 'id') => ((await bigquery.table(PROJECT, 'raw', table)) ? bigquery.query(`SELECT * FROM \`${PROJECT}.raw.${table}\` ORDER BY ${order}`) : []);
  /** The job's latest run as `b2betl history --json` lists it. */
  async function latest(job: string) {
    const listed = await runCli(['history', job, '--json', '--limit', '1'], project.dir, env);
    assert.equal(listed.code, 0, listed.stderr);
    return (JSON.parse(listed.stdout) as { id: string; status: string; rows_loaded: number; error: string | null }[])[0];
  }

  async function schema(table: string) {
    const resource = (await bigquery.table(PROJECT, 'raw', table)) as { schema: { fields: { name: string; type: string }[] } };
    return resource.schema.fields.map((f) => `${f.name} ${f.type}`);
  }
  async function lastState(table: string) {
    const [marker] = await bigquery.query(`SELECT state FROM \`${PROJECT}.raw._b2betl_loads\` WHERE table_name = '${table}' ORDER BY committed_at DESC LIMIT 1`);
    return JSON.parse(String(marker.state)) as { cursor: unknown; columns: unknown; connection: string };
  }
  async function same(dataflowTable: string, localTable: string, order = 'id') {
    assert.deepEqual(await all(dataflowTable, order), await all(localTable, order));
    assert.deepEqual(await schema(dataflowTable), await schema(localTable));
    const [a, b] = [await lastState(dataflowTable), await lastState(localTable)];
    assert.deepEqual([a.cursor, a.columns], [b.cursor, b.columns]);
  }

  test('PostgreSQL → BigQuery by Dataflow equals a local run: rows, types, cursor and marker, over two runs with ties at H and NULL cursors', async () => {
    await pg.sql(`INSERT INTO orders VALUES
      (1, 'a', 10.50, '2024-01-01 10:00:00.123456+00', '{a,"b c"}', '\\x00ff10', true, '2024-01-01', '2024-01-01 10:00:00'),
      (2, 'b', NULL, '2024-01-02 10:00:00+00', NULL, NULL, false, NULL, NULL),
      (3, NULL, 0.01, NULL, '{}', '\\x', NULL, '2023-12-31', NULL),
      (4, 'tie', 1, '2024-01-03 00:00:00+00', '{NULL}', NULL, true, NULL, NULL),
      (5, 'tie', 2, '2024-01-03 00:00:00+00', NULL, NULL, true, NULL, NULL),
      (6, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`);
    const first = await run('pg_dataflow');
    assert.deepEqual([first.status, first.rows_loaded], ['succeeded', 6]);
    assert.equal((await run('pg_local')).rows_loaded, 6);
    await same('pg_dataflow', 'pg_local');
    assert.equal(dataflow.jobs().length, 1);
    assert.match(dataflow.jobs()[0].launch.parameters.table ?? '', /^\(SELECT .* AS b2betl_window$/s, 'the read is partitioned');

    // New rows: one more at the old high-water mark, later ones, a NULL cursor (never read again).
    await pg.sql(`INSERT INTO orders VALUES
      (7, 'late tie', 3, '2024-01-03 00:00:00+00', NULL, NULL, false, NULL, NULL),
      (8, 'c', 4, '2024-02-01 00:00:00+00', '{x}', '\\x01', true, '2024-02-01', '2024-02-01 00:00:00.5'),
      (9, 'c', 5, '2024-02-01 00:00:00+00', NULL, NULL, NULL, NULL, NULL),
      (10, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`);
    const second = await run('pg_dataflow');
    assert.deepEqual([second.status, second.rows_loaded], ['succeeded', 3]);
    assert.equal((await run('pg_local')).rows_loaded, 3);
    await same('pg_dataflow', 'pg_local');
    assert.equal(dataflow.jobs().length, 2);
    assert.deepEqual((await all('pg_dataflow')).map((row) => Number(row.id)), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  test('MySQL → BigQuery by Dataflow equals a local run into the same double', async () => {
    await my.sql(`INSERT INTO orders VALUES
      (1, 'a', 10.50, '2024-01-01 10:00:00.123456', 1, '2024-01-01', x'00ff', '2024-01-01 10:00:00.5'),
      (2, 'b', NULL, '2024-01-02 10:00:00', 0, NULL, NULL, NULL),
      (3, NULL, 0.01, NULL, NULL, '2023-12-31', x'', NULL),
      (4, 'tie', 1, '2024-01-03 00:00:00', 1, NULL, NULL, NULL),
      (5, 'tie', 2, '2024-01-03 00:00:00', 1, NULL, NULL, NULL)`);
    const jobs = dataflow.jobs().length;
    assert.equal((await run('my_dataflow')).rows_loaded, 5);
    assert.equal((await run('my_local')).rows_loaded, 5);
    await same('my_dataflow', 'my_local');
    await my.sql(`INSERT INTO orders VALUES (6, 'late tie', 3, '2024-01-03 00:00:00', 0, NULL, NULL, NULL), (7, 'c', 4, '2024-02-01 00:00:00', NULL, NULL, NULL, NULL)`);
    assert.equal((await run('my_dataflow')).rows_loaded, 2);
    assert.equal((await run('my_local')).rows_loaded, 2);
    await same('my_dataflow', 'my_local');
    assert.equal(dataflow.jobs().length, jobs + 2);
    assert.equal(dataflow.jobs().at(-1)!.launch.template.name, 'MySQL_to_BigQuery');
  });

  test('tables with no integer key split on their timestamp cursor, PostgreSQL and MariaDB, and equal a local run: rows on the bounds, ties at H and NULL cursors, over two runs', async () => {
    // Three partitions of an hour from 00:00 to 03:00: rows on both inner bounds and a microsecond off them.
    const first = [
      ['a', '2024-01-01 00:00:00'], ['b', '2024-01-01 00:59:59.999999'], ['c', '2024-01-01 01:00:00'], ['d', '2024-01-01 01:00:00.000001'],
      ['e', '2024-01-01 02:00:00'], ['f', '2024-01-01 03:00:00'], ['g', '2024-01-01 03:00:00'], ['h', null], ['i', null],
    ];
    // A late tie at the old high-water mark, a new one with microseconds past its millisecond bound, and a NULL no run reads again.
    const second = [['j', '2024-01-01 03:00:00'], ['k', '2024-01-01 12:00:00.5'], ['l', '2024-01-02 00:00:00.999999'], ['m', '2024-01-02 00:00:00.999999'], ['n', null]];
    const insert = async (rows: (string | null)[][]) => {
      await pg.sql(`INSERT INTO events VALUES ${rows.map(([code, at]) => `('${code}', ${at ? `'${at}Z'` : 'NULL'}, 'note ${code}')`).join(', ')}`);
      await my.sql(`INSERT INTO events VALUES ${rows.map(([code, at]) => `('${code}', ${at ? `'${at}'` : 'NULL'}, ${at ? `'${at}'` : 'NULL'}, 'note ${code}')`).join(', ')}`);
    };
    const pairs = [['pg_events', 'happened'], ['my_stamp', 'stamp'], ['my_wall', 'happened']];
    await insert(first);
    for (const [name, cursor] of [['pg_events', 'happened'], ['my_wall', 'happened']]) {
      const plan = (await run(`${name}_dataflow`, '--dry-run')).plan!;
      assert.deepEqual(plan.engine.details!.partitioning, { column: cursor, type: 'datetime', partitions: 3, lowerBound: '2024-01-01 00:00:00.000+00:00', upperBound: '2024-01-01 03:00:00.000+00:00' });
      const parameters = (plan.engine.details!.launch as { launchParameter: { parameters: Record<string, string> } }).launchParameter.parameters;
      assert.deepEqual([parameters.partitionColumn, parameters.partitionColumnType, parameters.numPartitions], ['_b2betl_split', 'datetime', '3']);
    }
    for (const [rows, loaded] of [[first, 9], [second, 4]] as const) {
      if (rows === second) await insert(second);
      for (const [name] of pairs) {
        const jobs = dataflow.jobs().length;
        assert.deepEqual([(await run(`${name}_dataflow`)).rows_loaded, (await run(`${name}_local`)).rows_loaded], [loaded, loaded], name);
        const launched = dataflow.jobs().slice(jobs);
        assert.deepEqual(launched.map((job) => [job.launch.parameters.partitionColumnType, job.launch.parameters.numPartitions]), [['datetime', '3']], `${name}: one job, read in 3 partitions`);
        await same(`${name}_dataflow`, `${name}_local`, 'code');
      }
    }
    assert.deepEqual((await all('pg_events_dataflow', 'code')).map((row) => row.code), [...'abcdefghijklm']);
    assert.deepEqual((await all('my_stamp_dataflow', 'code')).map((row) => row.code), [...'abcdefghijklm']);
  });

  test('--dry-run shows the engine, why, and the exact launch request with the credentials as references; nothing is launched', async () => {
    // At least dataflow.threshold_rows (5) rows in pg_auto's window, run alone or after the others.
    await pg.sql(`INSERT INTO orders SELECT g, 'd', 1, timestamptz '2024-03-01Z' + g * interval '1 minute', NULL, NULL, NULL, NULL, NULL FROM generate_series(20, 24) g ON CONFLICT DO NOTHING`);
    const jobs = dataflow.jobs().length;
    const plan = (await run('pg_auto', '--dry-run')).plan!;
    assert.equal(plan.engine.name, 'dataflow');
    assert.match(plan.engine.reason, /reaches dataflow\.threshold_rows \(5\)/);
    const launch = plan.engine.details!.launch as { launchParameter: { containerSpecGcsPath: string; parameters: Record<string, string>; environment: Record<string, unknown> } };
    assert.equal(launch.launchParameter.containerSpecGcsPath, 'gs://dataflow-templates-europe-west1/latest/flex/PostgreSQL_to_BigQuery');
    assert.equal(launch.launchParameter.parameters.username, 'projects/etl-proj/secrets/pg-user/versions/1');
    assert.equal(launch.launchParameter.parameters.password, 'projects/etl-proj/secrets/pg-password/versions/1');
    assert.equal(launch.launchParameter.environment.serviceAccountEmail, 'etl-runner@etl-proj.iam.gserviceaccount.com');
    assert.ok(plan.engine.details!.partitioning);
    assert.ok(plan.engine.details!.staging);
    const text = await runCli(['run', 'jobs/pg_auto.yaml', '--dry-run'], project.dir, env);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /dataflow/);
    assert.doesNotMatch(text.stdout + text.stderr + JSON.stringify(plan), /not-checked-by-trust-auth/);
    assert.equal(dataflow.jobs().length, jobs, 'a dry run launches nothing');
  });

  test('kill -9 while the Dataflow job runs, then a re-run: one Dataflow job launched in all, rows loaded once', async () => {
    await pg.sql(`INSERT INTO orders VALUES (12, 'e', 1, '2024-04-01 00:00:00+00', NULL, NULL, NULL, NULL, NULL), (13, 'f', 2, '2024-04-02 00:00:00+00', NULL, NULL, NULL, NULL, NULL)`);
    const jobs = dataflow.jobs().length;
    const before = (await all('pg_dataflow')).length;
    const hold = dataflow.hold();
    const killed = startCli(['run', 'jobs/pg_dataflow.yaml', '--json'], project.dir, env);
    await hold.running;
    killed.child.kill('SIGKILL');
    await killed.done;
    assert.equal(dataflow.jobs().length, jobs + 1);
    const rerun = startCli(['run', 'jobs/pg_dataflow.yaml', '--json'], project.dir, env);
    // The re-run finds the job still at work and waits for it; then the job ends.
    await new Promise<void>((resolve) => {
      let seen = '';
      rerun.child.stderr!.on('data', (chunk: Buffer) => {
        seen += chunk.toString();
        if (/waiting for it instead of launching another/.test(seen)) resolve();
      });
      rerun.child.on('close', () => resolve());
    });
    hold.release();
    const result = await rerun.done;
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stderr, /waiting for it instead of launching another/);
    const [summary] = JSON.parse(result.stdout) as { status: string; rows_loaded: number }[];
    assert.equal(dataflow.jobs().length, jobs + 1, 'one Dataflow job launched in all');
    const ids = (await all('pg_dataflow')).map((row) => Number(row.id));
    assert.deepEqual([summary.status, summary.rows_loaded], ['succeeded', ids.length - before]);
    assert.ok(ids.includes(12) && ids.includes(13));
    assert.equal(new Set(ids).size, ids.length, 'rows loaded once');
  });

  /** A re-run commits what the finished job of the run before loaded: one row more, once, and no job launched since `jobs`. */
  async function rerunCommitsFinishedJob(jobs: number, before: number) {
    const result = await runCli(['run', 'jobs/pg_dataflow.yaml', '--json'], project.dir, env);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stderr, /committing what it loaded instead of launching another/);
    const [summary] = JSON.parse(result.stdout) as { status: string; rows_loaded: number }[];
    assert.deepEqual([summary.status, summary.rows_loaded], ['succeeded', 1]);
    assert.equal(dataflow.jobs().length, jobs + 1, 'one Dataflow job launched in all');
    const ids = (await all('pg_dataflow')).map((row) => Number(row.id));
    assert.deepEqual([ids.length, new Set(ids).size], [before + 1, before + 1]);
  }

  test('kill -9 while the Dataflow job runs, the job ends, then a re-run commits what it loaded: one job, rows once', async () => {
    await pg.sql(`INSERT INTO orders VALUES (14, 'g', 1, '2024-05-01 00:00:00+00', NULL, NULL, NULL, NULL, NULL)`);
    const jobs = dataflow.jobs().length;
    const before = (await all('pg_dataflow')).length;
    const hold = dataflow.hold();
    const killed = startCli(['run', 'jobs/pg_dataflow.yaml', '--json'], project.dir, env);
    const job = await hold.running;
    killed.child.kill('SIGKILL');
    await killed.done;
    hold.release();
    while (job.currentState !== 'JOB_STATE_DONE') await new Promise((resolve) => setTimeout(resolve, 50));
    await rerunCommitsFinishedJob(jobs, before);
  });

  test('a commit that fails after the Dataflow job finished keeps its work: the next run commits it without launching again', async () => {
    await pg.sql(`INSERT INTO orders VALUES (30, 'h', 1, '2024-05-02 00:00:00+00', NULL, NULL, NULL, NULL, NULL)`);
    const jobs = dataflow.jobs().length;
    const before = (await all('pg_dataflow')).length;
    bigquery.failNextJob('b2betl_pg_dataflow_', 'invalidQuery', 'the commit is refused once, on purpose');
    const failed = await runCli(['run', 'jobs/pg_dataflow.yaml', '--json'], project.dir, env);
    assert.equal(failed.code, 1, failed.stdout + failed.stderr);
    assert.match(failed.stdout, /the commit is refused once, on purpose/);
    assert.equal(dataflow.jobs().length, jobs + 1);
    assert.equal((await all('pg_dataflow')).length, before, 'nothing committed');

    await rerunCommitsFinishedJob(jobs, before);
  });

  test('Ctrl-C with --cancel-on-interrupt cancels the Dataflow job and commits nothing; without it the job goes on for the next run', async () => {
    await pg.sql(`INSERT INTO orders VALUES (15, 'h', 1, '2024-06-01 00:00:00+00', NULL, NULL, NULL, NULL, NULL)`);
    const before = (await all('pg_dataflow')).length;
    let hold = dataflow.hold();
    const cancelled = startCli(['run', 'jobs/pg_dataflow.yaml', '--json', '--cancel-on-interrupt'], project.dir, env);
    const job = await hold.running;
    cancelled.child.kill('SIGINT');
    const stopped = await cancelled.done;
    hold.release();
    assert.equal(stopped.code, 130, stopped.stdout + stopped.stderr);
    assert.equal(job.currentState, 'JOB_STATE_CANCELLED');
    const [cancelledRun] = JSON.parse(stopped.stdout) as { run_id: string; status: string; error: string }[];
    assert.equal(cancelledRun.status, 'interrupted', stopped.stdout + stopped.stderr);
    assert.match(cancelledRun.error, /is cancelled; nothing was committed/);
    assert.deepEqual([(await latest('pg_dataflow')).id, (await latest('pg_dataflow')).status], [cancelledRun.run_id, 'interrupted']);
    assert.equal((await all('pg_dataflow')).length, before);
    assert.equal(await bigquery.table(PROJECT, 'raw', String(job.launch.parameters.outputTable).split('.').pop()!), undefined, 'the staging table is dropped');

    hold = dataflow.hold();
    const kept = startCli(['run', 'jobs/pg_dataflow.yaml', '--json'], project.dir, env);
    const running = await hold.running;
    kept.child.kill('SIGINT');
    const left = await kept.done;
    assert.equal(left.code, 130, left.stdout + left.stderr);
    assert.equal(running.currentState, 'JOB_STATE_RUNNING', 'the job goes on');
    const [leftRun] = JSON.parse(left.stdout) as { run_id: string; status: string; error: string }[];
    assert.match(leftRun.error, /the next run of this job waits for it/);
    const recorded = await latest('pg_dataflow');
    assert.deepEqual([recorded.id, recorded.status, recorded.rows_loaded], [leftRun.run_id, 'interrupted', 0], 'stopped before its commit: interrupted, nothing committed');
    assert.match(recorded.error ?? '', /the next run of this job waits for it/);
    hold.release();
    const jobs = dataflow.jobs().length;
    assert.equal((await run('pg_dataflow')).rows_loaded, 1);
    assert.equal(dataflow.jobs().length, jobs, 'the next run took the job that went on');
    assert.equal((await all('pg_dataflow')).length, before + 1);
  });

  test('while its Dataflow job runs, the run is `running` in the history; it ends `succeeded` with its rows', async () => {
    await pg.sql(`INSERT INTO orders VALUES (17, 'k', 1, '2024-08-01 00:00:00+00', NULL, NULL, NULL, NULL, NULL)`);
    const before = (await all('pg_dataflow')).length;
    const hold = dataflow.hold();
    const started = startCli(['run', 'jobs/pg_dataflow.yaml', '--json'], project.dir, env);
    let during: { id: string; status: string };
    try {
      await hold.running;
      during = await latest('pg_dataflow');
    } finally {
      hold.release();
    }
    const result = await started.done;
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const [summary] = JSON.parse(result.stdout) as { run_id: string; status: string; rows_loaded: number }[];
    assert.deepEqual([during.id, during.status], [summary.run_id, 'running'], 'not committing while the job runs');
    const loaded = (await all('pg_dataflow')).length - before;
    const ended = await latest('pg_dataflow');
    assert.deepEqual([ended.id, ended.status, ended.rows_loaded, summary.rows_loaded], [summary.run_id, 'succeeded', loaded, loaded]);
    assert.ok(loaded >= 1);
  });

  test('a catalog job with columns by Dataflow replaces the table as a local catalog run does', async () => {
    await pg.sql(`INSERT INTO orders (id, name, updated) VALUES (100, 'x', '2025-01-01Z'), (101, NULL, NULL), (102, 'y', '2025-01-02Z') ON CONFLICT DO NOTHING`);
    for (let round = 0; round < 2; round++) {
      if (round) await pg.sql(`DELETE FROM orders WHERE id = 101`);
      const rows = Number((await pg.sql('SELECT count(*) AS n FROM orders'))[0].n);
      assert.equal((await run('pg_catalog_dataflow')).rows_loaded, rows);
      assert.equal((await run('pg_catalog_local')).rows_loaded, rows);
      assert.deepEqual(await all('pg_catalog_dataflow'), await all('pg_catalog_local'));
      assert.deepEqual(await schema('pg_catalog_dataflow'), await schema('pg_catalog_local'));
    }
    assert.deepEqual(Object.keys((await all('pg_catalog_dataflow'))[0]), ['id', 'name', 'updated']);
  });

  test('Ctrl-C on a terminal asks whether to cancel the Dataflow job; y cancels it', async () => {
    await pg.sql(`INSERT INTO orders VALUES (16, 'i', 1, '2024-07-01 00:00:00+00', NULL, NULL, NULL, NULL, NULL)`);
    const hold = dataflow.hold();
    const terminal = startPty(['run', 'jobs/pg_dataflow.yaml'], project.dir, env);
    try {
      const job = await hold.running;
      await terminal.type(KEY.ctrlC);
      await terminal.waitFor('Ctrl-C: press y to cancel Dataflow job b2betl-pg-dataflow-');
      await terminal.type('y');
      assert.equal(await terminal.exited, 130, terminal.screen());
      assert.equal(job.currentState, 'JOB_STATE_CANCELLED');
    } finally {
      hold.release();
      terminal.kill();
    }
  });

  test('a plain-text credential is refused before any launch, naming the key and the fix, and never shown', async () => {
    const jobs = dataflow.jobs().length;
    const result = await runCli(['run', 'jobs/pg_plain.yaml', '--json'], project.dir, env);
    assert.notEqual(result.code, 0);
    const [summary] = JSON.parse(result.stdout) as { status: string; error: string }[];
    assert.equal(summary.status, 'failed');
    assert.match(summary.error, /connection plain: user is given in plain text/);
    assert.match(summary.error, /secret:\/\/projects\/PROJECT\/secrets\/NAME\/versions\/VERSION/);
    assert.doesNotMatch(result.stdout + result.stderr, /hunter2-plain/);
    assert.equal(dataflow.jobs().length, jobs, 'nothing was launched');
  });
});
