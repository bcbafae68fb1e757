/** PostgreSQL → DuckDB through the real binary. */
import { pgScratch, PG } from '../support/databases.js';
import { sqlRunSuite } from '../support/sql-run.js';

sqlRunSuite({
  name: 'PostgreSQL',
  async scratch(prefix) {
    const s = await pgScratch(prefix);
    return {
      connectionYaml: `{ type: postgres, url: "postgres://${PG.user}@${PG.host}:${PG.port}/${PG.database}" }`,
      sql: (text) => s.sql(text),
      table: (name) => `${s.schema}.${name}`,
      drop: () => s.drop(),
    };
  },
  cursorType: 'timestamptz(6)',
  at: (seconds) => new Date(Date.UTC(2024, 0, 1) + seconds * 1000).toISOString(),
  series: (table, n) =>
    `INSERT INTO ${table} (id, updated_at, note) SELECT g, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second', 'n' || g FROM generate_series(1, ${n}) g`,
  typed: {
    ddl: `CREATE TABLE typed (id bigint PRIMARY KEY, i8 bigint, amount numeric(12,2), big numeric(50,5), at timestamptz(6), ts timestamp(6),
      d date, tm time, flag bool, by bytea, j jsonb, arr int[], iv interval, f float8, note text, u uuid)`,
    insert: `INSERT INTO typed VALUES
      (1, 9223372036854775807, 1234567890.12, '123456789012345678901234567890123456789012345.12345', '2024-01-01 10:00:00.123456+02',
       '2024-01-01 10:00:00.654321', '2024-02-29', '12:34:56.789', true, '\\x00ff', '{"a": [1, 2]}', '{1,2}', '1 day 02:00:00', 'NaN',
       E'a,"b"\\nc ü 😀', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'),
      (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`,
    expected: {
      id: '1',
      i8: '9223372036854775807',
      amount: '1234567890.12',
      big: '123456789012345678901234567890123456789012345.12345',
      at: '2024-01-01 08:00:00.123456+00',
      ts: '2024-01-01 10:00:00.654321',
      d: '2024-02-29',
      tm: '12:34:56.789',
      flag: true,
      by: '\\x00\\xFF',
      j: '{"a": [1, 2]}',
      arr: '[1,2]',
      iv: 'P1DT2H',
      f: 'NaN',
      note: 'a,"b"\nc ü 😀',
      u: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
    },
  },
});
