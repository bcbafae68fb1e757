/** The desired/actual diff of Cloud Scheduler entries, fire times, and editing `schedule.paused` in place. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseDocument } from 'yaml';
import type { ActualEntry } from '../../src/schedule/cloud-scheduler.js';
import { nextFires } from '../../src/schedule/cron.js';
import type { DesiredEntry } from '../../src/schedule/desired.js';
import { withPaused } from '../../src/schedule/job-file.js';
import { changedFields, planSchedule } from '../../src/schedule/plan.js';

const OWNER = 'b2betl';

function desired(job: string, extra: Partial<DesiredEntry> = {}): DesiredEntry {
  return {
    id: `b2betl-${job}`,
    job,
    file: `jobs/${job}.yaml`,
    target: 'service',
    description: `managed by b2betl [${OWNER}]: runs job ${job} (jobs/${job}.yaml)`,
    schedule: '0 9 * * *',
    timeZone: 'Europe/Kyiv',
    paused: false,
    uri: `https://svc.example/jobs/${job}/run`,
    httpMethod: 'POST',
    body: '',
    token: { kind: 'oidc', serviceAccountEmail: 'sched@p.iam.gserviceaccount.com', audience: 'https://svc.example' },
    retry: { count: 3, minBackoffS: 30, maxBackoffS: 600 },
    attemptDeadlineS: 1800,
    ...extra,
  };
}

function actual(entry: DesiredEntry, extra: Partial<ActualEntry> = {}): ActualEntry {
  const { job: _job, file: _file, target: _target, ...rest } = entry;
  return { ...rest, state: entry.paused ? 'PAUSED' : 'ENABLED', ...extra };
}

test('a job without an entry is created, a paused one created then paused', () => {
  const plan = planSchedule([desired('orders'), desired('events', { paused: true })], [], { owner: OWNER, now: new Date('2025-03-29T00:00:00Z') });
  assert.deepEqual(
    plan.changes.map((change) => [change.action, change.id, change.pause]),
    [
      ['create', 'b2betl-orders', undefined],
      ['create', 'b2betl-events', true],
    ],
  );
  assert.deepEqual(
    plan.changes[0].next.map((fire) => fire.local),
    ['Sat 2025-03-29 09:00 EET', 'Sun 2025-03-30 09:00 EEST', 'Mon 2025-03-31 09:00 EEST'],
  );
});

test('an entry that matches is unchanged', () => {
  const entry = desired('orders');
  const plan = planSchedule([entry], [actual(entry)], { owner: OWNER });
  assert.deepEqual(plan.changes.map((change) => change.action), ['unchanged']);
});

describe('each field that differs is an update of that field', () => {
  const cases: [string, Partial<DesiredEntry>][] = [
    ['schedule', { schedule: '*/5 * * * *' }],
    ['time zone', { timeZone: 'UTC' }],
    ['target URI', { uri: 'https://other.example/jobs/orders/run' }],
    ['audience', { token: { kind: 'oidc', serviceAccountEmail: 'sched@p.iam.gserviceaccount.com', audience: 'https://other.example' } }],
    ['service account', { token: { kind: 'oidc', serviceAccountEmail: 'other@p.iam.gserviceaccount.com', audience: 'https://svc.example' } }],
    ['retry config', { retry: { count: 5, minBackoffS: 30, maxBackoffS: 600 } }],
    ['deadline', { attemptDeadlineS: 600 }],
    ['description', { description: `managed by b2betl [${OWNER}]: runs job orders (jobs/moved/orders.yaml)` }],
    ['body', { body: '{"overrides":{}}' }],
  ];
  for (const [field, change] of cases) {
    test(field, () => {
      const old = desired('orders');
      const plan = planSchedule([desired('orders', change)], [actual(old)], { owner: OWNER });
      assert.equal(plan.changes[0].action, 'update');
      assert.deepEqual(
        plan.changes[0].fields.map((f) => f.field),
        [field],
      );
    });
  }
  test('a schedule with other spacing is the same schedule', () => {
    assert.deepEqual(changedFields(desired('orders'), actual(desired('orders', { schedule: '0  9 * *  *' }))), []);
  });
});

test('pause and resume follow schedule.paused; an update that also pauses says so', () => {
  const running = actual(desired('orders'));
  const paused = actual(desired('events', { paused: true }));
  const plan = planSchedule([desired('orders', { paused: true }), desired('events')], [running, paused], { owner: OWNER });
  assert.deepEqual(
    plan.changes.map((change) => change.action),
    ['pause', 'resume'],
  );
  const both = planSchedule([desired('orders', { paused: true, schedule: '0 10 * * *' })], [running], { owner: OWNER });
  assert.equal(both.changes[0].action, 'update');
  assert.equal(both.changes[0].pause, true);
});

test('owned entries whose job is gone are orphans, deleted only with prune; foreign entries are never touched', () => {
  const gone = actual(desired('old'));
  const foreign = actual(desired('theirs'), { description: 'nightly export, by hand' });
  const otherDeployment = actual(desired('staging'), { description: 'managed by b2betl [b2betl-staging]: runs job staging' });
  const plan = planSchedule([desired('orders')], [gone, foreign, otherDeployment], { owner: OWNER });
  assert.deepEqual(
    plan.changes.map((change) => [change.action, change.id]),
    [
      ['create', 'b2betl-orders'],
      ['orphan', 'b2betl-old'],
    ],
  );
  assert.equal(plan.others, 2);
  const pruned = planSchedule([desired('orders')], [gone, foreign, otherDeployment], { owner: OWNER, prune: true });
  assert.deepEqual(
    pruned.changes.map((change) => [change.action, change.id]),
    [
      ['create', 'b2betl-orders'],
      ['delete', 'b2betl-old'],
    ],
  );
});

test('an entry with the job name that is not ours is a conflict, and is left alone', () => {
  const theirs = actual(desired('orders'), { description: 'made in the console' });
  const plan = planSchedule([desired('orders')], [theirs], { owner: OWNER, prune: true });
  assert.equal(plan.changes[0].action, 'conflict');
  assert.match(plan.changes[0].note!, /not this deployment's/);
  assert.equal(plan.others, 0);
});

test('a plan about some job files does not see the other entries as orphans', () => {
  const plan = planSchedule([desired('orders')], [actual(desired('orders')), actual(desired('events'))], { owner: OWNER, prune: true, scope: new Set(['orders']) });
  assert.deepEqual(
    plan.changes.map((change) => change.action),
    ['unchanged'],
  );
});

test('fire times follow the time zone across a DST change', () => {
  const fires = nextFires('30 1 * * *', 'America/New_York', 3, new Date('2025-11-01T12:00:00Z'));
  assert.deepEqual(
    fires.map((date) => date.toISOString()),
    ['2025-11-02T05:30:00.000Z', '2025-11-03T06:30:00.000Z', '2025-11-04T06:30:00.000Z'],
  );
});

describe('schedule.paused is edited in place', () => {
  const cases: [string, string, string][] = [
    [
      'a block map keeps its comments and order',
      'name: a # the job\nschedule:   # when\n  cron: "0 9 * * *"   # nine\n  timezone: Europe/Kyiv\n# trailing\nengine: auto\n',
      'name: a # the job\nschedule:   # when\n  cron: "0 9 * * *"   # nine\n  timezone: Europe/Kyiv\n  paused: true\n# trailing\nengine: auto\n',
    ],
    ['a flow map', 'name: a\nschedule: { cron: "0 9 * * *", timezone: UTC }   # flow\n', 'name: a\nschedule: { cron: "0 9 * * *", timezone: UTC, paused: true }   # flow\n'],
    ['an existing value', 'schedule:\n  cron: "0 9 * * *"\n  paused: false  # keep\n', 'schedule:\n  cron: "0 9 * * *"\n  paused: true  # keep\n'],
    ['after a nested map', 'schedule:\n  cron: "0 9 * * *"\n  retry:\n    count: 2\n', 'schedule:\n  cron: "0 9 * * *"\n  retry:\n    count: 2\n  paused: true\n'],
    ['with CRLF line ends', 'name: a\r\nschedule:\r\n  cron: "0 9 * * *"\r\nengine: auto\r\n', 'name: a\r\nschedule:\r\n  cron: "0 9 * * *"\r\n  paused: true\r\nengine: auto\r\n'],
    ['at the end of the file without a newline', 'schedule:\n  cron: "0 9 * * *"', 'schedule:\n  cron: "0 9 * * *"\n  paused: true'],
  ];
  for (const [name, before, after] of cases) {
    test(name, () => {
      const paused = withPaused(before, true, 'a.yaml');
      assert.equal(paused, after);
      assert.equal(parseDocument(withPaused(paused, false, 'a.yaml')).getIn(['schedule', 'paused']), false);
    });
  }
  test('a file already paused is left byte for byte', () => {
    const text = 'schedule: { cron: "0 9 * * *", paused: true }\n';
    assert.equal(withPaused(text, true, 'a.yaml'), text);
  });
  test('a job without a schedule block is refused', () => {
    assert.throws(() => withPaused('name: a\n', true, 'a.yaml'), /no schedule: block/);
  });
});
