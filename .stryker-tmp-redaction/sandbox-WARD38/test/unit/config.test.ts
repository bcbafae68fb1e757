import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { expandJobFiles, loadConfig, loadJobs } from '../../src/core/config.js';
import { ConfigError } from '../../src/core/errors.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'b2betl-config-'));
});
after(() => rm(dir, { recursive: true, force: true }));

async function write(file: string, text: string): Promise<string> {
  const full = path.join(dir, file);
  await mkdir(path.dirname(full), { recursive: true });
  await writeFile(full, text);
  return full;
}

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

test('an unset ${VAR} is an error that names it; a set one is interpolated', async () => {
  await write('env/etl.config.yaml', 'connections:\n  pg: { type: postgres, url: "${SHOP_PG_URL}" }\n');
  const file = await write('env/jobs/c.yaml', 'name: c\nsource: { connection: pg, table: public.orders }\nload: { strategy: catalog }\n');
  const error = await problems([file]);
  assert.match(error.message, /environment variable SHOP_PG_URL is not set/);
  assert.equal(error.issues[0].line, 2);
  const [job] = await loadJobs([file], { cwd: dir, env: { SHOP_PG_URL: 'postgres://u@h/db' } });
  assert.equal(job.sourceConnection.type === 'postgres' && job.sourceConnection.url, 'postgres://u@h/db');
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
