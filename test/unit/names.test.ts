import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sanitizeName, sanitizeNames } from '../../src/core/names.js';

test('sanitizeName follows BigQuery column rules', () => {
  assert.equal(sanitizeName('Customer Name'), 'Customer_Name');
  assert.equal(sanitizeName('DiscountApplied(%)'), 'DiscountApplied_pct');
  assert.equal(sanitizeName('1st_value'), '_1st_value');
  assert.equal(sanitizeName('Zoë'), 'Zoe');
  assert.equal(sanitizeName('__weird--name__'), '_weird_name_');
  assert.equal(sanitizeName(' (total) '), 'total');
  assert.equal(sanitizeName('_id'), '_id');
  assert.equal(sanitizeName('???'), 'column');
  assert.equal(sanitizeName('_TABLE_stuff'), 'x_TABLE_stuff');
  assert.equal(sanitizeName('a'.repeat(400)).length, 300);
});

test('sanitizeNames makes case-insensitive collisions unique, deterministically', () => {
  const names = sanitizeNames(['Amount', 'amount', 'AMOUNT', 'a b', 'a-b']);
  assert.deepEqual([...names.values()], ['Amount', 'amount_2', 'AMOUNT_3', 'a_b', 'a_b_2']);
  assert.deepEqual([...sanitizeNames(['Amount', 'amount', 'AMOUNT', 'a b', 'a-b']).values()], [...names.values()]);
});

test('sanitizeNames keeps stored names and avoids them for new columns', () => {
  const stored = new Map([['amount', 'amount']]);
  const names = sanitizeNames(['Amount', 'amount'], stored);
  assert.equal(names.get('amount'), 'amount');
  assert.equal(names.get('Amount'), 'Amount_2');
});

test('sanitizeNames maps a new name onto a destination column that matches ignoring case, in that column\'s spelling', () => {
  const columns = ['sale_id', 'Total'];
  assert.deepEqual([...sanitizeNames(['Sale ID', 'total', 'note'], new Map(), columns)], [
    ['Sale ID', 'sale_id'],
    ['total', 'Total'],
    ['note', 'note'],
  ]);
  // Stored names are columns too; a suffix avoids every column.
  assert.equal(sanitizeNames(['AMOUNT'], new Map([['amount', 'amount']])).get('AMOUNT'), 'amount');
  assert.deepEqual([...sanitizeNames(['a b', 'A-B'], new Map(), ['a_b_2', 'A_B'])], [['a b', 'a_b_3'], ['A-B', 'A_B']]);
});

test('sanitizeNames: two names of one source that meet one column: the stored one, then the exact spelling, then the first wins; the other gets a suffix', () => {
  const exact = sanitizeNames(['Sale ID', 'sale_id'], new Map(), ['sale_id']);
  assert.deepEqual([...exact], [['Sale ID', 'Sale_ID_2'], ['sale_id', 'sale_id']]);
  const stored = sanitizeNames(['sale_id', 'Sale ID'], new Map([['Sale ID', 'sale_id']]), ['sale_id']);
  assert.deepEqual([...stored], [['sale_id', 'sale_id_2'], ['Sale ID', 'sale_id']]);
  const first = sanitizeNames(['Sale ID', 'SALE-ID'], new Map(), ['sale_id']);
  assert.deepEqual([...first], [['Sale ID', 'sale_id'], ['SALE-ID', 'SALE_ID_2']]);
  assert.deepEqual([...sanitizeNames(['SALE-ID', 'Sale ID'], new Map(), ['sale_id'])], [['SALE-ID', 'sale_id'], ['Sale ID', 'Sale_ID_2']]);
});
