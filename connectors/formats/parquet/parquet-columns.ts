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
  const start = Number(meta.dictionary_page_offset ?? meta.data_page_offset);
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
      const values = readPlain({ view: new DataView(data.buffer, data.byteOffset, data.byteLength), offset: 0 }, meta.type, header.dictionary_page_header!.num_values, element.type_length);
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
