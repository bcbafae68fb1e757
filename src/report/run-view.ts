/** One run as `history show`, its `--json` and the report's run details present it. */
import type { RunDetails } from '../ledger/details.js';
import type { Ledger, RunRecord } from '../ledger/ledger.js';

export interface RunView extends RunRecord {
  /** Wall time from start to end; null while the run is in flight. */
  readonly duration_ms: number | null;
  /** What the run recorded beyond its counts; null for runs an older version made. */
  readonly details: RunDetails | null;
}

/** The view of one run, or undefined when the ledger has no such run. */
export function runView(ledger: Ledger, id: string): RunView | undefined {
  const run = ledger.run(id);
  return run && viewOf(run, ledger.details(id));
}

export function viewOf(run: RunRecord, details: RunDetails | undefined): RunView {
  return { ...run, duration_ms: run.ended_at ? Date.parse(run.ended_at) - Date.parse(run.started_at) : null, details: details ?? null };
}

/** The run's error and then each cause the details add, each once. */
export function errorLines(view: RunView): string[] {
  const lines = view.error ? [view.error] : [];
  for (const cause of view.details?.errors ?? []) if (!lines.some((line) => line.includes(cause))) lines.push(cause);
  return lines;
}

/** A cursor state as one line of text. */
export function cursorText(value: unknown): string {
  if (value === undefined || value === null) return '(none)';
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

/** Milliseconds as people read them: `340 ms`, `4.2 s`, `3 min 05 s`, `2 h 01 min`. */
export function spanText(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const seconds = Math.round(ms / 1000);
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${String(seconds % 60).padStart(2, '0')} s`;
  const minutes = Math.round(seconds / 60);
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, '0')} min`;
}

/** Bytes as people read them. */
export function bytesText(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined) return '';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}
