/**
 * DuckDB's memory under the default settings, measured through `b2betl run`: a merge of 200,000
 * changed rows onto 200,000, and a PostgreSQL query returning ~300 MB of BLOBs. Each runs with the
 * defaults (a share of the machine's memory, spilling to `<warehouse>.tmp`) and, as the baseline,
 * with the former fixed `memory_limit: 64MB`, printing time, rows/s, MB/s and peak RSS side by side.
 *
 *   npm run build && npm run bench:duckdb [-- merge-rows blob-mb]     (default: 200000 300)
 *
 * Needs the PostgreSQL of the tests (127.0.0.1:5432, user postgres, database test) for the BLOBs.
 */
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { measure, thousands, type Measured } from './support.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const [mergeRows = 200_000, blobMb = 300] = process.argv.slice(2).map(Number).filter(Boolean);

const BLOB_BYTES = 25_600;

interface Setting {
  readonly label: string;
  /** Extra keys of the warehouse connection. */
  readonly keys: string;
}

const SETTINGS: readonly Setting[] = [
  { label: 'defaults', keys: '' },
  { label: 'baseline: memory_limit 64MB', keys: ', memory_limit: 64MB' },
];

function orders(rows: number, version: number): string {
  const lines = ['id,customer,amount,note'];
  for (let id = 1; id <= rows; id++) lines.push(`${id},Customer ${id % 5000},${(id * version) % 100000}.${version % 100},note ${version} of order ${id} ${'x'.repeat(40)}`);
  return `${lines.join('\n')}\n`;
}

/** A run of the job, and how it ended: `ok`, or the first line of the error its history row holds. */
async function run(dir: string, job: string): Promise<Measured & { outcome: string }> {
  const result = await measure(process.execPath, [path.join(root, 'bin', 'b2betl.js'), 'run', job], { cwd: dir, env: { CI: 'true' } });
  if (result.code === 0) return { ...result, outcome: 'ok' };
  const history = spawnSync(process.execPath, [path.join(root, 'bin', 'b2betl.js'), 'history', '--json', '-n', '1'], { cwd: dir, encoding: 'utf8' });
  const [last] = JSON.parse(history.stdout || '[]') as { error?: string }[];
  const reason = String(last?.error ?? result.stderr.trim().split('\n').pop()).split('\n')[0];
  return { ...result, outcome: `FAILED: ${reason.length > 60 ? `${reason.slice(0, 57)}...` : reason}` };
}

function line(label: string, result: Measured & { outcome: string }, rows: number, megabytes: number): string {
  const seconds = result.ms / 1000;
  return `  ${label.padEnd(30)} ${result.outcome.padEnd(22)} ${seconds.toFixed(1).padStart(6)} s ${thousands(rows / seconds).padStart(10)} rows/s ${(megabytes / seconds).toFixed(1).padStart(7)} MB/s  peak RSS ${Math.round(result.peakRssMb)} MB`;
}

async function benchMerge(): Promise<void> {
  console.log(`merge of ${thousands(mergeRows)} changed rows onto ${thousands(mergeRows)} (CSV, load.strategy merge):`);
  const first = orders(mergeRows, 1);
  const second = orders(mergeRows, 2);
  for (const setting of SETTINGS) {
    const dir = await mkdtemp(path.join(tmpdir(), 'b2betl-bench-merge-'));
    try {
      await writeFile(path.join(dir, 'etl.config.yaml'), `connections:\n  inbox: { type: local, path: ./inbox }\n  wh: { type: duckdb, path: ./warehouse.duckdb${setting.keys} }\ndefaults: { destination: wh }\n`);
      await writeFile(path.join(dir, 'job.yaml'), 'name: orders\nsource: { connection: inbox, pattern: "orders_*.csv" }\nload: { strategy: merge, primary_key: [id] }\n');
      await mkdir(path.join(dir, 'inbox'));
      await writeFile(path.join(dir, 'inbox', 'orders_1.csv'), first);
      const load = await run(dir, 'job.yaml');
      if (load.code !== 0) {
        console.log(line(`${setting.label} (first load)`, load, mergeRows, first.length / 1e6));
        continue;
      }
      await writeFile(path.join(dir, 'inbox', 'orders_2.csv'), second);
      console.log(line(setting.label, await run(dir, 'job.yaml'), mergeRows, second.length / 1e6));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}

async function benchBlobs(): Promise<void> {
  const rows = Math.ceil((blobMb * 1e6) / BLOB_BYTES);
  console.log(`a PostgreSQL query returning ${thousands(rows)} BLOBs of ${thousands(BLOB_BYTES)} bytes (${blobMb} MB):`);
  const query = `SELECT g AS id, decode(repeat(md5(g::text), ${BLOB_BYTES / 16}), 'hex') AS payload FROM generate_series(1, ${rows}) g`;
  for (const setting of SETTINGS) {
    const dir = await mkdtemp(path.join(tmpdir(), 'b2betl-bench-blobs-'));
    try {
      await writeFile(
        path.join(dir, 'etl.config.yaml'),
        `connections:\n  shop: { type: postgres, host: 127.0.0.1, port: 5432, user: postgres, database: test }\n  wh: { type: duckdb, path: ./warehouse.duckdb${setting.keys} }\ndefaults: { destination: wh }\n`,
      );
      await writeFile(path.join(dir, 'job.yaml'), `name: blobs\nsource:\n  connection: shop\n  query: "${query}"\nload: { strategy: catalog }\n`);
      console.log(line(setting.label, await run(dir, 'job.yaml'), rows, blobMb));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}

await benchMerge();
await benchBlobs();
