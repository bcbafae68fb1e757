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
