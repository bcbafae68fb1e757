/**
 * Loading `etl.config.yaml` and job specs: discovery, validation with file:line positions (the
 * YAML side in config-yaml.ts, the cross-checks of jobs in config-checks.ts), and the embedded
 * defaults (DuckDB warehouse, local SQLite ledger). `${VAR}`s left unset for later are
 * resolved by config-variables.ts.
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { checkJob, isDestinationType, isStoreType, type JobOutline } from './config-checks.js';
import { pendingVariables, resolvePaths, type PendingVariable } from './config-variables.js';
import { aboutDeferred, readYaml, type YamlFile } from './config-yaml.js';
import { ConfigError, type ConfigIssue } from './errors.js';
import { loadPlugin, pluginType, PluginProblem } from './plugins.js';
import { registerSecrets, secretsOf } from './redact.js';
import { BUILTIN_CONNECTION_TYPES, configOutlineSchema, configSchema, connectionSchema, deploySchema, type DeployConfig, jobSchema, type ConnectionConfig, type EtlConfig, type JobSpec } from './spec.js';

export { isStoreType } from './config-checks.js';
export { pendingWarnings, resolveConnection, resolveDeploy, type PendingVariable } from './config-variables.js';

/** The config in force for a set of jobs. */
export interface LoadedConfig {
  readonly config: EtlConfig;
  /** Absolute path of the config file, if one was found. */
  readonly file?: string;
  /** Folder relative paths resolve against. */
  readonly baseDir: string;
  /** Connections by name, the embedded default included. */
  readonly connections: Readonly<Record<string, ConnectionConfig>>;
  /** Name of the destination used when a job names none. */
  readonly defaultDestination: string;
  /** Ledger location: an absolute file path or a gs:// URI. */
  readonly ledger: string;
  /**
   * Environment variables that were unset when the config loaded, by connection name (and for
   * the `deploy:` block): each is required only when its connection opens
   * ({@link resolveConnection}) or a command deploys ({@link resolveDeploy}).
   */
  readonly pending?: ReadonlyMap<string, readonly PendingVariable[]>;
  /** The environment `${VAR}`s are read from. */
  readonly env?: NodeJS.ProcessEnv;
}

/** A validated job with everything it needs resolved. */
export interface LoadedJob {
  readonly spec: JobSpec;
  readonly file: string;
  readonly config: LoadedConfig;
  readonly sourceConnection: ConnectionConfig;
  readonly destinationName: string;
  readonly destinationConnection: ConnectionConfig;
  /** Destination table name (defaults to the job name). */
  readonly table: string;
}

/** Name of the embedded DuckDB destination used when the config names none. */
export const EMBEDDED_DESTINATION = 'warehouse';

const CONFIG_NAMES = ['etl.config.yaml', 'etl.config.yml'];

/** Finds `etl.config.yaml` from `startDir` upward; undefined when there is none. */
export async function findConfigFile(startDir: string): Promise<string | undefined> {
  const { cosmiconfig } = await import('cosmiconfig');
  const explorer = cosmiconfig('etl', {
    searchPlaces: CONFIG_NAMES,
    searchStrategy: 'global',
    stopDir: path.parse(startDir).root,
    loaders: { '.yaml': (filepath) => ({ filepath }), '.yml': (filepath) => ({ filepath }) },
    cache: false,
  });
  const found = await explorer.search(startDir);
  return found?.filepath;
}

/**
 * Loads the config for jobs in `jobDir`: `--config` if given, else the nearest config from the
 * job's folder upward, else from the working directory upward, else the embedded defaults.
 */
export async function loadConfig(options: { configFile?: string; jobDir?: string; cwd?: string; env?: NodeJS.ProcessEnv }): Promise<LoadedConfig> {
  const cwd = options.cwd ?? process.cwd();
  const env = options.env ?? process.env;
  const file = options.configFile
    ? path.resolve(cwd, options.configFile)
    : ((options.jobDir && (await findConfigFile(path.resolve(cwd, options.jobDir)))) ?? (await findConfigFile(cwd)));
  if (!file) return withDefaults(configSchema.parse({}), undefined, cwd);

  const { yaml, issues: syntax } = await readYaml(file, 'config');
  if (syntax.length) throw new ConfigError(syntax);
  // Variables of connections are needed only when the connection opens; every other one now.
  // A variable of a connection is needed only when it opens, of `deploy` only by the commands that deploy.
  const lazy = (at: readonly PropertyKey[]) => (at[0] === 'connections' && at.length >= 3) || (at[0] === 'deploy' && at.length >= 2);
  const { issues: unset, deferred } = yaml.interpolate(env, lazy);
  const problems = [...unset];
  const raw = yaml.toJS() as Record<string, unknown>;
  const baseDir = path.dirname(file);
  problems.push(...(await registerPlugins(yaml, raw.plugins, baseDir)));

  const { value: outline, issues: invalid } = yaml.validate(configOutlineSchema, raw);
  problems.push(...invalid);
  // Each connection against its type's shape (a plugin's keys for its types). A block whose only
  // problems are values still waiting for a variable is checked again when the variable is read.
  const connections: Record<string, ConnectionConfig> = {};
  for (const [name, block] of Object.entries(outline?.connections ?? {})) {
    const type = isRecord(block) ? block.type : undefined;
    const plugin = typeof type === 'string' && !(BUILTIN_CONNECTION_TYPES as readonly string[]).includes(type) ? pluginType(type) : undefined;
    const checked = yaml.validate(plugin?.schema ?? connectionSchema, block, ['connections', name]);
    const real = checked.issues.filter((issue) => !aboutDeferred(issue, deferred));
    problems.push(...real);
    if (checked.value) connections[name] = checked.value as ConnectionConfig;
    else if (!real.length) connections[name] = block as ConnectionConfig;
  }
  let deploy: DeployConfig | undefined;
  if (outline?.deploy !== undefined) {
    const checked = yaml.validate(deploySchema, outline.deploy, ['deploy']);
    const real = checked.issues.filter((issue) => !aboutDeferred(issue, deferred));
    problems.push(...real);
    deploy = checked.value ?? (real.length ? undefined : (outline.deploy as DeployConfig));
  }
  const value: EtlConfig | undefined = outline ? { ...outline, connections, deploy } : undefined;
  if (value) {
    const destination = value.defaults.destination;
    if (destination && !value.connections[destination]) {
      problems.push(yaml.issue(['defaults', 'destination'], `connection "${destination}" is not defined`, `define it under connections, or use one of: ${Object.keys(value.connections).join(', ') || '(none)'}`));
    } else if (destination && !isDestinationType(value.connections[destination].type)) {
      problems.push(yaml.issue(['defaults', 'destination'], `connection "${destination}" is of type ${value.connections[destination].type}, which is not a destination`, 'use a duckdb or bigquery connection'));
    }
  }
  const kept = problems.filter((issue) => !aboutDeferred(issue, deferred));
  if (kept.length || !value) throw new ConfigError(kept);
  return withDefaults(value, file, baseDir, pendingVariables(deferred, value.connections), env);
}

/** Imports the config's plugins; a plugin that is missing or does not register is an issue at its entry. */
async function registerPlugins(yaml: YamlFile, entries: unknown, baseDir: string): Promise<ConfigIssue[]> {
  const list = typeof entries === 'string' ? [entries] : Array.isArray(entries) ? entries : [];
  const issues: ConfigIssue[] = [];
  for (const [index, entry] of list.entries()) {
    if (typeof entry !== 'string' || !entry) continue;
    try {
      await loadPlugin(entry, baseDir);
    } catch (error) {
      if (!(error instanceof PluginProblem)) throw error;
      issues.push(yaml.issue(typeof entries === 'string' ? ['plugins'] : ['plugins', index], error.message, error.fix));
    }
  }
  return issues;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function withDefaults(config: EtlConfig, file: string | undefined, baseDir: string, pending = new Map<string, PendingVariable[]>(), env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const connections: Record<string, ConnectionConfig> = {};
  for (const [name, connection] of Object.entries(config.connections)) {
    // A connection still waiting for a variable is resolved (and its secrets registered) when it opens.
    if (pending.has(name)) {
      connections[name] = connection;
      continue;
    }
    connections[name] = resolvePaths(connection, baseDir);
    registerSecrets(secretsOf(connection));
  }
  let defaultDestination = config.defaults.destination;
  if (!defaultDestination) {
    defaultDestination = EMBEDDED_DESTINATION;
    connections[EMBEDDED_DESTINATION] ??= { type: 'duckdb', path: path.resolve(baseDir, 'warehouse.duckdb') };
  }
  const ledgerSetting = config.ledger ?? './.b2betl/ledger.sqlite';
  const ledger = ledgerSetting.startsWith('gs://') ? ledgerSetting : path.resolve(baseDir, ledgerSetting);
  return { config, file, baseDir, connections, defaultDestination, ledger, pending, env };
}

/** Expands job arguments (files and folders) into job spec files, sorted. */
export async function expandJobFiles(args: readonly string[], cwd = process.cwd()): Promise<string[]> {
  const files: string[] = [];
  for (const arg of args) {
    const full = path.resolve(cwd, arg);
    const info = await stat(full).catch(() => undefined);
    if (!info) throw ConfigError.of(`${arg}: no such file or folder`, 'give a job file (jobs/orders.yaml) or a folder of them');
    if (info.isDirectory()) {
      const entries = await readdir(full, { recursive: true });
      const specs = entries
        .filter((entry) => /\.ya?ml$/i.test(entry) && !CONFIG_NAMES.includes(path.basename(entry)))
        .map((entry) => path.join(full, entry))
        .sort();
      if (!specs.length) throw ConfigError.of(`${arg}: no job files (*.yaml) in this folder`, `add a job spec such as ${path.join(arg, 'orders.yaml')} (see README, "Job specs")`);
      files.push(...specs);
    } else {
      files.push(full);
    }
  }
  return [...new Set(files)];
}

/** Loads and validates job files; all problems of all files are reported together. */
export async function loadJobs(
  files: readonly string[],
  options: { configFile?: string; cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<LoadedJob[]> {
  const env = options.env ?? process.env;
  const configs = new Map<string, LoadedConfig | ConfigError>();
  const jobs: LoadedJob[] = [];
  const problems: ConfigIssue[] = [];
  const names = new Map<string, string>();
  for (const file of files) {
    const dir = path.dirname(file);
    let config = configs.get(dir);
    if (!config) {
      try {
        config = await loadConfig({ configFile: options.configFile, jobDir: dir, cwd: options.cwd, env });
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        config = error;
      }
      configs.set(dir, config);
    }
    if (config instanceof ConfigError && !problems.some((issue) => config.issues.includes(issue))) problems.push(...config.issues);
    const { yaml, issues: syntax } = await readYaml(file, 'job');
    if (syntax.length) {
      problems.push(...syntax);
      continue;
    }
    const jobProblems = [...yaml.interpolate(env, () => false).issues];
    const raw = yaml.toJS();
    const { value: spec, issues: invalid } = yaml.validate(jobSchema, raw);
    jobProblems.push(...invalid);
    // References are checked even when the spec has other problems: one pass reports everything.
    if (!(config instanceof ConfigError)) jobProblems.push(...checkJob(spec ?? outlineOf(raw), config, yaml, invalid));
    const name = spec?.name ?? (isRecord(raw) && typeof raw.name === 'string' ? raw.name : undefined);
    const previous = name === undefined ? undefined : names.get(name);
    if (previous) jobProblems.push(yaml.issue(['name'], `job name "${name}" is also used by ${previous}`, 'give each job a unique name'));
    if (name !== undefined && !previous) names.set(name, file);
    problems.push(...jobProblems);
    if (!jobProblems.length && spec && !(config instanceof ConfigError)) jobs.push(assembleJob(spec, file, config));
  }
  if (problems.length) throw new ConfigError(problems);
  return jobs;
}

/** The outline of a spec that did not validate, read leniently so its references are still checked. */
function outlineOf(raw: unknown): JobOutline {
  const job = isRecord(raw) ? raw : {};
  const source = isRecord(job.source) ? job.source : {};
  const load = isRecord(job.load) ? job.load : {};
  const destination = isRecord(job.destination) ? job.destination : {};
  const strategy = load.strategy === undefined ? 'transactional' : typeof load.strategy === 'string' && ['transactional', 'catalog', 'merge'].includes(load.strategy) ? load.strategy : undefined;
  return { source, load: { strategy, cursor: load.cursor }, destination: { connection: destination.connection }, engine: job.engine };
}

/** A job with its connections resolved (the spec must have passed {@link checkJob}). */
function assembleJob(spec: JobSpec, file: string, config: LoadedConfig): LoadedJob {
  const destinationName = spec.destination.connection ?? config.defaultDestination;
  return {
    spec,
    file,
    config,
    sourceConnection: config.connections[spec.source.connection],
    destinationName,
    destinationConnection: config.connections[destinationName],
    table: spec.destination.table ?? spec.name.replace(/-/g, '_'),
  };
}

/** A job made from command-line flags (`inspect-schema --connection c --table t`). */
export function adHocJob(config: LoadedConfig, source: { connection: string; table?: string; pattern?: string }): LoadedJob {
  const connection = config.connections[source.connection];
  if (!connection) {
    throw ConfigError.of(`connection "${source.connection}" is not defined`, `use one of: ${Object.keys(config.connections).join(', ') || '(none)'}`, config.file ?? '');
  }
  const spec = jobSchema.parse({
    name: 'inspect',
    source: { connection: source.connection, ...(isStoreType(connection.type) ? { pattern: source.pattern ?? source.table ?? '**/*' } : { table: source.table }) },
    load: { strategy: 'catalog' },
    destination: source.table && !isStoreType(connection.type) ? { table: source.table.split('.').at(-1)!.replace(/[^A-Za-z0-9_]/g, '_') } : {},
  });
  return assembleJob(spec, config.file ?? '', config);
}
