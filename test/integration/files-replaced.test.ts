/**
 * Files replaced while a run reads them: the bytes a run loads are always those of the version
 * its ledger records. A local CSV or Parquet file rewritten after the plan fails its unit,
 * streamed or read by DuckDB itself; one rewritten after DuckDB read it but before the commit
 * fails the commit. Nothing of it is committed, the ledger does not record it, and the next run
 * loads the new bytes, once. (The stores' pinned reads are in stores-conformance; the load job
 * straight from GCS in bigquery-direct.)
 */
import assert from 'node:assert/strict';
import { readFileSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { DuckDBInstance } from '@duckdb/node-api';
import type { RunObserver, RunResult } from '../../src/core/pipeline.js';
import type { Ledger } from '../../src/ledger/ledger.js';
import { queryDuckDB, scratchProject } from '../support/cli.js';

// Every file, however small, may be read by DuckDB itself; read before the files source loads.
process.env.B2BETL_NATIVE_MIN_BYTES = '0';
const { loadJobs } = await import('../../src/core/config.js');
const { runJob } = await import('../../src/core/pipeline.js');
const { Ledger: LedgerClass } = await import('../../src/ledger/ledger.js');
const { silentLogger } = await import('../../src/core/log.js');

type Project = Awaited<ReturnType<typeof scratchProject>>;

describe('a file replaced while the run reads it', () => {
  let project: Project;
  let ledger: Ledger;

  before(async () => {
    project = await scratchProject({ 'etl.config.yaml': 'connections:\n  inbox: { type: local, path: ./inbox }\n  wh: { type: duckdb, path: ./warehouse.duckdb }\ndefaults: { destination: wh }\n' });
    ledger = LedgerClass.open(path.join(project.dir, '.b2betl', 'ledger.sqlite'));
  });
  afterEach(() => {
    delete process.env.B2BETL_STREAM_ONLY;
  });
  after(async () => {
    ledger?.close();
    await project?.cleanup();
  });

  const file = (name: string, ext: string) => path.join(project.dir, 'inbox', name, `data.${ext}`);
  /** Writes the file as a producer replacing it would: new bytes of the same size, a new modification time. */
  const replace = (target: string, data: Buffer | string) => {
    writeFileSync(target, data);
    const later = new Date(Date.now() + 60_000);
    utimesSync(target, later, later);
  };
  const csv = (ids: readonly number[]) => `id,v\n${ids.map((id) => `${id},${String(id).padStart(4, '0')}`).join('\n')}\n`;
  const parquet = async (ids: readonly number[]): Promise<Buffer> => {
    const target = path.join(project.dir, `made-${ids.join('-')}.parquet`);
    const duck = await (await DuckDBInstance.create(':memory:')).connect();
    await duck.run(`COPY (SELECT unnest([${ids.join(', ')}])::BIGINT AS id, 'p' || unnest([${ids.join(', ')}]) AS v) TO '${target.replace(/'/g, "''")}' (FORMAT PARQUET)`);
    duck.closeSync();
    return readFileSync(target);
  };
  const run = async (name: string, observer?: RunObserver): Promise<RunResult> => {
    const [job] = await loadJobs([path.join(project.dir, 'jobs', `${name}.yaml`)], { cwd: project.dir });
    return runJob(job, { ledger, log: silentLogger, observer });
  };
  const ids = async (table: string) => (await queryDuckDB(path.join(project.dir, 'warehouse.duckdb'), `SELECT id FROM main.${table} ORDER BY id`)).map((row) => Number(row.id));
  const tableExists = async (table: string) =>
    (await queryDuckDB(path.join(project.dir, 'warehouse.duckdb'), `SELECT table_name FROM information_schema.tables WHERE table_name = '${table}'`)).length > 0;

  /** The run fails naming the file, commits nothing and records no file; the next run loads the new bytes once. */
  async function assertReplacedThenLoaded(name: string, result: RunResult, expected: readonly number[]) {
    assert.equal(result.status, 'failed', JSON.stringify(result));
    assert.match(result.error ?? '', new RegExp(`inbox/${name}/data\\.\\w+ changed during the run`));
    assert.equal(result.rows_loaded, 0);
    assert.deepEqual(await tableExists(name) ? await ids(name) : [], []);
    assert.deepEqual([...ledger.files(name, 'inbox').keys()], []);
    const next = await run(name);
    assert.equal(next.status, 'succeeded', JSON.stringify(next));
    assert.deepEqual(await ids(name), expected);
    assert.equal((await run(name)).status, 'skipped', 'the new version is recorded');
    assert.deepEqual(await ids(name), expected);
  }

  for (const [path_, stream] of [
    ['streamed', true],
    ['read by DuckDB', false],
  ] as const) {
    test(`a CSV file rewritten after the plan fails its unit (${path_})`, async () => {
      const name = `csv_${stream ? 'streamed' : 'native'}`;
      await project.write(`inbox/${name}/data.csv`, csv([1, 2, 3]));
      await project.write(`jobs/${name}.yaml`, `name: ${name}\nsource: { connection: inbox, pattern: "${name}/*.csv" }\nload: { strategy: transactional }\n`);
      if (stream) process.env.B2BETL_STREAM_ONLY = '1';
      const result = await run(name, { planned: () => replace(file(name, 'csv'), csv([7, 8, 9])) });
      await assertReplacedThenLoaded(name, result, [7, 8, 9]);
    });

    test(`a Parquet file rewritten after the plan fails its unit (${path_})`, async () => {
      const name = `parquet_${stream ? 'streamed' : 'native'}`;
      await project.write(`inbox/${name}/data.parquet`, await parquet([1, 2, 3]));
      await project.write(`jobs/${name}.yaml`, `name: ${name}\nsource: { connection: inbox, pattern: "${name}/*.parquet" }\nload: { strategy: transactional }\n`);
      if (stream) process.env.B2BETL_STREAM_ONLY = '1';
      const replacement = await parquet([7, 8, 9]);
      const result = await run(name, { planned: () => replace(file(name, 'parquet'), replacement) });
      await assertReplacedThenLoaded(name, result, [7, 8, 9]);
    });
  }

  test('a CSV file DuckDB has read, rewritten before the commit, fails the commit', async () => {
    const name = 'csv_late';
    await project.write(`inbox/${name}/data.csv`, csv([1, 2, 3]));
    await project.write(`jobs/${name}.yaml`, `name: ${name}\nsource: { connection: inbox, pattern: "${name}/*.csv" }\nload: { strategy: transactional }\n`);
    const result = await run(name, { committing: () => replace(file(name, 'csv'), csv([7, 8, 9])) });
    await assertReplacedThenLoaded(name, result, [7, 8, 9]);
  });
});
