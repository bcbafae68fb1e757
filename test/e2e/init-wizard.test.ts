/**
 * `b2betl init` end to end: the wizard in a real pseudo-terminal, keys typed as a person would,
 * against the PostgreSQL on this machine and a local folder of files; the job files it writes
 * are then run and their rows checked. Also: the flag-only mode, Ctrl-C leaving nothing behind,
 * an existing job file never overwritten without --force, and the config keeping its comments.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { queryDuckDB, runCli, scratchProject } from '../support/cli.js';
import { PG, pgScratch, type PgScratch } from '../support/databases.js';
import { KEY, startPty, type PtySession } from '../support/pty.js';
import { startBigQueryDouble } from '../support/bigquery-double/index.js';
import { startFirestoreEmulator } from '../support/firestore-emulator.js';
import { seedingClient } from '../support/firestore-fixtures.js';

type Project = Awaited<ReturnType<typeof scratchProject>>;

const CONFIG = [
  '# Our ETL setup: keep these notes',
  'connections:',
  '  # the drop folder of the shop',
  '  lake: { type: local, path: ./lake }   # relative to this file',
  '',
  '# ledger in the project folder',
  'ledger: ./.b2betl/ledger.sqlite',
  '',
].join('\n');

const SECRET = 'pw-typed-never-written';

async function allText(dir: string): Promise<string> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const texts = await Promise.all(
    entries.filter((entry) => entry.isFile() && /\.(ya?ml|json|log|txt)$/.test(entry.name)).map((entry) => readFile(path.join(entry.parentPath, entry.name), 'utf8')),
  );
  return texts.join('\n');
}

/** Answers step 1 for a new PostgreSQL connection named shop (from the connection menu, or after "Fix it"). */
async function newShop(wizard: PtySession, port: number, password: string, fromMenu = true): Promise<void> {
  if (fromMenu) {
    await wizard.waitFor('Read from which connection?');
    await wizard.waitFor('lake  (local');
    await wizard.type(KEY.down, KEY.enter);
  }
  await wizard.waitFor('Connection type');
  await wizard.type(KEY.enter);
  await wizard.waitFor('Name of the new connection');
  await wizard.type('shop', KEY.enter);
  await wizard.waitFor('Server URL');
  await wizard.type(`postgres://${PG.user}@${PG.host}:${port}/${PG.database}`, KEY.enter);
  await wizard.waitFor('Password for postgres');
  await wizard.type(...(password ? [password] : []), KEY.enter);
}

describe('b2betl init', () => {
  let pg: PgScratch;
  const projects: Project[] = [];
  const project = async (files: Record<string, string> = {}) => {
    const made = await scratchProject({ 'etl.config.yaml': CONFIG, 'lake/.keep': '', ...files });
    projects.push(made);
    return made;
  };

  before(async () => {
    pg = await pgScratch('wizard');
    await pg.sql(`CREATE TABLE orders (id int PRIMARY KEY, updated_at timestamptz NOT NULL, "Total (EUR)" numeric(10,2), note text, secret_code text)`);
    await pg.sql(
      `INSERT INTO orders SELECT n, timestamptz '2024-01-01 00:00:00+00' + n * interval '1 day', n * 2.5, 'order ' || n, 'x' || n FROM generate_series(1, 10) n`,
    );
    await pg.sql('ANALYZE orders');
  });

  after(async () => {
    for (const made of projects) await made.cleanup();
    await pg?.drop();
  });

  it('walks the five steps in a terminal for a new PostgreSQL connection, writes a job that runs, and keeps the config comments', async () => {
    const dir = (await project()).dir;
    const wizard = startPty(['init'], dir);
    await newShop(wizard, PG.port, SECRET);
    await wizard.waitFor('Environment variable to read it from');
    await wizard.waitFor('SHOP_PASSWORD');
    await wizard.type(KEY.enter);
    await wizard.waitFor(/✔ shop works \([\d.]+ m?s\): PostgreSQL \d+/);

    await wizard.waitFor('Step 2 of 5');
    await wizard.waitFor('Which table or view?');
    await wizard.type(`${pg.schema}.ord`);
    await wizard.waitFor(`❯ ${pg.schema}.orders  table, ~10 rows`);
    await wizard.type(KEY.enter);

    await wizard.waitFor('Step 3 of 5');
    await wizard.waitFor(/id\s+updated_at\s+Total \(EUR\)\s+note\s+secret_code/);
    await wizard.waitFor(/1\s+2024-01-02T00:00:00Z\s+2\.50\s+order 1\s+x1/);
    await wizard.waitFor(/Total \(EUR\)\s+numeric\(10,2\)\s+NUMERIC\s+Total_EUR/);
    await wizard.waitFor('Columns to load');
    await wizard.type(KEY.down, KEY.down, KEY.down, KEY.down, KEY.space, KEY.enter);

    await wizard.waitFor('Step 4 of 5');
    await wizard.waitFor('How should it load?');
    await wizard.type(KEY.enter);
    await wizard.waitFor('Cursor:');
    await wizard.waitFor(/updated_at\s+TIMESTAMP\s+2024-01-02T00:00:00\.000000Z … 2024-01-11T00:00:00\.000000Z/);
    await wizard.type(KEY.enter);
    await wizard.waitFor('Load from');
    await wizard.type('2024-01-05', KEY.enter);
    await wizard.waitFor('Load into which destination?');
    await wizard.type(KEY.enter);
    await wizard.waitFor('Destination table');
    await wizard.type(KEY.enter);
    await wizard.waitFor('warehouse.orders does not exist yet');

    await wizard.waitFor('Step 5 of 5');
    await wizard.waitFor('When should it run?');
    await wizard.type(KEY.down, KEY.down, KEY.enter);
    await wizard.waitFor('At (HH:MM');
    await wizard.type('07:30', KEY.enter);
    await wizard.waitFor('Time zone');
    await wizard.type('Europe/Kyiv', KEY.enter);
    await wizard.waitFor(/every day at 07:30 Europe\/Kyiv \(cron "30 7 \* \* \*"\); next: \w{3} \d{4}-\d\d-\d\d 07:30 EET, \w{3} \d{4}-\d\d-\d\d 07:30 EET, \w{3} \d{4}-\d\d-\d\d 07:30 EET/);
    await wizard.waitFor('Job name');
    await wizard.type(KEY.enter);
    await wizard.waitFor('wrote jobs/orders.yaml; it validates');
    await wizard.waitFor('Show what a run would do');
    await wizard.type(KEY.enter);
    await wizard.waitFor(/~7 rows/);
    await wizard.waitFor('Run it now?');
    await wizard.type(KEY.enter);
    await wizard.waitFor(/orders\s+succeeded\s+7/, 60_000);
    assert.equal(await wizard.exited, 0, wizard.screen());

    const config = await readFile(path.join(dir, 'etl.config.yaml'), 'utf8');
    assert.ok(config.startsWith(CONFIG.replace(/\n\n# ledger[\s\S]*$/, '')), 'every line before the new entry is kept');
    assert.match(config, /# the drop folder of the shop\n {2}lake: \{ type: local, path: \.\/lake \} {3}# relative to this file\n/);
    assert.match(config, / {2}# postgres connection added by b2betl init; export SHOP_PASSWORD where b2betl runs\n {2}shop:\n {4}type: postgres\n {4}host: 127\.0\.0\.1\n {4}port: 5432\n {4}user: postgres\n {4}database: test\n {4}password: \$\{SHOP_PASSWORD\}\n/);
    assert.match(config, /\n# ledger in the project folder\nledger: \.\/\.b2betl\/ledger\.sqlite\n$/);
    const job = await readFile(path.join(dir, 'jobs/orders.yaml'), 'utf8');
    assert.equal(
      job.replace(/^#.*\n/gm, ''),
      [
        'name: orders',
        '',
        'source:',
        '  connection: shop',
        `  table: ${pg.schema}.orders`,
        '  columns: [id, updated_at, Total (EUR), note]',
        '',
        'load:',
        '  strategy: transactional',
        '  cursor: updated_at',
        '  start: 2024-01-05',
        '',
        'destination:',
        '  connection: warehouse',
        '  table: orders',
        '',
        'schedule:',
        '  cron: "30 7 * * *"',
        '  timezone: Europe/Kyiv',
        '',
      ].join('\n'),
    );
    assert.equal(job.match(/^#/gm)?.length, 5, 'a comment above each block');
    assert.ok(!(await allText(dir)).includes(SECRET), 'the typed password is in no file');

    const loaded = await queryDuckDB(path.join(dir, 'warehouse.duckdb'), 'SELECT id::INT AS id, "Total_EUR"::DOUBLE AS total FROM orders ORDER BY id');
    assert.deepEqual(loaded, [4, 5, 6, 7, 8, 9, 10].map((id) => ({ id, total: id * 2.5 })));
    const columns = await queryDuckDB(path.join(dir, 'warehouse.duckdb'), "SELECT column_name FROM information_schema.columns WHERE table_name = 'orders' ORDER BY ordinal_position");
    assert.ok(!columns.some((column) => column.column_name === 'secret_code'), 'the column left unticked is not loaded');

    // The job is the user's now: a later run (its own process, the secret from the environment) takes only new rows.
    await pg.sql("INSERT INTO orders VALUES (11, '2024-02-01 00:00:00+00', 1, 'late', 'x11')");
    const missing = await runCli(['run', 'jobs/orders.yaml'], dir);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /variable SHOP_PASSWORD is not set/);
    const again = await runCli(['run', 'jobs/orders.yaml', '--json'], dir, { SHOP_PASSWORD: 'anything' });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(JSON.parse(again.stdout)[0].rows_loaded, 1);
  });

  it('walks the steps for a local folder of files, then the written job runs on its own', async () => {
    const { dir } = await project({
      'inbox/sales_2024-01.csv': 'Sale ID,Amount (EUR),sold_on\n1,10.50,2024-01-03\n2,7.25,2024-01-04\n',
      'inbox/sales_2024-02.csv': 'Sale ID,Amount (EUR),sold_on\n3,99.00,2024-02-01\n',
      'inbox/readme.txt': 'not data',
    });
    // A table named sales already holds something else: the wizard proposes another name, and refuses this one.
    const { DuckDBInstance } = await import('@duckdb/node-api');
    const instance = await DuckDBInstance.create(path.join(dir, 'warehouse.duckdb'));
    const duck = await instance.connect();
    await duck.run('CREATE TABLE sales (sold_on BOOLEAN, note VARCHAR)');
    duck.closeSync();
    instance.closeSync();
    const wizard = startPty(['init'], dir);
    await wizard.waitFor('Read from which connection?');
    await wizard.type(KEY.down, KEY.enter);
    await wizard.waitFor('Connection type');
    await wizard.type(KEY.down, KEY.down, KEY.enter);
    await wizard.waitFor('Name of the new connection');
    await wizard.type('inbox', KEY.enter);
    await wizard.waitFor('Folder holding the files');
    await wizard.type('./nowhere', KEY.enter);
    await wizard.waitFor(/nowhere is not a folder/);
    await wizard.type('\x7f'.repeat(9), './inbox', KEY.enter);
    await wizard.waitFor(/✔ inbox works \([\d.]+ m?s\): first object/);
    await wizard.waitFor(/3 object\(s\), 1\d\d B in/);
    await wizard.waitFor('Files to load');
    await wizard.type('*.parquet', KEY.enter);
    await wizard.waitFor('no object matches *.parquet');
    await wizard.type('\x7f'.repeat(9), 'sales_*.csv', KEY.enter);
    await wizard.waitFor('sales_*.csv matches 2 object(s), 114 B');
    await wizard.waitFor(/Sale ID\s+Amount \(EUR\)\s+sold_on/);
    await wizard.waitFor(/Amount \(EUR\)\s+FLOAT64\s+FLOAT64\s+Amount_EUR|Amount \(EUR\)\s+NUMERIC\s+NUMERIC\s+Amount_EUR/);
    await wizard.waitFor('Columns to load');
    await wizard.type(KEY.enter);
    await wizard.waitFor('How should it load?');
    await wizard.type(KEY.enter);
    await wizard.waitFor('Load into which destination?');
    await wizard.type(KEY.enter);
    await wizard.waitFor('Destination table (new or existing) (sales_2)');
    await wizard.type('sales', KEY.enter);
    await wizard.waitFor(/type mismatches: +sold_on \(source DATE, destination BOOL\)/);
    await wizard.waitFor(/→ NOT compatible: sold_on: source sold_on is DATE, the table has BOOL/);
    await wizard.waitFor('pick another table, or go back with Ctrl-C');
    await wizard.waitFor('Destination table');
    await wizard.type(KEY.enter);
    await wizard.waitFor('warehouse.sales_2 does not exist yet');
    await wizard.waitFor('When should it run?');
    await wizard.type(KEY.enter);
    await wizard.waitFor('Job name (sales_2)');
    await wizard.type('sales', KEY.enter);
    await wizard.waitFor('wrote jobs/sales.yaml; it validates');
    await wizard.waitFor('Show what a run would do');
    await wizard.type('n', KEY.enter);
    await wizard.waitFor('Run it now?');
    await wizard.type('n', KEY.enter);
    assert.equal(await wizard.exited, 0, wizard.screen());
    const tables = await queryDuckDB(path.join(dir, 'warehouse.duckdb'), 'SELECT table_name FROM information_schema.tables ORDER BY 1');
    assert.deepEqual(tables.map((row) => row.table_name), ['sales'], 'nothing ran');

    const job = await readFile(path.join(dir, 'jobs/sales.yaml'), 'utf8');
    assert.match(job, /destination:\n {2}connection: warehouse\n {2}table: sales_2\n/);
    assert.match(job, /source:\n {2}connection: inbox\n {2}pattern: sales_\*\.csv\n/);
    assert.doesNotMatch(job, /schedule:/);
    const run = await runCli(['run', 'jobs/sales.yaml'], dir);
    assert.equal(run.code, 0, run.stderr);
    const rows = await queryDuckDB(path.join(dir, 'warehouse.duckdb'), 'SELECT "Sale_ID"::INT AS id, sold_on::VARCHAR AS sold_on FROM sales_2 ORDER BY 1');
    assert.deepEqual(rows, [
      { id: 1, sold_on: '2024-01-03' },
      { id: 2, sold_on: '2024-01-04' },
      { id: 3, sold_on: '2024-02-01' },
    ]);
  });

  it('Ctrl-C in the middle writes nothing: no job file, the config byte for byte as it was', async () => {
    const { dir } = await project();
    const wizard = startPty(['init'], dir);
    await newShop(wizard, PG.port, '');
    await wizard.waitFor('Which table or view?');
    await wizard.type(`${pg.schema}.orders`, KEY.enter);
    await wizard.waitFor('Columns to load');
    await wizard.type(KEY.ctrlC);
    await wizard.waitFor('cancelled: nothing was written');
    assert.equal(await wizard.exited, 130);
    assert.equal(await readFile(path.join(dir, 'etl.config.yaml'), 'utf8'), CONFIG);
    assert.ok(!existsSync(path.join(dir, 'jobs')), 'no jobs folder, no job file');
    assert.ok(!existsSync(path.join(dir, 'warehouse.duckdb')));
  });

  it('a connection that fails its test can be fixed', async () => {
    const { dir } = await project();
    const wizard = startPty(['init'], dir);
    await newShop(wizard, 1, '');
    await wizard.waitFor(/✖ shop failed \([\d.]+ m?s\): connection refused at 127\.0\.0\.1:1 as user postgres/);
    await wizard.waitFor('The connection did not work. What now?');
    await wizard.type(KEY.enter);
    await newShop(wizard, PG.port, '', false);
    await wizard.waitFor(/✔ shop works/);
    await wizard.waitFor('Which table or view?');
    await wizard.type(KEY.ctrlC);
    assert.equal(await wizard.exited, 130);
  });

  it('offers Firestore collections, previews documents and shows a timestamp field\'s range', async () => {
    const emulator = await startFirestoreEmulator();
    try {
      const db = await seedingClient(emulator.host, 'wiz-proj');
      const { Timestamp } = await import('@google-cloud/firestore');
      for (let i = 1; i <= 3; i++) {
        await db.collection('events').doc(`e${i}`).set({ kind: i % 2 ? 'click' : 'view', at: Timestamp.fromDate(new Date(Date.UTC(2024, 4, i, 12))) });
      }
      await db.collection('users').doc('u1').set({ name: 'Ann' });
      await db.terminate();
      const { dir } = await project({
        'etl.config.yaml': CONFIG.replace('   # relative to this file\n', `   # relative to this file\n  app: { type: firestore, project: wiz-proj, emulator_host: "${emulator.host}" }\n`),
      });
      const wizard = startPty(['init', '--connection', 'app'], dir);
      await wizard.waitFor(/✔ app works \([\d.]+ m?s\): emulator 127\.0\.0\.1:\d+, project wiz-proj; 2 root collection\(s\): events, users/);
      await wizard.waitFor('Which collection?');
      await wizard.type(KEY.enter);
      await wizard.waitFor(/document_id\s+_extracted_at\s+kind\s+at/);
      await wizard.waitFor(/e1\s+\S+\s+click\s+2024-05-01T12:00:00Z/);
      await wizard.waitFor('Columns to load');
      await wizard.type(KEY.enter);
      await wizard.waitFor('How should it load?');
      await wizard.type(KEY.enter);
      await wizard.waitFor(/❯ at\s+TIMESTAMP\s+2024-05-01T12:00:00\.000Z … 2024-05-03T12:00:00\.000Z/);
      assert.doesNotMatch(wizard.screen().split('Cursor:').at(-1)!, /_extracted_at/, 'the extraction time is no cursor');
      await wizard.type(KEY.ctrlC);
      assert.equal(await wizard.exited, 130);
    } finally {
      await emulator.stop();
    }
  });

  it('lists BigQuery tables, previews rows and shows a cursor\'s range', async () => {
    const double = await startBigQueryDouble({ project: 'wiz-proj' });
    try {
      await double.createDataset('wiz-proj', 'raw', 'EU');
      await double.query('CREATE TABLE `wiz-proj.raw.events` (id INT64, kind STRING, at TIMESTAMP)');
      await double.query("INSERT INTO `wiz-proj.raw.events` VALUES (1, 'click', TIMESTAMP '2024-06-01 10:00:00+00'), (2, 'view', TIMESTAMP '2024-06-02 11:30:00+00')");
      const { dir } = await project({
        'etl.config.yaml': CONFIG.replace('   # relative to this file\n', `   # relative to this file\n  bq: { type: bigquery, project: wiz-proj, dataset: raw, location: EU, endpoint: "${double.endpoint}" }\n`),
      });
      const wizard = startPty(['init', '--connection', 'bq'], dir);
      await wizard.waitFor(/✔ bq works \([\d.]+ m?s\): dataset wiz-proj\.raw exists; a dry-run query job was accepted/);
      await wizard.waitFor('❯ raw.events  table');
      await wizard.type(KEY.enter);
      await wizard.waitFor(/id\s+kind\s+at/);
      await wizard.waitFor(/1\s+click\s+2024-06-01T10:00:00Z/);
      assert.ok(double.requests.some((request) => request.method === 'GET' && request.path.endsWith('/datasets/raw/tables/events/data')), 'the preview reads with tabledata.list, which bills nothing');
      await wizard.waitFor('Columns to load');
      await wizard.type(KEY.enter);
      await wizard.waitFor('How should it load?');
      await wizard.type(KEY.enter);
      await wizard.waitFor(/id\s+INT64\s+1 … 2/);
      await wizard.waitFor(/❯ at\s+TIMESTAMP\s+2024-06-01T10:00:00\.000000Z … 2024-06-02T11:30:00\.000000Z/);
      await wizard.type(KEY.ctrlC);
      assert.equal(await wizard.exited, 130);
    } finally {
      await double.stop();
    }
  });

  describe('with flags only (no terminal)', () => {
    it('names the flag a missing answer needs, with exit 2', async () => {
      const { dir } = await project();
      const none = await runCli(['init'], dir);
      assert.equal(none.code, 2);
      assert.match(none.stderr, /--connection is needed \(one of: lake\): there is no terminal to ask on/);
      const noTable = await runCli(['init', '--url', `postgres://${PG.user}@${PG.host}:${PG.port}/${PG.database}`], dir);
      assert.equal(noTable.code, 2);
      assert.match(noTable.stderr, /--table is needed: there is no terminal to ask on\n.*give --table on the command line/);
      const badCron = await runCli(['init', '--connection', 'lake', '--pattern', '*', '--schedule', '61 * * * *'], dir);
      assert.equal(badCron.code, 2);
      assert.match(badCron.stderr, /--schedule "61 \* \* \* \*" is not a schedule: "61" is not a valid minute/);
      assert.equal(await readFile(path.join(dir, 'etl.config.yaml'), 'utf8'), CONFIG);
      assert.ok(!existsSync(path.join(dir, 'jobs')));
    });

    it('creates a merge job with every answer a flag, runs it, refuses to overwrite it without --force', async () => {
      const { dir } = await project();
      const args = [
        'init',
        '--connection', 'shopdb',
        '--url', `postgres://${PG.user}:${SECRET}@${PG.host}:${PG.port}/${PG.database}`,
        '--table', `${pg.schema}.orders`,
        '--columns', 'id,updated_at,note',
        '--strategy', 'merge',
        '--cursor', 'updated_at',
        '--primary-key', 'id',
        '--dest-table', 'orders_merged',
        '--schedule', 'weekly mon 06:15',
        '--timezone', 'America/New_York',
        '--name', 'orders-merge',
        '--run',
      ];
      const first = await runCli(args, dir);
      assert.equal(first.code, 0, first.stderr);
      assert.match(first.stdout, /the password in the URL goes to \$\{SHOPDB_PASSWORD\}/);
      assert.match(first.stdout, /every Monday at 06:15 America\/New_York \(cron "15 6 \* \* 1"\)/);
      assert.match(first.stdout, /orders-merge\s+succeeded\s+1[01]\s/);
      assert.ok(!(await allText(dir)).includes(SECRET), 'the password of the URL is in no file');
      const job = await readFile(path.join(dir, 'jobs/orders-merge.yaml'), 'utf8');
      assert.match(job, /load:\n {2}strategy: merge\n {2}cursor: updated_at\n {2}primary_key: \[id\]\n/);
      assert.match(job, /columns: \[id, updated_at, note\]/);
      const rows = await queryDuckDB(path.join(dir, 'warehouse.duckdb'), 'SELECT count(*)::INT AS n FROM orders_merged');
      assert.ok(Number(rows[0].n) >= 10);

      const again = await runCli(args, dir, { SHOPDB_PASSWORD: SECRET });
      assert.equal(again.code, 2);
      assert.match(again.stderr, /connection shopdb already exists|jobs\/orders-merge\.yaml exists \(--force overwrites it\)/);
      const reuse = await runCli(['init', '--connection', 'shopdb', '--table', `${pg.schema}.orders`, '--strategy', 'catalog', '--dest-table', 'orders_merged', '--name', 'orders-merge'], dir, { SHOPDB_PASSWORD: SECRET });
      assert.equal(reuse.code, 2);
      assert.match(reuse.stderr, /--dest-table orders_merged: the existing table does not fit: the table is loaded with merge, not catalog/);
      const before = await readFile(path.join(dir, 'jobs/orders-merge.yaml'), 'utf8');
      const exists = await runCli(['init', '--connection', 'shopdb', '--table', `${pg.schema}.orders`, '--strategy', 'catalog', '--name', 'orders-merge'], dir, { SHOPDB_PASSWORD: SECRET });
      assert.equal(exists.code, 2);
      assert.match(exists.stderr, /jobs\/orders-merge\.yaml exists \(--force overwrites it\)/);
      assert.equal(await readFile(path.join(dir, 'jobs/orders-merge.yaml'), 'utf8'), before);
      const forced = await runCli(['init', '--connection', 'shopdb', '--table', `${pg.schema}.orders`, '--strategy', 'catalog', '--name', 'orders-merge', '--force'], dir, { SHOPDB_PASSWORD: SECRET });
      assert.equal(forced.code, 0, forced.stderr);
      assert.match(await readFile(path.join(dir, 'jobs/orders-merge.yaml'), 'utf8'), /strategy: catalog\n/);
    });
  });
});
