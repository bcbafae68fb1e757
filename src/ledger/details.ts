/**
 * What a run did, beyond its counts: the plan it followed, when each stage began and how long it
 * took, each unit's rows, bytes and time, a sample of the rows set aside, the error with its
 * causes, and the cursor before and after. Kept as JSON in the run's `details` column.
 */
import type { RejectedRow, SourcePlan, WorkUnit } from '../core/connector.js';
import { EtlError } from '../core/errors.js';
import { redact, redactValue } from '../core/redact.js';

/** Rows set aside that a run keeps as its sample. */
export const REJECT_SAMPLE = 20;
/** Units and planned files listed in a run's details (the rest are counted). */
export const UNITS_KEPT = 500;

export interface StageSpan {
  readonly stage: string;
  readonly started_at: string;
  readonly ms: number;
}

export interface UnitDetail {
  readonly id: string;
  readonly label: string;
  readonly rows: number | null;
  readonly bytes: number | null;
  readonly started_at: string;
  readonly ms: number;
  readonly error?: string;
}

export interface RejectSample {
  readonly unit: string;
  readonly position: string;
  readonly column?: string;
  readonly reason: string;
}

export interface RunDetails {
  /** The source connection and kind, e.g. `warehouse (postgres)`. */
  source?: string;
  /** How the rows travelled: the destination reading files itself, or streamed through b2betl. */
  engine?: string;
  plan?: {
    units: number;
    skipped: number;
    ordered: boolean;
    window?: { since?: string; until?: string };
    full_refresh?: boolean;
    notes: string[];
    files: string[];
  };
  stages: StageSpan[];
  units: UnitDetail[];
  /** Units beyond {@link UNITS_KEPT}, counted only. */
  units_omitted?: number;
  rejects: RejectSample[];
  rejects_total: number;
  /** The error that ended the run, then each of its causes. */
  errors: string[];
  /** The job's stored cursor when the run began and when it ended; null when there was none. */
  cursor_before?: unknown;
  cursor_after?: unknown;
}

/** The messages of an error and of every cause under it, each once. */
export function errorChain(error: unknown): string[] {
  const chain: string[] = [];
  const seen = new Set<unknown>();
  for (let current: unknown = error; current !== undefined && current !== null && !seen.has(current); current = (current as { cause?: unknown }).cause) {
    seen.add(current);
    const text = current instanceof EtlError ? current.describe() : current instanceof Error ? `${current.name === 'Error' ? '' : `${current.name}: `}${current.message}` : String(current);
    chain.push(redact(text));
    if (!(current instanceof Error)) break;
  }
  return chain;
}

/** Collects a run's details as it goes. */
export class RunJournal {
  private readonly details: RunDetails = { stages: [], units: [], rejects: [], rejects_total: 0, errors: [] };
  private readonly extraStages: StageSpan[] = [];

  source(text: string): void {
    this.details.source = text;
  }

  engine(text: string): void {
    this.details.engine = text;
  }

  cursorBefore(value: unknown): void {
    this.details.cursor_before = value ?? null;
  }

  planned(plan: SourcePlan, options: { since?: string; until?: string; fullRefresh?: boolean }): void {
    const files = plan.units.flatMap((unit) => (unit.file ? [unit.file.path] : []));
    this.details.plan = {
      units: plan.units.length,
      skipped: plan.skipped.length,
      ordered: plan.ordered,
      ...(options.since !== undefined || options.until !== undefined ? { window: { since: options.since, until: options.until } } : {}),
      ...(options.fullRefresh ? { full_refresh: true } : {}),
      notes: [...(plan.notes ?? [])].map((note) => redact(note)),
      files: files.slice(0, UNITS_KEPT),
    };
  }

  /** A stage timed outside the stopwatch (reconciling runs left in flight). */
  stage(stage: string, startedAt: number, ms: number): void {
    this.extraStages.push({ stage, started_at: new Date(startedAt).toISOString(), ms: Math.round(ms) });
  }

  unit(unit: WorkUnit, startedAt: number, outcome: { rows: number } | { error: string }): void {
    const existing = this.details.units.findIndex((entry) => entry.id === unit.id);
    const entry: UnitDetail = {
      id: unit.id,
      label: unit.label,
      rows: 'rows' in outcome ? outcome.rows : null,
      bytes: unit.bytes ?? unit.file?.size ?? null,
      started_at: new Date(startedAt).toISOString(),
      ms: Date.now() - startedAt,
      ...('error' in outcome ? { error: redact(outcome.error) } : {}),
    };
    if (existing >= 0) this.details.units[existing] = entry;
    else if (this.details.units.length < UNITS_KEPT) this.details.units.push(entry);
    else this.details.units_omitted = (this.details.units_omitted ?? 0) + 1;
  }

  rejected(rejects: readonly RejectedRow[]): void {
    this.details.rejects_total = rejects.length;
    this.details.rejects = rejects.slice(0, REJECT_SAMPLE).map((row) => ({ unit: row.unit, position: row.position, ...(row.column ? { column: row.column } : {}), reason: redact(row.reason) }));
  }

  failed(error: unknown): void {
    this.details.errors = errorChain(error);
  }

  /** The details to record, with the stage timeline in the order stages began. */
  finish(times: Record<string, number | undefined>, firsts: Record<string, number | undefined>, cursorAfter: unknown): RunDetails {
    const spans: StageSpan[] = [...this.extraStages];
    for (const [stage, ms] of Object.entries(times)) {
      const first = firsts[stage];
      if (ms !== undefined && first !== undefined) spans.push({ stage, started_at: new Date(first).toISOString(), ms });
    }
    spans.sort((a, b) => a.started_at.localeCompare(b.started_at));
    return redactValue({ ...this.details, stages: spans, cursor_after: cursorAfter ?? null });
  }
}
