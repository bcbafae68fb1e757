/**
 * The BigQuery connectors against the real service. Runs only with B2BETL_TEST_BQ_PROJECT and
 * credentials (GOOGLE_APPLICATION_CREDENTIALS, or B2BETL_TEST_BQ_CREDENTIALS: a key file path,
 * inline JSON or secret:// reference); B2BETL_TEST_BQ_LOCATION picks the location (US).
 * It creates a scratch dataset, loads, merges and replaces, reads a public table, and drops
 * the dataset at the end.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { openBigQuery, type BigQueryHandle } from '../../connectors/bigquery-common/bigquery-client.js';
import { destination as openDestination } from '../../connectors/destinations/bigquery/index.js';
import { source as openSource } from '../../connectors/sources/bigquery/index.js';
import type { DestinationConnector, SourceConnector } from '../../src/core/connector.js';
import { silentLogger } from '../../src/core/log.js';
import { jobSchema, type ConnectionConfig } from '../../src/core/spec.js';
import type { Column } from '../../src/core/types.js';

const project = process.env.B2BETL_TEST_BQ_PROJECT;
const credentials = process.env.B2BETL_TEST_BQ_CREDENTIALS;
const hasCredentials = Boolean(credentials || process.env.GOOGLE_APPLICATION_CREDENTIALS);
const skip = !project
  ? 'set B2BETL_TEST_BQ_PROJECT (and credentials) to run the BigQuery live tests against the real service'
  : !hasCredentials
    ? 'set GOOGLE_APPLICATION_CREDENTIALS or B2BETL_TEST_BQ_CREDENTIALS to run the BigQuery live tests'
    : false;

const col = (name: string, type: Column['type']): Column => ({ name, source: name, type, nullable: true });

describe('BigQuery live', { skip }, () => {
  const dataset = `b2betl_live_${randomBytes(4).toString('hex')}`;
  const config = { type: 'bigquery', project: project!, dataset, location: process.env.B2BETL_TEST_BQ_LOCATION ?? 'US', ...(credentials ? { credentials } : {}) } as ConnectionConfig;
  let bq: DestinationConnector;
  let handle: BigQueryHandle;

  before(async () => {
    const context = { name: 'live', config, baseDir: process.cwd(), log: silentLogger };
    bq = await openDestination(context);
    handle = await openBigQuery(context);
  });
  after(async () => {
    await handle?.dataset().delete({ force: true }).catch(() => undefined);
  });

  const select = async (sql: string) => (await handle.client.query({ query: sql, location: config.type === 'bigquery' ? config.location : undefined, wrapIntegers: true }))[0] as Record<string, unknown>[];

  test('transactional load with exact values, marker, then merge', async () => {
    const job = jobSchema.parse({ name: 'live_orders', source: { connection: 'x', table: 't' }, load: { strategy: 'transactional', cursor: 'at' } });
    const runId = `live${randomBytes(3).toString('hex')}`;
    const stage = await bq.stage({ runId, job, table: 'orders', strategy: 'transactional', primaryKey: [], columns: [col('id', 'INT64'), col('amount', 'NUMERIC'), col('at', 'TIMESTAMP'), col('doc', 'JSON')], log: silentLogger });
    await stage.write(0, [
      [9007199254740993n, '12345678901234567890.123456789', 1704067200123456n, '{"a":[1,2]}'],
      [2, '-0.5', 0n, null],
    ]);
    assert.equal(await stage.commit([0], { runId, job: job.name, table: 'orders', strategy: 'transactional', units: ['u'], rows: 2 }, []), 2);
    const rows = await select(`SELECT CAST(id AS STRING) AS id, CAST(amount AS STRING) AS amount, UNIX_MICROS(at) AS at, TO_JSON_STRING(doc) AS doc FROM \`${project}.${dataset}.orders\` ORDER BY id DESC`);
    assert.deepEqual(
      rows.map((r) => [r.id, r.amount, String(r.at), r.doc]),
      [
        ['9007199254740993', '12345678901234567890.123456789', '1704067200123456', '{"a":[1,2]}'],
        ['2', '-0.5', '0', null],
      ],
    );
    assert.deepEqual(await bq.committedRuns(job.name, [runId, 'nope']), new Set([runId]));

    const merge = jobSchema.parse({ name: 'live_people', source: { connection: 'x', table: 't' }, load: { strategy: 'merge', primary_key: ['id'] } });
    for (const [i, batch] of [[[1, 'a'], [2, 'b']], [[2, 'B'], [3, 'c'], [2, 'BB']]].entries()) {
      const id = `${runId}_m${i}`;
      const s = await bq.stage({ runId: id, job: merge, table: 'people', strategy: 'merge', primaryKey: ['id'], columns: [col('id', 'INT64'), col('name', 'STRING')], log: silentLogger });
      await s.write(0, batch);
      await s.commit([0], { runId: id, job: merge.name, table: 'people', strategy: 'merge', units: ['u'], rows: batch.length }, []);
    }
    assert.deepEqual((await select(`SELECT id, name FROM \`${project}.${dataset}.people\` ORDER BY id`)).map((r) => `${r.id}:${r.name}`), ['1:a', '2:BB', '3:c']);
  });

  test('reads a public table with the source', async () => {
    const src: SourceConnector = await openSource({ name: 'live', config, baseDir: process.cwd(), log: silentLogger });
    const job = jobSchema.parse({ name: 'shakespeare', source: { connection: 'live', query: "SELECT word, word_count FROM `bigquery-public-data.samples.shakespeare` WHERE corpus = 'sonnets' AND word = 'love'" }, load: { strategy: 'catalog' } });
    const plan = await src.plan({ job, state: { files: new Map() }, fullRefresh: true, log: silentLogger });
    const rows: unknown[][] = [];
    for await (const batch of src.read(plan.units[0], { job, log: silentLogger, signal: new AbortController().signal })) rows.push(...batch.rows);
    assert.equal(rows.length, 1);
    assert.equal(rows[0][0], 'love');
    assert.equal(typeof rows[0][1], 'number');
    await src.close();
  });
});
