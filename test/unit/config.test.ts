import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { expandJobFiles, loadConfig, loadJobs, pendingWarnings, resolveConnection, resolveDeploy } from '../../src/core/config.js';
import { ConfigError, formatIssue, UnsetVariableError } from '../../src/core/errors.js';
import { scratchProject } from '../support/cli.js';

let project: Awaited<ReturnType<typeof scratchProject>>;
let dir: string;
before(async () => {
  project = await scratchProject();
  dir = project.dir;
});
after(() => project.cleanup());

const write = (file: string, text: string): Promise<string> => project.write(file, text);

async function problems(files: string[], env: NodeJS.ProcessEnv = {}): Promise<ConfigError> {
  try {
    await loadJobs(files, { env, cwd: dir });
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error;
  }
  assert.fail('expected a ConfigError');
}

test('a valid job gets the embedded DuckDB destination and ledger when there is no config', async () => {
  const file = await write('plain/jobs/a.yaml', 'name: a\nsource: { connection: files, pattern: "*.csv" }\n');
  await write('plain/etl.config.yaml', 'connections:\n  files: { type: local, path: ./data }\n');
  const [job] = await loadJobs([file], { cwd: dir });
  assert.equal(job.destinationName, 'warehouse');
  assert.deepEqual(job.destinationConnection, { type: 'duckdb', path: path.join(dir, 'plain', 'warehouse.duckdb') });
  assert.equal(job.config.ledger, path.join(dir, 'plain', '.b2betl', 'ledger.sqlite'));
  assert.equal(job.sourceConnection.type === 'local' && job.sourceConnection.path, path.join(dir, 'plain', 'data'));
  assert.equal(job.table, 'a');
  assert.equal(job.spec.load.strategy, 'transactional');
});

test('every problem is reported at once with file, path, line and fix', async () => {
  await write('bad/etl.config.yaml', 'connections:\n  pg: { type: postgres, url: "${PG_URL}" }\n');
  const file = await write(
    'bad/jobs/b.yaml',
    ['name: Bad Name', 'source:', '  connection: nowhere', '  tabel: x', 'load:', '  strategy: upsert', ''].join('\n'),
  );
  const error = await problems([file]);
  const byPath = new Map(error.issues.map((issue) => [issue.path, issue]));
  assert.equal(byPath.get('name')?.line, 1);
  assert.equal(byPath.get('source.tabel')?.line, 4);
  assert.match(byPath.get('source.tabel')!.message, /unknown key "tabel"/);
  assert.equal(byPath.get('load.strategy')?.line, 6);
  assert.match(byPath.get('load.strategy')!.fix!, /transactional, catalog, merge/);
  assert.ok(error.issues.every((issue) => issue.file === file || issue.file.endsWith('etl.config.yaml')));
  assert.ok(error.issues.length >= 3);
});

test('an unset ${VAR} is required only when its connection opens, naming it and the connection; a set one is interpolated', async () => {
  await write('env/etl.config.yaml', 'connections:\n  pg: { type: postgres, url: "${SHOP_PG_URL}", port: "${SHOP_PG_PORT}" }\n  files: { type: local, path: ./data }\n');
  const file = await write('env/jobs/c.yaml', 'name: c\nsource: { connection: pg, table: public.orders }\nload: { strategy: catalog }\n');
  const [job] = await loadJobs([file], { cwd: dir, env: {} });
  assert.equal(resolveConnection(job.config, 'files').type, 'local');
  const warnings = pendingWarnings(job.config, [job]);
  assert.deepEqual(warnings.map((w) => [w.path, w.line]), [['connections.pg.url', 2], ['connections.pg.port', 2]]);
  assert.match(warnings[0].message, /SHOP_PG_URL is not set: connection pg needs it when it opens \(jobs c\)/);
  assert.throws(() => resolveConnection(job.config, 'pg'), (error: unknown) => {
    assert.ok(error instanceof UnsetVariableError);
    assert.match(error.message, /etl\.config\.yaml:2: connections\.pg\.url: environment variable SHOP_PG_URL is not set; connection pg needs it/);
    return true;
  });
  // A value is checked once its variable is read: a port must still be a number.
  const env: NodeJS.ProcessEnv = {};
  const [later] = await loadJobs([file], { cwd: dir, env });
  Object.assign(env, { SHOP_PG_URL: 'postgres://u@h/db', SHOP_PG_PORT: 'x' });
  assert.throws(() => resolveConnection(later.config, 'pg'), /connections\.pg\.port: expected number/);
  const error = await problems([file], { SHOP_PG_URL: 'postgres://u@h/db', SHOP_PG_PORT: 'x' });
  assert.match(error.message, /:2: connections\.pg\.port: expected number, got text from an environment variable/);
  assert.doesNotMatch(error.message, /u@h/);
  // Read when the connection opens, not when the config loads; `$${X}` stays a literal `${X}`.
  await write('env/etl.config.yaml', 'connections:\n  pg: { type: postgres, url: "${SHOP_PG_URL}/db?application_name=$${APP}" }\n');
  const [lazy] = await loadJobs([file], { cwd: dir, env: {} });
  lazy.config.env!.SHOP_PG_URL = 'postgres://u@h';
  const resolved = resolveConnection(lazy.config, 'pg');
  assert.equal(resolved.type === 'postgres' && resolved.url, 'postgres://u@h/db?application_name=${APP}');
});

test('cross-file checks: unknown connection, missing cursor, duplicate job names', async () => {
  await write('cross/etl.config.yaml', 'connections:\n  pg: { type: postgres, host: localhost }\n  files: { type: local, path: . }\n');
  const first = await write('cross/jobs/one.yaml', 'name: dup\nsource: { connection: pg, table: t }\n');
  const second = await write('cross/jobs/two.yaml', 'name: dup\nsource: { connection: nope, pattern: "*.csv" }\n');
  const error = await problems([first, second]);
  const messages = error.issues.map((issue) => issue.message).join('\n');
  assert.match(messages, /needs load.cursor/);
  assert.match(messages, /connection "nope" is not defined/);
  assert.match(messages, /also used by/);
});

test('folders expand to their job files, leaving the config out', async () => {
  await write('expand/etl.config.yaml', 'connections: {}\n');
  await write('expand/jobs/x.yaml', 'name: x\n');
  await write('expand/jobs/nested/y.yml', 'name: y\n');
  const files = await expandJobFiles([path.join(dir, 'expand')]);
  assert.deepEqual(files.map((file) => path.relative(dir, file)), ['expand/jobs/nested/y.yml', 'expand/jobs/x.yaml']);
});

test('etl.config.example.yaml documents valid keys only', async () => {
  const example = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../../etl.config.example.yaml');
  const env = { SHOP_PG_URL: 'postgres://u@h/db', MYSQL_PW: 'x', GOOGLE_APPLICATION_CREDENTIALS: '/k.json', AZURE_STORAGE_CONNECTION_STRING: 'UseDevelopmentStorage=true' };
  const config = await loadConfig({ configFile: example, env });
  assert.equal(config.defaultDestination, 'local_wh');
  assert.deepEqual(Object.keys(config.connections).sort(), ['bq', 'events_fs', 'exports', 'inbox', 'landing', 'local_wh', 'partner_drop', 'shop_my', 'shop_pg']);
});

test('an unset variable inside a list names its YAML path', async () => {
  await write('listenv/etl.config.yaml', 'connections: {}\nplugins: [ok, "${NOT_SET_PLUGIN}"]\n');
  const error = await loadConfig({ configFile: path.join(dir, 'listenv/etl.config.yaml'), env: {} }).catch((e: unknown) => e);
  assert.ok(error instanceof ConfigError);
  assert.equal(error.issues[0].path, 'plugins[1]');
  assert.equal(error.issues[0].line, 2);
});

test('source.csv.date_format names DD, MM and YYYY once each, joined by one separator', async () => {
  await write('dates/etl.config.yaml', 'connections:\n  files: { type: local, path: ./data }\n');
  const good = await write('dates/jobs/good.yaml', 'name: good\nsource: { connection: files, pattern: "*.csv", csv: { date_format: DD.MM.YYYY } }\n');
  const [job] = await loadJobs([good], { cwd: dir });
  assert.equal(job.spec.source.csv?.date_format, 'DD.MM.YYYY');
  for (const format of ['DD/MM/YY', 'DD/DD/YYYY', 'DD/MM-YYYY', '%d/%m/%Y', 'dd/mm/yyyy']) {
    const file = await write(`dates/jobs/bad.yaml`, `name: bad\nsource: { connection: files, pattern: "*.csv", csv: { date_format: "${format}" } }\n`);
    const error = await problems([file]);
    const issue = error.issues.find((candidate) => candidate.path === 'source.csv.date_format');
    assert.ok(issue, `${format}: ${error.message}`);
    assert.match(issue.message, /DD, MM and YYYY in some order, joined by one of \/ \. -/);
    assert.equal(issue.line, 2);
  }
});

test('a YAML syntax error names file:line:column and shows the line, at the quote or bracket left open', async () => {
  const cases: [string, number, number, RegExp][] = [
    ['name: q\nsource:\n  connection: files\n  pattern: "*.csv\nload: { strategy: catalog }\n', 4, 12, /Missing closing "quote/],
    ['name: q\nsource: { connection: files, pattern: "*.csv"\nload:\n  strategy: catalog\n', 2, 9, /end with a \}/],
    ['name: q\nsource:\n  connection: files\n   pattern: x\n', 3, 15, /Nested mappings/],
  ];
  for (const [text, line, column, message] of cases) {
    const file = await write(`syntax/jobs/q${line}${column}.yaml`, text);
    const error = await problems([file]);
    const issue = error.issues.find((i) => i.file === file)!;
    assert.ok(issue, error.message);
    assert.equal(issue.line, line, error.message);
    assert.equal(issue.column, column, error.message);
    assert.equal(issue.source, text.split('\n')[line - 1]);
    assert.match(issue.message, message);
    const shown = formatIssue(issue).split('\n');
    assert.ok(shown[0].startsWith(`${file}:${line}:${column}: YAML syntax: `), shown[0]);
    assert.equal(shown[1], `    ${line} | ${text.split('\n')[line - 1]}`);
    assert.equal(shown[2].indexOf('^'), `    ${line} | `.length + column - 1);
  }
});

test('primary_key, columns and other lists take a single value as a list of one', async () => {
  await write('scalar/etl.config.yaml', 'connections:\n  files: { type: local, path: ./data }\n');
  const file = await write('scalar/jobs/m.yaml', 'name: m\nsource: { connection: files, pattern: "*.csv", columns: id }\nload: { strategy: merge, primary_key: id }\n');
  const [job] = await loadJobs([file], { cwd: dir });
  assert.deepEqual(job.spec.load.primary_key, ['id']);
  assert.deepEqual(job.spec.source.columns, ['id']);
});

test('validate reports schema and reference problems in one pass', async () => {
  await write('onepass/etl.config.yaml', 'connections:\n  files: { type: local, path: ./data }\n');
  const file = await write('onepass/jobs/o.yaml', 'name: o\nsource: { connection: nowhere, pattern: "*.csv" }\nload: { strategy: upsert }\ndestination: { connection: elsewhere }\n');
  const error = await problems([file]);
  const found = error.issues.map((issue) => `${issue.line} ${issue.path}: ${issue.message}`);
  assert.ok(found.includes('3 load.strategy: invalid value "upsert"'), found.join('\n'));
  assert.ok(found.some((f) => f.startsWith('2 source.connection: connection "nowhere" is not defined')), found.join('\n'));
  assert.ok(found.some((f) => f.startsWith('4 destination.connection: connection "elsewhere" is not defined')), found.join('\n'));
});

test('deploy: variables are read by the commands that deploy, not by every command', async () => {
  await write('deployvar/etl.config.yaml', 'connections:\n  files: { type: local, path: ./data }\ndeploy:\n  project: my-proj-123\n  region: europe-central2\n  service_url: "${B2B_SERVICE_URL}"\n');
  const file = await write('deployvar/jobs/d.yaml', 'name: d\nsource: { connection: files, pattern: "*.csv" }\n');
  const [job] = await loadJobs([file], { cwd: dir, env: {} });
  assert.match(pendingWarnings(job.config, [job])[0].message, /B2B_SERVICE_URL is not set: deploy: needs it/);
  assert.throws(() => resolveDeploy(job.config), /:6: deploy\.service_url: environment variable B2B_SERVICE_URL is not set; deploy needs it/);
  job.config.env!.B2B_SERVICE_URL = 'not a url';
  assert.throws(() => resolveDeploy(job.config), /deploy\.service_url: expected a URL/);
  job.config.env!.B2B_SERVICE_URL = 'https://b2betl-abc-lm.a.run.app';
  assert.equal(resolveDeploy(job.config)?.service_url, 'https://b2betl-abc-lm.a.run.app');
  assert.equal(resolveDeploy(job.config)?.project, 'my-proj-123');
});
