/**
 * Loading `etl.config.yaml` and job specs: discovery, `${VAR}` interpolation, validation with
 * file:line positions, and the embedded defaults (DuckDB warehouse, local SQLite ledger).
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { Document, isPair, isScalar, isSeq, LineCounter, parseDocument, visit, type Node as YamlNode } from 'yaml';
import type { z } from 'zod';
import { ConfigError, UnsetVariableError, type ConfigIssue } from './errors.js';
import { loadPlugin, pluginType, pluginTypeNames, PluginProblem } from './plugins.js';
import { registerSecrets, secretsOf } from './redact.js';
import { BUILTIN_CONNECTION_TYPES, configOutlineSchema, configSchema, connectionSchema, deploySchema, type DeployConfig, jobSchema, type ConnectionConfig, type EtlConfig, type JobSpec } from './spec.js';

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

/** A `${VAR}` of a connection (or of `deploy:`) that was unset when the config loaded. */
export interface PendingVariable {
  readonly variable: string;
  /** The key inside the connection block (`password`, `ssl.ca`). */
  readonly key: readonly PropertyKey[];
  /** The scalar as written, interpolated again when the connection opens. */
  readonly raw: string;
  /** Where it is written, for messages. */
  readonly issue: ConfigIssue;
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
const VARIABLE = /(\$?)\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** Where a problem's fix is explained, by the kind of file it is in (README headings). */
export const README_SECTION = { config: 'Configuration', job: 'Job specs' } as const;

/** A scalar with `${VAR}` replaced from `env` (`$${VAR}` stays literal); the names of unset ones. */
function interpolateText(text: string, env: NodeJS.ProcessEnv): { value: string; unset: string[] } {
  const unset: string[] = [];
  const value = text.replace(VARIABLE, (whole, escape: string, name: string) => {
    if (escape) return whole.slice(1);
    const found = env[name];
    if (found === undefined) unset.push(name);
    return found ?? whole;
  });
  return { value, unset };
}

/** A scalar left as written because a variable it names was unset. */
interface Deferred {
  readonly path: PropertyKey[];
  readonly raw: string;
  readonly unset: string[];
  readonly issue: ConfigIssue;
}

/** A parsed YAML file that can map a path back to its line. */
class YamlFile {
  readonly lines = new LineCounter();
  readonly doc: Document;
  private readonly text: string;
  /** Paths of scalars that took a variable's value. */
  private readonly interpolated = new Set<string>();
  constructor(
    readonly file: string,
    text: string,
    readonly kind: 'config' | 'job',
  ) {
    this.text = text;
    this.doc = parseDocument(text, { lineCounter: this.lines, prettyErrors: false, uniqueKeys: true });
  }

  /** The text of a 1-based line, without its line break. */
  sourceLine(line: number): string {
    return (this.text.split(/\r?\n/)[line - 1] ?? '').replace(/\t/g, ' ');
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

  /** Syntax errors with file:line:column and the offending line. */
  syntaxIssues(): ConfigIssue[] {
    return this.doc.errors.map((error) => {
      // An unclosed quote or bracket is reported where the text ends: point at what opened it.
      const quote = error.code === 'MISSING_CHAR' ? /closing (["'])quote/.exec(error.message)?.[1] : undefined;
      const bracket = { '}': '{', ']': '[' }[/end with an? ([}\]])/.exec(error.message)?.[1] ?? ''];
      const opener = quote ?? bracket;
      const opened = opener ? this.text.lastIndexOf(opener, error.pos[0] - 1) : -1;
      const at = this.lines.linePos(opened >= 0 ? opened : error.pos[0]);
      return {
        file: this.file,
        path: '',
        line: at?.line,
        column: at?.col,
        source: at ? this.sourceLine(at.line) : undefined,
        message: `YAML syntax: ${error.message.split('\n')[0]}`,
        fix: 'fix the YAML at that line and column (indentation, a missing colon or space after it, an unclosed quote or bracket)',
      };
    });
  }

  /**
   * Replaces `${VAR}` in every string scalar; `$${VAR}` stays literal. An unset variable is an
   * issue, except where `lazy(path)` says the value is needed only later: that scalar stays as
   * written and is returned, to be interpolated again when it is needed.
   */
  interpolate(env: NodeJS.ProcessEnv, lazy: (yamlPath: readonly PropertyKey[]) => boolean): { issues: ConfigIssue[]; deferred: Deferred[] } {
    const issues: ConfigIssue[] = [];
    const deferred: Deferred[] = [];
    visit(this.doc, {
      Scalar: (_key, node, ancestry) => {
        if (typeof node.value !== 'string' || !node.value.includes('${')) return;
        const { value, unset } = interpolateText(node.value, env);
        const at = pathOfAncestry(ancestry, node);
        if (!unset.length) {
          // Never echoed in a message: it may hold a secret.
          if (value !== node.value) this.interpolated.add(formatPath(at));
          node.value = value;
          return;
        }
        const line = node.range ? this.lines.linePos(node.range[0]).line : undefined;
        const issueOf = (name: string): ConfigIssue => ({
          file: this.file,
          path: formatPath(at),
          line,
          message: `environment variable ${name} is not set`,
          fix: `export ${name}=... before running, or write $\${${name}} for a literal`,
        });
        if (lazy(at)) deferred.push({ path: at, raw: node.value, unset, issue: issueOf(unset[0]) });
        else issues.push(...unset.map(issueOf));
      },
    });
    return { issues, deferred };
  }

  /** The document as plain values (aliases expanded). */
  toJS(): unknown {
    return this.doc.toJS({ maxAliasCount: 100 }) ?? {};
  }

  /** Validates `value` (default: the document) against a zod schema; every problem becomes an issue with its line. */
  validate<T extends z.ZodType>(schema: T, value: unknown = this.toJS(), at: readonly PropertyKey[] = []): { value?: z.infer<T>; issues: ConfigIssue[] } {
    const result = schema.safeParse(value);
    if (result.success) return { value: result.data, issues: [] };
    return { issues: result.error.issues.flatMap((issue) => this.fromZod({ ...issue, path: [...at, ...issue.path] } as z.core.$ZodIssue)) };
  }

  private fromZod(issue: z.core.$ZodIssue): ConfigIssue[] {
    const at = issue.path;
    switch (issue.code) {
      case 'unrecognized_keys':
        return issue.keys.map((key) =>
          this.issue([...at, key], `unknown key "${key}"`, `remove it or correct its spelling (see README, "${README_SECTION[this.kind]}")`),
        );
      case 'invalid_type':
        if (this.doc.getIn(at as unknown[]) === undefined) {
          return [this.issue(at, `missing required key "${String(at.at(-1))}"`, `add ${formatPath(at)}: <${issue.expected}>`)];
        }
        return [this.issue(at, `expected ${issue.expected}, got ${this.interpolated.has(formatPath(at)) ? 'text from an environment variable' : describeInput(this.doc.getIn(at as unknown[]))}`, undefined)];
      case 'invalid_value':
        return [this.issue(at, `invalid value ${describeInput(issue.input ?? this.doc.getIn(at as unknown[]))}`, `use one of: ${issue.values.map(String).join(', ')}`)];
      case 'invalid_union':
        if ('options' in issue && Array.isArray(issue.options)) {
          const type = this.doc.getIn([...at, 'type'] as unknown[]);
          return [
            this.issue(
              type === undefined ? at : [...at, 'type'],
              type === undefined ? 'missing connection type' : `unknown connection type ${describeInput(type)}`,
              `use one of: ${[...issue.options, ...pluginTypeNames()].join(', ')}, or add the plugin that provides it under plugins: (docs/plugins.md)`,
            ),
          ];
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
function pathOfAncestry(ancestry: readonly unknown[], node: unknown): PropertyKey[] {
  const parts: PropertyKey[] = [];
  let child = node;
  for (let i = ancestry.length - 1; i >= 0; i--) {
    const parent = ancestry[i];
    if (isPair(parent) && parent.value === child && isScalar(parent.key)) parts.unshift(String(parent.key.value));
    else if (isSeq(parent)) parts.unshift(parent.items.indexOf(child as never));
    child = parent;
  }
  return parts;
}

/** Reads and parses a YAML file; syntax errors come back as issues. */
async function readYaml(file: string, kind: 'config' | 'job'): Promise<{ yaml: YamlFile; issues: ConfigIssue[] }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw ConfigError.of(`cannot read ${file}: ${(error as Error).message}`, 'check the path', file);
  }
  const yaml = new YamlFile(file, text, kind);
  return { yaml, issues: yaml.syntaxIssues() };
}

/** Whether an issue is about a value that holds a deferred `${VAR}` (checked again when it is resolved). */
function aboutDeferred(issue: ConfigIssue, deferred: readonly { path: PropertyKey[] }[]): boolean {
  return deferred.some(({ path: at }) => {
    const where = formatPath(at);
    return issue.path === where || issue.path.startsWith(`${where}.`) || issue.path.startsWith(`${where}[`);
  });
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
    } else if (destination && !DESTINATION_TYPES.has(value.connections[destination].type)) {
      problems.push(yaml.issue(['defaults', 'destination'], `connection "${destination}" is of type ${value.connections[destination].type}, which is not a destination`, 'use a duckdb or bigquery connection'));
    }
  }
  const kept = problems.filter((issue) => !aboutDeferred(issue, deferred));
  if (kept.length || !value) throw new ConfigError(kept);
  const pending = new Map<string, PendingVariable[]>();
  for (const { path: at, raw: text, unset: names, issue } of deferred) {
    const [section, key] = at[0] === 'deploy' ? [DEPLOY, at.slice(1)] : [String(at[1]), at.slice(2)];
    if (section !== DEPLOY && !value.connections[section]) continue;
    for (const variable of names) pending.set(section, [...(pending.get(section) ?? []), { variable, key, raw: text, issue: { ...issue, message: `environment variable ${variable} is not set` } }]);
  }
  return withDefaults(value, file, baseDir, pending, env);
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

/** The key of `deploy:`'s variables in {@link LoadedConfig.pending} (connection names cannot hold a space). */
const DEPLOY = 'deploy block';

/**
 * A connection ready to open: its `${VAR}`s that were unset when the config loaded are read
 * again now, and the block is validated with them. Throws {@link UnsetVariableError} naming the
 * variable, the connection and where it is written when one is still unset.
 */
export function resolveConnection(config: LoadedConfig, name: string): ConnectionConfig {
  const connection = config.connections[name];
  if (!connection || !config.pending?.get(name)?.length) return connection;
  const plugin = pluginType(connection.type);
  const block = resolveSection(config, name, connection, plugin?.schema ?? connectionSchema, ['connections', name], `connection ${name}`);
  registerSecrets(secretsOf(block));
  return resolvePaths(block as ConnectionConfig, config.baseDir);
}

/** The `deploy:` block with its variables read now (the commands that schedule and deploy); undefined when there is none. */
export function resolveDeploy(config: LoadedConfig): DeployConfig | undefined {
  const deploy = config.config.deploy;
  if (!deploy || !config.pending?.get(DEPLOY)?.length) return deploy;
  return resolveSection(config, DEPLOY, deploy, deploySchema, ['deploy'], 'deploy') as DeployConfig;
}

/** A block whose deferred variables are interpolated now and which is then validated. */
function resolveSection(config: LoadedConfig, section: string, block: object, schema: z.ZodType, at: readonly PropertyKey[], needs: string): unknown {
  const pending = config.pending?.get(section) ?? [];
  const env = config.env ?? process.env;
  const missing = pending.filter(({ variable }) => env[variable] === undefined);
  if (missing.length) {
    throw new UnsetVariableError(missing.map(({ variable, issue }) => ({ ...issue, message: `environment variable ${variable} is not set; ${needs} needs it` })));
  }
  const filled = structuredClone(block) as Record<string, unknown>;
  for (const { key, raw } of pending) setIn(filled, key, interpolateText(raw, env).value);
  const result = schema.safeParse(filled);
  if (result.success) return result.data;
  throw new ConfigError(
    result.error.issues.map((issue) => {
      const where = (pending.find(({ key }) => formatPath(key) === formatPath(issue.path)) ?? pending[0]).issue;
      // The value is not shown: it came from a variable and may be a secret.
      const message = issue.code === 'invalid_type' ? `expected ${issue.expected}, got text from an environment variable` : issue.message;
      return { file: where.file, line: where.line, path: formatPath([...at, ...issue.path]), message: `${message} (once its environment variables are read)` };
    }),
  );
}

function setIn(target: Record<string, unknown>, key: readonly PropertyKey[], value: unknown): void {
  let node: Record<PropertyKey, unknown> = target;
  for (const part of key.slice(0, -1)) node = node[part] as Record<PropertyKey, unknown>;
  node[key.at(-1)!] = value;
}

/** Unset variables of the config's connections, as warnings naming the connection that needs each. */
export function pendingWarnings(config: LoadedConfig, jobs: readonly LoadedJob[] = []): ConfigIssue[] {
  const env = config.env ?? process.env;
  return [...(config.pending ?? [])].flatMap(([name, variables]) => {
    const users = jobs.filter((job) => job.config === config && (job.spec.source.connection === name || job.destinationName === name)).map((job) => job.spec.name);
    const needs = name === DEPLOY ? 'deploy: needs it for serve, schedule and deploy commands' : `connection ${name} needs it when it opens${users.length ? ` (jobs ${users.join(', ')})` : ''}`;
    return variables.filter(({ variable }) => env[variable] === undefined).map(({ variable, issue }) => ({ ...issue, message: `environment variable ${variable} is not set: ${needs}` }));
  });
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

/** What the cross-checks read of a job spec. */
interface JobOutline {
  readonly source: Readonly<Record<string, unknown>> & { readonly connection?: unknown };
  /** Undefined when the spec's strategy is invalid (checks that depend on it are skipped). */
  readonly load: { readonly strategy?: string; readonly cursor?: unknown };
  readonly destination: { readonly connection?: unknown };
  readonly engine?: unknown;
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

/**
 * Cross-checks a job against the config: connections exist and fit the keys used. `invalid` are
 * the spec's own problems: a reference already reported there is not reported twice.
 */
function checkJob(spec: JobOutline, config: LoadedConfig, yaml: YamlFile, invalid: readonly ConfigIssue[] = []): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const reported = (at: string) => invalid.some((issue) => issue.path === at);
  const known = Object.keys(config.connections).join(', ') || '(none)';
  const s = spec.source;
  const sourceName = typeof s.connection === 'string' && !reported('source.connection') ? s.connection : undefined;
  const source = sourceName === undefined ? undefined : config.connections[sourceName];
  const strategy = spec.load.strategy;
  if (sourceName !== undefined && !source) {
    issues.push(
      yaml.issue(['source', 'connection'], `connection "${sourceName}" is not defined${config.file ? ` in ${config.file}` : ' (no etl.config.yaml found)'}`, `define it under connections, or use one of: ${known}`),
    );
  } else if (source) {
    const isStore = STORE_TYPES.has(source.type);
    const plugin = pluginType(source.type);
    const isDb = source.type === 'postgres' || source.type === 'mysql' || source.type === 'bigquery';
    if (source.type === 'duckdb') issues.push(yaml.issue(['source', 'connection'], 'a duckdb connection is a destination, not a source', 'read from a database, Firestore or a file store'));
    if (isDb && !s.table && !s.query) issues.push(yaml.issue(['source'], `a ${source.type} source needs source.table or source.query`, 'add table: schema.table_name'));
    if (source.type === 'firestore' && !s.collection && !s.collection_group) issues.push(yaml.issue(['source'], 'a firestore source needs source.collection or source.collection_group', 'add collection: users'));
    if (isStore && !s.pattern) issues.push(yaml.issue(['source'], `a ${source.type} source needs source.pattern`, 'add pattern: "*.csv" (globs such as **/*.parquet work)'));
    if (plugin) {
      const allowed: readonly string[] = ['connection', ...plugin.definition.source.keys];
      for (const key of Object.keys(s).filter((key) => !allowed.includes(key))) {
        issues.push(yaml.issue(['source', key], `source.${key} does not apply to a ${source.type} connection`, `a ${source.type} source reads ${plugin.definition.source.keys.map((k) => `source.${k}`).join(', ') || 'no other source key'}`));
      }
      const requires = plugin.definition.source.requires ?? [];
      if (requires.length && !requires.some((key) => s[key] !== undefined)) {
        issues.push(yaml.issue(['source'], `a ${source.type} source needs ${requires.map((key) => `source.${key}`).join(' or ')}`, `add ${requires[0]}: …`));
      }
    } else if (!isStore && (s.pattern || s.format || s.csv)) {
      issues.push(yaml.issue(['source', s.pattern ? 'pattern' : s.format ? 'format' : 'csv'], `file keys do not apply to a ${source.type} connection`, 'remove them, or point source.connection at a file store'));
    }
    if (!isStore && strategy !== undefined && strategy !== 'catalog' && !spec.load.cursor && !reported('load.cursor')) {
      issues.push(yaml.issue(['load', 'cursor'], `${strategy} from a ${source.type} source needs load.cursor (a column that grows: updated_at, id)`, 'add cursor: <column>, or use strategy: catalog for full snapshots'));
    }
  }
  if (spec.destination.connection !== undefined && (typeof spec.destination.connection !== 'string' || reported('destination.connection'))) return issues;
  const destinationName = (spec.destination.connection as string | undefined) ?? config.defaultDestination;
  const destination = config.connections[destinationName];
  if (!destination) {
    issues.push(yaml.issue(['destination', 'connection'], `connection "${destinationName}" is not defined`, `define it under connections, or use one of: ${known}`));
  } else if (!DESTINATION_TYPES.has(destination.type)) {
    issues.push(yaml.issue(['destination', 'connection'], `connection "${destinationName}" is of type ${destination.type}, which is not a destination`, 'use a duckdb or bigquery connection'));
  } else if (spec.engine === 'dataflow' && !reported('engine')) {
    issues.push(...checkDataflowJob(source, destinationName, destination, config, yaml));
  }
  return issues;
}

/** What `engine: dataflow` needs: a PostgreSQL or MySQL source, a BigQuery destination, the `dataflow:` block. */
function checkDataflowJob(source: ConnectionConfig | undefined, destinationName: string, destination: ConnectionConfig, config: LoadedConfig, yaml: YamlFile): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  if (destination.type !== 'bigquery') {
    issues.push(
      yaml.issue(
        ['engine'],
        `Dataflow loads into BigQuery, but destination ${destinationName} is ${destination.type}, which always loads on this machine`,
        'set engine: auto or local, or point destination.connection at a bigquery connection',
      ),
    );
  }
  if (source && source.type !== 'postgres' && source.type !== 'mysql') {
    issues.push(
      yaml.issue(
        ['engine'],
        `Dataflow reads PostgreSQL and MySQL sources; this job's source is ${source.type}`,
        source.type === 'firestore' ? 'set engine: auto: a large Firestore catalog load goes through managed export by itself' : 'set engine: auto or local',
      ),
    );
  }
  if (!config.config.dataflow) {
    issues.push(
      yaml.issue(
        ['engine'],
        `Dataflow needs a dataflow: block in ${config.file ? path.basename(config.file) : 'etl.config.yaml'}`,
        'add dataflow: {project: my-project, region: europe-west1, temp_location: gs://my-bucket/b2betl-tmp}',
      ),
    );
  }
  return issues;
}

/** True for connection types whose source is a set of files. */
export function isStoreType(type: string): boolean {
  return STORE_TYPES.has(type);
}
