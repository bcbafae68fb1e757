/** The DuckDB destination through its Stage contract, checked by reading the warehouse back. */
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { Column, DestinationConnector, LoadStrategy } from '../../src/core/connector.js';
import { silentLogger } from '../../src/core/log.js';
import { jobSchema } from '../../src/core/spec.js';
import { parseTimestamp } from '../../src/core/time.js';
import { warehouseInstance } from '../../connectors/destinations/duckdb/duckdb-destination.js';
import { destination as openDuckDB } from '../../connectors/destinations/duckdb/index.js';

let dir: string;
let file: string;
let duck: DestinationConnector;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'b2betl-duck-'));
  file = path.join(dir, 'wh.duckdb');
  duck = await openDuckDB({ name: 'wh', config: { type: 'duckdb', path: file }, baseDir: dir, log: silentLogger });
});
after(async () => {
  await duck.close();
  await rm(dir, { recursive: true, force: true });
});

const col = (name: string, type: Column['type'], nullable = true): Column => ({ name, source: name, type, nullable });

async function stage(table: string, strategy: LoadStrategy, columns: Column[], runId: string, primaryKey: string[] = []) {
  const job = jobSchema.parse({ name: table, source: { connection: 'x' } });
  return duck.stage({ runId, job, table, strategy, primaryKey, columns, log: silentLogger });
}

async function rows(sql: string) {
  const instance = await warehouseInstance(file);
  const connection = await instance.connect();
  await connection.run("SET TimeZone = 'UTC'");
  const reader = await connection.runAndReadAll(sql);
  connection.closeSync();
  return reader.getRowObjectsJson();
}

test('exact values of every type land, with the marker, in one commit', async () => {
  const columns = [
    col('id', 'INT64', false),
    col('big', 'INT64'),
    col('price', 'NUMERIC'),
    col('huge', 'BIGNUMERIC'),
    col('ratio', 'FLOAT64'),
    col('ok', 'BOOL'),
    col('at', 'TIMESTAMP'),
    col('local', 'DATETIME'),
    col('day', 'DATE'),
    col('clock', 'TIME'),
    col('raw', 'BYTES'),
    col('doc', 'JSON'),
    col('name', 'STRING'),
  ];
  const s = await stage('typed', 'transactional', columns, 'r1');
  await s.write(0, [
    [1, 9007199254740993n, '12345678901234567890.123456789', '0.123456789012345678901234567890123456', 0.1, true, parseTimestamp('2024-03-01T10:00:00.123456Z')!, '2024-03-01 10:00:00.654321', '2024-02-29', '23:59:59.999999', new Uint8Array([0, 255]), '{"a":[1,2]}', 'Zoë'],
    [2, null, null, null, Number.NaN, false, null, null, null, null, null, null, ''],
  ]);
  const loaded = await s.commit([0], { runId: 'r1', job: 'typed', table: 'typed', strategy: 'transactional', units: ['u0'], rows: 2 }, []);
  assert.equal(loaded, 2);
  const [first, second] = await rows(
    `SELECT id, big::VARCHAR big, price::VARCHAR price, huge, ratio, ok, strftime("at", '%Y-%m-%dT%H:%M:%S.%fZ') "at", "local"::VARCHAR "local", "day"::VARCHAR "day", clock::VARCHAR clock, hex(raw) raw, doc::VARCHAR doc, name FROM typed ORDER BY id`,
  );
  assert.deepEqual(first, {
    id: '1',
    big: '9007199254740993',
    price: '12345678901234567890.123456789',
    huge: '0.123456789012345678901234567890123456',
    ratio: 0.1,
    ok: true,
    at: '2024-03-01T10:00:00.123456Z',
    local: '2024-03-01 10:00:00.654321',
    day: '2024-02-29',
    clock: '23:59:59.999999',
    raw: '00FF',
    doc: '{"a":[1,2]}',
    name: 'Zoë',
  });
  assert.equal(second.ratio, 'NaN');
  assert.equal(second.name, '');
  assert.deepEqual([...(await duck.committedRuns('typed', ['r1', 'r0']))], ['r1']);
  assert.equal((await duck.describe('typed'))?.strategy, 'transactional');
});

test('discarded units and aborted stages leave nothing behind', async () => {
  const s = await stage('partial', 'transactional', [col('id', 'INT64')], 'r2');
  await s.write(0, [[1], [2]]);
  await s.write(1, [[3]]);
  await s.discard(1);
  await s.write(2, [[4]]);
  await s.commit([0, 2], { runId: 'r2', job: 'partial', table: 'partial', strategy: 'transactional', units: ['a', 'c'], rows: 3 }, []);
  assert.deepEqual((await rows('SELECT id FROM partial ORDER BY id')).map((r) => r.id), ['1', '2', '4']);
  const aborted = await stage('partial', 'transactional', [col('id', 'INT64')], 'r3');
  await aborted.write(0, [[5]]);
  await aborted.abort();
  assert.deepEqual((await rows('SELECT id FROM partial ORDER BY id')).map((r) => r.id), ['1', '2', '4']);
  assert.deepEqual(existsSync(`${file}.staging`) ? readdirSync(`${file}.staging`) : [], []);
});

test('schema evolution: new columns mid-run and across runs, widening in place', async () => {
  const s = await stage('evolving', 'transactional', [col('id', 'INT64'), col('v', 'INT64')], 'r4');
  await s.write(0, [[1, 10]]);
  await s.evolve([col('id', 'INT64'), col('v', 'FLOAT64'), col('extra', 'STRING')]);
  await s.write(0, [[2, 2.5, 'x']]);
  await s.commit([0], { runId: 'r4', job: 'evolving', table: 'evolving', strategy: 'transactional', units: ['a'], rows: 2 }, []);
  const next = await stage('evolving', 'transactional', [col('id', 'INT64'), col('later', 'DATE')], 'r5');
  await next.write(0, [[3, '2024-01-01']]);
  await next.commit([0], { runId: 'r5', job: 'evolving', table: 'evolving', strategy: 'transactional', units: ['b'], rows: 1 }, []);
  assert.deepEqual(await rows('SELECT id, v, extra, later::VARCHAR later FROM evolving ORDER BY id'), [
    { id: '1', v: 10, extra: null, later: null },
    { id: '2', v: 2.5, extra: 'x', later: null },
    { id: '3', v: null, extra: null, later: '2024-01-01' },
  ]);
  const described = await duck.describe('evolving');
  assert.deepEqual(described?.columns.map((c) => [c.name, c.type]), [['id', 'INT64'], ['v', 'FLOAT64'], ['extra', 'STRING'], ['later', 'DATE']]);
});

test('catalog replaces contents; merge upserts by key with the last row winning', async () => {
  const columns = [col('k', 'INT64'), col('tag', 'STRING'), col('v', 'INT64')];
  const first = await stage('snap', 'catalog', columns, 'r6');
  await first.write(0, [[1, 'a', 1], [2, 'a', 2]]);
  await first.commit([0], { runId: 'r6', job: 'snap', table: 'snap', strategy: 'catalog', units: ['x'], rows: 2 }, []);
  const second = await stage('snap', 'catalog', columns, 'r7');
  await second.write(0, [[3, 'b', 3]]);
  await second.commit([0], { runId: 'r7', job: 'snap', table: 'snap', strategy: 'catalog', units: ['x'], rows: 1 }, []);
  assert.deepEqual((await rows('SELECT k FROM snap')).map((r) => r.k), ['3']);

  const m1 = await stage('merged', 'merge', columns, 'r8', ['k', 'tag']);
  await m1.write(0, [[1, 'a', 1], [2, 'a', 2]]);
  await m1.commit([0], { runId: 'r8', job: 'merged', table: 'merged', strategy: 'merge', units: ['x'], rows: 2 }, []);
  const m2 = await stage('merged', 'merge', columns, 'r9', ['k', 'tag']);
  await m2.write(0, [[2, 'a', 20], [3, 'a', 3], [3, 'a', 30], [1, 'b', 100]]);
  await m2.commit([0], { runId: 'r9', job: 'merged', table: 'merged', strategy: 'merge', units: ['y'], rows: 4 }, []);
  assert.deepEqual(await rows('SELECT k, tag, v FROM merged ORDER BY k, tag'), [
    { k: '1', tag: 'a', v: '1' },
    { k: '1', tag: 'b', v: '100' },
    { k: '2', tag: 'a', v: '20' },
    { k: '3', tag: 'a', v: '30' },
  ]);
});

test('rejects are written with the commit', async () => {
  const s = await stage('withrejects', 'transactional', [col('id', 'INT64')], 'r10');
  await s.write(0, [[1]]);
  await s.commit([0], { runId: 'r10', job: 'withrejects', table: 'withrejects', strategy: 'transactional', units: ['f'], rows: 1 }, [
    { runId: 'r10', unit: 'f', position: '3', column: 'id', reason: '"x" is not an integer', raw: '["x"]' },
  ]);
  assert.deepEqual(await rows('SELECT run_id, unit, position, column_name, reason, raw FROM withrejects__rejected'), [
    { run_id: 'r10', unit: 'f', position: '3', column_name: 'id', reason: '"x" is not an integer', raw: '["x"]' },
  ]);
});

test('text survives the load files exactly: empty, \\N, quotes, delimiters, line breaks, spaces', async () => {
  const texts = ['', '\\N', 'NULL', ' spaced ', 'a,b', 'line\nbreak', 'cr\r\nlf', 'q"uote', '"', 'Zoë 李雷'];
  const s = await stage('texts', 'transactional', [col('i', 'INT64'), col('t', 'STRING')], 'r11');
  await s.write(0, [...texts.map((text, i) => [i, text]), [texts.length, null]]);
  await s.commit([0], { runId: 'r11', job: 'texts', table: 'texts', strategy: 'transactional', units: ['u'], rows: texts.length + 1 }, []);
  const back = await rows('SELECT t FROM texts ORDER BY i');
  assert.deepEqual(back.map((r) => r.t), [...texts, null]);
});

test('rows written column by column land exactly as rows written one by one', async () => {
  const columns = [
    col('i', 'INT64'),
    col('big', 'INT64'),
    col('ratio', 'FLOAT64'),
    col('f32', 'FLOAT64'),
    col('ok', 'BOOL'),
    col('at', 'TIMESTAMP'),
    col('day', 'DATE'),
    col('price', 'NUMERIC'),
    col('raw', 'BYTES'),
    col('t', 'STRING'),
    col('gone', 'STRING'),
  ];
  const long = 'é'.repeat(700_000) + ',"\n\x02'; // over the write buffer in UTF-8
  const texts = ['', '\\N', 'NULL', ' spaced ', 'a,b', 'line\nbreak', 'cr\r\nlf', 'q"uote', '\x02', 'Zoë 李雷', 'x'.repeat(40), long, null];
  const n = texts.length;
  const vectors: (ArrayLike<import('../../src/core/types.js').Value> | null)[] = [
    Array.from({ length: n }, (_, r) => [0, -1, 7, -2147483648, 2147483647, 2147483648, -9007199254740991, 10, 99, 100, 1000, 1e15, -0][r]!),
    Array.from({ length: n }, (_, r) => (r % 2 ? 9007199254740993n : -9223372036854775808n)),
    Array.from({ length: n }, (_, r) => [0.1, -0, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1e-300, 5, -5, 2 ** 31, 1.5e300, 0, 3, null][r]!),
    new Float32Array([0.1, 13.9, -0, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1e-45, 3.4028234663852886e38, 16777217, 1 / 3, -2.5e-38, 7, 20]),
    Array.from({ length: n }, (_, r) => (r % 3 === 2 ? null : r % 3 === 0)),
    Array.from({ length: n }, (_, r) => parseTimestamp('2024-03-01T10:00:00.123456Z')! + BigInt(r)),
    Array.from({ length: n }, (_, r) => `2024-02-${String(r + 1).padStart(2, '0')}`),
    Array.from({ length: n }, (_, r) => (r % 2 ? '12345678901234567890.123456789' : '-0.50')),
    Array.from({ length: n }, (_, r) => new Uint8Array([r, 255, 0])),
    texts,
    null,
  ];
  const skip = new Uint8Array(n);
  skip[4] = 1;
  const byRows = await stage('by_rows', 'transactional', columns, 'r20');
  await byRows.write(
    0,
    Array.from({ length: n }, (_, r) => vectors.map((vector) => (vector ? vector[r]! : null))).filter((_row, r) => !skip[r]),
  );
  await byRows.commit([0], { runId: 'r20', job: 'by_rows', table: 'by_rows', strategy: 'transactional', units: ['u'], rows: n - 1 }, []);
  const byColumns = await stage('by_columns', 'transactional', columns, 'r21');
  // Two batches, to cross a flush between them.
  await byColumns.writeColumns!(0, vectors.map((vector) => vector && Array.prototype.slice.call(vector, 0, 6)), 6, skip.subarray(0, 6));
  await byColumns.writeColumns!(0, vectors.map((vector) => vector && Array.prototype.slice.call(vector, 6)), n - 6, skip.subarray(6));
  await byColumns.commit([0], { runId: 'r21', job: 'by_columns', table: 'by_columns', strategy: 'transactional', units: ['u'], rows: n - 1 }, []);
  const select = (table: string) => rows(`SELECT i, big::VARCHAR big, ratio::VARCHAR ratio, f32, ok, "at"::VARCHAR "at", "day"::VARCHAR "day", price::VARCHAR price, hex(raw) raw, t, gone FROM ${table} ORDER BY "at"`);
  const [a, b] = [await select('by_rows'), await select('by_columns')];
  assert.equal(a.length, n - 1);
  assert.deepEqual(b, a);
  assert.equal(b.find((row) => typeof row.t === 'string' && row.t.length > 1000)?.t, long);
  assert.deepEqual(b.map((row) => row.i), ['0', '-1', '7', '-2147483648', '2147483648', '-9007199254740991', '10', '99', '100', '1000', '1000000000000000', '0']);
});

test('32-bit floats written as their shortest text read back as the very doubles they are', async () => {
  // Random bit patterns: every exponent, subnormals, NaN and infinities among them.
  const bits = new Int32Array(100_000);
  let state = 12345;
  for (let i = 0; i < bits.length; i++) {
    state = (Math.imul(state, 1103515245) + 12345) | 0;
    bits[i] = state ^ (state << 13);
  }
  const floats = new Float32Array(bits.buffer);
  const columns = [col('i', 'INT64'), col('f', 'FLOAT64')];
  const ids = Int32Array.from({ length: floats.length }, (_, i) => i);
  const byColumns = await stage('floats_columns', 'transactional', columns, 'r30');
  await byColumns.writeColumns!(0, [ids, floats], floats.length);
  await byColumns.commit([0], { runId: 'r30', job: 'floats_columns', table: 'floats_columns', strategy: 'transactional', units: ['u'], rows: floats.length }, []);
  const byRows = await stage('floats_rows', 'transactional', columns, 'r31');
  await byRows.write(0, Array.from(floats, (value, i) => [i, value]));
  await byRows.commit([0], { runId: 'r31', job: 'floats_rows', table: 'floats_rows', strategy: 'transactional', units: ['u'], rows: floats.length }, []);
  const differing = await rows(
    `SELECT count(*)::INTEGER AS n FROM floats_columns c JOIN floats_rows r USING (i) WHERE c.f IS DISTINCT FROM r.f AND NOT (isnan(c.f) AND isnan(r.f))`,
  );
  assert.deepEqual(differing, [{ n: 0 }]);
  assert.deepEqual(await rows('SELECT count(*)::INTEGER AS n FROM floats_columns'), [{ n: floats.length }]);
});

test('a FLOAT64 column that brings 32-bit floats, doubles and no values by turns lands exactly', async () => {
  const columns = [col('i', 'INT64'), col('f', 'FLOAT64')];
  const batches: (ArrayLike<number> | null)[] = [new Float32Array([0.1, 13.9]), [0.1, 1 / 3], null, new Float32Array([2.5, -0]), [7.25, Number.NaN]];
  const byColumns = await stage('turns_columns', 'transactional', columns, 'r40');
  const byRows = await stage('turns_rows', 'transactional', columns, 'r41');
  let i = 0;
  for (const batch of batches) {
    const ids = [i, i + 1];
    i += 2;
    await byColumns.writeColumns!(0, [ids, batch], 2);
    await byRows.write(0, ids.map((id, r) => [id, batch ? batch[r]! : null]));
  }
  await byColumns.commit([0], { runId: 'r40', job: 'turns_columns', table: 'turns_columns', strategy: 'transactional', units: ['u'], rows: i }, []);
  await byRows.commit([0], { runId: 'r41', job: 'turns_rows', table: 'turns_rows', strategy: 'transactional', units: ['u'], rows: i }, []);
  const read = (table: string) => rows(`SELECT i, f::VARCHAR AS f FROM ${table} ORDER BY i`);
  assert.deepEqual(await read('turns_columns'), await read('turns_rows'));
  assert.equal((await read('turns_columns')).length, 10);
});
