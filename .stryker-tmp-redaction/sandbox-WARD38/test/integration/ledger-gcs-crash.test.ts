/**
 * The real binary with `ledger: gs://…` (the GCS double) killed right before and right after the
 * destination commit, then run again: DuckDB holds exactly the source rows, and the remote
 * ledger's history shows the interrupted run settled by the next one.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GcsStore } from '../../connectors/storage/gcs/gcs-store.js';
import { silentLogger } from '../../src/core/log.js';
import type { RunRecord } from '../../src/ledger/ledger.js';
import { GcsLedger } from '../../src/ledger/gcs-sync.js';
import { queryDuckDB, runCli, scratchProject } from '../support/cli.js';
import { startGcsDouble, type GcsDouble } from '../support/gcs-double.js';

type Project = Awaited<ReturnType<typeof scratchProject>>;

const SOURCE: Record<string, number[]> = {
  'orders_1.csv': [1, 2, 3],
  'orders_2.csv': [4, 5],
  'orders_3.csv': [6, 7, 8, 9],
};
const ALL_IDS = Object.values(SOURCE).flat();

function csvOf(ids: readonly number[]): string {
  return ['id,customer,amount', ...ids.map((id) => `${id},"Customer ${id}",${id}.50`)].join('\n') + '\n';
}

describe('a GCS ledger through runs killed around the destination commit', () => {
  let double: GcsDouble;
  const projects: Project[] = [];

  before(async () => {
    double = await startGcsDouble();
  });

  after(async () => {
    for (const project of projects) await project.cleanup();
    await double?.stop();
  });

  /** A project whose files and ledger live in their own bucket of the double. */
  async function setUp(bucket: string): Promise<Project> {
    double.createBucket(bucket);
    for (const [name, ids] of Object.entries(SOURCE)) double.seed(bucket, `inbox/${name}`, csvOf(ids));
    const project = await scratchProject({
      'etl.config.yaml': `connections:\n  lake: { type: gcs, bucket: ${bucket}, prefix: inbox, endpoint: "${double.endpoint}" }\nledger: gs://${bucket}/ledger.sqlite\n`,
      'jobs/orders.yaml': 'name: orders\nsource: { connection: lake, pattern: "orders_*.csv" }\nload: { strategy: transactional }\n',
    });
    projects.push(project);
    return project;
  }

  /** The job's runs (oldest first) and processed files as the remote ledger object holds them. */
  async function remoteLedger(project: Project, bucket: string): Promise<{ runs: RunRecord[]; files: string[] }> {
    const store = await GcsStore.connect({ name: 'check', config: { type: 'gcs', bucket, endpoint: double.endpoint }, baseDir: project.dir, log: silentLogger });
    const opened = await GcsLedger.open(`gs://${bucket}/ledger.sqlite`, store, { readOnly: true });
    try {
      return { runs: opened.ledger.runs({ job: 'orders' }).reverse(), files: [...opened.ledger.files('orders', 'lake').keys()].sort() };
    } finally {
      await opened.close();
    }
  }

  /** Runs the job; `--verbose` keeps warnings on stderr beside the JSON result. */
  async function run(project: Project, env: Record<string, string> = {}) {
    const result = await runCli(['run', 'jobs/orders.yaml', '--json', '--verbose'], project.dir, env);
    return { ...result, results: result.stdout.trim().startsWith('[') ? (JSON.parse(result.stdout) as Record<string, unknown>[]) : undefined };
  }

  async function warehouse(project: Project, sql: string) {
    return queryDuckDB(path.join(project.dir, 'warehouse.duckdb'), sql);
  }

  async function ids(project: Project): Promise<number[]> {
    return (await warehouse(project, 'SELECT id FROM main.orders ORDER BY id')).map((row) => Number(row.id));
  }

  function locks(bucket: string): string[] {
    return double.names(bucket).filter((name) => name.startsWith('ledger.sqlite.locks/'));
  }

  it('killed right after the commit: the next run records it from the load marker and loads nothing twice', async () => {
    const bucket = 'crash-after-commit';
    const project = await setUp(bucket);
    const killed = await run(project, { B2BETL_FAULT: 'after-commit' });
    assert.equal(killed.code, 128, `the run was killed (stderr: ${killed.stderr})`);
    assert.match(killed.stderr, /fault point after-commit hit/);
    assert.equal(killed.results, undefined, 'a killed run prints no result');

    // The commit landed, the ledger was published just before it and never told about it.
    const interrupted = await remoteLedger(project, bucket);
    assert.equal(interrupted.runs.length, 1);
    const [crashed] = interrupted.runs;
    assert.equal(crashed.status, 'committing');
    assert.deepEqual(interrupted.files, []);
    assert.deepEqual(await ids(project), ALL_IDS);
    const markers = await warehouse(project, "SELECT run_id, rows FROM main._b2betl_loads WHERE job = 'orders'");
    assert.deepEqual(markers.map((marker) => [marker.run_id, Number(marker.rows)]), [[crashed.id, ALL_IDS.length]]);
    assert.deepEqual(locks(bucket), ['ledger.sqlite.locks/orders.lock'], 'the killed run left its lock');

    const next = await run(project);
    assert.equal(next.code, 0, next.stderr);
    assert.equal(next.results?.[0].status, 'skipped');
    assert.equal(next.results?.[0].files_skipped, Object.keys(SOURCE).length);
    assert.match(next.stderr, new RegExp(`run ${crashed.id} was interrupted after its commit; recording its state now`));
    assert.deepEqual(await ids(project), ALL_IDS);

    const settled = await remoteLedger(project, bucket);
    assert.deepEqual(
      settled.runs.map((entry) => [entry.id, entry.status, entry.rows_loaded, entry.files_processed]),
      [
        [crashed.id, 'succeeded', ALL_IDS.length, Object.keys(SOURCE).length],
        [next.results?.[0].run_id, 'skipped', 0, 0],
      ],
    );
    assert.deepEqual(settled.files, Object.keys(SOURCE));
    assert.deepEqual(locks(bucket), [], 'the lock was taken over and released');

    double.seed(bucket, 'inbox/orders_4.csv', csvOf([10]));
    const later = await run(project);
    assert.equal(later.code, 0, later.stderr);
    assert.equal(later.results?.[0].files_processed, 1);
    assert.deepEqual(await ids(project), [...ALL_IDS, 10]);
  });

  it('killed right before the commit: the next run marks it failed and loads every row once', async () => {
    const bucket = 'crash-before-commit';
    const project = await setUp(bucket);
    const killed = await run(project, { B2BETL_FAULT: 'before-commit' });
    assert.equal(killed.code, 128, `the run was killed (stderr: ${killed.stderr})`);
    assert.match(killed.stderr, /fault point before-commit hit/);

    const interrupted = await remoteLedger(project, bucket);
    assert.equal(interrupted.runs.length, 1);
    const [crashed] = interrupted.runs;
    assert.equal(crashed.status, 'committing');
    assert.deepEqual(interrupted.files, []);
    const tables = await warehouse(project, "SELECT table_name FROM information_schema.tables WHERE table_name = 'orders'");
    assert.deepEqual(tables, [], 'nothing was committed');

    const next = await run(project);
    assert.equal(next.code, 0, next.stderr);
    assert.equal(next.results?.[0].status, 'succeeded');
    assert.equal(next.results?.[0].files_processed, Object.keys(SOURCE).length);
    assert.match(next.stderr, new RegExp(`run ${crashed.id} was interrupted before its commit; nothing of it was loaded`));
    assert.deepEqual(await ids(project), ALL_IDS);

    const settled = await remoteLedger(project, bucket);
    assert.deepEqual(
      settled.runs.map((entry) => [entry.id, entry.status, entry.rows_loaded]),
      [
        [crashed.id, 'interrupted', 0],
        [next.results?.[0].run_id, 'succeeded', ALL_IDS.length],
      ],
    );
    assert.match(String(settled.runs[0].error), /interrupted before commit/);
    assert.deepEqual(settled.files, Object.keys(SOURCE));
    assert.deepEqual(locks(bucket), []);
    const markers = await warehouse(project, "SELECT run_id FROM main._b2betl_loads WHERE job = 'orders'");
    assert.deepEqual(markers.map((marker) => marker.run_id), [next.results?.[0].run_id]);

    const again = await run(project);
    assert.equal(again.results?.[0].status, 'skipped');
    assert.deepEqual(await ids(project), ALL_IDS);
  });

  it('a lock is leased for 60 s at a time: one left by a killed run on another host is taken over once it expires', async () => {
    const bucket = 'lease';
    const project = await setUp(bucket);
    const killed = await run(project, { B2BETL_FAULT: 'after-lock' });
    assert.equal(killed.code, 128);
    assert.match(killed.stderr, /fault point after-lock hit/);
    const lock = JSON.parse(String(double.object(bucket, 'ledger.sqlite.locks/orders.lock')?.data)) as { acquired_at: string; expires_at: string; host: string };
    assert.equal(Date.parse(lock.expires_at) - Date.parse(lock.acquired_at), 60_000);
    // The same lock as another machine left it: live until its lease ends.
    const elsewhere = { ...lock, host: 'another-host', pid: 1 };
    double.seed(bucket, 'ledger.sqlite.locks/orders.lock', JSON.stringify(elsewhere));
    const refused = await run(project);
    assert.equal(refused.code, 1);
    assert.match(String(refused.results?.[0].error), /job orders is already running \(run .*, pid 1 on another-host/);
    double.seed(bucket, 'ledger.sqlite.locks/orders.lock', JSON.stringify({ ...elsewhere, expires_at: new Date(Date.now() - 1000).toISOString() }));
    const next = await run(project);
    assert.equal(next.code, 0, next.stderr);
    assert.match(next.stderr, /took over the lock of job orders left by run .* \(expired\)/);
    assert.deepEqual(await ids(project), ALL_IDS);
    assert.deepEqual(locks(bucket), []);
  });

  it('an empty ledger object is an error naming its gs:// URI and the restore command, not a fresh start', async () => {
    const bucket = 'empty-ledger';
    const project = await setUp(bucket);
    const first = await run(project);
    assert.equal(first.code, 0, first.stderr);
    double.seed(bucket, 'ledger.sqlite', Buffer.alloc(0));
    const next = await run(project);
    assert.equal(next.code, 1, next.stderr);
    assert.equal(next.results?.[0].status, 'failed');
    assert.match(String(next.results?.[0].error), new RegExp(`ledger gs://${bucket}/ledger.sqlite \\(generation \\d+\\) is empty \\(0 bytes\\)`));
    assert.match(String(next.results?.[0].error), /b2betl state restore <job>/);
    assert.deepEqual(await ids(project), ALL_IDS, 'nothing was loaded twice');
  });
});
