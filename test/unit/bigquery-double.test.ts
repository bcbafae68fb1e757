/**
 * The BigQuery test double is only worth its name if it refuses what BigQuery refuses. These
 * tests drive it with the real client and check each rule and the error shapes.
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { BigQuery, Dataset } from '@google-cloud/bigquery';
import { openBigQuery, runQuery, type BigQueryHandle } from '../../connectors/bigquery-common/bigquery-client.js';
import { silentLogger } from '../../src/core/log.js';
import { startBigQueryDouble, type BigQueryDouble } from '../support/bigquery-double/index.js';

process.env.B2BETL_RETRY_BASE_MS = '10';

interface ClientError {
  code?: number;
  message: string;
  errors?: { reason?: string; message?: string }[];
}

async function failure(action: Promise<unknown>): Promise<ClientError> {
  try {
    await action;
  } catch (error) {
    return error as ClientError;
  }
  assert.fail('expected the double to refuse');
}

describe('BigQuery double strictness', () => {
  let double: BigQueryDouble;
  let handle: BigQueryHandle;
  let client: BigQuery;
  let ds: Dataset;
  let n = 0;
  const next = (prefix: string) => `${prefix}_${++n}`;

  /** A load job's final metadata (it fails inside the job, not at insert). */
  async function load(table: string, lines: string, load: Record<string, unknown> = {}) {
    const [job] = await new Promise<[import('@google-cloud/bigquery').Job]>((resolve, reject) => {
      const stream = ds.table(table).createWriteStream({ sourceFormat: 'NEWLINE_DELIMITED_JSON', jobId: next('load'), ...load } as never);
      stream.on('job', (j) => {
        j.removeAllListeners('complete');
        resolve([j]);
      });
      stream.on('error', reject);
      Readable.from([lines]).pipe(stream);
    });
    for (;;) {
      const [metadata] = await job.getMetadata();
      if (metadata.status.state === 'DONE') return metadata;
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  before(async () => {
    double = await startBigQueryDouble({ project: 'p' });
    handle = await openBigQuery({ name: 'bq', config: { type: 'bigquery', project: 'p', dataset: 'd', endpoint: double.endpoint }, baseDir: process.cwd(), log: silentLogger });
    client = handle.client;
    ds = handle.dataset();
    await ds.create({ location: 'EU' } as never);
  });
  after(() => double.stop());

  test('field names: letters, digits, underscores, no leading digit, ≤ 300 chars, no reserved prefix, unique ignoring case', async () => {
    for (const [name, pattern] of [
      ['1abc', /Invalid field name "1abc"/],
      ['a-b', /Invalid field name "a-b"/],
      ['_TABLE_x', /reserved prefix _TABLE_/],
      ['_partitiontime', /reserved prefix _PARTITION/],
      ['x'.repeat(301), /too long/],
    ] as const) {
      const error = await failure(ds.table(next('t')).create({ schema: { fields: [{ name, type: 'STRING' }] } }));
      assert.equal(error.code, 400);
      assert.equal(error.errors?.[0]?.reason, 'invalid');
      assert.match(error.message, pattern);
    }
    const dup = await failure(ds.table(next('t')).create({ schema: { fields: [{ name: 'Id', type: 'STRING' }, { name: 'id', type: 'INT64' }] } }));
    assert.match(dup.message, /Duplicate column names/);
    const [table] = await ds.table(next('t')).create({ schema: { fields: [{ name: 'x'.repeat(300), type: 'STRING' }, { name: '_ok_1', type: 'INT64' }] } });
    assert.ok(table.id);
  });

  test('tables: 409 duplicate, 404 with BigQuery’s message, partitioning, clustering and labels kept', async () => {
    const name = next('events');
    await ds.table(name).create({
      schema: { fields: [{ name: 'ts', type: 'TIMESTAMP' }, { name: 'k', type: 'STRING', mode: 'REQUIRED' }, { name: 'n', type: 'INTEGER' }] },
      timePartitioning: { type: 'DAY', field: 'ts' },
      clustering: { fields: ['k'] },
      labels: { team: 'data' },
    });
    const exists = await failure(ds.table(name).create({ schema: { fields: [{ name: 'a', type: 'STRING' }] } }));
    assert.equal(exists.code, 409);
    assert.equal(exists.errors?.[0]?.reason, 'duplicate');
    const missing = await failure(ds.table('nope').getMetadata());
    assert.equal(missing.code, 404);
    assert.match(missing.message, /Not found: Table p:d\.nope/);
    const [metadata] = await ds.table(name).getMetadata();
    assert.deepEqual(metadata.timePartitioning, { type: 'DAY', field: 'ts' });
    assert.deepEqual(metadata.clustering, { fields: ['k'] });
    assert.deepEqual(metadata.labels, { team: 'data' });
    assert.deepEqual(
      metadata.schema.fields.map((f: { name: string; type: string; mode: string }) => `${f.name}:${f.type}:${f.mode}`),
      ['ts:TIMESTAMP:NULLABLE', 'k:STRING:REQUIRED', 'n:INTEGER:NULLABLE'],
    );
    assert.equal(metadata.numRows, '0');
    const badPartition = await failure(ds.table(next('t')).create({ schema: { fields: [{ name: 'a', type: 'STRING' }] }, timePartitioning: { type: 'DAY', field: 'a' } }));
    assert.match(badPartition.message, /can only be of type TIMESTAMP, DATE or DATETIME/);
    const badLabel = await failure(ds.table(next('t')).create({ schema: { fields: [{ name: 'a', type: 'STRING' }] }, labels: { Team: 'x' } }));
    assert.match(badLabel.message, /Invalid label/);
  });

  test('tables.patch adds NULLABLE fields, refuses type changes and dropped fields', async () => {
    const name = next('patched');
    await ds.table(name).create({ schema: { fields: [{ name: 'a', type: 'INT64', mode: 'REQUIRED' }] } });
    const [patched] = await ds.table(name).setMetadata({ schema: { fields: [{ name: 'a', type: 'INT64', mode: 'REQUIRED' }, { name: 'b', type: 'STRING' }] } });
    assert.equal(patched.schema.fields.length, 2);
    const changed = await failure(ds.table(name).setMetadata({ schema: { fields: [{ name: 'a', type: 'STRING' }, { name: 'b', type: 'STRING' }] } }));
    assert.match(changed.message, /Field a has changed type from INTEGER to STRING/);
    const dropped = await failure(ds.table(name).setMetadata({ schema: { fields: [{ name: 'a', type: 'INT64', mode: 'REQUIRED' }] } }));
    assert.match(dropped.message, /Field b is missing in new schema/);
  });

  test('load jobs check every value against its type and fail with BigQuery’s error shape', async () => {
    const name = next('typed');
    await ds.table(name).create({
      schema: {
        fields: [
          { name: 'id', type: 'INT64', mode: 'REQUIRED' },
          { name: 'amount', type: 'NUMERIC' },
          { name: 'ts', type: 'TIMESTAMP' },
          { name: 'ok', type: 'BOOL' },
          { name: 'd', type: 'DATE' },
          { name: 'tags', type: 'STRING', mode: 'REPEATED' },
        ],
      },
    });
    const bad = await load(
      name,
      [
        '{"id": 1.5}',
        '{"id": 9223372036854775808}',
        '{"id": 1, "amount": "1.0000000001"}',
        '{"id": 1, "ts": "yesterday"}',
        '{"id": 1, "ok": "maybe"}',
        '{"id": 1, "d": "2024-02-30"}',
        '{"id": 1, "tags": "x"}',
        '{"amount": "1"}',
        '{"id": null}',
        '{"id": 1, "extra": 2}',
        'not json',
      ].join('\n'),
    );
    assert.equal(bad.status.errorResult.reason, 'invalid');
    assert.match(bad.status.errorResult.message, /JSON table encountered too many errors, giving up\. Rows: 11; errors: 11/);
    const messages = bad.status.errors.slice(1).map((e: { message: string }) => e.message);
    assert.equal(messages.length, 5, 'the first errors are listed');
    assert.match(messages[0], /JSON parsing error in row starting at position 0: Could not convert value '1.5' to integer/);
    assert.match(messages[1], /out of range/);
    assert.match(messages[2], /Invalid NUMERIC value: 1.0000000001/);
    assert.match(messages[3], /Invalid timestamp: 'yesterday'/);
    assert.equal(bad.status.errors[1].reason, 'invalid');
    assert.equal(bad.status.errors[1].location, 'file-00000000');
    const [metadata] = await ds.table(name).getMetadata();
    assert.equal(metadata.numRows, '0', 'a failed load writes nothing');

    const all = await load(name, ['{"id": 1}', '{"amount": "1"}', '{"id": 2, "extra": 1}'].join('\n'), { maxBadRecords: 5 });
    assert.equal(all.status.errorResult, undefined);
    assert.equal(all.statistics.load.outputRows, '1');
    assert.equal(all.statistics.load.badRecords, '2');
    const ignoring = await load(name, '{"id": 3, "extra": 1}', { ignoreUnknownValues: true });
    assert.equal(ignoring.statistics.load.outputRows, '1');
    assert.deepEqual(await double.query(`SELECT id FROM \`p.d.${name}\` ORDER BY id`), [{ id: '1' }, { id: '3' }]);
  });

  test('schemaUpdateOptions, writeDisposition and createDisposition', async () => {
    const name = next('disp');
    const schema = { fields: [{ name: 'a', type: 'INT64' }] };
    const wider = { fields: [{ name: 'a', type: 'INT64' }, { name: 'b', type: 'STRING' }] };
    const never = await load(name, '{"a":1}', { schema, createDisposition: 'CREATE_NEVER' });
    assert.match(never.status.errorResult.message, /Not found: Table p:d\.disp/);
    await load(name, '{"a":1}', { schema });
    const refused = await load(name, '{"a":2,"b":"x"}', { schema: wider });
    assert.match(refused.status.errorResult.message, /Cannot add fields \(field: b\)/);
    const added = await load(name, '{"a":2,"b":"x"}', { schema: wider, schemaUpdateOptions: ['ALLOW_FIELD_ADDITION'] });
    assert.equal(added.status.errorResult, undefined);
    const empty = await load(name, '{"a":3}', { writeDisposition: 'WRITE_EMPTY' });
    assert.equal(empty.status.errorResult.reason, 'duplicate');
    const truncated = await load(name, '{"a":9}', { writeDisposition: 'WRITE_TRUNCATE', schema });
    assert.equal(truncated.status.errorResult, undefined);
    assert.deepEqual(await double.query(`SELECT * FROM \`p.d.${name}\``), [{ a: '9' }]);
  });

  test('a job id can be used once: 409 duplicate', async () => {
    await runQuery(handle, 'once', 'SELECT 1 AS x', 'first');
    const error = await failure(client.createJob({ jobId: 'once', configuration: { query: { query: 'SELECT 2', useLegacySql: false } } } as never));
    assert.equal(error.code, 409);
    assert.equal(error.errors?.[0]?.reason, 'duplicate');
    assert.match(error.message, /Already Exists: Job p:EU\.once|Already Exists: Job p:US\.once/);
  });

  test('a query text over 1024K characters (a pair of surrogates is one) is refused at jobs.insert and jobs.query with BigQuery’s error', async () => {
    const limit = 1024 * 1024;
    const query = `SELECT '${'𝄞'.repeat(limit - 9)}'`;
    assert.equal([...query].length, limit);
    await runQuery(handle, next('long'), query, 'longest');
    for (const attempt of [client.createJob({ jobId: next('long'), configuration: { query: { query: `${query} `, useLegacySql: false } } } as never), client.query({ query: `${query} ` })]) {
      const error = await failure(attempt);
      assert.equal(error.code, 400);
      assert.equal(error.errors?.[0]?.reason, 'invalid');
      assert.equal(
        error.message,
        'The query is too large (1024.00K characters, 1 characters over the limit). The maximum standard SQL query length is 1024.00K characters, including comments and white space characters.',
      );
    }
  });

  test('scripts: a failing statement rolls the transaction back; DDL is refused inside one', async () => {
    const name = next('tx');
    await runQuery(handle, next('q'), `CREATE TABLE \`p.d.${name}\` (id INT64 NOT NULL, v STRING)`, 'create');
    await assert.rejects(
      runQuery(handle, next('q'), `BEGIN TRANSACTION; INSERT INTO \`p.d.${name}\` (id, v) VALUES (1, 'a'); INSERT INTO \`p.d.${name}\` (id, v) VALUES (NULL, 'b'); COMMIT TRANSACTION;`, 'insert'),
      /Required field id cannot be null/,
    );
    assert.deepEqual(await double.query(`SELECT * FROM \`p.d.${name}\``), []);
    await assert.rejects(
      runQuery(handle, next('q'), `BEGIN TRANSACTION; ALTER TABLE \`p.d.${name}\` ADD COLUMN z INT64; COMMIT TRANSACTION;`, 'alter'),
      /ALTER TABLE is not supported inside a transaction/,
    );
    await assert.rejects(runQuery(handle, next('q'), `BEGIN TRANSACTION; DELETE FROM \`p.d.${name}\` WHERE TRUE;`, 'open'), /never committed/);
    await assert.rejects(runQuery(handle, next('q'), `INSERT INTO \`p.d.${name}\` (id, v) SELECT 'x', 'y'`, 'types'), /Query column 1 has type STRING which cannot be inserted into column id, which has type INT64/);
    await assert.rejects(runQuery(handle, next('q'), `DELETE FROM \`p.d.${name}\``, 'delete'), /DELETE must have a WHERE clause/);
  });

  test('MERGE refuses a source that matches one target row twice', async () => {
    const name = next('m');
    await runQuery(handle, next('q'), `CREATE TABLE \`p.d.${name}\` (id INT64, v STRING); INSERT INTO \`p.d.${name}\` (id, v) VALUES (1, 'a')`, 'seed');
    await assert.rejects(
      runQuery(handle, next('q'), `MERGE \`p.d.${name}\` T USING (SELECT 1 AS id, 'x' AS v UNION ALL SELECT 1, 'y') S ON T.id = S.id WHEN MATCHED THEN UPDATE SET v = S.v`, 'merge'),
      /UPDATE\/MERGE must match at most one source row for each target row/,
    );
  });

  test('ALTER COLUMN SET DATA TYPE widens only what BigQuery widens', async () => {
    const name = next('w');
    await runQuery(handle, next('q'), `CREATE TABLE \`p.d.${name}\` (a INT64, b NUMERIC, c STRING); INSERT INTO \`p.d.${name}\` (a, b, c) VALUES (5, 1.5, 'x')`, 'seed');
    await runQuery(handle, next('q'), `ALTER TABLE \`p.d.${name}\` ALTER COLUMN a SET DATA TYPE NUMERIC; ALTER TABLE \`p.d.${name}\` ALTER COLUMN b SET DATA TYPE BIGNUMERIC`, 'widen');
    assert.deepEqual(await double.query(`SELECT a, b FROM \`p.d.${name}\``), [{ a: '5', b: '1.5' }]);
    await assert.rejects(runQuery(handle, next('q'), `ALTER TABLE \`p.d.${name}\` ALTER COLUMN c SET DATA TYPE INT64`, 'narrow'), /requires that the existing column type \(STRING\) is assignable to the new type \(INT64\)/);
    await assert.rejects(runQuery(handle, next('q'), `ALTER TABLE \`p.d.${name}\` ADD COLUMN r INT64 NOT NULL`, 'required'), /cannot add a REQUIRED column/);
  });

  test('too many updates to one table in the window: rateLimitExceeded (403 on REST, a failed job otherwise)', async () => {
    const name = next('hot');
    await ds.table(name).create({ schema: { fields: [{ name: 'a', type: 'INT64' }] } });
    double.setTableUpdateLimit(2, 60_000);
    try {
      await runQuery(handle, next('q'), `INSERT INTO \`p.d.${name}\` (a) VALUES (1)`, 'one');
      await runQuery(handle, next('q'), `INSERT INTO \`p.d.${name}\` (a) VALUES (2)`, 'two');
      const [job] = await client.createJob({ jobId: next('third'), configuration: { query: { query: `INSERT INTO \`p.d.${name}\` (a) VALUES (3)`, useLegacySql: false } } } as never);
      let metadata;
      do [metadata] = await job.getMetadata();
      while (metadata.status.state !== 'DONE');
      assert.equal(metadata.status.errorResult.reason, 'rateLimitExceeded');
      assert.match(metadata.status.errorResult.message, /Exceeded rate limits: too many table update operations for this table/);
      const response = await fetch(`${double.endpoint}/bigquery/v2/projects/p/datasets/d/tables/${name}`, {
        method: 'PATCH',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ labels: { a: 'b' } }),
      });
      assert.equal(response.status, 403);
      const body = (await response.json()) as { error: { code: number; errors: { reason: string; domain: string }[] } };
      assert.equal(body.error.errors[0].reason, 'rateLimitExceeded');
      assert.equal(body.error.errors[0].domain, 'usageLimits');
    } finally {
      double.setTableUpdateLimit(5, 10_000);
    }
    assert.deepEqual(await double.query(`SELECT a FROM \`p.d.${name}\` ORDER BY a`), [{ a: '1' }, { a: '2' }]);
  });

  test('query results page with BigQuery’s JSON types; timestamps as float seconds unless asked for int64', async () => {
    const name = next('res');
    await runQuery(handle, next('q'), `CREATE TABLE \`p.d.${name}\` (id INT64, ts TIMESTAMP); INSERT INTO \`p.d.${name}\` (id, ts) VALUES (1, TIMESTAMP '2024-01-01 00:00:00.123456+00'), (2, NULL), (3, NULL)`, 'seed');
    const [job] = await client.createJob({ jobId: next('sel'), configuration: { query: { query: `SELECT id, ts FROM \`p.d.${name}\` ORDER BY id`, useLegacySql: false } } } as never);
    const [rows, nextQuery, response] = (await job.getQueryResults({ autoPaginate: false, skipParsing: true, maxResults: 2, 'formatOptions.useInt64Timestamp': false } as never)) as unknown as [
      { f: { v: string | null }[] }[],
      { pageToken?: string },
      { totalRows: string; schema: { fields: { name: string; type: string }[] }; jobComplete: boolean; pageToken?: string },
    ];
    assert.equal(response.jobComplete, true);
    assert.equal(response.totalRows, '3');
    assert.deepEqual(response.schema.fields.map((f) => f.type), ['INTEGER', 'TIMESTAMP']);
    assert.deepEqual(rows, [{ f: [{ v: '1' }, { v: '1.704067200123456E9' }] }, { f: [{ v: '2' }, { v: null }] }]);
    assert.ok(nextQuery?.pageToken, 'a page token for the rest');
    const [rest] = (await job.getQueryResults({ autoPaginate: false, skipParsing: true, pageToken: nextQuery.pageToken } as never)) as unknown as [{ f: { v: string | null }[] }[]];
    assert.deepEqual(rest, [{ f: [{ v: '3' }, { v: null }] }]);
  });

  test('CREATE OR REPLACE TABLE … AS, PARTITION BY, OPTIONS labels, DROP TABLE, tabledata.list, datasets in use', async () => {
    const name = next('ctas');
    await runQuery(handle, next('q'), `CREATE TABLE \`p.d.${name}\` PARTITION BY DATE(ts) OPTIONS (labels = [('k', 'v')]) AS SELECT 1 AS id, TIMESTAMP '2024-01-01 00:00:00+00' AS ts`, 'ctas');
    const [metadata] = await ds.table(name).getMetadata();
    assert.deepEqual(metadata.timePartitioning, { type: 'DAY', field: 'ts' });
    assert.deepEqual(metadata.labels, { k: 'v' });
    await assert.rejects(runQuery(handle, next('q'), `CREATE TABLE \`p.d.${name}\` AS SELECT 2 AS id`, 'again'), /Already Exists: Table p:d\./);
    await runQuery(handle, next('q'), `CREATE OR REPLACE TABLE \`p.d.${name}\` AS SELECT 2 AS id UNION ALL SELECT 3`, 'replace');
    const [rows] = await ds.table(name).getRows({ maxResults: 1, autoPaginate: false } as never);
    assert.equal(rows.length, 1, 'tabledata.list pages');
    const [all] = await ds.table(name).getRows();
    assert.deepEqual(all.map((r: { id: number }) => r.id).sort(), [2, 3]);
    const inUse = await failure(ds.delete());
    assert.equal(inUse.code, 400);
    assert.match(inUse.message, /is still in use/);
    await runQuery(handle, next('q'), `DROP TABLE \`p.d.${name}\``, 'drop');
    assert.equal((await ds.table(name).exists())[0], false);
    await runQuery(handle, next('q'), `DROP TABLE IF EXISTS \`p.d.${name}\``, 'drop again');
  });

  test('the resumable upload path runs the load too', async () => {
    const name = next('resumable');
    await ds.table(name).create({ schema: { fields: [{ name: 'a', type: 'STRING' }] } });
    const start = await fetch(`${double.endpoint}/upload/bigquery/v2/projects/p/jobs?uploadType=resumable`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jobReference: { jobId: next('res') }, configuration: { load: { destinationTable: { projectId: 'p', datasetId: 'd', tableId: name }, sourceFormat: 'NEWLINE_DELIMITED_JSON' } } }),
    });
    const session = start.headers.get('location');
    assert.ok(session);
    const put = await fetch(session, { method: 'PUT', body: '{"a":"x"}\n{"a":"y"}\n' });
    const job = (await put.json()) as { jobReference: { jobId: string } };
    const [metadata] = await client.job(job.jobReference.jobId).getMetadata();
    assert.equal(metadata.status.state === 'DONE' || metadata.status.state === 'RUNNING', true);
    let done = metadata;
    while (done.status.state !== 'DONE') [done] = await client.job(job.jobReference.jobId).getMetadata();
    assert.equal(done.statistics.load.outputRows, '2');
  });
});
