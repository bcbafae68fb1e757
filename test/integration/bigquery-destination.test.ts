/**
 * The BigQuery destination against the strict local double, through the real client: stage,
 * commit with markers, schema evolution, strategy refusal, merges, rejects, and one load job
 * per table per run under the table-update rate limit.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { destination as openDestination } from '../../connectors/destinations/bigquery/index.js';
import type { DestinationConnector, LoadMarker, LoadStrategy, Stage } from '../../src/core/connector.js';
import { SchemaError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/log.js';
import { jobSchema, type JobSpec } from '../../src/core/spec.js';
import type { Column, ColumnType, Value } from '../../src/core/types.js';
import { startBigQueryDouble, type BigQueryDouble } from '../support/bigquery-double/index.js';

process.env.B2BETL_RETRY_BASE_MS = '20';

const PROJECT = 'proj';

function col(name: string, type: ColumnType, extra: Partial<Column> = {}): Column {
  return { name, source: name, type, nullable: true, ...extra };
}

function spec(name: string, load: Record<string, unknown> = {}): JobSpec {
  return jobSchema.parse({ name, source: { connection: 'src', table: 't' }, load: { strategy: 'transactional', ...load }, destination: { connection: 'bq', table: name } });
}

let run = 0;
function runId(): string {
  run += 1;
  return `20250101t0000${String(run).padStart(2, '0')}z_abc${run}`;
}

function marker(job: string, table: string, id: string, strategy: LoadStrategy, rows: number, units: string[] = ['u0']): LoadMarker {
  return { runId: id, job, table, strategy, units, rows };
}

describe('BigQuery destination against the double', () => {
  let double: BigQueryDouble;
  let bq: DestinationConnector;
  let dataset: string;

  before(async () => {
    double = await startBigQueryDouble({ project: PROJECT, tableUpdateLimit: { operations: 50, windowMs: 1000 } });
    dataset = 'raw';
    bq = await openDestination({ name: 'bq', config: { type: 'bigquery', project: PROJECT, dataset, location: 'EU', endpoint: double.endpoint }, baseDir: process.cwd(), log: silentLogger });
  });
  after(async () => {
    await bq.close();
    await double.stop();
  });

  async function stage(job: JobSpec, id: string, columns: Column[], strategy: LoadStrategy = 'transactional', primaryKey: string[] = []): Promise<Stage> {
    return bq.stage({ runId: id, job, table: job.name, strategy, primaryKey, columns, log: silentLogger });
  }

  const rowsOf = (table: string, order = 'id') => double.query(`SELECT * FROM \`${PROJECT}.${dataset}.${table}\` ORDER BY ${order}`);

  test('transactional: every type survives exactly, units discard, one load job, marker in the same commit', async () => {
    const job = spec('orders', { cursor: 'created_at' });
    const columns = [
      col('id', 'INT64'),
      col('amount', 'NUMERIC'),
      col('big', 'BIGNUMERIC'),
      col('ratio', 'FLOAT64'),
      col('ok', 'BOOL'),
      col('created_at', 'TIMESTAMP'),
      col('day', 'DATE'),
      col('local', 'DATETIME'),
      col('at', 'TIME'),
      col('blob', 'BYTES'),
      col('doc', 'JSON'),
      col('note', 'STRING'),
    ];
    const id = runId();
    const s = await stage(job, id, columns);
    const rows: Value[][] = [
      [1, '12345678901234567890.123456789', '-123456789012345678901234567890.12345678901234567890123456789', 0.1, true, 1704067200123456n, '2024-01-01', '2024-01-01 10:11:12.654321', '23:59:59.999999', new Uint8Array([0, 1, 255]), '{"a":[1,2,{"b":null}],"s":"x"}', 'héllo "quoted"\nline'],
      [9007199254740993n, '-0.000000001', '1', Number.NaN, false, -1n, '1970-01-01', '1970-01-01 00:00:00.000000', '00:00:00.000000', new Uint8Array([]), '"just a string"', ''],
    ];
    await s.write(0, rows.slice(0, 1));
    await s.write(1, [[3, '3', null, null, null, 1704067200000000n, null, null, null, null, null, 'discarded']]);
    await s.write(2, rows.slice(1));
    await s.discard(1);
    const loaded = await s.commit([0, 2], marker(job.name, job.name, id, 'transactional', 2, ['a', 'b']), []);
    assert.equal(loaded, 2);

    const got = await rowsOf('orders');
    assert.deepEqual(got, [
      {
        id: '1',
        amount: '12345678901234567890.123456789',
        big: '-123456789012345678901234567890.12345678901234567890123456789',
        ratio: '0.1',
        ok: 'true',
        created_at: '1704067200123456',
        day: '2024-01-01',
        local: '2024-01-01T10:11:12.654321',
        at: '23:59:59.999999',
        blob: 'AAH/',
        doc: '{"a":[1,2,{"b":null}],"s":"x"}',
        note: 'héllo "quoted"\nline',
      },
      {
        id: '9007199254740993',
        amount: '-0.000000001',
        big: '1',
        ratio: 'NaN',
        ok: 'false',
        created_at: '-1',
        day: '1970-01-01',
        local: '1970-01-01T00:00:00',
        at: '00:00:00',
        blob: '',
        doc: '"just a string"',
        note: '',
      },
    ]);
    const markers = await double.query(`SELECT run_id, job, table_name, strategy, units, rows FROM \`${PROJECT}.${dataset}._b2betl_loads\` WHERE run_id = '${id}'`);
    assert.deepEqual(markers, [{ run_id: id, job: 'orders', table_name: 'orders', strategy: 'transactional', units: ['a', 'b'], rows: '2' }]);

    const table = await double.table(PROJECT, dataset, 'orders');
    assert.deepEqual(table?.labels, { b2betl_strategy: 'transactional' });
    assert.deepEqual(table?.timePartitioning, { type: 'DAY', field: 'created_at' });
    const loads = double.jobs().filter((j) => j.configuration.load && j.jobReference.jobId.includes(id));
    assert.equal(loads.length, 1, 'one load job for the run');
    assert.equal(loads[0].jobReference.jobId, `b2betl_orders_${id}_load`);
    assert.equal(await double.table(PROJECT, dataset, `_b2betl_stage_orders_${id}`), undefined, 'staging table dropped');
    assert.ok(!double.requests.some((r) => r.path.endsWith('/insertAll')), 'no streaming inserts');

    assert.deepEqual(await bq.committedRuns('orders', [id, 'other-run']), new Set([id]));
    const info = await bq.describe('orders');
    assert.equal(info?.strategy, 'transactional');
    assert.equal(info?.rows, 2);
    assert.deepEqual(
      info?.columns.map((c) => [c.name, c.type, c.nullable]),
      columns.map((c) => [c.name, c.type, true]),
    );
  });

  test('schema evolution: new columns are added as NULLABLE on a partitioned table, INT64 widens to NUMERIC', async () => {
    const job = spec('evolving', { cursor: 'ts' });
    const first = runId();
    let s = await stage(job, first, [col('id', 'INT64'), col('ts', 'TIMESTAMP'), col('qty', 'INT64')]);
    await s.write(0, [[1, 1000n, 5]]);
    await s.commit([0], marker(job.name, job.name, first, 'transactional', 1), []);

    const second = runId();
    s = await stage(job, second, [col('id', 'INT64'), col('ts', 'TIMESTAMP'), col('qty', 'INT64')]);
    await s.write(0, [[2, 2000n, 6]]);
    await s.evolve([col('id', 'INT64'), col('ts', 'TIMESTAMP'), col('qty', 'NUMERIC'), col('extra', 'STRING')]);
    await s.write(0, [[3, 3000n, '6.5', 'new']]);
    await s.commit([0], marker(job.name, job.name, second, 'transactional', 2), []);

    assert.deepEqual(await rowsOf('evolving'), [
      { id: '1', ts: '1000', qty: '5', extra: null },
      { id: '2', ts: '2000', qty: '6', extra: null },
      { id: '3', ts: '3000', qty: '6.5', extra: 'new' },
    ]);
    const table = await double.table(PROJECT, dataset, 'evolving');
    assert.deepEqual(
      table?.schema.fields.map((f: { name: string; type: string; mode: string }) => `${f.name}:${f.type}:${f.mode}`),
      ['id:INTEGER:NULLABLE', 'ts:TIMESTAMP:NULLABLE', 'qty:NUMERIC:NULLABLE', 'extra:STRING:NULLABLE'],
    );
    assert.deepEqual(table?.timePartitioning, { type: 'DAY', field: 'ts' });

    const third = runId();
    s = await stage(job, third, [col('id', 'STRING')]);
    await s.write(0, [['x']]);
    await assert.rejects(s.commit([0], marker(job.name, job.name, third, 'transactional', 1), []), (error: Error) => {
      assert.ok(error instanceof SchemaError);
      assert.match(error.message, /id: the table has INT64, this run needs STRING/);
      return true;
    });
    await s.abort();
    assert.equal((await rowsOf('evolving')).length, 3, 'nothing of the refused run landed');
  });

  test('a table loaded by one strategy refuses another', async () => {
    const job = spec('strategic');
    const first = runId();
    const loaded = await stage(job, first, [col('id', 'INT64')]);
    await loaded.write(0, [[1]]);
    await loaded.commit([0], marker('strategic', 'strategic', first, 'transactional', 1), []);
    const id = runId();
    const s = await stage({ ...job, load: { ...job.load, strategy: 'catalog' } }, id, [col('id', 'INT64')], 'catalog');
    await s.write(0, [[42]]);
    await assert.rejects(s.commit([0], marker('strategic', 'strategic', id, 'catalog', 1), []), /loaded with strategy transactional; job strategic uses catalog/);
    await s.abort();
    assert.deepEqual(await bq.committedRuns('strategic', [id]), new Set());
    assert.deepEqual(await rowsOf('strategic'), [{ id: '1' }]);
  });

  test('catalog replaces the contents atomically; an empty snapshot empties the table', async () => {
    const job = spec('catalog_t', { strategy: 'catalog' });
    for (const rows of [[[1, 'a'], [2, 'b']], [[3, 'c']]] as Value[][][]) {
      const id = runId();
      const s = await stage(job, id, [col('id', 'INT64'), col('name', 'STRING')], 'catalog');
      await s.write(0, rows);
      await s.commit([0], marker(job.name, job.name, id, 'catalog', rows.length), []);
    }
    assert.deepEqual(await rowsOf('catalog_t'), [{ id: '3', name: 'c' }]);
    const id = runId();
    const s = await stage(job, id, [col('id', 'INT64'), col('name', 'STRING')], 'catalog');
    assert.equal(await s.commit([], marker(job.name, job.name, id, 'catalog', 0, []), []), 0);
    assert.deepEqual(await rowsOf('catalog_t'), []);
    assert.deepEqual(await bq.committedRuns('catalog_t', [id]), new Set([id]));
  });

  test('merge: staged duplicates collapse to the last row, existing keys update, new keys insert', async () => {
    const job = spec('customers', { strategy: 'merge', primary_key: ['id'] });
    const columns = [col('id', 'INT64'), col('name', 'STRING'), col('score', 'NUMERIC')];
    let id = runId();
    let s = await stage(job, id, columns, 'merge', ['id']);
    await s.write(0, [[1, 'ann', '1.5'], [2, 'bob', '2']]);
    await s.commit([0], marker(job.name, job.name, id, 'merge', 2), []);

    id = runId();
    s = await stage(job, id, columns, 'merge', ['id']);
    await s.write(0, [[2, 'bobby', '3'], [3, 'cy', null]]);
    await s.write(1, [[2, 'robert', '4.25']]);
    await s.commit([0, 1], marker(job.name, job.name, id, 'merge', 3), []);
    assert.deepEqual(await rowsOf('customers'), [
      { id: '1', name: 'ann', score: '1.5' },
      { id: '2', name: 'robert', score: '4.25' },
      { id: '3', name: 'cy', score: null },
    ]);
    const table = await double.table(PROJECT, dataset, 'customers');
    assert.deepEqual(table?.clustering, { fields: ['id'] });
  });

  test('rejected rows land in <table>__rejected in the same commit, staged as rows are: thousands of long ones, each once, a retried commit too', async () => {
    const job = spec('with_rejects');
    const id = runId();
    const s = await stage(job, id, [col('id', 'INT64')]);
    await s.write(0, [[1]]);
    // 3,000 rejects of over 2,000 characters each: as SQL literals, about six times the 1024K characters a query may hold.
    const rejects = Array.from({ length: 3000 }, (_, i) => ({
      runId: id,
      unit: `file-${i % 7}.csv`,
      position: String(i + 2),
      ...(i % 3 ? { column: 'id' } : {}),
      reason: `'x${i}' is not an integer`,
      raw: `x${i},it's\nbad "quoted" \\ tab\t é 𝄞 ${'abcdefghij'.repeat(200 + (i % 50))}`,
    }));
    // The first attempt of the commit is refused (a rate limit); the second applies it, once.
    double.failNextJob(`b2betl_with_rejects_${id}_commit`, 'rateLimitExceeded', 'Exceeded rate limits: too many table update operations for this table.');
    assert.equal(await s.commit([0], marker(job.name, job.name, id, 'transactional', 1), rejects), 1);
    const stored = () => double.query(`SELECT run_id, unit, position, column_name, reason, raw FROM \`${PROJECT}.${dataset}.with_rejects__rejected\` ORDER BY CAST(position AS INT64)`);
    const expected = rejects.map((r) => ({ run_id: id, unit: r.unit, position: r.position, column_name: r.column ?? null, reason: r.reason, raw: r.raw }));
    assert.deepEqual(await stored(), expected);
    const commits = double.jobs().filter((j) => j.jobReference.jobId.startsWith(`b2betl_with_rejects_${id}_commit`));
    assert.deepEqual(commits.map((j) => j.status.errorResult?.reason ?? 'ok'), ['rateLimitExceeded', 'ok']);
    assert.equal(await double.table(PROJECT, dataset, `_b2betl_stage_with_rejects_${id}`), undefined, 'the rows staging table is dropped');
    assert.equal(await double.table(PROJECT, dataset, `_b2betl_stage_with_rejects_${id}__rejected`), undefined, 'the rejects staging table is dropped');

    // The run committed again under its id (a step retried from the start): nothing doubles.
    const again = await stage(job, id, [col('id', 'INT64')]);
    await again.write(0, [[1]]);
    await again.commit([0], marker(job.name, job.name, id, 'transactional', 1), rejects);
    assert.deepEqual(await stored(), expected);
    assert.deepEqual(await rowsOf('with_rejects'), [{ id: '1' }]);
    assert.equal((await double.query(`SELECT COUNT(*) AS n FROM \`${PROJECT}.${dataset}._b2betl_loads\` WHERE run_id = '${id}'`))[0].n, '1');
  });

  test('existing tables b2betl did not create: REQUIRED and legacy types are described, NULL into REQUIRED fails the commit', async () => {
    const handle = (bq as unknown as { handle: { dataset(): { exists(): Promise<[boolean]>; create(o: unknown): Promise<unknown>; table(t: string): { create(o: unknown): Promise<unknown> } } } })
      .handle;
    // Made by someone else, before b2betl ever loaded this dataset.
    if (!(await handle.dataset().exists())[0]) await handle.dataset().create({ location: 'EU' });
    await handle.dataset().table('legacy').create({
      schema: {
        fields: [
          { name: 'id', type: 'INTEGER', mode: 'REQUIRED' },
          { name: 'price', type: 'FLOAT' },
          { name: 'flag', type: 'BOOLEAN' },
          { name: 'tags', type: 'STRING', mode: 'REPEATED' },
        ],
      },
    });
    const info = await bq.describe('legacy');
    assert.equal(info?.strategy, undefined);
    assert.deepEqual(
      info?.columns.map((c) => [c.name, c.type, c.nullable, c.repeated ?? false]),
      [
        ['id', 'INT64', false, false],
        ['price', 'FLOAT64', true, false],
        ['flag', 'BOOL', true, false],
        ['tags', 'STRING', true, true],
      ],
    );
    const job = spec('legacy');
    let id = runId();
    let s = await stage(job, id, info!.columns as Column[]);
    await s.write(0, [[7, 1.25, true, '["a","b"]']]);
    await s.commit([0], marker('legacy', 'legacy', id, 'transactional', 1), []);
    assert.deepEqual(await rowsOf('legacy'), [{ id: '7', price: '1.25', flag: 'true', tags: ['a', 'b'] }]);
    assert.equal((await bq.describe('legacy'))?.strategy, 'transactional', 'labelled once b2betl loaded it');

    id = runId();
    s = await stage(job, id, info!.columns as Column[]);
    await s.write(0, [[null, 2.5, false, null]]);
    await assert.rejects(s.commit([0], marker('legacy', 'legacy', id, 'transactional', 1), []), /Required field id cannot be null/);
    const staging = await double.table(PROJECT, dataset, `_b2betl_stage_legacy_${id}`);
    assert.ok(staging, 'the staging table is left for abort()');
    const ttl = Number(staging.expirationTime) - Date.now();
    assert.ok(ttl > 23 * 3600_000 && ttl <= 24 * 3600_000, `staging table expires within a day (${ttl} ms)`);
    await s.abort();
    assert.equal(await double.table(PROJECT, dataset, `_b2betl_stage_legacy_${id}`), undefined);
    assert.equal((await rowsOf('legacy')).length, 1);
    assert.deepEqual(await bq.committedRuns('legacy', [id]), new Set());
  });

  test('a rate-limited commit is retried under a new job id and lands once', async () => {
    const job = spec('retried');
    const id = runId();
    const s = await stage(job, id, [col('id', 'INT64')]);
    await s.write(0, [[1], [2]]);
    double.failNextJob(`b2betl_retried_${id}_commit`, 'rateLimitExceeded', 'Exceeded rate limits: too many table update operations for this table.');
    assert.equal(await s.commit([0], marker('retried', 'retried', id, 'transactional', 2), []), 2);
    assert.deepEqual(await rowsOf('retried'), [{ id: '1' }, { id: '2' }]);
    const commits = double.jobs().filter((j) => j.jobReference.jobId.startsWith(`b2betl_retried_${id}_commit`));
    assert.deepEqual(
      commits.map((j) => [j.jobReference.jobId, j.status.errorResult?.reason ?? 'ok']),
      [
        [`b2betl_retried_${id}_commit`, 'rateLimitExceeded'],
        [`b2betl_retried_${id}_commit_2`, 'ok'],
      ],
    );
    assert.equal((await double.query(`SELECT COUNT(*) AS n FROM \`${PROJECT}.${dataset}._b2betl_loads\` WHERE run_id = '${id}'`))[0].n, '1');
  });

  test('a run of very many files keeps its commit under BigQuery’s 10 MB request: its marker lists their units gzipped', async () => {
    const job = spec('many_files');
    const id = runId();
    const s = await stage(job, id, [col('id', 'INT64')]);
    await s.write(0, [[1]]);
    // 200,000 paths of 80 characters: 16 MB sent as they are.
    const units = Array.from({ length: 200_000 }, (_, i) => `exports/2024/12/31/orders/part-${String(i).padStart(6, '0')}-of-the-nightly-orders-export.csv`);
    assert.equal(await s.commit([0], marker('many_files', 'many_files', id, 'transactional', 1, units), []), 1);
    const [stored] = await double.query(`SELECT units, rows FROM \`${PROJECT}.${dataset}._b2betl_loads\` WHERE run_id = '${id}'`);
    const [packed] = stored.units as string[];
    assert.deepEqual([(stored.units as string[]).length, packed.slice(0, 5), stored.rows], [1, 'gzip:', '1']);
    assert.deepEqual(JSON.parse(gunzipSync(Buffer.from(packed.slice(5), 'base64')).toString('utf8')), units);
    assert.deepEqual(await rowsOf('many_files'), [{ id: '1' }]);
  });

  test('many units under BigQuery’s real limit (5 updates per 10 s per table) still make one load job', async () => {
    // Its own dataset, so the marker table starts with a fresh budget too.
    const limited = await openDestination({ name: 'bq', config: { type: 'bigquery', project: PROJECT, dataset: 'limited', location: 'EU', endpoint: double.endpoint }, baseDir: process.cwd(), log: silentLogger });
    double.setTableUpdateLimit(5, 10_000);
    try {
      const job = spec('many_units');
      const id = runId();
      const s = await limited.stage({ runId: id, job, table: job.name, strategy: 'transactional', primaryKey: [], columns: [col('id', 'INT64'), col('unit', 'INT64')], log: silentLogger });
      const units = Array.from({ length: 40 }, (_, i) => i);
      for (const unit of units) await s.write(unit, Array.from({ length: 25 }, (_, r) => [unit * 100 + r, unit]));
      assert.equal(await s.commit(units, marker(job.name, job.name, id, 'transactional', 1000, units.map(String)), []), 1000);
      const counted = await double.query(`SELECT COUNT(*) AS n, COUNT(DISTINCT unit) AS units FROM \`${PROJECT}.limited.many_units\``);
      assert.deepEqual(counted, [{ n: '1000', units: '40' }]);
      const jobs = double.jobs().filter((j) => j.jobReference.jobId.includes(id));
      assert.equal(jobs.filter((j) => j.configuration.load).length, 1);
      assert.ok(jobs.every((j) => !j.status.errorResult), 'no job hit the rate limit');
    } finally {
      double.setTableUpdateLimit(50, 1000);
      await limited.close();
    }
  });
});
