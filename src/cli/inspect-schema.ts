/**
 * `b2betl inspect-schema`: each source column with its type, destination type, sanitized name
 * and nullability, and how it meets the destination table when that exists.
 */
import { adHocJob, isStoreType, type LoadedJob } from '../core/config.js';
import { ConfigError, ExitCode } from '../core/errors.js';
import { openDestination, openSource } from '../core/open.js';
import { commandLogger, discoverConfig, loadJobArgs, printJson, renderTable, withLedger, type CommonOptions } from './common.js';
import { renderColumns, renderReport, schemaReport } from './schema-report.js';

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
    // An ad-hoc inspection has no strategy of its own to hold against the table's.
    const { rows, report } = schemaReport(columns, existing, mapping, destination.locate(job.table), jobArg ? job.spec.load.strategy : undefined);
    if (flags.json) {
      const { reasons: _reasons, ...table } = report ?? { reasons: [] };
      printJson({ job: job.spec.name, source: job.spec.source, destination: destination.locate(job.table), columns: rows, destination_table: report ? table : null });
      return ExitCode.ok;
    }
    const out = [`${job.spec.name}: ${columns.length} column(s) → ${destination.locate(job.table)}`, renderColumns(rows), '', ...renderReport(report)];
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
