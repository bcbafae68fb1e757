/**
 * Parquet files through the real binary into DuckDB, each loaded both ways: read by DuckDB
 * itself (the default for a local file whose every column DuckDB reads as the format does) and
 * streamed row by row (`B2BETL_STREAM_ONLY=1`). Both must give the same tables; a file with
 * nested or geometry columns streams, and --dry-run says why. A row group too large for the
 * memory the process may use fails before it is read.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import { queryDuckDB, runCli, scratchProject } from '../support/cli.js';
import { byteArray, handBuiltParquet, int96 } from '../support/parquet-writer.js';

type Project = Awaited<ReturnType<typeof scratchProject>>;

/** Files written by DuckDB: name → SELECT. */
const FILES: Record<string, string> = {
  flat: `SELECT range::INTEGER AS id, (range * 7 % 300)::SMALLINT AS delay, range / 7.0 AS ratio, (range % 97)::FLOAT AS f32,
      (range * 0.01)::DECIMAL(12,2) AS amount, '1234567890123456789.123'::DECIMAL(38,3) AS wide,
      DATE '2024-01-01' + (range % 400)::INTEGER AS day, TIMESTAMPTZ '2024-01-01 00:00:00+00' + to_microseconds(range * 1234567) AS at,
      TIMESTAMP_NS '1969-12-31 23:59:59.999999999' + to_microseconds(range) AS wall_ns, TIME '12:00:00' + to_microseconds(range) AS clock,
      range % 3 = 0 AS flag, 'row ' || range AS name, '\\xAA\\x00'::BLOB AS raw, CASE WHEN range % 5 = 0 THEN NULL ELSE range END AS sparse,
      uuid() IS NULL AS never, 18446744073709551615::UBIGINT AS u64
    FROM range(5000)`,
  nested: `SELECT range AS id, {'at': TIMESTAMPTZ '2024-01-02 03:04:05+00', 'n': range::BIGINT * 1000000007} AS s, [range, range + 1] AS l FROM range(10)`,
  geo: `SELECT range AS id, ('POINT(' || range || ' ' || (range % 90) || ')')::GEOMETRY AS place FROM range(10)`,
};

async function project(): Promise<Project> {
  const p = await scratchProject({
    'etl.config.yaml': 'connections:\n  inbox: { type: local, path: ./inbox }\n',
    ...Object.fromEntries(Object.keys(FILES).map((name) => [`jobs/${name}.yaml`, `name: ${name}\nsource: { connection: inbox, pattern: "${name}.parquet" }\n`])),
    'jobs/int96.yaml': 'name: int96\nsource: { connection: inbox, pattern: "int96.parquet" }\n',
    'jobs/overrun.yaml': 'name: overrun\nsource: { connection: inbox, pattern: "overrun.parquet" }\n',
    'inbox/.keep': '',
  });
  const duck = await (await DuckDBInstance.create(':memory:')).connect();
  for (const [name, select] of Object.entries(FILES)) {
    await duck.run(`COPY (${select}) TO '${path.join(p.dir, 'inbox', `${name}.parquet`)}' (FORMAT parquet, ROW_GROUP_SIZE 2048)`);
  }
  duck.closeSync();
  // Spark and Impala write INT96: one of year 290000, beyond the years 1677-2262 of nanoseconds in 64 bits.
  await writeFile(
    path.join(p.dir, 'inbox', 'int96.parquet'),
    handBuiltParquet({ columns: [{ name: 'at', type: 'INT96', values: [int96(2460371, 36_000_000_000_000n), int96(107641385, 0n)] }] }),
  );
  // parquet-mr before 1.2.9 left the dictionary page out of a chunk's sizes: its last page overruns them.
  await writeFile(
    path.join(p.dir, 'inbox', 'overrun.parquet'),
    handBuiltParquet({
      columns: [
        { name: 'city', type: 'BYTE_ARRAY', converted: 0, values: ['Oslo', 'Lima', 'Pune'].map(byteArray), dictionary: { declared: 3, sizeWithoutDictionary: true } },
        { name: 'n', type: 'INT32', values: [1, 2, 3].map((value) => Buffer.from(new Int32Array([value]).buffer)) },
      ],
    }),
  );
  return p;
}

describe('Parquet files read by DuckDB itself and streamed', () => {
  let native: Project;
  let streamed: Project;
  let nativeRun: { stderr: string; results: Record<string, unknown>[] };

  before(async () => {
    [native, streamed] = await Promise.all([project(), project()]);
    const first = await runCli(['run', 'jobs', '--json', '--verbose'], native.dir);
    nativeRun = { stderr: first.stderr, results: JSON.parse(first.stdout) as Record<string, unknown>[] };
    await runCli(['run', 'jobs', '--json'], streamed.dir, { B2BETL_STREAM_ONLY: '1' });
  });
  after(async () => {
    await native.cleanup();
    await streamed.cleanup();
  });

  const table = async (p: Project, name: string) => {
    const file = path.join(p.dir, 'warehouse.duckdb');
    const schema = await queryDuckDB(file, `SELECT column_name, data_type FROM information_schema.columns WHERE table_name = '${name}' ORDER BY ordinal_position`);
    const rows = await queryDuckDB(file, `SELECT * FROM main."${name}" ORDER BY ALL`);
    return { schema, rows };
  };

  test('flat files are read by DuckDB; nested and geometry columns stream', () => {
    for (const result of nativeRun.results) assert.equal(result.status, 'succeeded', `${result.job}: ${result.error}`);
    assert.match(nativeRun.stderr, /flat\.parquet: 5000 row\(s\) read by DuckDB/);
    assert.match(nativeRun.stderr, /int96\.parquet: 2 row\(s\) read by DuckDB/);
    assert.match(nativeRun.stderr, /nested\.parquet: streamed: column s: nested values become JSON text that b2betl writes/);
    assert.match(nativeRun.stderr, /geo\.parquet: streamed: column place: geometries become well-known text that b2betl writes/);
  });

  test('both paths load the same tables, value for value and type for type', async () => {
    for (const name of [...Object.keys(FILES), 'int96', 'overrun']) assert.deepEqual(await table(native, name), await table(streamed, name), name);
    const warehouse = path.join(native.dir, 'warehouse.duckdb');
    assert.deepEqual(await queryDuckDB(warehouse, 'SELECT "at"::VARCHAR AS "at" FROM main.int96 ORDER BY "at"'), [{ at: '2024-03-01 10:00:00+00' }, { at: '290000-01-01 00:00:00+00' }]);
    assert.deepEqual(await queryDuckDB(warehouse, 'SELECT city, n FROM main.overrun ORDER BY n'), [
      { city: 'Oslo', n: '1' },
      { city: 'Lima', n: '2' },
      { city: 'Pune', n: '3' },
    ]);
    assert.deepEqual(await queryDuckDB(path.join(streamed.dir, 'warehouse.duckdb'), 'SELECT count(*)::INTEGER AS n FROM main.overrun'), [{ n: 3 }]);
    assert.deepEqual(await queryDuckDB(warehouse, 'SELECT s FROM main.nested WHERE id = 3'), [{ s: '{"at":"2024-01-02T03:04:05.000000Z","n":3000000021}' }]);
    assert.deepEqual(await queryDuckDB(warehouse, 'SELECT place FROM main.geo WHERE id = 3'), [{ place: 'POINT (3 3)' }]);
    assert.deepEqual((await table(native, 'geo')).schema, [
      { column_name: 'id', data_type: 'BIGINT' },
      { column_name: 'place', data_type: 'VARCHAR' },
    ]);
  });

  test('--dry-run says which path each file takes, and why', async () => {
    const dry = await runCli(['run', 'jobs', '--dry-run', '--full-refresh'], native.dir);
    assert.match(dry.stdout, /flat\.parquet \d+ bytes\n\s+native: the destination reads it itself, every column in the type the file declares/);
    assert.match(dry.stdout, /geo\.parquet \d+ bytes\n\s+streamed: column place: geometries become well-known text that b2betl writes/);
  });

  test('a row group larger than the memory the process may fill fails before it is read', async () => {
    const p = await scratchProject({
      'etl.config.yaml': 'connections:\n  inbox: { type: local, path: ./inbox }\n',
      'jobs/wide.yaml': 'name: wide\nsource: { connection: inbox, pattern: "wide.parquet" }\n',
      'inbox/.keep': '',
    });
    try {
      const duck = await (await DuckDBInstance.create(':memory:')).connect();
      // 160 MB of distinct text in one row group, a few MB on disk.
      await duck.run(`COPY (SELECT range AS id, repeat(md5(range::VARCHAR), 250) AS body FROM range(20000)) TO '${path.join(p.dir, 'inbox', 'wide.parquet')}' (FORMAT parquet, ROW_GROUP_SIZE 20000)`);
      duck.closeSync();
      const result = await runCli(['run', 'jobs', '--json'], p.dir, { B2BETL_STREAM_ONLY: '1', NODE_OPTIONS: '--max-old-space-size=96' });
      const [run] = JSON.parse(result.stdout) as Record<string, unknown>[];
      assert.equal(run.status, 'failed');
      assert.match(String(run.error), /wide\.parquet: rows 1-20000: body: the row group holds [\d.]+ MB of values \(column body: [\d.]+ MB\), more than the [\d.]+ MB of memory this process may fill/);
    } finally {
      await p.cleanup();
    }
  });
});
