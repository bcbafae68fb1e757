/** BigQuery → BigQuery: the run as one query script inside BigQuery. */
import type { Engine } from '../../../src/core/connector.js';
import { bigQueryQueryEngine } from './bigquery-query-engine.js';

/** The engine the registry asks. */
export function engine(): Engine {
  return bigQueryQueryEngine;
}
