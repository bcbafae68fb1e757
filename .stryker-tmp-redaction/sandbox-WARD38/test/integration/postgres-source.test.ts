/** The PostgreSQL source against the real server: the shared SQL suite and exact type round-trips. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { source } from '../../connectors/sources/postgres/index.js';
import { silentLogger } from '../../src/core/log.js';
import { job, pgScratch, planContext, readPlan, type PgScratch } from '../support/databases.js';
import { startFakePostgres } from '../support/fake-postgres.js';
import { sqlConformance } from '../support/sql-conformance.js';

sqlConformance({
  name: 'PostgreSQL',
  async scratch(prefix) {
    const s = await pgScratch(prefix);
    return { connection: s.connection, sql: (text) => s.sql(text), table: (name) => `${s.schema}.${name}`, drop: () => s.drop() };
  },
  source,
  cursorType: 'timestamptz(6)',
  at: (seconds) => new Date(Date.UTC(2024, 0, 1) + seconds * 1000).toISOString(),
  series: (table, n) =>
    `INSERT INTO ${table} (id, updated_at, note) SELECT g, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second', 'n' || g FROM generate_series(1, ${n}) g`,
  async kill(sql, table) {
    const [schema, name] = table.split('.');
    await sql(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'COPY%"${schema}"."${name}"%' AND pid <> pg_backend_pid()`);
  },
  cursorKinds: [
    { type: 'timestamp(6)', values: ["'2024-01-01 00:00:00.000001'", "'2024-01-01 00:00:00.5'", "'2024-01-02 00:00:00'"] },
    { type: 'date', values: ["'2023-12-31'", "'2024-01-01'", "'2024-01-02'"] },
    { type: 'bigint', values: ['9007199254740992', '9007199254740993', '9223372036854775807'] },
    { type: 'numeric(30,10)', values: ['0.0000000001', "'12345678901234567890.5'", '12345678901234567890.51'] },
    { type: 'double precision', values: ['0.1', '0.30000000000000004', '1e300'] },
    { type: 'text', values: ["'apple'", "'banana'", "'cherry'"] },
  ],
  refused: { type: 'postgres', host: '127.0.0.1', port: 1, user: 'etl', password: 's3cr3t', database: 'shop' },
  fake: startFakePostgres,
});

describe('PostgreSQL types', () => {
  let db: PgScratch;
  before(async () => {
    db = await pgScratch('types');
  });
  after(async () => db?.drop());

  it('reads every type in its exact canonical representation', async () => {
    await db.sql(`CREATE TYPE mood AS ENUM ('ok', 'sad')`);
    await db.sql(`CREATE DOMAIN price AS numeric(10,3)`);
    await db.sql(`CREATE TABLE every (
      id int PRIMARY KEY, i2 smallint, i8 bigint, n numeric(12,2), n40 numeric(40,2), n60 numeric(60,0), nu numeric, p price,
      r real, d double precision, tx text, vc varchar(10), ch char(3), b bool, dt date, ts timestamp(6), tstz timestamptz,
      tm time, iv interval, u uuid, j json, jb jsonb, ints int[], texts text[], stamps timestamptz[], by bytea, m mood,
      ip inet, mo money)`);
    await db.sql(`INSERT INTO every VALUES
      (1, -32768, 9223372036854775807, 1234567890.12, '12345678901234567890123456789012345678.99', repeat('9', 60)::numeric,
       '3.14159265358979323846264338327950288419716939937510', 1.5, 3.4028235e38, 0.1, E'tab\\there\\nnew "q" \\'s\\' \\\\ ü 😀',
       'short', 'ab', true, '2024-02-29', '1999-12-31 23:59:59.999999', '2024-06-01 12:00:00.000001+02:00', '23:59:59.999999',
       '1 year 2 mons 3 days 04:05:06.5', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": [1, 2.50], "b": "x\\ty"}', '{"z": 1, "a": null}',
       '{1,NULL,3}', '{"x,y","q\\"z",NULL}', '{"2024-01-01 00:00:00+00"}', '\\x00ff0a5c', 'sad', '192.168.0.1/24', 12.34),
      (2, NULL, -9007199254740993, 'NaN', NULL, NULL, NULL, NULL, 'NaN', 'Infinity', '', NULL, NULL, false, '0001-01-01',
       '2038-01-19 03:14:08', '1970-01-01 00:00:00+00', '00:00:00', '-1 days', NULL, 'null', '[]', '{}', '{}', NULL, '\\x', 'ok', '::1', -1),
      (3, NULL, 9007199254740991, NULL, NULL, NULL, NULL, NULL, '-Infinity', '-Infinity', NULL, NULL, NULL, NULL, NULL,
       NULL, '1969-12-31 23:59:59.999999+00', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`);
    const src = await source({ name: 'db', config: db.connection, baseDir: '.', log: silentLogger });
    try {
      const spec = job({ table: `${db.schema}.every` }, { strategy: 'catalog' });
      const columns = await src.discover(spec, silentLogger);
      const types = Object.fromEntries(columns.map((c) => [c.name, `${c.type} ${c.sourceType}`]));
      assert.deepEqual(types, {
        id: 'INT64 integer',
        i2: 'INT64 smallint',
        i8: 'INT64 bigint',
        n: 'NUMERIC numeric(12,2)',
        n40: 'BIGNUMERIC numeric(40,2)',
        n60: 'STRING numeric(60,0)',
        nu: 'BIGNUMERIC numeric',
        p: `NUMERIC ${db.schema}.price`,
        r: 'FLOAT64 real',
        d: 'FLOAT64 double precision',
        tx: 'STRING text',
        vc: 'STRING character varying(10)',
        ch: 'STRING character(3)',
        b: 'BOOL boolean',
        dt: 'DATE date',
        ts: 'DATETIME timestamp(6) without time zone',
        tstz: 'TIMESTAMP timestamp with time zone',
        tm: 'TIME time without time zone',
        iv: 'STRING interval',
        u: 'STRING uuid',
        j: 'JSON json',
        jb: 'JSON jsonb',
        ints: 'STRING integer[]',
        texts: 'STRING text[]',
        stamps: 'STRING timestamp with time zone[]',
        by: 'BYTES bytea',
        m: `STRING ${db.schema}.mood`,
        ip: 'STRING inet',
        mo: 'NUMERIC money',
      });
      assert.equal(columns.find((c) => c.name === 'id')!.nullable, false);
      const { rows } = await readPlan(src, spec, await src.plan(planContext(spec, undefined, { fullRefresh: true })));
      rows.sort((a, b) => Number(a[0]) - Number(b[0]));
      const byName = (row: unknown[]) => Object.fromEntries(columns.map((c, i) => [c.name, row[i]]));
      assert.deepEqual(byName(rows[0]), {
        id: 1,
        i2: -32768,
        i8: 9223372036854775807n,
        n: '1234567890.12',
        n40: '12345678901234567890123456789012345678.99',
        n60: '9'.repeat(60),
        nu: '3.14159265358979323846264338327950288419716939937510',
        p: '1.500',
        r: 3.4028235e38,
        d: 0.1,
        tx: 'tab\there\nnew "q" \'s\' \\ ü 😀',
        vc: 'short',
        ch: 'ab ',
        b: true,
        dt: '2024-02-29',
        ts: '1999-12-31 23:59:59.999999',
        tstz: 1717236000000001n,
        tm: '23:59:59.999999',
        iv: 'P1Y2M3DT4H5M6.5S',
        u: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
        j: '{"a": [1, 2.50], "b": "x\\ty"}',
        jb: '{"a": null, "z": 1}',
        ints: '[1,null,3]',
        texts: '["x,y","q\\"z",null]',
        stamps: '["2024-01-01T00:00:00+00:00"]',
        by: Buffer.from([0, 255, 10, 92]),
        m: 'sad',
        ip: '192.168.0.1/24',
        mo: '12.34',
      });
      const second = byName(rows[1]);
      assert.equal(second.i8, -9007199254740993n);
      assert.equal(second.n, 'NaN');
      assert.ok(Number.isNaN(second.r));
      assert.equal(second.d, Number.POSITIVE_INFINITY);
      assert.equal(second.tx, '');
      assert.equal(second.dt, '0001-01-01');
      assert.equal(second.ts, '2038-01-19 03:14:08.000000');
      assert.equal(second.tstz, 0n);
      assert.equal(second.tm, '00:00:00.000000');
      assert.equal(second.iv, 'P-1D');
      assert.equal(second.j, 'null');
      assert.equal(second.ints, '[]');
      assert.deepEqual(second.by, Buffer.alloc(0));
      assert.equal(second.mo, '-1.00');
      const third = byName(rows[2]);
      assert.equal(third.i8, 9007199254740991);
      assert.equal(third.r, Number.NEGATIVE_INFINITY);
      assert.equal(third.tstz, -1n);
      assert.equal(third.tx, null);
    } finally {
      await src.close();
    }
  });

  it('names the missing database with host, port and user', async () => {
    const src = await source({ name: 'shop_pg', config: { type: 'postgres', host: '127.0.0.1', port: 5432, user: 'postgres', database: 'no_such_db_b2b' }, baseDir: '.', log: silentLogger });
    try {
      await assert.rejects(src.discover(job({ table: 'x' }, { strategy: 'catalog' }), silentLogger), (error: unknown) => {
        assert.match((error as Error).message, /database "no_such_db_b2b" does not exist \(at 127\.0\.0\.1:5432 as user postgres\)/);
        assert.match((error as { hint?: string }).hint ?? '', /check database in connection shop_pg/);
        return true;
      });
    } finally {
      await src.close();
    }
  });

  it('gives arrays and composites as JSON when the job asks nested: json, and describes queries', async () => {
    await db.sql(`CREATE TABLE nest (id int, tags text[], pair int[])`);
    await db.sql(`INSERT INTO nest VALUES (1, '{a,b}', '{1,2}')`);
    const src = await source({ name: 'db', config: db.connection, baseDir: '.', log: silentLogger });
    try {
      const spec = job({ table: `${db.schema}.nest`, nested: 'json' }, { strategy: 'catalog' });
      const columns = await src.discover(spec, silentLogger);
      assert.deepEqual(
        columns.map((c) => c.type),
        ['INT64', 'JSON', 'JSON'],
      );
      const query = job({ query: `SELECT id, tags, id::numeric(5,1) AS x, now() AS t FROM ${db.schema}.nest` }, { strategy: 'catalog' });
      const described = await src.discover(query, silentLogger);
      assert.deepEqual(
        described.map((c) => `${c.name} ${c.type} ${c.sourceType}`),
        ['id INT64 integer', 'tags STRING text[]', 'x NUMERIC numeric(5,1)', 't TIMESTAMP timestamp with time zone'],
      );
      const { rows } = await readPlan(src, query, await src.plan(planContext(query, undefined, { fullRefresh: true })));
      assert.deepEqual(rows[0].slice(0, 3), [1, '["a","b"]', '1.0']);
      await db.sql(`CREATE VIEW nest_view AS SELECT id, pair FROM nest`);
      const view = job({ table: `${db.schema}.nest_view`, parallelism: 2 }, { strategy: 'catalog' });
      const viewPlan = await src.plan(planContext(view, undefined, { fullRefresh: true }));
      assert.equal(viewPlan.units.length, 1);
      assert.deepEqual((await readPlan(src, view, viewPlan)).rows, [[1, '[1,2]']]);
      await assert.rejects(src.discover(job({ query: 'SELECT nope FROM nowhere' }, { strategy: 'catalog' }), silentLogger), /source.query does not run/);
    } finally {
      await src.close();
    }
  });
});
