/**
 * The BigQuery double's checks of a Firestore / Datastore export load (`DATASTORE_BACKUP`), made
 * through the real client as b2betl makes its load jobs: one `.export_metadata` URI, no
 * wildcard, no schema, no CSV options, no appending to a table, the file present. The double
 * cannot read the export's files and says so once every check has passed.
 * (https://cloud.google.com/bigquery/docs/loading-data-cloud-firestore)
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { openBigQuery, runJob, type BigQueryHandle } from '../../connectors/bigquery-common/bigquery-client.js';
import { silentLogger } from '../../src/core/log.js';
import { startBigQueryDouble, type BigQueryDouble } from '../support/bigquery-double/index.js';

process.env.B2BETL_RETRY_BASE_MS = '10';

const METADATA = 'gs://exports/run/all_namespaces/kind_users/all_namespaces_kind_users.export_metadata';

describe('the BigQuery double and DATASTORE_BACKUP loads', () => {
  let double: BigQueryDouble;
  let handle: BigQueryHandle;
  let n = 0;

  before(async () => {
    double = await startBigQueryDouble({ project: 'proj', objects: async (uri) => (uri === METADATA ? Buffer.from('{}') : undefined) });
    handle = await openBigQuery({ name: 'bq', config: { type: 'bigquery', project: 'proj', dataset: 'raw', endpoint: double.endpoint }, baseDir: process.cwd(), log: silentLogger });
    await handle.dataset().create();
    await double.query('CREATE TABLE `proj.raw.existing` (id INT64)');
  });
  after(() => double.stop());

  const load = (options: Record<string, unknown>) =>
    runJob(handle, {
      id: `backup_${++n}`,
      action: 'load an export',
      configuration: { load: { destinationTable: { projectId: 'proj', datasetId: 'raw', tableId: 'users' }, sourceFormat: 'DATASTORE_BACKUP', sourceUris: [METADATA], ...options } },
    });

  test('each rule of the real service is enforced, with its reason', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ sourceUris: [METADATA, METADATA] }, /Only one source URI may be given for a Datastore backup; got 2/],
      [{ sourceUris: ['gs://exports/run/*.export_metadata'] }, /Wildcards are not allowed/],
      [{ sourceUris: ['gs://exports/run/all_namespaces/kind_users/output-0'] }, /must name its \.export_metadata file/],
      [{ schema: { fields: [{ name: 'id', type: 'INT64' }] } }, /A schema cannot be specified when loading a Datastore backup/],
      [{ fieldDelimiter: ',' }, /fieldDelimiter does not apply to Datastore backups/],
      [{ projectionFields: ['address.city'] }, /projectionFields must name top-level properties/],
      [{ destinationTable: { projectId: 'proj', datasetId: 'raw', tableId: 'existing' }, writeDisposition: 'WRITE_APPEND' }, /Cannot append a Datastore backup to the existing table/],
      [{ sourceUris: ['gs://exports/other/all_namespaces/kind_users/all_namespaces_kind_users.export_metadata'] }, /Not found: URI/],
    ];
    for (const [options, expected] of cases) {
      await assert.rejects(load(options), (error: Error) => expected.test(error.message), JSON.stringify(options));
    }
  });

  test('a request that passes every check fails saying the double cannot read the export', async () => {
    await assert.rejects(load({ writeDisposition: 'WRITE_TRUNCATE', projectionFields: ['name'] }), /the test double cannot read Datastore backup files .*passed every check of its request/);
    const last = double.jobs().at(-1)!;
    assert.equal(last.configuration.load.sourceFormat, 'DATASTORE_BACKUP');
    assert.equal(last.status.errorResult.reason, 'invalid');
  });
});
