/** GCS → BigQuery: one load job from the files' gs:// URIs. */
import type { Engine } from '../../../src/core/connector.js';
import { bigQueryLoadEngine } from './bigquery-load-engine.js';

/** The engine the registry asks. */
export function engine(): Engine {
  return bigQueryLoadEngine;
}
