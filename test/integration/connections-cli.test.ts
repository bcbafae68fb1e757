/**
 * `b2betl connections list|test`, the real binary against every server, emulator and double
 * the suite uses: PostgreSQL, MariaDB, the GCS double (a GCS ledger's write check), s3rver,
 * Azurite, the Firestore emulator, the BigQuery double (a dry-run query job), a DuckDB file;
 * and the failures: a refused port, a wrong password, an unknown user, missing buckets, a
 * missing container, a missing dataset. One line each with latency, exit 1 if any failed, and
 * never a secret.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli, scratchProject } from '../support/cli.js';
import { MY, PG } from '../support/databases.js';
import { startAzurite, type AzuriteHandle } from '../support/azurite.js';
import { startBigQueryDouble, type BigQueryDouble } from '../support/bigquery-double/index.js';
import { startFirestoreEmulator, type FirestoreEmulator } from '../support/firestore-emulator.js';
import { seedingClient } from '../support/firestore-fixtures.js';
import { startGcsDouble, type GcsDouble } from '../support/gcs-double.js';
import { startS3rver, type S3rverHandle } from '../support/s3rver.js';

type Project = Awaited<ReturnType<typeof scratchProject>>;

interface Line {
  name: string;
  type: string;
  ok: boolean;
  detail: string;
  hint?: string;
  ms: number;
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('b2betl connections', () => {
  let gcs: GcsDouble;
  let s3: S3rverHandle;
  let azurite: AzuriteHandle;
  let firestore: FirestoreEmulator;
  let bigquery: BigQueryDouble;
  let project: Project;
  let refused: number;
  const MYSQL_PASSWORD = 'not-roots-password-42';
  const env = () => ({ B2BETL_STAGING_GCS_ENDPOINT: gcs.endpoint, LAKE_S3_SECRET: s3.secretAccessKey, LAKE_AZURE: azurite.connectionString, MY_PASSWORD: MYSQL_PASSWORD });
  const secrets = () => [s3.secretAccessKey, azurite.accountKey, MYSQL_PASSWORD];

  before(async () => {
    [gcs, s3, azurite, firestore, bigquery, refused] = await Promise.all([
      startGcsDouble({ buckets: ['lake-gcs'] }),
      startS3rver({ buckets: ['lake-s3'] }),
      startAzurite(),
      startFirestoreEmulator(),
      startBigQueryDouble({ project: 'conn-proj' }),
      closedPort(),
    ]);
    gcs.seed('lake-gcs', 'landing/orders_1.csv', Buffer.from('id\n1\n'));
    const { BlobServiceClient } = await import('@azure/storage-blob');
    const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient('lake-az');
    await container.create();
    await container.getBlockBlobClient('landing/a.jsonl').upload('{"a":1}\n', 8);
    const db = await seedingClient(firestore.host, 'conn-proj');
    await db.collection('users').doc('u1').set({ name: 'Ann' });
    await db.collection('orders').doc('o1').set({ total: 1 });
    await db.terminate();
    await bigquery.createDataset('conn-proj', 'raw', 'EU');

    project = await scratchProject({
      'etl.config.yaml': [
        '# every kind of connection, some of them broken',
        'connections:',
        `  pg: { type: postgres, host: ${PG.host}, port: ${PG.port}, user: ${PG.user}, database: ${PG.database} }`,
        `  pg_refused: { type: postgres, host: 127.0.0.1, port: ${refused}, user: postgres }`,
        `  pg_nobody: { type: postgres, host: ${PG.host}, port: ${PG.port}, user: nobody_here, database: ${PG.database} }`,
        `  maria: { type: mysql, host: ${MY.host}, port: ${MY.port}, user: ${MY.user}, database: ${MY.database} }`,
        `  maria_badpw: { type: mysql, host: ${MY.host}, port: ${MY.port}, user: ${MY.user}, password: "\${MY_PASSWORD}" }`,
        `  gcs: { type: gcs, bucket: lake-gcs, prefix: landing, endpoint: "${gcs.endpoint}" }`,
        `  gcs_missing: { type: gcs, bucket: no-such-bucket, endpoint: "${gcs.endpoint}" }`,
        `  s3: { type: s3, bucket: lake-s3, endpoint: "${s3.endpoint}", force_path_style: true, region: us-east-1, access_key_id: ${s3.accessKeyId}, secret_access_key: "\${LAKE_S3_SECRET}" }`,
        `  s3_missing: { type: s3, bucket: no-such-bucket, endpoint: "${s3.endpoint}", force_path_style: true, region: us-east-1, access_key_id: ${s3.accessKeyId}, secret_access_key: "\${LAKE_S3_SECRET}" }`,
        '  azure: { type: azure, container: lake-az, prefix: landing, connection_string: "${LAKE_AZURE}" }',
        '  azure_missing: { type: azure, container: no-such-container, connection_string: "${LAKE_AZURE}" }',
        `  app: { type: firestore, project: conn-proj, emulator_host: "${firestore.host}" }`,
        `  bq: { type: bigquery, project: conn-proj, dataset: raw, location: EU, endpoint: "${bigquery.endpoint}" }`,
        `  bq_staged: { type: bigquery, project: conn-proj, dataset: raw, location: EU, endpoint: "${bigquery.endpoint}", staging: gs://lake-gcs/staging }`,
        `  bq_missing: { type: bigquery, project: conn-proj, dataset: nothing_here, location: EU, endpoint: "${bigquery.endpoint}" }`,
        '  warehouse: { type: duckdb, path: ./warehouse.duckdb }',
        'ledger: gs://lake-gcs/state/ledger.sqlite',
        '',
      ].join('\n'),
    });
  });

  after(async () => {
    await project?.cleanup();
    await Promise.allSettled([gcs?.stop(), s3?.stop(), azurite?.stop(), firestore?.stop(), bigquery?.stop()]);
  });

  it('tests every connection at once: a real read each, the failures in words, exit 1, no secret', async () => {
    const result = await runCli(['connections', 'test', '--json'], project.dir, env());
    assert.equal(result.code, 1, result.stderr);
    let lines: Line[];
    try {
      lines = JSON.parse(result.stdout) as Line[];
    } catch {
      throw new Error(`not JSON:\n${result.stdout}`);
    }
    const by = new Map(lines.map((line) => [line.name, line]));
    assert.equal(lines.length, 16);
    for (const line of lines) assert.ok(Number.isInteger(line.ms) && line.ms >= 0, `${line.name} has a latency`);

    const ok = (name: string, detail: RegExp) => {
      const line = by.get(name)!;
      assert.ok(line.ok, `${name}: ${line.detail}`);
      assert.match(line.detail, detail);
    };
    const failed = (name: string, detail: RegExp, hint?: RegExp) => {
      const line = by.get(name)!;
      assert.equal(line.ok, false, `${name} should fail: ${line.detail}`);
      assert.match(line.detail, detail);
      if (hint) assert.match(line.hint ?? '', hint);
    };
    ok('pg', /^PostgreSQL \d+\.\d+; information_schema readable \(\d+ table\(s\) and view\(s\)\)$/);
    ok('maria', /^(MariaDB|MySQL) \d+\.\d+\.\d+; information_schema readable/);
    ok('gcs', /^first object orders_1\.csv \(5 B\); writing allowed \(needed by the ledger gs:\/\/lake-gcs\/state\/ledger\.sqlite and staging of bq_staged\)$/);
    ok('bq_staged', /^dataset conn-proj\.raw exists; a dry-run query job was accepted; staging gs:\/\/lake-gcs\/staging: writing allowed$/);
    ok('s3', /^listing works; no objects under s3:\/\/lake-s3\/$/);
    ok('azure', /^first object a\.jsonl \(8 B\)$/);
    ok('app', /^emulator 127\.0\.0\.1:\d+, project conn-proj; 2 root collection\(s\): orders, users$/);
    ok('bq', /^dataset conn-proj\.raw exists; a dry-run query job was accepted$/);
    ok('warehouse', /warehouse\.duckdb does not exist yet; the first run creates it$/);

    failed('pg_refused', new RegExp(`^connection refused at 127\\.0\\.0\\.1:${refused} as user postgres`), /check that PostgreSQL is running and host\/port in connection pg_refused/);
    failed('pg_nobody', /^authentication failed at 127\.0\.0\.1:5432 as user nobody_here: role "nobody_here" does not exist/, /check user and password/);
    failed('maria_badpw', /^authentication failed at 127\.0\.0\.1:3306 as user root: Access denied for user 'root'/, /check user and password in connection maria_badpw/);
    failed('gcs_missing', /GCS bucket no-such-bucket not found/);
    failed('s3_missing', /no-such-bucket/);
    failed('s3_missing', /not found|does not exist/i);
    failed('azure_missing', /no-such-container/);
    failed('azure_missing', /not found|does not exist/i);
    failed('bq_missing', /^dataset conn-proj\.nothing_here not found$/, /bq mk --dataset conn-proj:nothing_here/);

    for (const secret of secrets()) assert.ok(!`${result.stdout}${result.stderr}`.includes(secret), 'no secret is printed');
  });

  it('prints one line per connection with its latency; only the named ones; exit 0 when all work', async () => {
    const result = await runCli(['connections', 'test', 'pg', 'gcs', 'bq', 'warehouse'], project.dir, env());
    assert.equal(result.code, 0, `${result.stdout}${result.stderr}`);
    const lines = result.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 4);
    assert.match(lines[0], /^ok {6}pg {9}postgres +[\d.]+ m?s  PostgreSQL \d+/);
    assert.match(lines[1], /^ok {6}gcs {8}gcs +[\d.]+ m?s  first object orders_1\.csv/);
    assert.match(lines[2], /^ok {6}bq {9}bigquery +[\d.]+ m?s  dataset conn-proj\.raw exists/);
    assert.match(lines[3], /^ok {6}warehouse  duckdb +[\d.]+ m?s  /);
  });

  it('a failure shows its fix on the next line; an unknown name is refused with exit 2', async () => {
    const result = await runCli(['connections', 'test', 'pg_refused'], project.dir, env());
    assert.equal(result.code, 1);
    assert.match(result.stdout, /^FAILED {2}pg_refused {2}postgres +[\d.]+ m?s  connection refused at 127\.0\.0\.1:\d+ as user postgres.*\n {20,}→ check that PostgreSQL is running/);
    const unknown = await runCli(['connections', 'test', 'nope'], project.dir, env());
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /no connection named nope in .*etl\.config\.yaml\n.*use one of: pg, pg_refused/);
  });

  it('opens an existing DuckDB file and counts its tables', async () => {
    const { DuckDBInstance } = await import('@duckdb/node-api');
    const instance = await DuckDBInstance.create(path.join(project.dir, 'warehouse.duckdb'));
    const db = await instance.connect();
    await db.run('CREATE TABLE orders (id INTEGER)');
    db.closeSync();
    instance.closeSync();
    const result = await runCli(['connections', 'test', 'warehouse', '--json'], project.dir, env());
    assert.equal(result.code, 0, result.stderr);
    assert.match(JSON.parse(result.stdout)[0].detail, /warehouse\.duckdb opened; 1 table\(s\)$/);
  });

  it('lists connections with where they point and their role, never a secret', async () => {
    const result = await runCli(['connections', 'list', '--json'], project.dir, env());
    assert.equal(result.code, 0, result.stderr);
    const rows = JSON.parse(result.stdout).connections as { name: string; type: string; where: string; role: string }[];
    const by = new Map(rows.map((row) => [row.name, row]));
    assert.equal(by.get('pg')!.where, 'postgres@127.0.0.1:5432/test');
    assert.equal(by.get('gcs')!.where, 'gs://lake-gcs/landing');
    assert.equal(by.get('bq')!.role, 'source or destination');
    assert.equal(by.get('warehouse')!.role, 'default destination');
    const text = await runCli(['connections', 'list'], project.dir, env());
    for (const secret of [...secrets(), 'LAKE_AZURE']) assert.ok(!`${result.stdout}${text.stdout}`.includes(secret));
    assert.match(text.stdout, /maria_badpw\s+mysql\s+root@127\.0\.0\.1:3306\s+source/);
  });
});
