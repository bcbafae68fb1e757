/** Opening a job's source and destination connectors from its resolved connections. */
import type { LoadedJob } from './config.js';
import { isStoreType, resolveConnection } from './config.js';
import type { DestinationConnector, ObjectStore, SourceConnector } from './connector.js';
import { ConfigError } from './errors.js';
import type { Logger } from './log.js';
import { connectorFor } from './registry.js';

/** A job's source, with the store behind it for file sources. */
export interface OpenedSource {
  readonly source: SourceConnector;
  /** Connection name, the key processed files are kept under. */
  readonly connection: string;
  readonly store?: ObjectStore;
}

/** Opens an object store by connection name (file sources, `inspect-schema`). */
export async function openStore(job: LoadedJob, log: Logger): Promise<ObjectStore> {
  const config = resolveConnection(job.config, job.spec.source.connection);
  const factories = await connectorFor(config.type);
  if (!factories.store) throw ConfigError.of(`connection type ${config.type} is not a file store`);
  return factories.store({ name: job.spec.source.connection, config, baseDir: job.config.baseDir, log });
}

/** Opens the job's source: a database, Firestore, BigQuery, or files in a store. */
export async function openSource(job: LoadedJob, log: Logger): Promise<OpenedSource> {
  const connection = job.spec.source.connection;
  if (isStoreType(job.sourceConnection.type)) {
    const store = await openStore(job, log);
    const { FilesSource } = await import('../../connectors/sources/files/files-source.js');
    return { source: new FilesSource(store), connection, store };
  }
  const config = resolveConnection(job.config, connection);
  const factories = await connectorFor(config.type);
  if (!factories.source) throw ConfigError.of(`connection ${connection} (${config.type}) cannot be a source`);
  return { source: await factories.source({ name: connection, config, baseDir: job.config.baseDir, log }), connection };
}

/** Opens the job's destination. With `readOnly`, nothing is created (dry runs, inspection). */
export async function openDestination(job: LoadedJob, log: Logger, options: { readOnly?: boolean; runId?: string } = {}): Promise<DestinationConnector> {
  const config = resolveConnection(job.config, job.destinationName);
  const factories = await connectorFor(config.type);
  if (!factories.destination) throw ConfigError.of(`connection ${job.destinationName} (${config.type}) cannot be a destination`);
  const holder = options.runId ? { job: job.spec.name, runId: options.runId } : undefined;
  return factories.destination({ name: job.destinationName, config, baseDir: job.config.baseDir, log, readOnly: options.readOnly, holder });
}
