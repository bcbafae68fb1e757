/**
 * Direct loads: BigQuery → BigQuery as one query script, and gs:// files loaded natively by
 * one load job, both with the marker in the same transaction and no rows through b2betl.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import { destination as openDestination } from '../../connectors/destinations/bigquery/index.js';
import { FilesSource } from '../../connectors/sources/files/files-source.js';
import { source as openSource } from '../../connectors/sources/bigquery/index.js';
import { store as openGcs } from '../../connectors/storage/gcs/index.js';
import type { ConnectionConfig } from '../../src/core/spec.js';
import type { BeforeCommit, DestinationConnector, EngineRequest, EngineRun, ObjectStore, SourceConnector, SourcePlan } from '../../src/core/connector.js';
import { chooseEngine } from '../../src/core/engine-choice.js';
import { silentLogger } from '../../src/core/log.js';
import { jobSchema, type JobSpec } from '../../src/core/spec.js';
import { startBigQueryDouble, type BigQueryDouble } from '../support/bigquery-double/index.js';
import { startGcsDouble, type GcsDouble } from '../support/gcs-double.js';

process.env.B2BETL_RETRY_BASE_MS = '10';

describe('BigQuery direct loads', () => {
  let double: BigQueryDouble;
  let gcs: GcsDouble;
  let bq: DestinationConnector;
  let bqConfig: ConnectionConfig;
  let run = 0;

  before(async () => {
    gcs = await startGcsDouble({ buckets: ['landing'] });
    double = await startBigQueryDouble({
      project: 'proj',
      // Every test commits a marker; BigQuery's own limit is exercised in bigquery-destination.test.
      tableUpdateLimit: { operations: 100, windowMs: 1000 },
      objects: async (uri) => {
        const match = /^gs:\/\/([^/]+)\/(.+)$/.exec(uri);
        return match ? gcs.object(match[1], match[2])?.data : undefined;
      },
    });
    bqConfig = { type: 'bigquery', project: 'proj', dataset: 'raw', endpoint: double.endpoint };
    bq = await openDestination({ name: 'bq', config: bqConfig, baseDir: process.cwd(), log: silentLogger });
    await double.createDataset('proj', 'shop');
    await double.query(`CREATE TABLE \`proj.shop.orders\` (id INT64 NOT NULL, amount NUMERIC, tags ARRAY<STRING>, updated_at TIMESTAMP)`);
    await double.query(`INSERT INTO \`proj.shop.orders\` (id, amount, tags, updated_at) VALUES
      (1, 10.5, ['a'], TIMESTAMP '2024-01-01 00:00:00+00'), (2, 20, [], TIMESTAMP '2024-01-02 00:00:00+00'), (3, 30.25, NULL, TIMESTAMP '2024-01-02 00:00:00+00')`);
  });
  after(async () => {
    await bq.close();
    await double.stop();
    await gcs.stop();
  });

  const nextRun = () => `20250202t00000${++run}z_direct${run}`;

  async function request(job: JobSpec, plan: SourcePlan, sourceConfig: ConnectionConfig, connector: SourceConnector, extra: { store?: ObjectStore; replace?: EngineRequest['replace'] } = {}): Promise<EngineRequest> {
    return {
      runId: nextRun(),
      job,
      table: job.destination.table ?? job.name,
      strategy: job.load.strategy,
      primaryKey: job.load.primary_key ?? [],
      source: { name: 'src', config: sourceConfig, connector, store: extra.store },
      destination: { name: 'bq', config: bqConfig, connector: bq },
      plan,
      mapping: new Map(),
      replace: extra.replace,
      baseDir: process.cwd(),
      log: silentLogger,
    };
  }

  /** The engine run the registry picks for a request, when it is not the local stream. */
  async function engineRun(req: EngineRequest): Promise<EngineRun | undefined> {
    return (await chooseEngine(req)).run;
  }

  const signal = new AbortController().signal;

  /** What each engine announced right before its commit, and whether its marker was already there then. */
  const announced: { rows?: number; columns: string[]; marked: boolean }[] = [];
  const committing =
    (req: EngineRequest): BeforeCommit =>
    async (rows, columns) => {
      announced.push({ rows, columns: columns.map((c) => c.name), marked: (await bq.committedRuns(req.job.name, [req.runId])).has(req.runId) });
    };

  test('BigQuery → BigQuery: incremental INSERT … SELECT in one script with the marker, no load job', async () => {
    const job = jobSchema.parse({ name: 'copy', source: { connection: 'src', table: 'shop.orders' }, load: { cursor: 'updated_at', primary_key: ['id'] }, destination: { table: 'orders_copy' } });
    const sourceConfig: ConnectionConfig = { type: 'bigquery', project: 'proj', dataset: 'shop', endpoint: double.endpoint };
    const src: SourceConnector = await openSource({ name: 'src', config: sourceConfig, baseDir: process.cwd(), log: silentLogger });
    let plan = await src.plan({ job, state: { files: new Map() }, fullRefresh: false, log: silentLogger });
    let req = await request(job, plan, sourceConfig, src);
    let direct = await engineRun(req);
    assert.ok(direct, 'BigQuery to BigQuery runs inside BigQuery');
    assert.match(direct.description, /one query script: INSERT … SELECT from proj\.shop\.orders into bigquery proj\.raw\.orders_copy/);
    const before = double.jobs().length;
    const result = await direct.run({ runId: req.runId, job: job.name, table: 'orders_copy', strategy: 'transactional', units: plan.units.map((u) => u.id), rows: 0 }, signal, committing(req));
    assert.equal(result.rows, 3);
    assert.deepEqual(announced.at(-1), { rows: undefined, columns: ['id', 'amount', 'tags', 'updated_at'], marked: false }, 'the commit, which counts the rows, had not begun');
    assert.deepEqual(await double.query('SELECT id, amount, tags, updated_at FROM `proj.raw.orders_copy` ORDER BY id'), [
      { id: '1', amount: '10.5', tags: '["a"]', updated_at: '1704067200000000' },
      { id: '2', amount: '20', tags: '[]', updated_at: '1704153600000000' },
      { id: '3', amount: '30.25', tags: null, updated_at: '1704153600000000' },
    ]);
    const jobs = double.jobs().slice(before);
    assert.equal(jobs.filter((j) => j.configuration.load).length, 0, 'no load job: nothing passed through b2betl');
    assert.deepEqual(await bq.committedRuns('copy', [req.runId]), new Set([req.runId]));
    assert.deepEqual(await double.query(`SELECT rows FROM \`proj.raw._b2betl_loads\` WHERE run_id = '${req.runId}'`), [{ rows: '3' }]);
    assert.equal((await bq.describe('orders_copy'))?.strategy, 'transactional');

    // The next run takes only what is new, including a late row at the old high-water mark.
    await double.query(`INSERT INTO \`proj.shop.orders\` (id, amount, updated_at) VALUES (4, 1, TIMESTAMP '2024-01-02 00:00:00+00'), (5, 2, TIMESTAMP '2024-01-03 00:00:00+00')`);
    plan = await src.plan({ job, state: { cursor: plan.units[0].cursorAfter, files: new Map() }, fullRefresh: false, log: silentLogger });
    req = await request(job, plan, sourceConfig, src);
    direct = (await engineRun(req))!;
    assert.equal((await direct.run({ runId: req.runId, job: job.name, table: 'orders_copy', strategy: 'transactional', units: ['x'], rows: 0 }, signal, committing(req))).rows, 2);
    assert.deepEqual((await double.query('SELECT id FROM `proj.raw.orders_copy` ORDER BY id')).map((r) => r.id), ['1', '2', '3', '4', '5']);
    await src.close();
  });

  test('BigQuery → BigQuery merge and catalog', async () => {
    // A source table of this test's own.
    await double.query(`CREATE TABLE \`proj.shop.sales\` (id INT64 NOT NULL, amount NUMERIC)`);
    await double.query('INSERT INTO `proj.shop.sales` (id, amount) VALUES (1, 10.5), (2, 20), (3, 30.25), (4, 1), (5, 2)');
    const sourceConfig: ConnectionConfig = { type: 'bigquery', project: 'proj', dataset: 'shop', endpoint: double.endpoint };
    const src = await openSource({ name: 'src', config: sourceConfig, baseDir: process.cwd(), log: silentLogger });
    const merge = jobSchema.parse({ name: 'merged', source: { connection: 'src', table: 'proj.shop.sales', columns: ['id', 'amount'] }, load: { strategy: 'merge', primary_key: ['id'] } });
    for (let i = 0; i < 2; i++) {
      const plan = await src.plan({ job: merge, state: { files: new Map() }, fullRefresh: false, log: silentLogger });
      const req = await request(merge, plan, sourceConfig, src);
      const direct = (await engineRun(req))!;
      assert.match(direct.description, /MERGE/);
      await direct.run({ runId: req.runId, job: 'merged', table: 'merged', strategy: 'merge', units: ['snapshot'], rows: 0 }, signal, committing(req));
    }
    assert.deepEqual((await double.query('SELECT id, amount FROM `proj.raw.merged` ORDER BY id')).map((r) => `${r.id}:${r.amount}`), ['1:10.5', '2:20', '3:30.25', '4:1', '5:2']);

    const catalog = jobSchema.parse({ name: 'snap', source: { connection: 'src', query: 'SELECT id FROM shop.sales WHERE id > 3' }, load: { strategy: 'catalog' } });
    const plan = await src.plan({ job: catalog, state: { files: new Map() }, fullRefresh: true, log: silentLogger });
    const req = await request(catalog, plan, sourceConfig, src);
    const result = await (await engineRun(req))!.run({ runId: req.runId, job: 'snap', table: 'snap', strategy: 'catalog', units: ['snapshot'], rows: 0 }, signal, committing(req));
    assert.equal(result.rows, 2);
    assert.deepEqual(await double.query('SELECT id FROM `proj.raw.snap` ORDER BY id'), [{ id: '4' }, { id: '5' }]);
    await src.close();
  });

  test('BigQuery → BigQuery backfill window and full refresh: replaced inside the script, twice, rows exact', async () => {
    await double.query('CREATE TABLE `proj.shop.ledger_src` (id INT64, amount INT64, updated_at TIMESTAMP)');
    await double.query(`INSERT INTO \`proj.shop.ledger_src\` (id, amount, updated_at) VALUES
      (1, 1, TIMESTAMP '2024-01-01 00:00:00+00'), (2, 2, TIMESTAMP '2024-01-02 00:00:00+00'), (3, 3, TIMESTAMP '2024-01-02 12:00:00+00'), (4, 4, TIMESTAMP '2024-01-03 00:00:00+00')`);
    const job = jobSchema.parse({ name: 'window', source: { connection: 'src', table: 'shop.ledger_src' }, load: { cursor: 'updated_at' }, destination: { table: 'window_copy' } });
    const sourceConfig: ConnectionConfig = { type: 'bigquery', project: 'proj', dataset: 'shop', endpoint: double.endpoint };
    const src: SourceConnector = await openSource({ name: 'src', config: sourceConfig, baseDir: process.cwd(), log: silentLogger });
    const load = async (plan: SourcePlan, replace?: EngineRequest['replace']) => {
      const req = await request(job, plan, sourceConfig, src, { replace });
      const direct = (await engineRun(req))!;
      return (await direct.run({ runId: req.runId, job: job.name, table: 'window_copy', strategy: 'transactional', units: plan.units.map((u) => u.id), rows: 0 }, signal, committing(req))).rows;
    };
    const content = async () => (await double.query('SELECT id, amount FROM `proj.raw.window_copy` ORDER BY id')).map((row) => `${row.id}:${row.amount}`);
    assert.equal(await load(await src.plan({ job, state: { files: new Map() }, fullRefresh: false, log: silentLogger })), 4);
    await double.query('DELETE FROM `proj.shop.ledger_src` WHERE id = 2');
    await double.query('UPDATE `proj.shop.ledger_src` SET amount = 30 WHERE id = 3');
    const window = await src.plan({ job, state: { files: new Map() }, fullRefresh: false, window: { since: '2024-01-02T00:00:00Z', until: '2024-01-03T00:00:00Z' }, log: silentLogger });
    assert.deepEqual(window.window, { column: 'updated_at', lower: '2024-01-02T00:00:00.000000Z', upper: { value: '2024-01-03T00:00:00.000000Z', inclusive: false } });
    for (let i = 0; i < 2; i++) {
      assert.equal(await load(window, { kind: 'window', ...window.window! }), 1);
      assert.deepEqual(await content(), ['1:1', '3:30', '4:4']);
    }
    const everything = await src.plan({ job, state: { files: new Map() }, fullRefresh: true, log: silentLogger });
    for (let i = 0; i < 2; i++) {
      assert.equal(await load(everything, { kind: 'table' }), 3);
      assert.deepEqual(await content(), ['1:1', '3:30', '4:4']);
    }
  });

  test('another endpoint or other credentials: no direct path, rows stream', async () => {
    const sourceConfig: ConnectionConfig = { type: 'bigquery', project: 'proj', dataset: 'shop', endpoint: 'http://127.0.0.1:9' };
    const job = jobSchema.parse({ name: 'elsewhere', source: { connection: 'src', table: 'shop.orders' }, load: { strategy: 'catalog' } });
    const plan: SourcePlan = { units: [{ id: 'snapshot', label: 'x', params: { sql: 'SELECT 1', params: {} } }], skipped: [], ordered: true };
    const src = await openSource({ name: 'src', config: sourceConfig, baseDir: process.cwd(), log: silentLogger });
    assert.equal(await engineRun(await request(job, plan, sourceConfig, src)), undefined);
    await src.close();
  });

  test('staging: gs://… uploads gzip NDJSON parts, loads them (and the rejects) by URI and deletes them after the commit', async () => {
    process.env.B2BETL_STAGING_GCS_ENDPOINT = gcs.endpoint;
    const staged = await openDestination({ name: 'bq', config: { ...bqConfig, staging: 'gs://landing/bq-staging' } as ConnectionConfig, baseDir: process.cwd(), log: silentLogger });
    const job = jobSchema.parse({ name: 'via_gcs', source: { connection: 'src', table: 't' }, load: { strategy: 'transactional' } });
    const id = nextRun();
    const stage = await staged.stage({ runId: id, job, table: 'via_gcs', strategy: 'transactional', primaryKey: [], columns: [{ name: 'id', source: 'id', type: 'INT64', nullable: true }, { name: 'v', source: 'v', type: 'BIGNUMERIC', nullable: true }], log: silentLogger });
    await stage.write(0, [[1, '123456789012345678901234567890.123456789012345678901234567890']]);
    await stage.write(1, [[2, null]]);
    const uploads: string[] = [];
    gcs.intercept((request) => {
      if (request.method === 'POST' && request.path.includes('/upload/')) uploads.push(request.query.name ?? '');
      return undefined;
    });
    try {
      const reject = { runId: id, unit: 'b', position: '3', column: 'id', reason: "'x' is not an integer", raw: '["x","1"]' };
      assert.equal(await stage.commit([0, 1], { runId: id, job: 'via_gcs', table: 'via_gcs', strategy: 'transactional', units: ['a', 'b'], rows: 2 }, [reject]), 2);
    } finally {
      gcs.intercept(undefined);
      delete process.env.B2BETL_STAGING_GCS_ENDPOINT;
    }
    assert.deepEqual(await double.query('SELECT id, v FROM `proj.raw.via_gcs` ORDER BY id'), [
      { id: '1', v: '123456789012345678901234567890.12345678901234567890123456789' },
      { id: '2', v: null },
    ]);
    const load = double.jobs().find((j) => j.jobReference.jobId === `b2betl_via_gcs_${id}_load`);
    assert.deepEqual(load?.configuration.load.sourceUris, [`gs://landing/bq-staging/via_gcs/${id}/part-00000.ndjson.gz`, `gs://landing/bq-staging/via_gcs/${id}/part-00001.ndjson.gz`]);
    const rejects = double.jobs().find((j) => j.jobReference.jobId === `b2betl_via_gcs_${id}_rejects`);
    assert.deepEqual(rejects?.configuration.load.sourceUris, [`gs://landing/bq-staging/via_gcs/${id}/rejects-00000.ndjson.gz`]);
    assert.deepEqual(await double.query('SELECT run_id, unit, position, column_name, reason, raw FROM `proj.raw.via_gcs__rejected`'), [
      { run_id: id, unit: 'b', position: '3', column_name: 'id', reason: "'x' is not an integer", raw: '["x","1"]' },
    ]);
    assert.equal(uploads.length, 3);
    assert.deepEqual(gcs.names('landing').filter((name) => name.startsWith('bq-staging/')), [], 'staged objects are deleted');
  });

  test('a table stage loaded without a schema takes the loaded columns, arrays and records as JSON text', async () => {
    gcs.seed('landing', 'schemaless/part.ndjson', '{"id":1,"tags":["a","b"]}\n{"id":2,"tags":[]}\n');
    const job = jobSchema.parse({ name: 'adopt', source: { connection: 'src', collection: 'c' }, load: { strategy: 'catalog' } });
    const runId = nextRun();
    const stage = await bq.tableStage!({
      runId,
      job,
      table: 'adopted',
      strategy: 'catalog',
      primaryKey: [],
      columns: [
        { name: 'id', source: 'id', type: 'INT64', nullable: true },
        { name: 'tags', source: 'tags', type: 'STRING', nullable: true, repeated: true },
      ],
      log: silentLogger,
    });
    try {
      const { rows, columns } = await stage.loadUris!(['gs://landing/schemaless/part.ndjson'], { sourceFormat: 'NEWLINE_DELIMITED_JSON', schema: undefined });
      assert.equal(rows, 2);
      assert.deepEqual(columns.map((c) => `${c.name}:${c.type}${c.repeated ? '[]' : ''}`), ['id:INT64', 'tags:STRING']);
      assert.equal(await stage.commit({ runId, job: 'adopt', table: 'adopted', strategy: 'catalog', units: ['export'], rows }), 2);
    } finally {
      await stage.abort();
    }
    assert.deepEqual(await double.query('SELECT id, tags FROM `proj.raw.adopted` ORDER BY id'), [
      { id: '1', tags: '["a","b"]' },
      { id: '2', tags: '[]' },
    ]);
    assert.deepEqual(await bq.committedRuns('adopt', [runId]), new Set([runId]));
  });

  describe('gs:// files', () => {
    let store: ObjectStore;
    before(async () => {
      store = await openGcs({ name: 'landing', config: { type: 'gcs', bucket: 'landing', endpoint: gcs.endpoint }, baseDir: process.cwd(), log: silentLogger });
    });

    async function filePlan(job: JobSpec): Promise<SourcePlan> {
      return new FilesSource(store).plan({ job, state: { files: new Map() }, fullRefresh: false, log: silentLogger });
    }

    /** A stage of the CSV tests' table (id, name, amount), whose commit creates it as a streamed run would. */
    const csvTableStage = (job: JobSpec, table: string) =>
      bq.stage({
        runId: nextRun(),
        job,
        table,
        strategy: 'transactional',
        primaryKey: [],
        columns: [
          { name: 'id', source: 'id', type: 'INT64', nullable: true },
          { name: 'name', source: 'name', type: 'STRING', nullable: true },
          { name: 'amount', source: 'amount', type: 'NUMERIC', nullable: true },
        ],
        log: silentLogger,
      });

    test('Parquet files load natively into a new table with one load job from their URIs', async () => {
      const dir = await mkdtemp(path.join(tmpdir(), 'bq-parquet-'));
      try {
        const db = await (await DuckDBInstance.create(':memory:')).connect();
        for (const [i, start] of [[1, 0], [2, 100]] as const) {
          const file = path.join(dir, `part-${i}.parquet`);
          await db.run(`COPY (SELECT (range + ${start})::BIGINT AS id, (range * 1.5)::DECIMAL(18,3) AS amount, 'n' || range AS name FROM range(50)) TO '${file}' (FORMAT PARQUET)`);
          gcs.seed('landing', `exports/part-${i}.parquet`, await readFile(file));
        }
        db.closeSync();
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
      const job = jobSchema.parse({ name: 'pq', source: { connection: 'landing', pattern: 'exports/*.parquet' }, load: { strategy: 'transactional' } });
      const plan = await filePlan(job);
      const req = await request(job, plan, { type: 'gcs', bucket: 'landing', endpoint: gcs.endpoint }, new FilesSource(store), { store });
      const direct = await engineRun(req);
      assert.ok(direct, 'Parquet in GCS loads natively');
      assert.match(direct.description, /load 2 files under gs:\/\/landing\/ straight into bigquery proj\.raw\.pq with one BigQuery load job/);
      const before = double.jobs().length;
      const result = await direct.run({ runId: req.runId, job: 'pq', table: 'pq', strategy: 'transactional', units: plan.units.map((u) => u.id), rows: 0 }, signal, committing(req));
      assert.equal(result.rows, 100);
      assert.deepEqual(announced.at(-1), { rows: 100, columns: ['id', 'amount', 'name'], marked: false }, 'announced once loaded, before the commit');
      const loads = double.jobs().slice(before).filter((j) => j.configuration.load);
      assert.equal(loads.length, 1);
      assert.deepEqual(loads[0].configuration.load.sourceUris, ['gs://landing/exports/part-1.parquet', 'gs://landing/exports/part-2.parquet']);
      assert.deepEqual(await double.query('SELECT COUNT(*) AS n, SUM(id) AS ids, MAX(amount) AS top FROM `proj.raw.pq`'), [{ n: '100', ids: String((49 * 50) / 2 + (100 * 50 + (49 * 50) / 2)), top: '73.5' }]);
      assert.deepEqual(await bq.committedRuns('pq', [req.runId]), new Set([req.runId]));
    });

    test('CSV loads natively once the table exists; new CSV tables and column selections stream', async () => {
      gcs.seed('landing', 'csv/a.csv', 'id,name,amount\n1,ann,1.5\n2,"bob, jr",2\n');
      gcs.seed('landing', 'csv/b.csv', 'id,name,amount\n3,cy,\n');
      const job = jobSchema.parse({ name: 'csvs', source: { connection: 'landing', pattern: 'csv/*.csv' }, load: { strategy: 'transactional' } });
      const plan = await filePlan(job);
      const gcsConfig: ConnectionConfig = { type: 'gcs', bucket: 'landing', endpoint: gcs.endpoint };
      assert.equal(await engineRun(await request(job, plan, gcsConfig, new FilesSource(store), { store })), undefined, 'a new table from sampled CSV types streams first');

      // A streamed run created the table; later runs go direct.
      const stage = await csvTableStage(job, 'csvs');
      await stage.write(0, [[0, 'zero', '0']]);
      await stage.commit([0], { runId: 'seed', job: 'csvs', table: 'csvs', strategy: 'transactional', units: ['seed'], rows: 1 }, []);

      const req = await request(job, plan, gcsConfig, new FilesSource(store), { store });
      const direct = await engineRun(req);
      assert.ok(direct);
      const result = await direct.run({ runId: req.runId, job: 'csvs', table: 'csvs', strategy: 'transactional', units: plan.units.map((u) => u.id), rows: 0 }, signal, committing(req));
      assert.equal(result.rows, 3);
      assert.deepEqual(await double.query('SELECT id, name, amount FROM `proj.raw.csvs` ORDER BY id'), [
        { id: '0', name: 'zero', amount: '0' },
        { id: '1', name: 'ann', amount: '1.5' },
        { id: '2', name: 'bob, jr', amount: '2' },
        { id: '3', name: 'cy', amount: null },
      ]);
      const selecting = jobSchema.parse({ name: 'csvs', source: { connection: 'landing', pattern: 'csv/*.csv', columns: ['id'] }, load: { strategy: 'transactional' } });
      assert.equal(await engineRun(await request(selecting, plan, gcsConfig, new FilesSource(store), { store })), undefined, 'a column selection needs rows to pass through b2betl');
    });

    test("a load job reads CSV files with the delimiter guessed from their first records, and declines files that differ", async () => {
      gcs.seed('landing', 'semi/a.csv', 'id;name;amount\n1;"ann, b";1.5\n');
      gcs.seed('landing', 'semi/b.csv', 'id;name;amount\n2;cy;\n');
      const job = jobSchema.parse({ name: 'semis', source: { connection: 'landing', pattern: 'semi/*.csv' }, load: { strategy: 'transactional' } });
      const gcsConfig: ConnectionConfig = { type: 'gcs', bucket: 'landing', endpoint: gcs.endpoint };
      const stage = await csvTableStage(job, 'semis');
      await stage.commit([], { runId: nextRun(), job: 'semis', table: 'semis', strategy: 'transactional', units: [], rows: 0 }, []);
      const plan = await filePlan(job);
      const req = await request(job, plan, gcsConfig, new FilesSource(store), { store });
      const choice = await chooseEngine(req);
      assert.equal(choice.engine, 'bigquery-load', choice.reason);
      assert.equal((choice.run!.details!.load as Record<string, unknown>).fieldDelimiter, ';');
      assert.equal((await choice.run!.run({ runId: req.runId, job: 'semis', table: 'semis', strategy: 'transactional', units: plan.units.map((u) => u.id), rows: 0 }, signal, committing(req))).rows, 2);
      assert.deepEqual(await double.query('SELECT id, name, amount FROM `proj.raw.semis` ORDER BY id'), [
        { id: '1', name: 'ann, b', amount: '1.5' },
        { id: '2', name: 'cy', amount: null },
      ]);
      // One file of another delimiter: no single load job reads them all, so the rows stream.
      gcs.seed('landing', 'semi/c.csv', 'id,name,amount\n3,dee,2\n');
      const mixed = await chooseEngine(await request(job, await filePlan(job), gcsConfig, new FilesSource(store), { store }));
      assert.equal(mixed.engine, 'local');
      assert.match(mixed.reason, /different delimiters/);
      // Excel's separator line names the delimiter, but a load job would read it as a record,
      // whether the delimiter is guessed or the job's.
      gcs.seed('landing', 'semi/c.csv', 'sep=;\r\nid;name;amount\r\n3;dee;2\r\n');
      // Numbers with a decimal comma are read by the core only.
      for (const csv of [{}, { delimiter: ';' }, { decimal: ',' }]) {
        const named = jobSchema.parse({ ...job, source: { ...job.source, csv } });
        const excel = await chooseEngine(await request(named, await filePlan(named), gcsConfig, new FilesSource(store), { store }));
        assert.equal(excel.engine, 'local');
        assert.match(excel.reason, 'decimal' in csv ? /source\.csv\.decimal is ","/ : /Excel separator line/);
      }
    });

    test('a file replaced while its load job runs is not committed: the next run loads the new version', async () => {
      gcs.seed('landing', 'swap/a.csv', 'id,name,amount\n1,ann,1\n');
      const job = jobSchema.parse({ name: 'swaps', source: { connection: 'landing', pattern: 'swap/*.csv' }, load: { strategy: 'transactional' } });
      const gcsConfig: ConnectionConfig = { type: 'gcs', bucket: 'landing', endpoint: gcs.endpoint };
      const stage = await csvTableStage(job, 'swaps');
      await stage.commit([], { runId: nextRun(), job: 'swaps', table: 'swaps', strategy: 'transactional', units: [], rows: 0 }, []);
      const plan = await filePlan(job);
      const req = await request(job, plan, gcsConfig, new FilesSource(store), { store });
      const choice = await chooseEngine(req);
      assert.equal(choice.engine, 'bigquery-load', choice.reason);
      // Rewritten after the plan listed it: the load job reads the new generation.
      gcs.seed('landing', 'swap/a.csv', 'id,name,amount\n2,bo,2\n');
      const marker = { runId: req.runId, job: 'swaps', table: 'swaps', strategy: 'transactional' as const, units: plan.units.map((u) => u.id), rows: 0 };
      await assert.rejects(choice.run!.run(marker, signal, committing(req)), /gs:\/\/landing\/swap\/a\.csv changed during the run/);
      assert.deepEqual(await double.query('SELECT id FROM `proj.raw.swaps`'), []);
      const again = await filePlan(job);
      const next = await request(job, again, gcsConfig, new FilesSource(store), { store });
      const rerun = await chooseEngine(next);
      assert.equal((await rerun.run!.run({ ...marker, runId: next.runId, units: again.units.map((u) => u.id) }, signal, committing(next))).rows, 1);
      assert.deepEqual(await double.query('SELECT id, name FROM `proj.raw.swaps`'), [{ id: '2', name: 'bo' }]);
    });
  });
});
