/** Load files (NDJSON, CSV, Parquet) parsed into rows, each value checked against the schema. */
import { randomUUID } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseLossless } from 'lossless-json';
import Papa from 'papaparse';
import { ExactNumber, invalid, loadValue, ValueProblem, type BqErrorProto, type BqField } from './bigquery-double-types.js';
import { literal, quote } from './bigquery-double-sql.js';
import type { DuckSession } from './bigquery-double-duck.js';
import type { Json } from './bigquery-double-state.js';

/** BigQuery's largest row in a JSON load: 100 MB. */
const MAX_JSON_ROW_BYTES = 100 * 1024 * 1024;

/** Parses and checks every row of the load's files against `fields`. */
export async function parseLoadFiles(
  duck: DuckSession,
  format: string,
  files: { name: string; data: Buffer }[],
  fields: BqField[],
  load: Json,
): Promise<{ rows: (string | null)[][]; errors: BqErrorProto[]; total: number }> {
  const rows: (string | null)[][] = [];
  const errors: BqErrorProto[] = [];
  let total = 0;
  const byName = new Map(fields.map((f, i) => [f.name.toLowerCase(), i]));
  const ignoreUnknown = load.ignoreUnknownValues === true;
  const check = (record: Map<string, unknown>, csv: boolean): (string | null)[] => {
    const row: (string | null)[] = new Array(fields.length).fill(null);
    for (const [key, raw] of record) {
      const index = byName.get(key.toLowerCase());
      if (index === undefined) {
        if (ignoreUnknown) continue;
        throw new ValueProblem(`No such field: ${key}.`);
      }
      const field = fields[index];
      if (raw === null || raw === undefined) continue;
      if (field.mode === 'REPEATED') {
        if (!Array.isArray(raw)) throw new ValueProblem(`Expected array for repeated field ${field.name}`);
        row[index] = JSON.stringify(raw.map((element) => {
          if (element === null) throw new ValueProblem(`Array ${field.name} contains a null element`);
          return loadValue(field.type, element, csv);
        }));
      } else {
        try {
          row[index] = loadValue(field.type, raw, csv);
        } catch (error) {
          if (error instanceof ValueProblem) throw new ValueProblem(`${error.message} Field: ${field.name}; Value: ${describeRaw(raw)}`);
          throw error;
        }
      }
    }
    fields.forEach((field, i) => {
      if (field.mode === 'REQUIRED' && row[i] === null) throw new ValueProblem(`Missing required field: ${field.name}.`);
    });
    return row;
  };
  for (const file of files) {
    if (format === 'NEWLINE_DELIMITED_JSON') {
      const text = file.data.toString('utf8');
      let offset = 0;
      for (const line of text.split('\n')) {
        const start = offset;
        const bytes = Buffer.byteLength(line, 'utf8');
        offset += bytes + 1;
        if (line.trim() === '') continue;
        total++;
        try {
          if (bytes > MAX_JSON_ROW_BYTES) throw new ValueProblem(`Row size ${bytes} is larger than the maximum of ${MAX_JSON_ROW_BYTES} bytes.`);
          let parsed: unknown;
          try {
            parsed = parseLossless(line, null, (value: string) => new ExactNumber(value));
          } catch (error) {
            throw new ValueProblem(`Parser terminated before end of string: ${(error as Error).message}`);
          }
          if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new ValueProblem('Row is not a JSON object');
          rows.push(check(new Map(Object.entries(parsed as Record<string, unknown>)), false));
        } catch (error) {
          if (!(error instanceof ValueProblem)) throw error;
          errors.push({ reason: 'invalid', location: file.name, message: `Error while reading data, error message: JSON parsing error in row starting at position ${start}: ${error.message}` });
        }
      }
    } else if (format === 'CSV') {
      const parsed = Papa.parse<string[]>(file.data.toString(load.encoding === 'ISO-8859-1' ? 'latin1' : 'utf8'), {
        delimiter: load.fieldDelimiter === 'tab' || load.fieldDelimiter === '\\t' ? '\t' : (load.fieldDelimiter ?? ','),
        quoteChar: load.quote ?? '"',
        skipEmptyLines: true,
      });
      const skip = Number(load.skipLeadingRows ?? 0);
      const nullMarker = load.nullMarker ?? '';
      parsed.data.slice(skip).forEach((cells, index) => {
        total++;
        try {
          if (cells.length > fields.length && !ignoreUnknown) throw new ValueProblem(`Too many values in row starting at position ${index + skip}. Found ${cells.length} column(s) while expected ${fields.length}.`);
          if (cells.length < fields.length && !load.allowJaggedRows) throw new ValueProblem(`Too few columns: expected ${fields.length} column(s) but got ${cells.length} column(s).`);
          const record = new Map<string, unknown>();
          fields.forEach((field, i) => {
            const cell = cells[i];
            record.set(field.name, cell === undefined || cell === nullMarker ? null : cell);
          });
          rows.push(check(record, true));
        } catch (error) {
          if (!(error instanceof ValueProblem)) throw error;
          errors.push({ reason: 'invalid', location: file.name, message: `Error while reading data, error message: CSV processing encountered an error in row ${index + skip + 1}: ${error.message}` });
        }
      });
    } else if (format === 'PARQUET') {
      const records = await parquetRows(duck, file.data);
      records.forEach((record, index) => {
        total++;
        try {
          rows.push(check(record, true));
        } catch (error) {
          if (!(error instanceof ValueProblem)) throw error;
          errors.push({ reason: 'invalid', location: file.name, message: `Error while reading data, error message: Parquet row ${index}: ${error.message}` });
        }
      });
    } else {
      throw invalid(`the test double cannot read ${format} load files`);
    }
  }
  return { rows, errors, total };
}

/** Rows of a Parquet file as text values (DuckDB reads it), checked later like CSV cells. */
async function parquetRows(duck: DuckSession, data: Buffer): Promise<Map<string, unknown>[]> {
  const file = path.join(duck.scratch, `${randomUUID()}.parquet`);
  await writeFile(file, data);
  const reader = await duck.db.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${literal(file)})`);
  const columns = reader.getRowsJS().map((row) => ({ name: String(row[0]), type: String(row[1]) }));
  const select = columns.map((c) => {
    const q = quote(c.name);
    if (c.type === 'BLOB') return `to_base64(${q})`;
    if (c.type.startsWith('TIMESTAMP')) return `strftime(${q}, '%Y-%m-%d %H:%M:%S.%f') || '+00:00'`;
    return `CAST(${q} AS VARCHAR)`;
  });
  const result = await duck.db.runAndReadAll(`SELECT ${select.join(', ')} FROM read_parquet(${literal(file)})`);
  await rm(file, { force: true });
  return result.getRowsJS().map((row) => new Map(columns.map((c, i) => [c.name, row[i] === null ? null : String(row[i])])));
}

function describeRaw(raw: unknown): string {
  if (raw instanceof ExactNumber) return raw.text;
  return typeof raw === 'string' ? raw : JSON.stringify(raw);
}
