/**
 * Opens a file's byte stream, decompressed when its name ends in `.gz` or `.zst`, so every
 * streaming format reads compressed files on every store alike.
 */
// @ts-nocheck

import { pipeline, type Readable, type Transform } from 'node:stream';
import * as zlib from 'node:zlib';
import type { FileHandle } from '../../src/core/connector.js';
import { ConfigError } from '../../src/core/errors.js';

/** The compression a file name announces, if any. */
export function compressionOf(name: string): 'gzip' | 'zstd' | undefined {
  const lower = name.toLowerCase();
  if (lower.endsWith('.gz') || lower.endsWith('.gzip')) return 'gzip';
  if (lower.endsWith('.zst') || lower.endsWith('.zstd')) return 'zstd';
  return undefined;
}

/** The file's content as a stream, decompressed by its extension. */
export async function openDecompressed(file: FileHandle): Promise<Readable> {
  const compression = compressionOf(file.name);
  const inflate = compression ? decompressor(compression, file.name) : undefined;
  const raw = await file.open();
  if (!inflate) return raw;
  return pipeline(raw, inflate, () => {
    // Errors reach the consumer through the returned stream, which pipeline destroys with them.
  });
}

function decompressor(compression: 'gzip' | 'zstd', name: string): Transform {
  if (compression === 'gzip') return zlib.createGunzip();
  const zstd = (zlib as unknown as { createZstdDecompress?: () => Transform }).createZstdDecompress;
  if (!zstd) {
    throw ConfigError.of(
      `${name}: this Node.js version cannot read zstd files`,
      'use Node.js 22.15 or later, or compress the files with gzip',
    );
  }
  return zstd();
}
