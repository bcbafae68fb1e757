/**
 * The Cloud Scheduler double is as strict as the service, driven through the real
 * @google-cloud/scheduler client over REST: names, schedules, time zones, targets, tokens,
 * retry limits, update masks, paging, and the API's error shapes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CloudSchedulerClient, type protos } from '@google-cloud/scheduler';
import { OAuth2Client } from 'google-auth-library';
import { startSchedulerDouble, type SchedulerDouble } from '../support/scheduler-double.js';

const PARENT = 'projects/my-proj/locations/europe-central2';
type Job = protos.google.cloud.scheduler.v1.IJob;

let double: SchedulerDouble;
let client: CloudSchedulerClient;

before(async () => {
  double = await startSchedulerDouble({ maxPage: 2 });
  const url = new URL(double.endpoint);
  const auth = new OAuth2Client();
  auth.setCredentials({ access_token: 'test-token', expiry_date: Date.now() + 3_600_000 });
  client = new CloudSchedulerClient({ fallback: true, apiEndpoint: url.hostname, port: Number(url.port), protocol: 'http', authClient: auth as never });
});
after(async () => {
  await client?.close();
  await double?.stop();
});

function job(id: string, extra: Job = {}): Job {
  return {
    name: `${PARENT}/jobs/${id}`,
    schedule: '0 9 * * *',
    timeZone: 'Europe/Kyiv',
    httpTarget: { uri: 'https://svc.example/jobs/x/run', httpMethod: 'POST', oidcToken: { serviceAccountEmail: 'sched@my-proj.iam.gserviceaccount.com', audience: 'https://svc.example' } },
    ...extra,
  };
}

/** The HTTP status and the API error body of a failed call. */
async function failure(call: () => Promise<unknown>): Promise<{ status: number; error: { code: number; status: string; message: string } }> {
  try {
    await call();
  } catch (error) {
    const failed = error as { status?: number; message: string };
    return { status: failed.status ?? 0, error: (JSON.parse(failed.message) as { error: { code: number; status: string; message: string } }).error };
  }
  assert.fail('expected the call to fail');
}

test('create fills the API defaults and answers the job', async () => {
  const [created] = await client.createJob({ parent: PARENT, job: job('defaults') });
  assert.equal(created.state, 'ENABLED');
  assert.equal(created.httpTarget?.httpMethod, 'POST');
  assert.equal(Number(created.attemptDeadline?.seconds), 180);
  assert.equal(created.retryConfig?.retryCount, 0);
  assert.equal(Number(created.retryConfig?.minBackoffDuration?.seconds), 5);
  assert.equal(Number(created.retryConfig?.maxBackoffDuration?.seconds), 3600);
  assert.equal(created.retryConfig?.maxDoublings, 5);
  assert.ok(created.scheduleTime?.seconds, 'the next fire time is set');
});

test('a second create of one name is 409 ALREADY_EXISTS', async () => {
  await client.createJob({ parent: PARENT, job: job('twice') });
  const { status, error } = await failure(() => client.createJob({ parent: PARENT, job: job('twice') }));
  assert.equal(status, 409);
  assert.equal(error.status, 'ALREADY_EXISTS');
  assert.equal(error.code, 409);
});

describe('invalid jobs are 400 INVALID_ARGUMENT', () => {
  const cases: [string, Job, RegExp][] = [
    ['a job id with a dot', job('bad.id'), /Job id must match/],
    ['a name in another location', { ...job('x'), name: 'projects/my-proj/locations/us-central1/jobs/x' }, /Job name must be of the form/],
    ['a six-field schedule', job('six', { schedule: '0 0 9 * * *' }), /Schedule or time zone is invalid/],
    ['an L in the schedule', job('last', { schedule: '0 9 L * *' }), /Schedule or time zone is invalid/],
    ['words for a schedule', job('words', { schedule: 'every tuesday' }), /Schedule or time zone is invalid/],
    ['an unknown time zone', job('mars', { timeZone: 'Mars/Olympus' }), /Invalid time zone/],
    ['an ftp target', job('ftp', { httpTarget: { uri: 'ftp://svc.example/x', httpMethod: 'POST' } }), /must start with 'http:\/\/' or 'https:\/\/'/],
    ['an OIDC token without an account', job('oidc', { httpTarget: { uri: 'https://svc.example/x', httpMethod: 'POST', oidcToken: { audience: 'https://svc.example' } } }), /service_account_email/],
    ['six retries', job('retries', { retryConfig: { retryCount: 6 } }), /retry_count must be between 0 and 5/],
    ['a 31-minute deadline', job('deadline', { attemptDeadline: { seconds: 1860 } }), /between 15 seconds and 30 minutes/],
    ['no target', { name: `${PARENT}/jobs/none`, schedule: '0 9 * * *', timeZone: 'UTC' }, /must have a target/],
  ];
  for (const [name, input, message] of cases) {
    test(name, async () => {
      const { status, error } = await failure(() => client.createJob({ parent: PARENT, job: input }));
      assert.equal(status, 400);
      assert.equal(error.status, 'INVALID_ARGUMENT');
      assert.match(error.message, message);
    });
  }
});

test('get and delete of a missing job are 404 NOT_FOUND', async () => {
  for (const call of [() => client.getJob({ name: `${PARENT}/jobs/missing` }), () => client.deleteJob({ name: `${PARENT}/jobs/missing` })]) {
    const { status, error } = await failure(call);
    assert.equal(status, 404);
    assert.equal(error.status, 'NOT_FOUND');
  }
});

test('patch changes only the fields of the update mask, and refuses unknown paths', async () => {
  await client.createJob({ parent: PARENT, job: job('patched') });
  const [updated] = await client.updateJob({ job: job('patched', { schedule: '*/5 * * * *', timeZone: 'UTC', description: 'ignored' }), updateMask: { paths: ['schedule'] } });
  assert.equal(updated.schedule, '*/5 * * * *');
  assert.equal(updated.timeZone, 'Europe/Kyiv');
  assert.equal(updated.description, '');
  const { error } = await failure(() => client.updateJob({ job: job('patched'), updateMask: { paths: ['state'] } }));
  assert.match(error.message, /Invalid update mask path "state"/);
  const bad = await failure(() => client.updateJob({ job: job('patched', { schedule: '0 9 * * * *' }), updateMask: { paths: ['schedule'] } }));
  assert.equal(bad.error.status, 'INVALID_ARGUMENT');
  const [kept] = await client.getJob({ name: `${PARENT}/jobs/patched` });
  assert.equal(kept.schedule, '*/5 * * * *', 'a refused patch changes nothing');
});

test('pause of a paused job and resume of an enabled job are no-ops', async () => {
  await client.createJob({ parent: PARENT, job: job('toggle') });
  const name = `${PARENT}/jobs/toggle`;
  assert.equal((await client.pauseJob({ name }))[0].state, 'PAUSED');
  assert.equal((await client.pauseJob({ name }))[0].state, 'PAUSED');
  assert.equal((await client.resumeJob({ name }))[0].state, 'ENABLED');
  assert.equal((await client.resumeJob({ name }))[0].state, 'ENABLED');
});

test('list pages through every job of the location', async () => {
  // A location of this test's own: five jobs, two per page, and one in another location.
  const location = 'projects/my-proj/locations/us-east1';
  for (const id of ['e', 'a', 'd', 'b', 'c']) await client.createJob({ parent: location, job: { ...job(id), name: `${location}/jobs/${id}` } });
  await client.createJob({ parent: PARENT, job: job('elsewhere') });
  const names: string[] = [];
  for await (const listed of client.listJobsAsync({ parent: location, pageSize: 500 }, { autoPaginate: false })) names.push(String(listed.name));
  const pages = double.requests.filter((request) => request.method === 'GET' && request.path === `${location}/jobs`);
  assert.deepEqual(names, ['a', 'b', 'c', 'd', 'e'].map((id) => `${location}/jobs/${id}`));
  assert.equal(pages.length, 3, `${names.length} jobs in ${pages.length} pages`);
  const { error } = await failure(() => client.listJobs({ parent: location, pageSize: 501 }, { autoPaginate: false }));
  assert.equal(error.status, 'INVALID_ARGUMENT');
});

test('a request without a bearer token is 401', async () => {
  const response = await fetch(`${double.endpoint}/v1/${PARENT}/jobs`);
  assert.equal(response.status, 401);
  assert.equal(((await response.json()) as { error: { status: string } }).error.status, 'UNAUTHENTICATED');
});
