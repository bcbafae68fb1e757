/**
 * Cursor values and cursor state of the SQL sources. A state `{value, seen}` means: every row
 * with `cursor < value` is loaded, and so are the rows at exactly `value` whose identity is in
 * `seen` (a multiset). The next run reads `cursor >= value` and drops those, so rows that
 * arrive later with the same cursor value are neither lost nor loaded twice.
 */
// @ts-nocheck

import { createHash } from 'node:crypto';
import { plainDecimal, safeJson } from '../../../src/core/convert.js';
import { ConfigError } from '../../../src/core/errors.js';
import { dateToMicros, formatDate, formatDatetime, formatTimestamp, normalizeTime, parseTimestamp } from '../../../src/core/time.js';
import type { ColumnType } from '../../../src/core/types.js';

/** What the ledger keeps for a SQL job between runs (opaque to the core). */
export interface CursorState {
  readonly column: string;
  readonly type: ColumnType;
  /** Rows with a cursor below this are loaded; null when no row with a cursor value was loaded yet. */
  readonly value: string | null;
  /** Identities of the rows loaded at exactly `value`; may repeat (rows without a key). */
  readonly seen: readonly string[];
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** The state text of a canonical cursor value. */
export function cursorText(value: unknown, type: ColumnType): string {
  if (type === 'TIMESTAMP' && typeof value === 'bigint') return formatTimestamp(value);
  return String(value);
}

/** The canonical value of a state text, comparable with `===` to values the source decodes. */
export function cursorValue(text: string, type: ColumnType): unknown {
  switch (type) {
    case 'TIMESTAMP':
      return parseTimestamp(text);
    case 'INT64': {
      const big = BigInt(text);
      return big <= MAX_SAFE && big >= -MAX_SAFE ? Number(big) : big;
    }
    case 'FLOAT64':
      return Number(text);
    default:
      return text;
  }
}

/**
 * Normalizes a user-given bound (`load.start`, `--since`, `--until`) to state text of the
 * cursor's type; `what` names the setting in the error.
 */
export function boundText(input: string | number | Date, type: ColumnType, what: string): string {
  const bad = (expected: string): never => {
    throw ConfigError.of(`${what} ${JSON.stringify(String(input))} is not a valid ${type} for the cursor`, `give ${expected}`);
  };
  const micros = (): bigint => {
    if (input instanceof Date) return dateToMicros(input);
    const parsed = typeof input === 'string' ? parseTimestamp(input) : undefined;
    return parsed ?? bad('an ISO 8601 date or timestamp, e.g. 2024-01-01T00:00:00Z');
  };
  switch (type) {
    case 'TIMESTAMP':
      return formatTimestamp(micros());
    case 'DATETIME':
      return formatDatetime(micros());
    case 'DATE':
      return formatDate(micros());
    case 'INT64':
      return /^[+-]?\d+$/.test(String(input).trim()) ? BigInt(String(input).trim()).toString() : bad('an integer');
    case 'FLOAT64':
    case 'NUMERIC':
    case 'BIGNUMERIC': {
      const text = String(input).trim();
      return /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/.test(text) ? plainDecimal(text) : bad('a number');
    }
    case 'TIME':
      return normalizeTime(String(input)) ?? bad('a time of day, e.g. 08:00:00');
    default:
      return input instanceof Date ? input.toISOString() : String(input);
  }
}

/** Position of a cursor value on a number line, for splitting ranges; undefined when the type has none. */
export function cursorLine(text: string, type: ColumnType): bigint | number | undefined {
  switch (type) {
    case 'TIMESTAMP':
    case 'DATETIME':
    case 'DATE':
      return parseTimestamp(text);
    case 'INT64':
      return BigInt(text);
    case 'FLOAT64':
    case 'NUMERIC':
    case 'BIGNUMERIC': {
      const n = Number(text);
      return Number.isFinite(n) ? n : undefined;
    }
    default:
      return undefined;
  }
}

function lineText(position: bigint | number, type: ColumnType): string {
  switch (type) {
    case 'TIMESTAMP':
      return formatTimestamp(BigInt(position));
    case 'DATETIME':
      return formatDatetime(BigInt(position));
    case 'DATE':
      return formatDate(BigInt(position));
    case 'INT64':
      return BigInt(position).toString();
    default:
      return plainDecimal(String(position));
  }
}

/** Whether a cursor of this type can be split into value ranges. */
export function splittable(type: ColumnType): boolean {
  return ['TIMESTAMP', 'DATETIME', 'DATE', 'INT64', 'FLOAT64', 'NUMERIC', 'BIGNUMERIC'].includes(type);
}

/** Orders two state texts of the same type. */
export function compareCursor(a: string, b: string, type: ColumnType): number {
  const x = cursorLine(a, type);
  const y = cursorLine(b, type);
  if (x !== undefined && y !== undefined) return x < y ? -1 : x > y ? 1 : 0;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** `text` moved back by `millis`, for `load.lookback`; only time cursors can. */
export function subtractLookback(text: string, type: ColumnType, millis: number, column: string): string {
  if (type !== 'TIMESTAMP' && type !== 'DATETIME' && type !== 'DATE') {
    throw ConfigError.of(
      `load.lookback needs a date or time cursor, but \`${column}\` is ${type}`,
      'remove load.lookback, or use a timestamp column as load.cursor',
    );
  }
  const position = parseTimestamp(text);
  if (position === undefined) throw new Error(`cursor value ${text} is not a ${type}`);
  return lineText(position - BigInt(millis) * 1000n, type);
}

/**
 * Up to `parts - 1` boundaries strictly between `low` and `high`, evenly spaced in value, so
 * `[low, b1) [b1, b2) … [bn, high]` cover the range. Empty when the type cannot be split.
 */
export function splitRange(low: string, high: string, type: ColumnType, parts: number): string[] {
  const a = cursorLine(low, type);
  const b = cursorLine(high, type);
  if (a === undefined || b === undefined || parts < 2 || !(a < b)) return [];
  const out: string[] = [];
  let previous = low;
  for (let i = 1; i < parts; i++) {
    const position =
      typeof a === 'bigint' && typeof b === 'bigint'
        ? a + ((b - a) * BigInt(i)) / BigInt(parts)
        : Number(a) + ((Number(b) - Number(a)) * i) / parts;
    const text = lineText(position, type);
    if (compareCursor(text, previous, type) > 0 && compareCursor(text, high, type) < 0) {
      out.push(text);
      previous = text;
    }
  }
  return out;
}

/** Reads a saved state, checking that it belongs to the job's cursor column. */
export function readState(raw: unknown, column: string, type: ColumnType, job: string): CursorState | undefined {
  if (raw === undefined || raw === null) return undefined;
  const state = raw as Partial<CursorState>;
  if (typeof state !== 'object' || typeof state.column !== 'string' || !Array.isArray(state.seen)) {
    throw ConfigError.of(`the saved cursor of job ${job} is not one this source wrote`, `run \`b2betl state reset ${job}\` to start over`);
  }
  if (state.column !== column || state.type !== type) {
    throw ConfigError.of(
      `the saved cursor of job ${job} is on column \`${state.column}\` (${state.type}) but load.cursor is \`${column}\` (${type})`,
      `run \`b2betl state reset ${job}\` to reload from load.start, or set load.cursor back`,
    );
  }
  return { column, type, value: state.value ?? null, seen: state.seen };
}

/** Identity of a row for `seen`: its key values, or a hash of the whole row when there is no key. */
export function rowIdentity(row: readonly unknown[], keyIndexes: readonly number[]): string {
  if (keyIndexes.length > 0) return safeJson(keyIndexes.map((i) => row[i]));
  return `#${createHash('sha1').update(safeJson(row)).digest('base64').slice(0, 16)}`;
}

/** A multiset of identities: `take` removes one occurrence and says whether there was one. */
export class IdentitySet {
  private readonly counts = new Map<string, number>();
  constructor(ids: readonly string[] = []) {
    for (const id of ids) this.counts.set(id, (this.counts.get(id) ?? 0) + 1);
  }

  take(id: string): boolean {
    const count = this.counts.get(id);
    if (!count) return false;
    if (count === 1) this.counts.delete(id);
    else this.counts.set(id, count - 1);
    return true;
  }
}
