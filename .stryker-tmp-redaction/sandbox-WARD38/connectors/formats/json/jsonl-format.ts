/**
 * JSON Lines (`.jsonl`, `.ndjson`): one JSON object per line, streamed. A bad line is a reject
 * with its line number; the lines around it still load.
 */
// @ts-nocheck

import { parse as parseLossless } from 'lossless-json';
import type { FileFormat, FileHandle, FileRowBatch } from '../../../src/core/connector.js';
import { openDecompressed } from '../decompress.js';
import { MAX_TEXT, valueTooLarge } from '../text-limit.js';
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
  // The text of the line being read, in the pieces it came in: joined once when the line ends,
  // and only the newest piece searched for its end, so a line of any length is read in linear time.
  const pieces: string[] = [];
  let pending = 0;
  try {
    // Pulling one chunk at a time is the backpressure: while a batch is out, nothing is read.
    for await (const chunk of input) {
      const text = decoder.write(chunk as Buffer);
      let end = text.indexOf('\n');
      if (end === -1) {
        if (pending + text.length > MAX_TEXT) throw valueTooLarge(`${file.name}:${line + 1}`, openKey(pieces));
        pieces.push(text);
        pending += text.length;
        continue;
      }
      let start = 0;
      if (pieces.length) {
        if (pending + end > MAX_TEXT) throw valueTooLarge(`${file.name}:${line + 1}`, openKey(pieces));
        pieces.push(text.slice(0, end));
        take(pieces.join(''));
        pieces.length = 0;
        pending = 0;
        start = end + 1;
        end = text.indexOf('\n', start);
        while (rows.ready.length) yield rows.ready.shift()!;
      }
      for (; end !== -1; end = text.indexOf('\n', start)) {
        take(text.slice(start, end));
        start = end + 1;
        while (rows.ready.length) yield rows.ready.shift()!;
      }
      if (start < text.length) {
        pieces.push(text.slice(start));
        pending = text.length - start;
      }
    }
    pieces.push(decoder.end());
    for (const text of pieces.join('').split('\n')) if (text) take(text);
    rows.finish();
    while (rows.ready.length) yield rows.ready.shift()!;
  } finally {
    input.destroy();
  }
}

/**
 * The key of the top-level member whose value is still open at the end of a JSON object's text,
 * given in pieces: the column a too-long value belongs to. Keys are short; values are skipped.
 */
function openKey(pieces: readonly string[]): string | undefined {
  let depth = 0;
  let inString = false;
  let escaped = false;
  let text = '';
  let last: string | undefined;
  let key: string | undefined;
  for (const piece of pieces) {
    for (let i = 0; i < piece.length; i++) {
      const c = piece.charCodeAt(i);
      if (inString) {
        if (escaped) escaped = false;
        else if (c === 0x5c) escaped = true;
        else if (c === 0x22) {
          inString = false;
          last = depth === 1 ? text : undefined;
        } else if (depth === 1 && text.length < 300) text += piece[i];
        continue;
      }
      if (c === 0x22) {
        inString = true;
        text = '';
      } else if (c === 0x7b || c === 0x5b) depth++;
      else if (c === 0x7d || c === 0x5d) depth--;
      else if (c === 0x3a && depth === 1 && last !== undefined) key = last;
    }
  }
  return key;
}

/** Whether a parsed value holds an integer too large for a double to keep exact. */
function hasInexactInteger(value: unknown): boolean {
  if (typeof value === 'number') return Number.isInteger(value) && !Number.isSafeInteger(value);
  if (value === null || typeof value !== 'object') return false;
  for (const item of Array.isArray(value) ? value : Object.values(value)) if (hasInexactInteger(item)) return true;
  return false;
}
