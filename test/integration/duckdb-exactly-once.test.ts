/**
 * Commits into DuckDB apply once: the commit's transaction looks for the run's marker first and
 * refuses to apply a run twice, and commits of two jobs into one table at once (one process,
 * as `serve` runs them) retry a write-write conflict after the same check. Rows exact, one
 * marker per run, and the marker records the run's state.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Column, DestinationConnector, LoadMarker, LoadStrategy } from '../../src/core/connector.js';
import { silentLogger, type Logger } from '../../src/core/log.js';
import { readMarkerState } from '../../src/core/marker-state.js';
import { jobSchema } from '../../src/core/spec.js';
import { warehouseInstance } from '../../connectors/destinations/duckdb/duckdb-destination.js';
import { destination as openDuckDB } from '../../connectors/destinations/duckdb/index.js';

const col = (name: string, type: Column['type']): Column => ({ name, source: name, type, nullable: true });
const COLUMNS = [col('id', 'INT64'), col('who', 'STRING')];

describe('exactly-once commits into DuckDB', () => {
  let dir: string;
  let file: string;
  let duck: DestinationConnector;
  const warnings: string[] = [];
  const log: Logger = { ...silentLogger, warn: (message) => warnings.push(message) };

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'b2betl-duck-once-'));
    file = path.join(dir, 'wh.duckdb');
    duck = await openDuckDB({ name: 'wh', config: { type: 'duckdb', path: file }, baseDir: dir, log });
  });
  after(async () => {
    await duck.close();
    await rm(dir, { recursive: true, force: true });
  });

  const rows = async (sql: string) => {
    const connection = await (await warehouseInstance(file)).connect();
    try {
      return (await connection.runAndReadAll(sql)).getRowObjectsJson();
    } finally {
      connection.closeSync();
    }
  };
  const content = async (table: string) => (await rows(`SELECT id, who FROM main.${table} ORDER BY id`)).map((row) => `${row.id}:${row.who}`);
  const markers = async (table: string) => (await rows(`SELECT run_id FROM main._b2betl_loads WHERE table_name = '${table}' ORDER BY run_id`)).map((row) => String(row.run_id));

  async function commit(destination: DestinationConnector, job: string, table: string, strategy: LoadStrategy, runId: string, data: [number, string][]): Promise<number> {
    const spec = jobSchema.parse({ name: job, source: { connection: 'x' }, load: strategy === 'merge' ? { strategy, primary_key: ['id'] } : { strategy } });
    const stage = await destination.stage({ runId, job: spec, table, strategy, primaryKey: strategy === 'merge' ? ['id'] : [], columns: COLUMNS, log });
    await stage.write(0, data);
    const marker: LoadMarker = {
      runId,
      job,
      table,
      strategy,
      units: ['u'],
      rows: data.length,
      state: { connection: 'inbox', cursor: { value: 7n, seen: ['a'] }, files: [{ path: `${runId}.csv`, size: 3, modified: '2024-01-01T00:00:00.000Z', version: 'v1' }], columns: [{ source: 'id', name: 'id', type: 'INT64' }] },
    };
    return stage.commit([0], marker, []);
  }

  test('a run committed again is refused by its own transaction, and its marker carries its state', async () => {
    assert.equal(await commit(duck, 'once', 'once', 'transactional', 'r1', [[1, 'a'], [2, 'b']]), 2);
    warnings.length = 0;
    assert.equal(await commit(duck, 'once', 'once', 'transactional', 'r1', [[1, 'a'], [2, 'b']]), 2);
    assert.match(warnings.join('\n'), /run r1 is already committed into "main"\."once"; not applying it again/);
    assert.deepEqual(await content('once'), ['1:a', '2:b']);
    assert.deepEqual(await markers('once'), ['r1']);
    const [stored] = await duck.markers('once', 'once');
    assert.equal(stored.runId, 'r1');
    assert.deepEqual(readMarkerState(stored.state), {
      connection: 'inbox',
      cursor: { value: 7n, seen: ['a'] },
      files: [{ path: 'r1.csv', size: 3, modified: '2024-01-01T00:00:00.000Z', version: 'v1' }],
      columns: [{ source: 'id', name: 'id', type: 'INT64' }],
    });
  });

  for (const strategy of ['catalog', 'merge'] as const) {
    test(`two ${strategy} jobs commit into one table at once: both land once`, async () => {
      const table = `shared_${strategy}`;
      assert.equal(await commit(duck, `${strategy}_seed`, table, strategy, `${strategy}_r0`, [[1, 'seed'], [2, 'seed'], [3, 'seed']]), 3);
      // A second destination in this process on the same warehouse, as two runs of `serve` have.
      const other = await openDuckDB({ name: 'wh', config: { type: 'duckdb', path: file }, baseDir: dir, log });
      try {
        for (let round = 1; round <= 3; round++) {
          const a: [number, string][] = [[1, `a${round}`], [2, `a${round}`]];
          const b: [number, string][] = [[2, `b${round}`], [3, `b${round}`]];
          await Promise.all([commit(duck, `${strategy}_a`, table, strategy, `${strategy}_a${round}`, a), commit(other, `${strategy}_b`, table, strategy, `${strategy}_b${round}`, b)]);
          const got = await content(table);
          if (strategy === 'catalog') assert.ok(JSON.stringify(got) === JSON.stringify(a.map(([id, who]) => `${id}:${who}`)) || JSON.stringify(got) === JSON.stringify(b.map(([id, who]) => `${id}:${who}`)), `one job's rows whole: ${got}`);
          else {
            assert.equal(got.length, 3, `every key once: ${got}`);
            assert.equal(got[0], `1:a${round}`);
            assert.equal(got[2], `3:b${round}`);
            assert.ok([`2:a${round}`, `2:b${round}`].includes(got[1]));
          }
        }
      } finally {
        await other.close();
      }
      const runs = await markers(table);
      assert.equal(runs.length, 7);
      assert.equal(new Set(runs).size, 7);
    });
  }
});
