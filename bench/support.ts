/** What the benchmark scripts share: timing a child process with its peak RSS. */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';

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
