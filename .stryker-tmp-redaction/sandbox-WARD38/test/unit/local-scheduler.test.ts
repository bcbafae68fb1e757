/**
 * The local scheduler on a fake clock: fires in each job's time zone across DST changes, one
 * run of a job at a time, `--concurrency` different jobs at once, no replay of missed fires,
 * and Ctrl-C that lets running jobs finish (a second one stops them at a safe point).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { RunResult } from '../../src/core/pipeline.js';
import { LocalScheduler, type LocalEvent } from '../../src/schedule/local-runner.js';
import { FakeClock, settle } from '../support/fake-clock.js';

function result(job: string): RunResult {
  return { job, run_id: `run-${job}`, status: 'succeeded', rows_extracted: 1, rows_loaded: 1, rows_rejected: 0, files_processed: 0, files_skipped: 0, files_failed: 0, duration_ms: 1, error: null };
}

/** A scheduler whose runs end when the test says so (or at once with `instant`). */
function harness(start: string, entries: { name: string; cron: string; timezone: string }[], options: { concurrency?: number; instant?: boolean } = {}) {
  const clock = new FakeClock(new Date(start));
  const events: LocalEvent[] = [];
  const started: { job: string; at: string; signal: AbortSignal }[] = [];
  const finishers = new Map<string, () => void>();
  const scheduler = new LocalScheduler({
    entries: entries.map((entry) => ({ ...entry, job: entry.name })),
    concurrency: options.concurrency ?? 2,
    clock,
    report: (event) => events.push(event),
    run: (job, signal) => {
      started.push({ job, at: clock.now().toISOString(), signal });
      if (options.instant) return Promise.resolve(result(job));
      return new Promise<RunResult>((resolve) => finishers.set(job, () => resolve(result(job))));
    },
  });
  const running = scheduler.start();
  const finish = async (job: string) => {
    finishers.get(job)!();
    finishers.delete(job);
    await settle();
  };
  const fires = (kind: LocalEvent['event'] = 'fire') => events.filter((event) => event.event === kind).map((event) => `${event.job} ${event.at}`);
  return { clock, events, started, scheduler, running, finish, fires };
}

describe('fires in the job\'s time zone across DST changes', () => {
  test('09:00 in Berlin stays 09:00 local when the clocks go forward', async () => {
    const { clock, scheduler, running, started } = harness('2025-03-28T12:00:00Z', [{ name: 'orders', cron: '0 9 * * *', timezone: 'Europe/Berlin' }], { instant: true });
    await clock.advanceTo(new Date('2025-04-01T00:00:00Z'));
    scheduler.stop();
    await running;
    assert.deepEqual(
      started.map((run) => run.at),
      ['2025-03-29T08:00:00.000Z', '2025-03-30T07:00:00.000Z', '2025-03-31T07:00:00.000Z'],
    );
  });

  test('01:30 in New York fires once on the night the clocks go back', async () => {
    const { clock, scheduler, running, started } = harness('2025-11-01T12:00:00Z', [{ name: 'events', cron: '30 1 * * *', timezone: 'America/New_York' }], { instant: true });
    await clock.advanceTo(new Date('2025-11-04T12:00:00Z'));
    scheduler.stop();
    await running;
    assert.deepEqual(
      started.map((run) => run.at),
      ['2025-11-02T05:30:00.000Z', '2025-11-03T06:30:00.000Z', '2025-11-04T06:30:00.000Z'],
    );
  });

  test('two jobs in two zones each follow their own clock', async () => {
    const { clock, scheduler, running, fires } = harness('2025-03-29T00:00:00Z', [
      { name: 'kyiv', cron: '0 9 * * *', timezone: 'Europe/Kyiv' },
      { name: 'utc', cron: '0 9 * * *', timezone: 'UTC' },
    ], { instant: true });
    await clock.advanceTo(new Date('2025-03-29T12:00:00Z'));
    scheduler.stop();
    await running;
    assert.deepEqual(fires(), ['kyiv 2025-03-29T07:00:00.000Z', 'utc 2025-03-29T09:00:00.000Z']);
  });
});

test('a fire while the job still runs is skipped and reported; the next one after it ends runs', async () => {
  const h = harness('2025-06-01T10:00:30Z', [{ name: 'orders', cron: '* * * * *', timezone: 'UTC' }]);
  await h.clock.advanceTo(new Date('2025-06-01T10:03:30Z'));
  assert.deepEqual(h.fires(), ['orders 2025-06-01T10:01:00.000Z']);
  assert.deepEqual(h.fires('skipped'), ['orders 2025-06-01T10:02:00.000Z', 'orders 2025-06-01T10:03:00.000Z']);
  assert.match((h.events.find((event) => event.event === 'skipped') as { reason: string }).reason, /has not finished/);
  assert.equal(h.started.length, 1);
  await h.finish('orders');
  assert.equal(h.events.filter((event) => event.event === 'result').length, 1);
  await h.clock.advanceTo(new Date('2025-06-01T10:04:30Z'));
  assert.deepEqual(h.fires().at(-1), 'orders 2025-06-01T10:04:00.000Z');
  assert.equal(h.started.length, 2);
  await h.finish('orders');
  h.scheduler.stop();
  await h.running;
});

test('up to --concurrency different jobs run at once; a fire beyond waits for a slot', async () => {
  const cron = '0 * * * *';
  const h = harness('2025-06-01T09:30:00Z', [
    { name: 'a', cron, timezone: 'UTC' },
    { name: 'b', cron, timezone: 'UTC' },
    { name: 'c', cron, timezone: 'UTC' },
  ], { concurrency: 2 });
  await h.clock.advanceTo(new Date('2025-06-01T10:00:00Z'));
  assert.equal(h.fires().length, 3, 'every job fired');
  assert.deepEqual(h.started.map((run) => run.job), ['a', 'b']);
  await h.finish('a');
  assert.deepEqual(h.started.map((run) => run.job), ['a', 'b', 'c']);
  await h.finish('b');
  await h.finish('c');
  h.scheduler.stop();
  await h.running;
});

test('fires missed while the machine slept are not replayed', async () => {
  const h = harness('2025-06-01T10:00:30Z', [{ name: 'orders', cron: '* * * * *', timezone: 'UTC' }], { instant: true });
  await h.clock.jump(3 * 3_600_000);
  await h.clock.advanceTo(new Date('2025-06-01T13:01:30Z'));
  h.scheduler.stop();
  await h.running;
  assert.deepEqual(h.started.map((run) => run.at), ['2025-06-01T13:00:30.000Z', '2025-06-01T13:01:00.000Z']);
});

test('Ctrl-C: no more fires, the running job finishes, then start() resolves; a second one aborts the run', async () => {
  const h = harness('2025-06-01T10:00:30Z', [{ name: 'orders', cron: '* * * * *', timezone: 'UTC' }]);
  await h.clock.advanceTo(new Date('2025-06-01T10:01:10Z'));
  assert.equal(h.started.length, 1);
  h.scheduler.stop();
  let ended = false;
  void h.running.then(() => (ended = true));
  await h.clock.advanceTo(new Date('2025-06-01T10:05:00Z'));
  assert.equal(ended, false, 'waits for the running job');
  assert.deepEqual(h.fires(), ['orders 2025-06-01T10:01:00.000Z'], 'no fire after Ctrl-C');
  assert.equal(h.started[0].signal.aborted, false);
  h.scheduler.abort();
  assert.equal(h.started[0].signal.aborted, true, 'a second Ctrl-C asks the run to stop at a safe point');
  await h.finish('orders');
  await h.running;
  assert.equal(ended, true);
  assert.equal(h.events.at(-1)?.event, 'result');
});
