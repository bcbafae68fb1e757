/**
 * `b2betl serve`, the real binary: OIDC tokens signed by a test key whose certificates are
 * served on 127.0.0.1 (through the test-only certificate hook), every refusal, runs answered
 * with the `run --json` shape, a failing job without its secrets, Cloud Logging lines with the
 * trace, and — on a GCS ledger shared by two instances — one 200 and one 409 for concurrent
 * triggers, and SIGTERM during a run, with every row loaded exactly once.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TEST_CERTS_ENV } from '../../src/serve/token.js';
import { queryDuckDB, runCli, scratchProject } from '../support/cli.js';
import { pgScratch, type PgScratch } from '../support/databases.js';
import { startGcsDouble, type GcsDouble } from '../support/gcs-double.js';
import { startTestIssuer, type TestIssuer } from '../support/oidc.js';
import { startServe, type ServeProcess } from '../support/serve.js';

const AUDIENCE = 'https://b2betl-abc123-lm.a.run.app';
const INVOKER = 'etl-scheduler@my-proj.iam.gserviceaccount.com';
const SECRET = 'hunter2-not-for-logs';
type Project = Awaited<ReturnType<typeof scratchProject>>;

const deployBlock = ['deploy:', '  project: my-proj', '  region: europe-central2', `  service_url: ${AUDIENCE}`, `  invokers: [${INVOKER}]`].join('\n');

async function post(server: ServeProcess, route: string, token: string | undefined, body?: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${server.url}${route}`, {
    method: 'POST',
    headers: { ...(token === undefined ? {} : { authorization: `Bearer ${token}` }), ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function get(server: ServeProcess, route: string, token?: string) {
  const response = await fetch(`${server.url}${route}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('b2betl serve', () => {
  let issuer: TestIssuer;
  let project: Project;
  let server: ServeProcess;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    issuer = await startTestIssuer({ audience: AUDIENCE, email: INVOKER });
    env = { [TEST_CERTS_ENV]: issuer.certsUrl, PG_PASSWORD: SECRET };
    project = await scratchProject({
      'etl.config.yaml': [
        'connections:',
        '  inbox: { type: local, path: ./data }',
        `  missing_db: { type: postgres, url: "postgres://postgres:\${PG_PASSWORD}@127.0.0.1:5432/b2betl_no_such_database" }`,
        deployBlock,
        '',
      ].join('\n'),
      'jobs/orders.yaml': 'name: orders\nsource: { connection: inbox, pattern: "orders_*.csv" }\nschedule: { cron: "0 9 * * *", timezone: Europe/Kyiv }\n',
      'jobs/broken.yaml': 'name: broken\nsource: { connection: missing_db, table: public.orders }\nload: { strategy: catalog }\n',
      'data/orders_1.csv': 'id,amount\n1,1.50\n2,2.50\n',
    });
    server = await startServe(project.dir, ['--allow-local-ledger'], env);
  });

  after(async () => {
    await server?.stop();
    await project?.cleanup();
    await issuer?.stop();
  });

  it('refuses to start with a local ledger unless --allow-local-ledger, and says why', async () => {
    const result = await runCli(['serve', '--port', '0'], project.dir, env);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /ledger: the ledger .*ledger\.sqlite is a local file, and Cloud Run's file system is ephemeral/);
    assert.match(result.stderr, /fix: set ledger: gs:\/\//);
  });

  it('answers /healthz without a token', async () => {
    const { status, body } = await get(server, '/healthz');
    assert.equal(status, 200);
    assert.equal(body.status, 'ok');
  });

  describe('refuses every bad token with 401/403, a one-line reason in the log and nothing in the answer', () => {
    const now = () => Math.floor(Date.now() / 1000);
    const cases: [string, () => string | undefined, number, RegExp][] = [
      ['no token', () => undefined, 401, /no Authorization header/],
      ['garbage', () => 'garbage', 401, /malformed token/],
      ['a forged signature', () => issuer.foreignToken(), 401, /bad signature/],
      ['an expired token', () => issuer.token({ iat: now() - 7200, exp: now() - 3600 }), 401, /expired token/],
      ['a token expired two minutes ago (beyond the clock skew)', () => issuer.token({ iat: now() - 3720, exp: now() - 120 }), 401, /expired token/],
      ['the wrong audience', () => issuer.token({ aud: 'https://someone-else.a.run.app' }), 401, /wrong audience "https:\/\/someone-else\.a\.run\.app"/],
      ['the wrong issuer', () => issuer.token({ iss: 'https://issuer.example' }), 401, /wrong issuer "https:\/\/issuer\.example"/],
      ['an unlisted account', () => issuer.token({ email: 'intruder@other.iam.gserviceaccount.com' }), 403, /intruder@other\.iam\.gserviceaccount\.com is not in deploy\.invokers/],
      ['email_verified false', () => issuer.token({ email_verified: false }), 403, /is not verified/],
    ];
    for (const [name, token, status, reason] of cases) {
      it(name, async () => {
        const bearer = token();
        const mark = server.logs().length;
        const answer = await post(server, '/jobs/orders/run', bearer);
        assert.equal(answer.status, status);
        assert.deepEqual(Object.keys(answer.body), ['error']);
        assert.match(String(answer.body.error), /^(unauthenticated|forbidden)$/);
        const line = await server.waitForLog(reason, mark);
        assert.equal(line.severity, 'WARNING');
        assert.match(String(line.message), /^refused POST \/jobs\/orders\/run: /);
        if (bearer) assert.ok(!server.output().includes(bearer), 'the token is never logged');
      });
    }
    it('the listing and run details need a token too', async () => {
      assert.equal((await get(server, '/jobs')).status, 401);
      assert.equal((await get(server, '/runs/x')).status, 401);
      assert.equal((await get(server, '/')).status, 401);
    });
  });

  it('runs a job as `b2betl run` does and answers 200 with the run --json shape; logs carry the trace and labels', async () => {
    const token = issuer.token();
    const trace = '105445aa7843bc8bf206b12000100000';
    const { status, body } = await post(server, '/jobs/orders/run', token, undefined, { 'x-cloud-trace-context': `${trace}/1;o=1` });
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.status, 'succeeded');
    assert.equal(body.rows_loaded, 2);
    assert.deepEqual(Object.keys(body).sort(), ['duration_ms', 'error', 'files_failed', 'files_processed', 'files_skipped', 'job', 'rows_extracted', 'rows_loaded', 'rows_rejected', 'run_id', 'status'].sort());
    const rows = await queryDuckDB(path.join(project.dir, 'warehouse.duckdb'), 'SELECT id FROM main.orders ORDER BY id');
    assert.deepEqual(rows.map((row) => Number(row.id)), [1, 2]);
    const line = await server.waitForLog(/^orders: succeeded, 2 row\(s\) loaded/);
    assert.equal(line.severity, 'INFO');
    assert.equal(line['logging.googleapis.com/trace'], `projects/my-proj/traces/${trace}`);
    assert.deepEqual(line['logging.googleapis.com/labels'], { invoker: INVOKER, job: 'orders', run_id: body.run_id });

    const again = await post(server, '/jobs/orders/run', token);
    assert.equal(again.status, 200);
    assert.equal(again.body.status, 'skipped');

    const run = await get(server, `/runs/${String(body.run_id)}`, token);
    assert.equal(run.status, 200);
    assert.equal(run.body.status, 'succeeded');
    assert.equal(run.body.rows_loaded, 2);
    assert.equal((await get(server, '/runs/20200101t000000z_nope00', token)).status, 404);
    const jobs = await get(server, '/jobs', token);
    const listed = jobs.body.jobs as { name: string; schedule: unknown; last_run: { id: string } | null }[];
    assert.deepEqual(listed.map((job) => job.name).sort(), ['broken', 'orders']);
    const orders = listed.find((job) => job.name === 'orders')!;
    assert.deepEqual(orders.schedule, { cron: '0 9 * * *', timezone: 'Europe/Kyiv' });
    assert.equal(orders.last_run?.id, again.body.run_id);
  });

  it('serves the report of `b2betl report` at GET /, with the ledger\'s runs, and ?days= as its --days', async () => {
    const token = issuer.token();
    const ran = await post(server, '/jobs/orders/run', token, { full_refresh: true });
    assert.equal(ran.status, 200, JSON.stringify(ran.body));
    const response = await fetch(`${server.url}/?days=7`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(response.status, 200);
    assert.match(String(response.headers.get('content-type')), /^text\/html/);
    const page = await response.text();
    const json = /<script type="application\/json" id="report-data">(.*?)<\/script>/s.exec(page);
    assert.ok(json, 'the page carries its data');
    const data = JSON.parse(json[1]) as { days: number; runs: { id: string; status: string; rows_loaded: number }[] };
    assert.equal(data.days, 7);
    const run = data.runs.find((entry) => entry.id === ran.body.run_id);
    assert.deepEqual(run && { status: run.status, rows: run.rows_loaded }, { status: 'succeeded', rows: 2 });
    assert.doesNotMatch(page, /<script[^>]+src=|<link[^>]+href=/, 'nothing is fetched from elsewhere');
    const wrong = await get(server, '/?days=0', token);
    assert.equal(wrong.status, 400);
    assert.match(String(wrong.body.error), /days= 0 is not a whole number of days/);
  });

  it('a full refresh or a backfill comes in the body; anything else is 400', async () => {
    const token = issuer.token();
    const refreshed = await post(server, '/jobs/orders/run', token, { full_refresh: true });
    assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
    assert.equal(refreshed.body.rows_loaded, 2);
    for (const [body, message] of [
      ['{not json', /not valid JSON/],
      [{ fullRefresh: true }, /unknown key\(s\) fullRefresh/],
      [{ full_refresh: 'yes' }, /full_refresh must be true or false/],
      [{ full_refresh: true, since: '2024-01-01' }, /not both/],
      [[1], /JSON object/],
    ] as const) {
      const answer = await post(server, '/jobs/orders/run', token, body);
      assert.equal(answer.status, 400);
      assert.match(String(answer.body.error), message);
    }
  });

  it('an unknown job is 404', async () => {
    const answer = await post(server, '/jobs/nope/run', issuer.token());
    assert.equal(answer.status, 404);
    assert.match(String(answer.body.error), /no job named nope/);
  });

  it('a failing job answers 500 with its error, and neither the answer nor the log holds the secret', async () => {
    const mark = server.logs().length;
    const { status, body } = await post(server, '/jobs/broken/run', issuer.token());
    assert.equal(status, 500);
    assert.equal(body.status, 'failed');
    assert.match(String(body.error), /b2betl_no_such_database/);
    await server.waitForLog(/^broken: failed/, mark);
    assert.ok(!JSON.stringify(body).includes(SECRET));
    assert.ok(!server.output().includes(SECRET), 'the password is not in the log');
  });
});

describe('b2betl serve on Cloud Run: two instances sharing a GCS ledger', () => {
  const BUCKET = 'b2betl-state';
  let issuer: TestIssuer;
  let gcs: GcsDouble;
  let pg: PgScratch;
  let project: Project;
  let env: NodeJS.ProcessEnv;
  const servers: ServeProcess[] = [];

  before(async () => {
    issuer = await startTestIssuer({ audience: AUDIENCE, email: INVOKER });
    gcs = await startGcsDouble({ buckets: [BUCKET] });
    pg = await pgScratch('serve');
    await pg.sql('CREATE TABLE orders (id int PRIMARY KEY, amount numeric(10,2))');
    await pg.sql('INSERT INTO orders SELECT g, g * 1.5 FROM generate_series(1, 500) g');
    env = { [TEST_CERTS_ENV]: issuer.certsUrl };
    project = await scratchProject({
      'etl.config.yaml': [
        'connections:',
        `  shop: { type: postgres, host: 127.0.0.1, port: 5432, user: postgres, database: test }`,
        `  state: { type: gcs, bucket: ${BUCKET}, endpoint: "${gcs.endpoint}" }`,
        `ledger: gs://${BUCKET}/b2betl/ledger.sqlite`,
        deployBlock,
        '',
      ].join('\n'),
      // every read of this query sleeps 1.5 s: long enough for a second trigger or a SIGTERM to arrive mid-run
      'jobs/slow.yaml': `name: slow\nsource:\n  connection: shop\n  query: "SELECT o.id, o.amount FROM ${pg.schema}.orders o, pg_sleep(1.5) s"\nload: { strategy: transactional, cursor: id }\n`,
    });
    servers.push(await startServe(project.dir, [], env), await startServe(project.dir, [], env));
  });

  after(async () => {
    await Promise.all(servers.map((server) => server.stop()));
    await project?.cleanup();
    await pg?.drop();
    await gcs?.stop();
    await issuer?.stop();
  });

  async function loaded(): Promise<{ rows: number; distinct: number }> {
    const [row] = await queryDuckDB(path.join(project.dir, 'warehouse.duckdb'), 'SELECT count(*) AS n, count(DISTINCT id) AS d FROM main.slow');
    return { rows: Number(row.n), distinct: Number(row.d) };
  }

  it('two concurrent triggers of one job: one 200, one 409, every row loaded once', async () => {
    const [a, b] = await Promise.all(servers.map((server) => post(server, '/jobs/slow/run', issuer.token())));
    const statuses = [a.status, b.status].sort();
    assert.deepEqual(statuses, [200, 409], JSON.stringify([a.body, b.body]));
    const refused = a.status === 409 ? a.body : b.body;
    assert.match(String(refused.error), /job slow is already running/);
    assert.deepEqual(await loaded(), { rows: 500, distinct: 500 });
    assert.deepEqual(gcs.names(BUCKET).filter((name) => name.includes('.locks/')), [], 'no lock is left behind');
  });

  it('SIGTERM during a run: the instance stops taking requests, the run stops at a safe point, the process exits, and nothing is loaded twice', async () => {
    await pg.sql('INSERT INTO orders SELECT g, g * 1.5 FROM generate_series(501, 800) g');
    const [first, second] = servers;
    const mark = first.logs().length;
    const answer = post(first, '/jobs/slow/run', issuer.token()).catch((error: Error) => ({ status: 0, body: { error: error.message } }));
    await first.waitForLog(/run \S+ of slow triggered/, mark);
    const exited = await first.stop('SIGTERM');
    assert.equal(exited.code, 0, exited.stderr);
    const { status, body } = await answer;
    assert.ok(status === 503 || status === 200, `the run was answered before the exit (${status}: ${JSON.stringify(body)})\n${first.output()}`);
    assert.ok(first.logs().some((line) => /^SIGTERM: no new requests/.test(String(line.message))));
    assert.ok(first.logs().some((line) => line.message === 'stopped'));
    const retried = await post(second, '/jobs/slow/run', issuer.token());
    assert.equal(retried.status, 200, JSON.stringify(retried.body));
    assert.deepEqual(await loaded(), { rows: 800, distinct: 800 });
  });
});
