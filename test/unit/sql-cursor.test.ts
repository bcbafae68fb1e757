/** The SQL cursor's edges: every type's values, bounds and ranges, and the saved state's checks. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  boundText,
  compareCursor,
  cursorLine,
  cursorText,
  cursorValue,
  IdentitySet,
  readState,
  rowIdentity,
  splitRange,
  splittable,
  subtractLookback,
} from '../../connectors/sources/sql/sql-cursor.js';
import { ConfigError } from '../../src/core/errors.js';

describe('cursor values of every type', () => {
  it('keeps integers exact: numbers while safe, bigints past 2^53 either way', () => {
    assert.equal(cursorValue('9007199254740991', 'INT64'), 9007199254740991);
    assert.equal(cursorValue('-9007199254740991', 'INT64'), -9007199254740991);
    assert.equal(cursorValue('9007199254740992', 'INT64'), 9007199254740992n);
    assert.equal(cursorValue('-9007199254740992', 'INT64'), -9007199254740992n);
    assert.equal(cursorValue('0.5', 'FLOAT64'), 0.5);
    assert.equal(cursorValue('12.50', 'NUMERIC'), '12.50');
    assert.equal(cursorValue('2024-01-01', 'DATE'), '2024-01-01');
    assert.equal(cursorText(42, 'INT64'), '42');
    assert.equal(cursorText('2024-01-01', 'TIMESTAMP'), '2024-01-01');
    assert.equal(cursorText(9007199254740993n, 'INT64'), '9007199254740993', 'a wide integer is no timestamp');
  });

  it('places values of splittable types on a line, and no others', () => {
    assert.equal(cursorLine('2024-01-01', 'DATE'), 1704067200000000n);
    assert.equal(cursorLine('2024-01-01 00:00:01', 'DATETIME'), 1704067201000000n);
    assert.equal(cursorLine('-5', 'INT64'), -5n);
    assert.equal(cursorLine('1.5', 'NUMERIC'), 1.5);
    assert.equal(cursorLine('2.5', 'BIGNUMERIC'), 2.5);
    assert.equal(cursorLine('NaN', 'FLOAT64'), undefined);
    assert.equal(cursorLine('Infinity', 'FLOAT64'), undefined);
    assert.equal(cursorLine('x', 'STRING'), undefined);
    for (const type of ['TIMESTAMP', 'DATETIME', 'DATE', 'INT64', 'FLOAT64', 'NUMERIC', 'BIGNUMERIC'] as const) assert.equal(splittable(type), true, type);
    for (const type of ['STRING', 'TIME', 'BOOL', 'BYTES', 'JSON'] as const) assert.equal(splittable(type), false, type);
  });

  it('normalizes bounds of every type and names the setting when one is wrong', () => {
    assert.equal(boundText(' -12 ', 'INT64', 'load.start'), '-12');
    assert.equal(boundText('+7', 'INT64', 'load.start'), '7');
    assert.equal(boundText('1e-3', 'FLOAT64', 'load.start'), '0.001');
    assert.equal(boundText('-1.25e2', 'BIGNUMERIC', 'load.start'), '-125');
    assert.equal(boundText(' 12.50 ', 'NUMERIC', 'load.start'), '12.50');
    assert.equal(boundText('.25e2', 'NUMERIC', 'load.start'), '25');
    assert.equal(boundText('1e-10', 'FLOAT64', 'load.start'), '0.0000000001');
    assert.equal(boundText('08:00', 'TIME', 'load.start'), '08:00:00.000000');
    assert.equal(boundText('abc', 'STRING', 'load.start'), 'abc');
    assert.equal(boundText(new Date(Date.UTC(2024, 1, 29)), 'STRING', 'load.start'), '2024-02-29T00:00:00.000Z');
    assert.equal(boundText(new Date(Date.UTC(2024, 1, 29, 13)), 'DATE', 'load.start'), '2024-02-29');
    assert.equal(boundText(new Date(Date.UTC(2024, 1, 29, 13)), 'DATETIME', 'load.start'), '2024-02-29 13:00:00.000000');
    const refused = (input: string | number, type: Parameters<typeof boundText>[1], fix: RegExp) =>
      assert.throws(
        () => boundText(input, type, '--until'),
        (error: unknown) =>
          error instanceof ConfigError && error.message.includes(`--until ${JSON.stringify(String(input))} is not a valid ${type} for the cursor`) && fix.test(error.describe()),
      );
    refused('12x', 'INT64', /give an integer/);
    refused('1.2.3', 'NUMERIC', /give a number/);
    refused('e5', 'FLOAT64', /give a number/);
    refused('25:99', 'TIME', /give a time of day/);
    refused('not a day', 'DATE', /give an ISO 8601 date or timestamp/);
    refused(5, 'TIMESTAMP', /give an ISO 8601 date or timestamp/);
  });

  it('orders values by their type, and text by code points', () => {
    assert.equal(compareCursor('-10', '-9', 'INT64'), -1);
    assert.equal(compareCursor('10', '9', 'FLOAT64'), 1);
    assert.equal(compareCursor('9007199254740993', '9007199254740992', 'INT64'), 1);
    assert.equal(compareCursor('2024-01-01T00:00:00.000001Z', '2024-01-01T00:00:00Z', 'TIMESTAMP'), 1);
    assert.equal(compareCursor('B', 'a', 'STRING'), -1);
    assert.equal(compareCursor('b', 'a', 'STRING'), 1);
    assert.equal(compareCursor('NaN', '1', 'FLOAT64'), 1, 'values off the line compare as text');
    assert.equal(compareCursor('5', '5.0', 'FLOAT64'), 0, 'equal values on the line are equal, however spelled');
    assert.equal(compareCursor('2024-01-01', '2024-01-01 00:00:00', 'DATETIME'), 0);
  });

  it('moves DATETIME cursors back by the lookback too', () => {
    assert.equal(subtractLookback('2024-01-01 00:30:00.000000', 'DATETIME', 3_600_000, 'at'), '2023-12-31 23:30:00.000000');
    assert.throws(() => subtractLookback('x', 'TIMESTAMP', 1, 'at'), /cursor value x is not a TIMESTAMP/);
    assert.throws(() => subtractLookback('x', 'STRING', 1, 'code'), (error: unknown) => error instanceof ConfigError && /remove load.lookback/.test(error.describe()));
  });
});

describe('split ranges', () => {
  it('splits numbers, decimals, datetimes and wide integers exactly', () => {
    assert.deepEqual(splitRange('0', '1', 'FLOAT64', 4), ['0.25', '0.5', '0.75']);
    assert.deepEqual(splitRange('-1', '1', 'NUMERIC', 2), ['0']);
    assert.deepEqual(splitRange('2024-01-01 00:00:00', '2024-01-01 00:00:04', 'DATETIME', 4), [
      '2024-01-01 00:00:01.000000',
      '2024-01-01 00:00:02.000000',
      '2024-01-01 00:00:03.000000',
    ]);
    assert.deepEqual(splitRange('9223372036854775800', '9223372036854775807', 'INT64', 2), ['9223372036854775803']);
    assert.deepEqual(splitRange('-10', '10', 'INT64', 4), ['-5', '0', '5']);
  });

  it('returns no bounds for one part, a reversed or empty range, or values off the line', () => {
    assert.deepEqual(splitRange('0', '100', 'INT64', 1), []);
    assert.deepEqual(splitRange('0', '100', 'INT64', 0), []);
    assert.deepEqual(splitRange('100', '0', 'INT64', 4), []);
    assert.deepEqual(splitRange('0', 'NaN', 'FLOAT64', 4), []);
    assert.deepEqual(splitRange('0', '1', 'INT64', 4), [], 'no integer strictly between 0 and 1');
    assert.deepEqual(splitRange('0', '3', 'INT64', 6), ['1', '2'], 'bounds never repeat');
    assert.deepEqual(splitRange('A', 'Z', 'STRING', 2), [], 'text has no line to split');
    // 1e16 + 1.5 rounds to the high end itself: it is no boundary, the last range ends there.
    assert.deepEqual(splitRange('10000000000000000', '10000000000000002', 'FLOAT64', 4), []);
  });
});

describe('saved cursor state', () => {
  it('reads a state with no value yet, and refuses shapes it did not write', () => {
    assert.deepEqual(readState({ column: 'at', type: 'DATE', seen: [] }, 'at', 'DATE', 'j'), { column: 'at', type: 'DATE', value: null, seen: [] });
    assert.equal(readState(null, 'at', 'DATE', 'j'), undefined);
    for (const raw of ['text', { column: 1, seen: [] }, { column: 'at', type: 'DATE' }, { column: 'at', type: 'DATE', seen: 'x' }]) {
      assert.throws(
        () => readState(raw, 'at', 'DATE', 'j'),
        (error: unknown) => error instanceof ConfigError && /not one this source wrote/.test(error.message) && /run `b2betl state reset j` to start over/.test(error.describe()),
        JSON.stringify(raw),
      );
    }
    assert.throws(
      () => readState({ column: 'at', type: 'TIMESTAMP', value: null, seen: [] }, 'at', 'DATE', 'j'),
      (error: unknown) => error instanceof ConfigError && /on column `at` \(TIMESTAMP\) but load.cursor is `at` \(DATE\)/.test(error.message),
    );
  });

  it('tells rows apart by key, and by content when there is none', () => {
    assert.equal(rowIdentity([1, 'a'], [1]), '["a"]');
    assert.match(rowIdentity([1, 'a'], []), /^#[\w+/]{16}$/);
    assert.notEqual(rowIdentity([1, 'a'], []), rowIdentity(['1', 'a'], []));
    const set = new IdentitySet(['x', 'y', 'x']);
    assert.equal(set.take('y'), true);
    assert.equal(set.take('y'), false);
    assert.equal(set.take('x'), true);
    assert.equal(set.take('x'), true);
    assert.equal(set.take('x'), false);
    assert.equal(new IdentitySet().take('x'), false);
  });
});
