/**
 * BigQuery → BigQuery as one query script: INSERT … SELECT (or MERGE) from the source's window
 * query into the target, with the marker in the same transaction; no rows pass through this
 * machine and no staging table is needed.
 */
import type { BeforeCommit, Engine, EngineRequest, EngineRun, LoadMarker } from '../../../src/core/connector.js';
import { markerWith } from '../../../src/core/marker-state.js';
import { ident, type BigQueryConnection, type QueryParam } from '../../bigquery-common/bigquery-client.js';
import { commitTransaction, mergeStatement } from '../../destinations/bigquery/bigquery-commit.js';
import type { BigQueryDestination } from '../../destinations/bigquery/bigquery-destination.js';
import { MARKERS } from '../../destinations/bigquery/bigquery-tables.js';
import type { BigQuerySource, BigQueryUnitParams } from '../../sources/bigquery/bigquery-source.js';
import { fitColumns } from '../engine-columns.js';

/** Whether the destination's client can run queries over the source's tables. */
function sameService(destination: BigQueryConnection, source: BigQueryConnection): boolean {
  const location = (text?: string) => (text ?? '').toUpperCase();
  return (source.endpoint ?? '') === (destination.endpoint ?? '') && (source.credentials ?? '') === (destination.credentials ?? '') && (!source.location || !destination.location || location(source.location) === location(destination.location));
}

async function plan(request: EngineRequest): Promise<EngineRun | undefined> {
  if (request.source.config.type !== 'bigquery' || request.destination.config.type !== 'bigquery') return undefined;
  if (!sameService(request.destination.config as BigQueryConnection, request.source.config as BigQueryConnection)) return undefined;
  const units = request.plan.units.map((unit) => unit.params as BigQueryUnitParams | undefined);
  if (!units.length || units.some((unit) => !unit || typeof unit.sql !== 'string')) return undefined;
  const source = request.source.connector as BigQuerySource;
  const destination = request.destination.connector as BigQueryDestination;
  const shape = await source.shape(request.job);
  const discovered = await source.discover(request.job, request.log);
  const fit = await fitColumns(request, discovered);
  if (!fit) return undefined;
  const { job } = request;
  // Each unit's SELECT keeps its own parameters; with several units they are renamed apart.
  const params: Record<string, QueryParam> = {};
  const selects = units.map((unit, i) => {
    let sql = unit!.sql;
    for (const [name, value] of Object.entries(unit!.params)) {
      const renamed = units.length > 1 ? `u${i}_${name}` : name;
      if (renamed !== name) sql = sql.replace(new RegExp(`@${name}\\b`, 'g'), `@${renamed}`);
      params[renamed] = value;
    }
    return sql;
  });
  const bySource = new Map(shape.selected.map((f) => [f.name, f]));
  const expressions = fit.columns.map((column) => {
    const field = bySource.get(column.source);
    const value = `_u.${ident(column.source)}`;
    const nested = field && ((field.mode ?? '').toUpperCase() === 'REPEATED' || ['RECORD', 'STRUCT'].includes(field.type.toUpperCase()));
    const from = discovered.find((d) => d.name === column.source)?.type;
    let expression = value;
    if (nested) expression = column.type === 'JSON' ? `TO_JSON(${value})` : `TO_JSON_STRING(${value})`;
    else if (from === 'JSON' && column.type === 'STRING') expression = `TO_JSON_STRING(${value})`;
    else if (from && from !== column.type && !['NUMERIC', 'BIGNUMERIC', 'FLOAT64'].includes(column.type)) expression = `CAST(${value} AS ${column.type})`;
    return `${expression} AS ${ident(column.name)}`;
  });
  const select = `SELECT ${expressions.join(', ')} FROM (${selects.join(' UNION ALL ')}) AS _u`;
  const names = fit.columns.map((c) => ident(c.name));
  const statement = request.strategy === 'merge' ? 'MERGE' : 'INSERT … SELECT';
  return {
    description: `run inside BigQuery as one query script: ${statement} from ${shape.label} into ${destination.locate(request.table)} (no rows pass through this machine)`,
    reason: 'source and destination are both BigQuery, reachable by one client: the copy runs as a query job',
    details: { query: select },
    async run(marker: LoadMarker, _signal: AbortSignal, committing: BeforeCommit) {
      const d = destination;
      const columns = fit.columns.map((c) => ({ ...c, nullable: fit.exists ? c.nullable : true }));
      await d.tables.ensureDataset();
      await d.tables.ensureMarkers();
      await d.tables.prepareTarget(job, request.table, request.strategy, columns, request.runId, request.primaryKey);
      const target = d.path(request.table);
      const statements: string[] = [];
      if (request.strategy === 'merge') {
        const cursor = job.load.cursor ? fit.columns.find((c) => c.source === job.load.cursor) : undefined;
        const keys = request.primaryKey.map((key) => fit.columns.find((c) => c.source === key || c.name === key)?.name ?? key);
        statements.push(mergeStatement(target, `(${select})`, columns, keys, cursor ? `${ident(cursor.name)} DESC` : undefined));
      } else {
        statements.push(`INSERT INTO ${target} (${names.join(', ')}) ${select}`);
      }
      // The copy is the commit's own transaction: its rows are counted only there.
      await committing(undefined, columns);
      await commitTransaction(d, {
        job: job.name,
        table: request.table,
        columns,
        strategy: request.strategy,
        marker: markerWith(marker, marker.rows, columns),
        replace: request.replace,
        body: statements,
        rows: '@@row_count',
        params,
        action: `copy ${shape.label} into ${d.project}.${d.datasetId}.${request.table}`,
      });
      const [rows] = await d.handle.client.query({
        query: `SELECT rows FROM ${d.path(MARKERS)} WHERE run_id = @run_id AND job = @job`,
        params: { run_id: marker.runId, job: marker.job },
        location: d.handle.location,
      } as never);
      const loaded = Number((rows as { rows: number | string }[])[0]?.rows ?? 0);
      return { rows: loaded, columns };
    },
  };
}

/** The engine that copies BigQuery into BigQuery with query jobs. */
export const bigQueryQueryEngine: Engine = { name: 'bigquery-query', plan };
