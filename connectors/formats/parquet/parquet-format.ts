/**
 * Parquet through hyparquet: ranged reads of the footer and then one row group at a time, so
 * memory is bounded by a row group, never the file. Types come from the file's schema; values
 * keep their precision (decimals as exact text, timestamps as bigint microseconds).
 */
import type { AsyncBuffer, ColumnData, Compressors, FileMetaData, ParquetParsers, SchemaElement, SchemaTree } from 'hyparquet';
import type { FileFormat, FileHandle, FileRowBatch } from '../../../src/core/connector.js';
import { BadRecordError } from '../../../src/core/errors.js';
import { daysToDate, formatDatetime } from '../../../src/core/time.js';
import type { ColumnType, SourceColumn } from '../../../src/core/types.js';

const DEFAULT_BATCH_SIZE = 10_000;
const utf8 = new TextDecoder();

type Convert = (value: unknown) => unknown;

/** How one top-level column is typed and which value conversion it needs. */
interface ColumnPlan {
  readonly column: SourceColumn;
  readonly convert?: Convert;
}

/** The Parquet format. */
export const parquetFormat: FileFormat = {
  name: 'parquet',
  extensions: ['parquet', 'pq'],
  async read(file, options) {
    const hyparquet = await import('hyparquet');
    const { compressors } = await import('hyparquet-compressors');
    const buffer = asyncBufferOf(file);
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
    return {
      declaredTypes: new Map(plans.map((plan) => [plan.column.name, plan.column])),
      batches: rowGroupBatches(file, buffer, readable, plans, batchSize, hyparquet.parquetRead, compressors),
    };
  },
};

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
  const width = fields.length;
  let groupStart = 0;
  let emitted = false;
  for (const group of metadata.row_groups) {
    const count = Number(group.num_rows);
    if (count === 0) continue;
    // Column by column (hyparquet decodes a row group per column); rows are built one batch at
    // a time below, so only the group's column values and one batch of rows are in memory.
    const chunks = new Map<string, ColumnData[]>();
    try {
      await parquetRead({
        file: buffer,
        metadata,
        columns: fields,
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
    } catch (error) {
      throw new BadRecordError(`${file.name}: rows ${groupStart + 1}-${groupStart + count}`, undefined, `cannot read Parquet row group: ${(error as Error).message}`);
    }
    const columns = fields.map((field) => columnValues(chunks.get(field) ?? [], groupStart, count));
    chunks.clear();
    for (let offset = 0; offset < count; offset += batchSize) {
      const size = Math.min(batchSize, count - offset);
      const rows: unknown[][] = new Array(size);
      const positions: number[] = new Array(size);
      for (let i = 0; i < size; i++) {
        const row: unknown[] = new Array(width);
        for (let c = 0; c < width; c++) {
          const value = columns[c]![offset + i];
          const convert = converters[c];
          row[c] = value === undefined ? null : convert && value !== null ? convert(value) : value;
        }
        rows[i] = row;
        positions[i] = groupStart + offset + i + 1;
      }
      yield { fields, rows, positions };
      emitted = true;
    }
    groupStart += count;
  }
  if (!emitted) yield { fields, rows: [], positions: [] };
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

/** Value parsers: exact timestamps (bigint microseconds), dates as text, JSON as its text. */
const PARSERS: Partial<ParquetParsers> = {
  timestampFromMilliseconds: (millis: bigint) => BigInt(millis) * 1000n,
  timestampFromMicroseconds: (micros: bigint) => BigInt(micros),
  timestampFromNanoseconds: (nanos: bigint) => floorDivide(BigInt(nanos), 1000n),
  dateFromDays: (days: number) => daysToDate(Number(days)),
  jsonFromBytes: (bytes: Uint8Array) => bytes && utf8.decode(bytes),
};

function floorDivide(a: bigint, b: bigint): bigint {
  const quotient = a / b;
  return a % b < 0n ? quotient - 1n : quotient;
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

  // Nested values (LIST, MAP, STRUCT) stay JS objects/arrays; the core serializes them.
  if (node.children.length || element.repetition_type === 'REPEATED') {
    const kind = logical?.type === 'LIST' || converted === 'LIST' ? 'LIST' : logical?.type === 'MAP' || converted === 'MAP' || converted === 'MAP_KEY_VALUE' ? 'MAP' : element.repetition_type === 'REPEATED' ? 'REPEATED' : 'STRUCT';
    return { column: column('STRING', kind) };
  }

  if (logical?.type === 'DECIMAL' || converted === 'DECIMAL') {
    const precision = logical?.type === 'DECIMAL' ? logical.precision : (element.precision ?? 38);
    const scale = logical?.type === 'DECIMAL' ? logical.scale : (element.scale ?? 0);
    // NUMERIC holds 29 integer digits and 9 fractional ones; anything wider is BIGNUMERIC.
    const type = scale > 9 || precision - scale > 29 ? 'BIGNUMERIC' : 'NUMERIC';
    return { column: column(type, `DECIMAL(${precision},${scale})`), convert: (value) => decimalText(value, scale) };
  }
  if (logical?.type === 'TIMESTAMP') {
    const sourceType = `TIMESTAMP(${logical.unit},${logical.isAdjustedToUTC ? 'UTC' : 'local'})`;
    // A timestamp not adjusted to UTC is a wall-clock reading: DATETIME, as BigQuery reads it.
    return logical.isAdjustedToUTC
      ? { column: column('TIMESTAMP', sourceType) }
      : { column: column('DATETIME', sourceType), convert: (value) => formatDatetime(value as bigint) };
  }
  if (converted === 'TIMESTAMP_MILLIS' || converted === 'TIMESTAMP_MICROS') return { column: column('TIMESTAMP', converted) };
  if (element.type === 'INT96') return { column: column('TIMESTAMP', 'INT96') };
  if (logical?.type === 'DATE' || converted === 'DATE') return { column: column('DATE', 'DATE') };
  if (logical?.type === 'TIME' || converted === 'TIME_MILLIS' || converted === 'TIME_MICROS') {
    const unit = logical?.type === 'TIME' ? logical.unit : converted === 'TIME_MILLIS' ? 'MILLIS' : 'MICROS';
    const perMicro = unit === 'MILLIS' ? 1000n : 1n;
    const perNano = unit === 'NANOS' ? 1000n : 1n;
    return {
      column: column('TIME', `TIME(${unit})`),
      convert: (value) => timeText((BigInt(value as number | bigint) * perMicro) / perNano),
    };
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
  if (logical?.type === 'FLOAT16') return { column: column('FLOAT64', 'FLOAT16') };

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

/** The exact decimal text of an unscaled integer (INT32, INT64 or big-endian two's complement bytes). */
function decimalText(value: unknown, scale: number): string {
  let unscaled: bigint;
  if (value instanceof Uint8Array) {
    if (!value.length) return '0';
    unscaled = BigInt(`0x${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex')}`);
    if (value[0]! & 0x80) unscaled -= 1n << BigInt(value.length * 8);
  } else {
    unscaled = BigInt(value as number | bigint);
  }
  const negative = unscaled < 0n;
  const digits = (negative ? -unscaled : unscaled).toString();
  if (scale <= 0) return `${negative ? '-' : ''}${digits}${'0'.repeat(-scale)}`;
  const padded = digits.padStart(scale + 1, '0');
  return `${negative ? '-' : ''}${padded.slice(0, -scale)}.${padded.slice(-scale)}`;
}

/** `HH:MM:SS.ffffff` from microseconds since midnight. */
function timeText(micros: bigint): string {
  const total = Number(micros);
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  const seconds = Math.floor(total / 1_000_000);
  return `${pad(Math.floor(seconds / 3600))}:${pad(Math.floor(seconds / 60) % 60)}:${pad(seconds % 60)}.${pad(total % 1_000_000, 6)}`;
}
