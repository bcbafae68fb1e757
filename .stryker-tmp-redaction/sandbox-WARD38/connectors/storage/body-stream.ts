/** What the cloud stores share when they hand out an object's bytes. */
// @ts-nocheck

import { PassThrough, type Readable } from 'node:stream';
import { EtlError } from '../../src/core/errors.js';

/**
 * An SDK response body as the stream `ObjectStore.read` returns, with a failure mid-download
 * mapped to the store's own error (transient or not, credentials redacted) by `fail`.
 */
export function bodyStream(body: NodeJS.ReadableStream | undefined, url: string, fail: (error: unknown) => Error): Readable {
  if (!body) throw new EtlError(`${url} returned no body`);
  const out = new PassThrough();
  body.on('error', (error) => out.destroy(fail(error)));
  return body.pipe(out);
}

/** How long a download may go without a byte its reader is waiting for before it counts as a lost connection. */
function stallMs(): number {
  return Number(process.env.B2BETL_STALL_MS) || 60_000;
}

/**
 * Fails `out` with `stalled()` when no byte of `source` arrives for the stall time while the
 * reader waits for one: a connection dropped mid-body that the SDK never reports would
 * otherwise leave the read waiting forever. Time the reader spends busy (its buffer full)
 * does not count.
 */
export function failWhenStalled(source: NodeJS.ReadableStream, out: PassThrough, stalled: (seconds: number) => Error): void {
  const limit = stallMs();
  let last = Date.now();
  source.on('data', () => (last = Date.now()));
  const timer = setInterval(() => {
    if (out.readableLength >= out.readableHighWaterMark) last = Date.now();
    else if (Date.now() - last > limit) out.destroy(stalled(Math.round(limit / 1000)));
  }, Math.min(1000, limit / 4));
  const stop = () => clearInterval(timer);
  out.once('close', stop);
  out.once('end', stop);
  out.once('error', stop);
}
