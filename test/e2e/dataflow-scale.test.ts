/**
 * Through the real binary, at the size the default threshold is about: a one-million-row
 * PostgreSQL table into BigQuery with `engine: auto` and the default `dataflow.threshold_rows` is
 * planned to Dataflow, read in partitions of its primary key, and the rows the template loads
 * (the Dataflow double running it on the local PostgreSQL) equal a local run's.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { runCli, scratchProject } from '../support/cli.js';
import { startDataflowClouds, type DataflowClouds, type DataflowDouble } from '../support/dataflow-double.js';
import { pgScratch, type PgScratch } from '../support/databases.js';

const PROJECT = 'etl-proj';
// Exactly the threshold: PostgreSQL's planner puts this window a little under it, so the rows are counted.
const ROWS = 1_000_000;
const USER = 'projects/etl-proj/secrets/pg-user/versions/1';

describe('a million PostgreSQL rows with engine: auto', () => {
  let clouds: DataflowClouds;
  let bigquery: DataflowClouds['bigquery'];
  let dataflow: DataflowDouble;
  let pg: PgScratch;
  let project: Awaited<ReturnType<typeof scratchProject>>;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    clouds = await startDataflowClouds(PROJECT, { [USER]: 'postgres' });
    ({ bigquery, dataflow } = clouds);
    pg = await pgScratch('dfscale');
    await pg.sql(`CREATE TABLE events (id bigint PRIMARY KEY, kind text, amount numeric(12,2), happened_at timestamptz)`);
    await pg.sql(`INSERT INTO events SELECT g, 'k' || (g % 7), (g % 1000) / 100.0, timestamptz '2024-01-01Z' + g * interval '1 second' FROM generate_series(1, ${ROWS}) g`);
    await pg.sql('ANALYZE events');
    const job = (name: string, engine: string) => `name: ${name}\nengine: ${engine}\nsource: { connection: shop, table: ${pg.schema}.events }\nload: { strategy: transactional, cursor: happened_at }\n`;
    project = await scratchProject({
      'etl.config.yaml': [
        'connections:',
        `  shop: { type: postgres, host: 127.0.0.1, port: 5432, database: test, user: "secret://${USER}" }`,
        `  bq: { type: bigquery, project: ${PROJECT}, dataset: raw, endpoint: "${bigquery.endpoint}" }`,
        'defaults: { destination: bq }',
        'dataflow: { project: etl-proj, region: europe-west1, temp_location: "gs://etl-temp/b2betl" }',
        '',
      ].join('\n'),
      'jobs/events_auto.yaml': job('events_auto', 'auto'),
      'jobs/events_local.yaml': job('events_local', 'local'),
    });
    env = clouds.env;
  });
  after(async () => {
    await project?.cleanup();
    await clouds?.stop();
    await pg?.drop();
  });

  async function run(job: string, ...flags: string[]) {
    const result = await runCli(['run', `jobs/${job}.yaml`, '--json', ...flags], project.dir, env);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    return (JSON.parse(result.stdout) as { status: string; rows_loaded: number; plan?: { engine: { name: string; reason: string; details?: Record<string, unknown> } } }[])[0];
  }

  test('is planned to Dataflow, loaded by the template in partitions, and equals a local run', async () => {
    const plan = (await run('events_auto', '--dry-run')).plan!;
    assert.equal(plan.engine.name, 'dataflow', plan.engine.reason);
    assert.match(plan.engine.reason, /1,000,000 rows \(count\(\*\) of the window: .*too close to the threshold to decide\), reaches dataflow\.threshold_rows \(1,000,000\)/);
    assert.deepEqual(plan.engine.details!.partitioning, { column: 'id', type: 'long', partitions: 2, lowerBound: '1', upperBound: String(ROWS) });

    const loaded = await run('events_auto');
    assert.deepEqual([loaded.status, loaded.rows_loaded], ['succeeded', ROWS]);
    assert.equal(dataflow.jobs().length, 1);
    assert.equal((await run('events_local')).rows_loaded, ROWS);
    const digest = (table: string) =>
      bigquery.query(`SELECT COUNT(*) AS n, COUNT(DISTINCT id) AS ids, SUM(amount) AS amount, MIN(happened_at) AS first_at, MAX(happened_at) AS last_at, COUNT(DISTINCT kind) AS kinds FROM \`${PROJECT}.raw.${table}\``);
    assert.deepEqual(await digest('events_auto'), await digest('events_local'));
    const markers = await bigquery.query(`SELECT table_name, JSON_EXTRACT(state, '$.cursor') AS cursor FROM \`${PROJECT}.raw._b2betl_loads\` ORDER BY table_name`);
    assert.deepEqual(markers.map((m) => m.cursor), [markers[1].cursor, markers[1].cursor]);
  });
});
