/**
 * One flat (not nested) column chunk decoded page by page into a single array of its values,
 * nulls where the definition levels say so. hyparquet's own reader assembles every column through
 * its nested-list machinery, value by value; a flat column needs none of it, and a chunk whose
 * page holds every value without a null comes back as the decoded array itself (an Int32Array,
 * a Float32Array…), untouched.
 */
// @ts-nocheck

import type { AsyncBuffer, ColumnMetaData, Compressors, ParquetParsers, SchemaElement } from 'hyparquet';
import { parquetHeader } from 'hyparquet/src/column.js';
import { readRleBitPackedHybrid } from 'hyparquet/src/encoding.js';
import { convert, convertWithDictionary, DEFAULT_PARSERS } from 'hyparquet/src/convert.js';
import { decompressPage, readDataPage, readDataPageV2 } from 'hyparquet/src/datapage.js';
import { readPlain } from 'hyparquet/src/plain.js';
import { getSchemaPath } from 'hyparquet/src/schema.js';

/** What decoding a column needs besides its chunk: the schema, codecs and value parsers. */
export interface FlatColumnContext {
  readonly schema: readonly SchemaElement[];
  readonly compressors: Compressors;
  readonly parsers: Partial<ParquetParsers>;
}

/** The values of a flat column chunk of `rows` rows. */
export async function readFlatColumn(file: AsyncBuffer, meta: ColumnMetaData, rows: number, context: FlatColumnContext): Promise<ArrayLike<unknown>> {
  const start = chunkStart(meta);
  const buffer = await file.slice(start, start + Number(meta.total_compressed_size));
  const schemaPath = getSchemaPath(context.schema as SchemaElement[], meta.path_in_schema);
  const element = schemaPath[schemaPath.length - 1]!.element;
  const decoder = {
    pathInSchema: meta.path_in_schema,
    element,
    schemaPath,
    type: meta.type,
    codec: meta.codec,
    compressors: context.compressors,
    parsers: { ...DEFAULT_PARSERS, ...context.parsers },
    utf8: false,
  };
  const nullable = element.repetition_type === 'OPTIONAL';
  const column = meta.path_in_schema.join('.');
  const reader = { view: new DataView(buffer), offset: 0 };
  let dictionary: ArrayLike<unknown> | undefined;
  let output: unknown[] | undefined;
  let filled = 0;
  /** The output as a plain array, for values of another kind or nulls. */
  const plain = (): unknown[] => (output = Array.isArray(output) ? output : Array.from(output as unknown as ArrayLike<unknown>));
  while (filled < rows && reader.offset < buffer.byteLength) {
    const header = parquetHeader(reader);
    const bytes = new Uint8Array(buffer, reader.offset, header.compressed_page_size);
    reader.offset += header.compressed_page_size;
    let levels: ArrayLike<number> | undefined;
    let values: ArrayLike<unknown>;
    let count: number;
    if (header.type === 'DICTIONARY_PAGE') {
      const data = decompressPage(bytes, Number(header.uncompressed_page_size), meta.codec, context.compressors);
      // A page declaring more entries than it holds (a writer bug) is read for those it holds;
      // a data page referring past them fails below, as DuckDB fails it.
      const entries = dictionaryEntries(data, header.dictionary_page_header!.num_values, meta.type, element.type_length);
      const plainValues = readPlain({ view: new DataView(data.buffer, data.byteOffset, data.byteLength), offset: 0 }, meta.type, entries, element.type_length);
      dictionary = convert(plainValues, decoder);
      continue;
    } else if (header.type === 'DATA_PAGE') {
      const daph = header.data_page_header!;
      count = daph.num_values;
      const data = decompressPage(bytes, Number(header.uncompressed_page_size), meta.codec, context.compressors);
      const page = readFlatPage(data, count, daph.encoding, meta.type, element.type_length, nullable);
      if (page && 'indices' in page) {
        // Dictionary indices straight to values: no array of indices, nor of values, per page.
        if (!dictionary) throw new Error(`column ${column}: a dictionary-encoded page without a dictionary page`);
        const entries = dictionary.length;
        const { indices, levels: defined } = page;
        if (!output) output = !defined && isNumberArray(dictionary) ? new (dictionary.constructor as NumberArrayConstructor)(rows) : new Array(rows);
        else if (defined || (ArrayBuffer.isView(output) && output.constructor !== dictionary.constructor)) plain();
        const out = output;
        let next = 0;
        for (let i = 0; i < count; i++) {
          if (defined && !defined[i]) {
            out[filled + i] = null;
            continue;
          }
          const index = indices[next++]!;
          if (index >= entries) failIndex(column, index, entries);
          out[filled + i] = dictionary[index];
        }
        filled += count;
        continue;
      }
      if (page) {
        levels = page.levels;
        values = convert(page.values as never, decoder) as ArrayLike<unknown>;
      } else {
        const read = readDataPage(data, daph, decoder);
        levels = read.definitionLevels;
        if (dictionary && daph.encoding.endsWith('_DICTIONARY')) checkIndices(read.dataPage as ArrayLike<number>, dictionary.length, column);
        values = convertWithDictionary(read.dataPage as never, dictionary as never, daph.encoding as never, decoder) as ArrayLike<unknown>;
      }
    } else if (header.type === 'DATA_PAGE_V2') {
      const daph = header.data_page_header_v2!;
      const read = readDataPageV2(bytes, header, decoder);
      count = daph.num_values;
      levels = read.definitionLevels;
      if (dictionary && daph.encoding.endsWith('_DICTIONARY')) checkIndices(read.dataPage as ArrayLike<number>, dictionary.length, column);
      values = convertWithDictionary(read.dataPage as never, dictionary as never, daph.encoding as never, decoder) as ArrayLike<unknown>;
    } else {
      continue;
    }
    const nulls = nullable && levels !== undefined && levels.length > 0 && !allDefined(levels, count);
    // A single page of every row, none null: its values are the column.
    if (!output && filled === 0 && count === rows && !nulls) return values;
    // Numbers stay in an array of their own type while no value is null: no number is boxed.
    if (!output) output = !nulls && isNumberArray(values) ? new (values.constructor as NumberArrayConstructor)(rows) : new Array(rows);
    if (nulls) {
      const out = plain();
      let next = 0;
      for (let i = 0; i < count; i++) out[filled + i] = levels![i] === 1 ? values[next++] : null;
    } else if (ArrayBuffer.isView(output) && values.constructor === output.constructor) {
      (output as unknown as Float64Array).set(values as Float64Array, filled);
    } else {
      const out = plain();
      for (let i = 0; i < count; i++) out[filled + i] = values[i];
    }
    filled += count;
  }
  return output ?? new Array(rows).fill(null);
}

/** Scratch arrays reused page after page: levels and dictionary indices are read, used, forgotten. */
let scratchLevels = new Uint8Array(1 << 16);
let scratchIndices = new Int32Array(1 << 16);

/**
 * A flat DATA_PAGE (v1) of `count` values: its definition levels (only when some value is null)
 * and either its PLAIN values or its dictionary indices, read into scratch arrays. Undefined for
 * an encoding hyparquet's own page reader handles.
 */
function readFlatPage(
  data: Uint8Array,
  count: number,
  encoding: string,
  type: string,
  typeLength: number | undefined,
  nullable: boolean,
): { levels?: Uint8Array; indices: Int32Array } | { levels?: Uint8Array; values: ArrayLike<unknown> } | undefined {
  const dictionary = encoding === 'PLAIN_DICTIONARY' || encoding === 'RLE_DICTIONARY';
  if (type === 'BOOLEAN' || (!dictionary && encoding !== 'PLAIN')) return undefined;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const reader = { view, offset: 0 };
  let levels: Uint8Array | undefined;
  let present = count;
  if (nullable) {
    if (scratchLevels.length < count) scratchLevels = new Uint8Array(count);
    levels = scratchLevels.subarray(0, count);
    readRleBitPackedHybrid(reader, 1, levels);
    present = 0;
    for (let i = 0; i < count; i++) present += levels[i]!;
    if (present === count) levels = undefined;
  }
  if (!dictionary) return { levels, values: readPlain(reader, type as never, present, typeLength) };
  if (scratchIndices.length < present) scratchIndices = new Int32Array(present);
  const indices = scratchIndices.subarray(0, present);
  const width = view.getUint8(reader.offset++);
  if (width) readRleBitPackedHybrid(reader, width, indices, view.byteLength - reader.offset);
  else indices.fill(0);
  return { levels, indices };
}

/** Fails a dictionary index past the entries of its dictionary. */
function failIndex(column: string, index: number, entries: number): never {
  throw new Error(
    `column ${column}: a value refers to entry ${index + 1} of a dictionary page that holds ${entries}; the file is damaged (DuckDB refuses it too), write it again with the tool that made it`,
  );
}

type NumberArrayConstructor = new (length: number) => unknown[];

function isNumberArray(values: ArrayLike<unknown>): boolean {
  return ArrayBuffer.isView(values) && !(values instanceof DataView);
}

/** Whether the definition levels of a flat column's page say every value is present. */
function allDefined(levels: ArrayLike<number>, count: number): boolean {
  for (let i = 0; i < count; i++) if (levels[i] !== 1) return false;
  return true;
}

/** Bytes of one PLAIN value of a fixed-width physical type. */
const WIDTHS: Partial<Record<string, number>> = { INT32: 4, FLOAT: 4, INT64: 8, DOUBLE: 8, INT96: 12 };

/**
 * Entries a dictionary page holds, at most the `declared` count of its header: PLAIN values are
 * read until the page's bytes end, never past them into the next page.
 */
export function dictionaryEntries(data: Uint8Array, declared: number, type: string, typeLength?: number): number {
  const width = type === 'FIXED_LEN_BYTE_ARRAY' ? typeLength : WIDTHS[type];
  if (width) return Math.min(declared, Math.floor(data.byteLength / width));
  if (type !== 'BYTE_ARRAY') return declared;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let offset = 0;
  let count = 0;
  while (count < declared && offset + 4 <= data.byteLength) {
    const next = offset + 4 + view.getUint32(offset, true);
    if (next > data.byteLength) break;
    offset = next;
    count++;
  }
  return count;
}

/** Fails a dictionary-encoded page that refers past the entries of its dictionary. */
function checkIndices(indices: ArrayLike<number>, entries: number, column: string): void {
  for (let i = 0; i < indices.length; i++) if (indices[i]! >= entries) failIndex(column, indices[i]!, entries);
}

/** Bytes read at a time to find a page header. */
const HEADER_WINDOW = 1 << 16;

/**
 * Where a column chunk really ends: its pages walked header by header until they hold the
 * chunk's values. Some writers leave the dictionary page out of the chunk's sizes (parquet-mr
 * before 1.2.9), so that read by those sizes alone its last page overruns the chunk, as DuckDB
 * tolerates. Undefined when the pages run past the file or hold fewer values.
 */
export async function chunkEnd(file: AsyncBuffer, meta: ColumnMetaData): Promise<number | undefined> {
  let offset = chunkStart(meta);
  let values = 0;
  const total = Number(meta.num_values);
  while (values < total) {
    let header: ReturnType<typeof parquetHeader> | undefined;
    let size = 0;
    for (let window = HEADER_WINDOW; !header; window *= 4) {
      const end = Math.min(file.byteLength, offset + window);
      const reader = { view: new DataView(await file.slice(offset, end)), offset: 0 };
      try {
        header = parquetHeader(reader);
        size = reader.offset;
      } catch {
        if (end >= file.byteLength || window > 1 << 26) return undefined;
      }
    }
    offset += size + header.compressed_page_size;
    if (offset > file.byteLength) return undefined;
    values += header.data_page_header?.num_values ?? header.data_page_header_v2?.num_values ?? 0;
  }
  return offset;
}

/** The first byte of a column chunk: its dictionary page when it has one, else its first data page. */
export function chunkStart(meta: ColumnMetaData): number {
  const dictionary = meta.dictionary_page_offset === undefined ? undefined : Number(meta.dictionary_page_offset);
  const data = Number(meta.data_page_offset);
  return dictionary !== undefined && dictionary > 0 && dictionary < data ? dictionary : data;
}
