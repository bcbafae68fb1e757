/** What the commands share: loading jobs, opening the ledger, printing tables and JSON. */
import { existsSync, statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
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
  return { name: arg, config: await discoverConfig(options) };
}

const DEFAULT_LEDGER = path.join('.b2betl', 'ledger.sqlite');
/** How deep below the working directory configs are looked for, and the folders never entered. */
const SEARCH_DEPTH = 3;
const NOT_SEARCHED = new Set(['node_modules', 'dist', 'build', 'coverage']);

/** `etl.config.yaml` files below `dir`, up to {@link SEARCH_DEPTH} folders deep, sorted. */
async function configsBelow(dir: string, depth = SEARCH_DEPTH): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const found: string[] = [];
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (!entry.isDirectory() || entry.name.startsWith('.') || NOT_SEARCHED.has(entry.name)) continue;
    const sub = path.join(dir, entry.name);
    for (const name of ['etl.config.yaml', 'etl.config.yml']) if (existsSync(path.join(sub, name))) found.push(path.join(sub, name));
    if (depth > 1) found.push(...(await configsBelow(sub, depth - 1)));
  }
  return found;
}

/**
 * The config of a command that reads the ledger without naming job files (`history`, `state`):
 * `--config`, else the nearest etl.config.yaml from the working directory upward (as `run`
 * finds it from a job's folder), else `./.b2betl/ledger.sqlite` if it exists, else the one
 * config below the working directory whose ledger exists (where `run <folder>` put it). When
 * none or several fit, a {@link ConfigError} says where it looked and how to point it.
 */
export async function discoverConfig(options: CommonOptions, cwd = process.cwd()): Promise<LoadedConfig> {
  if (options.config) return loadConfig({ configFile: options.config, cwd });
  const above = await findConfigFile(cwd);
  if (above || existsSync(path.join(cwd, DEFAULT_LEDGER))) return loadConfig({ cwd });
  const candidates: { file: string; config?: LoadedConfig; error?: string }[] = [];
  for (const file of await configsBelow(cwd)) {
    try {
      candidates.push({ file, config: await loadConfig({ configFile: file, cwd }) });
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      candidates.push({ file, error: error.message.split('\n')[0] });
    }
  }
  const withLedger = candidates.filter(({ config }) => config && (config.ledger.startsWith('gs://') || existsSync(config.ledger)));
  if (withLedger.length === 1) {
    const { file, config } = withLedger[0];
    process.stderr.write(`using ${shortPath(file)} (found below ${cwd}; its ledger holds the runs): --config picks another\n`);
    return config!;
  }
  const looked = `no etl.config.yaml in ${cwd} or any folder above it, and no ledger at ./${DEFAULT_LEDGER.split(path.sep).join('/')}`;
  if (withLedger.length > 1) {
    throw ConfigError.of(
      `${looked}; below it, several configs have a ledger: ${withLedger.map(({ file }) => shortPath(file)).join(', ')}`,
      `pick one: --config ${shortPath(withLedger[0].file)}`,
    );
  }
  const others = candidates.map(({ file, error }) => `${shortPath(file)} (${error ?? 'no ledger yet: none of its jobs has run'})`);
  throw ConfigError.of(
    `${looked}${others.length ? `; below it: ${others.join(', ')}` : `, nor any below it (${SEARCH_DEPTH} folders deep)`}`,
    '`b2betl run <jobs>` keeps the ledger beside the config it finds from the jobs\' folder: run this from that folder, or pass --config <its etl.config.yaml>',
  );
}

/** A job named on the command line by its spec file, or by its name among the job files of the `jobs/` folder. */
export async function resolveLoadedJob(arg: string, options: CommonOptions): Promise<LoadedJob> {
  if (/\.ya?ml$/i.test(arg) && existsSync(arg)) return (await loadJobArgs([arg], options))[0];
  const jobs = await loadJobArgs(await jobArgsOrDefault([], options), options);
  const job = jobs.find((candidate) => candidate.spec.name === arg);
  if (!job) throw ConfigError.of(`no job named ${arg} in ${jobs.length ? [...new Set(jobs.map((j) => shortPath(path.dirname(j.file))))].join(', ') : 'the jobs/ folder'}`, 'give the job spec file, e.g. jobs/orders.yaml');
  return job;
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
