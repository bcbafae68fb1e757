/**
 * Whether DuckDB's CSV reader parses a local file exactly as the CSV format (papaparse) does.
 * One pass over the bytes follows the quoting of every record. The file streams instead where
 * the two would part ways on the whole file (a UTF-16 byte order mark, a blank line before the
 * header, line breaks other than the first one's kind, or a carriage return alone), on a field
 * (spaces before an opening quote, which DuckDB drops while the CSV format keeps them and the
 * quotes as text; a quote inside an unquoted field or after a closing one), or on a record: one
 * whose field count is not the header's, which the CSV format names as a bad row while DuckDB
 * reads a trailing delimiter as nothing. A file that passes holds only whole, well-quoted
 * records, so DuckDB may read it in parallel.
 */
import { open } from 'node:fs/promises';

const CHUNK = 4 << 20;
const SPACE = 0x20;
const LF = 0x0a;
const CR = 0x0d;

/** Where the scan is within a record. */
const enum At {
  FieldStart,
  Unquoted,
  /** Spaces at the start of a field: a quote after them is where the two parsers part. */
  Spaces,
  Quoted,
  /** A quote inside a quoted field: doubled, or the field's end. */
  QuoteInQuoted,
  /** A carriage return ended a record: its line feed must follow. */
  AfterCr,
}

/**
 * Whether DuckDB would read `path` as the CSV format does, every non-blank record holding
 * `fields` fields; `delimiter` and `quote` are one ASCII character each.
 */
export async function readsAlike(path: string, delimiter: string, quote: string, fields: number): Promise<boolean> {
  const delimiterByte = delimiter.charCodeAt(0);
  const quoteByte = quote.charCodeAt(0);
  // Bytes that end an unquoted run.
  const special = new Uint8Array(256);
  for (const byte of [delimiterByte, quoteByte, LF, CR]) special[byte] = 1;
  const handle = await open(path);
  try {
    const bytes = Buffer.allocUnsafe(CHUNK);
    let at = At.FieldStart;
    let count = 1;
    let blank = true;
    let crlf = false;
    for (let position = 0; ; ) {
      const { bytesRead } = await handle.read(bytes, 0, CHUNK, position);
      if (position === 0) {
        const head = bytes.subarray(0, bytesRead);
        if (!headAlike(head)) return false;
        const breaks = lineBreaks(head);
        if (breaks === undefined) return false;
        crlf = breaks === 'crlf';
      }
      if (bytesRead === 0) break;
      let i = position === 0 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
      position += bytesRead;
      while (i < bytesRead) {
        switch (at) {
          case At.Quoted: {
            const close = bytes.indexOf(quoteByte, i);
            if (close === -1 || close >= bytesRead) {
              i = bytesRead;
            } else {
              i = close + 1;
              at = At.QuoteInQuoted;
            }
            continue;
          }
          case At.QuoteInQuoted:
            if (bytes[i] === quoteByte) {
              i += 1;
              at = At.Quoted;
              continue;
            }
            break;
          case At.AfterCr:
            if (bytes[i] !== LF) return false;
            i += 1;
            at = At.FieldStart;
            continue;
          case At.Spaces:
            while (i < bytesRead && bytes[i] === SPACE) i += 1;
            if (i === bytesRead) continue;
            if (bytes[i] === quoteByte) return false;
            at = At.Unquoted;
            continue;
          case At.Unquoted:
            while (i < bytesRead && special[bytes[i]] === 0) i += 1;
            if (i === bytesRead) continue;
            break;
          case At.FieldStart:
            if (bytes[i] === quoteByte || bytes[i] === SPACE) {
              at = bytes[i] === quoteByte ? At.Quoted : At.Spaces;
              blank = false;
              i += 1;
              continue;
            }
            break;
        }
        // A byte after a field's content, or the first of an unquoted one.
        const byte = bytes[i];
        i += 1;
        if (byte === delimiterByte) {
          count += 1;
          blank = false;
          at = At.FieldStart;
        } else if (byte === LF || byte === CR) {
          // The CSV format takes the first line break's kind for the whole file; DuckDB takes any.
          if ((byte === CR) !== crlf) return false;
          if (!blank && count !== fields) return false;
          count = 1;
          blank = true;
          at = crlf ? At.AfterCr : At.FieldStart;
        } else if (at === At.QuoteInQuoted || byte === quoteByte) {
          // Text after a closing quote, or a quote inside an unquoted field.
          return false;
        } else {
          blank = false;
          at = At.Unquoted;
        }
      }
    }
    return at !== At.Quoted && at !== At.AfterCr && (blank || count === fields);
  } finally {
    await handle.close();
  }
}

/**
 * The kind of the first line break, as the CSV format guesses it: `lf`, `crlf`, or undefined
 * for a carriage return alone (old Mac files stream) or none in the first chunk.
 */
function lineBreaks(head: Buffer): 'lf' | 'crlf' | undefined {
  const lf = head.indexOf(LF);
  const cr = head.indexOf(CR);
  if (cr !== -1 && (lf === -1 || cr < lf)) return cr + 1 === lf ? 'crlf' : undefined;
  return lf === -1 ? undefined : 'lf';
}

/** No UTF-16 byte order mark, no blank line before the header. */
function headAlike(bytes: Buffer): boolean {
  if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)) return false;
  const i = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  return bytes[i] !== LF && bytes[i] !== CR && bytes.length > i;
}
