/** `b2betl inspect-schema` through the real binary: files by sampling, and a PostgreSQL table. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { runCli, scratchProject } from '../support/cli.js';
import { MY, myScratch, type MyScratch } from '../support/databases.js';

type Project = Awaited<ReturnType<typeof scratchProject>>;

interface Inspection {
  columns: { source_name: string; source_type: string; destination_type: string; destination_name: string; nullable: boolean }[];
  destination_table: null | {
    compatible: boolean;
    compatible_columns: string[];
    to_add: { name: string; type: string }[];
    missing_in_source: string[];
    type_mismatches: { column: string; sourceType: string; destinationType: string }[];
  };
}

async function inspect(project: Project, ...args: string[]): Promise<Inspection> {
  const result = await runCli(['inspect-schema', ...args, '--json'], project.dir);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as Inspection;
}

describe('inspect-schema on files', () => {
  let project: Project;
  before(async () => {
    project = await scratchProject({
      'etl.config.yaml': 'connections:\n  inbox: { type: local, path: ./inbox }\n',
      'jobs/orders.yaml': 'name: orders\nsource: { connection: inbox, pattern: "*.csv" }\n',
      'inbox/a.csv': 'Order ID,Customer Name,amount,Created At\n1,Ann,1.5,2024-01-01T00:00:00Z\n',
    });
  });
  after(() => project.cleanup());

  test('samples the files and shows types and sanitized names before any load', async () => {
    const report = await inspect(project, 'jobs/orders.yaml');
    assert.deepEqual(
      report.columns.map((c) => [c.source_name, c.destination_type, c.destination_name]),
      [
        ['Order ID', 'INT64', 'Order_ID'],
        ['Customer Name', 'STRING', 'Customer_Name'],
        ['amount', 'FLOAT64', 'amount'],
        ['Created At', 'TIMESTAMP', 'Created_At'],
      ],
    );
    assert.equal(report.destination_table, null);
  });

  test('reports compatibility with the existing table: compatible, to add, missing, mismatches', async () => {
    assert.equal((await runCli(['run', 'jobs/orders.yaml'], project.dir)).code, 0);
    await project.write('inbox/a.csv', 'Order ID,amount,Created At,Coupon\nX-1,2.5,2024-01-02,SPRING\n');
    const report = await inspect(project, 'jobs/orders.yaml');
    const table = report.destination_table!;
    assert.deepEqual(table.compatible_columns.sort(), ['Created_At', 'amount']);
    assert.deepEqual(table.to_add, [{ name: 'Coupon', type: 'STRING' }]);
    assert.deepEqual(table.missing_in_source, ['Customer_Name']);
    assert.deepEqual(table.type_mismatches.map((m) => [m.column, m.sourceType, m.destinationType]), [['Order_ID', 'STRING', 'INT64']]);
    assert.equal(table.compatible, false);
    const text = await runCli(['inspect-schema', 'jobs/orders.yaml'], project.dir);
    assert.match(text.stdout, /to add: +Coupon STRING/);
    assert.match(text.stdout, /NOT compatible/);
  });
});

describe('inspect-schema on a PostgreSQL table', () => {
  const schema = `b2b_inspect_${process.pid}`;
  const client = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' });
  let project: Project;
  before(async () => {
    await client.connect();
    await client.query(`CREATE SCHEMA ${schema}`);
    await client.query(`CREATE TABLE ${schema}.orders (id bigint PRIMARY KEY, "Total (€)" numeric(12,2) NOT NULL, placed_at timestamptz, tags text[])`);
    project = await scratchProject({ 'etl.config.yaml': 'connections:\n  shop: { type: postgres, url: "postgres://postgres@127.0.0.1:5432/test" }\n' });
  });
  after(async () => {
    await client.query(`DROP SCHEMA ${schema} CASCADE`);
    await client.end();
    await project.cleanup();
  });

  test('--connection and --table show source types, destination types and nullability', async () => {
    const report = await inspect(project, '--connection', 'shop', '--table', `${schema}.orders`);
    assert.deepEqual(
      report.columns.map((c) => [c.source_name, c.destination_type, c.destination_name, c.nullable]),
      [
        ['id', 'INT64', 'id', false],
        ['Total (€)', 'NUMERIC', 'Total', false],
        ['placed_at', 'TIMESTAMP', 'placed_at', true],
        ['tags', 'STRING', 'tags', true],
      ],
    );
    assert.match(report.columns[1].source_type, /numeric\(12,\s?2\)/);
  });

  test('--connection without --table lists the tables and views with the catalog row estimates', async () => {
    await client.query(`INSERT INTO ${schema}.orders SELECT g, g, now(), NULL FROM generate_series(1, 1200) g`);
    await client.query(`ANALYZE ${schema}.orders`);
    await client.query(`CREATE TABLE ${schema}.never_analyzed (id int)`);
    await client.query(`CREATE VIEW ${schema}.big_orders AS SELECT * FROM ${schema}.orders WHERE id > 100`);
    const result = await runCli(['inspect-schema', '--connection', 'shop', '--json'], project.dir);
    assert.equal(result.code, 0, result.stderr);
    const { connection, tables } = JSON.parse(result.stdout) as { connection: string; tables: { name: string; kind: string; estimated_rows: number | null }[] };
    assert.equal(connection, 'shop');
    const mine = tables.filter((table) => table.name.startsWith(`${schema}.`));
    assert.deepEqual(mine, [
      { name: `${schema}.big_orders`, kind: 'view', estimated_rows: null },
      { name: `${schema}.never_analyzed`, kind: 'table', estimated_rows: 0 },
      { name: `${schema}.orders`, kind: 'table', estimated_rows: 1200 },
    ]);
    assert.ok(!tables.some((table) => table.name.startsWith('pg_catalog.') || table.name.startsWith('information_schema.')));
    const text = await runCli(['inspect-schema', '--connection', 'shop'], project.dir);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`^${schema}\\.orders\\s+table\\s+~1,200$`, 'm'));
    assert.match(text.stdout, new RegExp(`^${schema}\\.big_orders\\s+view\\s+unknown$`, 'm'));
    assert.match(text.stdout, /columns of one: b2betl inspect-schema --connection shop --table /);
  });

  test('an unknown table is a clear error', async () => {
    const result = await runCli(['inspect-schema', '--connection', 'shop', '--table', `${schema}.nope`], project.dir);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /nope/);
  });
});

describe('inspect-schema --connection on MariaDB without --table', () => {
  let db: MyScratch;
  let project: Project;
  before(async () => {
    db = await myScratch('inspect');
    await db.sql('CREATE TABLE orders (id bigint PRIMARY KEY, note text)');
    await db.sql('INSERT INTO orders VALUES (1, "a"), (2, "b"), (3, "c")');
    await db.sql('ANALYZE TABLE orders');
    await db.sql('CREATE VIEW recent AS SELECT id FROM orders');
    project = await scratchProject({ 'etl.config.yaml': `connections:\n  shop: { type: mysql, host: ${MY.host}, port: ${MY.port}, user: ${MY.user}, database: ${db.database} }\n` });
  });
  after(async () => {
    await db.drop();
    await project.cleanup();
  });

  test("lists the connection database's tables and views with their row estimates", async () => {
    const result = await runCli(['inspect-schema', '--connection', 'shop', '--json'], project.dir);
    assert.equal(result.code, 0, result.stderr);
    const { tables } = JSON.parse(result.stdout) as { tables: { name: string; kind: string; estimated_rows: number | null }[] };
    assert.deepEqual(tables, [
      { name: `${db.database}.orders`, kind: 'table', estimated_rows: 3 },
      { name: `${db.database}.recent`, kind: 'view', estimated_rows: null },
    ]);
  });
});
