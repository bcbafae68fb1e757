/**
 * CSV → DuckDB throughput: `b2betl run` of a generated file beside DuckDB's own read_csv into a
 * table, measured in the same run on the same file. b2betl runs twice: as it does by default
 * (DuckDB reads the file itself), and with every row streamed through the core
 * (`B2BETL_STREAM_ONLY=1`, the path of every other source and format).
 *
 *   npm run build && node dist/bench/csv-to-duckdb.js [rows ...]     (default: 1000000 5000000)
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchFile, measure } from './support.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const work = path.join(root, 'bench', 'data');
const counts = process.argv.slice(2).map(Number).filter(Boolean);

async function generate(rows: number): Promise<string> {
  const file = path.join(work, `orders-${rows}`, 'inbox', 'orders.csv');
  if (!existsSync(file)) {
    await mkdir(path.dirname(file), { recursive: true });
    const result = await measure(process.execPath, [path.join(root, 'dist', 'bench', 'generate-csv.js'), String(rows), file]);
    if (result.code !== 0) throw new Error(`generator failed: ${result.stderr}`);
  }
  return file;
}

async function benchOne(rows: number): Promise<void> {
  const file = await generate(rows);
  await benchFile({ root, file, rows, kind: 'CSV', read: `read_csv('${file.replace(/'/g, "''")}', header = true)` });
}

for (const rows of counts.length ? counts : [1_000_000, 5_000_000]) await benchOne(rows);
