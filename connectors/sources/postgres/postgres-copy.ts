/** Rows of `COPY … TO STDOUT` text output, decoded column by column. */
import type { TextDecoder } from './postgres-types.js';

const ESCAPES: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };
const ESCAPE = /\\(.)/g;

function unescape(field: string): string {
  return field.replace(ESCAPE, (_, c: string) => ESCAPES[c] ?? c);
}

/**
 * Parses COPY text format from a byte stream: rows end with a newline, fields are tab
 * separated, `\N` is NULL, and the server escapes backslash, tab, newline and carriage return
 * inside values, so a raw newline byte always ends a row. Yields the rows of each chunk.
 */
export async function* copyTextRows(chunks: AsyncIterable<Buffer>, decoders: readonly TextDecoder[]): AsyncIterable<unknown[][]> {
  const width = decoders.length;
  let carry: Buffer | undefined;
  for await (const chunk of chunks) {
    const buffer = carry ? Buffer.concat([carry, chunk]) : chunk;
    const end = buffer.lastIndexOf(10);
    if (end < 0) {
      carry = buffer;
      continue;
    }
    carry = end + 1 < buffer.length ? Buffer.from(buffer.subarray(end + 1)) : undefined;
    const lines = buffer.toString('utf8', 0, end).split('\n');
    const rows: unknown[][] = new Array(lines.length);
    for (let i = 0; i < lines.length; i++) {
      const fields: unknown[] = lines[i].split('\t');
      if (fields.length !== width) throw new Error(`COPY row has ${fields.length} fields, expected ${width}`);
      for (let j = 0; j < width; j++) {
        const field = fields[j] as string;
        fields[j] = field === '\\N' ? null : decoders[j](field.includes('\\') ? unescape(field) : field);
      }
      rows[i] = fields;
    }
    yield rows;
  }
  if (carry && carry.length > 0) throw new Error('COPY output ended inside a row');
}
