/** What the cloud stores share when they hand out an object's bytes. */
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
