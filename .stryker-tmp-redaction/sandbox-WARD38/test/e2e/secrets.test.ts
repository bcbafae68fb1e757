/**
 * Secrets through the real binary: a fake PostgreSQL or MySQL server quotes the connection's
 * password back in its errors, and the password must show nowhere: stderr, `--json`,
 * `history`, the ledger file's bytes. A rejected value holding a connection's secret is
 * scrubbed from the rejects table too.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { queryDuckDB, runCli, scratchProject } from '../support/cli.js';
import { startFakeMysql } from '../support/fake-mysql.js';
import { startFakePostgres, type FakeSqlServer } from '../support/fake-postgres.js';

type Project = Awaited<ReturnType<typeof scratchProject>>;

const products = [
  { type: 'postgres', start: startFakePostgres },
  { type: 'mysql', start: startFakeMysql },
] as const;

/** Every byte of the project's ledger: the database file and its write-ahead log. */
async function ledgerBytes(project: Project): Promise<Buffer> {
  const folder = path.join(project.dir, '.b2betl');
  const names = await readdir(folder);
  assert.ok(names.includes('ledger.sqlite'), `no ledger in ${folder}: ${names.join(', ')}`);
  return Buffer.concat(await Promise.all(names.map((name) => readFile(path.join(folder, name)))));
}

for (const product of products) {
  for (const failAt of ['auth', 'query'] as const) {
    describe(`a ${product.type} server that quotes the password back (${failAt === 'auth' ? 'at login' : 'in a statement'})`, () => {
      let server: FakeSqlServer;
      let project: Project;
      const password = `Pw-${randomBytes(12).toString('base64url')}`;
      const env = { SHOP_PASSWORD: password };
      const hidden = (text: string, where: string) => assert.ok(!text.includes(password), `the password shows in ${where}:\n${text}`);

      before(async () => {
        server = await product.start(failAt);
        project = await scratchProject({
          'etl.config.yaml': `connections:\n  shop: { type: ${product.type}, host: 127.0.0.1, port: ${server.port}, user: etl, password: "\${SHOP_PASSWORD}", database: shop }\n`,
          'jobs/orders.yaml': 'name: orders\nsource: { connection: shop, table: shop.orders }\nload: { strategy: catalog }\n',
        });
      });
      after(async () => {
        await server?.stop();
        await project?.cleanup();
      });

      test('run --json, the log lines, history and the ledger file never hold it', async () => {
        const json = await runCli(['run', 'jobs/orders.yaml', '--json'], project.dir, env);
        assert.equal(json.code, 1, json.stderr);
        assert.ok(server.received.includes(password), 'the server was sent the password, and quoted it');
        hidden(json.stdout, '--json');
        hidden(json.stderr, 'stderr');
        const [result] = JSON.parse(json.stdout) as { status: string; error: string }[];
        assert.equal(result.status, 'failed');
        assert.match(result.error, failAt === 'auth' ? /authentication failed/ : /denied/);
        assert.match(result.error, /\*\*\*/);

        const plain = await runCli(['run', 'jobs/orders.yaml', '--verbose'], project.dir, env);
        assert.equal(plain.code, 1);
        hidden(plain.stdout, 'the summary');
        hidden(plain.stderr, 'the log lines');
        assert.match(plain.stdout + plain.stderr, /\*\*\*/);

        const history = await runCli(['history', '--json'], project.dir, env);
        assert.equal(history.code, 0, history.stderr);
        const runs = JSON.parse(history.stdout) as { status: string; error: string }[];
        assert.deepEqual(
          runs.map((run) => run.status),
          ['failed', 'failed'],
        );
        assert.ok(runs.every((run) => run.error.includes('***')));
        hidden(history.stdout, 'history --json');
        const table = await runCli(['history'], project.dir, env);
        hidden(table.stdout + table.stderr, 'history');

        const bytes = await ledgerBytes(project);
        assert.ok(bytes.includes('***'), 'the ledger holds the scrubbed errors');
        assert.ok(!bytes.includes(password), 'the password is in the ledger file');
        assert.ok(!bytes.includes(Buffer.from(password, 'utf16le')), 'the password is in the ledger file (UTF-16)');
      });
    });
  }
}

describe('the rejects table', () => {
  let project: Project;
  const password = `Pw-${randomBytes(12).toString('base64url')}`;
  before(async () => {
    project = await scratchProject({
      'etl.config.yaml': `connections:\n  inbox: { type: local, path: ./inbox }\n  shop: { type: postgres, url: "postgres://etl:\${SHOP_PASSWORD}@127.0.0.1:1/shop" }\n`,
      'jobs/amounts.yaml': 'name: amounts\nsource: { connection: inbox, pattern: "amounts.csv", sample_size: 1 }\nload: { max_bad_records: 5 }\n',
      // Someone pasted the database password into a number column.
      'inbox/amounts.csv': `id,v\n1,10\n2,${password}\n3,30\n`,
    });
  });
  after(async () => project?.cleanup());

  test('a rejected value holding a connection secret is scrubbed from <table>__rejected, the output and the ledger', async () => {
    const result = await runCli(['run', 'jobs/amounts.yaml', '--json', '--verbose'], project.dir, { SHOP_PASSWORD: password });
    assert.equal(result.code, 0, result.stderr);
    assert.ok(!result.stdout.includes(password) && !result.stderr.includes(password), 'the password shows in the output');
    const warehouse = path.join(project.dir, 'warehouse.duckdb');
    assert.deepEqual(
      (await queryDuckDB(warehouse, 'SELECT id FROM amounts ORDER BY id')).map((row) => Number(row.id)),
      [1, 3],
    );
    const rejected = await queryDuckDB(warehouse, 'SELECT position, column_name, reason, raw FROM amounts__rejected');
    assert.equal(rejected.length, 1);
    const text = JSON.stringify(rejected);
    assert.ok(!text.includes(password), `the password is in the rejects table: ${text}`);
    assert.match(String(rejected[0].raw), /\*\*\*/);
    assert.ok(!(await ledgerBytes(project)).includes(password));
  });
});
