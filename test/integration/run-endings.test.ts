/**
 * How runs of the real binary end when something goes wrong: a value that does not convert
 * while a PostgreSQL or MySQL read still streams, a full disk, a read-only warehouse, a REQUIRED
 * column the source lacks, SIGTERM and SIGINT (twice, and while a PostgreSQL or MySQL plan or
 * read waits in the server, whose query is then cancelled there). Each ends with its exit code, the
 * summary or --json printed, a history row that says the same, the lock released and no
 * staging files left; a re-run then loads every row exactly once.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type BetterSqlite3 from 'better-sqlite3';
import { binary, queryDuckDB, runCli, scratchProject, startCli, type CliResult } from '../support/cli.js';
import { startBigQueryDouble, type BigQueryDouble } from '../support/bigquery-double/index.js';
import { myScratch, pgScratch, PG, type MyScratch, type PgScratch } from '../support/databases.js';
import { KEY, startPty } from '../support/pty.js';

const require = createRequire(import.meta.url);
type Project = Awaited<ReturnType<typeof scratchProject>>;
type Result = Record<string, unknown>;

/** Reads the project's ledger file directly. */
function ledgerRows(project: Project, sql: string): Record<string, unknown>[] {
  const Database = require('better-sqlite3') as typeof BetterSqlite3;
  const db = new Database(path.join(project.dir, '.b2betl', 'ledger.sqlite'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).all() as Record<string, unknown>[];
  } finally {
    db.close();
  }
}

function parsed(result: CliResult): Result[] {
  assert.ok(result.stdout.trim().startsWith('['), `no --json results printed (exit ${result.code}):\n${result.stdout}\n${result.stderr}`);
  return JSON.parse(result.stdout) as Result[];
}

/** The job's history (newest first) through `b2betl history --json`. */
async function history(project: Project, job: string): Promise<Result[]> {
  const result = await runCli(['history', job, '--json'], project.dir);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout) as Result[];
}

/** The --json result, the history row of the same run and the ledger agree; no lock, no staging files left. */
async function assertEnded(project: Project, result: Result, expected: { status: string; error: RegExp }): Promise<void> {
  assert.equal(result.status, expected.status, JSON.stringify(result));
  assert.match(String(result.error), expected.error);
  assert.equal(result.rows_loaded, 0, 'nothing committed, nothing reported loaded');
  const [recorded] = (await history(project, String(result.job))).filter((run) => run.id === result.run_id);
  assert.ok(recorded, `run ${String(result.run_id)} is in history`);
  for (const key of ['status', 'error', 'rows_loaded', 'rows_extracted', 'rows_rejected', 'files_processed']) assert.deepEqual(recorded[key], result[key], key);
  assert.ok(recorded.ended_at, 'the run has ended');
  assert.deepEqual(ledgerRows(project, 'SELECT job FROM locks'), [], 'the lock is released');
  const staging = path.join(project.dir, 'warehouse.duckdb.staging');
  assert.deepEqual(existsSync(staging) ? readdirSync(staging) : [], [], 'no staging files are left');
}

/** Spawn options that run the binary as an unprivileged user when the tests run as root (root writes anything). */
function unprivileged(project: Project): { uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return {};
  chownSync(project.dir, 65534, 65534);
  for (const entry of readdirSync(project.dir, { recursive: true }) as string[]) {
    const file = path.join(project.dir, entry);
    chownSync(file, 65534, 65534);
  }
  return { uid: 65534, gid: 65534 };
}

function spawnAs(args: readonly string[], cwd: string, as: { uid?: number; gid?: number }): Promise<CliResult> {
  const child = spawn(process.execPath, [binary, ...args], { cwd, env: { ...process.env, CI: 'true', HOME: cwd }, stdio: ['ignore', 'pipe', 'pipe'], ...as });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr })));
}

describe('runs that fail mid-read end cleanly', () => {
  let pg: PgScratch;
  let my: MyScratch;
  let project: Project;

  before(async () => {
    pg = await pgScratch('endings');
    my = await myScratch('endings');
    // Row 20,000 holds a value no destination takes, long after the stream began.
    await pg.sql(`CREATE TABLE ${pg.schema}.events (id bigint PRIMARY KEY, at timestamptz)`);
    await pg.sql(`INSERT INTO ${pg.schema}.events SELECT g, CASE WHEN g = 20000 THEN 'infinity' ELSE timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second' END FROM generate_series(1, 60000) g`);
    await my.sql('CREATE TABLE shifts (id bigint PRIMARY KEY, tm time)');
    await my.sql("INSERT INTO shifts SELECT seq, CASE WHEN seq = 20000 THEN '838:59:59' ELSE '10:00:00' END FROM seq_1_to_60000");
    project = await scratchProject({
      'etl.config.yaml': [
        'connections:',
        `  shop: { type: postgres, host: ${PG.host}, port: ${PG.port}, user: ${PG.user}, database: ${PG.database} }`,
        `  legacy: { type: mysql, host: 127.0.0.1, port: 3306, user: root, database: ${my.database} }`,
        '  wh: { type: duckdb, path: ./warehouse.duckdb }',
        'defaults: { destination: wh }',
        '',
      ].join('\n'),
      'jobs/events.yaml': `name: events\nsource: { connection: shop, table: ${pg.schema}.events, parallelism: 2 }\nload: { strategy: transactional, cursor: id }\n`,
      'jobs/shifts.yaml': 'name: shifts\nsource: { connection: legacy, table: shifts }\nload: { strategy: catalog }\n',
    });
  });
  after(async () => {
    await pg?.drop();
    await my?.drop();
    await project?.cleanup();
  });

  for (const [product, job, error] of [
    ['PostgreSQL', 'events', /20000: at: "infinity" is not a timestamp/],
    ['MySQL', 'shifts', /20000: tm: "838:59:59" is not a time of day/],
  ] as const) {
    it(`${product}: a value that does not convert at row 20,000 exits 1 with --json, a failed history row, no lock and no staging files`, async () => {
      const result = await runCli(['run', `jobs/${job}.yaml`, '--json'], project.dir);
      assert.equal(result.code, 1, result.stderr);
      const [run] = parsed(result);
      await assertEnded(project, run, { status: 'failed', error });
      assert.ok(Number(run.rows_extracted) > 0, 'the rows read before the failure are counted as extracted');
      // Plain output: the summary table says the same.
      const plain = await runCli(['run', `jobs/${job}.yaml`], project.dir);
      assert.equal(plain.code, 1);
      assert.match(plain.stdout, new RegExp(`^${job}\\s+failed\\s+0\\s`, 'm'));
      assert.match(plain.stdout, error);
    });
  }

  it('a REQUIRED destination column the source lacks: failed at its first batch, 0 loaded', async () => {
    await pg.sql(`CREATE TABLE ${pg.schema}.fine (id bigint PRIMARY KEY, at timestamptz)`);
    await pg.sql(`INSERT INTO ${pg.schema}.fine SELECT g, now() FROM generate_series(1, 3000) g`);
    await project.write('jobs/fine.yaml', `name: fine\nsource: { connection: shop, table: ${pg.schema}.fine }\nload: { strategy: catalog }\n`);
    const first = await runCli(['run', 'jobs/fine.yaml', '--json'], project.dir);
    assert.equal(first.code, 0, first.stderr);
    const { DuckDBInstance } = await import('@duckdb/node-api');
    const instance = await DuckDBInstance.create(path.join(project.dir, 'warehouse.duckdb'));
    const connection = await instance.connect();
    await connection.run("ALTER TABLE fine ADD COLUMN region VARCHAR DEFAULT 'eu'");
    await connection.run('ALTER TABLE fine ALTER COLUMN region SET NOT NULL');
    connection.closeSync();
    instance.closeSync();
    const result = await runCli(['run', 'jobs/fine.yaml', '--json'], project.dir);
    assert.equal(result.code, 1, result.stderr);
    const [run] = parsed(result);
    await assertEnded(project, run, { status: 'failed', error: /region is REQUIRED in the destination/ });
    assert.equal(run.rows_loaded, 0);
    const [count] = await queryDuckDB(path.join(project.dir, 'warehouse.duckdb'), 'SELECT count(*) AS n FROM fine');
    assert.equal(Number(count.n), 3000, 'the previous snapshot is untouched');
  });
});

describe('stopped by a signal', () => {
  let pg: PgScratch;
  let project: Project;
  const ROWS = 20_000;
  /** An advisory lock the test holds: the planned job's plan waits on it at the last row, where its high-water mark is read. */
  const GATE = 800_000 + Math.floor(Math.random() * 100_000);

  before(async () => {
    pg = await pgScratch('signals');
    await pg.sql(`CREATE TABLE ${pg.schema}.items (id bigint PRIMARY KEY, v bigint)`);
    await pg.sql(`INSERT INTO ${pg.schema}.items SELECT g, g * 2 FROM generate_series(1, ${ROWS}) g`);
    // A gate that swallows cancel requests: it stands for work a server does not stop when asked.
    await pg.sql(`CREATE FUNCTION ${pg.schema}.stubborn_gate(k bigint) RETURNS boolean LANGUAGE plpgsql AS $$
      BEGIN
        LOOP
          BEGIN
            PERFORM pg_advisory_lock(k);
            PERFORM pg_advisory_unlock(k);
            RETURN true;
          EXCEPTION WHEN query_canceled THEN NULL;
          END;
        END LOOP;
      END $$`);
    // Reading takes about 4 s: every 1,000th row sleeps 0.2 s.
    const slow = `SELECT id, v FROM ${pg.schema}.items WHERE CASE WHEN id % 1000 = 0 THEN pg_sleep(0.2)::text IS NOT NULL ELSE true END`;
    project = await scratchProject({
      'etl.config.yaml': `connections:\n  shop: { type: postgres, host: ${PG.host}, port: ${PG.port}, user: ${PG.user}, database: ${PG.database} }\n  wh: { type: duckdb, path: ./warehouse.duckdb }\ndefaults: { destination: wh }\n`,
      'jobs/items.yaml': `name: items\nsource:\n  connection: shop\n  query: "${slow}"\nload: { strategy: catalog }\n`,
      // Its read waits at the test's gate half way, so a key typed meanwhile lands before the commit whatever the machine's load.
      'jobs/gated.yaml': `name: gated\nsource:\n  connection: shop\n  query: "SELECT id, v FROM ${pg.schema}.items WHERE CASE WHEN id = ${ROWS / 2} THEN pg_advisory_lock(${GATE + 1})::text IS NOT NULL AND pg_advisory_unlock(${GATE + 1}) ELSE true END"\nload: { strategy: catalog }\n`,
      // Its plan reads the high-water mark through a query held at the test's gate: a stop cancels it there.
      'jobs/planning.yaml': `name: planning\nsource:\n  connection: shop\n  query: "SELECT id, v FROM ${pg.schema}.items WHERE CASE WHEN id = ${ROWS} THEN pg_advisory_lock(${GATE + 2})::text IS NOT NULL AND pg_advisory_unlock(${GATE + 2}) ELSE true END"\nload: { strategy: transactional, cursor: id }\n`,
      // The same behind the stubborn gate: the first stop cannot end its query, a second one exits.
      'jobs/planned.yaml': `name: planned\nsource:\n  connection: shop\n  query: "SELECT id, v FROM ${pg.schema}.items WHERE CASE WHEN id = ${ROWS} THEN ${pg.schema}.stubborn_gate(${GATE}) ELSE true END"\nload: { strategy: transactional, cursor: id }\n`,
    });
  });
  after(async () => {
    await pg?.drop();
    await project?.cleanup();
  });

  /** Starts a run and resolves once its stderr matches `ready`. */
  async function started(job: string, ready: RegExp, args: string[] = []) {
    const run = startCli(['run', `jobs/${job}.yaml`, ...args], project.dir);
    let stderr = '';
    await new Promise<void>((resolve, reject) => {
      run.child.stderr!.on('data', (chunk: Buffer) => {
        stderr += chunk;
        if (ready.test(stderr)) resolve();
      });
      run.child.on('close', () => reject(new Error(`the run ended before ${ready}:\n${stderr}`)));
    });
    return run;
  }

  for (const [signal, code] of [
    ['SIGTERM', 143],
    ['SIGINT', 130],
  ] as const) {
    it(`${signal} mid-read: stops reading, prints interrupted with nothing committed, records it, releases the lock, exits ${code}`, async () => {
      const run = await started('items', /unit\(s\) to load/, ['--json', '--verbose']);
      await new Promise((resolve) => setTimeout(resolve, 500));
      run.child.kill(signal);
      const result = await run.done;
      assert.equal(result.code, code, result.stderr);
      assert.match(result.stderr, new RegExp(`${signal}: stopping at a safe point`));
      const [stopped] = parsed(result);
      await assertEnded(project, stopped, { status: 'interrupted', error: new RegExp(`interrupted \\(${signal}\\) before the commit: nothing of this run was committed`) });
      assert.ok(Number(stopped.rows_extracted) < ROWS, 'reading stopped before the end');
      const again = await runCli(['run', 'jobs/items.yaml', '--json'], project.dir);
      assert.equal(again.code, 0, again.stderr);
      const [count] = await queryDuckDB(path.join(project.dir, 'warehouse.duckdb'), 'SELECT count(*) AS n, count(DISTINCT id) AS d FROM items');
      assert.deepEqual([Number(count.n), Number(count.d)], [ROWS, ROWS]);
    });
  }

  /** Resolves once the gate's lock has `waiting` waiters (or none) in PostgreSQL. */
  async function gateWaiters(gate: number, waiting: boolean) {
    for (;;) {
      const [row] = await pg.sql("SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND NOT granted", [gate]);
      if (Number(row.n) > 0 === waiting) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  it('Ctrl-C typed in a terminal stops the progress view at a safe point: interrupted, exit 130', async () => {
    const gate = GATE + 1;
    await pg.sql('SELECT pg_advisory_lock($1)', [gate]);
    // A pseudo-terminal of its own: Ctrl-C typed into it reaches the binary as the terminal's SIGINT, no shell between.
    const terminal = startPty(['run', 'jobs/gated.yaml'], project.dir);
    let code: number;
    try {
      // The progress view counts rows once the read has begun.
      await terminal.waitFor(/all rows: [\d,]+ rows/);
      await gateWaiters(gate, true);
      await terminal.type(KEY.ctrlC);
      // The run ends while the gate is still shut, and its query does not live on in the server.
      const giveUp = (what: string) => new Promise<string>((resolve) => setTimeout(() => resolve(what), 30_000).unref());
      const ended = await Promise.race([terminal.exited, giveUp('the run waits for its query')]);
      assert.equal(typeof ended, 'number', terminal.screen());
      code = ended as number;
      assert.equal(await Promise.race([gateWaiters(gate, false).then(() => 'cancelled'), giveUp('the query still runs')]), 'cancelled');
    } finally {
      terminal.kill();
      await pg.sql('SELECT pg_advisory_unlock($1)', [gate]);
    }
    const screen = terminal.screen();
    assert.equal(code, 130, screen);
    assert.match(screen, /SIGINT: stopping at a safe point/, screen);
    assert.match(screen, /^gated\s+interrupted\s+0\s/m, screen);
    const [recorded] = await history(project, 'gated');
    assert.equal(recorded.status, 'interrupted');
    assert.deepEqual(ledgerRows(project, 'SELECT job FROM locks'), []);
  });

  it('Ctrl-C while the plan waits for its query cancels the query in the database: interrupted, exit 130', async () => {
    const gate = GATE + 2;
    await pg.sql('SELECT pg_advisory_lock($1)', [gate]);
    let result: CliResult;
    try {
      const run = await started('planning', /planning: starting/, ['--json', '--verbose']);
      await gateWaiters(gate, true);
      run.child.kill('SIGINT');
      // The run ends while the gate is still shut, and its query does not live on in the server.
      const giveUp = (what: string) => new Promise<string>((resolve) => setTimeout(() => resolve(what), 30_000).unref());
      const ended = await Promise.race([run.done, giveUp('the run waits for its plan query')]);
      assert.notEqual(typeof ended, 'string', String(ended));
      result = ended as CliResult;
      assert.equal(await Promise.race([gateWaiters(gate, false).then(() => 'cancelled'), giveUp('the query still runs')]), 'cancelled');
    } finally {
      await pg.sql('SELECT pg_advisory_unlock($1)', [gate]);
    }
    assert.equal(result.code, 130, result.stderr);
    assert.doesNotMatch(result.stderr, /SIGINT again/);
    const [stopped] = parsed(result);
    await assertEnded(project, stopped, { status: 'interrupted', error: /interrupted \(SIGINT\) before the commit: nothing of this run was committed/ });
    const again = await runCli(['run', 'jobs/planning.yaml'], project.dir);
    assert.equal(again.code, 0, again.stderr);
    const [count] = await queryDuckDB(path.join(project.dir, 'warehouse.duckdb'), 'SELECT count(*) AS n, count(DISTINCT id) AS d FROM planning');
    assert.deepEqual([Number(count.n), Number(count.d)], [ROWS, ROWS]);
  });

  it('a second Ctrl-C exits at once, still recording the run as interrupted and releasing the lock', async () => {
    await pg.sql('SELECT pg_advisory_lock($1)', [GATE]);
    const run = await started('planned', /planned: starting/);
    // Once the plan's query waits at the stubborn gate, the first Ctrl-C cannot end the run before it returns.
    await gateWaiters(GATE, true);
    run.child.kill('SIGINT');
    await new Promise((resolve) => setTimeout(resolve, 200));
    run.child.kill('SIGINT');
    const result = await run.done;
    await pg.sql('SELECT pg_advisory_unlock($1)', [GATE]);
    assert.equal(result.code, 130, result.stderr);
    assert.match(result.stderr, /SIGINT again: exiting now/);
    assert.doesNotMatch(result.stderr, /unit\(s\) to load/, 'it did not wait for the plan to finish');
    assert.match(result.stdout, /^planned\s+interrupted\s+0\s/m);
    const [recorded] = await history(project, 'planned');
    assert.equal(recorded.status, 'interrupted');
    assert.match(String(recorded.error), /interrupted \(SIGINT twice\) before the commit/);
    assert.deepEqual(ledgerRows(project, 'SELECT job FROM locks'), []);
    const again = await runCli(['run', 'jobs/planned.yaml'], project.dir);
    assert.equal(again.code, 0, again.stderr);
    const [count] = await queryDuckDB(path.join(project.dir, 'warehouse.duckdb'), 'SELECT count(*) AS n FROM planned');
    assert.equal(Number(count.n), ROWS);
  });
});

describe('stopped by a signal, on MySQL', () => {
  let my: MyScratch;
  let project: Project;
  const ROWS = 5_000;
  /** A named lock the test holds: the plan of one job waits on it at the last row, where its high-water mark is read; the read of another works on while it is held. */
  const GATE = `b2betl_gate_${Math.floor(Math.random() * 1e9)}`;

  before(async () => {
    my = await myScratch('planstop');
    await my.sql('CREATE TABLE items (id bigint PRIMARY KEY, v bigint)');
    await my.sql(`INSERT INTO items SELECT seq, seq * 2 FROM seq_1_to_${ROWS}`);
    project = await scratchProject({
      'etl.config.yaml': `connections:\n  legacy: { type: mysql, host: 127.0.0.1, port: 3306, user: root, database: ${my.database} }\n  wh: { type: duckdb, path: ./warehouse.duckdb }\ndefaults: { destination: wh }\n`,
      'jobs/gated.yaml': `name: gated\nsource:\n  connection: legacy\n  query: "SELECT id, v FROM items WHERE CASE WHEN id = ${ROWS} THEN GET_LOCK('${GATE}', 600) AND RELEASE_LOCK('${GATE}') ELSE 1 END"\nload: { strategy: transactional, cursor: id }\n`,
      // No cursor: nothing to plan, and while the test holds the gate the read itself works on at
      // row 2,500 for hours, never looking at its connection (a server notices a closed one only
      // when it next writes).
      'jobs/midread.yaml': `name: midread\nsource:\n  connection: legacy\n  query: "SELECT id, v FROM items WHERE CASE WHEN id = ${ROWS / 2} AND IS_USED_LOCK('${GATE}') IS NOT NULL THEN BENCHMARK(100000000000, MD5('${GATE}')) = 0 ELSE 1 END"\nload: { strategy: catalog }\n`,
    });
  });
  after(async () => {
    await my?.drop();
    await project?.cleanup();
  });

  /** The sessions running a query of the gate's, other than the test's own. */
  const gateQueries = async () => (await my.sql("SELECT ID AS id FROM information_schema.PROCESSLIST WHERE COMMAND = 'Query' AND INFO LIKE ? AND ID <> CONNECTION_ID()", [`%${GATE}%`])) as { id: number }[];

  /** Resolves once some session runs a query of the gate's (or none does). */
  async function gateWaiters(waiting: boolean) {
    for (;;) {
      if ((await gateQueries()).length > 0 === waiting) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Starts `job` with the gate shut, sends SIGINT once the query waits at it, and returns how the run ended. */
  async function stoppedAtGate(job: string): Promise<CliResult> {
    await my.sql('SELECT GET_LOCK(?, 0)', [GATE]);
    try {
      const run = startCli(['run', `jobs/${job}.yaml`, '--json'], project.dir);
      await gateWaiters(true);
      run.child.kill('SIGINT');
      // The run ends while the gate is still shut, and its query does not live on in the server.
      const giveUp = (what: string) => new Promise<string>((resolve) => setTimeout(() => resolve(what), 30_000).unref());
      const ended = await Promise.race([run.done, giveUp('the run waits for its query')]);
      assert.notEqual(typeof ended, 'string', String(ended));
      assert.equal(await Promise.race([gateWaiters(false).then(() => 'killed'), giveUp('the query still runs')]), 'killed');
      return ended as CliResult;
    } finally {
      await my.sql('SELECT RELEASE_LOCK(?)', [GATE]);
      for (const { id } of await gateQueries()) await my.sql(`KILL QUERY ${Number(id)}`);
    }
  }

  for (const [job, when] of [
    ['gated', 'the plan waits for its query'],
    ['midread', 'the read waits for rows'],
  ] as const) {
    it(`Ctrl-C while ${when} kills the query in the server: interrupted, exit 130, then a re-run loads every row once`, async () => {
      const result = await stoppedAtGate(job);
      assert.equal(result.code, 130, result.stderr);
      const [stopped] = parsed(result);
      await assertEnded(project, stopped, { status: 'interrupted', error: /interrupted \(SIGINT\) before the commit: nothing of this run was committed/ });
      const again = await runCli(['run', `jobs/${job}.yaml`], project.dir);
      assert.equal(again.code, 0, again.stderr);
      const [count] = await queryDuckDB(path.join(project.dir, 'warehouse.duckdb'), `SELECT count(*) AS n, count(DISTINCT id) AS d FROM ${job}`);
      assert.deepEqual([Number(count.n), Number(count.d)], [ROWS, ROWS]);
    });
  }
});

describe('a full disk, a read-only warehouse', () => {
  let project: Project;
  const lines = (from: number, count: number) => Array.from({ length: count }, (_, i) => `${from + i},${'x'.repeat(80)}`).join('\n');

  before(async () => {
    project = await scratchProject({
      'etl.config.yaml': 'connections:\n  inbox: { type: local, path: ./inbox }\n  wh: { type: duckdb, path: ./disk/warehouse.duckdb }\ndefaults: { destination: wh }\nledger: ./.b2betl/ledger.sqlite\n',
      'jobs/big.yaml': 'name: big\nsource: { connection: inbox, pattern: "*.csv" }\nload: { strategy: transactional }\n',
      'inbox/big.csv': `id,note\n${lines(1, 100_000)}\n`,
    });
  });
  after(() => project?.cleanup());

  it('ENOSPC while staging names the full path, exits 1 with --json, records the failure and removes the staging files', async () => {
    const disk = path.join(project.dir, 'disk');
    // A 4 MB file system of its own for the warehouse (a mount namespace: no privileges needed).
    const script = `mkdir -p "$1" && mount -t tmpfs -o size=4m tmpfs "$1" && cd "$2" && "$3" "$4" run jobs/big.yaml --json; echo "exit=$?" >&2; ls -A "$1/warehouse.duckdb.staging" >&2`;
    const result = spawnSync('unshare', ['-rm', 'sh', '-c', script, 'sh', disk, project.dir, process.execPath, binary], {
      env: { ...process.env, CI: 'true', B2BETL_STREAM_ONLY: '1' },
      encoding: 'utf8',
    });
    assert.match(result.stderr, /exit=1\n/, result.stderr);
    assert.match(result.stderr, /exit=1\n$/, 'the staging folder is empty');
    const [run] = JSON.parse(result.stdout) as Result[];
    assert.equal(run.status, 'failed');
    assert.match(String(run.error), new RegExp(`no space left on the device of ${disk.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/warehouse\\.duckdb\\.staging/big__${String(run.run_id)}/part-0\\.csv`));
    assert.match(String(run.error), /free space on that disk/);
    const [recorded] = await history(project, 'big');
    assert.equal(recorded.id, run.run_id);
    assert.equal(recorded.status, 'failed');
    assert.equal(recorded.error, run.error);
    assert.equal(recorded.rows_loaded, 0);
    assert.deepEqual(ledgerRows(project, 'SELECT job FROM locks'), []);
  });

  it('a warehouse the user may not write: the run is recorded as failed with the reason', async () => {
    const ok = await runCli(['run', 'jobs/big.yaml', '--json'], project.dir);
    assert.equal(ok.code, 0, ok.stderr);
    await project.write('inbox/more.csv', `id,note\n${lines(200_000, 10)}\n`);
    const as = unprivileged(project);
    chmodSync(path.join(project.dir, 'disk'), 0o555);
    chmodSync(path.join(project.dir, 'disk', 'warehouse.duckdb'), 0o444);
    try {
      const result = await spawnAs(['run', 'jobs/big.yaml', '--json'], project.dir, as);
      assert.equal(result.code, 1, result.stderr);
      const [run] = parsed(result);
      assert.equal(run.status, 'failed');
      assert.match(String(run.error), /warehouse\.duckdb/);
      const [recorded] = await history(project, 'big');
      assert.equal(recorded.id, run.run_id, 'the failed run is in history');
      assert.equal(recorded.status, 'failed');
      assert.equal(recorded.error, run.error);
      assert.deepEqual(ledgerRows(project, 'SELECT job FROM locks'), []);
    } finally {
      chmodSync(path.join(project.dir, 'disk'), 0o755);
      chmodSync(path.join(project.dir, 'disk', 'warehouse.duckdb'), 0o644);
    }
  });
});

describe('a commit the destination refuses', () => {
  let project: Project;
  before(async () => {
    project = await scratchProject({
      'etl.config.yaml': 'connections:\n  inbox: { type: local, path: ./inbox }\n',
      'jobs/checked.yaml': 'name: checked\nsource: { connection: inbox, pattern: "*.csv" }\nload: { strategy: transactional }\n',
      'inbox/rows.csv': `id,note\n${Array.from({ length: 2000 }, (_, i) => `${i + 1},n${i + 1}`).join('\n')}\n`,
    });
  });
  after(() => project?.cleanup());

  it('fails the run with the destination\'s error, 0 loaded, in history, and leaves the files to the next run', async () => {
    // A table whose CHECK refuses ids of 1,000 and more: the commit's INSERT fails inside its transaction.
    const { DuckDBInstance } = await import('@duckdb/node-api');
    const warehouse = path.join(project.dir, 'warehouse.duckdb');
    const instance = await DuckDBInstance.create(warehouse);
    const connection = await instance.connect();
    await connection.run('CREATE TABLE checked (id BIGINT CHECK (id < 1000), note VARCHAR)');
    connection.closeSync();
    instance.closeSync();
    const result = await runCli(['run', 'jobs/checked.yaml', '--json'], project.dir);
    assert.equal(result.code, 1, result.stderr);
    const [run] = parsed(result);
    await assertEnded(project, run, { status: 'failed', error: /CHECK constraint/i });
    assert.equal(run.rows_extracted, 2000);
    assert.equal(run.files_processed, 0);
    const state = JSON.parse((await runCli(['state', 'show', 'checked', '--json'], project.dir)).stdout) as { files: unknown[] };
    assert.deepEqual(state.files, [], 'the file is not marked processed');
    assert.equal(Number((await queryDuckDB(warehouse, 'SELECT count(*) AS n FROM checked'))[0].n), 0);
    assert.deepEqual(await queryDuckDB(warehouse, "SELECT run_id FROM _b2betl_loads WHERE job = 'checked'"), [], 'no marker');
  });
});

describe('a full disk while staging for BigQuery (the double)', () => {
  let double: BigQueryDouble;
  let project: Project;
  before(async () => {
    double = await startBigQueryDouble({ project: 'enospc-proj' });
    project = await scratchProject({
      'etl.config.yaml': `connections:\n  inbox: { type: local, path: ./inbox }\n  bq: { type: bigquery, project: enospc-proj, dataset: raw, location: EU, endpoint: "${double.endpoint}" }\ndefaults: { destination: bq }\n`,
      'jobs/big.yaml': 'name: big\nsource: { connection: inbox, pattern: "*.csv" }\nload: { strategy: transactional }\n',
      'inbox/big.csv': `id,note\n${Array.from({ length: 60_000 }, (_, i) => `${i + 1},${'y'.repeat(80)}`).join('\n')}\n`,
    });
  });
  after(async () => {
    await project?.cleanup();
    await double?.stop();
  });

  it('names the staging file that did not fit, exits 1 with --json, and records the failure', async () => {
    const tmp = path.join(project.dir, 'tmp');
    // A 2 MB temporary folder of its own (a mount namespace: no privileges needed).
    const script = `mkdir -p "$1" && mount -t tmpfs -o size=2m tmpfs "$1" && cd "$2" && TMPDIR="$1" "$3" "$4" run jobs/big.yaml --json; echo "exit=$?" >&2; ls -A "$1" >&2`;
    // Spawned without blocking: the BigQuery double answers from this process.
    const child = spawn('unshare', ['-rm', 'sh', '-c', script, 'sh', tmp, project.dir, process.execPath, binary], { env: { ...process.env, CI: 'true' } });
    const result = { stdout: '', stderr: '' };
    child.stdout.on('data', (chunk: Buffer) => (result.stdout += chunk));
    child.stderr.on('data', (chunk: Buffer) => (result.stderr += chunk));
    await new Promise((resolve) => child.on('close', resolve));
    assert.match(result.stderr, /exit=1\n$/, `exit 1 and an empty temporary folder:\n${result.stderr}`);
    assert.doesNotMatch(result.stderr, /MaxListenersExceededWarning/);
    const [run] = JSON.parse(result.stdout) as Result[];
    assert.equal(run.status, 'failed');
    assert.match(String(run.error), new RegExp(`no space left on the device of ${tmp.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/\\S+/unit-0\\.ndjson`));
    const [recorded] = await history(project, 'big');
    assert.deepEqual([recorded.id, recorded.status, recorded.error, recorded.rows_loaded], [run.run_id, 'failed', run.error, 0]);
    assert.deepEqual(ledgerRows(project, 'SELECT job FROM locks'), []);
  });
});

