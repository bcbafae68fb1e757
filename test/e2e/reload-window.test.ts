/**
 * Reloads and backfills never duplicate, through the real binary, into DuckDB and into the
 * BigQuery double: `--full-refresh` replaces the table in the commit (and `--dry-run` says so);
 * `--since/--until` on a transactional or merge table replaces exactly that window, the stored
 * cursor staying where it was. Each flag twice in a row, counts exact.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startBigQueryDouble, type BigQueryDouble } from '../support/bigquery-double/index.js';
import { queryDuckDB, runCli, scratchProject } from '../support/cli.js';
import { pgScratch, type PgScratch } from '../support/databases.js';

type Project = Awaited<ReturnType<typeof scratchProject>>;

const at = (seconds: number) => `2024-01-01 00:00:${String(seconds).padStart(2, '0')}+00`;

for (const target of ['duckdb', 'bigquery'] as const) {
  describe(`--full-refresh and --since/--until replace, never append (${target})`, () => {
    let project: Project;
    let pg: PgScratch;
    let double: BigQueryDouble | undefined;

    const run = async (...args: string[]) => {
      const result = await runCli(['run', ...args, '--json'], project.dir, { B2BETL_RETRY_BASE_MS: '20' });
      assert.equal(result.code, 0, `b2betl run ${args.join(' ')} failed:\n${result.stderr}\n${result.stdout}`);
      return (JSON.parse(result.stdout) as Record<string, unknown>[])[0];
    };
    const select = async (sql: string): Promise<string[]> => {
      const rows = target === 'duckdb' ? await queryDuckDB(path.join(project.dir, 'warehouse.duckdb'), sql) : await double!.query(sql.replace(/\bFROM (\w+)/g, 'FROM `p.raw.$1`'));
      return rows.map((row) => Object.values(row).map(String).join(':'));
    };
    const content = (table: string) => select(`SELECT id, note FROM ${table} ORDER BY id`);

    before(async () => {
      if (target === 'bigquery') double = await startBigQueryDouble({ project: 'p', tableUpdateLimit: { operations: 100, windowMs: 1000 } });
      pg = await pgScratch('reload');
      project = await scratchProject({
        'etl.config.yaml': [
          'connections:',
          '  inbox: { type: local, path: ./inbox }',
          '  shop: { type: postgres, host: 127.0.0.1, port: 5432, user: postgres, database: test }',
          target === 'duckdb' ? '  wh: { type: duckdb, path: ./warehouse.duckdb }' : `  wh: { type: bigquery, project: p, dataset: raw, location: EU, endpoint: "${double!.endpoint}" }`,
          'defaults: { destination: wh }',
          '',
        ].join('\n'),
        'jobs/files.yaml': 'name: files\nsource: { connection: inbox, pattern: "*.csv" }\n',
        'inbox/a.csv': 'id,note\n1,a\n',
      });
      await project.write('jobs/events.yaml', `name: events\nsource: { connection: shop, table: ${pg.schema}.events }\nload: { strategy: transactional, cursor: updated_at }\n`);
      await project.write('jobs/accounts.yaml', `name: accounts\nsource: { connection: shop, table: ${pg.schema}.accounts }\nload: { strategy: merge, cursor: updated_at, primary_key: [id] }\n`);
      await project.write('jobs/snapshot.yaml', `name: snapshot\nsource: { connection: shop, table: ${pg.schema}.accounts }\nload: { strategy: catalog, cursor: updated_at }\n`);
      for (const table of ['events', 'accounts']) {
        await pg.sql(`CREATE TABLE ${table} (id bigint PRIMARY KEY, updated_at timestamptz NOT NULL, note text)`);
        await pg.sql(`INSERT INTO ${table} SELECT g, timestamptz '2024-01-01 00:00:00+00' + g * interval '10 seconds', 'v' || g FROM generate_series(1, 5) g`);
      }
    });
    after(async () => {
      await project?.cleanup();
      await pg?.drop();
      await double?.stop();
    });

    test('--since/--until on a transactional table replaces exactly the window, twice; the cursor stays', async () => {
      assert.equal((await run('jobs/events.yaml')).rows_loaded, 5);
      // The window [20 s, 40 s) changes at the source: row 2 is gone, row 3 changed, row 9 arrives in it.
      await pg.sql(`DELETE FROM events WHERE id = 2`);
      await pg.sql(`UPDATE events SET note = 'changed' WHERE id = 3`);
      await pg.sql(`INSERT INTO events VALUES (9, '${at(35)}', 'late')`);
      const dry = await runCli(['run', 'jobs/events.yaml', '--since', '2024-01-01T00:00:20Z', '--until', '2024-01-01T00:00:40Z', '--dry-run'], project.dir);
      assert.match(dry.stdout, /backfill: the commit deletes the rows of .*events whose updated_at is >= 2024-01-01T00:00:20\.000000Z and < 2024-01-01T00:00:40\.000000Z and inserts the window's rows, in one transaction/);
      for (let i = 0; i < 2; i++) {
        const result = await run('jobs/events.yaml', '--since', '2024-01-01T00:00:20Z', '--until', '2024-01-01T00:00:40Z');
        assert.equal(result.rows_loaded, 2);
        assert.deepEqual(await content('events'), ['1:v1', '3:changed', '4:v4', '5:v5', '9:late']);
      }
      // --since alone: from there to the high-water mark.
      for (let i = 0; i < 2; i++) {
        assert.equal((await run('jobs/events.yaml', '--since', '2024-01-01T00:00:40Z')).rows_loaded, 2);
        assert.deepEqual(await content('events'), ['1:v1', '3:changed', '4:v4', '5:v5', '9:late']);
      }
      // A window the source emptied empties it in the destination too.
      await pg.sql(`DELETE FROM events WHERE id = 4`);
      const emptied = await run('jobs/events.yaml', '--since', '2024-01-01T00:00:40Z', '--until', '2024-01-01T00:00:45Z');
      assert.equal(emptied.rows_loaded, 0);
      assert.deepEqual(await content('events'), ['1:v1', '3:changed', '5:v5', '9:late']);
      await pg.sql(`INSERT INTO events VALUES (4, '${at(40)}', 'v4')`);
      assert.equal((await run('jobs/events.yaml', '--since', '2024-01-01T00:00:40Z', '--until', '2024-01-01T00:00:45Z')).rows_loaded, 1);
      // The stored cursor did not move back: the next run loads only what is new past 50 s.
      await pg.sql(`INSERT INTO events VALUES (6, '${at(55)}', 'v6')`);
      const next = await run('jobs/events.yaml');
      assert.equal(next.rows_loaded, 1);
      assert.deepEqual(await content('events'), ['1:v1', '3:changed', '4:v4', '5:v5', '6:v6', '9:late']);
    });

    test('--since/--until on a merge table replaces the window, twice', async () => {
      assert.equal((await run('jobs/accounts.yaml')).rows_loaded, 5);
      await pg.sql(`DELETE FROM accounts WHERE id = 2`);
      await pg.sql(`UPDATE accounts SET note = 'changed' WHERE id = 3`);
      for (let i = 0; i < 2; i++) {
        assert.equal((await run('jobs/accounts.yaml', '--since', '2024-01-01T00:00:20Z', '--until', '2024-01-01T00:00:40Z')).rows_loaded, 1);
        assert.deepEqual(await content('accounts'), ['1:v1', '3:changed', '4:v4', '5:v5']);
      }
    });

    test('--full-refresh replaces the table in one commit, twice, and --dry-run says so', async () => {
      const dry = await runCli(['run', 'jobs/events.yaml', '--full-refresh', '--dry-run'], project.dir);
      assert.equal(dry.code, 0, dry.stderr);
      assert.match(dry.stdout, /--full-refresh: reads everything from the start and replaces .*events atomically, in one commit with its marker/);
      for (let i = 0; i < 2; i++) {
        const result = await run('jobs/events.yaml', '--full-refresh');
        assert.equal(result.rows_loaded, 6);
        assert.deepEqual(await content('events'), ['1:v1', '3:changed', '4:v4', '5:v5', '6:v6', '9:late']);
      }
      // Its cursor is the new high-water mark: nothing more to load after it.
      assert.equal((await run('jobs/events.yaml')).rows_loaded, 0);
      for (let i = 0; i < 2; i++) {
        assert.equal((await run('jobs/files.yaml', '--full-refresh')).rows_loaded, 1);
        assert.deepEqual(await content('files'), ['1:a']);
      }
    });

    test('a window where it cannot replace anything is refused, naming the fix', async () => {
      const catalog = await runCli(['run', 'jobs/snapshot.yaml', '--since', '2024-01-01T00:00:20Z'], project.dir);
      assert.equal(catalog.code, 2, catalog.stderr + catalog.stdout);
      assert.match(catalog.stderr, /--since\/--until replace a window of a transactional or merge table; strategy catalog reloads the whole table every run/);
      const files = await runCli(['run', 'jobs/files.yaml', '--since', '2024-01-01'], project.dir);
      assert.equal(files.code, 2, files.stderr + files.stdout);
      assert.match(files.stderr, /--since\/--until need a source read by a cursor/);
      const both = await runCli(['run', 'jobs/events.yaml', '--since', '2024-01-01', '--full-refresh'], project.dir);
      assert.equal(both.code, 2, both.stderr + both.stdout);
      assert.match(both.stderr, /give one of them/);
    });
  });
}
