/**
 * Values up to BigQuery's own limits load through the real binary into the BigQuery double (a
 * JSON load takes rows of up to 100 MB, timestamps of the years 0001-9999); a value past them
 * fails its file with `file:line: column: …` naming the value, and the file is not marked
 * processed. Geometries load as GEOGRAPHY from their well-known text.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import path from 'node:path';
import { writeFile } from 'node:fs/promises';
import { DuckDBInstance } from '@duckdb/node-api';
import { startBigQueryDouble, type BigQueryDouble } from '../support/bigquery-double/index.js';
import { runCli, scratchProject } from '../support/cli.js';
import { handBuiltParquet, int96 } from '../support/parquet-writer.js';

type Project = Awaited<ReturnType<typeof scratchProject>>;

describe('large values into BigQuery (the double)', () => {
  let double: BigQueryDouble;
  let project: Project;

  before(async () => {
    double = await startBigQueryDouble({ project: 'big-proj' });
    project = await scratchProject({
      'etl.config.yaml': [
        'connections:',
        '  inbox: { type: local, path: ./inbox }',
        `  bq: { type: bigquery, project: big-proj, dataset: raw, location: EU, endpoint: "${double.endpoint}" }`,
        'defaults: { destination: bq }',
        '',
      ].join('\n'),
      'jobs/notes.yaml': 'name: notes\nsource: { connection: inbox, pattern: "notes_*.csv" }\n',
      'inbox/notes_1.csv': `id,text\n1,${'a'.repeat(20_000_000)}\n2,b\n`,
      'inbox/notes_2.csv': `id,text\n3,c\n4,${'z'.repeat(101_000_000)}\n`,
      'jobs/times.yaml': 'name: times\nsource: { connection: inbox, pattern: "times_*.parquet" }\n',
      'jobs/places.yaml': 'name: places\nsource: { connection: inbox, pattern: "places.parquet" }\n',
    });
    // Julian days of 2024-03-01 and of 290000-01-01, as Spark writes INT96.
    await writeFile(path.join(project.dir, 'inbox', 'times_1.parquet'), handBuiltParquet({ columns: [{ name: 'at', type: 'INT96', values: [int96(2460371, 0n)] }] }));
    await writeFile(path.join(project.dir, 'inbox', 'times_2.parquet'), handBuiltParquet({ columns: [{ name: 'at', type: 'INT96', values: [int96(2460371, 1000n), int96(107641385, 0n)] }] }));
    const duck = await (await DuckDBInstance.create(':memory:')).connect();
    await duck.run(`COPY (SELECT * FROM (VALUES (1, 'POINT(-73.98 40.75)'::GEOMETRY), (2, 'LINESTRING(0 0, 1.5 2)'::GEOMETRY)) t(id, place)) TO '${path.join(project.dir, 'inbox', 'places.parquet')}' (FORMAT parquet)`);
    duck.closeSync();
  });
  after(async () => {
    await project.cleanup();
    await double.stop();
  });

  test('a 20 MB value loads; a 101 MB one fails its file, naming line and column', async () => {
    const result = await runCli(['run', 'jobs/notes.yaml', '--json'], project.dir, { B2BETL_RETRY_BASE_MS: '50' });
    const [run] = JSON.parse(result.stdout) as Record<string, unknown>[];
    assert.equal(run.status, 'partial', result.stderr);
    assert.equal(run.rows_loaded, 2);
    assert.equal(run.files_processed, 1);
    assert.equal(run.files_failed, 1);
    assert.match(String(run.error), /notes_2\.csv:3: text: value of 101 MB exceeds BigQuery's limit of 100 MB per row/);
    assert.deepEqual(await double.query('SELECT id, LENGTH(text) AS length FROM `big-proj.raw.notes` ORDER BY id'), [
      { id: '1', length: '20000000' },
      { id: '2', length: '1' },
    ]);
    const state = await runCli(['state', 'show', 'notes', '--json'], project.dir);
    assert.match(state.stdout, /notes_1\.csv/);
    assert.doesNotMatch(state.stdout, /notes_2\.csv/);
  });

  test('a timestamp outside 0001-9999 fails its file with the value and file:row; geometries load as GEOGRAPHY', async () => {
    const times = await runCli(['run', 'jobs/times.yaml', '--json'], project.dir, { B2BETL_RETRY_BASE_MS: '50' });
    const [run] = JSON.parse(times.stdout) as Record<string, unknown>[];
    assert.equal(run.status, 'partial', times.stderr);
    assert.equal(run.rows_loaded, 1);
    assert.match(String(run.error), /times_2\.parquet:2: at: 290000-01-01T00:00:00\.000000Z is outside BigQuery's range, 0001-01-01 to 9999-12-31/);
    assert.deepEqual(await double.query('SELECT `at` FROM `big-proj.raw.times`'), [{ at: '1709251200000000' }]);

    const places = await runCli(['run', 'jobs/places.yaml', '--json'], project.dir, { B2BETL_RETRY_BASE_MS: '50' });
    const [loaded] = JSON.parse(places.stdout) as Record<string, unknown>[];
    assert.equal(loaded.status, 'succeeded', String(loaded.error));
    const table = await double.table('big-proj', 'raw', 'places');
    assert.deepEqual(
      ((table?.schema as { fields?: { name: string; type: string }[] } | undefined)?.fields ?? []).map((field) => [field.name, field.type]),
      [
        ['id', 'INTEGER'],
        ['place', 'GEOGRAPHY'],
      ],
    );
    assert.deepEqual(await double.query('SELECT id, place FROM `big-proj.raw.places` ORDER BY id'), [
      { id: '1', place: 'POINT (-73.98 40.75)' },
      { id: '2', place: 'LINESTRING (0 0, 1.5 2)' },
    ]);
  });
});
