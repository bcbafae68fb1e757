/**
 * What `inspect-schema` and `init` show about a source's columns: their destination types and
 * sanitized names, and how they meet an existing destination table (the compatibility report).
 */
import type { TableInfo } from '../core/connector.js';
import { resolveSchema } from '../core/schema.js';
import type { SourceColumn } from '../core/types.js';
import { renderTable } from './common.js';

/** One source column as it will land. */
export interface ColumnRow {
  readonly source_name: string;
  readonly source_type: string;
  readonly type: string;
  readonly destination_type: string;
  readonly destination_name: string;
  readonly nullable: boolean;
}

/** How the source meets an existing destination table. */
export interface CompatibilityReport {
  readonly table: string;
  readonly strategy: string | null;
  readonly compatible: boolean;
  readonly compatible_columns: readonly string[];
  readonly to_add: readonly { name: string; type: string }[];
  readonly widened: readonly { column: string; from: string; to: string }[];
  readonly missing_in_source: readonly string[];
  readonly type_mismatches: readonly { column: string; source: string; sourceType: string; destinationType: string }[];
  /** Why the job would stop, in words; empty when compatible. */
  readonly reasons: readonly string[];
}

/**
 * The columns and, when the table exists, its report. `strategy` is the job's: a table loaded
 * with another strategy is refused (undefined: not checked, as for an ad-hoc inspection).
 */
export function schemaReport(
  columns: readonly SourceColumn[],
  existing: TableInfo | undefined,
  mapping: ReadonlyMap<string, string>,
  table: string,
  strategy?: string,
): { rows: ColumnRow[]; report: CompatibilityReport | null } {
  const resolution = resolveSchema(columns, existing?.columns, mapping);
  const rows = columns.map((column, i) => ({
    source_name: column.name,
    source_type: column.sourceType ?? column.type,
    type: column.type,
    destination_type: resolution.columns[i].type,
    destination_name: resolution.columns[i].name,
    nullable: column.nullable,
  }));
  if (!existing) return { rows, report: null };
  const reasons = resolution.mismatches.map((m) => `${m.column}: source ${m.source} is ${m.sourceType}, the table has ${m.destinationType}`);
  if (strategy && existing.strategy && existing.strategy !== strategy) {
    reasons.push(`the table is loaded with ${existing.strategy}, not ${strategy}: one table takes one load type`);
  }
  return {
    rows,
    report: {
      table,
      strategy: existing.strategy ?? null,
      compatible: reasons.length === 0,
      compatible_columns: resolution.compatible,
      to_add: resolution.added.map((column) => ({ name: column.name, type: column.type })),
      widened: resolution.widened,
      missing_in_source: resolution.missing,
      type_mismatches: resolution.mismatches,
      reasons,
    },
  };
}

/** The columns as a text table. */
export function renderColumns(rows: readonly ColumnRow[]): string {
  return renderTable(
    ['source column', 'source type', 'destination type', 'destination name', 'nullable'],
    rows.map((row) => [row.source_name, row.source_type, row.destination_type, row.destination_name, row.nullable ? 'yes' : 'no']),
  );
}

/** The report as text lines (or the note that the table will be created). */
export function renderReport(report: CompatibilityReport | null): string[] {
  if (!report) return ['destination table does not exist yet: it will be created with the columns above'];
  const out = [`destination table ${report.table}${report.strategy ? ` (loaded with ${report.strategy})` : ''}:`];
  out.push(`  compatible:        ${report.compatible_columns.join(', ') || '(none)'}`);
  out.push(`  to add:            ${report.to_add.map((c) => `${c.name} ${c.type}`).join(', ') || '(none)'}`);
  if (report.widened.length) out.push(`  to widen:          ${report.widened.map((w) => `${w.column} ${w.from}→${w.to}`).join(', ')}`);
  out.push(`  missing in source: ${report.missing_in_source.join(', ') || '(none)'} ${report.missing_in_source.length ? '(they receive NULL)' : ''}`.trimEnd());
  out.push(`  type mismatches:   ${report.type_mismatches.map((m) => `${m.column} (source ${m.sourceType}, destination ${m.destinationType})`).join(', ') || '(none)'}`);
  out.push(report.compatible ? '  → compatible' : `  → NOT compatible: ${report.reasons.join('; ')}`);
  return out;
}
