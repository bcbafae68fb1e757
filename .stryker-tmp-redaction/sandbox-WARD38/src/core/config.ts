/**
 * Loading `etl.config.yaml` and job specs: discovery, `${VAR}` interpolation, validation with
 * file:line positions, and the embedded defaults (DuckDB warehouse, local SQLite ledger).
 */
// @ts-nocheck

import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { Document, isPair, isScalar, isSeq, LineCounter, parseDocument, visit, type Node as YamlNode } from 'yaml';
import type { z } from 'zod';
import { ConfigError, type ConfigIssue } from './errors.js';
import { registerSecrets, secretsOf } from './redact.js';
import { configSchema, jobSchema, type ConnectionConfig, type EtlConfig, type JobSpec } from './spec.js';

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

const STORE_TYPES = new Set(['local', 'gcs', 's3', 'azure']);
const DESTINATION_TYPES = new Set(['duckdb', 'bigquery']);
const CONFIG_NAMES = ['etl.config.yaml', 'etl.config.yml'];

/** A parsed YAML file that can map a path back to its line. */
class YamlFile {
  readonly lines = new LineCounter();
  readonly doc: Document;
  constructor(
    readonly file: string,
    text: string,
  ) {
    this.doc = parseDocument(text, { lineCounter: this.lines, prettyErrors: false, uniqueKeys: true });
  }

  /** The 1-based line of the node at `yamlPath`, or of its nearest existing ancestor. */
  lineOf(yamlPath: readonly PropertyKey[]): number | undefined {
    for (let depth = yamlPath.length; depth >= 0; depth--) {
      const node = this.doc.getIn(yamlPath.slice(0, depth) as unknown[], true) as YamlNode | undefined;
      if (node && typeof node === 'object' && 'range' in node && node.range) {
        return this.lines.linePos(node.range[0]).line;
      }
    }
    return undefined;
  }

  issue(yamlPath: readonly PropertyKey[], message: string, fix?: string): ConfigIssue {
    return { file: this.file, path: formatPath(yamlPath), line: this.lineOf(yamlPath), message, fix };
  }

  syntaxIssues(): ConfigIssue[] {
    return this.doc.errors.map((error) => ({
      file: this.file,
      path: '',
      line: error.linePos?.[0].line,
      message: `YAML syntax: ${error.message.split('\n')[0]}`,
      fix: 'fix the YAML syntax at that line (indentation, a missing colon, an unclosed quote)',
    }));
  }

  /** Replaces `${VAR}` in every string scalar; `$${VAR}` stays literal. Unset variables are issues. */
  interpolate(env: NodeJS.ProcessEnv): ConfigIssue[] {
    const issues: ConfigIssue[] = [];
    visit(this.doc, {
      Scalar: (_key, node, ancestry) => {
        if (typeof node.value !== 'string' || !node.value.includes('${')) return;
        node.value = node.value.replace(/(\$?)\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (whole, escape: string, name: string) => {
          if (escape) return whole.slice(1);
          const value = env[name];
          if (value === undefined) {
            const line = node.range ? this.lines.linePos(node.range[0]).line : undefined;
            issues.push({
              file: this.file,
              path: pathOfAncestry(ancestry, node),
              line,
              message: `environment variable ${name} is not set`,
              fix: `export ${name}=... before running, or write $\${${name}} for a literal`,
            });
            return whole;
          }
          return value;
        });
      },
    });
    return issues;
  }

  /** Validates against a zod schema; every problem becomes an issue with its line. */
  validate<T extends z.ZodType>(schema: T): { value?: z.infer<T>; issues: ConfigIssue[] } {
    const result = schema.safeParse(this.doc.toJS({ maxAliasCount: 100 }) ?? {});
    if (result.success) return { value: result.data, issues: [] };
    return { issues: result.error.issues.flatMap((issue) => this.fromZod(issue)) };
  }

  private fromZod(issue: z.core.$ZodIssue): ConfigIssue[] {
    const at = issue.path;
    switch (issue.code) {
      case 'unrecognized_keys':
        return issue.keys.map((key) =>
          this.issue([...at, key], `unknown key "${key}"`, `remove it or correct its spelling (see README, "Reference")`),
        );
      case 'invalid_type':
        if (issue.input === undefined) {
          return [this.issue(at, `missing required key "${String(at.at(-1))}"`, `add ${formatPath(at)}: <${issue.expected}>`)];
        }
        return [this.issue(at, `expected ${issue.expected}, got ${describeInput(issue.input)}`, undefined)];
      case 'invalid_value':
        return [this.issue(at, `invalid value ${describeInput(issue.input ?? this.doc.getIn(at as unknown[]))}`, `use one of: ${issue.values.map(String).join(', ')}`)];
      case 'invalid_union':
        if ('options' in issue && Array.isArray(issue.options)) {
          return [this.issue(at, 'unknown or missing connection type', `use one of: ${issue.options.join(', ')}`)];
        }
        return [this.issue(at, issue.message)];
      default:
        return [this.issue(at, issue.message)];
    }
  }
}

function describeInput(input: unknown): string {
  if (input === null) return 'null';
  if (Array.isArray(input)) return 'a list';
  if (typeof input === 'object') return 'a mapping';
  return JSON.stringify(input);
}

function formatPath(yamlPath: readonly PropertyKey[]): string {
  return yamlPath.map((part) => (typeof part === 'number' ? `[${part}]` : String(part))).join('.').replace(/\.\[/g, '[');
}

/** The YAML path of a node from its ancestry (`connections.pg.url`, `source.columns[1]`). */
function pathOfAncestry(ancestry: readonly unknown[], node: unknown): string {
  const parts: PropertyKey[] = [];
  let child = node;
  for (let i = ancestry.length - 1; i >= 0; i--) {
    const parent = ancestry[i];
    if (isPair(parent) && parent.value === child && isScalar(parent.key)) parts.unshift(String(parent.key.value));
    else if (isSeq(parent)) parts.unshift(parent.items.indexOf(child as never));
    child = parent;
  }
  return formatPath(parts);
}

async function readYaml(file: string, env: NodeJS.ProcessEnv): Promise<{ yaml: YamlFile; issues: ConfigIssue[] }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw ConfigError.of(`cannot read ${file}: ${(error as Error).message}`, 'check the path', file);
  }
  const yaml = new YamlFile(file, text);
  const syntax = yaml.syntaxIssues();
  if (syntax.length) return { yaml, issues: syntax };
  return { yaml, issues: yaml.interpolate(env) };
}

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

  const { yaml, issues } = await readYaml(file, env);
  const { value, issues: invalid } = issues.length ? { value: undefined, issues } : yaml.validate(configSchema);
  const problems = [...invalid];
  if (value) {
    const destination = value.defaults.destination;
    if (destination && !value.connections[destination]) {
      problems.push(yaml.issue(['defaults', 'destination'], `connection "${destination}" is not defined`, `define it under connections, or use one of: ${Object.keys(value.connections).join(', ') || '(none)'}`));
    } else if (destination && !DESTINATION_TYPES.has(value.connections[destination].type)) {
      problems.push(yaml.issue(['defaults', 'destination'], `connection "${destination}" is of type ${value.connections[destination].type}, which is not a destination`, 'use a duckdb or bigquery connection'));
    }
  }
  if (problems.length || !value) throw new ConfigError(problems);
  return withDefaults(value, file, path.dirname(file));
}

function withDefaults(config: EtlConfig, file: string | undefined, baseDir: string): LoadedConfig {
  const connections: Record<string, ConnectionConfig> = {};
  for (const [name, connection] of Object.entries(config.connections)) {
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
  return { config, file, baseDir, connections, defaultDestination, ledger };
}

function resolvePaths(connection: ConnectionConfig, baseDir: string): ConnectionConfig {
  if (connection.type === 'local' || connection.type === 'duckdb') {
    return { ...connection, path: path.resolve(baseDir, connection.path) };
  }
  return connection;
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
      if (!specs.length) throw ConfigError.of(`${arg}: no job files (*.yaml) in this folder`, 'add a job spec, or run `b2betl init`');
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
    const { yaml, issues } = await readYaml(file, env);
    if (issues.length) {
      problems.push(...issues);
      continue;
    }
    const { value: spec, issues: invalid } = yaml.validate(jobSchema);
    if (config instanceof ConfigError) {
      if (!problems.some((issue) => config.issues.includes(issue))) problems.push(...config.issues);
      problems.push(...invalid);
      continue;
    }
    if (!spec) {
      problems.push(...invalid);
      continue;
    }
    const jobProblems = checkJob(spec, config, yaml);
    const previous = names.get(spec.name);
    if (previous) jobProblems.push(yaml.issue(['name'], `job name "${spec.name}" is also used by ${previous}`, 'give each job a unique name'));
    names.set(spec.name, file);
    if (jobProblems.length) {
      problems.push(...jobProblems);
      continue;
    }
    jobs.push(assembleJob(spec, file, config));
  }
  if (problems.length) throw new ConfigError(problems);
  return jobs;
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

/** Cross-checks a job against the config: connections exist and fit the keys used. */
function checkJob(spec: JobSpec, config: LoadedConfig, yaml: YamlFile): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const known = Object.keys(config.connections).join(', ') || '(none)';
  const source = config.connections[spec.source.connection];
  if (!source) {
    issues.push(
      yaml.issue(['source', 'connection'], `connection "${spec.source.connection}" is not defined${config.file ? ` in ${config.file}` : ' (no etl.config.yaml found)'}`, `define it under connections, or use one of: ${known}`),
    );
  } else {
    const s = spec.source;
    const isStore = STORE_TYPES.has(source.type);
    const isDb = source.type === 'postgres' || source.type === 'mysql' || source.type === 'bigquery';
    if (source.type === 'duckdb') issues.push(yaml.issue(['source', 'connection'], 'a duckdb connection is a destination, not a source', 'read from a database, Firestore or a file store'));
    if (isDb && !s.table && !s.query) issues.push(yaml.issue(['source'], `a ${source.type} source needs source.table or source.query`, 'add table: schema.table_name'));
    if (source.type === 'firestore' && !s.collection && !s.collection_group) issues.push(yaml.issue(['source'], 'a firestore source needs source.collection or source.collection_group', 'add collection: users'));
    if (isStore && !s.pattern) issues.push(yaml.issue(['source'], `a ${source.type} source needs source.pattern`, 'add pattern: "*.csv" (globs such as **/*.parquet work)'));
    if (!isStore && (s.pattern || s.format || s.csv)) issues.push(yaml.issue(['source', s.pattern ? 'pattern' : s.format ? 'format' : 'csv'], `file keys do not apply to a ${source.type} connection`, 'remove them, or point source.connection at a file store'));
    if (!isStore && spec.load.strategy !== 'catalog' && !spec.load.cursor) {
      issues.push(yaml.issue(['load', 'cursor'], `${spec.load.strategy} from a ${source.type} source needs load.cursor (a column that grows: updated_at, id)`, 'add cursor: <column>, or use strategy: catalog for full snapshots'));
    }
  }
  const destinationName = spec.destination.connection ?? config.defaultDestination;
  const destination = config.connections[destinationName];
  if (!destination) {
    issues.push(yaml.issue(['destination', 'connection'], `connection "${destinationName}" is not defined`, `define it under connections, or use one of: ${known}`));
  } else if (!DESTINATION_TYPES.has(destination.type)) {
    issues.push(yaml.issue(['destination', 'connection'], `connection "${destinationName}" is of type ${destination.type}, which is not a destination`, 'use a duckdb or bigquery connection'));
  }
  return issues;
}

/** True for connection types whose source is a set of files. */
export function isStoreType(type: string): boolean {
  return STORE_TYPES.has(type);
}
