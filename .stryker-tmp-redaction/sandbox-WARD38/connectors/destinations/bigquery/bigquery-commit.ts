/**
 * The commit of a run: one multi-statement transaction that moves the staging rows into the
 * target (append, replace or merge) and inserts the `_b2betl_loads` marker and rejected rows.
 */
// @ts-nocheck

import type { JobMetadata } from '@google-cloud/bigquery';
import type { Column, LoadMarker, LoadStrategy, RejectedRow } from '../../../src/core/connector.js';
import { EtlError } from '../../../src/core/errors.js';
import type { JobSpec } from '../../../src/core/spec.js';
import { ident, runQuery, type QueryParam } from '../../bigquery-common/bigquery-client.js';
import type { BigQueryField } from '../../bigquery-common/bigquery-types.js';
import type { BigQueryDestination } from './bigquery-destination.js';
import { MARKERS, sqlString } from './bigquery-tables.js';

const REJECT_FIELDS: BigQueryField[] = [
  { name: 'run_id', type: 'STRING', mode: 'REQUIRED' },
  { name: 'unit', type: 'STRING', mode: 'NULLABLE' },
  { name: 'position', type: 'STRING', mode: 'NULLABLE' },
  { name: 'column_name', type: 'STRING', mode: 'NULLABLE' },
  { name: 'reason', type: 'STRING', mode: 'NULLABLE' },
  { name: 'raw', type: 'STRING', mode: 'NULLABLE' },
  { name: 'rejected_at', type: 'TIMESTAMP', mode: 'NULLABLE' },
];

/**
 * The commit: one transaction that moves the staging rows into the target (append, replace
 * or merge) and inserts the marker, plus any rejected rows.
 */
export async function commitStaging(destination: BigQueryDestination, args: {
  spec: JobSpec;
  table: string;
  staging: string;
  columns: readonly Column[];
  strategy: LoadStrategy;
  primaryKey: readonly string[];
  marker: LoadMarker;
  rejects: readonly RejectedRow[];
  orderColumn?: string;
}): Promise<JobMetadata> {
  const { spec, table, staging, columns, strategy, marker } = args;
  await destination.tables.ensureMarkers();
  if (args.rejects.length) await destination.tables.createTable(`${table}__rejected`, REJECT_FIELDS);
  const target = destination.path(table);
  const names = columns.map((c) => ident(c.name));
  const statements = ['BEGIN TRANSACTION'];
  const source = `SELECT ${names.join(', ')} FROM ${destination.path(staging)}`;
  if (strategy === 'catalog') {
    statements.push(`DELETE FROM ${target} WHERE TRUE`);
    statements.push(`INSERT INTO ${target} (${names.join(', ')}) ${source}`);
  } else if (strategy === 'merge') {
    statements.push(mergeStatement(target, destination.path(staging), columns, args.primaryKey, args.orderColumn ? `${ident(args.orderColumn)} DESC` : undefined));
  } else {
    statements.push(`INSERT INTO ${target} (${names.join(', ')}) ${source}`);
  }
  statements.push(
    `INSERT INTO ${destination.path(MARKERS)} (run_id, job, table_name, strategy, units, rows, committed_at) VALUES (@run_id, @job, @table_name, @strategy, @units, @rows, CURRENT_TIMESTAMP())`,
  );
  if (args.rejects.length) {
    const values = args.rejects.map(
      (r) =>
        `(${[r.runId, r.unit, r.position, r.column ?? null, r.reason, r.raw.slice(0, 100_000)].map((v) => (v === null ? 'NULL' : sqlString(v))).join(', ')}, CURRENT_TIMESTAMP())`,
    );
    statements.push(`INSERT INTO ${destination.path(`${table}__rejected`)} (run_id, unit, position, column_name, reason, raw, rejected_at) VALUES ${values.join(', ')}`);
  }
  statements.push('COMMIT TRANSACTION');
  const params: Record<string, QueryParam> = {
    run_id: { type: 'STRING', value: marker.runId },
    job: { type: 'STRING', value: marker.job },
    table_name: { type: 'STRING', value: marker.table },
    strategy: { type: 'STRING', value: marker.strategy },
    units: { type: 'ARRAY', elementType: 'STRING', values: [...marker.units] },
    rows: { type: 'INT64', value: String(marker.rows) },
  };
  return runQuery(destination.handle, destination.jobIdFor(spec.name, marker.runId, 'commit'), statements.join(';\n'), `commit run ${marker.runId} into ${destination.project}.${destination.datasetId}.${table}`, params);
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
