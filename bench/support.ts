/** What the benchmark scripts share: timing a child process with its peak RSS. */
import { spawn } from 'node:child_process';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface Measured {
  readonly ms: number;
  readonly peakRssMb: number;
  readonly code: number;
  readonly stderr: string;
}

/** Peak resident set size of a live process, from /proc (VmHWM), in MB. */
async function peakRss(pid: number): Promise<number | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const match = /VmHWM:\s+(\d+) kB/.exec(status);
    return match ? Number(match[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Runs a command, sampling its peak RSS until it exits. */
export async function measure(command: string, args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; stdout?: 'ignore' | 'inherit' } = {}): Promise<Measured> {
  const start = performance.now();
  const child = spawn(command, args, { cwd: options.cwd, env: { ...process.env, ...options.env }, stdio: ['ignore', options.stdout ?? 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk));
  let peak = 0;
  const timer = setInterval(async () => {
    const rss = await peakRss(child.pid!);
    if (rss !== undefined) peak = Math.max(peak, rss);
  }, 25);
  const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? 1)));
  clearInterval(timer);
  return { ms: performance.now() - start, peakRssMb: peak, code, stderr };
}

/** `1,234,567` */
export function thousands(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

/**
 * A file loaded three ways in one run and printed side by side: `b2betl run` of a catalog job over
 * the file as it runs by default, the same with every row streamed (`B2BETL_STREAM_ONLY=1`), and
 * DuckDB's own reader (`read`, e.g. `read_parquet('…')`) creating a table in a bare script.
 */
export async function benchFile(options: { root: string; file: string; rows: number; kind: string; read: string }): Promise<void> {
  const { root, file, rows, kind, read } = options;
  const project = path.dirname(path.dirname(file));
  const size = (await stat(file)).size;
  await writeFile(path.join(project, 'etl.config.yaml'), 'connections:\n  inbox: { type: local, path: ./inbox }\n');
  await writeFile(path.join(project, 'job.yaml'), `name: bench\nsource: { connection: inbox, pattern: "${path.basename(file)}" }\nload: { strategy: catalog }\n`);
  const runB2betl = async (env: NodeJS.ProcessEnv = {}) => {
    await rm(path.join(project, 'warehouse.duckdb'), { force: true });
    await rm(path.join(project, '.b2betl'), { recursive: true, force: true });
    const result = await measure(process.execPath, [path.join(root, 'bin', 'b2betl.js'), 'run', 'job.yaml'], { cwd: project, env });
    if (result.code !== 0) throw new Error(`b2betl failed:\n${result.stderr}`);
    return result;
  };
  const b2betl = await runB2betl();
  const streamed = await runB2betl({ B2BETL_STREAM_ONLY: '1' });

  const baselineScript = path.join(project, 'baseline.mjs');
  await writeFile(
    baselineScript,
    `import { DuckDBInstance } from '${path.join(root, 'node_modules', '@duckdb', 'node-api', 'lib', 'index.js')}';
const instance = await DuckDBInstance.create(${JSON.stringify(path.join(project, 'baseline.duckdb'))}, { threads: '2' });
const c = await instance.connect();
await c.run(${JSON.stringify(`CREATE OR REPLACE TABLE bench AS SELECT * FROM ${read}`)});
`,
  );
  await rm(path.join(project, 'baseline.duckdb'), { force: true });
  const baseline = await measure(process.execPath, [baselineScript]);
  if (baseline.code !== 0) throw new Error(`baseline failed:\n${baseline.stderr}`);

  const mb = size / 1024 / 1024;
  const line = (name: string, m: Measured) =>
    `${name.padEnd(26)} ${(m.ms / 1000).toFixed(2).padStart(7)} s  ${thousands(rows / (m.ms / 1000)).padStart(11)} rows/s  ${(mb / (m.ms / 1000)).toFixed(1).padStart(6)} MB/s  peak RSS ${m.peakRssMb.toFixed(0).padStart(4)} MB`;
  console.log(`\n${thousands(rows)} rows, ${mb.toFixed(1)} MB ${kind}`);
  console.log(line('b2betl run', b2betl));
  console.log(line('b2betl run, streamed', streamed));
  console.log(line(`duckdb ${read.slice(0, read.indexOf('('))}`, baseline));
  console.log(`ratio b2betl / duckdb: ${(b2betl.ms / baseline.ms).toFixed(2)}x the time (streamed: ${(streamed.ms / baseline.ms).toFixed(2)}x)`);
}

/** mulberry32: a tiny seeded PRNG, so the same seed always yields the same file. */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
