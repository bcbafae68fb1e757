/**
 * Whether DuckDB's CSV reader parses a local file exactly as the CSV format (papaparse) does,
 * as far as bytes alone can tell. Where they differ on a whole file (a UTF-16 byte order mark,
 * a blank line before the header) or on a field (spaces before an opening quote, which DuckDB
 * drops while the CSV format keeps them and the quotes as text), the file streams instead.
 */
import { open } from 'node:fs/promises';

const CHUNK = 4 << 20;
/** Chunks overlap so that a pattern across a chunk edge is found whole in the next one. */
const OVERLAP = 256;
const SPACE = 0x20;

/** Whether DuckDB would read `path` as the CSV format does; `delimiter` and `quote` are one ASCII character each. */
export async function readsAlike(path: string, delimiter: string, quote: string): Promise<boolean> {
  const handle = await open(path);
  try {
    const buffer = Buffer.allocUnsafe(CHUNK);
    const quoteByte = quote.charCodeAt(0);
    // A field starts after a delimiter or a line break, or at the top of the file.
    const starts = [Buffer.from(`${delimiter} `), Buffer.from('\n '), Buffer.from('\r ')];
    for (let position = 0; ; position += CHUNK - OVERLAP) {
      const { bytesRead } = await handle.read(buffer, 0, CHUNK, position);
      const bytes = buffer.subarray(0, bytesRead);
      const last = bytesRead < CHUNK;
      if (position === 0 && !headAlike(bytes, quoteByte)) return false;
      // Patterns starting in the overlap are judged with the next chunk.
      const limit = last ? bytesRead : bytesRead - OVERLAP;
      for (const start of starts) {
        for (let i = bytes.indexOf(start); i !== -1 && i < limit; i = bytes.indexOf(start, i + 1)) {
          let j = i + start.length;
          while (j < bytesRead && bytes[j] === SPACE) j++;
          if (j === bytesRead ? !last : bytes[j] === quoteByte) return false;
        }
      }
      if (last) return true;
    }
  } finally {
    await handle.close();
  }
}

/** No UTF-16 byte order mark, no blank line before the header, no spaces before a quote on line 1. */
function headAlike(bytes: Buffer, quoteByte: number): boolean {
  if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)) return false;
  const i = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  if (bytes[i] === 0x0a || bytes[i] === 0x0d) return false;
  let j = i;
  while (bytes[j] === SPACE) j++;
  return j === i || bytes[j] !== quoteByte;
}
