/**
 * Values far larger than a read buffer, through the real binary into DuckDB: a CSV file of one
 * 12 MB field (which DuckDB reads itself, and streamed), and JSON and JSON Lines files with a
 * 12 MB value. Every row arrives whole, and a file is never marked processed with rows missing.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { queryDuckDB, runCli, scratchProject } from '../support/cli.js';

type Project = Awaited<ReturnType<typeof scratchProject>>;

// Larger than DuckDB's 8 MiB read buffers of load files, and than its default line limit.
const CSV_FIELD = 'c'.repeat(12_000_000);
const JSON_FIELD = 'j'.repeat(12_000_000);

const md5 = (text: string) => createHash('md5').update(text).digest('hex');

/** A project of the three files, or (`csvOnly`) of the CSV file alone. */
async function project(csvOnly: boolean): Promise<Project> {
  const files: Record<string, string> = {
    'etl.config.yaml': 'connections:\n  inbox: { type: local, path: ./inbox }\n',
    // One record holds nearly the whole file: the CSV is read by DuckDB itself by default.
    'inbox/wide.csv': `id,text,tail\n1,${CSV_FIELD},end\n2,"short, quoted",end\n`,
    'inbox/wide.jsonl': `{"id":1,"text":"${JSON_FIELD}","tail":"end"}\n{"id":2,"text":"short","tail":"end"}\n`,
    'inbox/wide.json': `[{"id":1,"text":"${JSON_FIELD}","tail":"end"},{"id":2,"text":"short","tail":"end"}]`,
    'jobs/wide_csv.yaml': 'name: wide_csv\nsource: { connection: inbox, pattern: "wide.csv" }\n',
    'jobs/wide_jsonl.yaml': 'name: wide_jsonl\nsource: { connection: inbox, pattern: "wide.jsonl" }\n',
    'jobs/wide_json.yaml': 'name: wide_json\nsource: { connection: inbox, pattern: "wide.json" }\n',
  };
  if (csvOnly) for (const name of Object.keys(files)) if (/json/.test(name)) delete files[name];
  return scratchProject(files);
}

describe('values larger than any read buffer', () => {
  const projects: Record<'native' | 'streamed', Project | undefined> = { native: undefined, streamed: undefined };
  const runs: Record<string, { stderr: string; results: Record<string, unknown>[] }> = {};

  before(async () => {
    for (const mode of ['native', 'streamed'] as const) {
      // JSON files always stream: only the CSV file takes two paths.
      const p = (projects[mode] = await project(mode === 'streamed'));
      const result = await runCli(['run', 'jobs', '--json', '--verbose'], p.dir, mode === 'streamed' ? { B2BETL_STREAM_ONLY: '1' } : {});
      runs[mode] = { stderr: result.stderr, results: JSON.parse(result.stdout) as Record<string, unknown>[] };
    }
  });
  after(async () => {
    await projects.native?.cleanup();
    await projects.streamed?.cleanup();
  });

  for (const mode of ['native', 'streamed'] as const) {
    test(`every row arrives whole (${mode})`, async () => {
      const { results, stderr } = runs[mode]!;
      for (const result of results) {
        assert.equal(result.status, 'succeeded', `${result.job}: ${result.error}\n${stderr}`);
        assert.equal(result.rows_loaded, 2, String(result.job));
        assert.equal(result.files_processed, 1);
      }
      const warehouse = path.join(projects[mode]!.dir, 'warehouse.duckdb');
      const tables = [
        ['wide_csv', CSV_FIELD],
        ['wide_jsonl', JSON_FIELD],
        ['wide_json', JSON_FIELD],
      ] as const;
      assert.equal(results.length, mode === 'native' ? 3 : 1);
      for (const [table, field] of tables.slice(0, results.length)) {
        const rows = await queryDuckDB(warehouse, `SELECT id::INTEGER AS id, length(text)::INTEGER AS length, md5(text) AS md5, tail FROM main.${table} ORDER BY id`);
        assert.deepEqual(
          rows,
          [
            { id: 1, length: field.length, md5: md5(field), tail: 'end' },
            { id: 2, length: table === 'wide_csv' ? 13 : 5, md5: md5(table === 'wide_csv' ? 'short, quoted' : 'short'), tail: 'end' },
          ],
          table,
        );
      }
      if (mode === 'native') assert.match(stderr, /wide\.csv: 2 row\(s\) read by DuckDB/);
      else assert.doesNotMatch(stderr, /read by DuckDB/);
    });
  }
});
