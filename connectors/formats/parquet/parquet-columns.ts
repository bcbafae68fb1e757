/**
 * One flat (not nested) column chunk decoded page by page into a single array of its values,
 * nulls where the definition levels say so. hyparquet's own reader assembles every column through
 * its nested-list machinery, value by value; a flat column needs none of it, and a chunk whose
 * page holds every value without a null comes back as the decoded array itself (an Int32Array,
 * a Float32Array…), untouched.
 */
import type { AsyncBuffer, ColumnMetaData, Compressors, ParquetParsers, SchemaElement } from 'hyparquet';
import { parquetHeader } from 'hyparquet/src/column.js';
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
  const reader = { view: new DataView(buffer), offset: 0 };
  let dictionary: ArrayLike<unknown> | undefined;
  let output: unknown[] | undefined;
  let filled = 0;
  while (filled < rows && reader.offset < buffer.byteLength) {
    const header = parquetHeader(reader);
    const bytes = new Uint8Array(buffer, reader.offset, header.compressed_page_size);
    reader.offset += header.compressed_page_size;
    let page: { definitionLevels?: number[]; dataPage: ArrayLike<unknown> };
    let encoding: string;
    let count: number;
    if (header.type === 'DICTIONARY_PAGE') {
      const data = decompressPage(bytes, Number(header.uncompressed_page_size), meta.codec, context.compressors);
      // A page declaring more entries than it holds (a writer bug) is read for those it holds;
      // a data page referring past them fails below, as DuckDB fails it.
      const count = dictionaryEntries(data, header.dictionary_page_header!.num_values, meta.type, element.type_length);
      const values = readPlain({ view: new DataView(data.buffer, data.byteOffset, data.byteLength), offset: 0 }, meta.type, count, element.type_length);
      dictionary = convert(values, decoder);
      continue;
    } else if (header.type === 'DATA_PAGE') {
      const daph = header.data_page_header!;
      page = readDataPage(decompressPage(bytes, Number(header.uncompressed_page_size), meta.codec, context.compressors), daph, decoder);
      encoding = daph.encoding;
      count = daph.num_values;
    } else if (header.type === 'DATA_PAGE_V2') {
      const daph = header.data_page_header_v2!;
      page = readDataPageV2(bytes, header, decoder);
      encoding = daph.encoding;
      count = daph.num_values;
    } else {
      continue;
    }
    if (dictionary && encoding.endsWith('_DICTIONARY')) checkIndices(page.dataPage as ArrayLike<number>, dictionary.length, meta.path_in_schema.join('.'));
    const values = convertWithDictionary(page.dataPage as never, dictionary as never, encoding as never, decoder) as ArrayLike<unknown>;
    const levels = page.definitionLevels ?? [];
    // A single page of every row, none null: its values are the column.
    if (!output && filled === 0 && count === rows && !(nullable && levels.length)) return values;
    output ??= new Array(rows);
    if (nullable && levels.length) {
      let next = 0;
      for (let i = 0; i < count; i++) output[filled + i] = levels[i] === 1 ? values[next++] : null;
    } else {
      for (let i = 0; i < count; i++) output[filled + i] = values[i];
    }
    filled += count;
  }
  return output ?? new Array(rows).fill(null);
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
  for (let i = 0; i < indices.length; i++) {
    if (indices[i]! >= entries) {
      throw new Error(
        `column ${column}: a value refers to entry ${indices[i]! + 1} of a dictionary page that holds ${entries}; the file is damaged (DuckDB refuses it too), write it again with the tool that made it`,
      );
    }
  }
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
