/**
 * `b2betl inspect-schema`: each source column with its type, destination type, sanitized name
 * and nullability, and how it meets the destination table when that exists.
 */
import { adHocJob, isStoreType, type LoadedJob } from '../core/config.js';
import { ConfigError, ExitCode } from '../core/errors.js';
import { openDestination, openSource } from '../core/open.js';
import { resolveSchema } from '../core/schema.js';
import { commandLogger, discoverConfig, loadJobArgs, printJson, renderTable, withLedger, type CommonOptions } from './common.js';

interface InspectFlags extends CommonOptions {
  readonly connection?: string;
  readonly table?: string;
  readonly pattern?: string;
}

export default async function inspectSchema(jobArg: string | undefined, flags: InspectFlags): Promise<number> {
  const job = await jobOf(jobArg, flags);
  const log = commandLogger(flags);
  if (!jobArg && !flags.table && !isStoreType(job.sourceConnection.type)) return listTables(job, flags);
  const opened = await openSource(job, log);
  const destination = await openDestination(job, log, { readOnly: true });
  try {
    const columns = await opened.source.discover(job.spec, log);
    const existing = await destination.describe(job.table);
    const mapping = await withLedger(job.config, log, async ({ ledger }) => ledger.mapping(job.spec.name), { readOnly: true });
    const resolution = resolveSchema(columns, existing?.columns, mapping);
    const rows = columns.map((column, i) => ({
      source_name: column.name,
      source_type: column.sourceType ?? column.type,
      type: column.type,
      destination_type: resolution.columns[i].type,
      destination_name: resolution.columns[i].name,
      nullable: column.nullable,
    }));
    const report = existing
      ? {
          table: destination.locate(job.table),
          strategy: existing.strategy ?? null,
          compatible: resolution.mismatches.length === 0 && (!existing.strategy || existing.strategy === job.spec.load.strategy || !jobArg),
          compatible_columns: resolution.compatible,
          to_add: resolution.added.map((column) => ({ name: column.name, type: column.type })),
          widened: resolution.widened,
          missing_in_source: resolution.missing,
          type_mismatches: resolution.mismatches,
        }
      : null;
    if (flags.json) {
      printJson({ job: job.spec.name, source: job.spec.source, destination: destination.locate(job.table), columns: rows, destination_table: report });
      return ExitCode.ok;
    }
    const out = [
      `${job.spec.name}: ${columns.length} column(s) → ${destination.locate(job.table)}`,
      renderTable(
        ['source column', 'source type', 'destination type', 'destination name', 'nullable'],
        rows.map((row) => [row.source_name, row.source_type, row.destination_type, row.destination_name, row.nullable ? 'yes' : 'no']),
      ),
    ];
    if (!report) out.push('', 'destination table does not exist yet: it will be created with the columns above');
    else {
      out.push('', `destination table ${report.table}${report.strategy ? ` (loaded with ${report.strategy})` : ''}:`);
      out.push(`  compatible:        ${report.compatible_columns.join(', ') || '(none)'}`);
      out.push(`  to add:            ${report.to_add.map((c) => `${c.name} ${c.type}`).join(', ') || '(none)'}`);
      if (report.widened.length) out.push(`  to widen:          ${report.widened.map((w) => `${w.column} ${w.from}→${w.to}`).join(', ')}`);
      out.push(`  missing in source: ${report.missing_in_source.join(', ') || '(none)'} ${report.missing_in_source.length ? '(they receive NULL)' : ''}`.trimEnd());
      out.push(`  type mismatches:   ${report.type_mismatches.map((m) => `${m.column} (source ${m.sourceType}, destination ${m.destinationType})`).join(', ') || '(none)'}`);
      out.push(report.compatible ? '  → compatible' : '  → NOT compatible: the job would stop with this report');
    }
    process.stdout.write(`${out.join('\n')}\n`);
    return ExitCode.ok;
  } finally {
    await Promise.allSettled([opened.source.close(), destination.close()]);
  }
}

/** `--connection` without `--table`: the tables a job could name, with the catalog's row estimates. */
async function listTables(job: LoadedJob, flags: InspectFlags): Promise<number> {
  const connection = job.spec.source.connection;
  const opened = await openSource(job, commandLogger(flags));
  try {
    if (!opened.source.listTables) {
      throw ConfigError.of(`connection ${connection} (${job.sourceConnection.type}) cannot list its tables`, `name one: b2betl inspect-schema --connection ${connection} --table <table>`);
    }
    const tables = await opened.source.listTables();
    if (flags.json) {
      printJson({ connection, tables: tables.map((table) => ({ name: table.name, kind: table.kind, estimated_rows: table.estimatedRows ?? null })) });
      return ExitCode.ok;
    }
    const rows = tables.map((table) => [table.name, table.kind, table.estimatedRows === undefined ? 'unknown' : `~${table.estimatedRows.toLocaleString('en-US')}`]);
    process.stdout.write(
      `${connection}: ${tables.length} table(s) and view(s); rows are the catalog's estimates\n${renderTable(['table', 'kind', 'rows'], rows)}\n` +
        (tables.length ? `\ncolumns of one: b2betl inspect-schema --connection ${connection} --table ${tables[0].name}\n` : ''),
    );
    return ExitCode.ok;
  } finally {
    await opened.source.close();
  }
}

async function jobOf(jobArg: string | undefined, flags: InspectFlags): Promise<LoadedJob> {
  if (jobArg) return (await loadJobArgs([jobArg], flags))[0];
  if (!flags.connection) throw ConfigError.of('give a job spec file, or --connection <name> with --table <table> (or --pattern <glob> for files)');
  return adHocJob(await discoverConfig(flags), { connection: flags.connection, table: flags.table, pattern: flags.pattern });
}
