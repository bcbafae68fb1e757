/**
 * The commit of a run: one multi-statement transaction that moves the staging rows into the
 * target (append, replace or merge) and inserts the `_b2betl_loads` marker and rejected rows.
 */
import type { Column, LoadMarker, LoadStrategy, Replacement } from '../../../src/core/connector.js';
import { EtlError } from '../../../src/core/errors.js';
import { markerStateText, markerUnitsList } from '../../../src/core/marker-state.js';
import type { JobSpec } from '../../../src/core/spec.js';
import { ident, runQuery, type QueryParam } from '../../bigquery-common/bigquery-client.js';
import type { BigQueryDestination } from './bigquery-destination.js';
import { REJECT_FIELDS, STAGED_REJECT_FIELDS } from './bigquery-rejects.js';
import { MARKERS, sqlString } from './bigquery-tables.js';

/**
 * The commit: one transaction that moves the staging rows into the target (append, replace
 * or merge) and inserts the marker, plus the rejected rows staged for the run.
 */
export async function commitStaging(destination: BigQueryDestination, args: {
  spec: JobSpec;
  table: string;
  /** The table of the rows to move in; none when the run has no rows. */
  staging?: string;
  columns: readonly Column[];
  strategy: LoadStrategy;
  primaryKey: readonly string[];
  marker: LoadMarker;
  /** The staging table of the run's rejected rows; none when it has none. */
  rejects?: string;
  orderColumn?: string;
  replace?: Replacement;
  /** The SELECT expression of each column from the staging table, when one is not its name. */
  select?: readonly string[];
}): Promise<void> {
  const { spec, table, staging, columns, strategy, marker } = args;
  if (args.rejects !== undefined) await destination.tables.createTable(`${table}__rejected`, REJECT_FIELDS);
  const target = destination.path(table);
  const names = columns.map((c) => ident(c.name));
  const statements: string[] = [];
  if (staging !== undefined) {
    const source = `SELECT ${(args.select ?? names).join(', ')} FROM ${destination.path(staging)}`;
    if (strategy === 'merge') {
      statements.push(mergeStatement(target, args.select ? `(${source})` : destination.path(staging), columns, args.primaryKey, args.orderColumn ? `${ident(args.orderColumn)} DESC` : undefined));
    } else {
      statements.push(`INSERT INTO ${target} (${names.join(', ')}) ${source}`);
    }
  }
  const params: Record<string, QueryParam> = { rows: { type: 'INT64', value: String(marker.rows) } };
  if (args.rejects !== undefined) {
    const staged = STAGED_REJECT_FIELDS.map((f) => f.name).join(', ');
    statements.push(`INSERT INTO ${destination.path(`${table}__rejected`)} (${staged}, rejected_at) SELECT ${staged}, CURRENT_TIMESTAMP() FROM ${destination.path(args.rejects)}`);
  }
  await commitTransaction(destination, {
    job: spec.name,
    table,
    columns,
    strategy,
    marker,
    replace: args.replace,
    body: statements,
    rows: '@rows',
    params,
    action: `commit run ${marker.runId} into ${destination.project}.${destination.datasetId}.${table}`,
  });
}

/** BigQuery's answer to a transaction that lost a race with another writer of one of its tables. */
export function isConcurrentUpdate(failure: { message?: string | null }): boolean {
  return /concurrent update/i.test(failure.message ?? '');
}

/**
 * The transaction of a commit, applied once whatever is lost on the way:
 * - it first asserts that the run's marker is not there, so it refuses to apply twice;
 * - the rows it replaces (a catalog load, `--full-refresh`, a backfill window) go in the same transaction;
 * - the marker carries the run's state;
 * - it is never submitted again under a new job id before the earlier attempts have ended and
 *   the marker is known to be absent, and "concurrent update" aborts are retried after that check.
 */
export async function commitTransaction(destination: BigQueryDestination, args: {
  job: string;
  table: string;
  columns: readonly Column[];
  strategy: LoadStrategy;
  marker: LoadMarker;
  replace?: Replacement;
  /** The statements that move the rows in. */
  body: readonly string[];
  /** The SQL of the marker's row count (`@rows`, or `@@row_count` after the last DML). */
  rows: string;
  params: Record<string, QueryParam>;
  action: string;
}): Promise<void> {
  const { marker } = args;
  await destination.tables.ensureMarkers();
  const markers = destination.path(MARKERS);
  const statements = [
    'BEGIN TRANSACTION',
    // A query with ERROR(): queries and DML are what a transaction may hold (ASSERT is not listed).
    `SELECT IF(EXISTS (SELECT 1 FROM ${markers} WHERE job = @job AND run_id = @run_id), ERROR(${sqlString(`run ${marker.runId} of job ${marker.job} is already committed`)}), 0)`,
    ...replacement(destination, args.table, args.columns, args.strategy, args.replace),
    ...args.body,
    `INSERT INTO ${markers} (run_id, job, table_name, strategy, units, rows, committed_at, state) VALUES (@run_id, @job, @table_name, @strategy, @units, ${args.rows}, CURRENT_TIMESTAMP(), @state)`,
    'COMMIT TRANSACTION',
  ];
  await runQuery(
    destination.handle,
    destination.jobIdFor(args.job, marker.runId, 'commit'),
    statements.join(';\n'),
    args.action,
    {
      ...args.params,
      run_id: { type: 'STRING', value: marker.runId },
      job: { type: 'STRING', value: marker.job },
      table_name: { type: 'STRING', value: marker.table },
      strategy: { type: 'STRING', value: marker.strategy },
      // A request holds at most 10 MB, parameters included: a run of very many files sends its units gzipped.
      units: { type: 'ARRAY', elementType: 'STRING', values: markerUnitsList(marker.units) },
      state: { type: 'STRING', value: markerStateText(marker.state) },
    },
    {
      landed: async () => (await destination.committedRuns(marker.job, [marker.runId])).has(marker.runId),
      retryable: isConcurrentUpdate,
    },
  );
}

/** The statements that clear what a commit replaces: the whole table, or a cursor window. */
function replacement(destination: BigQueryDestination, table: string, columns: readonly Column[], strategy: LoadStrategy, replace: Replacement | undefined): string[] {
  const target = destination.path(table);
  if (strategy === 'catalog' || replace?.kind === 'table') return [`DELETE FROM ${target} WHERE TRUE`];
  if (replace?.kind !== 'window') return [];
  const column = columns.find((c) => c.source === replace.column || c.name === replace.column);
  if (!column) throw new EtlError(`the backfill's cursor column ${replace.column} is not among the loaded columns`, 'keep load.cursor among source.columns');
  const where: string[] = [];
  if (replace.lower !== undefined) where.push(`${ident(column.name)} >= CAST(${sqlString(replace.lower)} AS ${column.type})`);
  if (replace.upper) where.push(`${ident(column.name)} ${replace.upper.inclusive ? '<=' : '<'} CAST(${sqlString(replace.upper.value)} AS ${column.type})`);
  return [`DELETE FROM ${target} WHERE ${where.length ? where.join(' AND ') : 'TRUE'}`];
}

/**
 * MERGE on the primary key from `from` (a table path or a parenthesized query); its rows are
 * deduplicated first, keeping per key the first row in `order` (the last staged one).
 */
export function mergeStatement(target: string, from: string, columns: readonly Column[], primaryKey: readonly string[], order?: string): string {
  const keys = primaryKey.map((key) => {
    const column = columns.find((c) => c.source === key || c.name === key || c.name.toLowerCase() === key.toLowerCase());
    if (!column) throw new EtlError(`load.primary_key column ${key} is not among the loaded columns`, `columns are: ${columns.map((c) => c.source).join(', ')}`);
    return ident(column.name);
  });
  const names = columns.map((c) => ident(c.name));
  const deduped = `SELECT ${names.join(', ')} FROM ${from} WHERE TRUE QUALIFY ROW_NUMBER() OVER (PARTITION BY ${keys.join(', ')} ORDER BY ${order ?? keys.join(', ')}) = 1`;
  const on = keys.map((k) => `T.${k} IS NOT DISTINCT FROM S.${k}`).join(' AND ');
  const updates = names.filter((n) => !keys.includes(n)).map((n) => `${n} = S.${n}`);
  return [
    `MERGE ${target} T USING (${deduped}) S ON ${on}`,
    ...(updates.length ? [`WHEN MATCHED THEN UPDATE SET ${updates.join(', ')}`] : []),
    `WHEN NOT MATCHED THEN INSERT (${names.join(', ')}) VALUES (${names.map((n) => `S.${n}`).join(', ')})`,
  ].join(' ');
}
