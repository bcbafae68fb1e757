/**
 * Firestore values → canonical types and raw values the convert stage can judge. Timestamps
 * become exact microseconds (never through a JavaScript Date), nested maps and arrays become
 * JSON text with every Firestore value inside them in a JSON-friendly form.
 */
// @ts-nocheck

import { formatTimestamp } from '../../../src/core/time.js';
import type { ColumnType } from '../../../src/core/types.js';

/** The SDK classes values are recognised by (passed in so the SDK stays lazily imported). */
export interface FirestoreClasses {
  readonly Timestamp: Class<{ readonly seconds: number; readonly nanoseconds: number }>;
  readonly GeoPoint: Class<{ readonly latitude: number; readonly longitude: number }>;
  readonly DocumentReference: Class<{ readonly path: string }>;
  readonly VectorValue?: Class<{ toArray(): number[] }>;
}

/** A class as `instanceof` sees it (constructors may be private). */
type Class<T> = { readonly prototype: T };

function isA<T>(value: unknown, cls: Class<T> | undefined): value is T {
  return cls !== undefined && value instanceof (cls as unknown as new () => T);
}

/** How maps, arrays and GeoPoints load: JSON text in a STRING column, or a JSON column. */
export type NestedMode = 'string' | 'json';

const MICROS_PER_SECOND = 1_000_000n;

/** Exact microseconds of a Firestore Timestamp; nanoseconds beyond the microsecond are dropped. */
export function timestampMicros(value: { readonly seconds: number; readonly nanoseconds: number }): bigint {
  // nanoseconds are always within [0, 1e9), so flooring truncates toward the earlier instant
  return BigInt(value.seconds) * MICROS_PER_SECOND + BigInt(Math.floor(value.nanoseconds / 1000));
}

/** Reads Firestore values as the SDK returns them (with `useBigInt`, integers are bigint). */
export class FirestoreValues {
  constructor(
    private readonly sdk: FirestoreClasses,
    private readonly nested: NestedMode,
  ) {}

  /** The Firestore kind of a value, as inspect-schema shows it (`integer`, `map`, …). */
  kindOf(value: unknown): string {
    if (value === null || value === undefined) return 'null';
    switch (typeof value) {
      case 'boolean':
        return 'boolean';
      case 'bigint':
        return 'integer';
      case 'number':
        return 'double';
      case 'string':
        return 'string';
    }
    if (isA(value, this.sdk.Timestamp)) return 'timestamp';
    if (value instanceof Uint8Array) return 'bytes';
    if (isA(value, this.sdk.DocumentReference)) return 'reference';
    if (isA(value, this.sdk.GeoPoint)) return 'geopoint';
    if (isA(value, this.sdk.VectorValue)) return 'vector';
    if (Array.isArray(value)) return 'array';
    return 'map';
  }

  /** The canonical type of one value; undefined for null (no evidence). */
  typeOf(value: unknown): ColumnType | undefined {
    switch (this.kindOf(value)) {
      case 'null':
        return undefined;
      case 'boolean':
        return 'BOOL';
      case 'integer':
        return 'INT64';
      case 'double':
        return 'FLOAT64';
      case 'string':
      case 'reference':
        return 'STRING';
      case 'timestamp':
        return 'TIMESTAMP';
      case 'bytes':
        return 'BYTES';
      default:
        return this.nested === 'json' ? 'JSON' : 'STRING';
    }
  }

  /**
   * The raw value for a column of `type`: timestamps as bigint microseconds in TIMESTAMP
   * columns and ISO text elsewhere, references as their path, nested values as JSON text, and
   * any value as JSON text in a JSON column. A value the column cannot hold is passed as is, for
   * the convert stage to widen the column or reject the row.
   */
  raw(value: unknown, type: ColumnType): unknown {
    if (value === null || value === undefined) return null;
    if (type === 'JSON') return JSON.stringify(this.plain(value));
    switch (typeof value) {
      case 'boolean':
      case 'bigint':
      case 'number':
      case 'string':
        return value;
    }
    if (isA(value, this.sdk.Timestamp)) {
      const micros = timestampMicros(value);
      return type === 'TIMESTAMP' ? micros : formatTimestamp(micros);
    }
    if (value instanceof Uint8Array) return value;
    if (isA(value, this.sdk.DocumentReference)) return value.path;
    return JSON.stringify(this.plain(value));
  }

  /** A JSON-serializable form of any Firestore value, for nested data. */
  plain(value: unknown): unknown {
    if (value === null || value === undefined) return null;
    switch (typeof value) {
      case 'boolean':
      case 'string':
        return value;
      case 'number':
        // JSON has no NaN or Infinity; their names keep them apart from null
        return Number.isFinite(value) ? value : String(value);
      case 'bigint':
        return value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(value) : value.toString();
    }
    if (isA(value, this.sdk.Timestamp)) return formatTimestamp(timestampMicros(value));
    if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64');
    if (isA(value, this.sdk.DocumentReference)) return value.path;
    if (isA(value, this.sdk.GeoPoint)) return { lat: value.latitude, lng: value.longitude };
    if (isA(value, this.sdk.VectorValue)) return value.toArray();
    if (Array.isArray(value)) return value.map((item) => this.plain(item));
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value as Record<string, unknown>)) out[key] = this.plain(item);
    return out;
  }
}
