/** PostgreSQL: a source of tables and queries. */
// @ts-nocheck

import type { ConnectorContext, SourceConnector } from '../../../src/core/connector.js';

/** Creates the PostgreSQL source (the driver loads only when a postgres connection is used). */
export async function source(context: ConnectorContext): Promise<SourceConnector> {
  const { createPostgresSource } = await import('./postgres-source.js');
  return createPostgresSource(context);
}
