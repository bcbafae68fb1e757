/** The BigQuery destination: load jobs into a staging table, one transaction with the marker. */
// @ts-nocheck

import type { ConnectorContext, DestinationConnector } from '../../../src/core/connector.js';

/** Opens the dataset named by a `bigquery` connection as a destination. */
export async function destination(context: ConnectorContext): Promise<DestinationConnector> {
  const { BigQueryDestination } = await import('./bigquery-destination.js');
  return BigQueryDestination.open(context);
}
