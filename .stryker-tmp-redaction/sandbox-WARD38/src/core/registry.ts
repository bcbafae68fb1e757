/**
 * Connector lookup by connection type. Built-ins are imported lazily, so a user who never
 * reads Firestore never loads its SDK; plugins named in the config register the same way.
 */
// @ts-nocheck

import { ConfigError } from './errors.js';
import type { ConnectorFactories } from './connector.js';

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

const plugins = new Map<string, Loader>();

/** Registers connectors for a connection type (what a plugin package's default export calls). */
export function registerConnector(type: string, factories: ConnectorFactories | Loader): void {
  plugins.set(type, typeof factories === 'function' ? factories : async () => factories);
}

/** Imports plugin packages named in the config; each must export `register(registerConnector)`. */
export async function loadPlugins(names: readonly string[]): Promise<void> {
  for (const name of names) {
    const plugin = (await import(name)) as { register?: (register: typeof registerConnector) => void };
    if (typeof plugin.register !== 'function') {
      throw ConfigError.of(`plugin ${name} does not export register()`, 'a plugin exports `register(registerConnector)`');
    }
    plugin.register(registerConnector);
  }
}

/** The connector factories for a connection type. */
export async function connectorFor(type: string): Promise<ConnectorFactories> {
  const load = plugins.get(type) ?? builtins[type];
  if (!load) throw ConfigError.of(`no connector for connection type "${type}"`, 'check the type, or add the plugin that provides it under plugins:');
  return load();
}
