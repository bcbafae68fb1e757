/**
 * A ledger seeded with a month of runs for the report: 8 jobs × 30 days, successes, partial
 * runs and failures, one day without any run, durations from 1 s to 2 h, some jobs twice a day.
 */
import { Ledger } from '../../src/ledger/ledger.js';
import type { RunDetails } from '../../src/ledger/details.js';
import { prng } from '../../bench/support.js';

export interface SeededRun {
  readonly id: string;
  readonly job: string;
  readonly started_at: string;
  readonly duration_ms: number;
  readonly status: 'succeeded' | 'partial' | 'failed' | 'skipped' | 'interrupted';
  readonly rows_loaded: number;
}

/** Jobs and their typical duration in seconds (1 s to 2 h) and runs per day. */
export interface SeededJob {
  readonly name: string;
  readonly seconds: number;
  readonly perDay: number;
  readonly source: string;
}

export const SEEDED_JOBS: readonly SeededJob[] = [
  { name: 'app_events', seconds: 1, perDay: 2, source: 'lake (gcs)' },
  { name: 'billing_invoices', seconds: 7200, perDay: 1, source: 'billing (postgres)' },
  { name: 'crm_contacts', seconds: 45, perDay: 1, source: 'crm (mysql)' },
  { name: 'firestore_users', seconds: 300, perDay: 1, source: 'app (firestore)' },
  { name: 'orders', seconds: 20, perDay: 2, source: 'shop (postgres)' },
  { name: 'partner_feeds', seconds: 900, perDay: 1, source: 'partners (s3)' },
  { name: 'sessions_bq', seconds: 2400, perDay: 1, source: 'analytics (bigquery)' },
  { name: 'warehouse_stock', seconds: 4, perDay: 1, source: 'erp (azure)' },
];

/** `count` jobs with long names, from 1 s to 2 h, once a day. */
export function manyJobs(count: number): SeededJob[] {
  return Array.from({ length: count }, (_job, i) => ({ name: `tenant_${String(i + 1).padStart(2, '0')}_daily_export`, seconds: Math.round(7200 ** (i / Math.max(1, count - 1))), perDay: 1, source: 'lake (gcs)' }));
}

/** The day (0 = 29 days ago … 29 = today) on which nothing ran. */
export const EMPTY_DAY = 11;

/** Seeds `file` with the month ending on `now`'s day (UTC); runs start before `now`. */
export function seedReportLedger(file: string, options: { now?: Date; days?: number; jobs?: readonly SeededJob[] } = {}): SeededRun[] {
  const now = options.now ?? new Date();
  const days = options.days ?? 30;
  const next = prng(14);
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  const seeded: SeededRun[] = [];
  const ledger = Ledger.open(file);
  try {
    for (const job of options.jobs ?? SEEDED_JOBS) {
      const runs: Record<string, unknown>[] = [];
      for (let day = 0; day < days; day++) {
        if (day === EMPTY_DAY) continue;
        for (let slot = 0; slot < job.perDay; slot++) {
          const midnight = today - (days - 1 - day) * 86_400_000;
          // the last day only has runs in its first minutes, before any test's "now"
          const startedMs = day === days - 1 ? midnight + slot * 600_000 : midnight + (2 + slot * 12 + Math.floor(next() * 8)) * 3_600_000 + Math.floor(next() * 3_600_000);
          if (startedMs > now.getTime()) continue;
          const roll = next();
          const status = roll < 0.09 ? 'failed' : roll < 0.14 ? 'partial' : roll < 0.95 ? 'succeeded' : roll < 0.97 ? 'skipped' : 'interrupted';
          const loadedNothing = status === 'failed' || status === 'skipped' || status === 'interrupted';
          const seconds = Math.min(7200, Math.max(1, job.seconds * (0.6 + next() * 0.8)));
          const durationMs = Math.round(job.name === 'billing_invoices' ? 7200_000 - next() * 600_000 : job.name === 'app_events' ? 1000 + next() * 400 : seconds * 1000);
          const rowsRead = Math.round(500 + next() * 50_000);
          const rowsLoaded = loadedNothing ? 0 : status === 'partial' ? Math.round(rowsRead * 0.7) : rowsRead;
          const started = new Date(startedMs).toISOString();
          const ended = new Date(startedMs + durationMs).toISOString();
          const id = `${started.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z').replace('T', 't').toLowerCase()}_${(seeded.length + 1).toString(36).padStart(6, '0')}`;
          const error =
            status === 'failed'
              ? 'connect ECONNREFUSED 10.0.0.7:5432\n  → check that the source is reachable from this machine'
              : status === 'partial'
                ? 'part-0003.csv:14: amount: "12,5" is not a number'
                : status === 'interrupted'
                  ? 'interrupted (SIGTERM) before the commit: nothing of this run was committed; the next run reads the same data'
                  : null;
          const details: RunDetails = {
            source: job.source,
            engine: 'streamed through b2betl into warehouse.duckdb',
            plan: { units: 2, skipped: 0, ordered: false, notes: [], files: ['part-0001.csv', 'part-0003.csv'] },
            stages: [
              { stage: 'reconcile', started_at: started, ms: 3 },
              { stage: 'plan', started_at: started, ms: Math.round(durationMs * 0.05) },
              { stage: 'extract', started_at: new Date(startedMs + durationMs * 0.05).toISOString(), ms: Math.round(durationMs * 0.6) },
              { stage: 'commit', started_at: new Date(startedMs + durationMs * 0.9).toISOString(), ms: Math.round(durationMs * 0.08) },
            ],
            units: [
              { id: 'part-0001.csv', label: 'part-0001.csv', rows: Math.round(rowsRead / 2), bytes: rowsRead * 40, started_at: started, ms: Math.round(durationMs * 0.4) },
              { id: 'part-0003.csv', label: 'part-0003.csv', rows: status === 'partial' ? null : rowsRead - Math.round(rowsRead / 2), bytes: rowsRead * 40, started_at: started, ms: Math.round(durationMs * 0.4), ...(status === 'partial' ? { error: 'amount: "12,5" is not a number' } : {}) },
            ],
            rejects: status === 'succeeded' && day % 5 === 0 ? [{ unit: 'part-0001.csv', position: '17', column: 'email', reason: '"n/a" is not an email' }] : [],
            rejects_total: status === 'succeeded' && day % 5 === 0 ? 1 : 0,
            errors: status === 'failed' ? ['connect ECONNREFUSED 10.0.0.7:5432', 'Error: socket hang up'] : [],
            cursor_before: { value: `${new Date(startedMs - 86_400_000).toISOString()}` },
            cursor_after: loadedNothing ? { value: `${new Date(startedMs - 86_400_000).toISOString()}` } : { value: started },
          };
          runs.push({
            id, job: job.name, started_at: started, ended_at: ended, status,
            rows_extracted: rowsRead, rows_loaded: rowsLoaded, rows_rejected: details.rejects_total, files_processed: loadedNothing ? 0 : 2,
            files_skipped: 0, files_failed: status === 'partial' ? 1 : 0, bytes: rowsRead * 80, error, stages: JSON.stringify({ plan: details.stages[1].ms, extract: details.stages[2].ms, commit: details.stages[3].ms }),
            destination: 'warehouse', table_name: job.name, strategy: 'append', details: JSON.stringify(details),
          });
          seeded.push({ id, job: job.name, started_at: started, duration_ms: durationMs, status, rows_loaded: rowsLoaded });
        }
      }
      ledger.restore({ job: job.name, runs, files: [], cursors: [], columns: [], resets: [] });
    }
  } finally {
    ledger.close();
  }
  return seeded;
}
