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
    process.stderr.write(`${new Date().toISOString()} ${level} ${prefix}${message}\n`);
  return {
    info: (message) => (options.quiet ? undefined : write('info', message)),
    warn: (message) => write('warn', message),
    debug: (message) => (options.verbose ? write('debug', message) : undefined),
  };
}

/** A logger that drops everything (tests, --json). */
export const silentLogger: Logger = { info() {}, warn() {}, debug() {} };

/** Removes bearer tokens, ID tokens (JWTs), access tokens and private keys from a message before it is shown. */
export function redact(text: string): string {
  return text
    .replace(/Bearer\s+[\w.~+/=-]+/g, 'Bearer ***')
    .replace(/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)/g, '***')
    .replace(/ya29\.[\w.~+/=-]+/g, '***')
    .replace(/eyJ[\w-]*\.[\w-]+\.[\w-]*/g, '***');
}
