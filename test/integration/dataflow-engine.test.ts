/**
 * The Dataflow engine's plan against a real PostgreSQL and the BigQuery double: it takes a job
 * whose estimate reaches the threshold and declines one under it; the window it sends is the
 * one a local run reads (run on the database, the launch's query returns exactly the rows the
 * source's own read returns, boundary rows included; split on a timestamp cursor, the ranges the
 * template reads return them too, each once); and it declines or refuses, naming why, what the
 * template cannot carry exactly.
 */
import assert from 'node:assert/strict';
import os from 'node:os';
import { after, before, describe, test } from 'node:test';
import type { DestinationConnector, EngineRequest, EngineRun, SourceConnector } from '../../src/core/connector.js';
import { ConfigError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/log.js';
import { dataflowSchema, jobSchema, type ConnectionConfig } from '../../src/core/spec.js';
import { dataflowEngine } from '../../connectors/engines/dataflow/dataflow-engine.js';
import { startBigQueryDouble, type BigQueryDouble } from '../support/bigquery-double/index.js';
import { readStatements } from '../support/dataflow-double.js';
import { PG, pgScratch, planContext, readPlan, type PgScratch } from '../support/databases.js';

const REFS = { user: 'secret://projects/etl-proj/secrets/u/versions/1', password: 'secret://projects/etl-proj/secrets/p/versions/1' };

describe('Dataflow engine plan', () => {
  let bigquery: BigQueryDouble;
  let pg: PgScratch;
  let source: SourceConnector;
  let destination: DestinationConnector;
  const bq: ConnectionConfig = { type: 'bigquery', project: 'etl-proj', dataset: 'raw' } as ConnectionConfig;

  before(async () => {
    bigquery = await startBigQueryDouble({ project: 'etl-proj' });
    pg = await pgScratch('dfeng');
    await pg.sql('CREATE TABLE keyed (id bigint PRIMARY KEY, updated timestamptz, note text)');
    await pg.sql(`INSERT INTO keyed VALUES (1, '2024-01-01Z', 'a'), (2, '2024-01-02Z', 'b'), (3, '2024-01-02Z', 'c'), (4, NULL, 'd'), (5, '2024-01-03Z', 'e'), (6, '2024-01-03Z', 'f')`);
    await pg.sql('CREATE TABLE unkeyed (updated timestamptz, note text)');
    await pg.sql(`INSERT INTO unkeyed VALUES ('2024-01-01Z', 'a'), ('2024-01-02Z', 'b'), ('2024-01-02Z', 'b')`);
    await pg.sql('CREATE TABLE doc (id bigint PRIMARY KEY, updated timestamptz, body jsonb)');
    await pg.sql(`INSERT INTO doc VALUES (1, '2024-01-01Z', '{}')`);
    await pg.sql('CREATE TABLE wall (code text PRIMARY KEY, updated timestamp, note text)');
    await pg.sql(`INSERT INTO wall VALUES ('a', '2024-01-01 00:00:00.000001', 'x'), ('b', '2024-01-01 00:00:00.0005', 'x'), ('c', NULL, 'x'), ('d', '2024-01-01 12:00:00.0005', 'x'), ('e', '2024-01-02 00:00:00.999999', 'x')`);
    const { createPostgresSource } = await import('../../connectors/sources/postgres/postgres-source.js');
    source = await createPostgresSource({ name: 'db', config: { ...pg.connection, database: 'test' } as ConnectionConfig, baseDir: os.tmpdir(), log: silentLogger });
    const { destination: open } = await import('../../connectors/destinations/bigquery/index.js');
    destination = await open({ name: 'bq', config: { ...bq, endpoint: bigquery.endpoint } as ConnectionConfig, baseDir: os.tmpdir(), log: silentLogger });
  });
  after(async () => {
    await source?.close();
    await destination?.close();
    await bigquery?.stop();
    await pg?.drop();
  });

  async function request(table: string, options: { engine?: string; cursor?: unknown; threshold?: number; parallelism?: number; load?: Record<string, unknown>; config?: Record<string, unknown> } = {}) {
    const job = jobSchema.parse({ name: `${table}_job`, engine: options.engine ?? 'auto', source: { connection: 'db', table: `${pg.schema}.${table}`, parallelism: options.parallelism }, load: { strategy: 'transactional', cursor: 'updated', ...options.load } });
    const plan = await source.plan(planContext(job, options.cursor));
    const built: EngineRequest = {
      runId: '20261205t020000z_abcdef',
      job,
      table: job.name,
      strategy: 'transactional',
      primaryKey: [],
      source: { name: 'db', config: { ...pg.connection, ...REFS, ...options.config } as ConnectionConfig, connector: source },
      destination: { name: 'bq', config: bq, connector: destination },
      plan,
      estimate: plan.estimatedRows === undefined ? undefined : { rows: plan.estimatedRows, basis: 'count(*) of the window' },
      dataflow: dataflowSchema.parse({ project: 'etl-proj', region: 'europe-west1', temp_location: 'gs://etl-temp/b2betl', threshold_rows: options.threshold ?? 2 }),
      mapping: new Map(),
      baseDir: os.tmpdir(),
      log: silentLogger,
    };
    return { built, job, plan };
  }

  async function windowIds(run: EngineRun): Promise<number[]> {
    const parameters = (run.details!.launch as { launchParameter: { parameters: Record<string, string> } }).launchParameter.parameters;
    const sql = parameters.query ?? `SELECT * FROM ${parameters.table}`;
    return (await pg.sql(sql)).map((row) => Number(row.id)).sort((a, b) => a - b);
  }

  test('auto takes a window whose estimate reaches dataflow.threshold_rows and declines one under it', async () => {
    const under = await dataflowEngine.plan((await request('keyed', { threshold: 100 })).built);
    assert.match((under as { declined: string }).declined, /6 rows \(count\(\*\) of the window\), is under dataflow\.threshold_rows \(100\)/);
    const taken = (await dataflowEngine.plan((await request('keyed', { threshold: 6 })).built)) as EngineRun;
    assert.match(taken.reason, /reaches dataflow\.threshold_rows \(6\)/);
    assert.match(taken.description, /PostgreSQL_to_BigQuery as job b2betl-keyed-job-20261205t020000z-abcdef/);
    assert.deepEqual(taken.details!.staging, { table: 'etl-proj:raw._b2betl_stage_keyed_job_20261205t020000z_abcdef', columns: ['id INT64', 'updated TIMESTAMP', 'note STRING'] });
  });

  test("the launch's window returns on the database exactly the rows a local run reads, ties at both bounds included", async () => {
    // A state that loaded rows 2 at 2024-01-02 already; at the high-water mark 2024-01-03 only 5 was there at plan time.
    const cursor = { column: 'updated', type: 'TIMESTAMP', value: '2024-01-02T00:00:00.000000Z', seen: ['[2]'] };
    const { built, job, plan } = await request('keyed', { cursor, engine: 'dataflow' });
    await pg.sql(`INSERT INTO keyed VALUES (7, '2024-01-03Z', 'late')`);
    try {
      const local = (await readPlan(source, job, plan)).rows.map((row) => Number(row[0])).sort((a, b) => a - b);
      const run = (await dataflowEngine.plan(built)) as EngineRun;
      assert.deepEqual(await windowIds(run), local);
      assert.deepEqual(local, [3, 5, 6]);
      const first = (await dataflowEngine.plan((await request('keyed', { engine: 'dataflow' })).built)) as EngineRun;
      assert.deepEqual(await windowIds(first), [1, 2, 3, 4, 5, 6, 7], 'a first run reads NULL cursors too');
    } finally {
      await pg.sql('DELETE FROM keyed WHERE id = 7');
    }
  });

  test('a window with no integer key is split on its timestamp cursor: the ranges the template reads return each of its rows once, NULL cursors included', async () => {
    const { built, job, plan } = await request('wall', { engine: 'dataflow', parallelism: 2 });
    const run = (await dataflowEngine.plan(built)) as EngineRun;
    assert.deepEqual(run.details!.partitioning, { column: 'updated', type: 'datetime', partitions: 2, lowerBound: '2024-01-01 00:00:00.000+00:00', upperBound: '2024-01-02 00:00:00.999+00:00' });
    assert.deepEqual((run.details!.staging as { columns: string[] }).columns, ['code STRING', 'updated DATETIME', 'note STRING', '_b2betl_split STRING']);
    const parameters = (run.details!.launch as { launchParameter: { parameters: Record<string, string> } }).launchParameter.parameters;
    const reads = await readStatements(parameters, 'postgresql', PG);
    assert.equal(reads.length, 3, 'two strides and the remainder up to the upper bound');
    const read = (await Promise.all(reads.map((statement) => pg.sql(statement.sql, [...statement.values])))).flat().map((row) => String(row.code));
    const local = (await readPlan(source, job, plan)).rows.map((row) => String(row[0]));
    assert.deepEqual(read.sort(), local.sort());
    assert.deepEqual(local, ['a', 'b', 'c', 'd', 'e']);
  });

  test('declines what the template cannot carry exactly, and refuses plain-text credentials', async () => {
    const unkeyed = await dataflowEngine.plan((await request('unkeyed', { cursor: { column: 'updated', type: 'TIMESTAMP', value: '2024-01-01T00:00:00.000000Z', seen: ['#abc'] } })).built);
    assert.match((unkeyed as { declined: string }).declined, /told apart by a hash of the whole row[\s\S]*set load\.primary_key/);
    const json = await dataflowEngine.plan((await request('doc', { threshold: 1 })).built);
    assert.match((json as { declined: string }).declined, /column body is JSON/);
    const bad = await dataflowEngine.plan((await request('keyed', { load: { max_bad_records: 5 } })).built);
    assert.match((bad as { declined: string }).declined, /load\.max_bad_records/);
    await assert.rejects(dataflowEngine.plan((await request('keyed', { config: { password: 'hunter2' } })).built), (error: unknown) => error instanceof ConfigError && /password is given in plain text/.test(error.message));
  });
});
