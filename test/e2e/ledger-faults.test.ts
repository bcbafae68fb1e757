/**
 * A ledger that is empty, truncated, not SQLite at all, read-only, or locked by another process,
 * through the real binary: every case is an error naming the ledger file and the fix; none is
 * taken for a fresh start that would load everything again.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { binary, queryDuckDB, runCli, scratchProject, startCli, type CliResult } from '../support/cli.js';

type Project = Awaited<ReturnType<typeof scratchProject>>;

const CONFIG = 'connections:\n  inbox: { type: local, path: ./inbox }\n';
const JOB = 'name: orders\nsource: { connection: inbox, pattern: "orders_*.csv" }\nload: { strategy: transactional }\n';
const FILES = 12;

function csv(ids: number[]): string {
  return ['id,note', ...ids.map((id) => `${id},note ${id}`)].join('\n') + '\n';
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

describe('a damaged or unusable ledger is an error naming it, never a fresh start', () => {
  let project: Project;
  let ledger: string;
  let good: Buffer;

  before(async () => {
    const files: Record<string, string> = { 'etl.config.yaml': CONFIG, 'jobs/orders.yaml': JOB };
    for (let f = 0; f < FILES; f++) files[`inbox/orders_${String(f).padStart(2, '0')}.csv`] = csv([f * 10 + 1, f * 10 + 2]);
    project = await scratchProject(files);
    ledger = path.join(project.dir, '.b2betl', 'ledger.sqlite');
    for (let run = 0; run < 3; run++) {
      const result = await runCli(['run', 'jobs/orders.yaml', '--json'], project.dir);
      assert.equal(result.code, 0, result.stderr);
    }
    // Checkpointed by the last close: the file alone holds everything.
    good = readFileSync(ledger);
  });
  after(() => project?.cleanup());
  beforeEach(() => {
    chmodSync(path.dirname(ledger), 0o755);
    for (const side of ['-wal', '-shm']) rmSync(`${ledger}${side}`, { force: true });
    writeFileSync(ledger, good);
    chmodSync(ledger, 0o644);
  });

  const rows = async () => Number((await queryDuckDB(path.join(project.dir, 'warehouse.duckdb'), 'SELECT count(*) AS n FROM main.orders'))[0].n);

  async function refused(result: CliResult, reason: RegExp): Promise<void> {
    assert.equal(result.code, 1, result.stderr);
    const [run] = JSON.parse(result.stdout) as Record<string, unknown>[];
    assert.equal(run.status, 'failed');
    assert.match(String(run.error), new RegExp(`ledger ${escape(ledger)} ${reason.source}`));
    assert.match(String(run.error), /b2betl state restore <job>/);
    assert.equal(await rows(), FILES * 2, 'nothing was loaded again');
  }

  it('an empty (0 bytes) ledger', async () => {
    assert.ok(statSync(ledger).size > 8192);
    truncateSync(ledger, 0);
    await refused(await runCli(['run', 'jobs/orders.yaml', '--json'], project.dir), /is empty \(0 bytes\)/);
    assert.equal(statSync(ledger).size, 0, 'the file is left as it was for the user to restore');
    for (const command of [['history', '--json'], ['state', 'show', 'orders']]) {
      const result = await runCli(command, project.dir);
      assert.equal(result.code, 1, `${command.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, new RegExp(`ledger ${escape(ledger)} is empty`));
    }
  });

  it('a truncated ledger', async () => {
    truncateSync(ledger, Math.floor(good.length / 2));
    await refused(await runCli(['run', 'jobs/orders.yaml', '--json'], project.dir), /is damaged/);
  });

  it('a file that is not SQLite', async () => {
    writeFileSync(ledger, Buffer.alloc(good.length, 'garbage!'));
    await refused(await runCli(['run', 'jobs/orders.yaml', '--json'], project.dir), /is damaged \(file is not a database\)/);
  });

  it('a read-only ledger names the file and how to make it writable', async () => {
    const as: { uid?: number; gid?: number } = {};
    if (process.getuid?.() === 0) {
      // root writes anything: run as an unprivileged user.
      for (const entry of ['', ...(readdirSync(project.dir, { recursive: true }) as string[])]) chownSync(path.join(project.dir, entry), 65534, 65534);
      Object.assign(as, { uid: 65534, gid: 65534 });
    }
    chmodSync(ledger, 0o444);
    chmodSync(path.dirname(ledger), 0o555);
    try {
      const child = spawn(process.execPath, [binary, 'run', 'jobs/orders.yaml', '--json'], { cwd: project.dir, env: { ...process.env, CI: 'true' }, ...as });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      assert.equal(code, 1, stderr);
      const [run] = JSON.parse(stdout) as Record<string, unknown>[];
      assert.equal(run.status, 'failed');
      assert.match(String(run.error), new RegExp(`ledger ${escape(ledger)} is read-only|cannot open ledger ${escape(ledger)}`));
      assert.match(String(run.error), /writable/);
      assert.equal(await rows(), FILES * 2);
    } finally {
      chmodSync(path.dirname(ledger), 0o755);
      chmodSync(ledger, 0o644);
    }
  });

  /**
   * Holds the ledger in an exclusive transaction, with a lock row saying job `nightly` runs in this
   * pid, until `release()` (or `ms`, whichever comes first).
   */
  function holdLedger(ms: number): { held: Promise<void>; pid: number; release(): void; stop(): void } {
    const script = `
      const Database = require(${JSON.stringify(path.join(path.dirname(binary), '..', 'node_modules', 'better-sqlite3'))});
      const db = new Database(${JSON.stringify(ledger)});
      db.prepare("INSERT OR REPLACE INTO locks VALUES ('nightly', 'r-nightly', ?, ?, ?, ?)").run(process.pid, require('os').hostname(), new Date().toISOString(), new Date(Date.now() + 60000).toISOString());
      db.exec('BEGIN EXCLUSIVE');
      process.stdout.write('held\\n');
      const release = () => { db.exec('ROLLBACK'); db.prepare("DELETE FROM locks WHERE job = 'nightly'").run(); db.close(); process.exit(0); };
      setTimeout(release, ${ms});
      process.stdin.on('data', release);
    `;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
    const held = new Promise<void>((resolve, reject) => {
      child.stdout.on('data', () => resolve());
      child.on('close', (code) => reject(new Error(`the holder exited (${code}) before holding the ledger`)));
    });
    return { held, pid: child.pid!, release: () => child.stdin.write('release\n'), stop: () => child.kill('SIGKILL') };
  }

  it('a ledger locked by another process past the bound: waits saying who uses it, then fails naming the holder', async () => {
    const holder = holdLedger(8000);
    await holder.held;
    const result = await runCli(['run', 'jobs/orders.yaml', '--json'], project.dir, { B2BETL_LEDGER_WAIT_MS: '1500' });
    holder.stop();
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, new RegExp(`ledger ${escape(ledger)} is locked by another process \\(b2betl runs using it: job nightly, run r-nightly, pid ${holder.pid} on .+\\); waiting up to 2 s`));
    const [run] = JSON.parse(result.stdout) as Record<string, unknown>[];
    assert.equal(run.status, 'failed');
    assert.match(String(run.error), new RegExp(`ledger ${escape(ledger)} stayed locked by another process for 2 s \\(b2betl runs using it: job nightly, run r-nightly, pid ${holder.pid}`));
  });

  it('a ledger locked for a moment: the run waits for it and loads', async () => {
    await project.write('inbox/orders_98.csv', csv([981]));
    const holder = holdLedger(60_000);
    await holder.held;
    // Released once the run says it waits, however long the machine takes to get there.
    const started = startCli(['run', 'jobs/orders.yaml', '--json'], project.dir, { B2BETL_LEDGER_WAIT_MS: '30000' });
    started.child.stderr!.on('data', (chunk: Buffer) => /waiting up to/.test(String(chunk)) && holder.release());
    const result = await started.done;
    // Each test starts from the same ledger: the file this one loaded goes.
    rmSync(path.join(project.dir, 'inbox', 'orders_98.csv'));
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /is locked by another process .*job nightly.*; waiting up to 30 s/);
    const [run] = JSON.parse(result.stdout) as Record<string, unknown>[];
    assert.equal(run.status, 'succeeded');
    assert.equal(run.rows_loaded, 1);
  });

  it('a ledger that fails right after the destination commit: the run says what committed, and the next run records it once', async () => {
    await project.write('inbox/orders_97.csv', csv([971, 972]));
    const Database = (await import('node:module')).createRequire(import.meta.url)('better-sqlite3') as typeof import('better-sqlite3');
    const db = new Database(ledger);
    db.exec("CREATE TRIGGER broken BEFORE UPDATE OF status ON runs WHEN NEW.status = 'succeeded' BEGIN SELECT RAISE(ABORT, 'simulated write failure'); END");
    db.close();
    const before = await rows();
    const failed = await runCli(['run', 'jobs/orders.yaml', '--json'], project.dir);
    assert.equal(failed.code, 1, failed.stderr);
    const [run] = JSON.parse(failed.stdout) as Record<string, unknown>[];
    assert.equal(run.status, 'failed');
    assert.equal(run.rows_loaded, 2, 'the rows that did commit are reported');
    assert.match(String(run.error), new RegExp(`run ${String(run.run_id)} committed 2 row\\(s\\) into orders, but the ledger could not record it: ledger ${escape(ledger)}: simulated write failure`));
    assert.equal(await rows(), before + 2);
    const fixed = new Database(ledger);
    fixed.exec('DROP TRIGGER broken');
    fixed.close();
    const next = await runCli(['run', 'jobs/orders.yaml', '--json'], project.dir);
    assert.equal(next.code, 0, next.stderr);
    assert.match(next.stderr, new RegExp(`run ${String(run.run_id)} was interrupted after its commit; recording its state now`));
    assert.equal(await rows(), before + 2, 'nothing loaded twice');
    const [recorded] = (JSON.parse((await runCli(['history', 'orders', '--json'], project.dir)).stdout) as Record<string, unknown>[]).filter((entry) => entry.id === run.run_id);
    assert.equal(recorded.status, 'succeeded');
    assert.equal(recorded.rows_loaded, 2);
  });
});
