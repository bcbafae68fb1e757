/** MariaDB/MySQL → DuckDB through the real binary. */
import { MY, myScratch, mysqlSeries } from '../support/databases.js';
import { sqlRunSuite } from '../support/sql-run.js';

sqlRunSuite({
  name: 'MySQL',
  async scratch(prefix) {
    const s = await myScratch(prefix);
    return {
      connectionYaml: `{ type: mysql, host: ${MY.host}, port: ${MY.port}, user: ${MY.user}, database: ${s.database} }`,
      sql: (text) => s.sql(text),
      table: (name) => name,
      drop: () => s.drop(),
    };
  },
  cursorType: 'datetime(6)',
  at: (seconds) => new Date(Date.UTC(2024, 0, 1) + seconds * 1000).toISOString().replace('T', ' ').replace('Z', ''),
  series: mysqlSeries,
  typed: {
    ddl: `CREATE TABLE typed (id int PRIMARY KEY, flag tinyint(1), bu bigint unsigned, bi bigint, amount decimal(12,2), d65 decimal(65,30),
      f double, note text, d date, dtm datetime(6), ts timestamp(6) NULL, tm time(6), yr year, j json, bl blob, b1 bit(1), e enum('a','b'), zero date)`,
    insert: `INSERT INTO typed VALUES
      (1, 1, 18446744073709551615, -9223372036854775808, 1234567890.12, '12345678901234567890123456789012345.123456789012345678901234567890',
       0.1, 'a,"b"\\nc ü 😀', '2024-02-29', '1999-12-31 23:59:59.999999', '2024-06-01 10:00:00.000001', '23:59:59.5', 2024,
       '{"a": [1, 2.50]}', X'00ff', b'1', 'b', NULL),
      (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`,
    expected: {
      id: '1',
      flag: true,
      bu: '18446744073709551615',
      bi: '-9223372036854775808',
      amount: '1234567890.12',
      d65: '12345678901234567890123456789012345.12345678901234567890123456789',
      f: 0.1,
      note: 'a,"b"\nc ü 😀',
      d: '2024-02-29',
      dtm: '1999-12-31 23:59:59.999999',
      ts: '2024-06-01 10:00:00.000001+00',
      tm: '23:59:59.5',
      yr: '2024',
      j: '{"a": [1, 2.50]}',
      bl: '\\x00\\xFF',
      b1: true,
      e: 'b',
      zero: null,
    },
  },
});
