import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, SchemaError } from '../../src/core/errors.js';
import { CellFailure, RunSchema } from '../../src/core/run-schema.js';
import type { Column, SourceColumn } from '../../src/core/types.js';

const options = { table: 't', mapping: new Map<string, string>(), fillRequired: false, canWiden: () => true };
const inferred = (name: string, type: SourceColumn['type'], extra: Partial<SourceColumn> = {}): SourceColumn => ({ name, type, nullable: true, inferred: true, ...extra });
const typed = (name: string, type: SourceColumn['type']): SourceColumn => ({ name, type, nullable: true });
const existing = (name: string, type: Column['type'], nullable = true): Column => ({ name, source: name, type, nullable });

test('names are sanitized once and rows follow run-column order', () => {
  const schema = new RunSchema(options);
  const plan = schema.planFor([inferred('Customer Name', 'STRING'), inferred('Amount', 'FLOAT64'), inferred('amount', 'STRING')]);
  assert.deepEqual(schema.columns.map((c) => c.name), ['Customer_Name', 'Amount', 'amount_2']);
  assert.deepEqual(schema.convertRow(plan, ['Zoë', '1.5', 'EUR']), ['Zoë', 1.5, 'EUR']);
});

test('an inferred INT64 widens to FLOAT64 when a later value needs it', () => {
  const schema = new RunSchema(options);
  const plan = schema.planFor([inferred('q', 'INT64')]);
  const generation = schema.generation;
  assert.deepEqual(schema.convertRow(plan, ['2']), [2]);
  assert.deepEqual(schema.convertRow(plan, ['2.5']), [2.5]);
  assert.equal(schema.columns[0].type, 'FLOAT64');
  assert.ok(schema.generation > generation);
});

test('a code seen after the sample widens an integer column to STRING; every value keeps its characters', () => {
  const schema = new RunSchema(options);
  const plan = schema.planFor([inferred('zip', 'INT64'), inferred('price', 'FLOAT64')]);
  assert.deepEqual(schema.convertRow(plan, ['10001', '1.5']), [10001, 1.5]);
  assert.deepEqual(schema.convertRow(plan, ['07030', '2']), ['07030', 2]);
  assert.equal(schema.columns[0].type, 'STRING');
  assert.deepEqual(schema.convertRow(plan, ['+31', '3']), ['+31', 3]);
  // Floats come back in their shortest spelling: such a column does not become text mid-run.
  assert.throws(() => schema.convertRow(plan, ['1', '007.5']), (error: unknown) => error instanceof CellFailure && /007\.5.* is a code, not a number: as a number it would lose its leading zeros/.test(error.reason));
  const bigQuery = new RunSchema({ ...options, existing: [existing('zip', 'INT64')], canWiden: (from, to) => to !== 'STRING' });
  const refused = bigQuery.planFor([inferred('zip', 'INT64')]);
  assert.throws(() => bigQuery.convertRow(refused, ['07030']), (error: unknown) => error instanceof CellFailure && /the destination column is INT64/.test(error.reason));
});

test('a column that staged a value in another spelling never becomes text: no characters are lost', () => {
  for (const respelled of ['1.0', ' 7 ', '1e3', '+5']) {
    const schema = new RunSchema(options);
    const plan = schema.planFor([inferred('v', respelled === '1e3' || respelled === '+5' ? 'NUMERIC' : 'INT64')]);
    schema.convertRow(plan, ['10']);
    schema.convertRow(plan, [respelled]);
    assert.throws(
      () => schema.convertRow(plan, ['07030']),
      (error: unknown) => error instanceof CellFailure && /spelled otherwise, so it cannot become text/.test(error.reason),
      respelled,
    );
    assert.notEqual(schema.columns[0].type, 'STRING', respelled);
  }
  // Plain spellings read back as written: the column may still become text.
  const schema = new RunSchema(options);
  const plan = schema.planFor([inferred('v', 'NUMERIC')]);
  assert.deepEqual(schema.convertRow(plan, ['12345678901234567.50']), ['12345678901234567.50']);
  assert.deepEqual(schema.convertRow(plan, ['-0.10']), ['-0.10']);
  assert.deepEqual(schema.convertRow(plan, ['0042']), ['0042']);
  assert.equal(schema.columns[0].type, 'STRING');
});

test('a value no widening holds is a cell failure naming the column and the fix', () => {
  const schema = new RunSchema(options);
  const plan = schema.planFor([inferred('q', 'INT64')]);
  assert.throws(
    () => schema.convertRow(plan, ['abc']),
    (error: unknown) => error instanceof CellFailure && error.column === 'q' && /raise source.sample_size/.test(error.reason),
  );
  assert.equal(schema.columns[0].type, 'INT64');
});

test('an existing table column is the contract for inferred columns', () => {
  const schema = new RunSchema({ ...options, existing: [existing('amount', 'FLOAT64')] });
  const plan = schema.planFor([inferred('amount', 'STRING')]);
  assert.equal(schema.columns[0].type, 'FLOAT64');
  assert.deepEqual(schema.convertRow(plan, ['3.25']), [3.25]);
  assert.throws(() => schema.convertRow(plan, ['n/a']), CellFailure);
});

test('typed sources: widening is applied, incompatible changes stop with a report', () => {
  const widening = new RunSchema({ ...options, existing: [existing('n', 'INT64')] });
  widening.planFor([typed('n', 'NUMERIC')]);
  assert.equal(widening.columns[0].type, 'NUMERIC');
  const narrowing = new RunSchema({ ...options, existing: [existing('n', 'INT64')] });
  assert.throws(() => narrowing.planFor([typed('n', 'STRING')]), (error: unknown) => error instanceof SchemaError && /n: source n is STRING, destination is INT64/.test(error.message));
  const refused = new RunSchema({ ...options, existing: [existing('n', 'INT64')], canWiden: () => false });
  assert.throws(() => refused.planFor([typed('n', 'FLOAT64')]), SchemaError);
});

test('a column the sample never saw a value for takes the type of its first value', () => {
  const schema = new RunSchema(options);
  const plan = schema.planFor([inferred('late', 'STRING', { unseen: true })]);
  assert.deepEqual(schema.convertRow(plan, ['']), [null]);
  assert.deepEqual(schema.convertRow(plan, ['42']), [42]);
  assert.equal(schema.columns[0].type, 'INT64');
  const next = new RunSchema(options);
  next.planFor([inferred('x', 'STRING', { unseen: true })]);
  next.planFor([inferred('x', 'FLOAT64')]);
  assert.equal(next.columns[0].type, 'FLOAT64');
});

test('source.columns keeps only selected columns and names unknown ones', () => {
  const schema = new RunSchema({ ...options, select: ['Customer_Name', 'id'] });
  const plan = schema.planFor([inferred('id', 'INT64'), inferred('Customer Name', 'STRING'), inferred('secret', 'STRING')]);
  assert.deepEqual(schema.columns.map((c) => c.name), ['id', 'Customer_Name']);
  assert.deepEqual(schema.convertRow(plan, ['1', 'A', 'hidden']), [1, 'A']);
  const unknown = new RunSchema({ ...options, select: ['nope'] });
  assert.throws(() => unknown.planFor([inferred('id', 'INT64')]), (error: unknown) => error instanceof ConfigError && /"nope" not found/.test(error.message) && /id/.test(error.describe()));
});

test('a batch without a column for a REQUIRED destination column is refused, naming the fix', () => {
  const schema = new RunSchema({ ...options, existing: [existing('id', 'INT64', false), existing('must', 'STRING', false)] });
  assert.deepEqual(schema.missingRequired().map((c) => c.name), ['id', 'must']);
  assert.throws(
    () => schema.planFor([typed('id', 'INT64')]),
    (error: unknown) => error instanceof SchemaError && /must is REQUIRED in the destination but the source has no such column/.test(error.message) && /fill_required_defaults/.test(error.describe()),
  );
  const unselected = new RunSchema({ ...options, existing: [existing('must', 'STRING', false)], select: ['id'] });
  assert.throws(() => unselected.planFor([typed('id', 'INT64'), typed('must', 'STRING')]), /must is REQUIRED/);
});

test('with fill_required_defaults, REQUIRED columns a batch lacks are filled with their type defaults, row by row and column by column', () => {
  const required = [existing('must', 'STRING', false), existing('n', 'INT64', false), existing('at', 'TIMESTAMP', false), existing('note', 'STRING')];
  const schema = new RunSchema({ ...options, fillRequired: true, existing: required });
  assert.deepEqual(schema.missingRequired(), []);
  const lacking = schema.planFor([typed('id', 'INT64')]);
  assert.deepEqual(schema.columns.map((c) => [c.name, c.nullable]), [['must', false], ['n', false], ['at', false], ['id', true]]);
  assert.deepEqual(schema.convertRow(lacking, [1]), ['', 0, 0n, 1]);
  const columnar = schema.convertColumns(lacking, [new Int32Array([1, 2])], 2);
  assert.deepEqual(columnar.columns.map((column) => (column ? Array.from(column) : null)), [['', ''], [0, 0], [0n, 0n], [1, 2]]);
  assert.equal(schema.nativeTargets(lacking), undefined, 'a file the destination reads itself would leave the column NULL');
  // A later batch that has the column loads its values into it; NULLs there are filled too.
  const having = schema.planFor([typed('id', 'INT64'), typed('must', 'STRING')]);
  assert.equal(schema.columns.length, 4);
  assert.equal(schema.columns[0].source, 'must');
  assert.deepEqual(schema.convertRow(having, [2, 'yes']), ['yes', 0, 0n, 2]);
  assert.deepEqual(schema.convertRow(having, [3, null]), ['', 0, 0n, 3]);
});

test('a batch converts column by column as row by row: widening, failures and untouched numeric arrays', () => {
  const rowWise = new RunSchema(options);
  const columnWise = new RunSchema(options);
  const columns = [inferred('q', 'INT64'), typed('f', 'FLOAT64'), typed('n', 'INT64'), inferred('s', 'STRING')];
  const q = ['1', '2', '2.5', 'x', '4'];
  const f = new Float32Array([0.5, 1.25, -2, 3, 4]);
  const n = new Int32Array([7, 8, 9, 10, 11]);
  const s = ['a', null, 'c', 'd', undefined];
  const expected: unknown[] = [];
  const failures: unknown[] = [];
  const rowPlan = rowWise.planFor(columns);
  for (let r = 0; r < q.length; r++) {
    try {
      expected.push(rowWise.convertRow(rowPlan, [q[r], f[r], n[r], s[r] ?? null]));
    } catch (error) {
      assert.ok(error instanceof CellFailure);
      failures.push({ row: r, column: error.column, reason: error.reason });
    }
  }
  const result = columnWise.convertColumns(columnWise.planFor(columns), [q, f, n, s], q.length);
  assert.deepEqual(result.failures, failures);
  assert.deepEqual([...result.skip!], [0, 0, 0, 1, 0]);
  const rows = Array.from({ length: q.length }, (_, r) => result.columns.map((column) => column![r] ?? null)).filter((_row, r) => !result.skip![r]);
  // The row-wise run converted 1 and 2 before widening to FLOAT64: as numbers both ways.
  assert.deepEqual(rows, expected);
  assert.deepEqual(columnWise.columns.map((c) => c.type), ['FLOAT64', 'FLOAT64', 'INT64', 'STRING']);
  assert.equal(result.columns[1], f, 'a Float32Array into FLOAT64 is passed on as it is');
  assert.equal(result.columns[2], n, 'an Int32Array into INT64 is passed on as it is');
});
