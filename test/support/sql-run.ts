/**
 * End-to-end runs of the real `b2betl` binary from a SQL database into DuckDB, shared by the
 * PostgreSQL and MySQL tests: exact values, incremental runs with ties, and a `kill -9` in the
 * middle of a parallel run followed by a re-run.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { queryDuckDB, runCli, scratchProject } from './cli.js';

/** What the end-to-end suite needs from one database. */
export interface SqlRunTarget {
  readonly name: string;
  /** Creates a scratch schema/database; `table(name)` is the name to use in job files. */
  scratch(prefix: string): Promise<{ connectionYaml: string; sql(text: string): Promise<unknown>; table(name: string): string; drop(): Promise<void> }>;
  /** DDL column types for: cursor timestamp, decimal(12,2), text. */
  readonly cursorType: string;
  at(seconds: number): string;
  series(table: string, n: number): string;
  /** A table `typed` with one row of exact values, and what DuckDB must hold for it. */
  readonly typed: { ddl: string; insert: string; expected: Record<string, unknown> };
}

function decimals(row: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(row).map(([key, value]) => [key, typeof value === 'string' && /^-?\d+\.\d+$/.test(value) ? value.replace(/\.?0+$/, '') : value]),
  );
}

/** Registers the suite for `target`. */
export function sqlRunSuite(target: SqlRunTarget): void {
  describe(`${target.name} → DuckDB through the b2betl binary`, () => {
    let db: Awaited<ReturnType<SqlRunTarget['scratch']>>;
    let project: Awaited<ReturnType<typeof scratchProject>>;
    const warehouse = () => path.join(project.dir, 'warehouse.duckdb');
    const jobFile = async (name: string, body: string) => {
      await project.write(`jobs/${name}.yaml`, `name: ${name}\n${body}`);
      return `jobs/${name}.yaml`;
    };
    const runJob = async (file: string, ...args: string[]) => {
      const result = await runCli(['run', file, ...args], project.dir);
      assert.equal(result.code, 0, `b2betl run ${file} failed:\n${result.stderr}\n${result.stdout}`);
      return result;
    };

    before(async () => {
      db = await target.scratch('run');
      project = await scratchProject({
        'etl.config.yaml': `connections:\n  shop: ${db.connectionYaml}\n  local_wh: { type: duckdb, path: ./warehouse.duckdb }\ndefaults: { destination: local_wh }\n`,
      });
    });
    after(async () => {
      await db?.drop();
      await project?.cleanup();
    });

    it('loads every value exactly into DuckDB', async () => {
      await db.sql(target.typed.ddl);
      await db.sql(target.typed.insert);
      const file = await jobFile('typed', `source: { connection: shop, table: ${db.table('typed')} }\nload: { strategy: catalog }\n`);
      await runJob(file);
      const rows = await queryDuckDB(warehouse(), 'SELECT * FROM typed ORDER BY id');
      assert.equal(rows.length, 2);
      // DuckDB may widen a decimal's scale: compare decimals without trailing zeros.
      assert.deepEqual(decimals(rows[0]), decimals(target.typed.expected));
      assert.ok(Object.entries(rows[1]).every(([key, value]) => key === 'id' || value === null));
    });

    it('loads rows arriving at the high-water mark between runs exactly once', async () => {
      await db.sql(`CREATE TABLE ${db.table('ties')} (id bigint PRIMARY KEY, updated_at ${target.cursorType}, note varchar(40))`);
      const insert = (rows: [number, number][]) =>
        db.sql(`INSERT INTO ${db.table('ties')} VALUES ${rows.map(([id, at]) => `(${id}, '${target.at(at)}', 'n${id}')`).join(', ')}`);
      await insert([
        [1, 10],
        [2, 20],
      ]);
      const file = await jobFile('ties', `source: { connection: shop, table: ${db.table('ties')} }\nload: { strategy: transactional, cursor: updated_at }\n`);
      await runJob(file);
      await insert([
        [3, 20],
        [4, 30],
      ]);
      await runJob(file);
      await runJob(file);
      const dry = await runJob(file, '--dry-run', '--json');
      const notes = JSON.stringify(JSON.parse(dry.stdout));
      assert.match(notes, /query: SELECT /);
      assert.match(notes, /to the high-water mark /);
      const rows = await queryDuckDB(warehouse(), 'SELECT id FROM ties ORDER BY id');
      assert.deepEqual(
        rows.map((r) => Number(r.id)),
        [1, 2, 3, 4],
      );
    });

    it('loads exactly the source rows after a kill at the after-rows fault point in the middle of a parallel run', async () => {
      const rows = 300_000;
      await db.sql(`CREATE TABLE ${db.table('killed')} (id bigint PRIMARY KEY, updated_at ${target.cursorType}, note varchar(40))`);
      await db.sql(target.series(db.table('killed'), rows));
      const file = await jobFile(
        'killed',
        `source: { connection: shop, table: ${db.table('killed')}, parallelism: 2 }\nload: { strategy: transactional, cursor: updated_at }\n`,
      );
      // Killed once half of the rows are read, while both units still stream.
      const killed = await runCli(['run', file], project.dir, { B2BETL_FAULT: `after-rows@${rows / 2}` });
      assert.equal(killed.code, 128, killed.stderr);
      assert.match(killed.stderr, /fault point after-rows hit \(\d+ rows read\)/);
      // Rows written after the crash arrive with the re-run, and only once.
      await db.sql(`INSERT INTO ${db.table('killed')} VALUES (${rows + 1}, '${target.at(rows + 1)}', 'late')`);
      await runJob(file);
      await runJob(file);
      const [count] = await queryDuckDB(warehouse(), 'SELECT count(*) AS n, count(DISTINCT id) AS d, sum(id) AS s FROM killed');
      assert.equal(Number(count.n), rows + 1);
      assert.equal(Number(count.d), rows + 1);
      assert.equal(BigInt(String(count.s)), (BigInt(rows + 1) * BigInt(rows + 2)) / 2n);
    });
  });
}
