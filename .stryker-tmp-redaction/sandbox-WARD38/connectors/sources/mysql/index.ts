/** MySQL and MariaDB: a source of tables and queries. */
// @ts-nocheck

import type { ConnectorContext, SourceConnector } from '../../../src/core/connector.js';

/** Creates the MySQL / MariaDB source (the driver loads only when a mysql connection is used). */
export async function source(context: ConnectorContext): Promise<SourceConnector> {
  const { createMysqlSource } = await import('./mysql-source.js');
  return createMysqlSource(context);
}
