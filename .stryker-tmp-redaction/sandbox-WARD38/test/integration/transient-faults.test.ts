/**
 * Transient faults in the middle of a real `b2betl run`, after part of a unit was already
 * staged: a PostgreSQL backend terminated, a MariaDB connection killed, a store's answer cut
 * off mid-body. Each time the unit retries, the run succeeds, and the warehouse holds exactly
 * the source's rows: none of the failed attempt's rows stay behind.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { queryDuckDB, runCli, scratchProject, startCli } from '../support/cli.js';
import { startCuttingProxy } from '../support/cutting-proxy.js';
import { MY, myScratch, mysqlSeries, pgScratch, PG } from '../support/databases.js';
import { startFilesStore, through, type StoreKind } from '../support/files-conformance-stores.js';

type Project = Awaited<ReturnType<typeof scratchProject>>;

const ROWS = 400_000;
/**
 * Rows of a unit (each about half the table) the server must have sent before the fault: more
 * than socket buffers hold, so the failed attempt had staged rows of its own.
 */
const SENT_BEFORE_FAULT = 150_000;
/** Quick retries, and a download that stops without a word counts as lost after a second. */
const ENV = { B2BETL_RETRY_BASE_MS: '50', B2BETL_STALL_MS: '1000' };

/** The table's count, distinct ids and id sum in the warehouse. */
async function totals(project: Project, table: string): Promise<{ n: number; distinct: number; sum: bigint }> {
  const [row] = await queryDuckDB(path.join(project.dir, 'warehouse.duckdb'), `SELECT count(*) AS n, count(DISTINCT id) AS d, sum(id) AS s FROM main.${table}`);
  return { n: Number(row.n), distinct: Number(row.d), sum: BigInt(String(row.s)) };
}

const expected = (n: number) => ({ n, distinct: n, sum: (BigInt(n) * BigInt(n + 1)) / 2n });

/** Polls `probe` until it returns a value (or the run ends first). */
async function waitFor<T>(probe: () => Promise<T | undefined>, running: () => boolean, what: string): Promise<T> {
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    assert.ok(running(), `the run ended before ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Runs the job, injects the fault once the server has sent enough of a unit, and checks the run retried and succeeded. */
async function runThroughFault(project: Project, job: string, fault: (running: () => boolean) => Promise<void>): Promise<Record<string, unknown>> {
  const { done } = startCli(['run', `jobs/${job}.yaml`, '--json', '--verbose'], project.dir, ENV);
  let running = true;
  void done.then(() => (running = false));
  await fault(() => running);
  const result = await done;
  assert.equal(result.code, 0, `the run failed:\n${result.stderr}`);
  assert.match(result.stderr, /retrying \(attempt 2\)/, 'the unit was retried');
  return (JSON.parse(result.stdout) as Record<string, unknown>[])[0];
}

describe('a PostgreSQL backend terminated mid-unit', () => {
  let db: Awaited<ReturnType<typeof pgScratch>>;
  let project: Project;
  before(async () => {
    db = await pgScratch('fault');
    await db.sql(`CREATE TABLE ${db.schema}.faulty (id bigint PRIMARY KEY, updated_at timestamptz(6), note varchar(40))`);
    await db.sql(
      `INSERT INTO ${db.schema}.faulty SELECT g, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second', 'n' || g FROM generate_series(1, ${ROWS}) g`,
    );
    project = await scratchProject({
      'etl.config.yaml': `connections:\n  shop: { type: postgres, host: ${PG.host}, port: ${PG.port}, user: ${PG.user}, database: ${PG.database} }\n`,
      'jobs/faulty.yaml': `name: faulty\nsource: { connection: shop, table: ${db.schema}.faulty, parallelism: 2 }\nload: { strategy: transactional, cursor: updated_at }\n`,
    });
  });
  after(async () => {
    await db?.drop();
    await project?.cleanup();
  });

  test('the unit retries and the rows are exactly the source rows', async () => {
    const result = await runThroughFault(project, 'faulty', async (running) => {
      const pid = await waitFor(
        async () => {
          const rows = await db.sql(
            `SELECT p.pid FROM pg_stat_progress_copy p JOIN pg_stat_activity a USING (pid)
             WHERE a.query LIKE 'COPY%${db.schema}%faulty%' AND p.tuples_processed >= ${SENT_BEFORE_FAULT} LIMIT 1`,
          );
          return rows[0]?.pid as number | undefined;
        },
        running,
        `a COPY sent ${SENT_BEFORE_FAULT} rows`,
      );
      const [killed] = await db.sql('SELECT pg_terminate_backend($1) AS ok', [pid]);
      assert.equal(killed.ok, true);
    });
    assert.equal(result.status, 'succeeded');
    assert.equal(result.rows_loaded, ROWS);
    assert.deepEqual(await totals(project, 'faulty'), expected(ROWS));
  });
});

describe('a MariaDB connection killed mid-unit', () => {
  let db: Awaited<ReturnType<typeof myScratch>>;
  let project: Project;
  before(async () => {
    db = await myScratch('fault');
    await db.sql('CREATE TABLE faulty (id bigint PRIMARY KEY, updated_at datetime(6), note varchar(300))');
    await db.sql(mysqlSeries('faulty', ROWS));
    // Wide rows: the server is still sending when the connection is killed, not done already.
    await db.sql("UPDATE faulty SET note = CONCAT(note, REPEAT('x', 250))");
    project = await scratchProject({
      'etl.config.yaml': `connections:\n  shop: { type: mysql, host: ${MY.host}, port: ${MY.port}, user: ${MY.user}, database: ${db.database} }\n`,
      'jobs/faulty.yaml': 'name: faulty\nsource: { connection: shop, table: faulty, parallelism: 2 }\nload: { strategy: transactional, cursor: updated_at }\n',
    });
  });
  after(async () => {
    await db?.drop();
    await project?.cleanup();
  });

  test('the unit retries and the rows are exactly the source rows', async () => {
    const result = await runThroughFault(project, 'faulty', async (running) => {
      const id = await waitFor(
        async () => {
          const rows = (await db.sql(
            // MariaDB counts no rows while it streams them: a send blocked on the reader for a
            // while means the reader has taken many rows already.
            `SELECT ID AS id FROM information_schema.PROCESSLIST
             WHERE DB = '${db.database}' AND INFO LIKE 'SELECT%faulty%' AND STATE = 'Writing to net' AND TIME_MS >= 500 AND ID <> CONNECTION_ID() LIMIT 1`,
          )) as { id: number }[];
          return rows[0]?.id;
        },
        running,
        'a SELECT had streamed for half a second',
      );
      await db.sql(`KILL ${id}`);
    });
    assert.equal(result.status, 'succeeded');
    assert.equal(result.rows_loaded, ROWS);
    assert.deepEqual(await totals(project, 'faulty'), expected(ROWS));
  });
});

for (const kind of ['s3', 'gcs', 'azure'] as const satisfies readonly StoreKind[]) {
  describe(`a ${kind} read cut off mid-body`, () => {
    let store: Awaited<ReturnType<typeof startFilesStore>>;
    let proxy: Awaited<ReturnType<typeof startCuttingProxy>>;
    let project: Project;
    let env: Record<string, string>;
    const file = 'big.csv';
    const rows = 200_000;
    before(async () => {
      store = await startFilesStore(kind);
      proxy = await startCuttingProxy(store.origin!);
      const lines = ['id,name'];
      for (let id = 1; id <= rows; id++) lines.push(`${id},customer ${id}`);
      await store.seed([{ path: file, data: Buffer.from(`${lines.join('\n')}\n`) }, { path: 'small.csv', data: Buffer.from('id,name\n0,zero\n') }]);
      const lake = through(store, proxy.endpoint);
      project = await scratchProject({
        'etl.config.yaml': `connections:\n  lake: ${lake.connectionYaml}\n`,
        'jobs/cut.yaml': 'name: cut\nsource: { connection: lake, pattern: "*.csv" }\nload: { strategy: transactional }\n',
      });
      env = lake.env;
    });
    after(async () => {
      await proxy?.stop();
      await store?.stop();
      await project?.cleanup();
    });

    test('the file retries and its rows arrive exactly once', async () => {
      proxy.cutNextBody((request) => request.method === 'GET' && decodeURIComponent(request.url.pathname + request.url.search).includes(file), 1_000_000);
      const result = await runCli(['run', 'jobs/cut.yaml', '--json', '--verbose'], project.dir, { ...ENV, ...env });
      assert.equal(result.code, 0, result.stderr);
      assert.equal(proxy.cuts, 1, 'the answer was cut');
      assert.match(result.stderr, /big\.csv: [^\n]*(\n  → [^\n]*)?; retrying \(attempt 2\)/);
      const [run] = JSON.parse(result.stdout) as Record<string, unknown>[];
      assert.equal(run.status, 'succeeded');
      assert.equal(run.rows_loaded, rows + 1);
      // Ids 1..rows from the big file, and 0 from the small one.
      assert.deepEqual(await totals(project, 'cut'), { ...expected(rows), n: rows + 1, distinct: rows + 1 });
    });
  });
}
