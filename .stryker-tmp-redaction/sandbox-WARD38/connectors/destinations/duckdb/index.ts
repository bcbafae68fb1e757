/** The DuckDB destination: the embedded local warehouse. */
// @ts-nocheck

import type { ConnectorContext, DestinationConnector } from '../../../src/core/connector.js';
import { DuckDBDestination } from './duckdb-destination.js';

/** Opens the DuckDB file named by the connection. */
export async function destination(context: ConnectorContext): Promise<DestinationConnector> {
  return DuckDBDestination.open(context);
}
