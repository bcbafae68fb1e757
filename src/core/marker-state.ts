/**
 * The state a run records, carried in its `_b2betl_loads` marker as JSON text (bigints kept
 * exact), and read back to rebuild a lost ledger.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import type { Column, LoadMarker, MarkerState } from './connector.js';
import { decodeState, encodeState } from '../ledger/ledger.js';

/** State text longer than this is stored gzipped (base64): a run of many files, many rows at its mark. */
const PLAIN_LIMIT = 64 * 1024;
const GZIP_PREFIX = 'gzip:';

/** The text a destination stores in the marker's `state` column: JSON, or gzipped JSON when long. */
export function markerStateText(state: MarkerState | undefined): string | null {
  if (!state) return null;
  const text = encodeState(state);
  return text.length > PLAIN_LIMIT ? `${GZIP_PREFIX}${gzipSync(text).toString('base64')}` : text;
}

/** A marker's stored state, or undefined when the text is not one b2betl wrote. */
export function readMarkerState(text: string | null): MarkerState | undefined {
  if (!text) return undefined;
  try {
    const json = text.startsWith(GZIP_PREFIX) ? gunzipSync(Buffer.from(text.slice(GZIP_PREFIX.length), 'base64')).toString('utf8') : text;
    const state = decodeState(json) as MarkerState;
    return state && typeof state === 'object' && typeof state.connection === 'string' && Array.isArray(state.files) && Array.isArray(state.columns) ? state : undefined;
  } catch {
    return undefined;
  }
}

/** A run's columns as its marker records them. */
export function stateColumns(columns: readonly Column[]): MarkerState['columns'] {
  return columns.map((column) => ({ source: column.source, name: column.name, type: column.type }));
}

/** A marker with the run's rows and columns, which an engine knows only once it has run. */
export function markerWith(marker: LoadMarker, rows: number, columns: readonly Column[]): LoadMarker {
  return { ...marker, rows, state: marker.state && { ...marker.state, columns: stateColumns(columns) } };
}
