/**
 * No key is accepted and ignored: every key of the config, of every connection type and of a job
 * spec (found by walking the schemas, so a new key cannot be missed) is given a bad value, and
 * the problem must be reported at that key's path and line.
 */
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { stringify } from 'yaml';
import type { z } from 'zod';
import { loadJobs } from '../../src/core/config.js';
import { ConfigError, type ConfigIssue } from '../../src/core/errors.js';
import { configSchema, connectionSchema, jobSchema } from '../../src/core/spec.js';

type Schema = z.ZodType & { def: { type: string; innerType?: Schema; out?: Schema; element?: Schema; shape?: Record<string, Schema> }; shape?: Record<string, Schema> };

function unwrap(schema: Schema): Schema {
  for (;;) {
    const def = schema.def;
    if ((def.type === 'optional' || def.type === 'default' || def.type === 'nullable' || def.type === 'prefault') && def.innerType) schema = def.innerType;
    else if (def.type === 'pipe' && def.out) schema = def.out;
    else return schema;
  }
}

/** Every key path under an object schema, with its leaf schema. */
function keysOf(schema: Schema, prefix: string[] = []): { path: string[]; leaf: Schema }[] {
  const object = unwrap(schema);
  if (object.def.type !== 'object' || !object.shape) return [];
  return Object.entries(object.shape).flatMap(([key, child]) => {
    const at = [...prefix, key];
    const inner = unwrap(child);
    return inner.def.type === 'object' ? [{ path: at, leaf: inner }, ...keysOf(inner, at)] : [{ path: at, leaf: inner }];
  });
}

/** A value of the wrong kind for a leaf schema. */
function wrongKind(leaf: Schema): unknown {
  switch (leaf.def.type) {
    case 'string':
    case 'enum':
    case 'literal':
      return ['a', 'list'];
    case 'number':
    case 'boolean':
      return 'text';
    case 'array':
      // A single value is a list of one; a mapping is not a list.
      return { a: 1 };
    case 'object':
    case 'record':
      return 'text';
    default:
      return { a: 1 };
  }
}

/** Bad values that are of the right kind but still wrong: the checks on the value itself. */
const SEMANTIC: Record<string, unknown[]> = {
  'schedule.cron': ['every tuesday', '0 9 * * MON#2', '61 * * * *', '@daily', '0 0 9 * * *'],
  'schedule.timezone': ['Mars/Olympus', 'CET+1', 'Europe/'],
  'schedule.target': ['lambda'],
  'schedule.retry.count': [6, -1, 1.5],
  'schedule.retry.min_backoff': ['soon', '10 minutes'],
  'schedule.retry.max_backoff': ['1w'],
  'schedule.attempt_deadline': ['5s', '2h'],
  'deploy.project': ['My Project', 'ab'],
  'deploy.region': ['europe', 'Europe-West1'],
  'deploy.service': ['B2betl', '-x', `a${'b'.repeat(60)}`],
  'deploy.job': ['my_job'],
  'deploy.service_url': ['b2betl.a.run.app', 'ftp://x'],
  'deploy.audience': [''],
  'deploy.service_account': ['scheduler', 'a@b'],
  'deploy.runtime_service_account': ['runtime@'],
  'deploy.invokers': [[], ['not-an-email']],
  'deploy.target': ['function'],
  'deploy.endpoint': ['localhost:8080'],
  'ledger': ['s3://bucket/ledger.sqlite', 'gs://'],
  'plugins': [['a-package-that-does-not-exist'], ['./no/such/plugin.js']],
  'defaults.destination': ['nowhere', 'files'],
  'name': ['Orders', 'my orders'],
  'source.connection': ['nowhere', 'wh'],
  'source.format': ['xlsx'],
  'source.columns': [[]],
  'source.sample_size': [0, 1.5],
  'source.parallelism': [0, 65],
  'source.nested': ['record'],
  'source.csv.delimiter': ['', 'abcde'],
  'source.csv.quote': ['""'],
  'source.csv.escape': ['\\\\'],
  'source.csv.encoding': ['ebcdic'],
  'source.csv.date_format': ['YYYY-DD', 'DD/MM/YY'],
  'source.csv.decimal': ['comma', ';'],
  'load.strategy': ['upsert'],
  'load.primary_key': [[]],
  'load.lookback': ['a week'],
  'load.max_bad_records': [-1, 0.5],
  'destination.connection': ['nowhere', 'files'],
  'destination.table': ['1orders', 'my-orders'],
  'connections.postgres.port': [0, 70000, 'x'],
  'connections.postgres.ssl.mode': ['prefer-ish'],
  'connections.mysql.port': [-1],
  'connections.bigquery.staging': ['s3://bucket/x'],
  'connections.duckdb.memory_limit': ['lots', '2 PB'],
  'connections.duckdb.threads': [0, 1000],
  'connections.duckdb.schema': ['my schema'],
  'connections.postgres.url': ['localhost:5432/db'],
  'connections.mysql.url': ['root@localhost'],
  'connections.bigquery.dataset': ['raw-data'],
  'connections.bigquery.location': ['Mars'],
  'connections.bigquery.endpoint': ['localhost:9050'],
  'connections.firestore.emulator_host': ['localhost', 'http://localhost:8080'],
  'connections.gcs.endpoint': ['storage'],
  'connections.s3.region': ['Frankfurt'],
  'connections.s3.endpoint': ['minio:9000'],
  'connections.azure.sas_url': ['sv=2024&sig=x', 'https://acct.blob.core.windows.net/box'],
  'connections.azure.endpoint': ['azurite'],
  'deploy.image': ['', 'Not An Image', 'gcr.io/p/b2betl:'],
  'dataflow.project': ['My Project', 'ab'],
  'dataflow.region': ['europe', 'Europe-West1'],
  'dataflow.temp_location': ['/tmp/dataflow', 's3://bucket/tmp', 'gs://'],
  'dataflow.threshold_rows': [0, -1, 1.5],
  'dataflow.service_account': ['runner', 'a@b'],
  'dataflow.network': ['My Network', '-net'],
  'dataflow.subnetwork': ['my-subnet', 'regions/europe-west1/subnets/a'],
  'dataflow.max_workers': [0, 1001, 2.5],
  'dataflow.machine_type': ['big', 'N1-STANDARD-4'],
  // The base job reads files into DuckDB: Dataflow takes neither.
  'engine': ['cloud', 'dataflow'],
};

/** A valid base for each connection type, to which one bad key is added. */
const CONNECTIONS: Record<string, Record<string, unknown>> = {
  postgres: { type: 'postgres', host: 'localhost' },
  mysql: { type: 'mysql', host: 'localhost' },
  bigquery: { type: 'bigquery', project: 'p', dataset: 'd' },
  firestore: { type: 'firestore', project: 'p' },
  local: { type: 'local', path: './data' },
  gcs: { type: 'gcs', bucket: 'b' },
  s3: { type: 's3', bucket: 'b' },
  azure: { type: 'azure', container: 'c' },
  duckdb: { type: 'duckdb', path: './w.duckdb' },
};

const BASE_CONFIG = { connections: { files: { type: 'local', path: './data' }, wh: { type: 'duckdb', path: './w.duckdb' } } };
const BASE_JOB = { name: 'j', source: { connection: 'files', pattern: '*.csv' } };

let dir: string;
let counter = 0;
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'b2betl-keys-'));
});
after(() => rm(dir, { recursive: true, force: true }));

function setIn(target: Record<string, unknown>, at: readonly string[], value: unknown): void {
  let node = target;
  for (const part of at.slice(0, -1)) node = (node[part] ??= {}) as Record<string, unknown>;
  node[at.at(-1)!] = value;
}

/** The problems of a project whose config and job are given; [] when it loads. */
async function problemsOf(config: Record<string, unknown>, job: Record<string, unknown>): Promise<{ issues: readonly ConfigIssue[]; text: { config: string; job: string } }> {
  const folder = path.join(dir, `p${counter++}`);
  await mkdir(path.join(folder, 'jobs'), { recursive: true });
  const text = { config: stringify(config), job: stringify(job) };
  await writeFile(path.join(folder, 'etl.config.yaml'), text.config);
  await writeFile(path.join(folder, 'jobs', 'j.yaml'), text.job);
  try {
    await loadJobs([path.join(folder, 'jobs', 'j.yaml')], { cwd: folder, env: {} });
    return { issues: [], text };
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return { issues: error.issues, text };
  }
}

/** The 1-based line of `key:` in a YAML text, searched along the path so nested keys are found. */
function lineOf(text: string, at: readonly string[]): number | undefined {
  const lines = text.split('\n');
  let from = 0;
  let found: number | undefined;
  for (const part of at) {
    const index = lines.findIndex((line, i) => i >= from && new RegExp(`^\\s*(- )?${part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:`).test(line));
    if (index < 0) return found;
    found = index + 1;
    from = index;
  }
  return found;
}

function expectProblem(issues: readonly ConfigIssue[], at: string, line: number | undefined, label: string): void {
  const hit = issues.find((issue) => issue.path === at || issue.path.startsWith(`${at}.`) || issue.path.startsWith(`${at}[`) || (at.endsWith('.connection') && issue.path === at));
  assert.ok(hit, `${label}: no problem reported at ${at}; got:\n${issues.map((issue) => `${issue.path}: ${issue.message}`).join('\n') || '(none)'}`);
  if (line !== undefined) assert.ok(hit.line !== undefined && hit.line >= line - 1 && hit.line <= line + 1, `${label}: reported at line ${hit.line}, the key is at ${line}`);
}

test('every config key is refused with a bad value, at its path and line', async () => {
  const keys = keysOf(configSchema as unknown as Schema).filter(({ path: at }) => at[0] !== 'connections');
  assert.ok(keys.length >= 15, `only ${keys.length} config keys found`);
  for (const { path: at, leaf } of keys) {
    const name = at.join('.');
    for (const bad of [wrongKind(leaf), ...(SEMANTIC[name] ?? [])]) {
      const config = structuredClone(BASE_CONFIG) as Record<string, unknown>;
      setIn(config, at, bad);
      const { issues, text } = await problemsOf(config, BASE_JOB);
      expectProblem(issues, name === 'plugins' && Array.isArray(bad) ? 'plugins[0]' : name, lineOf(text.config, at), `${name}: ${JSON.stringify(bad)}`);
    }
  }
});

test('every key of every connection type is refused with a bad value, at its path and line', async () => {
  const types = (connectionSchema as unknown as { options: Schema[] }).options;
  assert.equal(types.length, Object.keys(CONNECTIONS).length);
  for (const option of types) {
    const type = (unwrap(option).shape!.type as unknown as { def: { values: string[] } }).def.values[0];
    for (const { path: at, leaf } of keysOf(option)) {
      if (at[0] === 'type') continue;
      const name = `connections.${type}.${at.join('.')}`;
      for (const bad of [wrongKind(leaf), ...(SEMANTIC[name] ?? [])]) {
        const block = structuredClone(CONNECTIONS[type]);
        setIn(block, at, bad);
        const config = { connections: { ...BASE_CONFIG.connections, c: block } };
        const { issues, text } = await problemsOf(config, BASE_JOB);
        expectProblem(issues, `connections.c.${at.join('.')}`, lineOf(text.config, ['c', ...at]), `${name}: ${JSON.stringify(bad)}`);
      }
    }
  }
});

test('every job key is refused with a bad value, at its path and line', async () => {
  const keys = keysOf(jobSchema as unknown as Schema);
  assert.ok(keys.length >= 30, `only ${keys.length} job keys found`);
  for (const { path: at, leaf } of keys) {
    const name = at.join('.');
    for (const bad of [wrongKind(leaf), ...(SEMANTIC[name] ?? [])]) {
      const job = structuredClone(BASE_JOB) as Record<string, unknown>;
      if (at[0] === 'schedule' && name !== 'schedule') job.schedule = { cron: '0 9 * * *' };
      setIn(job, at, bad);
      const { issues, text } = await problemsOf(BASE_CONFIG, job);
      expectProblem(issues, name, lineOf(text.job, at), `${name}: ${JSON.stringify(bad)}`);
    }
  }
});

test('the good values of the keys the bad ones stand beside are accepted', async () => {
  const job = {
    name: 'orders-2',
    source: { connection: 'files', pattern: '*.csv', columns: 'id', csv: { date_format: 'DD.MM.YYYY', encoding: 'latin1' } },
    load: { strategy: 'merge', primary_key: 'id', cursor: 'updated_at', lookback: '2d' },
    destination: { connection: 'wh', table: 'orders_2' },
    schedule: { cron: '*/15 9-17 * JAN-MAR MON-FRI', timezone: 'America/New_York', retry: { count: 5, min_backoff: '30s', max_backoff: '10m' }, attempt_deadline: '15m' },
    engine: 'local',
  };
  const config = {
    ...BASE_CONFIG,
    defaults: { destination: 'wh' },
    ledger: 'gs://my-bucket/b2betl/ledger.sqlite',
    deploy: { project: 'my-proj-123', region: 'europe-central2', service_url: 'https://b2betl-abc-lm.a.run.app', service_account: 'sched@my-proj-123.iam.gserviceaccount.com', invokers: 'sched@my-proj-123.iam.gserviceaccount.com' },
    dataflow: {
      project: 'my-proj-123',
      region: 'northamerica-northeast2',
      temp_location: 'gs://my-bucket/b2betl-tmp',
      threshold_rows: 5_000_000,
      service_account: 'etl-runner@my-proj-123.iam.gserviceaccount.com',
      network: 'default',
      subnetwork: 'https://www.googleapis.com/compute/v1/projects/host-proj-1/regions/northamerica-northeast2/subnetworks/etl-subnet',
      max_workers: 20,
      machine_type: 'n2-highmem-16',
    },
  };
  const { issues } = await problemsOf(config, job);
  assert.deepEqual(issues, []);
});

test('engine: dataflow is refused where Dataflow cannot run, naming the key and the fix', async () => {
  const dataflow = { project: 'my-proj-123', region: 'europe-west1', temp_location: 'gs://my-bucket/tmp' };
  const config = { connections: { ...BASE_CONFIG.connections, pg: { type: 'postgres', host: 'localhost' }, fs: { type: 'firestore', project: 'p' }, bq: { type: 'bigquery', project: 'p', dataset: 'd' } } };
  const pgJob = { name: 'j', source: { connection: 'pg', table: 'public.orders' }, load: { cursor: 'id' }, engine: 'dataflow' };
  const messages = async (c: Record<string, unknown>, j: Record<string, unknown>) => (await problemsOf(c, j)).issues.map((issue) => `${path.basename(issue.file)}:${issue.line}: ${issue.path}: ${issue.message} → ${issue.fix}`);

  const duck = await messages({ ...config, dataflow }, pgJob);
  assert.deepEqual(duck, ['j.yaml:7: engine: Dataflow loads into BigQuery, but destination warehouse is duckdb, which always loads on this machine → set engine: auto or local, or point destination.connection at a bigquery connection']);
  const firestore = await messages({ ...config, dataflow }, { name: 'j', source: { connection: 'fs', collection: 'users' }, load: { strategy: 'catalog' }, destination: { connection: 'bq' }, engine: 'dataflow' });
  assert.equal(firestore.length, 1, firestore.join('\n'));
  assert.match(firestore[0], /engine: Dataflow reads PostgreSQL and MySQL sources; this job's source is firestore → set engine: auto: a large Firestore catalog load goes through managed export/);
  const noBlock = await messages(config, { ...pgJob, destination: { connection: 'bq' } });
  assert.equal(noBlock.length, 1, noBlock.join('\n'));
  assert.match(noBlock[0], /^j\.yaml:\d+: engine: Dataflow needs a dataflow: block in etl\.config\.yaml → add dataflow: \{project: /);
  const noTemp = await messages({ ...config, dataflow: { project: 'my-proj-123', region: 'europe-west1' } }, { ...pgJob, destination: { connection: 'bq' } });
  assert.deepEqual(noTemp, ['etl.config.yaml:19: dataflow.temp_location: missing required key "temp_location" → add dataflow.temp_location: <string>'], 'reported at the dataflow: block');
  assert.deepEqual(await messages({ ...config, dataflow }, { ...pgJob, destination: { connection: 'bq' } }), []);
});
