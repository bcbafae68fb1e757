/**
 * `schedule run-local`: the scheduler on a fake clock running real jobs (files into DuckDB,
 * through the ledger, as `b2betl run` does), and the real binary stopping on Ctrl-C.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { expandJobFiles, loadJobs, type LoadedJob } from '../../src/core/config.js';
import { silentLogger } from '../../src/core/log.js';
import { runWithLedger } from '../../src/core/pipeline.js';
import { LocalScheduler, type LocalEvent } from '../../src/schedule/local-runner.js';
import { queryDuckDB, scratchProject, startCli } from '../support/cli.js';
import { FakeClock } from '../support/fake-clock.js';

type Project = Awaited<ReturnType<typeof scratchProject>>;

describe('schedule run-local', () => {
  let project: Project;

  before(async () => {
    project = await scratchProject({
      'etl.config.yaml': 'connections:\n  inbox: { type: local, path: ./data }\n',
      'jobs/orders.yaml': 'name: orders\nsource: { connection: inbox, pattern: "orders_*.csv" }\nschedule: { cron: "*/10 * * * *", timezone: Europe/Kyiv }\n',
      'jobs/held.yaml': 'name: held\nsource: { connection: inbox, pattern: "held_*.csv" }\nschedule: { cron: "* * * * *", paused: true }\n',
      'data/orders_1.csv': 'id,amount\n1,1.50\n2,2.50\n',
      'data/held_1.csv': 'id\n1\n',
    });
  });
  after(() => project?.cleanup());

  it('fires real runs on the schedule: each run loads what is new since the last', async () => {
    const jobs: LoadedJob[] = await loadJobs(await expandJobFiles(['jobs/orders.yaml'], project.dir), { cwd: project.dir });
    const clock = new FakeClock(new Date('2025-06-01T10:05:00Z'));
    const events: LocalEvent[] = [];
    const scheduler = new LocalScheduler({
      entries: jobs.map((job) => ({ name: job.spec.name, cron: job.spec.schedule!.cron, timezone: job.spec.schedule!.timezone, job })),
      concurrency: 1,
      clock,
      run: (job, signal) => runWithLedger(job, { log: silentLogger, signal }),
      report: (event) => events.push(event),
    });
    const running = scheduler.start();
    const resultCount = () => events.filter((event) => event.event === 'result').length;
    const waitForResults = (count: number) =>
      new Promise<void>((resolve) => {
        const check = () => (resultCount() >= count ? resolve() : setTimeout(check, 20));
        check();
      });
    await clock.advanceTo(new Date('2025-06-01T10:10:00Z'));
    await waitForResults(1);
    await project.write('data/orders_2.csv', 'id,amount\n3,3.50\n');
    await clock.advanceTo(new Date('2025-06-01T10:20:00Z'));
    await waitForResults(2);
    scheduler.stop();
    await running;
    const results = events.flatMap((event) => (event.event === 'result' ? [event.result] : []));
    assert.deepEqual(
      results.map((result) => [result.status, result.rows_loaded]),
      [
        ['succeeded', 2],
        ['succeeded', 1],
      ],
    );
    const rows = await queryDuckDB(path.join(project.dir, 'warehouse.duckdb'), 'SELECT id FROM main.orders ORDER BY id');
    assert.deepEqual(rows.map((row) => Number(row.id)), [1, 2, 3]);
  });

  it('the binary lists what it schedules, skips paused jobs, and exits 0 on Ctrl-C', async () => {
    const { child, done } = startCli(['schedule', 'run-local', 'jobs', '--concurrency', '2'], project.dir);
    let stderr = '';
    let interrupted = false;
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk;
      if (!interrupted && stderr.includes('Ctrl-C stops')) interrupted = child.kill('SIGINT');
    });
    const result = await done;
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /held: paused \(schedule\.paused: true\), not fired/);
    assert.match(result.stderr, /orders: \*\/10 \* \* \* \* \(Europe\/Kyiv\)/);
    assert.match(result.stderr, /scheduling 1 job\(s\), up to 2 at once/);
    assert.match(result.stderr, /SIGINT: stopping/);
  });

  it('refuses when no job has an active schedule', async () => {
    const { done } = startCli(['schedule', 'run-local', 'jobs/held.yaml'], project.dir);
    const result = await done;
    assert.equal(result.code, 2);
    assert.match(result.stderr, /none of these jobs has an active schedule/);
  });
});
