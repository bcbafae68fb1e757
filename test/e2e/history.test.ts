/**
 * `b2betl history` and `history show` after real runs of the binary: PostgreSQL by a cursor and
 * local CSV files with a bad row, into DuckDB; the filters, and everything one run recorded.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PG, pgScratch, type PgScratch } from '../support/databases.js';
import { runCli, scratchProject } from '../support/cli.js';

const ORDERS_1 = 'id,amount\n1,1.5\n2,2.5\n3,3.5\n';
const ORDERS_2 = 'id,amount\n4,4.5\n5,not a number\n6,6.5\n';

type Project = Awaited<ReturnType<typeof scratchProject>>;
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('b2betl history', { timeout: 120_000 }, () => {
  let project: Project;
  let pg: PgScratch;
  const runs: Record<string, string> = {};

  async function run(job: string): Promise<Json> {
    const result = await runCli(['run', `jobs/${job}.yaml`, '--json'], project.dir);
    const [first] = JSON.parse(result.stdout) as Json[];
    return first;
  }

  async function history(...args: string[]): Promise<{ code: number; stdout: string; stderr: string; json?: Json }> {
    const result = await runCli(['history', ...args], project.dir);
    return { ...result, json: args.includes('--json') && result.code === 0 ? (JSON.parse(result.stdout) as Json) : undefined };
  }

  before(async () => {
    pg = await pgScratch('history');
    await pg.sql('CREATE TABLE events (id int PRIMARY KEY, updated_at timestamptz(6) NOT NULL, note text)');
    await pg.sql("INSERT INTO events SELECT g, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute', 'n' || g FROM generate_series(1, 5) g");
    const url = `postgres://${PG.user}@${PG.host}:${PG.port}/${PG.database}`;
    project = await scratchProject({
      'etl.config.yaml': [
        'connections:',
        '  inbox: { type: local, path: ./inbox }',
        `  app: { type: postgres, url: "${url}" }`,
        // nothing listens on port 1
        `  gone: { type: postgres, url: "postgres://${PG.user}@127.0.0.1:1/${PG.database}" }`,
        '',
      ].join('\n'),
      'jobs/events.yaml': `name: events\nsource: { connection: app, table: ${pg.schema}.events }\nload: { strategy: transactional, cursor: updated_at }\n`,
      'jobs/orders.yaml': 'name: orders\nsource: { connection: inbox, pattern: "orders_*.csv" }\nload: { strategy: transactional, max_bad_records: 5 }\n',
      'jobs/broken.yaml': `name: broken\nsource: { connection: gone, table: ${pg.schema}.events }\nload: { strategy: transactional, cursor: updated_at }\n`,
      'inbox/orders_1.csv': ORDERS_1,
      'inbox/orders_2.csv': ORDERS_2,
    });
    runs.first = (await run('events')).run_id;
    await pg.sql("INSERT INTO events VALUES (6, '2024-01-02 00:00:00+00', 'n6'), (7, '2024-01-03 00:00:00+00', 'n7')");
    runs.second = (await run('events')).run_id;
    const orders = await run('orders');
    assert.equal(orders.status, 'succeeded', JSON.stringify(orders));
    runs.orders = orders.run_id;
    const broken = await run('broken');
    assert.equal(broken.status, 'failed');
    runs.broken = broken.run_id;
  });

  after(async () => {
    await project?.cleanup();
    await pg?.drop();
  });

  it('filters by job, status, start and count', async () => {
    const all = (await history('--json')).json as Json[];
    assert.deepEqual(all.map((run) => run.id), [runs.broken, runs.orders, runs.second, runs.first]);
    assert.deepEqual(((await history('--job', 'events', '--json')).json as Json[]).map((run) => run.id), [runs.second, runs.first]);
    assert.deepEqual(((await history('events', '--limit', '1', '--json')).json as Json[]).map((run) => run.id), [runs.second]);
    assert.deepEqual(((await history('--status', 'failed', '--json')).json as Json[]).map((run) => run.id), [runs.broken]);
    assert.deepEqual(((await history('--status', 'succeeded,failed', '--job', 'orders', '--json')).json as Json[]).map((run) => run.id), [runs.orders]);
    assert.deepEqual(((await history('--since', '1h', '--json')).json as Json[]).length, 4);
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    assert.deepEqual((await history('--since', tomorrow, '--json')).json, []);
    const none = await history('--since', tomorrow, '--status', 'partial');
    assert.match(none.stdout, new RegExp(`no runs recorded for status partial, since ${tomorrow}T00:00:00\\.000Z`));
    const table = await history('--status', 'failed');
    assert.match(table.stdout, new RegExp(`${runs.broken}\\s+broken\\s.*failed`));
    assert.doesNotMatch(table.stdout, /events|orders/);
  });

  it('refuses filters it cannot read, saying which are valid', async () => {
    for (const [args, message] of [
      [['--status', 'done'], /--status done: done is no run status[\s\S]*succeeded, partial, failed/],
      [['--since', 'last tuesday'], /--since last tuesday is neither a date nor an age[\s\S]*7d/],
      [['--limit', '0'], /--limit 0 is not a positive whole number/],
      [['events', '--job', 'orders'], /two jobs given: events and --job orders/],
    ] as const) {
      const result = await history(...args);
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, message);
    }
  });

  it('shows a cursor run: source, destination, plan, stage timeline, units, cursor before and after', async () => {
    const { json: second } = await history('show', runs.second, '--json');
    assert.equal(second!.job, 'events');
    assert.equal(second!.status, 'succeeded');
    assert.equal(second!.rows_loaded, 2);
    assert.equal(second!.strategy, 'transactional');
    const details = second!.details as Json;
    assert.equal(details.source, 'app (postgres)');
    assert.match(details.engine, /events/);
    assert.ok(details.plan.units >= 1);
    assert.ok((details.plan.notes as string[]).some((note) => /to the high-water mark 2024-01-03/.test(note)), `the window up to H in ${JSON.stringify(details.plan.notes)}`);
    assert.deepEqual(details.units.reduce((sum: number, unit: Json) => sum + unit.rows, 0), 2);
    const stages = (details.stages as Json[]).map((span) => span.stage);
    for (const stage of ['reconcile', 'plan', 'extract', 'commit']) assert.ok(stages.includes(stage), `${stage} in ${stages.join(', ')}`);
    const starts = (details.stages as Json[]).map((span) => Date.parse(span.started_at));
    assert.deepEqual(starts, [...starts].sort((a, b) => a - b), 'the timeline is in the order stages began');
    assert.ok(starts[0] >= Date.parse(second!.started_at) && starts.at(-1)! <= Date.parse(second!.ended_at));
    const { json: first } = await history('show', runs.first, '--json');
    assert.equal(first!.details.cursor_before, null, 'the first run started without a cursor');
    assert.deepEqual(second!.details.cursor_before, first!.details.cursor_after, 'the second run began where the first ended');
    assert.notDeepEqual(second!.details.cursor_after, second!.details.cursor_before);
    assert.match(JSON.stringify(second!.details.cursor_after), /2024-01-03/);

    const text = await history('show', runs.second);
    assert.equal(text.code, 0, text.stderr);
    for (const line of [/^job:\s+events$/m, /^source:\s+app \(postgres\)$/m, /^status:\s+succeeded$/m, /^cursor before:\s+\S*2024-01-01/m, /^cursor after:\s+\S*2024-01-03/m, /^Plan\n.*\n.*query: SELECT/m, /high-water mark 2024-01-03/, /^Timeline$/m, /^\s+extract\s+\d{4}-\d{2}-\d{2} /m, /^Units$/m]) {
      assert.match(text.stdout, line);
    }
  });

  it('shows a file run: the files planned, each unit, and the rows set aside with where and why', async () => {
    const { json: view } = await history('show', runs.orders, '--json');
    const details = view!.details as Json;
    assert.deepEqual((details.plan.files as string[]).map((file) => path.basename(file)), ['orders_1.csv', 'orders_2.csv']);
    assert.deepEqual(
      (details.units as Json[]).map((unit) => [path.basename(unit.label), unit.rows, unit.bytes]).sort(),
      [['orders_1.csv', 3, Buffer.byteLength(ORDERS_1)], ['orders_2.csv', 3, Buffer.byteLength(ORDERS_2)]],
    );
    assert.equal(view!.rows_rejected, 1);
    assert.equal(details.rejects_total, 1);
    assert.equal(details.rejects.length, 1);
    assert.equal(path.basename(details.rejects[0].unit), 'orders_2.csv');
    assert.equal(details.rejects[0].column, 'amount');
    assert.match(details.rejects[0].reason, /not a number/);
    const text = await history('show', runs.orders);
    assert.match(text.stdout, /Rejected rows \(1 of 1\)\n\s+where\s+column\s+reason\n.*\n\s+\S*orders_2\.csv:\d+\s+amount\s+.*not a number/);
  });

  it('shows a failed run with its error and causes, the cursor left where it was', async () => {
    const { json: view } = await history('show', runs.broken, '--json');
    assert.equal(view!.status, 'failed');
    assert.match(view!.error, /ECONNREFUSED|connect/);
    assert.ok((view!.details.errors as string[]).length >= 1);
    assert.equal(view!.details.cursor_before, null);
    assert.equal(view!.details.cursor_after, null);
    const text = await history('show', runs.broken);
    assert.match(text.stdout, /^Error\n {2}\S/m);
  });

  it('names a run it does not know', async () => {
    const result = await history('show', '20200101t000000z_nope00');
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /no run 20200101t000000z_nope00 in the ledger[\s\S]*b2betl history/);
  });
});
