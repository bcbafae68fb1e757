/**
 * Parquet files built byte by byte, for the quirks of writers DuckDB does not reproduce: INT96
 * timestamps (Spark, Impala, Hive), a dictionary page declaring more values than it holds,
 * encryption metadata under a plaintext footer, and version 2 data pages (DATA_PAGE_V2, as
 * parquet-mr writes them with `parquet.writer.version=v2`, Arrow with `data_page_version='2.0'`).
 * One row group, uncompressed PLAIN pages.
 */

/** Thrift compact protocol field types. */
const TRUE = 1;
const FALSE = 2;
const I32 = 5;
const I64 = 6;
const BINARY = 8;
const LIST = 9;
const STRUCT = 12;

type Field = readonly [id: number, type: number, value: unknown];

/** Writes a struct of the thrift compact protocol. */
class Thrift {
  readonly bytes: number[] = [];

  varint(value: bigint): void {
    let v = value;
    while (v >= 0x80n) {
      this.bytes.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.bytes.push(Number(v));
  }

  zigzag(value: number | bigint): void {
    const v = BigInt(value);
    this.varint(v >= 0n ? v << 1n : ((-v) << 1n) - 1n);
  }

  value(type: number, value: unknown): void {
    // A boolean field's value is its type in the field header.
    if (type === TRUE || type === FALSE) return;
    if (type === I32 || type === I64) this.zigzag(value as number);
    else if (type === BINARY) {
      const data = typeof value === 'string' ? Buffer.from(value) : (value as Buffer);
      this.varint(BigInt(data.length));
      this.bytes.push(...data);
    } else if (type === STRUCT) this.struct(value as Field[]);
    else if (type === LIST) {
      const [elementType, items] = value as [number, unknown[]];
      if (items.length < 15) this.bytes.push((items.length << 4) | elementType);
      else {
        this.bytes.push(0xf0 | elementType);
        this.varint(BigInt(items.length));
      }
      for (const item of items) this.value(elementType, item);
    }
  }

  struct(fields: readonly Field[]): void {
    let last = 0;
    for (const [id, type, value] of fields) {
      if (value === undefined) continue;
      const delta = id - last;
      if (delta > 0 && delta <= 15) this.bytes.push((delta << 4) | type);
      else {
        this.bytes.push(type);
        this.zigzag(id);
      }
      this.value(type, value);
      last = id;
    }
    this.bytes.push(0);
  }
}

function thrift(fields: readonly Field[]): Buffer {
  const writer = new Thrift();
  writer.struct(fields);
  return Buffer.from(writer.bytes);
}

/** Physical types of the Parquet format. */
const TYPES = { BOOLEAN: 0, INT32: 1, INT64: 2, INT96: 3, FLOAT: 4, DOUBLE: 5, BYTE_ARRAY: 6 } as const;

export interface HandColumn {
  readonly name: string;
  readonly type: keyof typeof TYPES;
  /** Converted type number (UTF8 = 0, DATE = 6…), if any. */
  readonly converted?: number;
  /** PLAIN-encoded values, one Buffer each; null for a missing value of an optional column. */
  readonly values: readonly (Buffer | null)[];
  /** OPTIONAL (definition levels say which values are there), else REQUIRED. */
  readonly optional?: boolean;
  /**
   * Writes the values as a dictionary page and RLE_DICTIONARY indices into it; `declared` is
   * the count the dictionary page header claims (a writer bug when larger than the values).
   */
  readonly dictionary?: {
    readonly declared: number;
    /**
     * The column chunk's sizes leave the dictionary page out, as parquet-mr before 1.2.9 wrote
     * them (PARQUET-816): read by those sizes alone, the chunk's last page overruns its end.
     */
    readonly sizeWithoutDictionary?: boolean;
  };
}

export interface HandFile {
  readonly columns: readonly HandColumn[];
  /** Writes DATA_PAGE_V2 pages: levels uncompressed before the values, their length in the header. */
  readonly dataPageV2?: boolean;
  /** Marks the file as encrypted under a plaintext footer (FileMetaData.encryption_algorithm). */
  readonly encryptedColumns?: boolean;
}

/** A PLAIN INT96 timestamp: nanoseconds of the day, then the Julian day number. */
export function int96(julianDay: number, nanosOfDay: bigint): Buffer {
  const bytes = Buffer.alloc(12);
  bytes.writeBigUInt64LE(nanosOfDay, 0);
  bytes.writeInt32LE(julianDay, 8);
  return bytes;
}

/** A PLAIN BYTE_ARRAY value. */
export function byteArray(text: string): Buffer {
  const data = Buffer.from(text);
  const length = Buffer.alloc(4);
  length.writeUInt32LE(data.length);
  return Buffer.concat([length, data]);
}

function pageHeader(type: number, size: number, header: Field): Buffer {
  return thrift([[1, I32, type], [2, I32, size], [3, I32, size], header]);
}

/** Definition levels (0 missing, 1 there) as one bit-packed run of the RLE/bit-packing hybrid, without a length. */
function definitionLevels(values: readonly (Buffer | null)[]): Buffer {
  const groups = Math.ceil(values.length / 8);
  const packed = Buffer.alloc(groups);
  values.forEach((value, i) => {
    if (value) packed[i >> 3] |= 1 << (i & 7);
  });
  return Buffer.concat([Buffer.from([(groups << 1) | 1]), packed]);
}

/** The bytes of a Parquet file of `file`'s columns, all REQUIRED, in one row group. */
export function handBuiltParquet(file: HandFile): Buffer {
  const rows = file.columns[0]!.values.length;
  const parts: Buffer[] = [Buffer.from('PAR1')];
  let offset = 4;
  const chunks: Field[][] = [];
  for (const column of file.columns) {
    const start = offset;
    let dictionaryOffset: number | undefined;
    let data: Buffer;
    let encoding = 0; // PLAIN
    const present = column.values.filter((value): value is Buffer => value !== null);
    if (column.dictionary) {
      const dictionary = Buffer.concat(present);
      const header = pageHeader(2, dictionary.length, [7, STRUCT, [[1, I32, column.dictionary.declared], [2, I32, 0]]]);
      parts.push(header, dictionary);
      dictionaryOffset = offset;
      offset += header.length + dictionary.length;
      // RLE_DICTIONARY: a bit width, then one bit-packed run of indices 0..n-1 (8 per group), one per value there.
      const width = Math.max(1, Math.ceil(Math.log2(present.length)));
      const groups = Math.ceil(present.length / 8);
      const packed = Buffer.alloc(groups * width);
      for (let i = 0; i < present.length; i++) {
        for (let bit = 0; bit < width; bit++) if ((i >> bit) & 1) packed[Math.floor((i * width + bit) / 8)] |= 1 << ((i * width + bit) % 8);
      }
      data = Buffer.concat([Buffer.from([width, (groups << 1) | 1]), packed]);
      encoding = 8;
    } else {
      data = Buffer.concat(present);
    }
    const levels = column.optional ? definitionLevels(column.values) : Buffer.alloc(0);
    let header: Buffer;
    if (file.dataPageV2) {
      // num_values, num_nulls, num_rows, encoding, definition and repetition levels' byte lengths, is_compressed.
      const v2: Field[] = [[1, I32, rows], [2, I32, rows - present.length], [3, I32, rows], [4, I32, encoding], [5, I32, levels.length], [6, I32, 0], [7, FALSE, false]];
      header = pageHeader(3, levels.length + data.length, [8, STRUCT, v2]);
      data = Buffer.concat([levels, data]);
    } else {
      // A version 1 page prefixes its levels with their length; RLE levels (3) when there are none.
      const prefixed = column.optional ? Buffer.concat([Buffer.from(new Uint32Array([levels.length]).buffer), levels]) : levels;
      header = pageHeader(0, prefixed.length + data.length, [5, STRUCT, [[1, I32, rows], [2, I32, encoding], [3, I32, 3], [4, I32, 3]]]);
      data = Buffer.concat([prefixed, data]);
    }
    const dataOffset = offset;
    parts.push(header, data);
    offset += header.length + data.length;
    const size = offset - (column.dictionary?.sizeWithoutDictionary ? dataOffset : start);
    chunks.push([
      [2, I64, start],
      [
        3,
        STRUCT,
        [
          [1, I32, TYPES[column.type]],
          [2, LIST, [I32, column.dictionary ? [0, 8] : [0]]],
          [3, LIST, [BINARY, [column.name]]],
          [4, I32, 0],
          [5, I64, rows],
          [6, I64, size],
          [7, I64, size],
          [9, I64, dataOffset],
          [11, I64, dictionaryOffset],
        ],
      ],
      // ColumnChunk.crypto_metadata: the column is encrypted with the footer key.
      [8, STRUCT, file.encryptedColumns ? [[1, STRUCT, []]] : undefined],
    ]);
  }
  const schema: Field[][] = [
    [
      [4, BINARY, 'schema'],
      [5, I32, file.columns.length],
    ],
    ...file.columns.map((column): Field[] => [
      [1, I32, TYPES[column.type]],
      [3, I32, column.optional ? 1 : 0],
      [4, BINARY, column.name],
      [6, I32, column.converted],
    ]),
  ];
  const footer = thrift([
    [1, I32, 1],
    [2, LIST, [STRUCT, schema]],
    [3, I64, rows],
    [4, LIST, [STRUCT, [[[1, LIST, [STRUCT, chunks]], [2, I64, offset - 4], [3, I64, rows]]]]],
    [6, BINARY, 'b2betl hand-built test file'],
    // FileMetaData.encryption_algorithm: AES_GCM_V1 under a plaintext footer.
    [8, STRUCT, file.encryptedColumns ? [[1, STRUCT, []]] : undefined],
  ]);
  const length = Buffer.alloc(4);
  length.writeUInt32LE(footer.length);
  return Buffer.concat([...parts, footer, length, Buffer.from('PAR1')]);
}
