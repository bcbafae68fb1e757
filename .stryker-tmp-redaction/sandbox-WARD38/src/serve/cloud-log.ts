/**
 * Logs for Cloud Run: one Cloud Logging structured JSON object per line on stdout, with
 * `severity`, `message`, the request's trace and the job and run id as labels.
 */
// @ts-nocheck

import type { Logger } from '../core/log.js';
import { redact } from '../core/redact.js';

/** The fields every line of one request carries. */
export interface LogContext {
  /** `projects/<project>/traces/<trace id>`, from X-Cloud-Trace-Context. */
  readonly trace?: string;
  readonly spanId?: string;
  readonly labels?: Readonly<Record<string, string>>;
}

/** A logger with an error level and children that add context. */
export interface CloudLogger extends Logger {
  error(message: string): void;
  child(context: LogContext): CloudLogger;
}

type Severity = 'DEBUG' | 'INFO' | 'WARNING' | 'ERROR';

/** Structured lines through `write` (stdout by default). */
export function cloudLogger(context: LogContext = {}, options: { verbose?: boolean; write?: (line: string) => void } = {}): CloudLogger {
  const write = options.write ?? ((line: string) => process.stdout.write(line));
  const emit = (severity: Severity, message: string) => {
    const entry: Record<string, unknown> = { severity, message: redact(message), time: new Date().toISOString() };
    if (context.trace) entry['logging.googleapis.com/trace'] = context.trace;
    if (context.spanId) entry['logging.googleapis.com/spanId'] = context.spanId;
    if (context.labels && Object.keys(context.labels).length) entry['logging.googleapis.com/labels'] = context.labels;
    write(`${JSON.stringify(entry)}\n`);
  };
  return {
    info: (message) => emit('INFO', message),
    warn: (message) => emit('WARNING', message),
    error: (message) => emit('ERROR', message),
    debug: (message) => (options.verbose ? emit('DEBUG', message) : undefined),
    child: (extra) => cloudLogger({ ...context, ...extra, labels: { ...context.labels, ...extra.labels } }, options),
  };
}

/** The trace fields of a request's `X-Cloud-Trace-Context: TRACE_ID/SPAN_ID;o=1` header. */
export function traceOf(header: string | undefined, project: string | undefined): LogContext {
  const match = header && /^([0-9a-fA-F]{32})(?:\/(\d+))?/.exec(header);
  if (!match || !project) return {};
  return { trace: `projects/${project}/traces/${match[1]}`, ...(match[2] ? { spanId: match[2] } : {}) };
}
