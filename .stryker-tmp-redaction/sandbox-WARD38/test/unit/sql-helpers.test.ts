/** Pure helpers of the SQL sources: cursor values and ranges, table names, secrets, COPY text. */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { copyBinaryRows } from '../../connectors/sources/postgres/postgres-copy.js';
import { decodeTimestamp, decodeTimestamptz, pgColumn } from '../../connectors/sources/postgres/postgres-types.js';
import {
  boundText,
  compareCursor,
  cursorText,
  cursorValue,
  IdentitySet,
  readState,
  rowIdentity,
  splitRange,
  subtractLookback,
} from '../../connectors/sources/sql/sql-cursor.js';
import { redactFor, resolveEndpoint } from '../../connectors/sources/sql/sql-endpoint.js';
import { fromClause, parseTableName, relationOf, selectSql } from '../../connectors/sources/sql/sql-query.js';
import { decimalType } from '../../connectors/sources/sql/sql-types.js';
import { ConfigError } from '../../src/core/errors.js';

describe('cursor values', () => {
  it('round-trips state text and canonical values by type', () => {
    assert.equal(cursorText(1704067200123456n, 'TIMESTAMP'), '2024-01-01T00:00:00.123456Z');
    assert.equal(cursorValue('2024-01-01T00:00:00.123456Z', 'TIMESTAMP'), 1704067200123456n);
    assert.equal(cursorValue('9007199254740993', 'INT64'), 9007199254740993n);
    assert.equal(cursorValue('42', 'INT64'), 42);
    assert.equal(cursorValue('2024-01-01 10:00:00.000000', 'DATETIME'), '2024-01-01 10:00:00.000000');
  });

  it('normalizes load.start and --since by the cursor type, and rejects nonsense', () => {
    assert.equal(boundText('2024-01-01T02:00:00+02:00', 'TIMESTAMP', 'load.start'), '2024-01-01T00:00:00.000000Z');
    assert.equal(boundText(new Date(Date.UTC(2024, 0, 1)), 'TIMESTAMP', 'load.start'), '2024-01-01T00:00:00.000000Z');
    assert.equal(boundText('2024-01-01', 'DATETIME', 'load.start'), '2024-01-01 00:00:00.000000');
    assert.equal(boundText('2024-01-01T23:00:00Z', 'DATE', 'load.start'), '2024-01-01');
    assert.equal(boundText(100, 'INT64', 'load.start'), '100');
    assert.equal(boundText('1e3', 'NUMERIC', 'load.start'), '1000');
    assert.throws(() => boundText('yesterday', 'TIMESTAMP', '--since'), (e: unknown) => e instanceof ConfigError && /--since "yesterday"/.test(e.message));
    assert.throws(() => boundText('1.5', 'INT64', 'load.start'), ConfigError);
  });

  it('orders values by type, not as text', () => {
    assert.equal(compareCursor('9', '10', 'INT64'), -1);
    assert.equal(compareCursor('2024-01-02', '2024-01-01', 'DATE'), 1);
    assert.equal(compareCursor('b', 'b', 'STRING'), 0);
  });

  it('moves a time cursor back by the lookback, and refuses other types', () => {
    assert.equal(subtractLookback('2024-01-01T06:00:00.000000Z', 'TIMESTAMP', 6 * 3_600_000, 'at'), '2024-01-01T00:00:00.000000Z');
    assert.equal(subtractLookback('2024-01-01', 'DATE', 3_600_000, 'd'), '2023-12-31');
    assert.throws(() => subtractLookback('5', 'INT64', 1000, 'id'), /lookback needs a date or time cursor, but `id` is INT64/);
  });

  it('splits ranges into strictly increasing interior bounds', () => {
    assert.deepEqual(splitRange('0', '100', 'INT64', 4), ['25', '50', '75']);
    assert.deepEqual(splitRange('0', '2', 'INT64', 4), ['1']);
    assert.deepEqual(splitRange('5', '5', 'INT64', 4), []);
    assert.deepEqual(splitRange('a', 'z', 'STRING', 4), []);
    assert.deepEqual(splitRange('2024-01-01T00:00:00Z', '2024-01-01T04:00:00Z', 'TIMESTAMP', 2), ['2024-01-01T02:00:00.000000Z']);
    assert.deepEqual(splitRange('2024-01-01', '2024-01-05', 'DATE', 2), ['2024-01-03']);
  });
});

describe('cursor state', () => {
  it('accepts its own state and explains a state for another column', () => {
    const state = { column: 'at', type: 'TIMESTAMP', value: '2024-01-01T00:00:00.000000Z', seen: ['[1]'] };
    assert.deepEqual(readState(state, 'at', 'TIMESTAMP', 'orders'), state);
    assert.equal(readState(undefined, 'at', 'TIMESTAMP', 'orders'), undefined);
    assert.throws(() => readState(state, 'updated_at', 'TIMESTAMP', 'orders'), (e: unknown) => e instanceof ConfigError && /b2betl state reset orders/.test(e.describe()));
    assert.throws(() => readState({ last: 5 }, 'at', 'TIMESTAMP', 'orders'), ConfigError);
  });

  it('identifies rows by key, or by content as a multiset', () => {
    assert.equal(rowIdentity([7, 'x', 9007199254740993n], [0, 2]), '[7,"9007199254740993"]');
    const a = rowIdentity([1, 'same'], []);
    assert.equal(a, rowIdentity([1, 'same'], []));
    assert.notEqual(a, rowIdentity([1, 'other'], []));
    const set = new IdentitySet([a, a]);
    assert.equal(set.take(a), true);
    assert.equal(set.take(a), true);
    assert.equal(set.take(a), false);
  });
});

describe('SQL text', () => {
  it('parses schema-qualified and quoted table names', () => {
    assert.deepEqual(parseTableName('public.orders'), { schema: 'public', name: 'orders' });
    assert.deepEqual(parseTableName('orders'), { name: 'orders' });
    assert.deepEqual(parseTableName('"My Schema"."odd.name"'), { schema: 'My Schema', name: 'odd.name' });
    assert.deepEqual(parseTableName('`shop`.`a``b`'), { schema: 'shop', name: 'a`b' });
    assert.throws(() => parseTableName('a.b.c'), ConfigError);
  });

  it('wraps a custom query, dropping a trailing semicolon', () => {
    const relation = relationOf({ query: 'SELECT * FROM t;  ' }, 'orders');
    const quote = (s: string) => `"${s}"`;
    assert.equal(selectSql(['q."id"'], fromClause(relation, { quote }), ['q."at" >= \'x\'']), 'SELECT q."id" FROM (SELECT * FROM t\n) AS q WHERE (q."at" >= \'x\')');
    assert.throws(() => relationOf({}, 'orders'), /needs source.table or source.query/);
  });

  it('maps decimal precision to NUMERIC, BIGNUMERIC or STRING', () => {
    assert.equal(decimalType(12, 2), 'NUMERIC');
    assert.equal(decimalType(38, 9), 'NUMERIC');
    assert.equal(decimalType(38, 10), 'BIGNUMERIC');
    assert.equal(decimalType(65, 30), 'BIGNUMERIC');
    assert.equal(decimalType(40, 0), 'STRING');
    assert.equal(decimalType(undefined, undefined), 'BIGNUMERIC');
  });
});

describe('endpoints', () => {
  it('resolves a URL and scrubs its password from any message', () => {
    const endpoint = resolveEndpoint('shop', 'PostgreSQL', { url: 'postgres://etl:p%40ss@db.internal:6543/shop' }, { port: 5432, user: 'me' });
    assert.deepEqual([endpoint.host, endpoint.port, endpoint.user, endpoint.database], ['db.internal', 6543, 'etl', 'shop']);
    const text = redactFor('failed for postgres://etl:p%40ss@db.internal:6543/shop with password p@ss', endpoint);
    assert.equal(text, 'failed for postgres://etl:***@db.internal:6543/shop with password ***');
    assert.throws(() => resolveEndpoint('shop', 'MySQL', { url: 'not a url:secret@' }, { port: 3306, user: 'root' }), (e: unknown) => !String((e as Error).message).includes('secret'));
  });
});

describe('PostgreSQL text decoding', () => {
  it('decodes binary COPY rows split across chunks, with NULLs', async () => {
    const field = (bytes: Buffer | null) => {
      const size = Buffer.alloc(4);
      size.writeInt32BE(bytes ? bytes.length : -1);
      return bytes ? Buffer.concat([size, bytes]) : size;
    };
    const int8 = (value: bigint) => {
      const b = Buffer.alloc(8);
      b.writeBigInt64BE(value);
      return b;
    };
    const row = (...fields: (Buffer | null)[]) => {
      const count = Buffer.alloc(2);
      count.writeInt16BE(fields.length);
      return Buffer.concat([count, ...fields.map(field)]);
    };
    const header = Buffer.concat([Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1'), Buffer.alloc(8)]);
    const trailer = Buffer.from([0xff, 0xff]);
    // 2024-01-01 00:00:00.000001 UTC is 757382400000001 µs after 2000-01-01.
    const data = Buffer.concat([
      header,
      row(int8(9223372036854775807n), Buffer.from('tab\there ü😀'), int8(757382400000001n)),
      row(int8(-5n), null, int8(-946684800000000n - 1n)),
      trailer,
    ]);
    const column = (name: string, type: string) =>
      pgColumn(name, { name: type, kind: 'b', category: 'N', typmod: -1 }, { sourceType: type, nullable: true, ref: `q."${name}"`, nested: 'string' });
    const decoders = [column('a', 'int8'), column('b', 'text'), column('c', 'timestamptz')].map((c) => c.binary);
    for (const cuts of [[1, 20, 40], [data.length - 1], [25, 26, 27, 28, 29, 30]]) {
      const chunks = [0, ...cuts, data.length].slice(1).map((end, i, all) => data.subarray(i === 0 ? 0 : all[i - 1], end));
      const rows: unknown[][] = [];
      for await (const part of copyBinaryRows(Readable.from(chunks), decoders)) rows.push(...part);
      assert.deepEqual(rows, [
        [9223372036854775807n, 'tab\there ü😀', 1704067200000001n],
        [-5, null, -1n],
      ]);
    }
    await assert.rejects(async () => {
      for await (const part of copyBinaryRows(Readable.from([data.subarray(0, 40)]), decoders)) void part;
    }, /ended inside a row/);
  });

  it('selects as text what has no cheap exact binary form', () => {
    const select = (type: string) =>
      pgColumn('c', { name: type, kind: 'b', category: 'N', typmod: -1 }, { sourceType: type, nullable: true, ref: 'q."c"', nested: 'string' }).select;
    assert.equal(select('int8'), 'q."c"');
    assert.equal(select('timestamptz'), 'q."c"');
    assert.equal(select('numeric'), 'q."c"::text');
    assert.equal(select('float4'), 'q."c"::text');
    assert.equal(select('money'), 'q."c"::numeric::text');
    assert.equal(select('interval'), 'q."c"::text');
  });

  it('decodes timestamps to exact microseconds and wall clocks', () => {
    assert.equal(decodeTimestamptz('2024-01-01 00:00:00.000001+00'), 1704067200000001n);
    assert.equal(decodeTimestamptz('1969-12-31 23:59:59.999999+00'), -1n);
    assert.equal(decodeTimestamptz('2500-01-01 00:00:00.123456+00'), 16725225600123456n);
    assert.equal(decodeTimestamptz('0044-03-15 12:00:00+00'), -60772248000000000n);
    assert.equal(decodeTimestamptz('infinity'), 'infinity');
    assert.equal(decodeTimestamp('2024-01-01 10:00:00'), '2024-01-01 10:00:00.000000');
    assert.equal(decodeTimestamp('2024-01-01 10:00:00.5'), '2024-01-01 10:00:00.500000');
  });
});
