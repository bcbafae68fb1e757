/**
 * `b2betl init`: a job in five steps (connection, what to load, preview, load, schedule), each
 * question answered on a terminal or by its flag. Nothing is written until every answer is in:
 * then the connection (if new) joins etl.config.yaml, keeping its comments, and the job file is
 * written, validated, and offered a dry run and a run.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { EMBEDDED_DESTINATION, findConfigFile, isStoreType, loadConfig, loadJobs, type LoadedConfig } from '../core/config.js';
import { ConfigError, EtlError, ExitCode, messageOf } from '../core/errors.js';
import { silentLogger } from '../core/log.js';
import { openSource } from '../core/open.js';
import { timeZoneProblem, type JobSpec } from '../core/spec.js';
import { addEntry } from '../core/yaml-edit.js';
import { shortPath, type CommonOptions } from './common.js';
import { Asker, Cancelled, prompts, say } from './init-ask.js';
import { chooseConnection, type NewConnection } from './init-connection.js';
import { draftJob, draftSpec, parseSchedule, renderJob } from './init-files.js';
import { chooseDestination, chooseLoad, TABLE } from './init-load.js';
import { chooseSchedule } from './init-schedule.js';
import { chooseColumns, chooseSource, describeSource, showPreview } from './init-source.js';

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

