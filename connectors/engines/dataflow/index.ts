/** PostgreSQL / MySQL → BigQuery through Google Cloud Dataflow's JDBC Flex Templates. */
import type { Engine } from '../../../src/core/connector.js';
import { dataflowEngine } from './dataflow-engine.js';

/** The engine the registry asks. */
export function engine(): Engine {
  return dataflowEngine;
}
