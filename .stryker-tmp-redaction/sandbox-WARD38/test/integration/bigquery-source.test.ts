/**
 * The BigQuery source against the strict local double through the real client: a table in
 * another project, queries, exact values, paging, and incremental runs whose ties at the
 * high-water mark are neither lost nor read twice.
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { openBigQuery, runJob } from '../../connectors/bigquery-common/bigquery-client.js';
import { source as openSource } from '../../connectors/sources/bigquery/index.js';
import type { SourceConnector, SourcePlan } from '../../src/core/connector.js';
import { silentLogger } from '../../src/core/log.js';
import { jobSchema, type JobSpec } from '../../src/core/spec.js';
import { startBigQueryDouble, type BigQueryDouble } from '../support/bigquery-double/index.js';

const PUBLIC = 'bigquery-public-data.stackoverflow.posts_questions';

function spec(source: Record<string, unknown>, load: Record<string, unknown> = {}): JobSpec {
  return jobSchema.parse({ name: 'so', source: { connection: 'bq', ...source }, load: { strategy: 'transactional', ...load } });
}

async function readAll(src: SourceConnector, job: JobSpec, plan: SourcePlan): Promise<unknown[][]> {
  const rows: unknown[][] = [];
  for (const unit of plan.units) {
    for await (const batch of src.read(unit, { job, log: silentLogger, signal: new AbortController().signal })) rows.push(...batch.rows);
  }
  return rows;
}

async function plan(src: SourceConnector, job: JobSpec, cursor?: unknown, extra: Record<string, unknown> = {}): Promise<SourcePlan> {
  return src.plan({ job, state: { cursor, files: new Map() }, fullRefresh: false, log: silentLogger, ...extra });
}

describe('BigQuery source against the double', () => {
  let double: BigQueryDouble;
  let src: SourceConnector;

  before(async () => {
    double = await startBigQueryDouble({ project: 'my-proj' });
    await double.createDataset('bigquery-public-data', 'stackoverflow', 'US');
    await double.query(`CREATE TABLE \`${PUBLIC}\` (
      id INT64 NOT NULL, title STRING, score NUMERIC, big BIGNUMERIC, ratio FLOAT64, accepted BOOL,
      creation_date TIMESTAMP, day DATE, local DATETIME, tags ARRAY<STRING>, body BYTES, meta JSON)`);
    await double.query(`INSERT INTO \`${PUBLIC}\` (id, title, score, big, ratio, accepted, creation_date, day, local, tags, body, meta) VALUES
      (9007199254740993, 'big id', 12345678901234567890.123456789, '1.00000000000000000000000000000000000001', 0.5, TRUE, TIMESTAMP '2024-01-01 00:00:00.000001+00', DATE '2024-01-01', DATETIME '2024-01-01 10:00:00.5', ['a', 'b'], FROM_BASE64('AAE='), JSON '{"k":[1,2]}'),
      (2, 'second', -1.5, NULL, NULL, FALSE, TIMESTAMP '2024-01-02 00:00:00+00', NULL, NULL, [], NULL, NULL),
      (3, 'tie a', 3, NULL, NULL, NULL, TIMESTAMP '2024-01-03 00:00:00+00', NULL, NULL, NULL, NULL, NULL),
      (4, 'tie b', 4, NULL, NULL, NULL, TIMESTAMP '2024-01-03 00:00:00+00', NULL, NULL, NULL, NULL, NULL)`);
    src = await openSource({ name: 'bq', config: { type: 'bigquery', project: 'my-proj', dataset: 'raw', endpoint: double.endpoint }, baseDir: process.cwd(), log: silentLogger });
  });
  after(async () => {
    await src.close();
    await double.stop();
  });

  test('discovers a table of another project, with columns and exact values', async () => {
    const job = spec({ table: PUBLIC }, { strategy: 'catalog' });
    const columns = await src.discover(job, silentLogger);
    assert.deepEqual(
      columns.map((c) => [c.name, c.type, c.nullable]),
      [
        ['id', 'INT64', false],
        ['title', 'STRING', true],
        ['score', 'NUMERIC', true],
        ['big', 'BIGNUMERIC', true],
        ['ratio', 'FLOAT64', true],
        ['accepted', 'BOOL', true],
        ['creation_date', 'TIMESTAMP', true],
        ['day', 'DATE', true],
        ['local', 'DATETIME', true],
        ['tags', 'JSON', true],
        ['body', 'BYTES', true],
        ['meta', 'JSON', true],
      ],
    );
    const snapshot = await plan(src, job);
    assert.equal(snapshot.estimatedRows, 4, 'estimate from table metadata');
    const rows = await readAll(src, job, snapshot);
    const first = rows.find((r) => r[0] === 9007199254740993n)!;
    assert.deepEqual(first, [
      9007199254740993n,
      'big id',
      '12345678901234567890.123456789',
      '1.00000000000000000000000000000000000001',
      0.5,
      true,
      1704067200000001n,
      '2024-01-01',
      '2024-01-01 10:00:00.5',
      '["a","b"]',
      new Uint8Array([0, 1]),
      '{"k":[1,2]}',
    ]);
    const second = rows.find((r) => r[0] === 2)!;
    assert.deepEqual(second, [2, 'second', '-1.5', null, null, false, 1704153600000000n, null, null, '[]', null, null]);
  });

  test('source.columns selects; an unknown column names the available ones', async () => {
    const job = spec({ table: PUBLIC, columns: ['id', 'title'] }, { strategy: 'catalog' });
    assert.deepEqual((await src.discover(job, silentLogger)).map((c) => c.name), ['id', 'title']);
    assert.equal((await readAll(src, job, await plan(src, job)))[0].length, 2);
    await assert.rejects(src.discover(spec({ table: PUBLIC, columns: ['nope'] }, { strategy: 'catalog' }), silentLogger), /source.columns `nope` not found in bigquery-public-data.stackoverflow.posts_questions; columns are: id, title/);
  });

  test('incremental: ties at the high-water mark are neither lost nor duplicated', async () => {
    const job = spec({ table: PUBLIC, columns: ['id', 'title', 'creation_date'] }, { cursor: 'creation_date', primary_key: ['id'], start: '2024-01-02T00:00:00Z' });
    const first = await plan(src, job);
    assert.equal(first.units.length, 1);
    assert.equal(first.estimatedRows, 3);
    const rows1 = await readAll(src, job, first);
    assert.deepEqual(rows1.map((r) => r[0]).sort(), [2, 3, 4]);
    const state = first.units[0].cursorAfter as { value: string; seen: string[] };
    assert.equal(state.value, '2024-01-03T00:00:00.000000Z');
    assert.equal(state.seen.length, 2);

    // A late row at exactly the old high-water mark, and a newer one.
    await double.query(`INSERT INTO \`${PUBLIC}\` (id, title, creation_date) VALUES (5, 'late tie', TIMESTAMP '2024-01-03 00:00:00+00'), (6, 'newer', TIMESTAMP '2024-01-04 12:00:00.123456+00')`);
    const second = await plan(src, job, state);
    const rows2 = await readAll(src, job, second);
    assert.deepEqual(rows2.map((r) => r[0]).sort(), [5, 6]);
    assert.deepEqual(rows2.find((r) => r[0] === 6), [6, 'newer', 1704369600123456n]);

    const third = await plan(src, job, second.units[0].cursorAfter);
    assert.deepEqual(await readAll(src, job, third), [], 'nothing new: nothing read');

    const noKey = spec({ table: PUBLIC, columns: ['id'] }, { cursor: 'creation_date' });
    const whole = await plan(src, noKey);
    assert.deepEqual((await readAll(src, noKey, whole)).map((r) => r[0]).sort(), [2, 3, 4, 5, 6, 9007199254740993n]);
    assert.deepEqual(await readAll(src, noKey, await plan(src, noKey, whole.units[0].cursorAfter)), []);
  });

  test('a backfill window reads [since, until) and leaves the cursor alone', async () => {
    const job = spec({ table: PUBLIC, columns: ['id'] }, { cursor: 'creation_date' });
    const window = await plan(src, job, undefined, { window: { since: '2024-01-02T00:00:00Z', until: '2024-01-03T00:00:00Z' } });
    assert.equal(window.units[0].cursorAfter, undefined);
    assert.deepEqual(await readAll(src, job, window), [[2]]);
  });

  test('a query source, and results paged in bounded batches', async () => {
    const handle = await openBigQuery({ name: 'bq', config: { type: 'bigquery', project: 'my-proj', dataset: 'raw', endpoint: double.endpoint }, baseDir: process.cwd(), log: silentLogger });
    await handle.dataset().create();
    const lines = Array.from({ length: 25_000 }, (_, i) => JSON.stringify({ n: i, amount: `${i}.25` })).join('\n');
    await runJob(handle, {
      id: 'seed_numbers',
      action: 'seed',
      table: { dataset: 'raw', table: 'numbers' },
      configuration: { load: { sourceFormat: 'NEWLINE_DELIMITED_JSON', schema: { fields: [{ name: 'n', type: 'INT64' }, { name: 'amount', type: 'NUMERIC' }] } } },
      upload: () => Readable.from([lines]),
    });
    const job = spec({ query: 'SELECT n, amount FROM raw.numbers WHERE n >= 100' }, { strategy: 'catalog' });
    assert.deepEqual((await src.discover(job, silentLogger)).map((c) => `${c.name}:${c.type}`), ['n:INT64', 'amount:NUMERIC']);
    const snapshot = await plan(src, job);
    assert.equal(snapshot.estimatedRows, 24_900);
    let batches = 0;
    let total = 0;
    let sum = 0n;
    for await (const batch of src.read(snapshot.units[0], { job, log: silentLogger, signal: new AbortController().signal })) {
      batches++;
      assert.ok(batch.rows.length <= 10_000);
      total += batch.rows.length;
      for (const row of batch.rows) sum += BigInt(String(row[1]).replace('.25', ''));
    }
    assert.equal(total, 24_900);
    assert.equal(batches, 3);
    assert.equal(sum, BigInt((100 + 24_999) * 24_900) / 2n);
  });
});
