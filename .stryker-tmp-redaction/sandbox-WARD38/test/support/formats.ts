/**
 * Helpers for format tests: file handles over bytes or disk files (optionally served in tiny
 * chunks to exercise boundaries), and reading a whole file into rows.
 */
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { FileFormat, FileHandle, FileRowBatch, FormatOptions, ParseReject } from '../../src/core/connector.js';

/** A handle over bytes in memory; `chunkSize` splits the stream into pieces of that many bytes. */
export function bytesHandle(name: string, data: Buffer | string, chunkSize?: number): FileHandle {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  return {
    name,
    size: bytes.length,
    async open() {
      if (!chunkSize) return Readable.from([bytes], { objectMode: false });
      const pieces: Buffer[] = [];
      for (let i = 0; i < bytes.length; i += chunkSize) pieces.push(bytes.subarray(i, i + chunkSize));
      return Readable.from(pieces, { objectMode: false });
    },
    async readRange(start, end) {
      return bytes.subarray(start, Math.min(end, bytes.length));
    },
  };
}

/** A handle over a file on disk. */
export async function diskHandle(file: string): Promise<FileHandle> {
  const size = (await stat(file)).size;
  return {
    name: file,
    size,
    async open() {
      return createReadStream(file);
    },
    async readRange(start, end) {
      const { open } = await import('node:fs/promises');
      const handle = await open(file, 'r');
      try {
        const buffer = Buffer.alloc(Math.max(0, Math.min(end, size) - start));
        await handle.read(buffer, 0, buffer.length, start);
        return buffer;
      } finally {
        await handle.close();
      }
    },
  };
}

/** Everything a format produced for one file. */
export interface ReadResult {
  readonly batches: FileRowBatch[];
  /** Fields of the last batch (the union, for JSON). */
  readonly fields: readonly string[];
  readonly rows: unknown[][];
  readonly positions: number[];
  readonly rejects: ParseReject[];
  /** Rows as objects keyed by field (later duplicate names overwrite earlier ones). */
  readonly records: Record<string, unknown>[];
}

/** Reads every batch of a file. */
export async function readAll(format: FileFormat, file: FileHandle, options: FormatOptions = {}): Promise<ReadResult> {
  const { batches } = await format.read(file, options);
  const all: FileRowBatch[] = [];
  for await (const batch of batches) all.push(batch);
  const fields = all.at(-1)?.fields ?? [];
  const rows = all.flatMap((batch) => batch.rows);
  return {
    batches: all,
    fields,
    rows,
    positions: all.flatMap((batch) => batch.positions),
    rejects: all.flatMap((batch) => [...(batch.rejects ?? [])]),
    records: all.flatMap((batch) => batch.rows.map((row) => Object.fromEntries(batch.fields.map((field, i) => [field, row[i]])))),
  };
}

/** A temporary folder, removed by `cleanup`. */
export async function tempFolder(prefix: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `b2betl-${prefix}-`));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
