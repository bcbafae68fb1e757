/**
 * Writes a deterministic Parquet file shaped like the public 3M-row flights data set (a date,
 * four small integers, two single-precision floats) with DuckDB:
 * `node dist/bench/generate-parquet.js <rows> <output.parquet>`.
 */
import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';

/** Writes `rows` flights to `file`: a Lehmer sequence stands in for the real delays and times. */
export async function generateFlights(rows: number, file: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const connection = await (await DuckDBInstance.create(':memory:')).connect();
  try {
    await connection.run(`COPY (SELECT
        DATE '2006-01-01' + CAST(i * 365 // ${rows} AS INTEGER) AS FL_DATE,
        CAST(r % 181 - 20 AS SMALLINT) AS DEP_DELAY,
        CAST((r // 181) % 211 - 30 AS SMALLINT) AS ARR_DELAY,
        CAST(20 + (r // 38191) % 380 AS SMALLINT) AS AIR_TIME,
        CAST(80 + (r // 7) % 2700 AS SMALLINT) AS DISTANCE,
        CAST(((r // 13) % 1440) / 60.0 AS FLOAT) AS DEP_TIME,
        CAST(((r // 17) % 1440) / 60.0 AS FLOAT) AS ARR_TIME
      FROM (SELECT i, (i * 48271 + 11) % 2147483647 AS r FROM range(${rows}) t(i)))
      TO '${file.replace(/'/g, "''")}' (FORMAT parquet)`);
  } finally {
    connection.closeSync();
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [rows, file] = process.argv.slice(2);
  if (!rows || !file) throw new Error('usage: generate-parquet <rows> <output.parquet>');
  await generateFlights(Number(rows), resolve(file));
}
