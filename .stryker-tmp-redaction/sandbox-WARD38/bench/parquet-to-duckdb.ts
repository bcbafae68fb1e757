/**
 * Parquet → DuckDB throughput: `b2betl run` of a generated flights-like file beside DuckDB's own
 * read_parquet into a table, measured in the same run on the same file. b2betl runs twice: as it
 * does by default (DuckDB reads the file itself), and with every row streamed through the core
 * (`B2BETL_STREAM_ONLY=1`, the path of every destination that does not read files itself).
 *
 *   npm run build && node dist/bench/parquet-to-duckdb.js [rows ...]     (default: 3000000)
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateFlights } from './generate-parquet.js';
import { benchFile } from './support.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const work = path.join(root, 'bench', 'data');
const counts = process.argv.slice(2).map(Number).filter(Boolean);

async function benchOne(rows: number): Promise<void> {
  const file = path.join(work, `flights-${rows}`, 'inbox', 'flights.parquet');
  if (!existsSync(file)) await generateFlights(rows, file);
  await benchFile({ root, file, rows, kind: 'Parquet', read: `read_parquet('${file.replace(/'/g, "''")}')` });
}

for (const rows of counts.length ? counts : [3_000_000]) await benchOne(rows);
