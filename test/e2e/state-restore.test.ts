/**
 * A lost ledger loses nothing: each `_b2betl_loads` marker records what the ledger records for
 * its run, and a run that finds no state for its job rebuilds it from the markers first. Through
 * the real binary, into DuckDB and into the BigQuery double: the ledger deleted, a second
 * machine with a fresh ledger, a ledger truncated to 0 bytes (an error naming it; moved aside and
 * rebuilt with `state restore`); files, a PostgreSQL cursor with ties at the
 * mark, and a merge. The next run loads only what is new.
 */
import assert from 'node:assert/strict';
import { rename, rm, truncate } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startBigQueryDouble, type BigQueryDouble } from '../support/bigquery-double/index.js';
import { queryDuckDB, runCli, scratchProject } from '../support/cli.js';
import { pgScratch, type PgScratch } from '../support/databases.js';

type Project = Awaited<ReturnType<typeof scratchProject>>;

for (const target of ['duckdb', 'bigquery'] as const) {
  describe(`a lost ledger is rebuilt from the markers (${target})`, () => {
    let project: Project;
    let pg: PgScratch;
    let double: BigQueryDouble | undefined;
    let ledger = './.b2betl/ledger.sqlite';

    const config = () =>
      [
        'connections:',
        '  inbox: { type: local, path: ./inbox }',
        `  shop: { type: postgres, host: 127.0.0.1, port: 5432, user: postgres, database: test }`,
        target === 'duckdb' ? '  wh: { type: duckdb, path: ./warehouse.duckdb }' : `  wh: { type: bigquery, project: p, dataset: raw, location: EU, endpoint: "${double!.endpoint}" }`,
        'defaults: { destination: wh }',
        `ledger: ${ledger}`,
        '',
      ].join('\n');

    const run = async (...args: string[]) => {
      const result = await runCli(['run', ...args, '--json'], project.dir, { B2BETL_RETRY_BASE_MS: '20' });
      assert.equal(result.code, 0, `b2betl run ${args.join(' ')} failed:\n${result.stderr}\n${result.stdout}`);
      return { ...result, result: (JSON.parse(result.stdout) as Record<string, unknown>[])[0] };
    };
    const select = async (sql: string): Promise<string[]> => {
      const rows = target === 'duckdb' ? await queryDuckDB(path.join(project.dir, 'warehouse.duckdb'), sql) : await double!.query(sql.replace(/\bFROM (\w+)/g, 'FROM `p.raw.$1`'));
      return rows.map((row) => Object.values(row).map(String).join(':'));
    };
    const markers = (table: string) => select(`SELECT run_id FROM _b2betl_loads WHERE table_name = '${table}' ORDER BY run_id`);
    const dropLedger = () => rm(path.join(project.dir, path.dirname(ledger)), { recursive: true, force: true });

    before(async () => {
      if (target === 'bigquery') double = await startBigQueryDouble({ project: 'p', tableUpdateLimit: { operations: 100, windowMs: 1000 } });
      pg = await pgScratch('restore');
      project = await scratchProject({
        'jobs/files.yaml': 'name: files\nsource: { connection: inbox, pattern: "*.csv" }\nload: { strategy: transactional }\n',
        'inbox/a.csv': 'id,name\n1,a\n2,b\n',
      });
      await project.write('etl.config.yaml', config());
      await project.write('jobs/ties.yaml', `name: ties\nsource: { connection: shop, table: ${pg.schema}.ties }\nload: { strategy: transactional, cursor: updated_at }\n`);
      await project.write('jobs/upserts.yaml', `name: upserts\nsource: { connection: shop, table: ${pg.schema}.upserts }\nload: { strategy: merge, cursor: updated_at, primary_key: [id] }\n`);
      await pg.sql('CREATE TABLE ties (id bigint PRIMARY KEY, updated_at timestamptz NOT NULL, note text)');
      await pg.sql(`CREATE TABLE upserts (id bigint PRIMARY KEY, updated_at timestamptz NOT NULL, note text)`);
    });
    after(async () => {
      await project?.cleanup();
      await pg?.drop();
      await double?.stop();
    });

    test('files: the ledger deleted, then a second machine with a fresh ledger', async () => {
      assert.equal((await run('jobs/files.yaml')).result.rows_loaded, 2);
      await dropLedger();
      await project.write('inbox/b.csv', 'id,name\n3,c\n');
      const second = await run('jobs/files.yaml');
      assert.match(second.stderr, /the ledger has no state for job files; rebuilt the state of job files from 1 load marker\(s\) in .*: no cursor, 1 processed file\(s\), 2 column\(s\)/);
      assert.equal(second.stderr.match(/rebuilt the state/g)?.length, 1);
      assert.equal(second.result.rows_loaded, 1);
      assert.equal(second.result.files_skipped, 1);
      assert.deepEqual(await select('SELECT id, name FROM files ORDER BY id'), ['1:a', '2:b', '3:c']);

      // Another machine: a fresh ledger somewhere else, the same destination.
      ledger = './machine2/ledger.sqlite';
      await project.write('etl.config.yaml', config());
      await project.write('inbox/c.csv', 'id,name\n4,d\n');
      const third = await run('jobs/files.yaml');
      assert.match(third.stderr, /from 2 load marker\(s\).*2 processed file\(s\)/);
      assert.equal(third.result.rows_loaded, 1);
      assert.deepEqual(await select('SELECT id, name FROM files ORDER BY id'), ['1:a', '2:b', '3:c', '4:d']);
      assert.equal((await markers('files')).length, 3);
      // And once rebuilt, the next run finds nothing new and rebuilds nothing.
      const fourth = await run('jobs/files.yaml');
      assert.equal(fourth.result.status, 'skipped');
      assert.doesNotMatch(fourth.stderr, /rebuilt/);

      // A ledger truncated to 0 bytes is an error naming it and the restore command, never a fresh start.
      const file = path.join(project.dir, ledger);
      await truncate(file, 0);
      await rm(`${file}-wal`, { force: true });
      await rm(`${file}-shm`, { force: true });
      await project.write('inbox/d.csv', 'id,name\n5,e\n');
      const empty = await runCli(['run', 'jobs/files.yaml'], project.dir);
      assert.notEqual(empty.code, 0);
      assert.match(empty.stderr, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}.*empty.*b2betl state restore`, 's'));
      assert.deepEqual(await select('SELECT id FROM files ORDER BY id'), ['1', '2', '3', '4']);
      // Moved aside, the ledger is rebuilt by state restore, and the next run loads only the new file.
      await rename(file, `${file}.damaged`);
      const restore = await runCli(['state', 'restore', 'files'], project.dir);
      assert.equal(restore.code, 0, restore.stderr);
      assert.match(restore.stdout, /rebuilt the state of job files from 3 load marker\(s\).*3 processed file\(s\)/);
      const fifth = await run('jobs/files.yaml');
      assert.equal(fifth.result.rows_loaded, 1);
      assert.deepEqual(await select('SELECT id, name FROM files ORDER BY id'), ['1:a', '2:b', '3:c', '4:d', '5:e']);
    });

    test('a PostgreSQL cursor with ties at the mark: only the rows not loaded yet', async () => {
      await pg.sql(`INSERT INTO ties VALUES (1, '2024-01-01 00:00:10+00', 'a'), (2, '2024-01-01 00:00:20+00', 'b')`);
      assert.equal((await run('jobs/ties.yaml')).result.rows_loaded, 2);
      // A row arrives at the high-water mark itself, and one after it.
      await pg.sql(`INSERT INTO ties VALUES (3, '2024-01-01 00:00:20+00', 'c'), (4, '2024-01-01 00:00:30+00', 'd')`);
      await dropLedger();
      // A dry run shows the rebuild it would do first, and plans from the rebuilt cursor; it writes nothing.
      const dry = await runCli(['run', 'jobs/ties.yaml', '--dry-run'], project.dir);
      assert.equal(dry.code, 0, dry.stderr);
      assert.match(dry.stdout, /the ledger has no state for job ties: the run first rebuilds it from 1 load marker\(s\)/);
      assert.match(dry.stdout, /less 1 rows already loaded at it/);
      const second = await run('jobs/ties.yaml');
      assert.match(second.stderr, /rebuilt the state of job ties from 1 load marker\(s\) in .*: the cursor, 0 processed file\(s\), 3 column\(s\)/);
      assert.equal(second.result.rows_loaded, 2);
      assert.deepEqual(await select('SELECT id, note FROM ties ORDER BY id'), ['1:a', '2:b', '3:c', '4:d']);
    });

    test('merge: the rebuilt cursor reads only the rows changed since', async () => {
      await pg.sql(`INSERT INTO upserts SELECT g, '2024-01-01 00:00:10+00', 'v' || g FROM generate_series(1, 5) g`);
      await pg.sql(`INSERT INTO upserts VALUES (6, '2024-01-01 00:00:20+00', 'v6')`);
      assert.equal((await run('jobs/upserts.yaml')).result.rows_loaded, 6);
      await pg.sql(`UPDATE upserts SET note = 'changed', updated_at = '2024-01-01 00:00:30+00' WHERE id = 1`);
      await dropLedger();
      const second = await run('jobs/upserts.yaml');
      assert.match(second.stderr, /rebuilt the state of job upserts/);
      // From the mark (20 s) on: row 6 again (merge reads the mark inclusively) and the changed row 1; not all six.
      assert.equal(second.result.rows_extracted, 2);
      assert.deepEqual(await select('SELECT id, note FROM upserts ORDER BY id'), ['1:changed', '2:v2', '3:v3', '4:v4', '5:v5', '6:v6']);
    });

    test('state restore rebuilds explicitly; state reset is remembered and not undone by a run', async () => {
      await dropLedger();
      const restore = await runCli(['state', 'restore', 'files', '--json'], project.dir);
      assert.equal(restore.code, 0, restore.stderr);
      const restored = JSON.parse(restore.stdout) as Record<string, unknown>;
      assert.equal(restored.files, 4);
      assert.equal(restored.markers, 4);
      const shown = JSON.parse((await runCli(['state', 'show', 'files', '--json'], project.dir)).stdout) as { files: unknown[] };
      assert.equal(shown.files.length, 4);
      const after = await run('jobs/files.yaml');
      assert.equal(after.result.status, 'skipped');
      assert.doesNotMatch(after.stderr, /rebuilt/);

      // A reset means "start over": the next run reloads, replacing the table with --full-refresh.
      assert.equal((await runCli(['state', 'reset', 'files'], project.dir)).code, 0);
      const reload = await run('jobs/files.yaml', '--full-refresh');
      assert.doesNotMatch(reload.stderr, /rebuilt/);
      assert.equal(reload.result.rows_loaded, 5);
      assert.deepEqual(await select('SELECT id, name FROM files ORDER BY id'), ['1:a', '2:b', '3:c', '4:d', '5:e']);

      const none = await runCli(['state', 'restore', 'nosuchjob'], project.dir);
      assert.equal(none.code, 2);
      assert.match(none.stderr, /no job named nosuchjob/);
    });
  });
}
