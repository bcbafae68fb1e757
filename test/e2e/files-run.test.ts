/**
 * The real binary on a scratch project: local files into the embedded DuckDB warehouse,
 * run after run, with bad files and killed processes.
 */
import assert from 'node:assert/strict';
import { writeFile, utimes, rm } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { queryDuckDB, runCli, scratchProject } from '../support/cli.js';

type Project = Awaited<ReturnType<typeof scratchProject>>;

const CONFIG = 'connections:\n  inbox: { type: local, path: ./inbox }\n';
const ORDERS_JOB = 'name: orders\nsource: { connection: inbox, pattern: "orders_*.csv" }\nload: { strategy: transactional }\n';

function csv(ids: number[]): string {
  return ['id,Customer Name,amount', ...ids.map((id) => `${id},"Customer ${id}, Inc.",${id}.25`)].join('\n') + '\n';
}

async function runJson(project: Project, ...args: string[]) {
  const result = await runCli(['run', ...args, '--json'], project.dir);
  assert.ok(result.stdout.trim().startsWith('['), `no JSON on stdout (exit ${result.code}):\n${result.stdout}\n${result.stderr}`);
  return { ...result, results: JSON.parse(result.stdout) as Record<string, unknown>[] };
}

async function ids(project: Project, table = 'orders'): Promise<number[]> {
  const rows = await queryDuckDB(path.join(project.dir, 'warehouse.duckdb'), `SELECT id FROM main.${table} ORDER BY id`);
  return rows.map((row) => Number(row.id));
}

describe('transactional file loads', () => {
  const projects: Project[] = [];
  after(() => Promise.all(projects.map((project) => project.cleanup())));
  /** A project of each test's own (each passes alone): the inbox, and with `loaded` its first run done. */
  const fresh = async (loaded: boolean): Promise<Project> => {
    const project = await scratchProject({
      'etl.config.yaml': CONFIG,
      'jobs/orders.yaml': ORDERS_JOB,
      'inbox/orders_1.csv': csv([1, 2, 3]),
      'inbox/orders_2.csv': csv([4, 5]),
      'inbox/other.csv': csv([99]),
    });
    projects.push(project);
    if (loaded) assert.equal((await runJson(project, 'jobs/orders.yaml')).code, 0);
    return project;
  };

  test('the first run loads every matching file', async () => {
    const project = await fresh(false);
    const { code, results } = await runJson(project, 'jobs/orders.yaml');
    assert.equal(code, 0);
    assert.equal(results[0].status, 'succeeded');
    assert.equal(results[0].rows_loaded, 5);
    assert.equal(results[0].files_processed, 2);
    assert.deepEqual(await ids(project), [1, 2, 3, 4, 5]);
    const rows = await queryDuckDB(path.join(project.dir, 'warehouse.duckdb'), 'SELECT "Customer_Name", amount FROM main.orders WHERE id = 1');
    assert.deepEqual(rows, [{ Customer_Name: 'Customer 1, Inc.', amount: 1.25 }]);
  });

  test('a re-run loads nothing', async () => {
    const project = await fresh(true);
    const { code, results } = await runJson(project, 'jobs/orders.yaml');
    assert.equal(code, 0);
    assert.equal(results[0].status, 'skipped');
    assert.equal(results[0].files_skipped, 2);
    assert.deepEqual(await ids(project), [1, 2, 3, 4, 5]);
  });

  test('a new file loads alone', async () => {
    const project = await fresh(true);
    await project.write('inbox/orders_3.csv', csv([6]));
    const { results } = await runJson(project, 'jobs/orders.yaml');
    assert.equal(results[0].files_processed, 1);
    assert.equal(results[0].files_skipped, 2);
    assert.deepEqual(await ids(project), [1, 2, 3, 4, 5, 6]);
  });

  test('a changed file reloads (its new rows are appended)', async () => {
    const project = await fresh(true);
    await project.write('inbox/orders_3.csv', csv([6]));
    await runJson(project, 'jobs/orders.yaml');
    await project.write('inbox/orders_3.csv', csv([7, 8]));
    const { results } = await runJson(project, 'jobs/orders.yaml');
    assert.equal(results[0].files_processed, 1);
    assert.deepEqual(await ids(project), [1, 2, 3, 4, 5, 6, 7, 8]);
  });

  test('a touched but identical-size file with a new mtime also counts as changed', async () => {
    const project = await fresh(true);
    const file = path.join(project.dir, 'inbox/orders_2.csv');
    const later = new Date(Date.now() + 60_000);
    await utimes(file, later, later);
    const { results } = await runJson(project, 'jobs/orders.yaml');
    assert.equal(results[0].files_processed, 1);
  });

  test('a bad file fails alone, names file:line and column, and does not advance state', async () => {
    const project = await fresh(true);
    await project.write('inbox/orders_4.csv', 'id,Customer Name,amount\n10,ok,1.5\n11,bad,not-a-number\n');
    await project.write('inbox/orders_5.csv', csv([12]));
    const before = await ids(project);
    const first = await runJson(project, 'jobs/orders.yaml');
    assert.equal(first.code, 1);
    assert.equal(first.results[0].status, 'partial');
    assert.equal(first.results[0].files_failed, 1);
    assert.match(String(first.results[0].error), /orders_4\.csv:3: amount: "not-a-number" is not a number/);
    assert.deepEqual(await ids(project), [...before, 12]);
    // The summary table, --json and history say the same: one row loaded, one file failed.
    assert.equal(first.results[0].rows_loaded, 1);
    const recorded = (JSON.parse((await runCli(['history', 'orders', '--json'], project.dir)).stdout) as Record<string, unknown>[])[0];
    for (const key of ['status', 'rows_loaded', 'rows_extracted', 'files_processed', 'files_failed', 'error']) assert.deepEqual(recorded[key], first.results[0][key], key);
    assert.equal(recorded.id, first.results[0].run_id);
    // Nothing of the bad file was committed and it is retried: fixed, it loads once.
    await project.write('inbox/orders_4.csv', 'id,Customer Name,amount\n10,ok,1.5\n11,fixed,2.5\n');
    const second = await runJson(project, 'jobs/orders.yaml');
    assert.equal(second.code, 0);
    assert.equal(second.results[0].files_processed, 1);
    assert.deepEqual(await ids(project), [...before, 10, 11, 12].sort((a, b) => a - b));
  });

  test('state show lists the processed files and the column mapping', async () => {
    const project = await fresh(true);
    const { code, stdout } = await runCli(['state', 'show', 'orders', '--json'], project.dir);
    assert.equal(code, 0);
    const state = JSON.parse(stdout);
    assert.deepEqual(
      state.files.map((file: { path: string }) => file.path).sort(),
      ['orders_1.csv', 'orders_2.csv'],
    );
    assert.deepEqual(
      state.columns.map((c: { original: string; sanitized: string }) => [c.original, c.sanitized]),
      [['id', 'id'], ['Customer Name', 'Customer_Name'], ['amount', 'amount']],
    );
  });

  test('history shows every run, newest first', async () => {
    const project = await fresh(true);
    await runJson(project, 'jobs/orders.yaml');
    await project.write('inbox/orders_3.csv', csv([6]));
    await runJson(project, 'jobs/orders.yaml');
    const { stdout } = await runCli(['history', 'orders', '--json'], project.dir);
    const runs = JSON.parse(stdout) as { status: string }[];
    assert.deepEqual(
      runs.map((run) => run.status),
      ['succeeded', 'skipped', 'succeeded'],
    );
  });
});

describe('catalog and full refresh', () => {
  const projects: Project[] = [];
  after(() => Promise.all(projects.map((project) => project.cleanup())));
  const fresh = async (): Promise<Project> => {
    const project = await scratchProject({
      'etl.config.yaml': CONFIG,
      'jobs/snapshot.yaml': 'name: snapshot\nsource: { connection: inbox, pattern: "snap/*.jsonl" }\nload: { strategy: catalog }\n',
      'jobs/orders.yaml': ORDERS_JOB,
      'inbox/snap/a.jsonl': '{"id": 1, "tags": ["x"], "meta": {"k": 1}}\n{"id": 2}\n',
      'inbox/orders_1.csv': csv([1, 2]),
    });
    projects.push(project);
    return project;
  };

  test('catalog replaces the table atomically on every run', async () => {
    const project = await fresh();
    await runJson(project, 'jobs/snapshot.yaml');
    assert.deepEqual(await ids(project, 'snapshot'), [1, 2]);
    // The same files, unchanged since the last snapshot: nothing to load, unless --full-refresh.
    const same = await runJson(project, 'jobs/snapshot.yaml');
    assert.equal(same.results[0].status, 'skipped');
    assert.match(String(same.results[0].note), /unchanged since the last snapshot/);
    const forced = await runJson(project, 'jobs/snapshot.yaml', '--full-refresh');
    assert.equal(forced.results[0].status, 'succeeded');
    assert.equal(forced.results[0].rows_loaded, 2);
    assert.deepEqual(await ids(project, 'snapshot'), [1, 2]);
    // A file added to the snapshot loads them all again; so does one removed.
    await project.write('inbox/snap/b.jsonl', '{"id": 5}\n');
    assert.equal((await runJson(project, 'jobs/snapshot.yaml')).results[0].rows_loaded, 3);
    await rm(path.join(project.dir, 'inbox/snap/b.jsonl'));
    assert.equal((await runJson(project, 'jobs/snapshot.yaml')).results[0].rows_loaded, 2);
    assert.deepEqual(await ids(project, 'snapshot'), [1, 2]);
    assert.equal((await runJson(project, 'jobs/snapshot.yaml')).results[0].status, 'skipped');
    // The snapshot's table dropped: unchanged files are loaded again.
    const { DuckDBInstance } = await import('@duckdb/node-api');
    const instance = await DuckDBInstance.create(path.join(project.dir, 'warehouse.duckdb'));
    const connection = await instance.connect();
    await connection.run('DROP TABLE main.snapshot');
    connection.closeSync();
    instance.closeSync();
    assert.equal((await runJson(project, 'jobs/snapshot.yaml')).results[0].rows_loaded, 2);
    assert.deepEqual(await ids(project, 'snapshot'), [1, 2]);
    await project.write('inbox/snap/a.jsonl', '{"id": 3, "tags": [], "meta": null}\n');
    const { results } = await runJson(project, 'jobs/snapshot.yaml');
    assert.equal(results[0].status, 'succeeded');
    assert.deepEqual(await ids(project, 'snapshot'), [3]);
    const rows = await queryDuckDB(path.join(project.dir, 'warehouse.duckdb'), 'SELECT tags FROM main.snapshot');
    assert.deepEqual(rows, [{ tags: '[]' }]);
  });

  test('a table keeps its strategy', async () => {
    const project = await fresh();
    await runJson(project, 'jobs/snapshot.yaml');
    await project.write('jobs/clash.yaml', 'name: clash\nsource: { connection: inbox, pattern: "snap/*.jsonl" }\nload: { strategy: transactional }\ndestination: { table: snapshot }\n');
    const { code, results } = await runJson(project, 'jobs/clash.yaml');
    assert.equal(code, 1);
    assert.match(String(results[0].error), /was loaded with strategy catalog/);
  });

  test('--full-refresh reloads files already processed, replacing the table in one commit', async () => {
    const project = await fresh();
    await runJson(project, 'jobs/orders.yaml');
    const dry = await runCli(['run', 'jobs/orders.yaml', '--full-refresh', '--dry-run'], project.dir);
    assert.match(dry.stdout, /--full-refresh: reads everything from the start and replaces .*orders atomically, in one commit with its marker/);
    for (let i = 0; i < 2; i++) {
      const { results } = await runJson(project, 'jobs/orders.yaml', '--full-refresh');
      assert.equal(results[0].files_processed, 1);
      assert.deepEqual(await ids(project), [1, 2]);
    }
  });

  test('--dry-run shows the plan and writes nothing', async () => {
    const project = await fresh();
    await runJson(project, 'jobs/orders.yaml');
    await project.write('inbox/orders_2.csv', csv([3]));
    const { code, stdout } = await runCli(['run', 'jobs/orders.yaml', '--dry-run'], project.dir);
    assert.equal(code, 0);
    assert.match(stdout, /orders_2\.csv/);
    assert.match(stdout, /1 unit\(s\)/);
    assert.deepEqual(await ids(project), [1, 2]);
  });
});

describe('bad input policy', () => {
  let project: Project;
  before(async () => {
    project = await scratchProject({
      'etl.config.yaml': CONFIG,
      'jobs/lenient.yaml': 'name: lenient\nsource: { connection: inbox, pattern: "l_*.csv", sample_size: 1 }\nload: { max_bad_records: 2 }\n',
      'inbox/l_1.csv': 'id,when\n1,2024-01-01\n2,not a date\n3,2024-01-03\n4,"ragged",extra\n',
      'inbox/empty.csv': '',
      'inbox/header_only.csv': 'id,when\n',
    });
  });
  after(() => project.cleanup());

  test('max_bad_records sends bad rows to <table>__rejected while good rows load', async () => {
    const { code, results } = await runJson(project, 'jobs/lenient.yaml');
    assert.equal(code, 0, JSON.stringify(results));
    assert.equal(results[0].rows_loaded, 2);
    assert.equal(results[0].rows_rejected, 2);
    const rejected = await queryDuckDB(path.join(project.dir, 'warehouse.duckdb'), 'SELECT position, column_name, reason FROM main.lenient__rejected ORDER BY position');
    assert.equal(rejected.length, 2);
    assert.equal(rejected[0].position, '3');
    assert.equal(rejected[0].column_name, 'when');
    assert.equal(rejected[1].position, '5');
  });

  test('empty files, header-only files and empty folders are reported, not crashed on', async () => {
    await project.write('jobs/empties.yaml', 'name: empties\nsource: { connection: inbox, pattern: "{empty,header_only}.csv" }\n');
    await project.write('jobs/nothing.yaml', 'name: nothing\nsource: { connection: inbox, pattern: "missing/*.csv" }\n');
    const { code, results } = await runJson(project, 'jobs/empties.yaml', 'jobs/nothing.yaml');
    assert.equal(code, 0);
    assert.equal(results[0].status, 'succeeded');
    assert.equal(results[0].files_processed, 2);
    assert.equal(results[0].rows_loaded, 0);
    assert.equal(results[1].status, 'skipped');
    assert.match(String(results[1].note), /no files match missing\/\*\.csv/);
  });

  test('an invalid job spec exits 2 with file, line and fix', async () => {
    await project.write('jobs/invalid.yaml', 'name: invalid\nsource: { connection: inbox, pattern: "*.csv" }\nload: { strategy: append }\n');
    const result = await runCli(['run', 'jobs/invalid.yaml'], project.dir);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /invalid\.yaml:3: load\.strategy/);
    assert.match(result.stderr, /transactional, catalog, merge/);
  });
});

// Files stream row by row, or (B2BETL_NATIVE_MIN_BYTES=0) DuckDB reads them straight into the
// target inside the open commit transaction, which a kill must leave uncommitted.
for (const [how, env] of [
  ['streamed', {}],
  ['read by DuckDB', { B2BETL_NATIVE_MIN_BYTES: '0' }],
] as const) describe(`a run killed at any point, files ${how}`, () => {
  let project: Project;
  const rowsPerFile = 40_000;
  before(async () => {
    const files: Record<string, string> = { 'etl.config.yaml': CONFIG, 'jobs/orders.yaml': ORDERS_JOB };
    for (let f = 0; f < 4; f++) files[`inbox/orders_${f}.csv`] = csv(Array.from({ length: rowsPerFile }, (_, i) => f * rowsPerFile + i));
    project = await scratchProject(files);
  });
  after(() => project.cleanup());

  const expected = () => Array.from({ length: 4 * rowsPerFile }, (_, i) => i);
  const runToEnd = async () => {
    const { code, stderr } = await runCli(['run', 'jobs/orders.yaml'], project.dir, env);
    assert.equal(code, 0, stderr);
  };
  const reset = async () => {
    await rm(path.join(project.dir, 'warehouse.duckdb'), { force: true });
    await rm(path.join(project.dir, '.b2betl'), { recursive: true, force: true });
  };

  for (const point of ['before-commit', 'after-commit']) {
    test(`killed ${point.replace('-', ' ')}: the re-run gives exactly the source rows`, async () => {
      await reset();
      const killed = await runCli(['run', 'jobs/orders.yaml'], project.dir, { ...env, B2BETL_FAULT: point });
      assert.notEqual(killed.code, 0);
      assert.match(killed.stderr, new RegExp(`fault point ${point} hit`));
      await runToEnd();
      assert.deepEqual(await ids(project), expected());
    });
  }

  test('killed after some rows are read, with files still to read: the re-run converges to exactly the source rows', async () => {
    await reset();
    const killed = await runCli(['run', 'jobs/orders.yaml'], project.dir, { ...env, B2BETL_FAULT: `after-rows@${rowsPerFile + 1}` });
    assert.equal(killed.code, 128);
    assert.match(killed.stderr, /fault point after-rows hit \(\d+ rows read\)/);
    await runToEnd();
    assert.deepEqual(await ids(project), expected());
    await writeFile(path.join(project.dir, 'inbox', 'orders_9.csv'), csv([1_000_000]));
    await runToEnd();
    assert.deepEqual(await ids(project), [...expected(), 1_000_000]);
  });
});

describe('merge across files read at once', () => {
  let project: Project;
  before(async () => {
    const big = ['id,version', ...Array.from({ length: 60_000 }, (_, i) => `${i + 2},1`), '1,1'];
    project = await scratchProject({
      'etl.config.yaml': CONFIG,
      'jobs/merged.yaml': 'name: merged\nsource: { connection: inbox, pattern: "m_*.csv" }\nload: { strategy: merge, primary_key: [id] }\n',
      // The first file is long and changes key 1 last; the second, short, changes it again. Read
      // side by side, the second file's row is staged first: the first file's must still lose.
      'inbox/m_1.csv': `${big.join('\n')}\n`,
      'inbox/m_2.csv': 'id,version\n1,2\n',
    });
  });
  after(() => project.cleanup());

  test('each key keeps the version of the file last in order, however the reads interleaved', async () => {
    const { code, results } = await runJson(project, 'jobs/merged.yaml');
    assert.equal(code, 0, JSON.stringify(results));
    const rows = await queryDuckDB(path.join(project.dir, 'warehouse.duckdb'), 'SELECT version FROM merged WHERE id = 1');
    assert.deepEqual(rows.map((row) => Number(row.version)), [2]);
  });
});

describe('source columns spelled otherwise than the table\'s', () => {
  let project: Project;
  before(async () => {
    project = await scratchProject({
      'etl.config.yaml': CONFIG,
      'jobs/sales.yaml': 'name: sales\nsource: { connection: inbox, pattern: "sales_*.csv" }\nload: { strategy: transactional }\n',
      'inbox/sales_1.csv': 'Sale ID,total,Note\n2,2.5,a\n',
    });
    // A table made elsewhere, its columns in its own spelling.
    const { DuckDBInstance } = await import('@duckdb/node-api');
    const instance = await DuckDBInstance.create(path.join(project.dir, 'warehouse.duckdb'));
    const connection = await instance.connect();
    await connection.run('CREATE TABLE main.sales (sale_id BIGINT, "Total" DOUBLE); INSERT INTO main.sales VALUES (1, 1.5)');
    connection.closeSync();
    instance.closeSync();
  });
  after(() => project.cleanup());

  const table = async () => {
    const file = path.join(project.dir, 'warehouse.duckdb');
    const columns = await queryDuckDB(file, "SELECT column_name FROM information_schema.columns WHERE table_name = 'sales' ORDER BY ordinal_position");
    return { columns: columns.map((column) => column.column_name), rows: await queryDuckDB(file, 'SELECT * FROM main.sales ORDER BY sale_id') };
  };

  test('load into the columns that match them ignoring case and punctuation, which keep their spelling', async () => {
    const { code, results } = await runJson(project, 'jobs/sales.yaml');
    assert.equal(code, 0, JSON.stringify(results));
    assert.deepEqual(await table(), {
      columns: ['sale_id', 'Total', 'Note'],
      rows: [
        { sale_id: '1', Total: 1.5, Note: null },
        { sale_id: '2', Total: 2.5, Note: 'a' },
      ],
    });
  });

  test('two columns of one file that meet the same column: the one spelled as it is takes it, the other gets a suffix', async () => {
    await project.write('inbox/sales_2.csv', 'SALE-ID,sale id,TOTAL\n30,3,3.5\n');
    const { code, results } = await runJson(project, 'jobs/sales.yaml');
    assert.equal(code, 0, JSON.stringify(results));
    const { columns, rows } = await table();
    assert.deepEqual(columns, ['sale_id', 'Total', 'Note', 'SALE_ID_2']);
    assert.deepEqual(rows.at(-1), { sale_id: '3', Total: 3.5, Note: null, SALE_ID_2: '30' });
    assert.equal(rows.length, 3);
  });
});
