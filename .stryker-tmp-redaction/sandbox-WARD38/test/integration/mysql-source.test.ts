/** The MySQL/MariaDB source against the real server: the shared SQL suite and exact type round-trips. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { source } from '../../connectors/sources/mysql/index.js';
import { silentLogger } from '../../src/core/log.js';
import { job, myScratch, mysqlSeries, planContext, readPlan, suffix, type MyScratch } from '../support/databases.js';
import { startFakeMysql } from '../support/fake-mysql.js';
import { sqlConformance } from '../support/sql-conformance.js';

sqlConformance({
  name: 'MySQL',
  async scratch(prefix) {
    const s = await myScratch(prefix);
    return { connection: s.connection, sql: (text) => s.sql(text), table: (name) => name, drop: () => s.drop() };
  },
  source,
  cursorType: 'datetime(6)',
  at: (seconds) => new Date(Date.UTC(2024, 0, 1) + seconds * 1000).toISOString().replace('T', ' ').replace('Z', ''),
  series: mysqlSeries,
  async kill(sql, table) {
    const rows = (await sql(`SELECT ID AS id FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT q.%\`${table}\`%' AND DB = DATABASE() AND ID <> CONNECTION_ID()`)) as { id: number }[];
    for (const { id } of rows) await sql(`KILL ${id}`);
  },
  cursorKinds: [
    { type: 'timestamp(6) NULL', values: ["'2024-01-01 00:00:00.000001'", "'2024-01-01 00:00:00.5'", "'2024-01-02 00:00:00'"] },
    { type: 'date', values: ["'2023-12-31'", "'2024-01-01'", "'2024-01-02'"] },
    { type: 'bigint', values: ['9007199254740992', '9007199254740993', '9223372036854775807'] },
    { type: 'decimal(30,10)', values: ['0.0000000001', "'12345678901234567890.5'", '12345678901234567890.51'] },
    { type: 'double', values: ['0.1', '0.30000000000000004', '1e300'] },
    { type: 'varchar(20)', values: ["'apple'", "'banana'", "'cherry'"] },
  ],
  refused: { type: 'mysql', host: '127.0.0.1', port: 1, user: 'etl', password: 's3cr3t', database: 'shop' },
  fake: startFakeMysql,
});

describe('MySQL types', () => {
  let db: MyScratch;
  before(async () => {
    db = await myScratch('types');
  });
  after(async () => db?.drop());

  it('reads every type in its exact canonical representation, zero dates as NULL', async () => {
    await db.sql(`SET SESSION sql_mode = ''`);
    await db.sql(`CREATE TABLE every (
      id int PRIMARY KEY, flag tinyint(1), ti tinyint, si smallint unsigned, iu int unsigned, bi bigint, bu bigint unsigned,
      dc decimal(12,2), d65 decimal(65,30), d40 decimal(40,0), f float, d double, ch char(3), vc varchar(20), tx text, lt longtext,
      dt date, dtm datetime(6), dt0 datetime, ts timestamp(6) NULL, tm time(6), yr year, j json, bl blob, vb varbinary(8),
      b1 bit(1), b9 bit(9), e enum('a','b'), st set('x','y'))`);
    await db.sql(`INSERT INTO every VALUES
      (1, 1, -128, 65535, 4294967295, 9223372036854775807, 18446744073709551615, 1234567890.12,
       '12345678901234567890123456789012345.123456789012345678901234567890', '9999999999999999999999999999999999999999',
       1.5, 0.1, 'ab', 'héllo 😀', 'tab\\there\\nnew "q" \\'s\\' \\\\', REPEAT('x', 70000), '2024-02-29', '1999-12-31 23:59:59.999999',
       '2024-01-01 10:00:00', '2024-06-01 10:00:00.000001', '23:59:59.999999', 2024, '{"a": [1, 2.50]}', X'00ff0a5c', X'01',
       b'1', b'100000001', 'b', 'x,y'),
      (2, 0, NULL, NULL, NULL, -9007199254740993, 0, -0.5, NULL, NULL, NULL, -1e300, NULL, '', NULL, NULL, '0000-00-00',
       '0000-00-00 00:00:00', '2024-00-10 00:00:00', '0000-00-00 00:00:00', '-01:00:00', 1901, 'null', X'', NULL, b'0', b'0', NULL, ''),
      (3, NULL, NULL, NULL, NULL, 9007199254740991, 9007199254740993, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
       '2024-05-00', NULL, NULL, '1970-01-01 00:00:01', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`);
    const src = await source({ name: 'db', config: db.connection, baseDir: '.', log: silentLogger });
    try {
      const spec = job({ table: 'every' }, { strategy: 'catalog' });
      const columns = await src.discover(spec, silentLogger);
      const types = Object.fromEntries(columns.map((c) => [c.name, c.type]));
      assert.deepEqual(types, {
        id: 'INT64', flag: 'BOOL', ti: 'INT64', si: 'INT64', iu: 'INT64', bi: 'INT64', bu: 'NUMERIC', dc: 'NUMERIC', d65: 'BIGNUMERIC',
        d40: 'STRING', f: 'FLOAT64', d: 'FLOAT64', ch: 'STRING', vc: 'STRING', tx: 'STRING', lt: 'STRING', dt: 'DATE', dtm: 'DATETIME',
        dt0: 'DATETIME', ts: 'TIMESTAMP', tm: 'TIME', yr: 'INT64', j: 'JSON', bl: 'BYTES', vb: 'BYTES', b1: 'BOOL', b9: 'INT64', e: 'STRING', st: 'STRING',
      });
      const { rows } = await readPlan(src, spec, await src.plan(planContext(spec, undefined, { fullRefresh: true })));
      rows.sort((a, b) => Number(a[0]) - Number(b[0]));
      const byName = (row: unknown[]) => Object.fromEntries(columns.map((c, i) => [c.name, row[i]]));
      assert.deepEqual(byName(rows[0]), {
        id: 1, flag: true, ti: -128, si: 65535, iu: 4294967295, bi: 9223372036854775807n, bu: '18446744073709551615', dc: '1234567890.12',
        d65: '12345678901234567890123456789012345.123456789012345678901234567890', d40: '9999999999999999999999999999999999999999',
        f: 1.5, d: 0.1, ch: 'ab', vc: 'héllo 😀', tx: 'tab\there\nnew "q" \'s\' \\', lt: 'x'.repeat(70000), dt: '2024-02-29',
        dtm: '1999-12-31 23:59:59.999999', dt0: '2024-01-01 10:00:00.000000', ts: 1717236000000001n, tm: '23:59:59.999999', yr: 2024,
        j: '{"a": [1, 2.50]}', bl: Buffer.from([0, 255, 10, 92]), vb: Buffer.from([1]), b1: true, b9: 257, e: 'b', st: 'x,y',
      });
      const second = byName(rows[1]);
      assert.equal(second.flag, false);
      assert.equal(second.bi, -9007199254740993n);
      assert.equal(second.bu, '0');
      assert.equal(second.dc, '-0.50');
      assert.equal(second.d, -1e300);
      assert.equal(second.vc, '');
      assert.equal(second.dt, null, 'zero date');
      assert.equal(second.dtm, null, 'zero datetime');
      assert.equal(second.dt0, null, 'datetime with a zero month');
      assert.equal(second.ts, null, 'zero timestamp');
      assert.equal(second.tm, '-01:00:00.000000', 'a negative TIME stays text');
      assert.equal(second.yr, 1901);
      assert.equal(second.j, 'null');
      assert.deepEqual(second.bl, Buffer.alloc(0));
      assert.equal(second.b1, false);
      assert.equal(second.b9, 0);
      assert.equal(second.st, '');
      const third = byName(rows[2]);
      assert.equal(third.bi, 9007199254740991);
      assert.equal(third.bu, '9007199254740993');
      assert.equal(third.dt, null, 'date with a zero day');
      assert.equal(third.ts, 1_000_000n);
    } finally {
      await src.close();
    }
  });

  it('reads the narrow ranges of a parallel plan through the cursor index, every row once', async () => {
    await db.sql('CREATE TABLE ranged (id bigint PRIMARY KEY, updated_at datetime(6) NULL, note varchar(50), KEY by_update (updated_at))');
    await db.sql(mysqlSeries('ranged', 150_000));
    await db.sql('ANALYZE TABLE ranged');
    const src = await source({ name: 'db', config: db.connection, baseDir: '.', log: silentLogger });
    try {
      const spec = job({ table: 'ranged', parallelism: 2 }, { cursor: 'updated_at' });
      const plan = await src.plan(planContext(spec));
      assert.ok(plan.units.length > 2, `expected cursor ranges, got ${plan.units.length} unit(s)`);
      // MariaDB would scan the whole table for each tenth of it; the hint keeps each unit a range read.
      assert.match(plan.notes?.find((note) => note.startsWith('query:')) ?? '', /FROM `ranged` AS q FORCE INDEX \(`by_update`\) WHERE/);
      const ids = (await readPlan(src, spec, plan)).rows.map((row) => Number(row[0])).sort((a, b) => a - b);
      assert.equal(ids.length, 150_000);
      assert.equal(new Set(ids).size, 150_000);
      const whole = job({ table: 'ranged' }, { cursor: 'updated_at' });
      assert.doesNotMatch((await src.plan(planContext(whole))).notes?.join('\n') ?? '', /FORCE INDEX/, 'a single unit reads the table in one scan');
    } finally {
      await src.close();
    }
  });

  it('describes a query from its result metadata', async () => {
    await db.sql(`CREATE TABLE q1 (id bigint unsigned NOT NULL, flag tinyint(1), amount decimal(8,3), at datetime(6), doc json)`);
    const src = await source({ name: 'db', config: db.connection, baseDir: '.', log: silentLogger });
    try {
      const spec = job({ query: 'SELECT id, flag, amount, at, doc, CAST(1 AS SIGNED) AS one FROM q1' }, { strategy: 'catalog' });
      const columns = await src.discover(spec, silentLogger);
      assert.deepEqual(
        columns.map((c) => `${c.name} ${c.type} ${c.nullable}`),
        ['id NUMERIC false', 'flag BOOL true', 'amount NUMERIC true', 'at DATETIME true', 'doc JSON true', 'one INT64 false'],
      );
      await assert.rejects(src.discover(job({ query: 'SELECT nope FROM nowhere' }, { strategy: 'catalog' }), silentLogger), /source.query does not run/);
    } finally {
      await src.close();
    }
  });

  it('reports a wrong password with host, port and user, and never the password', async () => {
    const user = `b2b_${suffix()}`;
    await db.sql(`CREATE USER '${user}'@'%' IDENTIFIED BY 'right-pw'`);
    await db.sql(`CREATE USER '${user}'@'localhost' IDENTIFIED BY 'right-pw'`);
    try {
      const src = await source({
        name: 'shop_my',
        config: { type: 'mysql', url: `mysql://${user}:wr0ng-p%40ss@127.0.0.1:3306/${db.database}` },
        baseDir: '.',
        log: silentLogger,
      });
      try {
        await assert.rejects(src.discover(job({ table: 'q1' }, { strategy: 'catalog' }), silentLogger), (error: unknown) => {
          const text = `${(error as Error).message} ${(error as { hint?: string }).hint ?? ''}`;
          assert.match(text, new RegExp(`authentication failed at 127\\.0\\.0\\.1:3306 as user ${user}`));
          assert.match(text, /connection shop_my/);
          assert.doesNotMatch(text, /wr0ng/);
          return true;
        });
      } finally {
        await src.close();
      }
    } finally {
      await db.sql(`DROP USER '${user}'@'%'`);
      await db.sql(`DROP USER '${user}'@'localhost'`);
    }
  });
});
