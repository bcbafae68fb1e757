import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConversionFailure, converterFor, plainDecimal, safeJson } from '../../src/core/convert.js';
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
  assert.equal(converterFor('JSON')(''), null, 'an empty field is missing, as for every type but STRING');
  assert.match(reason(() => converterFor('JSON', { required: true })(''))!, /REQUIRED/);
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

test('INT64 reads numbers, bigints, booleans and integral text, and names what it refuses', () => {
  const int = converterFor('INT64');
  assert.equal(int(7), 7);
  assert.equal(int(-9007199254740991n), -9007199254740991);
  assert.equal(int(9007199254740991n), 9007199254740991, 'the largest safe integer is a number');
  assert.equal(int(-9223372036854775808n), -9223372036854775808n, 'the smallest INT64 fits');
  assert.match(reason(() => int(9223372036854775808n))!, /^9223372036854775808 is outside the INT64 range; load it as NUMERIC$/);
  assert.match(reason(() => int(-9223372036854775809n))!, /outside the INT64 range/);
  assert.equal(int(' 123456789012345 '), 123456789012345, '15 digits: read as a number');
  assert.equal(int('1234567890123456'), 1234567890123456, '16 digits: read exactly');
  assert.equal(int('-12.000'), -12, 'a zero fraction is still an integer');
  assert.equal(int('9007199254740993.0'), 9007199254740993n);
  assert.match(reason(() => int('9223372036854775808.0'))!, /outside the INT64 range/);
  assert.equal(int(true), 1);
  assert.equal(int(false), 0);
  assert.equal(reason(() => int(1.5)), '1.5 is not an integer');
  assert.equal(reason(() => int('12a')), '"12a" is not an integer');
  assert.equal(reason(() => int('x12.0')), '"x12.0" is not an integer');
  assert.equal(reason(() => int(`${'1'.repeat(56)}.5`)), `"${'1'.repeat(56)}.5" is not an integer`, 'a value shown in 60 characters is shown whole');
  assert.equal(reason(() => int({ n: 1 })), '{"n":1} is not an integer');
  assert.equal(reason(() => int('x'.repeat(80))), `"${'x'.repeat(56)}... is not an integer`, 'a long value is cut to 60 characters');
  // Under an inferred column a plus sign is kept as a code; under a declared one it is a sign.
  assert.equal(converterFor('INT64', { inferred: true })('42'), 42);
});

test('FLOAT64 reads numbers, exact bigints, decimal text and the spelled infinities', () => {
  const float = converterFor('FLOAT64');
  assert.equal(float(2.5), 2.5);
  assert.equal(float(9007199254740992n), 9007199254740992);
  assert.equal(reason(() => float(9007199254740993n)), '9007199254740993 cannot be a FLOAT64 without losing precision; load the column as NUMERIC or STRING');
  assert.equal(float(' -1.5e-3 '), -0.0015);
  assert.equal(float('.5'), 0.5);
  assert.equal(float('.25'), 0.25);
  assert.equal(float('1e-10'), 1e-10);
  assert.ok(Number.isNaN(float('NaN')));
  for (const text of ['inf', 'Infinity', '+inf', '+INFINITY']) assert.equal(float(text), Number.POSITIVE_INFINITY, text);
  for (const text of ['-inf', '-Infinity']) assert.equal(float(text), Number.NEGATIVE_INFINITY, text);
  assert.equal(reason(() => float('infinite')), '"infinite" is not a number');
  assert.equal(reason(() => float(true)), 'true is not a number');
});

test('decimals fit their type exactly or fail naming the type that would hold them', () => {
  const numeric = converterFor('NUMERIC');
  const big = converterFor('BIGNUMERIC');
  assert.equal(numeric('9'.repeat(29)), '9'.repeat(29));
  assert.equal(reason(() => numeric('1' + '0'.repeat(29))), `1${'0'.repeat(29)} does not fit NUMERIC (29 integer digits, 9 decimals) without rounding; the column needs BIGNUMERIC`);
  assert.equal(numeric('0.123456789000'), '0.123456789000', 'trailing zeros are no digits of scale');
  assert.equal(numeric('-0.000000001'), '-0.000000001');
  assert.equal(numeric(`-${'9'.repeat(29)}`), `-${'9'.repeat(29)}`, 'the sign is no digit');
  assert.match(reason(() => numeric('0.0000000001'))!, /does not fit NUMERIC/);
  assert.equal(big('9'.repeat(38)), '9'.repeat(38));
  assert.equal(reason(() => big('9'.repeat(39))), `${'9'.repeat(39)} does not fit BIGNUMERIC (38 integer digits, 38 decimals) without rounding; load it as STRING`);
  assert.match(reason(() => big(`0.${'1'.repeat(39)}`))!, /does not fit BIGNUMERIC/);
  assert.equal(numeric(' 12.50 '), '12.50');
  assert.equal(numeric(12.25), '12.25');
  assert.equal(numeric(1e21), '1000000000000000000000');
  assert.equal(numeric(12345678901234567890n), '12345678901234567890');
  assert.equal(numeric('NaN'), 'NaN');
  assert.equal(numeric(' nan '), 'NaN');
  assert.equal(reason(() => numeric(Number.POSITIVE_INFINITY)), 'Infinity has no NUMERIC representation');
  assert.equal(reason(() => numeric(Number.NaN)), 'NaN has no NUMERIC representation');
  assert.equal(reason(() => numeric('1,5')), '"1,5" is not a decimal number');
  assert.equal(reason(() => numeric(true)), 'true is not a decimal number');
  // Text from a column of the same decimal type is taken as it is; anything else is checked.
  assert.equal(converterFor('NUMERIC', { from: 'NUMERIC' })('1.50'), '1.50');
  assert.equal(converterFor('NUMERIC', { from: 'NUMERIC' })(2n), '2');
  assert.match(reason(() => converterFor('NUMERIC', { from: 'NUMERIC', inferred: true })('0.1234567891'))!, /does not fit NUMERIC/);
  assert.match(reason(() => converterFor('NUMERIC', { from: 'BIGNUMERIC' })('0.1234567891'))!, /does not fit NUMERIC/);
});

test('plainDecimal expands every exponent exactly', () => {
  assert.equal(plainDecimal(' +12.5 '), '12.5');
  assert.equal(plainDecimal('1.5e3'), '1500');
  assert.equal(plainDecimal('1.5E+1'), '15');
  assert.equal(plainDecimal('12.345e1'), '123.45');
  assert.equal(plainDecimal('-12e-2'), '-0.12');
  assert.equal(plainDecimal('5e-1'), '0.5');
  assert.equal(plainDecimal('0.50e1'), '5');
  assert.equal(plainDecimal('00.1e1'), '1');
  assert.equal(plainDecimal('1e0'), '1');
  assert.equal(plainDecimal('0012'), '0012', 'text without an exponent is kept as it is');
  assert.equal(plainDecimal('1.500e1'), '15');
  assert.equal(safeJson(undefined), 'null');
});

test('BOOL reads 0 and 1 of any number kind and the spelled words', () => {
  const bool = converterFor('BOOL');
  assert.equal(bool(true), true);
  assert.equal(bool(false), false);
  assert.equal(bool(1), true);
  assert.equal(bool(0), false);
  assert.equal(bool(1n), true);
  assert.equal(bool(0n), false);
  for (const text of ['true', ' T ', 'y', '1']) assert.equal(bool(text), true, text);
  for (const text of ['FALSE', 'f', 'No', 'n', '0']) assert.equal(bool(text), false, text);
  assert.equal(reason(() => bool(2)), '2 is not a boolean (true/false)');
  assert.equal(reason(() => bool(2n)), '2 is not a boolean (true/false)');
  assert.equal(reason(() => bool('2')), '"2" is not a boolean (true/false)');
  assert.equal(reason(() => bool(2n ** 64n)), '18446744073709551616 is not a boolean (true/false)');
});

test('STRING spells every kind of value as text', () => {
  const str = converterFor('STRING');
  assert.equal(str('  x '), '  x ');
  assert.equal(str(''), '', 'empty text is a value, not NULL');
  assert.equal(str(12n), '12');
  assert.equal(converterFor('STRING', { from: 'INT64' })(5n), '5');
  assert.equal(str(false), 'false');
  assert.equal(str(new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 6))), '2024-01-02T03:04:05.006Z');
  assert.equal(str(Uint8Array.from([1, 2, 3])), 'AQID');
  assert.equal(str(new Map([['a', 1n]])), '{"a":1}');
  assert.equal(str([Uint8Array.from([255]), 9007199254740993n]), '["/w==","9007199254740993"]');
});

test('TIMESTAMP takes bigints and Dates as they are and refuses an invalid Date', () => {
  const ts = converterFor('TIMESTAMP');
  assert.equal(ts(5n), 5n);
  assert.equal(ts(new Date(Date.UTC(2024, 0, 1, 0, 0, 0, 7))), 1704067200007000n);
  assert.equal(reason(() => ts(new Date(Number.NaN))), 'invalid date');
  assert.equal(ts(' 2024/03/01 '), parseTimestamp('2024-03-01T00:00:00Z'), 'a spelled date is read as UTC');
  assert.equal(reason(() => ts(5)), '5 is not a timestamp (expected ISO 8601, e.g. 2024-03-01T10:00:00Z)');
});

test('DATETIME keeps a source DATETIME as it is and reads instants as UTC wall clocks', () => {
  const datetime = converterFor('DATETIME');
  assert.equal(converterFor('DATETIME', { from: 'DATETIME' })('2024-03-01 10:00:00.123456'), '2024-03-01 10:00:00.123456');
  assert.equal(datetime('2024-03-01T10:00:00+02:00'), '2024-03-01 08:00:00.000000');
  assert.equal(converterFor('DATETIME', { from: 'DATETIME' })('2024-03-01T10:00:00+02:00'), '2024-03-01 08:00:00.000000', 'only the canonical shape is taken as it is');
  assert.equal(datetime(' 2024/03/01 '), '2024-03-01 00:00:00.000000');
  assert.equal(datetime(1704067200000001n), '2024-01-01 00:00:00.000001');
  assert.equal(datetime(new Date(Date.UTC(2024, 0, 1, 12))), '2024-01-01 12:00:00.000000');
  // Text a DATETIME source gives is taken as it is only when it has the canonical shape.
  const fromSource = converterFor('DATETIME', { from: 'DATETIME' });
  assert.equal(fromSource('2024-03-01T10:00:00.123456'), '2024-03-01 10:00:00.123456');
  assert.equal(fromSource('2024/03/01 10:00:00.123456'), '2024-03-01 10:00:00.123456');
  assert.equal(fromSource('2024-03-01 10:00:00 +02:00'), '2024-03-01 08:00:00.000000');
  assert.equal(fromSource('2024-03-01 10:00:00.5'), '2024-03-01 10:00:00.500000');
  assert.match(reason(() => fromSource('2024-03-01 10.00:00.123456'))!, /is not a date-time/);
  assert.match(reason(() => datetime('2024-02-30 10:00:00.000000'))!, /is not a date-time/, 'text of another source is checked whatever its shape');
  assert.equal(reason(() => converterFor('DATETIME', { from: 'INT64' })(5n)), '5 is not a date-time (expected YYYY-MM-DD HH:MM:SS)');
  assert.equal(reason(() => converterFor('DATETIME', { dateFormat: 'DD.MM.YYYY' })('soon')), '"soon" is not a date-time (expected YYYY-MM-DD HH:MM:SS or DD.MM.YYYY HH:MM:SS)');
});

test('DATE reads text, Dates and TIMESTAMP instants, and refuses a date with a time of day', () => {
  const date = converterFor('DATE');
  assert.equal(date(' 2024-02-29 '), '2024-02-29');
  assert.equal(date(new Date(Date.UTC(2024, 1, 29, 23, 59))), '2024-02-29');
  assert.equal(converterFor('DATE', { from: 'TIMESTAMP' })(1704153600000000n), '2024-01-02');
  assert.equal(reason(() => date(1704153600000000n)), '1704153600000000 is not a date (expected YYYY-MM-DD)');
  assert.equal(reason(() => date('2024/03/01 10:00')), '"2024/03/01 10:00" is not a date (expected YYYY-MM-DD)');
});

test('TIME, BYTES, JSON and GEOGRAPHY convert or explain', () => {
  assert.equal(converterFor('TIME')(' 23:59:59.5 '), '23:59:59.500000');
  assert.equal(reason(() => converterFor('TIME')('25:00')), '"25:00" is not a time of day (expected HH:MM:SS)');
  assert.equal(reason(() => converterFor('TIME')(3600)), '3600 is not a time of day (expected HH:MM:SS)');
  const bytes = converterFor('BYTES');
  const raw = Uint8Array.from([9]);
  assert.equal(bytes(raw), raw);
  assert.deepEqual(bytes(' AQI= '), Buffer.from([1, 2]));
  assert.deepEqual(bytes('AQ=='), Buffer.from([1]));
  assert.deepEqual(bytes('\\x0aFF'), Buffer.from([10, 255]));
  assert.equal(reason(() => bytes('AQ=')), '"AQ=" is not bytes (expected base64 text)');
  assert.equal(reason(() => bytes('AQI')), '"AQI" is not bytes (expected base64 text)', 'base64 comes in whole quads');
  assert.equal(reason(() => bytes('ab\\x0a')), '"ab\\\\x0a" is not bytes (expected base64 text)');
  assert.equal(reason(() => bytes('\\x0g')), '"\\\\x0g" is not bytes (expected base64 text)');
  assert.equal(reason(() => bytes(5)), '5 is not bytes (expected base64 text)');
  const json = converterFor('JSON');
  assert.equal(json(' [1, 2] '), ' [1, 2] ', 'valid JSON text is kept as written');
  assert.equal(json(7n), '7');
  assert.equal(converterFor('JSON', { from: 'JSON' })('{"a":1}'), '{"a":1}');
  assert.equal(converterFor('JSON', { from: 'JSON' })({ a: 1 }), '{"a":1}');
  assert.equal(converterFor('JSON', { from: 'JSON' })('{nope'), '{nope', 'a JSON column of the source is already valid');
  assert.match(reason(() => converterFor('JSON', { from: 'JSON', inferred: true })('{nope'))!, /not valid JSON text/);
  const geography = converterFor('GEOGRAPHY');
  for (const text of ['POINT (1 2)', ' multipolygon EMPTY', 'SRID=4326;LINESTRING (0 0, 1 1)', 'SRID=4326; POINT (1 2)', '{"type":"Point","coordinates":[1,2]}']) assert.equal(geography(text), text);
  assert.equal(geography({ type: 'Point', coordinates: [1, 2] }), '{"type":"Point","coordinates":[1,2]}');
  assert.equal(reason(() => geography('POINTS (1 2)')), '"POINTS (1 2)" is not a geography (expected well-known text such as POINT (1 2), or GeoJSON)');
  assert.match(reason(() => geography('see POINT (1 2)'))!, /is not a geography/);
  assert.match(reason(() => geography({ coordinates: [1, 2] }))!, /is not a geography/);
  assert.match(reason(() => geography(Uint8Array.from([1])))!, /is not a geography/);
});

test('missing values: NULL when nullable, the type default when filled, a failure when REQUIRED', () => {
  const defaults: [Parameters<typeof converterFor>[0], unknown][] = [
    ['INT64', 0],
    ['FLOAT64', 0],
    ['NUMERIC', '0'],
    ['BIGNUMERIC', '0'],
    ['BOOL', false],
    ['TIMESTAMP', 0n],
    ['DATETIME', '1970-01-01 00:00:00.000000'],
    ['DATE', '1970-01-01'],
    ['TIME', '00:00:00.000000'],
    ['BYTES', new Uint8Array()],
    ['JSON', 'null'],
    ['GEOGRAPHY', 'GEOMETRYCOLLECTION EMPTY'],
    ['STRING', ''],
  ];
  for (const [type, value] of defaults) {
    assert.equal(converterFor(type)(null), null, type);
    assert.equal(converterFor(type)(undefined), null, type);
    assert.deepEqual(converterFor(type, { required: true, fillRequired: true })(null), value, type);
    assert.equal(reason(() => converterFor(type, { required: true })(undefined)), 'is REQUIRED in the destination but has no value; set load.fill_required_defaults: true to fill defaults', type);
  }
  assert.equal(converterFor('INT64', { required: true, fillRequired: true })(''), 0, 'empty text is missing for typed columns');
  assert.match(reason(() => converterFor('DATE', { required: true })(''))!, /REQUIRED/);
  assert.equal(converterFor('STRING', { required: true })(''), '');
  assert.equal(converterFor('INT64', { fillRequired: true })(null), null, 'a nullable column stays NULL');
});

test('instants outside the destination range fail, naming the value and the range', () => {
  const bigQuery = { min: -62135596800000000n, max: 253402300799999999n, name: "BigQuery's range, 0001-01-01 to 9999-12-31" };
  const narrow = { min: 0n, max: 86_400_000_000n * 366n, name: 'the year 1970' };
  const ts = converterFor('TIMESTAMP', { range: narrow });
  assert.equal(ts('1970-01-01T00:00:00Z'), 0n);
  assert.equal(ts(narrow.max), narrow.max);
  assert.equal(reason(() => ts(-1n)), '1969-12-31T23:59:59.999999Z is outside the year 1970');
  assert.equal(reason(() => ts(narrow.max + 1n)), '1971-01-02T00:00:00.000001Z is outside the year 1970');
  const date = converterFor('DATE', { range: narrow, from: 'TIMESTAMP' });
  assert.equal(date('1970-06-01'), '1970-06-01');
  assert.equal(date('1970-01-01'), '1970-01-01', 'the range starts at its first instant');
  assert.equal(reason(() => date('1969-12-31')), '1969-12-31 is outside the year 1970');
  assert.equal(date('1971-01-02'), '1971-01-02', 'the range ends inside that day');
  assert.equal(reason(() => date('1971-01-03')), '1971-01-03 is outside the year 1970');
  const datetime = converterFor('DATETIME', { range: narrow });
  assert.equal(reason(() => datetime('1971-01-02 00:00:00.000001')), '1971-01-02 00:00:00.000001 is outside the year 1970');
  // Years 0001 to 9999 fit BigQuery without a check; a timestamp beyond gives a longer year.
  const bigDate = converterFor('DATE', { range: bigQuery, from: 'TIMESTAMP' });
  assert.equal(bigDate('9999-12-31'), '9999-12-31');
  assert.equal(bigDate('0001-01-01'), '0001-01-01');
  assert.equal(reason(() => bigDate('0000-12-31')), "0000-12-31 is outside BigQuery's range, 0001-01-01 to 9999-12-31");
  // Ranges that hold only one end of the years 0001 to 9999 check every value.
  const fromEpoch = converterFor('DATE', { range: { ...bigQuery, min: 0n, name: 'from 1970' } });
  assert.equal(reason(() => fromEpoch('1969-12-31')), '1969-12-31 is outside from 1970');
  const toEpoch = converterFor('DATETIME', { range: { ...bigQuery, max: 0n, name: 'up to 1970' } });
  assert.equal(reason(() => toEpoch('1971-01-01 00:00:00')), '1971-01-01 00:00:00.000000 is outside up to 1970');
  assert.equal(reason(() => bigDate(bigQuery.max + 1n)), "10000-01-01 is outside BigQuery's range, 0001-01-01 to 9999-12-31");
  assert.equal(reason(() => converterFor('TIMESTAMP', { range: bigQuery })(bigQuery.min - 1n)), "0000-12-31T23:59:59.999999Z is outside BigQuery's range, 0001-01-01 to 9999-12-31");
  assert.equal(converterFor('STRING', { range: narrow })('2024-01-01'), '2024-01-01', 'text columns have no range');
});

test('numbers with a decimal comma convert exactly, and a point among them fails naming the option', () => {
  const comma = { decimalComma: true };
  assert.equal(converterFor('FLOAT64', comma)('1,5'), 1.5);
  assert.equal(converterFor('FLOAT64', comma)(' -0,25 '), -0.25);
  assert.equal(converterFor('FLOAT64', comma)(2.5), 2.5, 'typed values are left alone');
  assert.equal(converterFor('NUMERIC', comma)('12345678901234567,25'), '12345678901234567.25');
  assert.equal(converterFor('BIGNUMERIC', comma)('-1,000000000000000000001'), '-1.000000000000000000001');
  assert.equal(converterFor('INT64', comma)('12'), 12);
  assert.equal(converterFor('INT64', comma)('3,0'), 3);
  assert.equal(converterFor('STRING', comma)('1,5'), '1,5', 'text stays as written');
  assert.equal(converterFor('FLOAT64', comma)(''), null);
  assert.equal(reason(() => converterFor('FLOAT64', comma)('1.5')), '"1.5" has a decimal point, where source.csv.decimal is ","');
  assert.equal(reason(() => converterFor('FLOAT64', comma)('abc')), '"abc" is not a number');
  assert.equal(reason(() => converterFor('INT64', comma)('1,5')), '"1,5" is not an integer');
  assert.match(reason(() => converterFor('NUMERIC', comma)('1,1234567891')), /^1,1234567891 does not fit NUMERIC/);
  assert.match(reason(() => converterFor('NUMERIC', comma)(' 1,1234567891 ')), /^1,1234567891 does not fit NUMERIC/);
  assert.equal(reason(() => converterFor('FLOAT64', comma)(' 1,5x ')), '" 1,5x " is not a number');
  assert.equal(reason(() => converterFor('FLOAT64')('1,5')), '"1,5" is not a number');
});
