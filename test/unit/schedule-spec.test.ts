/** The `schedule:` and `deploy:` keys: unix-cron as Cloud Scheduler accepts it, IANA zones, retry and deadline limits. */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig, loadJobs } from '../../src/core/config.js';
import { ConfigError } from '../../src/core/errors.js';
import { timeZoneProblem, unixCronProblem } from '../../src/core/spec.js';
import { scratchProject } from '../support/cli.js';

let project: Awaited<ReturnType<typeof scratchProject>>;
let dir: string;
before(async () => {
  project = await scratchProject();
  dir = project.dir;
});
after(() => project.cleanup());

const write = (file: string, text: string): Promise<string> => project.write(file, text);

async function issuesOf(action: () => Promise<unknown>): Promise<ConfigError['issues']> {
  try {
    await action();
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.issues;
  }
  assert.fail('expected a ConfigError');
}

describe('unix-cron as Cloud Scheduler accepts it', () => {
  for (const expression of ['0 9 * * *', '*/15 * * * *', '0 9 * * MON-FRI', '0 0 1 JAN,JUL *', '10-50/10 8-18 * * 1-5', '0 9 * * 7', '30 2 1,15 * *', '* * * * *']) {
    test(`accepts ${expression}`, () => assert.equal(unixCronProblem(expression), undefined));
  }
  const refused: [string, RegExp][] = [
    ['every tuesday', /has 2 field\(s\); unix-cron has five/],
    ['0 9 * * * *', /has 6 field\(s\)/],
    ['@daily', /has 1 field/],
    ['0 9 L * *', /"L" is not a valid day of month/],
    ['0 9 ? * MON', /"\?" is not a valid day of month/],
    ['0 9 * * MON#2', /"MON#2" is not a valid day of week/],
    ['0 24 * * *', /"24" is not a valid hour/],
    ['60 * * * *', /"60" is not a valid minute/],
    ['0 9 0 * *', /"0" is not a valid day of month/],
    ['0 9 * 13 *', /"13" is not a valid month/],
    ['0 9 * * 8', /"8" is not a valid day of week/],
    ['5/10 * * * *', /"5\/10" is not a valid minute/],
    ['*/0 * * * *', /"\*\/0" is not a valid minute/],
    ['0 9 5-1 * *', /"5-1" is not a valid day of month/],
    ['0 9 * * mon', /"mon" is not a valid day of week.*SUN…SAT/],
  ];
  for (const [expression, message] of refused) {
    test(`refuses ${expression}`, () => assert.match(unixCronProblem(expression) ?? '', message));
  }
});

test('time zones must be IANA names', () => {
  for (const zone of ['UTC', 'Europe/Kyiv', 'Europe/Kiev', 'America/Argentina/Buenos_Aires', 'Etc/GMT+1']) assert.equal(timeZoneProblem(zone), undefined, zone);
  for (const zone of ['Mars/Olympus', '+01:00', 'GMT+1 ', 'europe kyiv', '']) assert.match(timeZoneProblem(zone) ?? '', /is not an IANA time zone name/, zone);
});

test('an invalid schedule fails validation with the file, line, YAML path and fix', async () => {
  await write('bad/etl.config.yaml', 'connections:\n  files: { type: local, path: ./data }\n');
  const file = await write(
    'bad/jobs/a.yaml',
    [
      'name: a',
      'source: { connection: files, pattern: "*.csv" }',
      'schedule:',
      '  cron: "every tuesday"',
      '  timezone: Mars/Olympus',
      '  target: lambda',
      '  retry: { count: 9, min_backoff: 10m, max_backoff: 1m }',
      '  attempt_deadline: 2h',
      '',
    ].join('\n'),
  );
  const issues = await issuesOf(() => loadJobs([file], { cwd: dir }));
  const byPath = new Map(issues.map((issue) => [issue.path, issue]));
  assert.equal(byPath.get('schedule.cron')?.line, 4);
  assert.match(byPath.get('schedule.cron')!.message, /unix-cron has five/);
  assert.equal(byPath.get('schedule.timezone')?.line, 5);
  assert.match(byPath.get('schedule.timezone')!.message, /Mars\/Olympus" is not an IANA time zone/);
  assert.match(byPath.get('schedule.target')!.fix!, /service, job/);
  assert.match(byPath.get('schedule.retry.count')!.message, /5/);
  assert.ok(issues.every((issue) => issue.file === file));
});

test('retry backoffs must be ordered and the attempt deadline within Cloud Scheduler limits', async () => {
  await write('order/etl.config.yaml', 'connections:\n  files: { type: local, path: ./data }\n');
  const file = await write(
    'order/jobs/a.yaml',
    'name: a\nsource: { connection: files, pattern: "*.csv" }\nschedule:\n  cron: "0 9 * * *"\n  retry: { min_backoff: 10m, max_backoff: 1m }\n  attempt_deadline: 2h\n',
  );
  const issues = await issuesOf(() => loadJobs([file], { cwd: dir }));
  const byPath = new Map(issues.map((issue) => [issue.path, issue]));
  assert.match(byPath.get('schedule.retry.min_backoff')!.message, /longer than max_backoff/);
  assert.match(byPath.get('schedule.attempt_deadline')!.message, /between 15s and 30m/);
});

test('a valid schedule loads with its defaults', async () => {
  await write('good/etl.config.yaml', 'connections:\n  files: { type: local, path: ./data }\n');
  const file = await write('good/jobs/a.yaml', 'name: a\nsource: { connection: files, pattern: "*.csv" }\nschedule: { cron: "0 9 * * MON-FRI" }\n');
  const [job] = await loadJobs([file], { cwd: dir });
  assert.deepEqual(job.spec.schedule, { cron: '0 9 * * MON-FRI', timezone: 'UTC' });
});

test('deploy: keys are validated', async () => {
  const file = await write(
    'deploy/etl.config.yaml',
    [
      'deploy:',
      '  project: My_Project',
      '  region: Europe',
      '  service_url: b2betl.run.app',
      '  service_account: not-an-email',
      '  invokers: [ok@p.iam.gserviceaccount.com, nope]',
      '  target: lambda',
      '  colour: blue',
      '',
    ].join('\n'),
  );
  const issues = await issuesOf(() => loadConfig({ configFile: file }));
  const paths = issues.map((issue) => issue.path).sort();
  assert.deepEqual(paths, ['deploy.colour', 'deploy.invokers[1]', 'deploy.project', 'deploy.region', 'deploy.service_account', 'deploy.service_url', 'deploy.target']);
});

test("the example config's deploy block and the schedule block it shows are valid once uncommented", async () => {
  const example = await readFile(path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../../etl.config.example.yaml'), 'utf8');
  const uncomment = (block: string) =>
    block
      .split('\n')
      .map((line) => line.replace(/^# ?/, '').replace(/^(\s*)# (?=[a-z_]+:)/, '$1').replace(/\s+# .*$/, ''))
      .join('\n');
  const deploy = uncomment(example.slice(example.indexOf('# deploy:'), example.indexOf("# A job file's schedule block")));
  const schedule = uncomment(example.slice(example.indexOf('# schedule:')));
  assert.match(deploy, /^deploy:\n {2}project: my-proj/);
  const configFile = await write('example/etl.config.yaml', `connections:\n  files: { type: local, path: ./data }\n${deploy}`);
  const config = await loadConfig({ configFile });
  assert.deepEqual(Object.keys(config.config.deploy ?? {}).sort(), ['audience', 'endpoint', 'image', 'invokers', 'job', 'project', 'region', 'runtime_service_account', 'service', 'service_account', 'service_url', 'target']);
  const job = await write('example/jobs/a.yaml', `name: a\nsource: { connection: files, pattern: "*.csv" }\n${schedule}`);
  const [loaded] = await loadJobs([job], { cwd: dir });
  assert.deepEqual(Object.keys(loaded.spec.schedule ?? {}).sort(), ['attempt_deadline', 'cron', 'paused', 'retry', 'target', 'timezone']);
});
