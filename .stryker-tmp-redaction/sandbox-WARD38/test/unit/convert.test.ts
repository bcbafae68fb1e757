import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConversionFailure, converterFor, plainDecimal } from '../../src/core/convert.js';
import { formatTimestamp, parseTimestamp } from '../../src/core/time.js';

const reason = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ConversionFailure);
    return error.reason;
  }
  assert.fail('expected a conversion failure');
};

test('INT64 stays exact beyond 2^53 and refuses fractions', () => {
  const int = converterFor('INT64');
  assert.equal(int('42'), 42);
  assert.equal(int('9007199254740993'), 9007199254740993n);
  assert.equal(int(9007199254740993n), 9007199254740993n);
  assert.match(reason(() => int('4.5'))!, /not an integer/);
  assert.match(reason(() => int('9223372036854775808'))!, /outside the INT64 range/);
  assert.equal(int(''), null);
});

test('NUMERIC keeps exact decimal text and refuses silent rounding', () => {
  const numeric = converterFor('NUMERIC');
  assert.equal(numeric('12345678901234567890.123456789'), '12345678901234567890.123456789');
  assert.equal(numeric('1.5e3'), '1500');
  assert.equal(numeric('-0.10'), '-0.10');
  // A leading zero makes a numeral a code: as a number it would lose characters. A plus sign is
  // a sign under a decimal type, as DuckDB's and BigQuery's casts read it, and under a declared
  // INT64; only an inferred integer column takes a plus-signed integer for a code (`+4915123`).
  assert.equal(numeric('+0.10'), '0.10');
  assert.equal(converterFor('FLOAT64', { inferred: true })('+0.10'), 0.1);
  assert.equal(converterFor('FLOAT64', { inferred: true })('+1.5e3'), 1500);
  assert.equal(converterFor('INT64')('+42'), 42);
  assert.match(reason(() => converterFor('INT64', { inferred: true })('+4915123'))!, /"\+4915123" is a code, not a number: as a number it would lose its plus sign/);
  assert.match(reason(() => converterFor('INT64')('007'))!, /"007" is a code, not a number: as a number it would lose its leading zeros/);
  assert.match(reason(() => numeric('+007.5'))!, /is a code/);
  assert.match(reason(() => converterFor('FLOAT64')(' 00.5'))!, /is a code/);
  assert.match(reason(() => numeric('0.1234567891'))!, /BIGNUMERIC/);
  assert.equal(converterFor('BIGNUMERIC')('0.12345678912345678912'), '0.12345678912345678912');
  assert.equal(plainDecimal('-1.25e-3'), '-0.00125');
});

test('dates convert from every accepted spelling into canonical text', () => {
  const dayFirst = { dateFormat: 'DD/MM/YYYY' };
  assert.equal(converterFor('DATE')('2024/03/01'), '2024-03-01');
  assert.equal(converterFor('DATE', dayFirst)('1/2/2024'), '2024-02-01');
  assert.match(reason(() => converterFor('DATE')('01/02/2024'))!, /not a date \(expected YYYY-MM-DD\)/);
  assert.match(reason(() => converterFor('DATE', dayFirst)('31/02/2024'))!, /not a date \(expected YYYY-MM-DD or DD\/MM\/YYYY\)/);
  assert.equal(converterFor('DATETIME')('2024/03/01 10:00:00.5'), '2024-03-01 10:00:00.500000');
  assert.equal(converterFor('DATETIME', dayFirst)('01/02/2024'), '2024-02-01 00:00:00.000000');
  assert.equal(converterFor('TIMESTAMP', dayFirst)('01/02/2024 10:00'), parseTimestamp('2024-02-01T10:00:00Z'));
});

test('TIMESTAMP keeps microseconds and normalizes zones to UTC', () => {
  const ts = converterFor('TIMESTAMP');
  assert.equal(ts('2024-03-01T10:00:00.123456789+02:00'), parseTimestamp('2024-03-01T08:00:00.123456Z'));
  assert.equal(formatTimestamp(ts('2024-03-01 10:00:00.000001') as bigint), '2024-03-01T10:00:00.000001Z');
  assert.equal(formatTimestamp(ts('1969-12-31T23:59:59.999999Z') as bigint), '1969-12-31T23:59:59.999999Z');
  assert.match(reason(() => ts('yesterday'))!, /not a timestamp/);
  assert.match(reason(() => ts('2024-02-30T00:00:00Z'))!, /not a timestamp/);
});

test('STRING turns nested values into JSON text and timestamps into ISO text', () => {
  const str = converterFor('STRING');
  assert.equal(str({ a: [1, 2], b: 2n ** 64n }), '{"a":[1,2],"b":"18446744073709551616"}');
  assert.equal(str(12), '12');
  assert.equal(converterFor('STRING', { from: 'TIMESTAMP' })(0n), '1970-01-01T00:00:00.000000Z');
});

test('REQUIRED columns fail on missing values unless defaults are filled', () => {
  assert.match(reason(() => converterFor('INT64', { required: true })(null))!, /REQUIRED/);
  assert.equal(converterFor('INT64', { required: true, fillRequired: true })(null), 0);
  assert.equal(converterFor('STRING', { required: true, fillRequired: true })(undefined), '');
});

test('BOOL, DATE, TIME, JSON and BYTES convert or explain', () => {
  assert.equal(converterFor('BOOL')('Yes'), true);
  assert.match(reason(() => converterFor('BOOL')('maybe'))!, /not a boolean/);
  assert.equal(converterFor('DATE')('2024-02-29'), '2024-02-29');
  assert.match(reason(() => converterFor('DATE')('2023-02-29'))!, /not a date/);
  assert.equal(converterFor('TIME')('7:05'.padStart(5, '0')), '07:05:00.000000');
  assert.equal(converterFor('JSON')({ x: 1 }), '{"x":1}');
  assert.match(reason(() => converterFor('JSON')('{nope'))!, /not valid JSON/);
  assert.deepEqual(converterFor('BYTES')('AQID'), Buffer.from([1, 2, 3]));
});

test('the fast ISO path and the general parser agree', () => {
  const samples = ['2024-02-29T23:59:59.999999Z', '1900-03-01 00:00:00', '2000-01-01T00:00:00.5Z', '1969-07-20T20:17:40.123Z', '2400-12-31T12:00:00.000001'];
  for (const text of samples) {
    const micros = parseTimestamp(text)!;
    const viaOffset = parseTimestamp(`${text.replace(/Z$/, '')}+00:00`)!;
    assert.equal(micros, viaOffset, text);
    assert.equal(formatTimestamp(micros).slice(0, 19), text.replace(' ', 'T').slice(0, 19), text);
  }
  assert.equal(parseTimestamp('2023-02-29T00:00:00Z'), undefined);
  assert.equal(parseTimestamp('2024-01-01T24:00:00Z'), undefined);
  assert.equal(parseTimestamp('2024-01-01T10:00:00.1234567891Z'), undefined);
});
