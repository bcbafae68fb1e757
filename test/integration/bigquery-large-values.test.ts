/**
 * Values up to BigQuery's own limit load through the real binary into the BigQuery double (a
 * JSON load takes rows of up to 100 MB); a value past it fails its file with
 * `file:line: column: value of N MB exceeds …`, and the file is not marked processed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startBigQueryDouble, type BigQueryDouble } from '../support/bigquery-double/index.js';
import { runCli, scratchProject } from '../support/cli.js';

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
    });
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
});
