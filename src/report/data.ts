/** What the HTML report shows, gathered from the ledger: summary, jobs, and every run of the period. */
import { ConfigError } from '../core/errors.js';
import type { Ledger, RunStatus } from '../ledger/ledger.js';
import { viewOf, type RunView } from './run-view.js';

/** Units of a run the report keeps (the rest are counted). */
const REPORT_UNITS = 100;

export interface JobRow {
  readonly job: string;
  readonly runs: number;
  readonly failed: number;
  readonly last_status: RunStatus;
  readonly last_started_at: string;
  readonly last_success_at: string | null;
  readonly rows_loaded: number;
  /** Durations (ms) of the job's finished runs, oldest first. */
  readonly durations: number[];
}

export interface ReportData {
  readonly generated_at: string;
  readonly ledger: string;
  readonly days: number;
  /** The first day shown (UTC, YYYY-MM-DD) and the last (today). */
  readonly from: string;
  readonly to: string;
  readonly summary: {
    readonly jobs: number;
    readonly runs: number;
    /** Succeeded or partial among finished runs (skipped ones left out), 0..1; null without any. */
    readonly success_rate: number | null;
    readonly rows_loaded: number;
    readonly p50_ms: number | null;
    readonly p95_ms: number | null;
  };
  readonly jobs: JobRow[];
  /** Newest first. */
  readonly runs: RunView[];
}

/** `--days` as a whole number of days, 1 to 3660. */
export function parseDays(text: string | undefined, name = '--days'): number {
  const days = Number(text ?? 30);
  if (!Number.isInteger(days) || days < 1 || days > 3660) throw ConfigError.of(`${name} ${text} is not a whole number of days from 1 to 3660`, 'give how many days back the report looks, e.g. 30');
  return days;
}

/** The value below which `q` of the sorted values lie (nearest rank). */
export function quantile(sorted: readonly number[], q: number): number | null {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

const day = (iso: string) => iso.slice(0, 10);

/** Gathers the report of the last `days` days (today included, UTC) from the ledger. */
export function reportData(ledger: Ledger, options: { days: number; now?: Date }): ReportData {
  const now = options.now ?? new Date();
  const from = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() - (options.days - 1)));
  const records = ledger.runs({ since: from.toISOString(), limit: null });
  const runs = records.map((run) => {
    const view = viewOf(run, ledger.details(run.id));
    const details = view.details;
    if (!details || details.units.length <= REPORT_UNITS) return view;
    return { ...view, details: { ...details, units: details.units.slice(0, REPORT_UNITS), units_omitted: (details.units_omitted ?? 0) + details.units.length - REPORT_UNITS } };
  });
  const finished = runs.filter((run) => run.duration_ms !== null && ['succeeded', 'partial', 'failed'].includes(run.status));
  const durations = finished.map((run) => run.duration_ms!).sort((a, b) => a - b);
  const byJob = new Map<string, RunView[]>();
  for (const run of runs) byJob.set(run.job, [...(byJob.get(run.job) ?? []), run]);
  const jobs = [...byJob.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([job, list]): JobRow => ({
      job,
      runs: list.length,
      failed: list.filter((run) => run.status === 'failed').length,
      last_status: list[0].status,
      last_started_at: list[0].started_at,
      last_success_at: list.find((run) => run.status === 'succeeded' || run.status === 'partial')?.started_at ?? null,
      rows_loaded: list.reduce((sum, run) => sum + run.rows_loaded, 0),
      durations: list.filter((run) => run.duration_ms !== null && run.status !== 'skipped').map((run) => run.duration_ms!).reverse(),
    }));
  return {
    generated_at: now.toISOString(),
    ledger: ledger.name,
    days: options.days,
    from: day(from.toISOString()),
    to: day(now.toISOString()),
    summary: {
      jobs: jobs.length,
      runs: runs.length,
      success_rate: finished.length ? finished.filter((run) => run.status !== 'failed').length / finished.length : null,
      rows_loaded: runs.reduce((sum, run) => sum + run.rows_loaded, 0),
      p50_ms: quantile(durations, 0.5),
      p95_ms: quantile(durations, 0.95),
    },
    jobs,
    runs,
  };
}
