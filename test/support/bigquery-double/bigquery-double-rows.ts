/** Stored rows rendered in BigQuery's wire form: `{f:[{v}]}` with BigQuery's text for each type. */
import type { BqField } from './bigquery-double-types.js';
import { duckTable, quote, type TablePath } from './bigquery-double-sql.js';
import { RESULTS_SCHEMA, type DuckSession } from './bigquery-double-duck.js';
import type { Json } from './bigquery-double-state.js';

/** Rows of a job's result or a table, in BigQuery's `{f:[{v}]}` wire form. */
export async function readRows(
  duck: DuckSession,
  relation: { table: string; schema?: string } | TablePath,
  fields: readonly BqField[],
  startIndex: number,
  maxResults: number,
  int64Timestamps: boolean,
): Promise<Json[]> {
  return duck.mutex.run(async () => {
    const from = 'table' in relation && 'project' in relation ? duckTable(relation as TablePath) : `${quote(RESULTS_SCHEMA)}.${quote((relation as { table: string }).table)}`;
    if (fields.length === 0) return [];
    const exprs = fields.map((f) => {
      const column = quote(f.name);
      if (f.mode === 'REPEATED') return `list_transform(${column}, x -> ${wireText('x', f.type)})`;
      return wireText(column, f.type);
    });
    const reader = await duck.db.runAndReadAll(`SELECT ${exprs.join(', ')} FROM ${from} ORDER BY rowid LIMIT ${maxResults} OFFSET ${startIndex}`);
    return reader.getRowsJS().map((row) => ({
      f: row.map((value, i) => {
        const field = fields[i];
        const one = (v: unknown) => ({ v: v === null ? null : formatWire(String(v), field.type, int64Timestamps) });
        if (field.mode === 'REPEATED') return { v: ((value as unknown[] | null) ?? []).map(one) };
        return one(value);
      }),
    }));
  });
}

/** DuckDB expression rendering a stored value as the text BigQuery puts on the wire. */
function wireText(column: string, type: string): string {
  switch (type) {
    case 'INT64':
    case 'STRING':
    case 'JSON':
    case 'TIME':
    case 'DATE':
      return `CAST(${column} AS VARCHAR)`;
    case 'FLOAT64':
      return `CASE WHEN isnan(${column}) THEN 'NaN' WHEN ${column} = 'inf'::DOUBLE THEN 'Infinity' WHEN ${column} = '-inf'::DOUBLE THEN '-Infinity' ELSE CAST(${column} AS VARCHAR) END`;
    case 'NUMERIC':
    case 'BIGNUMERIC':
      return `CAST(${column} AS VARCHAR)`;
    case 'BOOL':
      return `CASE WHEN ${column} IS NULL THEN NULL WHEN ${column} THEN 'true' ELSE 'false' END`;
    case 'TIMESTAMP':
      return `CAST(epoch_us(${column}) AS VARCHAR)`;
    case 'DATETIME':
      return `strftime(${column}, '%Y-%m-%dT%H:%M:%S.%f')`;
    case 'BYTES':
      return `to_base64(${column})`;
    default:
      return `CAST(${column} AS VARCHAR)`;
  }
}

/** Final touches on wire text: exact decimals without trailing zeros, timestamps as requested. */
function formatWire(text: string, type: string, int64Timestamps: boolean): string {
  switch (type) {
    case 'NUMERIC':
    case 'BIGNUMERIC':
      return text.includes('.') ? text.replace(/0+$/, '').replace(/\.$/, '') : text;
    case 'TIMESTAMP':
      if (int64Timestamps) return text;
      // The service's default: seconds since the epoch as a floating-point string.
      return (Number(BigInt(text)) / 1e6).toExponential().replace('e+', 'E').replace('e-', 'E-');
    case 'DATETIME':
      return text.replace(/\.0{6}$/, '').replace(/(\.\d*?)0+$/, '$1');
    default:
      return text;
  }
}
