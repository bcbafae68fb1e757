/** Running the real `b2betl` binary in a scratch folder, and reading what it loaded. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (tests run from dist/test/…). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const binary = path.join(repoRoot, 'bin', 'b2betl.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Starts `b2betl args…` in `cwd` (the repository's binary, or `bin`); the caller may kill it. */
export function startCli(args: readonly string[], cwd: string, env: NodeJS.ProcessEnv = {}, bin = binary): { child: ChildProcess; done: Promise<CliResult> } {
  const child = spawn(process.execPath, [bin, ...args], { cwd, env: { ...process.env, CI: 'true', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk));
  const done = new Promise<CliResult>((resolve) => child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr })));
  return { child, done };
}

/** Runs `b2betl args…` in `cwd` to completion. */
export function runCli(args: readonly string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return startCli(args, cwd, env).done;
}

/** A scratch project folder with the given files (path → content). */
export async function scratchProject(files: Record<string, string | Buffer> = {}): Promise<{ dir: string; write(file: string, content: string | Buffer): Promise<string>; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'b2betl-'));
  /** Writes `file` (relative to the project) and returns its full path. */
  const write = async (file: string, content: string | Buffer) => {
    const full = path.join(dir, file);
    await mkdir(path.dirname(full), { recursive: true });
    await writeFile(full, content);
    return full;
  };
  for (const [file, content] of Object.entries(files)) await write(file, content);
  return { dir, write, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Runs a query against a DuckDB file and returns rows as objects (values as DuckDB's JS values). */
export async function queryDuckDB(file: string, sql: string): Promise<Record<string, unknown>[]> {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const instance = await DuckDBInstance.create(file, { access_mode: 'READ_ONLY' });
  const connection = await instance.connect();
  try {
    await connection.run("SET TimeZone = 'UTC'");
    const reader = await connection.runAndReadAll(sql);
    return reader.getRowObjectsJson() as Record<string, unknown>[];
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}
