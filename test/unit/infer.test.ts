import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inferTextType, inferValueType, isCodeNumeral, SchemaSampler, widenType } from '../../src/core/infer.js';
import type { ColumnType } from '../../src/core/types.js';

test('inferTextType recognises CSV cells', () => {
  assert.equal(inferTextType(''), undefined);
  assert.equal(inferTextType('42'), 'INT64');
  assert.equal(inferTextType('-9223372036854775808'), 'INT64');
  assert.equal(inferTextType('9223372036854775808'), 'NUMERIC');
  assert.equal(inferTextType('3.14'), 'FLOAT64');
  assert.equal(inferTextType('1e10'), 'FLOAT64');
  assert.equal(inferTextType('12345678901234567.25'), 'NUMERIC');
  assert.equal(inferTextType('TRUE'), 'BOOL');
  assert.equal(inferTextType('2024-02-30'), 'DATE');
  assert.equal(inferTextType('2024-13-01'), 'STRING');
  assert.equal(inferTextType('2024-03-01T10:00:00.123456Z'), 'TIMESTAMP');
  assert.equal(inferTextType('2024-03-01 10:00:00+02:00'), 'TIMESTAMP');
  assert.equal(inferTextType('hello'), 'STRING');
  assert.equal(inferTextType('007a'), 'STRING');
});

test('numerals a number would shorten are codes: leading zeros and plus signs', () => {
  for (const code of ['00123', '07030', '0042', '00', '-007', '00.5', '-01.25', '0042e3', '+1', '+4915123', '+0.5', '+.5']) {
    assert.equal(isCodeNumeral(code), true, code);
    assert.equal(inferTextType(code), 'STRING', code);
  }
  for (const number of ['0', '-0', '0.5', '-0.5', '.5', '10', '100', '1e5', '0e0', '0x1F', '+', '+a', 'N07']) assert.equal(isCodeNumeral(number), false, number);
  assert.equal(inferTextType('0'), 'INT64');
  assert.equal(inferTextType('0.05'), 'FLOAT64');
  const sampler = new SchemaSampler({ text: true });
  sampler.add(['zip', 'n'], ['10001', '1']);
  sampler.add(['zip', 'n'], ['02134', '2']);
  assert.deepEqual(
    sampler.columns().map((c) => [c.name, c.type]),
    [['zip', 'STRING'], ['n', 'INT64']],
    'one code in the sample makes the column STRING',
  );
});

test('dates spelled year first with slashes are DATE and DATETIME; day and month alone only with date_format', () => {
  assert.equal(inferTextType('2024/03/01'), 'DATE');
  assert.equal(inferTextType('2024/3/1'), 'DATE');
  assert.equal(inferTextType('2024/03/01 10:00:00'), 'DATETIME');
  assert.equal(inferTextType('2024/03/01 10:00'), 'DATETIME');
  assert.equal(inferTextType('2024/03/01 23:59:59.123456'), 'DATETIME');
  assert.equal(inferTextType('2024/02/30'), 'STRING');
  assert.equal(inferTextType('2024/03/01 24:00:00'), 'STRING');
  assert.equal(inferTextType('2024/03/01T10:00:00'), 'STRING');
  assert.equal(inferTextType('01/02/2024'), 'STRING', 'ambiguous without a date_format');
  assert.equal(inferTextType('01/02/2024', { dateFormat: 'DD/MM/YYYY' }), 'DATE');
  assert.equal(inferTextType('13/02/2024', { dateFormat: 'MM/DD/YYYY' }), 'STRING');
  assert.equal(inferTextType('31.12.2024 08:15', { dateFormat: 'DD.MM.YYYY' }), 'DATETIME');
  assert.equal(widenType('DATE', 'DATETIME'), 'DATETIME');
  assert.equal(widenType('DATETIME', 'TIMESTAMP'), 'STRING');
  const sampler = new SchemaSampler({ text: true, dateFormat: 'DD/MM/YYYY' });
  sampler.add(['d'], ['01/02/2024']);
  assert.deepEqual(sampler.columns(), [{ name: 'd', type: 'DATE', nullable: true, inferred: true, dateFormat: 'DD/MM/YYYY' }]);
});

test('inferValueType recognises JSON values without reading numbers into strings', () => {
  assert.equal(inferValueType('42'), 'STRING');
  assert.equal(inferValueType(42), 'INT64');
  assert.equal(inferValueType(4.2), 'FLOAT64');
  assert.equal(inferValueType(2n ** 70n), 'NUMERIC');
  assert.equal(inferValueType({ a: 1 }), 'STRING');
  assert.equal(inferValueType({ a: 1 }, 'json'), 'JSON');
  assert.equal(inferValueType('2024-03-01'), 'DATE');
  assert.equal(inferValueType(null), undefined);
});

test('widenType picks the narrowest type holding both', () => {
  assert.equal(widenType('INT64', 'FLOAT64'), 'FLOAT64');
  assert.equal(widenType('INT64', 'NUMERIC'), 'NUMERIC');
  assert.equal(widenType('DATE', 'TIMESTAMP'), 'TIMESTAMP');
  assert.equal(widenType('BOOL', 'INT64'), 'STRING');
  assert.equal(widenType(undefined, 'BOOL'), 'BOOL');
});

test('SchemaSampler takes the union of fields and widens int with float', () => {
  const sampler = new SchemaSampler({ text: true });
  sampler.add(['a', 'b'], ['1', 'x']);
  sampler.add(['a', 'b', 'c'], ['2.5', '', '2024-01-01']);
  assert.deepEqual(
    sampler.columns().map((c) => [c.name, c.type]),
    [['a', 'FLOAT64'], ['b', 'STRING'], ['c', 'DATE']],
  );
});

test('widenType is symmetric and keeps a known type against an unknown one', () => {
  const pairs: [ColumnType, ColumnType, ColumnType][] = [
    ['INT64', 'FLOAT64', 'FLOAT64'],
    ['INT64', 'NUMERIC', 'NUMERIC'],
    ['INT64', 'BIGNUMERIC', 'BIGNUMERIC'],
    ['NUMERIC', 'BIGNUMERIC', 'BIGNUMERIC'],
    ['FLOAT64', 'NUMERIC', 'NUMERIC'],
    ['FLOAT64', 'BIGNUMERIC', 'BIGNUMERIC'],
    ['DATE', 'TIMESTAMP', 'TIMESTAMP'],
    ['DATE', 'DATETIME', 'DATETIME'],
    ['FLOAT64', 'STRING', 'STRING'],
    ['BOOL', 'INT64', 'STRING'],
    ['TIMESTAMP', 'DATETIME', 'STRING'],
    ['FLOAT64', 'BOOL', 'STRING'],
    ['DATE', 'STRING', 'STRING'],
  ];
  for (const [a, b, wider] of pairs) {
    assert.equal(widenType(a, b), wider, `${a} with ${b}`);
    assert.equal(widenType(b, a), wider, `${b} with ${a}`);
  }
  assert.equal(widenType('FLOAT64', undefined), 'FLOAT64');
  assert.equal(widenType(undefined, undefined), undefined);
  assert.equal(widenType('JSON', 'JSON'), 'JSON');
});

test('numbers with a decimal comma are numbers only when the file says so, and never with a point', () => {
  const comma = { decimalComma: true };
  assert.equal(inferTextType('1,50'), 'STRING');
  assert.equal(inferTextType('1,50', comma), 'FLOAT64');
  assert.equal(inferTextType('-0,5', comma), 'FLOAT64');
  assert.equal(inferTextType(',5', comma), 'FLOAT64');
  assert.equal(inferTextType('1,5e3', comma), 'FLOAT64');
  assert.equal(inferTextType('12', comma), 'INT64');
  assert.equal(inferTextType('12345678901234567,25', comma), 'NUMERIC');
  assert.equal(inferTextType('007,5', comma), 'STRING', 'a code keeps its zeros');
  assert.equal(inferTextType('1.500', comma), 'STRING', 'a point may group thousands');
  assert.equal(inferTextType('1.234,56', comma), 'STRING');
  assert.equal(inferTextType('1,2,3', comma), 'STRING');
  assert.equal(inferTextType('31.12.2024', { ...comma, dateFormat: 'DD.MM.YYYY' }), 'DATE');
  assert.equal(inferTextType('2024-03-01 10:00:00.5', comma), 'TIMESTAMP');
  const sampler = new SchemaSampler({ text: true, decimalComma: true });
  sampler.add(['price'], ['1,50']);
  assert.deepEqual(sampler.columns(), [{ name: 'price', type: 'FLOAT64', nullable: true, inferred: true, decimalComma: true }]);
});
