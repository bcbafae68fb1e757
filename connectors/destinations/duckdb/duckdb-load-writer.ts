/**
 * The load files of a run as its rows arrive: CSV parts (see {@link Part}) filled through two
 * buffers, one written to the file in the thread pool while the other fills, so memory stays
 * flat whatever the run's size. Each row carries its slot (the unit it was written under) and,
 * for a merge, its number in the run.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';
import type { Value } from '../../../src/core/connector.js';
import { fileError } from '../../../src/core/errors.js';
import type { Column } from '../../../src/core/types.js';
import { encodeColumn, encoderFor, float32Text, floatEncoder, isSmallIntegerArray, NULL, writeAscii, writeFully, writeInteger, writeText, type Encode } from './duckdb-load-file.js';

const FLUSH_BYTES = 1 << 20;
/** Text longer than this is written to the load file by itself rather than joined into its line. */
export const LONG_TEXT = 1 << 20;

const COMMA = 44;
const NEWLINE = 10;
const BACKSLASH = 92;
const LETTER_N = 78;
/** Room kept free at the end of the write buffer: the most an integer, a separator and NULL take. */
const ROW_ROOM = 64;

const NO_COLUMNS: ReadonlySet<string> = new Set();

function sameMembers(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  return a.size === b.size && [...a].every((member) => b.has(member));
}

/**
 * A load file: every unit's rows written while the run had one column list. Each row carries
 * the slot it was written under, so a discarded unit's rows are left out at commit rather than
 * cut out of the file, and thousands of small units need one open file, not thousands.
 */
export interface Part {
  readonly file: string;
  readonly columns: readonly Column[];
  /** FLOAT64 columns written from 32-bit floats as their shortest single-precision text. */
  readonly float32: ReadonlySet<string>;
  readonly fd: number;
  /** Bytes of the longest line written: DuckDB's read buffer must hold it. */
  longest: number;
}

/** Writes a run's rows into load files in its folder, part after part. */
export class LoadFileWriter {
  private columnList: Column[];
  private encoders: Encode[];
  /** FLOAT64 columns that brought other numbers than 32-bit floats: always written as doubles. */
  private readonly doubles = new Set<string>();
  /** Encoders of FLOAT64 columns written from 32-bit floats, by column index, made on first use. */
  private float32Encoders: Encode[] = [];
  /** Every part written, in order. */
  readonly parts: Part[] = [];
  private part?: Part;
  private rowNumber = 0;
  private buffer = Buffer.allocUnsafe(FLUSH_BYTES);
  /** The buffer being written to the part while the other fills, and that write. */
  private spare = Buffer.allocUnsafe(FLUSH_BYTES);
  private writing?: Promise<void>;
  private bytes = 0;
  /** Bytes of the open part already written to its file: lines are measured across flushes. */
  private flushed = 0;

  constructor(
    private readonly dir: string,
    columns: readonly Column[],
    /** Rows carry their number (a merge, where the last row per key wins). */
    private readonly numbered: boolean,
  ) {
    this.columnList = [...columns];
    this.encoders = this.columnList.map((column) => encoderFor(column.type));
  }

  /** The columns rows are written with now. */
  get columns(): readonly Column[] {
    return this.columnList;
  }

  /** Later rows go to a new part written with `columns`. */
  setColumns(columns: readonly Column[]): void {
    this.close();
    this.columnList = [...columns];
    this.encoders = this.columnList.map((column) => encoderFor(column.type));
    this.float32Encoders = [];
  }

  /** The part being written, a new one when `float32` differs from its own. */
  private async openPart(float32: ReadonlySet<string> = NO_COLUMNS): Promise<Part> {
    if (this.part && !sameMembers(this.part.float32, float32)) {
      await this.settle();
      this.close();
    }
    if (!this.part) {
      this.flushed = 0;
      const file = path.join(this.dir, `part-${this.parts.length}.csv`);
      let fd: number;
      try {
        fd = openSync(file, 'w');
      } catch (error) {
        throw fileError(error, file);
      }
      this.part = { file, columns: this.columnList, float32, fd, longest: 0 };
      this.parts.push(this.part);
    }
    return this.part;
  }

  /** Appends rows under `slot`. */
  async write(slot: number, rows: readonly Value[][]): Promise<void> {
    await this.settle();
    const part = await this.openPart();
    try {
      this.writeRows(part, slot, rows);
    } catch (error) {
      throw fileError(error, part.file);
    }
  }

  private writeRows(part: Part, slot: number, rows: readonly Value[][]): void {
    const encoders = this.encoders;
    const width = encoders.length;
    for (const row of rows) {
      const head = this.numbered ? `${slot},${++this.rowNumber}` : String(slot);
      let line = head;
      let long = false;
      for (let i = 0; i < width; i++) {
        const value = row[i];
        if (value === null || value === undefined) line += `,${NULL}`;
        else if (typeof value === 'string' && value.length > LONG_TEXT) long = true;
        else line += `,${encoders[i](value)}`;
      }
      if (long) {
        this.writeLong(row, head);
        continue;
      }
      line += '\n';
      // A UTF-8 character takes at most 3 bytes per UTF-16 unit.
      if (this.bytes + line.length * 3 > this.buffer.length) this.flush();
      if (line.length * 3 > this.buffer.length) {
        // Longer than the buffer may hold: written by itself, never cut short.
        const bytes = writeText(part.fd, line);
        this.flushed += bytes;
        part.longest = Math.max(part.longest, bytes);
        continue;
      }
      const written = this.buffer.write(line, this.bytes);
      this.bytes += written;
      if (written > part.longest) part.longest = written;
    }
  }

  /**
   * Appends rows given column by column, each value's text written straight into the buffer:
   * integers digit by digit, other values as their encoders spell them, ASCII byte by byte.
   */
  async writeColumns(slot: number, columns: readonly (ArrayLike<Value> | null)[], length: number, skip?: Uint8Array): Promise<void> {
    // 32-bit floats are written as their own shortest text, half as long as a double's; a column
    // that also brings other numbers (a row group with NULLs) is written as doubles from then on,
    // so that parts change at most once per column.
    const float32 = new Set<string>();
    columns.forEach((column, c) => {
      const name = this.columnList[c]?.name;
      if (name === undefined || this.columnList[c]!.type !== 'FLOAT64' || this.doubles.has(name)) return;
      if (column instanceof Float32Array || (!column && this.part?.float32.has(name))) float32.add(name);
      else if (column && this.part?.float32.has(name)) this.doubles.add(name);
    });
    const part = await this.openPart(float32);
    try {
      await this.writeColumnRows(part, slot, columns, length, skip);
    } catch (error) {
      throw fileError(error, part.file);
    }
  }

  private async writeColumnRows(part: Part, slot: number, columns: readonly (ArrayLike<Value> | null)[], length: number, skip?: Uint8Array): Promise<void> {
    const width = this.columnList.length;
    // Each column's texts first, column by column (one encoder a loop); small integers and NULLs
    // are written as they are met.
    const integers: (ArrayLike<number> | undefined)[] = new Array(width);
    const texts: ((string | undefined)[] | undefined)[] = new Array(width);
    for (let c = 0; c < width; c++) {
      const column = c < columns.length ? columns[c] : null;
      if (!column) continue;
      if (isSmallIntegerArray(column)) integers[c] = column;
      else texts[c] = encodeColumn(column, length, part.float32.has(this.columnList[c]!.name) ? (this.float32Encoders[c] ??= floatEncoder(float32Text)) : this.encoders[c]!);
    }
    let buffer = this.buffer;
    const limit = buffer.length - ROW_ROOM;
    let at = this.bytes;
    for (let r = 0; r < length; r++) {
      if (skip?.[r]) continue;
      if (at > limit) {
        at = await this.flushAsync(at);
        buffer = this.buffer;
      }
      const lineStart = this.flushed + at;
      at = writeInteger(buffer, at, slot);
      if (this.numbered) {
        buffer[at++] = COMMA;
        at = writeInteger(buffer, at, ++this.rowNumber);
      }
      for (let c = 0; c < width; c++) {
        buffer[at++] = COMMA;
        const numbers = integers[c];
        if (numbers) {
          at = writeInteger(buffer, at, numbers[r]!);
          continue;
        }
        const text = texts[c]?.[r];
        if (text === undefined) {
          const value = texts[c] ? columns[c]![r] : null;
          if (typeof value === 'number') {
            at = writeInteger(buffer, at, value);
          } else {
            buffer[at++] = BACKSLASH;
            buffer[at++] = LETTER_N;
          }
          continue;
        }
        // A UTF-8 character takes at most 3 bytes per UTF-16 unit.
        if (at + text.length * 3 + ROW_ROOM > buffer.length) {
          at = await this.flushAsync(at);
          buffer = this.buffer;
          if (text.length * 3 + ROW_ROOM > buffer.length) {
            await this.settle();
            this.flushed += writeText(part.fd, text);
            continue;
          }
        }
        at = writeAscii(buffer, at, text);
        if (at > limit) {
          at = await this.flushAsync(at);
          buffer = this.buffer;
        }
      }
      buffer[at++] = NEWLINE;
      const bytes = this.flushed + at - lineStart;
      if (bytes > part.longest) part.longest = bytes;
    }
    this.bytes = at;
  }

  /**
   * Starts writing the buffer's first `at` bytes to the open part and goes on filling the other
   * buffer meanwhile, once its own write has ended; returns the new fill (0).
   */
  private async flushAsync(at: number): Promise<number> {
    await this.settle();
    const full = this.buffer;
    this.buffer = this.spare;
    this.spare = full;
    this.flushed += at;
    this.bytes = 0;
    const file = this.part!.file;
    const writing = writeFully(this.part!.fd, full, at).catch((error: unknown) => {
      throw fileError(error, file);
    });
    writing.catch(() => undefined); // awaited by the next settle; never unhandled meanwhile
    this.writing = writing;
    return 0;
  }

  /** Waits for the buffer being written: nothing else writes to the part meanwhile. */
  async settle(): Promise<void> {
    const writing = this.writing;
    this.writing = undefined;
    try {
      await writing;
    } catch (error) {
      throw fileError(error, this.part?.file ?? this.dir);
    }
  }

  /** Writes a row holding long text field by field, so no line is ever joined into one string. */
  private writeLong(row: readonly Value[], head: string): void {
    this.flush();
    const part = this.part!;
    let bytes = writeText(part.fd, head);
    for (let i = 0; i < this.encoders.length; i++) {
      const value = row[i];
      bytes += writeText(part.fd, value === null || value === undefined ? `,${NULL}` : `,${this.encoders[i](value)}`);
    }
    writeText(part.fd, '\n');
    this.flushed += bytes + 1;
    part.longest = Math.max(part.longest, bytes);
  }

  private flush(): void {
    if (!this.bytes || !this.part) return;
    writeSync(this.part.fd, this.buffer, 0, this.bytes);
    this.flushed += this.bytes;
    this.bytes = 0;
  }

  /** Flushes and closes the part being written: later rows go to a new one. */
  close(): void {
    try {
      this.flush();
    } catch (error) {
      throw fileError(error, this.part!.file);
    }
    if (this.part) closeSync(this.part.fd);
    this.part = undefined;
  }

  /** Forgets every part, dropping unwritten bytes rather than flushing them. */
  drop(): void {
    if (this.part) closeSync(this.part.fd);
    this.part = undefined;
    this.bytes = 0;
    this.parts.length = 0;
  }
}
