/**
 * Through the real binary: BigQuery's answers to a commit are lost on the way back (the double
 * behind a lossy proxy), the client retries, b2betl checks the destination's marker before it
 * submits again, and every run's rows arrive once, with one marker per run.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startBigQueryDouble, type BigQueryDouble } from '../support/bigquery-double/index.js';
import { runCli, scratchProject } from '../support/cli.js';
import { startLossyProxy, type LossyProxy, type ProxiedRequest } from '../support/lossy-proxy.js';

type Project = Awaited<ReturnType<typeof scratchProject>>;

/** The commit's jobs.insert (its id ends in `_commit`, with a suffix when submitted again). */
const commitInsert = ({ method, url, body }: ProxiedRequest) => method === 'POST' && /\/jobs$/.test(url.pathname) && /"jobId":"[^"]*_commit/.test(String(body ?? ''));
/** A poll of the commit job. */
const commitPoll = ({ method, url }: ProxiedRequest) => method === 'GET' && /\/jobs\/[^/?]*_commit/.test(url.pathname);

describe('a BigQuery commit whose answers are lost, through the binary', () => {
  let double: BigQueryDouble;
  let proxy: LossyProxy;
  let project: Project;
  let next = 1;

  before(async () => {
    double = await startBigQueryDouble({ project: 'lost-proj' });
    proxy = await startLossyProxy(double.endpoint);
    project = await scratchProject({
      'etl.config.yaml': `connections:\n  inbox: { type: local, path: ./inbox }\n  bq: { type: bigquery, project: lost-proj, dataset: raw, location: EU, endpoint: "${proxy.endpoint}" }\ndefaults: { destination: bq }\n`,
      'jobs/orders.yaml': 'name: orders\nsource: { connection: inbox, pattern: "orders_*.csv" }\nload: { strategy: transactional }\n',
    });
  });
  after(async () => {
    await project?.cleanup();
    await proxy?.stop();
    await double?.stop();
  });

  /** Writes a file of three new rows, runs the job with `lose` armed, and checks every row arrived once. */
  async function runLosing(lose: (request: ProxiedRequest) => boolean, count: number) {
    const ids = [next, next + 1, next + 2];
    next += 3;
    await project.write(`inbox/orders_${ids[0]}.csv`, `id,note\n${ids.map((id) => `${id},n${id}`).join('\n')}\n`);
    const before = proxy.lost;
    proxy.loseAnswers(lose, count);
    const result = await runCli(['run', 'jobs/orders.yaml', '--json'], project.dir, { B2BETL_RETRY_BASE_MS: '50' });
    proxy.loseAnswers(() => false, 0);
    assert.ok(proxy.lost > before, 'an answer was lost');
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const [run] = JSON.parse(result.stdout) as { run_id: string; status: string; rows_loaded: number }[];
    assert.deepEqual([run.status, run.rows_loaded], ['succeeded', 3]);
    const rows = await double.query('SELECT id FROM `lost-proj.raw.orders` ORDER BY id');
    assert.deepEqual(rows.map((row) => Number(row.id)), Array.from({ length: next - 1 }, (_, i) => i + 1));
    const markers = await double.query(`SELECT run_id, rows FROM \`lost-proj.raw._b2betl_loads\` WHERE run_id = '${run.run_id}'`);
    assert.deepEqual(markers.map((marker) => Number(marker.rows)), [3], 'one marker for the run');
  }

  test("the answers to the commit's jobs.insert are lost, the client's retries' too", async () => {
    await runLosing(commitInsert, 3);
  });

  test("the answers to the commit's polls are lost", async () => {
    await runLosing(commitPoll, 2);
  });
});
