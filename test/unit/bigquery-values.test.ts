/**
 * BigQuery's wire values (tabledata.list and getQueryResults rows, `formatOptions.useInt64Timestamp`)
 * decoded into the raw values the convert stage takes: nested records and arrays as one JSON
 * text, nothing double-encoded, nothing rounded.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeValue } from '../../connectors/sources/bigquery/bigquery-source.js';
import type { BigQueryField } from '../../connectors/bigquery-common/bigquery-types.js';

const who: BigQueryField = {
  name: 'who',
  type: 'RECORD',
  mode: 'NULLABLE',
  fields: [
    { name: 'name', type: 'STRING' },
    { name: 'n', type: 'INTEGER' },
    { name: 'at', type: 'TIMESTAMP' },
    { name: 'tags', type: 'STRING', mode: 'REPEATED' },
    { name: 'home', type: 'RECORD', fields: [{ name: 'city', type: 'STRING' }, { name: 'since', type: 'DATE' }] },
    { name: 'price', type: 'NUMERIC' },
    { name: 'raw', type: 'BYTES' },
    { name: 'ok', type: 'BOOLEAN' },
    { name: 'ratio', type: 'FLOAT' },
    { name: 'doc', type: 'JSON' },
  ],
};

test('a record is one JSON object: nested records and arrays as JSON, timestamps as UTC text, integers and decimals exact', () => {
  const wire = {
    f: [
      { v: 'ann' },
      { v: '9007199254740993' },
      { v: '1704067200000001' },
      { v: [{ v: 'x' }, { v: 'y' }] },
      { v: { f: [{ v: 'Oslo' }, { v: '2020-02-29' }] } },
      { v: '12345678901234567890.123456789' },
      { v: 'AAE=' },
      { v: 'true' },
      { v: 'NaN' },
      { v: '{"k":[1,12345678901234567890]}' },
    ],
  };
  assert.equal(
    decodeValue(wire, who),
    '{"name":"ann","n":9007199254740993,"at":"2024-01-01T00:00:00.000001Z","tags":["x","y"],"home":{"city":"Oslo","since":"2020-02-29"},"price":12345678901234567890.123456789,"raw":"AAE=","ok":true,"ratio":"NaN","doc":{"k":[1,12345678901234567890]}}',
  );
  // NULL fields and empty arrays inside, a NULL record outside.
  const sparse = { f: [{ v: null }, { v: null }, { v: null }, { v: [] }, { v: null }, { v: null }, { v: null }, { v: null }, { v: '0.5' }, { v: null }] };
  assert.equal(decodeValue(sparse, who), '{"name":null,"n":null,"at":null,"tags":[],"home":null,"price":null,"raw":null,"ok":null,"ratio":0.5,"doc":null}');
  assert.equal(decodeValue(null, who), null);
});

test('a repeated record is an array of objects; repeated scalars keep their exact values', () => {
  const items: BigQueryField = { name: 'items', type: 'RECORD', mode: 'REPEATED', fields: [{ name: 'sku', type: 'STRING' }, { name: 'qty', type: 'INTEGER' }, { name: 'at', type: 'TIMESTAMP' }] };
  const wire = [{ v: { f: [{ v: 'a' }, { v: '2' }, { v: '1.704067200123456E9' }] } }, { v: { f: [{ v: 'b' }, { v: '-9223372036854775808' }, { v: null }] } }];
  assert.equal(decodeValue(wire, items), '[{"sku":"a","qty":2,"at":"2024-01-01T00:00:00.123456Z"},{"sku":"b","qty":-9223372036854775808,"at":null}]');
  assert.equal(decodeValue([], items), '[]');
  const stamps: BigQueryField = { name: 'stamps', type: 'TIMESTAMP', mode: 'REPEATED' };
  assert.equal(decodeValue([{ v: '0' }, { v: '-1' }], stamps), '["1970-01-01T00:00:00.000000Z","1969-12-31T23:59:59.999999Z"]');
  const ids: BigQueryField = { name: 'ids', type: 'INT64', mode: 'REPEATED' };
  assert.equal(decodeValue([{ v: '1' }, { v: '9007199254740993' }], ids), '[1,9007199254740993]');
});

test('top-level scalars keep the forms the convert stage reads', () => {
  assert.equal(decodeValue('9007199254740993', { name: 'n', type: 'INT64' }), 9007199254740993n);
  assert.equal(decodeValue('42', { name: 'n', type: 'INTEGER' }), 42);
  assert.equal(decodeValue('1704067200000001', { name: 't', type: 'TIMESTAMP' }), 1704067200000001n);
  assert.equal(decodeValue('2024-01-01T10:00:00.5', { name: 'd', type: 'DATETIME' }), '2024-01-01 10:00:00.5');
  assert.deepEqual(decodeValue('AAE=', { name: 'b', type: 'BYTES' }), new Uint8Array([0, 1]));
  assert.equal(decodeValue('false', { name: 'b', type: 'BOOL' }), false);
});
