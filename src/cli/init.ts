/**
 * `b2betl init`: a job in five steps (connection, what to load, preview, load, schedule), each
 * question answered on a terminal or by its flag. Nothing is written until every answer is in:
 * then the connection (if new) joins etl.config.yaml, keeping its comments, and the job file is
 * written, validated, and offered a dry run and a run.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { EMBEDDED_DESTINATION, findConfigFile, isStoreType, loadConfig, loadJobs, type LoadedConfig, type LoadedJob } from '../core/config.js';
import type { CatalogEntry, SourceConnector } from '../core/connector.js';
import { ConfigError, EtlError, ExitCode, messageOf } from '../core/errors.js';
import { silentLogger } from '../core/log.js';
import { sanitizeName } from '../core/names.js';
import { openDestination, openSource, type OpenedSource } from '../core/open.js';
import { probeConnection, sizeText, where } from '../core/probe.js';
import { jobSchema, timeZoneProblem, unixCronProblem, type ConnectionConfig, type JobSpec } from '../core/spec.js';
import type { SourceColumn } from '../core/types.js';
import { addEntry } from '../core/yaml-edit.js';
import { daysToDate, formatDate, formatDatetime, formatTimestamp } from '../core/time.js';
import { formatInZone, nextFires } from '../schedule/cron.js';
import { formatDuration, renderTable, shortPath, type CommonOptions } from './common.js';
import { Asker, Cancelled, ask, missing } from './init-ask.js';
import { cronOf, describeSchedule, parseSchedule, renderJob, timeOfDayProblem, WEEKDAY_CHOICES, type SchedulePick } from './init-files.js';
import { renderColumns, renderReport, schemaReport } from './schema-report.js';

/** Every answer of the wizard as a flag. */
export interface InitFlags extends CommonOptions {
  readonly connection?: string;
  readonly type?: string;
  readonly url?: string;
  readonly path?: string;
  readonly bucket?: string;
  readonly prefix?: string;
  readonly project?: string;
  readonly dataset?: string;
  readonly passwordEnv?: string;
  readonly saveAnyway?: boolean;
  readonly table?: string;
  readonly collection?: string;
  readonly pattern?: string;
  readonly columns?: string;
  readonly strategy?: string;
  readonly cursor?: string;
  readonly start?: string;
  readonly primaryKey?: string;
  readonly destination?: string;
  readonly destTable?: string;
  readonly schedule?: string;
  readonly timezone?: string;
  readonly name?: string;
  readonly yes?: boolean;
  readonly force?: boolean;
  readonly dryRun?: boolean;
  readonly run?: boolean;
}

const NAME = /^[a-z0-9_-]+$/;
const CONNECTION_NAME = /^[A-Za-z0-9_-]+$/;
const TABLE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const SOURCE_TYPES = ['postgres', 'mysql', 'local', 'gcs', 's3', 'azure', 'bigquery', 'firestore'] as const;
const DESTINATION_TYPES = new Set(['duckdb', 'bigquery']);
/** Column types a cursor can follow: timestamps, dates and growing numbers. */
const CURSOR_CANDIDATES = new Set(['TIMESTAMP', 'DATETIME', 'DATE', 'INT64', 'NUMERIC']);
const PREVIEW_ROWS = 5;

/** Lazily loaded prompts (the module is heavy and only a terminal needs it). */
const prompts = () => import('@inquirer/prompts');

/** A connection made by the wizard: what goes into the file, and what the test used. */
interface NewConnection {
  readonly name: string;
  /** As written: secrets as `${VAR}`. */
  readonly entry: Record<string, unknown>;
  /** As tested: secrets filled in. */
  readonly config: ConnectionConfig;
  /** Variables the entry refers to, with the values typed (never written). */
  readonly env: Record<string, string>;
}

/** Everything the steps decided; nothing is on disk yet. */
interface Plan {
  readonly configFile: string;
  readonly config: LoadedConfig;
  readonly created?: NewConnection;
  readonly spec: JobSpec;
  readonly file: string;
  readonly sourceType: string;
  readonly destinationType: string;
  readonly scheduleText?: string;
}

const say = (text = '') => process.stdout.write(`${text}\n`);
const heading = (step: number, title: string) => say(`\n── Step ${step} of 5 · ${title} ──`);

export default async function init(flags: InitFlags): Promise<number> {
  const asker = new Asker(Boolean(process.stdin.isTTY && process.stdout.isTTY), Boolean(flags.yes));
  let plan: Plan;
  try {
    plan = await wizard(flags, asker);
  } catch (error) {
    if (error instanceof Cancelled) {
      say('\ncancelled: nothing was written');
      return 130;
    }
    throw error;
  }
  await writePlan(plan);
  try {
    return await offerRuns(plan, flags, asker);
  } catch (error) {
    if (error instanceof Cancelled) {
      say(`\n${shortPath(plan.file)} is written; nothing was run`);
      return 130;
    }
    throw error;
  }
}

/** Flags whose values need no source to check are refused before anything is contacted. */
function checkFlags(flags: InitFlags): void {
  if (flags.schedule !== undefined) parseSchedule(flags.schedule);
  const zone = flags.timezone === undefined ? undefined : timeZoneProblem(flags.timezone);
  if (zone) throw ConfigError.of(`--timezone: ${zone}`);
  if (flags.strategy !== undefined && !['transactional', 'catalog', 'merge'].includes(flags.strategy)) {
    throw ConfigError.of(`--strategy ${flags.strategy}: use transactional, catalog or merge`);
  }
  if (flags.name !== undefined && !NAME.test(flags.name)) throw ConfigError.of(`--name ${flags.name}: use lowercase letters, digits, _ and - only`);
  if (flags.destTable !== undefined && !TABLE.test(flags.destTable)) throw ConfigError.of(`--dest-table ${flags.destTable}: use letters, digits and _ only, not starting with a digit`);
  if (flags.start !== undefined && flags.cursor === undefined && flags.strategy === 'catalog') throw ConfigError.of('--start needs a cursor: catalog loads take the whole table each run');
}

async function wizard(flags: InitFlags, asker: Asker): Promise<Plan> {
  checkFlags(flags);
  const configFile = path.resolve(flags.config ?? (await findConfigFile(process.cwd())) ?? 'etl.config.yaml');
  const base = existsSync(configFile) ? await loadConfig({ configFile }) : emptyConfig(configFile);

  heading(1, 'Connection');
  const chosen = await chooseConnection(base, flags, asker);
  const config: LoadedConfig = chosen.created
    ? { ...base, connections: { ...base.connections, [chosen.name]: chosen.created.config } }
    : base;
  const connection = config.connections[chosen.name];
  const sourceType = connection.type;

  const opened = await openSource(draftJob(config, { name: 'init', source: { connection: chosen.name, ...(isStoreType(sourceType) ? { pattern: '**/*' } : sourceType === 'firestore' ? { collection: 'x' } : { table: 'x' }) }, load: { strategy: 'catalog' } }), silentLogger);
  try {
    heading(2, 'What to load');
    const source = await chooseSource(chosen.name, sourceType, opened, flags, asker);

    heading(3, 'Preview');
    const probeSpec = draftSpec({ name: 'init', source, load: { strategy: 'catalog' } });
    const columns = await opened.source.discover(probeSpec, silentLogger);
    if (!columns.length) throw new EtlError(`${describeSource(source)} has no columns to load`, 'pick another table or pattern');
    await showPreview(opened.source, probeSpec, columns);
    const selected = await chooseColumns(columns, flags, asker);
    const kept = selected ? columns.filter((column) => selected.includes(column.name)) : columns;
    const spec1 = draftSpec({ name: 'init', source: { ...source, ...(selected ? { columns: selected } : {}) }, load: { strategy: 'catalog' } });

    heading(4, 'Load');
    const load = await chooseLoad(opened.source, spec1, sourceType, kept, flags, asker);
    const destination = await chooseDestination(config, { ...spec1, load: { ...spec1.load, ...load } } as JobSpec, kept, source, flags, asker);

    heading(5, 'Schedule');
    const schedule = await chooseSchedule(flags, asker);

    const jobsDir = path.join(path.dirname(configFile), 'jobs');
    const name = await asker.answer('--name', flags.name, () => prompts().then(({ input }) => input({ message: 'Job name', default: defaultJobName(destination.table), validate: (value) => nameProblem(value.trim(), jobsDir, flags.force) ?? true })).then((value) => value.trim()), {
      fallback: defaultJobName(destination.table),
      check: (value) => nameProblem(value, jobsDir, flags.force),
    });
    const problem = nameProblem(name, jobsDir, flags.force);
    if (problem) throw ConfigError.of(`--name ${name}: ${problem}`);
    const spec = draftSpec({
      name,
      source: spec1.source,
      load,
      destination,
      ...(schedule.cron ? { schedule: { cron: schedule.cron, timezone: schedule.timezone } } : {}),
    });
    return {
      configFile,
      config,
      created: chosen.created,
      spec,
      file: path.join(jobsDir, `${name}.yaml`),
      sourceType,
      destinationType: config.connections[destination.connection].type,
      scheduleText: schedule.text,
    };
  } finally {
    await opened.source.close().catch(() => undefined);
  }
}

/** The defaults of a config file that does not exist yet. */
function emptyConfig(file: string): LoadedConfig {
  const baseDir = path.dirname(file);
  return {
    config: { connections: {}, defaults: {}, plugins: [] },
    file: undefined,
    baseDir,
    connections: { [EMBEDDED_DESTINATION]: { type: 'duckdb', path: path.resolve(baseDir, 'warehouse.duckdb') } },
    defaultDestination: EMBEDDED_DESTINATION,
    ledger: path.resolve(baseDir, './.b2betl/ledger.sqlite'),
  };
}

function draftSpec(spec: unknown): JobSpec {
  return jobSchema.parse(spec);
}

/** A job of the draft config, as the connectors open one. */
function draftJob(config: LoadedConfig, spec: unknown): LoadedJob {
  const parsed = draftSpec(spec);
  const destinationName = parsed.destination.connection ?? config.defaultDestination;
  return {
    spec: parsed,
    file: config.file ?? '',
    config,
    sourceConnection: config.connections[parsed.source.connection],
    destinationName,
    destinationConnection: config.connections[destinationName],
    table: parsed.destination.table ?? parsed.name,
  };
}

// ---------------------------------------------------------------------------------------------
// Step 1: the connection

async function chooseConnection(config: LoadedConfig, flags: InitFlags, asker: Asker): Promise<{ name: string; created?: NewConnection }> {
  const sources = Object.entries(config.connections).filter(([, connection]) => connection.type !== 'duckdb');
  const creating = flags.type !== undefined || flags.url !== undefined || flags.path !== undefined || flags.bucket !== undefined || flags.project !== undefined;
  if (flags.connection !== undefined && config.connections[flags.connection] && !creating) {
    const connection = config.connections[flags.connection];
    if (connection.type === 'duckdb') throw ConfigError.of(`--connection ${flags.connection} is a duckdb connection, a destination`, `read from one of: ${sources.map(([name]) => name).join(', ') || '(none yet)'}`);
    await testExisting(config, flags.connection, flags, asker);
    return { name: flags.connection };
  }
  if (flags.connection !== undefined && config.connections[flags.connection]) {
    throw ConfigError.of(`--connection ${flags.connection} already exists in ${shortPath(config.file ?? 'etl.config.yaml')}`, 'drop --type/--url/--path to use it, or give the new connection another name');
  }
  if (flags.connection === undefined && !creating) {
    if (!asker.interactive) throw missing('--connection', `one of: ${sources.map(([name]) => name).join(', ') || 'none defined yet; create one with --connection <name> --url postgres://… or --path <folder>'}`);
    if (sources.length) {
      const NEW = '\u0000new';
      const picked = await ask(() =>
        prompts().then(({ select }) =>
          select({
            message: 'Read from which connection?',
            choices: [
              ...sources.map(([name, connection]) => ({ value: name, name: `${name}  (${connection.type}, ${where(connection)})`, short: name })),
              { value: NEW, name: 'Create a new connection…' },
            ],
          }),
        ),
      );
      if (picked !== NEW) {
        await testExisting(config, picked, flags, asker);
        return { name: picked };
      }
    } else say(`no source connection in ${shortPath(config.file ?? path.join(config.baseDir, 'etl.config.yaml'))} yet: let us create one`);
  }
  for (let attempt = 0; ; attempt++) {
    const created = await newConnection(config, flags, asker);
    const result = await probeConnection({ ...config, connections: { ...config.connections, [created.name]: created.config } }, created.name);
    reportProbe(result);
    if (result.ok) return { name: created.name, created };
    if (flags.saveAnyway) return { name: created.name, created };
    if (!asker.interactive || attempt > 5) throw new EtlError(`connection ${created.name} failed its test: ${result.detail}`, result.hint ?? 'fix the answers, or add --save-anyway to keep it as it is');
    const next = await ask(() =>
      prompts().then(({ select }) =>
        select({
          message: 'The connection did not work. What now?',
          choices: [
            { value: 'fix', name: 'Fix it: answer again' },
            { value: 'save', name: 'Save anyway (test it later with b2betl connections test)' },
            { value: 'cancel', name: 'Cancel: write nothing' },
          ],
        }),
      ),
    );
    if (next === 'save') return { name: created.name, created };
    if (next === 'cancel') throw new Cancelled('cancelled');
  }
}

async function testExisting(config: LoadedConfig, name: string, flags: InitFlags, asker: Asker): Promise<void> {
  const result = await probeConnection(config, name);
  reportProbe(result);
  if (result.ok || flags.saveAnyway) return;
  if (!asker.interactive) throw new EtlError(`connection ${name} failed its test: ${result.detail}`, result.hint);
  const go = await asker.confirm(() => prompts().then(({ confirm }) => confirm({ message: 'Continue with this connection anyway?', default: false })), false);
  if (!go) throw new EtlError(`connection ${name} failed its test: ${result.detail}`, result.hint ?? `fix it in ${shortPath(config.file ?? 'etl.config.yaml')}, then run b2betl init again`);
}

function reportProbe(result: Awaited<ReturnType<typeof probeConnection>>): void {
  if (result.ok) say(`✔ ${result.name} works (${formatDuration(result.ms)}): ${result.detail}`);
  else say(`✖ ${result.name} failed (${formatDuration(result.ms)}): ${result.detail}${result.hint ? `\n  → ${result.hint}` : ''}`);
}

/** The questions of a new connection, by type; secrets become `${VAR}` references. */
async function newConnection(config: LoadedConfig, flags: InitFlags, asker: Asker): Promise<NewConnection> {
  const { input, password, select } = await prompts();
  const inferred = flags.url ? (/^mysql|^mariadb/i.test(flags.url) ? 'mysql' : 'postgres') : flags.path ? 'local' : undefined;
  const type = await asker.answer('--type', flags.type ?? inferred, () => select({ message: 'Connection type', choices: SOURCE_TYPES.map((value) => ({ value, name: value })) }), {
    check: (value) => (SOURCE_TYPES.includes(value as never) ? undefined : `use one of: ${SOURCE_TYPES.join(', ')}`),
  });
  const taken = (value: string) =>
    !CONNECTION_NAME.test(value) ? 'use letters, digits, _ and - only' : config.connections[value] ? `a connection named ${value} already exists` : undefined;
  const suggested = suggestName(type, flags, config);
  const name = await asker.answer('--connection', flags.connection, () => ask(() => input({ message: 'Name of the new connection', default: suggested, validate: (value) => taken(value.trim()) ?? true })).then((v) => v.trim()), {
    fallback: suggested,
    check: taken,
  });
  const env: Record<string, string> = {};
  const envName = (key: string) => `${name.toUpperCase().replace(/[^A-Z0-9]+/g, '_')}_${key}`;
  /** Asks for a secret and the variable that will hold it; returns `${VAR}`. */
  const secret = async (label: string, key: string, optional: boolean): Promise<string | undefined> => {
    const variable = flags.passwordEnv;
    if (variable !== undefined) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(variable)) throw ConfigError.of(`--password-env ${variable} is not a variable name`);
      if (process.env[variable] === undefined) throw ConfigError.of(`--password-env ${variable}: the variable is not set`, `export ${variable}=… first (its value is never written to a file)`);
      env[variable] = process.env[variable]!;
      return `\${${variable}}`;
    }
    if (!asker.interactive) {
      if (optional) return undefined;
      throw missing('--password-env', `${label} is a secret: give the name of the environment variable holding it`);
    }
    const value = await ask(() => password({ message: `${label}${optional ? ' (empty: none)' : ''}`, mask: '*' }));
    if (!value) return undefined;
    const chosen = await ask(() =>
      input({
        message: `Environment variable to read it from (its value is never written to a file)`,
        default: envName(key),
        validate: (text) => (/^[A-Za-z_][A-Za-z0-9_]*$/.test(text.trim()) ? true : 'letters, digits and _, not starting with a digit'),
      }),
    );
    env[chosen.trim()] = value;
    return `\${${chosen.trim()}}`;
  };
  const fill = (entry: Record<string, unknown>): Record<string, unknown> =>
    Object.fromEntries(Object.entries(entry).map(([key, value]) => [key, typeof value === 'string' ? value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, v: string) => env[v] ?? '') : value]));
  const text = (flag: string, given: string | undefined, message: string, options: { fallback?: string; check?: (v: string) => string | undefined; default?: string } = {}) =>
    asker.answer(flag, given, () => ask(() => input({ message, default: options.default ?? options.fallback, validate: (value) => options.check?.(value.trim()) ?? true })).then((v) => v.trim()), options);

  let entry: Record<string, unknown>;
  switch (type) {
    case 'postgres':
    case 'mysql': {
      const scheme = type === 'postgres' ? 'postgres' : 'mysql';
      const urlText = await text('--url', flags.url, `Server URL (${scheme}://user@host:${type === 'postgres' ? 5432 : 3306}/database)`, { check: (value) => urlProblem(value, scheme) });
      const url = new URL(urlText);
      entry = {
        type,
        host: url.hostname.replace(/^\[|\]$/g, ''),
        ...(url.port ? { port: Number(url.port) } : {}),
        ...(url.username ? { user: decodeURIComponent(url.username) } : {}),
        ...(url.pathname.length > 1 ? { database: decodeURIComponent(url.pathname.slice(1)) } : {}),
      };
      if (url.password) {
        // A password typed into the URL still goes to a variable, never into the file.
        const variable = flags.passwordEnv ?? envName('PASSWORD');
        env[variable] = decodeURIComponent(url.password);
        say(`the password in the URL goes to \${${variable}}: export ${variable}=… where b2betl runs`);
        entry.password = `\${${variable}}`;
      } else {
        const reference = await secret(`Password for ${url.username || 'the user'}`, 'PASSWORD', true);
        if (reference) entry.password = reference;
      }
      break;
    }
    case 'local': {
      const folder = await text('--path', flags.path, 'Folder holding the files', {
        check: (value) => {
          const full = path.resolve(config.baseDir, value || '.');
          return existsSync(full) && statSync(full).isDirectory() ? undefined : `${full} is not a folder`;
        },
      });
      entry = { type, path: folder };
      break;
    }
    case 'gcs':
    case 's3': {
      const bucket = await text('--bucket', flags.bucket, 'Bucket', { check: (value) => (/^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/.test(value) ? undefined : 'a bucket name: lowercase letters, digits, - _ . (no gs:// or s3://)') });
      const prefix = await text('--prefix', flags.prefix, 'Folder inside the bucket (empty: the whole bucket)', { fallback: '' });
      entry = { type, bucket, ...(prefix ? { prefix } : {}) };
      if (type === 's3') {
        entry.region = await text('--region', undefined, 'Region', { fallback: 'us-east-1' });
        const keyId = asker.interactive && !asker.acceptDefaults ? await ask(() => input({ message: 'Access key id (empty: the default AWS credential chain)' })) : '';
        if (keyId.trim()) {
          entry.access_key_id = keyId.trim();
          const reference = await secret('Secret access key', 'SECRET_ACCESS_KEY', false);
          if (reference) entry.secret_access_key = reference;
        }
      }
      break;
    }
    case 'azure': {
      const container = await text('--bucket', flags.bucket, 'Container', { check: (value) => (/^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/.test(value) ? undefined : 'a container name: 3-63 lowercase letters, digits and -') });
      const prefix = await text('--prefix', flags.prefix, 'Folder inside the container (empty: all of it)', { fallback: '' });
      const reference = await secret('Connection string', 'CONNECTION_STRING', false);
      entry = { type, container, ...(prefix ? { prefix } : {}), ...(reference ? { connection_string: reference } : {}) };
      break;
    }
    case 'bigquery': {
      const project = await text('--project', flags.project, 'Google Cloud project id');
      const dataset = await text('--dataset', flags.dataset, 'Dataset');
      entry = { type, project, dataset };
      break;
    }
    case 'firestore': {
      const project = await text('--project', flags.project, 'Google Cloud project id');
      entry = { type, project };
      break;
    }
    default:
      throw ConfigError.of(`--type ${type} is not a source type`, `use one of: ${SOURCE_TYPES.join(', ')}`);
  }
  const filled = fill(entry);
  const resolved = (filled.type === 'local' ? { ...filled, path: path.resolve(config.baseDir, String(filled.path)) } : filled) as ConnectionConfig;
  return { name, entry, config: resolved, env };
}

function urlProblem(value: string, scheme: string): string | undefined {
  try {
    const url = new URL(value);
    if (!/^(postgres|postgresql|mysql|mariadb):$/.test(url.protocol) || !url.hostname) throw new Error();
    return undefined;
  } catch {
    return `not a server URL: write it as ${scheme}://user@host:port/database`;
  }
}

function suggestName(type: string, flags: InitFlags, config: LoadedConfig): string {
  let base: string = type;
  try {
    if (flags.url) base = new URL(flags.url).pathname.slice(1) || type;
  } catch {
    // the URL is checked when it is asked for
  }
  if (flags.path) base = path.basename(path.resolve(flags.path)) || type;
  if (flags.bucket) base = flags.bucket;
  base = base.replace(/[^A-Za-z0-9_-]+/g, '_').replace(/^_+|_+$/g, '') || type;
  let name = base;
  for (let i = 2; config.connections[name]; i++) name = `${base}_${i}`;
  return name;
}

// ---------------------------------------------------------------------------------------------
// Step 2: what to load

type SourcePick = JobSpec['source'];

async function chooseSource(connection: string, type: string, opened: OpenedSource, flags: InitFlags, asker: Asker): Promise<SourcePick> {
  if (isStoreType(type)) {
    const files = opened.source as SourceConnector & { matching(pattern: string): AsyncIterable<{ path: string; size: number }> };
    const count = async (pattern: string) => {
      let objects = 0;
      let bytes = 0;
      const examples: string[] = [];
      for await (const object of files.matching(pattern.replace(/^\.?\//, ''))) {
        objects++;
        bytes += object.size;
        if (examples.length < 3) examples.push(object.path);
      }
      return { objects, bytes, examples };
    };
    const everything = await count('**/*');
    say(`${everything.objects} object(s), ${sizeText(everything.bytes)} in ${opened.store?.url('') ?? connection}${everything.examples.length ? `, e.g. ${everything.examples.join(', ')}` : ''}`);
    const problem = async (pattern: string) => {
      if (!pattern) return 'give a pattern such as *.csv or exports/**/*.parquet';
      const found = await count(pattern);
      return found.objects ? undefined : `no object matches ${pattern}${everything.examples.length ? ` (there are e.g. ${everything.examples.join(', ')})` : ''}`;
    };
    const pattern = await asker.answer(
      '--pattern',
      flags.pattern,
      async () => {
        const { input } = await prompts();
        return (await ask(() => input({ message: 'Files to load (a glob such as *.csv or exports/**/*.parquet)', default: defaultPattern(everything.examples), validate: async (value) => (await problem(value.trim())) ?? true }))).trim();
      },
      { check: problem },
    );
    const found = await count(pattern);
    say(`${pattern} matches ${found.objects} object(s), ${sizeText(found.bytes)}`);
    return { connection, pattern };
  }
  const catalog: CatalogEntry[] = opened.source.catalog ? await opened.source.catalog() : [];
  const key = type === 'firestore' ? 'collection' : 'table';
  const flag = type === 'firestore' ? '--collection' : '--table';
  const given = type === 'firestore' ? flags.collection : flags.table;
  const value = await asker.answer(flag, given, async () => {
    const { input, select } = await prompts();
    if (!catalog.length) {
      say(`no ${type === 'firestore' ? 'collections' : 'tables or views'} are listed for this connection`);
      return (await ask(() => input({ message: type === 'firestore' ? 'Collection path' : 'Table (schema.table)', validate: (v) => (v.trim() ? true : 'give a name') }))).trim();
    }
    return ask(() =>
      select({
        message: type === 'firestore' ? 'Which collection?' : 'Which table or view?',
        pageSize: 12,
        choices: catalog.map((entry) => ({ value: entry.name, short: entry.name, name: `${entry.name}  ${entry.kind}${entry.rows !== undefined ? `, ~${entry.rows.toLocaleString('en-US')} rows` : ''}` })),
      }),
    );
  });
  return { connection, [key]: value };
}

function defaultPattern(examples: readonly string[]): string | undefined {
  const first = examples[0];
  if (!first) return undefined;
  const dir = path.posix.dirname(first);
  const ext = path.posix.extname(first.replace(/\.gz$/i, ''));
  return `${dir === '.' ? '' : `${dir}/`}*${ext}${/\.gz$/i.test(first) ? '.gz' : ''}`;
}

function describeSource(source: SourcePick): string {
  return source.table ?? source.collection ?? source.pattern ?? source.connection;
}

// ---------------------------------------------------------------------------------------------
// Step 3: preview and columns

async function showPreview(source: SourceConnector, spec: JobSpec, columns: readonly SourceColumn[]): Promise<void> {
  const { rows } = schemaReport(columns, undefined, new Map(), '');
  if (source.preview) {
    const sample = await source.preview(spec, PREVIEW_ROWS);
    if (sample.rows.length) {
      say(`first ${sample.rows.length} row(s):`);
      const types = new Map(columns.map((column) => [column.name, column.type]));
      say(renderTable(sample.fields, sample.rows.map((row) => row.map((value, i) => cellText(value, types.get(sample.fields[i]))))));
      say();
    } else say('no rows to preview yet');
  }
  say(renderColumns(rows));
}

/** A value as the preview shows it: timestamps as text, long values cut. */
function cellText(value: unknown, type?: string): string {
  if (value === null || value === undefined) return '';
  const text = typeof value === 'bigint' && type === 'TIMESTAMP'
    ? formatTimestamp(value).replace(/\.000000Z$/, 'Z')
    : typeof value === 'bigint' && type === 'DATETIME'
      ? formatDatetime(value).replace(/\.000000$/, '')
      : typeof value === 'bigint' && type === 'DATE'
        ? formatDate(value)
        : typeof value === 'number' && type === 'DATE'
          ? daysToDate(value)
          : value instanceof Date ? value.toISOString() : value instanceof Uint8Array ? `<${value.length} bytes>` : typeof value === 'object' ? JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) : String(value);
  return text.length > 24 ? `${text.slice(0, 23)}…` : text;
}

async function chooseColumns(columns: readonly SourceColumn[], flags: InitFlags, asker: Asker): Promise<string[] | undefined> {
  const names = columns.map((column) => column.name);
  const check = (list: string[]) => {
    const unknown = list.filter((name) => !names.includes(name));
    return unknown.length ? `${unknown.join(', ')} not among the columns: ${names.join(', ')}` : list.length ? undefined : 'name at least one column';
  };
  const picked = await asker.answer(
    '--columns',
    flags.columns === undefined ? undefined : splitList(flags.columns),
    async () => {
      const { checkbox } = await prompts();
      return ask(() =>
        checkbox({
          message: 'Columns to load (space toggles, enter confirms)',
          pageSize: 15,
          required: true,
          choices: columns.map((column) => ({ value: column.name, name: `${column.name}  ${column.type}`, short: column.name, checked: true })),
        }),
      );
    },
    { fallback: names, check },
  );
  return picked.length === names.length ? undefined : names.filter((name) => picked.includes(name));
}

function splitList(text: string): string[] {
  return text
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean);
}

// ---------------------------------------------------------------------------------------------
// Step 4: strategy, cursor, key, destination

async function chooseLoad(source: SourceConnector, spec: JobSpec, type: string, columns: readonly SourceColumn[], flags: InitFlags, asker: Asker): Promise<JobSpec['load']> {
  const files = isStoreType(type);
  // The time of the extraction itself (Firestore's _extracted_at) is the run's, not the data's: never a cursor.
  const candidates = files ? [] : columns.filter((column) => CURSOR_CANDIDATES.has(column.type) && !column.repeated && column.sourceType !== 'extraction time');
  const strategies = [
    { value: 'transactional', short: 'transactional', name: files ? 'transactional: append new and changed files each run' : 'transactional: append rows whose cursor grew since the last run' },
    { value: 'catalog', short: 'catalog', name: 'catalog: replace the whole table with a snapshot each run' },
    { value: 'merge', short: 'merge', name: files ? 'merge: upsert by primary key, from new and changed files' : 'merge: upsert by primary key the rows whose cursor grew' },
  ].filter((choice) => files || choice.value === 'catalog' || candidates.length > 0);
  const timestamp = candidates.find((column) => column.type === 'TIMESTAMP' || column.type === 'DATETIME');
  const fallback = files || timestamp ? 'transactional' : 'catalog';
  const strategy = (await asker.answer('--strategy', flags.strategy, () => ask(() => prompts().then(({ select }) => select({ message: 'How should it load?', choices: strategies, default: fallback }))), {
    fallback,
    check: (value) =>
      !['transactional', 'catalog', 'merge'].includes(value)
        ? 'use transactional, catalog or merge'
        : !strategies.some((choice) => choice.value === value)
          ? `${value} follows a cursor, and no column of ${describeSource(spec.source)} is a timestamp, date or number`
          : undefined,
  })) as JobSpec['load']['strategy'];
  const load: Record<string, unknown> = { strategy };
  if (strategy !== 'catalog' && !files) {
    const ranges = new Map<string, string>();
    if (source.range) {
      await Promise.all(
        candidates.slice(0, 12).map(async (column) => {
          const range = await source.range!(spec, column.name).catch(() => undefined);
          ranges.set(column.name, range ? `${range.min} … ${range.max}` : 'no values yet');
        }),
      );
    }
    const preferred = timestamp?.name ?? candidates[0]?.name;
    const cursor = await asker.answer(
      '--cursor',
      flags.cursor,
      () =>
        ask(() =>
          prompts().then(({ select }) =>
            select({
              message: 'Cursor: the column that grows as rows are added or changed',
              default: preferred,
              choices: candidates.map((column) => ({ value: column.name, short: column.name, name: `${column.name}  ${column.type}  ${ranges.get(column.name) ?? ''}`.trimEnd() })),
            }),
          ),
        ),
      { fallback: preferred, check: (value) => (candidates.some((column) => column.name === value) ? undefined : `not a timestamp, date or number column; use one of: ${candidates.map((c) => c.name).join(', ')}`) },
    );
    load.cursor = cursor;
    const cursorType = candidates.find((column) => column.name === cursor)!.type;
    const start = await asker.answer(
      '--start',
      flags.start,
      () => ask(() => prompts().then(({ input }) => input({ message: `Load from (a ${cursorType === 'INT64' || cursorType === 'NUMERIC' ? 'number' : 'date such as 2024-01-01'}; empty: from the first row)`, validate: (value) => startProblem(value.trim(), cursorType) ?? true }))).then((v) => v.trim()),
      { fallback: '', check: (value) => startProblem(value, cursorType) },
    );
    if (start) load.start = start;
  }
  if (strategy === 'merge') {
    const declared = source.primaryKey ? await source.primaryKey(spec).catch(() => []) : [];
    const names = columns.map((column) => column.name);
    const key = await asker.answer(
      '--primary-key',
      flags.primaryKey === undefined ? undefined : splitList(flags.primaryKey),
      () =>
        ask(() =>
          prompts().then(({ checkbox }) =>
            checkbox({
              message: `Primary key${declared.length ? ` (the source declares ${declared.join(', ')})` : ''}`,
              required: true,
              choices: names.map((name) => ({ value: name, name, checked: declared.includes(name) })),
            }),
          ),
        ),
      {
        fallback: declared.length ? declared : undefined,
        check: (value) => (value.length === 0 ? 'name at least one column' : value.filter((name) => !names.includes(name)).length ? `not among the columns: ${names.join(', ')}` : undefined),
      },
    );
    load.primary_key = key;
  }
  return draftSpec({ name: 'init', source: spec.source, load }).load;
}

function startProblem(value: string, type: string): string | undefined {
  if (!value) return undefined;
  if (type === 'INT64' || type === 'NUMERIC') return /^-?\d+(\.\d+)?$/.test(value) ? undefined : `"${value}" is not a number`;
  return /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(value) && !Number.isNaN(Date.parse(value.replace(' ', 'T')))
    ? undefined
    : `"${value}" is not a date: write 2024-01-01 or 2024-01-01T00:00:00Z`;
}

async function chooseDestination(
  config: LoadedConfig,
  spec: JobSpec,
  columns: readonly SourceColumn[],
  source: SourcePick,
  flags: InitFlags,
  asker: Asker,
): Promise<{ connection: string; table: string }> {
  const destinations = Object.entries(config.connections).filter(([, connection]) => DESTINATION_TYPES.has(connection.type));
  const connection = await asker.answer(
    '--destination',
    flags.destination,
    () =>
      ask(() =>
        prompts().then(({ select }) =>
          select({
            message: 'Load into which destination?',
            default: config.defaultDestination,
            choices: destinations.map(([name, c]) => ({ value: name, short: name, name: `${name}  (${c.type}, ${where(c)})${name === config.defaultDestination ? ', the default' : ''}` })),
          }),
        ),
      ),
    { fallback: config.defaultDestination, check: (value) => (destinations.some(([name]) => name === value) ? undefined : `not a destination; use one of: ${destinations.map(([name]) => name).join(', ')}`) },
  );
  const suggested = await freeTable(config, spec, connection, defaultTable(source));
  for (;;) {
    const table = await asker.answer(
      '--dest-table',
      flags.destTable,
      () => ask(() => prompts().then(({ input }) => input({ message: 'Destination table (new or existing)', default: suggested, validate: (value) => (TABLE.test(value.trim()) ? true : 'letters, digits and _, not starting with a digit') }))).then((v) => v.trim()),
      { fallback: suggested, check: (value) => (TABLE.test(value) ? undefined : 'use letters, digits and _ only, not starting with a digit') },
    );
    const job = draftJob(config, { ...spec, name: 'init', destination: { connection, table } });
    const destination = await openDestination(job, silentLogger, { readOnly: true });
    let report;
    try {
      const existing = await destination.describe(table);
      report = schemaReport(columns, existing, new Map(), destination.locate(table), spec.load.strategy).report;
    } finally {
      await destination.close().catch(() => undefined);
    }
    if (!report) {
      say(`${connection}.${table} does not exist yet: the first run creates it`);
      return { connection, table };
    }
    say(renderReport(report).join('\n'));
    if (report.compatible) {
      const go = await asker.confirm(() => prompts().then(({ confirm }) => confirm({ message: `Load into the existing table ${table}?`, default: true })), true);
      if (go) return { connection, table };
      if (flags.destTable !== undefined) throw new Cancelled('cancelled');
      continue;
    }
    if (flags.destTable !== undefined || !asker.interactive) {
      throw ConfigError.of(`--dest-table ${table}: the existing table does not fit: ${report.reasons.join('; ')}`, 'load into a new table, or change the columns or the strategy');
    }
    say('pick another table, or go back with Ctrl-C');
  }
}

/** `base`, or `base_2`, `base_3`… when a table of that name exists: a default never lands in another job's table. */
async function freeTable(config: LoadedConfig, spec: JobSpec, connection: string, base: string): Promise<string> {
  const destination = await openDestination(draftJob(config, { ...spec, name: 'init', destination: { connection, table: base } }), silentLogger, { readOnly: true });
  try {
    for (let i = 1; i < 100; i++) {
      const name = i === 1 ? base : `${base}_${i}`;
      if (!(await destination.describe(name))) return name;
    }
    return base;
  } finally {
    await destination.close().catch(() => undefined);
  }
}

function defaultTable(source: SourcePick): string {
  const raw = source.table?.split('.').at(-1) ?? source.collection?.split('/').at(-1) ?? patternStem(source.pattern ?? 'files');
  const name = sanitizeName(raw).replace(/^(\d)/, '_$1');
  return TABLE.test(name) ? name : 'data';
}

function patternStem(pattern: string): string {
  const file = pattern.split('/').at(-1) ?? pattern;
  const stem = file.replace(/\.(csv|tsv|jsonl?|ndjson|parquet)(\.gz)?$/i, '').replace(/[*?[\]{}!]+/g, ' ').trim().replace(/[\s_-]+$/, '');
  return stem || pattern.split('/').filter((part) => part && !/[*?[\]{}!]/.test(part)).at(-1) || 'files';
}

// ---------------------------------------------------------------------------------------------
// Step 5: the schedule

async function chooseSchedule(flags: InitFlags, asker: Asker): Promise<{ cron?: string; timezone: string; text?: string }> {
  const machine = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  const pick: SchedulePick = flags.schedule !== undefined
    ? parseSchedule(flags.schedule)
    : await asker.answer<SchedulePick>('--schedule', undefined, async () => {
        const { input, select } = await prompts();
        const kind = await ask(() =>
          select({
            message: 'When should it run?',
            choices: [
              { value: 'none', name: 'No schedule (run it yourself, or from CI)' },
              { value: 'hourly', name: 'Hourly' },
              { value: 'daily', name: 'Daily at…' },
              { value: 'weekly', name: 'Weekly on…' },
              { value: 'cron', name: 'Custom cron expression' },
            ],
          }),
        );
        const at = () => ask(() => input({ message: 'At (HH:MM, 24-hour)', default: '06:00', validate: (value) => timeOfDayProblem(value) ?? true })).then((v) => v.trim());
        switch (kind) {
          case 'daily':
            return { kind, at: await at() };
          case 'weekly': {
            const day = await ask(() => select({ message: 'On', choices: WEEKDAY_CHOICES }));
            return { kind, day, at: await at() };
          }
          case 'cron':
            return { kind, cron: (await ask(() => input({ message: 'Cron (minute hour day-of-month month day-of-week)', validate: (value) => unixCronProblem(value.trim()) ?? true }))).trim() };
          default:
            return { kind: kind as 'none' | 'hourly' };
        }
      }, { fallback: { kind: 'none' } });
  const cron = cronOf(pick);
  if (!cron) {
    say('no schedule: run it with b2betl run (add a schedule: block later for Cloud Scheduler)');
    return { timezone: machine };
  }
  const timezone = await asker.answer(
    '--timezone',
    flags.timezone,
    () => ask(() => prompts().then(({ input }) => input({ message: 'Time zone', default: machine, validate: (value) => timeZoneProblem(value.trim()) ?? true }))).then((v) => v.trim()),
    { fallback: machine, check: timeZoneProblem },
  );
  const fires = nextFires(cron, timezone, 3);
  say(`${describeSchedule(pick, timezone)} (cron "${cron}"); next: ${fires.map((date) => formatInZone(date, timezone)).join(', ')}`);
  return { cron, timezone, text: describeSchedule(pick, timezone) };
}

// ---------------------------------------------------------------------------------------------
// Writing, validating, running

function defaultJobName(table: string): string {
  return table.toLowerCase().replace(/[^a-z0-9_-]+/g, '_');
}

function nameProblem(name: string, jobsDir: string, force?: boolean): string | undefined {
  if (!NAME.test(name)) return 'use lowercase letters, digits, _ and - only';
  const file = path.join(jobsDir, `${name}.yaml`);
  if (existsSync(file) && !force) return `${shortPath(file)} exists (--force overwrites it)`;
  const other = fileUsingName(name, jobsDir);
  return other ? `${shortPath(other)} already has a job named ${name}` : undefined;
}

async function writePlan(plan: Plan): Promise<void> {
  const { configFile, created, spec, file } = plan;
  const original = existsSync(configFile) ? await readFile(configFile, 'utf8') : undefined;
  let configText = original;
  if (created) {
    const header = original ?? '# b2betl configuration: connections, the default destination, the ledger. See README, "Configuration".\n';
    const secrets = Object.keys(created.env);
    const comment = `${created.entry.type} connection added by b2betl init${secrets.length ? `; export ${secrets.join(', ')} where b2betl runs` : ''}`;
    configText = addEntry(header, ['connections'], created.name, created.entry, configFile, comment);
    for (const [variable, value] of Object.entries(created.env)) process.env[variable] ??= value;
  }
  const jobText = renderJob(spec, { sourceType: plan.sourceType, destinationType: plan.destinationType, schedule: plan.scheduleText });
  await mkdir(path.dirname(file), { recursive: true });
  const staged = path.join(path.dirname(file), `.${spec.name}.yaml.init-${process.pid}`);
  await writeFile(staged, jobText);
  try {
    if (configText !== original) await writeFile(configFile, configText!);
    await loadJobs([staged], { configFile });
  } catch (error) {
    await rm(staged, { force: true });
    if (configText !== original) {
      if (original === undefined) await rm(configFile, { force: true });
      else await writeFile(configFile, original);
    }
    if (error instanceof ConfigError) throw new ConfigError(error.issues, 'the answers did not make a valid job; nothing was written');
    throw error;
  }
  await rename(staged, file);
  say();
  if (created) say(`added connection ${created.name} to ${shortPath(configFile)}${Object.keys(created.env).length ? ` (its secret is read from $${Object.keys(created.env).join(', $')}; the value was not written)` : ''}`);
  say(`wrote ${shortPath(file)}; it validates`);
}

/** A job file of the folder (other than `<name>.yaml`) that already uses the name. */
function fileUsingName(name: string, jobsDir: string): string | undefined {
  let entries: string[];
  try {
    entries = readdirSync(jobsDir);
  } catch {
    return undefined;
  }
  const pattern = new RegExp(`^name:\\s*["']?${name}["']?\\s*(#.*)?$`, 'm');
  return entries
    .filter((entry) => /\.ya?ml$/i.test(entry) && entry !== `${name}.yaml` && !entry.startsWith('.'))
    .map((entry) => path.join(jobsDir, entry))
    .find((file) => pattern.test(readFileSync(file, 'utf8')));
}

async function offerRuns(plan: Plan, flags: InitFlags, asker: Asker): Promise<number> {
  const relative = shortPath(plan.file);
  const run = (await import('./run.js')).default;
  const configArg = { config: plan.configFile };
  let code: number = ExitCode.ok;
  const dry = flags.dryRun ?? (await asker.confirm(() => prompts().then(({ confirm }) => confirm({ message: 'Show what a run would do (--dry-run)?', default: true })), false));
  if (dry) {
    say(`\n$ b2betl run ${relative} --dry-run`);
    code = await run([plan.file], { ...configArg, dryRun: true }).catch((error: unknown) => {
      say(`error: ${messageOf(error)}`);
      return ExitCode.failed;
    });
  }
  const real = flags.run ?? (await asker.confirm(() => prompts().then(({ confirm }) => confirm({ message: 'Run it now?', default: true })), false));
  if (real) {
    say(`\n$ b2betl run ${relative}`);
    code = await run([plan.file], configArg).catch((error: unknown) => {
      say(`error: ${messageOf(error)}`);
      return ExitCode.failed;
    });
  }
  say(`\nnext: b2betl run ${relative}${plan.spec.schedule ? ' · b2betl schedule apply (Cloud Scheduler) or b2betl schedule run-local' : ''} · b2betl jobs list`);
  return code;
}
