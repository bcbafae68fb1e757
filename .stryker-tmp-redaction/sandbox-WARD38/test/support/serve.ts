/** A `b2betl serve` process on a free port, its structured log lines, and calls to it. */
import type { ChildProcess } from 'node:child_process';
import { startCli, type CliResult } from './cli.js';

export interface ServeProcess {
  readonly url: string;
  readonly child: ChildProcess;
  /** The JSON log lines printed so far. */
  logs(): Record<string, unknown>[];
  /** Everything printed so far (stdout and stderr). */
  output(): string;
  /** Resolves with the first log line matching (from the `from`-th line on), as it is printed. */
  waitForLog(pattern: RegExp, from?: number): Promise<Record<string, unknown>>;
  /** Sends a signal and waits for the process to end. */
  stop(signal?: NodeJS.Signals): Promise<CliResult>;
  readonly done: Promise<CliResult>;
}

/** Starts `b2betl serve args…` in `cwd` on 127.0.0.1 and a free port (with the repository's binary, or `bin`); rejects if it exits first. */
export async function startServe(cwd: string, args: readonly string[], env: NodeJS.ProcessEnv, bin?: string): Promise<ServeProcess> {
  const { child, done } = startCli(['serve', '--host', '127.0.0.1', '--port', '0', ...args], cwd, env, bin);
  let stdout = '';
  let stderr = '';
  const waiters: { pattern: RegExp; from: number; resolve: (line: Record<string, unknown>) => void }[] = [];
  const lines: Record<string, unknown>[] = [];
  child.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk;
    const complete = stdout.split('\n').slice(0, -1);
    for (const text of complete.slice(lines.length)) {
      let line: Record<string, unknown>;
      try {
        line = JSON.parse(text) as Record<string, unknown>;
      } catch {
        line = { message: text, unstructured: true };
      }
      lines.push(line);
      for (const waiter of [...waiters]) {
        if (lines.length > waiter.from && waiter.pattern.test(String(line.message))) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(line);
        }
      }
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk));
  const waitForLog = (pattern: RegExp, from = 0) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const seen = lines.slice(from).find((line) => pattern.test(String(line.message)));
      if (seen) return resolve(seen);
      waiters.push({ pattern, from, resolve });
      void done.then((result) => reject(new Error(`serve exited (${result.code}) before logging ${pattern}:\n${result.stdout}\n${result.stderr}`)));
    });
  const listening = await waitForLog(/listening on/);
  const url = /listening on (http:\/\/\S+)/.exec(String(listening.message))![1];
  return {
    url,
    child,
    done,
    logs: () => [...lines],
    output: () => `${stdout}${stderr}`,
    waitForLog,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return done;
    },
  };
}
