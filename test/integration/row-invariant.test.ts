/**
 * Every processed file has `rows loaded + rows rejected = records parsed`, whichever path its
 * rows take. A DuckDB destination that loses rows (registered in place of the real one, the way
 * a plugin would) is caught: a file DuckDB read short is streamed instead, and staged rows that
 * do not all come back fail the run with nothing committed and the file not marked processed.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { DuckDBDestination } from '../../connectors/destinations/duckdb/duckdb-destination.js';
import { loadJobs } from '../../src/core/config.js';
import type { DestinationConnector, NativeFile, Stage, StageRequest } from '../../src/core/connector.js';
import { silentLogger, type Logger } from '../../src/core/log.js';
import { runJob } from '../../src/core/pipeline.js';
import { registerConnector } from '../../src/core/registry.js';
import type { Column, Value } from '../../src/core/types.js';
import { openLedger } from '../../src/ledger/open.js';
import { queryDuckDB, scratchProject } from '../support/cli.js';

type Project = Awaited<ReturnType<typeof scratchProject>>;
type Loss = 'none' | 'native-short' | 'dropped-row';

let loss: Loss = 'none';

/** The real DuckDB stage, losing rows the way `loss` says. */
function lossyStage(inner: Stage): Stage {
  return {
    evolve: (columns) => inner.evolve(columns),
    // A write that silently keeps one row fewer than it was given.
    write: (unit: number, rows: readonly Value[][]) => inner.write(unit, loss === 'dropped-row' ? rows.slice(1) : rows),
    // A native read that reports (and holds) one row short of the file's records.
    loadFile: async (unit: number, file: NativeFile, targets: readonly (Column | undefined)[]) => {
      const rows = await inner.loadFile!(unit, file, targets);
      return rows !== undefined && loss === 'native-short' ? rows - 1 : rows;
    },
    discard: (unit) => inner.discard(unit),
    commit: (units, marker, rejects) => inner.commit(units, marker, rejects),
    abort: () => inner.abort(),
  };
}

describe('rows loaded + rows rejected = records parsed', () => {
  let project: Project;
  const warnings: string[] = [];
  const log: Logger = { ...silentLogger, warn: (message) => warnings.push(message) };

  before(async () => {
    process.env.B2BETL_NATIVE_MIN_BYTES = '0';
    registerConnector('duckdb', {
      destination: async (context) => {
        const inner = await DuckDBDestination.open(context);
        const lossy: DestinationConnector = {
          capabilities: inner.capabilities,
          locate: (table) => inner.locate(table),
          describe: (table) => inner.describe(table),
          stage: async (request: StageRequest) => lossyStage(await inner.stage(request)),
          committedRuns: (job, ids) => inner.committedRuns(job, ids),
          markers: (job, table) => inner.markers(job, table),
          close: () => inner.close(),
        };
        return lossy;
      },
    });
    project = await scratchProject({
      'etl.config.yaml': 'connections:\n  inbox: { type: local, path: ./inbox }\n',
      'jobs/orders.yaml': 'name: orders\nsource: { connection: inbox, pattern: "*.csv" }\n',
      'inbox/a.csv': 'id,name\n1,a\n2,b\n3,c\n4,d\n',
    });
  });
  afterEach(() => {
    warnings.length = 0;
  });
  after(async () => {
    delete process.env.B2BETL_NATIVE_MIN_BYTES;
    await project.cleanup();
  });

  const run = async (mode: Loss) => {
    loss = mode;
    const [job] = await loadJobs([path.join(project.dir, 'jobs/orders.yaml')]);
    const ledger = await openLedger(job.config, log);
    try {
      return await runJob(job, { ledger: ledger.ledger, log });
    } finally {
      await ledger.close();
    }
  };
  const loaded = () => queryDuckDB(path.join(project.dir, 'warehouse.duckdb'), 'SELECT id::INTEGER AS id FROM main.orders ORDER BY id').catch(() => []);

  test('staged rows DuckDB does not read back fail the run: nothing commits, the file stays unprocessed', async () => {
    process.env.B2BETL_STREAM_ONLY = '1';
    try {
      const result = await run('dropped-row');
      assert.equal(result.status, 'failed');
      assert.match(String(result.error), /DuckDB read back 3 row\(s\) of the 4 staged for "main"\."orders"; nothing was committed/);
      assert.deepEqual(await loaded(), []);
    } finally {
      delete process.env.B2BETL_STREAM_ONLY;
    }
  });

  test('a file DuckDB read short streams instead, and every row arrives once', async () => {
    const result = await run('native-short');
    assert.equal(result.status, 'succeeded', String(result.error));
    assert.equal(result.rows_loaded, 4);
    assert.equal(result.files_processed, 1, 'the file left unprocessed by the failed run loads now');
    assert.match(warnings.join('\n'), /a\.csv: the destination read 3 row\(s\) of the file's 4 record\(s\); streaming it instead/);
    assert.deepEqual(await loaded(), [{ id: 1 }, { id: 2 }, { id: 3 }, { id: 4 }]);
  });
});
