/**
 * Exactly once under kills anywhere: a seeded random campaign over every named fault point
 * (`B2BETL_FAULT`), through the real binary, for files (streamed and read by DuckDB), PostgreSQL
 * with ties at the high-water mark and a parallel plan, and a merge. Each step adds source data,
 * runs the job with a point drawn from the seed, and checks that the kill landed there and that
 * no row is in the warehouse twice; every few steps a clean run must give exactly the source.
 *
 * The campaign is deterministic per seed: B2BETL_FAULT_SEED=<n> repeats one (the seed is in the
 * test names).
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { prng } from '../../bench/support.js';
import { FAULT_POINTS, type FaultPoint } from '../../src/core/faults.js';
import { queryDuckDB, runCli, scratchProject } from '../support/cli.js';
import { PG, pgScratch, type PgScratch } from '../support/databases.js';

type Project = Awaited<ReturnType<typeof scratchProject>>;

const SEED = Number(process.env.B2BETL_FAULT_SEED ?? 20261204);
/** Kills per scenario: three scenarios make at least 54 per test run. */
const STEPS = 18;
/** A clean run, which must give exactly the source, every this many steps. */
const CHECK_EVERY = 6;

interface Scenario {
  /** Adds source data for the next step; returns how many rows it added. */
  grow(step: number, next: () => number): Promise<number>;
  /** The rows the warehouse must hold once every run has committed, as sorted `key:value` strings. */
  expected(): string[];
  /** The rows the warehouse holds now, same form. */
  actual(): Promise<string[]>;
  /** Extra environment for a step (e.g. the path files take). */
  env?(next: () => number): Record<string, string>;
}

/** Runs the campaign of `scenario` for the job file `job` in `project`; returns the points hit. */
async function campaign(project: Project, job: string, scenario: Scenario, seed: number): Promise<Map<FaultPoint, number>> {
  const next = prng(seed);
  const hits = new Map<FaultPoint, number>();
  // Every point once, in an order drawn from the seed; then points drawn at random.
  const order = [...FAULT_POINTS];
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const run = async (env: Record<string, string>) => runCli(['run', job, '--json'], project.dir, env);
  for (let step = 1; step <= STEPS; step++) {
    const added = await scenario.grow(step, next);
    const point = step <= order.length ? order[step - 1]! : FAULT_POINTS[Math.floor(next() * FAULT_POINTS.length)]!;
    const count = point === 'after-rows' ? 1 + Math.floor(next() * added) : 1;
    const fault = count > 1 ? `${point}@${count}` : point;
    const env = { ...scenario.env?.(next), B2BETL_FAULT: fault };
    const killed = await run(env);
    const where = `step ${step} (seed ${seed}, B2BETL_FAULT=${fault}, ${JSON.stringify(env)})`;
    assert.match(killed.stderr, new RegExp(`fault point ${point} hit`), `${where}: the kill landed at ${point}\n${killed.stderr}\n${killed.stdout}`);
    assert.equal(killed.code, 128, `${where}: the process was killed`);
    hits.set(point, (hits.get(point) ?? 0) + 1);
    // Whatever the kill left, no row is there twice and none that the source lacks.
    const rows = await scenario.actual();
    const expected = new Set(scenario.expected());
    assert.equal(new Set(rows).size, rows.length, `${where}: a row is in the warehouse twice`);
    const keys = rows.map((row) => row.split(':')[0]);
    assert.equal(new Set(keys).size, keys.length, `${where}: a key is in the warehouse twice`);
    for (const row of rows) if (!expected.has(row) && !row.includes('|')) assert.fail(`${where}: ${row} is not in the source`);
    if (step % CHECK_EVERY === 0) {
      const clean = await run(scenario.env?.(next) ?? {});
      assert.equal(clean.code, 0, `${where}, then a clean run:\n${clean.stderr}\n${clean.stdout}`);
      assert.deepEqual(await scenario.actual(), scenario.expected(), `${where}, then a clean run: exactly the source`);
    }
  }
  return hits;
}

const killsBySuite: number[] = [];

describe(`kills at seeded random fault points (seed ${SEED})`, () => {
  after(() => {
    const kills = killsBySuite.reduce((sum, n) => sum + n, 0);
    if (killsBySuite.length === 3) assert.ok(kills >= 50, `${kills} kills in this run`);
  });

  describe('files, streamed and read by DuckDB itself', () => {
    let project: Project;
    const ids: number[] = [];
    let files = 0;
    before(async () => {
      project = await scratchProject({
        'etl.config.yaml': 'connections:\n  inbox: { type: local, path: ./inbox }\n',
        'jobs/orders.yaml': 'name: orders\nsource: { connection: inbox, pattern: "orders_*.csv", parallelism: 3 }\nload: { strategy: transactional }\n',
      });
    });
    after(() => project?.cleanup());

    it(`every file's rows exactly once (seed ${SEED})`, async () => {
      const scenario: Scenario = {
        async grow(_step, next) {
          let added = 0;
          for (let f = 1 + Math.floor(next() * 3); f > 0; f--) {
            const rows = 500 + Math.floor(next() * 3000);
            const first = ids.length + 1;
            const lines = ['id,customer,amount'];
            for (let id = first; id < first + rows; id++) {
              ids.push(id);
              lines.push(`${id},"Customer ${id}, Inc.",${id}.25`);
            }
            await project.write(`inbox/orders_${String(++files).padStart(4, '0')}.csv`, `${lines.join('\n')}\n`);
            added += rows;
          }
          return added;
        },
        expected: () => ids.map((id) => `${id}:${id}.25`).sort(),
        actual: async () => {
          const warehouse = path.join(project.dir, 'warehouse.duckdb');
          const tables = await queryDuckDB(warehouse, "SELECT table_name FROM information_schema.tables WHERE table_name = 'orders'").catch(() => []);
          if (!tables.length) return [];
          return (await queryDuckDB(warehouse, 'SELECT id, amount FROM orders')).map((row) => `${String(row.id)}:${Number(row.amount).toFixed(2)}`).sort();
        },
        // Half the steps let DuckDB read the files itself, inside the commit's transaction.
        env: (next): Record<string, string> => (next() < 0.5 ? { B2BETL_NATIVE_MIN_BYTES: '0' } : {}),
      };
      const hits = await campaign(project, 'jobs/orders.yaml', scenario, SEED);
      killsBySuite.push([...hits.values()].reduce((sum, n) => sum + n, 0));
      assert.deepEqual([...hits.keys()].sort(), [...FAULT_POINTS].sort(), 'every point was hit');
    });
  });

  describe('PostgreSQL with ties at the high-water mark and a parallel plan', () => {
    let pg: PgScratch;
    let project: Project;
    let total = 0;
    before(async () => {
      pg = await pgScratch('campaign');
      await pg.sql(`CREATE TABLE ${pg.schema}.events (id bigint PRIMARY KEY, at timestamptz NOT NULL, v bigint NOT NULL)`);
      project = await scratchProject({
        'etl.config.yaml': `connections:\n  shop: { type: postgres, host: ${PG.host}, port: ${PG.port}, user: ${PG.user}, database: ${PG.database} }\n`,
        'jobs/events.yaml': `name: events\nsource: { connection: shop, table: ${pg.schema}.events, parallelism: 3 }\nload: { strategy: transactional, cursor: at }\n`,
      });
    });
    after(async () => {
      await pg?.drop();
      await project?.cleanup();
    });

    it(`every row exactly once, rows arriving at the mark included (seed ${SEED})`, async () => {
      const scenario: Scenario = {
        async grow(step, next) {
          // More than one unit's worth (50,000 rows), so that the plan splits; seven rows per second
          // of the cursor, so that ties straddle every unit boundary; and some new rows at the
          // current high-water mark itself.
          const rows = 51_000 + Math.floor(next() * 5_000);
          const atMark = total ? 1 + Math.floor(next() * 20) : 0;
          const first = total + 1;
          if (atMark) {
            await pg.sql(`INSERT INTO ${pg.schema}.events SELECT g, (SELECT max(at) FROM ${pg.schema}.events), g FROM generate_series(${first}, ${first + atMark - 1}) g`);
          }
          await pg.sql(
            `INSERT INTO ${pg.schema}.events SELECT g, timestamptz '2024-01-01 00:00:00+00' + (g / 7) * interval '1 second', g FROM generate_series(${first + atMark}, ${first + rows - 1}) g`,
          );
          total += rows;
          if (step === 1) {
            // The plan splits into units read side by side: what the kills land among.
            const dry = await runCli(['run', 'jobs/events.yaml', '--dry-run', '--json'], project.dir);
            const [plan] = JSON.parse(dry.stdout) as { plan: { units: unknown[] } }[];
            assert.ok(plan.plan.units.length > 1, `a parallel plan: ${dry.stdout}`);
          }
          return rows;
        },
        expected: () => Array.from({ length: total }, (_, i) => `${i + 1}:${i + 1}`).sort(),
        actual: async () => {
          const warehouse = path.join(project.dir, 'warehouse.duckdb');
          const tables = await queryDuckDB(warehouse, "SELECT table_name FROM information_schema.tables WHERE table_name = 'events'").catch(() => []);
          if (!tables.length) return [];
          return (await queryDuckDB(warehouse, 'SELECT id, v FROM events')).map((row) => `${String(row.id)}:${String(row.v)}`).sort();
        },
      };
      const hits = await campaign(project, 'jobs/events.yaml', scenario, SEED + 1);
      killsBySuite.push([...hits.values()].reduce((sum, n) => sum + n, 0));
      assert.deepEqual([...hits.keys()].sort(), [...FAULT_POINTS].sort(), 'every point was hit');
    });
  });

  describe('merge', () => {
    let project: Project;
    const latest = new Map<number, number>();
    let files = 0;
    before(async () => {
      project = await scratchProject({
        'etl.config.yaml': 'connections:\n  inbox: { type: local, path: ./inbox }\n',
        'jobs/customers.yaml': 'name: customers\nsource: { connection: inbox, pattern: "customers_*.csv" }\nload: { strategy: merge, primary_key: [id] }\n',
      });
    });
    after(() => project?.cleanup());

    it(`each key once, with its last version (seed ${SEED})`, async () => {
      const scenario: Scenario = {
        async grow(step, next) {
          // Updates of existing keys and new keys, in one or two files; a key may change twice in one step.
          let added = 0;
          for (let f = 1 + Math.floor(next() * 2); f > 0; f--) {
            const lines = ['id,version'];
            const rows = 300 + Math.floor(next() * 1500);
            for (let r = 0; r < rows; r++) {
              const id = latest.size && next() < 0.6 ? 1 + Math.floor(next() * latest.size) : latest.size + 1;
              const version = step * 10_000 + files * 100 + (r % 100);
              latest.set(id, version);
              lines.push(`${id},${version}`);
            }
            await project.write(`inbox/customers_${String(++files).padStart(4, '0')}.csv`, `${lines.join('\n')}\n`);
            added += rows;
          }
          return added;
        },
        expected: () => [...latest].map(([id, version]) => `${id}:${version}`).sort(),
        actual: async () => {
          const warehouse = path.join(project.dir, 'warehouse.duckdb');
          const tables = await queryDuckDB(warehouse, "SELECT table_name FROM information_schema.tables WHERE table_name = 'customers'").catch(() => []);
          if (!tables.length) return [];
          // Before the clean run, a key may hold an older version: mark it so that only duplicates fail.
          const rows = await queryDuckDB(warehouse, 'SELECT id, version FROM customers');
          return rows.map((row) => `${String(row.id)}:${String(row.version)}${latest.get(Number(row.id)) === Number(row.version) ? '' : '|older'}`).sort();
        },
      };
      const hits = await campaign(project, 'jobs/customers.yaml', scenario, SEED + 2);
      killsBySuite.push([...hits.values()].reduce((sum, n) => sum + n, 0));
      assert.deepEqual([...hits.keys()].sort(), [...FAULT_POINTS].sort(), 'every point was hit');
    });
  });
});

// The points the campaign draws from are exactly the ones the run passes.
it('every fault point is a known name; an unknown one is refused', async () => {
  const project = await scratchProject({ 'etl.config.yaml': 'connections:\n  inbox: { type: local, path: ./inbox }\n', 'jobs/a.yaml': 'name: a\nsource: { connection: inbox, pattern: "*.csv" }\n', 'inbox/a.csv': 'id\n1\n' });
  try {
    const result = await runCli(['run', 'jobs/a.yaml'], project.dir, { B2BETL_FAULT: 'nowhere' });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /B2BETL_FAULT=nowhere names no fault point; known: after-lock, after-reconcile, after-plan, after-rows, after-unit-staged, before-commit, during-commit, after-commit, before-record, after-record/);
    await rm(path.join(project.dir, '.b2betl'), { recursive: true, force: true });
  } finally {
    await project.cleanup();
  }
});
