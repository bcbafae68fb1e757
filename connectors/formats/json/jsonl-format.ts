/**
 * JSON Lines (`.jsonl`, `.ndjson`): one JSON object per line, streamed. A bad line is a reject
 * with its line number; the lines around it still load.
 */
import { parse as parseLossless } from 'lossless-json';
import type { FileFormat, FileHandle, FileRowBatch } from '../../../src/core/connector.js';
import { openDecompressed } from '../decompress.js';
import { createTextDecoder } from '../text-decoder.js';
import { JsonRowCollector, parseJsonNumber } from './json-rows.js';

const DEFAULT_BATCH_SIZE = 10_000;
/** A run of 16 digits may be an integer beyond 2^53. */
const LONG_NUMBER = /\d{16}/;

/** The JSON Lines format. */
export const jsonlFormat: FileFormat = {
  name: 'jsonl',
  extensions: ['jsonl', 'ndjson'],
  async read(file, options) {
    const batchSize = options.batchSize && options.batchSize > 0 ? Math.floor(options.batchSize) : DEFAULT_BATCH_SIZE;
    return { batches: jsonlBatches(file, batchSize) };
  },
};

async function* jsonlBatches(file: FileHandle, batchSize: number): AsyncGenerator<FileRowBatch> {
  const decoder = createTextDecoder('utf-8', file.name);
  const rows = new JsonRowCollector(batchSize, 'line');
  let line = 0;
  const take = (text: string): void => {
    line++;
    const content = text.endsWith('\r') ? text.slice(0, -1) : text;
    if (!content.trim()) return;
    if (decoder.invalid && content.includes('\ufffd')) {
      rows.reject(line, 'bytes are not valid UTF-8; JSON Lines files must be UTF-8', content);
      return;
    }
    let value: unknown;
    try {
      value = JSON.parse(content);
      // Only a line whose numbers lost precision pays for the exact (slower) parser.
      if (LONG_NUMBER.test(content) && hasInexactInteger(value)) value = parseLossless(content, null, parseJsonNumber);
    } catch (error) {
      rows.reject(line, `invalid JSON: ${(error as Error).message}`, content);
      return;
    }
    rows.add(value, line, content);
  };
  const input = await openDecompressed(file);
  let rest = '';
  try {
    // Pulling one chunk at a time is the backpressure: while a batch is out, nothing is read.
    for await (const chunk of input) {
      const text = rest + decoder.write(chunk as Buffer);
      let start = 0;
      for (let end = text.indexOf('\n'); end !== -1; end = text.indexOf('\n', start)) {
        take(text.slice(start, end));
        start = end + 1;
        while (rows.ready.length) yield rows.ready.shift()!;
      }
      rest = text.slice(start);
    }
    const tail = rest + decoder.end();
    for (const text of tail.split('\n')) if (text) take(text);
    rows.finish();
    while (rows.ready.length) yield rows.ready.shift()!;
  } finally {
    input.destroy();
  }
}

/** Whether a parsed value holds an integer too large for a double to keep exact. */
function hasInexactInteger(value: unknown): boolean {
  if (typeof value === 'number') return Number.isInteger(value) && !Number.isSafeInteger(value);
  if (value === null || typeof value !== 'object') return false;
  for (const item of Array.isArray(value) ? value : Object.values(value)) if (hasInexactInteger(item)) return true;
  return false;
}
