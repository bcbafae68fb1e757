/** Retrying transient failures with exponential backoff and jitter. */
// @ts-nocheck

import { EtlError, TransientError, messageOf } from './errors.js';

export interface RetryOptions {
  readonly attempts?: number;
  readonly baseMs?: number;
  readonly maxMs?: number;
  readonly signal?: AbortSignal;
  /** Called before each new attempt. */
  readonly onRetry?: (error: unknown, attempt: number, delayMs: number) => void | Promise<void>;
}

/** Whether an error is worth another attempt: a {@link TransientError} or a network reset. */
export function isTransient(error: unknown): boolean {
  if (error instanceof TransientError) return true;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ECONNRESET' || code === 'ETIMEDOUT' || code === 'EPIPE' || code === 'ECONNREFUSED_TRANSIENT';
}

/** Runs `action`, retrying transient failures; permanent ones are thrown at once. */
export async function withRetry<T>(action: (attempt: number) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const attempts = options.attempts ?? 4;
  const base = options.baseMs ?? Number(process.env.B2BETL_RETRY_BASE_MS ?? 500);
  const max = options.maxMs ?? 15_000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await action(attempt);
    } catch (error) {
      if (attempt >= attempts && attempts > 1 && isTransient(error)) throw new TransientError(`${messageOf(error).split('\n')[0]} (gave up after ${attempts} attempts)`, error instanceof EtlError ? error.hint : undefined, { cause: error });
      if (attempt >= attempts || !isTransient(error) || options.signal?.aborted) throw error;
      const delay = Math.min(max, base * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2);
      await options.onRetry?.(error, attempt, delay);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}
