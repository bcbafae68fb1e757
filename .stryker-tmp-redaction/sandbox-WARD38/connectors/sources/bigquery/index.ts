/** The BigQuery source: tables (any project, public datasets) or queries, read with query jobs. */
// @ts-nocheck

import type { ConnectorContext, SourceConnector } from '../../../src/core/connector.js';

/** Opens a `bigquery` connection as a source. */
export async function source(context: ConnectorContext): Promise<SourceConnector> {
  const { BigQuerySource } = await import('./bigquery-source.js');
  return BigQuerySource.open(context);
}
