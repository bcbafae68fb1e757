/**
 * The incremental position of a Firestore job: the last cursor value loaded, exact to the
 * nanosecond, and the paths of the documents loaded at exactly that value, so that documents
 * sharing a timestamp across two runs are neither lost nor loaded twice.
 */
// @ts-nocheck

import { ConfigError } from '../../../src/core/errors.js';
import { formatTimestamp, parseTimestamp } from '../../../src/core/time.js';
import { timestampMicros } from './firestore-values.js';

/** A Firestore timestamp as plain numbers. */
export interface Instant {
  readonly seconds: number;
  readonly nanos: number;
}

/** The opaque cursor state recorded in the ledger (JSON). */
export interface FirestoreCursorState {
  readonly field: string;
  /** The boundary value, for people reading `state show`; `seconds`/`nanos` are authoritative. */
  readonly at: string;
  readonly seconds: number;
  readonly nanos: number;
  /** Paths of the documents whose cursor equals the boundary, all loaded already. */
  readonly ids: readonly string[];
}

/** ISO 8601 text of an instant with all nine fractional digits. */
export function formatInstant(instant: Instant): string {
  const micros = timestampMicros({ seconds: instant.seconds, nanoseconds: instant.nanos });
  return `${formatTimestamp(micros).slice(0, 19)}.${String(instant.nanos).padStart(9, '0')}Z`;
}

/** Orders two instants. */
export function compareInstants(a: Instant, b: Instant): number {
  return a.seconds !== b.seconds ? Math.sign(a.seconds - b.seconds) : Math.sign(a.nanos - b.nanos);
}

/** An instant from microseconds since the epoch. */
export function instantFromMicros(micros: bigint): Instant {
  let seconds = micros / 1_000_000n;
  let rest = micros % 1_000_000n;
  if (rest < 0n) {
    rest += 1_000_000n;
    seconds -= 1n;
  }
  return { seconds: Number(seconds), nanos: Number(rest) * 1000 };
}

/** Parses `load.start`, `--since` or `--until` into an instant. */
export function parseInstant(value: string | Date | number, what: string): Instant {
  if (value instanceof Date) {
    if (Number.isNaN(value.getTime())) throw ConfigError.of(`${what} is not a valid date`, 'write it as ISO 8601, e.g. 2024-01-01T00:00:00Z');
    return instantFromMicros(BigInt(value.getTime()) * 1000n);
  }
  const micros = typeof value === 'string' ? parseTimestamp(value) : undefined;
  if (micros === undefined) {
    throw ConfigError.of(`${what} ${JSON.stringify(value)} is not a timestamp`, 'write it as ISO 8601, e.g. 2024-01-01T00:00:00Z');
  }
  return instantFromMicros(micros);
}

/** The state to record after loading everything up to `boundary`, with `ids` loaded at it. */
export function cursorState(field: string, boundary: Instant, ids: Iterable<string>): FirestoreCursorState {
  return { field, at: formatInstant(boundary), seconds: boundary.seconds, nanos: boundary.nanos, ids: [...ids].sort() };
}

/**
 * Reads the state the ledger handed back. A state written for another cursor field cannot
 * continue: the user must reset it.
 */
export function readCursorState(raw: unknown, field: string, job: string): FirestoreCursorState | undefined {
  if (raw === undefined || raw === null) return undefined;
  const state = raw as Partial<FirestoreCursorState>;
  const valid =
    typeof state === 'object' &&
    typeof state.field === 'string' &&
    Number.isInteger(state.seconds) &&
    Number.isInteger(state.nanos) &&
    Array.isArray(state.ids) &&
    state.ids.every((id) => typeof id === 'string');
  if (!valid) {
    throw ConfigError.of(
      `the stored cursor of job ${job} is not a Firestore cursor`,
      `reset it with \`b2betl state reset ${job}\` and run again (add --full-refresh to reload everything)`,
    );
  }
  if (state.field !== field) {
    throw ConfigError.of(
      `job ${job} was loaded by cursor field "${state.field}", but load.cursor is now "${field}"`,
      `run with --full-refresh, or reset the state with \`b2betl state reset ${job}\``,
    );
  }
  return state as FirestoreCursorState;
}
