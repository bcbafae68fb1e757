// @ts-nocheck
import { redact } from './redact.js';

/** Where the pipeline reports progress; the CLI decides how it is shown. */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  debug(message: string): void;
}

/** Plain log lines on stderr, one per event, for non-TTY runs and CI. */
export function stderrLogger(options: { verbose?: boolean; quiet?: boolean; prefix?: string } = {}): Logger {
  const prefix = options.prefix ? `[${options.prefix}] ` : '';
  const write = (level: string, message: string) =>
    process.stderr.write(`${new Date().toISOString()} ${level} ${prefix}${redact(message)}\n`);
  return {
    info: (message) => (options.quiet ? undefined : write('info', message)),
    warn: (message) => write('warn', message),
    debug: (message) => (options.verbose ? write('debug', message) : undefined),
  };
}

/** A logger that drops everything (tests, --json). */
export const silentLogger: Logger = { info() {}, warn() {}, debug() {} };
