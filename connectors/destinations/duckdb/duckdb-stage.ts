/**
 * A run's rows on their way into DuckDB: written as CSV load files (flat memory in this process
 * and in DuckDB), then moved into the target by one transaction that reads them with DuckDB's
 * parallel CSV reader and writes the `_b2betl_loads` marker.
 *
 * A unit that comes as a CSV file DuckDB converts itself (a local file, or rows a database
 * wrote) skips the trip through this process: that transaction opens early and the file goes
 * straight into the target, while other units are still being read. Anything that would make
 * those rows wrong (a value DuckDB does not take, a discarded unit, columns that change, a unit
 * left out of the commit) rolls them back; the commit then inserts the files again.
 */
import { closeSync, mkdirSync, openSync, rmSync, write, writeSync } from 'node:fs';
import path from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import type { Column, LoadMarker, NativeFile, RejectedRow, Stage, StageRequest, Value } from '../../../src/core/connector.js';
import { EtlError, fileError, megabytes, messageOf } from '../../../src/core/errors.js';
import { faultPoint } from '../../../src/core/faults.js';
import { markerStateText } from '../../../src/core/marker-state.js';
import type { ColumnType } from '../../../src/core/types.js';
import { bufferOptions, nativeFileQuery, readBufferFor } from './duckdb-native.js';
import { DUCKDB_TYPES, literal, numericFromText, quote } from './duckdb-types.js';

/** What the stage needs of its destination. */
export interface StageTarget {
  describeColumns(table: string): Promise<readonly Column[] | undefined>;
  qualified(table: string): string;
  markersTable(): string;
  tables(): string;
}

const ROW_COLUMN = '_b2betl_row';
const SLOT_COLUMN = '_b2betl_slot';
const NULL = '\\N';
/** Memory DuckDB keeps beside its read buffers when the limit is raised for long rows. */
const MEMORY_HEADROOM = 64 << 20;
const FLUSH_BYTES = 1 << 20;
/** DuckDB's CSV read buffer per thread for load files whose rows are all short. */
const READ_BUFFER = 8 << 20;
/** Distinct doubles per column whose text a load file's writer keeps. */
const FLOAT_TEXTS = 4096;
/** Attempts at a commit that conflicts with another transaction in this process. */
const COMMIT_ATTEMPTS = 5;
/** Text longer than this is written to the load file by itself rather than joined into its line. */
const LONG_TEXT = 1 << 20;

type Encode = (value: Value) => string;

const COMMA = 44;
const NEWLINE = 10;
const BACKSLASH = 92;
const LETTER_N = 78;
/** Room kept free at the end of the write buffer: the most an integer, a separator and NULL take. */
const ROW_ROOM = 64;

/** Whether a column is an array of integers {@link writeInteger} writes (32 bits and less, signed or not). */
function isSmallIntegerArray(column: ArrayLike<unknown>): column is ArrayLike<number> {
  return column instanceof Int32Array || column instanceof Int16Array || column instanceof Int8Array || column instanceof Uint16Array || column instanceof Uint8Array;
}

/**
 * A column's values as text, by `encode`; undefined for a NULL and for a 32-bit integer (not
 * -0), which is written digit by digit instead.
 */
function encodeColumn(column: ArrayLike<Value>, length: number, encode: Encode): (string | undefined)[] {
  const texts: (string | undefined)[] = new Array(length);
  for (let r = 0; r < length; r++) {
    const value = column[r];
    if (value === null || value === undefined || (typeof value === 'number' && (value | 0) === value && !Object.is(value, -0))) texts[r] = undefined;
    else texts[r] = encode(value);
  }
  return texts;
}

/** Writes a 32-bit integer's decimal digits at `at`; returns the end. */
function writeInteger(buffer: Buffer, at: number, value: number): number {
  if (value < 0) {
    if (value === -2147483648) return at + buffer.write('-2147483648', at, 'latin1');
    buffer[at++] = 45;
    value = -value;
  }
  if (value < 10) {
    buffer[at] = 48 + value;
    return at + 1;
  }
  let digits = 1;
  for (let rest = value; rest >= 10; rest = (rest / 10) | 0) digits++;
  const end = at + digits;
  for (let i = end - 1; i >= at; i--) {
    buffer[i] = 48 + (value % 10);
    value = (value / 10) | 0;
  }
  return end;
}

/** Writes text at `at` as UTF-8 (short ASCII text byte by byte); returns the end. */
function writeAscii(buffer: Buffer, at: number, text: string): number {
  const length = text.length;
  if (length > 32) return at + buffer.write(text, at);
  for (let i = 0; i < length; i++) {
    const code = text.charCodeAt(i);
    if (code > 127) return at + buffer.write(text, at);
    buffer[at + i] = code;
  }
  return at + length;
}

/**
 * The quote character of load files: a control character, so that text full of double quotes
 * (JSON above all) is wrapped as it is instead of having every quote doubled.
 */
const QUOTE = '\x02';
const SPECIAL = /[,\n\r\x02]/;

/** A text field: quoted only when it holds a delimiter, quote or line break, is empty, or reads as NULL. */
function quoted(text: string): string {
  if (text !== '' && text !== NULL && !SPECIAL.test(text)) return text;
  return QUOTE + (text.includes(QUOTE) ? text.replaceAll(QUOTE, QUOTE + QUOTE) : text) + QUOTE;
}

const NO_COLUMNS: ReadonlySet<string> = new Set();

function sameMembers(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  return a.size === b.size && [...a].every((member) => b.has(member));
}

/**
 * The shortest text a 32-bit float (held as the double it is) reads back from in single
 * precision: `13.9` rather than the double's `13.899999618530273`. A candidate is taken only when
 * values around it, far closer than two floats are apart, round to the float too: no reader
 * rounding correctly can then get another; 9 digits always do.
 */
export function float32Text(value: number): string {
  if (value === 0 || !Number.isFinite(value)) return Object.is(value, -0) ? '-0' : String(value);
  for (let digits = 6; digits <= 9; digits++) {
    const text = value.toPrecision(digits);
    const back = Number(text);
    const margin = Math.abs(back) * 2 ** -40;
    if (Math.fround(back) === value && Math.fround(back - margin) === value && Math.fround(back + margin) === value) return withoutTrailingZeros(text);
  }
  return value.toPrecision(9);
}

/** `13.9000` as `13.9`, `1.20000e+5` as `1.2e+5`: zeros after the point dropped, never the exponent's. */
function withoutTrailingZeros(text: string): string {
  const e = text.indexOf('e');
  const mantissa = e < 0 ? text : text.slice(0, e);
  if (!mantissa.includes('.')) return text;
  return mantissa.replace(/\.?0+$/, '') + (e < 0 ? '' : text.slice(e));
}

/**
 * The encoder of a FLOAT64 column whose numbers are spelled by `spell` (a double's shortest text,
 * or a 32-bit float's). Spelling a number costs far more than looking it up, and columns of
 * measurements repeat their values (times of day, prices): the texts of a column's first values
 * are kept.
 */
function floatEncoder(spell: (value: number) => string): Encode {
  const texts = new Map<number, string>();
  return (value) => {
    if (typeof value !== 'number') return quoted(asText(value));
    // String(-0) is "0", and the map keys -0 as 0: keep the sign of a negative zero.
    if (Object.is(value, -0)) return '-0';
    let text = texts.get(value);
    if (text === undefined) {
      text = spell(value);
      if (texts.size < FLOAT_TEXTS) texts.set(value, text);
    }
    return text;
  };
}

/** Writes a buffer's first `length` bytes to a file, in the thread pool. */
function writeFully(fd: number, buffer: Buffer, length: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const from = (offset: number) =>
      write(fd, buffer, offset, length - offset, null, (error, written) => {
        if (error) reject(error);
        else if (offset + written < length) from(offset + written);
        else resolve();
      });
    from(0);
  });
}

/** Writes text to a file, returning its bytes. */
function writeText(fd: number, text: string): number {
  const bytes = Buffer.from(text);
  writeSync(fd, bytes);
  return bytes.length;
}

function asText(value: Value): string {
  if (typeof value === 'string') return value;
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  return String(value);
}

/** How a value of each type is written into a load file (TIMESTAMP as microseconds, BYTES as base64). */
function encoderFor(type: ColumnType): Encode {
  switch (type) {
    case 'INT64':
    case 'TIMESTAMP':
      return (value) => (typeof value === 'number' || typeof value === 'bigint' ? String(value) : quoted(asText(value)));
    case 'FLOAT64':
      return floatEncoder(String);
    case 'BOOL':
      return (value) => (value ? 'true' : 'false');
    case 'BYTES':
      return (value) => quoted(asText(value));
    case 'DATE':
    case 'DATETIME':
    case 'TIME':
    case 'NUMERIC':
      // Canonical text (`2024-03-01`, `-12.50`): never a delimiter, quote, line break or `\N`.
      return (value) => (typeof value === 'string' && value !== '' ? value : quoted(asText(value)));
    default:
      return (value) => quoted(typeof value === 'string' ? value : asText(value));
  }
}

/** How DuckDB reads a column written as `type`: typed where its CSV reader parses our text directly. */
const READ_TYPES: Partial<Record<ColumnType, string>> = {
  INT64: 'BIGINT',
  FLOAT64: 'DOUBLE',
  BOOL: 'BOOLEAN',
  DATE: 'DATE',
  STRING: 'VARCHAR',
  TIMESTAMP: 'BIGINT',
};

/**
 * The read type of a column written as `written` that the run now holds as `column.type`;
 * `float32`: written as single-precision text (see {@link float32Text}), read as FLOAT.
 */
function readType(written: Column, column: Column, float32: boolean): string {
  if (float32) return 'FLOAT';
  return written.type === column.type ? (READ_TYPES[column.type] ?? 'VARCHAR') : 'VARCHAR';
}

/** The SQL that turns a load-file column, read as {@link readType}, into the column's type. */
function decodeSql(written: Column, column: Column, float32: boolean): string {
  const name = quote(column.name);
  // Every 32-bit float is a double: the one its text reads as in single precision.
  if (float32) return `CAST(CAST(${name} AS DOUBLE) AS ${DUCKDB_TYPES[column.type]})`;
  const typed = readType(written, column, false) !== 'VARCHAR';
  if (typed) return column.type === 'TIMESTAMP' ? `make_timestamptz(${name})` : name;
  switch (column.type) {
    case 'TIMESTAMP':
      return `make_timestamptz(CAST(${name} AS BIGINT))`;
    case 'BYTES':
      return `from_base64(${name})`;
    case 'NUMERIC':
      return numericFromText(name);
    default:
      return `CAST(${name} AS ${DUCKDB_TYPES[column.type]})`;
  }
}

/**
 * A load file: every unit's rows written while the run had one column list. Each row carries
 * the slot it was written under, so a discarded unit's rows are left out at commit rather than
 * cut out of the file, and thousands of small units need one open file, not thousands.
 */
interface Part {
  readonly file: string;
  readonly columns: readonly Column[];
  /** FLOAT64 columns written from 32-bit floats as their shortest single-precision text. */
  readonly float32: ReadonlySet<string>;
  readonly fd: number;
  /** Bytes of the longest line written: DuckDB's read buffer must hold it. */
  longest: number;
}

/** A unit DuckDB reads from its file straight into the target. */
interface NativeUnit {
  readonly file: NativeFile;
  targets: readonly (Column | undefined)[];
  query: string;
  /** Rows inserted in the open transaction; undefined when not (yet, or rolled back). */
  inserted?: number;
}

export class DuckDBStage implements Stage {
  private columns: Column[];
  private encoders: Encode[];
  /** FLOAT64 columns that brought other numbers than 32-bit floats: always written as doubles. */
  private readonly doubles = new Set<string>();
  /** Encoders of FLOAT64 columns written from 32-bit floats, by column index, made on first use. */
  private float32Encoders: Encode[] = [];
  private readonly parts: Part[] = [];
  private part?: Part;
  /** The slot each unit currently writes under; a discarded unit gets a fresh one. */
  private readonly slots = new Map<number, number>();
  private nextSlot = 0;
  private rowNumber = 0;
  /** Rows carry their number only for a merge, where the last row per key wins. */
  private readonly numbered: boolean;
  private buffer = Buffer.allocUnsafe(FLUSH_BYTES);
  /** The buffer being written to the part while the other fills, and that write. */
  private spare = Buffer.allocUnsafe(FLUSH_BYTES);
  private writing?: Promise<void>;
  private bytes = 0;
  /** Bytes of the open part already written to its file: lines are measured across flushes. */
  private flushed = 0;
  private readonly natives = new Map<number, NativeUnit>();
  /** Whether the commit's transaction is open, holding native units' rows. */
  private open = false;
  /** The memory limit to put back when the transaction ends, if it was raised for long rows. */
  private restoreMemory?: string;

  constructor(
    private readonly db: DuckDBConnection,
    private readonly target: StageTarget,
    private readonly request: StageRequest,
    private readonly dir: string,
  ) {
    this.columns = [...request.columns];
    this.encoders = this.columns.map((column) => encoderFor(column.type));
    this.numbered = request.strategy === 'merge';
    mkdirSync(dir, { recursive: true });
  }

  async evolve(columns: readonly Column[]): Promise<void> {
    await this.settle();
    // Native rows went into the old columns: the commit inserts them again into the new ones,
    // read anew into each column's new type (a column become text takes the file's own spelling).
    await this.rollBack();
    const byName = new Map(columns.map((column) => [column.name, column]));
    for (const native of this.natives.values()) {
      const targets = native.targets.map((column) => column && (byName.get(column.name) ?? column));
      const query = nativeFileQuery(native.file, targets);
      if (query) Object.assign(native, { targets, query });
    }
    // Later rows go to a new part written with the new column list.
    this.closePart();
    this.columns = [...columns];
    this.encoders = this.columns.map((column) => encoderFor(column.type));
    this.float32Encoders = [];
  }

  /** The part being written, a new one when `float32` differs from its own. */
  private async openPart(float32: ReadonlySet<string> = NO_COLUMNS): Promise<Part> {
    if (this.part && !sameMembers(this.part.float32, float32)) {
      await this.settle();
      this.closePart();
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
      this.part = { file, columns: this.columns, float32, fd, longest: 0 };
      this.parts.push(this.part);
    }
    return this.part;
  }

  private slotOf(unit: number): number {
    let slot = this.slots.get(unit);
    if (slot === undefined) this.slots.set(unit, (slot = this.nextSlot++));
    return slot;
  }

  async write(unit: number, rows: readonly Value[][]): Promise<void> {
    await this.settle();
    const part = await this.openPart();
    try {
      this.writeRows(part, unit, rows);
    } catch (error) {
      throw fileError(error, part.file);
    }
  }

  private writeRows(part: Part, unit: number, rows: readonly Value[][]): void {
    const slot = String(this.slotOf(unit));
    const encoders = this.encoders;
    const width = encoders.length;
    for (const row of rows) {
      const head = this.numbered ? `${slot},${++this.rowNumber}` : slot;
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
  async writeColumns(unit: number, columns: readonly (ArrayLike<Value> | null)[], length: number, skip?: Uint8Array): Promise<void> {
    // 32-bit floats are written as their own shortest text, half as long as a double's; a column
    // that also brings other numbers (a row group with NULLs) is written as doubles from then on,
    // so that parts change at most once per column.
    const float32 = new Set<string>();
    columns.forEach((column, c) => {
      const name = this.columns[c]?.name;
      if (name === undefined || this.columns[c]!.type !== 'FLOAT64' || this.doubles.has(name)) return;
      if (column instanceof Float32Array || (!column && this.part?.float32.has(name))) float32.add(name);
      else if (column && this.part?.float32.has(name)) this.doubles.add(name);
    });
    const part = await this.openPart(float32);
    try {
      await this.writeColumnRows(part, unit, columns, length, skip);
    } catch (error) {
      throw fileError(error, part.file);
    }
  }

  private async writeColumnRows(part: Part, unit: number, columns: readonly (ArrayLike<Value> | null)[], length: number, skip?: Uint8Array): Promise<void> {
    const slot = this.slotOf(unit);
    const width = this.columns.length;
    // Each column's texts first, column by column (one encoder a loop); small integers and NULLs
    // are written as they are met.
    const integers: (ArrayLike<number> | undefined)[] = new Array(width);
    const texts: ((string | undefined)[] | undefined)[] = new Array(width);
    for (let c = 0; c < width; c++) {
      const column = c < columns.length ? columns[c] : null;
      if (!column) continue;
      if (isSmallIntegerArray(column)) integers[c] = column;
      else texts[c] = encodeColumn(column, length, part.float32.has(this.columns[c]!.name) ? (this.float32Encoders[c] ??= floatEncoder(float32Text)) : this.encoders[c]!);
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
  private async settle(): Promise<void> {
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

  private closePart(): void {
    try {
      this.flush();
    } catch (error) {
      throw fileError(error, this.part!.file);
    }
    if (this.part) closeSync(this.part.fd);
    this.part = undefined;
  }

  async loadFile(unit: number, file: NativeFile, targets: readonly (Column | undefined)[]): Promise<number | undefined> {
    // A merge keeps the last staged row per key, and a file read in parallel has no order.
    const query = this.request.strategy === 'merge' ? undefined : nativeFileQuery(file, targets);
    if (!query) return undefined;
    await this.discard(unit);
    const native: NativeUnit = { file, targets, query };
    try {
      const rows = await this.insertNative(native);
      this.natives.set(unit, native);
      this.request.log.debug(`${file.label}: ${rows} row(s) read by DuckDB`);
      return rows;
    } catch (error) {
      // A failed statement ends the transaction: what it held is inserted again at commit.
      await this.rollBack();
      this.request.log.debug(`${file.label}: streamed, as DuckDB did not take it: ${messageOf(error).split('\n')[0]}`);
      return undefined;
    }
  }

  /** Inserts a native unit's file into the target, opening the commit's transaction first. */
  private async insertNative(native: NativeUnit): Promise<number> {
    await this.begin();
    const names = native.targets.flatMap((column) => (column ? [quote(column.name)] : [])).join(', ');
    const longest = native.file.format.kind === 'csv' ? native.file.format.longestRecord : 0;
    await this.makeRoomFor(longest);
    const result = await this.db.run(`INSERT INTO ${this.target.qualified(this.request.table)} (${names}) ${native.query}`);
    native.inserted = Number(result.rowsChanged);
    return native.inserted;
  }

  /**
   * Raises DuckDB's memory limit until the commit's transaction ends, when reading with CSV
   * buffers of `buffer` bytes (and writing the values they hold) needs more than it allows: a
   * value is never too large for DuckDB, whatever the warehouse's `memory_limit`.
   */
  private async makeRoomFor(longest: number): Promise<void> {
    if (longest <= LONG_TEXT) return;
    const buffer = readBufferFor(longest);
    const needed = 3 * buffer + MEMORY_HEADROOM;
    const current = await this.memoryLimit();
    if (needed <= current.bytes) return;
    this.request.log.debug(`raising DuckDB's memory limit from ${current.text} to ${Math.ceil(needed / (1 << 20))} MiB for rows of ${megabytes(buffer)} MB`);
    this.restoreMemory ??= current.text;
    await this.db.run(`SET memory_limit = '${needed}B'`);
  }

  /** Puts the memory limit back once the transaction that needed more has ended. */
  private async restoreMemoryLimit(): Promise<void> {
    if (this.restoreMemory === undefined) return;
    const text = this.restoreMemory;
    this.restoreMemory = undefined;
    await this.db.run(`SET memory_limit = ${literal(text)}`);
  }

  private async memoryLimit(): Promise<{ text: string; bytes: number }> {
    const reader = await this.db.runAndReadAll("SELECT current_setting('memory_limit')");
    const text = String(reader.getRows()[0]![0]);
    const match = /^([\d.]+)\s*([KMGT]?i?B)$/i.exec(text);
    const units: Record<string, number> = { B: 1, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12, KIB: 1 << 10, MIB: 1 << 20, GIB: 1 << 30, TIB: 2 ** 40 };
    return { text, bytes: match ? Number(match[1]) * (units[match[2]!.toUpperCase()] ?? 1) : Number.POSITIVE_INFINITY };
  }

  /** Opens the commit's transaction: the target created or evolved, and emptied for a catalog load. */
  private async begin(): Promise<void> {
    if (this.open) return;
    await this.db.run('BEGIN TRANSACTION');
    this.open = true;
    const target = this.target.qualified(this.request.table);
    await this.evolveTarget(target);
    const replace = this.request.replace;
    if (this.request.strategy === 'catalog' || replace?.kind === 'table') await this.db.run(`DELETE FROM ${target}`);
    else if (replace?.kind === 'window') {
      const column = this.columns.find((c) => c.source === replace.column || c.name === replace.column);
      if (!column) throw new EtlError(`the backfill's cursor column ${replace.column} is not among the loaded columns`, 'keep load.cursor among source.columns');
      const type = DUCKDB_TYPES[column.type];
      const where: string[] = [];
      if (replace.lower !== undefined) where.push(`${quote(column.name)} >= CAST(${literal(replace.lower)} AS ${type})`);
      if (replace.upper) where.push(`${quote(column.name)} ${replace.upper.inclusive ? '<=' : '<'} CAST(${literal(replace.upper.value)} AS ${type})`);
      const deleted = await this.db.run(`DELETE FROM ${target} WHERE ${where.length ? where.join(' AND ') : 'TRUE'}`);
      this.request.log.debug(`backfill: ${Number(deleted.rowsChanged)} row(s) of ${target} in the window replaced`);
    }
  }

  /** The rows a committed marker of this run recorded, when this run already committed. */
  private async committedRows(marker: LoadMarker): Promise<number | undefined> {
    const reader = await this.db.runAndReadAll(`SELECT rows FROM ${this.target.markersTable()} WHERE job = $1 AND run_id = $2`, [marker.job, marker.runId]);
    const row = reader.getRows()[0];
    return row ? Number(row[0]) : undefined;
  }

  /** Rolls the open transaction back; native units are then inserted again at commit. */
  private async rollBack(): Promise<void> {
    if (!this.open) return;
    this.open = false;
    await this.db.run('ROLLBACK').catch(() => undefined);
    await this.restoreMemoryLimit();
    for (const native of this.natives.values()) native.inserted = undefined;
  }

  async discard(unit: number): Promise<void> {
    this.slots.delete(unit);
    const native = this.natives.get(unit);
    if (!native) return;
    this.natives.delete(unit);
    if (native.inserted !== undefined) await this.rollBack();
  }

  /**
   * A query over the committed units' rows in the load files, in the run's final columns and
   * types, and the bytes of the longest line, which DuckDB's buffers must hold.
   */
  private stagedRows(units: readonly number[]): { query: string; longest: number } | undefined {
    this.closePart();
    const slots = units.flatMap((unit) => (this.slots.has(unit) ? [this.slots.get(unit)!] : []));
    if (!slots.length || !this.parts.length) return undefined;
    // A row's place in the run: its unit's place in the plan first, then its place in the unit, so
    // that a merge keeps the last version in plan order however the units' reads interleaved.
    const unitOrder = `CASE ${quote(SLOT_COLUMN)} ${units.flatMap((unit) => (this.slots.has(unit) ? [`WHEN ${this.slots.get(unit)!} THEN ${unit}`] : [])).join(' ')} END`;
    const order = `${unitOrder}::BIGINT * ${2 ** 40} + ${quote(ROW_COLUMN)} AS ${quote(ROW_COLUMN)}`;
    const current = new Map(this.columns.map((column) => [column.name, column]));
    const selects = this.parts.map(({ columns, file, longest, float32 }) => {
      const written = new Map(columns.map((column) => [column.name, column]));
      const spec = [
        `'${SLOT_COLUMN}': 'INTEGER'`,
        ...(this.numbered ? [`'${ROW_COLUMN}': 'BIGINT'`] : []),
        ...columns.map((column) => `${literal(column.name)}: '${readType(column, current.get(column.name) ?? column, float32.has(column.name))}'`),
      ].join(', ');
      const values = this.columns.map((column) => {
        const as = written.get(column.name);
        return as ? `${decodeSql(as, column, float32.has(column.name))} AS ${quote(column.name)}` : `NULL::${DUCKDB_TYPES[column.type]} AS ${quote(column.name)}`;
      });
      return `SELECT ${this.numbered ? `${order}, ` : ''}${values.join(', ')} FROM read_csv(${literal(file)}, header = false, delim = ',', quote = '${QUOTE}', escape = '${QUOTE}', nullstr = '\\N', allow_quoted_nulls = false, new_line = '\\n', ${bufferOptions(longest, READ_BUFFER)}, columns = {${spec}}) WHERE ${quote(SLOT_COLUMN)} IN (${slots.join(', ')})`;
    });
    return { query: selects.join('\nUNION ALL\n'), longest: Math.max(...this.parts.map((part) => part.longest)) };
  }

  async commit(units: readonly number[], marker: LoadMarker, rejects: readonly RejectedRow[]): Promise<number> {
    await this.settle();
    const staged = this.stagedRows(units);
    const committing = new Set(units);
    // Rows inserted ahead for a unit that is not committing cannot stay.
    if ([...this.natives].some(([unit, native]) => native.inserted !== undefined && !committing.has(unit))) await this.rollBack();
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.commitOnce(units, marker, rejects, staged);
      } catch (error) {
        await this.rollBack();
        // Another transaction of this process changed the same rows first: the commit runs again, after checking its marker.
        if (!/conflict/i.test(messageOf(error)) || attempt >= COMMIT_ATTEMPTS) throw error;
        this.request.log.warn(`the commit into ${this.target.qualified(this.request.table)} conflicted with another transaction; retrying (attempt ${attempt + 1})`);
        await new Promise((resolve) => setTimeout(resolve, 50 * attempt));
      }
    }
  }

  /**
   * One attempt at the commit's transaction. It checks for the run's marker first: a run that
   * already committed is never applied twice, and returns the rows its marker recorded.
   */
  private async commitOnce(units: readonly number[], marker: LoadMarker, rejects: readonly RejectedRow[], staged: { query: string; longest: number } | undefined): Promise<number> {
    const target = this.target.qualified(this.request.table);
    const names = this.columns.map((column) => quote(column.name)).join(', ');
    await this.begin();
    const already = await this.committedRows(marker);
    if (already !== undefined) {
      this.request.log.warn(`run ${marker.runId} is already committed into ${target}; not applying it again`);
      await this.abort();
      return already;
    }
    let read = 0;
    for (const unit of units) {
      const native = this.natives.get(unit);
      if (native) read += native.inserted ?? (await this.insertNative(native));
    }
    let rows = read;
    if (staged) {
      const merging = this.request.strategy === 'merge';
      const into = merging ? this.mergeBatch() : target;
      if (merging) await this.db.run(`CREATE OR REPLACE TEMP TABLE ${into} AS SELECT ${quote(ROW_COLUMN)}, ${names} FROM (${staged.query}) LIMIT 0`);
      const selected = merging ? `${quote(ROW_COLUMN)}, ${names}` : names;
      await this.makeRoomFor(staged.longest);
      const inserted = await this.db.run(`INSERT INTO ${into} (${selected}) SELECT ${selected} FROM (${staged.query})`);
      read += Number(inserted.rowsChanged);
      rows = merging ? await this.merge(target, names, into) : read;
    }
    // DuckDB must have read back every row staged: anything else is rows lost, never committed.
    if (read !== marker.rows) {
      throw new EtlError(
        `DuckDB read back ${read} row(s) of the ${marker.rows} staged for ${target}; nothing was committed`,
        'run the job again; if it happens again, report it with the files of the run',
      );
    }
    await this.db.run(`INSERT INTO ${this.target.markersTable()} (run_id, job, table_name, strategy, units, rows, committed_at, state) VALUES ($1, $2, $3, $4, $5, $6, now(), $7)`, [
      marker.runId,
      marker.job,
      marker.table,
      marker.strategy,
      JSON.stringify(marker.units),
      rows,
      markerStateText(marker.state),
    ]);
    if (rejects.length) await this.writeRejects(rejects);
    faultPoint('during-commit');
    await this.db.run('COMMIT');
    this.open = false;
    await this.restoreMemoryLimit();
    await this.abort();
    return rows;
  }

  private mergeBatch(): string {
    return quote(`_b2betl_merge_${this.request.job.name}`);
  }

  /** Upsert: the last staged row per key (of those in `batch`) replaces the target's rows with that key. */
  private async merge(target: string, names: string, batch: string): Promise<number> {
    const keys = this.request.primaryKey.map((key) => quote(this.nameOf(key)));
    await this.db.run(
      `DELETE FROM ${batch} WHERE ${quote(ROW_COLUMN)} NOT IN (SELECT max(${quote(ROW_COLUMN)}) FROM ${batch} GROUP BY ${keys.join(', ')})`,
    );
    const matches = keys.map((key) => `${target}.${key} IS NOT DISTINCT FROM s.${key}`).join(' AND ');
    await this.db.run(`DELETE FROM ${target} USING ${batch} AS s WHERE ${matches}`);
    const inserted = await this.db.run(`INSERT INTO ${target} (${names}) SELECT ${names} FROM ${batch}`);
    await this.db.run(`DROP TABLE ${batch}`);
    return Number(inserted.rowsChanged);
  }

  /** The sanitized name of a primary-key column given by its source or sanitized name. */
  private nameOf(key: string): string {
    const column = this.columns.find((c) => c.source === key || c.name === key || c.name.toLowerCase() === key.toLowerCase());
    if (!column) throw new EtlError(`load.primary_key column ${key} is not among the loaded columns`, `columns are: ${this.columns.map((c) => c.source).join(', ')}`);
    return column.name;
  }

  /** Creates the target or brings its schema up to the run's columns, inside the commit transaction. */
  private async evolveTarget(target: string): Promise<void> {
    const existing = await this.target.describeColumns(this.request.table);
    if (!existing) {
      const defs = this.columns.map((column) => `${quote(column.name)} ${DUCKDB_TYPES[column.type]}`);
      await this.db.run(`CREATE TABLE ${target} (${defs.join(', ')})`);
    } else {
      const known = new Map(existing.map((column) => [column.name.toLowerCase(), column]));
      for (const column of this.columns) {
        const before = known.get(column.name.toLowerCase());
        if (!before) await this.db.run(`ALTER TABLE ${target} ADD COLUMN ${quote(column.name)} ${DUCKDB_TYPES[column.type]}`);
        else if (DUCKDB_TYPES[before.type] !== DUCKDB_TYPES[column.type]) {
          await this.db.run(`ALTER TABLE ${target} ALTER COLUMN ${quote(column.name)} TYPE ${DUCKDB_TYPES[column.type]}`);
        }
      }
    }
    await this.db.run(`INSERT OR IGNORE INTO ${this.target.tables()} VALUES ($1, $2, now())`, [this.request.table, this.request.strategy]);
  }

  private async writeRejects(rejects: readonly RejectedRow[]): Promise<void> {
    const table = this.target.qualified(`${this.request.table}__rejected`);
    await this.db.run(
      `CREATE TABLE IF NOT EXISTS ${table} (run_id VARCHAR, unit VARCHAR, position VARCHAR, column_name VARCHAR, reason VARCHAR, raw VARCHAR, rejected_at TIMESTAMPTZ)`,
    );
    const statement = await this.db.prepare(`INSERT INTO ${table} VALUES ($1, $2, $3, $4, $5, $6, now())`);
    for (const reject of rejects) {
      statement.bind([reject.runId, reject.unit, reject.position, reject.column ?? null, reject.reason, reject.raw]);
      await statement.run();
    }
  }

  async abort(): Promise<void> {
    try {
      await this.settle().catch(() => undefined);
      await this.rollBack();
      for (const unit of [...this.natives.keys()]) await this.discard(unit);
    } finally {
      // Nothing of the load files is needed any more: unwritten bytes are dropped, not flushed.
      if (this.part) closeSync(this.part.fd);
      this.part = undefined;
      this.bytes = 0;
      this.parts.length = 0;
      this.slots.clear();
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

