/**
 * `b2betl schedule plan|apply|list|pause|resume`, the real binary against the Cloud Scheduler
 * double: entries created with their targets, tokens, retry config and deadline; each field's
 * update; pause and resume through the job file; prune; someone else's entries left alone; a
 * second apply that changes nothing; a failure halfway; and bad input refused before any call.
 */
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { TEST_ACCESS_TOKEN } from '../../src/schedule/cloud-scheduler.js';
import { runCli, scratchProject, type CliResult } from '../support/cli.js';
import { startSchedulerDouble, type SchedulerDouble } from '../support/scheduler-double.js';

const PARENT = 'projects/my-proj/locations/europe-central2';
const SCHEDULER = 'etl-scheduler@my-proj.iam.gserviceaccount.com';
type Project = Awaited<ReturnType<typeof scratchProject>>;

function config(endpoint: string, extra = ''): string {
  return [
    'connections:',
    '  inbox: { type: local, path: ./data }',
    'deploy:',
    '  project: my-proj',
    '  region: europe-central2',
    '  service_url: https://b2betl-abc123-lm.a.run.app',
    `  service_account: ${SCHEDULER}`,
    `  endpoint: ${endpoint}`,
    extra,
  ].join('\n');
}

const ORDERS = [
  '# orders from the shop, every morning',
  'name: orders',
  'source: { connection: inbox, pattern: "orders_*.csv" }',
  'schedule:',
  '  cron: "0 9 * * *"   # nine o\'clock, Kyiv time',
  '  timezone: Europe/Kyiv',
  '',
].join('\n');
const EVENTS = 'name: events\nsource: { connection: inbox, pattern: "events_*.jsonl" }\nschedule: { cron: "*/30 * * * *", timezone: UTC, target: job, retry: { count: 1 } }\n';
const ADHOC = 'name: adhoc\nsource: { connection: inbox, pattern: "adhoc_*.csv" }\n';
/** The orders job after its schedule, time zone, retry and deadline changed. */
const ORDERS_CHANGED = ORDERS.replace('0 9 * * *', '15 8 * * 1-5')
  .replace('Europe/Kyiv', 'Europe/Warsaw')
  .replace('timezone: Europe/Warsaw', 'timezone: Europe/Warsaw\n  retry: { count: 5, min_backoff: 1m, max_backoff: 20m }\n  attempt_deadline: 20m');

function mutations(double: SchedulerDouble): string[] {
  return double.requests.filter((request) => request.method !== 'GET').map((request) => `${request.method} ${request.path.replace(`${PARENT}/`, '')}`);
}

function noToken(result: CliResult): void {
  assert.ok(!`${result.stdout}${result.stderr}`.includes(TEST_ACCESS_TOKEN), 'no token is printed');
}

describe('b2betl schedule against Cloud Scheduler', () => {
  // Each test has a Cloud Scheduler and a project of its own (each passes alone), made by fresh().
  let double: SchedulerDouble;
  let project: Project;
  const started: { double: SchedulerDouble; project: Project }[] = [];
  const foreignName = `${PARENT}/jobs/nightly-export`;
  let foreignBefore: string;

  const cli = async (...args: string[]) => {
    const result = await runCli(['schedule', ...args], project.dir);
    noToken(result);
    return result;
  };
  const json = async (...args: string[]) => {
    const result = await cli(...args, '--json');
    assert.ok(result.stdout.trim().startsWith('{'), `no JSON (exit ${result.code}):\n${result.stdout}\n${result.stderr}`);
    return { ...result, body: JSON.parse(result.stdout) as { changes: { action: string; entry: string; fields: { field: string; from: string; to: string }[]; next: { at: string; local: string }[]; then?: string }[]; others: number } };
  };
  const stored = (job: string) => double.job(`${PARENT}/jobs/b2betl-${job}`);

  /** A Cloud Scheduler holding someone else's entry and another deployment's, a project, and with `applied` its first apply done. */
  const fresh = async (applied: boolean) => {
    double = await startSchedulerDouble({ maxPage: 2 });
    double.seed({ name: foreignName, schedule: '0 1 * * *', timeZone: 'UTC', description: 'made by hand', httpTarget: { uri: 'https://exporter.example/run', httpMethod: 'POST', headers: {} } });
    double.seed({ name: `${PARENT}/jobs/b2betl-staging`, schedule: '0 2 * * *', timeZone: 'UTC', description: 'managed by b2betl [b2betl-staging]: runs job staging', httpTarget: { uri: 'https://staging.example/run', httpMethod: 'POST', headers: {} } });
    foreignBefore = JSON.stringify(double.job(foreignName));
    project = await scratchProject({ 'etl.config.yaml': config(double.endpoint), 'jobs/orders.yaml': ORDERS, 'jobs/events.yaml': EVENTS, 'jobs/adhoc.yaml': ADHOC });
    started.push({ double, project });
    if (applied) assert.equal((await cli('apply')).code, 0);
  };

  after(async () => {
    for (const { double, project } of started) {
      await project.cleanup();
      await double.stop();
    }
  });

  it('plans a create per scheduled job with its next three fire times, and calls nothing that changes', async () => {
    await fresh(false);
    const { code, body } = await json('plan');
    assert.equal(code, 0);
    assert.deepEqual(
      body.changes.map((change) => [change.action, change.entry]),
      [
        ['create', 'b2betl-events'],
        ['create', 'b2betl-orders'],
      ],
    );
    const orders = body.changes.find((change) => change.entry === 'b2betl-orders')!;
    assert.equal(orders.next.length, 3);
    for (const fire of orders.next) assert.match(fire.local, / 09:00 EES?T$/);
    assert.equal(body.others, 2);
    assert.deepEqual(mutations(double), []);
  });

  it('apply creates the entries: OIDC for the service, OAuth and overrides for a Cloud Run Job, retry config and deadline', async () => {
    await fresh(false);
    const result = await cli('apply');
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const orders = stored('orders')!;
    assert.equal(orders.schedule, '0 9 * * *');
    assert.equal(orders.timeZone, 'Europe/Kyiv');
    assert.equal(orders.state, 'ENABLED');
    assert.match(orders.description, /^managed by b2betl \[b2betl\]: runs job orders \(jobs\/orders\.yaml\)/);
    assert.deepEqual(orders.httpTarget?.oidcToken, { serviceAccountEmail: SCHEDULER, audience: 'https://b2betl-abc123-lm.a.run.app' });
    assert.equal(orders.httpTarget?.uri, 'https://b2betl-abc123-lm.a.run.app/jobs/orders/run');
    assert.equal(orders.httpTarget?.httpMethod, 'POST');
    assert.deepEqual(orders.retryConfig, { retryCount: 3, maxRetryDuration: '0s', minBackoffDuration: '30s', maxBackoffDuration: '600s', maxDoublings: 5 });
    assert.equal(orders.attemptDeadline, '1800s');
    const events = stored('events')!;
    assert.equal(events.httpTarget?.uri, 'https://run.googleapis.com/v2/projects/my-proj/locations/europe-central2/jobs/b2betl:run');
    assert.deepEqual(events.httpTarget?.oauthToken, { serviceAccountEmail: SCHEDULER, scope: 'https://www.googleapis.com/auth/cloud-platform' });
    assert.deepEqual(JSON.parse(Buffer.from(events.httpTarget!.body!, 'base64').toString('utf8')), { overrides: { containerOverrides: [{ args: ['run', 'jobs/events.yaml'] }] } });
    assert.equal(events.retryConfig.retryCount, 1);
    assert.equal(events.attemptDeadline, '180s');
    assert.equal(stored('adhoc'), undefined, 'a job without a schedule has no entry');
    assert.equal(JSON.stringify(double.job(foreignName)), foreignBefore);
  });

  it('a second apply reports every entry unchanged and changes nothing', async () => {
    await fresh(true);
    const before = mutations(double).length;
    const { code, body } = await json('apply');
    assert.equal(code, 0);
    assert.deepEqual(new Set(body.changes.map((change) => change.action)), new Set(['unchanged']));
    assert.equal(mutations(double).length, before);
  });

  it('updates only the fields that changed, each one named', async () => {
    await fresh(true);
    await project.write('jobs/orders.yaml', ORDERS_CHANGED);
    await project.write('etl.config.yaml', config(double.endpoint).replace('service_url: https://b2betl-abc123-lm.a.run.app', 'service_url: https://b2betl-new-lm.a.run.app'));
    const { body } = await json('plan');
    const orders = body.changes.find((change) => change.entry === 'b2betl-orders')!;
    assert.equal(orders.action, 'update');
    assert.deepEqual(
      orders.fields.map((field) => field.field).sort(),
      ['audience', 'deadline', 'retry config', 'schedule', 'target URI', 'time zone'],
    );
    assert.deepEqual(
      orders.fields.find((field) => field.field === 'schedule'),
      { field: 'schedule', from: '0 9 * * *', to: '15 8 * * 1-5' },
    );
    assert.equal(body.changes.find((change) => change.entry === 'b2betl-events')!.action, 'unchanged', 'a Cloud Run Job target does not depend on the service URL');
    const text = await cli('plan');
    assert.match(text.stdout, /update {5}b2betl-orders[\s\S]*schedule: "0 9 \* \* \*" → "15 8 \* \* 1-5"[\s\S]*time zone: Europe\/Kyiv → Europe\/Warsaw/);
    const applied = await cli('apply');
    assert.equal(applied.code, 0, applied.stdout + applied.stderr);
    const patch = double.requests.filter((request) => request.method === 'PATCH').at(-1)!;
    assert.deepEqual(patch.query.updateMask.split(',').sort(), ['attempt_deadline', 'http_target', 'retry_config', 'schedule', 'time_zone']);
    const orders2 = stored('orders')!;
    assert.equal(orders2.schedule, '15 8 * * 1-5');
    assert.equal(orders2.timeZone, 'Europe/Warsaw');
    assert.equal(orders2.attemptDeadline, '1200s');
    assert.deepEqual(orders2.retryConfig, { retryCount: 5, maxRetryDuration: '0s', minBackoffDuration: '60s', maxBackoffDuration: '1200s', maxDoublings: 5 });
    assert.equal(orders2.httpTarget?.oidcToken?.audience, 'https://b2betl-new-lm.a.run.app');
    assert.equal((await json('plan')).body.changes.every((change) => change.action === 'unchanged'), true);
  });

  it('pause and resume edit the job file in place and change that one entry', async () => {
    await fresh(true);
    await project.write('jobs/orders.yaml', ORDERS_CHANGED);
    assert.equal((await cli('apply')).code, 0);
    const before = await readFile(path.join(project.dir, 'jobs/orders.yaml'), 'utf8');
    const paused = await cli('pause', 'orders');
    assert.equal(paused.code, 0, paused.stdout + paused.stderr);
    const after = await readFile(path.join(project.dir, 'jobs/orders.yaml'), 'utf8');
    assert.equal(after, before.replace('  attempt_deadline: 20m\n', '  attempt_deadline: 20m\n  paused: true\n'), 'only one line was added, comments kept');
    assert.equal(stored('orders')!.state, 'PAUSED');
    assert.equal(stored('events')!.state, 'ENABLED');
    assert.equal((await json('plan')).body.changes.every((change) => change.action === 'unchanged'), true);
    const resumed = await cli('resume', 'jobs/orders.yaml');
    assert.equal(resumed.code, 0, resumed.stdout + resumed.stderr);
    assert.equal(await readFile(path.join(project.dir, 'jobs/orders.yaml'), 'utf8'), after.replace('paused: true', 'paused: false'));
    assert.equal(stored('orders')!.state, 'ENABLED');
  });

  it('a paused spec pauses its entry on apply; resuming it in the spec resumes it', async () => {
    await fresh(true);
    await project.write('jobs/events.yaml', EVENTS.replace('target: job', 'target: job, paused: true'));
    const { body } = await json('apply');
    assert.deepEqual(body.changes.find((change) => change.entry === 'b2betl-events')!.action, 'pause');
    assert.equal(stored('events')!.state, 'PAUSED');
    await project.write('jobs/events.yaml', EVENTS);
    assert.equal((await json('apply')).body.changes.find((change) => change.entry === 'b2betl-events')!.action, 'resume');
    assert.equal(stored('events')!.state, 'ENABLED');
  });

  it('an entry whose job spec is gone is reported, and deleted only with --prune; others are never touched', async () => {
    await fresh(true);
    await rm(path.join(project.dir, 'jobs/events.yaml'));
    const { body } = await json('apply');
    assert.deepEqual(body.changes.find((change) => change.entry === 'b2betl-events')!.action, 'orphan');
    assert.ok(stored('events'), 'kept without --prune');
    const partial = await json('apply', '--prune', 'jobs/orders.yaml');
    assert.deepEqual(partial.body.changes.map((change) => change.entry), ['b2betl-orders'], 'a plan about one job file leaves the others out');
    assert.ok(stored('events'));
    const pruned = await json('apply', '--prune');
    assert.equal(pruned.code, 0);
    assert.equal(pruned.body.changes.find((change) => change.entry === 'b2betl-events')!.action, 'delete');
    assert.equal(stored('events'), undefined);
    assert.equal(JSON.stringify(double.job(foreignName)), foreignBefore, 'the hand-made entry is untouched');
    assert.ok(double.job(`${PARENT}/jobs/b2betl-staging`), "another deployment's entry is untouched");
    const list = await json('list');
    assert.deepEqual(
      (list.body as unknown as { entries: { id: string }[] }).entries.map((entry) => entry.id),
      ['b2betl-orders'],
    );
  });

  it('an entry with a job name that is not this deployment\'s is a conflict, left alone, and apply fails', async () => {
    await fresh(true);
    await project.write('jobs/staging.yaml', 'name: staging\nsource: { connection: inbox, pattern: "s_*.csv" }\nschedule: { cron: "0 3 * * *" }\n');
    const result = await cli('apply');
    assert.equal(result.code, 1);
    assert.match(result.stdout, /conflict +b2betl-staging[\s\S]*not this deployment's/);
    assert.equal(double.job(`${PARENT}/jobs/b2betl-staging`)!.schedule, '0 2 * * *');
    await rm(path.join(project.dir, 'jobs/staging.yaml'));
  });

  it('a failure halfway stops, says what was done and what was not, and names the permission and the fix', async () => {
    await fresh(true);
    for (const job of ['alpha', 'beta', 'gamma']) await project.write(`jobs/${job}.yaml`, `name: ${job}\nsource: { connection: inbox, pattern: "${job}_*.csv" }\nschedule: { cron: "0 4 * * *" }\n`);
    let creates = 0;
    double.intercept((request) =>
      request.method === 'POST' && request.path === `${PARENT}/jobs` && ++creates === 2
        ? { status: 403, body: { error: { code: 403, status: 'PERMISSION_DENIED', message: `The principal (user or service account) lacks IAM permission "cloudscheduler.jobs.create" for the resource "${PARENT}" (or the resource may not exist).` } } }
        : undefined,
    );
    const result = await cli('apply');
    double.intercept(undefined);
    assert.equal(result.code, 1);
    assert.match(result.stdout, /failed: create b2betl-beta: permission cloudscheduler\.jobs\.create is missing in project my-proj/);
    assert.match(result.stdout, /gcloud projects add-iam-policy-binding my-proj --member=user:YOU@example\.com --role=roles\/cloudscheduler\.admin/);
    assert.match(result.stdout, /done: create b2betl-alpha/);
    assert.match(result.stdout, /not done: create b2betl-beta, create b2betl-gamma/);
    assert.ok(stored('alpha'));
    assert.equal(stored('beta'), undefined);
    const again = await json('apply');
    assert.equal(again.code, 0);
    assert.deepEqual(
      again.body.changes.filter((change) => change.action !== 'unchanged').map((change) => `${change.action} ${change.entry}`),
      ['create b2betl-beta', 'create b2betl-gamma'],
    );
  });

  it('an API that is not enabled names the gcloud command that enables it', async () => {
    await fresh(false);
    double.intercept(() => ({
      status: 403,
      body: {
        error: {
          code: 403,
          status: 'PERMISSION_DENIED',
          message: 'Cloud Scheduler API has not been used in project 123456 before or it is disabled. Enable it by visiting https://console.developers.google.com/apis/api/cloudscheduler.googleapis.com/overview?project=123456 then retry.',
          details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'SERVICE_DISABLED', domain: 'googleapis.com' }],
        },
      },
    }));
    const result = await cli('plan');
    double.intercept(undefined);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /Cloud Scheduler API is not enabled in project my-proj[\s\S]*gcloud services enable cloudscheduler\.googleapis\.com --project my-proj/);
  });

  it('an invalid schedule fails validate, plan and apply before any API call, with file, line and fix', async () => {
    await fresh(false);
    await project.write('jobs/broken.yaml', 'name: broken\nsource: { connection: inbox, pattern: "b_*.csv" }\nschedule:\n  cron: "0 9 L * *"\n  timezone: Mars/Olympus\n');
    const before = double.requests.length;
    for (const command of [['validate', 'jobs'], ['schedule', 'plan'], ['schedule', 'apply']]) {
      const result = await runCli(command, project.dir);
      assert.equal(result.code, 2, `${command.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, /jobs\/broken\.yaml:4: schedule\.cron: "L" is not a valid day of month/);
      assert.match(result.stderr, /jobs\/broken\.yaml:5: schedule\.timezone: "Mars\/Olympus" is not an IANA time zone name/);
    }
    assert.equal(double.requests.length, before, 'no API call was made');
    await rm(path.join(project.dir, 'jobs/broken.yaml'));
  });

  it('apply without the deploy keys names each missing key, before any API call', async () => {
    await fresh(false);
    await project.write('etl.config.yaml', `connections:\n  inbox: { type: local, path: ./data }\ndeploy:\n  endpoint: ${double.endpoint}\n`);
    const before = double.requests.length;
    const result = await cli('apply');
    assert.equal(result.code, 2);
    for (const key of ['project', 'region', 'service_account', 'service_url']) assert.match(result.stderr, new RegExp(`deploy\\.${key}: deploy\\.${key} is not set`));
    assert.equal(double.requests.length, before);
    await project.write('etl.config.yaml', config(double.endpoint));
  });
});
