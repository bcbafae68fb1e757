/**
 * Commits into BigQuery apply exactly once whatever is lost on the way. The BigQuery double sits
 * behind a lossy proxy that drops the answers to jobs.insert, jobs.get and the marker checks of a
 * commit, one call after another; and it runs transactions side by side with BigQuery's
 * conflicts, so two catalog jobs and two merge jobs committing into one table at once make one
 * of them abort with "concurrent update" and retry after checking its marker. Every time: the
 * rows exact, one marker per run.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadJobs } from '../../src/core/config.js';
import { silentLogger, type Logger } from '../../src/core/log.js';
import { runWithLedger, type RunResult } from '../../src/core/pipeline.js';
import { startBigQueryDouble, type BigQueryDouble } from '../support/bigquery-double/index.js';
import { startLossyProxy, type LossyProxy, type ProxiedRequest } from '../support/lossy-proxy.js';
import { scratchProject } from '../support/cli.js';

process.env.B2BETL_RETRY_BASE_MS = '20';

/** Calls of one commit whose answers are lost in turn, at most. */
const MAX_CALLS = 10;

type Project = Awaited<ReturnType<typeof scratchProject>>;

/** Whether a request is one call of a commit: its jobs.insert, a jobs.get of it, or a check of the run's marker. */
function commitCall({ method, url, body = Buffer.alloc(0) }: ProxiedRequest): boolean {
  if (method === 'POST' && /^\/bigquery\/v2\/projects\/[^/]+\/jobs$/.test(url.pathname)) return /"jobId":"[^"]*_commit/.test(body.toString());
  if (method === 'GET' && /\/jobs\/[^/]*_commit/.test(url.pathname)) return true;
  return method === 'POST' && url.pathname.endsWith('/queries') && /SELECT run_id FROM .*_b2betl_loads/.test(body.toString());
}

describe('exactly-once commits into BigQuery', () => {
  let double: BigQueryDouble;
  let proxy: LossyProxy;
  let project: Project;
  const warnings: string[] = [];
  const log: Logger = { ...silentLogger, warn: (message) => (warnings.push(message), process.env.TEST_DEBUG && process.stderr.write(`warn: ${message}\n`)) };

  before(async () => {
    double = await startBigQueryDouble({ project: 'p', tableUpdateLimit: { operations: 500, windowMs: 1000 } });
    proxy = await startLossyProxy(double.endpoint);
    project = await scratchProject({
      'etl.config.yaml': `connections:\n  inbox: { type: local, path: ./inbox }\n  bq: { type: bigquery, project: p, dataset: raw, location: EU, endpoint: "${proxy.endpoint}" }\ndefaults: { destination: bq }\n`,
      'jobs/lossy.yaml': 'name: lossy\nsource: { connection: inbox, pattern: "lossy/*.csv" }\n',
      'jobs/rejecting.yaml': 'name: rejecting\nsource: { connection: inbox, pattern: "rejecting/*.csv", sample_size: 1 }\nload: { max_bad_records: 5000 }\n',
      'jobs/cat_a.yaml': 'name: cat_a\nsource: { connection: inbox, pattern: "cat/a_*.csv" }\nload: { strategy: catalog }\ndestination: { table: shared_catalog }\n',
      'jobs/cat_b.yaml': 'name: cat_b\nsource: { connection: inbox, pattern: "cat/b_*.csv" }\nload: { strategy: catalog }\ndestination: { table: shared_catalog }\n',
      'jobs/merge_a.yaml': 'name: merge_a\nsource: { connection: inbox, pattern: "merge/a_*.csv" }\nload: { strategy: merge, primary_key: [id] }\ndestination: { table: shared_merge }\n',
      'jobs/merge_b.yaml': 'name: merge_b\nsource: { connection: inbox, pattern: "merge/b_*.csv" }\nload: { strategy: merge, primary_key: [id] }\ndestination: { table: shared_merge }\n',
      'inbox/cat/a_1.csv': 'id,who\n1,a\n2,a\n3,a\n',
      'inbox/cat/b_1.csv': 'id,who\n10,b\n11,b\n',
      'inbox/merge/a_1.csv': 'id,who\n1,a\n2,a\n',
      'inbox/merge/b_1.csv': 'id,who\n2,b\n3,b\n',
    });
  });
  after(async () => {
    await proxy.stop();
    await double.stop();
    await project.cleanup();
  });

  const run = async (name: string): Promise<RunResult> => {
    const [job] = await loadJobs([path.join(project.dir, `jobs/${name}.yaml`)]);
    return runWithLedger(job, { log });
  };
  const rows = async (table: string) => (await double.query(`SELECT id, who FROM \`p.raw.${table}\` ORDER BY id`)).map((row) => `${row.id}:${row.who}`);
  const markerRuns = async (table: string) => (await double.query(`SELECT run_id FROM \`p.raw._b2betl_loads\` WHERE table_name = '${table}' ORDER BY run_id`)).map((row) => String(row.run_id));

  test('answers lost at every call of a commit: each run commits once, its marker once', async () => {
    const expected: string[] = [];
    // Run k loses five answers in a row (the client's own retries, then b2betl's) from the k-th
    // call of its commit on, until a run's commit makes fewer than k calls (how many it polls
    // depends on timing): then every call has had its answers lost once.
    let k = 1;
    for (; k <= MAX_CALLS; k++) {
      await project.write(`inbox/lossy/f${k}.csv`, `id,who\n${k},x\n`);
      expected.push(`${k}:x`);
      let seen = 0;
      const before = proxy.lost;
      proxy.loseAnswers((request) => commitCall(request) && ++seen >= k, 5);
      const result = await run('lossy');
      proxy.loseAnswers(() => false, 0);
      assert.equal(result.status, 'succeeded', `call ${k}: ${result.error}`);
      assert.equal(result.rows_loaded, 1, `call ${k}`);
      assert.deepEqual(await rows('lossy'), expected, `call ${k}: every row once`);
      const runs = await markerRuns('lossy');
      assert.equal(runs.length, k, `call ${k}: one marker per run`);
      assert.equal(new Set(runs).size, runs.length, `call ${k}: no run twice`);
      if (proxy.lost === before) break;
    }
    assert.ok(k > 2, `the answers of at least the insert and a poll were lost (${k - 1} calls)`);
    // The commit was never resubmitted under a new id while an earlier attempt could still land.
    const ids = double.jobs().map((job) => String(job.jobReference.jobId)).filter((id) => id.includes('_commit'));
    const resubmitted = ids.filter((id) => /_commit_\d+$/.test(id));
    for (const id of resubmitted) assert.ok(ids.includes(id.replace(/_\d+$/, '')), `${id} follows its first attempt`);
  });

  test('thousands of long rejected rows commit with the rows, once, the answer to the commit’s jobs.insert lost', async () => {
    // 2,500 rows whose date does not parse, each with a note of 2,500 characters: 6 MB of raw text.
    const notes = Array.from({ length: 2500 }, (_, i) => `${i}: ${'a note, "quoted", with é and 𝄞; '.repeat(80)}`);
    await project.write('inbox/rejecting/r1.csv', `id,when,note\n1,2024-01-01,ok\n2,2024-01-02,ok\n${notes.map((note, i) => `${i + 3},not a date,"${note.replace(/"/g, '""')}"`).join('\n')}\n`);
    const before = proxy.lost;
    proxy.loseAnswers(commitCall, 1);
    const result = await run('rejecting');
    proxy.loseAnswers(() => false, 0);
    assert.ok(proxy.lost > before, 'answers to the commit were lost');
    assert.equal(result.status, 'succeeded', String(result.error));
    assert.deepEqual([result.rows_loaded, result.rows_rejected], [2, 2500]);
    assert.deepEqual(await double.query('SELECT id, `when`, note FROM `p.raw.rejecting` ORDER BY id'), [
      { id: '1', when: '2024-01-01', note: 'ok' },
      { id: '2', when: '2024-01-02', note: 'ok' },
    ]);
    const rejected = await double.query('SELECT run_id, position, column_name, raw FROM `p.raw.rejecting__rejected` ORDER BY CAST(position AS INT64)');
    assert.deepEqual(
      rejected.map((row) => [row.run_id, row.position, row.column_name, JSON.parse(String(row.raw))]),
      notes.map((note, i) => [result.run_id, String(i + 4), 'when', [String(i + 3), 'not a date', note]]),
    );
    assert.deepEqual(await markerRuns('rejecting'), [result.run_id]);
    assert.equal(await double.table('p', 'raw', `_b2betl_stage_rejecting_${result.run_id}__rejected`), undefined, 'the rejects staging table is dropped');
  });

  for (const [kind, a, b, table, expected] of [
    ['catalog', 'cat_a', 'cat_b', 'shared_catalog', ['1:a', '2:a', '3:a']],
    ['merge', 'merge_a', 'merge_b', 'shared_merge', ['1:a', '2:a', '3:b']],
  ] as const) {
    test(`two ${kind} jobs commit into one table at once: one aborts on the concurrent update, retries after its check, and both land once`, async () => {
      warnings.length = 0;
      // A's commit waits at COMMIT TRANSACTION while B's whole run commits; then A goes on.
      const hold = double.holdBeforeCommit(`b2betl_${a}_`);
      const first = run(a);
      await hold.reached;
      const second = await run(b);
      assert.equal(second.status, 'succeeded', String(second.error));
      hold.release();
      const late = await first;
      assert.equal(late.status, 'succeeded', String(late.error));
      assert.match(warnings.join('\n'), /Transaction is aborted due to concurrent update against table p:raw\.shared_\w+\. Transaction ID: [\w-]+; retrying/);
      // A committed last: a catalog table holds A's rows, a merged one B's rows under A's.
      assert.deepEqual(await rows(table), expected);
      const runs = await markerRuns(table);
      assert.deepEqual(runs.sort(), [late.run_id, second.run_id].sort());
      const commits = double.jobs().filter((job) => String(job.jobReference.jobId).startsWith(`b2betl_${a}_${late.run_id}_commit`));
      assert.equal(commits.length, 2);
      assert.match(String(commits[0].status.errorResult?.message), /^Transaction is aborted due to concurrent update/);
      assert.equal(commits[1].status.errorResult, undefined);
    });
  }

  test('a commit run again under its run id is refused by its own transaction', async () => {
    const [job] = await loadJobs([path.join(project.dir, 'jobs/lossy.yaml')]);
    const { destination } = await import('../../connectors/destinations/bigquery/index.js');
    const bq = await destination({ name: 'bq', config: job.destinationConnection, baseDir: project.dir, log: silentLogger });
    try {
      const [{ run_id: runId }] = await double.query("SELECT run_id FROM `p.raw._b2betl_loads` WHERE table_name = 'lossy' ORDER BY committed_at LIMIT 1");
      const before = await rows('lossy');
      const stage = await bq.stage({ runId: String(runId), job: job.spec, table: 'lossy', strategy: 'transactional', primaryKey: [], columns: [{ name: 'id', source: 'id', type: 'INT64', nullable: true }, { name: 'who', source: 'who', type: 'STRING', nullable: true }], log: silentLogger });
      await stage.write(0, [[99, 'again']]);
      // The commit's job id is taken by the first commit: it is run under a fresh id to reach the transaction itself.
      const commitJobs = double.jobs().length;
      const { commitTransaction } = await import('../../connectors/destinations/bigquery/bigquery-commit.js');
      const { BigQueryDestination } = await import('../../connectors/destinations/bigquery/bigquery-destination.js');
      assert.ok(bq instanceof BigQueryDestination);
      await commitTransaction(bq, {
        job: 'lossy-again',
        table: 'lossy',
        columns: [],
        strategy: 'transactional',
        marker: { runId: String(runId), job: 'lossy', table: 'lossy', strategy: 'transactional', units: [], rows: 1 },
        body: ["INSERT INTO `p.raw.lossy` (id, who) VALUES (99, 'again')"],
        rows: '1',
        params: {},
        action: 'commit a run again',
      });
      await stage.abort();
      const refused = double.jobs().slice(commitJobs).find((j) => String(j.jobReference.jobId).startsWith('b2betl_lossy-again'));
      assert.match(String(refused?.status.errorResult?.message), new RegExp(`run ${String(runId)} of job lossy is already committed`));
      assert.deepEqual(await rows('lossy'), before);
      assert.equal((await markerRuns('lossy')).filter((id) => id === runId).length, 1);
    } finally {
      await bq.close();
    }
  });
});
