/**
 * The rejected rows of a run (`load.max_bad_records`) go to BigQuery as its rows do: written as
 * NDJSON, loaded into a staging table of their own, and moved into `<table>__rejected` by the
 * commit transaction, so that no number or length of rejects makes the commit's query too long.
 */
import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { RejectedRow } from '../../../src/core/connector.js';
import { fileError } from '../../../src/core/errors.js';
import type { BigQueryField } from '../../bigquery-common/bigquery-types.js';

/** The columns a reject is staged with; the commit adds `rejected_at`. */
export const STAGED_REJECT_FIELDS: readonly BigQueryField[] = [
  { name: 'run_id', type: 'STRING', mode: 'REQUIRED' },
  { name: 'unit', type: 'STRING', mode: 'NULLABLE' },
  { name: 'position', type: 'STRING', mode: 'NULLABLE' },
  { name: 'column_name', type: 'STRING', mode: 'NULLABLE' },
  { name: 'reason', type: 'STRING', mode: 'NULLABLE' },
  { name: 'raw', type: 'STRING', mode: 'NULLABLE' },
];

/** The columns of `<table>__rejected`. */
export const REJECT_FIELDS: readonly BigQueryField[] = [...STAGED_REJECT_FIELDS, { name: 'rejected_at', type: 'TIMESTAMP', mode: 'NULLABLE' }];

/** Writes the rejects to `file`, one NDJSON line each, every line within `maxBytes`. */
export async function writeRejects(file: string, rejects: readonly RejectedRow[], maxBytes: number): Promise<void> {
  try {
    await pipeline(Readable.from(lines(rejects, maxBytes)), createWriteStream(file));
  } catch (error) {
    throw fileError(error, file);
  }
}

function* lines(rejects: readonly RejectedRow[], maxBytes: number): Generator<string> {
  for (const reject of rejects) yield rejectLine(reject, maxBytes);
}

/**
 * A reject as one NDJSON line of at most `maxBytes` (BigQuery's row limit). The raw text is kept
 * whole; only that of a row rejected for being larger than a row may be is cut to what fits,
 * ending in `…`.
 */
export function rejectLine(reject: RejectedRow, maxBytes: number): string {
  const line = (raw: string) =>
    `${JSON.stringify({ run_id: reject.runId, unit: reject.unit, position: reject.position, column_name: reject.column ?? null, reason: reject.reason, raw })}\n`;
  // Every character takes a byte at least: a longer text cannot fit, and is never stringified whole.
  let keep = Math.min(reject.raw.length, maxBytes);
  for (;;) {
    const text = keep === reject.raw.length ? reject.raw : `${prefix(reject.raw, keep)}…`;
    const out = line(text);
    const bytes = Buffer.byteLength(out);
    if (bytes <= maxBytes || keep === 0) return out;
    keep = Math.max(0, Math.min(keep - 1, Math.floor((keep * maxBytes) / bytes)));
  }
}

/** The first `length` UTF-16 units of `text`, without a surrogate pair cut in half. */
function prefix(text: string, length: number): string {
  const last = text.charCodeAt(length - 1);
  return text.slice(0, last >= 0xd800 && last <= 0xdbff ? length - 1 : length);
}
