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
// @ts-nocheck

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

/** What the scan learnt of a file DuckDB reads as the CSV format does. */
export interface CsvScan {
  /** Non-blank records, the header included: the rows of the file and its header. */
  readonly records: number;
  /** Bytes of the longest record, its line break excluded: DuckDB's buffers must hold it. */
  readonly longestRecord: number;
}

/**
 * Whether DuckDB would read `path` as the CSV format does, every non-blank record holding
 * `fields` fields; `delimiter` and `quote` are one ASCII character each. Returns what the scan
 * counted, or where the two parsers would part ways.
 */
export async function scanCsv(path: string, delimiter: string, quote: string, fields: number): Promise<CsvScan | { reason: string }> {
  const parts = (reason: string) => ({ reason });
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
    let records = 0;
    let longest = 0;
    /** Where the current record starts, in bytes from the start of the file. */
    let recordStart = 0;
    let position = 0;
    for (;;) {
      const { bytesRead } = await handle.read(bytes, 0, CHUNK, position);
      if (position === 0) {
        const head = bytes.subarray(0, bytesRead);
        const unlike = headUnlike(head);
        if (unlike) return parts(unlike);
        const breaks = lineBreaks(head);
        if (breaks === undefined) return parts('line breaks are carriage returns alone, or none in the first 4 MiB');
        crlf = breaks === 'crlf';
      }
      if (bytesRead === 0) break;
      let i = position === 0 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
      if (position === 0) recordStart = i;
      const base = position;
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
            if (bytes[i] !== LF) return parts(`record ${records + 1} ends in a carriage return alone in a file of CRLF line breaks`);
            i += 1;
            recordStart = base + i;
            at = At.FieldStart;
            continue;
          case At.Spaces:
            while (i < bytesRead && bytes[i] === SPACE) i += 1;
            if (i === bytesRead) continue;
            if (bytes[i] === quoteByte) return parts(`record ${records + 1} has spaces before an opening quote, which DuckDB drops`);
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
          if ((byte === CR) !== crlf) return parts(`record ${records + 1} ends in a line break unlike the first one's`);
          if (!blank) {
            if (count !== fields) return parts(`record ${records + 1} has ${count} field(s), not ${fields}`);
            records += 1;
            longest = Math.max(longest, base + i - 1 - recordStart);
          }
          count = 1;
          blank = true;
          recordStart = base + i;
          at = crlf ? At.AfterCr : At.FieldStart;
        } else if (at === At.QuoteInQuoted || byte === quoteByte) {
          return parts(`record ${records + 1} has text after a closing quote, or a quote inside an unquoted field`);
        } else {
          blank = false;
          at = At.Unquoted;
        }
      }
    }
    if (at === At.Quoted) return parts(`record ${records + 1} has a quoted field never closed`);
    if (at === At.AfterCr) return parts('the file ends in a carriage return alone');
    if (!blank && count !== fields) return parts(`record ${records + 1} has ${count} field(s), not ${fields}`);
    if (!blank) {
      records += 1;
      longest = Math.max(longest, position - recordStart);
    }
    return { records, longestRecord: longest };
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

/** A UTF-16 byte order mark, a blank line before the header or no bytes at all; undefined when none. */
function headUnlike(bytes: Buffer): string | undefined {
  if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)) return 'a UTF-16 byte order mark';
  const i = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  if (bytes.length <= i) return 'no records';
  return bytes[i] === LF || bytes[i] === CR ? 'a blank line before the header' : undefined;
}
