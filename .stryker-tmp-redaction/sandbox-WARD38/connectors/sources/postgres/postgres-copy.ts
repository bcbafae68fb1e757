/** Rows of `COPY … TO STDOUT (FORMAT binary)` output, decoded column by column. */
// @ts-nocheck

import type { BinaryDecoder } from './postgres-types.js';

const SIGNATURE = Buffer.from('PGCOPY\n\xff\r\n\0', 'latin1');
const HEADER = 19;

/**
 * Parses binary COPY output from a byte stream: a header, then per row an int16 field count
 * and per field an int32 length (-1 for NULL) and the bytes; an int16 -1 ends the data. Rows
 * may straddle chunks: the incomplete tail waits for the next chunk. Yields the rows of each chunk.
 */
export async function* copyBinaryRows(chunks: AsyncIterable<Buffer>, decoders: readonly BinaryDecoder[]): AsyncIterable<unknown[][]> {
  const width = decoders.length;
  let carry: Buffer | undefined;
  let started = false;
  let ended = false;
  for await (const chunk of chunks) {
    const buffer = carry ? Buffer.concat([carry, chunk]) : chunk;
    let position = 0;
    if (!started) {
      if (buffer.length < HEADER) {
        carry = buffer;
        continue;
      }
      if (!buffer.subarray(0, SIGNATURE.length).equals(SIGNATURE)) throw new Error('COPY output is not in binary format');
      const extension = buffer.readUInt32BE(15);
      if (buffer.length < HEADER + extension) {
        carry = buffer;
        continue;
      }
      position = HEADER + extension;
      started = true;
    }
    const rows: unknown[][] = [];
    const length = buffer.length;
    rows: while (position + 2 <= length) {
      const fields = buffer.readInt16BE(position);
      if (fields === -1) {
        position += 2;
        ended = true;
        break;
      }
      if (fields !== width) throw new Error(`COPY row has ${fields} fields, expected ${width}`);
      let at = position + 2;
      const row: unknown[] = new Array(width);
      for (let j = 0; j < width; j++) {
        if (at + 4 > length) break rows;
        const size = buffer.readInt32BE(at);
        at += 4;
        if (size < 0) {
          row[j] = null;
          continue;
        }
        if (at + size > length) break rows;
        row[j] = decoders[j](buffer, at, at + size);
        at += size;
      }
      rows.push(row);
      position = at;
    }
    carry = position < length ? Buffer.from(buffer.subarray(position)) : undefined;
    if (rows.length > 0) yield rows;
  }
  if (!ended || (carry && carry.length > 0)) throw new Error('COPY output ended inside a row');
}
