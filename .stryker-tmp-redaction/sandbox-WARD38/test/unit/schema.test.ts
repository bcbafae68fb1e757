/** Source columns against an existing table: the compatibility matrix, widening, new and missing columns, mismatches. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { COMPATIBLE, describeMismatches, isCompatible, isWidening, resolveSchema } from '../../src/core/schema.js';
import type { Column, ColumnType, SourceColumn } from '../../src/core/types.js';

const TYPES = Object.keys(COMPATIBLE) as ColumnType[];
const source = (name: string, type: ColumnType): SourceColumn => ({ name, type, nullable: true });
const existing = (name: string, type: ColumnType, nullable = true, from = name): Column => ({ name, source: from, type, nullable });

describe('type rules', () => {
  it('widens only integers to wider numbers, and NUMERIC to BIGNUMERIC', () => {
    const widenings = TYPES.flatMap((from) => TYPES.filter((to) => isWidening(from, to)).map((to) => `${from}→${to}`));
    assert.deepEqual(widenings, ['INT64→FLOAT64', 'INT64→NUMERIC', 'INT64→BIGNUMERIC', 'NUMERIC→BIGNUMERIC']);
  });

  it('loads each type into itself, and never a wider value into a narrower column', () => {
    for (const type of TYPES) assert.ok(isCompatible(type, type), type);
    assert.ok(isCompatible('DATE', 'TIMESTAMP'));
    assert.ok(isCompatible('INT64', 'STRING'));
    assert.ok(!isCompatible('FLOAT64', 'INT64'));
    assert.ok(!isCompatible('STRING', 'JSON'));
    assert.ok(!isCompatible('BYTES', 'STRING'));
    assert.ok(!isCompatible('TIMESTAMP', 'DATE'));
  });
});

describe('resolveSchema', () => {
  it('a new table: every column added as it comes, nothing reported as added to a table', () => {
    const result = resolveSchema([source('Order ID', 'INT64'), source('note', 'STRING')], undefined);
    assert.deepEqual(
      result.columns.map((c) => [c.name, c.source, c.type, c.nullable]),
      [
        ['Order_ID', 'Order ID', 'INT64', true],
        ['note', 'note', 'STRING', true],
      ],
    );
    assert.deepEqual([result.added, result.compatible, result.widened, result.missing, result.mismatches], [[], [], [], [], []]);
  });

  it('an existing table: compatible columns keep the table type and nullability, new ones are added NULLABLE, gone ones reported', () => {
    const table = [existing('id', 'NUMERIC', false), existing('when', 'TIMESTAMP'), existing('gone', 'STRING'), existing('_b2betl_run', 'STRING')];
    const result = resolveSchema([source('id', 'INT64'), source('when', 'DATE'), { ...source('extra', 'BOOL'), nullable: false }], table);
    assert.deepEqual(
      result.columns.map((c) => [c.name, c.type, c.nullable]),
      [
        ['id', 'NUMERIC', false],
        ['when', 'TIMESTAMP', true],
        ['extra', 'BOOL', true],
      ],
    );
    assert.deepEqual(result.compatible, ['id', 'when']);
    assert.deepEqual(result.added.map((c) => c.name), ['extra']);
    assert.deepEqual(result.missing, ['gone']);
    assert.deepEqual(result.mismatches, []);
  });

  it('widens an integer column when the destination can, and reports a mismatch when it cannot', () => {
    const table = [existing('amount', 'INT64', false)];
    const widened = resolveSchema([source('amount', 'NUMERIC')], table);
    assert.deepEqual(widened.widened, [{ column: 'amount', from: 'INT64', to: 'NUMERIC' }]);
    assert.deepEqual(widened.columns.map((c) => [c.type, c.nullable]), [['NUMERIC', false]]);
    const refused = resolveSchema([source('amount', 'NUMERIC')], table, new Map(), { canWiden: (from, to) => !(from === 'INT64' && to === 'NUMERIC') });
    assert.deepEqual(refused.widened, []);
    assert.deepEqual(refused.mismatches, [{ column: 'amount', source: 'amount', sourceType: 'NUMERIC', destinationType: 'INT64' }]);
    assert.deepEqual(refused.columns.map((c) => c.type), ['INT64']);
    const text = resolveSchema([source('amount', 'STRING')], table);
    assert.deepEqual(text.mismatches.map((m) => m.sourceType), ['STRING'], 'a column never turns into STRING');
  });

  it('keeps the stored sanitized name of a source column, and matches table columns whatever their case', () => {
    const table = [existing('customer_name', 'STRING', true, 'Customer Name'), existing('ID', 'INT64', true, 'id')];
    const result = resolveSchema([source('Customer Name', 'STRING'), source('id', 'INT64')], table, new Map([['Customer Name', 'customer_name']]));
    assert.deepEqual(result.columns.map((c) => [c.source, c.name]), [
      ['Customer Name', 'customer_name'],
      ['id', 'ID'],
    ]);
    assert.deepEqual(result.compatible, ['customer_name', 'ID']);
    assert.deepEqual(result.missing, []);
  });

  it('names a table column by its stored source when no mapping says otherwise', () => {
    const table = [existing('a_b', 'STRING', true, 'a-b')];
    const result = resolveSchema([source('a-b', 'STRING')], table);
    assert.deepEqual(result.columns.map((c) => c.name), ['a_b']);
    assert.deepEqual(result.compatible, ['a_b']);
  });
});

describe('describeMismatches', () => {
  it('names the table, each column, both types and what the source type loads into', () => {
    assert.equal(
      describeMismatches('main.orders', [{ column: 'amount', source: 'Amount', sourceType: 'FLOAT64', destinationType: 'INT64' }]),
      'source columns do not fit main.orders:\n  amount: source Amount is FLOAT64, destination is INT64 (a FLOAT64 loads into FLOAT64, NUMERIC, BIGNUMERIC, STRING)',
    );
  });
});
