/**
 * CSV (and TSV): streamed through papaparse's row callback over small windows of decoded text,
 * so a multi-GB file parses in flat memory and the source is not read while a batch is consumed.
 * Values stay exactly as written (strings, untrimmed); typing is the core's job.
 */
import Papa from 'papaparse';
import type { FileFormat, FileHandle, FileRowBatch, FormatOptions, ParseReject } from '../../../src/core/connector.js';
import { ConfigError } from '../../../src/core/errors.js';
import { compressionOf, openDecompressed } from '../decompress.js';
import { MAX_TEXT, valueTooLarge } from '../text-limit.js';
import { createTextDecoder, type TextChunkDecoder } from '../text-decoder.js';

const DEFAULT_BATCH_SIZE = 2_000;
/**
 * Bytes decoded and parsed per papaparse call. Windows this large become V8 large objects, which
 * the young-generation collector never copies although the fields sliced from them stay alive
 * until their batch is consumed: measured twice as fast as 32 KiB windows.
 */
const WINDOW = 256 * 1024;
/** Delimiters a file may be guessed to use, the first preferred when two split it equally well. */
const GUESSED_DELIMITERS = [',', '\t', ';', '|'];

interface CsvSettings {
  /** Undefined: guessed from the file's first records. */
  readonly delimiter: string | undefined;
  readonly quote: string;
  readonly escape: string;
  readonly header: boolean;
  readonly encoding: string;
  readonly batchSize: number;
}

/**
 * The delimiter of a file whose job names none, from the text of its first bytes (at least the
 * first {@link DELIMITER_SAMPLE_BYTES}, or the whole file): the one its Excel separator line
 * names, else of `,` tab `;` `|` the one that splits its first records into the most even number
 * of fields (papaparse's guess), else `,`.
 */
export function guessDelimiter(text: string, quote = '"'): string {
  const named = separatorLine(text, quote);
  if (named) return named.delimiter;
  const delimitersToGuess = GUESSED_DELIMITERS.filter((delimiter) => delimiter !== quote);
  const { meta } = Papa.parse(text, { delimiter: '', delimitersToGuess, quoteChar: quote, preview: 10, skipEmptyLines: true });
  return meta.delimiter || ',';
}

/** How many of a file's first bytes its delimiter is guessed from. */
export const DELIMITER_SAMPLE_BYTES = WINDOW;

/**
 * Excel's first line naming the file's delimiter (`sep=;`, also quoted: `"sep=;"`), a line before
 * the header that is no record. Returns the delimiter and the line's length with its line break,
 * or undefined when the text does not start with one.
 */
export function separatorLine(text: string, quote = '"'): { delimiter: string; length: number } | undefined {
  const start = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  const quoted = text[start] === quote ? 1 : 0;
  if (text.slice(start + quoted, start + quoted + 4).toLowerCase() !== 'sep=') return undefined;
  const at = start + quoted + 4;
  const delimiter = text[at];
  if (delimiter === undefined || delimiter === '\r' || delimiter === '\n' || (quoted && text[at + 1] !== quote)) return undefined;
  const end = at + 1 + quoted;
  const lineBreak = /^(?:\r\n|\n|\r|$)/.exec(text.slice(end, end + 2));
  if (!lineBreak) return undefined;
  return { delimiter, length: end + lineBreak[0].length };
}

/** How a file is read, from its first bytes (`head`): the job's delimiter, else the one guessed; and whether an Excel separator line comes first. */
export async function csvHead(options: FormatOptions, head: () => Promise<Uint8Array>): Promise<{ delimiter: string; separatorLine: boolean }> {
  const text = Buffer.from(await head()).toString('utf8');
  return { delimiter: options.delimiter ?? guessDelimiter(text, options.quote), separatorLine: separatorLine(text, options.quote) !== undefined };
}

/** The CSV format: `source.csv` options delimiter, quote, escape, header, encoding. */
export const csvFormat: FileFormat = {
  name: 'csv',
  extensions: ['csv', 'tsv', 'txt'],
  async read(file, options) {
    const settings = settingsFor(file.name, options);
    // Fails fast on an unknown encoding, before any byte is read.
    createTextDecoder(settings.encoding, file.name);
    return { batches: csvBatches(file, settings) };
  },
};

function settingsFor(name: string, options: FormatOptions): CsvSettings {
  const bare = compressionOf(name) ? name.replace(/\.[^.]+$/, '') : name;
  const delimiter = options.delimiter ?? (bare.toLowerCase().endsWith('.tsv') ? '\t' : undefined);
  const quote = options.quote ?? '"';
  const escape = options.escape ?? quote;
  const fix = 'set source.csv.delimiter and source.csv.quote to different characters, neither a line break';
  if (delimiter !== undefined && (!delimiter || /[\r\n]/.test(delimiter) || delimiter.includes(quote) || delimiter === '\ufeff')) {
    throw ConfigError.of(`${name}: ${JSON.stringify(delimiter)} cannot be the CSV delimiter with quote ${JSON.stringify(quote)}`, fix);
  }
  if (quote.length !== 1 || /[\r\n]/.test(quote)) throw ConfigError.of(`${name}: ${JSON.stringify(quote)} cannot be the CSV quote`, fix);
  if (escape.length !== 1) throw ConfigError.of(`${name}: the CSV escape must be one character`, 'set source.csv.escape to one character, e.g. "\\\\"');
  const batchSize = options.batchSize && options.batchSize > 0 ? Math.floor(options.batchSize) : DEFAULT_BATCH_SIZE;
  return { delimiter, quote, escape, header: options.header ?? true, encoding: options.encoding ?? 'utf-8', batchSize };
}

async function* csvBatches(file: FileHandle, settings: CsvSettings): AsyncGenerator<FileRowBatch> {
  const decoder = createTextDecoder(settings.encoding, file.name);
  const reader = new CsvRecordReader(settings, decoder, file.name);
  const input = await openDecompressed(file);
  try {
    // Stores stream chunks of any size: gather them into whole windows, and hand out each batch
    // as soon as it is complete. Pulling one chunk at a time is the backpressure: while a batch
    // is out, nothing is read.
    let held: Buffer[] = [];
    let heldBytes = 0;
    for await (const chunk of input) {
      held.push(chunk as Buffer);
      heldBytes += (chunk as Buffer).length;
      if (heldBytes < WINDOW) continue;
      const bytes = held.length === 1 ? held[0]! : Buffer.concat(held, heldBytes);
      held = [];
      heldBytes = 0;
      for (let offset = 0; offset < bytes.length; offset += WINDOW) {
        reader.pushBytes(bytes.subarray(offset, offset + WINDOW));
        while (reader.ready.length) yield reader.ready.shift()!;
      }
    }
    if (heldBytes) reader.pushBytes(Buffer.concat(held, heldBytes));
    reader.push(decoder.end());
    reader.end();
    while (reader.ready.length) yield reader.ready.shift()!;
  } finally {
    input.destroy();
  }
}

type StepResult = { data: string[][]; errors: { code: string; message: string }[]; meta: { cursor: number } };

/** Turns text, fed in arbitrary pieces, into batches of records with their file line numbers. */
class CsvRecordReader {
  /** Batches completed and not yet handed out. */
  readonly ready: FileRowBatch[] = [];
  private fields: readonly string[] | undefined;
  private width = 0;
  private rows: unknown[][] = [];
  private positions: number[] = [];
  private rejects: ParseReject[] = [];
  private emitted = false;
  /** File line on which the next record starts (the header is line 1). */
  private line = 1;
  /** Text after the last complete record, parsed again with the next piece. */
  private partial = '';
  /** Decoded text not yet parsed. */
  private pending = '';
  private newline: '\n' | '\r\n' | '\r' | undefined;
  private delimiter: string | undefined;

  constructor(
    private readonly settings: CsvSettings,
    private readonly decoder: TextChunkDecoder,
    private readonly name: string,
  ) {
    this.delimiter = settings.delimiter;
  }

  /** Decodes and parses a window of bytes, the unparsed tail of the last window in front. */
  pushBytes(bytes: Buffer): void {
    if (this.partial.length + this.pending.length + bytes.length > MAX_TEXT) this.tooLong();
    if (this.partial.length > WINDOW) {
      this.push(this.decoder.write(bytes));
      return;
    }
    const text = this.decoder.write(bytes, this.partial);
    this.partial = '';
    this.parse(text, false);
  }

  push(text: string): void {
    if (!text) return;
    if (this.partial.length > WINDOW) {
      // A record longer than a window: gather at least as much again before parsing, so the
      // work stays linear in the record's length.
      if (this.partial.length + this.pending.length + text.length > MAX_TEXT) this.tooLong();
      this.pending += text;
      if (this.pending.length < this.partial.length) return;
      text = this.pending;
      this.pending = '';
    }
    this.parse(this.partial + text, false);
  }

  end(): void {
    const text = this.partial + this.pending;
    this.partial = this.pending = '';
    this.parse(text, true);
    this.flush(true);
  }

  private parse(text: string, last: boolean): void {
    if (!this.newline) {
      this.newline = guessNewline(text, last);
      if (!this.newline) {
        this.partial = text;
        return;
      }
    }
    const { quote, escape } = this.settings;
    if (this.line === 1 && !this.fields) {
      // Excel's separator line names the delimiter (the job's wins) and is no record.
      const named = separatorLine(text, quote);
      if (named) {
        this.delimiter ??= named.delimiter;
        text = text.slice(named.length);
        this.line = 2;
      }
    }
    const delimiter = (this.delimiter ??= guessDelimiter(text, quote));
    const lineBreak = this.newline === '\r' ? '\r' : '\n';
    // Without a quote in the text no record can hold a line break: one record per line.
    const quoted = text.includes(quote);
    let start = 0;
    let nextBreak = quoted ? text.indexOf(lineBreak) : -1;
    const step = (result: StepResult): void => {
      const end = result.meta.cursor;
      let lines = quoted ? 0 : 1;
      while (nextBreak !== -1 && nextBreak < end) {
        lines++;
        nextBreak = text.indexOf(lineBreak, nextBreak + 1);
      }
      this.record(result.data[0]!, result.errors, text, start, end, last);
      this.line += lines;
      start = end;
    };
    const parser = new Papa.Parser({
      delimiter,
      quoteChar: quote,
      escapeChar: escape,
      newline: this.newline,
      step: step as unknown as Papa.ParseConfig['step'],
    });
    const result = parser.parse(text, 0, !last) as StepResult;
    this.partial = last ? '' : text.slice(result.meta.cursor);
  }

  /** The record being read would be longer than any text can be: name its open field. */
  private tooLong(): never {
    const index = openField(this.partial + this.pending, { ...this.settings, delimiter: this.delimiter ?? ',' });
    const column = this.fields?.[index] ?? (this.fields ? `field ${index + 1}` : undefined);
    throw valueTooLarge(`${this.name}:${this.line}`, column);
  }

  private record(row: string[], errors: StepResult['errors'], text: string, start: number, end: number, last: boolean): void {
    // What follows the final line break is not a record.
    if (last && start >= text.length) return;
    if (!this.fields) {
      if (this.isBlank(row, text, start)) return;
      this.width = row.length;
      if (this.settings.header) {
        this.fields = row;
        return;
      }
      this.fields = row.map((_, i) => `col_${i + 1}`);
    } else if (this.width > 1 && this.isBlank(row, text, start)) {
      return;
    }
    const reason = errors.length
      ? quotingProblem(errors[0]!.code)
      : row.length !== this.width
        ? `expected ${this.width} fields, found ${row.length}`
        : this.decoder.invalid && row.some((value) => value.includes('\ufffd'))
          ? `bytes are not valid UTF-8; if the file uses another encoding, set source.csv.encoding (latin1, windows-1252, utf-16)`
          : undefined;
    if (reason) {
      this.rejects.push({ position: this.line, reason, raw: this.raw(text, start, end) });
    } else {
      this.rows.push(row);
      this.positions.push(this.line);
    }
    if (this.rows.length + this.rejects.length >= this.settings.batchSize) this.flush(false);
  }

  private isBlank(row: string[], text: string, start: number): boolean {
    return row.length === 1 && row[0] === '' && text[start] !== this.settings.quote;
  }

  private raw(text: string, start: number, end: number): string {
    const newline = this.newline!;
    const stop = end - start >= newline.length && text.startsWith(newline, end - newline.length) ? end - newline.length : end;
    return text.slice(start, stop);
  }

  private flush(final: boolean): void {
    if (!this.fields) return;
    if (!this.rows.length && !this.rejects.length && (!final || this.emitted)) return;
    const batch: FileRowBatch = this.rejects.length
      ? { fields: this.fields, rows: this.rows, positions: this.positions, rejects: this.rejects }
      : { fields: this.fields, rows: this.rows, positions: this.positions };
    this.ready.push(batch);
    this.emitted = true;
    this.rows = [];
    this.positions = [];
    this.rejects = [];
  }
}

/** The index of the field still open at the end of a record's text. */
function openField(text: string, { delimiter, quote, escape }: CsvSettings & { delimiter: string }): number {
  let field = 0;
  let quoted = false;
  let atStart = true;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === escape && escape !== quote && text[i + 1] === quote) i++;
      else if (c === quote) {
        if (text[i + 1] === quote) i++;
        else quoted = false;
      }
    } else if (atStart && c === quote) {
      quoted = true;
      atStart = false;
    } else if (text.startsWith(delimiter, i)) {
      field++;
      atStart = true;
      i += delimiter.length - 1;
    } else atStart = false;
  }
  return field;
}

/** The line break of the file, from its first one; undefined while none has been seen yet. */
function guessNewline(text: string, last: boolean): '\n' | '\r\n' | '\r' | undefined {
  const lf = text.indexOf('\n');
  const cr = text.indexOf('\r');
  if (cr !== -1 && (lf === -1 || cr < lf)) {
    if (cr + 1 === lf) return '\r\n';
    // A CR at the very end may be the first half of a CRLF still to come.
    if (cr === text.length - 1 && !last) return undefined;
    return '\r';
  }
  if (lf !== -1) return '\n';
  return last ? '\n' : undefined;
}

function quotingProblem(code: string): string {
  return code === 'MissingQuotes'
    ? 'a quoted field is never closed'
    : 'malformed quoting: a quoted field has text after its closing quote (double a quote inside a quoted field, or set source.csv.quote)';
}
