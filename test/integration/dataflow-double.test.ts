/**
 * The Dataflow double through the real @google-cloud/dataflow client: launches of the JDBC
 * templates are checked parameter by parameter against the documented lists (400
 * INVALID_ARGUMENT otherwise), partition bounds by the template's launcher (the job fails),
 * jobs walk their states, are found by name and cancelled, and a launched template really runs:
 * its query or its partitioned table read (on a long or a datetime column) on the local
 * PostgreSQL and MariaDB, its rows loaded into the BigQuery double's existing table.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { BigQuery } from '@google-cloud/bigquery';
import { EtlError } from '../../src/core/errors.js';
import { openDataflow, TERMINAL_STATES, type DataflowApi, type DataflowJob, type LaunchRequest } from '../../connectors/engines/dataflow/dataflow-client.js';
import { startBigQueryDouble, type BigQueryDouble } from '../support/bigquery-double/index.js';
import { startDataflowDouble, type DataflowDouble } from '../support/dataflow-double.js';
import { datetimeBound, datetimeRanges, longRanges } from '../support/dataflow-templates.js';
import { myScratch, pgScratch, type MyScratch, type PgScratch } from '../support/databases.js';

const PROJECT = 'etl-proj';
const REGION = 'europe-west1';
const PASSWORD = 'projects/etl-proj/secrets/db-password/versions/1';
const USER = 'projects/etl-proj/secrets/db-user/versions/1';

describe('Dataflow double', () => {
  let bigquery: BigQueryDouble;
  let dataflow: DataflowDouble;
  let api: DataflowApi;
  let client: BigQuery;
  let pg: PgScratch;
  let my: MyScratch;
  let n = 0;

  before(async () => {
    bigquery = await startBigQueryDouble({ project: PROJECT });
    await bigquery.createDataset(PROJECT, 'raw');
    dataflow = await startDataflowDouble({ bigquery: bigquery.endpoint, secrets: { [PASSWORD]: '', [USER]: 'postgres', 'projects/etl-proj/secrets/my-user/versions/2': 'root' } });
    api = await openDataflow({ project: PROJECT, region: REGION, endpoint: dataflow.endpoint });
    const { BigQuery } = await import('@google-cloud/bigquery');
    client = new BigQuery({ projectId: PROJECT, apiEndpoint: bigquery.endpoint, authClient: { getRequestHeaders: async () => new Headers({ authorization: 'Bearer t' }), getAccessToken: async () => ({ token: 't' }), getProjectId: async () => PROJECT } as never });
    pg = await pgScratch('dfd');
    await pg.sql('CREATE TABLE items (id bigint PRIMARY KEY, name text, price numeric(10,2), seen timestamptz)');
    await pg.sql(`INSERT INTO items SELECT g, 'item ' || g, g * 1.5, timestamptz '2024-01-01 00:00:00Z' + g * interval '1 hour' FROM generate_series(1, 25) g`);
    my = await myScratch('dfd');
    await my.sql('CREATE TABLE items (id BIGINT PRIMARY KEY, name VARCHAR(40), flag TINYINT(1))');
    await my.sql('INSERT INTO items VALUES (1, "one", 1), (2, "two", 0), (3, NULL, NULL)');
  });
  after(async () => {
    await api?.close();
    await dataflow?.stop();
    await bigquery?.stop();
    await pg?.drop();
    await my?.drop();
  });

  async function outputTable(fields: { name: string; type: string }[]): Promise<string> {
    const name = `stage_${++n}`;
    await client.dataset('raw').table(name).create({ schema: { fields } });
    return name;
  }

  function request(template: string, parameters: Record<string, string>, environment: Record<string, unknown> = {}): LaunchRequest {
    return {
      projectId: PROJECT,
      location: REGION,
      launchParameter: { jobName: `b2betl-test-${++n}`, containerSpecGcsPath: `gs://dataflow-templates-${REGION}/latest/flex/${template}`, parameters, environment },
    };
  }

  function pgParameters(table: string, extra: Record<string, string> = {}): Record<string, string> {
    return {
      connectionURL: `jdbc:postgresql://127.0.0.1:5432/test`,
      username: USER,
      password: PASSWORD,
      outputTable: `${PROJECT}:raw.${table}`,
      bigQueryLoadingTemporaryDirectory: 'gs://etl-temp/b2betl',
      useColumnAlias: 'true',
      ...extra,
    };
  }

  async function finish(job: DataflowJob): Promise<DataflowJob> {
    const states = [job.state];
    for (;;) {
      const now = await api.get(job.id);
      if (now.state !== states.at(-1)) states.push(now.state);
      if (TERMINAL_STATES.has(now.state)) return { ...now, labels: { ...now.labels, walked: states.join(' > ') } };
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async function rejected(launch: LaunchRequest, pattern: RegExp): Promise<void> {
    await assert.rejects(api.launch(launch), (error: unknown) => {
      assert.ok(error instanceof EtlError);
      assert.match(error.message, /INVALID_ARGUMENT|NOT_FOUND/);
      assert.match(error.message, pattern);
      return true;
    });
  }

  test('launches are refused with 400 INVALID_ARGUMENT for unknown, missing and malformed parameters', async () => {
    const table = await outputTable([{ name: 'id', type: 'INT64' }]);
    const query = { query: 'SELECT id FROM items' };
    await rejected(request('PostgreSQL_to_BigQuery', { ...pgParameters(table, query), partitions: '4' }), /Unrecognized parameter: partitions/);
    const { outputTable: _dropped, ...missing } = pgParameters(table, query);
    await rejected(request('PostgreSQL_to_BigQuery', missing), /Missing required parameter: outputTable/);
    await rejected(request('PostgreSQL_to_BigQuery', pgParameters(table, { ...query, numPartitions: 'four' })), /numPartitions: must be an integer/);
    await rejected(request('PostgreSQL_to_BigQuery', pgParameters(table, { ...query, connectionURL: 'jdbc:mysql://127.0.0.1:3306/test' })), /connectionURL: must be jdbc:postgresql/);
    await rejected(request('PostgreSQL_to_BigQuery', pgParameters(table, { ...query, password: 'projects/etl-proj/secrets/pw' })), /be projects\/\{project\}\/secrets\/\{secret\}/);
    await rejected(request('PostgreSQL_to_BigQuery', pgParameters(table, { ...query, outputTable: `raw.${table}` })), /outputTable: must be <project>:<dataset>\.<table>/);
    await rejected(request('PostgreSQL_to_BigQuery', pgParameters(table, { table: '(SELECT id FROM items) AS q', partitionColumn: 'id', partitionColumnType: 'timestamp' })), /partitionColumnType: must be long or datetime/);
    await rejected(request('PostgreSQL_to_BigQuery', pgParameters(table)), /Either query, or table with partitionColumn/);
    await rejected(request('Postgres_to_BigQuery', pgParameters(table, query)), /Unable to open template file/);
    await rejected({ ...request('PostgreSQL_to_BigQuery', pgParameters(table, query)), location: 'us-central1' }, /not in the job's region us-central1/);
    await rejected(request('PostgreSQL_to_BigQuery', pgParameters(table, query), { serviceAccountEmail: 'etl runner' }), /Invalid service account email/);
    await rejected(request('PostgreSQL_to_BigQuery', pgParameters(table, query), { machineType: 'huge' }), /Invalid machine type/);
    await rejected(request('PostgreSQL_to_BigQuery', pgParameters(table, query), { numWorkers: 5, maxWorkers: 2 }), /must not exceed maxWorkers/);
    await rejected(request('PostgreSQL_to_BigQuery', pgParameters(table, query), { subnetwork: 'my-subnet' }), /Invalid subnetwork/);
    assert.equal(dataflow.jobs().length, 0, 'no refused launch left a job');
  });

  test('a PostgreSQL query runs QUEUED > RUNNING > DONE and its rows land in the existing table, found again by name', async () => {
    const table = await outputTable([
      { name: 'id', type: 'INT64' },
      { name: 'label', type: 'STRING' },
      { name: 'price', type: 'NUMERIC' },
      { name: 'seen', type: 'TIMESTAMP' },
    ]);
    const sql = `SELECT q.id AS id, q.name::text AS label, q.price::text AS price, to_char(q.seen AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS seen FROM ${pg.schema}.items AS q WHERE q.id <= 3`;
    const launch = request('PostgreSQL_to_BigQuery', pgParameters(table, { query: sql }), { maxWorkers: 2, machineType: 'n1-standard-2', tempLocation: 'gs://etl-temp/tmp', serviceAccountEmail: 'etl-runner@etl-proj.iam.gserviceaccount.com' });
    const job = await api.launch(launch);
    assert.equal(job.state, 'JOB_STATE_QUEUED');
    const done = await finish(job);
    assert.equal(done.labels.walked, 'JOB_STATE_QUEUED > JOB_STATE_RUNNING > JOB_STATE_DONE');
    const rows = await bigquery.query(`SELECT id, label, price, seen FROM \`${PROJECT}.raw.${table}\` ORDER BY id`);
    assert.deepEqual(rows, [
      { id: '1', label: 'item 1', price: '1.5', seen: '1704070800000000' },
      { id: '2', label: 'item 2', price: '3', seen: '1704074400000000' },
      { id: '3', label: 'item 3', price: '4.5', seen: '1704078000000000' },
    ]);
    // jobs.list filtered by name, through the client itself
    const [{ v1beta3 }, { OAuth2Client }] = await Promise.all([import('@google-cloud/dataflow'), import('google-auth-library')]);
    const auth = new OAuth2Client();
    auth.setCredentials({ access_token: 't', expiry_date: Date.now() + 3_600_000 });
    const jobs = new v1beta3.JobsV1Beta3Client({ fallback: true, apiEndpoint: '127.0.0.1', port: Number(new URL(dataflow.endpoint).port), protocol: 'http', authClient: auth } as never);
    const named = async (name: string) => (await jobs.listJobs({ projectId: PROJECT, location: REGION, name }, { autoPaginate: false }))[0].map((j) => [j.id, j.currentState]);
    try {
      assert.deepEqual(await named(launch.launchParameter.jobName), [[job.id, 'JOB_STATE_DONE']]);
      assert.deepEqual(await named('b2betl-nobody'), []);
    } finally {
      await jobs.close();
    }
    assert.equal((await api.progress(job.id)).rows, 3);
  });

  test('a partitioned table read splits as JdbcIO does and loads every row once', async () => {
    assert.deepEqual(longRanges(1n, 25n, 4n), [[1n, 8n], [8n, 15n], [15n, 22n], [22n, 26n]]);
    assert.deepEqual(longRanges(5n, 5n, 3n), [[5n, 6n]]);
    assert.deepEqual(datetimeRanges(0, 10, 3), [[0, 3], [3, 6], [6, 9], [9, 11]]);
    const table = await outputTable([{ name: 'id', type: 'INT64' }, { name: 'label', type: 'STRING' }]);
    const launch = request(
      'PostgreSQL_to_BigQuery',
      pgParameters(table, { table: `(SELECT q.id AS id, q.name AS label FROM ${pg.schema}.items AS q WHERE q.id > 2) AS subq`, partitionColumn: 'id', numPartitions: '4', lowerBound: '3', upperBound: '25' }),
    );
    assert.equal((await finish(await api.launch(launch))).state, 'JOB_STATE_DONE');
    const rows = await bigquery.query(`SELECT COUNT(*) AS n, COUNT(DISTINCT id) AS d, MIN(id) AS lo, MAX(id) AS hi FROM \`${PROJECT}.raw.${table}\``);
    assert.deepEqual(rows, [{ n: '23', d: '23', lo: '3', hi: '25' }]);
  });

  test("the template's launcher fails a job whose partition bounds do not parse for their partitionColumnType", async () => {
    const table = await outputTable([{ name: 'id', type: 'INT64' }]);
    const read = { table: `(SELECT id FROM ${pg.schema}.items) AS q`, partitionColumn: 'id', numPartitions: '2' };
    const cases: [Record<string, string>, RegExp][] = [
      [{ lowerBound: '2024-01-01 00:00:00.000+00:00', upperBound: '2024-01-02 00:00:00.000+00:00' }, /NumberFormatException: Expected Long values for lowerBound and upperBound, received : For input string: "2024-01-01 00:00:00\.000\+00:00"/],
      [{ partitionColumnType: 'long', lowerBound: '1', upperBound: '9223372036854775808' }, /For input string: "9223372036854775808"/],
      [{ partitionColumnType: 'datetime', lowerBound: '1', upperBound: '25' }, /IllegalArgumentException: Expected DateTime values in the format for lowerBound and upperBound, received : Invalid format: "1"/],
      [{ partitionColumnType: 'datetime', lowerBound: '2024-01-01T00:00:00.000Z', upperBound: '2024-01-02 00:00:00.000Z' }, /Invalid format: "2024-01-01T00:00:00\.000Z"/],
      [{ partitionColumnType: 'datetime', lowerBound: '2024-01-01 00:00:00.000123+00:00', upperBound: '2024-01-02 00:00:00.000Z' }, /Invalid format: "2024-01-01 00:00:00\.000123\+00:00"/],
      [{ partitionColumnType: 'datetime', lowerBound: '2024-02-30 00:00:00.000+00:00', upperBound: '2024-03-01 00:00:00.000+00:00' }, /Value 30 for dayOfMonth must be in the range \[1,29\]/],
    ];
    for (const [bounds, pattern] of cases) {
      const job = await finish(await api.launch(request('PostgreSQL_to_BigQuery', pgParameters(table, { ...read, ...bounds }))));
      assert.equal(job.labels.walked, 'JOB_STATE_QUEUED > JOB_STATE_FAILED', JSON.stringify(bounds));
      assert.match((await api.errors(job.id)).join('\n'), pattern);
    }
    assert.equal((await bigquery.query(`SELECT COUNT(*) AS n FROM \`${PROJECT}.raw.${table}\``))[0].n, '0');
    assert.equal(datetimeBound('2024-02-20 07:55:45.000+03:30'), Date.parse('2024-02-20T04:25:45.000Z'), "the documentation's example");
  });

  test('a datetime partitioned read on PostgreSQL and MariaDB splits as JdbcIO does, at the millisecond, every microsecond value once', async () => {
    // Strides of 21,600,249 ms from 00:00:00.000, then the remainder up to 1 ms past the upper bound:
    // rows on both sides of the first inner bound, 06:00:00.249, and within a millisecond of each end.
    const stamps = ['2024-01-01 00:00:00.000001', '2024-01-01 00:00:00.000999', '2024-01-01 06:00:00.248999', '2024-01-01 06:00:00.249', '2024-01-01 06:00:00.249001', '2024-01-01 18:00:00', '2024-01-02 00:00:00.999', '2024-01-02 00:00:00.999999'];
    const bounds = { partitionColumnType: 'datetime', numPartitions: '4', lowerBound: '2024-01-01 00:00:00.000Z', upperBound: '2024-01-02 00:00:00.999+00:00' };
    assert.deepEqual(datetimeRanges(datetimeBound(bounds.lowerBound) as number, datetimeBound(bounds.upperBound) as number, 4).map(([from]) => new Date(from).toISOString().slice(11)), ['00:00:00.000Z', '06:00:00.249Z', '12:00:00.498Z', '18:00:00.747Z', '00:00:00.996Z']);
    const expected = stamps.map((stamp, i) => ({ id: String(i + 1), split: `${stamp.padEnd(26, stamp.includes('.') ? '0' : '.000000')}Z` }));
    await pg.sql(`CREATE TABLE stamps (id bigint, at timestamptz)`);
    await pg.sql(`INSERT INTO stamps VALUES ${stamps.map((stamp, i) => `(${i + 1}, '${stamp}Z')`).join(', ')}`);
    const pgTable = await outputTable([{ name: 'id', type: 'INT64' }, { name: 'split', type: 'STRING' }]);
    const pgRead = { table: `(SELECT q.id AS id, q.at AT TIME ZONE 'UTC' AS split FROM ${pg.schema}.stamps AS q) AS subq`, partitionColumn: 'split', ...bounds };
    assert.equal((await finish(await api.launch(request('PostgreSQL_to_BigQuery', pgParameters(pgTable, pgRead))))).state, 'JOB_STATE_DONE');
    assert.deepEqual(await bigquery.query(`SELECT id, split FROM \`${PROJECT}.raw.${pgTable}\` ORDER BY id`), expected);

    await my.sql('CREATE TABLE stamps (id BIGINT, at DATETIME(6))');
    await my.sql(`INSERT INTO stamps VALUES ${stamps.map((stamp, i) => `(${i + 1}, '${stamp}')`).join(', ')}`);
    const myTable = await outputTable([{ name: 'id', type: 'INT64' }, { name: 'split', type: 'STRING' }]);
    const launch = request('MySQL_to_BigQuery', {
      connectionURL: `jdbc:mysql://127.0.0.1:3306/${my.database}`,
      connectionProperties: 'connectionTimeZone=UTC;forceConnectionTimeZoneToSession=true',
      username: 'projects/etl-proj/secrets/my-user/versions/2',
      password: PASSWORD,
      table: '(SELECT id, at AS split FROM stamps) AS subq',
      partitionColumn: 'split',
      ...bounds,
      useColumnAlias: 'true',
      outputTable: `${PROJECT}:raw.${myTable}`,
      bigQueryLoadingTemporaryDirectory: 'gs://etl-temp/b2betl',
    });
    assert.equal((await finish(await api.launch(launch))).state, 'JOB_STATE_DONE');
    // Connector/J reads a DATETIME as a LocalDateTime, which the template prints without an offset.
    assert.deepEqual(await bigquery.query(`SELECT id, split FROM \`${PROJECT}.raw.${myTable}\` ORDER BY id`), expected.map((row) => ({ ...row, split: row.split.slice(0, -1) })));
  });

  test('a MySQL query runs on MariaDB; TINYINT(1) arrives as BOOL as Connector/J reads it', async () => {
    const table = await outputTable([{ name: 'id', type: 'INT64' }, { name: 'name', type: 'STRING' }, { name: 'flag', type: 'BOOL' }]);
    const launch = request('MySQL_to_BigQuery', {
      connectionURL: `jdbc:mysql://127.0.0.1:3306/${my.database}`,
      username: 'projects/etl-proj/secrets/my-user/versions/2',
      password: PASSWORD,
      query: 'SELECT id, name, flag FROM items',
      outputTable: `${PROJECT}:raw.${table}`,
      bigQueryLoadingTemporaryDirectory: 'gs://etl-temp/b2betl',
    });
    assert.equal((await finish(await api.launch(launch))).state, 'JOB_STATE_DONE');
    assert.deepEqual(await bigquery.query(`SELECT id, name, flag FROM \`${PROJECT}.raw.${table}\` ORDER BY id`), [
      { id: '1', name: 'one', flag: 'true' },
      { id: '2', name: 'two', flag: 'false' },
      { id: '3', name: null, flag: null },
    ]);
  });

  test('a job fails with its messages when asked, when its secret cannot be read, or when the table is missing', async () => {
    const table = await outputTable([{ name: 'id', type: 'INT64' }]);
    dataflow.endNext('JOB_STATE_FAILED', 'Workflow failed. Causes: the workers could not reach the database.');
    const failed = await finish(await api.launch(request('PostgreSQL_to_BigQuery', pgParameters(table, { query: `SELECT id FROM ${pg.schema}.items` }))));
    assert.equal(failed.state, 'JOB_STATE_FAILED');
    assert.deepEqual(await api.errors(failed.id), ['Workflow failed. Causes: the workers could not reach the database.']);
    const secret = await finish(await api.launch(request('PostgreSQL_to_BigQuery', pgParameters(table, { query: 'SELECT 1 AS id', password: 'projects/etl-proj/secrets/absent/versions/1' }))));
    assert.equal(secret.state, 'JOB_STATE_FAILED');
    assert.match((await api.errors(secret.id)).join('\n'), /secretmanager\.versions\.access/);
    const missing = await finish(await api.launch(request('PostgreSQL_to_BigQuery', pgParameters('no_such_table', { query: 'SELECT 1 AS id' }))));
    assert.equal(missing.state, 'JOB_STATE_FAILED');
    assert.match((await api.errors(missing.id)).join('\n'), /not found, and createDisposition is CREATE_NEVER/);
    assert.equal((await bigquery.query(`SELECT COUNT(*) AS n FROM \`${PROJECT}.raw.${table}\``))[0].n, '0');
  });

  test('jobs.update with requestedState JOB_STATE_CANCELLED cancels a running job; its rows are never written', async () => {
    const table = await outputTable([{ name: 'id', type: 'INT64' }]);
    const hold = dataflow.hold();
    const job = await api.launch(request('PostgreSQL_to_BigQuery', pgParameters(table, { query: `SELECT id FROM ${pg.schema}.items` })));
    assert.equal((await api.get(job.id)).state, 'JOB_STATE_QUEUED');
    assert.equal((await api.get(job.id)).state, 'JOB_STATE_RUNNING');
    await hold.running;
    assert.deepEqual((await api.active()).map((j) => j.id), [job.id]);
    await api.cancel(job.id);
    hold.release();
    assert.equal((await finish(job)).state, 'JOB_STATE_CANCELLED');
    await assert.rejects(api.cancel(job.id), /Job has terminated in state JOB_STATE_CANCELLED/);
    assert.equal((await bigquery.query(`SELECT COUNT(*) AS n FROM \`${PROJECT}.raw.${table}\``))[0].n, '0');
  });

  test('API errors name the API or permission and the fix', async () => {
    dataflow.refuse({ status: 403, message: "Permission 'dataflow.jobs.create' denied on project etl-proj" });
    try {
      await assert.rejects(api.launch(request('PostgreSQL_to_BigQuery', pgParameters('x', { query: 'SELECT 1' }))), (error: unknown) => {
        assert.ok(error instanceof EtlError);
        assert.match(error.message, /permission dataflow\.jobs\.create is missing in project etl-proj/);
        assert.match(error.hint ?? '', /roles\/dataflow\.developer/);
        return true;
      });
      dataflow.refuse({ status: 403, message: 'Dataflow API has not been used in project etl-proj before or it is disabled.' });
      await assert.rejects(api.get('2024_x'), (error: unknown) => error instanceof EtlError && /not enabled/.test(error.message) && /gcloud services enable dataflow\.googleapis\.com/.test(error.hint ?? ''));
      dataflow.refuse({ status: 429, message: "Quota exceeded for quota metric 'CPUS' in region europe-west1." });
      await assert.rejects(api.active(), (error: unknown) => error instanceof EtlError && /out of quota/.test(error.message) && /max_workers/.test(error.hint ?? ''));
    } finally {
      dataflow.refuse(undefined);
    }
  });
});
