/**
 * The launch request of the JDBC Flex Templates: the container of the region, the window's query
 * or its partitioned read (on an integer column, or on a timestamp with bounds the template's
 * ranges cover exactly), credentials as Secret Manager versions only, the environment from the
 * `dataflow:` block, a job name from the run id, and every parameter one the documented lists
 * take (checked against the same lists and launcher the Dataflow double enforces).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError } from '../../src/core/errors.js';
import { credentialReference, dataflowJobName, launchRequest, partitioning, type LaunchInput } from '../../connectors/engines/dataflow/dataflow-launch.js';
import { parseTimestamp } from '../../src/core/time.js';
import { datetimeBound, datetimeRanges, launcherFailure, parameterProblems, TEMPLATES } from '../support/dataflow-templates.js';

const SQL = 'SELECT q."id" AS "id", q."name"::text AS "name" FROM "shop"."orders" AS q WHERE (q."updated" > \'2024-01-01\')';

function input(overrides: Partial<LaunchInput> = {}): LaunchInput {
  return {
    job: 'Orders Daily',
    runId: '20261205t011850z_abc123',
    connection: { name: 'shop', type: 'postgres', config: { host: 'db.internal', port: 5433, database: 'shop', user: 'secret://projects/etl-proj/secrets/shop-user/versions/2', password: 'secret://projects/etl-proj/secrets/shop-password' } },
    read: { sql: SQL, split: { type: 'long', alias: 'id', column: 'id', min: '10', max: '4000000', sql: SQL } },
    estimatedRows: 1_800_000,
    output: { project: 'etl-proj', dataset: 'raw', table: '_b2betl_stage_orders' },
    settings: { project: 'etl-proj', region: 'europe-west1', temp_location: 'gs://etl-temp/b2betl/', service_account: 'etl-runner@etl-proj.iam.gserviceaccount.com', subnetwork: 'regions/europe-west1/subnetworks/etl', max_workers: 8, machine_type: 'n2-standard-4' },
    ...overrides,
  };
}

describe('Dataflow launch request', () => {
  test('a large PostgreSQL window is a partitioned read of the window as a subquery, with references for the credentials', () => {
    const { request, partitioning: split } = launchRequest(input());
    assert.equal(request.projectId, 'etl-proj');
    assert.equal(request.location, 'europe-west1');
    assert.equal(request.launchParameter.containerSpecGcsPath, 'gs://dataflow-templates-europe-west1/latest/flex/PostgreSQL_to_BigQuery');
    assert.equal(request.launchParameter.jobName, 'b2betl-orders-daily-20261205t011850z-abc123');
    assert.deepEqual(request.launchParameter.parameters, {
      connectionURL: 'jdbc:postgresql://db.internal:5433/shop',
      username: 'projects/etl-proj/secrets/shop-user/versions/2',
      password: 'projects/etl-proj/secrets/shop-password/versions/latest',
      table: `(${SQL}) AS b2betl_window`,
      partitionColumn: 'id',
      partitionColumnType: 'long',
      numPartitions: '4',
      lowerBound: '10',
      upperBound: '4000000',
      useColumnAlias: 'true',
      bigQueryLoadingTemporaryDirectory: 'gs://etl-temp/b2betl/bigquery',
      outputTable: 'etl-proj:raw._b2betl_stage_orders',
    });
    assert.deepEqual(split, { column: 'id', type: 'long', partitions: 4, lowerBound: '10', upperBound: '4000000' });
    const environment = request.launchParameter.environment;
    assert.deepEqual(
      { ...environment, additionalUserLabels: undefined },
      { tempLocation: 'gs://etl-temp/b2betl/temp', serviceAccountEmail: 'etl-runner@etl-proj.iam.gserviceaccount.com', subnetwork: 'regions/europe-west1/subnetworks/etl', maxWorkers: 8, machineType: 'n2-standard-4', additionalUserLabels: undefined },
    );
    assert.equal((environment.additionalUserLabels as Record<string, string>)['b2betl-run'], '20261205t011850z_abc123');
    assert.deepEqual(parameterProblems(TEMPLATES.PostgreSQL_to_BigQuery, request.launchParameter.parameters), []);
    assert.equal(launcherFailure(request.launchParameter.parameters), undefined);
  });

  test('a window split on a timestamp reads through a column of its own, with millisecond bounds whose ranges hold every microsecond value', () => {
    const withSplit = `${SQL.replace(' FROM ', `, COALESCE(q."updated" AT TIME ZONE 'UTC', '2024-01-01 00:00:00.000999'::timestamp) AS "_b2betl_split" FROM `)}`;
    for (const [min, max, lower, upper] of [
      ['2024-01-01T00:00:00.000999Z', '2024-03-01T10:00:00.123456Z', '2024-01-01 00:00:00.000+00:00', '2024-03-01 10:00:00.123+00:00'],
      ['1969-12-31T23:59:59.999500Z', '1970-01-01T00:00:00.000001Z', '1969-12-31 23:59:59.999+00:00', '1970-01-01 00:00:00.000+00:00'],
      ['2024-05-05 05:05:05.5', '2024-05-05 05:05:05.5', '2024-05-05 05:05:05.500+00:00', '2024-05-05 05:05:05.500+00:00'],
    ]) {
      const read = { sql: SQL, split: { type: 'datetime' as const, alias: '_b2betl_split', column: 'updated', min, max, sql: withSplit } };
      const { request, partitioning: split } = launchRequest(input({ read, partitions: 3 }));
      const parameters = request.launchParameter.parameters;
      assert.deepEqual(split, { column: 'updated', type: 'datetime', partitions: 3, lowerBound: lower, upperBound: upper });
      assert.deepEqual(
        [parameters.table, parameters.partitionColumn, parameters.partitionColumnType, parameters.numPartitions, parameters.lowerBound, parameters.upperBound],
        [`(${withSplit}) AS b2betl_window`, '_b2betl_split', 'datetime', '3', lower, upper],
      );
      assert.deepEqual(parameterProblems(TEMPLATES.PostgreSQL_to_BigQuery, parameters), []);
      assert.equal(launcherFailure(parameters), undefined);
      // The template's ranges, [from, to) in milliseconds, hold the smallest and the largest value.
      const ranges = datetimeRanges(datetimeBound(lower) as number, datetimeBound(upper) as number, 3);
      const at = (text: string) => Number(parseTimestamp(text)!) / 1000;
      assert.ok(ranges[0][0] <= at(min) && at(max) < ranges.at(-1)![1], `${min}..${max} within ${JSON.stringify(ranges)}`);
    }
  });

  test('a small window or a window with no split column is one query; MySQL takes its own template', () => {
    const small = launchRequest(input({ estimatedRows: 20_000 }));
    assert.equal(small.request.launchParameter.parameters.query, SQL);
    assert.equal(small.request.launchParameter.parameters.table, undefined);
    assert.match(small.partitioning.note ?? '', /fits one partition/);
    const mysql = launchRequest(input({ connection: { name: 'shop', type: 'mysql', config: { url: 'mysql://db.internal/shop', user: 'secret://projects/p1-etl/secrets/u/versions/1' } }, read: { sql: SQL, unsplit: 'shop.orders has no integer primary key' } }));
    const parameters = mysql.request.launchParameter.parameters;
    assert.equal(mysql.request.launchParameter.containerSpecGcsPath, 'gs://dataflow-templates-europe-west1/latest/flex/MySQL_to_BigQuery');
    assert.equal(parameters.connectionURL, 'jdbc:mysql://db.internal:3306/shop');
    // Wall-clock window bounds mean what they mean to b2betl's own UTC session.
    assert.equal(parameters.connectionProperties, 'connectionTimeZone=UTC;forceConnectionTimeZoneToSession=true');
    assert.equal(parameters.password, undefined);
    assert.equal(parameters.query, SQL);
    assert.match(mysql.partitioning.note ?? '', /no integer primary key/);
    assert.deepEqual(parameterProblems(TEMPLATES.MySQL_to_BigQuery, parameters), []);
  });

  test('two runs of one window share a fingerprint; another window does not', () => {
    const first = launchRequest(input());
    const again = launchRequest(input({ runId: '20261205t020000z_zzz999', output: { project: 'etl-proj', dataset: 'raw', table: '_b2betl_stage_other' } }));
    const later = `${SQL} AND (q."updated" <= '2024-02-01')`;
    const moved = launchRequest(input({ read: { sql: later, split: { type: 'long', alias: 'id', column: 'id', min: '10', max: '4000000', sql: later } } }));
    assert.equal(first.fingerprint, again.fingerprint);
    assert.notEqual(first.fingerprint, moved.fingerprint);
  });

  test('plain-text credentials, a CA file and partitions without a split column are refused naming the key', () => {
    const refused = (make: () => unknown, pattern: RegExp) =>
      assert.throws(make, (error: unknown) => error instanceof ConfigError && pattern.test(`${error.message} ${error.hint ?? ''}`));
    refused(() => launchRequest(input({ connection: { name: 'shop', type: 'postgres', config: { host: 'db', user: 'secret://projects/p/secrets/u/versions/1', password: 'hunter2' } } })), /connection shop: password is given in plain text[\s\S]*secret:\/\/projects/);
    refused(() => launchRequest(input({ connection: { name: 'shop', type: 'postgres', config: { host: 'db', user: 'etl' } } })), /user is given in plain text/);
    refused(() => launchRequest(input({ connection: { name: 'shop', type: 'postgres', config: { url: 'postgres://etl:hunter2@db/shop', user: 'secret://projects/p/secrets/u/versions/1' } } })), /password is given in plain text/);
    refused(() => launchRequest(input({ connection: { name: 'shop', type: 'postgres', config: { host: 'db', user: 'secret://projects/p/secrets/u/versions/1', ssl: { mode: 'verify-full', ca: './ca.pem' } } } })), /ssl\.ca is a file on this machine/);
    refused(() => partitioning({ read: { sql: SQL, unsplit: 'the view has no integer primary key' }, partitions: 4 }), /source\.parallelism asks for 4 partitions, but the view has no integer primary key/);
    assert.throws(() => credentialReference('secret://nowhere', 'password', 'shop'), /invalid secret reference/);
  });

  test('job names stay within Dataflow\'s 63 characters of [-a-z0-9]', () => {
    const name = dataflowJobName('A very long job name with Ünïcode and spaces that goes on and on', '20261205t011850z_abc123');
    assert.match(name, /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/);
    assert.ok(name.endsWith('-20261205t011850z-abc123'));
    assert.equal(dataflowJobName('orders_daily', '20261205t011850z_abc123'), 'b2betl-orders-daily-20261205t011850z-abc123');
  });
});
