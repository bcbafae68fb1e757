import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, SchemaError } from '../../src/core/errors.js';
import { CellFailure, RunSchema } from '../../src/core/run-schema.js';
import { describeMismatches, resolveSchema } from '../../src/core/schema.js';
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

test('columns take the plan order of the units that bring them, whichever unit is planned first', () => {
  const schema = new RunSchema(options);
  schema.planFor([typed('amount', 'STRING'), typed('note', 'STRING')], 1);
  schema.planFor([typed('id', 'INT64'), typed('amount', 'STRING')], 0);
  assert.deepEqual(schema.columns.map((c) => c.name), ['amount', 'note', 'id']);
  const generation = schema.generation;
  schema.orderByPlan();
  assert.deepEqual(schema.columns.map((c) => c.name), ['id', 'amount', 'note']);
  assert.ok(schema.generation > generation, 'a new order is a change the stage must take');
  assert.deepEqual(schema.convertRow(schema.planFor([typed('amount', 'STRING'), typed('note', 'STRING')], 1), ['20', 'x']), [null, '20', 'x']);
  const settled = schema.generation;
  schema.orderByPlan();
  assert.equal(schema.generation, settled, 'an order already kept changes nothing');
  // Filled REQUIRED columns of the table come first; a column's first place is its earliest unit's.
  const filled = new RunSchema({ ...options, fillRequired: true, existing: [existing('must', 'STRING', false)] });
  filled.planFor([typed('b', 'STRING'), typed('a', 'STRING')], 2);
  filled.planFor([typed('a', 'STRING'), typed('must', 'STRING')], 1);
  filled.orderByPlan();
  assert.deepEqual(filled.columns.map((c) => c.name), ['must', 'a', 'b']);
});

test('a source column meets an existing or earlier column spelled otherwise: one column, the existing spelling', () => {
  const schema = new RunSchema({ ...options, existing: [existing('sale_id', 'INT64'), existing('Note', 'STRING')] });
  const plan = schema.planFor([typed('Sale ID', 'INT64'), typed('note', 'STRING')]);
  assert.deepEqual(schema.columns.map((c) => [c.name, c.source]), [['sale_id', 'Sale ID'], ['Note', 'note']]);
  assert.deepEqual(schema.convertRow(plan, [1, 'a']), [1, 'a']);
  // A later file spells a column of the run another way: its values go into that column.
  const generation = schema.generation;
  const later = schema.planFor([typed('SALE_ID', 'INT64'), typed('amount', 'FLOAT64'), typed('Amount', 'FLOAT64')]);
  assert.deepEqual(schema.columns.map((c) => c.name), ['sale_id', 'Note', 'amount', 'Amount_2']);
  assert.deepEqual(schema.convertRow(later, [2, 1.5, 2.5]), [2, null, 1.5, 2.5]);
  assert.ok(schema.generation > generation);
  // Both spellings in one batch are two columns: the exact one takes the table's column.
  const both = new RunSchema({ ...options, existing: [existing('sale_id', 'INT64')] });
  both.planFor([typed('Sale ID', 'INT64'), typed('sale_id', 'INT64')]);
  assert.deepEqual(both.columns.map((c) => [c.name, c.source]), [['Sale_ID_2', 'Sale ID'], ['sale_id', 'sale_id']]);
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

test('rows of a batch without a column for a REQUIRED destination column are refused, naming the fix; a batch without rows is not', () => {
  const schema = new RunSchema({ ...options, existing: [existing('id', 'INT64', false), existing('must', 'STRING', false)] });
  const plan = schema.planFor([typed('id', 'INT64')]);
  const refused = (error: unknown) =>
    error instanceof SchemaError && error.message === 'must is REQUIRED in the destination but the source has no such column' && /fill_required_defaults/.test(error.describe());
  assert.throws(() => schema.convertRow(plan, [1]), refused);
  assert.throws(() => schema.convertColumns(plan, [[1]], 1), refused);
  assert.deepEqual(schema.convertColumns(plan, [[]], 0).columns, [[]], 'zero rows cannot break a NOT NULL column');
  assert.equal(schema.nativeTargets(plan), undefined, 'a file with rows streams, to be refused');
  const unselected = new RunSchema({ ...options, existing: [existing('must', 'STRING', false)], select: ['id'] });
  assert.throws(() => unselected.convertRow(unselected.planFor([typed('id', 'INT64'), typed('must', 'STRING')]), [1, 'x']), /must is REQUIRED/);
  const having = schema.planFor([typed('id', 'INT64'), typed('must', 'STRING')]);
  assert.deepEqual(schema.convertRow(having, [1, 'x']), [1, 'x']);
  const two = new RunSchema({ ...options, existing: [existing('id', 'INT64', false), existing('must', 'STRING', false), existing('also', 'DATE', false)] });
  assert.throws(
    () => two.convertRow(two.planFor([typed('id', 'INT64')]), [1]),
    (error: unknown) => error instanceof SchemaError && error.message === 'must, also are REQUIRED in the destination but the source has no such column',
  );
});

test('with fill_required_defaults, REQUIRED columns a batch lacks are filled with their type defaults, row by row and column by column', () => {
  const required = [existing('must', 'STRING', false), existing('n', 'INT64', false), existing('at', 'TIMESTAMP', false), existing('note', 'STRING')];
  const schema = new RunSchema({ ...options, fillRequired: true, existing: required });
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

test('a row over the destination size limit fails naming its largest value, row by row and column by column', () => {
  const limit = { bytes: 2_500_000, name: "BigQuery's 100 MB row limit" };
  const schema = new RunSchema({ ...options, maxRow: limit });
  const plan = schema.planFor([typed('id', 'INT64'), typed('big', 'STRING'), typed('blob', 'BYTES')]);
  const long = 'x'.repeat(2_000_000);
  const bytes = new Uint8Array(1_050_000);
  assert.deepEqual(schema.convertRow(plan, [1, long, null]), [1, long, null], '2 MB is under the limit');
  assert.throws(
    () => schema.convertRow(plan, [1, long, bytes]),
    (error: unknown) => error instanceof CellFailure && error.column === 'big' && error.reason === "value of 2 MB (the row: 3.4 MB) exceeds BigQuery's 100 MB row limit",
    'bytes count as base64: 1,050,000 bytes are 1.4 MB of text',
  );
  assert.throws(
    () => schema.convertRow(plan, [1, `${long}${long}`, 'AQID']),
    (error: unknown) => error instanceof CellFailure && error.column === 'big' && error.reason === "value of 4 MB exceeds BigQuery's 100 MB row limit",
    'a row whose other values are short names the value alone',
  );
  assert.throws(() => schema.convertRow(plan, [1, 'é'.repeat(1_300_000), null]), CellFailure, 'sizes are bytes of UTF-8, not characters');
  const columns = schema.convertColumns(plan, [[1, 2, 3], [long, `${long}${long}`, 'short'], [null, null, bytes]], 3);
  assert.deepEqual(columns.failures, [{ row: 1, column: 'big', reason: "value of 4 MB exceeds BigQuery's 100 MB row limit" }]);
  assert.deepEqual([...columns.skip!], [0, 1, 0]);
  const small = new RunSchema({ ...options, maxRow: { bytes: 10, name: 'ten bytes' } });
  const smallPlan = small.planFor([typed('a', 'STRING'), typed('b', 'STRING')]);
  assert.deepEqual(small.convertRow(smallPlan, ['x'.repeat(20), 'y'.repeat(20)]), ['x'.repeat(20), 'y'.repeat(20)], 'only rows holding a value over 1 MB are measured');
});

test('a destination may convert a file itself only when every loaded column has its type and is NULLABLE', () => {
  const schema = new RunSchema({ ...options, existing: [existing('id', 'INT64', false)], select: ['id', 'name', 'late'] });
  const plan = schema.planFor([typed('id', 'INT64'), typed('name', 'STRING'), typed('skipped', 'STRING'), inferred('late', 'STRING', { unseen: true })]);
  assert.equal(schema.nativeTargets(plan), undefined, 'a REQUIRED column needs the core');
  const open = new RunSchema({ ...options, existing: [existing('id', 'INT64')], select: ['id', 'name', 'late'] });
  const openPlan = open.planFor([typed('id', 'INT64'), typed('name', 'STRING'), typed('skipped', 'STRING'), inferred('late', 'STRING', { unseen: true })]);
  assert.equal(open.nativeTargets(openPlan), undefined, 'a column awaiting its first value decides its type in the core');
  open.convertRow(openPlan, [1, 'a', 'b', '2024-01-01']);
  const settled = open.planFor([typed('id', 'INT64'), typed('name', 'STRING'), typed('skipped', 'STRING'), inferred('late', 'DATE')]);
  assert.deepEqual(
    open.nativeTargets(settled)?.map((column) => column && [column.name, column.type]),
    [['id', 'INT64'], ['name', 'STRING'], undefined, ['late', 'DATE']],
  );
});

test('columns keep their plan per batch shape; adding or widening a column moves the generation on', () => {
  const schema = new RunSchema(options);
  const first = schema.planFor([typed('a', 'INT64')]);
  const generation = schema.generation;
  assert.ok(generation > 0, 'adding columns is a change');
  assert.equal(schema.planFor([typed('a', 'INT64')]), first, 'the same shape gets the same plan');
  assert.equal(schema.generation, generation);
  schema.planFor([typed('a', 'INT64'), typed('b', 'STRING')]);
  assert.equal(schema.generation, generation + 1);
  schema.planFor([typed('a', 'NUMERIC')]);
  assert.deepEqual(schema.columns.map((column) => [column.name, column.type]), [['a', 'NUMERIC'], ['b', 'STRING']]);
  assert.equal(schema.generation, generation + 2);
  schema.planFor([typed('a', 'INT64')]);
  assert.equal(schema.columns[0].type, 'NUMERIC', 'a narrower batch loads into the wider column');
  assert.equal(schema.generation, generation + 2);
});

test('typed batches widen only as far as the destination can, and never to text', () => {
  const schema = new RunSchema({ ...options, existing: [existing('n', 'INT64')], canWiden: (from, to) => to === 'BIGNUMERIC' });
  schema.planFor([typed('n', 'INT64')]);
  assert.throws(() => schema.planFor([typed('n', 'FLOAT64')]), (error: unknown) => error instanceof SchemaError && /n: source n is FLOAT64, destination is INT64/.test(error.message));
  schema.planFor([typed('n', 'BIGNUMERIC')]);
  assert.equal(schema.columns[0].type, 'BIGNUMERIC');
  const text = new RunSchema(options);
  text.planFor([typed('c', 'INT64')]);
  assert.throws(() => text.planFor([typed('c', 'STRING')]), (error: unknown) => error instanceof SchemaError && /c: source c is STRING, destination is INT64/.test(error.message));
  // Another file's sample that guessed otherwise keeps the established type, converting per value.
  text.planFor([inferred('c', 'STRING')]);
  assert.equal(text.columns[0].type, 'INT64');
  const dates = new RunSchema(options);
  dates.planFor([typed('d', 'DATE')]);
  assert.throws(() => dates.planFor([typed('d', 'TIMESTAMP')]), SchemaError, 'DATE to TIMESTAMP is no widening of an established column');
  assert.equal(dates.columns[0].type, 'DATE');
});

test('a new column meets the existing table: its type and nullability, or a report of every mismatch', () => {
  const table = [existing('id', 'INT64', false), existing('amount', 'NUMERIC'), existing('when', 'DATE'), existing('code', 'INT64')];
  assert.throws(
    () => new RunSchema({ ...options, existing: table }).planFor([typed('id', 'INT64'), typed('amount', 'BOOL'), typed('when', 'STRING'), typed('code', 'BIGNUMERIC')]),
    (error: unknown) =>
      error instanceof SchemaError &&
      /amount: source amount is BOOL, destination is NUMERIC/.test(error.message) &&
      /when: source when is STRING, destination is DATE/.test(error.message) &&
      !/code:/.test(error.message),
  );
  const schema = new RunSchema({ ...options, existing: table, fillRequired: true });
  const plan = schema.planFor([typed('id', 'INT64'), inferred('amount', 'FLOAT64'), typed('when', 'DATE'), typed('code', 'BIGNUMERIC')]);
  assert.deepEqual(
    schema.columns.map((column) => [column.name, column.source, column.type, column.nullable]),
    [
      ['id', 'id', 'INT64', false],
      ['amount', 'amount', 'NUMERIC', true],
      ['when', 'when', 'DATE', true],
      ['code', 'code', 'BIGNUMERIC', true],
    ],
  );
  assert.deepEqual(schema.convertRow(plan, [null, '1.50', '2024-01-01', 7n]), [0, '1.50', '2024-01-01', '7'], 'a REQUIRED column is filled when asked');
});

test('REQUIRED columns the run writes under any case are not missing; NULLABLE ones never are', () => {
  const schema = new RunSchema({ ...options, existing: [{ ...existing('ID', 'INT64', false), source: 'id' }, existing('note', 'STRING'), existing('must', 'STRING', false)] });
  assert.throws(() => schema.convertRow(schema.planFor([typed('id', 'INT64')]), [1]), (error: unknown) => error instanceof SchemaError && error.message === 'must is REQUIRED in the destination but the source has no such column');
});

test('values outside the destination time range are cell failures naming the range', () => {
  const schema = new RunSchema({ ...options, timeRange: { min: 0n, max: 86_400_000_000n * 365n, name: 'the year 1970' } });
  const plan = schema.planFor([typed('d', 'DATE')]);
  assert.deepEqual(schema.convertRow(plan, ['1970-12-31']), ['1970-12-31']);
  assert.throws(() => schema.convertRow(plan, ['1969-12-31']), (error: unknown) => error instanceof CellFailure && error.column === 'd' && error.reason === '1969-12-31 is outside the year 1970');
});

test('a failure under a typed or settled column names the value alone; an inferred one says why the type was guessed', () => {
  const schema = new RunSchema({ ...options, existing: [existing('n', 'INT64')] });
  const plan = schema.planFor([typed('n', 'INT64')]);
  assert.throws(() => schema.convertRow(plan, ['abc']), (error: unknown) => error instanceof CellFailure && error.column === 'n' && error.reason === '"abc" is not an integer');
  const guessed = new RunSchema({ ...options, existing: [existing('n', 'INT64')] });
  const guessedPlan = guessed.planFor([inferred('n', 'INT64')]);
  assert.throws(
    () => guessed.convertRow(guessedPlan, ['abc']),
    (error: unknown) => error instanceof CellFailure && error.reason === '"abc" is not an integer (the destination column is INT64; correct the value in the source, or allow bad rows with load.max_bad_records)',
  );
  const fresh = new RunSchema(options);
  const freshPlan = fresh.planFor([inferred('flag', 'BOOL')]);
  assert.throws(
    () => fresh.convertRow(freshPlan, ['maybe']),
    (error: unknown) => error instanceof CellFailure && error.reason === '"maybe" is not a boolean (true/false) (inferred as BOOL from the sampled rows; raise source.sample_size, or load the column as STRING)',
  );
  assert.deepEqual(fresh.convertRow(freshPlan, [null]), [null]);
  assert.equal(fresh.columns[0].type, 'BOOL', 'a BOOL never becomes text for a value');
});

test('an inferred column widens in place when the destination table allows it, and not when it refuses', () => {
  const allowed = new RunSchema({ ...options, existing: [existing('q', 'INT64')], canWiden: (from, to) => from === 'INT64' && to === 'FLOAT64' });
  const plan = allowed.planFor([inferred('q', 'INT64')]);
  assert.deepEqual(allowed.convertRow(plan, ['1.5']), [1.5]);
  assert.equal(allowed.columns[0].type, 'FLOAT64');
  const refused = new RunSchema({ ...options, existing: [existing('q', 'INT64')], canWiden: () => false });
  const refusedPlan = refused.planFor([inferred('q', 'INT64')]);
  assert.throws(() => refused.convertRow(refusedPlan, ['1.5']), CellFailure);
  assert.equal(refused.columns[0].type, 'INT64');
  // A table column already of the wider type takes the widening without asking the destination.
  const wide = new RunSchema({ ...options, existing: [existing('q', 'FLOAT64')], canWiden: () => false });
  const widePlan = wide.planFor([inferred('q', 'INT64')]);
  assert.deepEqual(wide.convertRow(widePlan, ['2.5']), [2.5]);
  // A code makes an integer column text only where the destination can make it so.
  const textTable = new RunSchema({ ...options, existing: [existing('zip', 'STRING')], canWiden: () => false });
  const zipPlan = textTable.planFor([inferred('zip', 'INT64')]);
  assert.deepEqual(textTable.convertRow(zipPlan, ['07030']), ['07030']);
  const newTable = new RunSchema({ ...options, canWiden: () => false });
  const newPlan = newTable.planFor([inferred('zip', 'NUMERIC')]);
  assert.deepEqual(newTable.convertRow(newPlan, ['0.5']), ['0.5']);
  assert.deepEqual(newTable.convertRow(newPlan, ['007']), ['007'], 'a table this run creates may always change');
  assert.equal(newTable.columns[0].type, 'STRING');
});

test('a batch without some run columns leaves them NULL, and unselected batch columns are skipped, row by row and column by column', () => {
  const schema = new RunSchema({ ...options, select: ['a', 'b'] });
  schema.planFor([typed('a', 'STRING'), typed('b', 'STRING')]);
  const plan = schema.planFor([typed('hidden', 'STRING'), typed('b', 'STRING')]);
  assert.deepEqual(schema.convertRow(plan, ['h', 'x']), [null, 'x']);
  const result = schema.convertColumns(plan, [['h'], ['x']], 1);
  assert.deepEqual(result.columns, [null, ['x']]);
  assert.deepEqual(result.failures, []);
});

test('column by column: numeric arrays pass through only where the converter would return them unchanged', () => {
  const schema = new RunSchema({ ...options, existing: [existing('i', 'INT64'), existing('s', 'STRING')], canWiden: () => false });
  const plan = schema.planFor([inferred('i', 'FLOAT64'), typed('s', 'INT64'), typed('f', 'FLOAT64')]);
  assert.deepEqual(schema.columns.map((column) => column.type), ['INT64', 'STRING', 'FLOAT64']);
  const result = schema.convertColumns(plan, [new Float64Array([2, 2.5]), new Int32Array([7, 8]), ['1.5', 'x']], 2);
  assert.deepEqual(result.columns, [[2, null], ['7', null], [1.5, null]]);
  assert.deepEqual(
    result.failures.map(({ row, column }) => [row, column]),
    [[1, 'i']],
    'a row fails once, at its first failing value; its other values are not converted',
  );
});

test('column by column: failures come in row order, a REQUIRED column with every value fails nothing', () => {
  const schema = new RunSchema({ ...options, existing: [existing('id', 'INT64', false)] });
  const plan = schema.planFor([typed('id', 'INT64'), inferred('a', 'BOOL'), inferred('b', 'BOOL')]);
  const result = schema.convertColumns(plan, [[1, 2, 3], ['true', 'true', 'maybe'], ['no', 'maybe', 'no']], 3);
  assert.deepEqual(result.failures.map(({ row, column }) => [row, column]), [[1, 'b'], [2, 'a']]);
  assert.deepEqual([...result.skip!], [0, 1, 1]);
  assert.deepEqual(result.columns[0], [1, 2, 3]);
});

test('a column awaiting its first value stays undecided through NULLs', () => {
  for (const empty of [null, undefined, '']) {
    const schema = new RunSchema(options);
    const plan = schema.planFor([inferred('late', 'STRING', { unseen: true })]);
    assert.deepEqual(schema.convertRow(plan, [empty]), [null]);
    assert.deepEqual(schema.convertRow(plan, ['42']), [42], String(empty));
    assert.equal(schema.columns[0].type, 'INT64');
  }
});

test('the size check counts NULL as nothing, allows a row of exactly the limit, and names the first of equal values', () => {
  const long = 'x'.repeat(1_100_000);
  const schema = new RunSchema({ ...options, maxRow: { bytes: 2_200_000, name: 'the limit' } });
  const plan = schema.planFor([typed('a', 'STRING'), typed('b', 'STRING'), typed('c', 'STRING')]);
  assert.deepEqual(schema.convertRow(plan, [long, long, null]), [long, long, null]);
  assert.throws(() => schema.convertRow(plan, [long, long, 'y']), (error: unknown) => error instanceof CellFailure && error.column === 'a');
});

test('names kept across runs: a table column named apart from its sanitized name keeps that name', () => {
  const table = [existing('a_b', 'STRING'), { ...existing('a_b_2', 'STRING'), source: 'a b' }];
  const schema = new RunSchema({ ...options, existing: table });
  schema.planFor([typed('a b', 'STRING')]);
  assert.deepEqual(schema.columns.map((column) => [column.source, column.name]), [['a b', 'a_b_2']]);
  const resolved = resolveSchema([{ name: 'a b', type: 'STRING', nullable: true }], table);
  assert.deepEqual(resolved.columns.map((column) => column.name), ['a_b_2']);
  assert.deepEqual(resolved.missing, ['a_b']);
  assert.deepEqual(resolveSchema([{ name: 'a b', type: 'STRING', nullable: true }], table, new Map([['other', 'other']])).columns.map((column) => column.name), ['a_b_2']);
  // A stored mapping that already gives a table name to another source keeps it, whichever
  // of the two sources comes first.
  const x = { name: 'x', type: 'STRING' as const, nullable: true };
  const y = { name: 'y', type: 'STRING' as const, nullable: true };
  for (const sources of [[x, y], [y, x]]) {
    const mapped = resolveSchema(sources, [{ ...existing('A_B', 'STRING'), source: 'y' }], new Map([['x', 'a_b']]));
    assert.deepEqual(new Map(mapped.columns.map((column) => [column.source, column.name])), new Map([['x', 'A_B'], ['y', 'y']]), sources.map((column) => column.name).join());
  }
});

test('errors name every unknown selected column, every mismatch, and the fix', () => {
  assert.throws(
    () => new RunSchema({ ...options, select: ['nope', 'nah'] }).planFor([typed('id', 'INT64'), typed('x', 'STRING')]),
    (error: unknown) => error instanceof ConfigError && error.message.startsWith('source.columns: "nope", "nah" not found in the source') && /the source's columns are: id, x/.test(error.describe()),
  );
  assert.throws(
    () => new RunSchema({ ...options, existing: [existing('n', 'INT64')] }).planFor([typed('n', 'STRING')]),
    (error: unknown) => error instanceof SchemaError && /change the source type, load into a new table, or drop the destination table and use --full-refresh/.test(error.describe()),
  );
  const established = new RunSchema(options);
  established.planFor([typed('n', 'INT64')]);
  assert.throws(() => established.planFor([typed('n', 'STRING')]), (error: unknown) => error instanceof SchemaError && /change the source type, or load into a new table/.test(error.describe()));
  assert.equal(
    describeMismatches('t', [
      { column: 'a', source: 'a', sourceType: 'STRING', destinationType: 'INT64' },
      { column: 'b', source: 'b', sourceType: 'BOOL', destinationType: 'DATE' },
    ]),
    'source columns do not fit t:\n  a: source a is STRING, destination is INT64 (a STRING loads into STRING)\n  b: source b is BOOL, destination is DATE (a BOOL loads into BOOL, STRING)',
  );
});

test('a missing REQUIRED value is named as such, with no guess about the sample', () => {
  const schema = new RunSchema({ ...options, existing: [existing('n', 'INT64', false)] });
  const plan = schema.planFor([inferred('n', 'INT64')]);
  for (const missing of [null, undefined]) {
    assert.throws(
      () => schema.convertRow(plan, [missing]),
      (error: unknown) => error instanceof CellFailure && error.reason === 'is REQUIRED in the destination but has no value; set load.fill_required_defaults: true to fill defaults',
      String(missing),
    );
  }
});

test('a widening reaches every batch shape: plans made before it are made again', () => {
  const schema = new RunSchema(options);
  const one = schema.planFor([inferred('q', 'INT64')]);
  schema.planFor([inferred('q', 'INT64'), inferred('r', 'STRING')]);
  assert.deepEqual(schema.convertRow(one, ['2.5']), [2.5, null]);
  const two = schema.planFor([inferred('q', 'INT64'), inferred('r', 'STRING')]);
  assert.deepEqual(schema.convertRow(two, ['3.5', 'x']), [3.5, 'x']);
});

test('what keeps a column from becoming text: only values staged in another spelling', () => {
  // Numbers a typed source (JSON) gave, and empty cells, read back as they were.
  for (const earlier of [5, '']) {
    const schema = new RunSchema(options);
    const plan = schema.planFor([inferred('zip', 'INT64')]);
    schema.convertRow(plan, [earlier]);
    assert.deepEqual(schema.convertRow(plan, [' 07030']), [' 07030'], String(earlier));
    assert.equal(schema.columns[0].type, 'STRING');
  }
  // A FLOAT64 column never becomes text: its failures say nothing of spellings.
  const floats = new RunSchema(options);
  const plan = floats.planFor([inferred('p', 'FLOAT64')]);
  assert.deepEqual(floats.convertRow(plan, ['1.50']), [1.5]);
  assert.throws(
    () => floats.convertRow(plan, ['abc']),
    (error: unknown) => error instanceof CellFailure && error.reason === '"abc" is not a number (inferred as FLOAT64 from the sampled rows; raise source.sample_size, or load the column as STRING)',
  );
});

test('a value that even the type inferred from it cannot hold is a cell failure', () => {
  const schema = new RunSchema(options);
  const plan = schema.planFor([inferred('n', 'INT64')]);
  assert.throws(
    () => schema.convertRow(plan, [`${'1'.repeat(39)}.5`]),
    (error: unknown) => error instanceof CellFailure && error.column === 'n' && /does not fit BIGNUMERIC \(38 integer digits, 38 decimals\)/.test(error.reason),
  );
});

test('a column widened by a new batch shape converts every shape planned before it to the wider type', () => {
  const schema = new RunSchema(options);
  const first = [inferred('q', 'INT64'), inferred('n', 'INT64')];
  assert.deepEqual(schema.convertRow(schema.planFor(first, 0), ['12', '1']), [12, 1]);
  // Another file's sample saw fractions in `q`: the run's column becomes FLOAT64.
  schema.planFor([inferred('q', 'FLOAT64')], 1);
  assert.equal(schema.columns[0].type, 'FLOAT64');
  // The first file's later batches convert to FLOAT64 too: a fraction its own sample never saw loads.
  assert.deepEqual(schema.convertRow(schema.planFor(first, 0), ['2.5', '2']), [2.5, 2]);
  const { columns, failures } = schema.convertColumns(schema.planFor(first, 0), [['7.25', '8'], ['3', '4']], 2);
  assert.deepEqual(failures, []);
  assert.deepEqual(Array.from(columns[0]!), [7.25, 8]);
});

test("a column's place is its first unit's: a later unit that brings it earlier in its own batch does not move it", () => {
  const schema = new RunSchema(options);
  schema.planFor([typed('a', 'STRING'), typed('x', 'STRING'), typed('b', 'STRING')], 0);
  schema.planFor([typed('c', 'STRING'), typed('b', 'STRING')], 1);
  schema.orderByPlan();
  assert.deepEqual(schema.columns.map((c) => c.name), ['a', 'x', 'b', 'c']);
  // Columns a selection leaves out have no place at all.
  const selected = new RunSchema({ ...options, select: ['id', 'note'] });
  selected.planFor([typed('skip', 'STRING'), typed('note', 'STRING'), typed('id', 'INT64')], 1);
  selected.planFor([typed('id', 'INT64'), typed('skip', 'STRING'), typed('note', 'STRING')], 0);
  selected.orderByPlan();
  assert.deepEqual(selected.columns.map((c) => c.name), ['id', 'note']);
});

test('a filled REQUIRED column comes before every unit, and takes its values from the first spelling a batch brings', () => {
  const schema = new RunSchema({ ...options, fillRequired: true, existing: [existing('must', 'INT64', false)] });
  schema.planFor([typed('id', 'INT64')], 0);
  schema.orderByPlan();
  assert.deepEqual(schema.columns.map((c) => c.name), ['must', 'id']);
  // A batch brings it spelled otherwise: the table's column, with that batch's source name.
  const plan = schema.planFor([typed('id', 'INT64'), typed('Must', 'INT64')], 1);
  assert.deepEqual(schema.columns.map((c) => [c.name, c.source]), [['must', 'Must'], ['id', 'id']]);
  assert.deepEqual(schema.convertRow(plan, [1, 7]), [7, 1]);
  // A later shape with yet another spelling loads into the same column, which keeps its source.
  const later = schema.planFor([typed('MUST', 'INT64')], 2);
  assert.deepEqual(schema.columns.map((c) => [c.name, c.source]), [['must', 'Must'], ['id', 'id']]);
  assert.deepEqual(schema.convertRow(later, [8]), [8, null]);
});
