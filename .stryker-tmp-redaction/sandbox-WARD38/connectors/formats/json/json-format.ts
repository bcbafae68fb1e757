/**
 * JSON files: a top-level array of objects (each element a row) or one object (one row), or
 * several top-level values one after another. Parsed as a token stream (stream-json), so a 1 GB
 * array is read in flat memory; the parser is paused while a batch is consumed.
 */
// @ts-nocheck

import { pipeline, Transform } from 'node:stream';
import Assembler from 'stream-json/assembler.js';
import makeParser from 'stream-json/parser.js';
import type { FileFormat, FileHandle, FileRowBatch } from '../../../src/core/connector.js';
import { safeJson } from '../../../src/core/convert.js';
import { BadRecordError } from '../../../src/core/errors.js';
import { openDecompressed } from '../decompress.js';
import { createTextDecoder } from '../text-decoder.js';
import { valueTooLarge } from '../text-limit.js';
import { JsonRowCollector, parseJsonNumber } from './json-rows.js';

const DEFAULT_BATCH_SIZE = 10_000;

/** The JSON format (arrays of objects, or objects). */
export const jsonFormat: FileFormat = {
  name: 'json',
  extensions: ['json'],
  async read(file, options) {
    const batchSize = options.batchSize && options.batchSize > 0 ? Math.floor(options.batchSize) : DEFAULT_BATCH_SIZE;
    return { batches: jsonBatches(file, batchSize) };
  },
};

interface Token {
  name: string;
  value?: unknown;
}

/** Builds top-level values (or the elements of a top-level array) from parser tokens. */
class ValueBuilder {
  private readonly assembler = new Assembler();
  private insideArray = false;
  count = 0;

  constructor(private readonly onValue: (value: unknown, position: number) => void) {
    const assembler = this.assembler as Assembler & { _saveValue(value: unknown): void };
    // Numbers arrive as their text: keep integers beyond 2^53 exact.
    assembler.numberValue = (text: string) => assembler._saveValue(parseJsonNumber(text));
  }

  /** The top-level key whose value is being built: the column a value being read belongs to. */
  get column(): string | undefined {
    const { stack, key } = this.assembler as unknown as { stack: unknown[]; key: unknown };
    const top = stack.length >= 2 ? stack[1] : key;
    return typeof top === 'string' ? top : undefined;
  }

  token(token: Token): void {
    const assembler = this.assembler;
    if (assembler.done) {
      if (!this.insideArray && token.name === 'startArray') {
        this.insideArray = true;
        return;
      }
      if (this.insideArray && token.name === 'endArray') {
        this.insideArray = false;
        return;
      }
    }
    assembler.consume(token as Parameters<Assembler['consume']>[0]);
    if (assembler.done) {
      const value = assembler.current;
      assembler.current = null;
      this.onValue(value, ++this.count);
    }
  }
}

async function* jsonBatches(file: FileHandle, batchSize: number): AsyncGenerator<FileRowBatch> {
  const decoder = createTextDecoder('utf-8', file.name);
  const rows = new JsonRowCollector(batchSize, 'element');
  const builder = new ValueBuilder((value, position) => {
    if (decoder.invalid && safeJson(value).includes('\ufffd')) {
      rows.reject(position, 'bytes are not valid UTF-8; JSON files must be UTF-8', safeJson(value));
    } else {
      rows.add(value, position);
    }
  });
  const input = await openDecompressed(file);
  const text = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      callback(null, decoder.write(chunk));
    },
    flush(callback) {
      callback(null, decoder.end());
    },
  });
  const tokens = makeParser.asStream({ packValues: true, streamValues: false, jsonStreaming: true });

  let ended = false;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    const resolve = wake;
    wake = undefined;
    resolve?.();
  };
  tokens.on('data', (token: Token) => {
    builder.token(token);
    if (rows.ready.length) {
      // The batch is full: stop the parser (and so the file) until it has been consumed.
      tokens.pause();
      notify();
    }
  });
  tokens.on('end', () => {
    ended = true;
    notify();
  });
  pipeline(input, text, tokens, (error) => {
    if (error && !failure) {
      failure = error;
      notify();
    }
  });

  try {
    for (;;) {
      while (rows.ready.length) yield rows.ready.shift()!;
      if (failure) {
        // The parser joins a string's pieces into one: past the longest string V8 can hold, it throws.
        if (failure instanceof RangeError && /string length/i.test(failure.message)) throw valueTooLarge(`${file.name}: element ${builder.count + 1}`, builder.column);
        if (!failure.message.startsWith('Parser')) throw failure;
        // The parser reports no position; tokens of the failing chunk never arrive, so the count is a lower bound.
        const after = builder.count ? ` after element ${builder.count}` : '';
        throw new BadRecordError(file.name, undefined, `not valid JSON${after}: ${failure.message}`);
      }
      if (ended) break;
      const waiting = new Promise<void>((resolve) => (wake = resolve));
      tokens.resume();
      await waiting;
    }
    rows.finish();
    while (rows.ready.length) yield rows.ready.shift()!;
  } finally {
    input.destroy();
    tokens.destroy();
  }
}
