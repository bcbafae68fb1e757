/**
 * Parquet through hyparquet: ranged reads of the footer and then one row group at a time, so
 * memory is bounded by a row group, never the file. Types come from the file's schema; values
 * keep their precision (decimals as exact text, timestamps as bigint microseconds of any year,
 * nested values as JSON text whose leaves keep their logical types). Encrypted files are refused,
 * and a row group too large for the memory this process may use fails before it is read.
 */
// @ts-nocheck

import { getHeapStatistics } from 'node:v8';
import type { AsyncBuffer, ColumnData, Compressors, FileMetaData, SchemaElement, SchemaTree } from 'hyparquet';
import type { FileFormat, FileHandle, FileRowBatch } from '../../../src/core/connector.js';
import { BadRecordError, megabytes } from '../../../src/core/errors.js';
import { formatDatetime } from '../../../src/core/time.js';
import { columnar, type ColumnType, type SourceColumn } from '../../../src/core/types.js';
import { chunkEnd, chunkStart, readFlatColumn } from './parquet-columns.js';
import { decimalScale, decimalText, nodeJson, PARSERS, timeText, timeUnit } from './parquet-values.js';

const DEFAULT_BATCH_SIZE = 10_000;
const utf8 = new TextDecoder();

type Convert = (value: unknown) => unknown;

/** How one top-level column is typed and which value conversion it needs. */
interface ColumnPlan {
  readonly column: SourceColumn;
  readonly convert?: Convert;
  /** Why a destination engine would read the column otherwise than this format; undefined when alike. */
  readonly notNative?: string;
  /** A struct, list, map or repeated field: hyparquet assembles its values. */
  readonly nested?: boolean;
}

/** The Parquet format. */
export const parquetFormat: FileFormat = {
  name: 'parquet',
  extensions: ['parquet', 'pq'],
  async read(file, options) {
    const hyparquet = await import('hyparquet');
    const { compressors } = await import('hyparquet-compressors');
    const buffer = asyncBufferOf(file);
    await refuseEncrypted(file);
    let metadata: FileMetaData;
    try {
      metadata = await hyparquet.parquetMetadataAsync(buffer, { parsers: PARSERS });
    } catch (error) {
      throw new BadRecordError(file.name, undefined, `not a readable Parquet file (${(error as Error).message}); check source.format and the file`);
    }
    const plans = hyparquet.parquetSchema(metadata).children.map((node) => planColumn(node, metadata));
    const batchSize = options.batchSize && options.batchSize > 0 ? Math.floor(options.batchSize) : DEFAULT_BATCH_SIZE;
    // Decimals and a few rare annotations are read as their raw values and converted here,
    // where precision is kept; hyparquet would turn decimals into doubles.
    const readable: FileMetaData = { ...metadata, schema: metadata.schema.map(rawElement) };
    const notNative = plans.find((plan) => plan.notNative);
    return {
      declaredTypes: new Map(plans.map((plan) => [plan.column.name, plan.column])),
      rowCount: Number(metadata.num_rows),
      notNative: notNative ? `column ${notNative.column.name}: ${notNative.notNative}` : undefined,
      batches: rowGroupBatches(file, buffer, readable, plans, batchSize, hyparquet.parquetRead, compressors),
    };
  },
};

const ENCRYPTED = 'encrypted Parquet files are not supported';

/**
 * Refuses an encrypted file before anything else reads it: one whose footer is encrypted (it
 * ends in `PARE`), or whose plaintext footer names an encryption algorithm or encrypted columns.
 */
async function refuseEncrypted(file: FileHandle): Promise<void> {
  if (file.size < 12) return;
  const tail = Buffer.from(await file.readRange(file.size - 8, file.size));
  const magic = tail.toString('latin1', 4);
  if (magic === 'PARE') throw new BadRecordError(file.name, undefined, `${ENCRYPTED} (its footer is encrypted); decrypt it first, e.g. with the tool that wrote it`);
  const length = tail.readUInt32LE(0);
  if (magic !== 'PAR1' || length + 8 > file.size) return;
  const { deserializeTCompactProtocol } = await import('hyparquet/src/thrift.js');
  const footer = await file.readRange(file.size - 8 - length, file.size - 8);
  let raw: Record<string, unknown>;
  try {
    raw = deserializeTCompactProtocol({ view: new DataView(footer.buffer, footer.byteOffset, footer.byteLength), offset: 0 }) as Record<string, unknown>;
  } catch {
    return; // hyparquet names what is wrong with it
  }
  // FileMetaData 8: encryption_algorithm; ColumnChunk 8 and 9: crypto_metadata, encrypted_column_metadata.
  const groups = (raw.field_4 ?? []) as { field_1?: Record<string, unknown>[] }[];
  const encryptedColumn = groups.some((group) => (group.field_1 ?? []).some((chunk) => chunk.field_8 !== undefined || chunk.field_9 !== undefined));
  if (raw.field_8 !== undefined || encryptedColumn) {
    throw new BadRecordError(file.name, undefined, `${ENCRYPTED} (its columns are encrypted under a plaintext footer); decrypt it first, e.g. with the tool that wrote it`);
  }
}

/**
 * Bytes this process may still fill: what V8's heap allows beyond what it holds, less a margin
 * for the rows being built from the values.
 */
function memoryBudget(): number {
  const heap = getHeapStatistics();
  return (heap.heap_size_limit - heap.used_heap_size) / 3;
}

/**
 * Fails a row group whose values would not fit in memory, naming its largest column: hyparquet
 * decodes a row group's column whole, and a string column in JavaScript takes more than its
 * bytes on disk.
 */
function checkMemory(file: FileHandle, group: FileMetaData['row_groups'][number], first: number): void {
  const budget = memoryBudget();
  let total = 0;
  let largest = { name: '', bytes: 0 };
  for (const chunk of group.columns) {
    const meta = chunk.meta_data;
    if (!meta) continue;
    // Each value also costs an object or a slot: at least 16 bytes beside its own.
    const bytes = Number(meta.total_uncompressed_size) + 16 * Number(meta.num_values);
    total += bytes;
    if (bytes > largest.bytes) largest = { name: meta.path_in_schema.join('.'), bytes };
  }
  if (total > budget) {
    const rows = Number(group.num_rows);
    throw new BadRecordError(
      `${file.name}: rows ${first + 1}-${first + rows}`,
      largest.name,
      `the row group holds ${megabytes(total)} MB of values (column ${largest.name}: ${megabytes(largest.bytes)} MB), more than the ${megabytes(budget)} MB of memory this process may fill; write the file with smaller row groups, or run with a larger --max-old-space-size in NODE_OPTIONS`,
    );
  }
}

async function* rowGroupBatches(
  file: FileHandle,
  buffer: AsyncBuffer,
  metadata: FileMetaData,
  plans: readonly ColumnPlan[],
  batchSize: number,
  parquetRead: typeof import('hyparquet').parquetRead,
  compressors: Compressors,
): AsyncGenerator<FileRowBatch> {
  const fields = plans.map((plan) => plan.column.name);
  const converters = plans.map((plan) => plan.convert);
  const nestedNames = plans.filter((plan) => plan.nested).map((plan) => plan.column.name);
  const flatNames = new Set(plans.filter((plan) => !plan.nested).map((plan) => plan.column.name));
  let groupStart = 0;
  let emitted = false;
  for (const group of metadata.row_groups) {
    const count = Number(group.num_rows);
    if (count === 0) continue;
    checkMemory(file, group, groupStart);
    // Column by column: flat columns page by page into one array each, nested ones through
    // hyparquet's assembly. Rows are built one batch at a time below, so only the group's column
    // values and one batch of rows are in memory.
    const chunks = new Map<string, ColumnData[]>();
    const flat = new Map<string, ArrayLike<unknown>>();
    const readGroup = async (groupRead: typeof group, fileRead: FileMetaData): Promise<void> => {
      chunks.clear();
      flat.clear();
      await Promise.all(
        groupRead.columns.map(async (chunk) => {
          const meta = chunk.meta_data;
          if (meta && meta.path_in_schema.length === 1 && flatNames.has(meta.path_in_schema[0]!)) {
            flat.set(meta.path_in_schema[0]!, await readFlatColumn(buffer, meta, count, { schema: metadata.schema, compressors, parsers: PARSERS }));
          }
        }),
      );
      if (nestedNames.length) {
        await parquetRead({
          file: buffer,
          metadata: fileRead,
          columns: nestedNames,
          rowStart: groupStart,
          rowEnd: groupStart + count,
          utf8: false,
          parsers: PARSERS,
          compressors,
          onChunk: (chunk) => {
            const list = chunks.get(chunk.columnName);
            if (list) list.push(chunk);
            else chunks.set(chunk.columnName, [chunk]);
          },
        });
      }
    };
    const failed = (error: unknown) =>
      new BadRecordError(`${file.name}: rows ${groupStart + 1}-${groupStart + count}`, undefined, `cannot read Parquet row group: ${(error as Error).message}`);
    try {
      await readGroup(group, metadata);
    } catch (error) {
      // Chunk sizes that leave a page out (a writer bug DuckDB tolerates): read by the pages.
      const repaired = await repairedSizes(buffer, group).catch(() => undefined);
      if (!repaired) throw failed(error);
      try {
        await readGroup(repaired, { ...metadata, row_groups: metadata.row_groups.map((other) => (other === group ? repaired : other)) });
      } catch (again) {
        throw failed(again);
      }
    }
    const columns = fields.map((field) => flat.get(field) ?? columnValues(chunks.get(field) ?? [], groupStart, count));
    chunks.clear();
    flat.clear();
    for (let offset = 0; offset < count; offset += batchSize) {
      const size = Math.min(batchSize, count - offset);
      const vectors = columns.map((values, c) => sliceColumn(values, offset, size, converters[c]));
      yield columnar({ fields }, vectors, size, groupStart + offset + 1);
      emitted = true;
    }
    groupStart += count;
  }
  if (!emitted) yield { fields, rows: [], positions: [] };
}

/**
 * The row group with each column chunk's size as its pages run (see {@link chunkEnd}), or
 * undefined when every chunk already ends where its sizes say.
 */
async function repairedSizes(buffer: AsyncBuffer, group: FileMetaData['row_groups'][number]): Promise<FileMetaData['row_groups'][number] | undefined> {
  let changed = false;
  const columns = await Promise.all(
    group.columns.map(async (chunk) => {
      const meta = chunk.meta_data;
      if (!meta) return chunk;
      const start = chunkStart(meta);
      const end = await chunkEnd(buffer, meta);
      if (end === undefined || end <= start + Number(meta.total_compressed_size)) return chunk;
      changed = true;
      return { ...chunk, meta_data: { ...meta, total_compressed_size: BigInt(end - start) } };
    }),
  );
  return changed ? { ...group, columns } : undefined;
}

/**
 * Values `offset`..`offset + size` of a row group's column, through the column's conversion if
 * it has one (null for a missing value); a typed array's values come as a view of it.
 */
function sliceColumn(values: ArrayLike<unknown>, offset: number, size: number, convert: Convert | undefined): ArrayLike<unknown> {
  if (!convert) {
    if (ArrayBuffer.isView(values)) return (values as unknown as Int32Array).subarray(offset, offset + size);
    return Array.prototype.slice.call(values, offset, offset + size);
  }
  const out: unknown[] = new Array(size);
  for (let i = 0; i < size; i++) {
    const value = values[offset + i];
    out[i] = value === undefined || value === null ? null : convert(value);
  }
  return out;
}

/** One column's values for rows `start`..`start + count`, from the chunks hyparquet emitted. */
function columnValues(chunks: readonly ColumnData[], start: number, count: number): ArrayLike<unknown> {
  if (chunks.length === 1 && chunks[0]!.rowStart === start && chunks[0]!.columnData.length === count) return chunks[0]!.columnData;
  const values: unknown[] = new Array(count).fill(null);
  for (const chunk of chunks) {
    for (let i = 0; i < chunk.columnData.length; i++) {
      const at = chunk.rowStart - start + i;
      if (at >= 0 && at < count) values[at] = chunk.columnData[i];
    }
  }
  return values;
}

/** The file as hyparquet's random-access buffer, over ranged reads of the store. */
function asyncBufferOf(file: FileHandle): AsyncBuffer {
  return {
    byteLength: file.size,
    async slice(start: number, end?: number): Promise<ArrayBuffer> {
      const bytes = await file.readRange(start, end ?? file.size);
      if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer) return bytes.buffer;
      return Uint8Array.prototype.slice.call(bytes).buffer as ArrayBuffer;
    },
  };
}

/** A schema element hyparquet should not convert (we convert it exactly ourselves). */
function rawElement(element: SchemaElement): SchemaElement {
  const logical = element.logical_type?.type;
  const converted = element.converted_type;
  if (logical === 'DECIMAL' || converted === 'DECIMAL' || logical === 'BSON' || converted === 'BSON' || converted === 'INTERVAL' || logical === 'INTERVAL') {
    const { converted_type: _converted, logical_type: _logical, ...rest } = element;
    return rest;
  }
  return element;
}

function planColumn(node: SchemaTree, metadata: FileMetaData): ColumnPlan {
  const element = node.element;
  const name = element.name;
  const nullable = element.repetition_type !== 'REQUIRED';
  const column = (type: ColumnType, sourceType: string): SourceColumn => ({ name, type, nullable, sourceType });
  const logical = element.logical_type;
  const converted = element.converted_type;

  // Nested values (LIST, MAP, STRUCT) become JSON text in which every leaf keeps its type.
  if (node.children.length || element.repetition_type === 'REPEATED') {
    const kind = logical?.type === 'LIST' || converted === 'LIST' ? 'LIST' : logical?.type === 'MAP' || converted === 'MAP' || converted === 'MAP_KEY_VALUE' ? 'MAP' : element.repetition_type === 'REPEATED' ? 'REPEATED' : 'STRUCT';
    return { column: column('STRING', kind), convert: (value) => nodeJson(value, node), notNative: 'nested values become JSON text that b2betl writes', nested: true };
  }

  const scale = decimalScale(element);
  if (scale !== undefined) {
    const precision = logical?.type === 'DECIMAL' ? logical.precision : (element.precision ?? 38);
    // NUMERIC holds 29 integer digits and 9 fractional ones; anything wider is BIGNUMERIC.
    const type = scale > 9 || precision - scale > 29 ? 'BIGNUMERIC' : 'NUMERIC';
    return {
      column: column(type, `DECIMAL(${precision},${scale})`),
      convert: (value) => decimalText(value, scale),
      notNative: precision > 38 ? `DECIMAL(${precision},${scale}) is wider than DuckDB's decimals` : undefined,
    };
  }
  if (logical?.type === 'GEOMETRY' || logical?.type === 'GEOGRAPHY') {
    // Both travel as well-known text: BigQuery's GEOGRAPHY loads it, DuckDB keeps it as text.
    return { column: column('GEOGRAPHY', logical.type), notNative: 'geometries become well-known text that b2betl writes' };
  }
  if (logical?.type === 'TIMESTAMP') {
    const sourceType = `TIMESTAMP(${logical.unit},${logical.isAdjustedToUTC ? 'UTC' : 'local'})`;
    // A timestamp not adjusted to UTC is a wall-clock reading: DATETIME, as BigQuery reads it.
    return logical.isAdjustedToUTC
      ? { column: column('TIMESTAMP', sourceType) }
      : { column: column('DATETIME', sourceType), convert: (value) => formatDatetime(value as bigint) };
  }
  if (converted === 'TIMESTAMP_MILLIS' || converted === 'TIMESTAMP_MICROS') return { column: column('TIMESTAMP', converted) };
  // Julian day and nanoseconds: exact here for any year, as bigint microseconds.
  if (element.type === 'INT96') return { column: column('TIMESTAMP', 'INT96') };
  if (logical?.type === 'DATE' || converted === 'DATE') return { column: column('DATE', 'DATE') };
  const time = timeUnit(element);
  if (time) {
    const unit = logical?.type === 'TIME' ? logical.unit : converted === 'TIME_MILLIS' ? 'MILLIS' : 'MICROS';
    return { column: column('TIME', `TIME(${unit})`), convert: (value) => timeText((BigInt(value as number | bigint) * time.perMicro) / time.perNano) };
  }
  if (logical?.type === 'JSON' || converted === 'JSON') return { column: column('JSON', 'JSON') };
  if (logical?.type === 'UUID') return { column: column('STRING', 'UUID') };
  if (logical?.type === 'STRING' || converted === 'UTF8') return { column: column('STRING', 'STRING') };
  if (logical?.type === 'ENUM' || converted === 'ENUM') return { column: column('STRING', 'ENUM'), convert: (value) => (value instanceof Uint8Array ? utf8.decode(value) : value) };
  if ((logical?.type === 'INTEGER' && logical.bitWidth === 64 && !logical.isSigned) || converted === 'UINT_64') {
    // INT64 when the file's statistics show every value fits; otherwise NUMERIC, exact.
    return fitsInt64(metadata, name)
      ? { column: column('INT64', 'UINT64'), convert: safeInteger }
      : { column: column('NUMERIC', 'UINT64'), convert: (value) => String(value) };
  }
  if (logical?.type === 'FLOAT16') return { column: column('FLOAT64', 'FLOAT16'), notNative: 'FLOAT16' };
  if (logical?.type === 'BSON' || converted === 'BSON' || logical?.type === 'INTERVAL' || converted === 'INTERVAL') {
    return { column: column('BYTES', logical?.type ?? converted ?? 'BYTE_ARRAY'), notNative: `${logical?.type ?? converted} values, which DuckDB reads as another type` };
  }

  switch (element.type) {
    case 'BOOLEAN':
      return { column: column('BOOL', 'BOOLEAN') };
    case 'INT32':
      return { column: column('INT64', integerName(element, 'INT32')) };
    case 'INT64':
      return { column: column('INT64', integerName(element, 'INT64')), convert: safeInteger };
    case 'FLOAT':
    case 'DOUBLE':
      return { column: column('FLOAT64', element.type) };
    default:
      return { column: column('BYTES', element.type ?? 'BYTE_ARRAY') };
  }
}

function integerName(element: SchemaElement, physical: string): string {
  const logical = element.logical_type;
  if (logical?.type === 'INTEGER') return `${logical.isSigned ? 'INT' : 'UINT'}${logical.bitWidth}`;
  return element.converted_type ?? physical;
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MAX_INT64 = 2n ** 63n - 1n;

/** Whether every row group's statistics give column `name` a maximum within INT64. */
function fitsInt64(metadata: FileMetaData, name: string): boolean {
  if (!metadata.row_groups.length) return false;
  return metadata.row_groups.every((group) => {
    const chunk = group.columns.find((candidate) => candidate.meta_data?.path_in_schema.length === 1 && candidate.meta_data.path_in_schema[0] === name);
    const statistics = chunk?.meta_data?.statistics;
    const max = statistics?.max_value ?? statistics?.max;
    if (Number(group.num_rows) === 0) return true;
    if (statistics?.null_count !== undefined && statistics.null_count === group.num_rows) return true;
    return typeof max === 'bigint' && max <= MAX_INT64;
  });
}

/** INT64 values as number when exact, bigint beyond 2^53 (the core's representation). */
function safeInteger(value: unknown): unknown {
  if (typeof value !== 'bigint') return value;
  return value <= MAX_SAFE && value >= -MAX_SAFE ? Number(value) : value;
}
