/**
 * The DuckDB warehouse under its default settings and shared by several jobs, through the real
 * binary: a 200,000-row merge and a PostgreSQL query returning ~300 MB of BLOBs load (DuckDB
 * spills beside the warehouse instead of failing), and a second b2betl process waits for the
 * warehouse another one holds, saying which job and pid, up to a bound.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { after, before, describe, it } from 'node:test';
import { defaultMemoryLimit, warehouseInstance } from '../../connectors/destinations/duckdb/duckdb-destination.js';
import { queryDuckDB, runCli, scratchProject, startCli } from '../support/cli.js';
import { PG, pgScratch, type PgScratch } from '../support/databases.js';

type Project = Awaited<ReturnType<typeof scratchProject>>;

const PG_CONNECTION = `{ type: postgres, host: ${PG.host}, port: ${PG.port}, user: ${PG.user}, database: ${PG.database} }`;

function orders(rows: number, version: number): string {
  const lines = ['id,customer,amount,note'];
  for (let id = 1; id <= rows; id++) lines.push(`${id},Customer ${id % 5000},${id * version}.25,v${version} ${'n'.repeat(60)}`);
  return `${lines.join('\n')}\n`;
}

describe('DuckDB memory under the default settings', () => {
  let project: Project;
  before(async () => {
    project = await scratchProject({
      'etl.config.yaml': `connections:\n  inbox: { type: local, path: ./inbox }\n  shop: ${PG_CONNECTION}\n  wh: { type: duckdb, path: ./warehouse.duckdb }\ndefaults: { destination: wh }\n`,
      'jobs/orders.yaml': 'name: orders\nsource: { connection: inbox, pattern: "orders_*.csv" }\nload: { strategy: merge, primary_key: [id] }\n',
      'jobs/blobs.yaml': [
        'name: blobs',
        'source:',
        '  connection: shop',
        // 11,719 BLOBs of 25,600 bytes: ~300 MB.
        `  query: "SELECT g AS id, decode(repeat(md5(g::text), 1600), 'hex') AS payload FROM generate_series(1, 11719) g"`,
        'load: { strategy: catalog }',
        '',
      ].join('\n'),
    });
  });
  after(() => project?.cleanup());

  it('the warehouse opens with a share of memory, a temp directory beside it, no insertion order and row groups written as they fill', async () => {
    const file = path.join(project.dir, 'settings.duckdb');
    const instance = await warehouseInstance(file);
    const connection = await instance.connect();
    try {
      const reader = await connection.runAndReadAll(
        "SELECT current_setting('memory_limit') AS memory, current_setting('temp_directory') AS temp, current_setting('preserve_insertion_order') AS ordered, current_setting('write_buffer_row_group_count') AS buffered",
      );
      const [row] = reader.getRowObjects() as { memory: string; temp: string; ordered: boolean; buffered: bigint }[];
      assert.equal(row.temp, `${file}.tmp`);
      assert.equal(row.ordered, false);
      assert.equal(Number(row.buffered), 1);
      const limit = /^([\d.]+) (MiB|GiB)$/.exec(row.memory);
      assert.ok(limit, row.memory);
      const bytes = Number(limit[1]) * (limit[2] === 'GiB' ? 2 ** 30 : 2 ** 20);
      assert.ok(bytes >= 255 * 2 ** 20, `memory_limit ${row.memory} is at least 256 MiB`);
      assert.equal(defaultMemoryLimit(), `${Math.floor(Math.max(256 * 2 ** 20, (await import('node:os')).totalmem() * 0.25) / 2 ** 20)}MiB`);
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
  });

  it('merges 200,000 changed rows onto 200,000', async () => {
    await project.write('inbox/orders_1.csv', orders(200_000, 1));
    const first = await runCli(['run', 'jobs/orders.yaml', '--json'], project.dir);
    assert.equal(first.code, 0, first.stdout + first.stderr);
    await project.write('inbox/orders_2.csv', orders(200_000, 2));
    const second = await runCli(['run', 'jobs/orders.yaml', '--json'], project.dir);
    assert.equal(second.code, 0, second.stdout + second.stderr);
    const [result] = JSON.parse(second.stdout) as { status: string; rows_loaded: number }[];
    assert.equal(result.status, 'succeeded');
    const [row] = await queryDuckDB(path.join(project.dir, 'warehouse.duckdb'), 'SELECT count(*) AS n, count(DISTINCT id) AS d, sum(amount) AS s, min(note) AS note FROM orders');
    assert.equal(Number(row.n), 200_000);
    assert.equal(Number(row.d), 200_000);
    assert.equal(Number(row.s), 200_000 * 200_001 + 200_000 * 0.25);
    assert.match(String(row.note), /^v2 /);
  });

  it('loads a query returning ~300 MB of BLOBs', async () => {
    const result = await runCli(['run', 'jobs/blobs.yaml', '--json'], project.dir);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const [row] = await queryDuckDB(path.join(project.dir, 'warehouse.duckdb'), 'SELECT count(*) AS n, sum(octet_length(payload)) AS bytes, max(id) AS top FROM blobs');
    assert.equal(Number(row.n), 11_719);
    assert.equal(Number(row.bytes), 11_719 * 25_600);
    // The last BLOB is the one PostgreSQL made for it.
    const [last] = await queryDuckDB(path.join(project.dir, 'warehouse.duckdb'), "SELECT substr(hex(payload), 1, 32) AS head FROM blobs WHERE id = 11719");
    assert.equal(String(last.head).toLowerCase(), (await import('node:crypto')).createHash('md5').update('11719').digest('hex'));
  });
});

describe('two jobs writing into one warehouse at once', () => {
  let scratch: PgScratch;
  let project: Project;
  /** The test's own session: while it holds the advisory lock, the slow job's read stops at row 9,000. */
  let gate: pg.Client;
  const GATE = 700_000 + Math.floor(Math.random() * 100_000);
  before(async () => {
    scratch = await pgScratch('warehouse');
    await scratch.sql(`CREATE TABLE ${scratch.schema}.items (id bigint PRIMARY KEY)`);
    await scratch.sql(`INSERT INTO ${scratch.schema}.items SELECT g FROM generate_series(1, 10000) g`);
    gate = new pg.Client({ ...PG });
    await gate.connect();
    const slow = `SELECT id FROM ${scratch.schema}.items WHERE CASE WHEN id = 9000 THEN pg_advisory_lock(${GATE})::text IS NOT NULL AND pg_advisory_unlock(${GATE}) ELSE true END`;
    project = await scratchProject({
      'etl.config.yaml': `connections:\n  inbox: { type: local, path: ./inbox }\n  shop: ${PG_CONNECTION}\n  wh: { type: duckdb, path: ./warehouse.duckdb }\ndefaults: { destination: wh }\n`,
      'jobs/slow.yaml': `name: slow\nsource:\n  connection: shop\n  query: "${slow}"\nload: { strategy: catalog }\n`,
      'jobs/files.yaml': 'name: files\nsource: { connection: inbox, pattern: "a.csv" }\nload: { strategy: transactional }\n',
      'jobs/later.yaml': 'name: later\nsource: { connection: inbox, pattern: "b.csv" }\nload: { strategy: transactional }\n',
      'inbox/a.csv': 'id,name\n1,a\n2,b\n',
    });
  });
  after(async () => {
    await gate?.end();
    await scratch?.drop();
    await project?.cleanup();
  });

  /** Starts the slow job, held at its gate, and resolves with it once it holds the warehouse. */
  async function slowRunning() {
    await gate.query('SELECT pg_advisory_lock($1)', [GATE]);
    const run = startCli(['run', 'jobs/slow.yaml'], project.dir);
    let stderr = '';
    await new Promise<void>((resolve, reject) => {
      run.child.stderr!.on('data', (chunk: Buffer) => {
        stderr += chunk;
        if (/unit\(s\) to load/.test(stderr)) resolve();
      });
      run.child.on('close', () => reject(new Error(`the slow job ended first:\n${stderr}`)));
    });
    return run;
  }

  it('the second process waits for the warehouse, naming the job and pid that hold it, then loads', async () => {
    const slow = await slowRunning();
    // The slow job lets go of the warehouse once the second process says it waits, not before.
    const started = startCli(['run', 'jobs/files.yaml', '--json'], project.dir);
    started.child.stderr!.on('data', (chunk: Buffer) => /waiting for it/.test(String(chunk)) && void gate.query('SELECT pg_advisory_unlock($1)', [GATE]));
    const second = await started.done;
    const first = await slow.done;
    assert.equal(first.code, 0, first.stderr);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stderr, new RegExp(`warehouse\\.duckdb is in use by b2betl job slow \\(run \\S+, pid ${slow.child.pid} on .+\\); waiting for it \\(up to 600 s\\)`));
    const [result] = JSON.parse(second.stdout) as { status: string; rows_loaded: number }[];
    assert.deepEqual([result.status, result.rows_loaded], ['succeeded', 2]);
    const [counts] = await queryDuckDB(path.join(project.dir, 'warehouse.duckdb'), 'SELECT (SELECT count(*) FROM slow) AS slow, (SELECT count(*) FROM files) AS files');
    assert.deepEqual([Number(counts.slow), Number(counts.files)], [10_000, 2]);
  });

  it('past the bound, it fails saying who holds the warehouse, and records the run', async () => {
    await writeFile(path.join(project.dir, 'inbox', 'b.csv'), 'id,name\n3,c\n');
    const slow = await slowRunning();
    const second = await runCli(['run', 'jobs/later.yaml', '--json'], project.dir, { B2BETL_WAREHOUSE_WAIT_MS: '1000' });
    await gate.query('SELECT pg_advisory_unlock($1)', [GATE]);
    await slow.done;
    assert.equal(second.code, 1, second.stderr);
    const [result] = JSON.parse(second.stdout) as { status: string; run_id: string; error: string }[];
    assert.equal(result.status, 'failed');
    assert.match(result.error, new RegExp(`warehouse\\.duckdb stayed in use by b2betl job slow \\(run \\S+, pid ${slow.child.pid} on .+\\) for 1 s`));
    assert.match(result.error, /run the jobs one after another/);
    const history = JSON.parse((await runCli(['history', 'later', '--json'], project.dir)).stdout) as { id: string; status: string; error: string }[];
    assert.equal(history[0].id, result.run_id);
    assert.equal(history[0].error, result.error);
    // Nothing was lost: the next run loads the file.
    const again = await runCli(['run', 'jobs/later.yaml', '--json'], project.dir);
    assert.equal(again.code, 0, again.stderr);
    assert.equal((JSON.parse(again.stdout) as { rows_loaded: number }[])[0].rows_loaded, 1);
  });
});
