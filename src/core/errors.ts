/** Exit codes of the `b2betl` process. */
export const ExitCode = {
  ok: 0,
  failed: 1,
  usage: 2,
} as const;

/** Base of every error b2betl raises on purpose; `hint` says what to do next. */
export class EtlError extends Error {
  readonly exitCode: number = ExitCode.failed;
  constructor(
    message: string,
    readonly hint?: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }

  /** The message followed by its hint, as shown to a user. */
  describe(): string {
    return this.hint ? `${this.message}\n  → ${this.hint}` : this.message;
  }
}

/** One problem found in a config or job file. */
export interface ConfigIssue {
  readonly file: string;
  readonly path: string;
  readonly line?: number;
  /** 1-based column, when the problem is at a character (YAML syntax). */
  readonly column?: number;
  /** The offending line's text, shown under the message. */
  readonly source?: string;
  readonly message: string;
  readonly fix?: string;
}

/**
 * Why a run is asked to stop (the signal's name is its message), and what to do with work the run
 * waits for elsewhere (a Dataflow job): `cancelRemote` says whether to cancel it, after waiting
 * for a key on the terminal when `asks` (the caller shows the question first).
 */
export class Interruption extends Error {
  constructor(
    signal: string,
    readonly cancelRemote: (what: string) => Promise<boolean>,
    readonly asks = false,
  ) {
    super(signal);
  }
}

/** Invalid configuration, job spec or command line: exit code 2. */
export class ConfigError extends EtlError {
  override readonly exitCode: number = ExitCode.usage;
  constructor(
    readonly issues: readonly ConfigIssue[],
    hint?: string,
  ) {
    super(issues.map(formatIssue).join('\n'), hint);
  }

  /** A single problem not tied to a file position. */
  static of(message: string, fix?: string, file = ''): ConfigError {
    return new ConfigError([{ file, path: '', message, fix }]);
  }
}

/** A connection needs an environment variable that is not set; raised when the connection opens. */
export class UnsetVariableError extends ConfigError {}

/**
 * Formats an issue as `file:line:column: path: message`, then the offending line with a caret
 * under the column when known, then the fix.
 */
export function formatIssue(issue: ConfigIssue): string {
  const where = [issue.file, issue.line, issue.line !== undefined ? issue.column : undefined].filter((part) => part !== undefined && part !== '').join(':');
  const head = [where, issue.path].filter(Boolean).join(': ');
  const lines = [head ? `${head}: ${issue.message}` : issue.message];
  if (issue.source !== undefined && issue.line !== undefined) {
    const gutter = String(issue.line);
    lines.push(`    ${gutter} | ${issue.source}`);
    if (issue.column !== undefined) lines.push(`    ${' '.repeat(gutter.length)} | ${' '.repeat(Math.max(0, issue.column - 1))}^`);
  }
  if (issue.fix) lines.push(`    fix: ${issue.fix}`);
  return lines.join('\n');
}

/** A failure worth retrying: network, 429/5xx, deadlock, dropped connection. */
export class TransientError extends EtlError {}

/** A read pinned to the version a listing gave found the object replaced or removed since. */
export class ObjectChanged extends EtlError {
  constructor(url: string) {
    super(`${url} changed during the run: it was replaced or removed after it was listed, and none of it is loaded`, 'run the job again: the next run loads the object as it is then');
  }
}

/** A value or row that cannot be loaded; `where` is `file:line` or a document key. */
export class BadRecordError extends EtlError {
  constructor(
    readonly where: string,
    readonly column: string | undefined,
    readonly reason: string,
    readonly raw?: unknown,
  ) {
    super(`${where}: ${column ? `${column}: ` : ''}${reason}`);
  }
}

/** Two runs of the same job at once. */
export class LockedError extends EtlError {}

/** Source and destination schemas cannot be reconciled. */
export class SchemaError extends EtlError {}

/** A local file that cannot be written (disk full, read-only, no permission): the run cannot go on. */
export class LocalFileError extends EtlError {}

const FILE_FAILURES: Record<string, (file: string) => [string, string]> = {
  ENOSPC: (file) => [`no space left on the device of ${file}`, `free space on that disk (df -h ${quoteArg(file)}) and run again`],
  EDQUOT: (file) => [`disk quota exceeded writing ${file}`, 'free space within your quota and run again'],
  EROFS: (file) => [`${file} is on a read-only file system`, 'point the path at a writable disk'],
  EACCES: (file) => [`no permission to write ${file}`, 'fix the permissions of that folder, or run as a user who may write it'],
  EPERM: (file) => [`no permission to write ${file}`, 'fix the permissions of that folder, or run as a user who may write it'],
  EIO: (file) => [`input/output error writing ${file}`, 'check the disk (dmesg) and run again'],
};

function quoteArg(file: string): string {
  return /^[\w@%+=:,./-]+$/.test(file) ? file : `'${file.replaceAll("'", "'\\''")}'`;
}

/**
 * A failed write of a local file as the user should see it: naming the full path and what to do,
 * for the failures that no retry cures (disk full, read-only, permissions). Others pass through.
 */
export function fileError(error: unknown, file: string): unknown {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const describe = code ? FILE_FAILURES[code] : undefined;
  if (!describe) return error;
  const [message, hint] = describe(file);
  return new LocalFileError(message, hint, { cause: error });
}

/** Megabytes (10^6 bytes) with one decimal, as messages name sizes. */
export function megabytes(bytes: number): string {
  return (bytes / 1e6).toFixed(1).replace(/\.0$/, '');
}

/** Returns the error's message without a stack, whatever was thrown. */
export function messageOf(error: unknown): string {
  if (error instanceof EtlError) return error.describe();
  if (error instanceof Error) return error.message;
  return String(error);
}
