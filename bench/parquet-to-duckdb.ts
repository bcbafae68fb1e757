/**
 * Parquet → DuckDB throughput: `b2betl run` of a generated flights-like file beside DuckDB's own
 * read_parquet into a table, measured in the same run on the same file. b2betl runs twice: as it
 * does by default (DuckDB reads the file itself), and with every row streamed through the core
 * (`B2BETL_STREAM_ONLY=1`, the path of every destination that does not read files itself).
 *
 *   npm run build && node dist/bench/parquet-to-duckdb.js [rows ...]     (default: 3000000)
 */
import { existsSync } from 'node:fs';
import { rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateFlights } from './generate-parquet.js';
import { measure, thousands } from './support.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const work = path.join(root, 'bench', 'data');
const counts = process.argv.slice(2).map(Number).filter(Boolean);

async function benchOne(rows: number): Promise<void> {
  const project = path.join(work, `flights-${rows}`);
  const file = path.join(project, 'inbox', 'flights.parquet');
  if (!existsSync(file)) await generateFlights(rows, file);
  const size = (await stat(file)).size;
  await writeFile(path.join(project, 'etl.config.yaml'), 'connections:\n  inbox: { type: local, path: ./inbox }\n');
  await writeFile(path.join(project, 'flights.yaml'), 'name: flights\nsource: { connection: inbox, pattern: "*.parquet" }\nload: { strategy: catalog }\n');

  const runB2betl = async (env: NodeJS.ProcessEnv = {}) => {
    await rm(path.join(project, 'warehouse.duckdb'), { force: true });
    await rm(path.join(project, '.b2betl'), { recursive: true, force: true });
    const result = await measure(process.execPath, [path.join(root, 'bin', 'b2betl.js'), 'run', 'flights.yaml'], { cwd: project, env });
    if (result.code !== 0) throw new Error(`b2betl failed:\n${result.stderr}`);
    return result;
  };
  const native = await runB2betl();
  const streamed = await runB2betl({ B2BETL_STREAM_ONLY: '1' });

  const baselineScript = path.join(project, 'baseline.mjs');
  await writeFile(
    baselineScript,
    `import { DuckDBInstance } from '${path.join(root, 'node_modules', '@duckdb', 'node-api', 'lib', 'index.js')}';
const instance = await DuckDBInstance.create(${JSON.stringify(path.join(project, 'baseline.duckdb'))}, { threads: '2' });
const c = await instance.connect();
await c.run(\`CREATE OR REPLACE TABLE flights AS SELECT * FROM read_parquet(${JSON.stringify(file).replace(/"/g, "'")})\`);
`,
  );
  await rm(path.join(project, 'baseline.duckdb'), { force: true });
  const baseline = await measure(process.execPath, [baselineScript]);
  if (baseline.code !== 0) throw new Error(`baseline failed:\n${baseline.stderr}`);

  const mb = size / 1024 / 1024;
  const line = (name: string, m: typeof native) =>
    `${name.padEnd(26)} ${(m.ms / 1000).toFixed(2).padStart(7)} s  ${thousands(rows / (m.ms / 1000)).padStart(11)} rows/s  ${(mb / (m.ms / 1000)).toFixed(1).padStart(6)} MB/s  peak RSS ${m.peakRssMb.toFixed(0).padStart(4)} MB`;
  console.log(`\n${thousands(rows)} rows, ${mb.toFixed(1)} MB Parquet`);
  console.log(line('b2betl run (DuckDB reads)', native));
  console.log(line('b2betl run, streamed', streamed));
  console.log(line('duckdb read_parquet', baseline));
  console.log(`ratio b2betl / duckdb: ${(native.ms / baseline.ms).toFixed(2)}x the time (streamed: ${(streamed.ms / baseline.ms).toFixed(2)}x)`);
}

for (const rows of counts.length ? counts : [3_000_000]) await benchOne(rows);
