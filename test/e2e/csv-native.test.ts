/**
 * Local CSV files that DuckDB reads itself (every size: `B2BETL_NATIVE_MIN_BYTES=0`) against the
 * same files streamed row by row (`B2BETL_STREAM_ONLY=1`): every table, rejected row and
 * failure must come out the same, whichever path each file took.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { queryDuckDB, runCli, scratchProject } from '../support/cli.js';

type Project = Awaited<ReturnType<typeof scratchProject>>;

const CONFIG = 'connections:\n  inbox: { type: local, path: ./inbox }\n';

interface Case {
  /** Job and table name; the file is `inbox/<name>.<ext>`, or the files are `inbox/<name>_<key>.csv`. */
  readonly name: string;
  readonly ext?: string;
  readonly content: string | Buffer | Record<string, string>;
  /** Extra job YAML under `source:` / `load:`. */
  readonly source?: string;
  readonly load?: string;
  /** Which path each file takes by default. */
  readonly path: 'native' | 'streamed' | Record<string, 'native' | 'streamed'>;
}

const CASES: Case[] = [
  {
    name: 'plain',
    // A byte order mark, CRLF line breaks and a blank line, which neither path loads.
    content: Buffer.concat([
      Buffer.from([0xef, 0xbb, 0xbf]),
      Buffer.from(
        [
          'id,Amount,ratio,paid,Created At,day,note,empty,big',
          '1,12.50,1.5e3,true,2024-03-01T10:00:00Z,2024-03-01,"say ""hi"", then go",,12345678901234567.25',
          '-7,0.1,-0.0,FALSE,2024-03-01 10:00:00.123456,2024-02-29,Шевченко ✓,"",-0.000000001',
          '',
          '123456789012345678,-3,2,True,2024-12-31T23:59:59.5Z,1999-01-01,\\N,x,1',
          '4,,,,,,NULL,,',
        ].join('\r\n') + '\r\n',
      ),
    ]),
    path: 'native',
  },
  {
    name: 'newlines',
    content: 'id,note,flag\n1,"line one\nline two",t\n2,"a\r\nb",f\n3,plain,T\n',
    path: 'native',
  },
  { name: 'selected', content: 'id,skip me,Note\n1,x,a\n2,y,b\n', source: 'columns: [id, Note]', path: 'native' },
  // No delimiter in the job: each file's own is guessed from its first records, the same on both paths.
  { name: 'semicolons', content: 'id;price;note\n1;1,50;"a; b, c"\n2;2,25;plain, with a comma\n3;;"x"\n', path: 'native' },
  // Excel's separator line names the delimiter and is no record: the stream skips it, DuckDB would read it.
  { name: 'excel', content: 'sep=;\r\nname;note\r\nann;a,b\r\ncy;c\r\n', path: 'streamed' },
  // Numbers with a decimal comma, as the job says: the core reads them; text stays as written.
  { name: 'decimalcomma', content: 'id;price;big;note\n1;1,50;12345678901234567,25;a,b\n2;-0,5;1;x\n3;;2,5;\n', source: 'csv: { decimal: "," }', path: 'streamed' },
  { name: 'pipes', content: 'id|name|tags\n1|Ann|a,b;c\n2|"B|ob"|\n', path: 'native' },
  { name: 'tabs', ext: 'tsv', content: 'id\tname\tprice\n1\ta,b\t2.5\n2\t"q\tx"\t3\n', path: 'native' },
  {
    name: 'headless',
    content: "1,'it''s',2024-01-01\n2,'a,b',2024-01-02\n",
    source: 'csv: { header: false, quote: "\'" }',
    path: 'native',
  },
  // DuckDB would unescape `\\` and `\x` too, where the CSV format keeps them as written.
  { name: 'escaped', content: 'id,text\n1,"back\\"slash"\n2,"a\\\\b \\x"\n', source: 'csv: { escape: "\\\\" }', path: 'streamed' },
  // Codes: a leading zero or a plus sign keeps a numeral as text, quoted or not.
  { name: 'codes', content: 'zip,fips,phone,n,ratio\n07030,"001",+4915123,5,0.5\n10001,013,+1,"6",1.25\n', path: 'native' },
  // Integers in the sample, a code later: the stream widens the column to STRING, every value as written.
  { name: 'latecode', content: 'id,zip\n1,10001\n2,12345\n3,07030\n', source: 'sample_size: 2', path: 'streamed' },
  // Year-first slash dates are dates and wall clocks; day and month alone are ambiguous: text.
  { name: 'slashdates', content: 'id,day,at,amb\n1,2024/03/01,2024/03/01 10:00:00,01/02/2024\n2,2024/12/31,2024/12/31 23:59:59.5,03/04/2024\n3,2024/2/9,2024/2/9 07:05,12/11/2023\n', path: 'native' },
  // The job says which comes first.
  {
    name: 'dayfirst',
    content: 'id,day,at\n1,01/02/2024,31/12/2024 10:00\n2,13/02/2024,1/2/2024 00:00:01.25\n3,2024/02/29,2024/02/29\n',
    source: 'csv: { date_format: DD/MM/YYYY }',
    path: 'native',
  },
  { name: 'monthfirst', content: 'id,day\n1,01/02/2024\n2,12/31/2024\n', source: 'csv: { date_format: MM/DD/YYYY }', path: 'native' },
  { name: 'dotted', content: 'id,day\n1,31.12.2024\n2,1.2.2024\n', source: 'csv: { date_format: DD.MM.YYYY }', path: 'native' },
  // Integers in the sample, a decimal later: the stream widens the column to FLOAT64.
  { name: 'widen', content: 'id,v\n1,10\n2,20\n3,2.5\n', source: 'sample_size: 2', path: 'streamed' },
  // Padding the core trims away, then a plus sign, which makes a code of the numeral: as text the
  // column would hold ` 13 ` as 13, so it stays INT64 and the code's row is set aside.
  { name: 'spaced', content: 'id,v,on\n1,12,true\n2, 13 ,false\n3,+3, TRUE\n', source: 'sample_size: 1', load: 'max_bad_records: 5', path: 'streamed' },
  // Integers spelled as plainly as DuckDB reads them, then a code: the column becomes text.
  { name: 'plaincode', content: 'id,v\n1,12\n2,-13\n3,+3\n', source: 'sample_size: 1', path: 'streamed' },
  // A column of plus-signed decimals is text, as DuckDB's own detection reads it; in a column
  // sampled as decimals a plus sign is a sign.
  { name: 'plus', content: 'id,signed,v\n1,+0.10,0.5\n2,+1.25,+0.10\n3,-2,+1e2\n', source: 'sample_size: 1', path: 'native' },
  // Wide decimals DuckDB reads itself, and a file with a code in the same column (one column: it
  // streams whichever comes first): the column becomes text and the first file's values read
  // back exactly as written, padding and all.
  {
    name: 'padding',
    content: { a: 'id,amount\n1,12345678901234.50\n2,0.10\n', b: 'amount\n0042\n' },
    load: 'strategy: catalog',
    path: { a: 'native', b: 'streamed' },
  },
  // Spaces before an opening quote: the CSV format keeps them and the quotes as text, DuckDB would not.
  { name: 'spacequote', content: 'id,t\n1, "a"\n2,"b"\n', path: 'streamed' },
  // A CRLF in a file whose first line break is LF: the CSV format keeps the CR as text, DuckDB would not.
  { name: 'crlfmix', content: 'id,t\n1,a\r\n2,b\n', path: 'streamed' },
  // A value no type of the column holds: set aside as a bad row, the rest loads.
  { name: 'rejects', content: 'id,v\n1,10\n2,ten\n3,30\n', source: 'sample_size: 1', load: 'max_bad_records: 5', path: 'streamed' },
  // One file read by DuckDB, then one it does not take (19 digits: an INT64 the plain spelling
  // leaves to the core): the first file's rows, inserted early, are rolled back with the failed
  // statement and inserted again at commit.
  {
    name: 'mixed',
    content: { a: 'id,v\n1,10\n2,20\n', b: 'id,v\n3,1234567890123456789\n' },
    load: 'strategy: catalog',
    path: { a: 'native', b: 'streamed' },
  },
  // A later file brings a column: the rows inserted before go in again under the new columns.
  { name: 'evolve', content: { a: 'id,v\n1,10\n', b: 'id,v,w\n2,2.5,x\n' }, path: { a: 'native', b: 'native' } },
];

/** A trailing delimiter makes a ragged row, which fails the file on both paths. */
const RAGGED = 'id,name\n1,a\n2,b,\n3,c\n';

async function project(): Promise<Project> {
  const files: Record<string, string | Buffer> = { 'etl.config.yaml': CONFIG, 'inbox/ragged.csv': RAGGED };
  files['jobs/ragged.yaml'] = 'name: ragged\nsource: { connection: inbox, pattern: "ragged.csv" }\nload: { strategy: transactional }\n';
  for (const c of CASES) {
    for (const [file, content] of filesOf(c)) files[`inbox/${file}`] = content;
    const pattern = typeof c.content === 'object' && !Buffer.isBuffer(c.content) ? `${c.name}_*.csv` : `${c.name}.${c.ext ?? 'csv'}`;
    files[`jobs/${c.name}.yaml`] =
      `name: ${c.name}\nsource: { connection: inbox, pattern: "${pattern}"${c.source ? `, ${c.source}` : ''} }\n` +
      `load: { ${c.load?.startsWith('strategy') ? c.load : `strategy: transactional${c.load ? `, ${c.load}` : ''}`} }\n`;
  }
  return scratchProject(files);
}

/** A case's files (name → content) with the path each takes. */
function filesOf(c: Case): [string, string | Buffer, 'native' | 'streamed'][] {
  if (typeof c.content === 'string' || Buffer.isBuffer(c.content)) return [[`${c.name}.${c.ext ?? 'csv'}`, c.content, c.path as 'native' | 'streamed']];
  const paths = c.path as Record<string, 'native' | 'streamed'>;
  return Object.entries(c.content).map(([key, content]) => [`${c.name}_${key}.csv`, content, paths[key]]);
}

async function runAll(p: Project, stream: boolean) {
  const result = await runCli(['run', 'jobs', '--json', '--verbose'], p.dir, stream ? { B2BETL_STREAM_ONLY: '1' } : { B2BETL_NATIVE_MIN_BYTES: '0' });
  return { ...result, results: JSON.parse(result.stdout) as Record<string, unknown>[] };
}

/** Every row of `table` in both warehouses, with the columns' types, sorted the same way. */
async function tableIn(p: Project, table: string, columns = '*'): Promise<{ schema: unknown; rows: unknown }> {
  const file = path.join(p.dir, 'warehouse.duckdb');
  const schema = await queryDuckDB(file, `SELECT column_name, data_type FROM information_schema.columns WHERE table_name = '${table}' ORDER BY ordinal_position`);
  const rows = schema.length ? await queryDuckDB(file, `SELECT ${columns} FROM main."${table}" ORDER BY ALL`) : [];
  return { schema, rows };
}

describe('local CSV read by DuckDB itself', () => {
  let native: Project;
  let streamed: Project;
  let nativeRun: Awaited<ReturnType<typeof runAll>>;
  let streamedRun: Awaited<ReturnType<typeof runAll>>;

  before(async () => {
    [native, streamed] = await Promise.all([project(), project()]);
    nativeRun = await runAll(native, false);
    streamedRun = await runAll(streamed, true);
  });
  after(async () => {
    await native.cleanup();
    await streamed.cleanup();
  });

  test('each file takes the path its values allow', () => {
    for (const [file, , expected] of CASES.flatMap(filesOf)) {
      const byDuckDB = new RegExp(`${file}: \\d+ row\\(s\\) read by DuckDB`).test(nativeRun.stderr);
      assert.equal(byDuckDB ? 'native' : 'streamed', expected, `${file}:\n${nativeRun.stderr}`);
    }
    assert.doesNotMatch(streamedRun.stderr, /read by DuckDB/);
  });

  test('both paths load the same tables, value for value and type for type', async () => {
    for (const c of CASES) {
      assert.deepEqual(await tableIn(native, c.name), await tableIn(streamed, c.name), c.name);
    }
    const plain = await tableIn(native, 'plain');
    assert.deepEqual(
      plain.schema,
      [
        ['id', 'BIGINT'],
        ['Amount', 'DOUBLE'],
        ['ratio', 'DOUBLE'],
        ['paid', 'BOOLEAN'],
        ['Created_At', 'TIMESTAMP WITH TIME ZONE'],
        ['day', 'DATE'],
        ['note', 'VARCHAR'],
        ['empty', 'VARCHAR'],
        ['big', 'DECIMAL(38,9)'],
      ].map(([column_name, data_type]) => ({ column_name, data_type })),
    );
    const warehouse = path.join(native.dir, 'warehouse.duckdb');
    assert.deepEqual(await queryDuckDB(warehouse, 'SELECT id, ratio::VARCHAR AS ratio, "Created_At"::VARCHAR AS at, big::VARCHAR AS big, empty, note FROM main.plain ORDER BY id'), [
      { id: '-7', ratio: '-0.0', at: '2024-03-01 10:00:00.123456+00', big: '-0.000000001', empty: '', note: 'Шевченко ✓' },
      { id: '1', ratio: '1500.0', at: '2024-03-01 10:00:00+00', big: '12345678901234567.250000000', empty: '', note: 'say "hi", then go' },
      { id: '4', ratio: null, at: null, big: null, empty: '', note: 'NULL' },
      { id: '123456789012345678', ratio: '2.0', at: '2024-12-31 23:59:59.5+00', big: '1.000000000', empty: 'x', note: '\\N' },
    ]);
    assert.deepEqual(await queryDuckDB(warehouse, 'SELECT t FROM main.spacequote ORDER BY id'), [{ t: ' "a"' }, { t: 'b' }]);
    assert.deepEqual(await queryDuckDB(warehouse, 'SELECT name, note FROM main.excel ORDER BY name'), [{ name: 'ann', note: 'a,b' }, { name: 'cy', note: 'c' }]);
    assert.deepEqual((await tableIn(native, 'decimalcomma')).schema, [
      { column_name: 'id', data_type: 'BIGINT' },
      { column_name: 'price', data_type: 'DOUBLE' },
      { column_name: 'big', data_type: 'DECIMAL(38,9)' },
      { column_name: 'note', data_type: 'VARCHAR' },
    ]);
    assert.deepEqual(await queryDuckDB(warehouse, 'SELECT price, big::VARCHAR AS big, note FROM main.decimalcomma ORDER BY id'), [
      { price: 1.5, big: '12345678901234567.250000000', note: 'a,b' },
      { price: -0.5, big: '1.000000000', note: 'x' },
      { price: null, big: '2.500000000', note: '' },
    ]);
    assert.deepEqual((await tableIn(native, 'codes')).schema, [
      { column_name: 'zip', data_type: 'VARCHAR' },
      { column_name: 'fips', data_type: 'VARCHAR' },
      { column_name: 'phone', data_type: 'VARCHAR' },
      { column_name: 'n', data_type: 'BIGINT' },
      { column_name: 'ratio', data_type: 'DOUBLE' },
    ]);
    assert.deepEqual(await queryDuckDB(warehouse, 'SELECT zip, fips, phone, n::INTEGER AS n FROM main.codes ORDER BY n'), [
      { zip: '07030', fips: '001', phone: '+4915123', n: 5 },
      { zip: '10001', fips: '013', phone: '+1', n: 6 },
    ]);
    const dates = (table: string, columns: string) => queryDuckDB(warehouse, `SELECT ${columns} FROM main.${table} ORDER BY id`);
    assert.deepEqual(
      (await queryDuckDB(warehouse, "SELECT data_type FROM information_schema.columns WHERE table_name = 'slashdates' ORDER BY ordinal_position")).map((c) => c.data_type),
      ['BIGINT', 'DATE', 'TIMESTAMP', 'VARCHAR'],
    );
    assert.deepEqual(await dates('slashdates', 'day::VARCHAR AS day, "at"::VARCHAR AS "at", amb'), [
      { day: '2024-03-01', at: '2024-03-01 10:00:00', amb: '01/02/2024' },
      { day: '2024-12-31', at: '2024-12-31 23:59:59.5', amb: '03/04/2024' },
      { day: '2024-02-09', at: '2024-02-09 07:05:00', amb: '12/11/2023' },
    ]);
    assert.deepEqual(await dates('dayfirst', 'day::VARCHAR AS day, "at"::VARCHAR AS "at"'), [
      { day: '2024-02-01', at: '2024-12-31 10:00:00' },
      { day: '2024-02-13', at: '2024-02-01 00:00:01.25' },
      { day: '2024-02-29', at: '2024-02-29 00:00:00' },
    ]);
    assert.deepEqual(await dates('monthfirst', 'day::VARCHAR AS day'), [{ day: '2024-01-02' }, { day: '2024-12-31' }]);
    assert.deepEqual(await dates('dotted', 'day::VARCHAR AS day'), [{ day: '2024-12-31' }, { day: '2024-02-01' }]);
    assert.deepEqual(await queryDuckDB(warehouse, 'SELECT id::INTEGER AS id, zip FROM main.latecode ORDER BY id'), [
      { id: 1, zip: '10001' },
      { id: 2, zip: '12345' },
      { id: 3, zip: '07030' },
    ]);
    assert.deepEqual(await queryDuckDB(warehouse, 'SELECT text FROM main.escaped ORDER BY id'), [{ text: 'back"slash' }, { text: 'a\\\\b \\x' }]);
    assert.deepEqual(await queryDuckDB(warehouse, 'SELECT id, v FROM main.mixed ORDER BY id'), [
      { id: '1', v: '10' },
      { id: '2', v: '20' },
      { id: '3', v: '1234567890123456789' },
    ]);
    assert.deepEqual(await queryDuckDB(warehouse, 'SELECT id, v, w FROM main.evolve ORDER BY id'), [
      { id: '1', v: 10, w: null },
      { id: '2', v: 2.5, w: 'x' },
    ]);
    assert.deepEqual(await queryDuckDB(warehouse, 'SELECT v::INTEGER AS v, "on" FROM main.spaced ORDER BY id'), [
      { v: 12, on: true },
      { v: 13, on: false },
    ]);
    assert.match(
      String((await queryDuckDB(warehouse, 'SELECT reason FROM main.spaced__rejected'))[0]?.reason),
      /"\+3" is a code, not a number.*earlier values were staged as numbers spelled otherwise, so it cannot become text/,
    );
    assert.deepEqual(await queryDuckDB(warehouse, 'SELECT v FROM main.plaincode ORDER BY id'), [{ v: '12' }, { v: '-13' }, { v: '+3' }]);
    assert.deepEqual(
      await queryDuckDB(warehouse, "SELECT signed, v, typeof(v) AS t FROM main.plus ORDER BY id"),
      [
        { signed: '+0.10', v: 0.5, t: 'DOUBLE' },
        { signed: '+1.25', v: 0.1, t: 'DOUBLE' },
        { signed: '-2', v: 100, t: 'DOUBLE' },
      ],
    );
    assert.deepEqual(await queryDuckDB(warehouse, 'SELECT amount FROM main.padding ORDER BY id'), [{ amount: '12345678901234.50' }, { amount: '0.10' }, { amount: '0042' }]);
    // Columns follow the files' plan order, whichever file's read came first.
    assert.deepEqual((await tableIn(native, 'padding')).schema, [
      { column_name: 'id', data_type: 'BIGINT' },
      { column_name: 'amount', data_type: 'VARCHAR' },
    ]);
  });

  test('--dry-run says which path each file takes, and why', async () => {
    const dry = await runCli(['run', 'jobs', '--dry-run', '--full-refresh', '--json'], native.dir, { B2BETL_NATIVE_MIN_BYTES: '0' });
    const units = new Map(
      (JSON.parse(dry.stdout) as { plan: { units: { id: string; path: string; reason: string }[] } }[]).flatMap((result) => result.plan.units.map((unit) => [unit.id, unit])),
    );
    for (const [file, , expected] of CASES.flatMap(filesOf)) {
      // Values are only known once read: a file whose values send it back streams after all.
      if (expected === 'native') assert.equal(units.get(file)?.path, 'native', file);
    }
    assert.deepEqual(units.get('escaped.csv'), { ...units.get('escaped.csv'), path: 'streamed', reason: 'an escape character other than the quote' });
    assert.deepEqual(units.get('spacequote.csv'), { ...units.get('spacequote.csv'), path: 'streamed', reason: 'record 2 has spaces before an opening quote, which DuckDB drops' });
    const streamed = await runCli(['run', 'jobs/plain.yaml', '--dry-run', '--full-refresh'], native.dir, { B2BETL_STREAM_ONLY: '1' });
    assert.match(streamed.stdout, /plain\.csv \d+ bytes\n\s+streamed: B2BETL_STREAM_ONLY is set/);
    const small = await runCli(['run', 'jobs/plain.yaml', '--dry-run', '--full-refresh'], native.dir);
    assert.match(small.stdout, /streamed: smaller than 8 MiB: one statement per file costs more than it saves/);
  });

  test('rows set aside and failures are the same', async () => {
    const rejected = 'unit, position, column_name, reason, raw';
    assert.deepEqual(await tableIn(native, 'rejects__rejected', rejected), await tableIn(streamed, 'rejects__rejected', rejected));
    const byJob = (run: typeof nativeRun) => Object.fromEntries(run.results.map((r) => [r.job, [r.status, r.rows_loaded, r.rows_rejected]]));
    assert.deepEqual(byJob(nativeRun), byJob(streamedRun));
    const ragged = (run: typeof nativeRun) => run.results.find((r) => r.job === 'ragged')!;
    assert.equal(ragged(nativeRun).status, 'failed');
    assert.match(String(ragged(nativeRun).error), /ragged\.csv:3: expected 2 fields, found 3/);
    assert.equal(String(ragged(nativeRun).error).replace(native.dir, ''), String(ragged(streamedRun).error).replace(streamed.dir, ''));
  });
});
