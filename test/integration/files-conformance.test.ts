/**
 * One end-to-end body for file loads from every object store: the real binary on a scratch
 * project whose `lake` connection is local disk, GCS (the GCS double), S3 (s3rver) or Azure Blob
 * (Azurite), loading into the embedded DuckDB warehouse run after run, and the rows read back.
 * The stores' cases run side by side; the 10,000-object loads follow one store at a time, so
 * that each one's time is its own.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { binary, queryDuckDB, runCli } from '../support/cli.js';
import { SCRATCH, STORE_KINDS, startFilesStore, type FilesStore, type StoreKind } from '../support/files-conformance-stores.js';

/** A scratch project folder; on a RAM disk, since a run stages one load file per object. */
interface Project {
  readonly dir: string;
  cleanup(): Promise<void>;
}
type RunResult = Record<string, unknown> & { status: string; error: string | null; run_id: string };

/** A started store and the scratch project whose `lake` connection points at it. */
interface Setup {
  readonly store: FilesStore;
  readonly project: Project;
}

const MANY = 10_000;

const JOBS: Record<string, string> = {
  mixed: 'mixed/*',
  fetched: 'fetched/*',
  nested: 'nested/**/*.jsonl',
  dated: 'dated/*/data_*.csv',
  zipped: 'zipped/*.gz',
  bad: 'bad/*.csv',
  many: 'many/**/*.csv',
  // 2,000 of the objects: twice the open files the usual limit allows.
  many_limited: 'many/0[01]?/*.csv',
};

/** The soft limit on open files Linux gives a login session by default (macOS gives 256). */
const USUAL_OPEN_FILES = 1024;

/** The row every format carries for an id. */
function expectedRow(id: number) {
  return { id, name: `Customer ${id}, Inc.`, amount: id + 0.25 };
}

function csvOf(ids: readonly number[]): string {
  return ['id,name,amount', ...ids.map((id) => `${id},"Customer ${id}, Inc.",${id}.25`)].join('\n') + '\n';
}

function jsonlOf(ids: readonly number[]): string {
  return ids.map((id) => JSON.stringify(expectedRow(id))).join('\n') + '\n';
}

/** Parquet bytes written by DuckDB, with BIGINT ids and DOUBLE amounts. */
async function parquetOf(ids: readonly number[]): Promise<Buffer> {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const file = path.join(os.tmpdir(), `b2betl-files-conformance-${process.pid}-${ids[0]}-${Date.now()}.parquet`);
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    const values = ids.map((id) => `(${id})`).join(', ');
    await connection.run(
      `COPY (SELECT id::BIGINT AS id, 'Customer ' || id || ', Inc.' AS name, (id + 0.25)::DOUBLE AS amount FROM (VALUES ${values}) AS t(id)) TO '${file}' (FORMAT PARQUET)`,
    );
    return await readFile(file);
  } finally {
    connection.closeSync();
    instance.closeSync();
    await rm(file, { force: true });
  }
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, index) => from + index);
}

const setups = new Map<StoreKind, Promise<Setup>>();

/** The store of `kind` and its project, started on first use and kept for both phases. */
function setUp(kind: StoreKind): Promise<Setup> {
  let setup = setups.get(kind);
  if (!setup) {
    setup = (async () => {
      const store = await startFilesStore(kind);
      const jobs = Object.fromEntries(
        Object.entries(JOBS).map(([name, pattern]) => [`jobs/${name}.yaml`, `name: ${name}\nsource: { connection: lake, pattern: "${pattern}" }\n`]),
      );
      const dir = await mkdtemp(path.join(SCRATCH, 'b2betl-files-project-'));
      const others = store.otherConnections ? `  ${store.otherConnections}\n` : '';
      const files: Record<string, string> = { 'etl.config.yaml': `connections:\n  lake: ${store.connectionYaml}\n${others}`, ...jobs };
      await mkdir(path.join(dir, 'jobs'));
      for (const [name, content] of Object.entries(files)) await writeFile(path.join(dir, name), content);
      return { store, project: { dir, cleanup: () => rm(dir, { recursive: true, force: true }) } };
    })();
    setups.set(kind, setup);
  }
  return setup;
}

after(async () => {
  for (const setup of setups.values()) {
    const started = await setup.catch(() => undefined);
    await started?.project.cleanup();
    await started?.store.stop();
  }
});

/** `b2betl args…` with the soft limit on open files set to `limit`, as a shell's `ulimit -n` does. */
function runCliWithOpenFiles(limit: number, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = spawn('/bin/sh', ['-c', 'ulimit -n "$0" && exec "$@"', String(limit), process.execPath, binary, ...args], {
    cwd,
    env: { ...process.env, CI: 'true', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr })));
}

/** Runs a job through the binary; no secret of the connection may show in its output. */
async function run({ store, project }: Setup, job: string, options: { openFiles?: number } = {}): Promise<{ code: number; result: RunResult; elapsed: number }> {
  const started = performance.now();
  const args = ['run', `jobs/${job}.yaml`, '--json'];
  const { code, stdout, stderr } = options.openFiles
    ? await runCliWithOpenFiles(options.openFiles, args, project.dir, store.env)
    : await runCli(args, project.dir, store.env);
  const elapsed = performance.now() - started;
  assert.ok(stdout.trim().startsWith('['), `no JSON on stdout (exit ${code}):\n${stdout}\n${stderr}`);
  for (const secret of store.secrets) assert.ok(!stdout.includes(secret) && !stderr.includes(secret), 'a secret of the connection shows in the output');
  return { code, result: (JSON.parse(stdout) as RunResult[])[0], elapsed };
}

function warehouse({ project }: Setup, sql: string): Promise<Record<string, unknown>[]> {
  return queryDuckDB(path.join(project.dir, 'warehouse.duckdb'), sql);
}

async function table(setup: Setup, name: string): Promise<{ id: number; name: string; amount: number }[]> {
  const rows = await warehouse(setup, `SELECT id, name, amount FROM main.${name} ORDER BY id, name`);
  return rows.map((row) => ({ id: Number(row.id), name: String(row.name), amount: Number(row.amount) }));
}

async function ids(setup: Setup, name: string): Promise<number[]> {
  return (await table(setup, name)).map((row) => row.id);
}

/** The object paths the ledger records as loaded for a job. */
async function processedFiles({ store, project }: Setup, job: string): Promise<string[]> {
  const { code, stdout, stderr } = await runCli(['state', 'show', job, '--json'], project.dir, store.env);
  assert.equal(code, 0, stderr);
  return (JSON.parse(stdout) as { files: { path: string }[] }).files.map((file) => file.path).sort();
}

/** The file-load conformance body, run against one store. */
function conformance(kind: StoreKind): void {
  // One case after another: they share the store, the warehouse and the job lock.
  describe(`file loads from ${kind}`, { concurrency: false }, () => {
    let setup: Setup;
    const put = (file: string, data: string | Buffer) => setup.store.put(file, data);

    before(async () => {
      setup = await setUp(kind);
    });

    it('loads CSV, JSON Lines and Parquet objects on the first run', async () => {
      await put('mixed/a.csv', csvOf([11, 12, 13]));
      await put('mixed/b.jsonl', jsonlOf([14, 15, 16]));
      await put('mixed/c.parquet', await parquetOf([17, 18, 19]));
      const { code, result } = await run(setup, 'mixed');
      assert.equal(code, 0, JSON.stringify(result));
      assert.equal(result.status, 'succeeded');
      assert.equal(result.files_processed, 3);
      assert.equal(result.rows_loaded, 9);
      assert.deepEqual(await table(setup, 'mixed'), range(11, 19).map(expectedRow));
    });

    it('has DuckDB read Parquet and CSV objects itself: remote ones fetched whole to temporary files, gone after the run', async () => {
      await put('fetched/p.parquet', await parquetOf(range(1, 3000)));
      await put('fetched/c.csv', csvOf(range(3001, 6000)));
      const tmp = await mkdtemp(path.join(SCRATCH, 'b2betl-tmp-'));
      try {
        // CSV files of any size: DuckDB reads only files of 8 MiB and more by default.
        const env = { ...setup.store.env, TMPDIR: tmp, B2BETL_NATIVE_MIN_BYTES: '0' };
        // What a killed run left behind (no process has that id) goes with the next fetch.
        await mkdir(path.join(tmp, 'b2betl-fetch-4194305-x'));
        await writeFile(path.join(tmp, 'b2betl-fetch-4194305-x', '0.parquet'), 'left behind');
        const dry = await runCli(['run', 'jobs/fetched.yaml', '--dry-run'], setup.project.dir, env);
        const fetched = kind !== 'local';
        const leftBehind = ['b2betl-fetch-4194305-x'];
        for (const file of ['p\\.parquet', 'c\\.csv']) {
          const how = fetched ? 'native: fetched whole to a temporary file \\(removed after the run\\), then the destination reads it itself' : 'native: the destination reads it itself';
          assert.match(dry.stdout, new RegExp(`${file} \\d+ bytes\\n\\s+${how}`), dry.stdout);
        }
        assert.deepEqual(await readdir(tmp), leftBehind, 'a dry run fetches nothing');
        const { code, stdout, stderr } = await runCli(['run', 'jobs/fetched.yaml', '--json', '--verbose'], setup.project.dir, env);
        assert.equal(code, 0, stderr);
        for (const secret of setup.store.secrets) assert.ok(!stdout.includes(secret) && !stderr.includes(secret), 'a secret of the connection shows in the output');
        const result = (JSON.parse(stdout) as RunResult[])[0];
        assert.equal(result.status, 'succeeded', String(result.error));
        assert.equal(result.rows_loaded, 6000);
        assert.match(stderr, /p\.parquet: 3000 row\(s\) read by DuckDB/);
        assert.match(stderr, /c\.csv: 3000 row\(s\) read by DuckDB/);
        if (fetched) assert.match(stderr, /p\.parquet: fetched \d+ bytes in \d+ ms/);
        if (fetched) assert.match(stderr, /c\.csv: fetched \d+ bytes in \d+ ms/);
        assert.deepEqual(await readdir(tmp), fetched ? [] : leftBehind, 'the fetched files are removed after the run, and those of a killed run before it fetched');
        assert.deepEqual(await table(setup, 'fetched'), range(1, 6000).map(expectedRow));
      } finally {
        await rm(tmp, { recursive: true, force: true });
      }
    });

    it('skips every unchanged object on a re-run', async () => {
      const { code, result } = await run(setup, 'mixed');
      assert.equal(code, 0, JSON.stringify(result));
      assert.equal(result.status, 'skipped');
      assert.equal(result.files_skipped, 3);
      assert.equal(result.files_processed, 0);
      assert.deepEqual(await ids(setup, 'mixed'), range(11, 19));
    });

    it('reloads a changed object, even of the same size within the same second: its new rows are appended', async () => {
      const before = csvOf([11, 12, 13]);
      const after = csvOf([21, 22, 23]);
      assert.equal(after.length, before.length);
      await put('mixed/a.csv', after);
      const { code, result } = await run(setup, 'mixed');
      assert.equal(code, 0, JSON.stringify(result));
      assert.equal(result.files_processed, 1);
      assert.equal(result.files_skipped, 2);
      assert.deepEqual(await table(setup, 'mixed'), [...range(11, 19), 21, 22, 23].map(expectedRow));
    });

    it('loads a new object alone, whatever characters its name holds', async () => {
      const name = 'mixed/new file+1 #%ü (copy).jsonl';
      await put(name, jsonlOf([24, 25]));
      const { code, result } = await run(setup, 'mixed');
      assert.equal(code, 0, JSON.stringify(result));
      assert.equal(result.files_processed, 1);
      assert.equal(result.files_skipped, 3);
      assert.deepEqual(await table(setup, 'mixed'), [...range(11, 19), 21, 22, 23, 24, 25].map(expectedRow));
      assert.deepEqual(await processedFiles(setup, 'mixed'), ['mixed/a.csv', 'mixed/b.jsonl', 'mixed/c.parquet', name].sort());
    });

    it('selects only matching objects (empty ones too) under nested prefixes with ** and data_*.csv globs', async () => {
      const objects: [string, string][] = [
        ['nested/top.jsonl', jsonlOf([100])],
        ['nested/x/mid.jsonl', jsonlOf([101])],
        ['nested/x/y/deep.jsonl', jsonlOf([102, 103])],
        ['nested/x/empty.jsonl', ''],
        ['nested/x/y/also.json', jsonlOf([900])],
        ['nested/x/y/deep.jsonl.bak', jsonlOf([901])],
        ['nested/x/table.csv', csvOf([902])],
        ['nested-sibling/out.jsonl', jsonlOf([903])],
        ['dated/2024-01/data_1.csv', csvOf([200, 201])],
        ['dated/2024-02/data_2.csv', csvOf([202])],
        ['dated/2024-04/data_6.csv', ''],
        ['dated/2024-02/summary.csv', csvOf([910])],
        ['dated/2024-02/mydata_3.csv', csvOf([911])],
        ['dated/2024-02/deeper/data_4.csv', csvOf([912])],
        ['dated/data_0.csv', csvOf([913])],
        ['dated/2024-03/data_5.csv.gz', csvOf([914])],
      ];
      for (const [name, content] of objects) await put(name, content);
      const nested = await run(setup, 'nested');
      assert.equal(nested.code, 0, JSON.stringify(nested.result));
      assert.equal(nested.result.files_processed, 4);
      assert.deepEqual(await table(setup, 'nested'), [100, 101, 102, 103].map(expectedRow));
      const dated = await run(setup, 'dated');
      assert.equal(dated.code, 0, JSON.stringify(dated.result));
      assert.equal(dated.result.files_processed, 3);
      assert.deepEqual(await table(setup, 'dated'), [200, 201, 202].map(expectedRow));
      assert.deepEqual(await processedFiles(setup, 'nested'), ['nested/top.jsonl', 'nested/x/empty.jsonl', 'nested/x/mid.jsonl', 'nested/x/y/deep.jsonl']);
      assert.deepEqual(await processedFiles(setup, 'dated'), ['dated/2024-01/data_1.csv', 'dated/2024-02/data_2.csv', 'dated/2024-04/data_6.csv']);
    });

    it('reads .csv.gz (and .jsonl.gz) objects transparently', async () => {
      const csvIds = range(1000, 5999);
      await put('zipped/part-1.csv.gz', gzipSync(csvOf(csvIds)));
      await put('zipped/part-2.jsonl.gz', gzipSync(jsonlOf([6000, 6001])));
      const { code, result } = await run(setup, 'zipped');
      assert.equal(code, 0, JSON.stringify(result));
      assert.equal(result.files_processed, 2);
      assert.equal(result.rows_loaded, csvIds.length + 2);
      assert.deepEqual(await table(setup, 'zipped'), [...csvIds, 6000, 6001].map(expectedRow));
    });

    it('fails a bad object alone with file:line: column: reason, keeps its state, and loads it once fixed', async () => {
      await put('bad/part_1.csv', csvOf([10]));
      const first = await run(setup, 'bad');
      assert.equal(first.code, 0, JSON.stringify(first.result));
      await put('bad/part_2.csv', 'id,name,amount\n20,"Customer 20, Inc.",20.25\n21,"Customer 21, Inc.",not-a-number\n');
      await put('bad/part_3.csv', 'id,name,amount\n30,"Customer 30, Inc.",30.25\n31,"Customer 31, Inc.",31.25\n32,"Customer 32, Inc.",32.25,extra\n');
      await put('bad/part_4.csv', csvOf([40]));
      const failing = await run(setup, 'bad');
      assert.equal(failing.code, 1);
      assert.equal(failing.result.status, 'partial');
      assert.equal(failing.result.files_failed, 2);
      assert.equal(failing.result.files_processed, 1);
      const error = String(failing.result.error);
      assert.ok(error.includes(`${setup.store.url('bad/part_2.csv')}:3: amount: "not-a-number" is not a number`), error);
      assert.ok(error.includes(`${setup.store.url('bad/part_3.csv')}:4: expected 3 fields, found 4`), error);
      assert.deepEqual(await ids(setup, 'bad'), [10, 40], 'nothing of a failed object is committed');
      assert.deepEqual(await processedFiles(setup, 'bad'), ['bad/part_1.csv', 'bad/part_4.csv']);

      const again = await run(setup, 'bad');
      assert.equal(again.result.files_failed, 2, 'an unchanged bad object is tried again, not recorded');
      assert.deepEqual(await ids(setup, 'bad'), [10, 40]);

      await put('bad/part_2.csv', csvOf([20, 21]));
      await put('bad/part_3.csv', csvOf([30, 31, 32]));
      const fixed = await run(setup, 'bad');
      assert.equal(fixed.code, 0, JSON.stringify(fixed.result));
      assert.equal(fixed.result.files_processed, 2);
      assert.equal(fixed.result.files_skipped, 2);
      assert.deepEqual(await table(setup, 'bad'), [10, 20, 21, 30, 31, 32, 40].map(expectedRow));
      const settled = await run(setup, 'bad');
      assert.equal(settled.result.status, 'skipped');
      assert.deepEqual(await ids(setup, 'bad'), [10, 20, 21, 30, 31, 32, 40]);
    });
  });
}

const seeded = new Map<StoreKind, Promise<void>>();

/** Puts the 10,000 one-row objects `many/NNN/obj_NNNNN.csv` into the store of `kind`, once. */
function seedMany(kind: StoreKind): Promise<void> {
  let seeding = seeded.get(kind);
  if (!seeding) {
    const files = Array.from({ length: MANY }, (_, index) => ({
      path: `many/${String(Math.floor(index / 100)).padStart(3, '0')}/obj_${String(index).padStart(5, '0')}.csv`,
      data: Buffer.from(`id,name\n${index},n${index}\n`),
    }));
    seeding = setUp(kind).then((setup) => setup.store.seed(files));
    seeded.set(kind, seeding);
  }
  return seeding;
}

/** 10,000 one-row objects through one run, then a run that skips them all. */
function volume(kind: StoreKind): void {
  it(`${kind}: loads ${MANY.toLocaleString('en')} small objects in one run, each row exactly once, and skips them all next time`, async (t) => {
    const setup = await setUp(kind);
    const seedStart = performance.now();
    await seedMany(kind);
    const seeded = performance.now() - seedStart;
    const first = await run(setup, 'many');
    assert.equal(first.code, 0, JSON.stringify(first.result));
    assert.equal(first.result.status, 'succeeded');
    assert.equal(first.result.files_processed, MANY);
    assert.equal(first.result.rows_loaded, MANY);
    const [summary] = await warehouse(
      setup,
      `SELECT count(*)::INTEGER AS total, count(DISTINCT id)::INTEGER AS ids, min(id)::INTEGER AS low, max(id)::INTEGER AS high,
              count(*) FILTER (WHERE name <> 'n' || id)::INTEGER AS wrong FROM main.many`,
    );
    assert.deepEqual(summary, { total: MANY, ids: MANY, low: 0, high: MANY - 1, wrong: 0 });
    const markers = await warehouse(setup, "SELECT json_array_length(units)::INTEGER AS units FROM main._b2betl_loads WHERE job = 'many'");
    assert.deepEqual(markers, [{ units: MANY }], 'one commit carries every object');

    const second = await run(setup, 'many');
    assert.equal(second.code, 0, JSON.stringify(second.result));
    assert.equal(second.result.status, 'skipped');
    assert.equal(second.result.files_skipped, MANY);
    assert.equal((await warehouse(setup, 'SELECT count(*)::INTEGER AS total FROM main.many'))[0].total, MANY);
    const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
    t.diagnostic(
      `${kind}: ${MANY} objects seeded in ${seconds(seeded)}; first run ${seconds(first.elapsed)} (run ${seconds(Number(first.result.duration_ms))}), ` +
        `re-run skipping all ${seconds(second.elapsed)}`,
    );
  });
}

describe('file loads from every store', { concurrency: true }, () => {
  for (const kind of STORE_KINDS) conformance(kind);
});

describe(`${MANY.toLocaleString('en')} objects from every store, one store at a time`, () => {
  for (const kind of STORE_KINDS) volume(kind);

  it(`loads thousands of objects within the usual limit of ${USUAL_OPEN_FILES} open files`, async () => {
    // A job of its own loads the local store's objects into its own table.
    const setup = await setUp('local');
    await seedMany('local');
    const { code, result } = await run(setup, 'many_limited', { openFiles: USUAL_OPEN_FILES });
    assert.equal(code, 0, `${String(result.error).split('\n').slice(0, 3).join('\n')}\n(${String(result.error).split('\n').length} error lines)`);
    assert.equal(result.files_processed, 2000);
    const [summary] = await warehouse(setup, 'SELECT count(*)::INTEGER AS total, count(DISTINCT id)::INTEGER AS ids, max(id)::INTEGER AS high FROM main.many_limited');
    assert.deepEqual(summary, { total: 2000, ids: 2000, high: 1999 });
  });
});
