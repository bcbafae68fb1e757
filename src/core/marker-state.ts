/**
 * The state a run records, carried in its `_b2betl_loads` marker as JSON text (bigints kept
 * exact), and read back to rebuild a lost ledger.
 */
import type { Column, MarkerState } from './connector.js';
import { decodeState, encodeState } from '../ledger/ledger.js';

/** The JSON text a destination stores in the marker's `state` column. */
export function markerStateText(state: MarkerState | undefined): string | null {
  return state ? encodeState(state) : null;
}

/** A marker's stored state, or undefined when the text is not one b2betl wrote. */
export function readMarkerState(text: string | null): MarkerState | undefined {
  if (!text) return undefined;
  try {
    const state = decodeState(text) as MarkerState;
    return state && typeof state === 'object' && typeof state.connection === 'string' && Array.isArray(state.files) && Array.isArray(state.columns) ? state : undefined;
  } catch {
    return undefined;
  }
}

/** A run's columns as its marker records them. */
export function stateColumns(columns: readonly Column[]): MarkerState['columns'] {
  return columns.map((column) => ({ source: column.source, name: column.name, type: column.type }));
}
