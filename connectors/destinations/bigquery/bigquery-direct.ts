/** Runs that BigQuery carries out by itself: gs:// files loaded natively, BigQuery → BigQuery as queries. */
import type { DirectLoad, DirectRequest } from '../../../src/core/connector.js';
import type { BigQueryDestination } from './bigquery-destination.js';

/** The direct path for this run, or undefined when rows must stream through b2betl. */
export async function planDirectLoad(destination: BigQueryDestination, request: DirectRequest): Promise<DirectLoad | undefined> {
  void destination;
  void request;
  return undefined;
}
