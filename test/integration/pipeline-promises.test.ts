/**
 * The pipeline's promises, in process and fast (what `npm run test:mutation` runs against
 * reconcile and commit): a real DuckDB warehouse and ledger in a scratch folder, local files,
 * and a scripted source and destination wrapper for the faults files cannot make.
 *
 * - catalog commits all units or none; unordered plans commit every unit that succeeded;
 *   ordered plans commit the prefix up to the last cursor before a failure;
 * - a retried unit keeps none of its failed attempt's rows;
 * - a run stopped after its destination commit, or whose ledger failed to record it, is recorded
 *   by the next run; one stopped before it is marked failed and its data read again;
 * - counts, statuses and errors say what committed and what failed.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import type BetterSqlite3 from 'better-sqlite3';
import * as duckdb from '../../connectors/destinations/duckdb/index.js';
import { loadJobs } from '../../src/core/config.js';
import type { ConnectorContext, DestinationConnector, Engine, SourceConnector, SourcePlan, Stage, WorkUnit } from '../../src/core/connector.js';
import { TransientError } from '../../src/core/errors.js';
import { silentLogger, type Logger } from '../../src/core/log.js';
import { runJob, type RunResult } from '../../src/core/pipeline.js';
import { markerWith } from '../../src/core/marker-state.js';
import { registerConnector, registerEngine } from '../../src/core/registry.js';
import type { RecordBatch } from '../../src/core/types.js';
import { Ledger } from '../../src/ledger/ledger.js';
import { queryDuckDB, scratchProject } from '../support/cli.js';

const require = createRequire(import.meta.url);
type Project = Awaited<ReturnType<typeof scratchProject>>;

/** What the scripted source reads and how each unit fails; set by each test. */
interface Script {
  ordered: boolean;
  /** Rows of each unit (ids); in an ordered plan, a unit's cursorAfter is its last id. */
  units: number[][];
  /** Units of an ordered plan planned without a cursorAfter, as the shards of a key-sharded read before the last. */
  uncursored: Set<number>;
  /** Unit index → attempts that fail after yielding their first row (transient), or 'always' (permanent). */
  failures: Map<number, number | 'always'>;
  attempts: number[];
  /** The cursor each plan was made from. */
  cursors: unknown[];
  /** Unit index → what happens once that unit has yielded its first row. */
  during?: Map<number, () => void>;
}

let script: Script;

const scriptedSource = (): SourceConnector => ({
  discover: async () => [{ name: 'id', type: 'INT64', nullable: false }],
  async plan(context): Promise<SourcePlan> {
    script.cursors.push(context.state.cursor);
    const after = typeof context.state.cursor === 'number' ? context.state.cursor : 0;
    const units: WorkUnit[] = script.units
      .map((ids, index) => ({ ids: ids.filter((id) => id > after), index }))
      .filter(({ ids }) => ids.length)
      .map(({ ids, index }) => ({ id: `u${index}`, label: `unit ${index}`, params: index, cursorAfter: script.ordered && !script.uncursored.has(index) ? ids.at(-1) : undefined }));
    return { units, skipped: [], ordered: script.ordered };
  },
  async *read(unit, context): AsyncIterable<RecordBatch> {
    const index = unit.params as number;
    const after = Number(script.cursors.at(-1) ?? 0);
    const ids = script.units[index].filter((id) => id > after);
    const attempt = (script.attempts[index] = (script.attempts[index] ?? 0) + 1);
    const failure = script.failures.get(index);
    const columns = [{ name: 'id', type: 'INT64' as const, nullable: false }];
    yield { columns, rows: [[ids[0]]] };
    script.during?.get(index)?.();
    if (failure === 'always') throw new Error(`unit ${index} is broken`);
    if (failure !== undefined && attempt <= failure) throw new TransientError(`connection lost in unit ${index}`);
    void context;
    if (ids.length > 1) yield { columns, rows: ids.slice(1).map((id) => [id]) };
  },
  close: async () => undefined,
});

/**
 * A source of two units whose first one's rows come only once the second's have been taken:
 * reads that finish out of plan order, each unit with columns of its own.
 */
const lateFirstSource = (): SourceConnector => {
  let secondTaken!: () => void;
  const taken = new Promise<void>((resolve) => (secondTaken = resolve));
  const text = (name: string) => ({ name, type: 'STRING' as const, nullable: true });
  return {
    discover: async () => [text('id'), text('amount')],
    plan: async () => ({ units: [0, 1].map((index) => ({ id: `u${index}`, label: `unit ${index}`, params: index })), skipped: [], ordered: false }),
    async *read(unit): AsyncIterable<RecordBatch> {
      if (unit.params === 0) {
        await taken;
        yield { columns: [text('id'), text('amount')], rows: [['1', '10']] };
      } else {
        yield { columns: [text('amount'), text('note')], rows: [['20', 'late']] };
        secondTaken();
      }
    },
    close: async () => undefined,
  };
};

/**
 * An engine that takes the jobs named `engine_*`: it stages the scripted units' ids itself and,
 * as a copy inside a warehouse does, tells the run no row count before its commit (only the
 * marker holds it).
 */
const countedCopy: Engine = {
  name: 'counted-copy',
  async plan(request) {
    if (!request.job.name.startsWith('engine_')) return undefined;
    return {
      description: 'copy the scripted rows inside the destination',
      reason: 'a test engine',
      async run(marker, _signal, committing) {
        const columns = [{ name: 'id', source: 'id', type: 'INT64' as const, nullable: false }];
        const stage = await request.destination.connector.stage({ runId: request.runId, job: request.job, table: request.table, strategy: request.strategy, primaryKey: [], columns, log: request.log });
        const rows = script.units.flat();
        await stage.write(0, rows.map((id) => [id]));
        await committing(undefined, columns);
        await stage.commit([0], markerWith(marker, rows.length, columns), []);
        return { rows: rows.length, columns };
      },
    };
  },
};

/** Where the destination wrapper makes the commit fail: before it begins, or after it landed (its answer lost). */
let stopAt: 'before-commit' | 'after-commit' | undefined;
/** Whether the destination's load markers cannot be read, once (a network down right after the commit). */
let markersUnreadable = false;

const wrappedDuckdb = {
  async destination(context: ConnectorContext): Promise<DestinationConnector> {
    const real = await duckdb.destination(context);
    return {
      capabilities: real.capabilities,
      locate: (table) => real.locate(table),
      describe: (table) => real.describe(table),
      committedRuns: (job, ids) => {
        if (markersUnreadable) {
          markersUnreadable = false;
          return Promise.reject(new Error('connection lost while reading the load markers'));
        }
        return real.committedRuns(job, ids);
      },
      markers: (job, table) => real.markers(job, table),
      close: () => real.close(),
      async stage(request): Promise<Stage> {
        const stage = await real.stage(request);
        return {
          evolve: (columns) => stage.evolve(columns),
          write: (unit, rows) => stage.write(unit, rows),
          discard: (unit) => stage.discard(unit),
          abort: () => stage.abort(),
          async commit(units, marker, rejects) {
            if (stopAt === 'before-commit') throw new Error('power cut before the commit');
            const rows = await stage.commit(units, marker, rejects);
            if (stopAt === 'after-commit') throw new Error('power cut after the commit');
            return rows;
          },
        };
      },
    };
  },
};

describe('pipeline promises', () => {
  let project: Project;
  let ledger: Ledger;

  before(async () => {
    // The scripted source stands in for postgres connections, the wrapper for DuckDB.
    registerConnector('postgres', { source: async () => scriptedSource() });
    registerConnector('mysql', { source: async () => lateFirstSource() });
    registerEngine('counted-copy', { engine: () => countedCopy });
    registerConnector('duckdb', wrappedDuckdb);
    project = await scratchProject({
      'etl.config.yaml':
        'connections:\n  inbox: { type: local, path: ./inbox }\n  db: { type: postgres, host: 127.0.0.1, port: 1, user: x, database: x }\n' +
        '  shop: { type: mysql, host: 127.0.0.1, port: 1, user: x, database: x }\n',
    });
    ledger = Ledger.open(path.join(project.dir, '.b2betl', 'ledger.sqlite'));
  });
  afterEach(() => {
    stopAt = undefined;
    markersUnreadable = false;
  });
  after(async () => {
    ledger?.close();
    await project?.cleanup();
  });

  /** A job of its own per test (each test passes alone): files under inbox/<name>/, or the scripted source. */
  const filesJob = (name: string, load = 'strategy: transactional', source = '') =>
    project.write(`jobs/${name}.yaml`, `name: ${name}\nsource: { connection: inbox, pattern: "${name}/*.csv"${source} }\nload: { ${load} }\n`);
  const scriptedJob = (name: string) =>
    project.write(`jobs/${name}.yaml`, `name: ${name}\nsource: { connection: db, table: t, parallelism: 3 }\nload: { strategy: transactional, cursor: id }\n`);
  const run = async (name: string, log: Logger = silentLogger): Promise<RunResult> => {
    const [job] = await loadJobs([path.join(project.dir, 'jobs', `${name}.yaml`)], { cwd: project.dir });
    process.env.B2BETL_RETRY_BASE_MS = '1';
    return runJob(job, { ledger, log });
  };
  const ids = async (table: string) =>
    (await queryDuckDB(path.join(project.dir, 'warehouse.duckdb'), `SELECT id FROM main.${table} ORDER BY id`)).map((row) => Number(row.id));
  const processed = (job: string) => [...ledger.files(job, 'inbox').keys()].sort();
  const tableExists = async (table: string) =>
    (await queryDuckDB(path.join(project.dir, 'warehouse.duckdb'), `SELECT table_name FROM information_schema.tables WHERE table_name = '${table}'`)).length > 0;
  /** Load files a job's runs left in the warehouse's staging folder. */
  const stagingLeft = (job: string) => {
    const staging = path.join(project.dir, 'warehouse.duckdb.staging');
    return existsSync(staging) ? readdirSync(staging).filter((entry) => entry.startsWith(`${job}__`)) : [];
  };
  const setScript = (units: number[][], ordered: boolean, failures: [number, number | 'always'][] = [], uncursored: number[] = []) =>
    (script = { units, ordered, failures: new Map(failures), uncursored: new Set(uncursored), attempts: [], cursors: [] });
  const csv = (values: readonly number[]) => `id\n${values.join('\n')}\n`;

  test("a run that loses its lock in a shared ledger commits nothing: another machine may be running the job now", async (t) => {
    await scriptedJob('lost_lock');
    setScript([[1, 2], [3, 4], [5, 6]], false);
    t.mock.timers.enable({ apis: ['setInterval'] });
    // While unit 1 reads, the lease's renewal comes due and fails.
    script.during = new Map([[1, () => t.mock.timers.tick(20_000)]]);
    let renewals = 0;
    const shared = {
      lock: async () => undefined,
      renewLock: async () => {
        renewals++;
        throw new Error('gs://ledgers/locks/lost_lock.json was taken over by run 20261205t061500z_other');
      },
      unlock: async () => undefined,
      sync: async () => undefined,
    };
    const [job] = await loadJobs([path.join(project.dir, 'jobs', 'lost_lock.yaml')], { cwd: project.dir });
    const result = await runJob(job, { ledger, log: silentLogger, shared });
    assert.equal(renewals, 1);
    assert.equal(result.status, 'interrupted', JSON.stringify(result));
    assert.equal(result.rows_loaded, 0);
    assert.match(String(result.error), /lost the job's lock: gs:\/\/ledgers\/locks\/lost_lock\.json was taken over/);
    assert.equal(await tableExists('lost_lock'), false, 'no unit was committed');
    const [recorded] = ledger.runs({ job: 'lost_lock', limit: 1 });
    assert.equal(recorded.status, 'interrupted');
    assert.equal(ledger.cursor('lost_lock'), undefined, 'the cursor did not move');
  });

  test('catalog: one failed file commits nothing and keeps the previous table; all good replaces it', async () => {
    await filesJob('snap', 'strategy: catalog', ', parallelism: 1');
    await project.write('inbox/snap/a.csv', csv([1, 2]));
    await project.write('inbox/snap/b.csv', csv([3]));
    let result = await run('snap');
    assert.equal(result.status, 'succeeded');
    assert.deepEqual(await ids('snap'), [1, 2, 3]);
    await project.write('inbox/snap/a.csv', csv([10]));
    await project.write('inbox/snap/b.csv', 'id\n20\nnot a number, and ragged\n');
    await project.write('inbox/snap/c.csv', csv([30]));
    result = await run('snap');
    assert.equal(result.status, 'failed');
    assert.equal(result.rows_loaded, 0);
    assert.equal(result.files_processed, 0);
    assert.equal(result.files_failed, 1);
    assert.match(String(result.error), /b\.csv/);
    assert.deepEqual(await ids('snap'), [1, 2, 3]);
    assert.equal(ledger.runs({ job: 'snap', limit: 1 })[0].status, 'failed');
    await project.write('inbox/snap/b.csv', csv([20]));
    result = await run('snap');
    assert.equal(result.status, 'succeeded');
    assert.equal(result.files_processed, 3);
    assert.equal(result.rows_loaded, 3);
    assert.deepEqual(await ids('snap'), [10, 20, 30]);
  });

  test('catalog: a file gone from the snapshot leaves the table and the processed files, and the next run finds the snapshot unchanged', async () => {
    await filesJob('shrunk', 'strategy: catalog');
    await project.write('inbox/shrunk/a.csv', csv([1]));
    await project.write('inbox/shrunk/b.csv', csv([2]));
    assert.equal((await run('shrunk')).status, 'succeeded');
    rmSync(path.join(project.dir, 'inbox', 'shrunk', 'b.csv'));
    const result = await run('shrunk');
    assert.equal(result.status, 'succeeded');
    assert.deepEqual(await ids('shrunk'), [1]);
    assert.deepEqual(processed('shrunk'), ['shrunk/a.csv']);
    assert.equal((await run('shrunk')).status, 'skipped');
  });

  test('unordered files: the good ones commit, the bad one is read again next run, and the counts say so', async () => {
    await filesJob('files');
    await project.write('inbox/files/a.csv', csv([1, 2]));
    await project.write('inbox/files/b.csv', 'id\n3\n4,extra\n');
    await project.write('inbox/files/c.csv', csv([5]));
    let result = await run('files');
    assert.equal(result.status, 'partial');
    assert.equal(result.files_processed, 2);
    assert.equal(result.files_failed, 1);
    assert.equal(result.rows_loaded, 3);
    assert.deepEqual(await ids('files'), [1, 2, 5]);
    assert.deepEqual(processed('files'), ['files/a.csv', 'files/c.csv']);
    assert.equal(ledger.runs({ job: 'files', limit: 1 })[0].status, 'partial');
    await project.write('inbox/files/b.csv', csv([3, 4]));
    result = await run('files');
    assert.equal(result.status, 'succeeded');
    assert.equal(result.files_processed, 1);
    assert.equal(result.rows_loaded, 2);
    assert.deepEqual(await ids('files'), [1, 2, 3, 4, 5]);
    result = await run('files');
    assert.equal(result.status, 'skipped');
    assert.equal(result.rows_loaded, 0);
  });

  test('rejects within max_bad_records: good rows load, the bad one is counted and set aside', async () => {
    await filesJob('lenient', 'max_bad_records: 1', ', sample_size: 1');
    await project.write('inbox/lenient/a.csv', 'id\n1\ntwo\n3\n');
    const result = await run('lenient');
    assert.equal(result.status, 'succeeded');
    assert.equal(result.rows_extracted, 3);
    assert.equal(result.rows_loaded, 2);
    assert.equal(result.rows_rejected, 1);
    assert.deepEqual(await ids('lenient'), [1, 3]);
    const rejected = await queryDuckDB(path.join(project.dir, 'warehouse.duckdb'), 'SELECT position, raw FROM main.lenient__rejected');
    assert.deepEqual(rejected, [{ position: '3', raw: '["two"]' }]);
  });

  test('counts: rows read by failed units are extracted but not loaded, bytes are those of the files committed', async () => {
    await filesJob('counted');
    const good = csv([1, 2, 3]);
    await project.write('inbox/counted/a.csv', good);
    await project.write('inbox/counted/b.csv', 'id\n4\n5,ragged\n');
    const result = await run('counted');
    assert.equal(result.status, 'partial');
    assert.equal(result.rows_extracted, 3, 'the failed file read a row before failing, but its unit has no count');
    assert.equal(result.rows_loaded, 3);
    assert.equal(result.rows_rejected, 0);
    assert.equal(result.files_processed, 1);
    assert.equal(result.files_failed, 1);
    const [recorded] = ledger.runs({ job: 'counted', limit: 1 });
    assert.equal(recorded.bytes, Buffer.byteLength(good));
    assert.equal(recorded.rows_loaded, 3);
    assert.equal(recorded.files_failed, 1);
    assert.match(String(recorded.error), /counted\/b\.csv/);
  });

  test('a run names its first ten failed units in full, then how many more failed', async () => {
    await scriptedJob('many_failed');
    const failing = (count: number) =>
      setScript(
        Array.from({ length: count }, (_unit, index) => [index + 1]),
        false,
        Array.from({ length: count }, (_unit, index): [number, 'always'] => [index, 'always']),
      );
    const broken = Array.from({ length: 10 }, (_unit, index) => `unit ${index} is broken`).join('\n');
    failing(10);
    let result = await run('many_failed');
    assert.equal(result.status, 'failed');
    assert.equal(result.error, broken);
    failing(11);
    result = await run('many_failed');
    assert.equal(result.status, 'failed');
    assert.equal(result.error, `${broken}\n… and 1 more failed unit(s)`);
    assert.equal(ledger.runs({ job: 'many_failed', limit: 1 })[0].error, result.error);
  });

  test('an empty catalog snapshot empties the table', async () => {
    await filesJob('emptied', 'strategy: catalog');
    await project.write('inbox/emptied/a.csv', csv([1, 2]));
    assert.equal((await run('emptied')).status, 'succeeded');
    await project.write('inbox/emptied/a.csv', 'id\n');
    const result = await run('emptied');
    assert.equal(result.status, 'succeeded');
    assert.equal(result.rows_loaded, 0);
    assert.deepEqual(await ids('emptied'), []);
  });

  test('files with no rows commit nothing for an appending job, and are recorded as loaded', async () => {
    await filesJob('headers');
    await project.write('inbox/headers/a.csv', 'id\n');
    const result = await run('headers');
    assert.equal(result.status, 'succeeded');
    assert.equal(result.rows_loaded, 0);
    assert.equal(result.files_processed, 1);
    assert.deepEqual(processed('headers'), ['headers/a.csv']);
    assert.equal(await tableExists('headers'), false, 'nothing was committed');
    assert.deepEqual(stagingLeft('headers'), [], 'the stage was dropped');
    assert.equal((await run('headers')).status, 'skipped');
  });

  /** A DuckDB table made by someone else, with a REQUIRED column no source file has. */
  const requiredTable = async (table: string) => {
    const { DuckDBInstance } = await import('@duckdb/node-api');
    const instance = await DuckDBInstance.create(path.join(project.dir, 'warehouse.duckdb'));
    const connection = await instance.connect();
    await connection.run(`CREATE TABLE main.${table} (id BIGINT, must VARCHAR NOT NULL)`);
    connection.closeSync();
    instance.closeSync();
  };

  test('a REQUIRED destination column the source lacks fails the run before its commit, naming the fix', async () => {
    await requiredTable('required');
    await filesJob('required');
    await project.write('inbox/required/a.csv', csv([1]));
    const refused = await run('required');
    assert.equal(refused.status, 'failed');
    assert.match(String(refused.error), /must is REQUIRED in the destination but the source has no such column/);
    assert.match(String(refused.error), /fill_required_defaults/);
    assert.deepEqual(await ids('required'), []);
    assert.deepEqual(processed('required'), []);
    const [recorded] = ledger.runs({ job: 'required', limit: 1 });
    assert.deepEqual([recorded.status, recorded.error], ['failed', refused.error]);
  });

  test('with load.fill_required_defaults, a REQUIRED column the source lacks is filled with its type default', async () => {
    await requiredTable('filled');
    await filesJob('filled', 'fill_required_defaults: true');
    await project.write('inbox/filled/a.csv', csv([1]));
    const filled = await run('filled');
    assert.equal(filled.status, 'succeeded', String(filled.error));
    const rows = await queryDuckDB(path.join(project.dir, 'warehouse.duckdb'), 'SELECT id, must FROM main.filled');
    assert.deepEqual(rows.map((row) => [Number(row.id), row.must]), [[1, '']]);
  });

  test('with load.fill_required_defaults, files with and without a REQUIRED column load in one run: values where a file has them, defaults where not', async () => {
    await requiredTable('mixed');
    await filesJob('mixed', 'fill_required_defaults: true');
    await project.write('inbox/mixed/a.csv', csv([1]));
    await project.write('inbox/mixed/b.csv', 'id,must\n2,yes\n3,\n');
    await project.write('inbox/mixed/c.csv', csv([4]));
    const result = await run('mixed');
    assert.equal(result.status, 'succeeded', String(result.error));
    assert.equal(result.rows_loaded, 4);
    const rows = await queryDuckDB(path.join(project.dir, 'warehouse.duckdb'), 'SELECT id, must FROM main.mixed ORDER BY id');
    assert.deepEqual(rows.map((row) => [Number(row.id), row.must]), [[1, ''], [2, 'yes'], [3, ''], [4, '']]);
  });

  test('without load.fill_required_defaults, a file lacking a REQUIRED column fails the run even when another file has it', async () => {
    await requiredTable('partly');
    await filesJob('partly');
    await project.write('inbox/partly/a.csv', 'id,must\n1,yes\n');
    await project.write('inbox/partly/b.csv', csv([2]));
    const refused = await run('partly');
    assert.equal(refused.status, 'failed');
    assert.match(String(refused.error), /must is REQUIRED in the destination but the source has no such column/);
    assert.deepEqual(await ids('partly'), []);
    assert.deepEqual(processed('partly'), []);
  });

  test('a new table takes its columns in plan order, whichever unit is read first', async () => {
    await project.write('jobs/interleaved.yaml', 'name: interleaved\nsource: { connection: shop, table: t, parallelism: 2 }\nload: { strategy: catalog }\n');
    const result = await run('interleaved');
    assert.equal(result.status, 'succeeded', String(result.error));
    const warehouse = path.join(project.dir, 'warehouse.duckdb');
    const columns = await queryDuckDB(warehouse, "SELECT column_name FROM information_schema.columns WHERE table_name = 'interleaved' ORDER BY ordinal_position");
    assert.deepEqual(columns.map((column) => column.column_name), ['id', 'amount', 'note']);
    assert.deepEqual(await queryDuckDB(warehouse, 'SELECT * FROM main.interleaved ORDER BY amount'), [
      { id: '1', amount: '10', note: null },
      { id: null, amount: '20', note: 'late' },
    ]);
  });

  test('an empty snapshot into a table with REQUIRED columns empties it: zero rows cannot break NOT NULL', async () => {
    await requiredTable('required_snap');
    await filesJob('required_snap', 'strategy: catalog');
    const rows = async () => (await queryDuckDB(path.join(project.dir, 'warehouse.duckdb'), 'SELECT id, must FROM main.required_snap ORDER BY id')).map((row) => [Number(row.id), row.must]);
    await project.write('inbox/required_snap/a.csv', 'id,must\n1,a\n');
    assert.equal((await run('required_snap')).status, 'succeeded');
    assert.deepEqual(await rows(), [[1, 'a']]);
    // A file with nothing in it at all, then one with a header that lacks the REQUIRED column.
    for (const empty of ['', 'id\n']) {
      await project.write('inbox/required_snap/a.csv', 'id,must\n2,b\n');
      assert.equal((await run('required_snap')).status, 'succeeded');
      assert.deepEqual(await rows(), [[2, 'b']]);
      await project.write('inbox/required_snap/a.csv', empty);
      const result = await run('required_snap');
      assert.equal(result.status, 'succeeded', `${JSON.stringify(empty)}: ${result.error}`);
      assert.equal(result.rows_loaded, 0);
      assert.deepEqual(await rows(), [], JSON.stringify(empty));
      assert.equal(ledger.runs({ job: 'required_snap', limit: 1 })[0].status, 'succeeded');
    }
    // Rows without the REQUIRED column are still refused, and the table keeps its rows.
    await project.write('inbox/required_snap/a.csv', 'id,must\n2,b\n');
    await run('required_snap');
    await project.write('inbox/required_snap/a.csv', 'id\n3\n');
    const refused = await run('required_snap');
    assert.equal(refused.status, 'failed');
    assert.match(String(refused.error), /must is REQUIRED in the destination but the source has no such column/);
    assert.deepEqual(await rows(), [[2, 'b']]);
  });

  test('empty files into a table with REQUIRED columns commit nothing for an appending job, and are recorded as loaded', async () => {
    await requiredTable('required_append');
    await filesJob('required_append');
    await project.write('inbox/required_append/a.csv', '');
    await project.write('inbox/required_append/b.csv', 'id\n');
    const result = await run('required_append');
    assert.equal(result.status, 'succeeded', String(result.error));
    assert.equal(result.rows_loaded, 0);
    assert.equal(result.files_processed, 2);
    assert.deepEqual(processed('required_append'), ['required_append/a.csv', 'required_append/b.csv']);
    assert.deepEqual(await ids('required_append'), []);
  });

  test('the progress observer hears of the commit and its row count', async () => {
    await filesJob('observed');
    await project.write('inbox/observed/a.csv', csv([1, 2]));
    const [job] = await loadJobs([path.join(project.dir, 'jobs', 'observed.yaml')], { cwd: project.dir });
    const committing: (number | undefined)[] = [];
    const result = await runJob(job, { ledger, log: silentLogger, observer: { committing: (rows) => committing.push(rows) } });
    assert.equal(result.status, 'succeeded');
    assert.deepEqual(committing, [2]);
  });

  test('ordered plan: a failed unit commits the units before it, the cursor stops at the last of them, and the next run resumes there', async () => {
    await scriptedJob('ordered');
    setScript([[1, 2, 3], [4, 5, 6], [7, 8, 9]], true, [[1, 'always']]);
    let result = await run('ordered');
    assert.equal(result.status, 'partial');
    assert.equal(result.rows_loaded, 3);
    assert.deepEqual(await ids('ordered'), [1, 2, 3]);
    assert.equal(ledger.cursor('ordered'), 3);
    setScript([[1, 2, 3], [4, 5, 6], [7, 8, 9]], true);
    result = await run('ordered');
    assert.equal(result.status, 'succeeded');
    assert.deepEqual(script.cursors, [3]);
    assert.equal(result.rows_loaded, 6);
    assert.deepEqual(await ids('ordered'), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.equal(ledger.cursor('ordered'), 9);
  });

  test('ordered plan: a failed first unit commits nothing and the run says failed', async () => {
    await scriptedJob('first_fails');
    setScript([[1, 2], [3]], true);
    await run('first_fails');
    setScript([[1, 2], [3], [11, 12], [13]], true, [[2, 'always']]);
    const result = await run('first_fails');
    assert.equal(result.status, 'failed');
    assert.equal(result.error, 'unit 2 is broken');
    assert.equal(result.rows_loaded, 0);
    assert.equal(ledger.cursor('first_fails'), 3);
    assert.deepEqual(await ids('first_fails'), [1, 2, 3]);
  });

  test('ordered plan: units without a cursor commit only with a later unit that has one; a failure after them commits none of them', async () => {
    await scriptedJob('sharded');
    setScript([[1, 2]], true);
    await run('sharded');
    // Units 1 and 2 are like the shards of a key-sharded read: only the last shard carries the cursor.
    setScript([[1, 2], [3, 4], [5, 6], [7, 8]], true, [[3, 'always']], [1, 2]);
    let result = await run('sharded');
    assert.equal(result.status, 'failed');
    assert.equal(result.error, 'unit 3 is broken');
    assert.equal(result.rows_loaded, 0);
    assert.deepEqual(await ids('sharded'), [1, 2]);
    assert.equal(ledger.cursor('sharded'), 2);
    setScript([[1, 2], [3, 4], [5, 6], [7, 8]], true, [], [1, 2]);
    result = await run('sharded');
    assert.equal(result.status, 'succeeded');
    assert.equal(result.rows_loaded, 6);
    assert.deepEqual(await ids('sharded'), [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.equal(ledger.cursor('sharded'), 8);
  });

  test('a unit retried after a transient failure keeps none of its failed attempts\' rows', async () => {
    await scriptedJob('loose');
    setScript([[1, 2, 3], [4, 5], [6]], false, [
      [0, 2],
      [2, 1],
    ]);
    const warnings: string[] = [];
    const result = await run('loose', { ...silentLogger, warn: (message) => warnings.push(message) });
    assert.equal(result.status, 'succeeded');
    assert.deepEqual(script.attempts, [3, 1, 2]);
    const retries = warnings.filter((warning) => /retrying/.test(warning));
    assert.ok(retries.every((warning) => / in \d+ ms$/.test(warning)), retries.join('\n'));
    assert.deepEqual(retries.map((warning) => warning.replace(/ in \d+ ms$/, '')).sort(), [
      'unit 0: connection lost in unit 0; retrying (attempt 2)',
      'unit 0: connection lost in unit 0; retrying (attempt 3)',
      'unit 2: connection lost in unit 2; retrying (attempt 2)',
    ]);
    assert.equal(result.rows_loaded, 6);
    assert.equal(result.rows_extracted, 6);
    assert.deepEqual(await ids('loose'), [1, 2, 3, 4, 5, 6]);
  });

  test('a commit that landed but answered with an error is recorded as committed, by its marker; the next run loads nothing twice', async () => {
    await filesJob('after');
    await project.write('inbox/after/a.csv', csv([1, 2]));
    await run('after');
    await project.write('inbox/after/b.csv', csv([3]));
    stopAt = 'after-commit';
    const warnings: string[] = [];
    const answered = await run('after', { ...silentLogger, warn: (message) => warnings.push(message) });
    assert.deepEqual(warnings, ['the commit reported power cut after the commit, but its marker is in the destination: it landed']);
    assert.equal(answered.status, 'succeeded');
    assert.equal(answered.rows_loaded, 1);
    assert.deepEqual(await ids('after'), [1, 2, 3]);
    stopAt = undefined;
    const next = await run('after');
    assert.equal(next.status, 'skipped');
    assert.deepEqual(await ids('after'), [1, 2, 3]);
    assert.deepEqual(processed('after'), ['after/a.csv', 'after/b.csv']);
    const [latest, recorded] = ledger.runs({ job: 'after', limit: 2 });
    assert.equal(latest.status, 'skipped');
    assert.equal(recorded.status, 'succeeded');
    assert.equal(recorded.rows_loaded, 1);
  });

  test('an engine run left committing, whose rows only its commit counted, is recorded by the next run with its marker\'s rows', async () => {
    await scriptedJob('engine_counted');
    setScript([[1, 2]], false);
    assert.equal((await run('engine_counted')).rows_loaded, 2);
    setScript([[3, 4], [5, 6, 7]], false);
    stopAt = 'after-commit';
    const stopped = await run('engine_counted');
    assert.equal(stopped.status, 'failed');
    const [left] = ledger.runs({ job: 'engine_counted', limit: 1 });
    assert.equal(left.status, 'committing');
    assert.deepEqual(await ids('engine_counted'), [1, 2, 3, 4, 5, 6, 7], 'the commit landed');
    stopAt = undefined;
    setScript([], false);
    // The job now names another table: its marker is not there, and nothing is recorded from a guess.
    const job = readFileSync(path.join(project.dir, 'jobs', 'engine_counted.yaml'), 'utf8');
    await project.write('jobs/engine_counted.yaml', `${job}destination: { table: elsewhere }\n`);
    const lost = await run('engine_counted');
    assert.equal(lost.status, 'failed');
    assert.match(String(lost.error), new RegExp(`run ${stopped.run_id} committed, but no marker of it is in .*elsewhere to count its rows`));
    await project.write('jobs/engine_counted.yaml', job);
    await run('engine_counted');
    const recorded = ledger.runs({ job: 'engine_counted' }).find((record) => record.id === stopped.run_id)!;
    assert.deepEqual([recorded.status, recorded.rows_loaded, recorded.rows_extracted], ['succeeded', 5, 5], 'its own marker, not the first run\'s');
  });

  test('a run left committing, whose commit landed, is recorded by the next run from its marker: nothing loads twice', async () => {
    await filesJob('settled_after', 'max_bad_records: 1', ', sample_size: 1');
    await project.write('inbox/settled_after/a.csv', 'id\n1\ntwo\n2\n');
    stopAt = 'after-commit';
    markersUnreadable = true;
    const stopped = await run('settled_after');
    assert.equal(stopped.status, 'failed');
    const [left] = ledger.runs({ job: 'settled_after', limit: 1 });
    assert.equal(left.status, 'committing');
    assert.equal(
      left.error,
      "power cut after the commit\n(whether the commit landed is unknown: connection lost while reading the load markers; the next run settles it by the destination's marker)",
    );
    assert.deepEqual(await ids('settled_after'), [1, 2], 'the commit landed');
    stopAt = undefined;
    const warnings: string[] = [];
    const next = await run('settled_after', { ...silentLogger, warn: (message) => warnings.push(message) });
    assert.deepEqual(
      warnings.filter((warning) => /interrupted/.test(warning)),
      [`run ${stopped.run_id} was interrupted after its commit; recording its state now`],
    );
    assert.equal(next.status, 'skipped');
    assert.deepEqual(await ids('settled_after'), [1, 2]);
    assert.deepEqual(processed('settled_after'), ['settled_after/a.csv']);
    const [latest, recorded] = ledger.runs({ job: 'settled_after', limit: 2 });
    assert.deepEqual([latest.status, recorded.status, recorded.rows_loaded, recorded.rows_rejected], ['skipped', 'succeeded', 2, 1]);
    // Settled once: a third run has nothing left to settle.
    warnings.length = 0;
    await run('settled_after', { ...silentLogger, warn: (message) => warnings.push(message) });
    assert.deepEqual(warnings, []);
  });

  test('a run left committing, whose commit never began, is closed by the next run, which loads its data once', async () => {
    await filesJob('settled_before');
    await project.write('inbox/settled_before/a.csv', csv([1, 2]));
    stopAt = 'before-commit';
    markersUnreadable = true;
    const stopped = await run('settled_before');
    assert.equal(stopped.status, 'failed');
    assert.equal(ledger.runs({ job: 'settled_before', limit: 1 })[0].status, 'committing');
    stopAt = undefined;
    const warnings: string[] = [];
    const next = await run('settled_before', { ...silentLogger, warn: (message) => warnings.push(message) });
    assert.deepEqual(
      warnings.filter((warning) => /interrupted/.test(warning)),
      [`run ${stopped.run_id} was interrupted before its commit; nothing of it was loaded`],
    );
    assert.equal(next.status, 'succeeded');
    assert.equal(next.rows_loaded, 2);
    assert.deepEqual(await ids('settled_before'), [1, 2]);
    const [, interrupted] = ledger.runs({ job: 'settled_before', limit: 2 });
    assert.notEqual(interrupted.status, 'committing');
    assert.notEqual(interrupted.status, 'succeeded');
    assert.equal(interrupted.rows_loaded, 0);
    assert.match(String(interrupted.error), /interrupted before commit .*; nothing was loaded, the next run reads the same data/);
  });

  test('a commit that failed before it began records the run failed with nothing loaded; the next run loads its data', async () => {
    await filesJob('before');
    await project.write('inbox/before/a.csv', csv([1, 2]));
    await run('before');
    await project.write('inbox/before/b.csv', csv([3]));
    stopAt = 'before-commit';
    const failed = await run('before');
    assert.equal(failed.status, 'failed');
    assert.equal(failed.rows_loaded, 0);
    assert.equal(failed.rows_extracted, 1);
    assert.deepEqual(await ids('before'), [1, 2]);
    stopAt = undefined;
    const next = await run('before');
    assert.equal(next.status, 'succeeded');
    assert.equal(next.rows_loaded, 1);
    assert.deepEqual(await ids('before'), [1, 2, 3]);
    const [, recorded] = ledger.runs({ job: 'before', limit: 2 });
    assert.equal(recorded.status, 'failed');
    assert.equal(recorded.rows_loaded, 0);
    assert.match(String(recorded.error), /power cut before the commit/);
  });

  test('a ledger that fails to record a commit that landed: the run says what committed, and the next run records it once', async () => {
    await filesJob('unrecorded');
    await project.write('inbox/unrecorded/a.csv', csv([1, 2]));
    // The ledger refuses to mark this job's runs succeeded: its record of the commit fails.
    const Database = require('better-sqlite3') as typeof BetterSqlite3;
    const db = new Database(path.join(project.dir, '.b2betl', 'ledger.sqlite'));
    db.exec("CREATE TRIGGER broken BEFORE UPDATE OF status ON runs WHEN NEW.job = 'unrecorded' AND NEW.status = 'succeeded' BEGIN SELECT RAISE(ABORT, 'simulated write failure'); END");
    let failed: RunResult;
    try {
      failed = await run('unrecorded');
    } finally {
      db.exec('DROP TRIGGER broken');
      db.close();
    }
    assert.equal(failed.status, 'failed');
    assert.equal(failed.rows_loaded, 2, 'the rows that did commit are reported');
    const [message, hint] = String(failed.error).split('\n');
    assert.match(message, new RegExp(`^run ${failed.run_id} committed 2 row\\(s\\) into unrecorded, but the ledger could not record it: .*simulated write failure$`));
    assert.equal(hint, "  → fix the ledger; the next run records this run from the destination's marker and loads nothing twice");
    const errors = ledger.details(failed.run_id)?.errors ?? [];
    assert.match(String(errors[1]), /simulated write failure/, 'the ledger\'s own error is kept as the cause');
    assert.deepEqual(await ids('unrecorded'), [1, 2]);
    assert.deepEqual(processed('unrecorded'), []);
    const warnings: string[] = [];
    const next = await run('unrecorded', { ...silentLogger, warn: (message) => warnings.push(message) });
    assert.deepEqual(warnings, [`run ${failed.run_id} was interrupted after its commit; recording its state now`]);
    assert.equal(next.status, 'skipped');
    assert.deepEqual(await ids('unrecorded'), [1, 2]);
    assert.deepEqual(processed('unrecorded'), ['unrecorded/a.csv']);
    const [, recorded] = ledger.runs({ job: 'unrecorded', limit: 2 });
    assert.deepEqual([recorded.status, recorded.rows_loaded], ['succeeded', 2]);
  });
});
