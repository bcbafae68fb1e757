/**
 * Connector plugins through the real binary: the example SQLite source loaded from the config,
 * its rows in the DuckDB warehouse run after run, and every way a plugin entry can be wrong.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { queryDuckDB, repoRoot, runCli, scratchProject } from '../support/cli.js';

type Project = Awaited<ReturnType<typeof scratchProject>>;

const PLUGIN = path.join(repoRoot, 'examples', 'plugins', 'sqlite-source');

function shopDatabase(file: string): Database.Database {
  const db = new Database(file);
  db.exec('CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT, amount REAL, big INTEGER, paid BOOLEAN, created_at TIMESTAMP)');
  return db;
}

describe('the example SQLite source plugin', () => {
  let project: Project;
  let db: Database.Database;
  before(async () => {
    project = await scratchProject({
      'etl.config.yaml': `plugins: [${JSON.stringify(PLUGIN)}]\nconnections:\n  shop: { type: sqlite, path: ./shop.db }\n`,
      'jobs/orders.yaml': 'name: shop_orders\nsource: { connection: shop, table: orders }\nload: { strategy: transactional, cursor: id }\n',
      'jobs/snapshot.yaml': 'name: big_spenders\nsource:\n  connection: shop\n  query: "SELECT customer, sum(amount) AS total FROM orders GROUP BY customer"\nload: { strategy: catalog }\n',
    });
    db = shopDatabase(path.join(project.dir, 'shop.db'));
    const insert = db.prepare('INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?)');
    insert.run(1, 'ann', 9.5, 9007199254740993n, 1, '2024-03-01T10:00:00Z');
    insert.run(2, 'bob', null, -3, 0, '2024-03-02T11:30:00.123456Z');
  });
  after(async () => {
    db.close();
    await project.cleanup();
  });

  const warehouse = () => path.join(project.dir, 'warehouse.duckdb');

  test('validate accepts the plugin connection and its jobs', async () => {
    const result = await runCli(['validate', 'jobs'], project.dir);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /ok {2}shop_orders/);
  });

  test('the first run loads every row, exact, with the declared types', async () => {
    const result = await runCli(['run', 'jobs', '--json'], project.dir);
    assert.equal(result.code, 0, result.stderr);
    const results = JSON.parse(result.stdout) as { job: string; status: string; rows_loaded: number }[];
    assert.deepEqual(results.map((r) => [r.job, r.status, r.rows_loaded]), [['shop_orders', 'succeeded', 2], ['big_spenders', 'succeeded', 2]]);
    const rows = await queryDuckDB(warehouse(), 'SELECT id::INTEGER AS id, customer, amount, big::VARCHAR AS big, paid, created_at::VARCHAR AS created_at FROM main.shop_orders ORDER BY id');
    assert.deepEqual(rows, [
      { id: 1, customer: 'ann', amount: 9.5, big: '9007199254740993', paid: true, created_at: '2024-03-01 10:00:00+00' },
      { id: 2, customer: 'bob', amount: null, big: '-3', paid: false, created_at: '2024-03-02 11:30:00.123456+00' },
    ]);
    const types = await queryDuckDB(warehouse(), "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'shop_orders' ORDER BY ordinal_position");
    assert.deepEqual(types.map((t) => t.data_type), ['BIGINT', 'VARCHAR', 'DOUBLE', 'BIGINT', 'BOOLEAN', 'TIMESTAMP WITH TIME ZONE']);
    assert.deepEqual(await queryDuckDB(warehouse(), 'SELECT customer, total FROM main.big_spenders ORDER BY customer'), [
      { customer: 'ann', total: '9.5' },
      { customer: 'bob', total: null },
    ]);
  });

  test('a re-run loads only the rows past the cursor, and the snapshot again', async () => {
    const nothing = await runCli(['run', 'jobs/orders.yaml'], project.dir);
    assert.equal(nothing.code, 0, nothing.stderr);
    assert.match(nothing.stdout, /shop_orders\s+skipped/);
    assert.match(nothing.stdout, /no rows with id above 2/);
    db.prepare('INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?)').run(3, 'cy', 1.25, 7, 1, '2024-03-03T00:00:00Z');
    const result = await runCli(['run', 'jobs', '--json'], project.dir);
    assert.equal(result.code, 0, result.stderr);
    const results = JSON.parse(result.stdout) as { job: string; rows_loaded: number }[];
    assert.deepEqual(results.map((r) => [r.job, r.rows_loaded]), [['shop_orders', 1], ['big_spenders', 3]]);
    assert.deepEqual((await queryDuckDB(warehouse(), 'SELECT id::INTEGER AS id FROM main.shop_orders ORDER BY id')).map((r) => r.id), [1, 2, 3]);
    assert.equal((await queryDuckDB(warehouse(), 'SELECT count(*)::INTEGER AS n FROM main.big_spenders'))[0].n, 3);
  });

  test('inspect-schema --connection lists the tables the plugin source offers', async () => {
    db.exec('CREATE VIEW paid AS SELECT * FROM orders WHERE paid');
    const result = await runCli(['inspect-schema', '--connection', 'shop', '--json'], project.dir);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual((JSON.parse(result.stdout) as { tables: unknown[] }).tables, [
      { name: 'orders', kind: 'table', estimated_rows: 3 },
      { name: 'paid', kind: 'view', estimated_rows: null },
    ]);
  });

  test('inspect-schema shows the source types the plugin declared', async () => {
    const result = await runCli(['inspect-schema', 'jobs/orders.yaml', '--json'], project.dir);
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout) as { columns: { source_name: string; source_type: string; type: string }[] };
    assert.deepEqual(report.columns.map((c) => [c.source_name, c.source_type, c.type]).slice(0, 3), [
      ['id', 'INTEGER', 'INT64'],
      ['customer', 'TEXT', 'STRING'],
      ['amount', 'REAL', 'FLOAT64'],
    ]);
  });
});

describe('plugin entries and plugin connections that are wrong', () => {
  let project: Project;
  before(async () => {
    project = await scratchProject({
      'plugins/no-register.js': 'export const name = "nothing here";\n',
      'plugins/throws.js': 'export function register() { throw new Error("boom"); }\n',
      'plugins/builtin.js': 'export function register(b2betl) { b2betl.connectionType("postgres", { keys: {}, source: { keys: [], open: async () => ({}) } }); }\n',
      'plugins/checked.js':
        'export function register(b2betl) {\n' +
        '  b2betl.connectionType("kv", {\n' +
        '    keys: { url: { type: "string", required: true }, shards: { type: "integer" }, tags: { type: "strings" } },\n' +
        '    check: (config) => (config.url.startsWith("http") ? [] : [{ key: "url", message: "url must be http(s)", fix: "write http://host:port" }]),\n' +
        '    source: { keys: ["collection"], open: async () => { throw new Error("not opened in this test"); } },\n' +
        '  });\n' +
        '}\n',
      'data/a.csv': 'id\n1\n',
      'jobs/a.yaml': 'name: a\nsource: { connection: files, pattern: "*.csv" }\n',
    });
  });
  after(() => project.cleanup());

  const withConfig = async (config: string) => {
    await project.write('etl.config.yaml', config);
    return runCli(['validate', 'jobs', '--json'], project.dir);
  };

  for (const [entry, message] of [
    ['a-package-that-does-not-exist', /plugin a-package-that-does-not-exist: no such package installed/],
    ['./plugins/missing.js', /plugin \.\/plugins\/missing\.js: no such file or folder/],
    ['./plugins/no-register.js', /does not export a register function/],
    ['./plugins/throws.js', /register failed: boom/],
    ['./plugins/builtin.js', /connection type "postgres" is built in/],
  ] as const) {
    test(`${entry}: refused at its line, and nothing runs`, async () => {
      const config = `connections:\n  files: { type: local, path: ./data }\nplugins:\n  - ${entry}\n`;
      const result = await withConfig(config);
      assert.equal(result.code, 2);
      const report = JSON.parse(result.stdout) as { valid: boolean; problems: { path: string; line: number; message: string; fix: string }[] };
      assert.equal(report.valid, false);
      assert.equal(report.problems[0].path, 'plugins[0]');
      assert.equal(report.problems[0].line, 4);
      assert.match(report.problems[0].message, message);
      assert.ok(report.problems[0].fix);
      const run = await runCli(['run', 'jobs'], project.dir);
      assert.equal(run.code, 2);
      assert.match(run.stderr, message);
      assert.doesNotMatch(run.stderr, /starting/);
    });
  }

  test("a plugin connection's keys are checked against the keys the plugin declared", async () => {
    const result = await withConfig(
      `plugins: [${JSON.stringify(PLUGIN)}]\nconnections:\n  files: { type: local, path: ./data }\n  shop: { type: sqlite, file: ./shop.db }\n  other: { type: sqlite, path: 12 }\n`,
    );
    assert.equal(result.code, 2);
    const problems = (JSON.parse(result.stdout) as { problems: { path: string; line: number; message: string }[] }).problems.map((p) => `${p.line} ${p.path}: ${p.message}`);
    assert.ok(problems.includes('4 connections.shop.file: unknown key "file"'), problems.join('\n'));
    assert.ok(problems.includes('4 connections.shop.path: missing required key "path"'), problems.join('\n'));
    assert.ok(problems.includes('5 connections.other.path: expected string, got 12'), problems.join('\n'));
  });

  test("a plugin's own check and its key types apply, each at its line", async () => {
    const result = await withConfig(
      'plugins: [./plugins/checked.js]\nconnections:\n  files: { type: local, path: ./data }\n  one: { type: kv, url: ftp://x, tags: solo }\n  two: { type: kv, url: http://x, shards: 1.5, tags: [a, b] }\n',
    );
    assert.equal(result.code, 2);
    const problems = (JSON.parse(result.stdout) as { problems: { path: string; line: number; message: string }[] }).problems.map((p) => `${p.line} ${p.path}: ${p.message}`);
    assert.deepEqual(problems.sort(), ['4 connections.one.url: url must be http(s) (write http://host:port)', '5 connections.two.shards: expected int, got 1.5']);
  });

  test('a job using a source key the plugin does not read is refused', async () => {
    await project.write('jobs/b.yaml', 'name: b\nsource: { connection: shop, pattern: "*.db" }\nload: { strategy: catalog }\n');
    try {
      const result = await withConfig(`plugins: [${JSON.stringify(PLUGIN)}]\nconnections:\n  files: { type: local, path: ./data }\n  shop: { type: sqlite, path: ./shop.db }\n`);
      assert.equal(result.code, 2);
      const problems = (JSON.parse(result.stdout) as { problems: { path: string; message: string }[] }).problems.map((p) => `${p.path}: ${p.message}`);
      assert.ok(problems.includes('source.pattern: source.pattern does not apply to a sqlite connection'), problems.join('\n'));
      assert.ok(problems.includes('source: a sqlite source needs source.table or source.query'), problems.join('\n'));
    } finally {
      await project.write('jobs/b.yaml', 'name: b\nsource: { connection: files, pattern: "*.csv" }\n');
    }
  });
});
