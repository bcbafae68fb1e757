/** What the commands share: loading jobs, opening the ledger, printing tables and JSON. */
// @ts-nocheck

import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { expandJobFiles, findConfigFile, loadConfig, loadJobs, type LoadedConfig, type LoadedJob } from '../core/config.js';
import { ConfigError } from '../core/errors.js';
import { stderrLogger, type Logger } from '../core/log.js';
import { redactValue } from '../core/redact.js';

export interface CommonOptions {
  readonly config?: string;
  readonly json?: boolean;
  readonly verbose?: boolean;
}

/** Loads job files (and folders) with their configs; throws ConfigError listing every problem. */
export async function loadJobArgs(args: readonly string[], options: CommonOptions): Promise<LoadedJob[]> {
  return loadJobs(await expandJobFiles(args), { configFile: options.config });
}

/** A job named on the command line: a spec file, or a bare job name looked up in the ledger. */
export async function resolveJob(arg: string, options: CommonOptions): Promise<{ name: string; config: LoadedConfig }> {
  if (/\.ya?ml$/i.test(arg) && existsSync(arg)) {
    const [job] = await loadJobArgs([arg], options);
    return { name: job.spec.name, config: job.config };
  }
  return { name: arg, config: await loadConfig({ configFile: options.config }) };
}

export { withLedger } from '../ledger/open.js';

/** The logger for commands: lines on stderr (quiet with --json unless verbose). */
export function commandLogger(options: CommonOptions): Logger {
  return stderrLogger({ verbose: options.verbose });
}

/** Prints JSON on stdout; bigints as strings. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(redactValue(value), (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`);
}

/** Renders rows as an aligned text table. */
export function renderTable(headers: readonly string[], rows: readonly (readonly unknown[])[]): string {
  const cells = rows.map((row) => row.map((cell) => (cell === null || cell === undefined ? '' : String(cell))));
  const widths = headers.map((header, i) => Math.max(header.length, ...cells.map((row) => firstLine(row[i]).length)));
  const line = (row: readonly string[]) => row.map((cell, i) => firstLine(cell).padEnd(widths[i])).join('  ').trimEnd();
  return [line(headers), line(widths.map((width) => '-'.repeat(width))), ...cells.map(line)].join('\n');
}

function firstLine(text: string): string {
  const line = text.split('\n')[0];
  return line.length > 100 ? `${line.slice(0, 97)}...` : line;
}

/** Formats milliseconds as `1.2 s` or `340 ms`. */
export function formatDuration(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}

/** A path relative to the working directory when shorter. */
export function shortPath(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative && !relative.startsWith('..') ? relative : file;
}

/** Job arguments, or the `jobs/` folder beside the config (or in the working directory) when none are given. */
export async function jobArgsOrDefault(args: readonly string[], options: CommonOptions): Promise<string[]> {
  if (args.length) return [...args];
  const config = options.config ? path.resolve(options.config) : await findConfigFile(process.cwd());
  const folder = path.join(config ? path.dirname(config) : process.cwd(), 'jobs');
  if (!existsSync(folder)) throw ConfigError.of(`no job files given, and there is no jobs/ folder in ${shortPath(path.dirname(folder)) || '.'}`, 'name the job files or folders, e.g. jobs/');
  return [folder];
}

/** The names of the jobs when every argument is a file (the command is about those jobs only); undefined for folders. */
export function fileScope(args: readonly string[], jobs: readonly LoadedJob[]): Set<string> | undefined {
  const onlyFiles = args.length > 0 && args.every((arg) => statSync(arg, { throwIfNoEntry: false })?.isFile());
  return onlyFiles ? new Set(jobs.map((job) => job.spec.name)) : undefined;
}
