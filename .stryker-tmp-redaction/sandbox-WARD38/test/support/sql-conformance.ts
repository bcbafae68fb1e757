/**
 * One behaviour suite run against every SQL source (PostgreSQL, MariaDB/MySQL): incremental
 * runs with ties at the high-water mark, rows written during a read, NULL cursors, empty
 * tables, parallel plans, lookback, backfill windows, configuration errors, dropped
 * connections and a 1M-row read with bounded memory.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { ConnectorContext, SourceConnector, WorkUnit } from '../../src/core/connector.js';
import { ConfigError, TransientError } from '../../src/core/errors.js';
import { silentLogger } from '../../src/core/log.js';
import type { ConnectionConfig } from '../../src/core/spec.js';
import { job, planContext, readPlan, readUnit, run } from './databases.js';
import { Released } from './memory.js';
import type { FakeSqlServer } from './fake-postgres.js';

/** What the suite needs to know about one database. */
export interface SqlTarget {
  readonly name: string;
  /** Creates a scratch schema/database; `table(name)` is the qualified name to use in jobs. */
  scratch(prefix: string): Promise<{ connection: ConnectionConfig; sql(text: string): Promise<unknown>; table(name: string): string; drop(): Promise<void> }>;
  source(context: ConnectorContext): Promise<SourceConnector>;
  /** Column type of the cursor under test, and how to write a value of it from seconds after 2024-01-01. */
  readonly cursorType: string;
  at(seconds: number): string;
  /** SQL inserting rows `id` 1..n with `updated_at = at(id)` and a note, generated in the server. */
  series(table: string, n: number): string;
  /** Kills the other sessions of this scratch schema/database that are reading from `table`. */
  kill(sql: (text: string) => Promise<unknown>, table: string): Promise<void>;
  /** More cursor column types, each with three increasing SQL literals. */
  readonly cursorKinds: readonly { readonly type: string; readonly values: readonly [string, string, string] }[];
  /** A connection to a port nothing listens on, with a password that must not leak. */
  readonly refused: ConnectionConfig;
  /** A local fake server of this protocol that quotes the password back in its errors, at login or at the first statement. */
  fake(failAt: 'auth' | 'query'): Promise<FakeSqlServer>;
}

const ids = (rows: unknown[][]) => rows.map((r) => Number(r[0])).sort((a, b) => a - b);

/** Registers the suite for `target`. */
export function sqlConformance(target: SqlTarget): void {
  describe(`${target.name} source conformance`, () => {
    let db: Awaited<ReturnType<SqlTarget['scratch']>>;
    let source: SourceConnector;
    const context = (): ConnectorContext => ({ name: 'db', config: db.connection, baseDir: '.', log: silentLogger });
    const create = (name: string, pk = true) =>
      db.sql(`CREATE TABLE ${db.table(name)} (id bigint ${pk ? 'PRIMARY KEY' : 'NOT NULL'}, updated_at ${target.cursorType} NULL, note varchar(50))`);
    const insert = (name: string, rows: [number, number | null, string?][]) =>
      db.sql(
        `INSERT INTO ${db.table(name)} (id, updated_at, note) VALUES ${rows
          .map(([id, at, note]) => `(${id}, ${at === null ? 'NULL' : `'${target.at(at)}'`}, '${note ?? `n${id}`}')`)
          .join(', ')}`,
      );

    /** A table several tests read, made by whichever runs first: each test also passes alone. */
    const shared = (make: () => Promise<void>) => {
      let made: Promise<void> | undefined;
      return () => (made ??= make());
    };
    const ranges = shared(async () => {
      await create('ranges');
      await db.sql(target.series(db.table('ranges'), 120_000));
      await insert('ranges', [[200_001, null]]);
    });
    const big = shared(async () => {
      await create('big');
      await db.sql(target.series(db.table('big'), 1_000_000));
    });

    before(async () => {
      db = await target.scratch('conf');
      source = await target.source(context());
    });
    after(async () => {
      await source?.close();
      await db?.drop();
    });

    it('loads rows that arrive at the high-water mark after a run exactly once', async () => {
      await create('ties');
      await insert('ties', [
        [1, 10],
        [2, 20],
        [3, 20],
      ]);
      const spec = job({ table: db.table('ties') }, { cursor: 'updated_at' });
      const first = await run(source, spec, undefined);
      assert.deepEqual(ids(first.rows), [1, 2, 3]);
      await insert('ties', [
        [4, 20],
        [5, 30],
        [6, 5],
      ]);
      const second = await run(source, spec, JSON.parse(JSON.stringify(first.cursor)));
      // Row 6 is behind the cursor: it is the late row lookback exists for, not this run's.
      assert.deepEqual(ids(second.rows), [4, 5]);
      const third = await run(source, spec, second.cursor);
      assert.deepEqual(ids(third.rows), []);
      await insert('ties', [[7, 30]]);
      const fourth = await run(source, spec, third.cursor);
      assert.deepEqual(ids(fourth.rows), [7]);
    });

    it('handles ties on every kind of cursor column', async () => {
      for (const [k, kind] of target.cursorKinds.entries()) {
        const table = db.table(`kind${k}`);
        await db.sql(`CREATE TABLE ${table} (id bigint PRIMARY KEY, c ${kind.type})`);
        const [a, b, c] = kind.values;
        await db.sql(`INSERT INTO ${table} VALUES (1, ${a}), (2, ${b}), (3, ${b})`);
        const spec = job({ table }, { cursor: 'c' });
        const first = await run(source, spec, undefined);
        assert.deepEqual(ids(first.rows), [1, 2, 3], kind.type);
        await db.sql(`INSERT INTO ${table} VALUES (4, ${b}), (5, ${c})`);
        const second = await run(source, spec, JSON.parse(JSON.stringify(first.cursor)));
        assert.deepEqual(ids(second.rows), [4, 5], kind.type);
        assert.deepEqual(ids((await run(source, spec, second.cursor)).rows), [], kind.type);
      }
    });

    it('keeps rows written while a run reads for the next run', async () => {
      await create('during');
      await insert('during', [
        [1, 10],
        [2, 20],
      ]);
      const spec = job({ table: db.table('during') }, { cursor: 'updated_at' });
      const plan = await source.plan(planContext(spec));
      await insert('during', [
        [3, 20],
        [4, 25],
      ]);
      const first = await readPlan(source, spec, plan);
      assert.deepEqual(ids(first.rows), [1, 2]);
      const second = await run(source, spec, first.cursor);
      assert.deepEqual(ids(second.rows), [3, 4]);
    });

    it('tells ties apart by row content when the table has no primary key', async () => {
      await create('nokey', false);
      await insert('nokey', [
        [1, 10, 'same'],
        [1, 10, 'same'],
      ]);
      const spec = job({ table: db.table('nokey') }, { cursor: 'updated_at' });
      const first = await run(source, spec, undefined);
      assert.equal(first.rows.length, 2);
      await insert('nokey', [
        [1, 10, 'same'],
        [2, 10, 'other'],
      ]);
      const second = await run(source, spec, first.cursor);
      assert.deepEqual(second.rows.map((r) => r[2]).sort(), ['other', 'same']);
      const third = await run(source, spec, second.cursor);
      assert.equal(third.rows.length, 0);
    });

    it('loads NULL cursors on the first run only, and honours load.start', async () => {
      await create('nulls');
      await insert('nulls', [
        [1, null],
        [2, 10],
        [3, 100],
      ]);
      const spec = job({ table: db.table('nulls') }, { cursor: 'updated_at' });
      const first = await run(source, spec, undefined);
      assert.deepEqual(ids(first.rows), [1, 2, 3]);
      await insert('nulls', [
        [4, null],
        [5, 200],
      ]);
      const second = await run(source, spec, first.cursor);
      assert.deepEqual(ids(second.rows), [5]);
      const fromStart = job({ table: db.table('nulls') }, { cursor: 'updated_at', start: target.at(50) });
      const started = await run(source, fromStart, undefined);
      assert.deepEqual(ids(started.rows), [3, 5]);
    });

    it('reads an empty table as one unit with its columns, then its first rows', async () => {
      await create('empty');
      const spec = job({ table: db.table('empty') }, { cursor: 'updated_at' });
      const plan = await source.plan(planContext(spec));
      assert.equal(plan.units.length, 1);
      const batches = [];
      for await (const batch of source.read(plan.units[0], { job: spec, log: silentLogger, signal: new AbortController().signal })) batches.push(batch);
      assert.equal(batches.length, 1);
      assert.deepEqual(batches[0].rows, []);
      assert.deepEqual(
        batches[0].columns.map((c) => c.name),
        ['id', 'updated_at', 'note'],
      );
      const cursor = plan.units[0].cursorAfter;
      assert.notEqual(cursor, undefined);
      await insert('empty', [[1, 10]]);
      assert.deepEqual(ids((await run(source, spec, cursor)).rows), [1]);
    });

    it('wraps a custom query so that the cursor filter and column selection still apply', async () => {
      await create('wrapped');
      await insert('wrapped', [
        [1, 10],
        [2, 20],
        [3, 30],
      ]);
      const spec = job(
        { query: `SELECT id, updated_at, note FROM ${db.table('wrapped')} WHERE id <> 2;`, columns: ['note', 'id'] },
        { cursor: 'updated_at', primary_key: ['id'] },
      );
      const columns = await source.discover(spec, silentLogger);
      assert.deepEqual(
        columns.map((c) => c.name),
        ['note', 'id'],
      );
      const first = await run(source, spec, undefined);
      assert.deepEqual(first.rows.sort(), [
        ['n1', 1],
        ['n3', 3],
      ]);
      await insert('wrapped', [
        [4, 30],
        [5, 40],
      ]);
      const second = await run(source, spec, first.cursor);
      assert.deepEqual(second.rows.map((r) => r[1]).sort(), [4, 5]);
    });

    it('names the real columns when a configured column does not exist', async () => {
      await create('named');
      const unknownCursor = job({ table: db.table('named') }, { cursor: 'changed_at' });
      await assert.rejects(source.discover(unknownCursor, silentLogger), (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.match(error.message, /`cursor` column `changed_at` not found in .*named; columns are: id, updated_at, note/);
        return true;
      });
      const unknownColumn = job({ table: db.table('named'), columns: ['id', 'nope'] }, { strategy: 'catalog' });
      await assert.rejects(source.discover(unknownColumn, silentLogger), /`columns` column `nope` not found/);
      const missingTable = job({ table: db.table('missing') }, { strategy: 'catalog' });
      await assert.rejects(source.discover(missingTable, silentLogger), (error: unknown) => error instanceof ConfigError && /not found/.test(error.message));
      const noCursor = job({ table: db.table('named') }, { strategy: 'transactional' });
      await assert.rejects(source.plan(planContext(noCursor)), (error: unknown) => error instanceof ConfigError && /needs load.cursor/.test(error.message));
    });

    it('splits a parallel plan into ordered cursor ranges that cover every row once', async () => {
      await ranges();
      const spec = job({ table: db.table('ranges'), parallelism: 3 }, { cursor: 'updated_at' });
      const plan = await source.plan(planContext(spec));
      assert.ok(plan.ordered);
      assert.ok(plan.units.length >= 3, `expected ranges, got ${plan.units.length}`);
      assert.ok(plan.units.every((u) => u.cursorAfter !== undefined));
      assert.ok(plan.notes?.some((n) => n.startsWith('query: SELECT')));
      // A run that commits only the first unit, then a run that resumes from its cursor.
      const firstUnit = await readUnit(source, spec, plan.units[0]);
      const resumed = await run(source, spec, JSON.parse(JSON.stringify(plan.units[0].cursorAfter)));
      const all = [...ids(firstUnit), ...ids(resumed.rows)].sort((a, b) => a - b);
      assert.equal(all.length, 120_001);
      assert.equal(new Set(all).size, 120_001);
      assert.equal(all[120_000], 200_001);
      const total = plan.units.reduce((sum, u) => sum + (u.estimatedRows ?? 0), 0);
      assert.ok(plan.estimatedRows !== undefined && plan.estimatedRows > 0 && total > 0);
    });

    it('loads every row once when rows sit on every split boundary, several at each', async () => {
      await create('edges');
      await db.sql(target.series(db.table('edges'), 120_000));
      const spec = job({ table: db.table('edges'), parallelism: 4 }, { cursor: 'updated_at' });
      const boundsOf = (plan: { units: readonly WorkUnit[] }) => plan.units.slice(0, -1).map((unit) => (unit.cursorAfter as { value: string }).value);
      const bounds = boundsOf(await source.plan(planContext(spec)));
      assert.ok(bounds.length >= 3, `a split plan, got ${bounds.length + 1} unit(s)`);
      // Three rows exactly on every boundary: the same cursor value on both sides of a split.
      let id = 1_000_000;
      const onEdges = bounds.flatMap((bound) => [id++, id++, id++].map((rowId) => `(${rowId}, '${bound}', 'edge')`));
      await db.sql(`INSERT INTO ${db.table('edges')} (id, updated_at, note) VALUES ${onEdges.join(', ')}`);
      const plan = await source.plan(planContext(spec));
      assert.deepEqual(boundsOf(plan), bounds, 'the same boundaries: rows between min and max do not move them');
      const expected = [...Array.from({ length: 120_000 }, (_, i) => i + 1), ...Array.from({ length: onEdges.length }, (_, i) => 1_000_000 + i)];
      const everything = ids((await readPlan(source, spec, plan)).rows);
      assert.deepEqual(everything, expected, 'all units together: every row once');
      // A run that committed only the first k units, then a run resuming from its cursor.
      for (let k = 1; k < plan.units.length; k++) {
        const committed = (await Promise.all(plan.units.slice(0, k).map((unit) => readUnit(source, spec, unit)))).flat();
        const resumed = await run(source, spec, JSON.parse(JSON.stringify(plan.units[k - 1].cursorAfter)));
        assert.deepEqual(ids([...committed, ...resumed.rows]), expected, `committed ${k} unit(s), then resumed`);
      }
    });

    it('shards a catalog snapshot by primary key modulo', async () => {
      await ranges();
      const spec = job({ table: db.table('ranges'), parallelism: 4 }, { strategy: 'catalog' });
      const plan = await source.plan(planContext(spec, undefined, { fullRefresh: true }));
      assert.equal(plan.units.length, 4);
      assert.ok(plan.units.every((u: WorkUnit) => u.cursorAfter === undefined));
      const counts = await Promise.all(plan.units.map(async (u) => ids(await readUnit(source, spec, u))));
      const all = counts.flat().sort((a, b) => a - b);
      assert.equal(all.length, 120_001);
      assert.equal(new Set(all).size, 120_001);
    });

    it('shards an incremental plan by key when the cursor cannot be split, committing only as a whole', async () => {
      await ranges();
      const spec = job({ table: db.table('ranges'), parallelism: 3 }, { cursor: 'note' });
      const plan = await source.plan(planContext(spec));
      assert.equal(plan.units.length, 3);
      assert.ok(plan.ordered);
      assert.deepEqual(
        plan.units.map((u) => u.cursorAfter !== undefined),
        [false, false, true],
      );
      const all = (await Promise.all(plan.units.map((u) => readUnit(source, spec, u)))).flatMap(ids);
      assert.equal(all.length, 120_001);
      assert.equal(new Set(all).size, 120_001);
      const again = await run(source, spec, JSON.parse(JSON.stringify(plan.units[2].cursorAfter)));
      assert.deepEqual(again.rows, []);
    });

    it('re-reads the lookback window behind the cursor for merge jobs', async () => {
      await create('late');
      await insert('late', [
        [1, 3600],
        [2, 7200],
      ]);
      const spec = job({ table: db.table('late') }, { cursor: 'updated_at', strategy: 'merge', primary_key: ['id'], lookback: '30m' });
      const first = await run(source, spec, undefined);
      assert.deepEqual(ids(first.rows), [1, 2]);
      await insert('late', [
        [3, 7200 - 600],
        [4, 7200 - 3600],
      ]);
      const second = await run(source, spec, first.cursor);
      // 30 minutes behind 02:00 reaches back to 01:30: rows 2 (again) and 3, not row 4.
      assert.deepEqual(ids(second.rows), [2, 3]);
      assert.deepEqual((second.cursor as { value: string }).value, (first.cursor as { value: string }).value);
    });

    it('backfills a --since/--until window without moving the cursor', async () => {
      await create('window');
      await insert('window', [
        [1, 10],
        [2, 20],
        [3, 20],
        [4, 20],
        [5, 30],
      ]);
      const spec = job({ table: db.table('window') }, { cursor: 'updated_at' });
      const plan = await source.plan(planContext(spec, undefined, { window: { since: target.at(20), until: target.at(30) } }));
      assert.equal(plan.ordered, false);
      assert.ok(plan.units.every((u) => u.cursorAfter === undefined));
      const out = await readPlan(source, spec, plan);
      assert.deepEqual(ids(out.rows), [2, 3, 4]);
    });

    it('fails fast on a refused connection, naming host:port and user but never the password', async () => {
      const refused = await target.source({ name: 'shop_db', config: target.refused, baseDir: '.', log: silentLogger });
      try {
        await assert.rejects(refused.discover(job({ table: 'x' }, { strategy: 'catalog' }), silentLogger), (error: unknown) => {
          const text = `${(error as Error).message} ${(error as { hint?: string }).hint ?? ''}`;
          assert.match(text, /connection refused at 127\.0\.0\.1:1 as user etl/);
          assert.match(text, /connection shop_db/);
          assert.doesNotMatch(text, /s3cr3t/);
          assert.ok(!(error instanceof TransientError));
          return true;
        });
      } finally {
        await refused.close();
      }
    });

    for (const failAt of ['auth', 'query'] as const) {
      it(`never shows the password a server quotes back in its error (${failAt === 'auth' ? 'at login' : 'in a statement'})`, async () => {
        const server = await target.fake(failAt);
        const password = `pw-${randomBytes(9).toString('base64url')}`;
        const echo = await target.source({
          name: 'shop_db',
          config: { ...target.refused, port: server.port, password } as ConnectionConfig,
          baseDir: '.',
          log: silentLogger,
        });
        try {
          await assert.rejects(echo.discover(job({ table: 'shop.orders' }, { strategy: 'catalog' }), silentLogger), (error: unknown) => {
            const text = `${(error as Error).message} ${(error as { hint?: string }).hint ?? ''} ${(error as Error).stack ?? ''}`;
            assert.ok(server.received.includes(password), 'the server saw the password');
            assert.match(text, failAt === 'auth' ? /authentication failed|access denied/i : /denied/i);
            assert.match(text, /\*\*\*/, 'the quoted password is scrubbed, not the whole message');
            assert.ok(!text.includes(password), `the password shows: ${text}`);
            return true;
          });
        } finally {
          await echo.close();
          await server.stop();
        }
      });
    }

    it('reads 1,000,000 rows, freeing each batch once handed out', async () => {
      await big();
      const spec = job({ table: db.table('big') }, { strategy: 'catalog' });
      const plan = await source.plan(planContext(spec, undefined, { fullRefresh: true }));
      const released = new Released();
      let rows = 0;
      let sum = 0;
      for (const unit of plan.units) {
        for await (const batch of source.read(unit, { job: spec, log: silentLogger, signal: new AbortController().signal })) {
          released.track(batch);
          rows += batch.rows.length;
          for (const row of batch.rows) sum += Number(row[0]);
        }
      }
      assert.equal(rows, 1_000_000);
      assert.equal(sum, (1_000_000 * 1_000_001) / 2);
      await released.assertReleased('batches');
    });

    it('turns a connection dropped mid-read into a TransientError', async () => {
      await big();
      const spec = job({ table: db.table('big'), columns: ['id', 'note'] }, { strategy: 'catalog' });
      const plan = await source.plan(planContext(spec, undefined, { fullRefresh: true }));
      const iterator = source.read(plan.units[0], { job: spec, log: silentLogger, signal: new AbortController().signal })[Symbol.asyncIterator]();
      const first = await iterator.next();
      assert.equal(first.done, false);
      await target.kill(db.sql, db.table('big'));
      await assert.rejects(
        (async () => {
          for (;;) if ((await iterator.next()).done) break;
        })(),
        (error: unknown) => error instanceof TransientError,
      );
    });
  });
}
