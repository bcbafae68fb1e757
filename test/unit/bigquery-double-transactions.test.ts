/**
 * Multi-statement transactions in the BigQuery double behave as BigQuery's: scripts of different
 * jobs interleave, each transaction reads its own snapshot, and one that updated or deleted rows
 * of a table another job changed since it began (or inserted into one whose rows another job
 * updated or deleted) aborts at COMMIT with BigQuery's error; inserts alone never conflict.
 * ASSERT fails with its description.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { BigQuery, JobMetadata } from '@google-cloud/bigquery';
import { startBigQueryDouble, type BigQueryDouble } from '../support/bigquery-double/index.js';

describe('BigQuery double transactions', () => {
  let double: BigQueryDouble;
  let client: BigQuery;
  let n = 0;

  before(async () => {
    double = await startBigQueryDouble({ project: 'p', tableUpdateLimit: { operations: 500, windowMs: 1000 } });
    const { BigQuery } = await import('@google-cloud/bigquery');
    client = new BigQuery({ projectId: 'p', apiEndpoint: double.endpoint, authClient: { getRequestHeaders: async () => new Headers({ authorization: 'Bearer t' }), getAccessToken: async () => ({ token: 't' }), getProjectId: async () => 'p' } as never });
    await double.createDataset('p', 'd');
  });
  after(async () => {
    await double.stop();
  });

  /** Runs a script as a job with the given id prefix; resolves with its final metadata. */
  async function script(prefix: string, sql: string): Promise<JobMetadata> {
    const [job] = await client.createJob({ jobId: `${prefix}_${++n}`, configuration: { query: { query: sql, useLegacySql: false } } } as never);
    for (;;) {
      const [metadata] = await job.getMetadata();
      if (metadata.status?.state === 'DONE') return metadata;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
  const ids = async (table: string) => (await double.query(`SELECT id FROM \`p.d.${table}\` ORDER BY id`)).map((row) => Number(row.id));

  /** Runs `first` held before its COMMIT while `second` runs to its end; returns both outcomes. */
  async function race(table: string, first: string, second: string) {
    const hold = double.holdBeforeCommit(`first_${table}`);
    const a = script(`first_${table}`, first);
    await hold.reached;
    const b = await script(`second_${table}`, second);
    hold.release();
    return { first: await a, second: b };
  }

  test('a transaction that deletes from a table another job changed since it began aborts with BigQuery\'s error', async () => {
    await double.query('CREATE TABLE `p.d.t1` (id INT64)');
    await double.query('INSERT INTO `p.d.t1` (id) VALUES (1)');
    const { first, second } = await race(
      't1',
      'BEGIN TRANSACTION; DELETE FROM `p.d.t1` WHERE TRUE; INSERT INTO `p.d.t1` (id) VALUES (10); COMMIT TRANSACTION',
      'BEGIN TRANSACTION; INSERT INTO `p.d.t1` (id) VALUES (20); COMMIT TRANSACTION',
    );
    assert.equal(second.status?.errorResult, undefined);
    assert.equal(first.status?.errorResult?.reason, 'invalidQuery');
    assert.match(String(first.status?.errorResult?.message), /^Transaction is aborted due to concurrent update against table p:d\.t1\. Transaction ID: [0-9a-f-]{36}$/);
    assert.deepEqual(await ids('t1'), [1, 20], 'the aborted transaction left nothing');
  });

  test('an insert into a table whose rows another job deleted since aborts too; a statement outside a transaction counts', async () => {
    await double.query('CREATE TABLE `p.d.t2` (id INT64)');
    await double.query('INSERT INTO `p.d.t2` (id) VALUES (1), (2)');
    const { first, second } = await race('t2', 'BEGIN TRANSACTION; INSERT INTO `p.d.t2` (id) VALUES (3); COMMIT TRANSACTION', 'DELETE FROM `p.d.t2` WHERE id = 1');
    assert.equal(second.status?.errorResult, undefined);
    assert.match(String(first.status?.errorResult?.message), /concurrent update against table p:d\.t2/);
    assert.deepEqual(await ids('t2'), [2]);
  });

  test('concurrent inserts do not conflict, and a transaction reads its own snapshot', async () => {
    await double.query('CREATE TABLE `p.d.t3` (id INT64)');
    await double.query('CREATE TABLE `p.d.seen` (n INT64)');
    const { first, second } = await race(
      't3',
      'BEGIN TRANSACTION; INSERT INTO `p.d.t3` (id) VALUES (1); INSERT INTO `p.d.seen` (n) SELECT COUNT(*) FROM `p.d.t3`; COMMIT TRANSACTION',
      'BEGIN TRANSACTION; INSERT INTO `p.d.t3` (id) VALUES (2); COMMIT TRANSACTION',
    );
    assert.equal(first.status?.errorResult, undefined);
    assert.equal(second.status?.errorResult, undefined);
    assert.deepEqual(await ids('t3'), [1, 2]);
    // Held at COMMIT after its statements ran, the first saw only its own row.
    assert.deepEqual(await double.query('SELECT n FROM `p.d.seen`'), [{ n: '1' }]);
  });

  test('MERGE conflicts with a MERGE that committed first; the same script again after it succeeds', async () => {
    await double.query('CREATE TABLE `p.d.t4` (id INT64, v STRING)');
    const merge = (v: string) => `BEGIN TRANSACTION; MERGE \`p.d.t4\` T USING (SELECT 1 AS id, '${v}' AS v) S ON T.id = S.id WHEN MATCHED THEN UPDATE SET v = S.v WHEN NOT MATCHED THEN INSERT (id, v) VALUES (S.id, S.v); COMMIT TRANSACTION`;
    const { first, second } = await race('t4', merge('a'), merge('b'));
    assert.equal(second.status?.errorResult, undefined);
    assert.match(String(first.status?.errorResult?.message), /concurrent update against table p:d\.t4/);
    const again = await script('again_t4', merge('a'));
    assert.equal(again.status?.errorResult, undefined);
    assert.deepEqual(await double.query('SELECT id, v FROM `p.d.t4`'), [{ id: '1', v: 'a' }]);
  });

  test('ASSERT fails with its description and rolls the transaction back', async () => {
    await double.query('CREATE TABLE `p.d.t5` (id INT64)');
    const failed = await script('assert', "BEGIN TRANSACTION; INSERT INTO `p.d.t5` (id) VALUES (1); ASSERT NOT EXISTS (SELECT 1 FROM `p.d.t5` WHERE id = 1) AS 'row 1 is already there'; COMMIT TRANSACTION");
    assert.equal(failed.status?.errorResult?.reason, 'invalidQuery');
    assert.equal(failed.status?.errorResult?.message, 'row 1 is already there');
    assert.deepEqual(await ids('t5'), []);
    const passed = await script('assert', 'BEGIN TRANSACTION; ASSERT NOT EXISTS (SELECT 1 FROM `p.d.t5` WHERE id = 1) AS \'x\'; INSERT INTO `p.d.t5` (id) VALUES (1); COMMIT TRANSACTION');
    assert.equal(passed.status?.errorResult, undefined);
    assert.deepEqual(await ids('t5'), [1]);
  });
});
