/**
 * File formats by name or by file extension. Each format is imported only when asked for, so
 * reading CSV never loads the Parquet or JSON parsers.
 */
// @ts-nocheck

import type { FileFormat } from '../../src/core/connector.js';
import { ConfigError } from '../../src/core/errors.js';
import { compressionOf } from './decompress.js';

/** The formats b2betl reads. */
export type FormatName = 'csv' | 'json' | 'jsonl' | 'parquet';

const loaders: Record<FormatName, () => Promise<FileFormat>> = {
  csv: async () => (await import('./csv/csv-format.js')).csvFormat,
  json: async () => (await import('./json/json-format.js')).jsonFormat,
  jsonl: async () => (await import('./json/jsonl-format.js')).jsonlFormat,
  parquet: async () => (await import('./parquet/parquet-format.js')).parquetFormat,
};

const ALIASES: Record<string, FormatName> = {
  csv: 'csv',
  tsv: 'csv',
  json: 'json',
  jsonl: 'jsonl',
  ndjson: 'jsonl',
  parquet: 'parquet',
};

const EXTENSIONS: Record<string, FormatName> = {
  csv: 'csv',
  tsv: 'csv',
  txt: 'csv',
  json: 'json',
  jsonl: 'jsonl',
  ndjson: 'jsonl',
  parquet: 'parquet',
  pq: 'parquet',
};

/** The format called `name` in a job's `source.format` (`ndjson` is `jsonl`). */
export async function formatByName(name: string): Promise<FileFormat> {
  const key = ALIASES[name.toLowerCase()];
  if (!key) {
    throw ConfigError.of(`unknown file format "${name}"`, `set source.format to one of: csv, json, jsonl, ndjson, parquet`);
  }
  return loaders[key]();
}

/** The format name a path's extension implies (a trailing .gz or .zst is looked through), if any. */
export function formatNameForPath(path: string): FormatName | undefined {
  const base = path.split('/').pop() ?? path;
  const bare = compressionOf(base) ? base.replace(/\.[^.]+$/, '') : base;
  const dot = bare.lastIndexOf('.');
  if (dot <= 0) return undefined;
  return EXTENSIONS[bare.slice(dot + 1).toLowerCase()];
}

/** The format of a file by its extension; `.tsv` reads as CSV with a tab delimiter. */
export async function formatForPath(path: string): Promise<FileFormat> {
  const key = formatNameForPath(path);
  if (!key) {
    throw ConfigError.of(
      `cannot tell the format of ${path} from its extension`,
      'set source.format to csv, json, jsonl or parquet in the job',
    );
  }
  return loaders[key]();
}
