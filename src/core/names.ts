/**
 * Column names for BigQuery (and every destination): letters, digits and underscores, not
 * starting with a digit or a reserved prefix, at most 300 characters, unique ignoring case.
 */

import type { Column } from './types.js';

const MAX_LENGTH = 300;
const RESERVED_PREFIXES = ['_table_', '_file_', '_partition', '_row_timestamp', '__root__', '_colidentifier'];

/** Sanitizes one name, without regard to collisions. */
export function sanitizeName(original: string): string {
  const trimmed = original.trim();
  let name = trimmed
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/%/g, '_pct')
    .replace(/[^A-Za-z0-9_]+/g, '_')
    .replace(/_+/g, '_');
  // Underscores that stand for replaced symbols at the edges are noise; the source's own are kept.
  if (!trimmed.startsWith('_')) name = name.replace(/^_+(?=.)/, '');
  if (!trimmed.endsWith('_')) name = name.replace(/(?<=.)_+$/, '');
  if (!name || name === '_') name = 'column';
  if (/^[0-9]/.test(name)) name = `_${name}`;
  const lower = name.toLowerCase();
  if (RESERVED_PREFIXES.some((prefix) => lower.startsWith(prefix))) name = `x${name}`;
  return name.slice(0, MAX_LENGTH);
}

/**
 * Sanitizes the column names of one source so that the results are unique ignoring case, as
 * BigQuery and DuckDB compare column names. A name with a stored sanitized form (`known`, e.g.
 * the ledger's mapping) keeps it. A new name whose sanitized form matches a destination column
 * (`columns`, or a stored name) ignoring case takes that column's spelling: `Sale ID` loads into
 * an existing `sale_id`. Two names of the source that meet the same column: the stored one wins,
 * then one spelled exactly as the column, then the first; the others, and collisions between
 * new names, get the lowest free suffix `_2`, `_3`, … in order of appearance, so the result is
 * deterministic.
 */
export function sanitizeNames(originals: readonly string[], known: ReadonlyMap<string, string> = new Map(), columns: readonly string[] = []): Map<string, string> {
  const spellings = new Map<string, string>();
  for (const name of [...columns, ...known.values()]) if (!spellings.has(name.toLowerCase())) spellings.set(name.toLowerCase(), name);
  const claims = [...new Set(originals)].map((original, position) => {
    const base = sanitizeName(original);
    const stored = known.get(original);
    if (stored !== undefined) return { original, position, base, name: stored, rank: 0 };
    const match = spellings.get(base.toLowerCase());
    return { original, position, base, name: match ?? base, rank: match === undefined ? 3 : match === base ? 1 : 2 };
  });
  const result = new Map<string, string>();
  const taken = new Set<string>();
  const unplaced: typeof claims = [];
  for (const claim of [...claims].sort((a, b) => a.rank - b.rank || a.position - b.position)) {
    if (taken.has(claim.name.toLowerCase())) unplaced.push(claim);
    else {
      taken.add(claim.name.toLowerCase());
      result.set(claim.original, claim.name);
    }
  }
  for (const { original, base } of unplaced.sort((a, b) => a.position - b.position)) {
    let candidate = base;
    for (let n = 2; taken.has(candidate.toLowerCase()) || spellings.has(candidate.toLowerCase()); n++) {
      const suffix = `_${n}`;
      candidate = base.slice(0, MAX_LENGTH - suffix.length) + suffix;
    }
    taken.add(candidate.toLowerCase());
    result.set(original, candidate);
  }
  return new Map(originals.map((original) => [original, result.get(original)!]));
}

/**
 * The stored original → sanitized mapping, with each destination column's own source name for a
 * column no stored name already holds: what {@link sanitizeNames} keeps as it is.
 */
export function knownNames(mapping: ReadonlyMap<string, string>, existing: readonly Column[] = []): Map<string, string> {
  const known = new Map(mapping);
  const held = new Set([...mapping.values()].map((name) => name.toLowerCase()));
  for (const column of existing) {
    if (!known.has(column.source) && !held.has(column.name.toLowerCase())) known.set(column.source, column.name);
  }
  return known;
}
