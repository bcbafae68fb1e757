/**
 * Which engine fills a run's stage: the job's `engine:` (auto, local, dataflow), then each
 * registered engine asked in turn whether it takes the job. A job no engine takes streams
 * through this machine.
 */
import type { EngineRequest, EngineRun } from './connector.js';
import { ConfigError } from './errors.js';
import { engines } from './registry.js';
import { DEFAULT_THRESHOLD_ROWS } from './spec.js';

/** Sources an engine can take off this machine when they are large. */
const SCALABLE_SOURCES = new Set(['postgres', 'mysql', 'firestore']);

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

/** A statistic within this factor of the threshold decides nothing: the rows are counted. */
const CLOSE_CALL = 2;

/**
 * The request with its estimate counted when it is a statistic close enough to the threshold
 * for the statistic's error to decide (a planner puts a million-row window at 999,900 rows).
 */
async function settled(request: EngineRequest, threshold: number): Promise<EngineRequest> {
  const { estimate } = request;
  const source = request.source.connector;
  if (!estimate || estimate.exact || !source.countRows || !request.dataflow || (request.job.engine ?? 'auto') !== 'auto') return request;
  if (estimate.rows < threshold / CLOSE_CALL || estimate.rows >= threshold * CLOSE_CALL) return request;
  const rows = await source.countRows(request.job, request.plan.units);
  const basis = `count(*) of the window: ${estimate.basis} put it at ${estimate.rows.toLocaleString('en-US')}, too close to the threshold to decide`;
  return { ...request, estimate: { rows, basis, exact: true } };
}

/** Asks the engines, in the registry's order, which one takes the run. */
export async function chooseEngine(asked: EngineRequest): Promise<EngineChoice> {
  const mode = asked.job.engine ?? 'auto';
  const threshold = asked.dataflow?.threshold_rows ?? DEFAULT_THRESHOLD_ROWS;
  const request = await settled(asked, threshold);
  const limit = `dataflow.threshold_rows (${threshold.toLocaleString('en-US')})`;
  const large = request.estimate !== undefined && request.estimate.rows >= threshold;
  const notes: string[] = [];
  if (large && !request.destination.connector.tableStage) {
    notes.push(`the estimate, ${describeEstimate(request)}, reaches ${limit}, but ${request.destination.name} (${request.destination.config.type}) is a local destination: the run loads on this machine`);
  } else if (large && !request.dataflow && SCALABLE_SOURCES.has(request.source.config.type)) {
    notes.push(`the estimate, ${describeEstimate(request)}, reaches ${limit}, but the config has no dataflow: block: the run loads on this machine (see docs/scale.md)`);
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
  const estimate = request.estimate ? `${describeEstimate(request)}, ${large ? 'at or over' : 'under'} ${limit}` : 'no estimate of the rows';
  const why = declines.length ? declines.join('; ') : `${estimate}; no engine takes a ${request.source.config.type} source into ${request.destination.config.type}`;
  return { engine: 'local', reason: `${why}: rows stream through this machine`, notes };
}
