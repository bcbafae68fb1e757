/**
 * `${VAR}`s of connections and of `deploy:` that were unset when the config loaded: each is
 * read again, and its block validated with it, only when its connection opens or a command
 * deploys.
 */
import path from 'node:path';
import type { z } from 'zod';
import type { LoadedConfig, LoadedJob } from './config.js';
import { formatPath, interpolateText, type Deferred } from './config-yaml.js';
import { ConfigError, UnsetVariableError, type ConfigIssue } from './errors.js';
import { pluginType } from './plugins.js';
import { registerSecrets, secretsOf } from './redact.js';
import { connectionSchema, deploySchema, type ConnectionConfig, type DeployConfig } from './spec.js';

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

/** The key of `deploy:`'s variables in {@link LoadedConfig.pending} (connection names cannot hold a space). */
const DEPLOY = 'deploy block';

/** The deferred variables of the config's connections and of `deploy:`, by connection name (or {@link DEPLOY}). */
export function pendingVariables(deferred: readonly Deferred[], connections: Readonly<Record<string, unknown>>): Map<string, PendingVariable[]> {
  const pending = new Map<string, PendingVariable[]>();
  for (const { path: at, raw: text, unset: names, issue } of deferred) {
    const [section, key] = at[0] === 'deploy' ? [DEPLOY, at.slice(1)] : [String(at[1]), at.slice(2)];
    if (section !== DEPLOY && !connections[section]) continue;
    for (const variable of names) pending.set(section, [...(pending.get(section) ?? []), { variable, key, raw: text, issue: { ...issue, message: `environment variable ${variable} is not set` } }]);
  }
  return pending;
}

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

/** A connection with its relative paths resolved against the config's folder. */
export function resolvePaths(connection: ConnectionConfig, baseDir: string): ConnectionConfig {
  if (connection.type === 'local' || connection.type === 'duckdb') {
    return { ...connection, path: path.resolve(baseDir, connection.path) };
  }
  return connection;
}
