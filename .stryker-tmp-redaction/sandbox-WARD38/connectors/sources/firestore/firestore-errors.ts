/** Firestore (gRPC) failures as b2betl errors that say what to do. */
// @ts-nocheck

import { EtlError, TransientError } from '../../../src/core/errors.js';

// gRPC status codes worth another attempt: deadline, quota, contention, server trouble
const TRANSIENT = new Set([4, 8, 10, 13, 14]);

/** Wraps an SDK error; `doing` says what was attempted, `where` the connection (no secrets). */
export function firestoreError(error: unknown, doing: string, where: string): Error {
  if (error instanceof EtlError) return error;
  const code = (error as { code?: unknown } | undefined)?.code;
  const detail = ((error as Error | undefined)?.message ?? String(error)).split('\n')[0];
  const message = `Firestore ${doing} failed (${where}): ${detail}`;
  if (typeof code === 'number' && TRANSIENT.has(code)) {
    return new TransientError(message, 'check the network and, for an emulator, that it is running at the configured host', { cause: error });
  }
  switch (code) {
    case 7:
    case 16:
      return new EtlError(
        message,
        'give the service account roles/datastore.viewer on the project, or check the credentials of the connection',
        { cause: error },
      );
    case 9:
      return new EtlError(
        message,
        'the query needs an index: create it from the link in the message (or with gcloud firestore indexes), then run again',
        { cause: error },
      );
    case 5:
      return new EtlError(message, 'check project and database of the connection', { cause: error });
    default:
      return new EtlError(message, undefined, { cause: error });
  }
}
