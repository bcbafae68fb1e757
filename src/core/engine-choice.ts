/**
 * Which engine fills a run's stage: the job's `engine:` (auto, local, dataflow), then each
 * registered engine asked in turn whether it takes the job. A job no engine takes streams
 * through this machine.
 */
import type { EngineRequest, EngineRun } from './connector.js';
import { ConfigError } from './errors.js';
import { engines } from './registry.js';

/** The engine a run goes to, and why (for the log and --dry-run). */
export interface EngineChoice {
  /** The engine's name, or `local` when rows stream through this machine. */
  readonly engine: string;
  readonly reason: string;
  /** The engine's run; undefined for `local`. */
  readonly run?: EngineRun;
  /** Lines worth telling beside the choice (a large estimate on a destination that loads locally). */
  readonly notes: readonly string[];
}

/** The run's estimate in words: `1,200,000 rows (count(*) of the window)`. */
export function describeEstimate(request: Pick<EngineRequest, 'estimate'>): string {
  const estimate = request.estimate;
  return estimate ? `${estimate.rows.toLocaleString('en-US')} rows (${estimate.basis})` : 'an unknown number of rows';
}

/** Asks the engines, in the registry's order, which one takes the run. */
export async function chooseEngine(request: EngineRequest): Promise<EngineChoice> {
  const mode = request.job.engine ?? 'auto';
  const notes: string[] = [];
  const threshold = request.dataflow?.threshold_rows;
  if (!request.destination.connector.tableStage && request.estimate && threshold !== undefined && request.estimate.rows >= threshold) {
    notes.push(
      `the estimate, ${describeEstimate(request)}, reaches dataflow.threshold_rows (${threshold.toLocaleString('en-US')}), but ${request.destination.name} (${request.destination.config.type}) is a local destination: the run loads on this machine`,
    );
  }
  if (mode === 'local') return { engine: 'local', reason: 'engine: local: rows stream through this machine', notes };
  if (request.plan.units.length === 0) return { engine: 'local', reason: 'nothing to load', notes };
  const declines: string[] = [];
  for (const engine of await engines()) {
    if (mode === 'dataflow' && engine.name !== 'dataflow') continue;
    const answer = await engine.plan(request);
    if (!answer) continue;
    if ('declined' in answer) {
      declines.push(`${engine.name}: ${answer.declined}`);
      continue;
    }
    return { engine: engine.name, reason: answer.reason, run: answer, notes };
  }
  if (mode === 'dataflow') {
    throw ConfigError.of(
      `job ${request.job.name} has engine: dataflow, but Dataflow does not take it${declines.length ? `: ${declines.join('; ')}` : ` (a ${request.source.config.type} source into ${request.destination.config.type})`}`,
      'Dataflow loads PostgreSQL and MySQL sources into BigQuery: set engine: auto or local for this job',
    );
  }
  const reason = declines.length
    ? `${declines.join('; ')}: rows stream through this machine`
    : `no engine takes a ${request.source.config.type} source into ${request.destination.config.type}: rows stream through this machine`;
  return { engine: 'local', reason, notes };
}
