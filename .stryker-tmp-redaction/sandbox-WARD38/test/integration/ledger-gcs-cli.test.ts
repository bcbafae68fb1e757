/**
 * The real binary with `ledger: gs://…` and files in a GCS bucket, both served by the GCS
 * double: the ledger object is created, records processed files, and a re-run loads only the
 * new file.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GcsStore } from '../../connectors/storage/gcs/gcs-store.js';
import { silentLogger } from '../../src/core/log.js';
import { GcsLedger } from '../../src/ledger/gcs-sync.js';
import { queryDuckDB, runCli, scratchProject } from '../support/cli.js';
import { startGcsDouble, type GcsDouble } from '../support/gcs-double.js';

const BUCKET = 'cli-bucket';
const LEDGER = `gs://${BUCKET}/state/ledger.sqlite`;

type Project = Awaited<ReturnType<typeof scratchProject>>;

describe('b2betl run with a GCS ledger', () => {
  let double: GcsDouble;
  let project: Project;

  before(async () => {
    double = await startGcsDouble({ buckets: [BUCKET] });
    double.seed(BUCKET, 'inbox/orders_1.csv', 'id,amount\n1,1.50\n2,2.50\n');
    project = await scratchProject({
      'etl.config.yaml': `connections:\n  lake: { type: gcs, bucket: ${BUCKET}, prefix: inbox, endpoint: "${double.endpoint}" }\nledger: ${LEDGER}\n`,
      'jobs/orders.yaml': 'name: orders\nsource: { connection: lake, pattern: "orders_*.csv" }\nload: { strategy: transactional }\n',
    });
  });

  after(async () => {
    await project?.cleanup();
    await double?.stop();
  });

  async function run() {
    const result = await runCli(['run', 'jobs/orders.yaml', '--json'], project.dir);
    assert.ok(result.stdout.trim().startsWith('['), `no JSON on stdout (exit ${result.code}):\n${result.stdout}\n${result.stderr}`);
    return { ...result, results: JSON.parse(result.stdout) as Record<string, unknown>[] };
  }

  async function ledgerFiles(): Promise<string[]> {
    const store = await GcsStore.connect({ name: 'check', config: { type: 'gcs', bucket: BUCKET, endpoint: double.endpoint }, baseDir: project.dir, log: silentLogger });
    const ledger = await GcsLedger.open(LEDGER, store, { readOnly: true });
    try {
      return [...ledger.ledger.files('orders', 'lake').keys()].sort();
    } finally {
      await ledger.close();
    }
  }

  it('creates the ledger object and records the files it loaded', async () => {
    const { code, results } = await run();
    assert.equal(code, 0, JSON.stringify(results));
    assert.equal(results[0].rows_loaded, 2);
    assert.ok(double.object(BUCKET, 'state/ledger.sqlite'), 'the ledger object exists');
    assert.deepEqual(await ledgerFiles(), ['orders_1.csv']);
    assert.deepEqual(double.names(BUCKET).filter((name) => name.includes('.locks/')), [], 'no lock is left behind');
  });

  it('loads only the new file on the next run', async () => {
    if (!double.object(BUCKET, 'state/ledger.sqlite')) assert.equal((await run()).code, 0, 'the first run');
    const generation = double.object(BUCKET, 'state/ledger.sqlite')!.generation;
    double.seed(BUCKET, 'inbox/orders_2.csv', 'id,amount\n3,3.50\n');
    const { code, results } = await run();
    assert.equal(code, 0, JSON.stringify(results));
    assert.equal(results[0].rows_loaded, 1);
    assert.ok(BigInt(double.object(BUCKET, 'state/ledger.sqlite')!.generation) > BigInt(generation));
    assert.deepEqual(await ledgerFiles(), ['orders_1.csv', 'orders_2.csv']);
    const rows = await queryDuckDB(path.join(project.dir, 'warehouse.duckdb'), 'SELECT id FROM main.orders ORDER BY id');
    assert.deepEqual(rows.map((row) => Number(row.id)), [1, 2, 3]);
  });
});
