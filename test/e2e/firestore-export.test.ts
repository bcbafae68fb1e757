/**
 * End to end: the real `b2betl` binary choosing its engine for Firestore sources. A catalog load
 * at `dataflow.threshold_rows` goes through a managed export (the Firestore Admin double, driven
 * by the real FirestoreAdminClient) and one DATASTORE_BACKUP load job into the BigQuery double;
 * smaller or incremental loads stream, and --dry-run says which and why.
 *
 * The BigQuery double checks a backup load's request as BigQuery does but cannot read the export
 * files (LevelDB log records of entity protos), so the export path is proven up to that load:
 * the run fails there and nothing is committed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Firestore } from '@google-cloud/firestore';
import { runCli, scratchProject } from '../support/cli.js';
import { startBigQueryDouble, type BigQueryDouble } from '../support/bigquery-double/index.js';
import { startFirestoreEmulator, type FirestoreEmulator } from '../support/firestore-emulator.js';
import { startFirestoreExportDouble, type FirestoreExportDouble } from '../support/firestore-export-double.js';
import { seedingClient } from '../support/firestore-fixtures.js';
import { startGcsDouble, type GcsDouble } from '../support/gcs-double.js';
import { errorBody } from '../support/google-rest-double.js';

type Project = Awaited<ReturnType<typeof scratchProject>>;
type Plan = { engine: { name: string; reason: string; details?: Record<string, unknown> }; notes: string[]; path: string };

const PROJECT = 'b2betl-export';
let emulator: FirestoreEmulator;
let db: Firestore;
let gcs: GcsDouble;
let bigquery: BigQueryDouble;
let admin: FirestoreExportDouble;
let project: Project;

function config(threshold: number): string {
  return [
    'connections:',
    `  app: { type: firestore, project: ${PROJECT}, emulator_host: "${emulator.host}" }`,
    `  bq: { type: bigquery, project: ${PROJECT}, dataset: raw, endpoint: "${bigquery.endpoint}" }`,
    'dataflow:',
    `  project: ${PROJECT}`,
    '  region: europe-west1',
    '  temp_location: gs://exports/tmp',
    `  threshold_rows: ${threshold}`,
    '',
  ].join('\n');
}

before(async () => {
  emulator = await startFirestoreEmulator();
  db = await seedingClient(emulator.host, PROJECT);
  gcs = await startGcsDouble({ buckets: ['exports'] });
  bigquery = await startBigQueryDouble({
    project: PROJECT,
    objects: async (uri) => {
      const match = /^gs:\/\/([^/]+)\/(.+)$/.exec(uri);
      return match ? gcs.object(match[1], match[2])?.data : undefined;
    },
  });
  admin = await startFirestoreExportDouble({
    gcs,
    documents: async (id) => (await db.collectionGroup(id).get()).docs.map((doc) => ({ path: doc.ref.path, data: doc.data() })),
  });
  for (let i = 1; i <= 5; i++) await db.doc(`users/u${i}`).set({ name: `user ${i}`, age: BigInt(20 + i), updated_at: new Date(Date.UTC(2024, 0, i)) });
  project = await scratchProject({
    'etl.config.yaml': config(5),
    'jobs/users.yaml': 'name: users\nsource: { connection: app, collection: users }\nload: { strategy: catalog }\ndestination: { connection: bq }\n',
    'jobs/changes.yaml': 'name: changes\nsource: { connection: app, collection: users }\nload: { cursor: updated_at }\ndestination: { connection: bq }\n',
    'jobs/local.yaml': 'name: local_users\nsource: { connection: app, collection: users }\nload: { strategy: catalog }\n',
  });
});

after(async () => {
  await project?.cleanup();
  await db?.terminate();
  await admin?.stop();
  await bigquery?.stop();
  await gcs?.stop();
  await emulator?.stop();
});

const env = () => ({ B2BETL_FIRESTORE_ADMIN_ENDPOINT: admin.endpoint, B2BETL_RETRY_BASE_MS: '10' });

async function dryRun(job: string): Promise<Plan> {
  const result = await runCli(['run', job, '--dry-run', '--json'], project.dir, env());
  assert.equal(result.code, 0, result.stderr);
  return (JSON.parse(result.stdout) as { plan: Plan }[])[0].plan;
}

async function run(job: string) {
  const result = await runCli(['run', job, '--json'], project.dir, env());
  assert.ok(result.stdout.trim().startsWith('['), `no JSON on stdout (exit ${result.code}):\n${result.stdout}\n${result.stderr}`);
  return { code: result.code, result: (JSON.parse(result.stdout) as Record<string, unknown>[])[0] };
}

describe('Firestore catalog loads at dataflow.threshold_rows', () => {
  test('--dry-run shows the managed export, why, and the exact requests', async () => {
    const plan = await dryRun('jobs/users.yaml');
    assert.equal(plan.engine.name, 'firestore-export');
    assert.equal(plan.path, 'direct');
    assert.match(plan.engine.reason, /^a catalog load of 5 rows \(count\(\) of collection users\), at or over dataflow\.threshold_rows \(5\); the export types the fields itself and reads no cursor, so only catalog loads take this path$/);
    const details = plan.engine.details as { exportDocuments: { name: string; collectionIds: string[]; outputUriPrefix: string }; load: Record<string, unknown>; staging: Record<string, string> };
    assert.equal(details.staging.project, PROJECT);
    assert.equal(details.staging.dataset, 'raw');
    assert.match(details.staging.table, /^_b2betl_stage_users_\d{8}t\d{6}/);
    assert.equal(details.exportDocuments.name, `projects/${PROJECT}/databases/(default)`);
    assert.deepEqual(details.exportDocuments.collectionIds, ['users']);
    assert.match(details.exportDocuments.outputUriPrefix, /^gs:\/\/exports\/tmp\/firestore-export\/users\/\d{8}t\d{6}/);
    assert.deepEqual(details.load, { sourceFormat: 'DATASTORE_BACKUP', sourceUris: [`${details.exportDocuments.outputUriPrefix}/all_namespaces/kind_users/all_namespaces_kind_users.export_metadata`] });
    const text = await runCli(['run', 'jobs/users.yaml', '--dry-run'], project.dir, env());
    assert.match(text.stdout, /engine: {6}firestore-export: a catalog load of 5 rows/);
    assert.match(text.stdout, /"exportDocuments": \{/);
    assert.equal(admin.exports.length, 0, 'a dry run exports nothing');
  });

  test('on the emulator, which has no managed export, the same job streams and says why', async () => {
    const result = await runCli(['run', 'jobs/users.yaml', '--dry-run', '--json'], project.dir);
    assert.equal(result.code, 0, result.stderr);
    const plan = (JSON.parse(result.stdout) as { plan: Plan }[])[0].plan;
    assert.equal(plan.engine.name, 'local');
    assert.equal(plan.engine.reason, 'firestore-export: connection app points at the Firestore emulator, which has no managed export: rows stream through this machine');
  });

  test('the export runs once, its load request is exact, and the load the double cannot read commits nothing', async () => {
    const before = bigquery.jobs().length;
    const { code, result } = await run('jobs/users.yaml');
    assert.equal(code, 1);
    assert.equal(result.status, 'failed');
    assert.equal(result.rows_loaded, 0);
    assert.match(String(result.error), /the test double cannot read Datastore backup files/);
    assert.equal(admin.exports.length, 1);
    const exported = admin.exports[0];
    assert.deepEqual(exported.collectionIds, ['users']);
    const folder = exported.outputUriPrefix.replace('gs://exports/', '');
    const files = gcs.names('exports').filter((name) => name.startsWith(folder));
    assert.ok(files.includes(`${folder}/all_namespaces/kind_users/all_namespaces_kind_users.export_metadata`), files.join('\n'));
    const written = gcs.object('exports', `${folder}/all_namespaces/kind_users/output-0`)!.data.toString('utf8').split('\n');
    assert.equal(written.length, 5, 'the export holds every document of users');

    const loads = bigquery.jobs().slice(before).filter((job) => job.configuration.load);
    assert.equal(loads.length, 1);
    const load = loads[0].configuration.load;
    assert.equal(load.sourceFormat, 'DATASTORE_BACKUP');
    assert.deepEqual(load.sourceUris, [`${exported.outputUriPrefix}/all_namespaces/kind_users/all_namespaces_kind_users.export_metadata`]);
    assert.equal(load.schema, undefined, 'an export carries its own schema');
    assert.equal(load.writeDisposition, 'WRITE_TRUNCATE');
    assert.match(load.destinationTable.tableId, /^_b2betl_stage_users_/);
    assert.equal(await bigquery.table(PROJECT, 'raw', load.destinationTable.tableId), undefined, 'the staging table is dropped');
    assert.equal(await bigquery.table(PROJECT, 'raw', 'users'), undefined, 'nothing reached the target');
    const markers = await bigquery.table(PROJECT, 'raw', '_b2betl_loads');
    if (markers) assert.deepEqual(await bigquery.query(`SELECT run_id FROM \`${PROJECT}.raw._b2betl_loads\` WHERE job = 'users'`), []);
  });

  test('a failed export names the permission and the fix, and nothing is loaded', async () => {
    admin.failWith = { code: 7, message: 'The caller does not have permission' };
    try {
      const before = bigquery.jobs().length;
      const { code, result } = await run('jobs/users.yaml');
      assert.equal(code, 1);
      assert.match(String(result.error), /export users of project b2betl-export to gs:\/\/exports\/tmp\/firestore-export\/users\/\S+: permission denied: The caller does not have permission/);
      assert.match(String(result.error), /roles\/datastore\.importExportAdmin/);
      assert.equal(bigquery.jobs().slice(before).filter((job) => job.configuration.load).length, 0, 'no load after a failed export');
    } finally {
      admin.failWith = undefined;
    }
  });

  test('an API refused outright names the API or the quota and the fix', async () => {
    const cases: [{ status: number; message: string }, RegExp][] = [
      [{ status: 403, message: 'Cloud Firestore API has not been used in project b2betl-export before or it is disabled.' }, /the Cloud Firestore API is not enabled: .*\n.*gcloud services enable firestore\.googleapis\.com/],
      [{ status: 403, message: 'The caller does not have permission' }, /permission denied: The caller does not have permission\n.*roles\/datastore\.importExportAdmin/],
      [{ status: 429, message: 'Quota exceeded for export requests' }, /quota exceeded: .*\n.*20 export requests a minute/],
    ];
    try {
      for (const [refusal, expected] of cases) {
        admin.intercept((request) => (request.path.endsWith(':exportDocuments') ? { status: refusal.status, body: errorBody(refusal.status, refusal.message) } : undefined));
        const { code, result } = await run('jobs/users.yaml');
        assert.equal(code, 1);
        assert.match(String(result.error), expected);
      }
    } finally {
      admin.intercept(undefined);
    }
  });

  test('an incremental load streams: the dry run says a managed export has no cursor', async () => {
    const plan = await dryRun('jobs/changes.yaml');
    assert.equal(plan.engine.name, 'local');
    assert.match(plan.engine.reason, /^firestore-export: 5 rows \(.+\) reach dataflow\.threshold_rows \(5\), but a managed export has no incremental cursor: only catalog loads use it: rows stream through this machine$/);
  });

  test('a DuckDB destination loads locally, with a note on the large estimate', async () => {
    const plan = await dryRun('jobs/local.yaml');
    assert.equal(plan.engine.name, 'local');
    assert.ok(
      plan.notes.includes('the estimate, 5 rows (count() of collection users), reaches dataflow.threshold_rows (5), but warehouse (duckdb) is a local destination: the run loads on this machine'),
      plan.notes.join('\n'),
    );
  });

  test('under the threshold, the catalog load streams into BigQuery and says why', async () => {
    await project.write('etl.config.yaml', config(100));
    try {
      const plan = await dryRun('jobs/users.yaml');
      assert.equal(plan.engine.name, 'local');
      assert.equal(plan.engine.reason, 'firestore-export: 5 rows (count() of collection users), under dataflow.threshold_rows (100): rows stream through this machine');
      const exports = admin.exports.length;
      const { code, result } = await run('jobs/users.yaml');
      assert.equal(code, 0, JSON.stringify(result));
      assert.equal(result.rows_loaded, 5);
      assert.equal(admin.exports.length, exports, 'no export under the threshold');
      assert.deepEqual(await bigquery.query(`SELECT COUNT(*) AS n FROM \`${PROJECT}.raw.users\``), [{ n: '5' }]);
    } finally {
      await project.write('etl.config.yaml', config(5));
    }
  });
});
