/**
 * Rebuilding a job's ledger state from its destination. Every commit writes, in the same
 * transaction as the rows, a `_b2betl_loads` marker that records what the ledger records for
 * the run: the cursor, the files with their versions, the column mapping. A lost ledger (a new
 * machine, a wiped cache, a fresh local path) is rebuilt from those markers instead of loading
 * everything again.
 */
import type { LoadedJob } from './config.js';
import type { DestinationConnector, SourceState } from './connector.js';
import { EtlError } from './errors.js';
import type { Logger } from './log.js';
import { readMarkerState } from './marker-state.js';
import type { Ledger, RestoredState } from '../ledger/ledger.js';

/** A job's state as its destination's markers record it, and how many markers it came from. */
export interface Rebuilt {
  readonly state: RestoredState;
  readonly markers: number;
  /** Where the markers are (`warehouse.duckdb main.orders`). */
  readonly location: string;
}

/** The job's state rebuilt from its markers; undefined when the destination holds none. */
export async function rebuildState(job: LoadedJob, destination: DestinationConnector): Promise<Rebuilt | undefined> {
  const name = job.spec.name;
  const location = destination.locate(job.table);
  const markers = await destination.markers(name, job.table);
  if (!markers.length) return undefined;
  const unreadable = markers.filter((marker) => !readMarkerState(marker.state));
  if (unreadable.length) {
    throw new EtlError(
      `${unreadable.length} of the ${markers.length} load(s) of job ${name} in ${location} were committed by an older b2betl whose markers do not record the run's state, so the job's state cannot be rebuilt from them`,
      `restore the ledger from a backup, or reload the table from scratch, replacing it: b2betl run <job file> --full-refresh (after b2betl state reset ${name})`,
    );
  }
  const files = new Map<string, RestoredState['files'][number]>();
  const columns = new Map<string, RestoredState['columns'][number]>();
  let cursor: RestoredState['cursor'];
  for (const marker of markers) {
    const state = readMarkerState(marker.state)!;
    for (const info of state.files) files.set(`${state.connection}\0${info.path}`, { connection: state.connection, info, runId: marker.runId, loadedAt: marker.committedAt });
    if (state.cursor !== undefined) cursor = { state: state.cursor, runId: marker.runId, updatedAt: marker.committedAt };
    for (const column of state.columns) columns.set(column.source, column);
  }
  return { state: { files: [...files.values()], cursor, columns: [...columns.values()] }, markers: markers.length, location };
}

/** The source's state from a rebuilt ledger state, for a dry run that writes nothing. */
export function rebuiltSourceState(state: RestoredState, connection: string): SourceState {
  return { cursor: state.cursor?.state, files: new Map(state.files.filter((file) => file.connection === connection).map((file) => [file.info.path, file.info])) };
}

/** One line saying what was rebuilt. */
export function describeRebuilt(name: string, rebuilt: Rebuilt): string {
  const { state } = rebuilt;
  return (
    `rebuilt the state of job ${name} from ${rebuilt.markers} load marker(s) in ${rebuilt.location}: ` +
    `${state.cursor ? 'the cursor' : 'no cursor'}, ${state.files.length} processed file(s), ${state.columns.length} column(s)`
  );
}

/**
 * Before a run: when the ledger holds no state for the job (and `state reset` did not clear it on
 * purpose) but its destination table holds markers, the state is rebuilt from them first.
 */
export async function restoreIfLost(job: LoadedJob, destination: DestinationConnector, ledger: Ledger, log: Logger): Promise<void> {
  const name = job.spec.name;
  if (ledger.hasState(name) || ledger.wasReset(name)) return;
  const rebuilt = await rebuildState(job, destination);
  if (!rebuilt) return;
  ledger.restoreState(name, rebuilt.state);
  log.warn(`the ledger has no state for job ${name}; ${describeRebuilt(name, rebuilt)}`);
}
