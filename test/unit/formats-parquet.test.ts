import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { parquetFormat } from '../../connectors/formats/parquet/parquet-format.js';
import type { FileHandle } from '../../src/core/connector.js';
import { BadRecordError } from '../../src/core/errors.js';
import { bytesHandle, diskHandle, readAll, tempFolder } from '../support/formats.js';
import { byteArray, handBuiltParquet, int96 } from '../support/parquet-writer.js';
import { formatTimestamp } from '../../src/core/time.js';
import { writeFile } from 'node:fs/promises';

let folder: { dir: string; cleanup: () => Promise<void> };
let instance: DuckDBInstance;
let duckdb: DuckDBConnection;

/** Writes `select` to a Parquet file in the temp folder with DuckDB and returns its path. */
async function parquet(name: string, select: string, options = ''): Promise<string> {
  const file = path.join(folder.dir, `${name}.parquet`);
  await duckdb.run(`COPY (${select}) TO '${file}' (FORMAT parquet${options ? `, ${options}` : ''})`);
  return file;
}

before(async () => {
  folder = await tempFolder('parquet');
  const { DuckDBInstance } = await import('@duckdb/node-api');
  instance = await DuckDBInstance.create(':memory:');
  duckdb = await instance.connect();
  await duckdb.run("SET TimeZone = 'UTC'");
});

after(async () => {
  duckdb.closeSync();
  instance.closeSync();
  await folder.cleanup();
});

describe('parquet format', () => {
  it('maps Parquet types to canonical types and keeps values exact', async () => {
    const file = await parquet(
      'types',
      `SELECT 1::INTEGER AS i32, 9007199254740993::BIGINT AS i64, 42::BIGINT AS small64, 5::SMALLINT AS i16,
        1.5::DOUBLE AS f64, 1.25::FLOAT AS f32,
        -0.5::DECIMAL(9,2) AS dec9, -1234567890.123::DECIMAL(18,3) AS dec18,
        '-12345678901234567890123456789.123456789'::DECIMAL(38,9) AS dec38,
        '12345678901234567890123456789012345678'::DECIMAL(38,0) AS dec38_0,
        true AS flag, 'héllo 美咲' AS text, '\\xAA\\x00\\xBB'::BLOB AS raw,
        DATE '2024-02-29' AS day,
        TIMESTAMPTZ '2024-01-02 03:04:05.123456+00' AS at_utc,
        TIMESTAMPTZ '1969-12-31 23:59:59.000001+00' AS before_epoch,
        TIMESTAMP '2024-01-02 03:04:05.123456' AS wall_clock,
        TIMESTAMP_MS '2024-01-02 03:04:05.123' AS wall_ms,
        TIMESTAMP_NS '1969-12-31 23:59:59.999999999' AS wall_ns,
        TIME '12:34:56.789012' AS clock,
        [1, 2, 3] AS numbers, {'a': 1, 'b': 'x'} AS point, MAP {'k': 1} AS dict,
        '8c3a7bb6-4b67-4e2a-9f2a-8f4ed8e0d2d1'::UUID AS id, '{"a":[1,2]}'::JSON AS doc,
        18446744073709551615::UBIGINT AS u64, 4000000000::UINTEGER AS u32
      UNION ALL
      SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
        NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL`,
    );
    const rows = await parquetFormat.read(await diskHandle(file), {});
    const types = Object.fromEntries([...rows.declaredTypes!].map(([name, column]) => [name, column.type]));
    assert.deepEqual(types, {
      i32: 'INT64',
      i64: 'INT64',
      small64: 'INT64',
      i16: 'INT64',
      f64: 'FLOAT64',
      f32: 'FLOAT64',
      dec9: 'NUMERIC',
      dec18: 'NUMERIC',
      dec38: 'NUMERIC',
      dec38_0: 'BIGNUMERIC',
      flag: 'BOOL',
      text: 'STRING',
      raw: 'BYTES',
      day: 'DATE',
      at_utc: 'TIMESTAMP',
      before_epoch: 'TIMESTAMP',
      wall_clock: 'DATETIME',
      wall_ms: 'DATETIME',
      wall_ns: 'DATETIME',
      clock: 'TIME',
      numbers: 'STRING',
      point: 'STRING',
      dict: 'STRING',
      id: 'STRING',
      doc: 'JSON',
      u64: 'NUMERIC',
      u32: 'INT64',
    });
    assert.equal(rows.declaredTypes!.get('dec18')!.sourceType, 'DECIMAL(18,3)');
    assert.equal(rows.declaredTypes!.get('numbers')!.sourceType, 'LIST');
    assert.ok([...rows.declaredTypes!.values()].every((column) => column.nullable));

    const result = await readAll(parquetFormat, await diskHandle(file));
    assert.deepEqual(result.positions, [1, 2]);
    assert.deepEqual(result.records[0], {
      i32: 1,
      i64: 9007199254740993n,
      small64: 42,
      i16: 5,
      f64: 1.5,
      f32: 1.25,
      dec9: '-0.50',
      dec18: '-1234567890.123',
      dec38: '-12345678901234567890123456789.123456789',
      dec38_0: '12345678901234567890123456789012345678',
      flag: true,
      text: 'héllo 美咲',
      raw: new Uint8Array([0xaa, 0x00, 0xbb]),
      day: '2024-02-29',
      at_utc: 1704164645123456n,
      before_epoch: -999999n,
      wall_clock: '2024-01-02 03:04:05.123456',
      wall_ms: '2024-01-02 03:04:05.123000',
      wall_ns: '1969-12-31 23:59:59.999999',
      clock: '12:34:56.789012',
      numbers: '[1,2,3]',
      point: '{"a":1,"b":"x"}',
      dict: '{"k":1}',
      id: '8c3a7bb6-4b67-4e2a-9f2a-8f4ed8e0d2d1',
      doc: '{"a":[1,2]}',
      u64: '18446744073709551615',
      u32: 4000000000,
    });
    assert.ok(Object.values(result.records[1]!).every((value) => value === null || value === undefined));
  });

  it('reads row group by row group with ranged reads, batches never spanning two groups', async () => {
    const file = await parquet(
      'groups',
      `SELECT range AS id, md5(range::VARCHAR) || md5((range + 1)::VARCHAR) AS name, (range * 0.01)::DECIMAL(12,2) AS amount FROM range(60000)`,
      'ROW_GROUP_SIZE 20000',
    );
    const groups = await duckdb.runAndReadAll(`SELECT row_group_id, any_value(row_group_num_rows)::INTEGER AS n FROM parquet_metadata('${file}') GROUP BY 1 ORDER BY 1`);
    const sizes = groups.getRowObjectsJson().map((row) => Number(row.n));
    assert.ok(sizes.length >= 3, `expected several row groups, got ${sizes.join(',')}`);

    const disk = await diskHandle(file);
    let bytesRead = 0;
    const counting: FileHandle = {
      ...disk,
      async readRange(start, end) {
        bytesRead += Math.min(end, disk.size) - start;
        return disk.readRange(start, end);
      },
    };
    const { batches } = await parquetFormat.read(counting, { batchSize: 1_000_000 });
    const seen: { rows: number; bytesSoFar: number }[] = [];
    const ids: unknown[] = [];
    const positions: number[] = [];
    let last: unknown[] | undefined;
    for await (const batch of batches) {
      seen.push({ rows: batch.rows.length, bytesSoFar: bytesRead });
      for (const row of batch.rows) ids.push(row[0]);
      positions.push(...batch.positions);
      last = batch.rows.at(-1);
    }
    assert.deepEqual(
      seen.map((batch) => batch.rows),
      sizes,
      'one batch per row group when the batch size is larger',
    );
    assert.ok(seen[0]!.bytesSoFar < disk.size * 0.6, `first group read ${seen[0]!.bytesSoFar} of ${disk.size} bytes`);
    assert.deepEqual(ids, Array.from({ length: 60000 }, (_, i) => i));
    assert.deepEqual(positions, Array.from({ length: 60000 }, (_, i) => i + 1));
    assert.equal(last![0], 59999);
    assert.equal(last![2], '599.99');

    const small = await readAll(parquetFormat, disk, { batchSize: 4000 });
    assert.ok(small.batches.every((batch) => batch.rows.length <= 4000));
    let start = 0;
    for (const size of sizes) {
      // A row group is split into batches that end exactly at its last row.
      const inGroup = small.batches.filter((batch) => batch.positions[0]! > start && batch.positions[0]! <= start + size);
      assert.equal(inGroup.reduce((sum, batch) => sum + batch.rows.length, 0), size);
      start += size;
    }
  });

  it('reads zstd, gzip, snappy and brotli compressed files', async () => {
    for (const codec of ['zstd', 'gzip', 'snappy', 'brotli']) {
      const file = await parquet(`codec_${codec}`, `SELECT range AS id, repeat('x', 50) || range AS text FROM range(2000)`, `COMPRESSION ${codec}`);
      const result = await readAll(parquetFormat, await diskHandle(file));
      assert.equal(result.rows.length, 2000, codec);
      assert.deepEqual(result.rows[1999], [1999, `${'x'.repeat(50)}1999`], codec);
    }
  });

  it('reads UBIGINT as INT64 when its statistics fit, NUMERIC when they may not', async () => {
    const file = await parquet(
      'unsigned',
      `SELECT 7::UBIGINT AS small, 18446744073709551615::UBIGINT AS huge, 9223372036854775807::UBIGINT AS edge
       UNION ALL SELECT 9007199254740993::UBIGINT, 1::UBIGINT, NULL`,
    );
    const rows = await parquetFormat.read(await diskHandle(file), {});
    assert.deepEqual(
      [...rows.declaredTypes!.values()].map((column) => column.type),
      ['INT64', 'NUMERIC', 'INT64'],
    );
    const result = await readAll(parquetFormat, await diskHandle(file));
    assert.deepEqual(result.rows, [
      [7, '18446744073709551615', 9223372036854775807n],
      [9007199254740993n, '1', null],
    ]);
  });

  it('yields the fields of a file with no rows', async () => {
    const file = await parquet('empty', `SELECT 1::INTEGER AS a, 'x' AS b WHERE false`);
    const result = await readAll(parquetFormat, await diskHandle(file));
    assert.equal(result.batches.length, 1);
    assert.deepEqual(result.batches[0]!.fields, ['a', 'b']);
    assert.deepEqual(result.rows, []);
  });

  it('keeps the logical type of every value nested in structs, lists and maps in the JSON text', async () => {
    const file = await parquet(
      'nested',
      `SELECT {'at': TIMESTAMPTZ '2024-01-02 03:04:05.123456+00', 'wall': TIMESTAMP '2024-01-02 03:04:05', 'day': DATE '2024-02-29',
          'price': 12.50::DECIMAL(20,4), 'big': 9007199254740993::BIGINT, 'huge': '123456789012345678901234567.5'::DECIMAL(38,1),
          'clock': TIME '01:02:03.5', 'raw': '\\x00\\xFF'::BLOB, 'nan': 'NaN'::DOUBLE} AS s,
        [1.25::DECIMAL(9,2), -0.5::DECIMAL(9,2), NULL] AS prices,
        MAP {'first': TIMESTAMPTZ '1900-01-01 00:00:00+00'} AS seen,
        [[(-9223372036854775807 - 1)::BIGINT], []] AS deep`,
    );
    const result = await readAll(parquetFormat, await diskHandle(file));
    assert.deepEqual(result.records[0], {
      s: '{"at":"2024-01-02T03:04:05.123456Z","wall":"2024-01-02 03:04:05.000000","day":"2024-02-29","price":12.5000,"big":9007199254740993,"huge":123456789012345678901234567.5,"clock":"01:02:03.500000","raw":"AP8=","nan":"NaN"}',
      prices: '[1.25,-0.50,null]',
      seen: '{"first":"1900-01-01T00:00:00.000000Z"}',
      deep: '[[-9223372036854775808],[]]',
    });
  });

  it('reads GeoParquet and GEOMETRY columns as GEOGRAPHY in well-known text', async () => {
    const file = await parquet(
      'geo',
      `SELECT * FROM (VALUES (1, 'POINT(1 2)'::GEOMETRY), (2, 'LINESTRING(0 0, 1.5 -2)'::GEOMETRY), (3, 'POLYGON((0 0, 1 0, 1 1, 0 0))'::GEOMETRY),
        (4, 'MULTIPOINT((1 2), (3 4))'::GEOMETRY), (5, 'GEOMETRYCOLLECTION(POINT(1 2), LINESTRING(0 0, 1 1))'::GEOMETRY), (6, 'POINT Z (1 2 3)'::GEOMETRY), (7, NULL)) t(id, shape)`,
    );
    const rows = await parquetFormat.read(await diskHandle(file), {});
    assert.equal(rows.declaredTypes!.get('shape')!.type, 'GEOGRAPHY');
    const result = await readAll(parquetFormat, await diskHandle(file));
    assert.deepEqual(
      result.records.map((record) => record.shape),
      ['POINT (1 2)', 'LINESTRING (0 0, 1.5 -2)', 'POLYGON ((0 0, 1 0, 1 1, 0 0))', 'MULTIPOINT ((1 2), (3 4))', 'GEOMETRYCOLLECTION (POINT (1 2), LINESTRING (0 0, 1 1))', 'POINT Z (1 2 3)', null],
    );
  });

  it('decodes INT96 timestamps of any year exactly', async () => {
    /** The Julian day number of a proleptic Gregorian date. */
    const julian = (y: number, m: number, d: number) => {
      const a = Math.floor((14 - m) / 12);
      const yy = y + 4800 - a;
      const mm = m + 12 * a - 3;
      return d + Math.floor((153 * mm + 2) / 5) + 365 * yy + Math.floor(yy / 4) - Math.floor(yy / 100) + Math.floor(yy / 400) - 32045;
    };
    const file = path.join(folder.dir, 'int96.parquet');
    await writeFile(
      file,
      handBuiltParquet({
        columns: [
          {
            name: 'at',
            type: 'INT96',
            values: [int96(julian(2024, 3, 1), 36_000_123_456_789n), int96(julian(290000, 1, 1), 0n), int96(julian(1500, 6, 15), 1_000n), int96(julian(1, 1, 1), 0n)],
          },
        ],
      }),
    );
    const result = await readAll(parquetFormat, await diskHandle(file));
    assert.deepEqual(
      result.rows.map(([at]) => formatTimestamp(at as bigint)),
      ['2024-03-01T10:00:00.123456Z', '290000-01-01T00:00:00.000000Z', '1500-06-15T00:00:00.000001Z', '0001-01-01T00:00:00.000000Z'],
    );
  });

  it('refuses encrypted files, with an encrypted or a plaintext footer', async () => {
    const plaintext = path.join(folder.dir, 'plaintext-footer.parquet');
    await writeFile(plaintext, handBuiltParquet({ encryptedColumns: true, columns: [{ name: 'id', type: 'INT32', values: [Buffer.from([1, 0, 0, 0])] }] }));
    // Encrypting needs DuckDB's writable crypto module (httpfs, not installed here), or this switch.
    await duckdb.run("SET force_mbedtls_unsafe = 'true'");
    await duckdb.run("PRAGMA add_parquet_key('k', '0123456789112345')");
    const footer = await parquet('encrypted-footer', 'SELECT 1 AS id', "ENCRYPTION_CONFIG {footer_key: 'k'}");
    for (const file of [plaintext, footer]) {
      await assert.rejects(parquetFormat.read(await diskHandle(file), {}), (error: unknown) => {
        assert.ok(error instanceof BadRecordError);
        assert.match(error.message, /encrypted Parquet files are not supported/);
        assert.ok(error.message.startsWith(file));
        return true;
      });
    }
  });

  it('reads a dictionary page as DuckDB does: surplus entries the page holds, never bytes past it', async () => {
    const padded = path.join(folder.dir, 'dictionary-padded.parquet');
    // The page declares five entries and holds three strings and two empty ones.
    await writeFile(padded, handBuiltParquet({ columns: [{ name: 's', type: 'BYTE_ARRAY', converted: 0, values: [...['a', 'bb', 'ccc'].map(byteArray), Buffer.alloc(8)], dictionary: { declared: 5 } }] }));
    const result = await readAll(parquetFormat, await diskHandle(padded));
    const duck = await duckdb.runAndReadAll(`SELECT s FROM read_parquet('${padded}')`);
    assert.deepEqual(result.rows, duck.getRows());
    // Declaring more entries than its bytes hold: DuckDB gives up; the entries held are read,
    // never bytes past the page, and every value refers to one of them.
    const int64 = (value: number) => Buffer.from(new BigInt64Array([BigInt(value)]).buffer);
    for (const [name, column] of [
      ['dictionary-short', { name: 's', type: 'BYTE_ARRAY', converted: 0, values: ['a', 'bb', 'ccc'].map(byteArray), dictionary: { declared: 4 } }],
      ['dictionary-short-int', { name: 's', type: 'INT64', values: [7, 8, 9].map(int64), dictionary: { declared: 9 } }],
    ] as const) {
      const short = path.join(folder.dir, `${name}.parquet`);
      await writeFile(short, handBuiltParquet({ columns: [column] }));
      await assert.rejects(duckdb.run(`SELECT * FROM read_parquet('${short}')`), /Out of buffer/);
      assert.deepEqual((await readAll(parquetFormat, await diskHandle(short))).rows, column.type === 'INT64' ? [[7], [8], [9]] : [['a'], ['bb'], ['ccc']]);
    }
  });

  it('reads version 1 and version 2 data pages of optional columns, plain and dictionary-encoded, as DuckDB does', async () => {
    const rows = 21;
    const every = (n: number, value: (i: number) => Buffer) => Array.from({ length: rows }, (_, i) => (i % n === 0 ? null : value(i)));
    const columns = [
      { name: 'id', type: 'INT64', values: Array.from({ length: rows }, (_, i) => Buffer.from(new BigInt64Array([BigInt(i)]).buffer)) },
      { name: 'name', type: 'BYTE_ARRAY', converted: 0, optional: true, values: every(3, (i) => byteArray(`name ${i} ✓`)) },
      { name: 'amount', type: 'DOUBLE', optional: true, values: every(4, (i) => Buffer.from(new Float64Array([i * 1.5]).buffer)) },
      { name: 'code', type: 'BYTE_ARRAY', converted: 0, optional: true, values: every(5, (i) => byteArray(`c${i}`)), dictionary: { declared: rows - 5 } },
    ] as const;
    const read: unknown[][][] = [];
    for (const dataPageV2 of [false, true]) {
      const file = path.join(folder.dir, `optional-v${dataPageV2 ? 2 : 1}.parquet`);
      await writeFile(file, handBuiltParquet({ columns, dataPageV2 }));
      const duck = await duckdb.runAndReadAll(`SELECT id::INTEGER, name, amount, code FROM read_parquet('${file}')`);
      const result = await readAll(parquetFormat, await diskHandle(file));
      assert.deepEqual(result.rows, duck.getRows(), `version ${dataPageV2 ? 2 : 1} pages`);
      read.push(result.rows);
    }
    assert.deepEqual(read[1], read[0]);
    assert.deepEqual(read[0]![4], [4, 'name 4 ✓', null, 'c4']);
    assert.deepEqual(read[0]![15], [15, null, 22.5, null]);
  });

  it('reads a column chunk whose sizes leave its dictionary page out, as DuckDB does', async () => {
    // parquet-mr before 1.2.9 wrote such sizes: read by them alone, the last page overruns the chunk.
    const int64 = (value: number) => Buffer.from(new BigInt64Array([BigInt(value)]).buffer);
    const overrun = path.join(folder.dir, 'dictionary-overrun.parquet');
    await writeFile(
      overrun,
      handBuiltParquet({
        columns: [
          { name: 's', type: 'BYTE_ARRAY', converted: 0, values: ['a', 'bb', 'ccc', 'dddd'].map(byteArray), dictionary: { declared: 4, sizeWithoutDictionary: true } },
          { name: 'n', type: 'INT64', values: [1, 2, 3, 4].map(int64), dictionary: { declared: 4, sizeWithoutDictionary: true } },
          { name: 'w', type: 'INT32', values: [5, 6, 7, 8].map((value) => Buffer.from(new Int32Array([value]).buffer)) },
        ],
      }),
    );
    const duck = await duckdb.runAndReadAll(`SELECT s, n::INTEGER, w FROM read_parquet('${overrun}')`);
    const result = await readAll(parquetFormat, await diskHandle(overrun));
    assert.deepEqual(result.rows, duck.getRows());
    assert.equal(result.rows.length, 4);
  });

  it('fails a dictionary-encoded value that refers past its dictionary, naming the file and column, as DuckDB fails it', async () => {
    const damaged = path.join(folder.dir, 'dictionary-damaged.parquet');
    // Three values, indices 0..2, into a dictionary whose page declares two entries.
    await writeFile(damaged, handBuiltParquet({ columns: [{ name: 'code', type: 'INT32', values: [1, 2, 3].map((value) => Buffer.from(new Int32Array([value]).buffer)), dictionary: { declared: 2 } }] }));
    await assert.rejects(duckdb.run(`SELECT * FROM read_parquet('${damaged}')`), /dictionary offset out of range/);
    await assert.rejects(readAll(parquetFormat, await diskHandle(damaged)), (error: unknown) => {
      assert.ok(error instanceof BadRecordError);
      assert.ok(error.message.startsWith(damaged), error.message);
      assert.match(error.message, /rows 1-3: .*column code: a value refers to entry 3 of a dictionary page that holds 2; the file is damaged .*write it again/);
      return true;
    });
  });

  it('fails clearly on a file that is not Parquet', async () => {
    await assert.rejects(parquetFormat.read(bytesHandle('orders.parquet', 'id,name\n1,a\n'), {}), (error: unknown) => {
      assert.ok(error instanceof BadRecordError);
      assert.match(error.message, /orders\.parquet: not a readable Parquet file/);
      return true;
    });
  });
});
