/** Type rules both SQL sources share. */
// @ts-nocheck

import type { ColumnType } from '../../../src/core/types.js';

/**
 * The canonical type of a fixed-point column: NUMERIC while it fits BigQuery NUMERIC
 * (29 integer digits, 9 decimals), BIGNUMERIC while it fits BIGNUMERIC (38 and 38),
 * otherwise STRING so that no digit is ever rounded away. An unconstrained PostgreSQL
 * `numeric` (no precision) is BIGNUMERIC.
 */
export function decimalType(precision: number | undefined, scale: number | undefined): ColumnType {
  if (precision === undefined) return 'BIGNUMERIC';
  const fraction = scale ?? 0;
  const whole = precision - fraction;
  if (whole <= 29 && fraction <= 9) return 'NUMERIC';
  if (whole <= 38 && fraction <= 38) return 'BIGNUMERIC';
  return 'STRING';
}

/** Canonical types a cursor may have: ones with a total order the database and b2betl agree on. */
export const CURSOR_TYPES: ReadonlySet<ColumnType> = new Set<ColumnType>([
  'INT64',
  'NUMERIC',
  'BIGNUMERIC',
  'FLOAT64',
  'TIMESTAMP',
  'DATETIME',
  'DATE',
  'TIME',
  'STRING',
]);
