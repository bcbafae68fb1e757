/**
 * Column names for BigQuery (and every destination): letters, digits and underscores, not
 * starting with a digit or a reserved prefix, at most 300 characters, unique ignoring case.
 */
// @ts-nocheck


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
 * Sanitizes a list of names so that the results are unique ignoring case. Names already taken
 * (`existing`, e.g. from the ledger's mapping) keep their sanitized form; a collision gets the
 * lowest free suffix `_2`, `_3`, … in order of appearance, so the result is deterministic.
 */
export function sanitizeNames(originals: readonly string[], existing: ReadonlyMap<string, string> = new Map()): Map<string, string> {
  const result = new Map<string, string>();
  const taken = new Set<string>();
  for (const sanitized of existing.values()) taken.add(sanitized.toLowerCase());
  for (const original of originals) {
    const known = existing.get(original);
    if (known !== undefined) {
      result.set(original, known);
      continue;
    }
    if (result.has(original)) continue;
    const base = sanitizeName(original);
    let candidate = base;
    for (let n = 2; taken.has(candidate.toLowerCase()); n++) {
      const suffix = `_${n}`;
      candidate = base.slice(0, MAX_LENGTH - suffix.length) + suffix;
    }
    taken.add(candidate.toLowerCase());
    result.set(original, candidate);
  }
  return result;
}
