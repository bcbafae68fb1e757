/** BigQuery's per-table rate limit on table updates, over a sliding window. */
import { BqFailure } from './bigquery-double-types.js';

/** Table update operations seen per table; refuses those past `limit` (BigQuery: 5 per 10 s). */
export class TableUpdateLimiter {
  private readonly updates = new Map<string, number[]>();

  constructor(public limit: { operations: number; windowMs: number }) {}

  /** Counts an update of the table `key`; throws rateLimitExceeded past the limit. */
  note(key: string): void {
    const now = Date.now();
    const recent = (this.updates.get(key) ?? []).filter((t) => t > now - this.limit.windowMs);
    if (recent.length >= this.limit.operations) {
      this.updates.set(key, recent);
      throw new BqFailure(
        403,
        'rateLimitExceeded',
        'Exceeded rate limits: too many table update operations for this table. For more information, see https://cloud.google.com/bigquery/docs/troubleshoot-quotas',
      );
    }
    recent.push(now);
    this.updates.set(key, recent);
  }
}
