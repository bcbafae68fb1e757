/**
 * Connector lookup by connection type. Built-ins are imported lazily, so a user who never
 * reads Firestore never loads its SDK; connection types that plugins named in the config
 * registered (see plugins.ts) are looked up beside them.
 */
import { ConfigError } from './errors.js';
import type { ConnectorFactories, Engine, EngineFactory } from './connector.js';
import { pluginType } from './plugins.js';

type Loader = () => Promise<ConnectorFactories>;

const builtins: Record<string, Loader> = {
  local: () => import('../../connectors/storage/local/index.js'),
  gcs: () => import('../../connectors/storage/gcs/index.js'),
  s3: () => import('../../connectors/storage/s3/index.js'),
  azure: () => import('../../connectors/storage/azure/index.js'),
  postgres: () => import('../../connectors/sources/postgres/index.js'),
  mysql: () => import('../../connectors/sources/mysql/index.js'),
  firestore: () => import('../../connectors/sources/firestore/index.js'),
  bigquery: async () => ({
    ...(await import('../../connectors/sources/bigquery/index.js')),
    ...(await import('../../connectors/destinations/bigquery/index.js')),
  }),
  duckdb: () => import('../../connectors/destinations/duckdb/index.js'),
};

const overrides = new Map<string, Loader>();

/** Replaces the connectors of a connection type in this process (a program embedding b2betl, tests). */
export function registerConnector(type: string, factories: ConnectorFactories | Loader): void {
  overrides.set(type, typeof factories === 'function' ? factories : async () => factories);
}

/** The connector factories for a connection type. */
export async function connectorFor(type: string): Promise<ConnectorFactories> {
  const plugin = pluginType(type);
  if (plugin) return { source: (context) => plugin.definition.source.open(context) };
  const load = overrides.get(type) ?? builtins[type];
  if (!load) throw ConfigError.of(`no connector for connection type "${type}"`, 'check the type, or add the plugin that provides it under plugins:');
  return load();
}

type EngineLoader = () => Promise<EngineFactory>;

/**
 * Engines in the order they are asked whether they take a job: the first that takes it runs it.
 * Warehouse paths (no rows through this machine, no cluster to start) come before Dataflow.
 */
const builtinEngines: [string, EngineLoader][] = [
  ['bigquery-query', () => import('../../connectors/engines/bigquery-query/index.js')],
  ['bigquery-load', () => import('../../connectors/engines/bigquery-load/index.js')],
  ['firestore-export', () => import('../../connectors/engines/firestore-export/index.js')],
  ['dataflow', () => import('../../connectors/engines/dataflow/index.js')],
];

const engineOverrides = new Map<string, EngineLoader>();

/** Adds an engine, or replaces a built-in one of the same name, in this process. */
export function registerEngine(name: string, factory: EngineFactory | EngineLoader): void {
  engineOverrides.set(name, typeof factory === 'function' ? factory : async () => factory);
}

/** Every engine, in the order they are asked. */
export async function engines(): Promise<Engine[]> {
  const names = [...builtinEngines.map(([name]) => name), ...[...engineOverrides.keys()].filter((name) => !builtinEngines.some(([builtin]) => builtin === name))];
  const loaders = new Map([...builtinEngines, ...engineOverrides]);
  return Promise.all(names.map(async (name) => (await loaders.get(name)!()).engine()));
}
